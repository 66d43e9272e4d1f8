"""One typed, validated configuration for every job.

Loaded from YAML (``conf/local.yaml`` is the embedded default), then overridden
per run with ``section.key=value`` strings (``--set`` on the command line).
Unknown keys, wrong types and impossible values are rejected at load time with a
message naming the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from reclake.constants import DEFAULT_SEED, DEFAULT_TOP_N
from reclake.errors import ConfigError

InputFormat = Literal["csv", "json", "parquet", "delta"]
TimestampFormat = str  # "iso8601", "unix_seconds", "unix_millis" or a Spark datetime pattern
BadRowKind = Literal[
    "malformed_line",
    "wrong_type",
    "null_id",
    "unknown_event_type",
    "out_of_range",
    "future_timestamp",
    "unparseable_timestamp",
    "duplicate",
    "long_id",
    "control_char_id",
]


class Section(BaseModel):
    """Base for every section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkSection(Section):
    """How the one SparkSession is built (see jobs/spark.py)."""

    master: str | None = "local[2]"  # None: leave it to spark-submit
    app_name: str = "reclake"
    shuffle_partitions: int = Field(8, gt=0)
    driver_memory: str | None = "4g"
    log_level: Literal["ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"] = "WARN"
    conf: dict[str, str] = Field(default_factory=dict)  # any extra spark.* setting


class LakehouseSection(Section):
    """Root under which every table is written: a local folder or an object-store URI."""

    root: str = "lakehouse"


class ColumnMapping(Section):
    """Contract field -> column name in the source. ``None`` means the source lacks it."""

    user_id: str = "user_id"
    item_id: str = "item_id"
    event_type: str | None = "event_type"
    value: str | None = "value"
    timestamp: str = "timestamp"


class InputSection(Section):
    """Where the raw interaction events are and how to read them (schemas/events.schema.json)."""

    path: str | None = None  # None: <lakehouse>/landing/events, where `generate` writes
    format: InputFormat = "csv"
    header: bool = True
    delimiter: str = Field(",", min_length=1)
    column_names: list[str] | None = None  # names for the positional columns of a headerless CSV
    columns: ColumnMapping = Field(default_factory=ColumnMapping)
    default_event_type: str | None = None  # used for every row when columns.event_type is None
    timestamp_format: TimestampFormat = "iso8601"
    generate_if_missing: bool = False  # run `generate` first when the input does not exist

    @model_validator(mode="after")
    def _event_type_source(self) -> InputSection:
        if self.columns.event_type is None and self.default_event_type is None:
            raise ValueError("columns.event_type is null, so default_event_type must name the event type of every row")
        if self.format == "csv" and not self.header and not self.column_names:
            raise ValueError("a CSV without header needs column_names, the names of its columns in order")
        return self


class EventType(Section):
    """How much one event of a type says about a user's interest in an item."""

    weight: float = Field(1.0, ge=0)
    use_value: bool = False  # multiply the weight by the event's value (a rating, a quantity)
    min_value: float | None = None
    max_value: float | None = None

    @model_validator(mode="after")
    def _range(self) -> EventType:
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError(f"min_value {self.min_value} is greater than max_value {self.max_value}")
        return self


def _default_event_types() -> dict[str, EventType]:
    return {
        "view": EventType(weight=1.0),
        "add_to_cart": EventType(weight=3.0),
        "purchase": EventType(weight=5.0, min_value=1, max_value=1000),
        "rating": EventType(weight=1.0, use_value=True, min_value=0.5, max_value=5),
    }


class EventsSection(Section):
    """The event types the platform accepts, and their weights."""

    types: dict[str, EventType] = Field(default_factory=_default_event_types)

    @field_validator("types")
    @classmethod
    def _not_empty(cls, types: dict[str, EventType]) -> dict[str, EventType]:
        if not types:
            raise ValueError("at least one event type is required")
        return types


