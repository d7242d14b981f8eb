"""The two targets, one spec each: everything that differs between p_advocate and p_burnout.

Training, splitting, baselines, tracking, the model card, the flows and the published files
loop over `TARGETS` and read what they need from a spec; nothing else dispatches on a target's
name. Adding a third model is adding a spec here (and its row builder under `features/`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import duckdb
import pandas as pd
from advocacy.features import build as feature_build

from advocacy.settings import Settings

RowBuilder = Callable[[duckdb.DuckDBPyConnection, date, Settings], pd.DataFrame]


@dataclass(frozen=True)
class TargetSpec:
    """One target: its rows, its label window, its registry name, its model card."""

    name: str  # "advocate": the key in settings, run names and tags
    score_column: str  # "p_advocate": the column it fills in scores.parquet
    title: str  # "Advocacy propensity": how reports name it
    registered_name: str  # default MLflow registered model (tracking.model_names overrides)
    build_rows: RowBuilder  # training rows at T: features as of each row's t, plus `label`
    label_window: Callable[[Settings], int]  # days a label needs to close (split gap >= this)
    monotone: Mapping[str, int] = field(default_factory=dict)  # feature or glob -> +1 / -1
    nps_direction: int = 1  # the latest-NPS baseline: +1 high NPS -> high p, -1 the reverse

    def model_name(self, settings: Settings) -> str:
        """The registered model this target's versions go to."""
        return settings.tracking.model_names.get(self.name, self.registered_name)


ADVOCATE = TargetSpec(
    name="advocate",
    score_column="p_advocate",
    title="Advocacy propensity",
    registered_name="advocacy-propensity",
    build_rows=feature_build.build_advocate_training,
    label_window=lambda s: s.windows.response_window_days,
    monotone={
        "nps_latest": 1,
        "nps_mean_last3": 1,
        "nps_is_promoter": 1,
        "nps_is_detractor": -1,
        "usage_events_*": 1,
        "usage_active_days_*": 1,
        "usage_trend_*": 1,
        "usage_days_since_last": -1,
    },
    nps_direction=1,
)
BURNOUT = TargetSpec(
    name="burnout",
    score_column="p_burnout",
    title="Burnout risk",
    registered_name="advocacy-burnout",
    build_rows=feature_build.build_burnout_training,
    label_window=lambda s: s.windows.burnout_horizon_days,
    monotone={"adv_asks": 1, "adv_asks_*d": 1, "adv_days_since_last_ask": -1},
    nps_direction=-1,
)
TARGETS: tuple[TargetSpec, ...] = (ADVOCATE, BURNOUT)


def target(name: str) -> TargetSpec:
    """The spec called `name`; a clear error naming the known ones otherwise."""
    for spec in TARGETS:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in TARGETS)
    raise KeyError(f"unknown target {name!r}; the targets are {known}")
