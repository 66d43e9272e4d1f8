"""Keep the published tables fast and small: compact small files, cluster by id where it pays, vacuum.

``publish`` already writes each run date as files of one contiguous user range,
so rewriting those would cost a full pass and gain nothing. A run-date partition
is re-clustered (``OPTIMIZE ... ZORDER BY (user_id)``, files capped near
``publish.target_file_rows`` rows) only when its files' user ranges overlap or it
has several small files, i.e. when a lookup would have to open more than one
file. Tables without a lookup key (runs, quarantine) get plain compaction of
small files. Then ``VACUUM`` deletes files no version younger than
``publish.vacuum_retention_hours`` needs (time travel further back stops working),
never those of the version readers serve (``served_versions``), however old.

    spark-submit jobs/maintain.py --config conf/local.yaml
    reclake maintain --lakehouse lakehouse --set publish.vacuum_retention_hours=336
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import SparkSession

from reclake.config import Config
from reclake.constants import ITEM_ID, USER_ID
from reclake.context import RunContext, Stage, StageResult
from reclake.io import catalogue
from reclake.io.maintenance import cluster, data_file_count, retention_keeping, vacuum
from reclake.io.served import served_versions
from reclake.io.tables import ITEM_FACTORS, QUARANTINE, RECOMMENDATIONS, RUNS, SIMILAR_ITEMS, USER_HISTORIES
from reclake.runner import run_job

# Published table -> the column lookups select by (None: no point lookups, compaction only).
TABLES = {
    RECOMMENDATIONS: USER_ID,
    SIMILAR_ITEMS: ITEM_ID,
    ITEM_FACTORS: ITEM_ID,
    USER_HISTORIES: USER_ID,
    RUNS: None,
    QUARANTINE: None,
}


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    """Read and rewrite ``recommendations``, ``similar_items``, ``item_factors``, ``user_histories``, ``runs`` and
    ``quarantine`` in place: compact or re-cluster their files, then vacuum the files no retained version needs."""
    root, settings = config.lakehouse.root, config.publish
    served = served_versions(spark, root)
    counts: dict[str, int] = {}
    tables: dict[str, str] = {}
    for table, key in TABLES.items():
        if not catalogue.exists(spark, root, table):
            continue
        name, uri = table.name, table.uri(root)
        counts[f"{name}.files_before"] = data_file_count(spark, uri)
        if key is None:
            if counts[f"{name}.files_before"] > 1:
                catalogue.delta_table(spark, root, table).optimize().executeCompaction()
        else:
            counts[f"{name}.partitions_clustered"] = cluster(
                spark, uri, key, settings.target_file_rows, settings.row_group_bytes
            )
        served_version = served[name].version if name in served else None
        vacuum(spark, uri, retention_keeping(spark, uri, served_version, settings.vacuum_retention_hours))
        counts[f"{name}.files_after"] = data_file_count(spark, uri)
        tables[name] = uri
    return StageResult(counts=counts, tables=tables)


STAGE = Stage("maintain", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake maintain", __doc__.splitlines()[0], [STAGE], argv)
