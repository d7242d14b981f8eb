"""LightGBM hyperparameters and rounds chosen on time-ordered folds (gap = label window).

Optuna's seeded TPE sampler proposes parameters; each trial is one `lgb.cv` over expanding
time folds with early stopping, so it yields the CV log loss and the number of rounds at once.
The first trial is the configured defaults, and the best trial replaces them only when it is
clearly better (`clearly_better`): picking the best of many by a noisy CV otherwise overfits
the search on small worlds. The
same folds give the out-of-fold raw margins calibration is fitted on (`cross_validate`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd

from advocacy.models.splits import time_folds
from advocacy.settings import Settings

log = logging.getLogger(__name__)

# A tuned setting replaces the defaults only when its paired out-of-fold log loss gain exceeds
# this many standard errors (`clearly_better`).
MIN_GAIN_SE = 2.0
TUNED = ("num_leaves", "min_child_samples", "learning_rate", "colsample_bytree", "reg_lambda")


@dataclass(frozen=True)
class CVResult:
    """One `lgb.cv` run: mean test log loss at the best round, and out-of-fold raw margins."""

    log_loss: float
    rounds: int
    oof_idx: np.ndarray  # positions (in the CV frame) of the rows the folds' tests cover
    oof_margin: np.ndarray


@dataclass(frozen=True)
class Tuned:
    params: dict[str, Any]
    cv: CVResult
    trials: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """What tracking logs: trials, seconds, the best CV log loss and the tuned params."""
        best = {k: self.params[k] for k in TUNED if k in self.params}
        return {
            "trials": self.trials,
            "seconds": round(self.seconds, 3),
            "best_cv_log_loss": self.cv.log_loss,
            "best_rounds": self.cv.rounds,
            "best_params": best,
        }


def cross_validate(
    X: pd.DataFrame,
    y: np.ndarray,
    t: pd.Series,
    params: dict[str, Any],
    categorical: list[str],
    gap_days: int,
    settings: Settings,
) -> CVResult:
    """Time-ordered CV with early stopping: log loss, rounds and each fold's test margins."""
    training, lgbm = settings.training, settings.training.lightgbm
    folds = time_folds(t, training.tune_folds, gap_days)
    native = {k: v for k, v in params.items() if k != "n_estimators"}
    # free_raw_data: the folds' margins are predicted from X itself, and a Dataset that keeps
    # its raw data copies X's rows into every fold it cuts (~2 s and 0.5 GB at 1M contacts)
    data = lgb.Dataset(X, y, categorical_feature=categorical or "auto", free_raw_data=True)
    result = lgb.cv(
        native,
        data,
        num_boost_round=lgbm.max_rounds,
        folds=folds,
        return_cvbooster=True,
        callbacks=[lgb.early_stopping(lgbm.early_stopping_rounds, verbose=False)],
    )
    losses = result["valid binary_logloss-mean"]
    rounds = int(np.argmin(losses)) + 1
    cvbooster = result["cvbooster"]
    idx = np.concatenate([test for _, test in folds])
    margin = np.concatenate(
        [
            booster.predict(X.iloc[test], raw_score=True, num_iteration=rounds)
            for booster, (_, test) in zip(cvbooster.boosters, folds, strict=True)
        ]
    )
    return CVResult(float(losses[rounds - 1]), rounds, idx, margin)


def clearly_better(candidate: CVResult, defaults: CVResult, y: np.ndarray) -> bool:
    """Does `candidate` beat the defaults by more than `MIN_GAIN_SE` paired standard errors of
    the out-of-fold log loss? The best of many trials on a few thousand rows wins on noise
    otherwise (docs/models.md "Tuning": it cost p_advocate 0.002-0.005 AUC at 20k contacts)."""
    if candidate is defaults:
        return False
    labels = y[defaults.oof_idx]
    gain = _row_log_loss(labels, defaults.oof_margin) - _row_log_loss(labels, candidate.oof_margin)
    se = gain.std(ddof=1) / np.sqrt(len(gain))
    return bool(gain.mean() > MIN_GAIN_SE * se)


def _row_log_loss(y: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """Per-row log loss of raw margins (logaddexp keeps large margins exact)."""
    return np.logaddexp(0.0, margin) - y * margin


def _suggest(trial: optuna.Trial, base: dict[str, Any], n_rows: int) -> dict[str, Any]:
    """The search space; it always holds the defaults, so the first (enqueued) trial is them."""
    most_per_leaf = max(5, min(400, n_rows // 20), int(base["min_child_samples"]))
    return {
        **base,
        "num_leaves": trial.suggest_int("num_leaves", 4, 63, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, most_per_leaf, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
    }


def _stop_before_overrun(start: float, budget: float) -> Callable[[Any, Any], None]:
    """An Optuna callback: stop when the next trial, as long as the mean one so far, would end
    past the budget. Optuna's timeout only stops starting trials once the budget is spent, so
    the last trial ran over it: at 1M contacts a 9-14 s trial after a first one of the same
    length doubled the 15 s budget for no change of params (docs/benchmarks.md)."""
    seconds: list[float] = []

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.datetime_start and trial.datetime_complete:
            seconds.append((trial.datetime_complete - trial.datetime_start).total_seconds())
        if seconds and time.perf_counter() - start + float(np.mean(seconds)) > budget:
            study.stop()

    return callback


def tune(
    X: pd.DataFrame,
    y: np.ndarray,
    t: pd.Series,
    params: dict[str, Any],
    categorical: list[str],
    gap_days: int,
    settings: Settings,
) -> Tuned:
    """Best params by CV log loss: the defaults first, then seeded TPE within the trial and
    time budget (`training.tune_trials`, `training.tune_seconds`); the defaults alone when tune
    is off or the rows are fewer than `training.tune_min_rows`."""
    training, start = settings.training, time.perf_counter()
    if not training.tune or len(X) < training.tune_min_rows:
        cv = cross_validate(X, y, t, params, categorical, gap_days, settings)
        return Tuned(params, cv, 1, time.perf_counter() - start)
    results: dict[int, tuple[dict[str, Any], CVResult]] = {}

    def objective(trial: optuna.Trial) -> float:
        candidate = _suggest(trial, params, len(X))
        cv = cross_validate(X, y, t, candidate, categorical, gap_days, settings)
        results[trial.number] = (candidate, cv)
        return cv.log_loss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # trial 0 is the defaults (enqueued below): the best must beat it beyond noise
    sampler = optuna.samplers.TPESampler(seed=training.seed)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.enqueue_trial({k: params[k] for k in TUNED}, skip_if_exists=True)
    study.optimize(
        objective,
        n_trials=training.tune_trials,
        timeout=training.tune_seconds,
        callbacks=[_stop_before_overrun(start, training.tune_seconds)],
    )
    best, cv = results[study.best_trial.number]
    if not clearly_better(cv, results[0][1], y):
        best, cv = results[0]
    seconds = time.perf_counter() - start
    log.info("tuned in %d trials, %.1fs: cv log loss %.5f", len(results), seconds, cv.log_loss)
    return Tuned(best, cv, len(results), seconds)
