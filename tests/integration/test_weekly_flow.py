"""The weekly job end to end on a small generated world, with real Prefect, MLflow and GX."""

from __future__ import annotations

import json
import re

import pandas as pd
import pyarrow.parquet as pq
import pytest

from advocacy.pipelines.cli import main
from advocacy.pipelines.outputs import CANDIDATES_COLUMNS, FILES, SCORES_COLUMNS
from advocacy.pipelines.publish import sha256_of
from advocacy.settings import Settings
from tests.worlds import cut_at, rewrite_table

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]


@pytest.fixture(scope="module")
def trained(world_dir, as_of, tmp_path_factory, prefect_harness):
    """One weekly run into a module-wide MLflow store; later tests score with its champions."""
    import mlflow

    home = tmp_path_factory.mktemp("trained")
    mp = pytest.MonkeyPatch()
    uri = f"sqlite:///{home / 'mlflow.db'}"
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.chdir(home)
    mlflow.set_tracking_uri(uri)
    out = home / "out"
    code = main(["run", "--data", str(world_dir), "--as-of", as_of.isoformat(), "--out", str(out)])
    yield {"code": code, "out": out, "home": home}
    mp.undo()
    mlflow.set_tracking_uri(None)


def test_run_exits_0_and_publishes_all_files(trained):
    assert trained["code"] == 0
    names = sorted(p.name for p in trained["out"].iterdir())
    assert names == sorted(FILES)
    assert {"advocates.parquet", "matches.csv"} <= set(names)


def test_scores_parquet_schema_and_population(trained, world_dir, as_of):
    scores = pd.read_parquet(trained["out"] / "scores.parquet")
    assert tuple(scores.columns) == SCORES_COLUMNS
    assert scores["contact_id"].is_unique
    assert scores["p_advocate"].between(0, 1).all() and scores["p_burnout"].between(0, 1).all()
    assert (scores["priority"] <= scores["p_advocate"] + 1e-12).all()
    assert (scores["eligible"] == scores["ineligible_reason"].isna()).all()
    schema = pq.read_schema(trained["out"] / "scores.parquet")
    assert str(schema.field("eligible").type) == "bool"
    import duckdb

    expected = duckdb.sql(
        f"""SELECT count(*) FROM '{world_dir}/contacts.parquet' c
            JOIN '{world_dir}/accounts.parquet' a USING (account_id)
            WHERE c.created_at < DATE '{as_of}' AND a.created_at < DATE '{as_of}'
              AND (a.churned_at IS NULL OR a.churned_at >= DATE '{as_of}')"""
    ).fetchall()[0][0]
    assert len(scores) == expected


def test_candidates_csv_is_the_ranked_capped_eligible_list(trained):
    cands = pd.read_csv(trained["out"] / "candidates.csv")
    scores = pd.read_parquet(trained["out"] / "scores.parquet").set_index("contact_id")
    assert tuple(cands.columns) == CANDIDATES_COLUMNS
    assert 0 < len(cands) <= 100
    assert cands["rank"].tolist() == list(range(1, len(cands) + 1))
    assert cands.groupby("account_id").size().max() <= 2
    assert scores.loc[cands["contact_id"], "eligible"].all()
    assert cands["expected_value"].is_monotonic_decreasing  # plan order
    assert cands["suggested_activity"].notna().all() and cands["contact_id"].is_unique
    budgets = Settings().asks.budgets
    per_type = cands["suggested_activity"].value_counts()
    assert all(n <= budgets[t] for t, n in per_type.items()), per_type
    assert set(cands["selection"]) == {"optimise", "explore"}
    explore = cands[cands["selection"] == "explore"]
    assert len(explore) == round(0.1 * len(cands)) and explore["account_id"].is_unique
    assert explore["inclusion_probability"].between(0, 1, inclusive="right").all()
    assert (cands.loc[cands["selection"] == "optimise", "inclusion_probability"] == 1).all()
    listed = scores.loc[cands["contact_id"]]
    assert (listed["selection"].to_numpy() == cands["selection"].to_numpy()).all()


