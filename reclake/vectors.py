"""Arrow columns of vectors as numpy matrices: shared by the scoring kernel and the content map, no Spark."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def factor_matrix(column: pa.Array | pa.ChunkedArray, count: int) -> np.ndarray:
    """A list<float> column of equal-length vectors as a (count, rank) float32 matrix, without per-row Python."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if count and len(flat) % count:
        raise ValueError(f"factor vectors have different lengths ({len(flat)} values for {count} rows)")
    return flat.reshape(count, -1) if count else flat.reshape(0, 0)
