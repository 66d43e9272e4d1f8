"""The exact top-N kernel: one float32 BLAS product per block of users, seen items masked, two-level selection.

Pure numpy and pyarrow, no Spark: it runs inside the Python workers (see
:mod:`reclake.recommend.topn`) and is tested on plain arrays. Selection takes
the maxima of 16 column slabs, then the N best of the few candidate slabs, so it
costs a fraction of the product. Ties are broken by item index, so the output is
deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclake.constants import FEATURES, ITEM_IDX, RANK, SCORE, USER_IDX
from reclake.vectors import factor_matrix

SEEN = "seen"  # list<int> column: the item indices a user has already interacted with
TOP_N_ARROW = pa.schema([(USER_IDX, pa.int32()), (RANK, pa.int32()), (ITEM_IDX, pa.int32()), (SCORE, pa.float32())])
# Largest score block (users x items) one worker holds at a time: 4M float32 = 16 MiB.
MAX_BLOCK_CELLS = 1 << 22
# Column slabs of the two-level top-k selection; the catalogue is padded to a multiple of it.
SLABS = 16


def _exact_top_k(scores: np.ndarray, floor: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, rank) of the k best finite scores per row, ties by column; ``floor`` <= each row's k-th best.

    Only scores >= floor are sorted, so a good floor keeps this cheap; it is
    exact for any floor at or below the k-th best (ties at the cut included).
    """
    rows, cols = np.nonzero((scores >= floor[:, None]) & np.isfinite(scores))
    order = np.lexsort((cols, -scores[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    ranks = np.arange(len(rows)) - np.searchsorted(rows, rows)
    keep = ranks < k
    return rows[keep], cols[keep], ranks[keep]


def top_k_entries(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, rank from 0) of the k largest finite scores of each row, ties broken by column.

    -inf marks excluded cells; a row with fewer than k finite scores gets fewer
    entries. With many columns the selection is two-level: the columns are cut
    into ``SLABS`` contiguous slabs, column j of every slab forms group j, and
    the k groups with the largest maxima must hold the top k (every other cell
    is below k group maxima). Only those k x SLABS candidates are ranked. Rows
    where a group maximum ties across the cut, or with too few finite scores,
    take the exact path, so the result is exact in every case.
    """
    n_rows, n_cols = scores.shape
    width = n_cols // SLABS
    if n_cols % SLABS or width < 4 * k:
        floor = np.partition(scores, n_cols - min(k, n_cols), axis=1)[:, n_cols - min(k, n_cols)]
        return _exact_top_k(scores, floor, k)
    group_max = scores.reshape(n_rows, SLABS, width).max(axis=1)
    groups = np.argpartition(group_max, width - k, axis=1)[:, width - k :]
    floor = np.take_along_axis(group_max, groups, axis=1).min(axis=1)
    cols = (groups[:, :, None] + np.arange(SLABS) * width).reshape(n_rows, -1)
    values = np.take_along_axis(scores, cols, axis=1)
    best = np.argpartition(-values, k - 1, axis=1)[:, :k]
    best_values = np.take_along_axis(values, best, axis=1)
    best_cols = np.take_along_axis(cols, best, axis=1)
    order = np.lexsort((best_cols, -best_values), axis=1)
    best_cols = np.take_along_axis(best_cols, order, axis=1)
    kth = np.take_along_axis(best_values, order[:, -1:], axis=1)
    slow = (
        ~np.isfinite(floor)
        | ((group_max >= floor[:, None]).sum(axis=1) > k)
        | ((values == kth).sum(axis=1) > (best_values == kth).sum(axis=1))
    )
    fast = np.flatnonzero(~slow)
    rows = np.repeat(fast, k)
    ranks = np.tile(np.arange(k), len(fast))
    if not slow.any():
        return rows, best_cols[fast].ravel(), ranks
    slow_rows = np.flatnonzero(slow)
    s_rows, s_cols, s_ranks = _exact_top_k(scores[slow_rows], floor[slow_rows], k)
    return (
        np.concatenate([rows, slow_rows[s_rows]]),
        np.concatenate([best_cols[fast].ravel(), s_cols]),
        np.concatenate([ranks, s_ranks]),
    )


def catalogue(ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Item ids sorted ascending and their float32 vectors, zero-padded to a multiple of ``SLABS`` rows.

    Positions then follow item index, so ties broken by column are ties broken by item index.
    """
    order = np.argsort(ids, kind="stable")
    padded = np.zeros((-(-len(ids) // SLABS) * SLABS, vectors.shape[1]), dtype=np.float32)
    padded[: len(ids)] = vectors[order]
    return ids[order].astype(np.int32), padded


def score_users(
    user_ids: np.ndarray,
    user_vectors: np.ndarray,
    seen_rows: np.ndarray,
    seen_items: np.ndarray,
    items: tuple[np.ndarray, np.ndarray],
    n: int,
    block_rows: int,
) -> Iterator[pa.RecordBatch]:
    """Top-n (user_idx, rank, item_idx, score) batches for users against a :func:`catalogue`.

    ``seen_rows``/``seen_items`` are (row in user_ids, item index) pairs sorted
    by row; seen items outside the catalogue are ignored.
    """
    item_ids, matrix = items
    n_items = len(item_ids)
    if n_items == 0 or len(user_ids) == 0:
        return
    pos = np.minimum(np.searchsorted(item_ids, seen_items), n_items - 1)
    known = item_ids[pos] == seen_items
    seen_rows, pos = seen_rows[known], pos[known]
    rows_per_block = max(1, min(block_rows, MAX_BLOCK_CELLS // len(matrix)))
    for start in range(0, len(user_ids), rows_per_block):
        stop = min(start + rows_per_block, len(user_ids))
        scores = user_vectors[start:stop] @ matrix.T
        scores[:, n_items:] = -np.inf
        lo, hi = np.searchsorted(seen_rows, [start, stop])
        scores[seen_rows[lo:hi] - start, pos[lo:hi]] = -np.inf
        rows, cols, ranks = top_k_entries(scores, n)
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(user_ids[start:stop][rows].astype(np.int32)),
                pa.array((ranks + 1).astype(np.int32)),
                pa.array(item_ids[cols]),
                pa.array(scores[rows, cols].astype(np.float32)),
            ],
            names=[USER_IDX, RANK, ITEM_IDX, SCORE],
        )


def seen_pairs(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A list<int> column (null = none) as (row, item) arrays sorted by row."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    rows = np.repeat(np.arange(len(column)), lengths)
    return rows, column.flatten().to_numpy(zero_copy_only=False)


def item_arrays(table: pa.Table | pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    """Item indices and their float32 factor matrix from an (item_idx, features) Arrow table."""
    ids = table.column(ITEM_IDX).to_numpy(zero_copy_only=False)
    return ids, factor_matrix(table.column(FEATURES), len(ids))


def user_arrays(table: pa.Table | pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ids = table.column(USER_IDX).to_numpy(zero_copy_only=False)
    rows, seen = seen_pairs(table.column(SEEN))
    return ids, factor_matrix(table.column(FEATURES), len(ids)), rows, seen
