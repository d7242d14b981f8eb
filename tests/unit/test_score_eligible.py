"""Reasons only where they are read (issue 11): the explained rows get exactly the reasons the
all-rows computation gave them, the others none; scores.parquet says which; the engine knobs
(threads from the environment, DuckDB's memory cap and spill folder) really turn."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from advocacy.data_contracts.load import new_connection
from advocacy.features import registry
from advocacy.models import score
from advocacy.models.calibrate import fit_margin_calibrator
from advocacy.models.pyfunc_model import AdvocacyModel, CategoryEncoder
from advocacy.models.reasons import top_reasons
from advocacy.models.targets import ADVOCATE, BURNOUT, TARGETS
from advocacy.models.tracking import Champion
from advocacy.pipelines import job, outputs
from advocacy.settings import (
    NUM_THREADS_ENV,
    EngineSettings,
    Settings,
    SettingsError,
    settings_from_mapping,
)

SETTINGS = Settings()


def _model(frame: pd.DataFrame, seed: int) -> AdvocacyModel:
    """A real booster + calibration on the registry's features, with a label it can learn."""
    features, cats = registry.feature_names(), registry.categorical_features()
    rng = np.random.default_rng(seed)
    X = frame[features]
    signal = X.select_dtypes("number").fillna(0).rank(pct=True).iloc[:, seed::7].sum(axis=1)
    y = (signal + rng.normal(scale=0.5, size=len(X)) > signal.median()).astype(int).to_numpy()
    model = AdvocacyModel(encoder=CategoryEncoder.fit(X, cats), features=features, target="x")
    E = model.encode(X)
    clf = lgb.LGBMClassifier(n_estimators=30, num_leaves=7, verbosity=-1, n_jobs=1)
    clf.fit(E, y, categorical_feature=cats)
    model.classifier = clf
    model.calibrator = fit_margin_calibrator(clf.predict(E, raw_score=True), y, "sigmoid")
    return model


@pytest.fixture(scope="module")
def scoring(world_dir, as_of):
    rows = job.build_rows(world_dir, as_of, SETTINGS, training=False).scoring
    models = {ADVOCATE.name: _model(rows.features, 0), BURNOUT.name: _model(rows.features, 3)}
    return rows, models


def _all_rows_reasons(frame, model, reference_mask):
    """What scoring gave before issue 11: contributions and reasons for every row."""
    reference = score.population_reference(frame, model, reference_mask)
    X = frame[registry.feature_names()]
    n = SETTINGS.ranking.reasons_per_contact
    return np.array(top_reasons(model.contributions(X), X, n, reference=reference), dtype=object)


