"""The program's health per week, and the value of this week's list in plain words.

Weeks end at T, T - 7 days, ... (`week_end` excluded, `week_start` = week_end - 7 days), the
last `PROGRAM_WEEKS` of them that end after the first ask or activity. Every measure at a week
reads only rows before T (the macros of `features.state`); one DuckDB query per family:
- advocates: `active_advocates` at week_end (a completed activity before it, not opted out,
  account not churned: the burnout label's "active"), `new_advocates` (first completed
  activity in the week), `opt_outs` (advocacy opt-outs in the week);
- asks: `asks_made` in the week; `asks_answered` / `asks_yes`: of those, the ones whose label
  (labels.py: yes = completed within `windows.response_window_days`) is settled at T and its
  yeses; `acceptance_rate` overall and `acceptance_rate_<type>` per activity type (empty when
  nothing is settled yet: never a guess) with their `asks_answered_<type>`, `asks_yes_<type>`;
  `completed_<type>`: activities completed in the week (asked or not);
- use: over the `USE_WINDOW_DAYS` (90) days before week_end, `over_used_90d` counts people asked
  more often than the asked-recently rule allows (`eligibility.recent_ask_days`: at most
  ceil(90 / recent_ask_days) asks fit; empty when the rule is off) and `top10_share_90d` is the
  share of the asks that went to the top 10% of the asked contacts (most asks first, at least
  one person);
- pool (this run only): eligible contacts with `p_advocate` >= `LIKELY_YES_P` never asked.
"""

from __future__ import annotations

import logging
import math
from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd

from advocacy.data_contracts.tables import ACTIVITY_TYPES
from advocacy.features.state import register_state, timestamp_sql
from advocacy.models.baselines import nps_heuristic
from advocacy.models.targets import ADVOCATE
from advocacy.policy import ranking
from advocacy.settings import Settings

log = logging.getLogger(__name__)

PROGRAM_WEEKS = 52
USE_WINDOW_DAYS = 90
TOP_SHARE = 0.10  # "the same few people": the top 10% of the asked contacts
LIKELY_YES_P = 0.5  # "likely yes": more likely to say yes than not
WEEK_COLUMNS = ("week_start", "week_end")
COUNT_COLUMNS = (
    "active_advocates", "new_advocates", "opt_outs", "asks_made", "asks_answered", "asks_yes",
    "acceptance_rate", "over_used_90d", "top10_share_90d",
)  # fmt: skip
TYPE_COLUMNS = tuple(
    f"{measure}_{t}"
    for measure in ("acceptance_rate", "asks_answered", "asks_yes", "completed")
    for t in ACTIVITY_TYPES
)
POOL_COLUMN = "likely_yes_never_asked"  # filled on the week ending at T only
PROGRAM_COLUMNS = (*WEEK_COLUMNS, *COUNT_COLUMNS, POOL_COLUMN, *TYPE_COLUMNS)


def week_ends(
    con: duckdb.DuckDBPyConnection, as_of: date, weeks: int = PROGRAM_WEEKS
) -> list[date]:
    """T, T - 7, ... oldest first: at most `weeks`, none ending before the first ask/activity."""
    T = timestamp_sql(as_of)
    first = con.execute(
        "SELECT min(coalesce(requested_at, completed_at)) FROM advocacy_activities "
        f"WHERE coalesce(requested_at, completed_at) < {T}"
    ).fetchall()[0][0]
    if first is None:
        return []
    ends = [as_of - timedelta(days=7 * k) for k in range(weeks)]
    return sorted(d for d in ends if pd.Timestamp(d) > pd.Timestamp(first))


def _grid_sql(ends: list[date]) -> str:
    rows = ", ".join(f"({timestamp_sql(d)})" for d in ends)
    return f"grid(week_end) AS (SELECT week_end FROM (VALUES {rows}) v(week_end))"


def _advocates_sql(grid: str, T: str) -> str:
    return f"""
        WITH {grid},
        first_done AS (
            SELECT contact_id, min(completed_at) AS first_done FROM advocacy_activities
            WHERE activity_completed_before(status, completed_at, {T}) GROUP BY contact_id
        ),
        people AS (
            SELECT f.first_done, c.advocacy_opt_out_at, c.created_at, a.created_at AS acc_created,
                   a.churned_at
            FROM first_done f JOIN contacts c USING (contact_id) JOIN accounts a USING (account_id)
        ),
        advocates AS (
            SELECT g.week_end,
                   count(*) FILTER (WHERE happened_before(p.first_done, g.week_end)
                       AND created_before(p.created_at, g.week_end)
                       AND created_before(p.acc_created, g.week_end)
                       AND NOT opted_out_before(p.advocacy_opt_out_at, g.week_end)
                       AND NOT churned_before(p.churned_at, g.week_end)) AS active_advocates,
                   count(*) FILTER (WHERE within_days(p.first_done, g.week_end, 7)) AS new_advocates
            FROM grid g CROSS JOIN people p GROUP BY g.week_end
        ),
        opt AS (
            SELECT g.week_end, count(c.contact_id) AS opt_outs
            FROM grid g LEFT JOIN contacts c ON within_days(c.advocacy_opt_out_at, g.week_end, 7)
            GROUP BY g.week_end
        )
        SELECT g.week_end, coalesce(a.active_advocates, 0) AS active_advocates,
               coalesce(a.new_advocates, 0) AS new_advocates, o.opt_outs
        FROM grid g LEFT JOIN advocates a USING (week_end) JOIN opt o USING (week_end)
    """


