"""Undo a bad publish: restore the published tables to their version before a run date's last publish.

Delta's ``RESTORE`` makes one new commit whose files are those of the earlier
version, so readers move from the bad run to the previous one atomically, and
the bad version stays in the history (time travel still reaches it until
``maintain`` vacuums it). Only the newest publish can be rolled back this way:
when another date was published after it, the rollback is refused and names
that publish. The model registry's ``PUBLISHED`` pointer follows the restored
rows, and the ``runs`` table records the rollback like any other job.

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
from reclake.errors import MissingTableError
from reclake.io.lakehouse import USER_METADATA, delta_exists, session_conf
from reclake.io.layout import version_before_last_publish
from reclake.io.runs import record_run
from reclake.io.tables import NEW_ITEM_RECOMMENDATIONS, RECOMMENDATIONS, SIMILAR_ITEMS, table_uri
from reclake.model import registry
from reclake.runtime import RunContext, Stage, StageResult, run_job


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root = config.lakehouse.root
    uris = {name: table_uri(root, name) for name in (RECOMMENDATIONS, SIMILAR_ITEMS, NEW_ITEM_RECOMMENDATIONS)}
    present = {name: uri for name, uri in uris.items() if delta_exists(spark, uri)}
    if RECOMMENDATIONS not in present:
        raise MissingTableError(f"no Delta table at {uris[RECOMMENDATIONS]}: nothing was published to roll back")
    # Every target first: a refusal for one table must leave both as they are.
    targets = {}
    for name, uri in present.items():
        history = DeltaTable.forPath(spark, uri).history().select("version", "userMetadata").collect()
        targets[name] = version_before_last_publish([(r[0], r[1]) for r in history], name, ctx.run_date)
    metadata = json.dumps({"run_id": ctx.run_id, "rolled_back_run_date": ctx.run_date.isoformat()}, sort_keys=True)
    counts = {}
    with session_conf(spark, {USER_METADATA: metadata}):
        for name, version in targets.items():
            DeltaTable.forPath(spark, present[name]).restoreToVersion(version)
            counts[f"{name}.restored_to_version"] = version
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
        note=f"recommendations back at version {targets[RECOMMENDATIONS]}",
    )


STAGE = Stage("rollback", run, on_finish=record_run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake rollback", __doc__.splitlines()[0], [STAGE], argv)
