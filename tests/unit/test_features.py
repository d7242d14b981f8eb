"""Feature values worked out by hand on tiny worlds, and the feature frame contract."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from advocacy.features import advocacy, build, nps, registry, state, support, usage
from advocacy.features import facts as facts_mod
from advocacy.settings import Settings, SettingsError, settings_from_mapping
from tests.feature_worlds import T_TS, T, World, one_contact_world

SETTINGS = Settings()


def _world() -> World:
    """C1 has a history; C2 (same account) has none; C3's account starts after T."""
    w = one_contact_world().contact("C2").account("A2", created_at="2025-01-01")
    w.contact("C3", account_id="A2")
    w.nps("C1", "2024-03-01 10:00", 7, "ok").nps("C1", "2024-05-01 10:00", 10, " love it ")
    w.nps("C1", "2024-06-03 00:00", 0)  # exactly at T: not seen
    w.usage("C1", "2024-05-30 09:00", "login", 3).usage("C1", "2024-06-02 23:59")
    w.usage("C1", "2024-06-02 08:00", "report_created").usage("C1", "2024-06-03 00:00")
    w.usage("C1", "2024-03-15", "invite_sent").usage("C1", "2023-01-01", "integration_added")
    w.ticket("A1", "2024-05-01", "2024-05-10", "high", 4)
    w.ticket("A1", "2024-05-20", T_TS, "urgent", 2)
    w.ticket("A1", "2024-01-01", "2024-01-02", "low", 1).ticket("A2", "2024-05-01", None, "urgent")
    w.activity("C1", "2024-01-10", "completed", "2024-01-20", "review")
    w.activity("C1", "2024-04-10", "declined", None, "case_study")
    w.activity("C1", "2024-05-20", "completed", "2024-06-05", "reference_call")
    w.activity("C1", "2024-05-25", "cancelled", None, "review")
    w.activity("C1", None, "completed", "2024-02-01", "referral")
    return w


@pytest.fixture
def con(tmp_path):
    connection = _world().connect(tmp_path)
    yield connection
    connection.close()


@pytest.fixture
def scoring(con) -> pd.DataFrame:
    return build.build_scoring(con, T, SETTINGS).set_index("contact_id")


def test_nps_features(scoring):
    c1 = scoring.loc["C1"]
    assert c1["nps_latest"] == 10 and c1["nps_responses"] == 2
    assert c1["nps_days_since"] == pytest.approx(32 + 14 / 24)
    assert c1["nps_mean_last3"] == 8.5 and c1["nps_change"] == 3
    assert c1["nps_is_promoter"] == 1 and c1["nps_is_detractor"] == 0
    assert c1["nps_has_comment"] == 1 and c1["nps_comment_length"] == len("love it")


def test_usage_features(scoring):
    c1 = scoring.loc["C1"]
    assert c1["usage_events_7d"] == 5 and c1["usage_active_days_7d"] == 2
    assert c1["usage_events_90d"] == 6 and c1["usage_active_days_90d"] == 3
    # 5 events in the last 30 days vs 1 in the 60 before: (5/30) / (1/60) - 1
    assert c1["usage_trend_30_vs_60"] == pytest.approx(9.0)
    assert c1["usage_distinct_features_90d"] == 3  # login, report_created, invite_sent
    assert c1["usage_days_since_last"] == 1
    assert c1["usage_invites_90d"] == 1 and c1["usage_invites_total"] == 1
    assert c1["usage_integrations_90d"] == 0 and c1["usage_integrations_total"] == 1


def test_support_features_are_the_accounts(scoring):
    for cid in ("C1", "C2"):
        row = scoring.loc[cid]
        assert row["support_tickets_90d"] == 2 and row["support_severe_tickets_90d"] == 2
        # closed exactly at T: still open at T, and its CSAT not yet known
        assert row["support_open_tickets"] == 1 and row["support_open_severe_tickets"] == 1
        assert row["support_csat_mean"] == pytest.approx((4 + 1) / 2)


def test_account_and_contact_features(scoring):
    c1 = scoring.loc["C1"]
    assert c1["account_segment"] == "mid_market" and c1["account_region"] == "emea"
    assert c1["account_arr"] == 120_000 and c1["account_employees"] == 250
    assert c1["account_tenure_days"] == (T_TS - pd.Timestamp("2020-01-01")).days
    assert np.isnan(c1["account_days_to_renewal"])
    assert c1["contact_persona"] == "champion"
    assert c1["contact_tenure_days"] == (T_TS - pd.Timestamp("2020-01-01")).days


