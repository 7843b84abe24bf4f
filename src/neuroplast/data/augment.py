"""Batch augmentations that run on the training device, driven by the trainer's generator."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from neuroplast.spec import AugmentSpec

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def random_shift(max_shift: int) -> Augment:
    """Translate each image in a (B, C, H, W) batch by its own random offset in [-s, s] pixels,
    filling the border with the image's background (its minimum value)."""

    def shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, c, h, w = x.shape
        s = max_shift
        padded = F.pad(x, (s, s, s, s), value=float(x.min()))
        off = torch.randint(0, 2 * s + 1, (2, b), generator=gen, device=x.device)
        rows = (off[0][:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
        cols = (off[1][:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
        batch = torch.arange(b, device=x.device)[:, None, None, None]
        chans = torch.arange(c, device=x.device)[None, :, None, None]
        return padded[batch, chans, rows, cols]

    return shift


def make_augment(spec: AugmentSpec | None) -> Augment | None:
    if spec is None or spec.shift == 0:
        return None
    return random_shift(spec.shift)
