"""One call that fixes every random number a run draws (torch, NumPy, Python) and the thread count;
the state of all of them (and of the shuffling generator) for an exact-resume checkpoint."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, threads: int | str | None = None) -> None:
    """Seed torch, NumPy and Python's ``random``; set torch's intra-op threads when ``threads`` is a count
    (``"auto"`` is measured when training starts, :mod:`neuroplast.train.threads`)."""
    if isinstance(threads, int):
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def rng_state(gen: torch.Generator) -> dict[str, Any]:
    """The state of torch's, CUDA's, NumPy's and Python's global generators and of ``gen``, as tensors."""
    state = {"torch": torch.get_rng_state(), "shuffle": gen.get_state(),
             "numpy": _numpy_state(),
             "python": torch.tensor(list(random.getstate()[1]), dtype=torch.int64)}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _numpy_state() -> torch.Tensor:
    """NumPy's global MT19937 key and position as one int64 tensor (weights_only-loadable)."""
    _, keys, pos, *_ = np.random.get_state()
    return torch.from_numpy(np.append(keys.astype(np.int64), pos))


def set_rng_state(state: dict[str, Any], gen: torch.Generator) -> None:
    """Put back what :func:`rng_state` saved, so the next draws are the ones a run that never stopped makes."""
    torch.set_rng_state(state["torch"])
    gen.set_state(state["shuffle"])
    keys = state["numpy"][:624].numpy().astype(np.uint32)  # MT19937 key, then the position in it
    np.random.set_state(("MT19937", keys, int(state["numpy"][624]), 0, 0.0))
    random.setstate((3, tuple(int(v) for v in state["python"].tolist()), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
