"""The compressed weights file (``model.compressed``): pruned positions, codebook indices and
codebooks, coded as Deep Compression stores them, then entropy-coded; read back with no pickle.

Layout: the 5 bytes ``NPCZ\\x02``, then one zlib stream (with an Adler-32 checksum, so a damaged file is
detected) holding a 4-byte little-endian header length, the header (compact JSON: one entry per tensor)
and the body. For each weight with a codebook:

- **positions** as relative indices (Han et al. 2016, §3): the number of zeros skipped before each
  kept weight, in an alphabet of ``2 ** gap_bits`` codes (``gap_bits`` chosen per layer to make the layer
  smallest). The top code, ``2 ** gap_bits - 1``, is a *filler*: "skip that many positions, no weight
  here" — so a longer run of zeros costs one extra code, as the paper's filler zeros do;
- **indices** into the layer's codebook, ``2 ** bits`` symbols;
- the **codebook**, float16.

Positions and indices are each entropy-coded with asymmetric numeral systems (``constriction``'s ANS
coder) under the stream's own symbol counts, which the header stores — the Huffman stage of Deep
Compression, within a fraction of a percent of the streams' entropy. Every other tensor (biases,
normalization layers, embeddings) is stored as its raw little-endian bytes; a float32 one as float16 (as
the codebooks are) when every value is finite and within float16's range, marked ``"stored": "float16"``
and read back as float32 — the file holds the network that is scored, rounded.

Files of format 1 (``NPCZ\\x01``: positions and indices bit-packed at ``gap_bits`` and ``bits`` bits, no
entropy coder) are still read.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import constriction
import numpy as np
import torch

from neuroplast.errors import UserError
from neuroplast.io import atomic_write
from neuroplast.plasticity.codebook import Codebook

MAGIC = b"NPCZ\x02"
MAGIC_V1 = b"NPCZ\x01"  # read only: bit-packed codes, no entropy coder
MAX_GAP_BITS = 12  # the header stores a count for each of the 2 ** gap_bits codes
MAX_GAP_BITS_V1 = 16
HALF_MAX = float(np.finfo(np.float16).max)
DTYPES = {"float32": (torch.float32, np.float32), "float16": (torch.float16, np.float16),
          "int64": (torch.int64, np.int64), "bool": (torch.bool, np.bool_)}


def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Unsigned integers below ``2 ** bits``, ``bits`` bits each, most significant first, padded to a byte.

    >>> pack_bits(np.array([1, 2, 3]), 2).hex()  # 01 10 11 + 00 padding
    '6c'
    """
    values = np.asarray(values, dtype=np.uint32)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint32)
    return np.packbits(((values[:, None] >> shifts) & 1).astype(np.uint8).ravel()).tobytes()


def unpack_bits(raw: bytes, bits: int, count: int) -> np.ndarray:
    """The inverse of :func:`pack_bits`: ``count`` integers of ``bits`` bits."""
    flat = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))[: count * bits].reshape(count, bits)
    return flat.astype(np.uint32) @ (1 << np.arange(bits - 1, -1, -1, dtype=np.uint32))


def gap_codes(positions: np.ndarray, gap_bits: int) -> np.ndarray:
    """Relative-index codes for sorted flat ``positions``: zeros skipped before each, fillers where a run
    of zeros is longer than ``2 ** gap_bits - 2``.

    >>> gap_codes(np.array([0, 2, 9]), 2).tolist()  # skip 0; skip 1; skip 6 = filler (3) + filler (3) + 0
    [0, 1, 3, 3, 0]
    """
    filler = (1 << gap_bits) - 1
    gaps = np.diff(np.concatenate([[-1], positions])) - 1
    fillers = gaps // filler
    codes = np.full(int((fillers + 1).sum()), filler, dtype=np.uint32)
    codes[np.cumsum(fillers + 1) - 1] = gaps - fillers * filler  # each gap's last code: what is left of it
    return codes


