"""The one typed settings object: the knobs that really turn.

Label windows and horizons, policy thresholds (eligibility, ranking, caps), training,
promotion, tracking, validation and paths read their numbers from here. What defines a
feature is not a setting: feature windows and the NPS promoter/detractor definition are
part of the feature families (features/usage.py, nps.py, ...), and a target's monotone
directions are part of its spec (models/targets.py). A key that used to be a setting gets a
one-line error saying what became of it (`REMOVED_KEYS`). Defaults live in the models below;
`config/advocacy.yaml` mirrors them and is what users edit. Nothing happens at import.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

DEFAULT_CONFIG_PATH = Path("config/advocacy.yaml")
# When set, wins over training.num_threads (tests/conftest.py sets 1 for `pytest -n 2`).
NUM_THREADS_ENV = "ADVOCACY_NUM_THREADS"

Days = Annotated[int, Field(ge=1)]
Direction = Literal[-1, 1]
# validation.max_staleness_days defaults (docs/contracts.md "Freshness"): the newest row before
# as_of may be at most this many days old; null turns a table's check off.
DEFAULT_MAX_STALENESS_DAYS: dict[str, int | None] = {
    "accounts": 365,
    "contacts": 180,
    "nps_responses": 60,
    "usage_events": 7,
    "support_tickets": 90,
    "advocacy_activities": 90,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _earlier(info: ValidationInfo, name: str) -> Any:
    """An already validated sibling field (None when it failed its own checks)."""
    return info.data.get(name)


class WindowSettings(_Frozen):
    """Label windows and how far back training rows reach, in days.

    Feature windows are not settings: they are part of each feature's name and formula
    (features/usage.py, support.py, advocacy.py), so a different window is a different feature.
    """

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

    @field_validator("advocate_lookback_days")
    @classmethod
    def _lookback_holds_a_closed_window(cls, v: int, info: ValidationInfo) -> int:
        window = _earlier(info, "response_window_days")
        if window is not None and v <= window:
            raise ValueError(f"must be > response_window_days ({window}) (got {v})")
        return v


class EligibilitySettings(_Frozen):
    """Who must not be asked now. Rules run in order; the first that applies is the reason."""

    recent_ask_days: int = Field(
        30, ge=0, description="no ask within this many days before as_of (0 turns the rule off)"
    )
    block_nps_at_or_below: int = Field(
        6,
        ge=-1,
        le=10,
        description="ask policy: a latest NPS at or below this blocks the ask (-1: off); "
        "not the NPS detractor definition, which is features/nps.py DETRACTOR_MAX",
    )
    blocking_ticket_priorities: tuple[Literal["low", "normal", "high", "urgent"], ...] = Field(
        ("high", "urgent"),
        description="ask policy: an open ticket of these priorities blocks the account; "
        "not a feature input (severe tickets: features/support.py SEVERE_PRIORITIES)",
    )
    max_asks_90_days: int | None = Field(
        3, ge=1, description="at most this many asks in the 90 days before as_of (null: off)"
    )
    max_asks_365_days: int | None = Field(
        6, ge=1, description="at most this many asks in the 365 days before as_of (null: off)"
    )

    @field_validator("blocking_ticket_priorities")
    @classmethod
    def _unique_priorities(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"priorities must be unique (got {list(v)})")
        return v


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
    learning_rate: float = Field(0.05, gt=0, le=1)
    learning_rate_large: float | None = Field(
        0.1,
        gt=0,
        le=1,
        description="learning rate from 200,000 training rows (fewer trees: faster fits and "
        "reasons); null: learning_rate at every size",
    )
    num_leaves: int = Field(
        15, ge=2, le=131072, description="leaves per tree (docs/models.md: 15 beat 31)"
    )
    max_depth: int = Field(
        6, ge=-1, description="-1 = unlimited; shallow trees make pred_contrib (reasons) faster"
    )
    min_data_in_leaf: int = Field(100, ge=1)
    feature_fraction: float = Field(0.9, gt=0, le=1)
    bagging_fraction: float = Field(0.9, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0, description="0 = no bagging")
    lambda_l2: float = Field(1.0, ge=0)
    max_rounds: int = Field(2000, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)


class TrainingSettings(_Frozen):
    """Train period | gap | holdout; params and rounds on time folds; refit on all closed rows."""

    holdout_fraction: float = Field(
        0.2, gt=0, lt=0.5, description="newest share of rows, by event time"
    )
    calibration: Literal["isotonic", "sigmoid"] = Field(
        "sigmoid", description="sigmoid keeps the ranking (isotonic ties the top; docs/models.md)"
    )
    seed: int = Field(42, ge=0)
    tune: bool = Field(
        True, description="Optuna (seeded TPE) over LightGBM params on the time-ordered folds"
    )
    tune_trials: int = Field(20, ge=1, description="tune: at most this many trials per target")
    tune_min_rows: int = Field(
        20_000,
        ge=0,
        description="tune only when the train period has at least this many rows: below, the "
        "CV cannot tell trials apart and the best one wins on noise (docs/models.md)",
    )
    tune_seconds: float = Field(
        15.0,
        gt=0,
        description="tune: time budget per target, in seconds; the first trial (the defaults) "
        "always completes, and a next one starts only if one as long as the mean so far still "
        "fits, so at 1M contacts this is one CV (docs/benchmarks.md)",
    )
    tune_folds: int = Field(
        3,
        ge=2,
        description="time-ordered CV folds (gap = label window): params, rounds, calibration",
    )
    refit: bool = Field(
        True,
        description="the registered model is refit on every closed row (train, gap, holdout); "
        "false: it is the holdout model, trained on the train period only",
    )
    min_rows: int = Field(200, ge=1, description="refuse to train on fewer rows than this")
    inclusion_weights: bool = Field(
        True,
        description="weight asks that an earlier list's exploration slice led to by 1 / their "
        "inclusion probability (clipped at 20, mean 1) when fitting p_advocate "
        "(docs/exploration.md)",
    )
    lightgbm: LightGBMSettings = LightGBMSettings()
    num_threads: int = Field(
        0,
        ge=0,
        validate_default=True,
        description="threads for LightGBM/BLAS (training, scores, reasons); 0 = all cores; "
        f"the environment variable {NUM_THREADS_ENV}, when set, wins (tests, shared machines)",
    )
    isotonic_min_rows: int = Field(
        1000, ge=0, description="isotonic needs many rows: fewer out-of-fold rows get sigmoid"
    )

    @field_validator("num_threads")
    @classmethod
    def _environment_wins(cls, v: int) -> int:
        """`ADVOCACY_NUM_THREADS` caps a process's threads where its owner (pytest -n 2, a
        shared box) knows better than the file; read when the settings are built, never at
        import."""
        raw = os.environ.get(NUM_THREADS_ENV, "").strip()
        if not raw:
            return v
        if not raw.isdigit():
            raise ValueError(f"{NUM_THREADS_ENV} must be a whole number >= 0 (got {raw!r})")
        return int(raw)


class PromotionSettings(_Frozen):
    """A new version becomes champion only if, on the new holdout, it is at least as good."""

    auc_tolerance: float = Field(
        0.0, ge=0, le=1, description="new AUC may be at most this much below the champion's"
    )
    logloss_tolerance: float = Field(
        0.005, ge=0, le=1, description="new log loss may be at most this much above the champion's"
    )
    # Small-data mode (models/trust.py): below these the LightGBM model is not trusted and the
    # run falls back to a simpler ranker (models/fallback.py).
    min_holdout_rows: int = Field(
        200, ge=0, description="fewer holdout rows than this: the holdout AUC is too noisy to trust"
    )
    min_holdout_positives: int = Field(
        50, ge=0, description="fewer positive holdout labels than this: too few to trust the AUC"
    )
    min_auc_margin_over_rule: float = Field(
        0.01, ge=0, le=1, description="the model's holdout AUC must beat the NPS rule's by this"
    )
    bootstrap_samples: int = Field(
        500, ge=0, le=100_000, description="bootstrap resamples of the holdout AUC interval"
    )
    interval_level: float = Field(
        0.9, gt=0, lt=1, description="coverage of the bootstrap AUC interval"
    )


class TrackingSettings(_Frozen):
    experiment: str = "advocacy"
    model_names: dict[str, Annotated[str, Field(min_length=1)]] = Field(
        default_factory=dict,
        description="target name -> registered MLflow model, overriding the target's default "
        "(advocate: advocacy-propensity, burnout: advocacy-burnout; models/targets.py)",
    )
    champion_alias: str = "champion"
    default_tracking_uri: str = "sqlite:///mlflow.db"
    default_artifact_dir: str = "mlartifacts"
    allow_new_store: bool = Field(
        False,
        description="create a new store even though the database is empty or missing while "
        "its artifact folder holds runs (otherwise that is an error: the registry was lost)",
    )
    stale_run_hours: float = Field(
        24.0, gt=0, description="RUNNING runs older than this are marked FAILED at the next start"
    )
    lock_timeout_seconds: float = Field(
        300.0, gt=0, description="how long a promotion waits for another run's registry lock"
    )


class ValidationSettings(_Frozen):
    batch_rows: int = Field(
        5_000_000, ge=1000, description="large tables are validated in batches of this many rows"
    )
    examples_per_failure: int = Field(
        5, ge=1, le=100, description="example values shown per failed check"
    )
    data_docs_dir: str = Field(
        "validation",
        min_length=1,
        description="default folder for GX Data Docs (relative: to the working folder); "
        "validate_folder(docs_dir=...) and `advocacy validate --docs-dir` override it",
    )
    max_staleness_days: dict[str, Days | None] = Field(
        default_factory=lambda: dict(DEFAULT_MAX_STALENESS_DAYS),
        description="per table: the newest row before as_of may be at most this many days old, "
        "else the contract fails (null: not checked); tables left out keep their default",
    )

    @field_validator("max_staleness_days")
    @classmethod
    def _known_tables_over_defaults(cls, v: dict[str, int | None]) -> dict[str, int | None]:
        unknown = sorted(set(v) - set(DEFAULT_MAX_STALENESS_DAYS))
        if unknown:
            known = ", ".join(DEFAULT_MAX_STALENESS_DAYS)
            raise ValueError(f"unknown table(s) {', '.join(unknown)}; the tables are {known}")
        return {**DEFAULT_MAX_STALENESS_DAYS, **v}


class ScheduleSettings(_Frozen):
    cron: str = "0 6 * * 1"
    timezone: str = "UTC"
    deployment_name: str = "weekly"


class OutputSettings(_Frozen):
    csv_encoding: Literal["utf-8-sig", "utf-8"] = Field(
        "utf-8-sig",
        description="candidates.csv: utf-8-sig adds a byte-order mark so spreadsheets read UTF-8",
    )


class PrefectSettings(_Frozen):
    """How the CLI starts Prefect (pipelines/runtime.py)."""

    startup_timeout_seconds: int = Field(
        180,
        ge=1,
        description="wait this long for Prefect's temporary server to start (once more on a "
        "time-out); the env variable PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS wins",
    )


class EngineSettings(_Frozen):
    """Where features and scores are computed, and DuckDB's limits on every connection
    (`data_contracts.load.new_connection`)."""

    name: Literal["duckdb", "spark"] = Field(
        "duckdb",
        description="duckdb: embedded, one machine (default); spark: the same feature SQL and "
        "the champions on Spark (pip install '.[spark]', the spark: section; docs/scale-out.md)",
    )

    duckdb_memory_limit: str | None = Field(
        "2GB",  # at 1M contacts: job peak 5.5 GB, no slower than 3GB (docs/benchmarks.md)
        pattern=r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$",
        description="DuckDB spills to duckdb_temp_dir above this (e.g. 2GB, 500MB); null: "
        "DuckDB's default, 80% of RAM. The job's peak is this plus the pandas frames",
    )
    duckdb_temp_dir: str | None = Field(
        None,
        min_length=1,
        description="where DuckDB spills (a fast local disk with room for the usage roll-up), "
        "made if missing; null: <system temp>/advocacy-duckdb",
    )


class SparkSettings(_Frozen):
    """The Spark session of `--engine spark` (pipelines/spark_engine.py, docs/scale-out.md)."""

    master: str | None = Field(
        None,
        min_length=1,
        description="spark.master (local[4], yarn, spark://host:7077) or a Spark Connect URL "
        "(sc://host:15002); null: the env variable ADVOCACY_SPARK_MASTER, else local[*]",
    )
    app_name: str = Field("advocacy", min_length=1, description="the Spark application name")
    shuffle_partitions: int = Field(
        8,
        ge=1,
        description="spark.sql.shuffle.partitions: small for one machine, about 2-3 per "
        "executor core on a cluster",
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="more Spark settings (e.g. spark.executor.memory: 8g); they win over "
        "the ones the session sets itself",
    )
    tables: dict[str, Annotated[str, Field(min_length=1)]] = Field(
        default_factory=dict,
        description="input table -> Spark table name (catalog.schema.table) read instead of "
        "the data folder's file; tables left out are read from the folder",
    )

    @field_validator("tables")
    @classmethod
    def _known_tables(cls, v: dict[str, str]) -> dict[str, str]:
        from advocacy.data_contracts.tables import OPTIONAL_TABLES, TABLES

        unknown = sorted(set(v) - set(TABLES) - set(OPTIONAL_TABLES))
        if unknown:
            known = [*TABLES, *OPTIONAL_TABLES]
            raise ValueError(f"unknown table(s) {unknown}; the tables are {known}")
        return v


class MatchingSettings(_Frozen):
    """Advocates for a deal: policy/matching.py, `advocacy match` / `api` (docs/matching.md).

    Fit is the weighted mean of the four components (weights are divided by their sum)."""

    weight_industry: float = Field(0.35, ge=0, description="fit: same industry as the prospect")
    weight_segment: float = Field(0.2, ge=0, description="fit: same segment (size) as the prospect")
    weight_region: float = Field(0.2, ge=0, description="fit: same region as the prospect")
    weight_products: float = Field(
        0.25, ge=0, description="fit: Jaccard overlap of the prospect's products and features used"
    )
    references_per_opportunity: int = Field(
        1, ge=1, le=3, description="--open: advocates assigned to each open opportunity"
    )
    per_advocate_cap: int = Field(1, ge=1, description="--open: opportunities per advocate at most")
    max_open_deals: int = Field(
        500,
        ge=1,
        description="the weekly job's matches.csv covers at most this many open deals, those "
        "needing a reference soonest (then the largest); any deal: `advocacy match`",
    )
    top: int = Field(5, ge=1, description="advocates shown per opportunity (CLI and API default)")
    api_host: str = Field("127.0.0.1", min_length=1, description="`advocacy api` binds here")
    api_port: int = Field(8765, ge=1, le=65535, description="`advocacy api` port")


def _activity_keys(v: dict[str, Any]) -> dict[str, Any]:
    """Keys must be activity types of the input contract (data_contracts.tables)."""
    from advocacy.data_contracts.tables import ACTIVITY_TYPES

    unknown = sorted(set(v) - set(ACTIVITY_TYPES))
    if unknown:
        raise ValueError(f"unknown activity type(s) {unknown}; known: {list(ACTIVITY_TYPES)}")
    return v


class AskPlanSettings(_Frozen):
    """This week's needs: the ask plan (policy/plan.py, docs/ask-plan.md). The per-contact
    cooldown is eligibility.recent_ask_days, the account cap ranking.max_per_account, the
    list size's upper bound ranking.list_length (one home each)."""

    budgets: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: {
            "reference_call": 5,
            "case_study": 2,
            "testimonial": 8,
            "review": 40,
            "referral": 25,
            "speaking": 2,
            "social_post": 15,
            "advisory_board": 3,
        },
        description="asks wanted this week per activity type (a missing type: 0)",
    )
    activity_value: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {
            "reference_call": 10.0,
            "case_study": 8.0,
            "testimonial": 3.0,
            "review": 1.0,
            "referral": 4.0,
            "speaking": 6.0,
            "social_post": 1.0,
            "advisory_board": 5.0,
        },
        description="value of one yes per activity type (a budgeted type needs a value)",
    )
    burnout_weight: float = Field(
        2.0, ge=0, description="value lost per unit of burnout risk (p_burnout) of an ask"
    )
    explore_share: float = Field(
        0.1, ge=0, le=1, description="share of the list drawn at random (exploration slice)"
    )
    explore_seed: int = Field(
        0, ge=0, description="seed of the exploration draw (with as_of: reproducible)"
    )

    @field_validator("budgets", "activity_value")
    @classmethod
    def _known_types(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _activity_keys(v)

    @field_validator("activity_value")
    @classmethod
    def _budgeted_have_value(cls, v: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        budgets = _earlier(info, "budgets") or {}
        missing = sorted(t for t, n in budgets.items() if n > 0 and t not in v)
        if missing:
            raise ValueError(f"budgeted activity type(s) {missing} have no value")
        return v


class Settings(_Frozen):
    windows: WindowSettings = WindowSettings()
    eligibility: EligibilitySettings = EligibilitySettings()
    ranking: RankingSettings = RankingSettings()
    # A factory: the default is built (and ADVOCACY_NUM_THREADS read) with the settings.
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    promotion: PromotionSettings = PromotionSettings()
    tracking: TrackingSettings = TrackingSettings()
    validation: ValidationSettings = ValidationSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    output_root: str = Field(
        "output", description="default publish root: output/<as_of>/ and output/latest"
    )
    outputs: OutputSettings = OutputSettings()
    prefect: PrefectSettings = PrefectSettings()
    engine: EngineSettings = EngineSettings()
    spark: SparkSettings = Field(default_factory=SparkSettings)
    matching: MatchingSettings = MatchingSettings()
    asks: AskPlanSettings = Field(default_factory=AskPlanSettings)


class SettingsError(ValueError):
    """A settings file that cannot be used. The message has one line per problem, each naming
    the file, the dotted key, the rule and the value given, e.g.
    `config/advocacy.yaml: windows.response_window_days: must be >= 1 (got -30)`.
    The CLI exits 2."""

    def __init__(self, source: str | Path, problems: list[str]) -> None:
        self.source, self.problems = str(source), list(problems)
        super().__init__("\n".join(f"{self.source}: {p}" for p in self.problems))


def load_settings(path: str | Path | None = None) -> Settings:
    """Settings from a YAML file (partial files are fine: missing keys keep their defaults).

    With no path, `config/advocacy.yaml` in the working folder is used when it exists; a path
    given explicitly must exist. Every problem raises `SettingsError`.
    """
    if path is None:
        path = DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None
    if path is None:
        return Settings()
    return settings_from_mapping(_read_yaml(Path(path)), path)


def settings_from_mapping(raw: Any, source: str | Path = "settings") -> Settings:
    """Settings from parsed YAML data; problems raise `SettingsError` naming `source`."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        sections = ", ".join(Settings.model_fields)
        raise SettingsError(
            source, [f"must hold a mapping of sections ({sections}), got {_type_name(raw)}"]
        )
    raw, removed = _without_removed_keys(raw)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(source, [*removed, *(_problem(e) for e in exc.errors())]) from None
    if removed:
        raise SettingsError(source, removed)
    return settings


def _feature_window(where: str) -> str:
    return (
        f"no longer a setting: feature windows are part of each feature's name ({where}); "
        "a different window is a different feature"
    )


_IN_TARGET_SPECS = (
    "no longer a setting: monotone directions are part of the target specs (models/targets.py)"
)
# Keys that were settings once: what became of each. A file that still has one fails with
# `section.key: <this>`, so nobody believes a knob turns that no longer exists.
_TUNED_BY_OPTUNA = (
    "no longer a setting: Optuna searches it on the time-ordered folds (training.tune, "
    "tune_trials, tune_seconds; models/tuning.py)"
)
REMOVED_KEYS: dict[tuple[str, str], str] = {
    ("windows", "usage_windows_days"): _feature_window("features/usage.py"),
    ("windows", "usage_trend_recent_days"): _feature_window("features/usage.py"),
    ("windows", "usage_trend_base_days"): _feature_window("features/usage.py"),
    ("windows", "recent_days"): _feature_window(
        "features/usage.py, features/support.py, features/advocacy.py"
    ),
    ("windows", "nps_promoter_min"): "no longer a setting: the NPS promoter definition is "
    "part of the features (features/nps.py PROMOTER_MIN)",
    ("windows", "nps_detractor_max"): "no longer a setting: the NPS detractor definition is "
    "part of the features and the burnout label (features/nps.py DETRACTOR_MAX); the ask "
    "policy's threshold is eligibility.block_nps_at_or_below",
    ("eligibility", "max_detractor_nps"): "renamed eligibility.block_nps_at_or_below (the ask "
    "policy: a latest NPS at or below it blocks the ask; -1: off)",
    ("training", "monotone_advocate"): _IN_TARGET_SPECS,
    ("training", "monotone_burnout"): _IN_TARGET_SPECS,
    ("training", "valid_fraction"): "no longer a setting: early stopping and calibration use "
    "the time-ordered folds of the train period (training.tune_folds; docs/models.md)",
    ("training", "tune_num_leaves"): _TUNED_BY_OPTUNA,
    ("training", "tune_min_data_in_leaf"): _TUNED_BY_OPTUNA,
    ("tracking", "advocate_model_name"): "replaced by tracking.model_names: {advocate: <name>}",
    ("tracking", "burnout_model_name"): "replaced by tracking.model_names: {burnout: <name>}",
}


def _without_removed_keys(raw: dict[Any, Any]) -> tuple[dict[Any, Any], list[str]]:
    """`raw` without the `REMOVED_KEYS`, and one problem line per removed key it held."""
    cleaned, problems = dict(raw), []
    for section, values in raw.items():
        if not isinstance(values, dict):
            continue
        gone = [key for key in values if (section, key) in REMOVED_KEYS]
        problems += [f"{section}.{key}: {REMOVED_KEYS[section, key]}" for key in gone]
        if gone:
            cleaned[section] = {k: v for k, v in values.items() if k not in gone}
    return cleaned, problems


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (YAML keeps the last silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: construct_mapping names it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        raise SettingsError(path, ["settings file not found"])
    if path.is_dir():
        raise SettingsError(path, ["is a folder, not a settings file"])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problem = f"not valid UTF-8 (byte {exc.start}); save it as UTF-8"
        raise SettingsError(path, [problem]) from None
    except OSError as exc:
        raise SettingsError(path, [f"cannot read: {exc.strerror or exc}"]) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SettingsError(path, [_yaml_problem(exc)]) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """`line 3, column 5: YAML syntax error: <problem> (<context>)` on one line."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        context = f"{context} at line {context_mark.line + 1}"
    detail = f"{problem} ({context})" if context else problem
    return f"{where}YAML syntax error: {' '.join(str(detail).split())}"


_TYPE_NAMES = {list: "a list", str: "text", int: "a number", float: "a number", bool: "true/false"}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


_RULES: dict[str, str] = {
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "missing": "is required",
}
_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _rule(error: dict[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        bound = ctx[key]
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {op} {bound}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind in ("too_short", "string_too_short"):
        n = ctx.get("min_length", 1)
        return "must not be empty" if n == 1 else f"must have at least {n} items"
    if kind in ("too_long", "string_too_long"):
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "extra_forbidden":
        return "unknown key" + _suggestion(error["loc"])
    msg = error["msg"]
    return _RULES.get(kind, msg[:1].lower() + msg[1:])


def _suggestion(loc: tuple[Any, ...]) -> str:
    """` (did you mean response_window_days?)`, or the keys the section knows."""
    model: Any = Settings
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        model = field.annotation if field is not None else None
        if not isinstance(model, type) or not issubclass(model, BaseModel):
            return ""
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f" (did you mean {close[0]}?)"
    return f" (known keys: {', '.join(known)})" if len(known) <= 12 else ""


def _problem(error: dict[str, Any]) -> str:
    """One line: `dotted.key: rule (got value)`."""
    rule = _rule(error)
    line = f"{_dotted(error['loc'])}: {rule}"
    if error["type"] == "missing" or "(got " in rule:
        return line
    return f"{line} (got {_shown(error.get('input'))})"


def settings_to_yaml(settings: Settings) -> str:
    return yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False)
