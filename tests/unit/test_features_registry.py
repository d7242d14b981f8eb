"""The feature registry: complete, consistent with the engine, and readable by a marketer."""

from __future__ import annotations

import math
import string
import typing

import pytest

from advocacy.features import registry
from advocacy.features import spec as spec_mod

# A plausible contact, and for each reason group a piece of its sentence that carries a value.
PLAUSIBLE = {
    "nps_latest": 9.0,
    "nps_days_since": 12.4,
    "nps_mean_last3": 8.333,
    "nps_change": 2.0,
    "nps_slope_last3": 1.5,
    "nps_is_promoter": 1.0,
    "nps_is_detractor": 0.0,
    "nps_responses": 4.0,
    "nps_has_comment": 1.0,
    "nps_comment_length": 57.0,
    "usage_events_7d": 23.0,
    "usage_events_30d": 61.0,
    "usage_events_90d": 150.0,
    "usage_active_days_7d": 5.0,
    "usage_active_days_30d": 18.0,
    "usage_active_days_90d": 44.0,
    "usage_trend_30_vs_60": 0.4,
    "usage_distinct_features_90d": 6.0,
    "usage_days_since_last": 3.0,
    "usage_invites_90d": 2.0,
    "usage_invites_total": 7.0,
    "usage_integrations_90d": 1.0,
    "usage_integrations_total": 3.0,
    "support_tickets_90d": 3.0,
    "support_severe_tickets_90d": 1.0,
    "support_open_tickets": 2.0,
    "support_open_severe_tickets": 0.0,
    "support_csat_mean": 4.5,
    "account_segment": "enterprise",
    "account_industry": "financial_services",
    "account_region": "emea",
    "account_arr": 250_000.0,
    "account_employees": 1200.0,
    "account_tenure_days": 1100.0,
    "account_days_to_renewal": 45.0,
    "contact_persona": "executive",
    "contact_tenure_days": 400.0,
    "adv_asks": 5.0,
    "adv_asks_90d": 2.0,
    "adv_completions": 3.0,
    "adv_completions_90d": 1.0,
    "adv_declines": 1.0,
    "adv_declines_90d": 0.0,
    "adv_no_responses": 1.0,
    "adv_no_responses_90d": 1.0,
    "adv_pending": 1.0,
    "adv_acceptance_rate": 0.6,
    "adv_acceptance_smoothed": 0.55,
    "adv_asks_365d": 4.0,
    "adv_days_since_last_ask": 40.0,
    "adv_days_since_last_completion": 75.0,
    "adv_unprompted": 2.0,
    "adv_activity_types_completed": 3.0,
    "peer_asks": 6.0,
    "peer_completions": 2.0,
    "peer_acceptance_smoothed": 0.37,
    "peer_nps_answered": 4.0,
    "peer_detractor_share": 0.25,
}
EXPECTED = {
    "nps_latest": "gave NPS 9 thirteen days ago",
    "nps_history": "answered 4 NPS surveys, scoring 8.3 on average",
    "nps_change": "NPS up 2 points",
    "nps_comment": "explained their latest NPS score in a comment",
    "usage_7d": "used the product on 5 of the last 7 days (23 actions)",
    "usage_30d": "on 18 of the last 30 days (61 actions)",
    "usage_90d": "on 44 of the last 90 days (150 actions)",
    "usage_trend": "product use up 40% in the last 30 days",
    "usage_breadth": "used 6 different product features",
    "usage_recency": "last used the product three days ago",
    "usage_invites": "sent 2 invites to colleagues in the last 90 days (7 in all)",
    "usage_integrations": "added 1 integration in the last 90 days (3 in all)",
    "support_volume": "opened 3 support tickets in the last 90 days, 1 of them high or urgent",
    "support_open": "has 2 open support tickets (0 high or urgent)",
    "support_csat": "rates support 4.5 out of 5",
    "account_profile": "an enterprise financial services customer in EMEA for 3 years",
    "account_arr": "$250k a year",
    "account_employees": "has 1,200 employees",
    "account_renewal": "renewal is due in 45 days",
    "contact_persona": "is an executive contact",
    "contact_tenure": "a contact for 13 months",
    "adv_record": "said yes to 3 of 5 asks",
    "adv_acceptance": "accepts 60% of the asks",
    "adv_refusals": "declined 1 ask and left 1 unanswered",
    "adv_recent_asks": "asked twice in the last 90 days",
    "adv_recent_yes": "completed 1 ask in the last 90 days",
    "adv_recent_refusals": "declined 0 asks and left 1 unanswered",
    "adv_pending": "has 1 ask with no settled answer yet",
    "adv_last_ask": "was last asked 40 days ago",
    "adv_last_completion": "last did an advocacy activity two months ago",
    "adv_unprompted": "did 2 advocacy activities without being asked",
    "adv_variety": "has done 3 kinds of advocacy activity",
    "nps_slope": "NPS up 2 points per survey over the last three surveys",
    "adv_acceptance_smoothed": "would say yes to about 55% of asks",
    "adv_year_asks": "asked 4 times in the last year",
    "peer_record": "colleagues at the account said yes to 2 of 6 asks",
    "peer_detractors": "25% of 4 colleagues who answered NPS gave a detractor score",
}


