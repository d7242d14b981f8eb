"""Score the population on Spark: the same scores and reasons as `score.score_population`.

Scores come from `mlflow.pyfunc.spark_udf` on each champion's pinned `models:/<name>/<version>`
URI (the registered, self-contained pyfunc); reasons from the advocate model's LightGBM
contributions inside `mapInPandas`, one model load and one LightGBM thread per task, grouped
and rendered by `models/reasons.py`. The reference (the typical grouped contribution) is the
one thing that needs the whole population: its rows are picked on the driver exactly as
`score.reference_sample` picks them, collected (at most `REFERENCE_ROWS` rows), explained once
with `score.population_reference` and shipped to the tasks as a few dozen numbers.

Reasons ride the same pass as the scores: `mapInPandas` runs over every row, passes ids and
scores through and explains only the flagged rows, so there is no join and no shuffle.

What stays on the driver, and why: eligibility and ranking read the scored frame after one
collect of one narrow row per contact (ids, scores, reasons; `collect_scores`). The ask plan
is one global exact assignment over every eligible contact at once (HiGHS, single node): it
cannot be split by partition, and the collected frame is narrow (ids, one score per target and
a reason text per contact), so distributing the ranking would add shuffles and no speed.

Parity with `score_population` holds for a pandas frame in `contact_id` order (what
`features.build.build_scoring` returns): the reference sample is drawn from positions in that
order.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from advocacy.features import registry
from advocacy.models.reasons import top_reasons
from advocacy.models.score import (
    REFERENCE_ROWS,
    population_reference,
    reference_sample,
    score_columns,
)
from advocacy.models.targets import ADVOCATE, TARGETS, TargetSpec
from advocacy.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

ID_COLUMNS = ("contact_id", "account_id")
REASONS = "reasons"


def champion_uri(name: str, version: int) -> str:
    """The pinned URI of a champion (as `tracking.load_champion` loads it): alias moves during
    a run cannot change which version the tasks score with."""
    return f"models:/{name}/{version}"


def flag_rows(features: DataFrame, contact_ids: Sequence[str], name: str = "eligible") -> DataFrame:
    """`features` with a boolean column `name`, true for `contact_ids`: how a mask decided on
    the driver (e.g. eligibility, `policy.eligibility`) reaches the tasks as `explain_col`."""
    ids = pd.DataFrame({"contact_id": pd.Series(list(contact_ids), dtype=object), name: True})
    if ids.empty:  # Spark cannot infer a schema from no rows
        from pyspark.sql import functions as sf

        return features.withColumn(name, sf.lit(False))
    flags = features.sparkSession.createDataFrame(ids).hint("broadcast")
    joined = features.join(flags, on="contact_id", how="left")
    return joined.na.fill({name: False})


def score_population_spark(
    features: DataFrame,
    model_uris: Mapping[str, str],
    settings: Settings,
    explain_col: str | None = "eligible",
    *,
    explained: TargetSpec = ADVOCATE,
    reference_rows: int = REFERENCE_ROWS,
) -> DataFrame:
    """One row per scoring row with `score.score_columns()`: ids, every target's score, reasons.

    `model_uris` maps a target's name to its model URI, for every spec in `TARGETS`. Rows whose
    boolean `explain_col` is true (None: every row) get reasons for `explained`'s score,
    relative to the typical contribution over those same rows (as the weekly job calls
    `score_population` with `explain_mask=reference_mask=eligible`); the others get None.
    `features` is read three times (reference ids, reference rows, scoring): pass a persisted
    frame when its lineage is expensive.
    """
    missing = [s.name for s in TARGETS if s.name not in model_uris]
    if missing:
        raise KeyError(f"no model for target(s) {', '.join(missing)}")
    rows = model_input(features, explain_col)
    spark = features.sparkSession
    uri = model_uris[explained.name]
    reference = driver_reference(rows, uri, settings, explain_col, reference_rows)
    scored = rows
    for spec in TARGETS:
        scored = scored.withColumn(spec.score_column, _score_udf(spark, model_uris[spec.name]))
    explain = functools.partial(
        explain_batches,
        load=executor_loader(spark, uri),
        reference=reference,
        top_n=settings.ranking.reasons_per_contact,
        explain_col=explain_col,
    )
    return scored.mapInPandas(explain, schema=_output_schema(scored))


def model_input(features: DataFrame, explain_col: str | None) -> DataFrame:
    """ids, the explain flag and the feature columns as the model was trained on them: every
    numeric a double (nulls stay null: NaN in pandas), every categorical a string."""
    from pyspark.sql import functions as sf

    categorical = set(registry.categorical_features())
    cols = [sf.col(c) for c in ID_COLUMNS]
    if explain_col is not None:
        flag = sf.coalesce(sf.col(explain_col).cast("boolean"), sf.lit(False))
        cols.append(flag.alias(explain_col))
    for name in registry.feature_names():
        kind = "string" if name in categorical else "double"
        cols.append(sf.col(name).cast(kind).alias(name))
    return features.select(*cols)


def _score_udf(spark: SparkSession, uri: str) -> Any:
    """The champion's calibrated probability, one double per row, from its logged pyfunc."""
    from pyspark.sql import functions as sf

    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type="double", env_manager="local")
    return udf(sf.struct(*[sf.col(c) for c in registry.feature_names()]))


