"""Turn validated events into ALS input: one strength per user-item pair, on stable integer ids.

Strength = sum over the pair's events of the event type's weight (times the
event's value for types with ``use_value``, e.g. a rating), optionally
log-scaled. ALS needs dense integer ids; they are kept in the ``user_ids`` and
``item_ids`` tables and only ever appended to, so an id keeps its index across
runs and models stay comparable.

    spark-submit jobs/prepare.py --config conf/local.yaml
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from reclake.config import Config
from reclake.constants import ITEM_ID, ITEM_IDX, USER_ID, USER_IDX
from reclake.frames import one_row
from reclake.interactions import new_id_mappings, pair_strengths, to_interactions
from reclake.io.lakehouse import delta_exists, read_delta, write_delta
from reclake.io.tables import EVENTS, INTERACTIONS, ITEM_IDS, USER_IDS, table_uri
from reclake.runtime import RunContext, Stage, StageResult, run_job


def update_id_table(
    spark: SparkSession, events: DataFrame, uri: str, id_col: str, idx_col: str
) -> tuple[DataFrame, int]:
    """Append the ids new in ``events`` to the mapping table at ``uri``; return the whole mapping."""
    existing = read_delta(spark, uri, produced_by="prepare") if delta_exists(spark, uri) else None
    # Materialised before the append: recomputed afterwards, the anti-join would find nothing new.
    added = new_id_mappings(events, existing, id_col, idx_col).localCheckpoint(eager=True)
    new_count = added.count()
    if existing is None or new_count:
        write_delta(added, uri, mode="append")
    return read_delta(spark, uri, produced_by="prepare"), new_count


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root = config.lakehouse.root
    events = read_delta(spark, table_uri(root, EVENTS), produced_by="validate")
    users, new_users = update_id_table(spark, events, table_uri(root, USER_IDS), USER_ID, USER_IDX)
    items, new_items = update_id_table(spark, events, table_uri(root, ITEM_IDS), ITEM_ID, ITEM_IDX)
    interactions = to_interactions(pair_strengths(events, config.events.types, config.prepare), users, items)
    uri = table_uri(root, INTERACTIONS)
    write_delta(interactions, uri, metadata={"run_id": ctx.run_id, "stage": "prepare"})
    stats = one_row(
        read_delta(spark, uri, produced_by="prepare").agg(
            F.count(F.lit(1)).alias("pairs"),
            F.countDistinct(USER_IDX).alias("users"),
            F.countDistinct(ITEM_IDX).alias("items"),
        )
    )
    return StageResult(
        counts={**stats.asDict(), "new_users": new_users, "new_items": new_items},
        tables={"interactions": uri, "user_ids": table_uri(root, USER_IDS), "item_ids": table_uri(root, ITEM_IDS)},
    )


STAGE = Stage("prepare", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake prepare", __doc__.splitlines()[0], [STAGE], argv)
