"""Shared toy training frames for the model tests: a known signal, both kinds of features.

Unit and integration tests of training, tracking and the registry build their frames here, so
no test module imports another. The toy frame has only a few of the registry's features, so
the targets' monotone directions are narrowed to the ones it has (`frame_spec`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from advocacy.models.targets import TargetSpec, target
from advocacy.settings import Settings

NUMERIC = ["nps_latest", "usage_events_30d", "adv_asks_90d", "noise"]
CATEGORICAL = ["account_segment", "contact_persona"]
FEATURES = [*NUMERIC, *CATEGORICAL]
# monotone directions that name this frame's features (the specs' name the registry's)
FRAME_MONOTONE = {
    "advocate": {"nps_latest": 1, "usage_events_*": 1},
    "burnout": {"adv_asks_*d": 1},
}


def make_frame(n: int = 3000, seed: int = 0, days: int = 700) -> pd.DataFrame:
    """A feature frame per docs/design.md with a known signal (NPS up, usage up, asks down,
    enterprise up), missing values in both kinds of columns, and a time column."""
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, days, n)), unit="D")
    nps = rng.integers(0, 11, n).astype(float)
    nps[rng.random(n) < 0.2] = np.nan
    usage = rng.gamma(2.0, 5.0, n)
    asks = rng.poisson(1.0, n).astype(float)
    segment = rng.choice(["smb", "mid_market", "enterprise"], n)
    persona = np.where(rng.random(n) < 0.1, None, rng.choice(["executive", "champion", "admin"], n))
    logit = (
        -1.0
        + 0.5 * (np.nan_to_num(nps, nan=5.0) - 5.0)
        + 0.08 * (usage - 10.0)
        - 0.5 * asks
        + 0.8 * (segment == "enterprise")
    )
    label = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "contact_id": [f"C{i:07d}" for i in range(n)],
            "account_id": [f"A{i % 300:06d}" for i in range(n)],
            "t": t,
            "nps_latest": nps,
            "usage_events_30d": usage,
            "adv_asks_90d": asks,
            "noise": rng.normal(size=n),
            "account_segment": pd.Series(segment, dtype="str"),
            "contact_persona": pd.Series(persona, dtype="str"),
            "label": label,
        }
    )


def frame_spec(name: str) -> TargetSpec:
    """The real target spec, with monotone directions that name the toy frame's features."""
    return dataclasses.replace(target(name), monotone=FRAME_MONOTONE[name])


def with_training(settings: Settings, **changes) -> Settings:
    return settings.model_copy(update={"training": settings.training.model_copy(update=changes)})


# The tests' small generated worlds have holdouts too small to trust a booster: the fallback
# would register the NPS rule, and reasons would be one rule column. These settings of
# `promotion` let LightGBM champions through (the Spark scoring and job tests).
SMALL_WORLD_PROMOTION = {
    "min_holdout_rows": 0,
    "min_holdout_positives": 0,
    "min_auc_margin_over_rule": 0.0,
    "bootstrap_samples": 20,
}
