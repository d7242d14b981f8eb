"""Time-ordered splits: train period | gap | holdout, oldest to newest.

Labels look forward (an ask's answer comes within the response window, a burnout within the
horizon), so a training row at t "knows" what happened up to t + window. A gap at least as long
as the window keeps those outcomes from overlapping the next period: every row left of a
boundary has t + gap < boundary. Rows are never shuffled. Early stopping, tuning and calibration
happen on time-ordered folds inside the train period (`time_folds`), not on a slice of their own.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from advocacy.settings import Settings

if TYPE_CHECKING:
    from advocacy.models.targets import TargetSpec

log = logging.getLogger(__name__)


class SplitError(ValueError):
    """The frame cannot be split into a non-empty train period and holdout."""


@dataclass(frozen=True)
class TimeSplit:
    """Positional row indices of each period, and the boundaries that separate them.

    `fit_idx` is the train period: the rows the holdout model learns from (t + gap < holdout
    start). The champion candidate is refit on every row (train, gap and holdout)."""

    fit_idx: np.ndarray
    holdout_idx: np.ndarray
    gap_days: int
    fit_start: pd.Timestamp
    fit_end: pd.Timestamp  # newest t in the train period
    holdout_start: pd.Timestamp
    holdout_end: pd.Timestamp

    def as_params(self) -> dict[str, str | int]:
        """Flat, MLflow-friendly description of the split."""
        names = ("fit_start", "fit_end", "holdout_start", "holdout_end")
        stamps = {name: str(getattr(self, name)) for name in names}
        sizes = {"n_fit": len(self.fit_idx), "n_holdout": len(self.holdout_idx)}
        return {"gap_days": self.gap_days, **stamps, **sizes}


def _newest_share_start(t: pd.Series, fraction: float) -> pd.Timestamp:
    """The t at which the newest `fraction` of rows begins (rows with equal t stay together)."""
    ordered = np.sort(t.to_numpy())
    cut = min(int(np.floor(len(ordered) * (1.0 - fraction))), len(ordered) - 1)
    return pd.Timestamp(ordered[cut])


def time_split(t: pd.Series, *, holdout_fraction: float, gap_days: int) -> TimeSplit:
    """Split rows by their time `t`: holdout = newest share, train = rows a gap before it.

    Rows inside the gap belong to neither period (the refit sees them).
    """
    t = pd.to_datetime(pd.Series(t)).reset_index(drop=True)
    if t.isna().any():
        raise SplitError("t has missing values")
    gap = pd.Timedelta(days=gap_days)
    pos = np.arange(len(t))
    holdout_start = _newest_share_start(t, holdout_fraction)
    holdout = pos[(t >= holdout_start).to_numpy()]
    fit = pos[(t + gap < holdout_start).to_numpy()]
    if len(fit) == 0:
        raise SplitError(f"no rows older than the holdout start {holdout_start} minus {gap}")
    split = TimeSplit(
        fit_idx=fit,
        holdout_idx=holdout,
        gap_days=gap_days,
        fit_start=t.iloc[fit].min(),
        fit_end=t.iloc[fit].max(),
        holdout_start=holdout_start,
        holdout_end=t.iloc[holdout].max(),
    )
    log.info("time split: %s", split.as_params())
    return split


def split_for_target(frame: pd.DataFrame, spec: TargetSpec, settings: Settings) -> TimeSplit:
    """The split for one model: gap = that target's label window (`spec.label_window`)."""
    return time_split(
        frame["t"],
        holdout_fraction=settings.training.holdout_fraction,
        gap_days=spec.label_window(settings),
    )


def time_folds(t: pd.Series, n_folds: int, gap_days: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window CV folds: fold k validates on the k-th of n_folds + 1 time blocks and
    trains on rows older than that block minus the gap (never shuffled). The test blocks
    together are the out-of-fold rows calibration is fitted on."""
    t = pd.to_datetime(pd.Series(t)).reset_index(drop=True)
    ordered = np.sort(t.to_numpy())
    pos = np.arange(len(t))
    gap = pd.Timedelta(days=gap_days)
    edges = [pd.Timestamp(ordered[int(len(t) * k / (n_folds + 1))]) for k in range(1, n_folds + 1)]
    edges.append(pd.Timestamp(ordered[-1]) + pd.Timedelta(1, "ns"))
    folds = []
    for start, end in itertools.pairwise(edges):
        train = pos[(t + gap < start).to_numpy()]
        test = pos[((t >= start) & (t < end)).to_numpy()]
        if len(train) and len(test):
            folds.append((train, test))
    if not folds:
        raise SplitError("too few distinct times for time-ordered folds")
    return folds
