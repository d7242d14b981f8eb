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

import numpy as np
import pandas as pd

from advocacy.features import account, advocacy, contact, nps, peers, support, usage
from advocacy.features.spec import Feature


@dataclass(frozen=True)
class ReasonGroup:
    """A sentence template rendered with the row's feature values (str.format syntax).

    `needs` lists the features that must be known (not null) for the sentence to make sense.
    `nonzero` lists the values of which at least one must be non-zero for the sentence to be
    a reason at all: "opened 0 support tickets" states an absence, never a driver to ask.
    """

    name: str
    template: str
    needs: tuple[str, ...]
    nonzero: tuple[str, ...] = ()
    at_least: tuple[tuple[str, float], ...] = ()  # (feature, minimum) the sentence needs


# Each family module holds FEATURES and `relation(con, points, as_of, settings)`, its query.
FAMILIES = (nps, usage, support, account, contact, advocacy, peers)
# The column order of every frame (the champions' inputs): the families in this order, each
# in its own declaration order.
FEATURES: tuple[Feature, ...] = tuple(f for family in FAMILIES for f in family.FEATURES)


# Format specs that state an amount: a zero in one of them says "none", not a driver.
_AMOUNT_SPECS = ("#", "?", "pct", "money", "points", "updown")


def _group(name: str, template: str) -> ReasonGroup:
    """A reason group whose needed features are exactly the fields its sentence uses.

    Unless `_NONZERO` names them, the values that must not all be zero are the fields
    written with an amount spec (`_AMOUNT_SPECS`), so a new template is safe by default.
    """
    parsed = [(f, spec) for _, f, spec, _ in string.Formatter().parse(template) if f]
    amounts = [f for f, spec in parsed if spec and spec.startswith(_AMOUNT_SPECS)]
    nonzero = _NONZERO.get(name, tuple(dict.fromkeys(amounts)))
    needs = tuple(dict.fromkeys(f for f, _ in parsed))
    return ReasonGroup(name, template, needs, nonzero, _AT_LEAST.get(name, ()))


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
    "adv_pending": "has {adv_pending:#ask} with no settled answer yet",
    "adv_last_ask": "was last asked {adv_days_since_last_ask:ago}",
    "adv_last_completion": "last did an advocacy activity {adv_days_since_last_completion:ago}",
    "adv_unprompted": "did {adv_unprompted:#advocacy activity} without being asked",
    "adv_variety": "has done {adv_activity_types_completed:#kind} of advocacy activity",
    "nps_slope": "NPS {nps_slope_last3:points} per survey over the last three surveys",
    "adv_acceptance_smoothed": "would say yes to about {adv_acceptance_smoothed:pct} of asks, "
    "judging by their record",
    "adv_year_asks": "asked {adv_asks_365d:#time} in the last year",
    "peer_record": "colleagues at the account said yes to {peer_completions:.0f} of "
    "{peer_asks:#ask}",
    "peer_detractors": "{peer_detractor_share:pct} of {peer_nps_answered:#colleague} who "
    "answered NPS gave a detractor score",
}
# Where the amount fields are not the right "is there anything to say" test.
_NONZERO: dict[str, tuple[str, ...]] = {
    "usage_7d": ("usage_active_days_7d",),
    "usage_30d": ("usage_active_days_30d",),
    "usage_90d": ("usage_active_days_90d",),
    "adv_record": ("adv_completions",),
    "adv_refusals": ("adv_declines", "adv_no_responses"),
    "adv_recent_refusals": ("adv_declines_90d", "adv_no_responses_90d"),
    # the smoothed rate is the prior (not 0) without a record: say it only with answered asks
    "adv_acceptance_smoothed": ("adv_completions", "adv_declines", "adv_no_responses"),
}
# Sentences that are only true above a count: "on average" needs two surveys (one survey is
# the `nps_latest` sentence's).
_AT_LEAST: dict[str, tuple[tuple[str, float], ...]] = {"nps_history": (("nps_responses", 2),)}
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


def render_reasons(group: str, fields: pd.DataFrame) -> np.ndarray | None:
    """`render_reason` for every row of `fields` ('' where it gives None), each template field's
    distinct values formatted once and the pieces joined per row: at 1M contacts the reasons'
    sentences took 3.3 s one `format_map` per distinct row. None when the template needs more
    than plain fields (attribute or index access, a conversion, a nested spec): then only
    `render_reason` can say it."""
    pieces = []
    for literal, name, spec, conversion in string.Formatter().parse(REASON_GROUPS[group].template):
        if name is not None and (conversion or not name.isidentifier() or "{" in (spec or "")):
            return None
        pieces.append((literal, name, spec or ""))
    known = np.ones(len(fields), dtype=bool)
    for name in REASON_GROUPS[group].needs:
        known &= fields[name].notna().to_numpy() if name in fields else False
    rows = fields[known]
    text = np.full(len(rows), "", dtype=object)
    for literal, name, spec in pieces:
        if literal:
            text = text + literal
        if name is not None:
            codes, values = pd.factorize(rows[name], use_na_sentinel=False)
            words = [format(_Value(v), spec) for v in values.tolist()]
            text = text + np.array(words, dtype=object)[codes]
    out = np.full(len(fields), "", dtype=object)
    out[known] = text
    return out


class _Words(dict):
    """format_map helper: numbers read naturally ('3', '12', '40%'), with extra format specs.

    Besides the usual specs ('.0f', ',.0f') a field may use:
    `updown` (relative change: 'up 40%', 'down 12%', 'flat'), `points` ('up 3 points'),
    `pct` (0.6 -> '60%'), `ago` (days -> 'yesterday', 'twelve days ago'), `duration`
    (days -> '8 months'), `due` (days until -> 'due in 45 days', '12 days overdue'), `money`
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
    if days < 1:
        return "less than a day"
    if days < _MAX_DAYS_IN_DAYS:
        return _count(int(days), "day", spelled)
    if days < _MAX_DAYS_IN_MONTHS:
        return _count(round(days / _DAYS_PER_MONTH), "month", spelled)
    return _count(round(days / _DAYS_PER_YEAR), "year", spelled)


def _ago(days: float) -> str:
    """Calendar days before T. Features count fractional days (`days_between`) up to t, and a
    run's t is 00:00 UTC of T, so anything 0-1 days back happened yesterday, 1-2 days back
    the day before: the calendar day is ceil(days) days ago, never "today"."""
    if days < 0:
        return f"in {_duration(days)}"  # not possible point-in-time; still says what it is
    n = math.ceil(days)
    if n == 0:
        return "at the start of today"
    if n == 1:
        return "yesterday"
    return f"{_duration(n, spelled=True)} ago"


def _due(days: float) -> str:
    """Days from T (00:00 UTC) to a date: whole days for date columns."""
    if -1 < days < 1:
        return "due today"
    if 1 <= days < 2:
        return "due tomorrow"
    return f"due in {_duration(days)}" if days > 0 else f"{_duration(days)} overdue"


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