def test_every_feature_has_a_known_family_dtype_and_group():
    names = registry.feature_names()
    assert len(names) == len(set(names))
    for spec in registry.FEATURES:
        assert spec.group in registry.REASON_GROUPS, spec.name
        assert spec.dtype in ("numeric", "categorical") and spec.description
    used = {spec.group for spec in registry.FEATURES}
    assert used == set(registry.REASON_GROUPS)


# The champions' input columns, in order: renaming or reordering a feature is a new model.
FRAME_ORDER = (
    *("nps_latest", "nps_days_since", "nps_mean_last3", "nps_change", "nps_slope_last3"),
    "nps_is_promoter",
    *("nps_is_detractor", "nps_responses", "nps_has_comment", "nps_comment_length"),
    *("usage_events_7d", "usage_events_30d", "usage_events_90d", "usage_active_days_7d"),
    *("usage_active_days_30d", "usage_active_days_90d", "usage_trend_30_vs_60"),
    *("usage_distinct_features_90d", "usage_days_since_last", "usage_invites_90d"),
    *("usage_invites_total", "usage_integrations_90d", "usage_integrations_total"),
    *("support_tickets_90d", "support_severe_tickets_90d", "support_open_tickets"),
    *("support_open_severe_tickets", "support_csat_mean"),
    *("account_segment", "account_industry", "account_region", "account_arr"),
    *("account_employees", "account_tenure_days", "account_days_to_renewal"),
    *("contact_persona", "contact_tenure_days"),
    *("adv_asks", "adv_asks_90d", "adv_completions", "adv_completions_90d", "adv_declines"),
    *("adv_declines_90d", "adv_no_responses", "adv_no_responses_90d", "adv_pending"),
    *("adv_acceptance_rate", "adv_acceptance_smoothed", "adv_asks_365d"),
    *("adv_days_since_last_ask", "adv_days_since_last_completion"),
    *("adv_unprompted", "adv_activity_types_completed"),
    *("peer_asks", "peer_completions", "peer_acceptance_smoothed", "peer_nps_answered"),
    "peer_detractor_share",
)


FAMILY_ORDER = ("nps", "usage", "support", "account", "contact", "advocacy", "peers")


def test_registry_is_the_families_declarations_in_a_fixed_order():
    assert tuple(m.__name__.rsplit(".", 1)[-1] for m in registry.FAMILIES) == FAMILY_ORDER
    assert typing.get_args(spec_mod.Family) == FAMILY_ORDER
    assert tuple(f for m in registry.FAMILIES for f in m.FEATURES) == registry.FEATURES
    assert tuple(registry.feature_names()) == FRAME_ORDER
    assert registry.categorical_features() == [
        "account_segment",
        "account_industry",
        "account_region",
        "contact_persona",
    ]


def test_every_feature_declares_its_formula_and_its_family():
    for module in registry.FAMILIES:
        family = module.__name__.rsplit(".", 1)[-1]
        for spec in module.FEATURES:
            assert spec.family == family and spec.formula.strip(), spec.name


