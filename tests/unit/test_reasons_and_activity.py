"""Reasons from contributions (grouped, rendered with real values) and suggested activity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from advocacy.features import registry
from advocacy.features.registry import ReasonGroup
from advocacy.features.spec import Feature
from advocacy.models.reasons import group_contributions, top_reasons
from advocacy.policy.activity import suggest_activity
from advocacy.settings import Settings


@pytest.fixture
def tiny_registry(monkeypatch):
    feats = (
        Feature("nps_latest", "nps", "numeric", "nps_recent", "latest NPS"),
        Feature("nps_days_since", "nps", "numeric", "nps_recent", "days since NPS"),
        Feature("usage_days_30", "usage", "numeric", "usage_active", "active days"),
        Feature("adv_asks_90d", "advocacy", "numeric", "ask_fatigue", "asks in 90 days"),
    )
    groups = {
        "nps_recent": ReasonGroup(
            "nps_recent", "gave NPS {nps_latest:.0f} {nps_days_since:.0f} days ago",
            ("nps_latest", "nps_days_since"),
        ),
        "usage_active": ReasonGroup(
            "usage_active", "used the product on {usage_days_30:.0f} of the last 30 days",
            ("usage_days_30",),
        ),
        "ask_fatigue": ReasonGroup(
            "ask_fatigue", "asked {adv_asks_90d:.0f} times in the last 90 days", ("adv_asks_90d",)
        ),
    }  # fmt: skip
    monkeypatch.setattr(registry, "FEATURES", feats)
    monkeypatch.setattr(registry, "REASON_GROUPS", groups)


def _contrib(rows):
    return pd.DataFrame(
        rows, columns=["nps_latest", "nps_days_since", "usage_days_30", "adv_asks_90d", "bias"]
    )


def test_group_contributions_sum_one_idea(tiny_registry):
    grouped = group_contributions(_contrib([[0.5, 0.25, 0.1, -0.2, -1.0]]))
    assert grouped.loc[0, "nps_recent"] == pytest.approx(0.75)
    assert grouped.loc[0, "usage_active"] == pytest.approx(0.1)
    assert "bias" not in grouped.columns


def test_top_reasons_strongest_positive_first_with_real_values(tiny_registry):
    values = pd.DataFrame(
        [{"nps_latest": 10.0, "nps_days_since": 12.0, "usage_days_30": 21.0, "adv_asks_90d": 3.0}]
    )
    [text] = top_reasons(_contrib([[0.2, 0.1, 0.9, -0.4, 0.0]]), values, top_n=3)
    assert text == "used the product on 21 of the last 30 days; gave NPS 10 12 days ago"


def test_unknown_values_skip_the_sentence_and_next_group_takes_its_place(tiny_registry):
    values = pd.DataFrame(
        [
            {
                "nps_latest": np.nan,
                "nps_days_since": np.nan,
                "usage_days_30": 4.0,
                "adv_asks_90d": 0.0,
            }
        ]
    )
    [text] = top_reasons(_contrib([[0.9, 0.0, 0.1, 0.05, 0.0]]), values, top_n=1)
    assert text == "used the product on 4 of the last 30 days"


def test_no_positive_driver_gives_empty_reasons(tiny_registry):
    values = pd.DataFrame(
        [{"nps_latest": 3.0, "nps_days_since": 5.0, "usage_days_30": 0.0, "adv_asks_90d": 4.0}]
    )
    assert top_reasons(_contrib([[-0.5, -0.1, -0.3, -0.2, 0.4]]), values, top_n=3) == [""]


def _asks(rows):
    return pd.DataFrame(rows, columns=["contact_id", "persona", "activity_type", "label"])


def test_persona_preference_drives_suggestion_for_contact_without_history():
    asks = _asks(
        [(f"X{i}", "executive", "advisory_board", 1) for i in range(30)]
        + [(f"Y{i}", "executive", "review", 0) for i in range(30)]
        + [(f"Z{i}", "end_user", "review", 1) for i in range(30)]
        + [(f"W{i}", "end_user", "advisory_board", 0) for i in range(30)]
    )
    candidates = pd.DataFrame(
        {"contact_id": ["NEW1", "NEW2"], "persona": ["executive", "end_user"]}
    )
    none = pd.DataFrame(columns=["contact_id", "activity_type"])
    got = suggest_activity(asks, none, candidates, Settings())
    assert got.to_dict() == {"NEW1": "advisory_board", "NEW2": "review"}


def test_own_history_overrides_persona_preference():
    # admins lean to case studies (12/20 vs 8/20 yes), but this admin writes reviews unprompted
    asks = _asks(
        [(f"X{i}", "admin", "case_study", int(i < 12)) for i in range(20)]
        + [(f"Y{i}", "admin", "review", int(i < 8)) for i in range(20)]
    )
    own_acts = pd.DataFrame({"contact_id": ["ME"] * 4, "activity_type": ["review"] * 4})
    candidates = pd.DataFrame({"contact_id": ["ME"], "persona": ["admin"]})
    assert suggest_activity(asks, own_acts, candidates, Settings()).loc["ME"] == "review"
    assert (
        suggest_activity(asks, own_acts.iloc[:0], candidates, Settings()).loc["ME"] == "case_study"
    )


def test_no_history_at_all_gives_no_suggestion():
    candidates = pd.DataFrame({"contact_id": ["C1"], "persona": ["admin"]})
    got = suggest_activity(
        _asks([]), pd.DataFrame(columns=["contact_id", "activity_type"]), candidates, Settings()
    )
    assert got.isna().all()
