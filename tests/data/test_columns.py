"""Column roles from cells alone, and the rule that warns about a column whose order predicts the target."""

from __future__ import annotations

import numpy as np

from neuroplast.data.columns import feature_names, infer_role, order_leak, parse_date
from neuroplast.data.tabular import sniff_delimiter

MISSING = {"", "NA"}


def test_roles_from_cells() -> None:
    ten = [str(v) for v in range(10)]
    assert infer_role("r", ten, MISSING)["role"] == "identifier"  # 0..9 in 10 rows
    assert infer_role("r", ten[:9], MISSING)["role"] == "number"  # too few rows to call it a row number
    assert infer_role("r", [*ten[1:], "NA"], MISSING)["role"] == "number"  # a missing cell: not one per row
    assert infer_role("c", ["NA"] * 12, MISSING)["role"] == "constant"
    assert infer_role("c", ["a"] * 11 + [""], MISSING)["role"] == "category"  # present or missing: two values
    assert infer_role("d", ["2020-02-29", "1999/12/31 23:59", "NA"], MISSING)["role"] == "date"
    assert infer_role("d", ["2020-02-30", "2020-02-28"], MISSING)["role"] == "category"  # no 30 February
    assert parse_date("2024-03-31T08:00:00+02:00").isoformat() == "2024-03-31"


def test_feature_names_follow_the_encoding() -> None:
    schema = [{"name": "x", "type": "numeric", "indicator": True}, {"name": "d", "type": "date"},
              {"name": "id", "type": "dropped"}, {"name": "c", "type": "categorical", "categories": ["", "u"]}]
    assert feature_names(schema) == ["x", "x missing", "d.year", "d.month", "d.weekday", "d.yearday", "c=", "c=u"]


def test_order_leak_rule() -> None:
    rising = [str(100 + 2 * i) for i in range(20)]
    assert "target is sorted" in order_leak(rising, np.array([0] * 10 + [1] * 10), MISSING)
    assert order_leak(rising, np.array([0, 1] * 10), MISSING) is None  # classes interleaved
    noisy = np.arange(20) + np.random.default_rng(0).normal(0, 1.5, 20)  # not sorted, rank-correlated
    assert "Spearman +0.9" in order_leak(rising, noisy, MISSING)
    assert order_leak(rising[::2] + rising[1::2], noisy, MISSING) is None  # not monotone itself


def test_sniffed_delimiters() -> None:
    assert sniff_delimiter(["a;b;c\n", "1,5;2;x\n", "3,5;4;y\n"]) == ";"  # decimal commas
    assert sniff_delimiter(["a,b\n", "1,2\n", "3,4\n"]) == ","
    assert sniff_delimiter(["value\n", "1\n", "2\n"]) == ","  # one column: nothing to sniff


def test_a_category_too_rare_to_learn_from_encodes_as_none() -> None:
    """As scikit-learn's OneHotEncoder(min_frequency=3): a value seen under 3 times in the training rows gets
    no column of its own (a name column of a passenger list, mostly unique, adds no hundreds of features)."""
    from neuroplast.data.columns import MIN_CATEGORY_COUNT, encode_columns, fit_column

    train = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"]
    col = fit_column({"name": "x", "type": "categorical", "role": "category"}, train, {""})
    assert MIN_CATEGORY_COUNT == 3 and col["categories"] == ["a", "b"]
    assert col["note"] == "2 of 4 values seen under 3 times in training: encoded as none"
    encoded = encode_columns({"x": ["a", "b", "c", "d", "e"]}, [col], {""}, 5)
    assert encoded.tolist() == [[1, 0], [0, 1], [0, 0], [0, 0], [0, 0]]  # rare and unseen alike


def test_free_text_is_a_bag_of_its_common_words_not_a_category() -> None:
    """Mostly distinct cells of several words (a car's name, a passenger's name with title) are text: one 0/1
    feature per word found in 3+ training rows, most common first; codes like "N1A1" or single words are not."""
    from neuroplast.data.columns import encode_columns, fit_column

    names = [f"{brand} no{i}" for i, brand in enumerate(["ford pinto", "vw rabbit", "Ford Torino"] * 4)]
    role = infer_role("name", names, MISSING)
    assert role["role"] == "text" and role["type"] == "text"
    assert infer_role("id", [f"N{i}A{i}" for i in range(12)], MISSING)["role"] == "identifier"  # no words
    assert infer_role("w", [f"word{chr(97 + i)}" for i in range(12)], MISSING)["role"] == "identifier"  # one each
    col = fit_column(role, names, MISSING)
    # "no" (from "no7": letters only) in 12 rows, "ford" in 8, "pinto" "vw" "rabbit" "torino" in 4
    assert col["words"] == ["no", "ford", "pinto", "rabbit", "torino", "vw"]
    assert feature_names([col])[:2] == ["name~no", "name~ford"]
    bag = encode_columns({"name": ["FORD Pinto, ford!", "a new car", "NA"]}, [col], MISSING, 3)
    assert bag.tolist() == [[0, 1, 1, 0, 0, 0], [0] * 6, [0] * 6]  # presence, not counts; missing: none


def test_day_first_and_month_first_dates_are_told_apart_by_a_number_above_12() -> None:
    from neuroplast.data.columns import encode_columns, fit_column

    day_first = infer_role("d", ["17-08-1984", "05-04-1988", "NA"], MISSING)
    assert day_first["role"] == "date" and day_first["order"] == "dmy" and "read as day-month-year" in day_first["note"]
    month_first = infer_role("d", ["08/17/1984", "04/05/1988"], MISSING)
    assert month_first["order"] == "mdy" and "assumed" not in month_first["note"]
    unsure = infer_role("d", ["01.02.2020", "03.04.2021"], MISSING)  # no number above 12: day first, said
    assert unsure["order"] == "dmy" and "day-month-year assumed (no number above 12 tells)" in unsure["note"]
    assert infer_role("d", ["17-08-1984", "08-17-1984"], MISSING)["role"] == "category"  # both orders: not dates
    assert infer_role("d", ["2020-02-29", "17-08-1984"], MISSING)["role"] == "category"  # ISO and day-first mixed
    col = fit_column(day_first, ["17-08-1984"], MISSING)
    # 17 August 1984 was a Friday (weekday 4), day 230 of a leap year; the same day month-first
    assert encode_columns({"d": ["17-08-1984"]}, [col], MISSING, 1).tolist() == [[1984, 8, 4, 230]]
    assert encode_columns({"d": ["08/17/1984"]}, [fit_column(month_first, [], MISSING)], MISSING, 1).tolist() == \
        [[1984, 8, 4, 230]]
