from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuroplast.models.transformer  # noqa: F401  (registers "transformer" in MODELS)
from neuroplast.errors import UserError
from neuroplast.models.base import build_model
from neuroplast.models.transformer import SelfAttention, Transformer, sinusoidal_positions
from neuroplast.spec import TransformerSpec

TINY = TransformerSpec(d_model=16, num_heads=2, num_layers=2, mlp_ratio=2, dropout=0.1)


@pytest.mark.parametrize(("input_shape", "vocab_size", "task", "pooling", "x_shape", "expected"), [
    ((8,), 11, "language-model", "mean", (3, 8), (3, 8, 11)),
    ((8,), 11, "language-model", "mean", (3, 5), (3, 5, 11)),  # shorter than the context
    ((8,), 11, "classification", "cls", (3, 8), (3, 4)),
    ((8, 3), 0, "regression", "mean", (3, 8, 3), (3, 4)),
    ((8, 3), 0, "forecast", "cls", (3, 8, 3), (3, 4)),
    ((1, 6, 5), 0, "classification", "mean", (3, 1, 6, 5), (3, 4)),
    ((2, 6, 5), 0, "classification", "cls", (3, 2, 6, 5), (3, 4)),  # 6 rows of 2 * 5 pixels
])
def test_shapes_for_each_input_mode_and_task(input_shape, vocab_size, task, pooling, x_shape,
                                             expected) -> None:
    spec = TINY.model_copy(update={"pooling": pooling})
    model = build_model(spec, input_shape, expected[-1], task=task, vocab_size=vocab_size)
    x = torch.randint(0, vocab_size, x_shape) if vocab_size else torch.randn(x_shape)
    out = model(x)
    assert out.shape == expected
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_language_model_is_causal() -> None:
    model = Transformer((10,), 7, "language-model", d_model=16, num_heads=2, num_layers=2,
                        vocab_size=7).double().eval()
    x = torch.randint(0, 7, (2, 10))
    out = model(x)
    for t in range(9):
        changed = x.clone()
        changed[:, t + 1:] = (x[:, t + 1:] + 1) % 7  # every later token differs
        out_changed = model(changed)
        assert torch.equal(out[:, : t + 1], out_changed[:, : t + 1])
        assert not torch.equal(out[:, t + 1], out_changed[:, t + 1])  # the future does matter


@pytest.mark.parametrize(("task", "pooling"), [("language-model", "mean"),
                                               ("classification", "cls")])
def test_explicit_attention_equals_the_fused_path(task: str, pooling: str) -> None:
    model = Transformer((6,), 5, task, d_model=16, num_heads=4, num_layers=2, pooling=pooling,
                        vocab_size=9).double().eval()
    x = torch.randint(0, 9, (3, 6))
    out, maps = model(x, return_attention=True)
    torch.testing.assert_close(out, model(x), rtol=0, atol=1e-10)
    length = 6 if task == "language-model" else 7  # the [CLS] token takes one more position
    assert len(maps) == 2 and all(m.shape == (3, 4, length, length) for m in maps)
    for weights in maps:
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, length, dtype=torch.float64))
        if task == "language-model":
            assert torch.all(weights.triu(1) == 0)
        else:
            assert torch.all(weights > 0)


