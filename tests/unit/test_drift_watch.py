"""The run's drift watch: both references, the stored profile, finding the previous run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from advocacy.monitoring import drift


def _frame(n: int, usage_scale: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "usage_events_30d": rng.poisson(40 * usage_scale, n).astype(float),
            "nps_latest": rng.integers(0, 11, n).astype(float),
            "p_advocate": rng.beta(2, 5, n),
        }
    )


COLUMNS = ["usage_events_30d", "nps_latest", "p_advocate"]


def test_watch_flags_the_shifted_input_against_the_reference_only():
    reference, now = _frame(4000, 1.0, 1), _frame(4000, 0.6, 2)  # usage down 40%
    watch = drift.watch(now, COLUMNS, (), previous=None, reference=reference)
    assert watch.vs_training is not None and watch.vs_previous is None
    assert watch.vs_training.drifted == ["usage_events_30d"]
    assert list(watch.summary()) == ["training window"]


def test_the_stored_profile_is_what_the_next_run_compares_with(tmp_path):
    first = drift.watch(_frame(4000, 1.0, 1), COLUMNS, (), previous=None, reference=None)
    folder = tmp_path / "2026-11-16"
    folder.mkdir()
    manifest = {"drift": first.to_manifest()}
    (folder / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    previous = drift.previous_drift([folder])
    assert previous is not None
    same = drift.watch(_frame(4000, 1.0, 3), COLUMNS, (), previous=previous, reference=None)
    shifted = drift.watch(_frame(4000, 0.6, 3), COLUMNS, (), previous=previous, reference=None)
    assert same.vs_previous is not None and same.vs_previous.drifted == []
    assert shifted.vs_previous is not None and shifted.vs_previous.drifted == ["usage_events_30d"]


def test_previous_drift_takes_the_newest_run_that_has_a_profile(tmp_path):
    old, new, broken = (tmp_path / d for d in ("2026-11-02", "2026-11-09", "2026-11-16"))
    for folder in (old, new, broken):
        folder.mkdir()
    (old / "run.json").write_text(json.dumps({"drift": {"profile": {"columns": {}, "n": 1}}}))
    (new / "run.json").write_text(json.dumps({"drift": {"profile": {"columns": {}, "n": 2}}}))
    (broken / "run.json").write_text("{not json")
    found = drift.previous_drift([old, new, broken])
    assert found is not None and found["profile"]["n"] == 2
    assert drift.previous_drift([]) is None
