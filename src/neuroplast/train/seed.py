"""One call that fixes every random number a run draws (torch, NumPy, Python) and the thread count."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed torch, NumPy and Python's ``random``; set torch's intra-op threads when ``threads`` is given."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
