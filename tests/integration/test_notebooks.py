"""The notebooks run top to bottom on a small generated world and a freshly trained store,
and are committed without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from advocacy.data_contracts.load import connect
from advocacy.models import tracking
from advocacy.models.targets import TARGETS
from advocacy.models.train import fit_target
from advocacy.settings import Settings

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
EXPLORE = NOTEBOOKS / "01-explore-inputs.ipynb"
REPORT = NOTEBOOKS / "02-model-report.ipynb"
CELL_TIMEOUT_S = 300


def _execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    return notebook


def _text(notebook: nbformat.NotebookNode) -> str:
    """Every text/plain, text/markdown and stream output, joined."""
    parts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts.extend(data.get(kind, "") for kind in ("text/plain", "text/markdown"))
    return "\n".join(parts)


@pytest.mark.parametrize("path", [EXPLORE, REPORT], ids=lambda p: p.name)
def test_committed_notebooks_have_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
def test_explore_inputs_profiles_a_generated_world(world_dir, as_of, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVOCACY_DATA", str(world_dir))
    monkeypatch.setenv("ADVOCACY_AS_OF", as_of.isoformat())
    text = _text(_execute(EXPLORE, tmp_path))
    assert str(world_dir) in text
    for table in ("usage_events", "advocacy_activities", "nps_responses"):
        assert table in text
    assert "promoters" in text and "login" in text


@pytest.mark.slow
def test_model_report_shows_both_champions(world_dir, as_of, mlflow_store, tmp_path):
    settings = Settings()
    tracking.configure_tracking(settings)
    con = connect(world_dir)
    try:
        frames = {spec.name: spec.build_rows(con, as_of, settings) for spec in TARGETS}
    finally:
        con.close()
    for spec in TARGETS:
        fitted = fit_target(frames[spec.name], spec, settings)
        tracking.log_and_promote(fitted, settings, as_of=as_of, data_fingerprint={"as_of": as_of})
    notebook = _execute(REPORT, tmp_path)
    text = _text(notebook)
    for spec in TARGETS:
        assert f"{spec.model_name(settings)} v1" in text
    assert "baseline_logreg" in text and "Model card" in text
    images = [
        o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(images) == 6  # calibration, lift and drivers for each model
