"""Row suites as Spark column expressions: every row rule evaluated in one pass, no GX run per row.

Row expectations are translated by :func:`row_rules` into Spark column
expressions, one per rule (a full GX run of eight row expectations costs about
three times a plain read-and-write; see bench/); :func:`any_rule_broken` is the
cheaper OR of them all that decides validity; uniqueness expectations go to
:func:`repeated_key_rows` (a 64-bit key hash per row) and :func:`later_copies`
(only the rows with a repeated hash sorted). tests/integration/test_validate.py runs the row
suite through GX too and checks both find the same rows, so the suite file stays
the one source of truth.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from reclake.errors import ConfigError

UNIQUE = "expect_compound_columns_to_be_unique"
MATCH_REGEX = "expect_column_values_to_match_regex"
# ^[...]*\z : a regex that tests every character against one class (no brackets inside). Not $, which
# also matches before a final line break: "a\n" would pass alone but fail joined to the next column.
CHAR_CLASS_REGEX = re.compile(r"\^\[[^\[\]]+\]\*\\z")


def _between(column: Column, kwargs: Mapping[str, Any]) -> Column:
    """True where ``column`` lies outside [min_value, max_value] (strict_* as in GX)."""
    outside = F.lit(False)
    if "min_value" in kwargs:
        low = F.lit(kwargs["min_value"])
        outside = outside | (column <= low if kwargs.get("strict_min") else column < low)
    if "max_value" in kwargs:
        high = F.lit(kwargs["max_value"])
        outside = outside | (column >= high if kwargs.get("strict_max") else column > high)
    return outside


def unexpected(expectation: Mapping[str, Any]) -> Column:
    """A never-null column, true where a row breaks this column-map expectation.

    Follows GX semantics: except for the null checks themselves, a null value
    is not unexpected; ``row_condition`` (Spark SQL) limits the rows checked.
    """
    kind, kwargs = expectation["type"], expectation["kwargs"]
    if "mostly" in kwargs:
        raise ConfigError(f"{kind}: row rules are absolute, `mostly` is not supported")
    if kind == UNIQUE:
        raise ConfigError(f"{kind} compares rows with each other: see later_copies")
    column = F.col(f"`{kwargs['column']}`")
    if kind == "expect_column_values_to_not_be_null":
        broken = column.isNull()
    elif kind == "expect_column_values_to_be_null":
        broken = column.isNotNull()
    elif kind == "expect_column_values_to_be_in_set":
        broken = column.isNotNull() & ~column.isin(list(kwargs["value_set"]))
    elif kind == "expect_column_values_to_be_between":
        broken = column.isNotNull() & _between(column, kwargs)
    elif kind == "expect_column_value_lengths_to_be_between":
        broken = column.isNotNull() & _between(F.length(column), kwargs)
    elif kind == MATCH_REGEX:
        broken = column.isNotNull() & ~column.rlike(kwargs["regex"])
    else:
        raise ConfigError(f"{kind} cannot be used as a row rule (no Spark translation)")
    if "row_condition" in kwargs:
        if kwargs.get("condition_parser") != "spark":
            raise ConfigError(f"{kind}: row_condition needs condition_parser 'spark'")
        broken = F.expr(kwargs["row_condition"]) & broken
    return F.coalesce(broken, F.lit(False))


def row_rules(expectations: Sequence[Mapping[str, Any]]) -> dict[str, Column]:
    """Rule name (``meta.rule``) -> a column true where a row breaks any of its expectations.

    Uniqueness expectations compare rows with each other and are left to
    :func:`unique_keys` / :func:`later_copies`.
    """
    by_rule: dict[str, list[Column]] = {}
    for expectation in expectations:
        if expectation["type"] != UNIQUE:
            by_rule.setdefault(expectation["meta"]["rule"], []).append(unexpected(expectation))
    return {rule: reduce(lambda a, b: a | b, columns) for rule, columns in by_rule.items()}


def any_rule_broken(expectations: Sequence[Mapping[str, Any]]) -> Column:
    r"""True where a row breaks any row rule: the OR of :func:`row_rules`, cheaper to evaluate.

    Regex expectations that test every character of a column against the same
    class (``^[...]*\z``, such as the id character rules) hold for each column
    exactly when they hold for the columns joined, so they run as one regex call
    per row instead of one per column (the call, not the class test, is the cost:
    on 4.8M rows the two id checks went from 1.7 to 1.2 s).
    """
    columns_per_class: dict[str, list[str]] = {}
    broken = []
    for expectation in expectations:
        kind, kwargs = expectation["type"], expectation["kwargs"]
        if kind == UNIQUE:
            continue
        plain = "row_condition" not in kwargs and "mostly" not in kwargs
        if kind == MATCH_REGEX and plain and CHAR_CLASS_REGEX.fullmatch(kwargs["regex"]):
            columns_per_class.setdefault(kwargs["regex"], []).append(kwargs["column"])
        else:
            broken.append(unexpected(expectation))
    for regex, columns in columns_per_class.items():
        # Nulls are skipped, as GX skips them. Each column is made valid UTF-8 first (Parquet/Delta strings
        # are not checked): two broken halves must not join into one valid, different character.
        joined = F.concat_ws("", *[F.make_valid_utf8(F.col(f"`{c}`")) for c in columns])
        broken.append(~joined.rlike(regex))
    return reduce(operator.or_, broken, F.lit(False))


def unique_keys(expectations: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Rule name -> the key columns of each compound-uniqueness expectation."""
    return {e["meta"]["rule"]: list(e["kwargs"]["column_list"]) for e in expectations if e["type"] == UNIQUE}


def repeated_key_rows(rows: DataFrame, columns: Sequence[str], order: str) -> DataFrame:
    """The ``order`` value of every row whose key hash occurs more than once: a copy, or rarely a collision.

    Sorting every row by the full key is what makes an exact uniqueness check
    expensive. Here each row carries one 64-bit hash of its key through the
    shuffle (Spark radix-sorts longs); on 4.8M rows this cost 2.6 s with
    :func:`later_copies`, against 3.4 s for a group-by count of the hashes.
    """
    key_hash = F.xxhash64(*[F.col(f"`{c}`") for c in columns])
    rows_per_hash = F.count(F.lit(1)).over(Window.partitionBy(key_hash))
    return rows.select(order, rows_per_hash.alias("_rows")).where(F.col("_rows") > 1).select(order)


def later_copies(rows: DataFrame, columns: Sequence[str], order: str, candidates: DataFrame) -> DataFrame:
    """The ``order`` value of every copy of a row after the first (GX flags all copies; we keep one).

    Only the ``candidates`` (:func:`repeated_key_rows`) are sorted by the exact
    key (nulls equal) and numbered in ``order``.
    """
    keys = [F.col(f"`{c}`") for c in columns]
    copy_number = F.row_number().over(Window.partitionBy(*keys).orderBy(order))
    repeated = rows.join(candidates, order, "left_semi")
    return repeated.select(order, copy_number.alias("_copy")).where(F.col("_copy") > 1).select(order)
