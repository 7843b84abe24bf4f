"""Batch augmentations that run on the training device, driven by the trainer's generator."""

from __future__ import annotations

import math
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


def random_affine(max_shift: float = 0.0, degrees: float = 0.0, scale: float = 0.0) -> Augment:
    """Rotate each image of a (B, C, H, W) batch by up to ``degrees``, zoom it by a factor in
    ``[1 - scale, 1 + scale]`` and translate it by up to ``max_shift`` pixels, with bilinear
    resampling (``F.affine_grid`` + ``F.grid_sample``) on the batch's device; the border is filled
    with each image's background (its minimum value)."""

    def affine(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, _, h, w = x.shape
        u = torch.rand(4, b, generator=gen, device=x.device) * 2 - 1  # uniform in [-1, 1)
        angle = u[0] * math.radians(degrees)
        zoom = 1 + u[1] * scale
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom  # output -> input coordinates
        theta = torch.stack([torch.stack([cos, -sin, u[2] * 2 * max_shift / w], 1),
                             torch.stack([sin, cos, u[3] * 2 * max_shift / h], 1)], 1)  # (B, 2, 3)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        background = x.amin(dim=(1, 2, 3), keepdim=True)
        out = F.grid_sample(x - background, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False)
        return out + background

    return affine


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Every image of a (B, C, H, W) batch rotated by exactly ``degrees`` (counter-clockwise),
    bilinear, background filled with each image's minimum: the shifted test sets of Ovadia et al."""
    b, _, h, w = x.shape
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]],
                         dtype=x.dtype, device=x.device).expand(b, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    background = x.amin(dim=(1, 2, 3), keepdim=True)
    return F.grid_sample(x - background, grid, align_corners=False) + background


def random_flip(then: Augment | None = None) -> Augment:
    """Mirror each image of a (B, C, H, W) batch left to right with probability 1/2 (after
    ``then``, another augmentation, when given)."""

    def flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if then is not None:
            x = then(x, gen)
        mirrored = torch.rand(x.shape[0], generator=gen, device=x.device) < 0.5
        return torch.where(mirrored[:, None, None, None], x.flip(-1), x)

    return flip


def make_augment(spec: AugmentSpec | None) -> Augment | None:
    """The batch augmentation ``data.augment`` asks for, or None."""
    if spec is None or not spec.active:
        return None
    geometric = None
    if spec.rotate == 0 and spec.scale == 0:
        if spec.shift > 0:
            geometric = random_shift(spec.shift)  # whole-pixel shifts: no resampling blur
    else:
        geometric = random_affine(spec.shift, spec.rotate, spec.scale)
    return random_flip(geometric) if spec.flip else geometric
