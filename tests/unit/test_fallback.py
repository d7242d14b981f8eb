"""The small-data fallback ranker (`models/fallback.py`): the NPS rule as a calibrated pyfunc,
its MLflow round trip, the gate across rankers, and what run.json and the report get."""

from __future__ import annotations

import json
from types import SimpleNamespace

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from advocacy.models import fallback, gate
from advocacy.models.baselines import nps_heuristic
from advocacy.models.pyfunc_model import CODE_FILE, AdvocacyModel, is_feature_columns_error
from advocacy.models.targets import ADVOCATE, BURNOUT
from advocacy.models.tracking import Champion
from advocacy.models.trust import Trust
from advocacy.pipelines import job, outputs
from advocacy.policy import ranking
from advocacy.settings import Settings

FEATURES = ["nps_latest", "usage_events_30d", "account_segment"]


def _frame(n: int = 600, seed: int = 1, flip: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    nps = rng.integers(0, 11, n).astype(float)
    nps[rng.random(n) < 0.2] = np.nan
    nps[:5] = [2.5, 7.25, np.nan, 0.0, 10.0]  # fractional and edge values too
    p = np.where(np.isnan(nps), 0.3, nps / 12)
    y = (rng.random(n) < (1 - p if flip else p)).astype(int)
    segment = rng.choice(["smb", "enterprise"], n).astype(object)
    return pd.DataFrame(
        {"nps_latest": nps, "usage_events_30d": rng.gamma(2, 5, n), "account_segment": segment}
    ).assign(label=y)


@pytest.mark.parametrize("spec", [ADVOCATE, BURNOUT], ids=lambda s: s.name)
def test_the_rule_is_nps_heuristic_and_its_scores_keep_its_order(spec):
    frame = _frame()
    model = fallback.rule_model(frame, spec, Settings(), features=FEATURES)
    assert model.kind == fallback.RULE == "nps_rule"
    base = frame["label"].mean()
    np.testing.assert_allclose(
        model.rule.rule(frame), nps_heuristic(frame, spec.nps_direction, base), atol=1e-12
    )
    p = model.predict_proba(frame)
    assert ((p > 0) & (p < 1)).all()
    order = np.argsort(nps_heuristic(frame, spec.nps_direction, base), kind="stable")
    assert (np.diff(p[order]) >= -1e-15).all(), "calibration must not reorder the rule"


def test_calibration_makes_the_rule_a_probability_on_the_closed_rows():
    frame = _frame(n=4000)
    model = fallback.rule_model(frame, ADVOCATE, Settings(), features=FEATURES)
    p = model.predict_proba(frame)
    assert p.mean() == pytest.approx(frame["label"].mean(), abs=0.01)
    raw = nps_heuristic(frame, 1, frame["label"].mean())
    assert log_loss(frame["label"], p) < log_loss(frame["label"], raw)  # better than the raw rule


def test_a_rule_that_the_rows_contradict_still_ranks_as_the_rule():
    frame = _frame(n=3000, flip=True)  # higher NPS, fewer yeses: a fitted map would turn round
    model = fallback.rule_model(frame, ADVOCATE, Settings(), features=FEATURES)
    assert model.rule.slope == fallback.MIN_SLOPE
    p = model.predict_proba(frame)
    nps = frame["nps_latest"].fillna(-1)
    assert p[nps == 10].min() > p[nps == 0].max()
    assert p.mean() == pytest.approx(frame["label"].mean(), abs=0.02)


def test_contributions_put_the_rule_on_nps_and_sum_to_its_log_odds():
    frame = _frame()
    model = fallback.rule_model(frame, BURNOUT, Settings(), features=FEATURES)
    contrib = model.contributions(frame)
    assert list(contrib.columns) == [*FEATURES, "bias"]
    np.testing.assert_allclose(contrib.sum(axis=1), model.rule.raw(frame), atol=1e-12)
    assert (contrib[["usage_events_30d", "account_segment"]] == 0).all().all()
    unknown = frame["nps_latest"].isna()
    assert (contrib.loc[unknown, "nps_latest"].abs() < 1e-12).all()  # no NPS, no driver
    assert (contrib.loc[frame["nps_latest"] == 10, "nps_latest"] < 0).all()  # burnout: lower
    with pytest.raises(KeyError) as err:
        model.predict_proba(frame.drop(columns="usage_events_30d"))
    assert is_feature_columns_error(err.value)


def test_the_nps_rule_pyfunc_round_trips_through_mlflow_models_from_code(tmp_path):
    frame = _frame()
    model = fallback.rule_model(frame, ADVOCATE, Settings(), features=FEATURES)
    X = frame[FEATURES]
    artifacts = model.save_artifacts(tmp_path)
    assert set(artifacts) == {"model"}  # a rule is numbers only: no booster, no pickle
    spec = json.loads((tmp_path / "model.json").read_text())
    assert (spec["format"], spec["kind"]) == (2, "nps_rule")
    path = tmp_path / "logged"
    mlflow.pyfunc.save_model(
        path, python_model=CODE_FILE, artifacts=artifacts, pip_requirements=["mlflow"]
    )  # given: inferring them takes seconds
    loaded = mlflow.pyfunc.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(X), model.predict_proba(X))
    inner = loaded.unwrap_python_model()
    assert inner.kind == "nps_rule" and inner.features == FEATURES
    pd.testing.assert_frame_equal(inner.contributions(X), model.contributions(X))


