"""The configuration's models: one typed, validated section per concern, with the one set of defaults.

The models below hold the one set of defaults and, in each ``Field(description=...)``,
what every key means; ``docs/configuration.md`` is generated from them
(``python -m reclake.config``). A YAML file (e.g. ``conf/local.yaml``) only sets
the keys that differ, and ``section.key=value`` strings (``--set`` on the command
line) override it per run. Unknown keys, wrong types and impossible values are
rejected at load time with a message naming the key, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import typing
import urllib.parse
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from reclake.constants import DEFAULT_SEED, DEFAULT_TOP_N
from reclake.errors import ConfigError
from reclake.uris import RUN_DATE_PLACEHOLDER, is_uri, join_uri, local_folder

# The error type of a URL with a user or password in it: its message must not repeat the URL.
CREDENTIALS_IN_URL = "credentials_in_url"


def resolve_local_path(path: str, info: ValidationInfo) -> str:
    """A relative local path becomes absolute against ``base_dir`` (validation context; else the cwd).

    Absolute paths mean the same to the driver, the executors and spark-submit; URIs are kept as they are.
    A ':' in a folder or file name is refused here: Hadoop's paths take ``name:`` for a URI scheme, so
    Spark and Delta would fail in the middle of a read or a write.
    """
    if is_uri(path):
        return path
    base_dir = (info.context or {}).get("base_dir")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    resolved = str((base / os.path.expanduser(path)).resolve())
    if ":" in resolved:
        raise ValueError(
            "Spark (Hadoop) cannot read or write a local path with ':' in a folder or file name; rename it"
        )
    return resolved


# A local folder or file (relative: to the directory the command runs in), or a URI (s3a://, gs://, file:).
LocalPath = Annotated[str, AfterValidator(resolve_local_path)]


def _inside_lakehouse(name: str) -> str:
    """A table name resolved under the lakehouse root: relative, no ``..``, so it cannot name anything outside."""
    parts = name.split("/")
    if name.startswith("/") or "://" in name or name.startswith("file:") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            "must be a table name under the lakehouse, e.g. catalogue/eligible (no leading /, no .., no URI)"
        )
    return name


# A table under the lakehouse root, by name (one or more path segments).
TableName = Annotated[str, AfterValidator(_inside_lakehouse)]

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
RankingMetric = Literal["precision", "recall", "ndcg", "map"]


class Section(BaseModel):
    """Base for every section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkSection(Section):
    """How the one SparkSession is built (reclake/spark.py)."""

    master: str | None = Field(
        default="local[2]",
        description="Spark master URL, e.g. local[2] or spark://host:7077; null: leave it to spark-submit --master.",
    )
    app_name: str = Field(default="reclake", description="Spark application name, as shown in the Spark UI.")
    shuffle_partitions: int = Field(
        default=8, gt=0, description="spark.sql.shuffle.partitions: partitions of every shuffle (joins, aggregations)."
    )
    driver_memory: str | None = Field(
        default="4g", description="spark.driver.memory, e.g. 4g; null: leave it to spark-submit --driver-memory."
    )
    log_level: Literal["ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"] = Field(
        default="WARN", description="Log level of Spark itself."
    )
    quick_jit: bool = Field(
        default=False,
        description="The driver's JVM compiles with C1 alone (-XX:TieredStopAtLevel=1, keeping the tiered JIT's "
        "240 MB code cache): a job of seconds on a "
        "small day spends 30-45% less CPU and finishes sooner (bench/README.md). C2's faster code pays for its "
        "compiling only in long jobs on large data: leave it off there.",
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Any extra spark.* setting, passed to the session builder as is (true/false/numbers as Spark "
        "spells them).",
    )

    @field_validator("conf", mode="before")
    @classmethod
    def _spark_spelling(cls, value: Any) -> Any:
        """YAML reads ``false`` and ``4`` as a bool and a number; Spark wants the text ``false`` and ``4``."""
        if not isinstance(value, dict):
            return value
        return {key: _spark_text(v) for key, v in value.items()}


def _spark_text(value: Any) -> Any:
    """``False`` -> "false", ``4`` -> "4"; anything else as it is (a list stays one, for validation to refuse)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


class LakehouseSection(Section):
    """Where the tables live."""

    root: LocalPath = Field(
        default="lakehouse",
        validate_default=True,
        description="Folder or object-store URI (s3a://, gs://, abfss://) under which every table is written.",
    )
    lease_table: str = Field(
        default="reclake_writer_leases",
        min_length=3,
        description="DynamoDB table holding the writer lease of an s3a:// lakehouse (one item per lakehouse; "
        "created on first use where the credentials allow). See docs/reliability.md.",
    )
    lease_expiry_s: float = Field(
        default=300.0,
        ge=1,
        description="A writer lease not renewed for this many seconds is taken over by the next job (a live "
        "holder renews it every third of this); keep the machines' clocks in step to well under it.",
    )


class ColumnMapping(Section):
    """Contract field -> column name in the source."""

    user_id: str = Field(default="user_id", description="Column holding the user id.")
    item_id: str = Field(default="item_id", description="Column holding the item id.")
    event_type: str | None = Field(
        default="event_type",
        description="Column holding the event type; null: the source has none (set input.default_event_type).",
    )
    value: str | None = Field(
        default="value",
        description="Column holding the event's value (a rating, a quantity); null: the source has none.",
    )
    timestamp: str = Field(default="timestamp", description="Column holding the event time.")


MULTILINE_HELP = (
    "CSV only: quoted fields may hold line breaks, and such a record is read whole (each file is then read by one "
    "task, not split). false: a record is one line; a quoted field broken by a line break splits it, and both "
    "halves are quarantined (malformed_line, or an id holding the stray quote)."
)


class InputSection(Section):
    """Where the raw interaction events are and how to read them (schemas/events.schema.json)."""

    path: LocalPath | None = Field(
        default=None,
        description="Raw events: a file, folder or URI; null: `<lakehouse>/landing/events`, where `generate` writes. "
        "With `{run_date}` in it (e.g. `landing/events/date={run_date}`) each run validates that date's batch only "
        "and replaces only that date's rows of `events`; without it the whole input is one batch that replaces "
        "all of `events`.",
    )
    format: InputFormat = Field(default="csv", description="How the input is read; json means JSON lines.")
    header: bool = Field(default=True, description="CSV only: the first line names the columns.")
    delimiter: str = Field(
        default=",", min_length=1, description='CSV only: the field separator, e.g. `","` or `"\\t"`.'
    )
    encoding: str = Field(
        default="utf-8",
        min_length=1,
        description="CSV only: the character set of the files, e.g. utf-8, iso-8859-1, windows-1252. Bytes that "
        "are not valid in it are not replaced silently: their rows are quarantined (undecodable_text).",
    )
    multiline: bool = Field(default=False, description=MULTILINE_HELP)
    column_names: list[str] | None = Field(
        default=None,
        description="CSV without header: the names of its columns, in order; null: read them from the header.",
    )
    columns: ColumnMapping = Field(
        default_factory=ColumnMapping, description="Each contract field's column name in the source."
    )
    default_event_type: str | None = Field(
        default=None,
        description="The event type of every row when input.columns.event_type is null; one of events.types.",
    )
    timestamp_format: TimestampFormat = Field(
        default="iso8601",
        description="How event times are read: iso8601, unix_seconds, unix_millis or a Spark datetime pattern; "
        "stored as UTC.",
    )
    generate_if_missing: bool = Field(
        default=False,
        description="`run` first generates synthetic events (per the generate section) when the input does not "
        "exist; false: a missing input is an error.",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError("not a known character set, e.g. utf-8, iso-8859-1, windows-1252") from None
        return encoding

    @model_validator(mode="after")
    def _event_type_source(self) -> InputSection:
        if self.columns.event_type is None and self.default_event_type is None:
            raise ValueError("columns.event_type is null, so default_event_type must name the event type of every row")
        if self.format == "csv" and not self.header and not self.column_names:
            raise ValueError("a CSV without header needs column_names, the names of its columns in order")
        return self


class CatalogueSection(Section):
    """The item catalogue (optional): item content for new items, validated like the events (docs/data-contracts.md).

    Read by `validate` each run as a whole snapshot into the `catalogue` table, with its content
    features. Without this section nothing reads a catalogue and no item gets content.
    """

    path: LocalPath = Field(description="The catalogue: a file, folder or URI.")
    format: InputFormat = Field(default="csv", description="How the catalogue is read; json means JSON lines.")
    header: bool = Field(default=True, description="CSV only: the first line names the columns (it must).")
    delimiter: str = Field(default=",", min_length=1, description="CSV only: the field separator.")
    multiline: bool = Field(default=False, description=MULTILINE_HELP)
    id_column: str = Field(default="item_id", min_length=1, description="Column holding the item id, as in the events.")
    text_columns: list[str] = Field(
        default_factory=list,
        description="Free-text columns (descriptions, keywords, titles): tokenised, counted over a vocabulary, "
        "IDF-weighted.",
    )
    text_min_df: int = Field(
        default=5, ge=1, description="A word of the text columns is a feature when at least this many items have it."
    )
    tag_columns: dict[str, str] = Field(
        default_factory=dict,
        description='Multi-valued category columns, each with the separator between its values, e.g. `{genres: "|"}`: '
        "one-hot per distinct value.",
    )
    numeric_columns: list[str] = Field(default_factory=list, description="Numeric columns: standardised.")
    flag_columns: list[str] = Field(default_factory=list, description="0/1 columns, used as they are.")

    # Read like the events (reclake.io.raw.read_raw); a headerless or non-UTF-8 CSV is converted first.
    column_names: typing.ClassVar[None] = None
    encoding: typing.ClassVar[str] = "utf-8"

    @model_validator(mode="after")
    def _has_content(self) -> CatalogueSection:
        if not (self.text_columns or self.tag_columns or self.numeric_columns or self.flag_columns):
            raise ValueError(
                "name at least one content column: text_columns, tag_columns, numeric_columns or flag_columns"
            )
        if self.format == "csv" and not self.header:
            raise ValueError("a catalogue CSV needs a header line naming its columns (convert the source first)")
        return self

    @property
    def content_columns(self) -> list[str]:
        """Every source column the content features are built from, each once."""
        named = [*self.text_columns, *self.tag_columns, *self.numeric_columns, *self.flag_columns]
        return list(dict.fromkeys(named))


class KafkaSection(Section):
    """Events from a Kafka topic (optional): `reclake ingest` lands them in the input folders (docs/ingest.md).

    Each message's value is one event as a JSON object; it lands, with its topic, partition, offset, key
    and timestamp, under `input.path` for its event date, so `validate` reads it like any landed file.
    With this section the daily DAG runs `ingest` before `validate`. Security settings come only from
    the environment (RECLAKE_KAFKA_SECURITY_PROTOCOL, RECLAKE_KAFKA_SASL_MECHANISM,
    RECLAKE_KAFKA_SASL_USERNAME, RECLAKE_KAFKA_SASL_PASSWORD), never from this file.
    """

    bootstrap_servers: str = Field(
        min_length=1, pattern=r"^[^\s@/]+$", description="Brokers to connect to, host:port[,host:port...]."
    )
    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$", description="The topic the events are read from.")
    starting_offsets: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where the first run starts; later runs go on from the checkpoint, whatever this says.",
    )
    max_offsets_per_trigger: int | None = Field(
        default=None, gt=0, description="Most messages one micro-batch lands (all partitions); null: no limit."
    )
    trigger: Literal["available_now", "continuous"] = Field(
        default="available_now",
        description="available_now: land what the topic holds, then stop (a batch task, e.g. in the daily DAG); "
        "continuous: a micro-batch every trigger_interval_s until stopped.",
    )
    trigger_interval_s: float = Field(
        default=60.0, gt=0, description="continuous only: seconds between the starts of two micro-batches."
    )
    checkpoint_dir: LocalPath | None = Field(
        default=None,
        description="The stream's checkpoint (which offsets are landed): a folder or URI; null: "
        "`<lakehouse>/_ingest/<topic>`. Delete it only to land the topic again from starting_offsets.",
    )
    serve_recent: bool = Field(
        default=False,
        description="`reclake serve` follows the topic too: each user's events after the served run's date, kept "
        "in memory, are folded into their real-time list (GET /recommendations/{user_id}/realtime; docs/recommend.md).",
    )
    serve_max_users: int = Field(
        default=100_000,
        gt=0,
        description="serve_recent only: the most users whose recent events are kept; the least recently active "
        "user's are dropped first.",
    )


class EventType(Section):
    """How much one event of a type says about a user's interest in an item."""

    weight: float = Field(
        default=1.0, ge=0, description="What one event of this type adds to its user-item pair's strength."
    )
    use_value: bool = Field(
        default=False,
        description="Multiply the weight by the event's value (a rating, a quantity); the value is required.",
    )
    min_value: float | None = Field(
        default=None,
        description="Lowest valid value; an event outside min_value..max_value is quarantined. null: no bound.",
    )
    max_value: float | None = Field(default=None, description="Highest valid value; null: no bound.")

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

    types: dict[str, EventType] = Field(
        default_factory=_default_event_types,
        description="Accepted event types by name (matched case-insensitively); an event of any other type is "
        "quarantined. In a file this mapping replaces the default one; --set events.types.<name>.<key> "
        "changes one entry.",
    )

    @field_validator("types")
    @classmethod
    def _not_empty(cls, types: dict[str, EventType]) -> dict[str, EventType]:
        if not types:
            raise ValueError("at least one event type is required")
        return types


class GenerateSection(Section):
    """The synthetic event generator (`reclake generate`, reclake/synthetic.py)."""

    users: int = Field(default=2000, gt=0, description="Synthetic users.")
    items: int = Field(default=400, gt=1, description="Synthetic items.")
    clusters: int = Field(default=8, gt=0, description="Planted taste clusters ALS should recover.")
    mean_items_per_user: float = Field(default=12.0, gt=0, description="Mean number of items per user.")
    taste_share: float = Field(
        default=0.85, ge=0, le=1, description="Share of a user's items drawn from their own taste cluster."
    )
    popularity_exponent: float = Field(default=1.0, ge=0, description="Zipf exponent of item popularity; 0: uniform.")
    days: int = Field(default=30, gt=0, description="Events are spread over this many days up to end_date.")
    end_date: dt.date | None = Field(default=None, description="Last day of the events; null: the run date.")
    string_ids: bool = Field(default=True, description="Ids as text (u0000042, i0000007); false: plain integers.")
    partitions: int = Field(default=4, gt=0, description="Spark partitions (and so files) of the generated events.")
    seed: int = Field(default=DEFAULT_SEED, description="Random seed: the same seed and settings give the same events.")
    bad_rows: dict[BadRowKind, int] = Field(
        default_factory=dict,
        description="Bad rows to add, per kind, in exact numbers (CSV input only), to show the validation gate "
        "working; each kind breaks one row rule (BAD_ROW_RULES in reclake/synthetic.py). duplicate: n adds one "
        "valid row and n copies of it.",
    )

    @field_validator("bad_rows")
    @classmethod
    def _counts(cls, bad_rows: dict[str, int]) -> dict[str, int]:
        negative = sorted(kind for kind, count in bad_rows.items() if count < 0)
        if negative:
            raise ValueError(f"counts must be >= 0 ({', '.join(negative)})")
        return bad_rows


class ValidationSection(Section):
    """The validation gate (reclake/stages/validate.py): batch rules stop a run, row rules quarantine rows."""

    max_quarantine_share: float = Field(
        default=0.05, ge=0, le=1, description="Batch rule: the largest share of raw rows that may be quarantined."
    )
    min_volume_ratio: float | None = Field(
        default=0.5,
        ge=0,
        description="Batch rule: fewest raw rows vs the last successful run (none on a first run); null: no bound.",
    )
    max_volume_ratio: float | None = Field(
        default=2.0, gt=0, description="Batch rule: most raw rows vs the last successful run; null: no bound."
    )
    max_event_age_hours: float | None = Field(
        default=72.0,
        gt=0,
        description="Batch rule: the newest valid event may be at most this old at the end of the run date; "
        "null: no freshness rule.",
    )
    future_tolerance_minutes: float = Field(
        default=5.0,
        ge=0,
        description="Row rule: event times later than now + this are quarantined (timestamp_in_future).",
    )
    earliest_event_time: dt.datetime | None = Field(
        default=dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc),
        description="Row rule: event times before this are quarantined (timestamp_too_old); null: no lower bound.",
    )
    id_max_length: int = Field(default=128, gt=0, description="Row rule: most characters in a user_id or item_id.")
    id_charset: Literal["printable", "ascii"] = Field(
        default="printable",
        description="Row rule on ids: printable: any character but controls, invisible format characters (BOM, "
        "right-to-left and zero-width marks), line separators and the double quote (non-ASCII letters are fine); "
        "ascii: printable ASCII but the double quote.",
    )
    reports_dir: LocalPath | None = Field(
        default=None,
        description="Local folder for the per-run JSON result and the Great Expectations Data Docs; "
        "null: `<lakehouse>/_validation` (on an object-store lakehouse, written locally and uploaded there when "
        "validate finishes).",
    )
    data_docs: bool = Field(
        default=True,
        description="Render the Great Expectations Data Docs (HTML) on every run; the JSON result is written "
        "either way. Turn off where nobody reads them (e.g. most tests).",
    )

    @model_validator(mode="after")
    def _band(self) -> ValidationSection:
        low, high = self.min_volume_ratio, self.max_volume_ratio
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_volume_ratio {low} is greater than max_volume_ratio {high}")
        return self


