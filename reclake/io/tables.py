"""The table catalogue: one declaration per lakehouse table, so every stage, reader and document agrees.

Each :class:`Table` names the table (its path under the lakehouse root), the
stage that writes it, its partitioning, its Delta table properties, what one
row is, and its columns where the schema is fixed (the published columns of
``recommendations`` are declared here once). Reading and writing through a
declaration (with the commit metadata stamped) is reclake/io/catalogue.py;
``docs/data-contracts.md`` lists the tables from here (``python -m
reclake.io.tables``, a test keeps it fresh).

No Spark here: the lookup client, the HTTP API and the Airflow DAG import this too.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from reclake.constants import (
    ELIGIBLE,
    EVENT_TIME,
    EVENT_TYPE,
    EXCLUDED,
    FEATURES,
    FOLDIN_SETTINGS,
    INGEST_DATE,
    ITEM_ID,
    ITEM_IDX,
    LAST_EVENT_TIME,
    MODEL_VERSION,
    RANK,
    RUN_DATE,
    RUN_ID,
    SCORE,
    SIMILAR_ITEM_ID,
    SOURCE,
    STRENGTH,
    TABLE_NAME,
    TABLE_VERSION,
    USER_ID,
    USER_IDX,
    VALUE,
)
from reclake.uris import join_uri


@dataclass(frozen=True)
class Column:
    """One column of a fixed schema: its name, Spark SQL type and, for published tables, what it means."""

    name: str
    type: str  # string, int, bigint, double, date, timestamp, array<string>
    meaning: str = ""
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    """One lakehouse table: where it lives, who writes it, how it is laid out and, where fixed, its columns."""

    name: str  # its path under the lakehouse root
    produced_by: str  # the stage that writes it (and the one to run when it is missing)
    description: str  # what one row is, in a line
    partition_by: tuple[str, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()  # Delta table properties (trusted constants)
    columns: tuple[Column, ...] | None = None  # None: the columns depend on the config

    def uri(self, lakehouse_root: str) -> str:
        return join_uri(lakehouse_root, self.name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns or ())

    @property
    def table_properties(self) -> dict[str, str]:
        return dict(self.properties)

    def __str__(self) -> str:
        return self.name


def _cols(spec: str, nullable: bool = True) -> tuple[Column, ...]:
    """Columns from ``"name type, name type"`` (types without commas)."""
    pairs = [part.split(" ", 1) for part in spec.split(", ")]
    return tuple(Column(name, type_, nullable=nullable) for name, type_ in pairs)


# The published schemas, in column order (schemas/recommendations.schema.json documents the first).
RECOMMENDATION_SCHEMA = (
    Column(USER_ID, "string", "the user's id as in the input"),
    Column(RANK, "int", "1..N, 1 best"),
    Column(ITEM_ID, "string", "never an item the user already has"),
    Column(SCORE, "double", "non-increasing with rank within a user"),
    Column(
        SOURCE,
        "string",
        "`als`; `foldin` for users new since training (factors folded in against the model's item factors); "
        "`popular` for users without usable events; `content` for a new item (in the catalogue, no "
        "interactions), its factors mapped from its content",
    ),
    Column(MODEL_VERSION, "string", "the `model_registry` version that produced it"),
    Column(RUN_DATE, "date", "the run's date"),
)
SIMILAR_ITEM_SCHEMA = (
    Column(ITEM_ID, "string", "the item's id as in the input"),
    Column(RANK, "int", "1..N, 1 most similar"),
    Column(SIMILAR_ITEM_ID, "string", "a neighbour of `item_id` (cosine on the model's item factors)"),
    Column(SCORE, "double", "the cosine similarity, non-increasing with rank"),
    Column(MODEL_VERSION, "string", "the `model_registry` version that produced it"),
    Column(RUN_DATE, "date", "the run's date"),
)
# What serving folds a user's recent items in against (docs/recommend.md#real-time-lists): the run's item factors
# with the settings of the solve, and what the run's model input held per user.
ITEM_FACTOR_SCHEMA = (
    Column(ITEM_ID, "string", "the item's id as in the input"),
    Column(ITEM_IDX, "int", "its dense index: ties in a list go to the smaller"),
    Column(FEATURES, "array<float>", "its factors: the model's (`als`) or mapped from its content (`content`)"),
    Column(SOURCE, "string", "`als`: a model factor, used in the fold-in solve; `content`: a new item, scored only"),
    Column(ELIGIBLE, "boolean", "may be recommended (eligibility, exclusions, `include_new_items`)"),
    Column(MODEL_VERSION, "string", "the `model_registry` version the factors are from"),
    Column(
        FOLDIN_SETTINGS,
        "string",
        "JSON, the same on every row of a run: the model's `rank`, `reg_param`, `alpha`, `implicit_prefs`, the "
        "run's event types and prepare settings, and `top_n`",
    ),
    Column(RUN_DATE, "date", "the run's date"),
)
USER_HISTORY_SCHEMA = (
    Column(USER_ID, "string", "the user's id as in the input"),
    Column(ITEM_ID, "string", "an item the user had in the run's `interactions` or that its lists exclude"),
    Column(
        STRENGTH,
        "double",
        "the pair's strength in `interactions` (what ALS and fold-in saw); null: not in them, only excluded",
    ),
    Column(
        EXCLUDED,
        "boolean",
        "the run's lists exclude the item for the user: had in the last `recommend.exclude_seen_window_days` "
        "(null: ever); real-time lists exclude these and the recent items",
    ),
    Column(MODEL_VERSION, "string", "the `model_registry` version of the run's lists"),
    Column(RUN_DATE, "date", "the run's date"),
)
_QUARANTINE_SCHEMA = _cols(
    f"{RUN_ID} string, {RUN_DATE} date, quarantined_at timestamp, reasons array<string>, raw_record string"
)
_PUBLISHED = " (partitioned by run_date unless `publish.partition_by_run_date: false`)"

EVENTS = Table(
    "events",
    "validate",
    "a validated event; `ingest_date` is the run date whose batch brought it",
    partition_by=(INGEST_DATE,),
    # Readers filter events by event_time only (recommend's seen window): file statistics on the ids and
    # types would cost a quarter of the write (4.8M rows: 2.6 s with them, 1.7-2.1 s without) for nothing.
    properties=(("delta.dataSkippingStatsColumns", EVENT_TIME),),
    columns=_cols(
        f"{USER_ID} string, {ITEM_ID} string, {EVENT_TYPE} string, {VALUE} double, {EVENT_TIME} timestamp, "
        f"{INGEST_DATE} date"
    ),
)
QUARANTINE = Table(
    "quarantine",
    "validate",
    "an input row validation rejected, as read, with the rules it broke",
    columns=_QUARANTINE_SCHEMA,
)
VALIDATION_RUNS = Table(
    "validation_runs",
    "validate",
    "one validate run: counts, the source schema, the outcome",
    columns=_cols(
        f"{RUN_ID} string, {RUN_DATE} date, validated_at timestamp, status string, raw_rows bigint, "
        "valid_rows bigint, quarantined_rows bigint, input string, source_schema string"
    ),
)
CATALOGUE = Table(
    "catalogue",
    "validate",
    "a valid catalogue item: `item_id`, its content columns as read and `content` (array<double>); replaced every run",
)
CATALOGUE_QUARANTINE = Table(
    "catalogue_quarantine",
    "validate",
    "a catalogue row validation rejected, as read, with the rules it broke",
    columns=_QUARANTINE_SCHEMA,
)
DAILY_PAIRS = Table(
    "daily_pairs",
    "prepare",
    "per ingest date, one user-item pair's sum of event weights (what `interactions` sums)",
    partition_by=(INGEST_DATE,),
    columns=_cols(
        f"{INGEST_DATE} date, {USER_ID} string, {ITEM_ID} string, {STRENGTH} double, "
        f"{LAST_EVENT_TIME} timestamp, events_files string"
    ),
)
INTERACTIONS = Table(
    "interactions",
    "prepare",
    "one strength per (user_idx, item_idx): what ALS trains on",
    columns=_cols(f"{USER_IDX} int, {ITEM_IDX} int, {STRENGTH} double, {LAST_EVENT_TIME} timestamp"),
)
USER_IDS = Table(
    "user_ids",
    "prepare",
    "user_id <-> user_idx, append-only (stable across runs)",
    columns=_cols(f"{USER_ID} string, {USER_IDX} int"),
)
ITEM_IDS = Table(
    "item_ids",
    "prepare",
    "item_id <-> item_idx, append-only (stable across runs)",
    columns=_cols(f"{ITEM_ID} string, {ITEM_IDX} int"),
)
MODEL_REGISTRY = Table(
    "model_registry",
    "train",
    "one trained model: settings, data snapshot, code version, status, evaluation metrics",
    columns=_cols(
        f"{MODEL_VERSION} string, created_at timestamp, {RUN_ID} string, {RUN_DATE} date, model_uri string, "
        "params string, data_snapshot string, code_version string, status string, status_at timestamp, "
        "metrics string, tuning string"
    ),
)
STAGED_RECOMMENDATIONS = Table(
    "staging/recommendations", "recommend", "a user's recommendation before publishing", columns=RECOMMENDATION_SCHEMA
)
STAGED_SIMILAR_ITEMS = Table(
    "staging/similar_items", "recommend", "an item's neighbour before publishing", columns=SIMILAR_ITEM_SCHEMA
)
STAGED_NEW_ITEM_RECOMMENDATIONS = Table(
    "staging/new_item_recommendations",
    "recommend",
    "a user's recommended new item before publishing (with a catalogue)",
    columns=RECOMMENDATION_SCHEMA,
)
STAGED_ITEM_FACTORS = Table(
    "staging/item_factors", "recommend", "an item's factors before publishing", columns=ITEM_FACTOR_SCHEMA
)
STAGED_USER_HISTORIES = Table(
    "staging/user_histories",
    "recommend",
    "a user-item strength (or exclusion) before publishing",
    columns=USER_HISTORY_SCHEMA,
)
RECOMMENDATIONS = Table(
    "recommendations",
    "publish",
    "run date, user, rank: the table app teams read" + _PUBLISHED,
    partition_by=(RUN_DATE,),
    columns=RECOMMENDATION_SCHEMA,
)
SIMILAR_ITEMS = Table(
    "similar_items",
    "publish",
    "run date, item, rank: an item's neighbours" + _PUBLISHED,
    partition_by=(RUN_DATE,),
    columns=SIMILAR_ITEM_SCHEMA,
)
NEW_ITEM_RECOMMENDATIONS = Table(
    "new_item_recommendations",
    "publish",
    'run date, user, rank: the "new for you" shelf, new items only (`source = content`)' + _PUBLISHED,
    partition_by=(RUN_DATE,),
    columns=RECOMMENDATION_SCHEMA,
)
ITEM_FACTORS = Table(
    "item_factors",
    "publish",
    "run date, item: its factors and the settings serving folds recent items in with" + _PUBLISHED,
    partition_by=(RUN_DATE,),
    columns=ITEM_FACTOR_SCHEMA,
)
USER_HISTORIES = Table(
    "user_histories",
    "publish",
    "run date, user, item: the strength the run saw, what real-time lists fold in and exclude" + _PUBLISHED,
    partition_by=(RUN_DATE,),
    columns=USER_HISTORY_SCHEMA,
)
# Which version and run date of each published table readers serve: replaced, in one commit, after
# a publish's (or rollback's) table commits, so readers move across tables at once.
SERVED_VERSIONS = Table(
    "served_versions",
    "publish",
    "one published table: the version and run date readers serve (replaced in one commit per publish or rollback)",
    columns=(
        Column(TABLE_NAME, "string", nullable=False),
        Column(TABLE_VERSION, "bigint", nullable=False),
        Column(RUN_DATE, "date"),
    ),
)
RUNS = Table(
    "runs",
    "publish",
    "one published (or failed) run: status and every stage's counts",
    columns=(
        *_cols(
            f"{RUN_ID} string, {RUN_DATE} date, job string, status string, started_at timestamp, finished_at timestamp",
            nullable=False,
        ),
        Column(MODEL_VERSION, "string"),
        Column("counts", "string", "JSON: stage -> {count name: value}", nullable=False),
        Column("error", "string"),
    ),
)

# Every table, in pipeline order.
TABLES = (
    EVENTS,
    QUARANTINE,
    VALIDATION_RUNS,
    CATALOGUE,
    CATALOGUE_QUARANTINE,
    DAILY_PAIRS,
    INTERACTIONS,
    USER_IDS,
    ITEM_IDS,
    MODEL_REGISTRY,
    STAGED_RECOMMENDATIONS,
    STAGED_SIMILAR_ITEMS,
    STAGED_NEW_ITEM_RECOMMENDATIONS,
    STAGED_ITEM_FACTORS,
    STAGED_USER_HISTORIES,
    RECOMMENDATIONS,
    SIMILAR_ITEMS,
    NEW_ITEM_RECOMMENDATIONS,
    ITEM_FACTORS,
    USER_HISTORIES,
    SERVED_VERSIONS,
    RUNS,
)
MODELS = "models"  # folder of saved ALS models, one per version (files, not a Delta table)


def table_uri(lakehouse_root: str, table: Table | str) -> str:
    """Where a table (or a folder, by name) lives under the lakehouse root."""
    return join_uri(lakehouse_root, str(table))


# ---------------------------------------------------------------- docs/data-contracts.md

DOC = Path("docs/data-contracts.md")
REGENERATE = ".venv/bin/python -m reclake.io.tables --write"
_SECTION = re.compile(r"(<!-- BEGIN GENERATED: (\w+) -->\n).*?(<!-- END GENERATED: \2 -->)", re.S)


def _type(column: Column) -> str:
    return f"`{column.type}`" if "<" in column.type else column.type  # array<string> is not an HTML tag


def tables_markdown() -> str:
    """Every table: writer, partitioning, properties, one row, columns."""
    lines = [
        f"Generated from `reclake/io/tables.py` by `{REGENERATE}`; do not edit by hand.",
        "",
        "| table | written by | partitioned by | one row is | columns |",
        "|---|---|---|---|---|",
    ]
    for table in TABLES:
        columns = (
            ", ".join(f"`{c.name}` {_type(c)}" for c in table.columns) if table.columns else "depends on the config"
        )
        partitions = ", ".join(f"`{p}`" for p in table.partition_by) or "-"
        properties = "".join(f"; Delta `{k}={v}`" for k, v in table.properties)
        lines.append(
            f"| `{table.name}` | {table.produced_by} | {partitions}{properties} | {table.description} | {columns} |"
        )
    return "\n".join(lines) + "\n"


def columns_markdown(table: Table) -> str:
    """A published table's columns: name, type, meaning."""
    rows = [f"| `{c.name}` | {_type(c)} | {c.meaning} |" for c in table.columns or ()]
    return "\n".join(["| column | type | meaning |", "|---|---|---|", *rows]) + "\n"


SECTIONS = {"tables": tables_markdown, "recommendations": lambda: columns_markdown(RECOMMENDATIONS)}


def regenerate(text: str) -> str:
    """``text`` with every marked section replaced by what the catalogue says now."""
    return _SECTION.sub(lambda m: m.group(1) + SECTIONS[m.group(2)]() + m.group(3), text)


def main(argv: list[str]) -> int:
    """Print docs/data-contracts.md as the catalogue says it should be; ``--write``: rewrite it in place."""
    text = regenerate(DOC.read_text())
    if "--write" in argv:
        DOC.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