def test_a_format_1_lightgbm_model_json_without_kind_still_loads(tmp_path):
    import lightgbm as lgb
    from sklearn.calibration import CalibratedClassifierCV

    from advocacy.models.pyfunc_model import CategoryEncoder

    frame = _frame()
    model = AdvocacyModel(
        encoder=CategoryEncoder.fit(frame, ["account_segment"]), features=FEATURES, target="a"
    )
    E, y = model.encode(frame), frame["label"].to_numpy()
    model.classifier = lgb.LGBMClassifier(n_estimators=20, verbosity=-1).fit(E, y)
    model.calibrator = CalibratedClassifierCV(model.classifier, cv=2).fit(E, y)
    artifacts = model.save_artifacts(tmp_path)
    spec = json.loads((tmp_path / "model.json").read_text())
    assert spec.pop("kind") == "lightgbm"
    (tmp_path / "model.json").write_text(json.dumps({**spec, "format": 1}))  # as logged before
    loaded = AdvocacyModel()
    loaded.load_context(SimpleNamespace(artifacts=artifacts))
    assert loaded.kind == "lightgbm"
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    (tmp_path / "model.json").write_text(json.dumps({**spec, "format": 9}))
    with pytest.raises(ValueError, match="unknown model artifact format 9"):
        AdvocacyModel().load_context(SimpleNamespace(artifacts=artifacts))


# ------------------------------------------------------------------ the gate across rankers
def test_the_gate_judges_a_fallback_by_the_same_numbers_and_names_both_rankers():
    settings = Settings()
    champion = gate.ChampionScore(3, auc=0.70, log_loss=0.50, ranker="lightgbm")
    worse = gate.decide({"auc": 0.60, "log_loss": 0.55}, champion, settings, new_ranker="nps_rule")
    assert not worse.promoted and worse.kind == "keeps_champion"
    assert worse.text.endswith("(new nps_rule vs champion lightgbm)")
    better = gate.decide({"auc": 0.72, "log_loss": 0.49}, champion, settings, new_ranker="nps_rule")
    assert better.promoted
    first = gate.decide({"auc": 0.6, "log_loss": 0.6}, None, settings, new_ranker="nps_rule")
    assert first.promoted and first.text == "no champion yet: promoted (nps_rule)"
    plain = gate.decide({"auc": 0.72, "log_loss": 0.49}, champion, settings)
    assert "(new" not in plain.text  # two LightGBM versions: the text is as before


