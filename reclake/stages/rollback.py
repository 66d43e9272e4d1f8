"""Undo a bad publish: restore the published tables to their version before a run date's last publish.

Delta's ``RESTORE`` makes one new commit whose files are those of the earlier
version, so readers move from the bad run to the previous one atomically, and
the bad version stays in the history (time travel still reaches it until
``maintain`` vacuums it). Readers move when ``served_versions`` is replaced
after the restores, with the run dates served before that publish. Only the
newest publish can be rolled back this way: when another date was published
after it, the rollback is refused and names that publish. The model registry's
``PUBLISHED`` pointer follows the restored rows, and the ``runs`` table records
the rollback like any other job.

    spark-submit jobs/rollback.py --config conf/local.yaml --run-date 2026-11-23
    reclake rollback --lakehouse lakehouse --run-date 2026-11-23
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from reclake.config import Config
from reclake.constants import MODEL_VERSION, RUN_DATE
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import FirstPublish, MissingTableError
from reclake.io.lakehouse import USER_METADATA, delta_exists, session_conf, table_version
from reclake.io.layout import version_before_last_publish
from reclake.io.runs import record_run
from reclake.io.served import Served, newest_run_date, served_versions, write_served_versions
from reclake.io.tables import NEW_ITEM_RECOMMENDATIONS, RECOMMENDATIONS, SERVED_VERSIONS, SIMILAR_ITEMS, table_uri
from reclake.model import registry
from reclake.runner import run_job


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root = config.lakehouse.root
    uris = {name: table_uri(root, name) for name in (RECOMMENDATIONS, SIMILAR_ITEMS, NEW_ITEM_RECOMMENDATIONS)}
    present = {name: uri for name, uri in uris.items() if delta_exists(spark, uri)}
    if RECOMMENDATIONS not in present:
        raise MissingTableError(f"no Delta table at {uris[RECOMMENDATIONS]}: nothing was published to roll back")
    # Every target first: a refusal for one table must leave every table as it is.
    targets, unchanged = {}, []
    for name, uri in present.items():
        try:
            targets[name] = _version_before_last_publish(spark, uri, name, ctx)
        except MissingTableError as exc:  # that publish left this table alone (nothing staged, no rows to replace)
            unchanged.append(exc)
    served_before = _served_before_last_publish(spark, root, ctx)
    if not targets and served_before is None:
        raise unchanged[0]
    served_before = served_before or {}
    metadata = {"run_id": ctx.run_id, "rolled_back_run_date": ctx.run_date.isoformat()}
    counts = {}
    with session_conf(spark, {USER_METADATA: json.dumps(metadata, sort_keys=True)}):
        for name, version in targets.items():
            DeltaTable.forPath(spark, present[name]).restoreToVersion(version)
            counts[f"{name}.restored_to_version"] = version
    restored = {}
    for name, uri in present.items():
        before = served_before.get(name)
        restored[name] = Served(table_version(spark, uri), before.run_date if before else newest_run_date(spark, uri))
    write_served_versions(spark, root, restored, metadata)
    served = (
        spark.read.format("delta")
        .load(present[RECOMMENDATIONS])
        .orderBy(F.col(RUN_DATE).desc())
        .select(MODEL_VERSION)
        .first()
    )
    model_version = served[MODEL_VERSION] if served is not None else None
    if model_version:
        registry.mark_published(spark, root, model_version)  # the pointer names what apps read again
    return StageResult(
        counts=counts,
        tables={name: uri for name, uri in present.items()},
        details={"model_version": model_version},
        note=", ".join(f"{name} back at version {version}" for name, version in targets.items()) or "tables unchanged",
    )


def _version_before_last_publish(spark: SparkSession, uri: str, name: str, ctx: RunContext) -> int:
    history = DeltaTable.forPath(spark, uri).history().select("version", "userMetadata").collect()
    return version_before_last_publish([(r[0], r[1]) for r in history], name, ctx.run_date)


def _served_before_last_publish(spark: SparkSession, root: str, ctx: RunContext) -> dict[str, Served] | None:
    """What readers were served before the run date's last publish; None: served_versions has no publish of it.

    {} when that publish was the first to write served_versions (nothing named before it).
    """
    uri = table_uri(root, SERVED_VERSIONS)
    if not delta_exists(spark, uri):
        return None
    try:
        version = _version_before_last_publish(spark, uri, SERVED_VERSIONS, ctx)
    except MissingTableError:
        return None
    except FirstPublish:
        return {}
    return served_versions(spark, root, version)


STAGE = Stage("rollback", run, on_finish=record_run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake rollback", __doc__.splitlines()[0], [STAGE], argv)
