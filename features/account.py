"""Account features: who the customer is (segment, industry, region), its size and its age.

CRM columns without an event time (segment, industry, region, ARR, employees, renewal_date)
are taken as they are in the file (targets.md); only tenure depends on t.
"""

from __future__ import annotations

from datetime import date

import duckdb

from advocacy.settings import Settings

CATEGORICAL = ("account_segment", "account_industry", "account_region")
FEATURE_NAMES = (
    *CATEGORICAL,
    "account_arr",
    "account_employees",
    "account_tenure_days",
    "account_days_to_renewal",
)


def account_features(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Account features for every (contact_id, t) of `points` (from its account_id)."""
    return con.sql(
        f"""
        SELECT p.contact_id, p.t,
               a.segment AS account_segment, a.industry AS account_industry,
               a.region AS account_region,
               CAST(a.arr AS DOUBLE) AS account_arr,
               CAST(a.employees AS DOUBLE) AS account_employees,
               CAST(days_between(a.created_at, p.t) AS DOUBLE) AS account_tenure_days,
               CAST(days_between(p.t, a.renewal_date) AS DOUBLE) AS account_days_to_renewal
        FROM (SELECT DISTINCT contact_id, account_id, t FROM {points}) p
        LEFT JOIN accounts a USING (account_id)
        """
    )
