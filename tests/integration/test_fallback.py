"""The small-data fallback end to end: real weekly job (plain), real MLflow registry, real report.

One temporary store, three runs (each with its own registered model names, so each starts
without a champion unless it means to meet one):

1. a tiny generated world: too few holdout rows/positives,
   both targets fall back to the NPS rule; the CLI line, the banner, run.json, the tags say so;
2. the session world with the advocate outcomes shuffled among closed asks: the model cannot
   beat the NPS rule, the advocate target falls back with that reason;
3. the session world as generated, thresholds it meets: trusted, no banner; registered under
   the tiny run's names, so the LightGBM candidate meets the rule champion at the gate.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from advocacy.models.targets import ADVOCATE, BURNOUT
from advocacy.pipelines import job
from advocacy.pipelines.cli import _print_published
from advocacy.pipelines.outputs import ranker_lines
from advocacy.settings import settings_from_mapping
from advocacy.synthetic.world import generate
from tests.worlds import rewrite_table

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]

TINY_CONTACTS, TINY_SEED = 900, 5
FAST = {"training": {"tune": False, "min_rows": 100}}
TINY_NAMES = {"advocate": "tiny-propensity", "burnout": "tiny-burnout"}
# Advocate outcomes (status, time to complete) dealt out again among prompted asks that closed
# well before T: the same acceptance rate, no link to the person any more.
SHUFFLE_SQL = """
WITH asks AS (
  SELECT *, requested_at IS NOT NULL AND status IN ('completed', 'declined', 'no_response')
            AND requested_at < $cut AS closed
  FROM advocacy_activities),
keys AS (SELECT activity_id, row_number() OVER (ORDER BY activity_id) AS i FROM asks WHERE closed),
dealt AS (SELECT status AS new_status, completed_at - requested_at AS delay,
          row_number() OVER (ORDER BY md5(activity_id)) AS i FROM asks WHERE closed),
shuffled AS (SELECT activity_id, new_status, delay FROM keys JOIN dealt USING (i))
SELECT a.* EXCLUDE (closed) REPLACE (
  coalesce(s.new_status, a.status) AS status,
  CASE WHEN s.activity_id IS NULL THEN a.completed_at ELSE a.requested_at + s.delay END
    AS completed_at)
