"""Drift watch: profiles round-trip as JSON and compare() flags what moved, and only that."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from advocacy.monitoring import drift

N = 4000
USAGE = ["usage_events_30d", "usage_active_days_30d"]
UNTOUCHED = ["nps_latest", "p_advocate", "account_segment"]


def _world(seed: int, usage_scale: float = 1.0) -> pd.DataFrame:
    """Feature-frame-like rows; usage_scale < 1 is a world whose product use fell on purpose."""
    rng = np.random.default_rng(seed)
    nps = rng.integers(0, 11, N).astype("float64")
    nps[rng.random(N) < 0.2] = np.nan
    return pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(N)],
            "email": [f"person{i}@example.com" for i in range(N)],
            "usage_events_30d": rng.poisson(40 * usage_scale, N).astype("float64"),
            "usage_active_days_30d": rng.binomial(30, 0.5 * usage_scale, N).astype("float64"),
            "nps_latest": nps,
            "p_advocate": rng.beta(2, 8, N),
            "account_segment": pd.Series(rng.choice(["smb", "mid", "ent"], N, p=[0.5, 0.3, 0.2])),
        }
    )


def _profile(frame: pd.DataFrame) -> dict:
    return drift.profile(frame, [*USAGE, *UNTOUCHED], categorical=["account_segment"])


def test_shifted_usage_is_flagged_and_untouched_columns_are_not() -> None:
    report = drift.compare(_profile(_world(1)), _world(2, usage_scale=0.7), label="training")
    assert sorted(report.drifted) == sorted(USAGE)
    assert report.columns["usage_events_30d"].method == "wasserstein"
    assert report.columns["account_segment"].method == "jensenshannon"
    summary = report.to_dict()
    assert (summary["n_columns"], summary["n_drifted"], summary["dataset_drift"]) == (5, 2, False)
    assert summary["columns"]["usage_events_30d"]["psi"] > 0.25  # ops read > 0.25 as a big move


def test_identical_data_flags_nothing() -> None:
    frame = _world(1)
    report = drift.compare(_profile(frame), frame)
    assert report.drifted == [] and not report.dataset_drift
    assert all(c.distance == pytest.approx(0.0, abs=1e-12) for c in report.columns.values())
    assert all(c.psi == pytest.approx(0.0, abs=1e-12) for c in report.columns.values())


def test_fresh_sample_of_the_same_world_flags_nothing() -> None:
    assert drift.compare(_profile(_world(1)), _world(2)).drifted == []


def test_profile_round_trips_as_json_and_holds_no_identifiers() -> None:
    frame = _world(1)
    stored = drift.profile(frame, ["contact_id", "email", *USAGE, *UNTOUCHED], ["account_segment"])
    text = json.dumps(stored, allow_nan=False)
    assert json.loads(text) == stored
    assert stored["skipped"] == ["contact_id", "email"]
    assert "person1@" not in text and '"c1"' not in text
    again = drift.compare(json.loads(text), _world(2, usage_scale=0.7))
    assert sorted(again.drifted) == sorted(USAGE)


def test_previous_run_profile_vs_profile_gives_the_same_verdict() -> None:
    previous, current = _world(1), _world(2, usage_scale=0.7)
    from_rows = drift.compare(_profile(previous), current)
    from_profiles = drift.compare(_profile(previous), _profile(current), label="previous run")
    assert from_profiles.drifted == from_rows.drifted
    for name, col in from_rows.columns.items():
        assert from_profiles.columns[name].distance == pytest.approx(col.distance, rel=1e-9)


def test_categorical_shift_is_detected() -> None:
    current = _world(2)
    current["account_segment"] = np.random.default_rng(3).choice(["smb", "ent"], N, p=[0.2, 0.8])
    report = drift.compare(_profile(_world(1)), current)
    assert report.drifted == ["account_segment"]
    assert report.columns["account_segment"].distance > drift.JENSENSHANNON_THRESHOLD


def test_rare_categories_are_pooled_not_stored() -> None:
    series = pd.Series(["a"] * 50 + ["rare1", "rare2"] + [None] * 3)
    shares = drift.profile(series.to_frame("x"), ["x"], ["x"])["columns"]["x"]["shares"]
    assert set(shares) == {"a", drift.OTHER, drift.MISSING}
    assert shares[drift.OTHER] == pytest.approx(2 / 55)


def test_nulls_are_handled() -> None:
    reference, current = _world(1), _world(2)
    current.loc[current.index[: N // 2], "p_advocate"] = np.nan  # half the scores lost
    current["account_segment"] = current["account_segment"].where(current.index % 2 == 0)
    current["nps_latest"] = np.nan  # no NPS at all this week
    report = drift.compare(_profile(reference), current)
    p = report.columns["p_advocate"]
    assert p.drifted and p.null_share_current == pytest.approx(0.5)
    assert p.distance is not None and p.distance < drift.WASSERSTEIN_THRESHOLD  # values kept
    assert report.columns["nps_latest"].drifted and report.columns["nps_latest"].distance is None
    assert report.columns["account_segment"].drifted
    assert json.dumps(report.to_dict(), allow_nan=False)


def test_column_missing_on_one_side_is_reported() -> None:
    reference = _profile(_world(1))
    current = _world(2).drop(columns=["usage_events_30d"]).assign(new_score=0.5)
    report = drift.compare(reference, current)
    assert report.missing == {"usage_events_30d": "current"}
    assert "usage_events_30d" not in report.columns and report.to_dict()["n_columns"] == 4
    both = drift.compare(reference, drift.profile(current, ["new_score", *UNTOUCHED], UNTOUCHED))
    assert both.missing == {"usage_active_days_30d": "current", "usage_events_30d": "current",
                            "new_score": "reference"}  # fmt: skip


def test_html_and_markdown_are_escaped() -> None:
    frame = pd.DataFrame({"<b>x|y</b>": np.arange(100.0)})
    report = drift.compare(drift.profile(frame, list(frame.columns)), frame + 50, label="<i>")
    page = report.to_html()
    assert "<b>" not in page and "&lt;b&gt;x|y&lt;/b&gt;" in page and 'class="drifted"' in page
    md = report.to_markdown()
    assert "x\\|y" in md and "<b>" not in md and "1 of 1 columns drifted" in md
