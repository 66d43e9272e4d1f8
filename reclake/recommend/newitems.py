"""Factors for new items: catalogue items the model has no factors for, mapped from their content.

A ridge map from content features to the ALS item factors, a penalty per
feature group chosen by cross-validation, is fit on the catalogue items the
model has (reclake/features/content.py) and gives every other
catalogue item factors, so the same top-N kernel scores them. Catalogue items
that never had an interaction have no ``item_idx``: they are numbered on from the
largest index in ``item_ids`` for this run only (``item_ids`` itself is not
touched: an index there means the item was interacted with).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reclake.config import RecommendSection
from reclake.constants import ITEM_ID, ITEM_IDX, SOURCE
from reclake.errors import InputError
from reclake.features.content import CONTENT, fit_content_map, mapped_factors
from reclake.features.interactions import new_id_mappings

NEW_ITEM = "_new_item"


class NewItems(NamedTuple):
    ids: DataFrame  # (item_id, item_idx) of every new item
    factors: DataFrame  # (item_idx, features) mapped from content
    content_map: dict[str, Any]  # what the map chose per feature group, and its held-out score


def new_item_factors(
    content: DataFrame, items: DataFrame, item_factors: DataFrame, settings: RecommendSection
) -> NewItems:
    """The catalogue items without factors in ``item_factors``, with factors mapped from their ``content``.

    ``content`` is (item_id, content) from the ``catalogue`` table, ``items`` the
    (item_id, item_idx) mapping, ``item_factors`` (item_idx, features) the model's;
    ``settings`` give the content map's candidate penalties and folds.
    """
    indexed = content.join(items, ITEM_ID)
    known = indexed.join(item_factors.select(ITEM_IDX), ITEM_IDX, "left_semi").select(ITEM_IDX, CONTENT)
    if known.isEmpty():
        raise InputError(
            "no catalogue item has factors in the model: do catalogue.id_column's values match the events' item ids?"
        )
    content_map = fit_content_map(known, item_factors, settings.content_reg_params, settings.content_folds)
    without_factors = indexed.join(item_factors.select(ITEM_IDX), ITEM_IDX, "left_anti").select(ITEM_ID, ITEM_IDX)
    never_seen = new_id_mappings(content.select(ITEM_ID), items, ITEM_ID, ITEM_IDX)
    ids = without_factors.unionByName(never_seen)
    factors = mapped_factors(ids.join(content, ITEM_ID).select(ITEM_IDX, CONTENT), content_map.weights)
    return NewItems(ids, factors, content_map.chosen)


def label_new_items(top: DataFrame, new_ids: DataFrame, source: str, new_source: str) -> DataFrame:
    """``top`` with a ``source`` column: ``new_source`` on rows recommending a new item, ``source`` on the rest."""
    flags = F.broadcast(new_ids.select(ITEM_IDX, F.lit(True).alias(NEW_ITEM)))
    labelled = top.join(flags, ITEM_IDX, "left")
    label = F.when(F.col(NEW_ITEM), F.lit(new_source)).otherwise(F.lit(source))
    return labelled.withColumn(SOURCE, label).drop(NEW_ITEM)
