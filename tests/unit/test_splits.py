"""Time-ordered splits: slices in time order, gaps at least the label window, nothing shuffled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from advocacy.models.splits import SplitError, split_for_target, time_folds, time_split
from advocacy.models.targets import ADVOCATE, BURNOUT
from advocacy.settings import Settings


def _times(n: int = 1000, days: int = 700, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    offsets = pd.to_timedelta(rng.uniform(0, days, n), unit="D")
    return pd.Series(pd.Timestamp("2024-01-01") + offsets)  # deliberately not sorted


@pytest.mark.parametrize("gap", [0, 30, 90])
def test_periods_are_time_ordered_with_a_gap(gap):
    t = _times()
    s = time_split(t, holdout_fraction=0.2, gap_days=gap)
    fit, hold = t.iloc[s.fit_idx], t.iloc[s.holdout_idx]
    assert fit.max() + pd.Timedelta(days=gap) < hold.min()
    assert (s.fit_end, s.holdout_start) == (fit.max(), hold.min())
    assert not set(s.fit_idx) & set(s.holdout_idx)


def test_holdout_is_the_newest_share_and_gap_rows_are_dropped():
    t = _times()
    s = time_split(t, holdout_fraction=0.2, gap_days=30)
    assert len(s.holdout_idx) == 200
    assert set(np.flatnonzero(t >= s.holdout_start)) == set(s.holdout_idx)
    dropped = len(t) - len(s.fit_idx) - len(s.holdout_idx)
    in_gaps = ((t >= s.holdout_start - pd.Timedelta(days=30)) & (t < s.holdout_start)).sum()
    assert dropped >= in_gaps > 0


def test_rows_with_the_same_time_stay_in_one_slice():
    # a burnout-like grid: 20 snapshots, many rows each
    t = pd.Series(np.repeat(pd.date_range("2024-01-01", periods=20, freq="28D"), 50))
    s = time_split(t, holdout_fraction=0.2, gap_days=90)
    for idx in (s.fit_idx, s.holdout_idx):
        inside = set(t.iloc[idx])
        outside = set(t.drop(index=t.index[idx]))
        assert not inside & outside


def test_gap_is_the_label_window_of_each_target():
    settings = Settings()
    assert ADVOCATE.label_window(settings) == settings.windows.response_window_days
    assert BURNOUT.label_window(settings) == settings.windows.burnout_horizon_days
    frame = pd.DataFrame({"t": _times()})
    assert split_for_target(frame, BURNOUT, settings).gap_days == 90
    assert split_for_target(frame, ADVOCATE, settings).gap_days == 30
    longer = settings.model_copy(
        update={"windows": settings.windows.model_copy(update={"response_window_days": 45})}
    )
    assert split_for_target(frame, ADVOCATE, longer).gap_days == 45


def test_boundaries_are_reported_as_params():
    s = time_split(_times(), holdout_fraction=0.2, gap_days=30)
    params = s.as_params()
    assert params["n_holdout"] == len(s.holdout_idx) and params["gap_days"] == 30
    assert params["holdout_start"] == str(s.holdout_start)


def test_too_short_a_history_for_the_gap_fails_clearly():
    t = _times(days=60)
    with pytest.raises(SplitError, match="older than"):
        time_split(t, holdout_fraction=0.2, gap_days=90)


def test_time_folds_train_only_on_older_rows():
    t = _times(n=600)
    folds = time_folds(t, n_folds=3, gap_days=30)
    assert len(folds) == 3
    for train, test in folds:
        assert t.iloc[train].max() + pd.Timedelta(days=30) < t.iloc[test].min()
    assert [len(tr) for tr, _ in folds] == sorted(len(tr) for tr, _ in folds)


@pytest.mark.parametrize("gap", [30, 90])
def test_folds_never_train_on_rows_within_the_gap_of_their_test_block(gap):
    t = _times(n=800)
    for train, test in time_folds(t, n_folds=3, gap_days=gap):
        start = t.iloc[test].min()
        assert not (t.iloc[train] >= start - pd.Timedelta(days=gap)).any()
        assert not set(train) & set(test)
