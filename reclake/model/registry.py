"""The model registry: a Delta table of every trained model plus a folder per model a person can browse.

Layout under the lakehouse root::

    model_registry/            Delta table, one row per model version (status updated in place)
    models/<version>/model/    the saved Spark ALS model
    models/<version>/metadata.json   that model's registry row: params, metrics, data snapshot, code version
    models/<version>/report.md       the evaluation report (``reclake evaluate``), with SVG plots beside it
    models/PUBLISHED           the version whose recommendations were published last

A model's status moves trained -> approved | rejected (by the gate in
``reclake evaluate``) -> published (by ``reclake publish``). ``recommend`` uses
the newest approved or published model, so a rejected model never reaches apps.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

import reclake
from reclake.constants import MODEL_VERSION, PUBLISHED, TRAINED, USABLE_STATUSES
from reclake.context import RunContext
from reclake.errors import MissingTableError
from reclake.io import catalogue
from reclake.io.lakehouse import write_text
from reclake.io.tables import MODEL_REGISTRY, MODELS
from reclake.uris import join_uri

log = logging.getLogger(__name__)
PUBLISHED_POINTER = "PUBLISHED"
JSON_COLUMNS = ("params", "data_snapshot", "metrics", "tuning")


def model_dir(lakehouse_root: str, version: str) -> str:
    return join_uri(lakehouse_root, MODELS, version)


def model_uri(lakehouse_root: str, version: str) -> str:
    """Where the Spark ALS model of ``version`` is saved."""
    return f"{model_dir(lakehouse_root, version)}/model"


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout (``0.1.0+g1a2b3c4``)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(reclake.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return reclake.__version__
    return f"{reclake.__version__}+g{sha}" if sha else reclake.__version__


def register(spark: SparkSession, lakehouse_root: str, ctx: RunContext, entry: dict[str, Any]) -> None:
    """Append a model's row (status ``trained``, run id and date from ``ctx``) and write its metadata.json."""
    now = dt.datetime.now(dt.timezone.utc)
    row = {"created_at": now, "status": TRAINED, "status_at": now, "metrics": None, "tuning": None, **entry}
    row |= {"run_id": ctx.run_id, "run_date": ctx.run_date}
    row["code_version"] = row.get("code_version") or code_version()
    for key in JSON_COLUMNS:
        if row.get(key) is not None and not isinstance(row[key], str):
            row[key] = json.dumps(row[key], sort_keys=True)
    frame = catalogue.rows(spark, MODEL_REGISTRY, [tuple(row.get(c) for c in MODEL_REGISTRY.column_names)])
    catalogue.write(frame, lakehouse_root, MODEL_REGISTRY, ctx, mode="append")
    write_metadata(spark, lakehouse_root, row["model_version"])


def set_status(
    spark: SparkSession, lakehouse_root: str, version: str, status: str, metrics: dict[str, Any] | None = None
) -> None:
    """Move ``version`` to ``status`` (and record its evaluation metrics), then refresh metadata.json."""
    updates: dict[str, str | Column] = {"status": F.lit(status), "status_at": F.current_timestamp()}
    if metrics is not None:
        updates["metrics"] = F.lit(json.dumps(metrics, sort_keys=True))
    catalogue.delta_table(spark, lakehouse_root, MODEL_REGISTRY).update(F.col(MODEL_VERSION) == F.lit(version), updates)
    write_metadata(spark, lakehouse_root, version)


def mark_published(spark: SparkSession, lakehouse_root: str, version: str) -> bool:
    """Record that ``version``'s recommendations were published: status, and models/PUBLISHED.

    Returns False (and records nothing) for a version the registry does not know,
    e.g. recommendations staged by another system: publishing itself must not fail on that.
    """
    entry = None
    if catalogue.exists(spark, lakehouse_root, MODEL_REGISTRY):
        entry = _registry(spark, lakehouse_root).where(F.col(MODEL_VERSION) == version).select("status").first()
    if entry is None:
        log.warning(
            "published model version %s is not in the model registry at %s; not recorded",
            version,
            MODEL_REGISTRY.uri(lakehouse_root),
        )
        return False
    if entry["status"] != PUBLISHED:  # re-publishing a date converges: the registry row stays as it was
        set_status(spark, lakehouse_root, version, PUBLISHED)
    write_text(spark, join_uri(lakehouse_root, MODELS, PUBLISHED_POINTER), version + "\n")
    return True


def model_entry(spark: SparkSession, lakehouse_root: str, version: str) -> dict[str, Any]:
    """One model's registry row, JSON columns decoded."""
    rows = _registry(spark, lakehouse_root).where(F.col(MODEL_VERSION) == version).collect()
    if not rows:
        raise MissingTableError(f"model {version} is not in the model registry: run `reclake train` first")
    return _decode(rows[0].asDict())


def latest_entry(
    spark: SparkSession, lakehouse_root: str, statuses: tuple[str, ...] | None = None
) -> dict[str, Any] | None:
    """The newest model (optionally: with one of ``statuses``), or None."""
    if not catalogue.exists(spark, lakehouse_root, MODEL_REGISTRY):
        return None
    registry = _registry(spark, lakehouse_root)
    if statuses is not None:
        registry = registry.where(F.col("status").isin(list(statuses)))
    row = registry.orderBy(F.col("created_at").desc(), F.col(MODEL_VERSION).desc()).first()
    return _decode(row.asDict()) if row is not None else None


def latest_published(spark: SparkSession, lakehouse_root: str, exclude: str | None = None) -> dict[str, Any] | None:
    """The model published most recently (by publication time), other than ``exclude``; None if none."""
    if not catalogue.exists(spark, lakehouse_root, MODEL_REGISTRY):
        return None
    row = (
        _registry(spark, lakehouse_root)
        .where((F.col("status") == PUBLISHED) & (F.col(MODEL_VERSION) != F.lit(exclude or "")))
        .orderBy(F.col("status_at").desc())
        .first()
    )
    return _decode(row.asDict()) if row is not None else None


def latest_approved_version(spark: SparkSession, lakehouse_root: str) -> str:
    """The newest model the gate let through: what ``recommend`` serves."""
    entry = latest_entry(spark, lakehouse_root, USABLE_STATUSES)
    if entry is None:
        raise MissingTableError(
            "no approved model in the model registry: run `reclake train` then `reclake evaluate` "
            "(the quality gate approves a model)"
        )
    return entry[MODEL_VERSION]


def write_metadata(spark: SparkSession, lakehouse_root: str, version: str) -> None:
    entry = model_entry(spark, lakehouse_root, version)
    text = json.dumps(entry, indent=2, sort_keys=True, default=str) + "\n"
    write_text(spark, f"{model_dir(lakehouse_root, version)}/metadata.json", text)


def _registry(spark: SparkSession, lakehouse_root: str) -> DataFrame:
    return catalogue.read(spark, lakehouse_root, MODEL_REGISTRY)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(v) if k in JSON_COLUMNS and v is not None else v) for k, v in row.items()}
