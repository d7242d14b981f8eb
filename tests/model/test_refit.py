"""The model that scores at T learns from every closed row, not only the train period.

A world whose strongest signal appears only in its newest months (a new product line, say):
the holdout model (train period only) cannot know it; the registered model, refit on all
closed rows, must, and it must rank next period's contacts better.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from advocacy.models.train import fit_target
from advocacy.settings import Settings
from tests.model_frames import CATEGORICAL, FEATURES, frame_spec, with_training

pytestmark = pytest.mark.slow

DAYS, SHIFT = 700, 0.75  # the new signal starts at 75% of the period


def _world(n: int, seed: int, start_day: float = 0.0, days: float = DAYS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    day = np.sort(rng.uniform(start_day, start_day + days, n))
    steady, recent = rng.normal(size=n), rng.normal(size=n)
    late = day >= SHIFT * DAYS
    logit = -0.5 + 0.6 * steady + np.where(late, 2.5 * recent, 0.0)
    return pd.DataFrame(
        {
            "contact_id": [f"C{seed}{i:06d}" for i in range(n)],
            "account_id": [f"A{i % 200:05d}" for i in range(n)],
            "t": pd.Timestamp("2024-01-01") + pd.to_timedelta(day, unit="D"),
            "nps_latest": np.nan,  # the NPS rule knows nothing here: AUC 0.5
            "usage_events_30d": steady,
            "adv_asks_90d": rng.poisson(1.0, n).astype(float),
            "noise": recent,
            "account_segment": pd.Series(rng.choice(["smb", "enterprise"], n), dtype="str"),
            "contact_persona": pd.Series(rng.choice(["admin", "champion"], n), dtype="str"),
            "label": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )


def test_refit_model_learns_the_newest_signal_the_train_period_lacks():
    frame = _world(4000, seed=1)
    settings = with_training(Settings(), tune=False)
    fitted = fit_target(
        frame, frame_spec("advocate"), settings, features=FEATURES, categorical=CATEGORICAL
    )
    assert fitted.refit_rows == len(frame) > len(fitted.split.fit_idx)
    nxt = _world(2000, seed=2, start_day=DAYS, days=60)  # the following period
    y = nxt["label"].to_numpy()
    refit_auc = roc_auc_score(y, fitted.model.predict_proba(nxt[FEATURES]))
    slice_auc = roc_auc_score(y, fitted.holdout_model.predict_proba(nxt[FEATURES]))
    assert refit_auc > slice_auc + 0.1
    assert refit_auc > 0.7


def test_without_refit_the_registered_model_is_the_holdout_model():
    frame = _world(1500, seed=3)
    settings = with_training(Settings(), tune=False, refit=False)
    fitted = fit_target(
        frame, frame_spec("advocate"), settings, features=FEATURES, categorical=CATEGORICAL
    )
    assert fitted.model is fitted.holdout_model
    assert fitted.refit_rows == len(fitted.split.fit_idx)
