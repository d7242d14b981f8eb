"""Who may be asked at all: the eligibility rules, their reasons in words, their summary.

Rules run in the order of `ELIGIBILITY_RULES`; a contact gets the first reason that applies
(docs/outputs.md, `ineligible_reason`). The facts they read come from
`advocacy.features.facts.eligibility_facts`, which owns the point-in-time logic; this module
only applies the settings' thresholds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from advocacy.features.nps import DETRACTOR_MAX
from advocacy.features.support import SEVERE_PRIORITIES
from advocacy.settings import Settings

Rule = Callable[[pd.DataFrame, Settings], pd.Series]


def _detractor(facts: pd.DataFrame, settings: Settings) -> pd.Series:
    """Latest NPS at or below the policy threshold; -1 turns the rule off (no NPS is < 0)."""
    return facts["latest_nps"] <= settings.eligibility.block_nps_at_or_below


def _over(asks: pd.Series, limit: int | None) -> pd.Series:
    """At or over the maximum of asks in a window (another ask would exceed it); None: off."""
    if limit is None:
        return pd.Series(False, index=asks.index)
    return asks.fillna(0) >= limit


# (reason, rule) in priority order. Each rule returns True where the contact is blocked.
# "asked_recently" is the per-contact cooldown (eligibility.recent_ask_days); the two
# "too_many_asks" rules cap asks per 90 / 365 days (eligibility.max_asks_*_days).
ELIGIBILITY_RULES: tuple[tuple[str, Rule], ...] = (
    ("do_not_contact", lambda f, s: f["do_not_contact"].fillna(False).astype(bool)),
    ("opted_out", lambda f, s: f["opted_out"].fillna(False).astype(bool)),
    ("asked_recently", lambda f, s: f["asks_recent"].fillna(0) > 0),
    ("too_many_asks_90d", lambda f, s: _over(f["asks_90d"], s.eligibility.max_asks_90_days)),
    ("too_many_asks_365d", lambda f, s: _over(f["asks_365d"], s.eligibility.max_asks_365_days)),
    ("ask_pending", lambda f, s: f["asks_pending"].fillna(0) > 0),
    ("detractor_nps", _detractor),
    ("open_priority_ticket", lambda f, s: f["blocking_tickets"].fillna(0) > 0),
)
REASON_WORDS = {
    "do_not_contact": "marked do-not-contact in the CRM",
    "opted_out": "opted out of advocacy asks",
    "asked_recently": "was asked recently",
    "too_many_asks_90d": "was asked too often in the last 90 days",
    "too_many_asks_365d": "was asked too often in the last 365 days",
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


def reason_words(reason: str, thresholds: Mapping[str, Any] | None = None) -> str:
    """The plain-word form of a reason code (the code itself if it has none).

    With this run's `thresholds` (`rules_summary`), the words follow the policy: a threshold
    other than the NPS detractor definition, or other blocking priorities, are said as such.
    """
    if thresholds is not None:
        nps = thresholds.get("block_nps_at_or_below", DETRACTOR_MAX)
        if reason == "detractor_nps" and nps != DETRACTOR_MAX:
            return f"latest NPS is {nps} or lower"
        priorities = list(thresholds.get("blocking_ticket_priorities", SEVERE_PRIORITIES))
        if reason == "open_priority_ticket" and priorities != list(SEVERE_PRIORITIES):
            return f"account has an open {' or '.join(priorities)} priority support ticket"
    return REASON_WORDS.get(reason, reason)


def rules_summary(settings: Settings) -> dict[str, Any]:
    """The thresholds the rules applied this run, for the report's "who is never asked"."""
    e = settings.eligibility
    return {
        "recent_ask_days": e.recent_ask_days,
        "max_asks_90_days": e.max_asks_90_days,
        "max_asks_365_days": e.max_asks_365_days,
        "block_nps_at_or_below": e.block_nps_at_or_below,
        "blocking_ticket_priorities": list(e.blocking_ticket_priorities),
    }
