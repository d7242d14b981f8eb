"""Off-policy evaluation from logged asks: what another list would have got, from the asks made.

The logged asks are the exploration rows of earlier published lists: each was drawn at random
with a published `inclusion_probability`, so the logging propensity is exact and inverse
propensity scoring (IPS) is unbiased for the value of any target policy; self-normalised IPS
(SNIPS) trades a little bias for much less variance. Intervals are bootstrap percentiles over
the logged asks. With too few logged asks (or too few that the target policy would also have
made) the estimate is None and the verdict says so plainly. Pure numpy (plus pandas joins).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from advocacy.monitoring import lookback

MIN_LOGGED = 30  # below this many logged asks, no estimate is printed
MIN_EFFECTIVE = 10.0  # nor below this Kish effective sample size of the weights
LOGGED_COLUMNS = ("contact_id", "activity_type", "inclusion_probability", "said_yes")
PUBLISHED_COLUMNS = ("contact_id", "as_of", "selection", "inclusion_probability", "activity_type")


@dataclass(frozen=True)
class OPEResult:
    """One off-policy estimate: a rate of yes per ask (None when too few asks to tell)."""

    estimator: str
    estimate: float | None
    low: float | None
    high: float | None
    level: float
    n_logged: int
    n_effective: float  # Kish: (sum w)^2 / sum w^2 over the logged asks' weights
    verdict: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (counts and rates only, no people)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def kish(weights: np.ndarray) -> float:
    """Effective sample size of importance weights (0 when they are all zero)."""
    w = np.asarray(weights, dtype=float)
    sq = float(np.sum(w**2))
    return float(np.sum(w)) ** 2 / sq if sq > 0 else 0.0


def _ips_value(n_total: int | None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """IPS over the last axis: sum(w r) / n_total (default: the number of logged records)."""

    def value(r: np.ndarray, w: np.ndarray) -> np.ndarray:
        return (w * r).sum(axis=-1) / (n_total or r.shape[-1])

    return value


def _snips_value(r: np.ndarray, w: np.ndarray) -> np.ndarray:
    """SNIPS over the last axis: sum(w r) / sum(w) (NaN when no weight)."""
    total = w.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (w * r).sum(axis=-1) / total, np.nan)


def _estimate(
    name: str,
    value: Callable[[np.ndarray, np.ndarray], np.ndarray],
    reward: np.ndarray,
    logging_p: np.ndarray,
    target_p: np.ndarray,
    n_boot: int,
    level: float,
    seed: int,
) -> OPEResult:
    r = np.asarray(reward, dtype=float)
    lp = np.asarray(logging_p, dtype=float)
    tp = np.asarray(target_p, dtype=float)
    if not (len(r) == len(lp) == len(tp)):
        raise ValueError("reward, logging_p and target_p must have one value per logged ask")
    if len(lp) and (np.any(lp <= 0) or np.any(lp > 1)):
        raise ValueError("logging propensities must be in (0, 1]")
    w = tp / lp if len(lp) else np.zeros(0)
    n, n_eff = len(r), kish(w)
    if n < MIN_LOGGED or n_eff < MIN_EFFECTIVE:
        verdict = f"too few logged asks to tell (n={n}, effective {n_eff:.1f})"
        return OPEResult(name, None, None, None, level, n, n_eff, verdict)
    point = float(value(r, w))
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    boots = value(r[idx], w[idx])
    boots = boots[np.isfinite(boots)]
    tail = (1.0 - level) / 2.0
    low, high = (float(q) for q in np.quantile(boots, [tail, 1.0 - tail]))
    verdict = f"{point:.1%} yes per ask ({level:.0%} interval {low:.1%}–{high:.1%}, n={n})"
    return OPEResult(name, point, low, high, level, n, n_eff, verdict)


def ips(
    reward: np.ndarray,
    logging_p: np.ndarray,
    target_p: np.ndarray,
    n_boot: int = 1000,
    level: float = 0.9,
    seed: int = 0,
    n_total: int | None = None,
) -> OPEResult:
    """Inverse propensity estimate: mean of reward * target_p / logging_p, with interval.

    Bandit form: one record per logged (context, action); target = logging gives the plain
    mean. n_total replaces the record count as denominator (Horvitz-Thompson over a known
    population, e.g. the number of asks the target list makes).
    """
    value = _ips_value(n_total)
    return _estimate("ips", value, reward, logging_p, target_p, n_boot, level, seed)


def snips(
    reward: np.ndarray,
    logging_p: np.ndarray,
    target_p: np.ndarray,
    n_boot: int = 1000,
    level: float = 0.9,
    seed: int = 0,
) -> OPEResult:
    """Self-normalised IPS (weights sum to one): less variance, slightly biased."""
    return _estimate("snips", _snips_value, reward, logging_p, target_p, n_boot, level, seed)


def _check_logged(logged: pd.DataFrame) -> None:
    missing = [c for c in LOGGED_COLUMNS if c not in logged.columns]
    if missing:
        raise ValueError(f"logged asks lack column(s) {missing}")


def policy_value(
    logged: pd.DataFrame,
    target_list: pd.DataFrame,
    n_boot: int = 1000,
    level: float = 0.9,
    seed: int = 0,
    estimator: str = "snips",
) -> OPEResult:
    """Yes rate per ask of a deterministic target list, estimated from logged asks.

    logged: contact_id, activity_type, inclusion_probability, said_yes (the exploration asks
    of earlier lists; `as_of` too when several lists are pooled). Each `inclusion_probability`
    must be the *pair's* (contact and type): the draw lists a contact, then gives it a type, so
    a contact's published probability times the share of that type among the list's explore
    rows (`monitoring.backtest.logged_asks` makes them so). target_list: contact_id,
    activity_type (and `as_of` when logged has it): the asks the target policy would make. A
    logged ask of a listed pair gets target_p = 1, else 0. "snips" (Hajek): sum(w r) / sum(w);
    "ips" (Horvitz-Thompson): sum(w r) / len(target_list), unbiased when every pair of the
    target list had a positive chance of being explored (the exploration covers the pool).
    """
    _check_logged(logged)
    keys = ["as_of"] if "as_of" in logged.columns and "as_of" in target_list.columns else []
    keys += ["contact_id", "activity_type"]
    pairs = target_list[keys].drop_duplicates().assign(_hit=1.0)
    joined = logged.merge(pairs, on=keys, how="left")
    args = (
        joined["said_yes"].to_numpy(dtype=float),
        joined["inclusion_probability"].to_numpy(dtype=float),
        joined["_hit"].fillna(0.0).to_numpy(),
    )
    if estimator == "ips":
        return ips(*args, n_boot=n_boot, level=level, seed=seed, n_total=len(pairs))
    if estimator == "snips":
        return snips(*args, n_boot=n_boot, level=level, seed=seed)
    raise ValueError(f"unknown estimator {estimator!r} (ips, snips)")


def exploration_estimate(
    logged: pd.DataFrame,
    n_boot: int = 1000,
    level: float = 0.9,
    seed: int = 0,
    pool_size: int | None = None,
) -> OPEResult:
    """Acceptance over the whole eligible pool, from the exploration asks alone.

    Each exploration ask stands for 1/inclusion_probability people of the pool, so the
    weighted yes rate estimates what asking everyone eligible would give: the unbiased number
    to show beside the model's mean p_advocate over the same pool. Hajek (sum r/p / sum 1/p)
    by default; Horvitz-Thompson (sum r/p / pool_size) when the pool's size is given.
    """
    _check_logged(logged)
    r = logged["said_yes"].to_numpy(dtype=float)
    p = logged["inclusion_probability"].to_numpy(dtype=float)
    ones = np.ones(len(p))
    if pool_size is None:
        return replace(snips(r, p, ones, n_boot, level, seed), estimator="hajek")
    result = ips(r, p, ones, n_boot, level, seed, n_total=pool_size)
    return replace(result, estimator="horvitz_thompson")


def published_selections(
    output_root: Path, as_of: date, weeks: int = lookback.LOOKBACK_WEEKS
) -> pd.DataFrame:
    """Who earlier lists named, how they were chosen and with what probability.

    One row per (list, contact) of the lists `lookback.published_weeks` finds before T:
    contact_id, as_of (the list's date), selection, inclusion_probability, activity_type (the
    list's `activity_type`, else its `suggested_activity`). A list published before the
    exploration slice existed has no `selection`: its rows count as optimise, probability 1.
    """
    frames = [_read_selection(w.folder, w.as_of) for w in lookback.published_weeks(
        output_root, as_of, weeks
    )]  # fmt: skip
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PUBLISHED_COLUMNS})
    return pd.concat(frames, ignore_index=True)[list(PUBLISHED_COLUMNS)]


def _read_selection(folder: Path, listed_on: date) -> pd.DataFrame:
    frame = pd.read_csv(folder / lookback.LIST_FILE, encoding="utf-8-sig", dtype=str)
    kind = "activity_type" if "activity_type" in frame.columns else "suggested_activity"
    out = pd.DataFrame(
        {
            "contact_id": frame["contact_id"].map(lookback.unescape),
            "as_of": pd.Timestamp(listed_on),
            "selection": frame.get("selection", pd.Series("optimise", index=frame.index)),
            "inclusion_probability": pd.to_numeric(
                frame.get("inclusion_probability", pd.Series(1.0, index=frame.index))
            ),
            "activity_type": frame.get(kind),
        }
    )
    return out.fillna({"selection": "optimise", "inclusion_probability": 1.0})
