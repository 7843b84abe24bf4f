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
