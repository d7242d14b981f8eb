"""The two targets, one spec each: everything that differs between p_advocate and p_burnout.

Training, splitting, baselines, tracking, the model card, the flows and the published files
loop over `TARGETS` and read what they need from a spec; nothing else dispatches on a target's
name. Adding a third model is adding a spec here (and its row builder under `features/`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import pandas as pd

from advocacy.features import build as feature_build
from advocacy.features import facts as world_facts
from advocacy.features.facts import TrainingRowsFacts
from advocacy.features.nps import DETRACTOR_MAX
from advocacy.settings import Settings, SettingsError

RowBuilder = Callable[[duckdb.DuckDBPyConnection, date, Settings], pd.DataFrame]
FactsBuilder = Callable[[duckdb.DuckDBPyConnection, date, Settings], TrainingRowsFacts]
# (rows found, settings, facts or None) -> why there are too few rows, one clause
RowsCause = Callable[[int, Settings, TrainingRowsFacts | None], str]
# (the only label present, settings) -> why every row has it, one clause
OneLabelCause = Callable[[int, Settings], str]


@dataclass(frozen=True)
class ModelCardText:
    """What a target's model card says that no other target's card says."""

    purpose: str  # what the probability means
    population: str  # what one training row is
    caveats: tuple[str, ...]  # known limits of this target's label and rows


@dataclass(frozen=True)
class TargetSpec:
    """One target: its rows, its label window, its registry name, its model card."""

    name: str  # "advocate": the key in settings, run names and tags
    score_column: str  # "p_advocate": the column it fills in scores.parquet
    title: str  # "Advocacy propensity": how reports name it
    registered_name: str  # default MLflow registered model (tracking.model_names overrides)
    build_rows: RowBuilder  # training rows at T: features as of each row's t, plus `label`
    label_window: Callable[[Settings], int]  # days a label needs to close (split gap >= this)
    rows_facts: FactsBuilder  # what the data holds for this target's rows (refusals say why)
    rows_cause: RowsCause  # why too few training rows
    one_label_cause: OneLabelCause  # why all rows carry one label
    card: ModelCardText
    monotone: Mapping[str, int] = field(default_factory=dict)  # feature or glob -> +1 / -1
    nps_direction: int = 1  # the latest-NPS baseline: +1 high NPS -> high p, -1 the reverse

    def model_name(self, settings: Settings) -> str:
        """The registered model this target's versions go to (unknown override keys refused)."""
        check_settings(settings)
        return settings.tracking.model_names.get(self.name, self.registered_name)


def _when(ts: pd.Timestamp | None) -> str:
    return "none" if ts is None else ts.isoformat(sep=" ", timespec="seconds")


def _before_data(facts: TrainingRowsFacts) -> str | None:
    if facts.data_begins is None or facts.data_begins >= pd.Timestamp(facts.as_of):
        begins = _when(facts.data_begins)
        return f"as_of {facts.as_of.isoformat()} is before the data begins ({begins})"
    return None


# ------------------------------------------------------------------ advocate
def _advocate_rows_cause(rows: int, settings: Settings, facts: TrainingRowsFacts | None) -> str:
    w = settings.windows
    window, lookback = w.response_window_days, w.advocate_lookback_days
    if facts is None and rows:
        return (
            f"only {rows} asks have a closed {window}-day response window in the "
            f"{lookback} days before as_of (windows.advocate_lookback_days)"
        )
    if facts is None:
        return (
            f"no asks with a closed {window}-day response window in the {lookback} days "
            "before as_of (no asks, all too recent, or as_of too far past the data; "
            "`advocacy validate --as-of` says which)"
        )
    T = facts.as_of.isoformat()
    if (early := _before_data(facts)) is not None:
        return early
    if facts.events == 0:
        return f"no asks before as_of {T} (requested_at set, status not cancelled)"
    if facts.in_lookback == 0:
        return (
            f"the newest ask ({_when(facts.newest_event)}) is older than the {lookback}-day "
            "lookback: as_of is too far past the data (windows.advocate_lookback_days)"
        )
    if facts.closed == 0:
        opens = (facts.as_of - timedelta(days=window)).isoformat()
        return (
            f"{facts.in_lookback} asks before as_of {T}, but none has a closed {window}-day "
            f"response window: all were made on or after {opens} "
            "(windows.response_window_days)"
        )
    return (
        f"only {facts.closed} asks have a closed {window}-day response window in the "
        f"{lookback} days before as_of {T} (windows.advocate_lookback_days)"
    )


def _advocate_one_label(value: int, settings: Settings) -> str:
    if value == 0:
        return (
            f"every ask was declined, unanswered or completed after "
            f"{settings.windows.response_window_days} days (none accepted)"
        )
    return "every ask was accepted (none declined): nothing to tell yes from no"


