"""The CUDA path: these tests run only where a GPU is present (never required; CI has none)."""

from __future__ import annotations

import pytest
import torch

from neuroplast.data.base import Dataset
from neuroplast.models import build_model
from neuroplast.spec import ExperimentSpec
from neuroplast.train import fit

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _data(n: int = 1000) -> Dataset:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 1, 12, 12, generator=g)
    x[:, :, :6] += 0.5 * y[:, None, None, None]  # class 1: the top half is brighter
    return Dataset("halves", "classification", x[:800], y[:800], x[800:], y[800:], x[:0], y[:0],
                   class_names=["bottom", "top"])


def _train(schedule: str = "cosine", **train) -> tuple[dict[str, torch.Tensor], object]:
    spec = ExperimentSpec.model_validate({
        "model": {"family": "cnn", "channels": [8, 16], "hidden": [32], "dropout": 0.0},
        "train": {"epochs": 2, "batch_size": 64, "optimizer": "adamw", "lr": 3e-3, "schedule": schedule,
                  "weight_decay": 1e-4, "device": "cuda", "checkpoint": False, **train}})
    torch.manual_seed(0)
    model = build_model(spec.model, (1, 12, 12), 2)
    result = fit(model, _data(), spec.train, seed=0, progress=False)
    return {k: v.detach().cpu().float() for k, v in model.state_dict().items()}, result


@cuda
def test_cuda_graph_training_matches_eager_training() -> None:
    """The replayed graph follows the learning-rate schedule like the eager loop (800 samples, batch
    64: 12 graphed full batches and one eager partial batch per epoch)."""
    eager, _ = _train()
    graphed, result = _train(cuda_graphs=True)
    assert result.extra["cuda_graph_capture_seconds"] > 0
    diffs = {k: (eager[k] - graphed[k]).abs().max().item() for k in eager}
    assert max(diffs.values()) < 2e-4, diffs
    assert result.history[-1]["val_accuracy"] > 0.9


@cuda
def test_bf16_channels_last_on_cuda_learns() -> None:
    _, result = _train("onecycle", amp="bf16", channels_last=True, cuda_graphs=True)
    assert result.history[-1]["val_accuracy"] > 0.9
