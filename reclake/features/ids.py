"""The id-mapping tables (``user_ids``, ``item_ids``): append-only, so an id keeps its index across runs."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from reclake.context import RunContext
from reclake.features.interactions import new_id_mappings
from reclake.io import catalogue
from reclake.io.tables import Table


def update_id_table(
    spark: SparkSession, ids: DataFrame, root: str, table: Table, ctx: RunContext
) -> tuple[DataFrame, int]:
    """Append the ids in ``ids`` that ``table`` lacks; return the whole mapping and how many were new.

    ``table`` is ``user_ids`` or ``item_ids``: its columns are (id, index).
    """
    id_col, idx_col = table.column_names
    existing = catalogue.read_if_exists(spark, root, table)
    # Materialised before the append: recomputed afterwards, the anti-join would find nothing new.
    added = new_id_mappings(ids, existing, id_col, idx_col).localCheckpoint(eager=True)
    new_count = added.count()
    if existing is None or new_count:
        catalogue.write(added, root, table, ctx, mode="append")
    return catalogue.read(spark, root, table), new_count