class PrepareSection(Section):
    """From events to one strength per user-item pair (the sum of its events' weights, over the history)."""

    log_scaling: bool = Field(
        default=False, description="strength = log1p(sum of weights / log_epsilon); false: the plain sum."
    )
    log_epsilon: float = Field(default=1.0, gt=0, description="The divisor inside the log when log_scaling is on.")
    history_days: int | None = Field(
        default=None,
        gt=0,
        description="Pairs are summed over the events ingested in this many days up to the run date (the run "
        "date's batch included); null: all history up to the run date.",
    )
    half_life_days: float | None = Field(
        default=None,
        gt=0,
        description="Time decay: a day's events count 0.5 ** (days since their ingest date / half_life_days) "
        "at the run date; null: no decay.",
    )


class AlsSection(Section):
    """Spark MLlib ALS settings."""

    implicit_prefs: bool = Field(
        default=True, description="Read strengths as confidences (implicit feedback); false: as ratings (explicit ALS)."
    )
    rank: int = Field(default=32, gt=0, description="Number of latent factors per user and item.")
    reg_param: float = Field(default=0.1, ge=0, description="Regularization parameter.")
    alpha: float = Field(default=1.0, ge=0, description="Implicit only: confidence = 1 + alpha * strength.")
    max_iter: int = Field(default=15, gt=0, description="ALS iterations.")
    nonnegative: bool = Field(default=False, description="Constrain the factors to be non-negative.")
    num_user_blocks: int | None = Field(
        default=None,
        gt=0,
        description="Blocks the user factors are partitioned into (one task each per iteration); null: Spark's "
        "default parallelism, i.e. the application's cores (bench/README.md, bench_als.py).",
    )
    num_item_blocks: int | None = Field(
        default=None, gt=0, description="Blocks the item factors are partitioned into; null: as num_user_blocks."
    )
    checkpoint_interval: int = Field(
        default=10, ge=-1, description="Checkpoint every this many iterations (cuts a long lineage); -1: never."
    )
    checkpoint_dir: LocalPath | None = Field(
        default=None, description="Where checkpoints go (folder or URI); null: `<lakehouse>/_checkpoints`."
    )
    seed: int = Field(default=DEFAULT_SEED, description="Random seed of the factors' initialisation.")


