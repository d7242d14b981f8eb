"""Which kind of ask a contact is most likely to accept, and the chance of yes per kind.

Empirical Bayes in three layers, so sparse histories borrow strength:
overall acceptance rate per activity type -> per persona and type (pulled toward the
type's overall rate) -> per contact and type (pulled toward their persona's rate).
A contact's own acts count as evidence: each decided ask of a type adds a trial (and a
success if completed in the window), each unprompted act of a type adds a success.

`rate_grid` is the one home of those rates; `suggest_activity` picks the best type from it
and `chance_by_type` turns it into a per-type adjustment of the calibrated `p_advocate`
(docs/exploration.md: method and holdout numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from advocacy.data_contracts.tables import ACTIVITY_TYPES
from advocacy.settings import Settings

P_CLIP = 1e-4  # chances of yes are kept in [P_CLIP, 1 - P_CLIP]: log-odds stay finite


class History(Protocol):
    """What `features.facts.AskHistory` holds: the evidence at T."""

    decided_asks: pd.DataFrame  # contact_id, persona, activity_type, label
    unprompted: pd.DataFrame  # contact_id, activity_type


@dataclass(frozen=True)
class RateGrid:
    """EB acceptance rate per (candidate, activity type), as dense arrays.

    rate:  (n_candidates, n_types), rows in the candidates' order, columns `types`.
    seen:  per type, whether any decided ask of it exists (only seen types are suggested).
    mix:   per type, its share among decided asks (the company's usual ask mix).
    """

    contact_id: np.ndarray
    types: tuple[str, ...]
    rate: np.ndarray
    seen: np.ndarray
    mix: np.ndarray


def _rate(yes: np.ndarray, n: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    return (yes + strength * prior) / (n + strength)


def rate_grid(
    decided_asks: pd.DataFrame,
    unprompted: pd.DataFrame,
    candidates: pd.DataFrame,
    settings: Settings,
    types: tuple[str, ...] = ACTIVITY_TYPES,
) -> RateGrid:
    """The three-layer EB rates for every candidate x type (vectorised: no cross join).

    decided_asks: contact_id, persona, activity_type, label (asks whose outcome is known at T).
    unprompted:   contact_id, activity_type (unprompted acts completed before T).
    candidates:   contact_id, persona. Needs at least one decided ask.
    """
    r = settings.ranking
    types = tuple(sorted(types))  # ties in suggest_activity go to the first name
    k = len(types)
    asks = decided_asks[decided_asks["activity_type"].isin(types)]
    t_idx = pd.Index(types).get_indexer(asks["activity_type"])
    label = asks["label"].to_numpy(dtype=float)
    overall = label.mean()
    type_n = np.bincount(t_idx, minlength=k).astype(float)
    type_yes = np.bincount(t_idx, weights=label, minlength=k)
    type_rate = _rate(type_yes, type_n, np.full(k, overall), 1.0)

    personas = pd.Index(pd.unique(asks["persona"].dropna()))
    p_idx = personas.get_indexer(asks["persona"])
    known = p_idx >= 0  # an ask without persona counts for its type only
    pers_n = np.zeros((len(personas) + 1, k))  # last row: no persona (prior = type rate)
    pers_yes = np.zeros((len(personas) + 1, k))
    np.add.at(pers_n, (p_idx[known], t_idx[known]), 1.0)
    np.add.at(pers_yes, (p_idx[known], t_idx[known]), label[known])
    pers_rate = _rate(pers_yes, pers_n, type_rate[None, :], r.activity_prior_persona)

    ids = candidates["contact_id"].to_numpy()
    own_yes, own_n = _own_history(asks, unprompted, pd.Index(ids), types)
    prior = pers_rate[personas.get_indexer(candidates["persona"])]  # -1: the no-persona row
    rate = _rate(own_yes, own_n, prior, r.activity_prior_contact)
    return RateGrid(ids, types, rate, type_n > 0, type_n / type_n.sum())


def _own_history(
    asks: pd.DataFrame, unprompted: pd.DataFrame, ids: pd.Index, types: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate x type: own yeses and trials (decided asks + unprompted acts as yeses)."""
    yes = np.zeros((len(ids), len(types)))
    n = np.zeros((len(ids), len(types)))
    acts = unprompted[unprompted["activity_type"].isin(types)]
    for frame, ok in ((asks, asks["label"].to_numpy(dtype=float)), (acts, None)):
        c = ids.get_indexer(frame["contact_id"])
        t = pd.Index(types).get_indexer(frame["activity_type"])
        keep = c >= 0
        won = np.ones(len(frame)) if ok is None else ok
        np.add.at(n, (c[keep], t[keep]), 1.0)
        np.add.at(yes, (c[keep], t[keep]), won[keep])
    return yes, n


def suggest_activity(
    decided_asks: pd.DataFrame,
    unprompted: pd.DataFrame,
    candidates: pd.DataFrame,
    settings: Settings,
) -> pd.Series:
    """Best activity type per candidate (among types ever asked), indexed by contact_id."""
    if decided_asks.empty:
        return pd.Series(None, index=candidates["contact_id"], dtype=object)
    grid = rate_grid(decided_asks, unprompted, candidates, settings)
    rate = np.where(grid.seen[None, :], grid.rate, -np.inf)
    best = np.asarray(grid.types, dtype=object)[np.argmax(rate, axis=1)]
    return pd.Series(best, index=candidates["contact_id"], dtype=object)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, P_CLIP, 1.0 - P_CLIP)
    return np.log(p) - np.log1p(-p)


