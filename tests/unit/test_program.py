"""monitoring/program.py: program measures on a tiny hand-built world with known counts."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from advocacy.monitoring import program
from advocacy.settings import Settings
from tests.feature_worlds import T, World


def _world() -> World:
    w = World().account("A1").account("A2", churned_at="2024-05-25")
    for cid in ("C1", "C2", "C3", "C5"):
        w.contact(cid, "A1")
    w.contact("C4", "A1", advocacy_opt_out_at="2024-05-29 10:00")
    w.contact("C6", "A2")
    w.activity("C1", "2024-05-28", "completed", "2024-05-30")  # window open at T: not answered
    w.activity("C2", "2024-04-01", "completed", "2024-04-10", activity_type="case_study")
    w.activity("C3", "2024-04-02", "declined")
    w.activity("C3", "2024-04-20", "no_response", activity_type="reference_call")
    w.activity("C3", "2024-05-10", "declined")
    w.activity("C3", "2024-05-15", "declined")  # the 4th ask in 90 days: over the cap of 3
    w.activity("C4", None, "completed", "2024-03-01", activity_type="testimonial")  # unprompted
    w.activity("C6", None, "completed", "2024-03-05", activity_type="referral")
    w.activity("C5", "2024-06-03", "completed", "2024-06-04")  # at T: not seen
    return w


SCORES = pd.DataFrame(
    {
        "contact_id": ["C1", "C2", "C5", "C6"],
        "p_advocate": [0.9, 0.4, 0.6, 0.9],
        "eligible": [True, True, True, False],
    }
)


@pytest.fixture(scope="module")
def weeks(tmp_path_factory) -> pd.DataFrame:
    con = _world().connect(tmp_path_factory.mktemp("program"))
    frame = program.program_health(con, T, Settings(), scores=SCORES)
    return frame.set_index("week_end")


def test_weeks_end_at_t_and_start_with_the_history(weeks):
    assert ["week_end", *weeks.columns] == ["week_end", "week_start", *program.PROGRAM_COLUMNS[2:]]
    assert weeks.index[-1] == T and weeks.index[0] == date(2024, 3, 4)
    assert len(weeks) == 14


def test_advocates_and_opt_outs(weeks):
    got = weeks[["active_advocates", "new_advocates", "opt_outs"]]
    assert got.loc[T].tolist() == [2, 1, 1]  # C1, C2 (C4 opted out, A2 churned); new: C1
    assert got.loc[date(2024, 5, 27)].tolist() == [2, 0, 0]  # C2, C4
    assert got.loc[date(2024, 5, 20)].tolist() == [3, 0, 0]  # C2, C4, C6
    assert weeks.loc[date(2024, 4, 15), "new_advocates"] == 1  # C2
    assert weeks["new_advocates"].sum() == 4


def test_asks_acceptance_and_completions(weeks):
    w = weeks.loc[date(2024, 4, 8)]  # [04-01, 04-08): C2's case study (yes), C3's review (no)
    assert (w["asks_made"], w["asks_answered"], w["asks_yes"]) == (2, 2, 1)
    assert w["acceptance_rate"] == 0.5
    assert w["acceptance_rate_case_study"] == 1.0 and w["acceptance_rate_review"] == 0.0
    assert (w["asks_answered_review"], w["asks_yes_review"], w["asks_answered_case_study"]) == (
        1,
        0,
        1,
    )
    assert pd.isna(w["acceptance_rate_referral"])  # nobody asked: empty, never a guess
    latest = weeks.loc[T]
    assert (latest["asks_made"], latest["asks_answered"]) == (1, 0)  # C1's window still open
    assert pd.isna(latest["acceptance_rate"])
    assert latest["completed_review"] == 1
    assert weeks.loc[date(2024, 4, 15), "completed_case_study"] == 1
    assert weeks["completed_testimonial"].sum() == 1 and weeks["completed_referral"].sum() == 1
    assert weeks["asks_made"].sum() == 6


def test_over_use_and_concentration(weeks):
    assert program.asks_allowed(Settings()) == 3  # recent_ask_days 30: ceil(90 / 30)
    assert weeks.loc[T, "over_used_90d"] == 1 and weeks.loc[date(2024, 5, 20), "over_used_90d"] == 1
    assert weeks.loc[date(2024, 5, 13), "over_used_90d"] == 0  # only 3 asks by then
    assert weeks.loc[T, "top10_share_90d"] == pytest.approx(4 / 6, abs=1e-4)  # C3: 4 of 6 asks


def test_likely_yes_pool_only_on_the_latest_week(weeks):
    assert weeks.loc[T, program.POOL_COLUMN] == 1  # C5: eligible, 0.6, never asked before T
    assert weeks[program.POOL_COLUMN].iloc[:-1].isna().all()


def test_a_world_without_asks_has_no_weeks(tmp_path):
    con = World().account().contact().connect(tmp_path)
    assert program.program_health(con, T, Settings()).empty


def _settings(**ranking) -> Settings:
    s = Settings()
    return s.model_copy(update={"ranking": s.ranking.model_copy(update=ranking)})


def test_value_compares_with_the_nps_rule_list_under_the_same_rules():
    ranked = pd.DataFrame(
        {
            "contact_id": ["X1", "X2", "X4", "X3", "X5"],
            "account_id": ["A1", "A1", "A3", "A2", "A4"],
            "p_advocate": [0.8, 0.7, 0.6, 0.3, 0.9],
            "eligible": [True, True, True, True, False],
        }
    )
    features = pd.DataFrame(
        {"contact_id": ["X1", "X2", "X3", "X4", "X5"], "nps_latest": [5, 10, 9, None, 10]}
    )
    value = program.value_vs_nps_rule(ranked, features, _settings(list_length=2, max_per_account=1))
    # ours: X1, X4 (X2 capped by A1); the rule's: X2 (NPS 10), X3 (9); X5 is not eligible
    assert (value["expected_yes"], value["expected_yes_nps_rule"]) == (1.4, 1.0)
    assert (value["listed"], value["listed_nps_rule"], value["overlap"]) == (2, 2, 0)
    assert value["words"] == "this list: 1 expected yeses; the latest promoters instead: 1"