class EvaluateSection(Section):
    """Offline evaluation on a held-out split, and the quality gate before publishing (reclake/stages/evaluate.py)."""

    split: Literal["random", "time"] = Field(
        default="random", description="random: each user's test share held out at random; time: each user's latest."
    )
    test_ratio: float = Field(default=0.25, gt=0, lt=1, description="Share of each user's interactions held out.")
    seed: int = Field(default=DEFAULT_SEED, description="Random seed of the split.")
    k: int = Field(default=DEFAULT_TOP_N, gt=0, description="Metrics are computed on each user's top k.")
    metric: RankingMetric = Field(default="ndcg", description="The metric (at k) the gate compares.")
    baseline_margin: float = Field(
        default=0.05,
        ge=0,
        description="Gate: a model must beat the popularity baseline on metric@k by this much (relative: "
        "0.05 = 5% better).",
    )
    tolerance: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Gate: a model may be at most this much (relative) below the last published model's value.",
    )
    gate: bool = Field(default=True, description="false: evaluate and record, never refuse a model.")
    max_users: int | None = Field(
        default=100_000,
        gt=0,
        description="Score about this many test users (a seeded hash of the user id picks them; the model is "
        "still fit on the whole training part); null: every test user. Above ~10^5 users the metrics' "
        "standard errors are far below the gate's margins, and scoring stops growing with the user count.",
    )


