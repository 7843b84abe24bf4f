"""model.compressed: relative indices worked by hand, exact round trips, damaged files as one line."""

from __future__ import annotations

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
    back = coding.decode(coding.encode(state, books), "model.compressed", 10**6, 10**8)
    assert list(back) == list(state)
    for name, tensor in state.items():
        assert back[name].dtype == tensor.dtype and torch.equal(back[name], tensor), name
    for name, book in books.items():  # the weights are exactly their codebooks' values
        assert torch.equal(back[name], book.weight())


def test_the_file_costs_what_the_codes_cost() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(400, 200)
    unstructured.prune_to(layer, 0.95, "layer")
    unstructured.finalize(layer)
    codebook.share_weights(layer, 5)
    book = codebook.finalize(layer, 5)["weight"]
    data = coding.encode(layer.state_dict(), {"weight": book})
    positions = np.flatnonzero(book.mask.numpy().ravel())
    gap_bits = coding.best_gap_bits(positions)
    codes = len(coding.gap_codes(positions, gap_bits))
    assert 3 <= gap_bits <= 8  # ~1 in 20 kept: gaps around 19
    budget = (codes * gap_bits + 4000 * 5) / 8 + 2 * 32 + 4 * 200 + 300  # codes, indices, codebook, bias, header
    assert len(data) <= budget
    assert len(data) < 0.4 * (4000 * 4 + 200 * 4)  # ~10 bits a weight instead of 32, biases as they were


def _damaged(data: bytes) -> list[tuple[str, bytes]]:
    body = zlib.decompress(data[len(coding.MAGIC):])
    length = int.from_bytes(body[:4], "little")
    header = body[4:4 + length].decode()
    lying = header.replace('"kept":', '"kept":1', 1)
    return [
        ("magic", b"XXXX" + data[4:]),
        ("truncated", data[: len(data) // 2]),
        ("flipped byte", data[:40] + bytes([data[40] ^ 0xFF]) + data[41:]),
        ("empty", b""),
        ("header lies", coding.MAGIC + zlib.compress(len(lying).to_bytes(4, "little") + lying.encode()
                                                     + body[4 + length:])),
        ("extra bytes", coding.MAGIC + zlib.compress(body + b"\x00\x01")),
        ("not json", coding.MAGIC + zlib.compress(b"\x05\x00\x00\x00{{{{{")),
        ("huge shape", coding.MAGIC + zlib.compress(b'\x2f\x00\x00\x00[{"name":"w","dtype":"float32","shape":'
                                                    b'[99999,99999],"bytes":4}]' + b"\x00" * 4)),
    ]


@pytest.mark.parametrize("case", range(8))
def test_a_damaged_file_is_one_line(case: int) -> None:
    model, books = _compressed_model(0, 5, 8, 0.9)
    name, data = _damaged(coding.encode(model.state_dict(), books))[case]
    with pytest.raises(UserError) as error:
        coding.decode(data, "run/model.compressed", 10**6, 10**8)
    message = str(error.value)
    assert "\n" not in message and message.startswith("run/model.compressed") and "Quantize the run again" in message
