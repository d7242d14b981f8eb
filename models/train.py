"""Fit one target (a `TargetSpec`): LightGBM + calibration, judged on a time holdout.

`fit_target` is pure: a feature frame, the target's spec and the settings in, a `FittedTarget`
out (the pyfunc-ready model, the split, holdout predictions, metrics beside both baselines,
figures). What differs between targets (monotone directions, label window, the refusal texts)
comes from the spec (`models.targets`); logging to MLflow is `models.tracking`'s job.
"""

from __future__ import annotations

import fnmatch
import itertools
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
from advocacy.models import plots
from advocacy.models.baselines import fit_logistic_baseline, nps_heuristic
from advocacy.models.calibrate import calibration_method, fit_calibrator
from advocacy.models.evaluate import compare
from advocacy.models.pyfunc_model import AdvocacyModel, CategoryEncoder
from advocacy.models.splits import TimeSplit, split_for_target, time_folds
from advocacy.models.targets import TargetSpec, target
from advocacy.settings import Settings

log = logging.getLogger(__name__)

LABEL = "label"
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
    calibration: str  # the method actually used on the valid slice
    best_iteration: int
    importance: pd.Series  # total gain per feature
    base_rate_fit: float
    figures: dict[str, Figure] = field(default_factory=dict)

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


def lightgbm_params(
    spec: TargetSpec, features: Sequence[str], settings: Settings
) -> dict[str, Any]:
    """LGBMClassifier keyword arguments from the settings."""
    lgbm = settings.training.lightgbm
    return {
        "objective": "binary",
        "n_estimators": lgbm.max_rounds,
        "learning_rate": lgbm.learning_rate,
        "num_leaves": lgbm.num_leaves,
        "max_depth": lgbm.max_depth,
        "min_child_samples": lgbm.min_data_in_leaf,
        "colsample_bytree": lgbm.feature_fraction,
        "subsample": lgbm.bagging_fraction,
        "subsample_freq": lgbm.bagging_freq,
        "reg_lambda": lgbm.lambda_l2,
        "monotone_constraints": monotone_constraints(spec, features),
        "random_state": settings.training.seed,
        "n_jobs": settings.training.num_threads or None,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
    }


def tune_params(
    X_fit: pd.DataFrame,
    fit: pd.DataFrame,
    params: dict[str, Any],
    categorical: list[str],
    spec: TargetSpec,
    settings: Settings,
) -> dict[str, Any]:
    """Pick num_leaves x min_data_in_leaf by time-ordered CV log loss on the fit slice only."""
    training = settings.training
    folds = time_folds(fit["t"], training.tune_folds, spec.label_window(settings))
    dataset = lgb.Dataset(
        X_fit,
        fit[LABEL].to_numpy(dtype=int),
        categorical_feature=categorical or "auto",
        free_raw_data=False,
    )
    best, best_loss = params, np.inf
    for leaves, min_data in itertools.product(
        training.tune_num_leaves, training.tune_min_data_in_leaf
    ):
        candidate = {**params, "num_leaves": leaves, "min_child_samples": min_data}
        native = {k: v for k, v in candidate.items() if k != "n_estimators"}
        result = lgb.cv(
            native,
            dataset,
            num_boost_round=params["n_estimators"],
            folds=folds,
            callbacks=[lgb.early_stopping(training.lightgbm.early_stopping_rounds, verbose=False)],
        )
        loss = float(np.min(result["valid binary_logloss-mean"]))
        log.info(
            "tune %s leaves=%d min_data=%d: cv log loss %.5f", spec.name, leaves, min_data, loss
        )
        if loss < best_loss:
            best, best_loss = candidate, loss
    return best


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
    X_fit: pd.DataFrame,
    y_fit: np.ndarray,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    params: dict[str, Any],
    categorical: list[str],
    early_stopping_rounds: int,
) -> lgb.LGBMClassifier:
    """LightGBM on the fit slice, early-stopped on the valid slice."""
    classifier = lgb.LGBMClassifier(**params)
    classifier.fit(
        X_fit,
        y_fit,
        categorical_feature=categorical or "auto",
        eval_X=(X_valid,),
        eval_y=(y_valid,),
        eval_metric="binary_logloss",
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
    )
    return classifier


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
    """Split by time, fit + early-stop + calibrate, and evaluate against both baselines.

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
    fit, valid = frame.iloc[split.fit_idx], frame.iloc[split.valid_idx]
    model, params, method = _fit_model(fit, valid, features, categorical, spec, settings)
    return _evaluate(model, spec, frame, split, settings, params, method)


def _fit_model(
    fit: pd.DataFrame,
    valid: pd.DataFrame,
    features: list[str],
    categorical: list[str],
    spec: TargetSpec,
    settings: Settings,
) -> tuple[AdvocacyModel, dict[str, Any], str]:
    """Encoder on fit; booster on fit, early-stopped on valid; calibrator on valid."""
    encoder = CategoryEncoder.fit(fit, categorical)
    shell = AdvocacyModel(
        classifier=None, calibrator=None, encoder=encoder, features=features, target=spec.name
    )
    X_fit, X_valid = shell.encode(fit), shell.encode(valid)
    y_fit, y_valid = fit[LABEL].to_numpy(dtype=int), valid[LABEL].to_numpy(dtype=int)
    params = lightgbm_params(spec, features, settings)
    if settings.training.tune:
        params = tune_params(X_fit, fit, params, categorical, spec, settings)
    rounds = settings.training.lightgbm.early_stopping_rounds
    classifier = _fit_booster(X_fit, y_fit, X_valid, y_valid, params, categorical, rounds)
    training = settings.training
    method = calibration_method(training.calibration, len(valid), training.isotonic_min_rows)
    shell.classifier = classifier
    shell.calibrator = fit_calibrator(classifier, X_valid, y_valid, method)
    return shell, params, method


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
    booster = model.classifier.booster_
    importance = pd.Series(
        booster.feature_importance(importance_type="gain"), index=model.features, name="gain"
    ).sort_values(ascending=False)
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
