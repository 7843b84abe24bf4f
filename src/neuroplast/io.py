"""Files that survive a crash: atomic writes, JSON and safetensors weights (dense or sparse), never pickle.

Every writer goes through :func:`atomic_write`, so a kill leaves either the old file or the new one."""

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
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600: give the file the mode open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read once at import (setting it to read it is not thread-safe later)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


def save_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"))


SPARSE_VALUES, SPARSE_BITMASK, SPARSE_SHAPE = "::values", "::bitmask", "::shape"


def save_weights(path: Path, model: torch.nn.Module, sparse: bool = False) -> None:
    """Write the model's state to safetensors atomically.

    With ``sparse=True`` every floating-point tensor that is at least half zeros (a pruned weight)
    is stored as a bitmask of its non-zero positions (1 bit per entry) plus the non-zero values,
    as ``NAME::bitmask``, ``NAME::values`` and ``NAME::shape``; :func:`load_weights` restores it.
    At 96% zeros a float32 weight takes ~0.29 bytes per entry instead of 4.
    """
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if sparse:
        state = encode_sparse(state)
    atomic_write(path, lambda p: save_file(state, str(p)))


def encode_sparse(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Bitmask + values for the mostly-zero floating tensors of a state dict (see save_weights)."""
    import numpy as np

    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        nonzero = value != 0
        if not value.is_floating_point() or value.numel() < 64 or nonzero.float().mean() > 0.5:
            out[name] = value
            continue
        bits = np.packbits(nonzero.flatten().numpy().astype(np.uint8))
        out[name + SPARSE_BITMASK] = torch.from_numpy(bits)
        out[name + SPARSE_VALUES] = value[nonzero].contiguous()
        out[name + SPARSE_SHAPE] = torch.tensor(value.shape, dtype=torch.int64)
    return out


def decode_sparse(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Dense tensors again from :func:`encode_sparse`'s entries (other entries pass through)."""
    import numpy as np

    out = {k: v for k, v in state.items() if "::" not in k}
    for key in state:
        if key.endswith(SPARSE_SHAPE):
            name = key[: -len(SPARSE_SHAPE)]
            shape = tuple(int(d) for d in state[key].tolist())
            n = int(np.prod(shape)) if shape else 1
            mask = torch.from_numpy(np.unpackbits(state[name + SPARSE_BITMASK].numpy())[:n].astype(bool))
            values = state[name + SPARSE_VALUES]
            dense = torch.zeros(n, dtype=values.dtype)
            dense[mask] = values
            out[name] = dense.reshape(shape)
    return out


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file (no pickle), with a clear error if it is missing or corrupt.

    Sparse entries written by ``save_weights(..., sparse=True)`` come back as dense tensors.
    """
    try:
        return decode_sparse(load_file(str(path)))
    except FileNotFoundError:
        raise UserError(f"Weights file {path} is missing. Is this a finished neuroplast run folder?") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"Weights file {path} is corrupt ({e}). Re-run training, or resume from its "
                        "checkpoint with `neuroplast resume`.") from None


def read_json(path: Path) -> Any:
    """A run folder's JSON file; a damaged or missing one is a one-line error naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} is missing: the run folder is incomplete. Re-run training.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); the run folder is damaged. Re-run training.") from None