def test_advocacy_features(scoring):
    c1 = scoring.loc["C1"]
    assert (c1["adv_asks"], c1["adv_asks_90d"]) == (4, 3)
    assert (c1["adv_completions"], c1["adv_completions_90d"]) == (1, 0)
    assert (c1["adv_declines"], c1["adv_no_responses"]) == (1, 0)
    # completed after T, and cancelled inside its response window: both pending at T
    assert c1["adv_pending"] == 2
    assert c1["adv_acceptance_rate"] == 0.5
    assert c1["adv_days_since_last_ask"] == 9
    assert c1["adv_days_since_last_completion"] == (T_TS - pd.Timestamp("2024-02-01")).days
    assert c1["adv_unprompted"] == 1 and c1["adv_activity_types_completed"] == 2


def test_no_history_gives_nan_where_unknown_and_zero_counts(scoring):
    c2 = scoring.loc["C2"]
    for spec in registry.FEATURES:
        if spec.family in ("nps", "usage", "advocacy"):
            value = c2[spec.name]
            counts = (
                "nps_responses",
                "usage_events",
                "usage_active",
                "usage_distinct",
                "usage_invites",
                "usage_integrations",
                "adv_asks",
                "adv_completions",
                "adv_declines",
                "adv_no_responses",
                "adv_pending",
                "adv_unprompted",
                "adv_activity_types",
            )
            if spec.name == "adv_acceptance_smoothed":  # no asks: exactly the prior
                assert value == pytest.approx(advocacy.ACCEPTANCE_PRIOR), spec.name
            elif spec.name.startswith(counts):
                assert value == 0, spec.name
            else:
                assert np.isnan(value), spec.name


def test_frame_contract(scoring):
    frame = scoring.reset_index()
    assert list(frame.columns) == ["contact_id", "account_id", "t", *registry.feature_names()]
    assert frame["contact_id"].tolist() == ["C1", "C2"]  # C3's account starts after T
    assert (frame["t"] == T_TS).all() and frame["t"].dtype.kind == "M"
    for name in registry.numeric_features():
        assert frame[name].dtype == np.float64, name
    for name in (*registry.categorical_features(), "contact_id", "account_id"):
        assert pd.api.types.is_string_dtype(frame[name]), name


def test_training_frames_add_their_columns(con):
    advocate = build.build_advocate_training(con, T, SETTINGS)
    names = registry.feature_names()
    tail = ["label", "activity_id", "activity_type"]
    assert list(advocate.columns) == ["contact_id", "account_id", "t", *names, *tail]
    assert advocate["activity_type"].tolist() == ["review", "case_study"]
    assert advocate["label"].tolist() == [1, 0] and advocate["label"].dtype == np.int64
    burnout = build.build_burnout_training(con, T, SETTINGS)
    assert list(burnout.columns) == ["contact_id", "account_id", "t", *names, "label"]
    assert set(burnout["contact_id"]) == {"C1"}


def test_a_training_row_at_midnight_equals_the_scoring_row_at_that_date(con):
    burnout = build.build_burnout_training(con, T, SETTINGS)
    assert len(burnout) >= 2
    for row in burnout.to_dict("records"):
        as_of = row["t"].date()
        scored = build.build_scoring(con, as_of, SETTINGS).set_index("contact_id").loc["C1"]
        for name in registry.feature_names():
            a, b = row[name], scored[name]
            assert a == b or (pd.isna(a) and pd.isna(b)), (name, as_of)


def test_build_features_for_any_points_keeps_extra_columns(con):
    points = pd.DataFrame(
        {
            "contact_id": ["C1", "C1"],
            "account_id": ["A1", "A1"],
            "t": [pd.Timestamp("2024-05-01 10:00"), pd.Timestamp("2024-05-01 10:00:00.000001")],
            "tag": ["at", "after"],
        }
    )
    frame = build.build_features(con, points, T, SETTINGS)
    assert list(frame.columns)[-1] == "tag"
    frame = frame.set_index("tag")
    assert frame.loc["at", "nps_responses"] == 1 and frame.loc["after", "nps_responses"] == 2


def test_build_features_rejects_points_after_as_of(con):
    points = pd.DataFrame({"contact_id": ["C1"], "account_id": ["A1"], "t": [T_TS + timedelta(1)]})
    with pytest.raises(ValueError, match="after as_of"):
        build.build_features(con, points, T, SETTINGS)


