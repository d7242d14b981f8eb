"""Eligibility rules (first reason wins), priority, per-account cap, ties, list length."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from advocacy.policy.eligibility import ELIGIBILITY_RULES, REASON_WORDS, rules_summary
from advocacy.policy.ranking import priority, rank_population, shortlist
from advocacy.settings import RankingSettings, Settings

CLEAN = {
    "do_not_contact": False,
    "opted_out": False,
    "asks_recent": 0,
    "asks_90d": 0,
    "asks_365d": 0,
    "asks_pending": 0,
    "latest_nps": 9.0,
    "blocking_tickets": 0,
}


def _facts(**overrides) -> pd.DataFrame:
    return pd.DataFrame([{"contact_id": "C1", **CLEAN, **overrides}])


def _scores(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["contact_id", "account_id", "p_advocate", "p_burnout"])


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"do_not_contact": True}, "do_not_contact"),
        ({"opted_out": True}, "opted_out"),
        ({"asks_recent": 1}, "asked_recently"),
        ({"asks_90d": 3}, "too_many_asks_90d"),
        ({"asks_365d": 6}, "too_many_asks_365d"),
        ({"asks_pending": 2}, "ask_pending"),
        ({"latest_nps": 6.0}, "detractor_nps"),
        ({"latest_nps": 0.0}, "detractor_nps"),
        ({"blocking_tickets": 1}, "open_priority_ticket"),
    ],
)
def test_each_rule_blocks_with_its_reason(override, reason):
    ranked = rank_population(_scores([("C1", "A1", 0.5, 0.1)]), _facts(**override), Settings())
    assert not ranked.loc[0, "eligible"]
    assert ranked.loc[0, "ineligible_reason"] == reason


@pytest.mark.parametrize("nps", [7.0, 10.0, np.nan])
def test_passive_promoter_or_unknown_nps_is_eligible(nps):
    ranked = rank_population(_scores([("C1", "A1", 0.5, 0.1)]), _facts(latest_nps=nps), Settings())
    assert ranked.loc[0, "eligible"]
    assert pd.isna(ranked.loc[0, "ineligible_reason"])


def test_first_applicable_reason_wins():
    facts = _facts(do_not_contact=True, opted_out=True, latest_nps=2.0, blocking_tickets=3)
    ranked = rank_population(_scores([("C1", "A1", 0.5, 0.1)]), facts, Settings())
    assert ranked.loc[0, "ineligible_reason"] == "do_not_contact"
    assert next(name for name, _ in ELIGIBILITY_RULES) == "do_not_contact"


def test_detractor_threshold_comes_from_settings():
    settings = Settings.model_validate({"eligibility": {"block_nps_at_or_below": 4}})
    ranked = rank_population(_scores([("C1", "A1", 0.5, 0.1)]), _facts(latest_nps=6.0), settings)
    assert ranked.loc[0, "eligible"]
    blocked = rank_population(_scores([("C1", "A1", 0.5, 0.1)]), _facts(latest_nps=4.0), settings)
    assert blocked.loc[0, "ineligible_reason"] == "detractor_nps"


def test_detractor_rule_off_at_minus_one():
    settings = Settings.model_validate({"eligibility": {"block_nps_at_or_below": -1}})
    ranked = rank_population(_scores([("C1", "A1", 0.5, 0.1)]), _facts(latest_nps=0.0), settings)
    assert ranked.loc[0, "eligible"]


def test_every_rule_has_words_and_the_summary_names_the_thresholds():
    assert [name for name, _ in ELIGIBILITY_RULES] == list(REASON_WORDS)
    assert rules_summary(Settings()) == {
        "recent_ask_days": 30,
        "max_asks_90_days": 3,
        "max_asks_365_days": 6,
        "block_nps_at_or_below": 6,
        "blocking_ticket_priorities": ["high", "urgent"],
    }


def test_contact_without_facts_row_is_eligible():
    scores = _scores([("C1", "A1", 0.5, 0.1), ("C2", "A1", 0.4, 0.1)])
    ranked = rank_population(scores, _facts(), Settings())
    assert ranked.set_index("contact_id").loc["C2", "eligible"]


def test_priority_formula_and_weights():
    p_adv, p_burn = pd.Series([0.8, 0.5]), pd.Series([0.5, 0.0])
    assert priority(p_adv, p_burn, Settings()).tolist() == pytest.approx([0.4, 0.5])
    heavy = Settings(ranking=RankingSettings(burnout_weight=2.0))
    assert priority(p_adv, p_burn, heavy).tolist() == pytest.approx([0.2, 0.5])


def test_higher_burnout_lowers_priority():
    low = priority(pd.Series([0.6]), pd.Series([0.1]), Settings())[0]
    high = priority(pd.Series([0.6]), pd.Series([0.7]), Settings())[0]
    assert high < low


def _ranked(n_accounts: int, per_account: int) -> pd.DataFrame:
    rows = [
        (f"C{a}{k}", f"A{a}", 0.9 - 0.01 * (a * per_account + k), 0.0)
        for a in range(n_accounts)
        for k in range(per_account)
    ]
    facts = pd.DataFrame([{"contact_id": r[0], **CLEAN} for r in rows])
    return rank_population(_scores(rows), facts, Settings())


def test_account_cap_keeps_the_best_two_per_account():
    top = shortlist(_ranked(n_accounts=3, per_account=4), Settings())
    assert top.groupby("account_id").size().max() == 2
    assert top["contact_id"].tolist() == ["C00", "C01", "C10", "C11", "C20", "C21"]
    assert top["rank"].tolist() == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(("cap", "length", "expected"), [(1, 100, 3), (3, 100, 9), (2, 5, 5)])
def test_cap_and_list_length_from_settings(cap, length, expected):
    settings = Settings(ranking=RankingSettings(max_per_account=cap, list_length=length))
    assert len(shortlist(_ranked(n_accounts=3, per_account=4), settings)) == expected


def test_ineligible_contacts_never_listed_and_do_not_use_the_cap():
    scores = _scores([("C1", "A1", 0.9, 0.0), ("C2", "A1", 0.8, 0.0), ("C3", "A1", 0.7, 0.0)])
    facts = pd.DataFrame(
        [
            {"contact_id": "C1", **CLEAN, "opted_out": True},
            {"contact_id": "C2", **CLEAN},
            {"contact_id": "C3", **CLEAN},
        ]
    )
    top = shortlist(rank_population(scores, facts, Settings()), Settings())
    assert top["contact_id"].tolist() == ["C2", "C3"]


def test_ties_break_by_contact_id():
    scores = _scores([("C9", "A1", 0.5, 0.0), ("C2", "A2", 0.5, 0.0), ("C5", "A3", 0.5, 0.0)])
    facts = pd.DataFrame([{"contact_id": c, **CLEAN} for c in ("C9", "C2", "C5")])
    top = shortlist(rank_population(scores, facts, Settings()), Settings())
    assert top["contact_id"].tolist() == ["C2", "C5", "C9"]


def test_reason_words_follow_the_policy_thresholds():
    from advocacy.policy.eligibility import reason_words

    defaults = rules_summary(Settings())
    assert reason_words("detractor_nps", defaults) == "latest NPS is a detractor score"
    assert reason_words("open_priority_ticket", defaults) == REASON_WORDS["open_priority_ticket"]
    stricter = rules_summary(
        Settings(eligibility={"block_nps_at_or_below": 7, "blocking_ticket_priorities": ["urgent"]})
    )
    assert reason_words("detractor_nps", stricter) == "latest NPS is 7 or lower"
    assert reason_words("open_priority_ticket", stricter) == (
        "account has an open urgent priority support ticket"
    )