def positions_of(codes: np.ndarray, gap_bits: int) -> np.ndarray:
    """The flat positions :func:`gap_codes` coded."""
    filler = (1 << gap_bits) - 1
    codes = codes.astype(np.int64)
    is_filler = codes == filler
    step = np.where(is_filler, filler, codes + 1)
    return (np.cumsum(step) - 1)[~is_filler]


def coded_bits(symbols: np.ndarray, alphabet: int) -> float:
    """What :func:`entropy_code` spends on ``symbols`` under their own counts, within a fraction of a
    percent: their entropy, plus 16 bits for each count the header stores."""
    used = np.bincount(symbols, minlength=alphabet)
    used = used[used > 0]
    return float(-(used * np.log2(used / max(len(symbols), 1))).sum()) + 16 * len(used)


def best_gap_bits(positions: np.ndarray) -> int:
    """The relative-index alphabet (``2 ** gap_bits`` codes, fillers included) that makes these positions
    smallest once entropy-coded."""
    costs = {b: coded_bits(gap_codes(positions, b), 1 << b) for b in range(1, MAX_GAP_BITS + 1)}
    return min(costs, key=lambda b: (costs[b], b))


def entropy_code(symbols: np.ndarray, counts: np.ndarray) -> bytes:
    """``symbols`` (each below ``len(counts)``) coded with ANS under the distribution ``counts``; no bytes
    for no symbols.

    >>> counts = np.array([6, 1, 1])
    >>> data = entropy_code(np.array([0, 0, 1, 0, 0, 2, 0, 0]), counts)
    >>> entropy_decode(data, counts, 8).tolist()
    [0, 0, 1, 0, 0, 2, 0, 0]
    """
    if len(symbols) == 0:
        return b""
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(np.asarray(symbols, dtype=np.int32), _model(counts))
    return coder.get_compressed().astype("<u4").tobytes()


