"""Top-N recommendations for every user, already-seen and ineligible items excluded inside the computation.

Exact top-N from the ALS factors, without ``users x items`` ever existing at
once: each Python worker scores a block of users against the item catalogue with
one float32 BLAS product, masks the items each user has already interacted with,
and selects the top N with a two-level selection (maxima of 16 column slabs, then
the N best of the few candidate slabs), so selection costs a fraction of the
product. Ties are broken by item index, so the output is deterministic.

Item factors are broadcast while they fit under ``recommend.broadcast_limit_mb``;
above it the catalogue is cut into item blocks, every (user bucket, item block)
pair is scored in its own task and the per-block top N are merged exactly.
Users the model has no factors for (new since training) but with usable
interactions get factors folded in against the model's item factors, one ALS user
step each (``source = "foldin"``; ``recommend.fold_in``); the rest get the most
popular eligible items they do not have (``source = "popular"``). Also writes item-to-item neighbours (cosine on
item factors) to ``staging/similar_items``.

With a catalogue (the ``catalogue`` table validate writes), catalogue items the
model has no factors for get factors from their content (a ridge map fit on the
items it has, reclake/recommend/newitems.py): they may enter the lists
(``recommend.include_new_items``, ``source = "content"``), have similar items, and
each user's best new items go to ``staging/new_item_recommendations``
(``recommend.new_items_top_n``).

    spark-submit jobs/recommend.py --config conf/local.yaml --set recommend.top_n=20
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Sequence

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from reclake.config import AlsSection, Config, RecommendSection
from reclake.constants import (
    ITEM_ID,
    ITEM_IDX,
    MODEL_VERSION,
    RANK,
    RUN_DATE,
    SCORE,
    SIMILAR_ITEM_ID,
    SOURCE,
    SOURCE_ALS,
    SOURCE_CONTENT,
    SOURCE_FOLDIN,
    SOURCE_POPULAR,
    SOURCES,
    USER_ID,
    USER_IDX,
)
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import InputError, MissingTableError
from reclake.faults import fault_point
from reclake.features.content import CONTENT
from reclake.frames import one_row
from reclake.io.lakehouse import delta_exists, read_delta, write_delta
from reclake.io.tables import (
    CATALOGUE,
    EVENTS,
    INTERACTIONS,
    ITEM_IDS,
    STAGED_NEW_ITEM_RECOMMENDATIONS,
    STAGED_RECOMMENDATIONS,
    STAGED_SIMILAR_ITEMS,
    USER_IDS,
    table_uri,
)
from reclake.model.registry import latest_approved_version, model_entry, model_uri
from reclake.recommend.fallback import (
    eligible,
    folded_in_factors,
    popularity_factors,
    since,
    users_without_factors,
    with_original_ids,
)
from reclake.recommend.newitems import NewItems, label_new_items, new_item_factors
from reclake.recommend.topn import SIMILAR_IDX, ScoringOptions, similar_items, top_n_for_users
from reclake.runner import run_job

log = logging.getLogger(__name__)


def _item_list(spark: SparkSession, root: str, key: str, location: str | None, items: DataFrame) -> DataFrame | None:
    """An item_id list (a Delta table under the lakehouse root, by name) as item indices."""
    if location is None:
        return None
    uri = table_uri(root, location)
    if not delta_exists(spark, uri):
        raise MissingTableError(f"recommend.{key}: no Delta table at {uri} (expected one with an {ITEM_ID} column)")
    listed = spark.read.format("delta").load(uri)
    if ITEM_ID not in listed.columns:
        raise InputError(f"recommend.{key}: {uri} has no {ITEM_ID} column (it has: {', '.join(listed.columns)})")
    return items.join(listed.select(F.col(ITEM_ID).cast("string").alias(ITEM_ID)), ITEM_ID, "left_semi")


def _window_start(run_date: dt.date, days: int | None) -> dt.datetime | None:
    if days is None:
        return None
    return dt.datetime.combine(run_date - dt.timedelta(days=days), dt.time(), tzinfo=dt.timezone.utc)


def _indexed_pairs(
    spark: SparkSession, root: str, start: dt.datetime | None, users: DataFrame, items: DataFrame
) -> DataFrame:
    """(user_idx, item_idx) each user interacted with since ``start``: the prepared pairs for all history."""
    if start is None:
        return read_delta(spark, table_uri(root, INTERACTIONS), produced_by="prepare").select(USER_IDX, ITEM_IDX)
    events = since(read_delta(spark, table_uri(root, EVENTS), produced_by="validate"), start)
    return events.join(users, USER_ID).join(F.broadcast(items), ITEM_ID).select(USER_IDX, ITEM_IDX).distinct()


def _options(settings: RecommendSection) -> ScoringOptions:
    return {
        "user_batch_size": settings.user_batch_size,
        "broadcast_limit_mb": settings.broadcast_limit_mb,
        "item_block_size": settings.item_block_size,
    }


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root, settings = config.lakehouse.root, config.recommend
    version = latest_approved_version(spark, root)  # the newest model the quality gate let through
    model = ALSModel.load(model_uri(root, version))
    user_factors = model.userFactors.withColumnRenamed("id", USER_IDX)
    item_factors = model.itemFactors.withColumnRenamed("id", ITEM_IDX)
    users = read_delta(spark, table_uri(root, USER_IDS), produced_by="prepare")
    items = read_delta(spark, table_uri(root, ITEM_IDS), produced_by="prepare")
    new = None
    if config.catalogue is not None:
        content = read_delta(spark, table_uri(root, CATALOGUE), produced_by="validate").select(ITEM_ID, CONTENT)
        ids, factors = new_item_factors(content, items, item_factors, settings.content_reg_param)
        # Mapped once: the factors feed the lists, the shelf and similar items.
        new = NewItems(ids.localCheckpoint(eager=True), factors.localCheckpoint(eager=True))
    # Every item an id can name this run: the interacted ones and the catalogue's new ones.
    named_items = items if new is None else items.unionByName(new.ids.join(items, ITEM_ID, "left_anti"))
    allowed = _item_list(spark, root, "eligible_items", settings.eligible_items, named_items)
    denied = _item_list(spark, root, "excluded_items", settings.excluded_items, named_items)
    seen = _indexed_pairs(spark, root, _window_start(ctx.run_date, settings.exclude_seen_window_days), users, items)
    recent = _indexed_pairs(spark, root, _window_start(ctx.run_date, settings.fallback_window_days), users, items)
    options = _options(settings)

    catalogue = eligible(items, allowed, denied).count()
    note = ""
    if settings.top_n > catalogue:
        note = f"warning: recommend.top_n {settings.top_n} > the {catalogue} eligible items: lists are shorter"
        log.warning("%s; every user gets the eligible items they do not have", note)
    all_factors = item_factors if new is None else item_factors.unionByName(new.factors)
    candidates = eligible(all_factors if settings.include_new_items else item_factors, allowed, denied)

    def labelled(top: DataFrame, source: str) -> DataFrame:
        return (
            top.withColumn(SOURCE, F.lit(source))
            if new is None
            else label_new_items(top, new.ids, source, SOURCE_CONTENT)
        )

    scored_users = user_factors
    als_top = top_n_for_users(user_factors, candidates, seen, settings.top_n, **options)
    newcomers = users_without_factors(users, user_factors)
    lists = [labelled(als_top, SOURCE_ALS)]
    if settings.fold_in:
        interactions = read_delta(spark, table_uri(root, INTERACTIONS), produced_by="prepare")
        params = AlsSection.model_validate(model_entry(spark, root, version)["params"])
        # Solved once: the folded-in users are both scored and taken out of the fallback.
        folded = folded_in_factors(newcomers, interactions, item_factors, params).localCheckpoint(eager=True)
        foldin_top = top_n_for_users(folded, candidates, seen, settings.top_n, **options)
        lists.append(labelled(foldin_top, SOURCE_FOLDIN))
        newcomers = newcomers.join(folded.select(USER_IDX), USER_IDX, "left_anti")
        scored_users = user_factors.unionByName(folded)
    popular_top = top_n_for_users(
        newcomers, popularity_factors(eligible(items, allowed, denied), recent), seen, settings.top_n, **options
    )
    lists.append(popular_top.withColumn(SOURCE, F.lit(SOURCE_POPULAR)))
    top = functools.reduce(DataFrame.unionByName, lists)

    def published_rows(top: DataFrame) -> DataFrame:
        return with_original_ids(top, users, named_items).select(
            USER_ID,
            RANK,
            ITEM_ID,
            F.col(SCORE).cast("double").alias(SCORE),
            SOURCE,
            F.lit(version).alias(MODEL_VERSION),
            F.lit(ctx.run_date).alias(RUN_DATE),
        )

    # The run date too: a run with nothing left to recommend stages no rows, and publish must still know it ran.
    metadata = {
        "run_id": ctx.run_id,
        "run_date": ctx.run_date.isoformat(),
        "model_version": version,
        "stage": "recommend",
    }
    uri = table_uri(root, STAGED_RECOMMENDATIONS)
    write_delta(published_rows(top), uri, metadata=metadata)
    stats = one_row(
        read_delta(spark, uri, produced_by="recommend").agg(
            F.count(F.lit(1)).alias("rows"),
            F.countDistinct(USER_ID).alias("users"),
            F.countDistinct(F.when(F.col(SOURCE) == SOURCE_POPULAR, F.col(USER_ID))).alias("fallback_users"),
            *(F.count(F.when(F.col(SOURCE) == source, 1)).alias(f"rows.{source}") for source in SOURCES),
            F.countDistinct(F.when(F.col(SOURCE) == SOURCE_FOLDIN, F.col(USER_ID))).alias("foldin_users"),
        )
    )
    counts, tables = stats.asDict(), {"staged_recommendations": uri}
    fault_point("recommend", "after_staged")
    if new is not None:
        counts["new_items"] = new.ids.count()
        if settings.new_items_top_n:
            shelf = top_n_for_users(
                scored_users, eligible(new.factors, allowed, denied), seen, settings.new_items_top_n, **options
            )
            shelf_uri = table_uri(root, STAGED_NEW_ITEM_RECOMMENDATIONS)
            write_delta(published_rows(shelf.withColumn(SOURCE, F.lit(SOURCE_CONTENT))), shelf_uri, metadata=metadata)
            shelf_stats = one_row(
                read_delta(spark, shelf_uri, produced_by="recommend").agg(
                    F.count(F.lit(1)).alias("rows"), F.countDistinct(USER_ID).alias("users")
                )
            )
            counts |= {"new_item_rows": shelf_stats["rows"], "new_item_users": shelf_stats["users"]}
            tables["staged_new_item_recommendations"] = shelf_uri
    if settings.similar_items_top_n:
        similar = similar_items(all_factors, candidates, settings.similar_items_top_n, **options)
        neighbours = named_items.select(F.col(ITEM_IDX).alias(SIMILAR_IDX), F.col(ITEM_ID).alias(SIMILAR_ITEM_ID))
        similar_out = (
            similar.join(named_items, ITEM_IDX)
            .join(F.broadcast(neighbours), SIMILAR_IDX)
            .select(
                ITEM_ID,
                RANK,
                SIMILAR_ITEM_ID,
                F.col(SCORE).cast("double").alias(SCORE),
                F.lit(version).alias(MODEL_VERSION),
                F.lit(ctx.run_date).alias(RUN_DATE),
            )
        )
        similar_uri = table_uri(root, STAGED_SIMILAR_ITEMS)
        write_delta(similar_out, similar_uri, metadata=metadata)
        counts["similar_items_rows"] = read_delta(spark, similar_uri, produced_by="recommend").count()
        tables["staged_similar_items"] = similar_uri
    return StageResult(counts=counts, tables=tables, details={"model_version": version}, note=note)


STAGE = Stage("recommend", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake recommend", __doc__.splitlines()[0], [STAGE], argv)
