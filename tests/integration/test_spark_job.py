"""The weekly job with `engine.name: spark` publishes what the DuckDB job publishes.

Features on Spark (features/dialect.py through pipelines/spark_engine.py), champions trained
on the collected rows exactly as on DuckDB, scores through `mlflow.pyfunc.spark_udf` and
reasons in `mapInPandas` (models/spark_score.py): the list, the scores, the advocates and the
program file must be the same bytes or the same values. Real pyspark `local[2]`, real MLflow.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("pyspark")

from advocacy.models import tracking
from advocacy.pipelines import job
from advocacy.settings import Settings, SparkSettings
from tests.model_frames import SMALL_WORLD_PROMOTION

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]

SMALL_WORLD = SMALL_WORLD_PROMOTION  # boosters, not the NPS-rule fallback
SAME_BYTES = ("candidates.csv", "program.csv", "matches.csv")
SAME_VALUES = ("scores.parquet", "advocates.parquet")


def _publish(engine: str, data: Path, root: Path, as_of, monkeypatch) -> Path:
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv(tracking.TRACKING_ENV, f"sqlite:///{root / 'mlflow.db'}")
    settings = Settings(
        promotion=SMALL_WORLD, spark=SparkSettings(master="local[2]", shuffle_partitions=2)
    )
    settings = job.with_engine(job.with_new_store(settings), engine)
    inputs = job.JobInputs(
        data=data, as_of=as_of, settings=settings, out_dir=root / "out", docs_dir=root / "docs"
    )
    return job.weekly_job(inputs).published


def test_the_weekly_job_on_spark_publishes_what_duckdb_publishes(
    world_dir, as_of, tmp_path, monkeypatch
):
    duck = _publish("duckdb", world_dir, tmp_path / "duckdb", as_of, monkeypatch)
    spark = _publish("spark", world_dir, tmp_path / "spark", as_of, monkeypatch)
    for name in SAME_BYTES:
        assert (spark / name).read_bytes() == (duck / name).read_bytes(), name
    for name in SAME_VALUES:
        pd.testing.assert_frame_equal(pd.read_parquet(spark / name), pd.read_parquet(duck / name))
    scores = pd.read_parquet(duck / "scores.parquet")
    assert scores["reasons"].notna().any()  # reasons were computed, and match
    assert len(pd.read_csv(duck / "candidates.csv")) > 0
