"""The date column of a series CSV: dates in order, one per time step, no gaps.

A forecaster reads the rows as equally spaced steps; a missing month or a row out of place would
silently shift every window after it, so both are refused with the rows named. Dates are ISO-like:
``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (``/`` also separates; a time after the date is ignored). The
step is the most common difference between neighbours: years, months (quarterly is every 3) or days.
"""

from __future__ import annotations

import collections
import datetime
import logging
import re
from pathlib import Path

from neuroplast.errors import DataError

log = logging.getLogger(__name__)

DATE_NAMES = ("date", "time", "month", "year", "quarter", "period", "ds", "timestamp", "datetime")
_DATE = re.compile(r"^(\d{4})(?:[-/](\d{1,2})(?:[-/](\d{1,2}))?)?(?:[ T].*)?$")


def date_column(header: list[str], given: str | None, path: Path) -> str | None:
    """The column to check: ``given`` (which must exist), else the first column named like a date."""
    if given is not None:
        if given not in header:
            raise DataError(f"CSV file {path} has no column {given!r} (data.date_column). Columns: "
                            f"{', '.join(header)}. Set data.date_column to one of them.")
        return given
    return next((h for h in header if h.strip().lower() in DATE_NAMES), None)


def parse_date(text: str) -> tuple[int, int | None, int | None] | None:
    """``(year, month, day)`` of an ISO-like date (month and day None when absent), or None."""
    m = _DATE.match(text.strip())
    if m is None:
        return None
    year, month, day = (int(g) if g else None for g in m.groups())
    try:
        datetime.date(year, month or 1, day or 1)
    except ValueError:
        return None
    return year, month, day


def check_dates(raw: list[str], column: str, path: Path, required: bool) -> str | None:
    """Refuse dates out of order or with gaps (one line naming the rows); return the step found
    (``"1 year"``, ``"3 months"``...). A column that does not hold dates is an error when
    ``required`` (the user named it), else said in one line and skipped."""
    parsed = [parse_date(v) for v in raw]
    bad = next((i for i, p in enumerate(parsed) if p is None), None)
    if bad is not None:
        message = (f"CSV file {path}: column {column!r} has {raw[bad]!r} in data row {bad + 1}, not a date "
                   "(YYYY, YYYY-MM or YYYY-MM-DD)")
        if required:
            raise DataError(f"{message}. Fix that cell or set data.date_column to the column of dates.")
        log.warning("%s; the rows are taken in file order, one step each, unchecked.", message)
        return None
    index, unit = _step_index(parsed)  # type: ignore[arg-type]
    diffs = [b - a for a, b in zip(index, index[1:], strict=False)]
    for i, d in enumerate(diffs):
        if d <= 0:
            raise DataError(f"CSV file {path}: column {column!r} is out of order: data row {i + 2} "
                            f"({raw[i + 1]}) does not come after row {i + 1} ({raw[i]}). Sort the rows by "
                            "date (and remove repeated dates).")
    if not diffs:
        return None
    step = collections.Counter(diffs).most_common(1)[0][0]
    gaps = [i for i, d in enumerate(diffs) if d != step]
    if gaps:
        i = gaps[0]
        raise DataError(f"CSV file {path}: column {column!r} has {len(gaps)} gap(s) in its steps of {step} "
                        f"{unit}: between data rows {i + 1} ({raw[i]}) and {i + 2} ({raw[i + 1]}) "
                        f"{_missing(diffs[i], step)}. A series needs one row per step: fill the missing "
                        "dates (e.g. interpolate) or cut the series there.")
    return f"{step} {unit}"


def _missing(diff: int, step: int) -> str:
    return f"{diff // step - 1} step(s) are missing" if diff % step == 0 else f"the step is {diff}"


def _step_index(parsed: list[tuple[int, int | None, int | None]]) -> tuple[list[int], str]:
    """Each date as a whole number of the coarsest unit that tells them apart: years, months or days."""
    if all(p[1] is None for p in parsed):
        return [p[0] for p in parsed], "year(s)"
    days = {p[2] for p in parsed}
    if len(days) <= 1 or all(p[2] == _month_end(p) for p in parsed):  # monthly (or quarterly) dates, all on the same day of the month
        return [p[0] * 12 + (p[1] or 1) - 1 for p in parsed], "month(s)"
    dates = [datetime.date(p[0], p[1] or 1, p[2] or 1) for p in parsed]
    daily = any((b - a).days == 1 for a, b in zip(dates, dates[1:], strict=False))
    if daily and all(d.weekday() < 5 for d in dates):  # daily on weekdays only: business days (pandas' "B")
        return [(d.toordinal() - d.weekday()) // 7 * 5 + d.weekday() for d in dates], "business day(s)"
    return [d.toordinal() for d in dates], "day(s)"


def _month_end(p: tuple[int, int | None, int | None]) -> int:
    month = p[1] or 1
    following = datetime.date(p[0] + month // 12, month % 12 + 1, 1)
    return (following - datetime.timedelta(days=1)).day