FROM asks a LEFT JOIN shuffled s USING (activity_id) ORDER BY a.activity_id
"""


def _settings(extra: dict) -> dict:
    out = json.loads(json.dumps(FAST))
    for section, values in extra.items():
        out.setdefault(section, {}).update(values)
    return out


def _plain_run(data: Path, as_of: date, raw: dict, out: Path) -> dict:
    settings = settings_from_mapping(raw)
    result = job.weekly_job(job.JobInputs(data, as_of, settings, out_dir=out))
    return {"out": out, "outcomes": result.outcomes, "settings": settings}


@pytest.fixture(scope="module")
def runs(world_dir, as_of, tmp_path_factory):
    import mlflow

    home = tmp_path_factory.mktemp("fallback")
    mp = pytest.MonkeyPatch()
    uri = f"sqlite:///{home / 'mlflow.db'}"
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.chdir(home)
    mlflow.set_tracking_uri(uri)
    try:
        generate(home / "tiny", contacts=TINY_CONTACTS, seed=TINY_SEED, as_of=as_of)
        tiny_raw = _settings({"tracking": {"model_names": TINY_NAMES}})
        runs = {"tiny": _plain_run(home / "tiny", as_of, tiny_raw, home / "out-tiny")}

        shuffled = _shuffled(world_dir, home / "shuffled", as_of)
        shuffled_raw = _settings(
            {"promotion": {"min_holdout_rows": 100},
             "tracking": {"model_names": {"advocate": "shuffled-propensity",
                                          "burnout": "shuffled-burnout"}}}
        )  # fmt: skip
        runs["shuffled"] = _plain_run(shuffled, as_of, shuffled_raw, home / "out-shuffled")

        trusted_raw = _settings(
            {"promotion": {"min_holdout_rows": 100, "auc_tolerance": 1.0,
                           "logloss_tolerance": 1.0},
             "tracking": {"model_names": TINY_NAMES}}
        )  # fmt: skip
        runs["trusted"] = _plain_run(world_dir, as_of, trusted_raw, home / "out-trusted")
        yield runs
    finally:
        mp.undo()
        mlflow.set_tracking_uri(None)


def _shuffled(src: Path, dst: Path, as_of: date) -> Path:
    cut = pd.Timestamp(as_of) - pd.Timedelta(days=90)  # outcomes long closed before T
    sql = SHUFFLE_SQL.replace("$cut", f"TIMESTAMP '{cut:%Y-%m-%d}'")
    return rewrite_table(src, dst, "advocacy_activities", sql)


def _manifest(out: Path) -> dict[str, dict]:
    models = json.loads((out / "run.json").read_text())["models"]
    return {m["target"]: m for m in models}


def _html(out: Path) -> str:
    return re.sub(r"\s+", " ", (out / "report.html").read_text())


def _version_tags(name: str, version: int) -> dict[str, str]:
    return dict(MlflowClient().get_model_version(name, str(version)).tags)


# ------------------------------------------------------------------ 1. a tiny world
def test_tiny_world_falls_back_and_the_cli_says_so_in_one_line(runs, capsys):
    tiny = runs["tiny"]
    _print_published(str(tiny["out"]))  # what `advocacy run` / `score` print once published
    stdout = capsys.readouterr().out
    entries = _manifest(tiny["out"])
    for spec in (ADVOCATE, BURNOUT):
        m = entries[spec.name]
        assert (m["ranker"], m["verdict"]) == ("nps_rule", "fallback"), m
        assert re.fullmatch(r"holdout has \d+ (rows|positives) < promotion\.min_holdout_\w+=\d+",
                            m["reason"])  # fmt: skip
        line = (f"{spec.name}: ranked by the NPS rule (fallback), not LightGBM: {m['reason']} "
                f"({TINY_NAMES[spec.name]} v1; docs/fallback.md)")  # fmt: skip
        assert line in stdout.splitlines()


def test_tiny_world_run_json_entry_has_the_interval_and_the_numbers(runs):
    settings = runs["tiny"]["settings"].promotion
    for m in _manifest(runs["tiny"]["out"]).values():
        interval = m["interval"]
        assert interval["level"] == settings.interval_level
        assert interval["low"] <= interval["auc"] <= interval["high"]
        assert m["holdout_rows"] < settings.min_holdout_rows or (
            m["positives"] < settings.min_holdout_positives
        )
        assert m["holdout_metrics"]["holdout_ranker_auc"] == pytest.approx(
            m["holdout_metrics"]["holdout_nps_auc"], abs=0.02
        )  # the calibrated rule ranks as the rule (up to where unknown NPS sits)


def test_tiny_world_report_has_a_banner_with_the_numbers_and_every_interval(runs):
    html = _html(runs["tiny"]["out"])
    for spec in (ADVOCATE, BURNOUT):
        m = _manifest(runs["tiny"]["out"])[spec.name]
        i = m["interval"]
        banner = re.search(
            rf'<div class="fallback"[^>]*id="fallback-{spec.name}">(.*?)</div>', html
        )
        assert banner, f"no banner for {spec.name}"
        text = banner.group(1)
        assert f"{spec.title} ({spec.score_column}) is ranked by the NPS rule this week" in text
        assert f"Why: {m['reason'].replace('<', '&lt;')}." in text
        assert f"({m['holdout_rows']} rows, {m['positives']} positive)" in text
        assert (f"LightGBM AUC {i['auc']:.3f} (90% bootstrap interval {i['low']:.3f} to "
                f"{i['high']:.3f}), NPS rule AUC {m['rule_auc']:.3f}") in text  # fmt: skip
        assert "by at least 0.01 AUC (promotion.min_auc_margin_over_rule)" in text
        assert "Few asks" in text
    table = html[html.index("How good are the models?") :]
    assert table.count('<span class="muted">[0.') >= 6  # model, rule, logreg for both targets


def test_tiny_world_registry_tags_say_why_and_the_champion_is_the_rule(runs):
    client = MlflowClient()
    for spec in (ADVOCATE, BURNOUT):
        m = _manifest(runs["tiny"]["out"])[spec.name]
        tags = _version_tags(TINY_NAMES[spec.name], 1)
        assert tags["advocacy.ranker"] == "nps_rule"
        assert tags["advocacy.fallback_reason"] == m["reason"]
        assert json.loads(tags["advocacy.trust"])["verdict"] == "fallback"
        assert tags["promotion.decision"] == "no champion yet: promoted (nps_rule)"
        run = client.get_run(m["run_id"]).data
        assert run.tags["advocacy.ranker"] == "nps_rule"
        assert run.metrics["holdout_model_auc_low"] <= run.metrics["holdout_model_auc_high"]


def test_tiny_world_scores_are_the_rule_from_the_registry(runs):
    import mlflow

    scores = pd.read_parquet(runs["tiny"]["out"] / "scores.parquet")
    assert scores["p_advocate"].nunique() <= 12  # 11 NPS values and "no NPS": the rule's levels
    run_id = _manifest(runs["tiny"]["out"])["advocate"]["run_id"]
    holdout = pd.read_parquet(mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="holdout.parquet"))  # fmt: skip
    loaded = mlflow.pyfunc.load_model(f"models:/{TINY_NAMES['advocate']}/1")
    assert loaded.unwrap_python_model().kind == "nps_rule"
    rows = holdout.iloc[[0] * 11].reset_index(drop=True).assign(nps_latest=np.arange(11.0))
    p = loaded.predict(rows[loaded.unwrap_python_model().features])
    assert (np.diff(p) > 0).all() and ((p > 0) & (p < 1)).all()  # higher NPS, likelier yes


# ------------------------------------------------------------------ 2. shuffled labels
def test_shuffled_labels_fall_back_because_the_model_does_not_beat_the_rule(runs):
    shuffled = runs["shuffled"]
    advocate = next(o for o in shuffled["outcomes"] if o.target == "advocate")
    assert advocate.ranker == "nps_rule"
    assert re.fullmatch(
        r"model AUC [\d.]+ does not beat the NPS rule [\d.]+ by "
        r"promotion\.min_auc_margin_over_rule=0\.01",
        advocate.fallback_reason,
    )
    tags = _version_tags(advocate.model_name, advocate.version)
    assert tags["advocacy.ranker"] == "nps_rule"
    assert tags["advocacy.fallback_reason"] == advocate.fallback_reason
    m = _manifest(shuffled["out"])["advocate"]
    assert (m["ranker"], m["verdict"], m["reason"]) == (
        "nps_rule", "fallback", advocate.fallback_reason
    )  # fmt: skip
    html = _html(shuffled["out"])
    assert 'id="fallback-advocate"' in html and "does not beat the NPS rule" in html
    assert "Few asks" not in html  # enough rows and positives: only the margin failed
    for spec in (ADVOCATE, BURNOUT):  # a banner exactly where the champion is the rule
        entry = _manifest(shuffled["out"])[spec.name]
        assert (f'id="fallback-{spec.name}"' in html) == (entry["ranker"] == "nps_rule")
    assert ranker_lines(json.loads((shuffled["out"] / "run.json").read_text()))[0].startswith(
        "advocate: ranked by the NPS rule (fallback)"
    )


# ------------------------------------------------------------------ 3. a trusted world
def test_a_trusted_world_shows_no_banner_and_tags_lightgbm(runs):
    trusted = runs["trusted"]
    entries = _manifest(trusted["out"])
    for spec in (ADVOCATE, BURNOUT):
        m = entries[spec.name]
        assert (m["ranker"], m["verdict"], m["reason"]) == ("lightgbm", "trusted", ""), m
        tags = _version_tags(TINY_NAMES[spec.name], m["version"])
        assert tags["advocacy.ranker"] == "lightgbm" and "advocacy.fallback_reason" not in tags
    html = _html(trusted["out"])
    assert 'class="fallback"' not in html and "Few asks" not in html
    i = entries["advocate"]["interval"]
    assert f'{i["auc"]:.3f}<br><span class="muted">[{i["low"]:.2f}, {i["high"]:.2f}]' in html
    assert ranker_lines(json.loads((trusted["out"] / "run.json").read_text())) == []


def test_a_trusted_candidate_meets_the_rule_champion_at_the_same_gate(runs):
    for o in runs["trusted"]["outcomes"]:
        assert o.version == 2 and o.ranker == "lightgbm"
        assert o.decision.startswith("v1: beats or matches the champion: ")
        assert o.decision.endswith("(new lightgbm vs champion nps_rule)")
        tags = _version_tags(o.model_name, o.version)
        assert float(tags["promotion.new_auc"]) == pytest.approx(o.metrics["holdout_model_auc"])
