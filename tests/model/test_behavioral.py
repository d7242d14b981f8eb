"""Behavioural tests of the trained models on a generated world (directional + invariance).

Each test takes real scoring rows, changes one idea about a contact the way the feature code
would see it (every feature that idea touches moves together), and checks the direction of
the score for every contact, not on average.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from advocacy.data_contracts.load import connect
from advocacy.features import advocacy as advocacy_features
from advocacy.features import nps, usage
from advocacy.features.build import build_scoring
from advocacy.models.targets import ADVOCATE, BURNOUT
from advocacy.models.train import FittedTarget, fit_target
from advocacy.settings import Settings

pytestmark = pytest.mark.slow

ROWS = 300
TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def trained(world_dir, as_of) -> dict[str, FittedTarget | pd.DataFrame]:
    settings = Settings()
    con = connect(world_dir)
    try:
        advocate = fit_target(ADVOCATE.build_rows(con, as_of, settings), ADVOCATE, settings)
        burnout = fit_target(BURNOUT.build_rows(con, as_of, settings), BURNOUT, settings)
        scoring = build_scoring(con, as_of, settings)
    finally:
        con.close()
    rows = scoring.sample(n=min(ROWS, len(scoring)), random_state=0).reset_index(drop=True)
    return {"advocate": advocate, "burnout": burnout, "rows": rows}


def _assert_non_decreasing(scores: list[np.ndarray]) -> None:
    for before, after in itertools.pairwise(scores):
        assert (after >= before - TOLERANCE).all(), (
            f"{int((after < before - TOLERANCE).sum())} fell"
        )


def _with_latest_nps(rows: pd.DataFrame, score: float) -> pd.DataFrame:
    """The contact's latest answer is `score` (the mean of the last three moves with it)."""
    old, k = rows["nps_latest"], rows["nps_responses"].clip(1, nps.RECENT_RESPONSES)
    mean = (rows["nps_mean_last3"] + (score - old) / k).where(old.notna(), score)
    return rows.assign(
        nps_latest=float(score),
        nps_mean_last3=mean,
        nps_is_promoter=float(score >= nps.PROMOTER_MIN),
        nps_is_detractor=float(score <= nps.DETRACTOR_MAX),
        nps_responses=rows["nps_responses"].clip(lower=1),
    )


def _with_recent_usage(rows: pd.DataFrame, extra: int) -> pd.DataFrame:
    """`extra` more events (one per day, up to a week) in the last seven days."""
    recent, base_days = usage.TREND_RECENT_DAYS, usage.TREND_BASE_DAYS
    out = rows.copy()
    base = rows[f"usage_events_{recent + base_days}d"] - rows[f"usage_events_{recent}d"]
    for d in usage.WINDOWS_DAYS:
        out[f"usage_events_{d}d"] = rows[f"usage_events_{d}d"] + extra
        room = (min(d, 7) - rows["usage_active_days_7d"]).clip(lower=0)
        out[f"usage_active_days_{d}d"] = rows[f"usage_active_days_{d}d"] + np.minimum(extra, room)
    new_recent = out[f"usage_events_{recent}d"]
    trend = (new_recent / recent) / (base / base_days) - 1
    out[f"usage_trend_{recent}_vs_{base_days}"] = trend.where(base > 0)
    if extra:
        out["usage_days_since_last"] = rows["usage_days_since_last"].clip(upper=1).fillna(1)
    return out


def _with_recent_asks(rows: pd.DataFrame, extra: int) -> pd.DataFrame:
    """`extra` more asks in the last week."""
    n = advocacy_features.RECENT_DAYS
    out = rows.assign(
        adv_asks=rows["adv_asks"] + extra, **{f"adv_asks_{n}d": rows[f"adv_asks_{n}d"] + extra}
    )
    if extra:
        out["adv_days_since_last_ask"] = rows["adv_days_since_last_ask"].clip(upper=7).fillna(7)
    return out


def test_raising_the_latest_nps_never_lowers_p_advocate(trained):
    model = trained["advocate"].model
    scores = [model.predict_proba(_with_latest_nps(trained["rows"], s)) for s in range(11)]
    _assert_non_decreasing(scores)
    assert (scores[10] > scores[0]).mean() > 0.5  # and it actually matters


def test_more_recent_usage_never_lowers_p_advocate(trained):
    model = trained["advocate"].model
    scores = [
        model.predict_proba(_with_recent_usage(trained["rows"], k)) for k in (0, 1, 3, 7, 20, 60)
    ]
    _assert_non_decreasing(scores)


def test_more_recent_asks_never_lower_p_burnout(trained):
    model = trained["burnout"].model
    scores = [model.predict_proba(_with_recent_asks(trained["rows"], k)) for k in range(6)]
    _assert_non_decreasing(scores)


def test_scores_ignore_ids_and_row_order(trained):
    model, rows = trained["advocate"].model, trained["rows"]
    renamed = rows.assign(contact_id="C9999999", account_id="A999999")
    np.testing.assert_array_equal(model.predict_proba(renamed), model.predict_proba(rows))
    shuffled = rows.sample(frac=1.0, random_state=1)
    np.testing.assert_allclose(
        model.predict_proba(shuffled), model.predict_proba(rows)[shuffled.index.to_numpy()]
    )
