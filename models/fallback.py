"""What the run ranks with when the model is not trusted: the one home of that choice.

When `models/trust.py` says "fallback" for a target (its time holdout is too small, or the
LightGBM model does not beat the NPS rule there by `promotion.min_auc_margin_over_rule`), the
run registers and scores with the NPS rule instead (`RULE`): `models/baselines.py`'s
`nps_heuristic` in the target's `TargetSpec.nps_direction` (unknown NPS -> the base rate),
passed through a sigmoid map fitted on every closed row, so its scores are probabilities the
priority can multiply. The map is kept increasing: the fallback ranks people exactly as the
rule does, and the registered numbers are the rule's.

It is a registered pyfunc like the booster (`pyfunc_model.RuleScorer`, kind `nps_rule`), so
the champion gate, scoring and reasons treat both alike. docs/fallback.md says what a user sees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from advocacy.models.baselines import HEURISTIC_CLIP, NPS_FEATURE, NPS_MAX, nps_heuristic
from advocacy.models.evaluate import compare
from advocacy.models.pyfunc_model import KIND_LIGHTGBM, KIND_NPS_RULE, AdvocacyModel, RuleScorer
from advocacy.models.targets import TargetSpec
from advocacy.models.trust import Trust, bootstrap_auc_interval
from advocacy.settings import Settings

RULE = KIND_NPS_RULE  # the fallback ranker's name (registry tag `advocacy.ranker`)
LIGHTGBM = KIND_LIGHTGBM
LABEL = "label"
# Below this slope the map would stop following the rule (or turn it round): hold it here, so
# the rule's order survives and the scores sit near the base rate when the rule says little.
MIN_SLOPE = 1e-3
SIGMOID_C = 1e6  # practically unpenalised: two parameters on thousands of rows
_PROBES = np.array([2.0, 8.0])  # inside the clip for both directions


def _linear_rule(direction: int, base_rate: float) -> tuple[float, float]:
    """(offset, scale) of `nps_heuristic` as a line in the NPS, checked on the whole scale.

    The rule's formula lives in `baselines`; the self-contained pyfunc can only carry numbers.
    """
    probe = pd.DataFrame({NPS_FEATURE: _PROBES})
    p = nps_heuristic(probe, direction, base_rate)
    scale = round(float((p[1] - p[0]) / (_PROBES[1] - _PROBES[0])), 12)
    offset = round(float(p[0] - scale * _PROBES[0]), 12)
    grid = pd.DataFrame({NPS_FEATURE: np.linspace(0.0, NPS_MAX, 41)})
    line = np.clip(offset + scale * grid[NPS_FEATURE].to_numpy(), *HEURISTIC_CLIP)
    if not np.allclose(line, nps_heuristic(grid, direction, base_rate), atol=1e-12):
        raise ValueError("nps_heuristic is no longer a clipped line: update models/fallback.py")
    return offset, scale


def _sigmoid(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of a 1-D logistic map over the raw log-odds, slope >= MIN_SLOPE."""
    fit = LogisticRegression(C=SIGMOID_C).fit(raw.reshape(-1, 1), y)
    slope, intercept = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    if slope < MIN_SLOPE:
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        slope = MIN_SLOPE
        intercept = float(np.log(rate / (1 - rate)) - slope * raw.mean())
    return slope, intercept


def rule_model(
    frame: pd.DataFrame,
    spec: TargetSpec,
    settings: Settings,
    *,
    features: Sequence[str] | None = None,
) -> AdvocacyModel:
    """The NPS rule as a registered-model-ready pyfunc, calibrated on all of `frame`'s closed
    rows (label 0/1). `features` (default: the registry's) is the input it asks for, so its
    signature and reasons match the booster's."""
    if features is None:
        from advocacy.features import registry  # read at call time: filled elsewhere

        features = registry.feature_names()
    y = frame[LABEL].to_numpy(dtype=int)
    if len(np.unique(y)) < 2:
        raise ValueError(f"{spec.name}: one label only, cannot calibrate the NPS rule")
    base_rate = float(y.mean())
    offset, scale = _linear_rule(spec.nps_direction, base_rate)
    shell = RuleScorer(
        column=NPS_FEATURE, offset=offset, scale=scale, low=HEURISTIC_CLIP[0],
        high=HEURISTIC_CLIP[1], missing=base_rate, slope=1.0, intercept=0.0,
    )  # fmt: skip
    slope, intercept = _sigmoid(shell.raw(frame), y)
    rule = RuleScorer(**{**shell.to_dict(), "slope": slope, "intercept": intercept})
    return AdvocacyModel(features=list(features), target=spec.name, rule=rule)


def ranker_metrics(
    model: AdvocacyModel, holdout_features: pd.DataFrame, labels: np.ndarray
) -> dict[str, float]:
    """The carried ranker's own numbers on the holdout rows, as the gate scores a champion."""
    p = model.predict_proba(holdout_features)
    return compare(np.asarray(labels, dtype=int), {"ranker": p})["ranker"]


def few_asks(trust: Trust, settings: Settings) -> bool:
    """Too few holdout rows or positives to read an AUC closely: show every interval."""
    s = settings.promotion
    return trust.holdout_rows < s.min_holdout_rows or trust.positives < s.min_holdout_positives


def auc_intervals(
    holdout: pd.DataFrame, columns: Mapping[str, str], settings: Settings
) -> dict[str, tuple[float, float]]:
    """Bootstrap AUC interval per predictor (`columns`: predictor -> holdout p column)."""
    s, y = settings.promotion, holdout[LABEL].to_numpy(dtype=int)
    seed = settings.training.seed
    return {
        name: bootstrap_auc_interval(
            y, holdout[col].to_numpy(dtype=float), s.bootstrap_samples, seed, s.interval_level
        )
        for name, col in columns.items()
        if col in holdout.columns
    }


def _number(value: float) -> float | None:
    """JSON-safe: NaN (an AUC with one class in the holdout) becomes null."""
    return None if value is None or np.isnan(value) else float(value)


def summary(trust: Trust | None, ranker: str) -> dict[str, Any]:
    """The per-model entry run.json and the report read: ranker, verdict, reason, interval,
    and the holdout numbers behind the verdict."""
    if trust is None:  # a version registered before the trust check
        return {"ranker": ranker, "verdict": None, "reason": "", "interval": None}
    interval = {
        "auc": _number(trust.model_auc), "low": _number(trust.auc_low),
        "high": _number(trust.auc_high), "level": trust.level,
    }  # fmt: skip
    return {
        "ranker": ranker, "verdict": trust.verdict, "reason": trust.reason, "interval": interval,
        "holdout_rows": trust.holdout_rows, "positives": trust.positives,
        "rule_auc": _number(trust.rule_auc),
    }  # fmt: skip