def test_every_template_field_is_a_feature():
    names = set(registry.feature_names())
    for group in registry.REASON_GROUPS.values():
        fields = {f for _, f, _, _ in string.Formatter().parse(group.template) if f}
        assert fields and fields <= names and set(group.needs) == fields, group.name


def test_reason_needs_are_features():
    names = set(registry.feature_names())
    for group in registry.REASON_GROUPS.values():
        assert group.needs and set(group.needs) <= names, group.name


@pytest.mark.parametrize("group", sorted(registry.REASON_GROUPS))
def test_every_group_renders_a_sentence_with_the_value(group):
    sentence = registry.render_reason(group, PLAUSIBLE)
    assert sentence and "{" not in sentence and "_" not in sentence
    assert EXPECTED[group] in sentence, sentence


def test_a_reason_with_an_unknown_value_is_not_said():
    values = {**PLAUSIBLE, "nps_latest": math.nan}
    assert registry.render_reason("nps_latest", values) is None
    assert (
        registry.render_reason("account_employees", {**PLAUSIBLE, "account_employees": None})
        is None
    )


@pytest.mark.parametrize(
    ("template", "value", "text"),
    [
        ("{x:updown}", 0.4, "up 40%"),
        ("{x:updown}", -0.123, "down 12%"),
        ("{x:updown}", 0.001, "flat"),
        ("{x:points}", -1.0, "down 1 point"),
        ("{x:pct}", 0.255, "26%"),
        ("{x:ago}", 0.5, "yesterday"),
        ("{x:ago}", 1.2, "two days ago"),
        ("{x:ago}", 12.9, "thirteen days ago"),
        ("{x:ago}", 95.0, "three months ago"),
        ("{x:ago}", 800.0, "two years ago"),
        ("{x:duration}", 30.0, "30 days"),
        ("{x:due}", -12.0, "12 days overdue"),
        ("{x:due}", 0.0, "due today"),
        ("{x:money}", 850.0, "$850"),
        ("{x:money}", 1_250_000.0, "$1.2M"),
        ("{x:#activity}", 2.0, "2 activities"),
        ("{x:#ask}", 1.0, "1 ask"),
        ("{x:#time}", 1.0, "once"),
        ("{x:#time}", 5.0, "5 times"),
        ("{x:?yes|no}", 0.0, "no"),
        ("{x:?yes|no}", 1.0, "yes"),
        ("{x:a}", "end_user", "an end user"),
        ("{x:a}", "mid_market", "a mid-market"),
        ("{x}", "latam", "Latin America"),
        ("{x}", 3.0, "3"),
        ("{x}", 2.5, "2.5"),
        ("{x:.1f}", 2.25, "2.2"),
    ],
)
def test_words_format_specs(template, value, text, monkeypatch):
    monkeypatch.setitem(
        registry.REASON_GROUPS, "probe", registry.ReasonGroup("probe", template, ("x",))
    )
    assert registry.render_reason("probe", {"x": value}) == text


@pytest.mark.parametrize("group", sorted(registry.REASON_GROUPS))
def test_rendering_a_column_says_what_rendering_each_row_says(group):
    """`render_reasons` (each field's distinct values formatted once) equals `render_reason`
    row by row, '' where that gives None: varied, repeated and unknown values per field."""
    import numpy as np
    import pandas as pd

    fields = _template_fields(group)
    rng = np.random.default_rng(len(group))
    columns = {}
    for name in fields:
        base = PLAUSIBLE[name]
        if isinstance(base, str):
            pool = [base, "mid_market", "emea", "end_user", None]
            columns[name] = pd.Series(rng.choice(np.array(pool, dtype=object), 60), dtype="str")
        else:
            values = np.round(rng.normal(float(base), abs(float(base)) + 1, 60), 1)
            values[rng.random(60) < 0.15] = np.nan
            columns[name] = np.abs(values) if name.endswith(("_days", "_ago")) else values
    frame = pd.DataFrame(columns)
    want = [registry.render_reason(group, r) or "" for r in frame.to_dict("records")]
    got = registry.render_reasons(group, frame)
    assert got is not None and list(got) == want


def _template_fields(group: str) -> list[str]:
    from string import Formatter

    parsed = Formatter().parse(registry.REASON_GROUPS[group].template)
    return sorted({name for _, name, _, _ in parsed if name})
