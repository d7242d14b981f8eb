"""The feature builders on Spark: a session from settings, the typed input views, and a
connection with the few DuckDB connection methods the builders call.

The builders (features/build.py, facts.py, labels.py) write DuckDB SQL; `SparkConnection`
runs each statement through `features.dialect.to_spark`, so the same text defines the
features on both engines (docs/scale-out.md). Needs the `spark` extra (pyspark, sqlglot).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from advocacy.data_contracts.load import find_table_file, has_table_file, is_text, typed_select
from advocacy.data_contracts.tables import OPTIONAL_TABLES, TABLES
from advocacy.features.dialect import is_macro_definition, staged, temp_table, to_spark
from advocacy.settings import Settings

log = logging.getLogger(__name__)

MASTER_ENV = "ADVOCACY_SPARK_MASTER"
DEFAULT_MASTER = "local[*]"
# The session settings parity needs: naive UTC timestamps like DuckDB's, Arrow transfers.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",  # NULL (as DuckDB) rather than an error on x / 0
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}


# local[*]: the driver is the executor, and Spark's 1g default runs out of aggregation memory
# at 100k contacts; spark.conf sets another size (it must be set before the JVM starts).
LOCAL_DRIVER_MEMORY = ("spark.driver.memory", "4g")
LOG_LEVEL_ENV = "ADVOCACY_SPARK_LOG_LEVEL"  # e.g. WARN or INFO to debug a Spark run
# Errors only from the driver JVM's start (set before it starts; spark.conf can replace it).
QUIET_JVM = f"-Dlog4j2.configurationFile=file:{Path(__file__).with_name('spark_log4j2.properties')}"


def spark_master(settings: Settings) -> str:
    """settings.spark.master, else the env variable ADVOCACY_SPARK_MASTER, else local[*]."""
    return settings.spark.master or os.environ.get(MASTER_ENV) or DEFAULT_MASTER


def spark_session(settings: Settings) -> Any:
    """The Spark session of the run (an existing one is reused and reconfigured).

    A master starting with sc:// is a Spark Connect server; anything else is spark.master.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers need this venv's pandas
    s = settings.spark
    master = spark_master(settings)
    builder = SparkSession.builder.appName(s.app_name)
    builder = builder.remote(master) if master.startswith("sc://") else builder.master(master)
    local = {LOCAL_DRIVER_MEMORY[0]: LOCAL_DRIVER_MEMORY[1]} if master.startswith("local") else {}
    quiet = {} if os.environ.get(LOG_LEVEL_ENV) else {"spark.driver.extraJavaOptions": QUIET_JVM}
    conf = {
        **SESSION_CONF, **local, **quiet,
        "spark.sql.shuffle.partitions": str(s.shuffle_partitions), **s.conf,
    }  # fmt: skip
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if not master.startswith("sc://"):  # Spark's WARN lines (window plans, ...) are not the user's
        spark.sparkContext.setLogLevel(os.environ.get(LOG_LEVEL_ENV, "ERROR"))
    for key, value in conf.items():  # a reused session gets the run's SQL settings too
        if key.startswith("spark.sql."):
            spark.conf.set(key, value)
    log.info("spark session: %s (%s shuffle partitions)", master, s.shuffle_partitions)
    return spark


def register_spark_views(
    spark: Any, data_dir: Path | str, tables: dict[str, str] | None = None
) -> None:
    """A typed temp view per input table, the same columns and types as DuckDB's views
    (`data_contracts.load.typed_select`): from `tables[name]` (a Spark table) when given,
    else the folder's Parquet or CSV file. Optional tables only when present."""
    tables = tables or {}
    present = [n for n in OPTIONAL_TABLES if n in tables or has_table_file(data_dir, n)]
    contract = {**TABLES, **{n: OPTIONAL_TABLES[n] for n in present}}
    for name, table in contract.items():
        raw, text = _raw_frame(spark, data_dir, name, tables.get(name))
        source = f"_raw_{name}"
        raw.createOrReplaceTempView(source)
        spark.sql(to_spark(typed_select(table, source, text=text))).createOrReplaceTempView(name)
    log.debug("registered %d spark views over %s", len(contract), data_dir)


def _raw_frame(spark: Any, data_dir: Path | str, name: str, table: str | None) -> tuple[Any, bool]:
    """(the table's raw DataFrame, whether its values are text)."""
    if table:
        return spark.table(table), False
    path = find_table_file(data_dir, name)
    if is_text(path):
        return spark.read.csv(str(path), header=True, inferSchema=False), True
    return spark.read.parquet(str(path)), False


