"""Scoring on Spark gives the pandas path's scores and reasons, row for row.

Real champions are trained on the small generated world and registered in a temp MLflow
store; the scoring frame comes from DuckDB (`build_scoring`), goes to Spark as it is
(`createDataFrame`), and `score_population_spark` (spark_udf + mapInPandas, local[2]) is
compared with `score_population` on the same rows: same scores, same reasons, same None rows,
with the reference taken from every explained row and from a seeded sample of them.
"""

from __future__ import annotations

import functools
import os
import sys
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest

from advocacy.data_contracts.load import connect
from advocacy.features import registry
from advocacy.features.build import build_scoring
from advocacy.features.facts import eligibility_facts
from advocacy.models import score, spark_score, tracking
from advocacy.models.targets import ADVOCATE, TARGETS
from advocacy.models.train import fit_target
from advocacy.pipelines.job import eligible_rows
from advocacy.settings import Settings
from tests.model_frames import SMALL_WORLD_PROMOTION

pyspark = pytest.importorskip("pyspark")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]

SMALL_WORLD = SMALL_WORLD_PROMOTION  # boosters, not the NPS-rule fallback
SAMPLED_REFERENCE_ROWS = 300  # below the explained rows: the seeded-sample branch


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    # Python workers run PYSPARK_PYTHON (default: `python3` on PATH): this venv's, for pandas.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("advocacy-test-spark-score")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def scored_world(world_dir, as_of, tmp_path_factory):
    """Champions of every target (LightGBM), the scoring frame and its eligible mask."""
    settings = Settings(promotion=SMALL_WORLD)
    root = tmp_path_factory.mktemp("spark-score-store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(tracking.TRACKING_ENV, f"sqlite:///{root / 'mlflow.db'}")
        mp.chdir(root)
        con = connect(world_dir)
        try:
            frames = {s.name: (s, s.build_rows(con, as_of, settings)) for s in TARGETS}
            frame = build_scoring(con, as_of, settings)
            facts = eligibility_facts(con, as_of, settings)
        finally:
            con.close()
        tracking.configure_tracking(settings)
        for spec, rows in frames.values():
            fitted = fit_target(rows, spec, settings)
            tracking.log_and_promote(fitted, settings, as_of=as_of, data_fingerprint={})
        champions = {s.name: tracking.load_champion(s, settings) for s in TARGETS}
        mask = eligible_rows(SimpleNamespace(features=frame, eligibility=facts), settings)
        yield SimpleNamespace(
            settings=settings,
            frame=frame,
            eligible=mask.to_numpy(),
            models={n: c.model for n, c in champions.items()},
            uris={n: spark_score.champion_uri(c.name, c.version) for n, c in champions.items()},
            rankers={n: c.ranker for n, c in champions.items()},
        )
        mlflow.set_tracking_uri(None)


def _with_unknowns(frame: pd.DataFrame, share: float = 0.05) -> pd.DataFrame:
    """A copy with some categoricals and numerics unknown (null text, NaN), as real rows have."""
    out = frame.copy()
    rng = np.random.default_rng(5)
    for column in (*registry.categorical_features()[:2], "account_arr", "nps_latest"):
        out.loc[rng.random(len(out)) < share, column] = np.nan
    return out


def _both(world, spark, mask: np.ndarray | None, reference_rows: int, frame=None):
    frame = world.frame if frame is None else frame
    expected = score.score_population(
        frame,
        world.models,
        world.settings,
        explain_mask=mask,
        reference_mask=mask,
        reference_rows=reference_rows,
    )
    rows = spark.createDataFrame(frame)
    if mask is not None:  # decided on the driver, joined on as the explain flag
        rows = spark_score.flag_rows(rows, frame.loc[mask, "contact_id"].tolist())
    on_spark = spark_score.score_population_spark(
        rows,
        world.uris,
        world.settings,
        None if mask is None else "eligible",
        reference_rows=reference_rows,
    )
    return expected, spark_score.collect_scores(on_spark)


def _assert_same(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(got.columns) == score.score_columns()
    assert got["contact_id"].tolist() == expected["contact_id"].tolist()
    assert got["account_id"].tolist() == expected["account_id"].tolist()
    for spec in TARGETS:
        diff = np.abs(got[spec.score_column].to_numpy() - expected[spec.score_column].to_numpy())
        assert diff.max() <= 1e-12, spec.score_column
    want = [r if isinstance(r, str) else None for r in expected["reasons"]]
    have = [r if isinstance(r, str) else None for r in got["reasons"]]
    assert have == want


def test_champions_are_boosters(scored_world):
    assert set(scored_world.rankers.values()) == {"lightgbm"}


def test_eligible_get_the_pandas_scores_and_reasons(scored_world, spark):
    mask = scored_world.eligible
    assert 0 < mask.sum() < len(mask)  # some rows explained, some not
    expected, got = _both(scored_world, spark, mask, score.REFERENCE_ROWS)
    _assert_same(expected, got)
    explained = got["reasons"].notna().to_numpy()
    assert (explained == mask).all()
    assert (got.loc[explained, "reasons"] != "").mean() > 0.5  # reasons are said, not blank


def test_a_sampled_reference_is_the_same_sample(scored_world, spark):
    """Every row explained, some values unknown; the reference is a seeded sample, picked in
    contact_id order."""
    assert len(scored_world.frame) > SAMPLED_REFERENCE_ROWS
    frame = _with_unknowns(scored_world.frame)
    expected, got = _both(scored_world, spark, None, SAMPLED_REFERENCE_ROWS, frame)
    _assert_same(expected, got)
    assert got["reasons"].notna().all()


def test_a_missing_target_model_is_refused(scored_world, spark):
    uris = dict(scored_world.uris)
    uris.pop(TARGETS[-1].name)
    frame = spark.createDataFrame(scored_world.frame.head(5))
    with pytest.raises(KeyError, match=TARGETS[-1].name):
        spark_score.score_population_spark(frame, uris, scored_world.settings, None)


def test_flag_rows_marks_exactly_the_given_contacts(scored_world, spark):
    frame = spark.createDataFrame(scored_world.frame[["contact_id", "account_id"]].head(6))
    ids = scored_world.frame["contact_id"].head(6).tolist()
    flagged = spark_score.flag_rows(frame, ids[:2]).toPandas().sort_values("contact_id")
    assert flagged["eligible"].tolist() == [True, True, False, False, False, False]
    none = spark_score.flag_rows(frame, []).toPandas()
    assert not none["eligible"].any()


def test_tasks_load_the_model_on_a_cluster_and_over_spark_connect(scored_world, spark):
    """The two loaders local[2] does not take: a Spark file (a cluster) and the tracking store
    (Spark Connect), each run inside a task, give the driver's contributions."""
    from mlflow.pyfunc.spark_model_cache import SparkModelCache

    uri = scored_world.uris[ADVOCATE.name]
    path = mlflow.artifacts.download_artifacts(artifact_uri=uri)
    loaders = [
        functools.partial(
            spark_score._load_from_archive, SparkModelCache.add_local_model(spark, path)
        ),
        functools.partial(spark_score._load_from_store, uri, mlflow.get_tracking_uri()),
    ]
    rows = scored_world.frame.head(4)[registry.feature_names()]
    want = scored_world.models[ADVOCATE.name].contributions(rows).to_numpy()
    for load in loaders:
        got = spark.sparkContext.parallelize([0], 1).map(
            lambda _, load=load: load().contributions(rows).to_numpy()
        )
        np.testing.assert_array_equal(got.collect()[0], want)
