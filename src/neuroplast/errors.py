"""User-facing errors: one line that says what was received, what was expected and how to fix it."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user (a spec key, a file, a shape).

    The command line prints the message on one line and exits with code 2, without a traceback.
    """


class DataError(UserError):
    """A data file or directory is missing, truncated or malformed."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def did_you_mean(name: str, choices, prefix: str = "") -> str:
    """``" Did you mean 'x'?"`` for the closest of ``choices`` (with ``prefix`` before it), or ``""``."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {prefix + close[0]!r}?" if close else ""


def check_output(path, kind: str, example: str) -> None:
    """Refuse an output path of the wrong kind before any work: ``kind`` is "folder" or "file";
    ``example`` is shown as the fix (e.g. "runs/my-run", "report.html")."""
    from pathlib import Path

    path = Path(path)
    if str(path) in ("", "."):
        raise UserError(f"--out {str(path)!r} names no new {kind}; pass one such as {example}.")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise UserError(f"--out {path} is a file; pass a folder such as {example}.")
    if kind == "file" and path.is_dir():
        raise UserError(f"--out {path} is a folder; pass a file such as {path / example}.")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UserError(f"--out {path} lies under {parent}, which is a file; pass a path in a folder.")
    if kind == "file" and not path.parent.is_dir():  # a file is never given folders nobody asked for
        raise UserError(f"--out {path}: its folder {path.parent} does not exist; create it first (mkdir -p "
                        f"{path.parent}) or write into an existing folder.")
