"""Small-data mode: may the holdout's verdict on a model be trusted? Pure numbers in and out.

A model is trusted when its time-ordered holdout is large enough (rows and positive labels,
`promotion.min_holdout_rows` / `min_holdout_positives`) and its AUC beats the NPS rule's by
`promotion.min_auc_margin_over_rule`. Otherwise the run falls back to a simpler ranker
(`models/fallback.py`). Every model carries a bootstrap interval of its holdout AUC, so the
report can say how uncertain a few hundred asks make it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from advocacy.settings import Settings

Verdict = Literal["trusted", "fallback"]


def _auc_rows(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """AUC of each row of `p` (resamples x n) against the matching row of `y` (Mann-Whitney)."""
    ranks = rankdata(p, axis=1)
    pos = y.sum(axis=1)
    neg = y.shape[1] - pos
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * y).sum(axis=1) - pos * (pos + 1) / 2) / (pos * neg)


# Resamples scored at once: memory is this x holdout rows x a few arrays (a 270k-row holdout
# at 1M contacts would need ~4 GB for all 500 resamples in one matrix).
BOOT_CHUNK = 16


def bootstrap_auc_interval(
    y: np.ndarray, p: np.ndarray, n_boot: int, seed: int, level: float = 0.9
) -> tuple[float, float]:
    """Percentile interval of the AUC over `n_boot` stratified resamples (positives and
    negatives resampled separately, so every resample has both). NaN when one class is empty.
    Resamples are drawn and scored `BOOT_CHUNK` at a time; the draws do not depend on it."""
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if n_boot < 1 or len(pos) == 0 or len(neg) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    aucs = []
    for start in range(0, n_boot, BOOT_CHUNK):
        k = min(BOOT_CHUNK, n_boot - start)
        idx = np.hstack(
            [rng.choice(pos, (k, len(pos))), rng.choice(neg, (k, len(neg)))]
        )  # resamples x n: positives first, then negatives
        labels = np.broadcast_to(np.r_[np.ones(len(pos)), np.zeros(len(neg))], idx.shape)
        aucs.append(_auc_rows(labels, p[idx]))
    tail = (1 - level) / 2
    lo, hi = np.quantile(np.concatenate(aucs), [tail, 1 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Trust:
    """What the holdout says about a model, and whether that is enough to rank with it."""

    holdout_rows: int
    positives: int
    model_auc: float
    auc_low: float
    auc_high: float
    level: float
    rule_auc: float
    margin: float  # model AUC - rule AUC
    verdict: Verdict
    reason: str  # one plain line; empty when trusted

    @property
    def trusted(self) -> bool:
        return self.verdict == "trusted"

    def interval_text(self) -> str:
        return f"{self.model_auc:.3f} [{self.auc_low:.3f}, {self.auc_high:.3f}]"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Trust:
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__})


def _reason(
    rows: int, positives: int, model_auc: float, rule_auc: float, settings: Settings
) -> str:
    """The first failed condition in plain words, naming its setting; '' when none failed."""
    s = settings.promotion
    if rows < s.min_holdout_rows:
        return f"holdout has {rows} rows < promotion.min_holdout_rows={s.min_holdout_rows}"
    if positives < s.min_holdout_positives:
        return (
            f"holdout has {positives} positives < "
            f"promotion.min_holdout_positives={s.min_holdout_positives}"
        )
    if not model_auc >= rule_auc + s.min_auc_margin_over_rule:  # NaN AUC fails too
        return (
            f"model AUC {model_auc:.3f} does not beat the NPS rule {rule_auc:.3f} by "
            f"promotion.min_auc_margin_over_rule={s.min_auc_margin_over_rule}"
        )
    return ""


def assess(
    holdout: pd.DataFrame,
    metrics: Mapping[str, Mapping[str, float]],
    settings: Settings,
    *,
    predictor: str = "model",
    p_column: str = "p",
) -> Trust:
    """Trust of one predictor's holdout predictions (`holdout`: label + `p_column`; `metrics`:
    FittedTarget.metrics, predictor -> auc, ...), judged against `baseline_nps`."""
    y = holdout["label"].to_numpy(dtype=int)
    model_auc = float(metrics[predictor]["auc"])
    rule_auc = float(metrics["baseline_nps"]["auc"])
    s = settings.promotion
    lo, hi = bootstrap_auc_interval(
        y, holdout[p_column].to_numpy(dtype=float), s.bootstrap_samples,
        settings.training.seed, s.interval_level,
    )  # fmt: skip
    positives = int(y.sum())
    reason = _reason(len(y), positives, model_auc, rule_auc, settings)
    return Trust(
        holdout_rows=len(y), positives=positives, model_auc=model_auc, auc_low=lo, auc_high=hi,
        level=s.interval_level, rule_auc=rule_auc, margin=model_auc - rule_auc,
        verdict="fallback" if reason else "trusted", reason=reason,
    )  # fmt: skip
