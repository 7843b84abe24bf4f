"""Files that survive a crash: atomic writes, JSON and safetensors weights (dense or sparse), never pickle.

Every writer goes through :func:`atomic_write`, so a kill leaves either the old file or the new one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
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


# --------------------------------------------------------------------------- claiming a folder
LOCK = "run.lock"  # inside a run folder while a process writes it (training, resume, its stages)
_HELD: dict[Path, list[Any]] = {}  # folder -> [open lock file, depth]: a claim is re-entrant in one process


class FolderBusy(UserError):
    """Another live process holds the folder's lock."""


@contextlib.contextmanager
def claim_folder(folder: Path, note: Callable[[str], None] | None = None, create: bool = True) -> Iterator[Path]:
    """Hold ``folder/run.lock`` for the block: an exclusive ``flock`` on a file holding this process's
    pid, so a second writer is refused in one line (:class:`FolderBusy`) and a lock whose process died
    (kill -9) is taken over, with a ``note``. The folder is made if missing (and removed again if the
    block fails and left it empty; with ``create=False`` a missing folder is refused). On first claim, temp files a killed write left (``.NAME.*.tmp``,
    from :func:`atomic_write`) are removed. Re-entrant within one process."""
    folder = Path(folder)
    key = folder.resolve()
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield folder / LOCK
        finally:
            _HELD[key][1] -= 1
        return
    created = not folder.exists()
    if created and not create:
        raise UserError(f"{folder} is not a neuroplast run folder (it does not exist). Pass the folder that "
                        "`neuroplast run` printed.")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        handle = _lock(folder / LOCK, note)
    except BaseException:
        if created:
            _rmdir_if_empty(folder)
        raise
    _HELD[key] = [handle, 1]
    ok = False
    try:
        remove_leftover_tmp(folder)
        yield folder / LOCK
        ok = True
    finally:
        del _HELD[key]
        (folder / LOCK).unlink(missing_ok=True)  # unlinked while still locked: a waiter re-checks the inode
        handle.close()
        if created and not ok:
            _rmdir_if_empty(folder)


def _lock(path: Path, note: Callable[[str], None] | None) -> Any:
    """An open, exclusively flock-ed ``path`` holding our pid (retried if the file was replaced meanwhile)."""
    import fcntl

    for _ in range(50):
        try:  # never through a symlink: a hostile folder's run.lock -> ~/.bashrc must not be truncated
            handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644), "r+",
                               errors="replace")
        except OSError as e:
            raise UserError(f"{path} cannot be opened as a lock file ({e.strerror}); remove it if no neuroplast "
                            "process is writing the folder.") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read(32).strip() or "?"
            handle.close()
            raise FolderBusy(f"{path.parent} is being written by another neuroplast process (pid {holder}, lock "
                             f"{path}); wait for it to finish, or choose another folder (--out DIR).") from None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the holder unlinked it as we opened it: lock the new file instead
            handle.close()
            continue
        handle.seek(0)
        previous = handle.read(32).strip()
        if previous and note is not None:
            note(f"{path}: took over the lock of pid {previous}, which is no longer running")
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return handle
    raise FolderBusy(f"{path}: could not take the lock (it kept being replaced); try again.")


def remove_leftover_tmp(folder: Path) -> list[Path]:
    """Remove the temp files (``.NAME.XXXX.tmp``) that a write killed mid-way left in ``folder`` and its
    subfolders; returns them. Call it only while holding the folder (:func:`claim_folder`)."""
    import re

    made_by_us = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # mkstemp(prefix=".NAME.", suffix=".tmp")
    left = [Path(root) / name for root, _, names in os.walk(folder)  # never into a symlinked folder
            for name in names if made_by_us.match(name)]
    left = [p for p in left if p.is_file() and not p.is_symlink()]
    for p in left:
        p.unlink(missing_ok=True)
    return left


def _rmdir_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