# ------------------------------------------------------------------ what the run publishes
def _trust(verdict: str, reason: str = "", rows: int = 61, positives: int = 33) -> dict:
    return Trust(
        holdout_rows=rows, positives=positives, model_auc=0.567, auc_low=0.468, auc_high=0.663,
        level=0.9, rule_auc=0.585, margin=-0.018, verdict=verdict, reason=reason,  # type: ignore[arg-type]
    ).to_dict()  # fmt: skip


METRICS = {
    "holdout_model_auc": 0.567, "holdout_model_auc_low": 0.468, "holdout_model_auc_high": 0.663,
    "holdout_nps_auc": 0.585, "holdout_nps_auc_low": 0.47, "holdout_nps_auc_high": 0.69,
    "holdout_ranker_auc": 0.585, "holdout_logreg_auc": 0.536, "holdout_model_n_rows": 61.0,
}  # fmt: skip


def test_a_fallback_champion_gets_a_banner_and_its_run_json_entry():
    reason = "holdout has 61 rows < promotion.min_holdout_rows=200"
    champ = Champion(ADVOCATE, "advocacy-propensity", 4, "r1", METRICS, None, "nps_rule",
                     _trust("fallback", reason))  # fmt: skip
    summary = outputs.champion_summary(champ, Settings())
    assert summary["fallback"]["reason"] == reason and summary["fallback"]["margin"] == 0.01
    assert summary["few_asks"] is True
    labels = [r["label"] for r in summary["rows"]]
    assert labels[0].startswith("NPS rule, calibrated") and "not used" in labels[1]
    assert [r["auc_interval"] for r in summary["rows"]][1:3] == ["[0.47, 0.66]", "[0.47, 0.69]"]
    entry = outputs._manifest_model(summary)
    assert (entry["ranker"], entry["verdict"], entry["reason"]) == ("nps_rule", "fallback", reason)
    assert entry["interval"] == {"auc": 0.567, "low": 0.468, "high": 0.663, "level": 0.9}
    lines = outputs.ranker_lines({"models": [entry]})
    assert lines == [
        f"advocate: ranked by the NPS rule (fallback), not LightGBM: {reason} "
        "(advocacy-propensity v4; docs/fallback.md)"
    ]


def test_a_trusted_champion_has_no_banner_and_only_its_own_interval():
    champ = Champion(ADVOCATE, "advocacy-propensity", 5, "r2", METRICS, None, "lightgbm",
                     _trust("trusted", rows=900, positives=300))  # fmt: skip
    summary = outputs.champion_summary(champ, Settings())
    assert summary["fallback"] is None and summary["few_asks"] is False
    assert [r["auc_interval"] for r in summary["rows"]] == ["[0.47, 0.66]", "", ""]
    assert outputs.ranker_lines({"models": [outputs._manifest_model(summary)]}) == []
    old = Champion(ADVOCATE, "advocacy-propensity", 1, "r0", {"holdout_model_auc": 0.6}, None)
    assert outputs._manifest_model(outputs.champion_summary(old))["verdict"] is None


def test_reasons_are_relative_to_the_rows_the_eligibility_rules_let_be_asked():
    facts = pd.DataFrame(
        {"contact_id": ["a", "b", "c"], "do_not_contact": [False, True, False],
         "opted_out": [False, False, False], "asks_recent": [0, 0, 2], "asks_90d": [0, 0, 2],
         "asks_365d": [0, 0, 2], "asks_pending": [0, 0, 0],
         "latest_nps": [9.0, 9.0, 9.0], "blocking_tickets": [0, 0, 0]}
    )  # fmt: skip
    features = pd.DataFrame({"contact_id": ["c", "a", "b", "d"]})  # d: no facts, no history
    rows = job.ScoringRows(features=features, eligibility=facts, history=None)  # type: ignore[arg-type]
    mask = job.eligible_rows(rows, Settings())
    assert mask.tolist() == [False, True, False, True]
    scores = features.assign(account_id="x", p_advocate=0.5, p_burnout=0.1)
    ranked = ranking.rank_population(scores, facts, Settings()).set_index("contact_id")
    assert ranked.loc[features["contact_id"], "eligible"].tolist() == mask.tolist()
