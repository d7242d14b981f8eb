"""NPS features: what the contact said last, how it is moving, and whether they explained it.

Each point reads its contact's responses strictly before t (`seen_at`); the latest one is
the arg-max by (responded_at, response_id), so ties break the same way everywhere.
"""

from __future__ import annotations

from datetime import date

import duckdb

from advocacy.settings import Settings

RECENT_RESPONSES = 3  # "mean of the last 3" is part of the feature's definition (its name)

FEATURE_NAMES = (
    "nps_latest",
    "nps_days_since",
    "nps_mean_last3",
    "nps_change",
    "nps_is_promoter",
    "nps_is_detractor",
    "nps_responses",
    "nps_has_comment",
    "nps_comment_length",
)


def nps_features(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """NPS features for every (contact_id, t) of the `points` table."""
    w = settings.windows
    order = "(r.responded_at, r.response_id)"
    exprs = [
        "latest",
        "days_between(last_at, p.t)",
        "list_avg(recent)",
        "CASE WHEN len(recent) > 1 THEN recent[1] - recent[2] END",
        f"CASE WHEN latest IS NOT NULL THEN latest >= {int(w.nps_promoter_min)} END",
        f"CASE WHEN latest IS NOT NULL THEN latest <= {int(w.nps_detractor_max)} END",
        "coalesce(responses, 0)",
        "CASE WHEN latest IS NOT NULL THEN comment_length > 0 END",
        "comment_length",
    ]
    pairs = zip(exprs, FEATURE_NAMES, strict=True)
    select = ", ".join(f"CAST({e} AS DOUBLE) AS {n}" for e, n in pairs)
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
        SELECT p.contact_id, p.t, {select} FROM pts p LEFT JOIN seen USING (contact_id, t)
        """
    )
