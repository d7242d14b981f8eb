"""The promotion rule, with the tolerances from the settings."""

from __future__ import annotations

import numpy as np

from advocacy_settings import PromotionSettings, Settings
from models.evaluate import compare
from models.tracking import decide_promotion, flat_metrics


def _settings(auc_tol: float = 0.0, loss_tol: float = 0.005) -> Settings:
    return Settings(promotion=PromotionSettings(auc_tolerance=auc_tol, logloss_tolerance=loss_tol))


def test_first_model_is_promoted():
    assert decide_promotion({"auc": 0.6, "log_loss": 0.6}, None, _settings())[0]


def test_better_or_equal_is_promoted_within_tolerances():
    champ = {"auc": 0.80, "log_loss": 0.50}
    assert decide_promotion({"auc": 0.80, "log_loss": 0.504}, champ, _settings())[0]
    assert decide_promotion({"auc": 0.79, "log_loss": 0.49}, champ, _settings(auc_tol=0.02))[0]


def test_worse_auc_or_worse_log_loss_keeps_the_champion():
    champ = {"auc": 0.80, "log_loss": 0.50}
    promoted, why = decide_promotion({"auc": 0.799, "log_loss": 0.40}, champ, _settings())
    assert not promoted and "AUC worse" in why
    promoted, why = decide_promotion({"auc": 0.85, "log_loss": 0.51}, champ, _settings())
    assert not promoted and "log loss worse" in why and "0.5100" in why


def test_flat_metric_names_put_predictors_side_by_side():
    y, p = np.array([0, 1, 0, 1]), np.array([0.2, 0.7, 0.4, 0.6])
    metrics = compare(y, {"model": p, "baseline_nps": 1 - p, "baseline_logreg": p})
    flat = flat_metrics(metrics)
    assert flat["holdout_model_auc"] == 1.0 and flat["holdout_nps_auc"] == 0.0
    assert {k.split("_")[1] for k in flat} == {"model", "nps", "logreg"}
    assert len(flat) == 3 * len(metrics["model"])
