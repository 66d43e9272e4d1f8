"""Item content: feature vectors from catalogue columns, and a ridge map from them to ALS item factors.

A new item (in the catalogue, with no interactions) has no ALS factors; a linear
map learnt on the items that have both content and factors gives it some, so the
same top-N kernel can score it. Features are Spark ML transformers, computed once
at scale: text columns tokenised, hashed and IDF-weighted; tag columns (a
separator between values) one-hot per distinct tag; numeric columns standardised;
flag columns (0/1) as they are. The map is ridge regression in closed form: the
(d+1) x (d+1) normal equations (d content features plus an unregularised
intercept) are summed over the items by Spark and solved once on the driver.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
from pyspark.ml import Estimator, Pipeline, Transformer
from pyspark.ml.feature import (
    IDF,
    CountVectorizer,
    HashingTF,
    RegexTokenizer,
    StandardScaler,
    VectorAssembler,
)
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.mllib.linalg import Vectors as MllibVectors
from pyspark.mllib.linalg.distributed import RowMatrix
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reclake.constants import FEATURES, ITEM_ID
from reclake.frames import one_row
from reclake.vectors import factor_matrix

CONTENT = "content"  # array<double> column: an item's content feature vector


def content_features(
    catalogue: DataFrame,
    *,
    id_column: str,
    text_columns: Sequence[str] = (),
    tag_columns: Mapping[str, str] | None = None,
    numeric_columns: Sequence[str] = (),
    flag_columns: Sequence[str] = (),
    text_features: int = 256,
) -> DataFrame:
    """(item_id, the catalogue's other columns, content): one content vector per row, every configured column encoded.

    ``tag_columns`` maps a column to the separator between its values
    (``{"genres": "|"}``). Missing values encode as no tokens, no tags, 0.
    """
    tag_columns = dict(tag_columns or {})
    if not (text_columns or tag_columns or numeric_columns or flag_columns):
        raise ValueError("no content columns: name text, tag, numeric or flag columns")
    others = [F.col(f"`{c}`") for c in catalogue.columns if c != ITEM_ID]
    frame = catalogue.select(F.col(f"`{id_column}`").cast("string").alias(ITEM_ID), *others)
    kept = frame.columns
    stages: list[Estimator | Transformer] = []
    parts: list[str] = []
    if text_columns:
        text = F.concat_ws(" ", *[F.coalesce(F.col(c).cast("string"), F.lit("")) for c in text_columns])
        frame = frame.withColumn("_text", text)
        stages += [
            RegexTokenizer(inputCol="_text", outputCol="_tokens", pattern=r"\W+", minTokenLength=2),
            HashingTF(inputCol="_tokens", outputCol="_tf", numFeatures=text_features),
            IDF(inputCol="_tf", outputCol="_text_vec"),
        ]
        parts.append("_text_vec")
    for i, (column, separator) in enumerate(sorted(tag_columns.items())):
        tags = F.split(F.coalesce(F.col(column).cast("string"), F.lit("")), re.escape(separator))
        frame = frame.withColumn(f"_tags{i}", F.filter(F.transform(tags, F.trim), lambda t: t != ""))
        stages.append(CountVectorizer(inputCol=f"_tags{i}", outputCol=f"_tags_vec{i}", binary=True, minDF=1.0))
        parts.append(f"_tags_vec{i}")
    if numeric_columns:
        numbers = F.array(*[F.coalesce(F.col(c).cast("double"), F.lit(0.0)) for c in numeric_columns])
        frame = frame.withColumn("_numbers", array_to_vector(numbers))
        stages.append(StandardScaler(inputCol="_numbers", outputCol="_numbers_vec", withMean=True, withStd=True))
        parts.append("_numbers_vec")
    if flag_columns:
        flags = F.array(*[F.coalesce(F.col(c).cast("double"), F.lit(0.0)) for c in flag_columns])
        frame = frame.withColumn("_flags_vec", array_to_vector(flags))
        parts.append("_flags_vec")
    stages.append(VectorAssembler(inputCols=parts, outputCol="_content"))
    encoded = Pipeline(stages=stages).fit(frame).transform(frame)
    return encoded.select(*[F.col(f"`{c}`") for c in kept], vector_to_array(F.col("_content")).alias(CONTENT))


def fit_content_map(content: DataFrame, factors: DataFrame, reg_param: float) -> np.ndarray:
    """W ((d+1) x rank): ridge regression from [content, 1] to item factors, on the items that have both.

    Minimises sum_i |y_i - [x_i, 1] W|^2 + reg_param |W without its intercept row|^2;
    closed form W = (A^T A + reg_param D)^-1 A^T Y, A = [X 1], D = diag(1..1, 0). The
    Gramian of [X 1 Y] is summed by Spark (one (d+1+rank)^2 matrix), so nothing
    per item reaches the driver. ``content`` and ``factors`` join on their first column.
    """
    key = content.columns[0]
    joined = content.join(factors.withColumnRenamed(factors.columns[0], key), key)
    rows = joined.select(F.concat(CONTENT, F.array(F.lit(1.0)), F.col(FEATURES).cast("array<double>")).alias("_row"))
    gram = RowMatrix(rows.rdd.map(lambda r: MllibVectors.dense(r[0]))).computeGramianMatrix().toArray()
    d = len(one_row(content.select(CONTENT))[0]) + 1
    lhs, rhs = gram[:d, :d].copy(), gram[:d, d:]
    penalty = np.full(d, reg_param)
    penalty[-1] = 0.0  # the intercept is not shrunk
    lhs[np.diag_indices(d)] += penalty
    return np.linalg.solve(lhs, rhs)


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