def _output_schema(scored: DataFrame) -> Any:
    from pyspark.sql.types import StringType, StructField, StructType

    fields = {f.name: f for f in scored.schema.fields}
    kept = [fields[c] for c in score_columns() if c != REASONS]
    return StructType([*kept, StructField(REASONS, StringType(), True)])


# ------------------------------------------------------------------ the reference
def _explained(rows: DataFrame, explain_col: str | None) -> DataFrame:
    from pyspark.sql import functions as sf

    return rows if explain_col is None else rows.filter(sf.col(explain_col))


def reference_ids(rows: DataFrame, explain_col: str | None, max_rows: int) -> np.ndarray | None:
    """contact_ids of the reference rows, as `score.reference_sample` picks positions in a
    frame in contact_id order; None when every explained row is one (nothing to collect)."""
    pool = _explained(rows, explain_col)
    if pool.count() <= max_rows:
        return None
    ids = np.sort(pool.select("contact_id").toPandas()["contact_id"].to_numpy(dtype=object))
    return ids[reference_sample(np.ones(len(ids), dtype=bool), max_rows)]


def driver_reference(
    rows: DataFrame,
    uri: str,
    settings: Settings,
    explain_col: str | None,
    max_rows: int = REFERENCE_ROWS,
) -> pd.Series | None:
    """The typical grouped contribution over the reference rows, computed on the driver from
    at most `max_rows` collected rows; None when no row is explained."""
    pool = _explained(rows, explain_col)
    picked = reference_ids(rows, explain_col, max_rows)
    if picked is not None:
        spark = rows.sparkSession
        chosen = spark.createDataFrame(pd.DataFrame({"contact_id": picked.astype(str)}))
        pool = pool.join(chosen.hint("broadcast"), on="contact_id", how="inner")
    frame = pool.select(*registry.feature_names()).toPandas()
    if frame.empty:
        return None
    log.info("reference contributions: %d rows on the driver", len(frame))
    model = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    with threadpool_limits(limits=settings.training.num_threads or None):
        return population_reference(frame, model, max_rows=len(frame))


# ------------------------------------------------------------------ the tasks
def executor_loader(spark: SparkSession, uri: str) -> Callable[[], Any]:
    """A picklable function that loads the model in a task, from where executors can read it.

    The model is downloaded once on the driver. Local Spark shares the driver's disk, so tasks
    read that folder; a cluster gets it as a Spark file (MLflow's own `spark_udf` mechanism);
    Spark Connect has neither, so tasks load the URI from the tracking store themselves.
    """
    from pyspark.sql.utils import is_remote

    if is_remote():
        return functools.partial(_load_from_store, uri, mlflow.get_tracking_uri())
    path = mlflow.artifacts.download_artifacts(artifact_uri=uri)
    if spark.conf.get("spark.master", "").startswith("local"):
        return functools.partial(_load_from_path, path)
    from mlflow.pyfunc.spark_model_cache import SparkModelCache

    return functools.partial(_load_from_archive, SparkModelCache.add_local_model(spark, path))


def _load_from_path(path: str) -> Any:
    return mlflow.pyfunc.load_model(path).unwrap_python_model()


def _load_from_archive(archive: str) -> Any:
    from mlflow.pyfunc.spark_model_cache import SparkModelCache

    return SparkModelCache.get_or_load(archive)[0].unwrap_python_model()


def _load_from_store(uri: str, tracking_uri: str) -> Any:
    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.pyfunc.load_model(uri).unwrap_python_model()


def explain_batches(
    batches: Iterator[pd.DataFrame],
    *,
    load: Callable[[], Any],
    reference: pd.Series | None,
    top_n: int,
    explain_col: str | None,
) -> Iterator[pd.DataFrame]:
    """One partition: ids and scores pass through; explained rows get their reason text.

    The model is loaded at the first explained row (once per partition) and LightGBM runs on
    one thread: Spark already runs one task per core. A row's reasons depend only on the row
    and the reference, so batching cannot change them.
    """
    model = None
    keep = [c for c in score_columns() if c != REASONS]
    features = registry.feature_names()
    with threadpool_limits(limits=1):
        for batch in batches:
            out = batch[keep].copy()
            texts = np.full(len(batch), None, dtype=object)
            rows = np.ones(len(batch), dtype=bool)
            if explain_col is not None:
                rows = batch[explain_col].to_numpy(dtype=bool)
            if rows.any():
                model = model if model is not None else load()
                X = batch.loc[rows, features]
                texts[rows] = top_reasons(model.contributions(X), X, top_n, reference=reference)
            out[REASONS] = texts
            yield out


# ------------------------------------------------------------------ to the driver
def collect_scores(scored: DataFrame) -> pd.DataFrame:
    """The scored frame on the driver in contact_id order (the pandas path's row order), with
    `score_columns()`: what `policy.ranking.rank_population` reads."""
    frame = scored.select(*score_columns()).toPandas()
    return frame.sort_values("contact_id", kind="stable").reset_index(drop=True)
