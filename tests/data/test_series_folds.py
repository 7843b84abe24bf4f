from __future__ import annotations

import numpy as np
import pytest

from neuroplast.data.series import rolling_origin_folds, split_bounds
from neuroplast.errors import DataError


def test_folds_never_reach_the_test_period_by_index() -> None:
    # 100 values, val 0.1 / test 0.2: the test period starts at 80; the folds see values[:80] only.
    _, val_end = split_bounds(100, 0.1, 0.2)
    assert val_end == 80
    window, horizon, block = 6, 3, 10
    folds = rolling_origin_folds(val_end, block, 3, window, horizon)
    assert len(folds) == 3
    for k, (train, stop, score) in enumerate(folds, start=1):
        end = 80 - (k - 1) * block  # fold 1 scores [70, 80), fold 2 [60, 70), fold 3 [50, 60)
        # every target of every window: origin .. origin + horizon - 1, strictly before the test period
        for origins in (train, stop, score):
            assert (origins + horizon - 1).max() < val_end
            assert origins.min() >= window  # a full input window before each origin
        assert score.tolist() == list(range(end - block, end - horizon + 1))
        assert stop.tolist() == list(range(end - 2 * block, end - block - horizon + 1))
        assert train.tolist() == list(range(window, end - 2 * block - horizon + 1))
    # the scored blocks are disjoint and step back in time
    scored = [set(s.tolist()) for _, _, s in folds]
    assert all(not (a & b) for i, a in enumerate(scored) for b in scored[i + 1:])


def test_too_short_for_any_fold_is_one_clear_error() -> None:
    with pytest.raises(DataError, match="Rolling-origin validation needs at least window 24"):
        rolling_origin_folds(40, 10, 3, 24, 1)


def test_folds_stop_where_the_history_runs_out() -> None:
    folds = rolling_origin_folds(60, 10, 5, 12, 1)  # fold 4 would train on targets before 10 < window 12
    assert len(folds) == 3 and np.all([f[0].min() >= 12 for f in folds])
