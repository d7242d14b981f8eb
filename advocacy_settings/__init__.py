"""The one typed settings object: windows, horizons, caps, weights, paths.

Every rule the pipeline applies reads its numbers from here, so a newcomer finds each
window or threshold in exactly one place. Defaults live in the models below;
`config/advocacy.yaml` mirrors them and is what users edit. Nothing happens at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_CONFIG_PATH = Path("config/advocacy.yaml")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WindowSettings(_Frozen):
    """Label windows and feature look-backs, in days."""

    response_window_days: int = Field(
        30, ge=1, description="p_advocate: ask counts as yes if completed within this many days"
    )
    burnout_horizon_days: int = Field(
        90, ge=1, description="p_burnout: opt-out or detractor NPS within this many days"
    )
    snapshot_spacing_days: int = Field(28, ge=1, description="spacing of the burnout snapshot grid")
    burnout_lookback_days: int = Field(
        730, ge=28, description="how far back the burnout snapshot grid reaches"
    )
    advocate_lookback_days: int = Field(
        730, ge=30, description="asks older than this are not used as training rows"
    )
    usage_windows_days: tuple[int, ...] = Field(
        (7, 30, 90), description="usage counts over these windows"
    )
    usage_trend_recent_days: int = 30
    usage_trend_base_days: int = 60
    recent_days: int = Field(90, description="'recent' look-back for tickets and ask history")
    nps_promoter_min: int = 9
    nps_detractor_max: int = 6


class EligibilitySettings(_Frozen):
    """Who must not be asked now. Rules run in order; the first that applies is the reason."""

    recent_ask_days: int = Field(30, ge=0, description="no ask within this many days before as_of")
    max_detractor_nps: int = Field(6, description="latest NPS at or below this blocks the ask")
    blocking_ticket_priorities: tuple[str, ...] = ("high", "urgent")


class RankingSettings(_Frozen):
    """priority = p_advocate**advocate_weight * (1 - p_burnout)**burnout_weight."""

    advocate_weight: float = Field(1.0, ge=0)
    burnout_weight: float = Field(1.0, ge=0)
    max_per_account: int = Field(2, ge=1)
    list_length: int = Field(100, ge=1)
    reasons_per_contact: int = Field(3, ge=1)
    activity_prior_persona: float = Field(
        20.0,
        gt=0,
        description="suggested activity: pseudo-asks pulling a persona's rate to the overall rate",
    )
    activity_prior_contact: float = Field(
        3.0,
        gt=0,
        description="suggested activity: pseudo-asks pulling a contact's rate to its persona's",
    )


class LightGBMSettings(_Frozen):
    learning_rate: float = 0.05
    num_leaves: int = Field(15, description="leaves per tree (docs/models.md: 15 beat 31)")
    max_depth: int = Field(
        6, ge=-1, description="-1 = unlimited; shallow trees make pred_contrib (reasons) faster"
    )
    min_data_in_leaf: int = 100
    feature_fraction: float = 0.9
    bagging_fraction: float = 0.9
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    max_rounds: int = 2000
    early_stopping_rounds: int = 50


class TrainingSettings(_Frozen):
    """Time-ordered evaluation: fit | gap | valid | gap | holdout, oldest to newest."""

    holdout_fraction: float = Field(
        0.2, gt=0, lt=0.5, description="newest share of rows, by event time"
    )
    valid_fraction: float = Field(
        0.15,
        gt=0,
        lt=0.5,
        description="newest share of the training period: early stopping + calibration",
    )
    calibration: Literal["isotonic", "sigmoid"] = Field(
        "sigmoid", description="sigmoid keeps the ranking (isotonic ties the top; docs/models.md)"
    )
    seed: int = 42
    tune: bool = Field(
        False,
        description="small Optuna-free search over num_leaves/min_data_in_leaf via LightGBM CV",
    )
    min_rows: int = Field(200, description="refuse to train on fewer rows than this")
    lightgbm: LightGBMSettings = LightGBMSettings()
    monotone_advocate: dict[str, int] = Field(
        default_factory=lambda: {
            "nps_latest": 1,
            "nps_mean_last3": 1,
            "nps_is_promoter": 1,
            "nps_is_detractor": -1,
            "usage_events_*": 1,
            "usage_active_days_*": 1,
            "usage_trend_*": 1,
            "usage_days_since_last": -1,
        },
        description="p_advocate: feature name or glob -> +1 (never lowers p) / -1 (never raises p)",
    )
    monotone_burnout: dict[str, int] = Field(
        default_factory=lambda: {"adv_asks": 1, "adv_asks_*d": 1, "adv_days_since_last_ask": -1},
        description="p_burnout: feature name or glob -> +1 / -1 monotone constraint",
    )
    num_threads: int = Field(
        1, ge=0, description="threads for LightGBM/BLAS while training; 0 = all cores"
    )
    isotonic_min_rows: int = Field(
        1000, ge=0, description="isotonic needs many rows: smaller valid slices get sigmoid"
    )
    tune_num_leaves: tuple[int, ...] = Field((15, 31, 63), description="tune: num_leaves grid")
    tune_min_data_in_leaf: tuple[int, ...] = Field(
        (20, 50, 100), description="tune: min_data_in_leaf grid"
    )
    tune_folds: int = Field(3, ge=2, description="tune: time-ordered CV folds on the fit slice")


class PromotionSettings(_Frozen):
    """A new version becomes champion only if, on the new holdout, it is at least as good."""

    auc_tolerance: float = Field(
        0.0, ge=0, description="new AUC may be at most this much below the champion's"
    )
    logloss_tolerance: float = Field(
        0.005, ge=0, description="new log loss may be at most this much above the champion's"
    )


class TrackingSettings(_Frozen):
    experiment: str = "advocacy"
    advocate_model_name: str = "advocacy-propensity"
    burnout_model_name: str = "advocacy-burnout"
    champion_alias: str = "champion"
    default_tracking_uri: str = "sqlite:///mlflow.db"
    default_artifact_dir: str = "mlartifacts"


class ValidationSettings(_Frozen):
    batch_rows: int = Field(
        5_000_000, ge=1000, description="large tables are validated in batches of this many rows"
    )
    examples_per_failure: int = 5
    data_docs_dir: str = "validation"


class ScheduleSettings(_Frozen):
    cron: str = "0 6 * * 1"
    timezone: str = "UTC"
    deployment_name: str = "weekly"


class Settings(_Frozen):
    windows: WindowSettings = WindowSettings()
    eligibility: EligibilitySettings = EligibilitySettings()
    ranking: RankingSettings = RankingSettings()
    training: TrainingSettings = TrainingSettings()
    promotion: PromotionSettings = PromotionSettings()
    tracking: TrackingSettings = TrackingSettings()
    validation: ValidationSettings = ValidationSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    output_root: str = Field(
        "output", description="default publish root: output/<as_of>/ and output/latest"
    )


def load_settings(path: str | Path | None = None) -> Settings:
    """Settings from a YAML file (partial files are fine: missing keys keep their defaults).

    With no path, `config/advocacy.yaml` in the working folder is used when it exists.
    """
    if path is None:
        path = DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None
    if path is None:
        return Settings()
    raw: Any = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"settings file {path} must hold a mapping, got {type(raw).__name__}")
    return Settings.model_validate(raw)


def settings_to_yaml(settings: Settings) -> str:
    return yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False)
