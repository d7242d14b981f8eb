"""Every model feature: its name, family, dtype, and the plain words used to explain it.

Reasons shown to marketers are built from `REASON_GROUPS`: features that express one
idea (latest NPS score and how long ago it was given) share a group, so an idea is
said once, in one sentence, with the contact's actual values.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Family = Literal["nps", "usage", "support", "account", "contact", "advocacy"]
DType = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    family: Family
    dtype: DType
    group: str  # reason group: one idea, one sentence
    description: str


@dataclass(frozen=True)
class ReasonGroup:
    """A sentence template rendered with the row's feature values (str.format syntax).

    `needs` lists the features that must be known (not null) for the sentence to make sense.
    """

    name: str
    template: str
    needs: tuple[str, ...]


def _f(
    name: str, family: Family, group: str, description: str, dtype: DType = "numeric"
) -> FeatureSpec:
    return FeatureSpec(name, family, dtype, group, description)


# See features/<family>.py for how each is computed; windows match the default Settings
# (features.build.check_registry fails loudly when the settings' windows differ).
FEATURES: tuple[FeatureSpec, ...] = (
    _f("nps_latest", "nps", "nps_latest", "latest NPS score (0-10) given before t"),
    _f("nps_days_since", "nps", "nps_latest", "days from the latest NPS response to t"),
    _f("nps_mean_last3", "nps", "nps_history", "mean of the last 3 NPS scores before t"),
    _f("nps_change", "nps", "nps_change", "latest NPS score minus the one before it"),
    _f("nps_is_promoter", "nps", "nps_latest", "1 if the latest score is a promoter score"),
    _f("nps_is_detractor", "nps", "nps_latest", "1 if the latest score is a detractor score"),
    _f("nps_responses", "nps", "nps_history", "number of NPS responses before t"),
    _f("nps_has_comment", "nps", "nps_comment", "1 if the latest response has a comment"),
    _f("nps_comment_length", "nps", "nps_comment", "characters in the latest comment"),
    _f("usage_events_7d", "usage", "usage_7d", "product events in the 7 days before t"),
    _f("usage_events_30d", "usage", "usage_30d", "product events in the 30 days before t"),
    _f("usage_events_90d", "usage", "usage_90d", "product events in the 90 days before t"),
    _f("usage_active_days_7d", "usage", "usage_7d", "days with any event, last 7 days"),
    _f("usage_active_days_30d", "usage", "usage_30d", "days with any event, last 30 days"),
    _f("usage_active_days_90d", "usage", "usage_90d", "days with any event, last 90 days"),
    _f(
        "usage_trend_30_vs_60",
        "usage",
        "usage_trend",
        "daily event rate of the last 30 days vs the 60 before, as a relative change "
        "(NaN when the 60 days had no events)",
    ),
    _f(
        "usage_distinct_features_90d",
        "usage",
        "usage_breadth",
        "distinct product features (event keys) used in the last 90 days",
    ),
    _f("usage_days_since_last", "usage", "usage_recency", "days since the last day of use"),
    _f("usage_invites_90d", "usage", "usage_invites", "invites sent in the last 90 days"),
    _f("usage_invites_total", "usage", "usage_invites", "invites sent ever (before t)"),
    _f(
        "usage_integrations_90d",
        "usage",
        "usage_integrations",
        "integrations added in the last 90 days",
    ),
    _f(
        "usage_integrations_total",
        "usage",
        "usage_integrations",
        "integrations added ever (before t)",
    ),
    _f("support_tickets_90d", "support", "support_volume", "account tickets opened, 90 days"),
    _f(
        "support_severe_tickets_90d",
        "support",
        "support_volume",
        "account high/urgent tickets opened in the last 90 days",
    ),
    _f("support_open_tickets", "support", "support_open", "account tickets open at t"),
    _f(
        "support_open_severe_tickets",
        "support",
        "support_open",
        "account high/urgent tickets open at t",
    ),
    _f(
        "support_csat_mean",
        "support",
        "support_csat",
        "mean CSAT (1-5) of the account's tickets closed before t",
    ),
    _f("account_segment", "account", "account_profile", "CRM segment", "categorical"),
    _f("account_industry", "account", "account_profile", "CRM industry", "categorical"),
    _f("account_region", "account", "account_profile", "CRM region", "categorical"),
    _f("account_arr", "account", "account_arr", "annual recurring revenue (as in the CRM)"),
    _f("account_employees", "account", "account_employees", "employees (as in the CRM)"),
    _f("account_tenure_days", "account", "account_profile", "days a customer at t"),
    _f(
        "account_days_to_renewal",
        "account",
        "account_renewal",
        "days from t to the renewal date (negative when past; NaN when unknown)",
    ),
    _f("contact_persona", "contact", "contact_persona", "role of the contact", "categorical"),
    _f("contact_tenure_days", "contact", "contact_tenure", "days a known contact at t"),
    _f("adv_asks", "advocacy", "adv_record", "advocacy asks made before t"),
    _f("adv_asks_90d", "advocacy", "adv_recent_asks", "asks made in the last 90 days"),
    _f("adv_completions", "advocacy", "adv_record", "asks completed before t"),
    _f("adv_completions_90d", "advocacy", "adv_recent_yes", "asks completed, last 90 days"),
    _f("adv_declines", "advocacy", "adv_refusals", "asks made before t and declined"),
    _f(
        "adv_declines_90d",
        "advocacy",
        "adv_recent_refusals",
        "asks made in the last 90 days and declined",
    ),
    _f("adv_no_responses", "advocacy", "adv_refusals", "asks made before t, never answered"),
    _f(
        "adv_no_responses_90d",
        "advocacy",
        "adv_recent_refusals",
        "asks made in the last 90 days, never answered",
    ),
    _f("adv_pending", "advocacy", "adv_pending", "asks still pending at t"),
    _f(
        "adv_acceptance_rate",
        "advocacy",
        "adv_acceptance",
        "completed / (completed + declined + no response) asks before t; NaN if none",
    ),
    _f("adv_days_since_last_ask", "advocacy", "adv_last_ask", "days since the last ask"),
    _f(
        "adv_days_since_last_completion",
        "advocacy",
        "adv_last_completion",
        "days since the last completed activity (asked or not)",
    ),
    _f("adv_unprompted", "advocacy", "adv_unprompted", "activities done without an ask"),
    _f(
        "adv_activity_types_completed",
        "advocacy",
        "adv_variety",
        "distinct activity types completed before t",
    ),
)


def _group(name: str, template: str) -> ReasonGroup:
    """A reason group whose needed features are exactly the fields its sentence uses."""
    fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    return ReasonGroup(name, template, tuple(dict.fromkeys(fields)))


_TEMPLATES = {
    "nps_latest": "gave NPS {nps_latest:.0f} {nps_days_since:ago}",
    "nps_history": "answered {nps_responses:#NPS survey}, scoring {nps_mean_last3:.1f} on average "
    "lately",
    "nps_change": "NPS {nps_change:points} since the survey before",
    "nps_comment": "{nps_has_comment:?explained their latest NPS score in a comment"
    "|gave their latest NPS score without a comment}",
    "usage_7d": "used the product on {usage_active_days_7d:.0f} of the last 7 days "
    "({usage_events_7d:#action})",
    "usage_30d": "used the product on {usage_active_days_30d:.0f} of the last 30 days "
    "({usage_events_30d:#action})",
    "usage_90d": "used the product on {usage_active_days_90d:.0f} of the last 90 days "
    "({usage_events_90d:#action})",
    "usage_trend": "product use {usage_trend_30_vs_60:updown} in the last 30 days compared "
    "with the 60 days before",
    "usage_breadth": "used {usage_distinct_features_90d:#different product feature} "
    "in the last 90 days",
    "usage_recency": "last used the product {usage_days_since_last:ago}",
    "usage_invites": "sent {usage_invites_90d:#invite} to colleagues in the last 90 days "
    "({usage_invites_total:.0f} in all)",
    "usage_integrations": "added {usage_integrations_90d:#integration} in the last 90 days "
    "({usage_integrations_total:.0f} in all)",
    "support_volume": "account opened {support_tickets_90d:#support ticket} in the last 90 days, "
    "{support_severe_tickets_90d:.0f} of them high or urgent",
    "support_open": "account has {support_open_tickets:#open support ticket} "
    "({support_open_severe_tickets:.0f} high or urgent)",
    "support_csat": "account rates support {support_csat_mean:.1f} out of 5",
    "account_profile": "account is {account_segment:a} {account_industry} customer in "
    "{account_region} for {account_tenure_days:duration}",
    "account_arr": "account brings in {account_arr:money} a year",
    "account_employees": "account has {account_employees:#employee}",
    "account_renewal": "account renewal is {account_days_to_renewal:due}",
    "contact_persona": "is {contact_persona:a} contact",
    "contact_tenure": "has been a contact for {contact_tenure_days:duration}",
    "adv_record": "said yes to {adv_completions:.0f} of {adv_asks:#ask} so far",
    "adv_acceptance": "accepts {adv_acceptance_rate:pct} of the asks they answer",
    "adv_refusals": "declined {adv_declines:#ask} and left {adv_no_responses:.0f} unanswered",
    "adv_recent_asks": "asked {adv_asks_90d:#time} in the last 90 days",
    "adv_recent_yes": "completed {adv_completions_90d:#ask} in the last 90 days",
    "adv_recent_refusals": "declined {adv_declines_90d:#ask} and left "
    "{adv_no_responses_90d:.0f} unanswered in the last 90 days",
    "adv_pending": "has {adv_pending:#ask} still waiting for an answer",
    "adv_last_ask": "was last asked {adv_days_since_last_ask:ago}",
    "adv_last_completion": "last did an advocacy activity {adv_days_since_last_completion:ago}",
    "adv_unprompted": "did {adv_unprompted:#advocacy activity} without being asked",
    "adv_variety": "has done {adv_activity_types_completed:#kind} of advocacy activity",
}
REASON_GROUPS: dict[str, ReasonGroup] = {n: _group(n, t) for n, t in _TEMPLATES.items()}


def feature_names() -> list[str]:
    return [f.name for f in FEATURES]


def categorical_features() -> list[str]:
    return [f.name for f in FEATURES if f.dtype == "categorical"]


def numeric_features() -> list[str]:
    return [f.name for f in FEATURES if f.dtype == "numeric"]


def spec(name: str) -> FeatureSpec:
    return next(f for f in FEATURES if f.name == name)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def render_reason(group: str, values: Mapping[str, Any]) -> str | None:
    """The group's sentence for one contact, or None when a needed value is unknown."""
    reason = REASON_GROUPS[group]
    if any(_is_missing(values.get(n)) for n in reason.needs):
        return None
    return reason.template.format_map(_Words(values))


