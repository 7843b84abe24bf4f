"""Atomic files: a crash never leaves a half-written checkpoint, weights or metrics file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from neuroplast.errors import UserError


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"))


def save_weights(path: Path, model: torch.nn.Module) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda p: save_file(state, str(p)))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file (no pickle), with a clear error if it is missing or corrupt."""
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise UserError(f"Weights file {path} is missing. Is this a finished neuroplast run folder?") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"Weights file {path} is corrupt ({e}). Re-run training, or resume from its "
                        "checkpoint with `neuroplast resume`.") from None


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
