"""Exact-resume checkpoints: tensors, numbers and strings only, loaded with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from neuroplast.errors import UserError
from neuroplast.io import atomic_write


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Tensors, numbers, strings and containers only, so it loads with ``weights_only=True``."""
    atomic_write(path, lambda p: torch.save(state, p))


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"No checkpoint at {path}: the run ended before its first epoch, or it was "
                        "started with train.checkpoint = false. Start it again with `neuroplast run`.") from None
    except Exception as e:  # torch raises several types for a damaged archive
        raise UserError(f"Checkpoint {path} is corrupt ({type(e).__name__}). Start the run again.") from None
