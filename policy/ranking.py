"""Who may be asked now, in what order: eligibility, priority, per-account cap, shortlist.

Rules run in the order of `ELIGIBILITY_RULES`; a contact gets the first reason that
applies (targets.md). The facts they read come from `features.build.build_eligibility_facts`,
which owns the point-in-time logic; this module only applies the settings' thresholds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from advocacy.settings import Settings

Rule = Callable[[pd.DataFrame, Settings], pd.Series]

# (reason, rule) in priority order. Each rule returns True where the contact is blocked.
ELIGIBILITY_RULES: tuple[tuple[str, Rule], ...] = (
    ("do_not_contact", lambda f, s: f["do_not_contact"].fillna(False).astype(bool)),
    ("opted_out", lambda f, s: f["opted_out"].fillna(False).astype(bool)),
    ("asked_recently", lambda f, s: f["asks_recent"].fillna(0) > 0),
    ("ask_pending", lambda f, s: f["asks_pending"].fillna(0) > 0),
    ("detractor_nps", lambda f, s: f["latest_nps"] <= s.eligibility.max_detractor_nps),
    ("open_priority_ticket", lambda f, s: f["blocking_tickets"].fillna(0) > 0),
)
REASON_WORDS = {
    "do_not_contact": "marked do-not-contact in the CRM",
    "opted_out": "opted out of advocacy asks",
    "asked_recently": "was asked recently",
    "ask_pending": "has an ask still open",
    "detractor_nps": "latest NPS is a detractor score",
    "open_priority_ticket": "account has an open high or urgent support ticket",
}


def ineligible_reason(facts: pd.DataFrame, settings: Settings) -> pd.Series:
    """First blocking reason per contact (None when eligible), aligned to `facts`' index."""
    reason = pd.Series(None, index=facts.index, dtype=object)
    for name, rule in ELIGIBILITY_RULES:
        hit = rule(facts, settings).to_numpy(dtype=bool) & reason.isna().to_numpy()
        reason[hit] = name
    return reason


def priority(p_advocate: pd.Series, p_burnout: pd.Series, settings: Settings) -> pd.Series:
    """priority = p_advocate^a * (1 - p_burnout)^b: likely to say yes, unlikely to burn out."""
    r = settings.ranking
    return p_advocate.pow(r.advocate_weight) * (1.0 - p_burnout).pow(r.burnout_weight)


def rank_population(scores: pd.DataFrame, facts: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Scores plus `priority`, `eligible`, `ineligible_reason`, sorted best first.

    `scores` holds contact_id, account_id, p_advocate, p_burnout; `facts` the eligibility
    facts per contact. A scored contact with no facts row is treated as having no history.
    """
    merged = scores.merge(facts, on="contact_id", how="left", validate="one_to_one")
    out = scores.copy()
    out["priority"] = priority(out["p_advocate"], out["p_burnout"], settings)
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