@pytest.mark.parametrize("causal", [True, False])
def test_self_attention_matches_torch_multihead_attention(causal: bool) -> None:
    # Oracle: nn.MultiheadAttention with the same packed q, k, v and output weights.
    ours = SelfAttention(d_model=12, num_heads=3, dropout=0.0, causal=causal).double()
    theirs = nn.MultiheadAttention(12, 3, batch_first=True).double()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(ours.qkv.weight)
        theirs.in_proj_bias.copy_(ours.qkv.bias)
        theirs.out_proj.weight.copy_(ours.proj.weight)
        theirs.out_proj.bias.copy_(ours.proj.bias)
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    mask = torch.ones(5, 5, dtype=torch.bool).triu(1) if causal else None  # True: may not attend
    expected, expected_weights = theirs(x, x, x, attn_mask=mask, average_attn_weights=False)
    fused, _ = ours(x)
    explicit, weights = ours(x, return_attention=True)
    torch.testing.assert_close(fused, expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(explicit, expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(weights, expected_weights, rtol=0, atol=1e-10)


def test_sinusoidal_positions_by_hand() -> None:
    # d = 4: frequencies 1 / 10000^(0/4) = 1 and 1 / 10000^(2/4) = 1/100;
    # row pos = [sin(pos), cos(pos), sin(pos / 100), cos(pos / 100)].
    table = sinusoidal_positions(3, 4).double()
    torch.testing.assert_close(table[0], torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(table[1], torch.tensor([0.8414709848, 0.5403023059, 0.0099998333,
                                                       0.9999500004], dtype=torch.float64))
    torch.testing.assert_close(table[2, 0].item(), math.sin(2.0))
    torch.testing.assert_close(table[2, 3].item(), math.cos(2.0 / 100))
    assert sinusoidal_positions(4, 5).shape == (4, 5)  # an odd width ends with a sine
    model = Transformer((3, 2), 1, "regression", d_model=4, num_heads=2, num_layers=1,
                        positional="sinusoidal")
    assert not any("position" in name for name, _ in model.named_parameters())  # fixed, not learned
    torch.testing.assert_close(model.position_table, sinusoidal_positions(3, 4))


def test_gpt2_initialisation() -> None:
    model = Transformer((8,), 50, "language-model", d_model=64, num_heads=4, num_layers=8,
                        vocab_size=50)
    assert abs(model.embed.weight.std().item() - 0.02) < 0.002
    assert abs(model.blocks[0].attn.qkv.weight.std().item() - 0.02) < 0.002
    assert abs(model.blocks[0].mlp[2].weight.std().item() - 0.02 / math.sqrt(16)) < 0.001
    assert all(torch.all(m.bias == 0) for m in model.modules() if isinstance(m, nn.Linear))


def test_overfits_a_copy_task() -> None:
    # Each sequence is 5 digits, a separator 0, then the same 5 digits again: after the separator
    # the next token can only be found by attending 6 positions back.
    torch.set_num_threads(1)
    digits = torch.randint(1, 10, (16, 5))
    seq = torch.cat([digits, torch.zeros(16, 1, dtype=torch.long), digits], dim=1)  # (16, 11)
    x, y = seq[:, :-1], seq[:, 1:]
    model = Transformer((10,), 10, "language-model", d_model=32, num_heads=2, num_layers=2,
                        dropout=0.0, vocab_size=10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(300):
        loss = F.cross_entropy(model(x)[:, 5:].flatten(0, 1), y[:, 5:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    assert torch.equal(model(x)[:, 5:].argmax(-1), y[:, 5:])  # accuracy 1.0 on the copied half


def test_too_long_and_bad_inputs_are_refused() -> None:
    model = build_model(TINY, (8,), 11, task="language-model", vocab_size=11)
    with pytest.raises(UserError, match=r"length 9; the maximum context is 8"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(UserError, match=r"ids must lie in \[0, 11\); received ids from 0 to 11"):
        model.eval()(torch.tensor([[0, 11]]))  # checked in evaluation (a check per step would sync)
    images = build_model(TINY, (1, 6, 5), 3)
    with pytest.raises(UserError, match=r"length 7; the maximum context is 6"):
        images(torch.zeros(2, 1, 7, 5))
    with pytest.raises(UserError, match=r"shape \(batch, T, 5\); received \(2, 6, 4\)"):
        images(torch.zeros(2, 1, 6, 4))


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(UserError, match=r"d_model = 30 is not divisible by num_heads = 4.*\. 32"):
        build_model(TransformerSpec(d_model=30, num_heads=4), (8, 2), 3)
    with pytest.raises(UserError, match=r"reads sequences.*rows of shape \(13,\)"):
        build_model(TINY, (13,), 3)
    with pytest.raises(UserError, match="task must be one of"):
        Transformer((8, 2), 3, task="segmentation")


@pytest.mark.parametrize(("pooling", "positional"), [("mean", "learned"), ("cls", "sinusoidal")])
def test_left_padding_does_not_change_a_text_classifier(pooling: str, positional: str) -> None:
    from neuroplast.data.text import PAD, encode_texts
    from neuroplast.models.transformer import PAD_ID

    vocab = [PAD, "<unk>", "the", "film", "was", "superb"]
    assert encode_texts(["the film"], {"vocab": vocab, "block_size": 4, "tokens": "word"}).tolist() == \
        [[PAD_ID, PAD_ID, 2, 3]]  # the data pads on the left with the id the model masks
    spec = TINY.model_copy(update={"pooling": pooling, "positional": positional})
    model = build_model(spec, (12,), 3, task="classification", vocab_size=6).double().eval()
    tokens = torch.tensor([[2, 3, 4, 5], [5, 5, 2, 2]])
    out = model(tokens)
    for extra in (1, 5, 8):  # up to the full context of 12
        padded = torch.cat([torch.full((2, extra), PAD_ID), tokens], dim=1)
        torch.testing.assert_close(model(padded), out, rtol=0, atol=1e-5)
        explicit, maps = model(padded, return_attention=True)
        torch.testing.assert_close(explicit, out, rtol=0, atol=1e-5)
        first = 1 if pooling == "cls" else 0
        assert torch.all(maps[0][..., first: first + extra] == 0)  # nobody reads the padding
    with torch.no_grad():  # without the mask the padding would matter: the test can fail
        unmasked = Transformer((12,), 3, d_model=16, num_heads=2, num_layers=2, mlp_ratio=2,
                               pooling=pooling, positional=positional, vocab_size=6).double().eval()
        unmasked.load_state_dict(model.state_dict())
        assert not torch.allclose(unmasked(torch.cat([torch.zeros(2, 8, dtype=torch.long), tokens], 1)),
                                  unmasked(torch.cat([torch.zeros(2, 5, dtype=torch.long), tokens], 1)))
    all_padding = model(torch.zeros(1, 12, dtype=torch.long))  # an empty text: no fully masked row
    assert torch.isfinite(all_padding).all()


def test_language_models_have_no_padding_mask() -> None:
    lm = build_model(TINY, (8,), 11, task="language-model", vocab_size=11)
    assert lm.pad_id is None
    assert build_model(TINY, (8,), 3, task="classification", vocab_size=11).pad_id == 0


def test_cls_pooling_exports_with_a_dynamic_batch(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from neuroplast.export.onnx import _export

    model = build_model(TINY.model_copy(update={"pooling": "cls"}), (6,), 3, vocab_size=9).eval()
    _export(model, torch.randint(0, 9, (2, 6)), tmp_path / "m.onnx", 17, "torchscript")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = torch.tensor([[0, 0, 0, 4, 5, 6], [1, 2, 3, 4, 5, 6], [0] * 6])  # batch 3, traced with 2
    got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    torch.testing.assert_close(got, model(x), rtol=0, atol=1e-5)
