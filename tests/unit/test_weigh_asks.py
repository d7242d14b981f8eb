"""The weekly job weighs asks that an earlier list's exploration slice led to (and only those),
and the booster learns with the weights."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from advocacy.models import train
from advocacy.models.targets import ADVOCATE, BURNOUT
from advocacy.pipelines import job
from advocacy.settings import Settings


def _published(root: Path, day: str, rows: list[tuple[str, str, float]]) -> None:
    folder = root / day
    folder.mkdir(parents=True)
    pd.DataFrame(rows, columns=["contact_id", "selection", "inclusion_probability"]).assign(
        suggested_activity="review"
    ).to_csv(folder / "candidates.csv", index=False, encoding="utf-8-sig")
    (folder / "run.json").write_text("{}")


def _rows() -> job.Rows:
    asks = pd.DataFrame(
        {
            "contact_id": ["C1", "C2", "C3", "C1"],
            "t": pd.to_datetime(["2026-01-07", "2026-01-08", "2026-01-09", "2025-12-01"]),
        }
    )
    return job.Rows(
        (job.TrainingRows(ADVOCATE, asks), job.TrainingRows(BURNOUT, asks.copy())), None
    )


def test_explore_asks_get_inverse_probability_weights(tmp_path):
    root = tmp_path / "output"
    _published(root, "2026-01-05", [("C1", "explore", 0.1), ("C2", "optimise", 1.0)])
    settings = Settings.model_validate({"output_root": str(root)})
    weighed = job.weigh_asks(_rows(), None, date(2026, 2, 1), settings)
    w = weighed.training[0].frame[train.WEIGHT].to_numpy()
    raw = np.array([10.0, 1.0, 1.0, 1.0])  # C1's ask 2 days after the list; its older ask: 1
    np.testing.assert_allclose(w, raw / raw.mean())
    assert train.WEIGHT not in weighed.training[1].frame  # burnout rows are not asks


def test_off_or_no_lists_leaves_the_rows_alone(tmp_path):
    settings = Settings.model_validate({"output_root": str(tmp_path / "none")})
    rows = _rows()
    assert job.weigh_asks(rows, None, date(2026, 2, 1), settings) == rows
    off = Settings.model_validate({"training": {"inclusion_weights": False}})
    assert job.weigh_asks(rows, None, date(2026, 2, 1), off) is rows


def test_the_booster_learns_with_the_weights():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=400)})
    y = (rng.random(400) < 0.5).astype(int)
    params = {"verbose": -1, "min_data_in_leaf": 5, "num_leaves": 4}
    plain = train._fit_booster(X, y, params, 20, [])
    w = np.where(X["x"] > 0, 5.0, 1.0)
    weighted = train._fit_booster(X, y, params, 20, [], w)
    assert not np.allclose(plain.predict_proba(X)[:, 1], weighted.predict_proba(X)[:, 1])
    assert train.row_weights(pd.DataFrame({train.WEIGHT: [1.0, 1.0]})) is None
    assert train.row_weights(pd.DataFrame({train.WEIGHT: [2.0, 0.5]})) is not None
