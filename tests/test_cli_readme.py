"""The README's code holds: its Python blocks run in order in a fresh folder, every ``neuroplast``
command of its shell blocks parses with the CLI's own parser (the fast ones run as written), its TOML
blocks are specs the loader accepts, and the plain-PyTorch ``model.py`` snippet answers what
``run.predict`` answers. Lines that install or call other tools are skipped and listed here."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from neuroplast.cli import main, parser
from neuroplast.spec.experiment import spec_from_dict

README = Path(__file__).resolve().parents[1] / "README.md"
# lines of shell blocks that are not neuroplast commands: installing, activating, other tools
OTHER_TOOLS = ("pip ", "python ", ". .venv/bin/activate", "scripts/test", "curl ", "ruff ")
# neuroplast commands fast enough to run as the README writes them (seconds each, one thread)
RUN_AS_WRITTEN = ("neuroplast configs", "neuroplast summary digits-cnn",
                  "neuroplast run --set train.lr=3e-4 --set train.epochs=5 --set model.channels=[16,32]")
# Python blocks not run, with the reason: each needs what only the reader has
NOT_RUN = {"parent = neuroplast.run(\"mnist-cnn\"": "fine-tunes a full MNIST CNN (minutes) on the reader's own "
                                                     "my-digits/ folder of PNGs; tests/test_finetune.py covers it"}


def blocks(lang: str) -> list[tuple[int, str]]:
    """``(line, text)`` of each fenced block of ``lang`` in the README, in order."""
    found, current, start = [], None, 0
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            if current is None:
                current, start, kind = [], number, line[3:].strip()
            else:
                if kind == lang:
                    found.append((start, "\n".join(current)))
                current = None
        elif current is not None:
            current.append(line)
    return found


def shell_commands() -> list[tuple[int, str]]:
    """Each command of the bash blocks: continuation lines joined, comments dropped, ``&&`` split."""
    out = []
    for start, text in blocks("bash"):
        joined = re.sub(r"\\\n\s*", " ", text)
        for line in joined.splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            out += [(start, part.strip()) for part in line.split("&&") if part.strip()]
    return out


def test_the_readme_has_the_blocks_this_test_reads() -> None:
    assert len(blocks("python")) >= 7 and len(shell_commands()) >= 30 and len(blocks("toml")) >= 2


@pytest.mark.parametrize(("line", "command"), shell_commands(), ids=lambda v: str(v)[:60])
def test_every_neuroplast_command_parses(line: int, command: str, tmp_path: Path, monkeypatch) -> None:
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # NEUROPLAST_DATA=... neuroplast run
        words = words[1:]
    if words[:1] == ["torchrun"]:  # torchrun [its flags] -m neuroplast COMMAND ...: the neuroplast part
        words = ["neuroplast", *words[words.index("-m") + 2:]]
    if command.startswith(OTHER_TOOLS) or not words or words[0] != "neuroplast":
        assert command.startswith(OTHER_TOOLS), f"README line {line}: {command!r} is neither neuroplast nor listed"
        return
    args = parser()[0].parse_args(words[1:])  # a wrong flag or command exits 2 here
    assert args.command == words[1]
    if command in RUN_AS_WRITTEN:
        monkeypatch.chdir(tmp_path)
        assert main(words[1:]) == 0, f"README line {line}: {command}"


@pytest.mark.parametrize(("line", "text"), blocks("toml"), ids=lambda v: str(v)[:20])
def test_every_toml_block_is_a_spec_the_loader_accepts(line: int, text: str) -> None:
    spec = spec_from_dict(tomllib.loads(text), source=f"README line {line}")
    assert spec.name


def test_the_python_blocks_run_in_order(tmp_path: Path, monkeypatch) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    monkeypatch.chdir(tmp_path)
    digits = load_digits()
    Image.fromarray((digits.images[7] * 16).astype(np.uint8), mode="L").save("digit.png")  # "digit.png": a 7
    namespace: dict = {}
    ran, digits_dir = [], None
    for line, text in blocks("python"):
        if any(k in text for k in NOT_RUN):
            continue
        if "loader = DataLoader(TensorDataset(x_train" in text:  # a fragment: the reader's own tensors
            x = torch.tensor(digits.images / 16, dtype=torch.float32).unsqueeze(1)
            y = torch.tensor(digits.target)
            namespace.update(model=namespace["Net"](), nn=torch.nn, x_train=x[:1000], y_train=y[:1000],
                             x_val=x[1000:1300], y_val=y[1000:1300], x_test=x[1300:], y_test=y[1300:],
                             x_new=x[1300:1310], y_new=y[1300:1310])
        if "runs/digits-cnn-..." in text:  # the plain-PyTorch model.py of the digits run trained above
            text = text.replace('"runs/digits-cnn-..."', repr(str(digits_dir)))
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(text, f"README.md:{line}", "exec"), namespace)  # noqa: S102
        finally:  # the model.py block puts the run folder on sys.path and imports "model"
            sys.modules.pop("model", None)
            sys.path[:] = [p for p in sys.path if p != str(digits_dir)]
        if digits_dir is None and getattr(namespace.get("run"), "dir", None) is not None:
            digits_dir = namespace["run"].dir
        ran.append((line, out.getvalue()))
    assert len(ran) == len(blocks("python")) - len(NOT_RUN)
    plain = ran[-1][1]  # the model.py block prints the plain module's answers
    import neuroplast

    expected = neuroplast.load(digits_dir).predict(digits.images[:5] / 16).tolist()  # raw pixels, as NumPy
    assert plain.strip() == f"tensor({expected})", (plain, expected)


def test_the_documents_name_the_second_onnx_file() -> None:
    docs = README.parent / "docs" / "run-folder.md"
    for text in (README.read_text(encoding="utf-8"), docs.read_text(encoding="utf-8")):
        assert "model.onnx.data" in text


def test_help_promises_explanations_of_images_only(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    explain = top[top.index("    explain"):top.index("    prune")]
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    own = capsys.readouterr().out
    for text in (explain, own):
        assert "image" in text and "CSV" not in text and "features" not in text, text