def test_feature_windows_are_not_settings():
    """The window knobs that made every build fail are gone: a file naming one is refused."""
    with pytest.raises(SettingsError, match=r"windows\.usage_windows_days: no longer a setting"):
        settings_from_mapping({"windows": {"usage_windows_days": [14, 30, 90]}})
    names = registry.feature_names()
    assert [n for n in names if n.startswith("usage_events_")] == [
        f"usage_events_{d}d" for d in usage.WINDOWS_DAYS
    ]


@pytest.mark.parametrize("family", registry.FAMILIES, ids=lambda m: m.__name__.split(".")[-1])
def test_each_family_query_gives_its_declared_features_in_order(con, family):
    state.register_state(con)
    con.execute(f"CREATE TEMP TABLE pts AS {build.scoring_population_sql(T)}")
    relation = family.relation(con, "pts", T, SETTINGS)
    assert relation.columns == ["contact_id", "t", *(f.name for f in family.FEATURES)]
    assert all(f.family == family.__name__.split(".")[-1] and f.formula for f in family.FEATURES)


def test_blocking_priorities_are_policy_and_change_no_feature(con):
    """eligibility.blocking_ticket_priorities changes the eligibility facts, never a feature."""
    policy = Settings.model_validate({"eligibility": {"blocking_ticket_priorities": ["low"]}})
    pd.testing.assert_frame_equal(
        build.build_scoring(con, T, SETTINGS), build.build_scoring(con, T, policy)
    )
    pd.testing.assert_frame_equal(
        build.build_advocate_training(con, T, SETTINGS),
        build.build_advocate_training(con, T, policy),
    )
    default = facts_mod.eligibility_facts(con, T, SETTINGS)["blocking_tickets"].tolist()
    assert default == [1, 1]  # the urgent ticket closed at T
    assert facts_mod.eligibility_facts(con, T, policy)["blocking_tickets"].tolist() == [0, 0]
    assert support.SEVERE_PRIORITIES == ("high", "urgent")


def test_the_burnout_label_and_the_nps_feature_share_one_detractor_threshold(tmp_path):
    """A score of DETRACTOR_MAX is a detractor for the feature and a burnout event."""
    at, s = T_TS - timedelta(days=20), T_TS - timedelta(days=90)
    w = one_contact_world().activity("C1", None, "completed", s - timedelta(days=10))
    w.contact("C2").activity("C2", None, "completed", s - timedelta(days=10))
    w.nps("C1", at, nps.DETRACTOR_MAX).nps("C2", at, nps.DETRACTOR_MAX + 1)
    con = w.connect(tmp_path)
    scoring = build.build_scoring(con, T, SETTINGS).set_index("contact_id")
    assert scoring["nps_is_detractor"].to_dict() == {"C1": 1.0, "C2": 0.0}
    burnout = build.build_burnout_training(con, T, SETTINGS)
    newest = burnout[burnout["t"] == pd.Timestamp(s)].set_index("contact_id")
    assert newest["label"].to_dict() == {"C1": 1, "C2": 0}


def test_usage_of_a_training_row_uses_only_days_before_its_date(tmp_path):
    t = pd.Timestamp("2024-05-10 14:00")
    w = one_contact_world().usage("C1", "2024-05-10 08:00").usage("C1", "2024-05-09 23:00")
    points = pd.DataFrame({"contact_id": ["C1"], "account_id": ["A1"], "t": [t]})
    row = build.build_features(w.connect(tmp_path), points, T, SETTINGS).iloc[0]
    assert row["usage_events_7d"] == 1 and row["usage_days_since_last"] == 1


def test_eligibility_facts(con):
    facts = facts_mod.eligibility_facts(con, T, SETTINGS).set_index("contact_id")
    assert list(facts.reset_index().columns) == list(facts_mod.FACT_COLUMNS)
    c1, c2 = facts.loc["C1"], facts.loc["C2"]
    assert c1["asks_recent"] == 2  # 2024-05-20 and the cancelled 2024-05-25 (any status)
    assert c1["asks_pending"] == 1 and c1["latest_nps"] == 10
    assert c1["blocking_tickets"] == 1 == c2["blocking_tickets"]  # the one closed at T
    assert not c1["opted_out"] and not c1["do_not_contact"]
    assert np.isnan(c2["latest_nps"]) and c2["asks_recent"] == 0
    assert facts["do_not_contact"].dtype == bool and facts["asks_recent"].dtype == np.int64


