from __future__ import annotations

from pathlib import Path

import pytest

from neuroplast.data.dates import check_dates, date_column, parse_date
from neuroplast.errors import DataError

P = Path("s.csv")


def test_dates_parse_at_three_resolutions() -> None:
    assert parse_date("1987") == (1987, None, None)
    assert parse_date("1987-03") == (1987, 3, None)
    assert parse_date("1987/03/31 12:00") == (1987, 3, 31)
    assert parse_date("1987-13") is None and parse_date("2021-02-29") is None and parse_date("n/a") is None


@pytest.mark.parametrize(("dates", "step"), [
    (["2001", "2002", "2003"], "1 year(s)"),
    (["2001-01", "2001-04", "2001-07", "2001-10", "2002-01"], "3 month(s)"),  # quarterly
    (["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30"], "1 month(s)"),  # month ends
    (["2020-02-27", "2020-02-28", "2020-02-29", "2020-03-01"], "1 day(s)"),
    # Thursday to the next Wednesday, weekends left out, as stock prices come
    (["2024-02-29", "2024-03-01", "2024-03-04", "2024-03-05", "2024-03-06"], "1 business day(s)"),
    (["2024-02-29", "2024-03-07", "2024-03-14", "2024-03-21", "2024-03-28", "2024-04-04"], "7 day(s)"),  # weekly
])
def test_regular_dates_pass_with_their_step(dates: list[str], step: str) -> None:
    assert check_dates(dates, "date", P, required=True) == step


def test_a_missing_quarter_and_a_repeated_date_are_refused() -> None:
    with pytest.raises(DataError, match=r"between data rows 2 \(2001-04\) and 3 \(2001-10\) 1 step\(s\) are missing"):
        check_dates(["2001-01", "2001-04", "2001-10", "2002-01", "2002-04"], "date", P, required=True)
    with pytest.raises(DataError, match=r"out of order: data row 3 \(2002\) does not come after row 2 \(2002\)"):
        check_dates(["2001", "2002", "2002"], "date", P, required=True)


def test_a_named_column_must_hold_dates_a_guessed_one_is_skipped_with_a_warning(caplog) -> None:
    with pytest.raises(DataError, match=r"has 'week 3' in data row 2, not a date"):
        check_dates(["2001-01", "week 3"], "when", P, required=True)
    assert check_dates(["2001-01", "week 3"], "date", P, required=False) is None
    assert "taken in file order" in caplog.text
    assert date_column(["Date", "y"], None, P) == "Date" and date_column(["t", "y"], None, P) is None


def test_a_missing_business_day_is_a_gap() -> None:
    # Friday 2024-03-08 is missing between Thursday and Monday
    dates = ["2024-03-05", "2024-03-06", "2024-03-07", "2024-03-11", "2024-03-12", "2024-03-13"]
    with pytest.raises(DataError, match=r"steps of 1 business day\(s\): between data rows 3 \(2024-03-07\) and 4 "
                                        r"\(2024-03-11\) 1 step\(s\) are missing"):
        check_dates(dates, "date", P, required=True)