class GenerateSection(Section):
    """The synthetic event generator (jobs/generate.py)."""

    users: int = Field(2000, gt=0)
    items: int = Field(400, gt=1)
    clusters: int = Field(8, gt=0)  # planted taste clusters ALS should recover
    mean_items_per_user: float = Field(12.0, gt=0)
    taste_share: float = Field(0.85, ge=0, le=1)  # share of a user's items drawn from their own cluster
    popularity_exponent: float = Field(1.0, ge=0)  # Zipf exponent of item popularity
    days: int = Field(30, gt=0)
    end_date: dt.date | None = None  # None: the run date
    string_ids: bool = True
    partitions: int = Field(4, gt=0)
    seed: int = DEFAULT_SEED
    # Bad rows to add, per kind, in exact numbers (CSV input only), so the validation gate can be shown
    # working; each kind breaks one row rule (jobs/generate.py BAD_ROW_RULES). `duplicate: n` adds one
    # valid row and n copies of it.
    bad_rows: dict[BadRowKind, int] = Field(default_factory=dict)

    @field_validator("bad_rows")
    @classmethod
    def _counts(cls, bad_rows: dict[str, int]) -> dict[str, int]:
        negative = sorted(kind for kind, count in bad_rows.items() if count < 0)
        if negative:
            raise ValueError(f"counts must be >= 0 ({', '.join(negative)})")
        return bad_rows


class ValidationSection(Section):
    """The validation gate (jobs/validate.py, suites in schemas/expectations/)."""

    # Batch rules: a batch breaking one stops the run before anything downstream is written.
    max_quarantine_share: float = Field(0.05, ge=0, le=1)  # share of raw rows that may be quarantined
    min_volume_ratio: float | None = Field(0.5, ge=0)  # rows vs the last successful run; None: no lower bound
    max_volume_ratio: float | None = Field(2.0, gt=0)  # None: no upper bound
    max_event_age_hours: float | None = Field(72.0, gt=0)  # newest valid event vs the end of the run date
    # Row rules.
    future_tolerance_minutes: float = Field(5.0, ge=0)  # event times later than now + this are quarantined
    id_max_length: int = Field(128, gt=0)
    id_charset: Literal["printable", "ascii"] = "printable"  # printable: any letter (non-ASCII too), no controls
    # Where the per-run JSON result and the Great Expectations Data Docs go (a local folder).
    reports_dir: str | None = None  # None: <lakehouse>/_validation when the lakehouse is local

    @model_validator(mode="after")
    def _band(self) -> ValidationSection:
        low, high = self.min_volume_ratio, self.max_volume_ratio
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_volume_ratio {low} is greater than max_volume_ratio {high}")
        return self


class PrepareSection(Section):
    """From events to one strength per user-item pair."""

    log_scaling: bool = False  # strength = log1p(sum of weights / log_epsilon)
    log_epsilon: float = Field(1.0, gt=0)


class AlsSection(Section):
    """Spark MLlib ALS settings."""

    implicit_prefs: bool = True
    rank: int = Field(32, gt=0)
    reg_param: float = Field(0.1, ge=0)
    alpha: float = Field(1.0, ge=0)
    max_iter: int = Field(15, gt=0)
    nonnegative: bool = False
    num_user_blocks: int = Field(4, gt=0)
    num_item_blocks: int = Field(4, gt=0)
    checkpoint_interval: int = Field(10, ge=-1)
    checkpoint_dir: str | None = None  # None: <lakehouse>/_checkpoints
    seed: int = DEFAULT_SEED


RankingMetric = Literal["precision", "recall", "ndcg", "map"]


class EvaluateSection(Section):
    """Offline evaluation on a held-out split, and the quality gate before publishing (jobs/evaluate.py).

    The gate approves a model only if, on ``metric``@``k``, it beats the popularity
    baseline by ``baseline_margin`` (relative: 0.05 = 5% better) and is at most
    ``tolerance`` (relative) below the last published model's recorded value.
    """

    split: Literal["random", "time"] = "random"  # random: per user at random; time: each user's latest
    test_ratio: float = Field(0.25, gt=0, lt=1)  # share of each user's interactions held out
    seed: int = DEFAULT_SEED
    k: int = Field(DEFAULT_TOP_N, gt=0)
    metric: RankingMetric = "ndcg"
    baseline_margin: float = Field(0.05, ge=0)
    tolerance: float = Field(0.05, ge=0, le=1)
    gate: bool = True  # False: evaluate and record, never refuse


