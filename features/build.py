"""Feature frames for training and scoring: one engine, any points in time.

Every builder turns its rows into a *points* table (contact_id, account_id, t, extras) and
hands it to the same `features_for_points`, so a training row at t and a scoring row at T
are computed by the same code (docs/design.md "Frames"). Streams are cached per connection, so
the four builders of one run scan usage_events once.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date, timedelta

import duckdb
import pandas as pd

from advocacy.features import registry
from advocacy.features.labels import advocate_label_sql, burnout_label_sql
from advocacy.features.state import as_of_date, register_state, timestamp_sql
from advocacy.settings import Settings

log = logging.getLogger(__name__)

KEYS = ("contact_id", "account_id", "t")
ADVOCATE_EXTRAS = ("label", "activity_id", "activity_type")


def _temp_name(prefix: str) -> str:
    return f"_{prefix}_{uuid.uuid4().hex[:12]}"


def _to_frame_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric features float64, categoricals str (missing = NaN), ids str (docs/design.md)."""
    for name in registry.numeric_features():
        frame[name] = frame[name].astype("float64")
    for name in (*registry.categorical_features(), "contact_id", "account_id"):
        frame[name] = frame[name].astype("str").where(frame[name].notna())
    return frame


def features_for_points(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings, order: str
) -> pd.DataFrame:
    """The feature frame for a points table (contact_id, account_id, t, extras...).

    Keys first, then the features in registry order, then the table's extra columns.
    """
    register_state(con)
    tables: list[str] = []
    try:
        for family in registry.FAMILIES:  # one query per family, each planned on its own
            name, start = _temp_name("family"), time.perf_counter()
            relation = family.relation(con, points, as_of, settings)
            con.execute(f"CREATE TEMP TABLE {name} AS {relation.sql_query()}")
            tables.append(name)
            log.debug("family %s: %.2fs", family.__name__, time.perf_counter() - start)
        extras = [c for c in con.sql(f"SELECT * FROM {points}").columns if c not in KEYS]
        joins = " ".join(
            f"LEFT JOIN {v} ON {v}.contact_id = p.contact_id AND {v}.t = p.t" for v in tables
        )
        cols = ", ".join([*(f"p.{k}" for k in KEYS), *registry.feature_names(), *extras])
        query = f"SELECT {cols} FROM {points} p {joins} ORDER BY {order}"
        frame = con.sql(query).to_arrow_table().to_pandas()  # faster than .df() for 1M rows
    finally:
        for name in tables:
            con.execute(f"DROP TABLE IF EXISTS {name}")
    return _to_frame_dtypes(frame)


def _with_points(
    con: duckdb.DuckDBPyConnection, sql: str, as_of: date, settings: Settings, order: str
) -> pd.DataFrame:
    register_state(con)
    table = _temp_name("points")
    con.execute(f"CREATE TEMP TABLE {table} AS {sql}")
    try:
        return features_for_points(con, table, as_of, settings, order)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def build_features(
    con: duckdb.DuckDBPyConnection, points_df: pd.DataFrame, as_of: date, settings: Settings
) -> pd.DataFrame:
    """Features for arbitrary points (contact_id, account_id, t <= T); extra columns kept."""
    missing = [k for k in KEYS if k not in points_df.columns]
    if missing:
        raise ValueError(f"points frame lacks columns {missing}")
    T = as_of_date(as_of)
    if len(points_df) and pd.Timestamp(points_df["t"].max()) > pd.Timestamp(T):
        raise ValueError(f"points after as_of {T} cannot be described with data before it")
    name = _temp_name("points_df")
    con.register(name, points_df)
    try:
        extras = [c for c in points_df.columns if c not in KEYS]
        sql = (
            "SELECT CAST(contact_id AS VARCHAR) AS contact_id, "
            "CAST(account_id AS VARCHAR) AS account_id, CAST(t AS TIMESTAMP) AS t"
            + "".join(f', "{c}"' for c in extras)
            + f" FROM {name}"
        )
        return _with_points(con, sql, T, settings, "t, contact_id")
    finally:
        con.unregister(name)


def build_advocate_training(
    con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings
) -> pd.DataFrame:
    """p_advocate rows: one per decided past ask, features as of its requested_at."""
    register_state(con)
    sql = advocate_label_sql(as_of, settings)
    frame = _with_points(con, sql, as_of, settings, "t, activity_id")
    frame["label"] = frame["label"].astype("int64")
    first = [c for c in frame.columns if c not in ADVOCATE_EXTRAS]
    frame = frame[[*first, *ADVOCATE_EXTRAS]]
    log.info("advocate training rows: %d (positives %d)", len(frame), frame["label"].sum())
    return frame


def build_burnout_training(
    con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings
) -> pd.DataFrame:
    """p_burnout rows: (active advocate, snapshot s), features as of s."""
    register_state(con)
    sql = burnout_label_sql(as_of, settings)
    frame = _with_points(con, sql, as_of, settings, "t, contact_id")
    frame["label"] = frame["label"].astype("int64")
    log.info("burnout training rows: %d (positives %d)", len(frame), frame["label"].sum())
    return frame


def scoring_population_sql(as_of: date) -> str:
    """Contacts created before T whose account exists, was created before T, not churned."""
    T = timestamp_sql(as_of)
    return f"""
        SELECT c.contact_id, c.account_id, {T} AS t
        FROM contacts c JOIN accounts a USING (account_id)
        WHERE created_before(c.created_at, {T}) AND created_before(a.created_at, {T})
          AND NOT churned_before(a.churned_at, {T})
    """


# Contacts in the drift reference (a seeded sample of the population at the reference date).
REFERENCE_ROWS = 50_000


def build_reference(
    con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings, days: int
) -> pd.DataFrame:
    """The scoring population as it was `days` before T (a seeded sample of at most
    `REFERENCE_ROWS`), with its features then: what drift compares this week's rows with.
    Features at t = T - days read only rows before that t, like any training row."""
    register_state(con)
    t = as_of_date(as_of) - timedelta(days=days)
    sample = f"""
        SELECT * FROM ({scoring_population_sql(t)})
        ORDER BY md5(contact_id), contact_id LIMIT {REFERENCE_ROWS}
    """  # md5: the same seeded-looking order on DuckDB and Spark (their hash() differ)
    frame = _with_points(con, sample, as_of, settings, "contact_id")
    log.info("drift reference rows at %s: %d", t, len(frame))
    return frame


def build_scoring(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> pd.DataFrame:
    """The scoring population at T with its features (t = T for every row)."""
    register_state(con)
    frame = _with_points(con, scoring_population_sql(as_of), as_of, settings, "contact_id")
    log.info("scoring rows: %d", len(frame))
    return frame
