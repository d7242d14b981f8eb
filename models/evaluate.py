"""Holdout metrics: ranking quality, probability quality, and what the top of the list buys.

Ranking (ROC AUC, PR AUC, top-decile lift) says whether the right people come first; log loss,
Brier and expected calibration error say whether a printed probability can be taken at its word
(the priority multiplies two probabilities, so both must be honest).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

TOP_SHARE = 0.1  # "top decile": the definition of the lift metric, not a tunable
CALIBRATION_BINS = 10  # equal-width probability bins for the calibration error and curve
TOP_LIST = 100  # the weekly shortlist's length: "value of the top-100 list"

METRIC_NAMES = (
    "auc",
    "pr_auc",
    "log_loss",
    "brier",
    "lift_top_decile",
    "ece",
    "top100_value",
    "n_rows",
    "base_rate",
)


def lift_at(y: np.ndarray, p: np.ndarray, share: float = TOP_SHARE) -> float:
    """Positive rate among the top `share` by p, divided by the overall positive rate."""
    y = np.asarray(y, dtype=float)
    base = y.mean() if len(y) else math.nan
    if not base:
        return math.nan
    k = max(1, math.ceil(len(y) * share))
    top = np.argsort(-np.asarray(p, dtype=float), kind="stable")[:k]
    return float(y[top].mean() / base)


def top_list_value(y: np.ndarray, p: np.ndarray, k: int = TOP_LIST) -> float:
    """Positives among the top k by p over the best any list of k could hold (ties: stable)."""
    y = np.asarray(y, dtype=float)
    best = min(k, int(y.sum()))
    if not best:
        return math.nan
    top = np.argsort(-np.asarray(p, dtype=float), kind="stable")[:k]
    return float(y[top].sum() / best)


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, n_bins: int = CALIBRATION_BINS
) -> float:
    """Row-weighted mean |observed rate - mean prediction| over equal-width bins."""
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    # calibration_curve drops empty bins; recount rows per bin the same way it assigns them.
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=n_bins)
    counts = counts[counts > 0]
    return float(np.sum(counts / counts.sum() * np.abs(prob_true - prob_pred)))


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Every holdout metric for one set of predictions (NaN where undefined, e.g. one class)."""
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    two_classes = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if two_classes else math.nan,
        "pr_auc": float(average_precision_score(y, p)) if two_classes else math.nan,
        "log_loss": float(log_loss(y, np.clip(p, 0.0, 1.0), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "lift_top_decile": lift_at(y, p),
        "ece": expected_calibration_error(y, p),
        "top100_value": top_list_value(y, p),
        "n_rows": float(len(y)),
        "base_rate": float(y.mean()) if len(y) else math.nan,
    }


def compare(y: np.ndarray, predictions: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Metrics for several predictors on the same rows, keyed by predictor name."""
    return {name: binary_metrics(y, p) for name, p in predictions.items()}


def metrics_table(metrics: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Predictors as rows, metrics as columns: the side-by-side view for reports."""
    return pd.DataFrame.from_dict(metrics, orient="index")[list(METRIC_NAMES)]


def lift_curve(y: np.ndarray, p: np.ndarray, n_bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Positive rate per score bin (bin 1 = highest scores), relative to the base rate."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="stable")
    bins = np.array_split(order, n_bins)
    base = y.mean() if len(y) else math.nan
    rates = [y[b].mean() if len(b) else math.nan for b in bins]
    return pd.DataFrame(
        {"bin": np.arange(1, n_bins + 1), "positive_rate": rates, "lift": np.divide(rates, base)}
    )