class TuneSection(Section):
    """Hyper-parameter search over rank, reg_param and alpha (reclake/model/tuning.py), run by `train`."""

    enabled: bool = Field(
        default=False,
        description="`train` searches first, scoring trials on a validation split of the evaluation's training "
        "part (never its test part), and refits the winner on all data; false: trains with the als settings.",
    )
    strategy: Literal["grid", "random"] = Field(
        default="random", description="grid: every combination (must fit the budget); random: `budget` draws."
    )
    budget: int = Field(default=12, gt=0, description="Most ALS fits the search may make.")
    rank: list[int] = Field(default_factory=lambda: [16, 32, 64], description="Candidate als.rank values.")
    reg_param: list[float] = Field(
        default_factory=lambda: [0.01, 0.1, 1.0], description="Candidate als.reg_param values."
    )
    alpha: list[float] = Field(default_factory=lambda: [0.5, 1.0, 5.0], description="Candidate als.alpha values.")
    validation_ratio: float = Field(
        default=0.25, gt=0, lt=1, description="Share of each user's training interactions held out to score trials."
    )
    metric: RankingMetric = Field(default="ndcg", description="The metric (at evaluate.k) trials are ranked by.")
    seed: int = Field(default=DEFAULT_SEED, description="Random seed of the draws and the validation split.")

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

    top_n: int = Field(default=DEFAULT_TOP_N, gt=0, description="Recommendations per user.")
    user_batch_size: int = Field(default=4096, gt=0, description="Most users scored per matrix product.")
    broadcast_limit_mb: float = Field(
        default=256.0, gt=0, description="Item factors up to this size are broadcast; above it, scored in item blocks."
    )
    item_block_size: int = Field(
        default=16384, gt=0, description="Items per block when the item factors are not broadcast."
    )
    exclude_seen_window_days: int | None = Field(
        default=None,
        gt=0,
        description="Never recommend what a user had in this many days; null: nothing a user ever had.",
    )
    fallback_window_days: int | None = Field(
        default=30,
        gt=0,
        description="Users without ALS factors get what was popular in this many days; null: all history.",
    )
    fold_in: bool = Field(
        default=True,
        description="Users new since training with usable interactions get factors from one least-squares solve "
        "against the model's item factors (source foldin); false: the popularity fallback.",
    )
    eligible_items: TableName | None = Field(
        default=None,
        description="Delta table of the item_ids that may be recommended, by its name under the lakehouse "
        "(e.g. catalogue/eligible; never outside it); null: every item.",
    )
    excluded_items: TableName | None = Field(
        default=None,
        description="Delta table of item_ids never recommended, by its name under the lakehouse, e.g. "
        "catalogue/out_of_stock; null: none.",
    )
    similar_items_top_n: int = Field(
        default=20, ge=0, description="Neighbours per item in staging/similar_items (cosine); 0: skip."
    )
    include_new_items: bool = Field(
        default=True,
        description="With a catalogue: new items (no interactions) get factors from their content and may enter the "
        "lists (source content); false: only in new_item_recommendations.",
    )
    new_items_top_n: int = Field(
        default=10,
        ge=0,
        description="With a catalogue: new items per user in new_item_recommendations (new items only); 0: skip.",
    )
    content_reg_params: list[PositiveFloat] = Field(
        default_factory=lambda: [1.0, 10.0, 100.0, 1000.0],
        min_length=1,
        description="Ridge penalties tried for each feature group (text, tags, numeric, flags) of the map from content "
        "to ALS item factors; each group may also be switched off. Chosen by cross-validation on the items with "
        "factors (docs/recommend.md).",
    )
    content_folds: int = Field(
        default=5, ge=2, description="Folds of the items with factors that choose the content map's penalties."
    )


