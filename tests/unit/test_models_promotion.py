"""The promotion rule (`models/gate.py`, a pure function), with the tolerances from the settings."""

from __future__ import annotations

import numpy as np
import pytest

from advocacy.models import gate
from advocacy.models.evaluate import compare
from advocacy.models.tracking import flat_metrics
from advocacy.settings import PromotionSettings, Settings


def _settings(auc_tol: float = 0.0, loss_tol: float = 0.005) -> Settings:
    return Settings(promotion=PromotionSettings(auc_tolerance=auc_tol, logloss_tolerance=loss_tol))


NEW = {"auc": 0.80, "log_loss": 0.50}


def test_first_model_is_promoted():
    decision = gate.decide({"auc": 0.6, "log_loss": 0.6}, None, _settings())
    assert (decision.promoted, decision.kind, decision.champion_version) == (
        True,
        "no_champion",
        None,
    )
    assert decision.text == "no champion yet: promoted"


def test_better_or_equal_is_promoted_within_tolerances():
    champ = {"auc": 0.80, "log_loss": 0.50}
    assert gate.compare({"auc": 0.80, "log_loss": 0.504}, champ, _settings())[0]
    assert gate.compare({"auc": 0.79, "log_loss": 0.49}, champ, _settings(auc_tol=0.02))[0]
    decision = gate.decide(NEW, gate.ChampionScore(3, auc=0.79, log_loss=0.52), _settings())
    assert decision.promoted and decision.kind == "beats_champion"
    assert decision.text.startswith("v3: beats or matches the champion: AUC 0.8000 vs")
    assert decision.champion_metrics == {"auc": 0.79, "log_loss": 0.52}


def test_worse_auc_or_worse_log_loss_keeps_the_champion():
    champ = {"auc": 0.80, "log_loss": 0.50}
    promoted, why = gate.compare({"auc": 0.799, "log_loss": 0.40}, champ, _settings())
    assert not promoted and "AUC worse" in why
    promoted, why = gate.compare({"auc": 0.85, "log_loss": 0.51}, champ, _settings())
    assert not promoted and "log loss worse" in why and "0.5100" in why
    decision = gate.decide(NEW, gate.ChampionScore(2, auc=0.9, log_loss=0.3), _settings())
    assert (decision.promoted, decision.kind, decision.champion_version) == (
        False,
        "keeps_champion",
        2,
    )
    assert "kept the champion: AUC and log loss worse" in decision.text


def test_a_champion_that_cannot_be_evaluated_is_replaced_and_the_decision_says_why():
    reason = "FeatureColumnsError: the new rows lack the champion's columns ['noise']"
    decision = gate.decide(NEW, gate.CannotEvaluate(4, reason), _settings())
    assert decision.promoted and decision.kind == "champion_cannot_evaluate"
    assert decision.text == (
        f"champion v4 could not score the new holdout ({reason}): promoted in its place"
    )
    assert decision.champion_version == 4 and decision.champion_metrics is None


@pytest.mark.parametrize("champion", [OSError("disk"), {"auc": 0.9}, 3, "v3"])
def test_anything_else_is_not_a_reason_to_promote(champion):
    """An error (or a stray value) is never read as 'the champion cannot score'."""
    with pytest.raises(TypeError):
        gate.decide(NEW, champion, _settings())


def test_the_gate_is_pure():
    champion = gate.ChampionScore(1, auc=0.8, log_loss=0.5)
    assert gate.decide(NEW, champion, _settings()) == gate.decide(NEW, champion, _settings())


def test_flat_metric_names_put_predictors_side_by_side():
    y, p = np.array([0, 1, 0, 1]), np.array([0.2, 0.7, 0.4, 0.6])
    metrics = compare(y, {"model": p, "baseline_nps": 1 - p, "baseline_logreg": p})
    flat = flat_metrics(metrics)
    assert flat["holdout_model_auc"] == 1.0 and flat["holdout_nps_auc"] == 0.0
    assert {k.split("_")[1] for k in flat} == {"model", "nps", "logreg"}
    assert len(flat) == 3 * len(metrics["model"])