def test_reasons_are_sentences_with_real_values(trained):
    cands = pd.read_csv(trained["out"] / "candidates.csv")
    # Empty reasons are allowed (no driver stood out: a random explore pick, or someone asked
    # for a review because the budget wants many), but the plan's picks mostly have some.
    chosen = cands[cands["selection"] == "optimise"]
    assert chosen["reasons"].notna().mean() >= 0.8
    for text in cands["reasons"].dropna():
        parts = text.split("; ")
        assert 1 <= len(parts) <= 3
        assert all(len(p.split()) >= 3 for p in parts)
        assert re.search(r"\d", text), text
        assert "_" not in text, f"feature name leaked into reasons: {text}"


def test_run_json_manifest(trained, as_of):
    manifest = json.loads((trained["out"] / "run.json").read_text())
    assert manifest["as_of"] == as_of.isoformat()
    assert manifest["contracts"]["ok"] is True
    assert set(manifest["inputs"]) == {
        "accounts", "contacts", "nps_responses", "usage_events", "support_tickets",
        "advocacy_activities",
    }  # fmt: skip
    assert {m["name"] for m in manifest["models"]} == {"advocacy-propensity", "advocacy-burnout"}
    assert all(m["holdout_metrics"] for m in manifest["models"])
    for name, info in manifest["outputs"].items():
        assert sha256_of(trained["out"] / name) == info["sha256"]


def test_report_is_self_contained_html(trained):
    html = (trained["out"] / "report.html").read_text()
    assert html.startswith("<!doctype html>")
    assert "data:image/png;base64," in html
    assert not re.search(r'(src|href)="https?://', html)
    assert not re.search(r">\s*nan\s*<|nan<br>", html), "missing values rendered as 'nan'"
    first = pd.read_csv(trained["out"] / "candidates.csv").iloc[0]
    assert str(first["email"]) in html


def test_bad_data_exits_1_and_leaves_previous_outputs(trained, world_dir, as_of, tmp_path, capsys):
    bad = rewrite_table(
        world_dir, tmp_path / "bad", "nps_responses",
        "SELECT * REPLACE (CASE WHEN row_number() OVER () <= 3 THEN 11 ELSE score END AS score) "
        "FROM nps_responses",
    )  # fmt: skip
    out = trained["out"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code = main(["run", "--data", str(bad), "--as-of", as_of.isoformat(), "--out", str(out)])
    assert code == 1
    printed = capsys.readouterr()
    assert "nps_responses" in printed.out and "score" in printed.out
    assert "data contract failed" in printed.err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_score_with_champions_ignores_rows_after_as_of(trained, world_dir, as_of, tmp_path):
    """Same files with and without rows at/after T give exactly the same scores."""
    from advocacy.synthetic.world import generate

    full = tmp_path / "full"
    generate(full, contacts=800, seed=5, as_of=as_of, future_days=45)
    cut = cut_at(full, tmp_path / "cut", as_of)
    outs = {}
    for name, folder in (("full", full), ("cut", cut)):
        outs[name] = tmp_path / f"out-{name}"
        code = main(
            ["score", "--data", str(folder), "--as-of", as_of.isoformat(), "--out", str(outs[name])]
        )
        assert code == 0
    a = pd.read_parquet(outs["full"] / "scores.parquet")
    b = pd.read_parquet(outs["cut"] / "scores.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert (outs["full"] / "candidates.csv").read_bytes() == (
        outs["cut"] / "candidates.csv"
    ).read_bytes()


def test_score_without_champion_fails_with_one_clear_line(
    world_dir, as_of, mlflow_store, prefect_harness, tmp_path, capsys
):
    code = main(
        [
            "score",
            "--data",
            str(world_dir),
            "--as-of",
            as_of.isoformat(),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "champion" in err[0]
    assert not (tmp_path / "o").exists()


def test_train_command_registers_both_models_and_prints_summary(
    world_dir, as_of, mlflow_store, prefect_harness, capsys
):
    from mlflow import MlflowClient

    code = main(["train", "--data", str(world_dir), "--as-of", as_of.isoformat()])
    assert code == 0
    out = capsys.readouterr().out
    assert "advocacy-propensity" in out and "advocacy-burnout" in out and "promoted" in out
    client = MlflowClient()
    for name in ("advocacy-propensity", "advocacy-burnout"):
        assert int(client.get_model_version_by_alias(name, "champion").version) == 1
