"""`advocacy backtest` end to end on the small shared world: folders, CSV, HTML, MLflow runs,
the production champion untouched, and files cut at a date scoring exactly as the full files."""

from __future__ import annotations

import csv
from datetime import date

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from advocacy.models.targets import TARGETS
from advocacy.pipelines import backtest, cli, job
from advocacy.pipelines.outputs import FILES
from advocacy.settings import load_settings
from tests.worlds import cut_at

FIRST, LAST, EVERY = date(2026, 8, 3), date(2026, 10, 26), 84  # the second date is not closed


def _champion(settings) -> tuple[str, str]:
    """A stand-in production champion (one version, alias set): it must not move."""
    client = MlflowClient()
    name = TARGETS[0].model_name(settings)
    client.create_registered_model(name)
    mv = client.create_model_version(name, source="file:///nowhere/model", run_id=None)
    client.set_registered_model_alias(name, settings.tracking.champion_alias, mv.version)
    return name, str(mv.version)


@pytest.fixture
def ran(world_dir, tmp_path, mlflow_store):
    settings = load_settings(None)
    job.configure_tracking(job.with_new_store(settings))
    name, version = _champion(settings)
    out = tmp_path / "bt"
    argv = ["-q", "backtest", "--data", str(world_dir), "--from", FIRST.isoformat(),
            "--to", LAST.isoformat(), "--every", str(EVERY), "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    return out, argv, settings, name, version


def test_backtest_cli_publishes_measures_and_logs_runs(ran):
    out, _argv, settings, name, version = ran
    for d in (FIRST, LAST):
        assert set(FILES) <= {p.name for p in (out / d.isoformat()).iterdir()}
    with (out / backtest.CSV).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["as_of"] for r in rows] == [FIRST.isoformat(), LAST.isoformat()]
    first, last = rows
    assert int(first["n_asks_after"]) > 0 and float(first["auc_advocate"]) > 0
    assert int(first["list_n"]) > 0
    assert last["n_asks_after"] == last["auc_advocate"] == last["auc_burnout"] == ""  # not closed
    html = (out / backtest.HTML).read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and FIRST.isoformat() in html
    # off-policy: the first date has no earlier list, so nothing was logged: said plainly
    assert (first["ope_n_lists"], first["ope_n_logged"], first["ope_optimise_snips"]) == (
        "0", "0", "",
    )  # fmt: skip
    assert "too few logged asks to tell (n=0" in first["ope_verdict"]
    assert "too few logged asks to tell (n=0" in html
    assert last["ope_verdict"] == last["ope_n_logged"] == ""  # its logged asks not settled

    client = MlflowClient()
    parents = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`{backtest.TAG_KIND}` = 'backtest'",
    )
    assert len(parents) == 1 and parents[0].info.run_name == f"backtest-{FIRST}-{LAST}"
    children = _children(client, parents[0])
    assert sorted(c.data.tags[backtest.TAG_AS_OF] for c in children) == [str(FIRST), str(LAST)]
    assert (
        "n_asks_after"
        in next(c for c in children if c.data.tags[backtest.TAG_AS_OF] == str(FIRST)).data.metrics
    )

    # the production registry: the champion alias and its one version untouched, nothing added
    assert [m.name for m in client.search_registered_models()] == [name]
    assert [str(v.version) for v in client.search_model_versions(f"name = '{name}'")] == [version]
    assert (
        str(client.get_model_version_by_alias(name, settings.tracking.champion_alias).version)
        == version
    )


def test_a_rerun_reuses_the_parent_and_child_runs(mlflow_store, tmp_path):
    """What `run_backtest` opens per rerun: the same runs for the same key and date."""
    settings = job.with_new_store(load_settings(None))
    job.configure_tracking(settings)
    client = MlflowClient()
    experiment = client.create_experiment("bt")
    inputs = backtest.BacktestInputs(tmp_path, FIRST, LAST, EVERY, tmp_path / "out", settings)
    parent = backtest.open_parent(client, experiment, "key-1", inputs)
    child = backtest.open_child(client, experiment, parent, FIRST)
    assert backtest.open_parent(client, experiment, "key-1", inputs) == parent
    assert backtest.open_child(client, experiment, parent, FIRST) == child
    assert backtest.open_parent(client, experiment, "key-2", inputs) != parent  # other data
    assert backtest.open_child(client, experiment, parent, LAST) != child
    assert len(client.search_runs([experiment])) == 4


def _children(client, parent):
    return client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
    )


def test_files_cut_at_a_date_give_the_same_scores(world_dir, tmp_path, mlflow_store):
    settings = job.with_new_store(load_settings(None))
    cut = cut_at(world_dir, tmp_path / "cut", FIRST)
    scores = {}
    for label, data in (("full", world_dir), ("cut", cut)):
        out = tmp_path / f"out_{label}"
        backtest.run_backtest(backtest.BacktestInputs(data, FIRST, FIRST, 7, out, settings))
        scores[label] = pd.read_parquet(out / FIRST.isoformat() / "scores.parquet")
    assert len(scores["full"]) > 0
    pd.testing.assert_frame_equal(scores["full"], scores["cut"])


def test_an_out_folder_that_is_not_a_backtest_is_refused(tmp_path, world_dir):
    keep = tmp_path / "mine" / "notes.txt"
    keep.parent.mkdir()
    keep.write_text("not a backtest", encoding="utf-8")
    argv = ["-q", "backtest", "--data", str(world_dir), "--from", FIRST.isoformat(),
            "--to", LAST.isoformat(), "--out", str(keep.parent)]  # fmt: skip
    assert cli.main(argv) == 2
    assert [p.name for p in keep.parent.iterdir()] == ["notes.txt"]
    (tmp_path / "earlier" / backtest.CSV).parent.mkdir()
    (tmp_path / "earlier" / backtest.CSV).write_text("as_of\n", encoding="utf-8")
    assert backtest.check_out(tmp_path / "earlier", [FIRST]) == (tmp_path / "earlier").resolve()
