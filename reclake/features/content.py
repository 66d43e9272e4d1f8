"""Item content: feature vectors from catalogue columns, and a ridge map from them to ALS item factors.

A new item (in the catalogue, with no interactions) has no ALS factors; a linear
map learnt on the items that have both content and factors gives it some, so the
same top-N kernel can score it. Features are Spark ML transformers, computed once
at scale: text columns tokenised, counted over a vocabulary of the words in at
least ``text_min_df`` items, IDF-weighted; tag columns (a separator between
values) one-hot per distinct tag; numeric columns standardised; flag columns (0/1)
as they are. The content column's metadata records where each feature group
(text, tags, numeric, flags) lies in the vector.

The map is ridge regression in closed form with one penalty per feature group,
or the group switched off, chosen by cross-validation on the items with factors:
one Spark pass sums the Gramian of [content, 1, factors] per fold (a few
(d+1+rank)^2 matrices), and every candidate setting is then solved and scored on
the driver with numpy, since a fold's held-out squared error needs only its own
Gramian. A group that does not lower the held-out error (a noisy title, a random
column) is switched off, so naming one more column cannot make the map much worse.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
from pyspark.ml import Estimator, Pipeline, Transformer
from pyspark.ml.feature import (
    IDF,
    CountVectorizer,
    CountVectorizerModel,
    RegexTokenizer,
    StandardScaler,
    VectorAssembler,
)
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reclake.constants import DEFAULT_SEED, FEATURES, ITEM_ID
from reclake.errors import InputError
from reclake.vectors import factor_matrix

CONTENT = "content"  # array<double> column: an item's content feature vector
LAYOUT = "content_groups"  # CONTENT's metadata key: feature group -> [start, end) in the vector
GROUPS = ("text", "tags", "numeric", "flags")  # the feature groups, in the vector's order
# A group (or a weaker penalty) must lower the held-out squared error by this share to be chosen over a simpler
# setting, so that cross-validation noise alone rarely switches on a useless group.
MIN_GAIN = 1e-3
GRAM_CHUNK = 4096  # rows multiplied at once by fold_gramians


def content_features(
    catalogue: DataFrame,
    *,
    id_column: str,
    text_min_df: int,
    text_columns: Sequence[str] = (),
    tag_columns: Mapping[str, str] | None = None,
    numeric_columns: Sequence[str] = (),
    flag_columns: Sequence[str] = (),
    text_features: int = 256,
) -> DataFrame:
    """(item_id, the catalogue's other columns, content): one content vector per row, every configured column encoded.

    ``tag_columns`` maps a column to the separator between its values
    (``{"genres": "|"}``). Text words count when at least ``text_min_df`` items
    have them, the ``text_features`` most frequent at most. Missing values encode
    as no tokens, no tags, 0.
    """
    tag_columns = dict(tag_columns or {})
    if not (text_columns or tag_columns or numeric_columns or flag_columns):
        raise ValueError("no content columns: name text, tag, numeric or flag columns")
    others = [F.col(f"`{c}`") for c in catalogue.columns if c != ITEM_ID]
    frame = catalogue.select(F.col(f"`{id_column}`").cast("string").alias(ITEM_ID), *others)
    kept = frame.columns
    stages: list[Estimator | Transformer] = []
    parts: list[tuple[str, str, int | str]] = []  # (group, column, width or the vocabulary that gives it)
    if text_columns:
        text = F.concat_ws(" ", *[F.coalesce(F.col(c).cast("string"), F.lit("")) for c in text_columns])
        frame = frame.withColumn("_text", text)
        stages += [
            RegexTokenizer(inputCol="_text", outputCol="_tokens", pattern=r"\W+", minTokenLength=2),
            CountVectorizer(
                inputCol="_tokens", outputCol="_tf", vocabSize=text_features, minDF=float(text_min_df), binary=True
            ),
            IDF(inputCol="_tf", outputCol="_text_vec"),
        ]
        parts.append(("text", "_text_vec", "_tf"))
    for i, (column, separator) in enumerate(sorted(tag_columns.items())):
        tags = F.split(F.coalesce(F.col(column).cast("string"), F.lit("")), re.escape(separator))
        frame = frame.withColumn(f"_tags{i}", F.filter(F.transform(tags, F.trim), lambda t: t != ""))
        stages.append(CountVectorizer(inputCol=f"_tags{i}", outputCol=f"_tags_vec{i}", binary=True, minDF=1.0))
        parts.append(("tags", f"_tags_vec{i}", f"_tags_vec{i}"))
    if numeric_columns:
        numbers = F.array(*[F.coalesce(F.col(c).cast("double"), F.lit(0.0)) for c in numeric_columns])
        frame = frame.withColumn("_numbers", array_to_vector(numbers))
        stages.append(StandardScaler(inputCol="_numbers", outputCol="_numbers_vec", withMean=True, withStd=True))
        parts.append(("numeric", "_numbers_vec", len(numeric_columns)))
    if flag_columns:
        flags = F.array(*[F.coalesce(F.col(c).cast("double"), F.lit(0.0)) for c in flag_columns])
        frame = frame.withColumn("_flags_vec", array_to_vector(flags))
        parts.append(("flags", "_flags_vec", len(flag_columns)))
    stages.append(VectorAssembler(inputCols=[column for _, column, _ in parts], outputCol="_content"))
    fitted = Pipeline(stages=stages).fit(frame)
    vocabularies = {m.getOutputCol(): len(m.vocabulary) for m in fitted.stages if isinstance(m, CountVectorizerModel)}
    widths = [(group, vocabularies[w] if isinstance(w, str) else w) for group, _, w in parts]
    content = vector_to_array(F.col("_content")).alias(CONTENT, metadata={LAYOUT: group_layout(widths)})
    return fitted.transform(frame).select(*[F.col(f"`{c}`") for c in kept], content)


def group_layout(widths: Iterable[tuple[str, int]]) -> dict[str, list[int]]:
    """group -> [start, end) in the content vector, from the parts' (group, width) in vector order."""
    layout: dict[str, list[int]] = {}
    end = 0
    for group, width in widths:
        start = layout.get(group, [end])[0]  # a group's parts (one per tag column) are adjacent
        end += width
        layout[group] = [start, end]
    return layout


def content_layout(content: DataFrame) -> dict[str, list[int]]:
    """The feature groups of ``content``'s CONTENT column, as validate recorded them in its metadata."""
    layout = content.schema[CONTENT].metadata.get(LAYOUT)
    if layout is None:
        raise InputError(
            "the catalogue table's content has no feature groups (written by an older reclake): "
            "run `reclake validate` again"
        )
    return {group: list(bounds) for group, bounds in layout.items()}


class ContentMap(NamedTuple):
    """The chosen map and what was chosen."""

    weights: np.ndarray  # (d+1) x rank, intercept last; the rows of a switched-off group are 0
    chosen: dict[str, Any]  # {"groups": {group: {"features", "reg_param" (None: off)}}, "held_out_r2", "folds"}


def fit_content_map(
    content: DataFrame,
    factors: DataFrame,
    reg_params: Sequence[float],
    folds: int,
    seed: int = DEFAULT_SEED,
) -> ContentMap:
    """Ridge regression from [content, 1] to item factors on the items that have both, a penalty per group.

    Each group's penalty is one of ``reg_params`` or the group is off, chosen by
    ``folds``-fold cross-validation (items assigned by a hash of their key and
    ``seed``), then refit on all the items. ``content`` and ``factors`` join on
    their first column; ``content`` carries the feature groups (:func:`content_features`).
    """
    layout = content_layout(content)
    return choose_content_map(fold_gramians(content, factors, folds, seed), layout, reg_params)


def fold_gramians(content: DataFrame, factors: DataFrame, folds: int, seed: int) -> np.ndarray:
    """(folds, p, p): per fold, the Gramian of the rows [x, 1, y] (p = d + 1 + rank) of the items in it.

    One pass: each partition multiplies its rows per fold with numpy, GRAM_CHUNK rows
    at a time (so a partition's memory does not grow with its items), and the
    partial sums are added in a tree on the executors, so nothing per item
    reaches the driver.
    """
    key = content.columns[0]
    joined = content.join(factors.withColumnRenamed(factors.columns[0], key), key)
    fold = F.pmod(F.xxhash64(F.col(key).cast("string"), F.lit(seed)), F.lit(folds)).cast("int")
    row = F.concat(CONTENT, F.array(F.lit(1.0)), F.col(FEATURES).cast("array<double>"))
    rows = joined.select(fold, row)

    def per_partition(part: Iterable[tuple[Any, ...]]) -> Iterator[np.ndarray]:
        sums: np.ndarray | None = None
        remaining = iter(part)
        while chunk := list(itertools.islice(remaining, GRAM_CHUNK)):
            of_fold = np.array([f for f, _ in chunk])
            values = np.array([v for _, v in chunk], dtype=np.float64)
            if sums is None:
                sums = np.zeros((folds, values.shape[1], values.shape[1]))
            for f in np.unique(of_fold):
                block = values[of_fold == f]
                sums[f] += block.T @ block
        if sums is not None:
            yield sums

    return rows.rdd.mapPartitions(per_partition).treeReduce(np.add, depth=2)


def choose_content_map(
    grams: np.ndarray, layout: Mapping[str, Sequence[int]], reg_params: Sequence[float]
) -> ContentMap:
    """Per group, the penalty in ``reg_params`` or off with the least held-out squared error; the map refit on all.

    ``grams`` are the folds' Gramians of [x, 1, y] (:func:`fold_gramians`),
    ``layout`` the groups' [start, end) in x. Coordinate descent over the groups,
    starting from every group on at the middle penalty, sweeps until no group
    changes (at most three sweeps). Options are tried from the simplest (off,
    then the strongest penalty); a less simple one is taken only if it lowers the
    error by more than MIN_GAIN. ``held_out_r2`` is 1 - error / the error of the
    intercept alone (every group off): the share of the factors' held-out
    variance the content explains.
    """
    d = max((end for _, end in layout.values()), default=0)
    total = grams.sum(axis=0)
    present = [g for g in GROUPS if g in layout and layout[g][1] > layout[g][0]]
    options: list[float | None] = [None, *sorted(set(reg_params), reverse=True)]
    chosen: dict[str, float | None] = dict.fromkeys(present, sorted(reg_params)[len(reg_params) // 2])

    def error(setting: Mapping[str, float | None]) -> float:
        return sum(_held_out_error(fold, _solve(total - fold, d, layout, setting), d) for fold in grams)

    current = error(chosen)
    for _ in range(3):
        changed = False
        for group in present:
            tried = [(option, error(chosen | {group: option})) for option in options]
            best, best_error = tried[0]
            for option, option_error in tried[1:]:
                if option_error < best_error * (1 - MIN_GAIN):
                    best, best_error = option, option_error
            changed |= best != chosen[group]
            chosen[group], current = best, best_error
        if not changed:
            break
    baseline = error(dict.fromkeys(present))
    record = {
        "groups": {g: {"features": end - start, "reg_param": chosen.get(g)} for g, (start, end) in layout.items()},
        "held_out_r2": 1.0 - current / baseline if baseline > 0 else 0.0,
        "folds": len(grams),
    }
    return ContentMap(_solve(total, d, layout, chosen), record)


def _solve(
    gram: np.ndarray, d: int, layout: Mapping[str, Sequence[int]], setting: Mapping[str, float | None]
) -> np.ndarray:
    """W ((d+1) x rank) minimising |Y - [X 1] W|^2 + sum over groups of penalty |W_group|^2; off groups' rows 0.

    Closed form on the groups that are on and the unshrunk intercept:
    W_on = (A^T A + D)^-1 A^T Y, read off the Gramian of [X 1 Y].
    """
    on, penalty = [d], [0.0]
    for group, reg in setting.items():
        if reg is not None:
            start, end = layout[group]
            on += range(start, end)
            penalty += [reg] * (end - start)
    index = np.array(on)
    lhs = gram[np.ix_(index, index)] + np.diag(penalty)
    weights = np.zeros((d + 1, gram.shape[0] - d - 1))
    weights[index] = np.linalg.lstsq(lhs, gram[index, d + 1 :], rcond=None)[0]  # lstsq: a fold may be empty
    return weights


def _held_out_error(gram: np.ndarray, weights: np.ndarray, d: int) -> float:
    """sum_i |y_i - [x_i, 1] W|^2 over the items of ``gram`` (their Gramian of [X 1 Y]), without the items."""
    a, y = slice(0, d + 1), slice(d + 1, None)
    return float(np.trace(gram[y, y]) - 2 * np.sum(weights * gram[a, y]) + np.sum(weights * (gram[a, a] @ weights)))


def mapped_factors(content: DataFrame, weights: np.ndarray) -> DataFrame:
    """(key, features): each item's factors as its content through the map, [x, 1] W, in float32."""
    key = content.columns[0]
    key_type = content.schema[key].dataType.simpleString()

    def per_batch(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            vectors = factor_matrix(batch.column(CONTENT), batch.num_rows).astype(np.float64)
            factors = (vectors @ weights[:-1] + weights[-1]).astype(np.float32)
            offsets = pa.array(np.arange(0, factors.size + 1, max(factors.shape[1], 1), dtype=np.int32))
            lists = pa.ListArray.from_arrays(offsets, pa.array(factors.ravel()))
            yield pa.RecordBatch.from_arrays([batch.column(key), lists], names=[key, FEATURES])

    return content.select(key, CONTENT).mapInArrow(per_batch, f"{key} {key_type}, {FEATURES} array<float>")
