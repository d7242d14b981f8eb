"""Reasons are drivers relative to the population, never zeros, and in words true at T."""

from __future__ import annotations

import numpy as np
import pandas as pd

from advocacy.features import registry
from advocacy.models.reasons import group_contributions, reference_contributions, top_reasons

COLS = ["nps_latest", "nps_days_since", "support_tickets_90d", "support_severe_tickets_90d"]


def _population(n: int = 50) -> tuple[pd.DataFrame, pd.DataFrame]:
    values = pd.DataFrame(
        {
            "nps_latest": np.full(n, 7.0),
            "nps_days_since": np.full(n, 30.0),
            "support_tickets_90d": np.zeros(n),
            "support_severe_tickets_90d": np.zeros(n),
        }
    )
    contrib = pd.DataFrame(0.0, index=values.index, columns=[*COLS, "bias"])
    contrib["support_tickets_90d"] = 0.4  # everyone's strongest absolute driver: 0 tickets
    contrib["nps_latest"] = 0.1
    values.loc[0, "nps_latest"] = 10.0  # the one unusually happy contact
    contrib.loc[0, "nps_latest"] = 0.9
    return contrib, values


def test_zero_tickets_is_never_a_reason_even_as_the_strongest_driver():
    contrib, values = _population()
    texts = top_reasons(contrib, values, top_n=3)  # absolute contributions, no reference
    assert not any("support ticket" in t for t in texts)


def test_unusual_nps_is_a_reason_and_the_common_one_is_not():
    contrib, values = _population()
    ref = reference_contributions(group_contributions(contrib))
    texts = top_reasons(contrib, values, top_n=3, reference=ref)
    assert texts[0] == "gave NPS 10 30 days ago"
    assert all(t == "" for t in texts[1:])


def test_relative_scores_subtract_the_population_median():
    contrib, _ = _population()
    ref = reference_contributions(group_contributions(contrib))
    assert ref["nps_latest"] == 0.1 and ref["support_volume"] == 0.4
    values = pd.DataFrame({c: [5.0, 5.0] for c in COLS})
    two = pd.DataFrame([[0.14, 0, 0, 0, 0], [0.2, 0, 0, 0, 0]], columns=[*COLS, "bias"])
    # 0.04 above the median is under the threshold; 0.1 above is a reason
    assert top_reasons(two, values, 3, reference=ref) == ["", "gave NPS 5 five days ago"]


def test_hours_before_t_reads_yesterday_never_today():
    values = {"nps_latest": 9.0, "nps_days_since": 0.2}
    assert registry.render_reason("nps_latest", values) == "gave NPS 9 yesterday"
    assert registry.render_reason("nps_latest", {**values, "nps_days_since": 1.3}) == (
        "gave NPS 9 two days ago"
    )
    renewal = {"account_days_to_renewal": 1.0}
    assert registry.render_reason("account_renewal", renewal) == "account renewal is due tomorrow"


def test_every_zero_count_group_declares_what_must_be_nonzero():
    assert registry.REASON_GROUPS["support_volume"].nonzero == ("support_tickets_90d",)
    assert set(registry.REASON_GROUPS["adv_refusals"].nonzero) == {
        "adv_declines",
        "adv_no_responses",
    }
    assert registry.REASON_GROUPS["nps_latest"].nonzero == ()


def _one_group(group: str, values: dict) -> str:
    """The text `top_reasons` gives one row whose only driver is `group`'s first feature."""
    feature = registry.REASON_GROUPS[group].needs[0]
    row = pd.DataFrame([values])
    contrib = pd.DataFrame([[1.0, 0.0]], columns=[feature, "bias"])
    return top_reasons(contrib, row, top_n=1)[0]


def test_one_survey_is_never_called_an_average():
    one = {"nps_responses": 1.0, "nps_mean_last3": 10.0}
    assert _one_group("nps_history", one) == ""
    two = {"nps_responses": 2.0, "nps_mean_last3": 9.5}
    assert _one_group("nps_history", two).startswith("answered 2 NPS surveys, scoring 9.5")


def test_a_smoothed_rate_without_any_answered_ask_is_not_a_record():
    nothing = {"adv_acceptance_smoothed": 0.4, "adv_completions": 0.0, "adv_declines": 0.0}
    assert _one_group("adv_acceptance_smoothed", {**nothing, "adv_no_responses": 0.0}) == ""
    answered = {**nothing, "adv_no_responses": 0.0, "adv_completions": 2.0}
    assert "about 40% of asks" in _one_group("adv_acceptance_smoothed", answered)


def test_sentences_join_without_empty_slots():
    import numpy as np

    from advocacy.models.reasons import _joined

    texts = np.array([["a", "", "c"], ["", "", ""], ["", "b", ""], ["a", "b", "c"]], dtype=object)
    assert _joined(texts) == ["a; c", "", "b", "a; b; c"]
    assert _joined(np.empty((2, 0), dtype=object)) == ["", ""]