def _mask(n: int, share: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < share


@pytest.mark.parametrize("reference", ["explained", "everyone"])
def test_explained_rows_keep_their_reasons_and_the_others_get_none(scoring, reference):
    rows, models = scoring
    frame = rows.features
    explain = _mask(len(frame), 0.4, 1)
    ref_mask = explain if reference == "explained" else None
    scored = score.score_population(
        frame, models, SETTINGS, explain_mask=explain, reference_mask=ref_mask, chunk_rows=700
    )
    expected = _all_rows_reasons(frame, models[ADVOCATE.name], ref_mask)
    assert scored["reasons"][explain].tolist() == expected[explain].tolist()
    assert sum(bool(t) for t in expected[explain]) > 0.5 * explain.sum()  # reasons were said
    assert scored["reasons"][~explain].isna().all()
    for spec in TARGETS:  # every row is scored, explained or not
        np.testing.assert_array_equal(
            scored[spec.score_column], models[spec.name].predict_proba(frame)
        )
    assert list(scored.columns) == score.score_columns()


def test_a_sampled_reference_is_the_same_whoever_is_explained(scoring):
    rows, models = scoring
    frame, model = rows.features, models[ADVOCATE.name]
    ref_mask = _mask(len(frame), 0.7, 2)
    few, many = _mask(len(frame), 0.1, 3), _mask(len(frame), 0.9, 4)
    both = few & many
    kw = {"reference_mask": ref_mask, "reference_rows": 500}
    a = score.score_population(frame, models, SETTINGS, explain_mask=few, **kw)
    b = score.score_population(frame, models, SETTINGS, explain_mask=many, **kw)
    assert both.sum() > 10
    assert a["reasons"][both].tolist() == b["reasons"][both].tolist()
    reference = score.population_reference(frame, model, ref_mask, max_rows=500)
    X = frame[registry.feature_names()][both]
    n = SETTINGS.ranking.reasons_per_contact
    expected = top_reasons(model.contributions(X), X, n, reference=reference)
    assert a["reasons"][both].tolist() == expected


def test_nobody_explained_means_scores_without_reasons(scoring):
    rows, models = scoring
    none = np.zeros(len(rows.features), dtype=bool)
    scored = score.score_population(rows.features, models, SETTINGS, explain_mask=none)
    assert len(scored) == len(rows.features)
    assert scored["reasons"].isna().all()
    assert scored[ADVOCATE.score_column].between(0, 1).all()


def test_the_job_explains_the_eligible_and_scores_parquet_says_so(scoring, as_of):
    rows, models = scoring
    champions = [Champion(s, f"m-{s.name}", 1, "run", {}, models[s.name]) for s in TARGETS]
    ranked = job.score_and_rank(rows, champions, SETTINGS)
    assert 0 < ranked["eligible"].sum() < len(ranked)
    assert ranked["reasons"].notna().tolist() == ranked["eligible"].tolist()
    table = outputs.scores_table(ranked, as_of, {"m": 1})
    assert pd.api.types.is_string_dtype(table["reasons"])
    assert table.loc[~table["eligible"], "reasons"].isna().all()
    assert table.loc[table["eligible"], "reasons"].map(type).eq(str).all()


# ---------------------------------------------------------------- threads and DuckDB limits
def test_the_product_default_is_all_cores_and_the_environment_wins(monkeypatch):
    monkeypatch.delenv(NUM_THREADS_ENV, raising=False)
    assert Settings().training.num_threads == 0
    monkeypatch.setenv(NUM_THREADS_ENV, "3")
    assert Settings().training.num_threads == 3
    file = settings_from_mapping({"training": {"num_threads": 0}})
    assert file.training.num_threads == 3  # the environment beats the file
    monkeypatch.setenv(NUM_THREADS_ENV, "many")
    with pytest.raises(SettingsError, match=rf"num_threads: {NUM_THREADS_ENV} must be a whole"):
        settings_from_mapping({})


def _setting(con, name: str) -> str:
    return con.execute(f"SELECT current_setting('{name}')").fetchone()[0]


def test_duckdb_memory_cap_and_spill_folder_are_applied(tmp_path):
    spill = tmp_path / "spill"
    engine = EngineSettings(duckdb_memory_limit="64MB", duckdb_temp_dir=str(spill))
    con = new_connection(engine=engine)
    assert _setting(con, "memory_limit") == "61.0 MiB"
    assert _setting(con, "temp_directory") == str(spill)
    # a sort larger than the cap spills to the folder instead of failing or growing
    con.execute("CREATE TEMP TABLE t AS SELECT range i, random() r FROM range(3000000) ORDER BY r")
    assert con.execute("SELECT count(*) FROM duckdb_temporary_files()").fetchone()[0] > 0
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 3_000_000
    con.close()
    assert spill.is_dir()  # made by us, so DuckDB never removes it under another connection
    default = new_connection()
    assert _setting(default, "memory_limit") == "1.8 GiB"  # 2GB, the built-in default
    assert _setting(default, "temp_directory").endswith("advocacy-duckdb")
    uncapped = new_connection(engine=EngineSettings(duckdb_memory_limit=None))
    assert _setting(uncapped, "memory_limit") != "3.7 GiB"  # DuckDB's own (80% of RAM)


@pytest.mark.parametrize("bad", ["4 gigs", "", "-1GB"])
def test_a_memory_limit_duckdb_cannot_read_is_refused_with_the_key(bad):
    with pytest.raises(SettingsError, match=r"engine\.duckdb_memory_limit"):
        settings_from_mapping({"engine": {"duckdb_memory_limit": bad}})
