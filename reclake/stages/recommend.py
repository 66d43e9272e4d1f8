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
items it has, a penalty per feature group chosen by cross-validation,
reclake/recommend/newitems.py; ``--json`` shows the choice as ``content_map``): they may enter the lists
(``recommend.include_new_items``, ``source = "content"``), have similar items, and
each user's best new items go to ``staging/new_item_recommendations``
(``recommend.new_items_top_n``).

    spark-submit jobs/recommend.py --config conf/local.yaml --set recommend.top_n=20
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from reclake.config import AlsSection, Config
from reclake.constants import ITEM_ID, ITEM_IDX, USER_ID, USER_IDX
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import MissingTableError
from reclake.faults import fault_point
from reclake.features.content import CONTENT
from reclake.frames import one_row
from reclake.io import catalogue
from reclake.io.lakehouse import delta_exists, load_delta
from reclake.io.tables import (
    CATALOGUE,
    EVENTS,
    INTERACTIONS,
    ITEM_IDS,
    STAGED_ITEM_FACTORS,
    STAGED_NEW_ITEM_RECOMMENDATIONS,
    STAGED_RECOMMENDATIONS,
    STAGED_SIMILAR_ITEMS,
    STAGED_USER_HISTORIES,
    USER_IDS,
)
from reclake.model.registry import latest_approved_version, model_entry, model_uri
from reclake.recommend.foldin import FoldInSettings
from reclake.recommend.lists import (
    Inputs,
    listed_items,
    lists,
    named_items,
    pairs_since,
    recommendation_counts,
    window_start,
)
from reclake.recommend.newitems import NewItems, new_item_factors
from reclake.runner import run_job
from reclake.uris import join_uri

log = logging.getLogger(__name__)


@dataclass
class RecommendResult(StageResult):
    """The model the lists were scored with, and what the content map chose (with a catalogue)."""

    model_version: str = ""
    content_map: dict[str, Any] | None = None


def run(spark: SparkSession, config: Config, ctx: RunContext) -> RecommendResult:
    """Read the newest approved model, ``user_ids``, ``item_ids``, ``interactions``/``events`` (seen items) and
    ``catalogue`` (if configured); write ``staging/recommendations``, ``staging/new_item_recommendations``,
    ``staging/similar_items``, and ``staging/item_factors`` and ``staging/user_histories`` (real-time lists)."""
    root, settings = config.lakehouse.root, config.recommend
    version = latest_approved_version(spark, root)  # the newest model the quality gate let through
    inputs = _inputs(spark, config, ctx, version)
    found = lists(inputs, settings, version, ctx.run_date)
    note = ""
    if settings.top_n > found.eligible_items:
        note = (
            f"warning: recommend.top_n {settings.top_n} > the {found.eligible_items} eligible items: lists are shorter"
        )
        log.warning("%s; every user gets the eligible items they do not have", note)
    # The model version and run date too: a run with nothing to recommend stages no rows, and publish must know it ran.
    stamp = {"model_version": version}
    uri = catalogue.write(found.recommendations, root, STAGED_RECOMMENDATIONS, ctx, metadata=stamp)
    counts = one_row(catalogue.read(spark, root, STAGED_RECOMMENDATIONS).agg(*recommendation_counts())).asDict()
    tables = {"staged_recommendations": uri}
    fault_point("recommend", "after_staged")
    if found.new_items is not None:
        counts["new_items"] = found.new_items
    if found.new_item_shelf is not None:
        tables["staged_new_item_recommendations"] = catalogue.write(
            found.new_item_shelf, root, STAGED_NEW_ITEM_RECOMMENDATIONS, ctx, metadata=stamp
        )
        shelf = catalogue.read(spark, root, STAGED_NEW_ITEM_RECOMMENDATIONS)
        shelf_counts = one_row(shelf.agg(F.count(F.lit(1)).alias("rows"), F.countDistinct(USER_ID).alias("users")))
        counts |= {"new_item_rows": shelf_counts["rows"], "new_item_users": shelf_counts["users"]}
    if found.similar_items is not None:
        uri = catalogue.write(found.similar_items, root, STAGED_SIMILAR_ITEMS, ctx, metadata=stamp)
        counts["similar_items_rows"] = catalogue.read(spark, root, STAGED_SIMILAR_ITEMS).count()
        tables["staged_similar_items"] = uri
    for rows, table in ((found.item_factors, STAGED_ITEM_FACTORS), (found.user_histories, STAGED_USER_HISTORIES)):
        tables[f"staged_{table.name.removeprefix('staging/')}"] = catalogue.write(
            rows, root, table, ctx, metadata=stamp
        )
    content_map = inputs.new.content_map if inputs.new is not None else None
    return RecommendResult(counts=counts, tables=tables, note=note, model_version=version, content_map=content_map)


def _inputs(spark: SparkSession, config: Config, ctx: RunContext, version: str) -> Inputs:
    """Everything the lists are computed from, read through the catalogue (and the model's factors)."""
    root, settings = config.lakehouse.root, config.recommend
    model = ALSModel.load(model_uri(root, version))
    item_factors = model.itemFactors.withColumnRenamed("id", ITEM_IDX)
    users, items = catalogue.read(spark, root, USER_IDS), catalogue.read(spark, root, ITEM_IDS)
    new = None
    if config.catalogue is not None:
        content = catalogue.read(spark, root, CATALOGUE).select(ITEM_ID, CONTENT)
        ids, factors, content_map = new_item_factors(content, items, item_factors, settings)
        log.info("content map: %s", content_map)
        # Mapped once: the factors feed the lists, the shelf and similar items.
        new = NewItems(ids.localCheckpoint(eager=True), factors.localCheckpoint(eager=True), content_map)
    named = named_items(items, new)
    params = AlsSection.model_validate(model_entry(spark, root, version)["params"])

    def pairs(days: int | None) -> DataFrame:
        """(user_idx, item_idx) each user interacted with in the last ``days`` (None: the prepared pairs)."""
        start = window_start(ctx.run_date, days)
        if start is None:
            return catalogue.read(spark, root, INTERACTIONS).select(USER_IDX, ITEM_IDX)
        return pairs_since(catalogue.read(spark, root, EVENTS), start, users, items)

    return Inputs(
        user_factors=model.userFactors.withColumnRenamed("id", USER_IDX),
        item_factors=item_factors,
        users=users,
        items=items,
        new=new,
        allowed=_item_list(spark, root, "eligible_items", settings.eligible_items, named),
        denied=_item_list(spark, root, "excluded_items", settings.excluded_items, named),
        seen=pairs(settings.exclude_seen_window_days),
        recent=pairs(settings.fallback_window_days),
        interactions=catalogue.read(spark, root, INTERACTIONS),
        params=params,
        realtime=FoldInSettings(params, config.events.types, config.prepare, settings.top_n),
    )


def _item_list(spark: SparkSession, root: str, key: str, location: str | None, items: DataFrame) -> DataFrame | None:
    """An item_id list (a Delta table under the lakehouse root, by name) as item indices."""
    if location is None:
        return None
    uri = join_uri(root, location)
    if not delta_exists(spark, uri):
        raise MissingTableError(f"recommend.{key}: no Delta table at {uri} (expected one with an {ITEM_ID} column)")
    return listed_items(load_delta(spark, uri), items, key, uri)


STAGE = Stage("recommend", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake recommend", __doc__.splitlines()[0], [STAGE], argv)
