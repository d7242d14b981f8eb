"""A model card (markdown) logged with every training: what the model is, and what it is not.

It travels with the model version, so whoever loads a champion months later can read the data
window, the populations, the holdout numbers beside the baselines, and the known caveats. What a
target's card says of its own (purpose, population, caveats) is its spec's `card`
(`models.targets`); the caveats every card carries are here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from advocacy.models.evaluate import METRIC_NAMES
from advocacy.models.train import FittedTarget

TOP_FEATURES_IN_CARD = 10

COMMON_CAVEATS = [
    "Metrics come from a time holdout: the newest rows, separated from training by a gap at "
    "least as long as the label window. They describe the recent past, not the future.",
    "Probabilities are calibrated on out-of-fold margins of time-ordered folds (never the "
    "holdout); the holdout calibration error shows how well that held.",
    "Holdout metrics judge the holdout model (train period only); the registered model is refit "
    "with the same parameters on every closed row, including the holdout.",
    "Reasons come from LightGBM contributions in log-odds; they explain the model, not causes.",
]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def metrics_markdown(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """Predictors as rows, holdout metrics as columns."""
    lines = [
        "| predictor | " + " | ".join(METRIC_NAMES) + " |",
        "|---|" + "---|" * len(METRIC_NAMES),
    ]
    for name, values in metrics.items():
        cells = [
            str(int(values[m])) if m == "n_rows" else _fmt(values.get(m, math.nan))
            for m in METRIC_NAMES
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ranker_line(fitted: FittedTarget) -> str:
    """What the registered version ranks with; a fallback says why (docs/fallback.md)."""
    if fitted.trust is None or fitted.trust.trusted:
        return "- ranks with: LightGBM (the holdout trusts it)\n"
    return (
        f"- ranks with: the calibrated NPS rule ({fitted.ranker}), NOT the LightGBM model "
        f"below: {fitted.trust.reason} (docs/fallback.md)\n"
    )


def _split_lines(fitted: FittedTarget) -> list[str]:
    s = fitted.split
    return [
        f"- train period (tuning folds, holdout model): {s.fit_start} .. {s.fit_end} "
        f"({len(s.fit_idx)} rows)",
        f"- holdout (metrics, promotion): {s.holdout_start} .. {s.holdout_end} "
        f"({len(s.holdout_idx)} rows)",
        f"- gap before the holdout and between folds: {s.gap_days} days (the label window)",
        f"- registered model trained on {fitted.refit_rows} rows",
    ]


def _bullets(values: Mapping[str, Any], depth: int = 0) -> list[str]:
    """Nested mappings as nested markdown bullets (e.g. per-table row counts and hashes)."""
    lines = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            lines.append(f"{'  ' * depth}- {key}:")
            lines.extend(_bullets(value, depth + 1))
        else:
            lines.append(f"{'  ' * depth}- {key}: {value}")
    return lines


def render_model_card(
    fitted: FittedTarget, *, model_name: str, as_of: Any, data_fingerprint: Mapping[str, Any]
) -> str:
    """The card's markdown text."""
    top = fitted.importance.head(TOP_FEATURES_IN_CARD)
    constrained = {
        f: c for f, c in zip(fitted.features, fitted.params["monotone_constraints"], strict=True)
    }
    text = fitted.spec.card
    sections = [
        f"# Model card: {model_name} ({fitted.spec.name})",
        f"Trained for as_of {as_of}.\n\n{text.purpose}",
        "## Training population\n" + text.population,
        "## Data window (time-ordered, never shuffled)\n" + "\n".join(_split_lines(fitted)),
        "## Holdout metrics\n" + metrics_markdown(fitted.metrics),
        "## Model\n"
        + _ranker_line(fitted)
        + f"- LightGBM, best iteration {fitted.best_iteration}, "
        + f"{len(fitted.features)} features ({len(fitted.categorical)} categorical)\n"
        + f"- calibration: {fitted.calibration} on out-of-fold margins\n"
        + f"- tuning: {fitted.tuning}\n"
        + f"- monotone constraints: { {f: c for f, c in constrained.items() if c} }",
        "## Strongest features (total gain)\n"
        + "\n".join(f"- {name}: {value:.1f}" for name, value in top.items()),
        "## Caveats\n" + "\n".join(f"- {c}" for c in [*text.caveats, *COMMON_CAVEATS]),
        "## Data fingerprint\n" + "\n".join(_bullets(data_fingerprint)),
    ]
    return "\n\n".join(sections) + "\n"