class TuneSection(Section):
    """Hyper-parameter search over rank, reg_param and alpha (jobs/tuning.py), run by `train`.

    Trials are scored on a validation split carved out of the evaluation's
    training part only (never its test part); the winner is refit on all data.
    """

    enabled: bool = False
    strategy: Literal["grid", "random"] = "random"  # grid: every combination; random: `budget` draws
    budget: int = Field(12, gt=0)  # most ALS fits the search may make
    rank: list[int] = Field(default_factory=lambda: [16, 32, 64])
    reg_param: list[float] = Field(default_factory=lambda: [0.01, 0.1, 1.0])
    alpha: list[float] = Field(default_factory=lambda: [0.5, 1.0, 5.0])
    validation_ratio: float = Field(0.25, gt=0, lt=1)
    metric: RankingMetric = "ndcg"
    seed: int = DEFAULT_SEED

    @model_validator(mode="after")
    def _space(self) -> TuneSection:
        for key in ("rank", "reg_param", "alpha"):
            values = getattr(self, key)
            if not values:
                raise ValueError(f"{key}: the search space needs at least one value")
            if min(values) < 0 or (key == "rank" and min(values) < 1):
                raise ValueError(f"{key}: values must be positive (got {values})")
        combinations = len(self.rank) * len(self.reg_param) * len(self.alpha)
        if self.strategy == "grid" and combinations > self.budget:
            raise ValueError(
                f"grid search needs {combinations} fits but budget is {self.budget}: "
                "raise budget, shrink the lists or use strategy: random"
            )
        return self


class RecommendSection(Section):
    """Top-N for every user."""

    top_n: int = Field(DEFAULT_TOP_N, gt=0)
    user_batch_size: int = Field(4096, gt=0)  # most users scored per matrix product
    broadcast_limit_mb: float = Field(256.0, gt=0)  # item factors up to this size are broadcast, else blocked
    item_block_size: int = Field(16384, gt=0)  # items per block when item factors are not broadcast
    exclude_seen_window_days: int | None = Field(None, gt=0)  # None: never recommend anything a user ever had
    fallback_window_days: int | None = Field(30, gt=0)  # popularity window for users without factors; None: all
    eligible_items: str | None = None  # Delta table (name under the lakehouse or path) of item_ids allowed
    excluded_items: str | None = None  # Delta table of item_ids never recommended (e.g. out of stock)
    similar_items_top_n: int = Field(20, ge=0)  # neighbours per item in staging/similar_items; 0: skip


class BigQuerySection(Section):
    """The BigQuery sink: Spark stages Parquet under ``staging_uri``, a load job replaces one partition.

    Credentials come only from the environment (Application Default Credentials or
    GOOGLE_APPLICATION_CREDENTIALS), never from this file.
    """

    project: str = Field(min_length=1)
    dataset: str = Field(pattern=r"^[A-Za-z0-9_]+$", max_length=1024)
    table: str = Field(pattern=r"^[\w-]+$", max_length=1024)
    staging_uri: str = Field(min_length=1)  # gs://bucket/prefix both Spark and BigQuery can reach
    location: str | None = None  # e.g. EU, US, europe-west4; None: the dataset's
    timeout_s: float = Field(600.0, gt=0)  # how long to wait for the load job

    def destination(self, run_date: dt.date) -> str:
        """The one partition a run replaces: ``project.dataset.table$YYYYMMDD``."""
        return f"{self.project}.{self.dataset}.{self.table}${run_date:%Y%m%d}"


class PublishSection(Section):
    """Where recommendations go and how the published tables are laid out and kept."""

    sink: Literal["delta", "bigquery"] = "delta"
    partition_by_run_date: bool = True  # replacing and expiring a run date are partition operations
    retain_runs: int | None = Field(None, gt=0)  # keep the K newest run dates; None keeps every run
    target_file_rows: int = Field(250_000, gt=0)  # rows per file, each file one contiguous user range
    row_group_bytes: int = Field(256 * 1024, gt=0)  # Parquet row groups; small ones let a reader skip inside a file
    vacuum_retention_hours: int = Field(168, ge=0)  # `maintain` deletes files older versions need after this
    bigquery: BigQuerySection | None = None

    @model_validator(mode="after")
    def _sink_settings(self) -> PublishSection:
        if self.sink == "bigquery" and self.bigquery is None:
            raise ValueError("sink is bigquery, so publish.bigquery (project, dataset, table, staging_uri) is required")
        if self.retain_runs is not None and not self.partition_by_run_date:
            raise ValueError("retain_runs needs partition_by_run_date: true (old runs are dropped as partitions)")
        return self


