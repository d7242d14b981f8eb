"""Fit one target (a `TargetSpec`): LightGBM + calibration, judged on a time holdout.

Params and rounds come from time-ordered folds of the train period (`models.tuning`); the
holdout model (train period only) is what the holdout numbers judge; the registered model is
refit on every closed row with the same params (`training.refit`). Calibration maps are fitted
on out-of-fold raw margins of the folds.

`fit_target` is pure: a feature frame, the target's spec and the settings in, a `FittedTarget`
out (the pyfunc-ready model, the split, holdout predictions, metrics beside both baselines,
figures). What differs between targets (monotone directions, label window, the refusal texts)
comes from the spec (`models.targets`); logging to MLflow is `models.tracking`'s job.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

from advocacy.features.facts import TrainingRowsFacts
from advocacy.models import fallback, plots
from advocacy.models.baselines import fit_logistic_baseline, nps_heuristic
from advocacy.models.calibrate import calibration_method, fit_margin_calibrator
from advocacy.models.evaluate import compare
from advocacy.models.pyfunc_model import AdvocacyModel, CategoryEncoder
from advocacy.models.splits import TimeSplit, split_for_target
from advocacy.models.targets import TargetSpec, target
from advocacy.models.trust import Trust, assess
from advocacy.models.tuning import CVResult, tune
from advocacy.settings import Settings

log = logging.getLogger(__name__)

LABEL = "label"
WEIGHT = "weight"  # optional per-row training weight column (never a feature)
ID_COLUMNS = ("contact_id", "t")
MODEL, BASELINE_NPS, BASELINE_LOGREG = "model", "baseline_nps", "baseline_logreg"


@dataclass
class FittedTarget:
    """Everything one training of one target produced, ready to be logged."""

    spec: TargetSpec
    model: AdvocacyModel
    split: TimeSplit
    features: list[str]
    categorical: list[str]
    holdout: pd.DataFrame  # contact_id, t, label, p, p_baseline_nps, p_baseline_logreg
    holdout_features: pd.DataFrame  # the raw feature columns of the holdout rows
    metrics: dict[str, dict[str, float]]  # predictor -> metric -> value
    params: dict[str, Any]  # LightGBM parameters actually used
    calibration: str  # the method actually used on the out-of-fold margins
    best_iteration: int
    importance: pd.Series  # total gain per feature
    base_rate_fit: float
    figures: dict[str, Figure] = field(default_factory=dict)
    holdout_model: AdvocacyModel | None = None  # train period only: made holdout["p"]
    lightgbm_model: AdvocacyModel | None = None  # the refit LightGBM, even when `model` is the rule
    trained_until: pd.Timestamp | None = None  # newest row t `model` learnt from (the gate's cut)
    refit_rows: int = 0  # rows `model` learnt from (all closed rows when refit, else train)
    tuning: dict[str, Any] = field(default_factory=dict)  # `Tuned.as_dict()`
    trust: Trust | None = None  # the holdout's verdict on the LightGBM model (models/trust.py)
    ranker: str = "lightgbm"  # what `model` is: lightgbm, or fallback.RULE when not trusted

    @property
    def target(self) -> str:
        """The target's name, as logged in MLflow tags, params and run names."""
        return self.spec.name


