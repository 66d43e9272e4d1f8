"""From validated events to ALS input: one strength per user-item pair, on dense integer ids.

Strength = sum over the pair's events of the event type's weight (times the
event's value for types with ``use_value``, e.g. a rating), summed per ingest
date first, then over the history window (optionally decayed by age, then
log-scaled). ALS needs dense integer ids: new ids are numbered on from the
largest index already given, in id order, so an id keeps its index across runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from itertools import chain

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reclake.config import EventType, PrepareSection
from reclake.constants import (
    EVENT_TIME,
    EVENT_TYPE,
    INGEST_DATE,
    ITEM_ID,
    ITEM_IDX,
    LAST_EVENT_TIME,
    STRENGTH,
    USER_ID,
    USER_IDX,
    VALUE,
)
from reclake.frames import one_row, with_positions


def daily_pair_sums(events: DataFrame, event_types: Mapping[str, EventType]) -> DataFrame:
    """(ingest_date, user_id, item_id, strength, last_event_time): each day's sum of event weights per pair.

    An event adds its type's weight (times its value for types with ``use_value``).
    Summed per ingest date so a day is aggregated once, when it arrives, and the
    history is a sum of these daily rows (:func:`history_strengths`).
    """
    weight = F.create_map(*chain.from_iterable((F.lit(n), F.lit(t.weight)) for n, t in event_types.items()))[
        F.col(EVENT_TYPE)
    ]
    uses_value = [name for name, spec in event_types.items() if spec.use_value]
    contribution = F.when(F.col(EVENT_TYPE).isin(uses_value), weight * F.col(VALUE)).otherwise(weight)
    return events.groupBy(INGEST_DATE, USER_ID, ITEM_ID).agg(
        F.sum(contribution).alias(STRENGTH), F.max(EVENT_TIME).alias(LAST_EVENT_TIME)
    )


def history_strengths(daily: DataFrame, settings: PrepareSection, run_date: dt.date) -> DataFrame:
    """(user_id, item_id, strength, last_event_time) over the history a run for ``run_date`` sees.

    The history is the days ingested up to ``run_date``, the last
    ``prepare.history_days`` of them when set (a backfilled date sees no later day).
    With ``prepare.half_life_days`` a day's sums count 0.5 ** (age in days /
    half-life), its age counted from its ingest date to ``run_date``. Optionally
    log-scaled after summing.
    """
    in_history = F.col(INGEST_DATE) <= F.lit(run_date)
    if settings.history_days is not None:
        in_history &= F.col(INGEST_DATE) > F.lit(run_date - dt.timedelta(days=settings.history_days))
    strength = F.col(STRENGTH)
    if settings.half_life_days is not None:
        age = F.datediff(F.lit(run_date), F.col(INGEST_DATE))
        strength = strength * F.pow(F.lit(0.5), age / F.lit(settings.half_life_days))
    pairs = (
        daily.where(in_history)
        .groupBy(USER_ID, ITEM_ID)
        .agg(F.sum(strength).alias(STRENGTH), F.max(LAST_EVENT_TIME).alias(LAST_EVENT_TIME))
    )
    if settings.log_scaling:  # reclake/features/strengths.py scales (and unscales) recent events the same way
        pairs = pairs.withColumn(STRENGTH, F.log1p(F.col(STRENGTH) / settings.log_epsilon))
    return pairs


def new_id_mappings(ids: DataFrame, existing: DataFrame | None, id_col: str, idx_col: str) -> DataFrame:
    """Indices for the ids in ``ids`` that ``existing`` lacks, numbered on from its largest index.

    New ids are numbered in id order, so the same new ids get the same indices
    whatever order the events arrive in.
    """
    distinct = ids.select(id_col).distinct()
    offset = 0
    if existing is not None:
        distinct = distinct.join(existing.select(id_col), on=id_col, how="left_anti")
        offset = (one_row(existing.agg(F.max(idx_col)))[0] or -1) + 1
    numbered = with_positions(distinct, [F.col(id_col)], "_position")
    return numbered.select(id_col, (F.col("_position") + F.lit(offset)).cast("int").alias(idx_col))


def to_interactions(pairs: DataFrame, users: DataFrame, items: DataFrame) -> DataFrame:
    """Replace string ids by their integer indices: (user_idx, item_idx, strength, last_event_time)."""
    return pairs.join(users, USER_ID).join(items, ITEM_ID).select(USER_IDX, ITEM_IDX, STRENGTH, LAST_EVENT_TIME)