def odds_shift(
    decided_asks: pd.DataFrame,
    unprompted: pd.DataFrame,
    candidates: pd.DataFrame,
    settings: Settings,
) -> tuple[tuple[str, ...], np.ndarray]:
    """Per candidate x type: logit rate(c,t) - logit rate_mix(c) (zeros without history).

    rate_mix(c) = sum_t mix_t * rate(c,t), mix = the share of each type among decided asks:
    p_advocate is calibrated on the company's usual mix, so the shift only moves odds between
    types and averages out (to first order) over that mix.
    """
    if decided_asks.empty:
        types = tuple(sorted(ACTIVITY_TYPES))
        return types, np.zeros((len(candidates), len(types)))
    grid = rate_grid(decided_asks, unprompted, candidates, settings)
    rate_mix = grid.rate @ grid.mix
    return grid.types, _logit(grid.rate) - _logit(rate_mix)[:, None]


def adjust_odds(p_advocate: np.ndarray, shift: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """expit(logit p_advocate + weight * shift), clipped to [P_CLIP, 1 - P_CLIP]."""
    z = _logit(np.asarray(p_advocate, dtype=float)) + weight * np.asarray(shift, dtype=float)
    return np.clip(1.0 / (1.0 + np.exp(-z)), P_CLIP, 1.0 - P_CLIP)


def chance_by_type(
    history: History,
    candidates: pd.DataFrame,
    settings: Settings,
    weight: float = 1.0,
) -> pd.DataFrame:
    """p_yes per candidate x activity type: contact_id, activity_type, p_yes (long, by contact).

    logit p_yes(c,t) = logit p_advocate(c) + weight * odds_shift(c,t). Every type of
    ACTIVITY_TYPES is listed (a type never asked keeps its persona/overall prior).
    history: `features.facts.AskHistory` at T (or anything with decided_asks, unprompted).
    candidates: contact_id (unique), persona, p_advocate (calibrated, usual ask mix).
    """
    if candidates["contact_id"].duplicated().any():
        raise ValueError("chance_by_type: candidates must list each contact_id once")
    types, shift = odds_shift(history.decided_asks, history.unprompted, candidates, settings)
    p = adjust_odds(candidates["p_advocate"].to_numpy(dtype=float)[:, None], shift, weight)
    k, rows = len(types), np.repeat(np.arange(len(candidates)), len(types))
    kinds = pd.Series(np.asarray(types, dtype=object)).astype(candidates["contact_id"].dtype)
    return pd.DataFrame(
        {
            "contact_id": candidates["contact_id"].array.take(rows),  # no per-row re-boxing
            "activity_type": kinds.array.take(np.tile(np.arange(k), len(candidates))),
            "p_yes": p.ravel(),
        }
    )