ADVOCATE_CARD = ModelCardText(
    purpose=(
        "p_advocate: the probability that the contact completes an advocacy activity within "
        "the response window if asked now, with the kind of ask the company usually makes."
    ),
    population=(
        "One row per past ask (requested_at set, not cancelled, response window closed before "
        "as_of); features from data strictly before the ask."
    ),
    caveats=(
        "**Ask-selection bias.** The model learns only from people the company chose to ask "
        "(mostly recent promoters and large accounts). For kinds of contacts that were rarely "
        "asked, p_advocate is an extrapolation; treat their scores with care.",
        "The label is 'completed within the window', so slow yeses count as no.",
        "The score is for the usual kind of ask for a contact like this one, not for a "
        "specific activity type.",
    ),
)

ADVOCATE = TargetSpec(
    name="advocate",
    score_column="p_advocate",
    title="Advocacy propensity",
    registered_name="advocacy-propensity",
    build_rows=feature_build.build_advocate_training,
    label_window=lambda s: s.windows.response_window_days,
    rows_facts=world_facts.advocate_rows_facts,
    rows_cause=_advocate_rows_cause,
    one_label_cause=_advocate_one_label,
    card=ADVOCATE_CARD,
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


# ------------------------------------------------------------------ burnout
def _burnout_rows_cause(rows: int, settings: Settings, facts: TrainingRowsFacts | None) -> str:
    w = settings.windows
    horizon = w.burnout_horizon_days
    if facts is None and rows:
        return (
            f"only {rows} (advocate, snapshot) rows whose {horizon}-day horizon closed in the "
            f"{w.burnout_lookback_days} days before as_of (windows.burnout_lookback_days)"
        )
    if facts is None:
        return (
            f"no active advocate at any snapshot whose {horizon}-day horizon closed before as_of "
            "(no completed activities, all too recent, or as_of before the data)"
        )
    T = facts.as_of.isoformat()
    if (early := _before_data(facts)) is not None:
        return early
    if facts.events == 0:
        return f"no completed advocacy activity before as_of {T}: nobody is an advocate yet"
    if facts.closed == 0:
        first = (facts.as_of - timedelta(days=horizon)).isoformat()
        return (
            f"{facts.events} completed activities before as_of {T}, but none before {first} "
            f"(as_of - windows.burnout_horizon_days): no {horizon}-day horizon has closed"
        )
    return (
        f"only {rows} (advocate, snapshot) rows from {facts.closed} completed activities before "
        f"the newest snapshot in the {w.burnout_lookback_days} days before as_of {T} "
        "(windows.burnout_lookback_days)"
    )


def _burnout_one_label(value: int, settings: Settings) -> str:
    if value == 0:
        return (
            f"no burnout event: no active advocate opted out or gave NPS <= "
            f"{DETRACTOR_MAX} within {settings.windows.burnout_horizon_days} days "
            "of a snapshot"
        )
    return "every row is a burnout event: nothing to tell burnout from staying"


BURNOUT_CARD = ModelCardText(
    purpose=(
        "p_burnout: the probability that an active advocate burns out of the program (opts out "
        "or gives a detractor NPS) within the burnout horizon."
    ),
    population=(
        "One row per (active advocate, snapshot) on a regular snapshot grid whose horizon closed "
        "before as_of; features from data strictly before the snapshot."
    ),
    caveats=(
        "Burnout is observed only through opt-outs and detractor NPS answers; contacts who "
        "quietly stop responding are not counted as burnt out.",
        "Only active advocates are in the training population; for contacts who never "
        "completed an activity, p_burnout is an extrapolation.",
    ),
)

BURNOUT = TargetSpec(
    name="burnout",
    score_column="p_burnout",
    title="Burnout risk",
    registered_name="advocacy-burnout",
    build_rows=feature_build.build_burnout_training,
    label_window=lambda s: s.windows.burnout_horizon_days,
    rows_facts=world_facts.burnout_rows_facts,
    rows_cause=_burnout_rows_cause,
    one_label_cause=_burnout_one_label,
    card=BURNOUT_CARD,
    monotone={"adv_asks": 1, "adv_asks_*d": 1, "adv_days_since_last_ask": -1},
    nps_direction=-1,
)

TARGETS: tuple[TargetSpec, ...] = (ADVOCATE, BURNOUT)


# ------------------------------------------------------------------ lookups
def target(name: str) -> TargetSpec:
    """The spec called `name`; a clear error naming the known ones otherwise."""
    for spec in TARGETS:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in TARGETS)
    raise KeyError(f"unknown target {name!r}; the targets are {known}")


def check_settings(settings: Settings) -> None:
    """Refuse `tracking.model_names` keys that name no target (a typo would be ignored)."""
    known = [s.name for s in TARGETS]
    unknown = sorted(set(settings.tracking.model_names) - set(known))
    if unknown:
        raise SettingsError(
            "settings",
            [
                f"tracking.model_names.{name}: not a target (the targets are {', '.join(known)})"
                for name in unknown
            ],
        )