class RunSection(Section):
    """Identity of one run: its date (what it is about) and id (which attempt)."""

    run_date: dt.date | None = None  # None: today (UTC)
    run_id: str | None = None  # None: derived from the run date and the time


class Config(Section):
    """The whole configuration; every job takes this and uses the sections it needs."""

    spark: SparkSection = Field(default_factory=SparkSection)
    lakehouse: LakehouseSection = Field(default_factory=LakehouseSection)
    input: InputSection = Field(default_factory=InputSection)
    events: EventsSection = Field(default_factory=EventsSection)
    generate: GenerateSection = Field(default_factory=GenerateSection)
    validation: ValidationSection = Field(default_factory=ValidationSection)
    prepare: PrepareSection = Field(default_factory=PrepareSection)
    als: AlsSection = Field(default_factory=AlsSection)
    evaluate: EvaluateSection = Field(default_factory=EvaluateSection)
    tune: TuneSection = Field(default_factory=TuneSection)
    recommend: RecommendSection = Field(default_factory=RecommendSection)
    publish: PublishSection = Field(default_factory=PublishSection)
    run: RunSection = Field(default_factory=RunSection)

    @model_validator(mode="after")
    def _default_event_type_is_known(self) -> Config:
        default = self.input.default_event_type
        if default is not None and default not in self.events.types:
            raise ValueError(
                f"input.default_event_type {default!r} is not one of events.types ({', '.join(self.events.types)})"
            )
        return self

    @property
    def input_path(self) -> str:
        """The raw events location: the configured path, else where `generate` writes."""
        return self.input.path or join_uri(self.lakehouse.root, "landing", "events")

    @property
    def checkpoint_dir(self) -> str:
        return self.als.checkpoint_dir or join_uri(self.lakehouse.root, "_checkpoints")


def join_uri(root: str, *parts: str) -> str:
    """Join path parts onto a local folder or an object-store URI (s3a://, gs://, abfss://)."""
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def _is_uri(path: str) -> bool:
    return "://" in path or path.startswith("file:")


def _absolute(path: str | None, base: Path) -> str | None:
    """Local relative paths are resolved against ``base`` so executors and spark-submit agree."""
    if path is None or _is_uri(path):
        return path
    return str((base / os.path.expanduser(path)).resolve())


def parse_override(override: str) -> tuple[list[str], Any]:
    """``als.rank=64`` -> (["als", "rank"], 64). The value is parsed as YAML, so types survive."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected section.key=value, e.g. --set als.rank=64")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {override!r}: the value is not valid YAML ({exc.problem})") from None
    return key.strip().split("."), value


def apply_override(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``data[a][b][c] = value``, creating sections as needed; validation happens later."""
    node = data
    for i, part in enumerate(path[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {'.'.join(path)}: {'.'.join(path[: i + 1])} is a value, not a section")
        node = child
    node[path[-1]] = value


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (check the spelling against conf/local.yaml)"
    if "input" in error and error["type"] not in ("missing",) and not isinstance(error["input"], dict):
        return f"{key}: {message} (got {error['input']!r})"
    return f"{key}: {message}"


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    base_dir: str | os.PathLike[str] | None = None,
) -> Config:
    """Read ``path`` (YAML), apply ``section.key=value`` overrides, validate, resolve paths.

    Relative local paths are resolved against ``base_dir`` (default: the current
    directory), which is where the README's commands run.
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read config {source}: {exc.strerror}") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    for override in overrides:
        apply_override(data, *parse_override(override))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    return config.model_copy(
        update={
            "lakehouse": config.lakehouse.model_copy(update={"root": _absolute(config.lakehouse.root, base)}),
            "input": config.input.model_copy(update={"path": _absolute(config.input.path, base)}),
            "als": config.als.model_copy(update={"checkpoint_dir": _absolute(config.als.checkpoint_dir, base)}),
            "validation": config.validation.model_copy(
                update={"reports_dir": _absolute(config.validation.reports_dir, base)}
            ),
        }
    )
