"""In what order the eligible are asked: priority, per-account cap, shortlist.

Who may be asked at all is `advocacy.policy.eligibility`; this module ranks every scored
contact, marks the ineligible with their first reason, and cuts the list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from advocacy.models.targets import ADVOCATE, BURNOUT
from advocacy.policy.eligibility import ineligible_reason
from advocacy.settings import Settings


def priority(p_advocate: pd.Series, p_burnout: pd.Series, settings: Settings) -> pd.Series:
    """priority = p_advocate^a * (1 - p_burnout)^b: likely to say yes, unlikely to burn out."""
    r = settings.ranking
    return p_advocate.pow(r.advocate_weight) * (1.0 - p_burnout).pow(r.burnout_weight)


def rank_population(scores: pd.DataFrame, facts: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Scores plus `priority`, `eligible`, `ineligible_reason`, sorted best first.

    `scores` holds contact_id, account_id and each target's score column; `facts` the
    eligibility facts per contact. A scored contact with no facts row has no history.
    """
    merged = scores.merge(facts, on="contact_id", how="left", validate="one_to_one")
    out = scores.copy()
    out["priority"] = priority(out[ADVOCATE.score_column], out[BURNOUT.score_column], settings)
    reason = ineligible_reason(merged, settings)
    out["ineligible_reason"] = reason.to_numpy()
    out["eligible"] = reason.isna().to_numpy()
    return out.sort_values(
        ["priority", "contact_id"], ascending=[False, True], kind="mergesort"
    ).reset_index(drop=True)


def shortlist(ranked: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Top eligible contacts, at most `max_per_account` per account, with a 1-based `rank`.

    Expects `ranked` sorted by priority (highest first, ties by contact_id).
    """
    eligible = ranked[ranked["eligible"]]
    nth_in_account = eligible.groupby("account_id", sort=False).cumcount()
    capped = eligible[nth_in_account < settings.ranking.max_per_account]
    top = capped.head(settings.ranking.list_length).copy()
    top.insert(0, "rank", np.arange(1, len(top) + 1))
    return top.reset_index(drop=True)
