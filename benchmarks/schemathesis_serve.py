"""schemathesis against ``neuroplast serve``: all checks, a fixed seed, ``--examples`` per operation and
phase, on the live server of a small digits run and of a small character language model. Prints, per
app, the test cases sent, the server errors (ST101) and every other finding by operation and code.

    PYTHONPATH=src python benchmarks/schemathesis_serve.py --examples 4000 --seed 1

"Schema-conformance failures" are the response checks (status code, content type, response schema and
headers: ST103-ST115); ST202 (``positive_data_acceptance``: a schema-valid request answered 4xx) is
counted apart. The ``image`` field's custom format ``picture-base64`` is made by
``tests/see/schemathesis_hooks.py`` (loaded as the tests load it), so positive cases are pictures.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_bomb import serve_run  # noqa: E402  (one way to start a server for the benchmarks)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "see"))
from test_server_schema import hooked_env  # noqa: E402  (the schemathesis hooks, as the tests load them)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _schemathesis(url: str, examples: int, seed: int, cwd: Path) -> tuple[int, Counter, str]:
    """``st run`` in ``cwd``: a fresh folder, so that no cache of earlier failures is replayed."""
    st = Path(sys.executable).parent / "st"
    out = subprocess.run([str(st), "run", f"{url}/openapi.json", "--checks", "all", "--seed", str(seed),
                          "-n", str(examples), "--no-color", "--warnings", "off", "--request-timeout", "60",
                          "--continue-on-failure"], capture_output=True, text=True, cwd=cwd, env=hooked_env()).stdout
    found, operation = Counter(), None
    for line in out.splitlines():
        if m := re.match(r"^_+ (GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) (\S+) _+$", line):
            operation = f"{m[1]} {m[2]}"
        elif m := re.match(r"^- (ST\d+) (.*)$", line):
            found[(operation, m[1], m[2].strip())] += 1
    generated = re.search(r"(\d+) generated", out)
    return (int(generated[1]) if generated else 0), found, out


def _runs(tmp: Path) -> dict[str, Path]:
    import neuroplast

    digits, lm = tmp / "digits", tmp / "lm"
    neuroplast.run("digits-mlp", out=digits, progress=False, overrides=["train.epochs=2", "train.threads=1"])
    neuroplast.run("shakespeare-lstm", out=lm, data_dir=SHARED / "tinyshakespeare", progress=False,
                   overrides=["model.hidden_size=32", "model.num_layers=1", "data.block_size=16",
                              "train.epochs=1", "train.max_steps_per_epoch=10", "train.threads=1"])
    return {"digits-mlp": digits, "shakespeare-lstm": lm}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=4000, help="hypothesis examples per operation and phase")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log", type=Path, default=None, help="write schemathesis's full output here")
    ap.add_argument("--apps", default="digits-mlp,shakespeare-lstm", help="which servers (comma-separated)")
    args = ap.parse_args()
    print(f"schemathesis, all checks, seed {args.seed}, -n {args.examples}; server: neuroplast serve "
          f"(torch 1 thread), 1 schemathesis worker; {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, run_dir in _runs(Path(tmp)).items():
            if name not in args.apps.split(","):
                continue
            proc, url = serve_run(run_dir)
            start = time.perf_counter()
            try:
                generated, found, out = _schemathesis(url, args.examples, args.seed, Path(tmp))
            finally:
                proc.terminate()
                proc.wait(timeout=10)
            rows.append((name, generated, found, time.perf_counter() - start))
            if args.log:
                with args.log.open("a") as f:
                    f.write(f"===== {name}\n{out}\n")
    print(f"{'app':18s} {'test cases':>10s} {'server errors':>13s} {'conformance':>11s} {'ST202':>6s} {'seconds':>8s}")
    for name, generated, found, seconds in rows:
        errors = sum(n for (_, code, _), n in found.items() if code == "ST101")
        conformance = sum(n for (_, code, _), n in found.items() if "ST103" <= code <= "ST115")
        accepted = sum(n for (_, code, _), n in found.items() if code == "ST202")
        print(f"{name:18s} {generated:10d} {errors:13d} {conformance:11d} {accepted:6d} {seconds:8.0f}")
    print("findings (operation, code, what):")
    for name, _, found, _ in rows:
        for (operation, code, what), n in sorted(found.items(), key=str):
            print(f"  {name}: {operation} {code} {what} x{n}")
        if not found:
            print(f"  {name}: none")


if __name__ == "__main__":
    main()