def entropy_decode(raw: bytes, counts: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` symbols :func:`entropy_code` coded under ``counts``."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    if len(raw) % 4:
        raise UserError(f"an entropy-coded stream of {len(raw)} bytes is not whole 32-bit words")
    words = np.frombuffer(raw, dtype="<u4").astype(np.uint32)  # none when every symbol was certain
    coder = constriction.stream.stack.AnsCoder(words) if len(words) else constriction.stream.stack.AnsCoder()
    return np.asarray(coder.decode(_model(counts), count), dtype=np.int64)


def _model(counts: np.ndarray) -> constriction.stream.model.Categorical:
    """The categorical distribution of a stream's symbol counts; the same counts give the same model in
    the encoder and the decoder (constriction quantizes the probabilities deterministically)."""
    counts = np.asarray(counts, dtype=np.float64)
    if len(counts) == 1:  # a one-value codebook: constriction wants at least two symbols
        counts = np.append(counts, 0.0)
    return constriction.stream.model.Categorical(counts / counts.sum(), perfect=False)


def encode(state: dict[str, torch.Tensor], books: dict[str, Codebook]) -> bytes:
    """The bytes of ``model.compressed`` for a state dict whose weights named in ``books`` are their
    codebooks' dequantized weights."""
    header: list[dict[str, Any]] = []
    body = bytearray()
    for name, tensor in state.items():
        book = books.get(name)
        if book is None:
            dtype = str(tensor.dtype).removeprefix("torch.")
            if dtype not in DTYPES:
                raise UserError(f"the compressed file stores {', '.join(DTYPES)} tensors; {name!r} is {dtype}.")
            stored = "float16" if dtype == "float32" and _fits_half(tensor) else dtype
            raw = tensor.detach().cpu().contiguous().numpy().astype(DTYPES[stored][1]).tobytes()
            entry = {"name": name, "dtype": dtype, "shape": list(tensor.shape), "bytes": len(raw)}
            header.append(entry if stored == dtype else {**entry, "stored": stored})
            body += raw
            continue
        positions = np.flatnonzero(book.mask.numpy().ravel())
        gap_bits = best_gap_bits(positions)
        codes, index = gap_codes(positions, gap_bits), book.index.numpy().ravel()
        counts = [np.bincount(codes, minlength=1 << gap_bits), np.bincount(index, minlength=book.centroids.numel())]
        parts = [entropy_code(codes, counts[0]), entropy_code(index, counts[1]),
                 book.centroids.numpy().astype(np.float16).tobytes()]
        header.append({"name": name, "shape": list(book.mask.shape), "bits": book.bits, "gap_bits": gap_bits,
                       "codes": len(codes), "kept": len(positions), "codebook": book.centroids.numel(),
                       "counts": [c.tolist() for c in counts], "bytes": [len(p) for p in parts]})
        body += b"".join(parts)
    text = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + zlib.compress(struct.pack("<I", len(text)) + text + bytes(body), 9)


def _fits_half(tensor: torch.Tensor) -> bool:
    """Every value finite and inside float16's range (so rounding, never overflow)."""
    values = tensor.detach()
    return bool(torch.isfinite(values).all()) and (values.numel() == 0 or float(values.abs().max()) <= HALF_MAX)


def save(path: Path, state: dict[str, torch.Tensor], books: dict[str, Codebook]) -> int:
    """Write ``model.compressed`` atomically; returns its size in bytes."""
    data = encode(state, books)
    atomic_write(path, lambda p: p.write_bytes(data))
    return len(data)


def decode(data: bytes, where: str, max_parameters: int, max_bytes: int) -> dict[str, torch.Tensor]:
    """The state dict in a ``model.compressed`` file's bytes; a damaged file is one :class:`UserError`
    line naming ``where``. No tensor larger than ``max_parameters`` and no stream longer than
    ``max_bytes`` is made."""
    fix = ("the file is damaged. Quantize the run it came from again (neuroplast quantize PARENT; metrics.json's "
           "'parent' names it).")
    if data[:len(MAGIC)] not in (MAGIC, MAGIC_V1):
        raise UserError(f"{where} does not start with {MAGIC!r}: not a neuroplast compressed weights file; {fix}")
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(data[len(MAGIC):], max_bytes)
        if inflater.unconsumed_tail or not inflater.eof:
            raise zlib.error("stream truncated or longer than the file-size limit")
        (length,) = struct.unpack_from("<I", raw)
        header = json.loads(raw[4:4 + length])
        state = _tensors(header, memoryview(raw)[4 + length:], max_parameters, data[len(MAGIC) - 1])
    except UserError as e:
        raise UserError(f"{where}: {e}; {fix}") from None
    except (zlib.error, struct.error, ValueError, TypeError, KeyError, IndexError, RuntimeError) as e:
        raise UserError(f"{where} is corrupt ({str(e)[:100] or type(e).__name__}); {fix}") from None
    return state


def _tensors(header: Any, body: memoryview, max_parameters: int, version: int) -> dict[str, torch.Tensor]:
    """Each tensor the header lists, read from ``body`` with every count checked against the others."""
    if not isinstance(header, list):
        raise UserError("its header is not a list of tensors")
    state, offset = {}, 0
    for entry in header:
        shape = [int(d) for d in entry["shape"]]
        numel = math.prod(shape)
        if any(d < 0 for d in shape) or len(shape) > 8 or numel > max_parameters:
            raise UserError(f"tensor {entry['name']!r} has shape {shape} (at most {max_parameters:,} values, 8 dims)")
        sizes = entry["bytes"] if isinstance(entry["bytes"], list) else [entry["bytes"]]
        parts = []
        for size in sizes:
            if not isinstance(size, int) or size < 0 or offset + size > len(body):
                raise UserError(f"tensor {entry['name']!r} runs past the end of the file")
            parts.append(bytes(body[offset:offset + size]))
            offset += size
        state[str(entry["name"])] = (_dense(entry, shape, parts[0]) if "dtype" in entry
                                     else _coded(entry, shape, numel, parts, version))
    if offset != len(body):
        raise UserError(f"{len(body) - offset} bytes follow the last tensor")
    return state


def _dense(entry: dict[str, Any], shape: list[int], raw: bytes) -> torch.Tensor:
    torch_dtype = DTYPES[entry["dtype"]][0]
    np_dtype = DTYPES[entry.get("stored", entry["dtype"])][1]
    if len(raw) != math.prod(shape) * np.dtype(np_dtype).itemsize:
        raise UserError(f"tensor {entry['name']!r}: {len(raw)} bytes for shape {shape}")
    return torch.from_numpy(np.frombuffer(raw, dtype=np_dtype).copy()).reshape(shape).to(torch_dtype)


def _coded(entry: dict[str, Any], shape: list[int], numel: int, parts: list[bytes], version: int) -> torch.Tensor:
    name, bits, gap_bits = entry["name"], int(entry["bits"]), int(entry["gap_bits"])
    codes, kept, size = int(entry["codes"]), int(entry["kept"]), int(entry["codebook"])
    max_gap_bits = MAX_GAP_BITS if version >= 2 else MAX_GAP_BITS_V1
    if not (1 <= bits <= 8 and 1 <= gap_bits <= max_gap_bits and 0 < size <= 2 ** bits and len(parts) == 3):
        raise UserError(f"tensor {name!r}: bits {bits}, gap_bits {gap_bits}, codebook {size} are out of range")
    if not (0 <= kept <= codes <= 2 * numel + 1 and len(parts[2]) == 2 * size):
        raise UserError(f"tensor {name!r}: {codes} position codes, {kept} indices and a codebook of {size} do not "
                        "fit the bytes stored")
    if version >= 2:
        gap_counts, index_counts = _counts(entry, [(1 << gap_bits, codes), (size, kept)])
        code_values = entropy_decode(parts[0], gap_counts, codes)
        index = entropy_decode(parts[1], index_counts, kept)
    else:
        if len(parts[0]) != math.ceil(codes * gap_bits / 8) or len(parts[1]) != math.ceil(kept * bits / 8):
            raise UserError(f"tensor {name!r}: {codes} position codes and {kept} indices do not fit the bytes stored")
        code_values = unpack_bits(parts[0], gap_bits, codes)
        index = unpack_bits(parts[1], bits, kept).astype(np.int64)
    positions = positions_of(code_values, gap_bits)
    if len(positions) != kept or (kept and (positions[-1] >= numel or int(index.max()) >= size)):
        raise UserError(f"tensor {name!r}: its positions or indices fall outside shape {shape} or the codebook")
    centroids = np.frombuffer(parts[2], dtype=np.float16).astype(np.float32)
    flat = np.zeros(numel, dtype=np.float32)
    flat[positions] = centroids[index]
    return torch.from_numpy(flat).reshape(shape)


def _counts(entry: dict[str, Any], expected: list[tuple[int, int]]) -> list[np.ndarray]:
    """The header's symbol counts of a coded tensor, each checked: ``length`` non-negative integers summing
    to the ``total`` of symbols that stream holds."""
    counts = entry.get("counts")
    if not isinstance(counts, list) or len(counts) != len(expected):
        raise UserError(f"tensor {entry['name']!r} has no symbol counts for its {len(expected)} coded streams")
    out = []
    for stream, (length, total) in zip(counts, expected, strict=True):
        if not (isinstance(stream, list) and len(stream) == length
                and all(isinstance(c, int) and 0 <= c <= total for c in stream) and sum(stream) == total):
            raise UserError(f"tensor {entry['name']!r}: its symbol counts are not {length} counts summing to {total}")
        out.append(np.asarray(stream, dtype=np.int64))
    return out
