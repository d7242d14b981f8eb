"""Holdout metrics and baselines on tiny hand-built numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from advocacy.models.baselines import HEURISTIC_CLIP, fit_logistic_baseline, nps_heuristic
from advocacy.models.evaluate import (
    METRIC_NAMES,
    binary_metrics,
    expected_calibration_error,
    lift_at,
    lift_curve,
    metrics_table,
)
from advocacy.models.plots import figure_png, lift_figure
from advocacy.models.targets import ADVOCATE, BURNOUT


def test_lift_in_the_top_decile():
    y = np.array([1] + [0] * 9 + [1] * 1 + [0] * 9)  # base rate 0.1
    p = np.linspace(1, 0, 20)  # the first two rows score highest: one positive among them
    assert lift_at(y, p) == pytest.approx(0.5 / 0.1)
    assert math.isnan(lift_at(np.zeros(5), np.ones(5)))


def test_perfectly_calibrated_bins_have_zero_error_and_a_biased_one_does_not():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    p = np.array([0.25] * 4 + [0.75] * 4)
    assert expected_calibration_error(y, p) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(8, 0.95)) == pytest.approx(0.45)


def test_binary_metrics_known_values():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = binary_metrics(y, p)
    assert tuple(m) == METRIC_NAMES
    assert m["auc"] == pytest.approx(0.75)
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert m["n_rows"] == 4 and m["base_rate"] == 0.5


def test_one_class_gives_nan_ranking_metrics_not_a_crash():
    m = binary_metrics(np.zeros(4, dtype=int), np.array([0.1, 0.2, 0.3, 0.4]))
    assert math.isnan(m["auc"]) and math.isnan(m["pr_auc"])
    assert np.isfinite(m["log_loss"])


def test_metrics_table_and_lift_curve_shapes():
    y = np.array([0, 1] * 50)
    table = metrics_table({"a": binary_metrics(y, np.linspace(0, 1, 100))})
    assert list(table.columns) == list(METRIC_NAMES) and list(table.index) == ["a"]
    curve = lift_curve(y, y.astype(float))
    assert curve["lift"].iloc[0] == pytest.approx(2.0) and curve["lift"].iloc[-1] == 0.0


def test_nps_heuristic_directions_and_unknown_nps():
    frame = pd.DataFrame({"nps_latest": [0.0, 5.0, 10.0, np.nan]})
    adv = nps_heuristic(frame, ADVOCATE.nps_direction, base_rate=0.3)
    burn = nps_heuristic(frame, BURNOUT.nps_direction, base_rate=0.2)
    np.testing.assert_allclose(adv, [HEURISTIC_CLIP[0], 0.5, HEURISTIC_CLIP[1], 0.3])
    np.testing.assert_allclose(burn, [HEURISTIC_CLIP[1], 0.5, HEURISTIC_CLIP[0], 0.2])
    with pytest.raises(ValueError, match="direction"):
        nps_heuristic(frame, 0, base_rate=0.1)


def test_logistic_baseline_handles_missing_and_unseen_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    X = pd.DataFrame(
        {
            "x": np.where(rng.random(400) < 0.1, np.nan, x),
            "seg": pd.Series(
                np.where(rng.random(400) < 0.1, None, rng.choice(["a", "b"], 400)), dtype="str"
            ),
        }
    )
    y = (x + rng.normal(scale=0.5, size=400) > 0).astype(int)
    model = fit_logistic_baseline(X, y, ["x"], ["seg"], seed=0)
    new = pd.DataFrame(
        {"x": [2.0, -2.0, np.nan], "seg": pd.Series(["zzz", None, "a"], dtype="str")}
    )
    p = model.predict_proba(new)[:, 1]
    assert p[0] > 0.5 > p[1] and np.isfinite(p).all()


def test_figures_render_to_png():
    y = np.array([0, 1] * 50)
    fig = lift_figure(y, {"m": np.linspace(0, 1, 100)}, "test")
    png = figure_png(fig)
    assert png.startswith(b"\x89PNG")
    sharper = figure_png(fig, dpi=200)
    assert _png_size(sharper) == tuple(2 * v for v in _png_size(png))
    cropped = figure_png(fig, dpi=200, tight=True)
    assert cropped.startswith(b"\x89PNG") and _png_size(cropped) != _png_size(sharper)


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