class BigQuerySection(Section):
    """The BigQuery sink: Spark stages Parquet under ``staging_uri``; a load job and one transaction replace a date.

    Credentials come only from the environment (Application Default Credentials or
    GOOGLE_APPLICATION_CREDENTIALS), never from this file.
    """

    project: str = Field(min_length=1, description="Google Cloud project of the table.")
    dataset: str = Field(pattern=r"^[A-Za-z0-9_]+$", max_length=1024, description="BigQuery dataset.")
    table: str = Field(
        pattern=r"^[\w-]+$", max_length=1024, description="BigQuery table; a run replaces its run date's rows."
    )
    staging_uri: str = Field(
        min_length=1,
        description="Where Spark stages Parquet: gs://bucket/prefix (BigQuery reads it there) or a local folder or "
        "file: URI (the files are sent with the load job).",
    )
    location: str | None = Field(
        default=None, description="Location of the jobs, e.g. EU, US, europe-west4; null: the dataset's."
    )
    timeout_s: float = Field(default=600.0, gt=0, description="How long to wait for each BigQuery job, in seconds.")
    api_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+/?$",
        description="BigQuery API endpoint, e.g. a local emulator's http://127.0.0.1:9050; null: Google's. With an "
        "endpoint and no credentials in the environment, requests are anonymous.",
    )

    @field_validator("staging_uri")
    @classmethod
    def _staging_reachable(cls, uri: str) -> str:
        if is_uri(uri) and not uri.startswith(("gs://", "file:")):
            raise ValueError("staging_uri must be gs://bucket/prefix or a local folder (file: URI or path)")
        return uri

    @property
    def table_id(self) -> str:
        """The published table: ``project.dataset.table``."""
        return f"{self.project}.{self.dataset}.{self.table}"

    def destination(self, run_date: dt.date) -> str:
        """The one partition a run replaces: ``project.dataset.table$YYYYMMDD``."""
        return f"{self.table_id}${run_date:%Y%m%d}"


