"""NPS features: what the contact said last, how it is moving, and whether they explained it.

Each point reads its contact's responses strictly before t (`seen_at`); the latest one is
the arg-max by (responded_at, response_id), so ties break the same way everywhere.
`PROMOTER_MIN` and `DETRACTOR_MAX` are the one NPS definition: the features below and the
burnout label (features/labels.py) read them; the ask policy's own threshold is
`eligibility.block_nps_at_or_below`.
"""

from __future__ import annotations

from datetime import date
from functools import partial

import duckdb

from advocacy.features.spec import Feature, feature, select_sql
from advocacy.settings import Settings

PROMOTER_MIN = 9  # a score at or above: promoter (the standard NPS definition)
DETRACTOR_MAX = 6  # a score at or below: detractor (also a burnout event)
RECENT_RESPONSES = 3  # "mean of the last 3" is part of the feature's definition (its name)

_f = partial(feature, "nps")
_KNOWN = "CASE WHEN latest IS NOT NULL THEN"
FEATURES: tuple[Feature, ...] = (
    _f("nps_latest", "latest", "nps_latest", "latest NPS score (0-10) given before t"),
    _f(
        "nps_days_since",
        "days_between(last_at, p.t)",
        "nps_latest",
        "days from the latest NPS response to t",
    ),
    _f(
        f"nps_mean_last{RECENT_RESPONSES}",
        "list_avg(recent)",
        "nps_history",
        f"mean of the last {RECENT_RESPONSES} NPS scores before t",
    ),
    _f(
        "nps_change",
        "CASE WHEN array_length(recent) > 1 THEN recent[1] - recent[2] END",
        "nps_change",
        "latest NPS score minus the one before it",
    ),
    _f(
        f"nps_slope_last{RECENT_RESPONSES}",
        f"CASE WHEN array_length(recent) = {RECENT_RESPONSES} "
        f"THEN (recent[1] - recent[{RECENT_RESPONSES}]) / {RECENT_RESPONSES - 1} END",
        "nps_slope",
        f"score points per survey across the last {RECENT_RESPONSES} NPS answers (the latest "
        f"minus the {RECENT_RESPONSES}rd last, per step); NaN with fewer answers",
    ),
    _f(
        "nps_is_promoter",
        f"{_KNOWN} latest >= {PROMOTER_MIN} END",
        "nps_latest",
        "1 if the latest score is a promoter score",
    ),
    _f(
        "nps_is_detractor",
        f"{_KNOWN} latest <= {DETRACTOR_MAX} END",
        "nps_latest",
        "1 if the latest score is a detractor score",
    ),
    _f(
        "nps_responses",
        "coalesce(responses, 0)",
        "nps_history",
        "number of NPS responses before t",
    ),
    _f(
        "nps_has_comment",
        f"{_KNOWN} comment_length > 0 END",
        "nps_comment",
        "1 if the latest response has a comment",
    ),
    _f("nps_comment_length", "comment_length", "nps_comment", "characters in the latest comment"),
)


def relation(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """NPS features for every (contact_id, t) of the `points` table."""
    order = "(r.responded_at, r.response_id)"
    return con.sql(
        f"""
        WITH pts AS (SELECT DISTINCT contact_id, t FROM {points}),
        seen AS (
            SELECT p.contact_id, p.t, count(*) AS responses, max(r.responded_at) AS last_at,
                   arg_max(r.score, {order}) AS latest,
                   arg_max(r.score, {order}, {RECENT_RESPONSES}) AS recent,
                   arg_max(coalesce(length(trim(r.comment)), 0), {order}) AS comment_length
            FROM pts p JOIN nps_responses r
              ON r.contact_id = p.contact_id AND seen_at(r.responded_at, p.t)
            GROUP BY p.contact_id, p.t
        )
        SELECT p.contact_id, p.t, {select_sql(FEATURES)}
        FROM pts p LEFT JOIN seen USING (contact_id, t)
        """
    )
