"""Platform settings: one typed object, read from retention.toml and the environment.

RETENTION_PROFILE selects the profile (local or production), RETENTION_HOME the folder where
data, stores, models and reports are written, and RETENTION_CONFIG an alternative TOML file.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from retention.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "retention.toml"
PROFILES = ("local", "production")
# Probability calibration of class-weighted models; training/calibration.py implements each.
CALIBRATION_METHODS = ("platt", "isotonic", "none")
# Candidates over the recent event sequence (training/sequence_candidates.py).
SEQUENCE_MODEL_TYPES = ("cnn_lstm", "transformer_pretrained", "transformer_scratch")


@dataclass(frozen=True)
class RetentionWindow:
    """Retention definition: who is eligible at a snapshot and what counts as coming back."""

    lookback_days: int = 90
    horizon_days: int = 14
    snapshot_every_days: int = 7
    qualifying_event_types: tuple[str, ...] = ("purchase",)


@dataclass(frozen=True)
class ValidationSettings:
    max_quarantine_share: float = 0.05
    max_abs_amount: float = 1_000_000.0
    earliest_event_time: str = "1990-01-01T00:00:00Z"
    max_future_days: int = 1


@dataclass(frozen=True)
class FeatureSettings:
    # Events per user in the recent event sequence that sequence models read from Feast.
    sequence_length: int = 32


@dataclass(frozen=True)
class SplitSettings:
    validation_snapshots: int = 6
    test_snapshots: int = 6


@dataclass(frozen=True)
class TrainingSettings:
    seed: int = 7
    max_epochs: int = 40
    batch_size: int = 512
    learning_rate: float = 1e-3
    hidden_units: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    early_stopping_patience: int = 5
    # Maps the probabilities of class-weighted models (LightGBM, MLP, sequence models) back to the
    # retention rate, fitted on the validation window: "platt", "isotonic" or "none".
    calibration: str = "platt"
    # Sequence models that the training job fits and registers next to the MLP and LightGBM, so
    # that the gate may promote one. Each reads user_retention_seq_v1 when it serves.
    sequence_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.calibration not in CALIBRATION_METHODS:
            raise ConfigurationError(
                f"[training] calibration = {self.calibration!r} is not supported. "
                f"Use one of: {', '.join(repr(method) for method in CALIBRATION_METHODS)}."
            )
        unknown = [name for name in self.sequence_models if name not in SEQUENCE_MODEL_TYPES]
        if unknown:
            raise ConfigurationError(
                f"[training] sequence_models = {list(self.sequence_models)} names unknown model(s) {unknown}. "
                f"Use any of: {', '.join(repr(name) for name in SEQUENCE_MODEL_TYPES)}, or [] for none."
            )


@dataclass(frozen=True)
class RegistrySettings:
    registered_model_name: str = "user_retention"
    champion_alias: str = "champion"


@dataclass(frozen=True)
class MonitoringSettings:
    reference_weeks: int = 8
    current_weeks: int = 8
    # Weekly partitions of scoring and monitoring start on this Sunday (UTC). No week before it exists.
    first_week: str = "2017-01-01"
    # A week with fewer scored or labelled rows than this reports "insufficient data", not drift.
    min_window_rows: int = 100
    # Rows of the champion's test window kept as its drift reference (a seeded random sample).
    max_reference_rows: int = 20_000


@dataclass(frozen=True)
class PolicySettings:
    """Rules that make the retraining sensor launch the retraining job. Any one of them is enough."""

    # Retrain when at least this share of the feature columns drifted in a week.
    max_drifted_feature_share: float = 0.3
    # Retrain when Evidently detects drift of the predicted probabilities.
    retrain_on_prediction_drift: bool = True
    # Retrain when a matured week's ROC-AUC is this far below the champion's test ROC-AUC.
    max_roc_auc_drop: float = 0.05
    # Retrain when the champion's newest label is this many weeks old.
    max_model_age_weeks: int = 13
    # Weeks to wait after the champion's training or a retraining, so that the next one has newly labelled weeks.
    min_weeks_between_retrains: int = 4


@dataclass(frozen=True)
class PromotionSettings:
    """The gate a challenger passes to become champion, on the challenger's test window."""

    # Promote only when challenger ROC-AUC - champion ROC-AUC >= this gain.
    min_roc_auc_gain: float = 0.0
    # "brier" (Brier score) or "ece" (expected calibration error).
    calibration_metric: str = "brier"
    # Reject when the challenger's calibration error exceeds the champion's by more than this.
    max_calibration_increase: float = 0.01
    # Equal-width probability bins of the expected calibration error.
    calibration_bins: int = 10

    def __post_init__(self) -> None:
        if self.calibration_metric not in ("ece", "brier"):
            raise ConfigurationError(
                f"[promotion] calibration_metric = {self.calibration_metric!r} is not supported. "
                'Use "ece" or "brier".'
            )


