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
