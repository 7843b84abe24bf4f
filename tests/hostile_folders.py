"""Damaged and hostile run folders: every file of a tiny run truncated, retyped, stripped of keys, given huge
or negative shapes, non-UTF-8 bytes or a path out of the folder, then fed to a command. Shared by
tests/test_rundir_hostile.py (a seeded sample) and benchmarks/hostile_folders.py (every case).

The oracle for each case: the command returns (no exception escapes ``neuroplast.cli.main``), with exit 0,
or exit 2 and exactly one stderr line ``neuroplast: error: ...``; and the process's peak memory grows by
less than the budget. ``serve`` runs the real command with uvicorn's loop replaced by a test client that
asks ``/``, ``/api/model`` and ``/api/predict`` (the picture) once each: an answer of 500 or more, or an
exception inside the app, counts as a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import struct
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

Mutate = Callable[[Path], None]
COMMANDS = ("evaluate", "predict", "export", "resume", "report", "serve")
SERVE_PORT = 18731  # serve checks that the port is free; the stand-in for uvicorn never binds it
MEMORY_BUDGET_MB = 1024  # no case may grow the process's peak RSS by more


@dataclass
class Case:
    name: str
    command: str
    mutate: Mutate


@dataclass
class Outcome:
    case: str
    code: int | None
    lines: list[str]
    traceback: str | None
    rss_growth_mb: float
    stdout: str = ""

    @property
    def ok(self) -> bool:
        if self.traceback is not None or self.rss_growth_mb > MEMORY_BUDGET_MB:
            return False
        if self.code == 0:
            return True
        return self.code == 2 and len(self.lines) == 1 and self.lines[0].startswith("neuroplast: error: ")


# --------------------------------------------------------------------------- the tiny run
def make_tiny_run(root: Path) -> tuple[Path, Path]:
    """A 2-epoch digits MLP run folder and an 8x8 PNG to predict, under ``root``."""
    from PIL import Image

    from neuroplast.cli import main

    run = root / "tiny"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", "digits-mlp", "--out", str(run), "--quiet", "--set", "train.epochs=2",
                     "--set", "model.hidden=[8]", "--set", "train.threads=1"])
    assert code == 0
    page = np.full((8, 8), 255, dtype=np.uint8)
    page[1:7, 3:5] = 0
    Image.fromarray(page).save(root / "one.png")
    return run, root / "one.png"


# --------------------------------------------------------------------------- mutations
def _bytes(name: str, change: Callable[[bytes], bytes]) -> Mutate:
    def mutate(d: Path) -> None:
        p = d / name
        p.write_bytes(change(p.read_bytes()))
    return mutate


def _json(name: str, change: Callable[[Any], Any]) -> Mutate:
    def mutate(d: Path) -> None:
        p = d / name
        p.write_text(json.dumps(change(json.loads(p.read_text()))))
    return mutate


def _set(key: str, value: Any) -> Callable[[Any], Any]:
    def change(x: dict[str, Any]) -> dict[str, Any]:
        parts = key.split(".")
        node = x
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        return x
    return change


def _drop(key: str) -> Callable[[Any], Any]:
    return lambda x: {k: v for k, v in x.items() if k != key}


def _link(name: str, target: str) -> Mutate:
    def mutate(d: Path) -> None:
        p = d / name
        p.unlink(missing_ok=True)
        os.symlink(target, p)
    return mutate


def _spec(old: str, new: str) -> Mutate:
    return _bytes("spec.toml", lambda b: b.decode().replace(old, new, 1).encode())


def _safetensors(tensors: dict[str, torch.Tensor]) -> Mutate:
    from safetensors.torch import save_file

    return lambda d: save_file(tensors, str(d / "model.safetensors"))


def _raw_header(header: dict[str, Any], payload: bytes = b"") -> Mutate:
    def mutate(d: Path) -> None:
        text = json.dumps(header).encode()
        (d / "model.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + payload)
    return mutate


def _checkpoint(obj: Any) -> Mutate:
    return lambda d: torch.save(obj, d / "checkpoint" / "last.pt")


def _space(change: Callable[[dict[str, torch.Tensor], dict[str, Any]], tuple[dict, Any]]) -> Mutate:
    """Rewrite space.safetensors with its tensors and JSON metadata changed."""
    def mutate(d: Path) -> None:
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file

        path = d / "space.safetensors"
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads(f.metadata()["space"])
        tensors, meta = change(load_file(str(path)), meta)
        save_file(tensors, str(path), metadata=None if meta is None else {"space": json.dumps(meta)})
    return mutate


def _space_cases() -> list[tuple[str, Mutate]]:
    huge = {"stage0.points": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 4 * 10**12]}}
    return [
        ("space.safetensors:no-metadata", _space(lambda t, m: (t, None))),
        ("space.safetensors:meta-not-object", _space(lambda t, m: (t, [1]))),
        ("space.safetensors:examples-huge", _space(lambda t, m: (t, {**m, "examples": 10**9}))),
        ("space.safetensors:stage-dims-huge", _space(lambda t, m: (t, {**m, "stages": [
            {**m["stages"][0], "dims": 10**12}, *m["stages"][1:]]}))),
        ("space.safetensors:points-wrong-shape", _space(lambda t, m: ({**t, "stage0.points": torch.zeros(2, 3)}, m))),
        ("space.safetensors:labels-negative", _space(lambda t, m: ({**t, "labels": -t["labels"] - 1}, m))),
        ("space.safetensors:labels-huge", _space(lambda t, m: ({**t, "labels": t["labels"] + 10**9}, m))),
        ("space.safetensors:indices-outside", _space(lambda t, m: ({**t, "indices": t["indices"] + 10**6}, m))),
        ("space.safetensors:mean-inf", _space(lambda t, m: ({**t, "stage0.mean": t["stage0.mean"] + float("inf")}, m))),
        ("space.safetensors:thumbnails-huge", _space(lambda t, m: ({**t, "thumbnails": torch.zeros(
            t["labels"].shape[0], 1, 1, 4096, dtype=torch.uint8)}, m))),
        ("space.safetensors:header-huge-shape", lambda d: (d / "space.safetensors").write_bytes(
            struct.pack("<Q", len(json.dumps(huge))) + json.dumps(huge).encode())),
    ]


def _byte_cases(name: str) -> list[tuple[str, Mutate]]:
    return [(f"{name}:empty", _bytes(name, lambda b: b"")),
            (f"{name}:1-byte", _bytes(name, lambda b: b[:1])),
            (f"{name}:half", _bytes(name, lambda b: b[: len(b) // 2])),
            (f"{name}:all-but-last", _bytes(name, lambda b: b[:-1])),
            (f"{name}:non-utf8-start", _bytes(name, lambda b: b"\xff\xfe" + b)),
            (f"{name}:non-utf8-middle", _bytes(name, lambda b: b[: len(b) // 2] + b"\xc3\x28" + b[len(b) // 2:])),
            (f"{name}:missing", lambda d, n=name: (d / n).unlink()),
            (f"{name}:folder", lambda d, n=name: ((d / n).unlink(), (d / n).mkdir())),
            (f"{name}:link-out", _link(name, "/etc/passwd")),
            (f"{name}:link-dev-zero", _link(name, "/dev/zero"))]


WRONG = {"null": None, "string": "x", "negative": -1, "huge-int": 10**30, "list": [], "object": {}, "float": 1e308}


def _json_cases(name: str, keys: list[str]) -> list[tuple[str, Mutate]]:
    cases = [(f"{name}:is-{kind}", _json(name, lambda x, v=value: v))
             for kind, value in (("list", [1]), ("string", "x"), ("number", 1), ("null", None))]
    for key in keys:
        cases.append((f"{name}:drop-{key}", _json(name, _drop(key))))
        cases += [(f"{name}:{key}={kind}", _json(name, _set(key, value))) for kind, value in WRONG.items()]
    return cases


def mutations() -> list[tuple[str, Mutate]]:
    """Every mutation of the tiny run folder, by name."""
    cases: list[tuple[str, Mutate]] = []
    for name in ("model.json", "preprocess.json", "metrics.json", "history.csv", "spec.toml", "model.safetensors",
                 "checkpoint/last.pt", "finished.json", "space.safetensors"):
        cases += _byte_cases(name)
    cases += _json_cases("model.json", ["family", "config", "input_shape", "num_outputs", "output_width", "task",
                                        "vocab_size", "class_names", "loss"])
    cases += _json_cases("preprocess.json", ["kind", "shape", "mean", "std"])
    cases += _json_cases("metrics.json", ["test", "calibration", "schema_version", "data"])
    shapes = {"huge": [1, 100000, 100000], "negative": [-1, 8, 8], "empty": [], "zero": [0], "deep": [1] * 40}
    for kind, shape in shapes.items():
        cases.append((f"model.json:input_shape-{kind}", _json("model.json", _set("input_shape", shape))))
        cases.append((f"preprocess.json:shape-{kind}", _json("preprocess.json", _set("shape", shape))))
    cases += [
        ("model.json:hidden-huge", _json("model.json", _set("config.hidden", [100000, 100000]))),
        ("model.json:hidden-negative", _json("model.json", _set("config.hidden", [-4]))),
        ("model.json:family-unknown", _json("model.json", _set("config.family", "zzz"))),
        ("model.json:config-extra-key", _json("model.json", _set("config.bogus", 1))),
        ("model.json:num-outputs-huge", _json("model.json", _set("num_outputs", 10**9))),
        ("model.json:class-names-short", _json("model.json", _set("class_names", ["a"]))),
        ("metrics.json:temperature-string", _json("metrics.json", _set("calibration", {"temperature": "1.5"}))),
        ("metrics.json:mc-samples-1e9", _json("metrics.json", _set("calibration", {"method": "mc-dropout",
                                                                                   "samples": 10**9}))),
        ("metrics.json:threshold-string", _json("metrics.json", _set("calibration", {"threshold": "x"}))),
        ("metrics.json:ood-no-file", _json("metrics.json", _set("calibration", {"ood": {"layer": "x",
                                                                                        "threshold": 1}}))),
        ("preprocess.json:std-zero", _json("preprocess.json", _set("std", 0))),
        ("preprocess.json:mean-nan-string", _json("preprocess.json", _set("mean", "NaN"))),
        ("preprocess.json:kind-text", _json("preprocess.json", _set("kind", "text"))),
        ("history.csv:letters", _bytes("history.csv", lambda b: b"epoch,train_loss\nabc,x\n")),
        ("history.csv:ragged", _bytes("history.csv", lambda b: b"epoch\n1,2,3,4\n")),
        ("spec.toml:data-path-etc", _spec('source = "digits"', 'source = "csv"\npath = "/etc/passwd"\ntarget = "x"')),
        ("spec.toml:data-path-shadow", _spec('source = "digits"', 'source = "csv"\npath = "/etc/shadow"')),
        ("spec.toml:data-path-up", _spec('source = "digits"', 'source = "csv"\npath = "../../../../etc/hosts"')),
        ("spec.toml:data-dir-file", _spec('source = "digits"', 'source = "folder"\ndir = "/etc/passwd"')),
        ("spec.toml:hidden-huge", _spec("hidden = [", "hidden = [100000, 100000, ")),
        ("spec.toml:epochs-huge", _spec("epochs = 2", "epochs = 99999999999999999999999")),
        ("spec.toml:epochs-negative", _spec("epochs = 2", "epochs = -1")),
        ("spec.toml:unknown-key", _spec("[train]", "[train]\nbogus = 1")),
        ("spec.toml:init-from-etc", _spec("[train]", '[train]\ninit_from = "/etc"')),
        ("model.safetensors:sparse-huge", _safetensors({"layers.0.weight::shape": torch.tensor([10**6, 10**6]),
                                                        "layers.0.weight::bitmask": torch.zeros(1, dtype=torch.uint8),
                                                        "layers.0.weight::values": torch.zeros(1)})),
        ("model.safetensors:sparse-negative", _safetensors({"w::shape": torch.tensor([-5, 3]),
                                                            "w::bitmask": torch.zeros(1, dtype=torch.uint8),
                                                            "w::values": torch.zeros(0)})),
        ("model.safetensors:sparse-short-mask", _safetensors({"w::shape": torch.tensor([64, 64]),
                                                              "w::bitmask": torch.zeros(1, dtype=torch.uint8),
                                                              "w::values": torch.zeros(0)})),
        ("model.safetensors:sparse-count", _safetensors({"w::shape": torch.tensor([8]),
                                                         "w::bitmask": torch.tensor([255], dtype=torch.uint8),
                                                         "w::values": torch.zeros(3)})),
        ("model.safetensors:sparse-no-values", _safetensors({"w::shape": torch.tensor([8]),
                                                             "w::bitmask": torch.tensor([1], dtype=torch.uint8)})),
        ("model.safetensors:wrong-shapes", _safetensors({"layers.0.weight": torch.zeros(3, 3)})),
        ("model.safetensors:header-huge-shape", _raw_header({"w": {"dtype": "F32", "shape": [10**6, 10**6],
                                                                   "data_offsets": [0, 4 * 10**12]}})),
        ("model.safetensors:header-length-lies", lambda d: (d / "model.safetensors").write_bytes(
            struct.pack("<Q", 10**15) + b"{}")),
        ("model.safetensors:header-not-json", lambda d: (d / "model.safetensors").write_bytes(
            struct.pack("<Q", 4) + b"\xff\xfe\x00\x01")),
        *_space_cases(),
        ("checkpoint:list", _checkpoint([1, 2, 3])),
        ("checkpoint:epoch-string", _checkpoint({"epoch": "x", "model": {}, "history": []})),
        ("checkpoint:no-model", _checkpoint({"epoch": 1, "history": []})),
        ("checkpoint:model-wrong", _checkpoint({"epoch": 1, "model": {"w": torch.zeros(2)}, "history": []})),
        ("checkpoint:folder-link-out", lambda d: (shutil.rmtree(d / "checkpoint"), os.symlink("/tmp", d / "checkpoint"))),
        ("run:folder-is-file", lambda d: (shutil.rmtree(d), d.write_text("x"))),
        ("run:empty-folder", lambda d: (shutil.rmtree(d), d.mkdir())),
        ("run:lock-of-dead-pid", lambda d: (d / "run.lock").write_text("999999999\n")),
        ("run:leftover-tmp", lambda d: (d / ".metrics.json.abcd1234.tmp").write_text("{")),
    ]
    return cases + _compressed_cases()


def _compressed_cases() -> list[tuple[str, Mutate]]:
    """A ``model.compressed`` planted in the folder (a quantized run's weights, which load prefers)."""
    import zlib

    from neuroplast.plasticity.coding import MAGIC, encode

    def plant(make: Callable[[], bytes]) -> Mutate:
        return lambda d: (d / "model.compressed").write_bytes(make())

    return [
        ("model.compressed:empty", plant(lambda: b"")),
        ("model.compressed:zeros", plant(lambda: MAGIC + b"\x00" * 100)),
        ("model.compressed:bomb", plant(lambda: MAGIC + zlib.compress(b"\x00" * 50_000_000, 1))),
        ("model.compressed:header-huge", plant(lambda: MAGIC + zlib.compress(struct.pack("<I", 2**31) + b"[]"))),
        ("model.compressed:wrong-tensors", plant(lambda: encode({"w": torch.zeros(3)}, {}))),
        ("model.compressed:link-out", _link("model.compressed", "/etc/passwd")),
    ]


READERS = {"space.safetensors": ("report",)}  # a file only some commands read: fed to those (serve: tests/see)


def all_cases() -> list[Case]:
    return [Case(name, command, mutate) for name, mutate in mutations() for command in COMMANDS
            if command in READERS.get(name.split(":")[0], COMMANDS)]


# --------------------------------------------------------------------------- running one case
def argv(command: str, run: Path, image: Path, out: Path) -> list[str]:
    return {"evaluate": ["evaluate", str(run)],
            "predict": ["predict", str(run), str(image), "--uncertainty"],
            "export": ["export", str(run), "--out", str(out / "x.onnx"), "--no-check"],
            "resume": ["resume", str(run), "--quiet"],
            "report": ["report", str(run), "--out", str(out / "r.html")],
            "serve": ["serve", str(run), "--port", str(SERVE_PORT)]}[command]


@contextlib.contextmanager
def serving_once(image: Path) -> Any:
    """uvicorn's server loop replaced, while inside, by three requests through a test client (the app that
    ``serve`` built, as a browser on this machine would reach it); a 5xx answer raises, the prediction is
    printed."""
    import base64

    import uvicorn
    from starlette.testclient import TestClient

    picture = base64.b64encode(image.read_bytes()).decode()

    def run_once(server: Any, *_: Any, **__: Any) -> None:
        with TestClient(server.config.app, base_url="http://127.0.0.1") as client:
            for method, path, body in (("GET", "/", None), ("GET", "/api/model", None),
                                       ("POST", "/api/predict", {"image": picture})):
                answer = client.request(method, path, json=body)
                if answer.status_code >= 500:
                    raise RuntimeError(f"HTTP {answer.status_code} on {method} {path}: {answer.text[:200]}")
            said = answer.json()  # the prediction, compared with the undamaged folder's by the benchmark
            print(f"predict {answer.status_code}: {said.get('prediction', said.get('detail'))} "
                  f"{[round(p, 4) for p in said.get('probabilities', [])]}")

    real, uvicorn.Server.run = uvicorn.Server.run, run_once
    try:
        yield
    finally:
        uvicorn.Server.run = real


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: Case, base: Path, image: Path, work: Path) -> Outcome | None:
    """Copy the tiny run, damage it, run the command in-process; what came back (None when the folder has
    no such file to damage, e.g. finished.json in a folder written before it existed)."""
    from neuroplast.cli import main

    folder, out = work / "run", work / "out"
    shutil.rmtree(work, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copytree(base, folder, symlinks=True)
    try:
        case.mutate(folder)
    except FileNotFoundError:
        return None
    if case.command == "resume" and not case.name.startswith("finished.json") and folder.is_dir():
        (folder / "finished.json").unlink(missing_ok=True)  # an interrupted run: resume has work to do
    err, out_text, before = io.StringIO(), io.StringIO(), _peak_mb()
    code, trace = None, None
    try:
        serving = serving_once(image) if case.command == "serve" else contextlib.nullcontext()
        with contextlib.redirect_stdout(out_text), contextlib.redirect_stderr(err), serving:
            code = main(argv(case.command, folder, image, out))
    except BaseException as e:  # noqa: BLE001  (what the fuzzer counts)
        if type(e).__name__ == "CaseHung":  # the benchmark's per-case timeout: not the command's doing
            raise
        trace = "".join(traceback.format_exception_only(type(e), e)).strip()
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    stdout = out_text.getvalue().replace(str(work), "WORK")
    return Outcome(f"{case.name} | {case.command}", code, lines, trace, _peak_mb() - before, stdout)
