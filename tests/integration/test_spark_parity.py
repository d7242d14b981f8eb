"""The feature SQL on Spark (pyspark local[2]) gives the DuckDB path's frames.

One tiny generated world, one Spark session for the module; each builder the weekly job
calls (pipelines/job.py `build_rows`) runs on both engines and the frames must match: the
same rows in the same order, the same columns and dtypes, numbers within 1e-9, the same NaN
pattern, the same categoricals and ids.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark")
pytest.importorskip("sqlglot")

from advocacy.data_contracts.load import connect
from advocacy.features import build, facts
from advocacy.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]

AS_OF = date(2026, 11, 23)
CONTACTS, SEED = 400, 3
SETTINGS = Settings.model_validate(
    {
        "spark": {
            "master": "local[2]",
            "shuffle_partitions": 2,
            "conf": {"spark.ui.enabled": "false", "spark.driver.memory": "1g"},
        }
    }
)
BUILDERS = {
    "advocate": lambda con: build.build_advocate_training(con, AS_OF, SETTINGS),
    "burnout": lambda con: build.build_burnout_training(con, AS_OF, SETTINGS),
    "scoring": lambda con: build.build_scoring(con, AS_OF, SETTINGS),
    "eligibility": lambda con: facts.eligibility_facts(con, AS_OF, SETTINGS),
    "reference": lambda con: build.build_reference(con, AS_OF, SETTINGS, 28),
    "decided_asks": lambda con: facts.ask_history(con, AS_OF, SETTINGS).decided_asks,
    "unprompted": lambda con: facts.ask_history(con, AS_OF, SETTINGS).unprompted,
}


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """(DuckDB connection, SparkConnection, data folder) over the same generated world."""
    from advocacy.pipelines.spark_engine import spark_connection
    from advocacy.synthetic.world import generate

    data = tmp_path_factory.mktemp("spark_world")
    generate(data, contacts=CONTACTS, seed=SEED, as_of=AS_OF)
    duck = connect(data)
    spark = spark_connection(data, SETTINGS)
    spark.spark.sparkContext.setLogLevel("ERROR")
    yield duck, spark, data
    spark.close()
    duck.close()


def assert_same_frame(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    """Same columns, dtypes and row order; numbers within 1e-9 with the same NaNs."""
    assert list(got.columns) == list(expected.columns)
    assert dict(got.dtypes) == dict(expected.dtypes)
    assert len(got) == len(expected) > 0
    for name in expected.columns:
        a, b = expected[name], got[name]
        if pd.api.types.is_bool_dtype(a) or not pd.api.types.is_numeric_dtype(a):
            assert a.isna().tolist() == b.isna().tolist(), name
            assert a.dropna().tolist() == b.dropna().tolist(), name
            continue
        x, y = a.to_numpy(dtype="float64"), b.to_numpy(dtype="float64")
        assert np.array_equal(np.isnan(x), np.isnan(y)), name
        known = ~np.isnan(x)
        diff = np.max(np.abs(x[known] - y[known]), initial=0.0)
        assert diff <= 1e-9, (name, diff)


@pytest.mark.parametrize("builder", list(BUILDERS))
def test_spark_frames_equal_duckdb_frames(engines, builder):
    duck, spark, _ = engines
    assert_same_frame(BUILDERS[builder](duck), BUILDERS[builder](spark))


def test_temp_tables_are_dropped_and_macros_need_no_registration(engines):
    _, spark, _ = engines
    spark.execute("CREATE TEMP TABLE _parity_probe AS SELECT seen_at(1, 2) AS x")
    assert spark.execute("SELECT x FROM _parity_probe").fetchall() == [(True,)]
    spark.execute("DROP TABLE IF EXISTS _parity_probe")
    assert not spark.spark.catalog.tableExists("_parity_probe")
    assert spark.execute("CREATE OR REPLACE TEMP MACRO f(x) AS (x)").fetchall() == []


def test_tables_named_in_settings_are_read_instead_of_files(engines):
    from advocacy.pipelines.spark_engine import register_spark_views

    _, spark, data = engines
    session = spark.spark
    session.sql("SELECT * FROM contacts WHERE persona = 'champion'").createOrReplaceTempView(
        "_crm_champions"
    )
    register_spark_views(session, data, {"contacts": "_crm_champions"})
    try:
        got = session.sql("SELECT DISTINCT persona FROM contacts").collect()
        assert [r.persona for r in got] == ["champion"]
    finally:
        register_spark_views(session, data)  # the folder's files again


def test_master_comes_from_settings_then_the_environment(monkeypatch):
    from advocacy.pipelines.spark_engine import MASTER_ENV, spark_master

    monkeypatch.delenv(MASTER_ENV, raising=False)
    assert spark_master(Settings()) == "local[*]"
    monkeypatch.setenv(MASTER_ENV, "spark://head:7077")
    assert spark_master(Settings()) == "spark://head:7077"
    assert spark_master(SETTINGS) == "local[2]"
