"""Account features: who the customer is (segment, industry, region), its size and its age.

CRM columns without an event time (segment, industry, region, ARR, employees, renewal_date)
are taken as they are in the file (the rule of `features.state`); only tenure and the days
to renewal depend on t.
"""

from __future__ import annotations

from datetime import date
from functools import partial

import duckdb

from advocacy.features.spec import Feature, feature, select_sql
from advocacy.settings import Settings

_f = partial(feature, "account")
FEATURES: tuple[Feature, ...] = (
    _f("account_segment", "a.segment", "account_profile", "CRM segment", "categorical"),
    _f("account_industry", "a.industry", "account_profile", "CRM industry", "categorical"),
    _f("account_region", "a.region", "account_profile", "CRM region", "categorical"),
    _f("account_arr", "a.arr", "account_arr", "annual recurring revenue (as in the CRM)"),
    _f("account_employees", "a.employees", "account_employees", "employees (as in the CRM)"),
    _f(
        "account_tenure_days",
        "days_between(a.created_at, p.t)",
        "account_profile",
        "days a customer at t",
    ),
    _f(
        "account_days_to_renewal",
        "days_between(p.t, a.renewal_date)",
        "account_renewal",
        "days from t to the renewal date (negative when past; NaN when unknown)",
    ),
)


def relation(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Account features for every (contact_id, t) of `points` (from its account_id)."""
    return con.sql(
        f"""
        SELECT p.contact_id, p.t, {select_sql(FEATURES)}
        FROM (SELECT DISTINCT contact_id, account_id, t FROM {points}) p
        LEFT JOIN accounts a USING (account_id)
        """
    )