@dataclass(frozen=True)
class ServingSettings:
    """Limits and responses of the prediction service."""

    # User ids, or feature rows, in one request.
    max_users_per_request: int = 1000
    # Larger request bodies are rejected with HTTP 413 before they are parsed.
    max_request_bytes: int = 1_048_576
    # A probability below the first cut point gets the first tier name, and so on; one more name than cut points.
    risk_tier_cut_points: tuple[float, ...] = (0.3, 0.6)
    risk_tier_names: tuple[str, ...] = ("high", "medium", "low")
    # Reasons per prediction when the champion can explain its predictions.
    top_reasons: int = 3
    # Seconds between checks of the champion alias in MLflow; 0 turns the check off.
    champion_poll_seconds: float = 5.0
    # Online-store failures are logged at most once per this many seconds.
    store_error_log_seconds: float = 60.0
    # Redis connect and read timeout of the service, in seconds.
    store_timeout_seconds: float = 1.0
    # Threads per worker for requests with reasons, large requests and reloads.
    threads: int = 4

    def __post_init__(self) -> None:
        cuts = self.risk_tier_cut_points
        if list(cuts) != sorted(cuts) or any(not 0.0 < cut < 1.0 for cut in cuts):
            raise ConfigurationError(
                f"[serving] risk_tier_cut_points = {list(cuts)} must be increasing values between 0 and 1."
            )
        if len(self.risk_tier_names) != len(cuts) + 1:
            raise ConfigurationError(
                f"[serving] risk_tier_names has {len(self.risk_tier_names)} names for {len(cuts)} cut points. "
                "Give one more name than cut points."
            )
        for key in ("max_users_per_request", "max_request_bytes", "threads"):
            if getattr(self, key) < 1:
                raise ConfigurationError(f"[serving] {key} = {getattr(self, key)} must be at least 1.")


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know; derived paths are properties so they follow `home`."""

    profile: str = "local"
    home: Path = PROJECT_ROOT / "var"
    retention: RetentionWindow = field(default_factory=RetentionWindow)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    features: FeatureSettings = field(default_factory=FeatureSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    promotion: PromotionSettings = field(default_factory=PromotionSettings)
    serving: ServingSettings = field(default_factory=ServingSettings)
    # Households of the bundled data set to keep; None keeps all 2,469. Tests use a slice.
    sample_users: int | None = None
    redis_url: str = "127.0.0.1:6379"
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/retention"
    # Prefix of every Redis key and PostgreSQL database, so test runs do not collide.
    namespace: str = "retention"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def raw_events_path(self) -> Path:
        return self.data_dir / "raw_events.parquet"

    @property
    def raw_users_path(self) -> Path:
        return self.data_dir / "raw_users.parquet"

    @property
    def events_path(self) -> Path:
        return self.data_dir / "events.parquet"

    @property
    def users_path(self) -> Path:
        return self.data_dir / "users.parquet"

    @property
    def conversion_quarantine_path(self) -> Path:
        return self.data_dir / "conversion_quarantine.parquet"

    @property
    def quarantine_path(self) -> Path:
        return self.data_dir / "quarantine.parquet"

    @property
    def conversion_report_path(self) -> Path:
        return self.data_dir / "conversion_report.json"

    @property
    def features_path(self) -> Path:
        return self.data_dir / "user_profile_features.parquet"

    @property
    def sequences_path(self) -> Path:
        return self.data_dir / "user_event_sequences.parquet"

    @property
    def labels_path(self) -> Path:
        return self.data_dir / "retention_labels.parquet"

    @property
    def training_set_path(self) -> Path:
        return self.data_dir / "training_set.parquet"

    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def mlflow_database_path(self) -> Path:
        """The SQLite file of MLflow's tracking store and model registry in the local profile."""
        return self.mlflow_dir / "mlflow.db"

    @property
    def mlflow_tracking_uri(self) -> str:
        if self.profile == "production":
            return f"{self.postgres_dsn}_mlflow"
        return f"sqlite:///{self.mlflow_database_path}"

    @property
    def mlflow_artifact_location(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.feast_dir, self.mlflow_dir, self.reports_dir, self.dagster_home):
            path.mkdir(parents=True, exist_ok=True)