def resolve_features(
    features: Sequence[str] | None, categorical: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """Feature names and categoricals: given explicitly, else read from the registry now."""
    if features is None:
        from advocacy.features import (
            registry,  # read at call time: the registry is filled elsewhere
        )

        features = registry.feature_names()
        categorical = registry.categorical_features() if categorical is None else categorical
    categorical = [c for c in (categorical or []) if c in features]
    if not features:
        raise ValueError("no features: the feature registry is empty")
    return list(features), categorical


def monotone_constraints(spec: TargetSpec, features: Sequence[str]) -> list[int]:
    """LightGBM's per-feature constraint list from `spec.monotone`: keys are feature names or
    globs (`usage_events_*` covers every usage window), and each must match a feature."""
    direction: dict[str, int] = {}
    for pattern, sign in spec.monotone.items():
        matched = [f for f in features if fnmatch.fnmatchcase(f, pattern)]
        if not matched:
            raise ValueError(f"monotone constraint {pattern!r} for {spec.name} matches no feature")
        direction.update(dict.fromkeys(matched, int(sign)))
    return [direction.get(f, 0) for f in features]


# Rows per leaf on small frames: at most this share of the training rows, never fewer than
# SMALL_LEAF_ROWS (docs/models.md step 3: 100 per leaf on the demo's ~1,300 asks lost 0.03 AUC).
LEAF_ROWS_SHARE = 1 / 50
SMALL_LEAF_ROWS = 20


# Below this many training rows, trees pick split thresholds at random (LightGBM extra_trees):
# on ~5,000 asks the greedy thresholds fit noise, and p_advocate tied logistic regression
# (docs/models.md "Peer comparison"). Larger frames keep greedy splits (they lost 0.001-0.003
# AUC with extra_trees at 100k) and go to Optuna (training.tune_min_rows).
EXTRA_TREES_MAX_ROWS = 20_000


def extra_trees(n_rows: int | None) -> bool:
    """Random split thresholds on small frames (`n_rows` < EXTRA_TREES_MAX_ROWS)."""
    return n_rows is not None and n_rows < EXTRA_TREES_MAX_ROWS


# From this many training rows, `training.lightgbm.learning_rate_large` (if set) replaces the
# learning rate: at 1M contacts p_advocate took 246 rounds at 0.05 and 101 at 0.1 for 0.001
# less holdout AUC (0.7154 vs 0.7164; burnout 0.0002), and every round is TreeSHAP time in
# each eligible contact's reasons (docs/benchmarks.md "1M contacts").
LARGE_FRAME_ROWS = 200_000


def learning_rate(setting: float, large: float | None, n_rows: int | None) -> float:
    """The learning rate for a frame of `n_rows`: `large` on large frames when it is set."""
    if large is not None and n_rows is not None and n_rows >= LARGE_FRAME_ROWS:
        return large
    return setting


def leaf_rows(setting: int, n_rows: int | None) -> int:
    """`min_data_in_leaf` for a frame of `n_rows`: the setting, lowered on small frames."""
    if n_rows is None:
        return setting
    return min(setting, max(SMALL_LEAF_ROWS, round(n_rows * LEAF_ROWS_SHARE)))


def lightgbm_params(
    spec: TargetSpec, features: Sequence[str], settings: Settings, n_rows: int | None = None
) -> dict[str, Any]:
    """LGBMClassifier keyword arguments from the settings (`n_rows`: the rows it trains on)."""
    lgbm = settings.training.lightgbm
    return {
        "objective": "binary",
        "n_estimators": lgbm.max_rounds,
        "learning_rate": learning_rate(lgbm.learning_rate, lgbm.learning_rate_large, n_rows),
        "num_leaves": lgbm.num_leaves,
        "max_depth": lgbm.max_depth,
        "min_child_samples": leaf_rows(lgbm.min_data_in_leaf, n_rows),
        "colsample_bytree": lgbm.feature_fraction,
        "subsample": lgbm.bagging_fraction,
        "subsample_freq": lgbm.bagging_freq,
        "reg_lambda": lgbm.lambda_l2,
        "extra_trees": extra_trees(n_rows),
        "monotone_constraints": monotone_constraints(spec, features),
        "random_state": settings.training.seed,
        "n_jobs": settings.training.num_threads or None,
        "deterministic": True,
        # row-wise histograms: 20-30% faster per round than col-wise here at 34k-1.4M rows
        # and 58 features on 2 threads (docs/benchmarks.md); forced, so no timing test picks
        "force_row_wise": True,
        "verbosity": -1,
    }


class TrainingRowsError(ValueError):
    """Too few training rows, or rows with one label only: the message says which model, how
    many rows, the setting, and why (from `TrainingRowsFacts` when the caller has them)."""

    def __init__(self, spec: TargetSpec, rows: int, min_rows: int, message: str) -> None:
        self.spec, self.rows, self.min_rows = spec, rows, min_rows
        self.target = spec.name
        super().__init__(message)


def _as_spec(spec: TargetSpec | str) -> TargetSpec:
    """A spec, or a target's name looked up in `models.targets` (notebooks, benchmarks)."""
    return spec if isinstance(spec, TargetSpec) else target(spec)


def check_training_rows(
    frame: pd.DataFrame,
    spec: TargetSpec | str,
    settings: Settings,
    facts: TrainingRowsFacts | None = None,
) -> None:
    """Refuse, with `TrainingRowsError`, fewer than training.min_rows rows or a single label."""
    spec = _as_spec(spec)
    n, min_rows = len(frame), settings.training.min_rows
    title = f"{spec.score_column} ({spec.model_name(settings)})"
    labels = sorted(int(v) for v in frame[LABEL].dropna().unique()) if n else []
    if n < min_rows:
        cause = spec.rows_cause(n, settings, facts)
        if len(labels) == 1:
            one = spec.one_label_cause(labels[0], settings)
            cause += f"; all have label {labels[0]}: {one}"
        message = f"{title}: {n} training rows < training.min_rows={min_rows}: {cause}"
        raise TrainingRowsError(spec, n, min_rows, message)
    if len(labels) == 1:
        raise TrainingRowsError(
            spec,
            n,
            min_rows,
            f"{title}: all {n} training rows have label {labels[0]} "
            f"(training.min_rows={min_rows} met): {spec.one_label_cause(labels[0], settings)}",
        )


def _check_frame(frame: pd.DataFrame, features: Sequence[str]) -> None:
    missing = [c for c in (*ID_COLUMNS, LABEL, *features) if c not in frame.columns]
    if missing:
        raise ValueError(f"feature frame lacks columns: {missing}")
    if not set(frame[LABEL].unique()) <= {0, 1}:
        raise ValueError("label must be 0/1")


def _fit_booster(
    X: pd.DataFrame,
    y: np.ndarray,
    params: dict[str, Any],
    rounds: int,
    categorical: list[str],
    weight: np.ndarray | None = None,
) -> lgb.LGBMClassifier:
    """LightGBM with a fixed number of rounds (chosen by the time-ordered CV)."""
    classifier = lgb.LGBMClassifier(**{**params, "n_estimators": rounds})
    classifier.fit(X, y, sample_weight=weight, categorical_feature=categorical or "auto")
    return classifier


def row_weights(frame: pd.DataFrame) -> np.ndarray | None:
    """The rows' training weights (`WEIGHT`: 1 / inclusion probability of the asks a published
    exploration slice led to, `models/weights.py`), None when the frame has none or all are 1."""
    if WEIGHT not in frame.columns:
        return None
    w = frame[WEIGHT].to_numpy(dtype=float)
    return None if np.allclose(w, 1.0) else w


def _predictions(
    model: AdvocacyModel,
    frame: pd.DataFrame,
    split: TimeSplit,
    spec: TargetSpec,
    numeric: list[str],
    categorical: list[str],
    settings: Settings,
) -> tuple[dict[str, np.ndarray], float]:
    """Holdout probabilities of the model and both baselines (baselines fit on the fit slice)."""
    fit, hold = frame.iloc[split.fit_idx], frame.iloc[split.holdout_idx]
    y_fit = fit[LABEL].to_numpy(dtype=int)
    base_rate = float(y_fit.mean())
    logreg = fit_logistic_baseline(
        fit[numeric + categorical], y_fit, numeric, categorical, settings.training.seed
    )
    preds = {
        MODEL: model.predict_proba(hold),
        BASELINE_NPS: nps_heuristic(hold, spec.nps_direction, base_rate),
        BASELINE_LOGREG: logreg.predict_proba(hold[numeric + categorical])[:, 1],
    }
    return preds, base_rate


def _figures(y: np.ndarray, preds: dict[str, np.ndarray], importance: pd.Series, title: str):
    return {
        "roc_pr.png": plots.roc_pr_figure(y, preds, title),
        "calibration.png": plots.calibration_figure(y, preds, title),
        "lift.png": plots.lift_figure(y, preds, title),
        "importance.png": plots.importance_figure(importance, title),
    }


def fit_target(
    frame: pd.DataFrame,
    spec: TargetSpec | str,
    settings: Settings,
    facts: TrainingRowsFacts | None = None,
    *,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
) -> FittedTarget:
    """Split by time, tune on time folds, fit + calibrate, evaluate against both baselines, refit.

    `spec` is a `TargetSpec` (or a target's name). Too few rows or a single label raise
    `TrainingRowsError`; pass `facts` (`spec.rows_facts(con, as_of, settings)`) to have it say
    exactly why. `features`/`categorical` default to the feature registry's.
    """
    # OpenMP/BLAS threads fighting other work on a small machine can cost 10x: cap them.
    with threadpool_limits(limits=settings.training.num_threads or None):
        return _fit_target(frame, _as_spec(spec), settings, features, categorical, facts)


def _fit_target(
    frame: pd.DataFrame,
    spec: TargetSpec,
    settings: Settings,
    features: Sequence[str] | None,
    categorical: Sequence[str] | None,
    facts: TrainingRowsFacts | None = None,
) -> FittedTarget:
    features, categorical = resolve_features(features, categorical)
    _check_frame(frame, features)
    check_training_rows(frame, spec, settings, facts)
    frame = frame.reset_index(drop=True)
    split = split_for_target(frame, spec, settings)
    train = frame.iloc[split.fit_idx]
    gap = spec.label_window(settings)
    base = lightgbm_params(spec, features, settings, n_rows=len(train))
    shell = _shell(train, features, categorical, spec)
    X, y = shell.encode(train), train[LABEL].to_numpy(dtype=int)
    tuned = tune(X, y, train["t"], base, categorical, gap, settings)
    holdout_model, method = _finish(
        shell, X, y, tuned.params, tuned.cv, settings, row_weights(train)
    )
    model, rounds = holdout_model, tuned.cv.rounds
    fit_rows, fit_until = len(train), train["t"].max()
    del X, train  # the refit encodes every row: at 1M contacts this copy is ~0.8 GB
    if settings.training.refit:
        model = _refit(frame, features, categorical, spec, tuned.params, rounds, holdout_model)
    params = {**tuned.params, "n_estimators": rounds}
    fitted = _evaluate(holdout_model, spec, frame, split, settings, params, method)
    fitted.model, fitted.holdout_model = model, holdout_model
    fitted.refit_rows = len(frame) if settings.training.refit else fit_rows
    fitted.best_iteration, fitted.tuning = rounds, tuned.as_dict()
    fitted.importance = _importance(model)
    fitted.lightgbm_model = model
    fitted.trained_until = pd.Timestamp(frame["t"].max() if settings.training.refit else fit_until)
    fitted.trust = assess(fitted.holdout, fitted.metrics, settings)
    if not fitted.trust.trusted:
        rule = fallback.rule_model(frame, spec, settings, features=fitted.features)
        fitted.model, fitted.ranker = rule, fallback.RULE
        fitted.trained_until = pd.Timestamp(frame["t"].max())  # the rule's map saw every row
    return fitted


def _shell(
    rows: pd.DataFrame, features: list[str], categorical: list[str], spec: TargetSpec
) -> AdvocacyModel:
    """An unfitted model whose encoder learnt the categories of the rows it will train on."""
    encoder = CategoryEncoder.fit(rows, categorical)
    return AdvocacyModel(
        classifier=None, calibrator=None, encoder=encoder, features=features, target=spec.name
    )


def _finish(
    shell: AdvocacyModel,
    X: pd.DataFrame,
    y: np.ndarray,
    params: dict[str, Any],
    cv: CVResult,
    settings: Settings,
    weight: np.ndarray | None = None,
) -> tuple[AdvocacyModel, str]:
    """Booster on all of X with the CV rounds (not scaled: see docs/models.md), calibrated on
    the CV's out-of-fold margins. `weight`: per-row training weights of the booster (the CV
    and the calibration map stay unweighted: docs/exploration.md)."""
    training = settings.training
    categorical = list(shell.encoder.categories)
    shell.classifier = _fit_booster(X, y, params, cv.rounds, categorical, weight)
    method = calibration_method(training.calibration, len(cv.oof_idx), training.isotonic_min_rows)
    shell.calibrator = fit_margin_calibrator(cv.oof_margin, y[cv.oof_idx], method)
    return shell, method


def _refit(
    frame: pd.DataFrame,
    features: list[str],
    categorical: list[str],
    spec: TargetSpec,
    params: dict[str, Any],
    rounds: int,
    holdout_model: AdvocacyModel,
) -> AdvocacyModel:
    """The registered model: the holdout model's recipe (params, rounds, calibration map) on
    every closed row. Reusing the map keeps the method the holdout judged (its ECE) and saves a
    second CV: ~1 extra fit instead of ~3 (docs/models.md "Refit")."""
    model = _shell(frame, features, categorical, spec)
    X, y = model.encode(frame), frame[LABEL].to_numpy(dtype=int)
    model.classifier = _fit_booster(
        X, y, params, rounds, list(model.encoder.categories), row_weights(frame)
    )
    model.calibrator = holdout_model.calibrator
    return model


def _importance(model: AdvocacyModel) -> pd.Series:
    booster = model.classifier.booster_
    return pd.Series(
        booster.feature_importance(importance_type="gain"), index=model.features, name="gain"
    ).sort_values(ascending=False)


def _evaluate(
    model: AdvocacyModel,
    spec: TargetSpec,
    frame: pd.DataFrame,
    split: TimeSplit,
    settings: Settings,
    params: dict[str, Any],
    calibration: str,
) -> FittedTarget:
    """Holdout predictions, metrics and figures for a fitted model."""
    categorical = list(model.encoder.categories)
    numeric = [f for f in model.features if f not in categorical]
    preds, base_rate = _predictions(model, frame, split, spec, numeric, categorical, settings)
    hold = frame.iloc[split.holdout_idx]
    y = hold[LABEL].to_numpy(dtype=int)
    importance = _importance(model)
    holdout = (
        hold[list(ID_COLUMNS)]
        .assign(
            label=y,
            p=preds[MODEL],
            p_baseline_nps=preds[BASELINE_NPS],
            p_baseline_logreg=preds[BASELINE_LOGREG],
        )
        .reset_index(drop=True)
    )
    metrics = compare(y, preds)
    log.info("%s holdout: %s", spec.name, {k: round(v["auc"], 4) for k, v in metrics.items()})
    return FittedTarget(
        spec=spec,
        model=model,
        split=split,
        features=list(model.features),
        categorical=categorical,
        holdout=holdout,
        holdout_features=hold[model.features].reset_index(drop=True),
        metrics=metrics,
        params=params,
        calibration=calibration,
        best_iteration=int(model.classifier.best_iteration_ or params["n_estimators"]),
        importance=importance,
        base_rate_fit=base_rate,
        figures=_figures(y, preds, importance, spec.score_column),
    )
