"""Does a character language model's token space put like with like? Measured against untrained tables.

Trains shakespeare-lstm (small settings by default; --set changes them) or reads a run folder, and prints
two properties of the embedding table that the report's Token space section draws, each beside the same
figure for random tables of the same shape drawn as ``nn.Embedding`` initializes them (N(0, 1); seeds 0-19:
median and 95th percentile): the control, what a table that learned nothing scores, and its spread.

- vowel neighbours: of the 5 nearest characters (cosine) of each of a e i o u, the share that are vowels;
- case pairs: the share of the 26 lower-case letters whose upper case is among their 5 nearest.

It also times the report and gives its size.

    python benchmarks/token_space.py --data-dir ../shared/data --epochs 4
    python benchmarks/token_space.py --run runs/shakespeare-lstm-...
"""

from __future__ import annotations

import argparse
import statistics
import string
import tempfile
import time
from pathlib import Path

import torch

import neuroplast
from neuroplast.see.report import write_report
from neuroplast.trust.token_space import embedding_table, nearest_neighbours

VOWELS = "aeiou"
SMALL = ["model.hidden_size=128", "model.num_layers=1"]
CONTROLS = 20  # random tables


def scores(table: torch.Tensor, vocab: list[str]) -> tuple[float, float]:
    """(vowel-neighbour share, case-pair share) of an embedding table over ``vocab``."""
    index = {c: i for i, c in enumerate(vocab)}
    vowels = [index[v] for v in VOWELS if v in index]
    found = nearest_neighbours(table, vowels, k=5)
    vowel_share = statistics.mean(sum(vocab[j] in VOWELS for j, _ in f) / len(f) for f in found)
    lower = [c for c in string.ascii_lowercase if c in index and c.upper() in index]
    near = nearest_neighbours(table, [index[c] for c in lower], k=5)
    case_share = statistics.mean(index[c.upper()] in [j for j, _ in f] for c, f in zip(lower, near, strict=True))
    return vowel_share, float(case_share)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, help="a trained run folder instead of training")
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", dest="changes", action="append", default=[], metavar="KEY=VALUE")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    started = time.perf_counter()
    folder = a.run or Path(tempfile.mkdtemp()) / "lm"
    if a.run is None:
        neuroplast.run("shakespeare-lstm", out=folder, data_dir=a.data_dir, progress=False,
                       overrides=[*SMALL, f"train.epochs={a.epochs}", f"train.threads={a.threads}", *a.changes])
    trained_s = time.perf_counter() - started
    run = neuroplast.load(folder)
    vocab, table = run.preprocess["vocab"], embedding_table(run.model)
    controls = [scores(torch.randn(*table.shape, generator=torch.Generator().manual_seed(s)), vocab) for s in range(CONTROLS)]
    t0 = time.perf_counter()
    path = write_report(folder)
    report_s = time.perf_counter() - t0
    trained = scores(table, vocab)
    print(f"threads {a.threads}; run {folder}; val bits/char {run.metrics['val'].get('bits_per_char', float('nan')):.3f}; "
          + (f"training {trained_s:.1f} s wall" if a.run is None else "read, not trained"))
    print(f"{'measure':<20}{'trained':>9}{f'random median ({CONTROLS})':>21}{'random p95':>12}{'chance':>8}")
    for i, (name, chance) in enumerate((("vowel neighbours", 4 / (len(vocab) - 1)),
                                        ("case pairs", 5 / (len(vocab) - 1)))):
        values = sorted(c[i] for c in controls)
        p95 = values[round(0.95 * (len(values) - 1))]
        print(f"{name:<20}{trained[i]:>9.3f}{statistics.median(values):>21.3f}{p95:>12.3f}{chance:>8.3f}")
    print(f"report.html {path.stat().st_size / 1e3:.0f} kB, written in {report_s:.2f} s")


if __name__ == "__main__":
    main()