_SECTIONS = {
    "retention": RetentionWindow,
    "validation": ValidationSettings,
    "features": FeatureSettings,
    "split": SplitSettings,
    "training": TrainingSettings,
    "registry": RegistrySettings,
    "monitoring": MonitoringSettings,
    "policy": PolicySettings,
    "promotion": PromotionSettings,
    "serving": ServingSettings,
}


def _section(name: str, cls: type, values: dict[str, Any], source: Path) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigurationError(
            f"Unknown key(s) {unknown} in section [{name}] of {source}. "
            f"Valid keys: {sorted(known)}."
        )
    defaults = cls()
    for key, value in values.items():
        _check_type(name, key, value, getattr(defaults, key), source)
    # TOML arrays arrive as lists; the dataclasses hold tuples so that settings stay hashable.
    converted = {key: tuple(value) if isinstance(value, list) else value for key, value in values.items()}
    try:
        return cls(**converted)
    except ConfigurationError as error:
        # The check inside a section has the value but not the file it came from.
        raise ConfigurationError(f"{error} The value is set in {source}.") from error


def _check_type(section: str, key: str, value: Any, default: Any, source: Path) -> None:
    """Reject a value whose type differs from the default's, and a negative integer."""
    if isinstance(default, bool):
        valid = isinstance(value, bool)
    elif isinstance(default, int):
        valid = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        valid = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, tuple):
        valid = isinstance(value, list)
    elif isinstance(default, str):
        valid = isinstance(value, str)
    else:
        valid = True
    if not valid:
        raise ConfigurationError(
            f"[{section}] {key} = {_toml_value(value)} in {source} has the wrong type; "
            f"it must be like the default {_toml_value(default)}."
        )
    # Day counts, sizes and periods are integers; float settings such as a gain may be negative.
    if isinstance(default, int) and not isinstance(default, bool) and value < 0:
        raise ConfigurationError(f"[{section}] {key} = {value!r} in {source} must not be negative.")


def _toml_value(value: Any) -> str:
    """Write a setting's value as TOML spells it: true, "text", [64, 32]."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return repr(value)


def _sample_users_from_environment() -> int | None:
    value = os.environ.get("RETENTION_SAMPLE_USERS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigurationError(
            f"RETENTION_SAMPLE_USERS={value!r} is not a positive whole number. "
            "Set it to the number of users to keep, or unset it to keep all."
        )
    return int(value)


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from the TOML file, then the environment, then keyword overrides."""
    env_config = os.environ.get("RETENTION_CONFIG")
    path = config_path or (Path(env_config) if env_config else DEFAULT_CONFIG_PATH)
    sections: dict[str, Any] = {}
    if path.exists() and not path.is_file():
        raise ConfigurationError(f"The settings file {path} is not a file. Point RETENTION_CONFIG at a TOML file.")
    if path.exists():
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigurationError(f"Invalid TOML in {path}: {error}. Fix the syntax and retry.") from error
        unknown = sorted(set(document) - set(_SECTIONS))
        if unknown:
            raise ConfigurationError(
                f"Unknown section(s) {unknown} in {path}. Valid sections: {sorted(_SECTIONS)}."
            )
        sections = {name: _section(name, _SECTIONS[name], document[name], path) for name in document}
    elif env_config:
        raise ConfigurationError(f"RETENTION_CONFIG points to {path}, which does not exist.")

    profile = os.environ.get("RETENTION_PROFILE", "local")
    if profile not in PROFILES:
        raise ConfigurationError(
            f"RETENTION_PROFILE={profile!r} is not a known profile. Use one of: {', '.join(PROFILES)}."
        )
    settings = Settings(
        profile=profile,
        home=Path(os.environ.get("RETENTION_HOME", PROJECT_ROOT / "var")).resolve(),
        redis_url=os.environ.get("RETENTION_REDIS_URL", Settings.redis_url),
        postgres_dsn=os.environ.get("RETENTION_POSTGRES_DSN", Settings.postgres_dsn),
        namespace=os.environ.get("RETENTION_NAMESPACE", Settings.namespace),
        sample_users=_sample_users_from_environment(),
        **sections,
    )
    return replace(settings, **overrides)
