"""A long text read in blocks: the head sees the mean of the non-empty blocks' summaries."""

from __future__ import annotations

import pytest
import torch

from neuroplast.models import Recurrent, Transformer
from neuroplast.models.base import pool_chunks


def test_pool_chunks_by_hand() -> None:
    x = torch.tensor([[[0, 0], [0, 2], [3, 4]],   # text 0: block 0 empty -> mean of blocks 1 and 2
                      [[0, 0], [0, 0], [0, 0]]])  # text 1: no token -> zeros
    out = pool_chunks(x, lambda ids: ids.double().sum(dim=1, keepdim=True))  # a block's feature: its id sum
    torch.testing.assert_close(out, torch.tensor([[(2 + 7) / 2], [0.0]], dtype=torch.float64))


@pytest.mark.parametrize("make", [
    lambda: Recurrent((4,), 3, cell="gru", hidden_size=5, vocab_size=10, embedding_dim=4),
    lambda: Transformer((4,), 3, d_model=8, num_heads=2, num_layers=1, vocab_size=10, pad_id=0)])
def test_blocks_equal_the_mean_of_each_block_read_alone(make) -> None:
    torch.manual_seed(0)
    model = make().double().eval()
    x = torch.tensor([[[0, 0, 0, 0], [0, 0, 1, 2], [3, 4, 5, 6]],
                      [[0, 0, 0, 7], [8, 9, 1, 2], [3, 3, 3, 3]]])
    with torch.no_grad():
        got = model(x)
        # the head is linear: the mean of the head's outputs over non-empty blocks equals the head of the mean
        one = (model(x[0:1, 1]) + model(x[0:1, 2])) / 2
        two = (model(x[1:2, 0]) + model(x[1:2, 1]) + model(x[1:2, 2])) / 3
    torch.testing.assert_close(got, torch.cat([one, two]))