class _Words(dict):
    """format_map helper: numbers read naturally ('3', '12', '40%'), with extra format specs.

    Besides the usual specs ('.0f', ',.0f') a field may use:
    `updown` (relative change: 'up 40%', 'down 12%', 'flat'), `points` ('up 3 points'),
    `pct` (0.6 -> '60%'), `ago` (days -> 'twelve days ago', 'three months ago'), `duration`
    (days -> '8 months'), `due` (days until -> 'in 45 days', '12 days overdue'), `money`
    ('$120k'), `a` (text with its article: 'an enterprise'), `#noun` (a count with its
    noun: '1 ask', '3 asks'; '#time' gives 'once', 'twice') and `?yes text|no text`.
    Text values read as words: 'mid_market' -> 'mid-market', 'emea' -> 'EMEA'.
    """

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)

    def __getitem__(self, key: str) -> _Value:
        return _Value(super().__getitem__(key))


_DAYS_PER_MONTH = 30.44
_DAYS_PER_YEAR = 365.25
_MAX_DAYS_IN_DAYS = 60  # below this, durations read in days
_MAX_DAYS_IN_MONTHS = 730  # below this, in months; beyond, in years
_THOUSAND, _MILLION = 1_000, 1_000_000
_SPELLED = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
    *("eighteen", "nineteen", "twenty"),
)
_PHRASES = {
    "smb": "small-business",
    "mid_market": "mid-market",
    "na": "North America",
    "emea": "EMEA",
    "apac": "APAC",
    "latam": "Latin America",
}


