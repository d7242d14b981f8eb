"""The knobs of the demo world: one typed, frozen dataclass with the defaults.

Every rate, coefficient and mix the generator uses lives here, so the data-generating
story in docs/synthetic-data.md can be read against one list of numbers. Coefficients
are on the logit scale unless their description says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from advocacy.data_contracts.tables import ACTIVITY_TYPES, PERSONAS, SEGMENTS


def _mapping(default: Mapping[str, Any]) -> Any:
    """A dict-valued default (a fresh copy per instance)."""
    return field(default_factory=lambda: dict(default))


@dataclass(frozen=True)
class WorldConfig:
    """Parameters of the synthetic world (see docs/synthetic-data.md for the story)."""

    # --- accounts -------------------------------------------------------------------
    contacts_per_account: float = 8.0  # average; sizes are skewed (lognormal x segment)
    account_size_sigma: float = 0.9  # lognormal spread of account sizes
    years_before_history: float = 3.0  # accounts are created over [start - this, end)
    segment_mix: Mapping[str, float] = _mapping(
        {"smb": 0.55, "mid_market": 0.30, "enterprise": 0.15}
    )
    segment_size: Mapping[str, float] = _mapping({"smb": 1.0, "mid_market": 2.5, "enterprise": 7.0})
    employees_median: Mapping[str, float] = _mapping(
        {"smb": 40.0, "mid_market": 600.0, "enterprise": 9000.0}
    )
    employees_sigma: float = 0.7
    arr_median: Mapping[str, float] = _mapping(
        {"smb": 14_000.0, "mid_market": 85_000.0, "enterprise": 420_000.0}
    )
    arr_sigma: float = 0.45
    arr_employee_elasticity: float = 0.4  # ARR grows with employees relative to segment median
    region_mix: Mapping[str, float] = _mapping(
        {"na": 0.45, "emea": 0.32, "apac": 0.15, "latam": 0.08}
    )
    employees_missing_rate: float = 0.03
    renewal_missing_rate: float = 0.02
    health_enterprise_bonus: float = 0.2  # enterprise accounts get more care, so a bit healthier
    health_persistence: float = 0.99  # weekly AR(1) coefficient of account health
    churn_intercept: float = -2.3  # logit of churning at a renewal for an average account
    churn_health: float = 1.0  # lower health -> more churn
    churn_satisfaction: float = 0.6  # lower mean contact satisfaction -> more churn

    # --- contacts -------------------------------------------------------------------
    persona_mix: Mapping[str, float] = _mapping(
        {"executive": 0.12, "champion": 0.18, "admin": 0.20, "end_user": 0.50}
    )
    persona_advocacy: Mapping[str, float] = _mapping(
        {"executive": -0.2, "champion": 0.7, "admin": 0.0, "end_user": -0.5}
    )
    persona_usage: Mapping[str, float] = _mapping(
        {"executive": -0.8, "champion": 0.3, "admin": 0.2, "end_user": 0.0}
    )  # log-rate of product use by persona
    contact_join_days: float = 240.0  # mean delay from account creation to a later contact
    do_not_contact_rate: float = 0.03
    name_missing_rate: float = 0.02
    title_missing_rate: float = 0.06
    satisfaction_health_pull: float = 0.5  # contact satisfaction reverts towards this x health
    satisfaction_offset_sd: float = 0.5  # per-contact level on top of account health
    satisfaction_reversion: float = 0.04  # weekly pull towards the contact's level
    satisfaction_noise: float = 0.1  # weekly random-walk step
    fatigue_half_life_weeks: float = 6.0
    fatigue_per_ask: float = 1.0
    fatigue_per_completion: float = 0.5  # doing the work tires more than being asked
    fatigue_threshold: float = 1.5  # fatigue above this erodes satisfaction ...
    fatigue_satisfaction_hit: float = 0.06  # ... by this much per week per unit above

    # --- usage ----------------------------------------------------------------------
    usage_events_per_week: float = 1.0  # mean events per active contact-week (before tails)
    usage_rate_sigma: float = 1.1  # lognormal spread across contacts (heavy tail)
    usage_satisfaction: float = 0.5  # log-rate effect of satisfaction
    engagement_reversion: float = 0.03
    engagement_noise: float = 0.08
    engagement_trend_sd: float = 0.035  # weekly log-rate slope of a trend regime
    engagement_trend_weeks: float = 20.0  # mean length of a trend regime
    engagement_slow_weeks: float = 8.0  # trend = engagement - its EMA over this many weeks
    business_hours_share: float = 0.75  # of events, asks, answers and tickets (else any hour)
    usage_chunk_rows: int = 4_000_000  # usage_events are written in chunks of about this size

    # --- NPS ------------------------------------------------------------------------
    nps_interval_weeks: int = 13  # each contact is surveyed about once a quarter
    nps_response_rate: float = 0.5
    nps_mean: float = 7.6
    nps_satisfaction: float = 2.2  # score points per unit of satisfaction
    nps_fatigue: float = 0.9  # score points lost per unit of ask fatigue
    nps_noise: float = 1.3
    nps_comment_rate: Mapping[str, float] = _mapping(
        {"detractor": 0.65, "passive": 0.35, "promoter": 0.5}
    )
    nps_fatigue_comment_min: float = 1.5  # above this fatigue, unhappy comments ...
    nps_fatigue_comment_share: float = 0.6  # ... mention the asks this often

    # --- support tickets ------------------------------------------------------------
    tickets_per_contact_year: float = 0.8
    ticket_health: float = 0.5  # log-rate effect of (low) health
    ticket_priority_health: float = 0.6  # ordinal-logit shift to higher priority when unhealthy
    ticket_unassigned_rate: float = 0.08  # tickets with no contact
    ticket_csat_rate: float = 0.55  # share of closed tickets that get a CSAT answer
    ticket_never_closed_rate: float = 0.01
    ticket_priority_cuts: tuple[float, float, float] = (-0.85, 1.3, 2.6)  # logistic cut points
    ticket_median_hours: tuple[float, float, float, float] = (72.0, 36.0, 16.0, 6.0)  # by priority
    ticket_resolution_health: float = 0.3  # unhealthy accounts wait longer (log-hours)
    ticket_resolution_sigma: float = 1.0
    csat_mean: float = 3.9
    csat_health: float = 0.6
    csat_per_log_day: float = -0.25  # slower resolution, lower CSAT
    csat_high_priority: float = -0.3
    csat_noise: float = 0.9
    ticket_good_csat_lift: float = 0.05  # satisfaction gained on CSAT 5
    ticket_bad_csat_hit: float = 0.25  # satisfaction lost by the requester on CSAT <= 2
    ticket_urgent_hit: float = 0.15  # satisfaction lost by the requester of an urgent ticket

    # --- the company's (biased) ask policy -----------------------------------------
    ask_rate_per_week: float = 0.006  # share of askable contacts asked each week, on average
    ask_cap_per_week: float = 0.5  # nobody is asked with more than this weekly probability
    ask_bias_promoter: float = 1.2  # latest NPS >= 9 (within a year)
    ask_bias_detractor: float = -0.8  # latest NPS <= 6 (within a year)
    ask_bias_arr: float = 0.35  # per standard deviation of log ARR
    ask_bias_past_completion: float = 1.5  # the go-to advocates get asked again and again
    ask_bias_persona: Mapping[str, float] = _mapping(
        {"executive": 0.3, "champion": 0.8, "admin": -0.3, "end_user": -0.6}
    )
    activity_mix: Mapping[str, Mapping[str, float]] = _mapping(
        {
            "executive": {
                "reference_call": 0.35,
                "advisory_board": 0.2,
                "speaking": 0.15,
                "case_study": 0.15,
                "testimonial": 0.1,
                "referral": 0.05,
            },
            "champion": {
                "case_study": 0.22,
                "reference_call": 0.2,
                "testimonial": 0.15,
                "review": 0.15,
                "speaking": 0.08,
                "social_post": 0.08,
                "referral": 0.07,
                "advisory_board": 0.05,
            },
            "admin": {
                "review": 0.35,
                "testimonial": 0.2,
                "referral": 0.15,
                "social_post": 0.15,
                "reference_call": 0.1,
                "case_study": 0.05,
            },
            "end_user": {
                "review": 0.45,
                "social_post": 0.2,
                "testimonial": 0.15,
                "referral": 0.15,
                "reference_call": 0.05,
            },
        }
    )

    # --- the true acceptance probability -------------------------------------------
    accept_intercept: float = -0.8
    accept_satisfaction: float = 2.0
    accept_trend: float = 2.0  # engagement trend (engagement minus its slow average)
    accept_trait: float = 0.9
    accept_fatigue: float = 0.6  # per unit of fatigue at the time of the ask
    # Structure a linear model cannot express (docs/synthetic-data.md "Interactions"):
    accept_fatigue_cliff: float = 1.5  # extra loss once fatigue passes the cliff ...
    accept_fatigue_cliff_at: float = 1.6  # ... (about two asks in the last month)
    accept_sat_trend_engaged: float = 4.0  # satisfaction trend counts only for active users
    satisfaction_slow_weeks: float = 12.0  # satisfaction trend = it minus its EMA over this
    account_culture_sd: float = 0.8  # shared advocacy culture of an account (logit scale)
    accept_persona_activity: Mapping[str, Mapping[str, float]] = _mapping(
        {
            "executive": {"speaking": 1.2, "advisory_board": 1.0, "review": -1.2,
                          "social_post": -1.0},
            "champion": {"case_study": 1.0, "reference_call": 0.6, "review": -0.4},
            "admin": {"referral": 0.8, "review": 0.5, "speaking": -1.2, "case_study": -0.6},
            "end_user": {"review": 0.9, "social_post": 0.6, "speaking": -1.5,
                         "case_study": -1.0, "reference_call": -0.8},
        }
    )  # fmt: skip
    accept_persona_segment: Mapping[str, Mapping[str, float]] = _mapping(
        {
            "executive": {"enterprise": 1.2, "smb": -1.0},
            "champion": {"mid_market": 0.6},
            "admin": {"enterprise": -0.8, "smb": 0.6},
            "end_user": {"smb": 1.0, "enterprise": -1.2},
        }
    )  # an enterprise executive lends their name; an smb end user writes the review
    activity_effect: Mapping[str, float] = _mapping(
        {
            "review": 0.4,
            "social_post": 0.3,
            "testimonial": 0.1,
            "referral": 0.0,
            "reference_call": -0.1,
            "advisory_board": -0.3,
            "case_study": -0.6,
            "speaking": -0.9,
        }
    )
    completion_median_days: Mapping[str, float] = _mapping(
        {
            "review": 4.0,
            "social_post": 3.0,
            "testimonial": 7.0,
            "referral": 9.0,
            "reference_call": 8.0,
            "advisory_board": 12.0,
            "case_study": 16.0,
            "speaking": 18.0,
        }
    )
    completion_sigma: float = 0.7  # lognormal spread of days to completion
    cancel_rate: float = 0.04  # asks the company withdraws
    decline_share: float = 0.45  # of the refusals, the share that say no (others stay silent)
    decline_mean_days: float = 4.0
    no_response_after_days: int = 30  # silence turns pending into no_response after this
    cancel_max_days: int = 20

    # --- advocacy opt-outs (only contacts who have been asked) ---------------------
    optout_intercept: float = -7.5
    optout_fatigue: float = 1.8
    optout_satisfaction: float = 0.8  # lower satisfaction -> more opt-outs
    optout_trend: float = 2.0  # falling engagement -> more opt-outs

    # --- unprompted acts ------------------------------------------------------------
    unprompted_intercept: float = -8.0
    unprompted_trait: float = 1.2
    unprompted_satisfaction: float = 1.0
    unprompted_engagement: float = 0.5
    unprompted_mix: Mapping[str, float] = _mapping(
        {"review": 0.55, "referral": 0.3, "social_post": 0.15}
    )

    # --- opportunities (the optional table; docs/synthetic-data.md "Opportunities") ----
    contacts_per_open_opp: float = 200.0  # one open opportunity per this many contacts ...
    opportunities_min_open: int = 5  # ... and never fewer than this
    closed_opportunities_per_open: float = 4.0  # closed deals before T (the outcomes)
    opportunity_reference_rate: float = 0.6  # closed deals that got a reference
    opportunity_win_logit: float = -1.2  # logit of winning with no (or an unlike) reference
    opportunity_reference_lift: float = 3.0  # logit added per unit of the reference's fit
    opportunity_fit_weights: Mapping[str, float] = _mapping(
        {"industry": 0.35, "segment": 0.2, "region": 0.2, "products": 0.25}
    )  # the true fit: weighted mean of same industry, segment, region, product Jaccard
    opportunity_reference_types: Mapping[str, float] = _mapping(
        {"reference_call": 0.85, "case_study": 0.15}
    )

    def __post_init__(self) -> None:
        _check_keys("segment", self.segment_mix, SEGMENTS)
        _check_keys("segment", self.segment_size, SEGMENTS)
        _check_keys("segment", self.employees_median, SEGMENTS)
        _check_keys("segment", self.arr_median, SEGMENTS)
        _check_keys("persona", self.persona_mix, PERSONAS)
        _check_keys("persona", self.persona_advocacy, PERSONAS)
        _check_keys("persona", self.persona_usage, PERSONAS)
        _check_keys("persona", self.ask_bias_persona, PERSONAS)
        _check_keys("persona", self.activity_mix, PERSONAS)
        _check_keys("persona", self.accept_persona_activity, PERSONAS)
        _check_keys("persona", self.accept_persona_segment, PERSONAS)
        _check_keys("activity_type", self.activity_effect, ACTIVITY_TYPES)
        _check_keys("activity_type", self.completion_median_days, ACTIVITY_TYPES)
        mixes = (*self.activity_mix.values(), *self.accept_persona_activity.values())
        for mix in (*mixes, self.unprompted_mix):
            unknown = set(mix) - set(ACTIVITY_TYPES)
            if unknown:
                raise ValueError(f"unknown activity types in config: {sorted(unknown)}")
        if self.contacts_per_account < 1:
            raise ValueError("contacts_per_account must be >= 1")


def _check_keys(what: str, mapping: Mapping[str, object], allowed: tuple[str, ...]) -> None:
    """Mixes keyed by a contract enum must name exactly the enum's values."""
    if set(mapping) != set(allowed):
        raise ValueError(f"{what} keys must be exactly {allowed}, got {sorted(mapping)}")
