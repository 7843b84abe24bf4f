"""Damaged and hostile run folders (issue 21 item 5): a seeded sample of the fuzzer's cases
(tests/hostile_folders.py; all of them in benchmarks/hostile_folders.py) fed to evaluate, predict, export,
resume, report and serve. Oracle: no exception escapes the command line, every refusal is exit 2 with exactly one
line, and no case grows the peak memory by more than the budget."""

from __future__ import annotations

import os
import random

import pytest
from hostile_folders import (
    COMMANDS,
    MEMORY_BUDGET_MB,
    all_cases,
    make_tiny_run,
    mutations,
    run_case,
)

SAMPLE = int(os.environ.get("NEUROPLAST_HOSTILE_SAMPLE", "60"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_run(tmp_path_factory.mktemp("hostile"))


def test_the_fuzzer_has_over_300_cases_covering_every_file_and_command() -> None:
    cases = all_cases()
    assert len(cases) >= 300
    names = {name.split(":")[0] for name, _ in mutations()}
    assert {"model.json", "preprocess.json", "metrics.json", "history.csv", "spec.toml", "model.safetensors",
            "checkpoint/last.pt", "finished.json", "space.safetensors"} <= names
    assert {c.command for c in cases} == set(COMMANDS)


def test_a_seeded_sample_of_hostile_folders_gives_one_line_or_an_answer(tiny, tmp_path) -> None:
    base, image = tiny
    cases = random.Random(0).sample(all_cases(), SAMPLE)
    outcomes = [run_case(case, base, image, tmp_path / "work") for case in cases]
    assert None not in outcomes  # every file the fuzzer damages is in the folder
    bad = [f"{o.case}: code={o.code} traceback={o.traceback} lines={o.lines[:2]} rss+{o.rss_growth_mb:.0f}MB"
           for o in outcomes if not o.ok]
    assert not bad, f"{len(bad)} of {len(outcomes)} cases broke the rule (budget {MEMORY_BUDGET_MB} MB):\n" + \
        "\n".join(bad)
    assert sum(o.code == 2 for o in outcomes) > len(outcomes) // 2  # most damage is refused, not ignored
