"""Turn validated events into ALS input: one strength per user-item pair, on stable integer ids.

Strength = sum over the pair's events of the event type's weight (times the
event's value for types with ``use_value``, e.g. a rating), optionally decayed by
age and log-scaled. Each ingest date of ``events`` is summed once per pair into
``daily_pairs`` (again only when that date's rows of ``events`` change: a re-run
or backfill), and ``interactions`` is the sum of the daily rows over
``prepare.history_days``, so a day's run reads its own events, not the whole
history of raw events. ALS needs dense integer ids; they are kept in the
``user_ids`` and ``item_ids`` tables and only ever appended to, so an id keeps its
index across runs and models stay comparable.

    spark-submit jobs/prepare.py --config conf/local.yaml
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from reclake.config import Config
from reclake.constants import INGEST_DATE, ITEM_IDX, USER_IDX
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import MissingTableError
from reclake.faults import fault_point
from reclake.features.daily import refresh_daily_pairs
from reclake.features.ids import update_id_table
from reclake.features.interactions import history_strengths, to_interactions
from reclake.frames import one_row
from reclake.io import catalogue
from reclake.io.tables import DAILY_PAIRS, EVENTS, INTERACTIONS, ITEM_IDS, USER_IDS
from reclake.runner import run_job


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    """Read ``events``; write ``daily_pairs`` (changed dates only), ``user_ids``/``item_ids`` (new ids) and ``interactions``."""
    root = config.lakehouse.root
    catalogue.read(spark, root, EVENTS)  # a missing table: say which job to run
    if catalogue.partitioning(spark, root, EVENTS) != [INGEST_DATE]:
        raise MissingTableError(
            f"{EVENTS.uri(root)} has no {INGEST_DATE} (an older version wrote it): run `reclake validate`"
        )
    summed = refresh_daily_pairs(spark, root, config.events.types, ctx)
    daily = catalogue.read(spark, root, DAILY_PAIRS)
    # Ids can only be new on the dates just summed (every date is summed once when it arrives).
    new_days = daily.where(F.col(INGEST_DATE).isin(summed))
    users, new_users = update_id_table(spark, new_days, root, USER_IDS, ctx)
    items, new_items = update_id_table(spark, new_days, root, ITEM_IDS, ctx)
    fault_point("prepare", "after_ids")
    interactions = to_interactions(history_strengths(daily, config.prepare, ctx.run_date), users, items)
    catalogue.write(interactions, root, INTERACTIONS, ctx)
    stats = one_row(
        catalogue.read(spark, root, INTERACTIONS).agg(
            F.count(F.lit(1)).alias("pairs"),
            F.countDistinct(USER_IDX).alias("users"),
            F.countDistinct(ITEM_IDX).alias("items"),
        )
    )
    return StageResult(
        counts={**stats.asDict(), "new_users": new_users, "new_items": new_items, "days_summed": len(summed)},
        tables={t.name: t.uri(root) for t in (INTERACTIONS, DAILY_PAIRS, USER_IDS, ITEM_IDS)},
    )


STAGE = Stage("prepare", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake prepare", __doc__.splitlines()[0], [STAGE], argv)
