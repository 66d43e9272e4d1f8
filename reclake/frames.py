"""DataFrame helpers shared by transforms of different concerns."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pyspark.sql import Column, DataFrame, Row, Window
from pyspark.sql import functions as F

_PART = "_part"
Key = TypeVar("Key", bound=Hashable)


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


@dataclass(frozen=True)
class Measure:
    """A figure computed by a one-row aggregation: the query, and the formula that turns its row into the figure.

    Measures of the same frames are computed together (:func:`measure_together`), in one
    Spark query instead of one each: on small data each query costs more than its work.
    """

    query: DataFrame
    formula: Callable[[Row], Any]

    def value(self) -> Any:
        """The figure on its own (one query)."""
        return self.formula(one_row(self.query))


def measure_together(measures: Mapping[Key, Measure]) -> dict[Key, Any]:
    """Every measure's figure from one Spark query: the one-row aggregations side by side (a cross join)."""
    parts = [
        m.query.toDF(*[f"_m{n}_{i}" for i in range(len(m.query.columns))]) for n, m in enumerate(measures.values())
    ]
    if not parts:
        return {}
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.crossJoin(part)
    row = one_row(joined)
    figures: dict[Key, Any] = {}
    start = 0
    for key, measure in measures.items():
        names = measure.query.columns
        figures[key] = measure.formula(Row(**dict(zip(names, row[start : start + len(names)], strict=True))))
        start += len(names)
    return figures
