"""Training labels: which past asks were answered, which advocates burned out.

p_advocate: an ask is a yes if completed within `windows.response_window_days` of its
request. p_burnout: an active advocate at snapshot s burns out if they opt out or give a
detractor NPS (`features.nps.DETRACTOR_MAX`, the features' definition) within
`windows.burnout_horizon_days` after s.

Both label sets only use outcomes that were known before T, so they are the same whether
the files hold rows after T or not. Rules live in `features.state` (`advocate_label`,
`burnout_event_in`, ...); this module picks the rows.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd

from advocacy.features import nps
from advocacy.features.state import as_of_date, register_state, timestamp_sql
from advocacy.settings import Settings

BURNOUT_COLUMNS = ("contact_id", "account_id", "t", "label")


def advocate_label_sql(as_of: date, settings: Settings) -> str:
    """One row per past ask whose response window closed before T (cancelled left out).

    t is the ask's requested_at; only asks from the last `advocate_lookback_days` days.
    """
    w = settings.windows
    T = timestamp_sql(as_of)
    return f"""
        SELECT x.contact_id, c.account_id, x.activity_id, x.activity_type,
               x.requested_at AS t, label
        FROM (
            SELECT *, advocate_label(status, requested_at, completed_at,
                                     {int(w.response_window_days)}, {T}) AS label
            FROM advocacy_activities
        ) x JOIN contacts c USING (contact_id)
        WHERE label IS NOT NULL
          AND NOT happened_before(x.requested_at, {T} - days_span({int(w.advocate_lookback_days)}))
    """


def snapshot_grid(as_of: date, settings: Settings) -> list[date]:
    """Burnout snapshots s_k = T - horizon - k * spacing (k >= 0), anchored on T.

    Anchoring on T makes the newest snapshot's horizon end exactly at T, so every label
    window is closed; the grid reaches back to T - burnout_lookback_days.
    """
    w = settings.windows
    T = as_of_date(as_of)
    first = T - timedelta(days=w.burnout_horizon_days)
    oldest = T - timedelta(days=w.burnout_lookback_days)
    grid: list[date] = []
    s = first
    while s >= oldest:
        grid.append(s)
        s -= timedelta(days=w.snapshot_spacing_days)
    return grid


def burnout_label_sql(as_of: date, settings: Settings) -> str:
    """(contact, snapshot s) rows for active advocates at s; label = burnout in (s, s+h]."""
    w = settings.windows
    T = timestamp_sql(as_of)
    grid = snapshot_grid(as_of, settings)
    if not grid:
        return (
            "SELECT CAST(NULL AS VARCHAR) AS contact_id, CAST(NULL AS VARCHAR) AS account_id, "
            "CAST(NULL AS TIMESTAMP) AS t, CAST(NULL AS INTEGER) AS label LIMIT 0"
        )
    grid_sql = ", ".join(f"(TIMESTAMP '{s.isoformat()} 00:00:00')" for s in grid)
    h = int(w.burnout_horizon_days)
    return f"""
        WITH grid(s) AS (VALUES {grid_sql}),
        first_done AS (  -- a completed activity before s <=> the first one is before s
            SELECT contact_id, min(completed_at) AS first_done FROM advocacy_activities
            WHERE activity_completed_before(status, completed_at, {T})
            GROUP BY contact_id
        ),
        done AS (
            SELECT f.contact_id, g.s FROM first_done f JOIN grid g
            ON activity_completed_before('completed', f.first_done, g.s)
        ),
        active AS (
            SELECT c.contact_id, c.account_id, d.s, c.advocacy_opt_out_at
            FROM done d JOIN contacts c USING (contact_id) JOIN accounts a USING (account_id)
            WHERE created_before(c.created_at, d.s) AND created_before(a.created_at, d.s)
              AND NOT opted_out_before(c.advocacy_opt_out_at, d.s)
              AND NOT churned_before(a.churned_at, d.s)
        ),
        detractor AS (
            SELECT DISTINCT a.contact_id, a.s FROM active a JOIN nps_responses r USING (contact_id)
            WHERE r.score <= {nps.DETRACTOR_MAX}
              AND burnout_event_in(r.responded_at, a.s, {h}, {T})
        )
        SELECT a.contact_id, a.account_id, a.s AS t,
               CAST(burnout_event_in(a.advocacy_opt_out_at, a.s, {h}, {T})
                    OR d.contact_id IS NOT NULL AS INTEGER) AS label
        FROM active a LEFT JOIN detractor d USING (contact_id, s)
    """


def advocate_label_rows(
    con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings
) -> pd.DataFrame:
    """p_advocate label rows: contact_id, account_id, activity_id, activity_type, t, label."""
    register_state(con)
    sql = advocate_label_sql(as_of, settings)
    return con.sql(f"SELECT * FROM ({sql}) ORDER BY t, activity_id").df()


def burnout_label_rows(
    con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings
) -> pd.DataFrame:
    """p_burnout label rows: contact_id, account_id, t (the snapshot s), label."""
    register_state(con)
    sql = burnout_label_sql(as_of, settings)
    return con.sql(f"SELECT * FROM ({sql}) ORDER BY t, contact_id").df()


def unprompted_acts(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Acts done without an ask (requested_at null), completed before T."""
    register_state(con)
    return con.sql(
        f"""
        SELECT contact_id, activity_id, activity_type, completed_at
        FROM advocacy_activities
        WHERE requested_at IS NULL
          AND activity_completed_before(status, completed_at, {timestamp_sql(as_of)})
        ORDER BY completed_at, activity_id
        """
    ).df()
