"""Peers the pipeline's model must beat, fit on exactly its training rows, scored on its holdout.

Each peer sees the rows the holdout model trained on (`split.fit_idx`) and predicts the
holdout rows (`split.holdout_idx`): untuned HistGradientBoosting, FLAML AutoML under a time
budget, the logistic baseline and the latest-NPS rule. Pure: no MLflow, no files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from advocacy.models.baselines import fit_logistic_baseline, nps_heuristic
from advocacy.models.splits import TimeSplit
from advocacy.models.targets import TargetSpec
from advocacy.models.train import LABEL, resolve_features
from advocacy.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_TIME_BUDGET = 60.0  # seconds for FLAML when the settings name no tuning budget
FLAML_ESTIMATORS = ("lgbm", "rf", "extra_tree", "lrl1", "xgboost")
FLAML_VALID_SHARE = 0.2  # newest share of the train rows FLAML validates on (after a gap)


@dataclass(frozen=True)
class PeerData:
    """One target's train and holdout rows as the peers see them."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    numeric: list[str]
    categorical: list[str]
    spec: TargetSpec
    settings: Settings
    gap_days: int
    time_budget: float


Peer = Callable[[PeerData], np.ndarray]


def _as_category(frame: pd.DataFrame, data: PeerData, levels: dict[str, list]) -> pd.DataFrame:
    """Features with categoricals as `category` dtype on the train rows' levels."""
    X = frame[data.numeric + data.categorical].copy()
    for c in data.categorical:
        X[c] = pd.Categorical(X[c].astype(object).where(X[c].notna()), categories=levels[c])
    for c in data.numeric:
        X[c] = pd.to_numeric(X[c], errors="coerce").astype(float)
    return X


def _levels(data: PeerData) -> dict[str, list]:
    return {c: sorted(data.train[c].dropna().astype(str).unique()) for c in data.categorical}


def _text(frame: pd.DataFrame, data: PeerData) -> pd.DataFrame:
    out = frame.copy()
    for c in data.categorical:
        out[c] = (
            out[c].astype(object).where(out[c].notna()).map(lambda v: None if v is None else str(v))
        )
    return out


def hgb_peer(data: PeerData) -> np.ndarray:
    """Untuned HistGradientBoosting with native categoricals (what a notebook would try)."""
    levels = _levels(data)
    train, hold = _text(data.train, data), _text(data.holdout, data)
    model = HistGradientBoostingClassifier(
        categorical_features="from_dtype", random_state=data.settings.training.seed
    )
    model.fit(_as_category(train, data, levels), train[LABEL].to_numpy(dtype=int))
    return model.predict_proba(_as_category(hold, data, levels))[:, 1]


def _time_ordered_valid(t: pd.Series, gap_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of (train, valid): valid = newest share, train = older than it minus the gap."""
    t = pd.to_datetime(t).reset_index(drop=True)
    start = t.sort_values().iloc[int(len(t) * (1 - FLAML_VALID_SHARE))]
    valid = np.flatnonzero((t >= start).to_numpy())
    train = np.flatnonzero((t + pd.Timedelta(days=gap_days) < start).to_numpy())
    return train, valid


def flaml_peer(data: PeerData) -> np.ndarray:
    """FLAML AutoML on log loss, validated on the newest train rows after a label-window gap."""
    from flaml import AutoML  # heavy import: only when the peer runs

    levels = _levels(data)
    train = _text(data.train, data).reset_index(drop=True)
    X = _as_category(train, data, levels)
    y = train[LABEL].to_numpy(dtype=int)
    fit_pos, valid_pos = _time_ordered_valid(train["t"], data.gap_days)
    if len(fit_pos) == 0 or len(np.unique(y[fit_pos])) < 2 or len(np.unique(y[valid_pos])) < 2:
        fit_pos, valid_pos = _time_ordered_valid(train["t"], 0)
    automl = AutoML()
    automl.fit(
        X_train=X.iloc[fit_pos],
        y_train=y[fit_pos],
        X_val=X.iloc[valid_pos],
        y_val=y[valid_pos],
        task="classification",
        metric="log_loss",
        time_budget=data.time_budget,
        estimator_list=list(FLAML_ESTIMATORS),
        eval_method="holdout",
        seed=data.settings.training.seed,
        n_jobs=data.settings.training.num_threads or -1,
        verbose=0,
        log_file_name="",
        retrain_full=True,
        mlflow_logging=False,  # else FLAML logs its trials into the caller's active MLflow run
    )
    hold = _as_category(_text(data.holdout, data), data, levels)
    return np.asarray(automl.predict_proba(hold))[:, 1]


def logreg_peer(data: PeerData) -> np.ndarray:
    """The pipeline's own logistic baseline (`baselines.fit_logistic_baseline`)."""
    cols = data.numeric + data.categorical
    model = fit_logistic_baseline(
        data.train[cols],
        data.train[LABEL].to_numpy(dtype=int),
        data.numeric,
        data.categorical,
        data.settings.training.seed,
    )
    return model.predict_proba(data.holdout[cols])[:, 1]


def nps_peer(data: PeerData) -> np.ndarray:
    """'Ask the latest NPS promoters': the status quo rule, base rate from the train rows."""
    base_rate = float(data.train[LABEL].mean())
    return nps_heuristic(data.holdout, data.spec.nps_direction, base_rate)


PEERS: dict[str, Peer] = {
    "hgb": hgb_peer,
    "flaml": flaml_peer,
    "logreg": logreg_peer,
    "nps": nps_peer,
}


def time_budget(settings: Settings, override: float | None = None) -> float:
    """FLAML's budget: the override, else the pipeline's tuning budget, else the default."""
    if override is not None:
        return float(override)
    return float(getattr(settings.training, "tune_seconds", None) or DEFAULT_TIME_BUDGET)


def peer_predictions(
    frame: pd.DataFrame,
    spec: TargetSpec,
    settings: Settings,
    split: TimeSplit,
    peers: Sequence[str] = tuple(PEERS),
    *,
    budget: float | None = None,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Holdout probabilities per peer name; train rows = split.fit_idx, holdout = holdout_idx."""
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        raise ValueError(f"unknown peers {unknown}; known: {sorted(PEERS)}")
    names, cats = resolve_features(features, categorical)
    frame = frame.reset_index(drop=True)
    data = PeerData(
        train=frame.iloc[split.fit_idx],
        holdout=frame.iloc[split.holdout_idx],
        numeric=[f for f in names if f not in cats],
        categorical=cats,
        spec=spec,
        settings=settings,
        gap_days=split.gap_days,
        time_budget=time_budget(settings, budget),
    )
    out = {}
    for name in peers:
        log.info("peer %s on %s: %d train rows", name, spec.name, len(data.train))
        out[name] = np.clip(np.asarray(PEERS[name](data), dtype=float), 0.0, 1.0)
    return out
