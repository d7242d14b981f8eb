"""Small-data trust: the bootstrap interval and the verdict's plain reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from advocacy.models.trust import assess, bootstrap_auc_interval
from advocacy.settings import Settings


def _holdout(n: int, signal: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    p = 1 / (1 + np.exp(-(signal * (y - 0.5) + rng.normal(size=n))))
    return pd.DataFrame({"label": y, "p": p})


def _metrics(frame: pd.DataFrame, rule_auc: float) -> dict[str, dict[str, float]]:
    auc = roc_auc_score(frame["label"], frame["p"])
    return {"model": {"auc": auc}, "baseline_nps": {"auc": rule_auc}}


def test_interval_contains_the_auc_and_narrows_with_more_rows() -> None:
    small, big = _holdout(200, 1.0), _holdout(5000, 1.0)
    widths = []
    for frame in (small, big):
        lo, hi = bootstrap_auc_interval(frame["label"], frame["p"], 300, seed=1)
        assert lo < roc_auc_score(frame["label"], frame["p"]) < hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2


def test_interval_is_nan_with_one_class() -> None:
    lo, hi = bootstrap_auc_interval(np.ones(10), np.linspace(0, 1, 10), 50, seed=0)
    assert np.isnan(lo) and np.isnan(hi)


def test_trusted_when_large_and_better_than_the_rule() -> None:
    frame = _holdout(3000, 1.5)
    trust = assess(frame, _metrics(frame, 0.55), Settings())
    assert trust.trusted and trust.reason == ""
    assert trust.auc_low < trust.model_auc < trust.auc_high


def test_too_few_positives_names_the_setting() -> None:
    frame = _holdout(3000, 1.5).assign(label=0)
    frame.loc[:9, "label"] = 1
    trust = assess(frame, {"model": {"auc": 0.8}, "baseline_nps": {"auc": 0.5}}, Settings())
    assert not trust.trusted
    assert "10 positives < promotion.min_holdout_positives" in trust.reason


def test_model_that_does_not_beat_the_rule_falls_back() -> None:
    frame = _holdout(3000, 0.0)  # shuffled-label world: no signal
    trust = assess(frame, _metrics(frame, 0.62), Settings())
    assert trust.verdict == "fallback"
    assert "does not beat the NPS rule 0.620" in trust.reason
