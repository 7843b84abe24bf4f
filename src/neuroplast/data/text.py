"""Text: character-level language modelling from any UTF-8 file, and text classification from a CSV.

Language modelling (``source = "text"``) splits the text contiguously (the last ``val_fraction`` is
validation) and cuts it into sequences of ``block_size`` characters whose targets are the same
characters shifted by one. Classification (``source = "text-csv"``) builds a character or word
vocabulary on the training rows only; texts are cut or left-padded to ``block_size`` tokens.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroplast.data.base import SOURCES, Dataset, find_data_dir, split_indices, split_rows
from neuroplast.data.tabular import read_csv
from neuroplast.errors import DataError, UserError, did_you_mean
from neuroplast.spec import DataSpec

PAD, UNK = "<pad>", "<unk>"


def read_text(path: Path) -> str:
    """A whole UTF-8 text file, with one-line errors for a missing, empty or non-UTF-8 file."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"Text file {path} does not exist. Set data.path to a UTF-8 text file.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"Text file {path} is not UTF-8 (byte {raw[e.start]:#04x} at offset {e.start}). "
                        "Convert it, e.g. `iconv -f latin1 -t utf-8`.") from None
    if not text.strip():
        raise DataError(f"Text file {path} is empty. Point data.path at a file with text in it.")
    return text


def _chunks(ids: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping (input, next-character target) pairs of ``block`` characters."""
    n = (len(ids) - 1) // block
    x = ids[: n * block].reshape(n, block)
    y = ids[1: n * block + 1].reshape(n, block)
    return x, y


@SOURCES.register("text")
def load_text(spec: DataSpec, seed: int) -> Dataset:
    path = Path(spec.path) if spec.path is not None else find_data_dir(spec, ["input.txt"], "tinyshakespeare") / "input.txt"
    text = read_text(path)
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.int64)
    split = int(len(ids) * (1 - spec.val_fraction))
    block = spec.block_size
    _check_text_parts(path, len(ids), split, block, spec.val_fraction)
    x_tr, y_tr = _chunks(ids[:split], block)
    x_va, y_va = _chunks(ids[split:], block)
    empty = torch.empty(0, block, dtype=torch.int64)
    pre = {"kind": "text", "mode": "chars", "vocab": vocab, "block_size": block}
    return Dataset(path.stem, "language-model", x_tr, y_tr, x_va, y_va, empty, empty, class_names=vocab,
                   preprocess=pre, origin=str(path.resolve()), vocab_size=len(vocab))


def _check_text_parts(path: Path, num_chars: int, split: int, block: int, val_fraction: float) -> None:
    """Both parts must hold a sequence of ``block`` characters and its next-character target."""
    if val_fraction == 0:  # a language model has no test part: validation is its only score
        raise DataError(f"data.val_fraction = 0 leaves the language model on {path} no validation part, "
                        "its only held-out score (text has no test part). Set data.val_fraction > 0, e.g. 0.1.")
    for part, size in (("training", split), ("validation", num_chars - split)):
        if size - 1 < block:
            fix = ("Raise data.val_fraction, lower data.block_size" if part == "validation"
                   else "Lower data.block_size or data.val_fraction")
            raise DataError(f"Text file {path} has {num_chars} characters; its {part} part "
                            f"(data.val_fraction = {val_fraction}) has {size}, too few for one sequence of "
                            f"data.block_size = {block} plus its next character. {fix} or use a longer text.")


def tokenize(text: str, mode: str) -> list[str]:
    return list(text) if mode == "char" else re.findall(r"\w+|[^\w\s]", text.lower())


def encode_texts(texts: list[str], preprocess: dict[str, Any]) -> torch.Tensor:
    """Token ids, cut to the last ``block_size`` tokens and left-padded, shape (N, block_size)."""
    index = {t: i for i, t in enumerate(preprocess["vocab"])}
    block, unk = preprocess["block_size"], index[UNK]
    out = torch.zeros(len(texts), block, dtype=torch.int64)  # PAD is id 0
    for r, text in enumerate(texts):
        ids = [index.get(t, unk) for t in tokenize(text, preprocess["tokens"])][-block:]
        if ids:
            out[r, block - len(ids):] = torch.tensor(ids)
    return out


@SOURCES.register("text-csv")
def load_text_csv(spec: DataSpec, seed: int) -> Dataset:
    if spec.path is None or spec.text_column is None or spec.target is None:
        raise UserError("data.source = 'text-csv' needs data.path (CSV), data.text_column (the text) and "
                        "data.target (the label column).")
    header, columns = read_csv(Path(spec.path))
    for key, name in (("text_column", spec.text_column), ("target", spec.target)):
        if name not in columns:
            hint = did_you_mean(name, header)
            raise DataError(f"CSV file {spec.path} has no column {name!r} (data.{key}).{hint} "
                            f"Columns: {', '.join(header)}.")
    texts, labels = columns[spec.text_column], columns[spec.target]
    class_names = sorted(set(labels))
    y = np.array([class_names.index(v) for v in labels], dtype=np.int64)
    train, val, test = split_indices(y, spec, seed, stratify=min(Counter(labels).values()) >= 3)
    counts = Counter(t for i in train for t in tokenize(texts[i], spec.tokens))
    vocab = [PAD, UNK, *sorted(counts)]
    pre = {"kind": "text", "mode": "classify", "tokens": spec.tokens, "vocab": vocab,
           "block_size": spec.block_size, "column": spec.text_column}
    parts = [(encode_texts([texts[i] for i in idx], pre), torch.from_numpy(y[idx])) for idx in (train, val, test)]
    return Dataset(Path(spec.path).stem, "classification", parts[0][0], parts[0][1], parts[1][0], parts[1][1],
                   parts[2][0], parts[2][1], class_names=class_names, preprocess=pre,
                   origin=str(Path(spec.path).resolve()), vocab_size=len(vocab), extra=split_rows(train, val, test))
