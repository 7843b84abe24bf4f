"""What pruning really saves: parameters, bytes on disk, multiply-accumulates and measured latency.

Latency is measured, never estimated: the dense and the pruned model run in the same process on
the same batch, interleaved, and the median of the repeats is reported, at batch 1 (one request)
and batch 256 (throughput). Unstructured zeros still go through dense kernels, so their MACs
"saved" (``nonzero_macs``) are an upper bound that the latency usually does not show.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroplast.io import save_weights


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """All parameters and the non-zero ones."""
    params = list(model.parameters())
    return {"total": sum(p.numel() for p in params), "nonzero": sum(int((p != 0).sum()) for p in params)}


def weights_bytes(model: nn.Module, sparse: bool) -> int:
    """Size of the model's safetensors file, dense or with sparse weights stored compactly."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.safetensors"
        save_weights(path, model, sparse=sparse)
        return path.stat().st_size


def count_macs(model: nn.Module, example: torch.Tensor) -> dict[str, int]:
    """Multiply-accumulates of one forward pass over ``example`` (per sample), in the weight layers.

    ``dense``: what dense kernels execute; ``nonzero``: only products with a non-zero weight (what
    a sparse kernel could skip to). Linear, Conv and RNN/LSTM/GRU layers are counted; elementwise
    operations and attention's score products are not.
    """
    totals = {"dense": 0, "nonzero": 0}

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        dense, density = _layer_macs(module, inputs, output)
        totals["dense"] += dense
        totals["nonzero"] += round(dense * density)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.RNNBase))]
    try:
        was = model.training
        model.eval()
        with torch.inference_mode():
            model(example)
        model.train(was)
    finally:
        for h in handles:
            h.remove()
    n = len(example)
    return {k: v // n for k, v in totals.items()}


def _layer_macs(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> tuple[int, float]:
    if isinstance(module, nn.RNNBase):
        x = inputs[0]
        steps = x.shape[1] if module.batch_first else x.shape[0]
        batch = x.shape[0] if module.batch_first else x.shape[1]
        weights = [getattr(module, n) for n in module._flat_weights_names if n.startswith("weight")]
        total = sum(w.numel() for w in weights)
        nonzero = sum(int((w != 0).sum()) for w in weights)
        return batch * steps * total, nonzero / max(total, 1)
    w = module.weight
    density = float((w != 0).float().mean())
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features, density
    per_output = w.shape[1] * w[0, 0].numel()  # in_channels / groups * kernel size
    return output.numel() * per_output, density


def latency_ms(models: dict[str, nn.Module], example: torch.Tensor, repeats: int = 30,
               min_seconds: float = 0.5) -> dict[str, float]:
    """Median milliseconds per forward pass on ``example`` for each model, measured interleaved.

    Each model is warmed up first; then rounds run every model once, in turn, until ``repeats``
    rounds and at least ``min_seconds`` have passed, so the models see the same machine state.
    """
    for m in models.values():
        m.eval()
    times: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        for m in models.values():
            for _ in range(3):
                m(example)
        start = time.perf_counter()
        rounds = 0
        while rounds < repeats or time.perf_counter() - start < min_seconds:
            for name, m in models.items():
                t0 = time.perf_counter()
                m(example)
                times[name].append((time.perf_counter() - t0) * 1e3)
            rounds += 1
            if rounds >= 20 * repeats:
                break
    return {k: statistics.median(v) for k, v in times.items()}


def compare(dense: nn.Module, pruned: nn.Module, example: torch.Tensor, sparse: bool,
            batches: tuple[int, ...] = (1, 256), repeats: int = 30) -> dict[str, Any]:
    """Parameters, bytes, MACs and latency of ``dense`` against ``pruned``, with the ratios.

    ``example`` is a batch of real inputs; latency batches repeat it to the sizes in ``batches``.
    ``note`` says plainly when the latency did not drop.
    """
    one = example[:1]
    macs_dense, macs_pruned = count_macs(dense, one), count_macs(pruned, one)
    params_dense, params_pruned = parameter_counts(dense), parameter_counts(pruned)
    bytes_dense, bytes_pruned = weights_bytes(dense, sparse=False), weights_bytes(pruned, sparse=sparse)
    latency: dict[str, Any] = {}
    for b in batches:
        batch = example.repeat((b + len(example) - 1) // len(example), *([1] * (example.ndim - 1)))[:b]
        ms = latency_ms({"dense": dense, "pruned": pruned}, batch, repeats=repeats)
        latency[f"batch_{b}"] = {**ms, "speedup": ms["dense"] / ms["pruned"]}
    result = {
        "params": {"dense": params_dense["total"], "pruned": params_pruned["total"],
                       "pruned_nonzero": params_pruned["nonzero"]},
        "bytes": {"dense": bytes_dense, "pruned": bytes_pruned, "ratio": bytes_dense / bytes_pruned},
        "macs": {"dense": macs_dense["dense"], "pruned": macs_pruned["dense"],
                 "pruned_nonzero": macs_pruned["nonzero"]},
        "latency_ms": latency,
        "threads": torch.get_num_threads(),
    }
    slow = [f"{k.replace('batch_', 'batch ')}: {v['speedup']:.2f}x" for k, v in latency.items() if v["speedup"] < 1.1]
    if slow and sparse:
        result["note"] = (f"latency did not drop ({', '.join(slow)}): the zeros still go through dense kernels. "
                          "Structured pruning (--method structured) removes whole neurons/channels and makes "
                          "the model faster.")
    elif slow:
        result["note"] = (f"latency did not drop much ({', '.join(slow)}): at this size the time goes to fixed "
                          "per-layer costs, not to the multiplications removed.")
    return result
