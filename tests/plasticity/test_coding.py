"""model.compressed: relative indices worked by hand, exact round trips, damaged files as one line."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.plasticity import codebook, coding
from neuroplast.plasticity import prune as unstructured


def test_relative_indices_with_filler_codes_worked_by_hand() -> None:
    # 2-bit gaps: codes 0..2 are "skip that many zeros, then a weight"; 3 is a filler "skip 3, no weight".
    # Positions 0, 2, 9: skip 0 -> 0; skip 1 -> 1; skip 6 -> 3, 3, 0.
    codes = coding.gap_codes(np.array([0, 2, 9]), 2)
    assert codes.tolist() == [0, 1, 3, 3, 0]
    assert coding.positions_of(codes, 2).tolist() == [0, 2, 9]
    assert coding.pack_bits(codes, 2).hex() == "1f00"  # 00 01 11 11 | 00 + padding
    assert coding.unpack_bits(bytes.fromhex("1f00"), 2, 5).tolist() == [0, 1, 3, 3, 0]


def _compressed_model(seed: int, bits: int, conv_bits: int, sparsity: float) -> tuple[nn.Module, dict]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 20),
                          nn.ReLU(), nn.Linear(20, 3))
    unstructured.prune_to(model, sparsity, "layer")
    unstructured.finalize(model)
    codebook.share_weights(model, bits, conv_bits)
    return model, codebook.finalize(model, bits, conv_bits)


@pytest.mark.parametrize(("seed", "bits", "conv_bits", "sparsity"),
                         [(0, 5, 8, 0.9), (1, 1, 2, 0.5), (2, 8, 3, 0.99), (3, 4, 4, 0.02)])
def test_the_file_round_trips_bit_for_bit(seed: int, bits: int, conv_bits: int, sparsity: float) -> None:
    model, books = _compressed_model(seed, bits, conv_bits, sparsity)
    state = model.state_dict()
    data = coding.encode(state, books)
    back = coding.decode(data, "model.compressed", 10**6, 10**8)
    assert list(back) == list(state)
    for name, tensor in state.items():  # the other float32 tensors are stored as float16, read as float32
        expected = tensor.half().float() if tensor.is_floating_point() else tensor
        assert back[name].dtype == tensor.dtype and torch.equal(back[name], expected), name
    for name, book in books.items():  # the weights are exactly their codebooks' values
        assert torch.equal(back[name], book.weight())
    assert coding.encode(back, books) == data  # what the file holds codes to the same bytes


def test_a_float32_tensor_out_of_float16_range_stays_float32() -> None:
    state = {"big": torch.tensor([1.0, 70000.0]), "nan": torch.tensor([float("nan")]), "small": torch.tensor([0.1])}
    back = coding.decode(coding.encode(state, {}), "model.compressed", 100, 10**6)
    assert back["big"].tolist() == [1.0, 70000.0] and back["nan"].isnan().all()
    assert back["small"].item() == torch.tensor(0.1).half().item() != torch.tensor(0.1).item()


def test_an_entropy_code_worked_by_hand() -> None:
    # Counts 6, 1, 1 over 8 symbols: 6 x log2(8/6) + 2 x log2(8) = 8.49 bits of information, which fit in the
    # ANS coder's state: the stream is one 32-bit word (the fixed-width layout needs 8 x 2 = 16 bits, 2 bytes
    # of packed codes; the coder's word granularity only pays off on real streams); the same counts decode it.
    counts = np.array([6, 1, 1])
    symbols = np.array([0, 0, 1, 0, 0, 2, 0, 0])
    data = coding.entropy_code(symbols, counts)
    assert len(data) == 4
    assert coding.entropy_decode(data, counts, 8).tolist() == symbols.tolist()
    assert coding.coded_bits(symbols, 3) == pytest.approx(6 * np.log2(8 / 6) + 2 * 3 + 3 * 16)
    assert coding.entropy_code(np.array([], dtype=np.int64), counts) == b""


def test_the_coded_bytes_do_not_change() -> None:
    # The file format: files written today must read tomorrow. These bytes were written by constriction
    # 0.5.0; a coder version that models the counts differently fails here before it misreads a user's file.
    counts = np.array([5, 0, 3, 1, 1, 0, 0, 2])
    symbols = np.array([0, 2, 0, 7, 3, 0, 2, 0, 4, 2, 7, 0])
    assert coding.entropy_code(symbols, counts).hex() == "20de26b854180000"
    assert coding.entropy_decode(bytes.fromhex("20de26b854180000"), counts, 12).tolist() == symbols.tolist()


def _entropy_bits(symbols: np.ndarray) -> float:
    """Shannon's bound for a stream under its own frequencies, computed independently of the coder."""
    _, counts = np.unique(symbols, return_counts=True)
    return float(-(counts * np.log2(counts / counts.sum())).sum())


