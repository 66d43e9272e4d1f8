"""DataFrame helpers shared by transforms of different concerns."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Row, Window
from pyspark.sql import functions as F

_PART = "_part"


def with_positions(df: DataFrame, order: list[Column], name: str) -> DataFrame:
    """``df`` plus ``name``: each row's 0-based position in ``order`` (a total order), as a long.

    ``row_number()`` over an unpartitioned window moves every row into one
    partition (Spark warns "No Partition Defined for Window operation"). Here the
    rows are range-partitioned by ``order`` instead, so partition ``p`` holds
    only rows after those of partitions ``< p``; each row's position is the rows
    of earlier partitions plus its row number inside its own partition. The
    sorted rows are checkpointed first, so counting and numbering see the same
    partitions.
    """
    ranged = df.orderBy(*order).withColumn(_PART, F.spark_partition_id()).localCheckpoint(eager=True)
    # One small row per partition, so collecting them is cheap.
    sizes: dict[int, int] = dict(ranged.groupBy(_PART).count().collect())
    offsets, total = [], 0
    for part in sorted(sizes):
        offsets += [F.lit(part), F.lit(total)]
        total += sizes[part]
    offset = F.create_map(*offsets)[F.col(_PART)] if offsets else F.lit(0)
    within = F.row_number().over(Window.partitionBy(_PART).orderBy(*order)) - 1
    return ranged.withColumn(name, (offset + within).cast("long")).drop(_PART)


def vector_length(array: Column) -> Column:
    """The Euclidean length of an array column: what scales vectors to unit length for cosine similarity."""
    return F.sqrt(F.aggregate(array, F.lit(0.0), lambda acc, x: acc + x * x))


def one_row(df: DataFrame) -> Row:
    """The row of a query that always returns one (an ungrouped aggregation, a table's detail).

    ``first()`` types its row as optional; here a missing row is a bug, so it raises.
    """
    row = df.first()
    if row is None:
        raise ValueError("expected one row, got none")
    return row
