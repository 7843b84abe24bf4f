"""`neuroplast run FILE.csv --target COLUMN` on a CSV whose only feature is free text trains the text default."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import neuroplast
from neuroplast.cli import main
from neuroplast.data.text import text_default
from neuroplast.spec import load_spec

GOOD, BAD = ["great", "lovely", "superb", "moving"], ["awful", "dull", "boring", "poor"]
FILLER = ["the", "film", "plot", "was", "and", "its", "cast", "story", "quite", "really"]


def reviews(path: Path, rows: int = 120, extra: str | None = None) -> Path:
    """A CSV of short reviews (a sentiment word among filler words) and their label; ``extra`` adds a
    numeric column of that name."""
    g = torch.Generator().manual_seed(0)
    lines = ["review,label" + (f",{extra}" if extra else "")]
    for i in range(rows):
        words = [FILLER[j] for j in torch.randint(0, len(FILLER), (6,), generator=g).tolist()]
        words.insert(int(torch.randint(0, 6, (1,), generator=g)), (GOOD if i % 2 else BAD)[(i // 2) % 4])
        lines.append(f"{' '.join(words)},{'pos' if i % 2 else 'neg'}" + (f",{i % 7}" if extra else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_one_text_column_csv_trains_the_text_default_and_predicts_new_text(tmp_path, caplog) -> None:
    csv = reviews(tmp_path / "reviews.csv")
    run = neuroplast.run(str(csv), overrides=["data.target=label", "train.epochs=15"], out=tmp_path / "r",
                         progress=False)
    said = [r.getMessage() for r in caplog.records if "free text" in r.getMessage()]
    assert said == ["reviews.csv: the only feature column, 'review', is free text: training the text default "
                    "csv-text (fastText's bag of word and character n-grams; --set model.family=mlp keeps the "
                    "table default)."]
    spec = run.spec
    assert (spec.data.source, spec.data.tokens, spec.data.text_column, spec.model.family) == (
        "text-csv", "ngrams", "review", "bag")
    assert run.metrics["test"]["accuracy"] >= 0.9
    page = (run.dir / "report.html").read_text(encoding="utf-8")
    assert "hashed word and character n-grams: the text itself is not kept" in page  # no vocabulary to show
    loaded = neuroplast.load(run.dir)  # a new process would read the same preprocess.json
    assert list(loaded.predict(["the plot was superb", "really dull and boring"])) == ["pos", "neg"]


def test_cli_run_then_predict_on_new_text(tmp_path, capsys) -> None:
    csv = reviews(tmp_path / "reviews.csv")
    assert main(["run", str(csv), "--target", "label", "--out", str(tmp_path / "r"), "--set", "train.epochs=15",
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "r"), "its cast was lovely", "the story was awful"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(": ")[1].split()[0] for line in lines] == ["pos", "neg"]


def test_a_table_with_other_useful_columns_stays_the_table_default(tmp_path) -> None:
    target = ["data.target=label"]
    assert text_default(reviews(tmp_path / "mixed.csv", extra="stars"), target) is None  # "stars" is useful too
    csv = reviews(tmp_path / "only.csv")
    assert text_default(csv, [*target, "model.family=mlp"]) is None  # the user asks for the table model
    assert text_default(csv, target).model.family == "bag"
    spec = text_default(csv, [*target, "model.embedding_dim=8"])  # other model keys: the text default's
    assert spec.model.embedding_dim == 8 and spec.data.target == "label"
    assert load_spec(csv, [*target, "model.family=mlp"]).model.family == "mlp"


def test_bad_input_is_one_line(tmp_path, capsys) -> None:
    csv = reviews(tmp_path / "reviews.csv")
    assert main(["run", str(csv), "--target", "label", "--set", "data.tokens=word", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.family = 'bag' with data.tokens = 'word'" in err[0], err
    lines = ["text,label,note", *(f",{'pos' if i % 2 else 'neg'},row {i} of the file" for i in range(20))]
    (tmp_path / "empty.csv").write_text("\n".join(lines) + "\n")
    spec = load_spec("csv-text", [f'data.path="{tmp_path / "empty.csv"}"', "data.text_column=text", "data.target=label"])
    with pytest.raises(neuroplast.DataError, match=r"empty\.csv: column 'text' \(data.text_column\) holds no words in "
                                                   r"any of its 20 rows\. Point data.text_column at the column with "
                                                   r"the text\.$"):
        neuroplast.run(spec, out=tmp_path / "e", progress=False)