class PublishSection(Section):
    """Where recommendations go and how the published tables are laid out and kept."""

    sink: Literal["delta", "bigquery"] = Field(
        default="delta", description="delta: the recommendations table under the lakehouse; bigquery: publish.bigquery."
    )
    partition_by_run_date: bool = Field(
        default=True, description="Partition by run date, so replacing and expiring a run are partition operations."
    )
    retain_runs: int | None = Field(
        default=None, gt=0, description="Keep the K newest run dates; null: keep every run."
    )
    target_file_rows: int = Field(
        default=250_000, gt=0, description="Rows per file, each file one contiguous range of users."
    )
    row_group_bytes: int = Field(
        default=256 * 1024, gt=0, description="Parquet row group size; small ones let a reader skip inside a file."
    )
    vacuum_retention_hours: int = Field(
        default=168, ge=0, description="`maintain` deletes files that older table versions need after this many hours."
    )
    bigquery: BigQuerySection | None = Field(
        default=None, description="The BigQuery sink's settings; required when sink is bigquery."
    )

    @model_validator(mode="after")
    def _sink_settings(self) -> PublishSection:
        if self.sink == "bigquery" and self.bigquery is None:
            raise ValueError("sink is bigquery, so publish.bigquery (project, dataset, table, staging_uri) is required")
        if self.retain_runs is not None and not self.partition_by_run_date:
            raise ValueError("retain_runs needs partition_by_run_date: true (old runs are dropped as partitions)")
        return self

    @property
    def bigquery_target(self) -> BigQuerySection:
        """``bigquery`` for the bigquery sink, where the validator has made it required."""
        if self.bigquery is None:
            raise ConfigError("publish.bigquery is not set, and the bigquery sink needs it")
        return self.bigquery


