"""Every damaged or hostile run-folder case (tests/hostile_folders.py) against evaluate, predict, export,
resume, report and serve, in one process; prints the counts and each failing case.

    PYTHONPATH=src python benchmarks/hostile_folders.py [--threads 1] [--only SUBSTRING]

A case passes when the command returns exit 0, or exit 2 with exactly one stderr line
``neuroplast: error: ...``, without an exception escaping and with peak RSS growing < 1 GiB.
"""

from __future__ import annotations

import argparse
import collections
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import torch  # noqa: E402
from hostile_folders import (  # noqa: E402
    COMMANDS,
    MEMORY_BUDGET_MB,
    Case,
    Outcome,
    all_cases,
    make_tiny_run,
    run_case,
)


class CaseHung(BaseException):
    """A case ran past --case-timeout (raised by SIGALRM, outside what the command line catches)."""


def hung(signum, frame) -> None:
    raise CaseHung


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", default="", help="run the cases whose name holds this text")
    p.add_argument("--show-answers", action="store_true", help="list the exit-0 cases whose output differs")
    p.add_argument("--max-memory-gb", type=float, default=8.0, help="address-space cap (RLIMIT_AS) of this process, "
                   "so a case that would allocate tens of GB fails here instead of exhausting the machine")
    p.add_argument("--case-timeout", type=int, default=60, help="seconds before a case counts as hung")
    args = p.parse_args()
    cap = int(args.max_memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    signal.signal(signal.SIGALRM, hung)
    torch.set_num_threads(args.threads)
    cases = [c for c in all_cases() if args.only in f"{c.name} | {c.command}"]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        base, image = make_tiny_run(Path(tmp))
        undamaged = {c: run_case(Case("undamaged", c, lambda d: None), base, image, Path(tmp) / "work").stdout
                     for c in COMMANDS}
        outcomes, not_applicable = [], 0
        for i, case in enumerate(cases, start=1):
            signal.alarm(args.case_timeout)
            try:
                outcome = run_case(case, base, image, Path(tmp) / "work")
                if outcome is None:
                    not_applicable += 1
                else:
                    outcomes.append(outcome)
            except CaseHung:
                outcomes.append(Outcome(f"{case.name} | {case.command}", None, [], f"hung > {args.case_timeout} s",
                                        0.0))
            finally:
                signal.alarm(0)
            if i % 50 == 0:
                print(f"{i}/{len(cases)} cases, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    by_code = collections.Counter("traceback" if o.traceback else f"exit {o.code}" for o in outcomes)
    bad = [o for o in outcomes if not o.ok]
    print(f"threads={torch.get_num_threads()} cases={len(outcomes)} (+{not_applicable} whose file this folder lacks) "
          f"wall={seconds:.1f}s "
          f"address-space cap={args.max_memory_gb:g} GB, case timeout={args.case_timeout} s, "
          f"peak RSS of the whole process={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print("| outcome | cases |\n|---|---|")
    for key, n in sorted(by_code.items()):
        print(f"| {key} | {n} |")
    print(f"| not one clean line (exit 2 with != 1 line) | "
          f"{sum(1 for o in outcomes if o.code == 2 and len(o.lines) != 1)} |")
    print(f"| peak RSS growth > {MEMORY_BUDGET_MB} MB | {sum(1 for o in outcomes if o.rss_growth_mb > MEMORY_BUDGET_MB)} |")
    print(f"| max peak RSS growth in one case | {max(o.rss_growth_mb for o in outcomes):.0f} MB |")
    print(f"| failing the oracle | {len(bad)} |")
    print("\n| command | exit 0, same answer as undamaged | exit 0, other answer | exit 2 | traceback |\n|---|---|---|---|---|")
    for command in COMMANDS:
        mine = [o for o in outcomes if o.case.endswith(f"| {command}")]
        same = sum(o.code == 0 and o.stdout == undamaged[command] for o in mine)
        other = [o for o in mine if o.code == 0 and o.stdout != undamaged[command]]
        print(f"| {command} | {same} | {len(other)} | {sum(o.code == 2 for o in mine)} | "
              f"{sum(o.traceback is not None for o in mine)} |")
        for o in other if args.show_answers else []:
            print(f"  other answer: {o.case}: {o.stdout.strip()[:150]!r}")
    for o in bad:
        print(f"FAIL {o.case}: code={o.code} traceback={o.traceback!r} lines={o.lines[:3]!r}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
