"""The bag of n-grams (fastText): a mean of embeddings then a linear layer, checked by hand."""

from __future__ import annotations

import pytest
import torch

from neuroplast.errors import UserError
from neuroplast.models import BagOfNgrams, build_model
from neuroplast.spec import BagSpec, load_spec


def test_bag_is_the_mean_embedding_then_linear_by_hand() -> None:
    bag = BagOfNgrams(5, 3, embedding_dim=2).double()
    with torch.no_grad():
        bag.embedding.weight.copy_(torch.tensor([[0.0, 0.0], [1, 10], [2, 20], [3, 30], [4, 40]]))
        bag.head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        bag.head.bias.copy_(torch.tensor([0.0, 0.0, 1.0]))
    out = bag.eval()(torch.tensor([[1, 2, 0], [3, 0, 0], [0, 0, 0], [4, 4, 1]]))
    # row 0: mean([1, 10], [2, 20]) = [1.5, 15]   (padding 0 left out)  -> [1.5, 15, 1.5 + 15 + 1]
    # row 1: [3, 30] -> [3, 30, 34];  row 2: nothing -> [0, 0] -> the bias [0, 0, 1]
    # row 3: mean([4, 40], [4, 40], [1, 10]) = [3, 30]: a repeated n-gram counts twice -> [3, 30, 34]
    expected = torch.tensor([[1.5, 15, 17.5], [3, 30, 34], [0, 0, 1], [3, 30, 34]], dtype=torch.float64)
    torch.testing.assert_close(out, expected)


def test_padding_row_stays_zero_and_unused_rows_unchanged_after_a_step() -> None:
    torch.manual_seed(0)
    bag = BagOfNgrams(6, 2, embedding_dim=3)
    before = bag.embedding.weight.detach().clone()
    opt = torch.optim.SGD(bag.parameters(), lr=0.5)
    torch.nn.functional.cross_entropy(bag(torch.tensor([[1, 2, 0], [2, 0, 0]])), torch.tensor([0, 1])).backward()
    opt.step()
    after = bag.embedding.weight.detach()
    assert after[0].abs().sum() == 0  # padding: zero, and never learned
    assert torch.equal(after[3:], before[3:]) and not torch.equal(after[1:3], before[1:3])


def test_bag_needs_ngram_ids() -> None:
    with pytest.raises(UserError, match=r"model.family = 'bag' reads the hashed n-grams of a text: data.source = "
                                        r"'text-csv' with data.tokens = 'ngrams'; this data is task 'classification' "
                                        r"with inputs of shape \(4,\)\. Use family = 'mlp' for tables"):
        build_model(BagSpec(), (4,), 3)


def test_bag_and_ngrams_go_together_in_a_spec() -> None:
    with pytest.raises(UserError, match=r"model.family = 'bag' with data.tokens = 'word': family 'bag' reads the "
                                        r"hashed n-grams of data.tokens = 'ngrams', and only it does; set "
                                        r"data.tokens = 'ngrams'\.$"):
        load_spec("reviews-lstm", ["model.family=bag"])
    with pytest.raises(UserError, match=r"model.family = 'lstm' with data.tokens = 'ngrams'.*set model.family = "
                                        r"'bag', or data.tokens = 'word' for this family"):
        load_spec("reviews-lstm", ["data.tokens=ngrams"])


def test_columns_of_padding_only_and_the_id_type_change_nothing() -> None:
    torch.manual_seed(0)
    bag = BagOfNgrams(9, 2, embedding_dim=3).eval()
    x = torch.tensor([[1, 2, 0, 0, 0], [3, 4, 5, 0, 0]])
    expected = bag(x[:, :3])
    for same in (x, x.int(), x.float(), torch.cat([x, torch.zeros(2, 40, dtype=x.dtype)], dim=1)):
        torch.testing.assert_close(bag(same), expected)
