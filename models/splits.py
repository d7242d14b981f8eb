"""Time-ordered splits: fit | gap | valid | gap | holdout, oldest to newest.

Labels look forward (an ask's answer comes within the response window, a burnout within the
horizon), so a training row at t "knows" what happened up to t + window. A gap at least as long
as the window between slices keeps those outcomes from overlapping the next slice's period:
every row left of a boundary has t + gap < boundary. Rows are never shuffled.
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
    """The frame cannot be split into non-empty fit, valid and holdout slices."""


@dataclass(frozen=True)
class TimeSplit:
    """Positional row indices of each slice, and the boundaries that separate them."""

    fit_idx: np.ndarray
    valid_idx: np.ndarray
    holdout_idx: np.ndarray
    gap_days: int
    fit_start: pd.Timestamp
    fit_end: pd.Timestamp  # newest t in fit
    valid_start: pd.Timestamp
    valid_end: pd.Timestamp
    holdout_start: pd.Timestamp
    holdout_end: pd.Timestamp

    def as_params(self) -> dict[str, str | int]:
        """Flat, MLflow-friendly description of the split."""
        stamps = {
            name: str(getattr(self, name))
            for name in (
                "fit_start",
                "fit_end",
                "valid_start",
                "valid_end",
                "holdout_start",
                "holdout_end",
            )
        }
        sizes = {
            "n_fit": len(self.fit_idx),
            "n_valid": len(self.valid_idx),
            "n_holdout": len(self.holdout_idx),
        }
        return {"gap_days": self.gap_days, **stamps, **sizes}


def _newest_share_start(t: pd.Series, fraction: float) -> pd.Timestamp:
    """The t at which the newest `fraction` of rows begins (rows with equal t stay together)."""
    ordered = np.sort(t.to_numpy())
    cut = min(int(np.floor(len(ordered) * (1.0 - fraction))), len(ordered) - 1)
    return pd.Timestamp(ordered[cut])


def time_split(
    t: pd.Series, *, holdout_fraction: float, valid_fraction: float, gap_days: int
) -> TimeSplit:
    """Split rows by their time `t`: holdout = newest share, valid = newest share of the rest.

    Rows inside a gap are dropped: they belong to no slice.
    """
    t = pd.to_datetime(pd.Series(t)).reset_index(drop=True)
    if t.isna().any():
        raise SplitError("t has missing values")
    gap = pd.Timedelta(days=gap_days)
    pos = np.arange(len(t))
    holdout_start = _newest_share_start(t, holdout_fraction)
    holdout = pos[(t >= holdout_start).to_numpy()]
    train_mask = (t + gap < holdout_start).to_numpy()
    if not train_mask.any():
        raise SplitError(f"no rows older than the holdout start {holdout_start} minus {gap}")
    valid_start = _newest_share_start(t[train_mask], valid_fraction)
    valid = pos[train_mask & (t >= valid_start).to_numpy()]
    fit = pos[train_mask & (t + gap < valid_start).to_numpy()]
    if len(fit) == 0:
        raise SplitError(f"no rows older than the valid start {valid_start} minus {gap}")
    split = TimeSplit(
        fit_idx=fit,
        valid_idx=valid,
        holdout_idx=holdout,
        gap_days=gap_days,
        fit_start=t.iloc[fit].min(),
        fit_end=t.iloc[fit].max(),
        valid_start=valid_start,
        valid_end=t.iloc[valid].max(),
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
        valid_fraction=settings.training.valid_fraction,
        gap_days=spec.label_window(settings),
    )


def time_folds(t: pd.Series, n_folds: int, gap_days: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window CV folds: fold k validates on the k-th time block and trains on rows
    older than that block minus the gap (for tuning on the fit slice; never shuffled)."""
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
