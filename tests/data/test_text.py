"""Text data: character language-model windows, the shared Shakespeare file, text classification from a CSV."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import neuroplast
from neuroplast.data import load_dataset
from neuroplast.errors import DataError, UserError
from neuroplast.spec import DataSpec

SHAKESPEARE = Path(__file__).resolve().parents[3] / "shared" / "data" / "tinyshakespeare" / "input.txt"



def test_char_language_model_data_is_contiguous_and_shifted(tmp_path) -> None:
    (tmp_path / "t.txt").write_text("abcdefghij" * 20)
    data = load_dataset(DataSpec(source="text", path=tmp_path / "t.txt", block_size=8, val_fraction=0.2), 0)
    assert data.task == "language-model" and data.vocab_size == 10 and data.class_names == list("abcdefghij")
    assert data.x_train.shape == (19, 8) and torch.equal(data.x_train[0], torch.arange(8))
    assert torch.equal(data.y_train[:, :-1], data.x_train[:, 1:])  # targets: the next character
    assert data.x_val[0, 0] == 160 % 10  # validation starts where training ends (char 160 of 200)



def test_shakespeare_from_the_shared_file() -> None:
    data = load_dataset(DataSpec(source="text", dir=SHAKESPEARE.parent, block_size=128), 0)
    assert data.vocab_size == 65 and len(data.x_val) == int(1115394 * 0.1) // 128



@pytest.mark.parametrize(("content", "pattern"), [
    (b"", r"is empty"),
    (b"caf\xe9 au lait", r"is not UTF-8 \(byte 0xe9 at offset 3\)"),
])
def test_bad_text_files(tmp_path, content: bytes, pattern: str) -> None:
    (tmp_path / "t.txt").write_bytes(content)
    with pytest.raises(DataError, match=pattern):
        load_dataset(DataSpec(source="text", path=tmp_path / "t.txt"), 0)



def test_a_language_model_needs_a_validation_part_long_enough(tmp_path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("abcdefghij" * 100)  # 1000 characters
    with pytest.raises(DataError) as info:
        load_dataset(DataSpec(source="text", path=path, block_size=8, val_fraction=0.0), 0)
    assert str(info.value) == (f"data.val_fraction = 0 leaves the language model on {path} no validation part, "
                               "its only held-out score (text has no test part). Set data.val_fraction > 0, e.g. 0.1.")
    with pytest.raises(DataError, match=r"has 1000 characters; its validation part \(data.val_fraction = 0.005\) "
                                        r"has 5, too few for one sequence of data.block_size = 8 plus its next "
                                        r"character\. Raise data.val_fraction, lower data.block_size"):
        load_dataset(DataSpec(source="text", path=path, block_size=8, val_fraction=0.005), 0)
    with pytest.raises(DataError, match=r"its training part \(data.val_fraction = 0.1\) has 900, too few for one "
                                        r"sequence of data.block_size = 950.*Lower data.block_size"):
        load_dataset(DataSpec(source="text", path=path, block_size=950), 0)



def test_text_classification_from_csv(tmp_path, capsys) -> None:
    g = torch.Generator().manual_seed(0)
    good, bad = ["great", "lovely", "fine", "superb"], ["awful", "poor", "dire", "bad"]
    rows = ["text,label"]
    for i in range(160):
        words = good if i % 2 else bad
        picks = torch.randint(0, 4, (3,), generator=g).tolist()
        rows.append(f"\"the film was {' '.join(words[p] for p in picks)}\",{'pos' if i % 2 else 'neg'}")
    (tmp_path / "reviews.csv").write_text("\n".join(rows) + "\n")
    spec = neuroplast.load_spec("reviews-lstm", [f'data.path="{tmp_path / "reviews.csv"}"', "data.block_size=8",
                                                 "model.hidden_size=16", "train.lr=1e-2"])
    run = neuroplast.run(spec, out=tmp_path / "r", progress=False)
    assert run.metrics["test"]["accuracy"] == 1.0
    assert list(run.predict(["the film was superb", "the film was dire"])) == ["pos", "neg"]  # the labels
    (tmp_path / "q.csv").write_text('text\nthe film was superb\n"the film was dire, awful"\n')
    assert list(run.predict([tmp_path / "q.csv", "the film was great"])) == ["pos", "neg", "pos"]  # per row, then the text
    (tmp_path / "texts.csv").write_text("review\nthe film was poor\n")  # one column: whatever its name
    assert list(run.predict([str(tmp_path / "texts.csv")])) == ["neg"]
    with pytest.raises(UserError, match=r"Input file .*missing\.csv does not exist\. Pass an existing CSV file "
                                        r"with a 'text' column \(one text per row\), or the text to classify"):
        run.predict([tmp_path / "missing.csv"])
    (tmp_path / "two.csv").write_text("txt,id\nthe film was poor,1\n")
    with pytest.raises(DataError, match=r"two\.csv has no column 'text', the text column this run was trained "
                                        r"on \(data.text_column\)\. Did you mean 'txt'\? Columns: txt, id\."):
        run.predict([tmp_path / "two.csv"])
    from neuroplast.cli import main

    assert main(["predict", str(tmp_path / "r"), str(tmp_path / "q.csv"), "the film was great"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(": ")[1].split()[0] for line in lines] == ["pos", "neg", "pos"]
    assert lines[0].startswith(f"{tmp_path / 'q.csv'}[0]: ") and lines[2].startswith("the film was great: ")
    assert main(["predict", str(tmp_path / "r"), str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.csv does not exist" in err[0]
    with pytest.raises(DataError, match=r"has no column 'txt' \(data.text_column\)\. Did you mean 'text'\?"):
        load_dataset(spec.data.model_copy(update={"text_column": "txt"}), 0)



def test_a_transformer_text_classifier_saved_before_padding_was_masked_reloads_unmasked(tmp_path) -> None:
    import json

    rows = ["text,label", *(f"{'good fine' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}" for i in range(40))]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    spec = neuroplast.load_spec("reviews-lstm", [f'data.path="{tmp_path / "t.csv"}"', "data.block_size=6",
                                                 'model.family="transformer"', "model.d_model=16",
                                                 "model.num_heads=2", "model.num_layers=1", "train.epochs=2"])
    run = neuroplast.run(spec, out=tmp_path / "tr", progress=False)
    info = json.loads((run.dir / "model.json").read_text())
    assert info["masks_padding"] is True and neuroplast.load(run.dir).model.pad_id == 0
    del info["masks_padding"]  # as model.json was written before padding was masked
    (run.dir / "model.json").write_text(json.dumps(info))
    assert neuroplast.load(run.dir).model.pad_id is None  # it predicts as it was trained
