"""The item catalogue split by its row suite: every row flagged valid or not, with the rules it broke.

Pure transforms between reading the catalogue and writing ``catalogue`` and
``catalogue_quarantine``. The catalogue is a snapshot (every item once), so
rows are keyed by ``item_id`` (``catalogue.id_column`` as text, trimmed like the
events' ids); a later row with an id already seen is a copy. The row as read is
kept as ``_raw:<column>`` fields for the quarantine table, like the events'.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from reclake.constants import ITEM_ID
from reclake.io.raw import CORRUPT_RECORD, RAW_PREFIX
from reclake.quality.batch import REASONS, ROW_ORDER, VALID, no_reasons
from reclake.quality.rules import any_rule_broken, row_rules, unique_keys


def catalogue_totals() -> list[Column]:
    """Rows and valid rows of the catalogue, for the batch rules and the report."""
    return [F.count(F.lit(1)).alias("raw_rows"), F.sum(F.col(VALID).cast("long")).alias("valid_rows")]


def flag_catalogue(raw: DataFrame, id_column: str, checks: Sequence[Mapping[str, Any]]) -> DataFrame:
    """(item_id, _raw:<column>..., _corrupt_record, _valid, reasons): each catalogue row against the row suite.

    Uniqueness expectations (``item_id``) keep the first row of a key in input
    order valid and flag every later one; rows without a key are left to the
    missing-id rule.
    """
    corrupt = F.col(CORRUPT_RECORD) if CORRUPT_RECORD in raw.columns else F.lit(None).cast("string")
    rows = raw.select(
        F.trim(F.col(f"`{id_column}`").cast("string")).alias(ITEM_ID),
        *[F.col(f"`{c}`").alias(RAW_PREFIX + c) for c in raw.columns if c != CORRUPT_RECORD],
        corrupt.alias(CORRUPT_RECORD),
        F.monotonically_increasing_id().alias(ROW_ORDER),
    )
    per_rule = [
        F.when(broken, F.array(F.lit(name))).otherwise(no_reasons()) for name, broken in row_rules(checks).items()
    ]
    broken_any = any_rule_broken(checks)
    for name, columns in unique_keys(checks).items():
        keys = [F.col(f"`{c}`") for c in columns]
        copy_number = F.row_number().over(Window.partitionBy(*keys).orderBy(ROW_ORDER))
        has_key = functools.reduce(operator.and_, [k.isNotNull() for k in keys])
        is_copy = F.coalesce(has_key & (copy_number > 1), F.lit(False))
        per_rule.append(F.when(is_copy, F.array(F.lit(name))).otherwise(no_reasons()))
        broken_any = broken_any | is_copy
    reasons = F.flatten(F.array(*per_rule)) if per_rule else no_reasons()
    return rows.select("*", (~broken_any).alias(VALID), F.when(broken_any, reasons).alias(REASONS))


def valid_catalogue(flagged: DataFrame, columns: Sequence[str]) -> DataFrame:
    """(item_id, the named source columns as read): the rows every rule let through."""
    kept = [F.col(f"`{RAW_PREFIX}{c}`").alias(c) for c in columns if c != ITEM_ID]
    return flagged.where(F.col(VALID)).select(ITEM_ID, *kept)
