"""Which kind of ask a contact is most likely to accept (`suggested_activity`).

Empirical Bayes in three layers, so sparse histories borrow strength:
overall acceptance rate per activity type -> per persona and type (pulled toward the
type's overall rate) -> per contact and type (pulled toward their persona's rate).
A contact's own acts count as evidence: each decided ask of a type adds a trial (and a
success if completed in the window), each unprompted act of a type adds a success.
"""

from __future__ import annotations

import pandas as pd

from advocacy.settings import Settings


def _rate(yes: pd.Series, n: pd.Series, prior: pd.Series, strength: float) -> pd.Series:
    return (yes + strength * prior) / (n + strength)


def suggest_activity(
    decided_asks: pd.DataFrame,
    unprompted: pd.DataFrame,
    candidates: pd.DataFrame,
    settings: Settings,
) -> pd.Series:
    """Best activity type per candidate, indexed by contact_id.

    decided_asks: contact_id, persona, activity_type, label (asks whose outcome is known at T).
    unprompted:   contact_id, activity_type (unprompted acts completed before T).
    candidates:   contact_id, persona.
    """
    r = settings.ranking
    if decided_asks.empty:
        return pd.Series(None, index=candidates["contact_id"], dtype=object)
    overall = decided_asks["label"].mean()
    by_type = decided_asks.groupby("activity_type")["label"].agg(["sum", "count"])
    type_rate = _rate(by_type["sum"], by_type["count"], overall, 1.0).rename("type_rate")

    grid = candidates[["contact_id", "persona"]].merge(type_rate.reset_index(), how="cross")
    per_persona = (
        decided_asks.groupby(["persona", "activity_type"])["label"]
        .agg(persona_yes="sum", persona_n="count")
        .reset_index()
    )
    grid = grid.merge(per_persona, on=["persona", "activity_type"], how="left").fillna(
        {"persona_yes": 0, "persona_n": 0}
    )
    grid["persona_rate"] = _rate(
        grid["persona_yes"], grid["persona_n"], grid["type_rate"], r.activity_prior_persona
    )
    own = _own_history(decided_asks, unprompted)
    grid = grid.merge(own, on=["contact_id", "activity_type"], how="left").fillna(
        {"own_yes": 0, "own_n": 0}
    )
    grid["rate"] = _rate(
        grid["own_yes"], grid["own_n"], grid["persona_rate"], r.activity_prior_contact
    )
    best = (
        grid.sort_values(["contact_id", "rate", "activity_type"], ascending=[True, False, True])
        .drop_duplicates("contact_id")
        .set_index("contact_id")["activity_type"]
    )
    return best.reindex(candidates["contact_id"])


def _own_history(decided_asks: pd.DataFrame, unprompted: pd.DataFrame) -> pd.DataFrame:
    asks = decided_asks.groupby(["contact_id", "activity_type"])["label"].agg(
        own_yes="sum", own_n="count"
    )
    acts = unprompted.groupby(["contact_id", "activity_type"]).size().rename("acts")
    own = asks.join(acts, how="outer").fillna(0)
    own["own_yes"] += own["acts"]
    own["own_n"] += own["acts"]
    return own[["own_yes", "own_n"]].reset_index()
