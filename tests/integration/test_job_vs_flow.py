"""The plain-Python job and the Prefect flow run the same steps: same world, same bytes.

Each run gets its own fresh MLflow store, working folder and output folder; `generated_at`
is pinned (`outputs.now_utc`), so report.html must match byte for byte too. run.json is
compared without what must differ between two stores, folders and clocks: the models' MLflow
run ids, the path of the GX Data Docs index and how long the contract checks took.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advocacy.pipelines import outputs

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]
GENERATED_AT = "2026-11-23T06:00:00+00:00"


def _fresh_store(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    home.mkdir()
    uri = f"sqlite:///{home / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(home)  # the default output root and artifact folder land here too
    mlflow.set_tracking_uri(uri)


def _comparable_manifest(folder: Path) -> dict:
    manifest = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    for model in manifest["models"]:
        assert model.pop("run_id")
    assert manifest["contracts"].pop("data_docs_index")
    assert manifest["contracts"].pop("seconds") >= 0  # how long the checks took
    return manifest


@pytest.fixture(scope="module")
def published(world_dir, as_of, tmp_path_factory, prefect_harness) -> dict[str, Path]:
    import mlflow

    from advocacy.pipelines import flows, job
    from advocacy.settings import Settings

    root = tmp_path_factory.mktemp("job-vs-flow")
    mp = pytest.MonkeyPatch()
    mp.setattr(outputs, "now_utc", lambda: GENERATED_AT)
    try:
        _fresh_store(root / "plain", mp)
        inputs = job.JobInputs(
            data=world_dir, as_of=as_of, settings=job.with_new_store(Settings()),
            out_dir=root / "plain" / "out",
        )  # fmt: skip
        plain = job.weekly_job(inputs).published
        _fresh_store(root / "flow", mp)
        flowed = Path(
            flows.weekly_flow(
                str(world_dir), as_of.isoformat(), str(root / "flow" / "out"), new_store=True
            )
        )
    finally:
        mp.undo()
        mlflow.set_tracking_uri(None)
    return {"plain": plain, "flow": flowed}


@pytest.mark.parametrize("name", ["scores.parquet", "candidates.csv", "program.csv", "report.html"])
def test_job_and_flow_publish_byte_identical_files(published, name):
    plain, flowed = (published[k] / name for k in ("plain", "flow"))
    assert plain != flowed
    assert plain.read_bytes() == flowed.read_bytes()


def test_job_and_flow_write_the_same_manifest(published):
    plain, flowed = (_comparable_manifest(published[k]) for k in ("plain", "flow"))
    assert plain["generated_at"] == GENERATED_AT
    assert plain == flowed
    assert [m["version"] for m in plain["models"]] == [1, 1]  # each run its own fresh store
