"""NPS features: what the contact said last, how it is moving, and whether they explained it.

A per-contact stream of responses before T carries running aggregates (count, mean of the
last three, change from the previous score); each point takes the last response strictly
before its t with one as-of look-up.
"""

from __future__ import annotations

from datetime import date

import duckdb

from advocacy_settings import Settings
from features.engine import cached_table, lookup_at_bounds
from features.state import as_of_date, timestamp_sql

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


def nps_stream(con: duckdb.DuckDBPyConnection, as_of: date) -> str:
    """Temp table: one row per (contact, responded_at) with running aggregates up to it."""
    sql = f"""
        SELECT contact_id, responded_at, score,
               count(*) OVER o AS n_responses,
               avg(score) OVER (o ROWS {RECENT_RESPONSES - 1} PRECEDING) AS mean_recent,
               score - lag(score) OVER o AS change,
               length(trim(comment)) AS comment_length
        FROM nps_responses
        WHERE seen_at(responded_at, {timestamp_sql(as_of)})
        WINDOW o AS (PARTITION BY contact_id ORDER BY responded_at, response_id)
        QUALIFY row_number() OVER (
            PARTITION BY contact_id, responded_at ORDER BY response_id DESC) = 1
    """
    return cached_table(con, "nps_stream", f"nps|{as_of_date(as_of)}", sql)


def nps_features(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """NPS features for every (contact_id, t) of the `points` table."""
    stream = nps_stream(con, as_of)
    cols = ("responded_at", "score", "n_responses", "mean_recent", "change", "comment_length")
    looked_up = lookup_at_bounds(
        points, "contact_id", stream, "responded_at", {"t": "{t}"}, {"t": cols}
    )
    w = settings.windows
    exprs = [
        "score__t",
        "days_between(responded_at__t, t)",
        "mean_recent__t",
        "change__t",
        f"CASE WHEN score__t IS NOT NULL THEN score__t >= {int(w.nps_promoter_min)} END",
        f"CASE WHEN score__t IS NOT NULL THEN score__t <= {int(w.nps_detractor_max)} END",
        "coalesce(n_responses__t, 0)",
        "CASE WHEN score__t IS NOT NULL THEN coalesce(comment_length__t, 0) > 0 END",
        "CASE WHEN score__t IS NOT NULL THEN coalesce(comment_length__t, 0) END",
    ]
    pairs = zip(exprs, FEATURE_NAMES, strict=True)
    select = ", ".join(f"CAST({e} AS DOUBLE) AS {n}" for e, n in pairs)
    return con.sql(f"SELECT contact_id, t, {select} FROM ({looked_up})")
