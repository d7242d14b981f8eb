"""Contact features: the person's role and how long they have been a known contact.

`persona` has no event time and is taken as it is in the file (targets.md).
"""

from __future__ import annotations

from datetime import date

import duckdb

from advocacy.settings import Settings

CATEGORICAL = ("contact_persona",)
FEATURE_NAMES = (*CATEGORICAL, "contact_tenure_days")


def contact_features(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Contact features for every (contact_id, t) of the `points` table."""
    return con.sql(
        f"""
        SELECT p.contact_id, p.t, c.persona AS contact_persona,
               CAST(days_between(c.created_at, p.t) AS DOUBLE) AS contact_tenure_days
        FROM (SELECT DISTINCT contact_id, t FROM {points}) p
        LEFT JOIN contacts c USING (contact_id)
        """
    )