class MonitoringSection(Section):
    """What a run leaves for operators: Prometheus metrics (docs/monitoring.md) and Spark event logs.

    Pushgateway credentials come only from the environment (RECLAKE_PUSHGATEWAY_USERNAME and
    RECLAKE_PUSHGATEWAY_PASSWORD, basic auth), never from this file or the URL.
    """

    metrics: bool = Field(
        default=True, description="Write the run's Prometheus metrics (and push them when pushgateway_url is set)."
    )
    textfile_dir: LocalPath | None = Field(
        default=None,
        description="Folder of the metrics files: `reclake.prom` (the latest run, for node_exporter's textfile "
        "collector) and `runs/<run_id>.prom`; null: `<lakehouse>/_metrics` for a local lakehouse, none otherwise.",
    )
    pushgateway_url: str | None = Field(
        default=None,
        description="Pushgateway to push each run's metrics to, grouped by job and stage, e.g. "
        "http://pushgateway:9091; null: no push. No user or password in the URL.",
    )
    push_timeout_s: float = Field(default=10.0, gt=0, description="How long one push may take, in seconds.")
    event_log_dir: LocalPath | None = Field(
        default=None,
        description="Spark event logs go here (spark.eventLog.dir), for the History Server (`make history`): "
        "a local folder (created if missing) or an object-store URI; null: no event logs.",
    )
    progress_interval_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How often a running stage logs its progress (Spark tasks done of the running Spark stages), "
        "in seconds; on a terminal also as one live line. 0: no progress reports.",
    )
    html_report: bool = Field(
        default=True,
        description="Write each run's self-contained HTML report (plots of timings, volumes, validation, model "
        "quality, recommendations) beside report.md, or under `<lakehouse>/_reports` when nothing was evaluated.",
    )

    @field_validator("pushgateway_url")
    @classmethod
    def _no_credentials_in_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise PydanticCustomError(
                CREDENTIALS_IN_URL,
                "must not carry credentials: set RECLAKE_PUSHGATEWAY_USERNAME and RECLAKE_PUSHGATEWAY_PASSWORD "
                "in the environment instead",
            )
        return url.rstrip("/")


class RunSection(Section):
    """Identity of one run: its date (what it is about) and id (which attempt)."""

    run_date: dt.date | None = Field(default=None, description="The date the run is about; null: today (UTC).")
    run_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Which attempt; it names log, report and metrics files, so no /, \\, control characters or "
        "leading dot. null: derived from the run date and the time.",
    )
    lock_wait_s: float = Field(
        default=0.0,
        ge=0,
        description="How long a job waits for another job's writer lock on the lakehouse before it fails "
        "(exit status 2, naming the holder); 0: fail at once. See docs/reliability.md.",
    )

    @field_validator("run_id")
    @classmethod
    def _file_name(cls, run_id: str | None) -> str | None:
        if run_id is not None and (run_id.startswith(".") or any(c in "/\\" or ord(c) < 32 for c in run_id)):
            raise ValueError("must be usable as a file name: no /, \\, control characters or leading dot")
        return run_id