def _asks_sql(grid: str, T: str, window_days: int) -> str:
    per_type = []
    for t in ACTIVITY_TYPES:
        of_type = f"asked AND activity_type = '{t}'"
        per_type.append(
            f"count(*) FILTER (WHERE {of_type} AND label = 1) / "
            f"nullif(count(*) FILTER (WHERE {of_type} AND label IS NOT NULL), 0) "
            f"AS acceptance_rate_{t}"
        )
        per_type.append(
            f"count(*) FILTER (WHERE {of_type} AND label IS NOT NULL) AS asks_answered_{t}"
        )
        per_type.append(f"count(*) FILTER (WHERE {of_type} AND label = 1) AS asks_yes_{t}")
        per_type.append(f"count(*) FILTER (WHERE done AND activity_type = '{t}') AS completed_{t}")
    return f"""
        WITH {grid},
        acts AS (
            SELECT g.week_end, x.activity_type,
                   within_days(x.requested_at, g.week_end, 7) AS asked,
                   within_days(x.completed_at, g.week_end, 7) AND x.status = 'completed' AS done,
                   advocate_label(x.status, x.requested_at, x.completed_at, {int(window_days)}, {T})
                       AS label
            FROM grid g JOIN advocacy_activities x
              ON within_days(x.requested_at, g.week_end, 7)
              OR (x.status = 'completed' AND within_days(x.completed_at, g.week_end, 7))
        )
        SELECT g.week_end,
               count(a.week_end) FILTER (WHERE asked) AS asks_made,
               count(*) FILTER (WHERE asked AND label IS NOT NULL) AS asks_answered,
               count(*) FILTER (WHERE asked AND label = 1) AS asks_yes,
               count(*) FILTER (WHERE asked AND label = 1)
                   / nullif(count(*) FILTER (WHERE asked AND label IS NOT NULL), 0)
                   AS acceptance_rate,
               {", ".join(per_type)}
        FROM grid g LEFT JOIN acts a USING (week_end) GROUP BY g.week_end
    """


def _use_sql(grid: str, cap: int | None) -> str:
    over = f"count(*) FILTER (WHERE n > {cap})" if cap is not None else "CAST(NULL AS BIGINT)"
    return f"""
        WITH {grid},
        per_person AS (
            SELECT g.week_end, x.contact_id, count(*) AS n
            FROM grid g JOIN advocacy_activities x
              ON asked_within(x.requested_at, g.week_end, {USE_WINDOW_DAYS})
            GROUP BY g.week_end, x.contact_id
        ),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY week_end ORDER BY n DESC, contact_id) AS r,
                   count(*) OVER (PARTITION BY week_end) AS people,
                   sum(n) OVER (PARTITION BY week_end) AS asks
            FROM per_person
        ),
        use AS (
            SELECT week_end, {over} AS over_used_90d,
                   sum(n) FILTER (WHERE r <= ceil({TOP_SHARE} * people)) / max(asks)
                       AS top10_share_90d
            FROM ranked GROUP BY week_end
        )
        SELECT g.week_end, coalesce(u.over_used_90d, {0 if cap is not None else "NULL"})
                   AS over_used_90d, u.top10_share_90d
        FROM grid g LEFT JOIN use u USING (week_end)
    """


def asks_allowed(settings: Settings) -> int | None:
    """The most asks the asked-recently rule lets one person get in USE_WINDOW_DAYS (None: off)."""
    days = settings.eligibility.recent_ask_days
    return math.ceil(USE_WINDOW_DAYS / days) if days > 0 else None