def _plural(noun: str, n: int) -> str:
    if n == 1:
        return noun
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def _count(n: int, noun: str, spelled: bool = False) -> str:
    number = _SPELLED[n] if spelled and 0 <= n < len(_SPELLED) else f"{n:,}"
    return f"{number} {_plural(noun, n)}"


def _duration(days: float, spelled: bool = False) -> str:
    days = abs(days)
    if days < _MAX_DAYS_IN_DAYS:
        return _count(int(days), "day", spelled)
    if days < _MAX_DAYS_IN_MONTHS:
        return _count(round(days / _DAYS_PER_MONTH), "month", spelled)
    return _count(round(days / _DAYS_PER_YEAR), "year", spelled)


def _ago(days: float) -> str:
    if days < 1:
        return "today"
    if days < 2:
        return "yesterday"
    return f"{_duration(days, spelled=True)} ago"


def _due(days: float) -> str:
    if -1 < days < 1:
        return "today"
    return f"in {_duration(days)}" if days > 0 else f"{_duration(days)} overdue"


def _updown(change: float, unit: str) -> str:
    size = round(abs(change) * (100 if unit == "%" else 1))
    if size == 0:
        return "flat" if unit == "%" else "unchanged"
    way = "up" if change > 0 else "down"
    return f"{way} {size}%" if unit == "%" else f"{way} {_count(size, 'point')}"


def _money(amount: float) -> str:
    if amount >= _MILLION:
        return f"${amount / _MILLION:.1f}M"
    if amount >= _THOUSAND:
        return f"${amount / _THOUSAND:.0f}k"
    return f"${amount:.0f}"


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n:,} times")


def _words(text: str) -> str:
    return _PHRASES.get(text, text.replace("_", " "))


def _with_article(text: str) -> str:
    words = _words(text)
    return f"{'an' if words[:1].lower() in tuple('aeiou') else 'a'} {words}"


_NUMBER_SPECS = {
    "updown": lambda x: _updown(x, "%"),
    "points": lambda x: _updown(x, "points"),
    "pct": lambda x: f"{round(x * 100)}%",
    "ago": _ago,
    "duration": _duration,
    "due": _due,
    "money": _money,
}


class _Value:
    """One feature value that knows how to read itself in a sentence (see `_Words`)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        v = self.value
        if spec.startswith("?"):
            yes, _, no = spec[1:].partition("|")
            return yes if not _is_missing(v) and bool(v) else no
        if isinstance(v, str):
            return _with_article(v) if spec == "a" else format(_words(v), spec)
        number = float(v)
        if spec.startswith("#"):
            n = round(number)
            return _times(n) if spec == "#time" else _count(n, spec[1:])
        if spec in _NUMBER_SPECS:
            return _NUMBER_SPECS[spec](number)
        if not spec:
            return f"{number:,.0f}" if number.is_integer() else f"{number:,.1f}"
        return format(number, spec)
