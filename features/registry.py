"""Every model feature, in frame order, and the plain words used to explain it.

Each feature is declared once, in its family's module (name, formula, dtype, reason group,
description: `features.spec.Feature`); this module lists them in a fixed order.

Reasons shown to marketers are built from `REASON_GROUPS`: features that express one
idea (latest NPS score and how long ago it was given) share a group, so an idea is
said once, in one sentence, with the contact's actual values.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from advocacy.features import account, advocacy, contact, nps, support, usage
from advocacy.features.spec import Feature


@dataclass(frozen=True)
class ReasonGroup:
    """A sentence template rendered with the row's feature values (str.format syntax).

    `needs` lists the features that must be known (not null) for the sentence to make sense.
    """

    name: str
    template: str
    needs: tuple[str, ...]


# Each family module holds FEATURES and `relation(con, points, as_of, settings)`, its query.
FAMILIES = (nps, usage, support, account, contact, advocacy)
# The column order of every frame (the champions' inputs): the families in this order, each
# in its own declaration order.
FEATURES: tuple[Feature, ...] = tuple(f for family in FAMILIES for f in family.FEATURES)


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