class SparkRelation:
    """The part of a DuckDB relation the builders use; the Spark query is planned lazily."""

    def __init__(self, spark: Any, text: str, params: Sequence[Any] | None = None) -> None:
        self._spark, self._text, self._params = spark, text, list(params or [])
        self._frame: Any = None

    @property
    def frame(self) -> Any:
        """The Spark DataFrame of the statement."""
        if self._frame is None:
            args = self._params or None
            self._frame = self._spark.sql(to_spark(self._text), args=args)
        return self._frame

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    def sql_query(self) -> str:
        """The DuckDB text (the builders nest it in other statements)."""
        return self._text

    def to_arrow_table(self) -> pa.Table:
        return self.frame.toArrow()

    def df(self) -> pd.DataFrame:
        return self.to_arrow_table().to_pandas()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.frame.collect()]


class _Rows:
    """A result already known in Python (a no-op statement, a catalog lookup)."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows


class SparkConnection:
    """The subset of `duckdb.DuckDBPyConnection` the feature builders call, on Spark.

    `CREATE TEMP TABLE x AS q` becomes a temp view over a local checkpoint (computed once);
    macro definitions are no-ops (`to_spark` expands every call); the temp-table lookup of
    `features.engine.cached_table` reads the session catalog. Temp views live in the Spark
    session, so `close` drops the ones this connection made (as closing DuckDB would).
    """

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self._registered: set[str] = set()  # pandas frames and temp tables, dropped on close

    def sql(self, text: str) -> SparkRelation:
        return SparkRelation(self.spark, text)

    def execute(self, text: str, params: Sequence[Any] | None = None) -> SparkRelation | _Rows:
        """Run a statement now (DDL) or return its rows' relation (queries)."""
        if is_macro_definition(text):
            return _Rows([])
        if "duckdb_tables()" in text:  # features.engine.cached_table: does the temp table exist
            name = str((params or [""])[0])
            return _Rows([(int(self.spark.catalog.tableExists(name)),)])
        name = temp_table(text)
        if name is not None:
            return self._materialise(name, text)
        relation = SparkRelation(self.spark, text, params)
        head = text.lstrip().split(None, 1)[0].upper()
        if head in ("CREATE", "DROP"):
            relation.frame  # noqa: B018 - Spark runs DDL when the statement is planned
        return relation

    def _materialise(self, name: str, create: str) -> _Rows:
        """A temp table: computed once, kept by the executors with its lineage cut off (later
        plans stay small), shown as a temp view. Its MATERIALIZED CTEs are computed first,
        once each (`features.dialect.staged`), and dropped once the table is built."""
        steps, query = staged(create, f"{name}_")
        for view, step in steps:
            self._checkpoint(view, step)
        self._checkpoint(name, query)
        self._registered.add(name)
        for view, _ in steps:
            self.spark.catalog.dropTempView(view)
        return _Rows([])

    def _checkpoint(self, name: str, query: str) -> None:
        self.spark.sql(query).localCheckpoint(eager=True).createOrReplaceTempView(name)

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """A pandas frame as a temp view (points for `build_features`, the shortlist's ids)."""
        self.spark.createDataFrame(frame).createOrReplaceTempView(name)
        self._registered.add(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)  # no error when already dropped
        self._registered.discard(name)

    def close(self) -> None:
        """Drop the views this connection made (the session stays for the run)."""
        for name in list(self._registered):
            self.unregister(name)


def spark_connection(data_dir: Path | str, settings: Settings) -> SparkConnection:
    """A `SparkConnection` over the data folder (or the Spark tables named in settings):
    usable wherever the job passes a DuckDB connection to the feature builders."""
    spark = spark_session(settings)
    register_spark_views(spark, data_dir, dict(settings.spark.tables))
    return SparkConnection(spark)


def spark_scores(
    features: pd.DataFrame, champions: Sequence[Any], explain: np.ndarray, settings: Settings
) -> pd.DataFrame:
    """`score.score_population`'s frame computed on Spark: the champions' pinned versions
    through `mlflow.pyfunc.spark_udf`, reasons for the `explain` rows in `mapInPandas`
    (models/spark_score.py), collected in the pandas path's row order."""
    from advocacy.models import spark_score

    spark = spark_session(settings)
    uris = {c.spec.name: spark_score.champion_uri(c.name, c.version) for c in champions}
    rows = spark.createDataFrame(features.assign(eligible=np.asarray(explain, dtype=bool)))
    rows = rows.persist()  # read by the scores, the reference sample and the reasons
    try:
        scored = spark_score.score_population_spark(rows, uris, settings, explain_col="eligible")
        frame = spark_score.collect_scores(scored)
    finally:
        rows.unpersist()
    order = pd.Index(frame["contact_id"]).get_indexer(features["contact_id"])
    return frame.iloc[order].reset_index(drop=True)