def test_eligibility_facts_opt_out_and_recent_ask_edges(tmp_path):
    w = World().account()
    w.contact("before", advocacy_opt_out_at=T_TS - timedelta(microseconds=1))
    w.contact("at_t", advocacy_opt_out_at=T_TS, do_not_contact=True)
    w.activity("before", T_TS - timedelta(days=30), "declined")  # first instant of the window
    w.activity("at_t", T_TS - timedelta(days=30, microseconds=1), "declined")
    facts = facts_mod.eligibility_facts(w.connect(tmp_path), T, SETTINGS)
    facts = facts.set_index("contact_id")
    assert facts.loc["before", "opted_out"] and not facts.loc["at_t", "opted_out"]
    assert facts.loc["at_t", "do_not_contact"]
    assert facts.loc["before", "asks_recent"] == 1 and facts.loc["at_t", "asks_recent"] == 0


def test_ask_counts_over_90_and_365_days_edges_and_point_in_time(tmp_path):
    w = World().account().contact("C1")
    for days in (1, 89, 90, 91, 364, 365, 366):  # 90 and 365 days back: first instant inside
        w.activity("C1", T_TS - timedelta(days=days), "declined")
    w.activity("C1", T_TS, "declined").activity("C1", T_TS + timedelta(days=3), "declined")
    facts = facts_mod.eligibility_facts(w.connect(tmp_path), T, SETTINGS).set_index("contact_id")
    assert facts.loc["C1", "asks_90d"] == 3 and facts.loc["C1", "asks_365d"] == 6


def test_a_world_with_no_history_still_builds(tmp_path):
    con = one_contact_world().connect(tmp_path)
    scoring = build.build_scoring(con, T, SETTINGS)
    assert scoring["contact_id"].tolist() == ["C1"] and scoring["usage_events_90d"].item() == 0
    for builder in (build.build_advocate_training, build.build_burnout_training):
        frame = builder(con, T, SETTINGS)
        assert frame.empty and "label" in frame.columns and "nps_latest" in frame.columns
    assert len(facts_mod.eligibility_facts(con, T, SETTINGS)) == 1


def test_a_decline_is_pending_until_its_response_window_closed(tmp_path):
    """Declines have no time: one in the files shows at t only after the 30-day window."""
    w = one_contact_world()
    w.activity("C1", "2024-05-20", "declined")  # window closes 2024-06-19 00:00
    con = w.connect(tmp_path)
    at = ["2024-05-25", "2024-06-19", "2024-06-19 00:00:00.000001", "2024-07-01"]
    points = pd.DataFrame(
        {"contact_id": "C1", "account_id": "A1", "t": [pd.Timestamp(x) for x in at]}
    )
    rows = build.build_features(con, points, T + timedelta(days=60), SETTINGS)
    assert rows["adv_pending"].tolist() == [1, 1, 0, 0]
    assert rows["adv_declines"].tolist() == [0, 0, 1, 1]
    assert rows["adv_declines_90d"].tolist() == [0, 0, 1, 1]
    assert rows["adv_acceptance_rate"].isna().tolist() == [True, True, False, False]
    scoring = build.build_scoring(con, T, SETTINGS).iloc[0]  # T: the same rule as a training row
    assert (scoring["adv_pending"], scoring["adv_declines"]) == (1, 0)


def test_eligibility_reads_the_exported_answer_at_t(tmp_path):
    """A contact who declined yesterday is not waiting for an answer; the ask is recent."""
    w = one_contact_world().contact("C2").contact("C3")
    w.activity("C1", "2024-05-31", "declined")
    w.activity("C2", "2024-05-31", "pending")
    w.activity("C3", "2024-05-31", "completed", T_TS)  # completed at T: still open at T
    facts = facts_mod.eligibility_facts(w.connect(tmp_path), T, SETTINGS).set_index("contact_id")
    assert facts["asks_pending"].to_dict() == {"C1": 0, "C2": 1, "C3": 1}
    assert facts["asks_recent"].to_dict() == {"C1": 1, "C2": 1, "C3": 1}


def test_the_usage_rows_and_their_hash_check_are_built_once_per_connection(con, monkeypatch):
    """Every builder asks for the usage rows; only the first builds it (and checks the hashes)."""
    checks: list[object] = []
    real_check = usage._check_contact_hashes
    monkeypatch.setattr(usage, "_check_contact_hashes", lambda c: checks.append(real_check(c)))
    state.register_state(con)
    first = usage.event_days(con, T)
    build.build_scoring(con, T, SETTINGS)
    build.build_burnout_training(con, T, SETTINGS)
    assert usage.event_days(con, T) == first
    assert len(checks) == 1
    later = usage.event_days(con, T - timedelta(days=7))  # another T: its own rows
    assert later != first and len(checks) == 2