def program_health(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    settings: Settings,
    scores: pd.DataFrame | None = None,
    weeks: int = PROGRAM_WEEKS,
) -> pd.DataFrame:
    """One row per week (`PROGRAM_COLUMNS`, oldest first); `scores` (this run's) fills the pool."""
    register_state(con)
    ends = week_ends(con, as_of, weeks)
    if not ends:
        return pd.DataFrame(columns=list(PROGRAM_COLUMNS))
    grid, T = _grid_sql(ends), timestamp_sql(as_of)
    parts = [
        con.sql(_advocates_sql(grid, T)).df(),
        con.sql(_asks_sql(grid, T, settings.windows.response_window_days)).df(),
        con.sql(_use_sql(grid, asks_allowed(settings))).df(),
    ]
    out = parts[0]
    for part in parts[1:]:
        out = out.merge(part, on="week_end", how="left", validate="one_to_one")
    out = out.sort_values("week_end").reset_index(drop=True)
    out["week_start"] = (out["week_end"] - pd.Timedelta(days=7)).dt.date
    out["week_end"] = out["week_end"].dt.date
    out[POOL_COLUMN] = pd.array([pd.NA] * len(out), dtype="Int64")
    if scores is not None:
        out.loc[out.index[-1], POOL_COLUMN] = likely_yes_never_asked(con, scores, as_of)
    return _typed(out[list(PROGRAM_COLUMNS)])


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts as nullable integers, rates as floats rounded to 4 places."""
    out = frame.copy()
    for col in out.columns[2:]:
        if "rate" in col or "share" in col:
            out[col] = pd.to_numeric(out[col]).astype("float64").round(4)
        else:
            out[col] = pd.to_numeric(out[col]).astype("Int64")
    return out


def likely_yes_never_asked(
    con: duckdb.DuckDBPyConnection, scores: pd.DataFrame, as_of: date
) -> int:
    """Eligible contacts with p_advocate >= LIKELY_YES_P who were never asked before T."""
    register_state(con)
    pool = scores.loc[scores["eligible"].astype(bool) & (scores["p_advocate"] >= LIKELY_YES_P)]
    con.register("_pool", pool[["contact_id"]].astype(str))
    try:
        T = timestamp_sql(as_of)
        sql = (
            "SELECT count(*) FROM _pool p WHERE NOT EXISTS (SELECT 1 FROM advocacy_activities x "
            f"WHERE x.contact_id = p.contact_id AND ask_made_before(x.requested_at, {T}))"
        )
        return int(con.execute(sql).fetchall()[0][0])
    finally:
        con.unregister("_pool")


def program_summary(program: pd.DataFrame, settings: Settings) -> dict[str, Any]:
    """run.json's `program`: the week ending at T, the definitions' numbers (counts only)."""
    latest = program.iloc[-1].to_dict() if len(program) else {}
    return {
        "weeks": len(program),
        "latest_week": {k: _json_value(v) for k, v in latest.items()},
        "asks_allowed_90d": asks_allowed(settings),
        "likely_yes_p": LIKELY_YES_P,
        "top_share": TOP_SHARE,
    }


def _json_value(value: Any) -> Any:
    """NA -> None, a date -> ISO text, numbers as plain int / float."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return float(value) if isinstance(value, float) else int(value)


# ---------------------------------------------------------------- value in plain words
def nps_rule_list(ranked: pd.DataFrame, features: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The list the NPS rule would pick under the same rules: same eligibility, per-account cap
    and length, ranked by the rule (latest NPS / 10; unknown NPS: the population's mean
    p_advocate, the rule's base rate; ties by contact_id) instead of priority."""
    nps = ranked[["contact_id"]].merge(
        features[["contact_id", "nps_latest"]], on="contact_id", how="left", validate="one_to_one"
    )
    base_rate = float(ranked[ADVOCATE.score_column].mean()) if len(ranked) else 0.0
    by_rule = ranked.assign(_rule=nps_heuristic(nps, ADVOCATE.nps_direction, base_rate))
    by_rule = by_rule.sort_values(
        ["_rule", "contact_id"], ascending=[False, True], kind="mergesort"
    )
    return ranking.shortlist(by_rule.drop(columns="_rule"), settings)


def value_vs_nps_rule(
    ranked: pd.DataFrame,
    features: pd.DataFrame,
    settings: Settings,
    listed: pd.Series | None = None,
) -> dict[str, Any]:
    """Expected yeses (sum of p_advocate) of this week's list and of the NPS rule's list.

    `listed`: the contact_ids this week's list holds (the ask plan's); None: the top of
    `ranked` by priority under the cap and length.
    """
    col = ADVOCATE.score_column
    if listed is None:
        ours = ranking.shortlist(ranked, settings)
    else:
        ours = ranked[ranked["contact_id"].isin(listed)]
    theirs = nps_rule_list(ranked, features, settings)
    mine, rule = float(ours[col].sum()), float(theirs[col].sum())
    return {
        "expected_yes": round(mine, 2), "expected_yes_nps_rule": round(rule, 2),
        "listed": len(ours), "listed_nps_rule": len(theirs),
        "overlap": int(ours["contact_id"].isin(theirs["contact_id"]).sum()),
        "words": f"this list: {mine:.0f} expected yeses; the latest promoters instead: {rule:.0f}",
    }  # fmt: skip