class Config(Section):
    """The whole configuration; every job takes this and uses the sections it needs."""

    spark: SparkSection = Field(default_factory=SparkSection, description=SparkSection.__doc__)
    lakehouse: LakehouseSection = Field(default_factory=LakehouseSection, description=LakehouseSection.__doc__)
    input: InputSection = Field(default_factory=InputSection, description=InputSection.__doc__)
    catalogue: CatalogueSection | None = Field(default=None, description=CatalogueSection.__doc__)
    kafka: KafkaSection | None = Field(default=None, description=KafkaSection.__doc__)
    events: EventsSection = Field(default_factory=EventsSection, description=EventsSection.__doc__)
    generate: GenerateSection = Field(default_factory=GenerateSection, description=GenerateSection.__doc__)
    validation: ValidationSection = Field(default_factory=ValidationSection, description=ValidationSection.__doc__)
    prepare: PrepareSection = Field(default_factory=PrepareSection, description=PrepareSection.__doc__)
    als: AlsSection = Field(default_factory=AlsSection, description=AlsSection.__doc__)
    evaluate: EvaluateSection = Field(default_factory=EvaluateSection, description=EvaluateSection.__doc__)
    tune: TuneSection = Field(default_factory=TuneSection, description=TuneSection.__doc__)
    recommend: RecommendSection = Field(default_factory=RecommendSection, description=RecommendSection.__doc__)
    publish: PublishSection = Field(default_factory=PublishSection, description=PublishSection.__doc__)
    monitoring: MonitoringSection = Field(default_factory=MonitoringSection, description=MonitoringSection.__doc__)
    run: RunSection = Field(default_factory=RunSection, description=RunSection.__doc__)

    @model_validator(mode="before")
    @classmethod
    def _validate_absent_sections(cls, data: Any) -> Any:
        """Build absent sections from {} so their defaults are validated too, with this validation's context."""
        if isinstance(data, dict):
            sections = [name for name, field in cls.model_fields.items() if field.default is not None]
            return {**{name: {} for name in sections}, **data}
        return data

    @model_validator(mode="after")
    def _default_event_type_is_known(self) -> Config:
        default = self.input.default_event_type
        if default is not None and default not in self.events.types:
            raise ValueError(
                f"input.default_event_type {default!r} is not one of events.types ({', '.join(self.events.types)})"
            )
        return self

    @model_validator(mode="after")
    def _lakehouse_outside_input(self) -> Config:
        """A lakehouse inside the input folder would be read back as input (and its tables next to raw files)."""
        root = local_folder(self.lakehouse.root)
        source = local_folder(self.input.path.split(RUN_DATE_PLACEHOLDER)[0]) if self.input.path else None
        if root is not None and source is not None and (root == source or source in root.parents):
            raise ValueError(
                f"lakehouse.root {root} is the input folder or inside it (input.path {self.input.path}): "
                "put the lakehouse elsewhere"
            )
        return self

    @model_validator(mode="after")
    def _kafka_lands_daily_json(self) -> Config:
        """`ingest` lands JSON lines per event date: validate must read them so, one date per run."""
        if self.kafka is not None and (self.input.format != "json" or not self.incremental):
            raise ValueError(
                "kafka lands JSON lines in one folder per event date: set input.format json and an input.path "
                "with {run_date}, e.g. landing/events/date={run_date}"
            )
        return self

    @property
    def ingest_checkpoint(self) -> str:
        """Where `ingest` keeps its stream's checkpoint (kafka.checkpoint_dir, else under the lakehouse)."""
        if self.kafka is None:
            raise ConfigError("no kafka section: ingest has no topic to read (docs/ingest.md)")
        return self.kafka.checkpoint_dir or join_uri(self.lakehouse.root, "_ingest", self.kafka.topic)

    @property
    def input_path(self) -> str:
        """The raw events location: the configured path, else where `generate` writes."""
        return self.input.path or join_uri(self.lakehouse.root, "landing", "events")

    @property
    def incremental(self) -> bool:
        """True when the input is one batch per run date (``{run_date}`` in input.path)."""
        return RUN_DATE_PLACEHOLDER in self.input_path

    def batch_path(self, run_date: dt.date) -> str:
        """The raw events a run for ``run_date`` validates: the input path with ``{run_date}`` filled in."""
        return self.input_path.replace(RUN_DATE_PLACEHOLDER, run_date.isoformat())

    @property
    def checkpoint_dir(self) -> str:
        return self.als.checkpoint_dir or join_uri(self.lakehouse.root, "_checkpoints")


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The section model a field holds (``X`` or ``X | None``), if any."""
    if typing.get_origin(annotation) is dict:
        return None
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def dict_of_models(annotation: Any) -> type[BaseModel] | None:
    """The model of a ``dict[str, Model]`` field (e.g. events.types), if it is one."""
    if typing.get_origin(annotation) is dict:
        return model_in(typing.get_args(annotation)[1])
    return None
