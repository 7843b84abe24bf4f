"""Text: character-level language modelling from any UTF-8 file, and text classification from a CSV.

Language modelling (``source = "text"``) splits the text contiguously (the last ``val_fraction`` is
validation) and cuts it into sequences of ``block_size`` characters whose targets are the same
characters shifted by one. Classification (``source = "text-csv"``) reads a CSV column of texts in
one of two ways:

- ``data.tokens = "char"`` or ``"word"``: a vocabulary built on the training rows only; each text is
  read in up to ``data.chunks`` blocks of ``block_size`` tokens from its end (one block: its last
  ``block_size`` tokens, left-padded), for the recurrent and Transformer families, which read each
  block and average over a text's non-empty blocks.
- ``data.tokens = "ngrams"``: the whole text's hashed word and character n-grams
  (:mod:`neuroplast.data.ngrams`), for family ``bag``; no vocabulary is kept, the hash is the same
  for new text.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroplast.data.base import SOURCES, Dataset, find_data_dir, split_indices, split_rows
from neuroplast.data.columns import DROPPED, infer_role
from neuroplast.data.ngrams import (
    CHAR_NGRAMS,
    MIN_TEXTS,
    hash_texts,
    kept_slots,
    ngram_ids,
    slots_to_ids,
)
from neuroplast.data.tabular import read_csv
from neuroplast.errors import DataError, UserError, did_you_mean
from neuroplast.spec import DataSpec, ExperimentSpec, is_table_file, load_spec, text_spec
from neuroplast.spec.experiment import TEXT_SPEC

PAD, UNK = "<pad>", "<unk>"
log = logging.getLogger(__name__)


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
    """Characters (``mode = "char"``), or lower-cased words and single punctuation marks (else)."""
    return list(text) if mode == "char" else re.findall(r"\w+|[^\w\s]", text.lower())


def encode_texts(texts: list[str], preprocess: dict[str, Any], width: int | None = None) -> torch.Tensor:
    """Texts -> the model's input, as the run's ``preprocess.json`` says:

    - ``tokens = "ngrams"``: hashed n-gram ids (:mod:`neuroplast.data.ngrams`), ``(N, width)``,
      right-padded with 0 (``width`` None: the longest text's count);
    - else token ids of the vocabulary, cut to the last ``chunks * block_size`` tokens and
      left-padded: ``(N, block_size)`` with one chunk, ``(N, chunks, block_size)`` with more (the text
      read in blocks of ``block_size`` from its end; the first block left-padded, empty ones all 0).
    """
    if preprocess["tokens"] == "ngrams":
        return ngram_ids((tokenize(t, "word") for t in texts), preprocess, width)
    index = {t: i for i, t in enumerate(preprocess["vocab"])}
    block, unk, chunks = preprocess["block_size"], index[UNK], preprocess.get("chunks", 1)
    size = block * chunks
    out = torch.zeros(len(texts), size, dtype=torch.int64)  # PAD is id 0
    for r, text in enumerate(texts):
        ids = [index.get(t, unk) for t in tokenize(text, preprocess["tokens"])][-size:]
        if ids:
            out[r, size - len(ids):] = torch.tensor(ids)
    return out if chunks == 1 else out.view(len(texts), chunks, block)


@SOURCES.register("text-csv")
def load_text_csv(spec: DataSpec, seed: int) -> Dataset:
    """A CSV column of texts and a column of labels -> a text classification dataset (see the module)."""
    texts, labels = _text_columns(spec)
    class_names = sorted(set(labels))
    y = np.array([class_names.index(v) for v in labels], dtype=np.int64)
    train, val, test = split_indices(y, spec, seed, stratify=min(Counter(labels).values()) >= 3)
    pre: dict[str, Any] = {"kind": "text", "mode": "classify", "tokens": spec.tokens, "column": spec.text_column}
    if spec.tokens == "ngrams":
        pre.update(buckets=spec.buckets, max_ngrams=spec.max_ngrams, char_ngrams=list(CHAR_NGRAMS),
                   word_ngrams=2, hash="crc32", min_texts=MIN_TEXTS)
        slots, cut = hash_texts((tokenize(t, "word") for t in texts), pre)
        pre["kept"] = kept_slots(slots[i] for i in train)
        x = slots_to_ids(slots, pre["kept"])
        if cut:
            log.warning("%d of %d texts have more than data.max_ngrams = %d n-grams; each keeps its first "
                        "%d. Raise data.max_ngrams to read them whole.", cut, len(texts), spec.max_ngrams,
                        spec.max_ngrams)
        vocab_size = len(pre["kept"]) + 1
    else:
        counts = Counter(t for i in train for t in tokenize(texts[i], spec.tokens))
        pre.update(vocab=[PAD, UNK, *sorted(counts)], block_size=spec.block_size, chunks=spec.chunks)
        x = encode_texts(texts, pre)
        _say_cut(texts, spec)
        vocab_size = len(pre["vocab"])
    parts = [(x[idx], torch.from_numpy(y[idx])) for idx in (train, val, test)]
    return Dataset(Path(spec.path).stem, "classification", parts[0][0], parts[0][1], parts[1][0], parts[1][1],
                   parts[2][0], parts[2][1], class_names=class_names, preprocess=pre,
                   origin=str(Path(spec.path).resolve()), vocab_size=vocab_size, extra=split_rows(train, val, test))


def _text_columns(spec: DataSpec) -> tuple[list[str], list[str]]:
    """The texts and labels of a text-csv spec's file, with one-line errors for what is missing."""
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
    if not any(tokenize(t, "word") for t in texts):
        raise DataError(f"CSV file {spec.path}: column {spec.text_column!r} (data.text_column) holds no words "
                        f"in any of its {len(texts)} rows. Point data.text_column at the column with the text.")
    return texts, labels


def _say_cut(texts: list[str], spec: DataSpec) -> None:
    """Say how many texts are longer than the tokens kept (their first tokens are not read)."""
    size = spec.block_size * spec.chunks
    long = sum(len(tokenize(t, spec.tokens)) > size for t in texts)
    if long:
        log.warning("%d of %d texts have more than data.chunks x data.block_size = %d x %d tokens; each keeps "
                    "its last %d. Raise data.chunks to read them whole.", long, len(texts), spec.chunks,
                    spec.block_size, size)


def text_default(given: str | Path | ExperimentSpec | None,
                 overrides: list[str] | tuple[str, ...] = ()) -> ExperimentSpec | None:
    """``neuroplast run FILE.csv --target COLUMN``: the text default (``csv-text``: a bag of n-grams) when
    ``given`` is a CSV file whose only usable feature column is free text
    (:func:`neuroplast.data.columns.infer_role`), said in one line; else None (the table default applies:
    ``load_spec(given, overrides)``). ``--set data.source=...`` or ``--set model.family=...`` keeps the
    table default; other overrides apply to the text default."""
    chosen = {item.split("=", 1)[0].strip() for item in overrides}
    if isinstance(given, ExperimentSpec) or not is_table_file(given) or chosen & {"data.source", "model.family"}:
        return None
    table = load_spec(given, [o for o in overrides if not o.strip().startswith("model.")])
    if table.data.source != "csv" or table.data.target is None or table.data.path is None:
        return None
    header, columns = read_csv(Path(table.data.path))
    if table.data.target not in columns:
        return None  # the table loader names the missing column
    missing = set(table.data.missing)
    roles = [infer_role(name, columns[name], missing) for name in header if name != table.data.target]
    used = [r for r in roles if r["role"] not in DROPPED]
    if len(used) != 1 or used[0]["role"] != "text":
        return None
    column = used[0]["name"]
    log.warning("%s: the only feature column, %r, is free text: training the text default %s (fastText's bag "
                "of word and character n-grams; --set model.family=mlp keeps the table default).",
                Path(table.data.path).name, column, TEXT_SPEC)
    return text_spec(Path(table.data.path), column, overrides)
