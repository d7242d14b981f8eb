"""Training weights that undo the published lists' selection: 1 / inclusion probability.

An ask made because a published list named the contact was chosen by that list's rule. The
exploration slice drew its people at random with a known probability, so weighting each such
ask by 1/inclusion_probability makes those asks stand for the whole eligible pool (the
Horvitz-Thompson idea); asks from the optimised slice, or not from a published list at all,
keep weight 1. Weights are clipped (variance) and normalised to mean 1, so LightGBM's
regularisation means the same with and without them. Pure pandas/numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EXPLORE, OPTIMISE = "explore", "optimise"
PUBLISHED_COLUMNS = ("contact_id", "as_of", "selection", "inclusion_probability")


def _matched_lists(asks: pd.DataFrame, published: pd.DataFrame, match_days: int) -> pd.DataFrame:
    """Per ask position, the newest published list naming its contact with as_of <= t < as_of
    + match_days (a list dated after the ask, or on a later midnight, never matches)."""
    left = pd.DataFrame(
        {"_pos": np.arange(len(asks)), "contact_id": asks["contact_id"].astype(str).to_numpy(),
         "t": pd.to_datetime(asks["t"]).to_numpy()}
    )  # fmt: skip
    right = published.assign(
        contact_id=published["contact_id"].astype(str),
        _listed=pd.to_datetime(published["as_of"]),
    )[["contact_id", "_listed", "selection", "inclusion_probability"]]
    both = left.merge(right, on="contact_id", how="inner")
    window = pd.Timedelta(days=match_days)
    both = both[(both["_listed"] <= both["t"]) & (both["t"] < both["_listed"] + window)]
    return both.sort_values(["_pos", "_listed"]).drop_duplicates("_pos", keep="last")


def inclusion_weights(
    ask_rows: pd.DataFrame,
    published: pd.DataFrame,
    match_days: int = 14,
    clip: float = 20.0,
) -> np.ndarray:
    """One weight per ask row (its order): 1/inclusion_probability for asks an explore row of a
    published list led to, 1 otherwise; clipped to [1, clip], then scaled to mean 1.

    ask_rows: contact_id, t (the ask's requested_at). published: contact_id, as_of (the list's
    date: it was seen from 00:00 of that day), selection (explore / optimise),
    inclusion_probability. An ask matches the newest list that named its contact within
    match_days before it.
    """
    missing = [c for c in PUBLISHED_COLUMNS if c not in published.columns]
    if missing:
        raise ValueError(f"published lists lack column(s) {missing}")
    if clip < 1:
        raise ValueError(f"clip must be at least 1, got {clip}")
    weights = np.ones(len(ask_rows))
    if len(ask_rows) and len(published):
        hit = _matched_lists(ask_rows, published, match_days)
        explore = hit[hit["selection"] == EXPLORE]
        p = explore["inclusion_probability"].to_numpy(dtype=float)
        if np.any(~(p > 0) | (p > 1)):
            raise ValueError("inclusion_probability of explore rows must be in (0, 1]")
        weights[explore["_pos"].to_numpy()] = np.minimum(1.0 / p, clip)
    return weights / weights.mean() if len(weights) else weights
