"""Contact features: the person's role and how long they have been a known contact.

`persona` has no event time and is taken as it is in the file (the rule of `features.state`).
"""

from __future__ import annotations

from datetime import date
from functools import partial

import duckdb

from advocacy.features.spec import Feature, feature, select_sql
from advocacy.settings import Settings

_f = partial(feature, "contact")
FEATURES: tuple[Feature, ...] = (
    _f("contact_persona", "c.persona", "contact_persona", "role of the contact", "categorical"),
    _f(
        "contact_tenure_days",
        "days_between(c.created_at, p.t)",
        "contact_tenure",
        "days a known contact at t",
    ),
)


def relation(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Contact features for every (contact_id, t) of the `points` table."""
    return con.sql(
        f"""
        SELECT p.contact_id, p.t, {select_sql(FEATURES)}
        FROM (SELECT DISTINCT contact_id, t FROM {points}) p
        LEFT JOIN contacts c USING (contact_id)
        """
    )