def test_the_file_costs_the_entropy_of_its_codes() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(400, 200)
    unstructured.prune_to(layer, 0.95, "layer")
    unstructured.finalize(layer)
    codebook.share_weights(layer, 5)
    book = codebook.finalize(layer, 5)["weight"]
    data = coding.encode(layer.state_dict(), {"weight": book})
    positions = np.flatnonzero(book.mask.numpy().ravel())
    gap_bits = coding.best_gap_bits(positions)
    codes = coding.gap_codes(positions, gap_bits)
    bound = (_entropy_bits(codes) + _entropy_bits(book.index.numpy())) / 8  # bytes, positions and indices
    counts_and_header = 2 * ((1 << gap_bits) + 32) + 250  # the symbol counts (zlib'd JSON) and the rest
    assert bound < len(data) - 2 * 32 - 2 * 200 <= 1.01 * bound + 8 + counts_and_header  # codebook, bias
    fixed_width = (len(codes) * gap_bits + 4000 * 5) / 8
    assert len(data) - 2 * 32 - 2 * 200 < fixed_width  # smaller than the codes stored at their widths
    assert len(data) < 0.4 * (4000 * 4 + 200 * 4)  # ~10 bits a weight instead of 32, biases in 16


def test_a_format_1_file_still_reads() -> None:
    # Format 1 stored the codes bit-packed at fixed widths: w = [[0, 0.5], [0, -0.25]], bias [1, 2].
    header = [{"name": "w", "shape": [2, 2], "bits": 1, "gap_bits": 2, "codes": 2, "kept": 2, "codebook": 2,
               "bytes": [1, 1, 4]},
              {"name": "b", "dtype": "float32", "shape": [2], "bytes": 8}]
    body = (coding.pack_bits(np.array([1, 1]), 2) + coding.pack_bits(np.array([1, 0]), 1)
            + np.array([-0.25, 0.5], dtype=np.float16).tobytes() + np.array([1, 2], dtype=np.float32).tobytes())
    text = json.dumps(header).encode()
    data = coding.MAGIC_V1 + zlib.compress(len(text).to_bytes(4, "little") + text + body)
    back = coding.decode(data, "old/model.compressed", 100, 10**6)
    assert back["w"].tolist() == [[0.0, 0.5], [0.0, -0.25]] and back["b"].tolist() == [1.0, 2.0]


def _damaged(data: bytes) -> list[tuple[str, bytes]]:
    body = zlib.decompress(data[len(coding.MAGIC):])
    length = int.from_bytes(body[:4], "little")
    header = body[4:4 + length].decode()
    lying = header.replace('"kept":', '"kept":1', 1)
    miscounted = header.replace('"counts":[[', '"counts":[[7,', 1)
    return [
        ("magic", b"XXXX" + data[4:]),
        ("truncated", data[: len(data) // 2]),
        ("flipped byte", data[:40] + bytes([data[40] ^ 0xFF]) + data[41:]),
        ("empty", b""),
        ("header lies", coding.MAGIC + zlib.compress(len(lying).to_bytes(4, "little") + lying.encode()
                                                     + body[4 + length:])),
        ("extra bytes", coding.MAGIC + zlib.compress(body + b"\x00\x01")),
        ("counts lie", coding.MAGIC + zlib.compress(len(miscounted).to_bytes(4, "little") + miscounted.encode()
                                                    + body[4 + length:])),
        ("not json", coding.MAGIC + zlib.compress(b"\x05\x00\x00\x00{{{{{")),
        ("huge shape", coding.MAGIC + zlib.compress(b'\x2f\x00\x00\x00[{"name":"w","dtype":"float32","shape":'
                                                    b'[99999,99999],"bytes":4}]' + b"\x00" * 4)),
    ]


@pytest.mark.parametrize("case", range(9))
def test_a_damaged_file_is_one_line(case: int) -> None:
    model, books = _compressed_model(0, 5, 8, 0.9)
    name, data = _damaged(coding.encode(model.state_dict(), books))[case]
    with pytest.raises(UserError) as error:
        coding.decode(data, "run/model.compressed", 10**6, 10**8)
    message = str(error.value)
    assert "\n" not in message and message.startswith("run/model.compressed") and "Quantize the run it came from again" in message
