"""Long texts for the recurrent and Transformer families: read in blocks from the end, not only the last one."""

from __future__ import annotations

import torch

import neuroplast
from neuroplast.data.text import PAD, UNK, encode_texts


def test_blocks_are_cut_from_the_end_by_hand() -> None:
    pre = {"tokens": "word", "vocab": [PAD, UNK, "a", "b", "c", "d", "e"], "block_size": 2}
    # "a b c d e" -> ids 2..6; 3 blocks of 2 hold the last 6 tokens: [pad a] [b c] [d e]
    assert encode_texts(["a b c d e"], {**pre, "chunks": 3}).tolist() == [[[0, 2], [3, 4], [5, 6]]]
    assert encode_texts(["a b c d e"], {**pre, "chunks": 2}).tolist() == [[[3, 4], [5, 6]]]  # "a" is cut
    assert encode_texts(["e", "zz"], {**pre, "chunks": 2}).tolist() == [[[0, 0], [0, 6]], [[0, 0], [0, 1]]]
    assert encode_texts(["a b c d e"], pre).tolist() == [[5, 6]]  # one block: the last block_size tokens


def test_a_label_given_only_by_the_first_words_of_a_long_text_is_learned(tmp_path, caplog) -> None:
    g = torch.Generator().manual_seed(0)
    filler = ["the", "a", "film", "plot", "scene", "actor", "story", "was", "and", "it", "of", "then"]
    rows = ["text,label"]
    for i in range(240):  # the first word decides the label; 39 random words follow it
        words = ["yes" if i % 2 else "no"] + [filler[j] for j in torch.randint(0, 12, (39,), generator=g).tolist()]
        rows.append(f"{' '.join(words)},{'pos' if i % 2 else 'neg'}")
    (tmp_path / "long.csv").write_text("\n".join(rows) + "\n")
    common = [f'data.path="{tmp_path / "long.csv"}"', "data.block_size=8", 'model.family="gru"',
              "model.hidden_size=16", "model.embedding_dim=8", "model.bidirectional=false", "train.lr=3e-2",
              "train.epochs=30"]
    blocks = neuroplast.run("reviews-lstm", overrides=[*common, "data.chunks=5"], out=tmp_path / "k5", progress=False)
    assert blocks.metrics["test"]["accuracy"] >= 0.95
    assert list(blocks.predict(["yes " + "the film " * 15, "no " + "the film " * 15])) == ["pos", "neg"]
    caplog.clear()
    last = neuroplast.run("reviews-lstm", overrides=[*common, "data.chunks=1"], out=tmp_path / "k1", progress=False)
    assert last.metrics["test"]["accuracy"] <= 0.7  # the last 8 words say nothing about the label
    assert "240 of 240 texts have more than data.chunks x data.block_size = 1 x 8 tokens" in caplog.text


def test_a_transformer_reads_blocks_and_its_report_draws_the_last_block(tmp_path) -> None:
    rows = ["text,label", *(f"{'good fine' if i % 2 else 'bad'} and then some more words here,{i % 2}" for i in range(40))]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    run = neuroplast.run("reviews-lstm", overrides=[f'data.path="{tmp_path / "t.csv"}"', "data.block_size=4",
                                                    "data.chunks=3", 'model.family="transformer"', "model.d_model=16",
                                                    "model.num_heads=2", "model.num_layers=1", "train.epochs=2"],
                         out=tmp_path / "tr", progress=False)
    assert tuple(run.info["input_shape"]) == (3, 4)
    assert 'id="attention-maps"' in (run.dir / "report.html").read_text(encoding="utf-8")
    again = neuroplast.load(run.dir)
    assert (again.predict_proba(["good fine and then"]) == run.predict_proba(["good fine and then"])).all()
