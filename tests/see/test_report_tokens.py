"""The token space section of text runs: a character language model's most frequent characters with
their nearest neighbours (checked against a brute-force cosine search on the saved embedding table),
in both languages, and a bag of n-grams' words read again from its CSV."""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from pathlib import Path

import pytest

import neuroplast
from neuroplast.see.report import write_report
from neuroplast.trust.token_space import readable

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def lm_run(tiny_lm_run: Path) -> Path:
    """The session's tiny character LSTM (tests/see/conftest.py); these tests only read its folder."""
    return tiny_lm_run


def _rows(page: str) -> list[list[str]]:
    body = page[page.index('id="token-neighbours"'):page.index("</table>", page.index('id="token-neighbours"'))]
    return [[html.unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r)]
            for r in re.findall(r"<tr>(.*?)</tr>", body)][1:]


def test_the_language_model_report_lists_neighbours_of_the_most_frequent_characters(lm_run: Path) -> None:
    page = (lm_run / "report.html").read_text(encoding="utf-8")
    assert '<section id="token-space">' in page and 'id="token-map"' in page
    run = neuroplast.load(lm_run)
    vocab = run.preprocess["vocab"]
    text = (SHARED_DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    counts = Counter(run.dataset().x_train.flatten().tolist())  # the oracle: a Counter of the training ids
    rows = _rows(page)
    top = [i for i, _ in sorted(counts.items(), key=lambda t: (-t[1], t[0]))[:12]]
    assert [r[0] for r in rows] == [readable(vocab[i]) for i in top]
    assert [int(r[1].replace(",", "")) for r in rows] == [counts[i] for i in top]
    assert rows[0][0] == "␣" and " " == Counter(text).most_common(1)[0][0]  # a space, shown readably
    table = run.model.embedding.weight.detach().double().tolist()

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))

    for q, row in zip(top, rows, strict=True):
        found = re.findall(r"(\S+) \((-?\d\.\d\d)\)", row[2])
        scored = sorted(((cos(table[q], table[j]), j) for j in counts if j != q), reverse=True)[:5]
        assert [name for name, _ in found] == [readable(vocab[j]) for _, j in scored]
        assert [float(s) for _, s in found] == pytest.approx([s for s, _ in scored], abs=0.006)


def test_the_counts_say_what_they_count_in_both_languages(lm_run: Path, tmp_path: Path) -> None:
    page = (lm_run / "report.html").read_text(encoding="utf-8")
    assert re.search(r"Counts: occurrences among the [\d,]+ characters of the training inputs", page)
    zh = write_report(lm_run, lang="zh-Hant", out=tmp_path / "zh.html").read_text(encoding="utf-8")
    assert '<section id="token-space">' in zh and "詞元空間" in zh and "Token space" not in zh


@pytest.mark.parametrize(("config", "say"), [("csv-text", "read again from the CSV"),
                                             ("reviews-lstm", "training texts (padding left out)")])
def test_text_classifiers_show_the_words_of_their_csv(tmp_path: Path, config: str, say: str) -> None:
    words = {"good": ["great", "fine", "lovely"], "bad": ["awful", "poor", "dull"]}
    lines = ["text,label"]
    for i in range(60):
        label = "good" if i % 2 else "bad"
        lines.append(f"the film was {words[label][i % 3]} and {words[label][(i + 1) % 3]},{label}")
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n")
    neuroplast.run(config, out=tmp_path / "run", progress=False,
                   overrides=[f"data.path={path}", "data.target=label", "data.text_column=text", "train.epochs=2",
                              "train.threads=1"])
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    rows = _rows(page)
    # every text has "the", "film", "was", "and" once: the four most frequent words of the training rows
    assert sorted(r[0] for r in rows[:4]) == ["and", "film", "the", "was"]
    train_rows = len(neuroplast.load(tmp_path / "run").dataset().x_train)
    assert all(int(r[1]) == train_rows for r in rows[:4])
    assert say in page
