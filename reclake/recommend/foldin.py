"""Fold-in: factors for users the model never saw, from one least-squares solve against the fixed item factors.

This is Spark ALS's own user step, done once at recommend time instead of a retrain.
With item factors Y and a user's interactions (items i, strengths r_i) on items
the model has factors for:

- implicit feedback: confidence c_i = 1 + alpha * |r_i|, preference p_i = 1 if r_i > 0
  else 0, and the normal equations (Y^T C_u Y + lambda I) x = Y^T C_u p_u, written as
  Spark computes them: (Y^T Y + sum_i (c_i - 1) y_i y_i^T + lambda I) x = sum_i c_i p_i y_i;
- explicit ratings: (sum_i y_i y_i^T + lambda I) x = sum_i r_i y_i;

with lambda = reg_param * n_u (Spark's weighted regularisation; n_u = the user's
interactions with r_i > 0 in implicit mode, all of them in explicit mode). A user
without such an interaction has no usable events and gets no factors. Pure numpy
and pyarrow, no Spark: it runs inside the Python workers (wiring in
:mod:`reclake.recommend.fallback`). Unconstrained: with ``als.nonnegative`` ALS
solves a non-negative problem instead, so folded-in factors may then differ from
what a retrain would give.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from reclake.config import AlsSection, EventType, PrepareSection
from reclake.constants import FEATURES, ITEM_IDX, STRENGTH, USER_IDX

HISTORY = "history"  # list<struct<item_idx, strength>> column: a user's interactions
FOLDED_ARROW = pa.schema([(USER_IDX, pa.int32()), (FEATURES, pa.list_(pa.float32()))])


@dataclass(frozen=True)
class FoldInSettings:
    """What a fold-in outside the run needs besides the item factors, published with them as JSON.

    The model's ALS settings (the solve), the run's event types and prepare
    settings (recent events weighed into strengths as prepare weighs them), and
    the run's list length.
    """

    als: AlsSection
    event_types: dict[str, EventType]
    prepare: PrepareSection
    top_n: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "als": self.als.model_dump(include={"rank", "reg_param", "alpha", "implicit_prefs"}),
                "event_types": {name: spec.model_dump() for name, spec in self.event_types.items()},
                "prepare": self.prepare.model_dump(),
                "top_n": self.top_n,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> FoldInSettings:
        data = json.loads(text)
        return cls(
            AlsSection.model_validate(data["als"]),
            {name.lower(): EventType.model_validate(spec) for name, spec in data["event_types"].items()},
            PrepareSection.model_validate(data["prepare"]),
            int(data["top_n"]),
        )


@dataclass(frozen=True)
class FoldInModel:
    """What every solve shares: the item factors (sorted by item index), their Gram matrix, the ALS settings."""

    item_ids: np.ndarray
    matrix: np.ndarray  # float64 (items, rank)
    gram: np.ndarray  # Y^T Y, float64 (rank, rank)
    reg_param: float
    alpha: float
    implicit: bool

    @classmethod
    def build(cls, item_ids: np.ndarray, vectors: np.ndarray, reg_param: float, alpha: float, implicit: bool):
        order = np.argsort(item_ids, kind="stable")
        matrix = vectors[order].astype(np.float64)
        return cls(item_ids[order].astype(np.int64), matrix, matrix.T @ matrix, reg_param, alpha, implicit)


def solve_user(model: FoldInModel, items: np.ndarray, strengths: np.ndarray) -> np.ndarray | None:
    """One user's factors (float64) from their (item index, strength) pairs; None without usable events.

    Items the model has no factors for are ignored.
    """
    pos = np.minimum(np.searchsorted(model.item_ids, items), max(len(model.item_ids) - 1, 0))
    known = (model.item_ids[pos] == items) if len(model.item_ids) else np.zeros(len(items), bool)
    y, r = model.matrix[pos[known]], strengths[known].astype(np.float64)
    if model.implicit:
        extra = model.alpha * np.abs(r)  # confidence - 1
        preferred = r > 0
        count = int(preferred.sum())
        lhs = model.gram + (y * extra[:, None]).T @ y
        rhs = ((1.0 + extra) * preferred) @ y
    else:
        count = len(r)
        lhs = y.T @ y
        rhs = r @ y
    if count == 0:
        return None
    lhs[np.diag_indices_from(lhs)] += model.reg_param * count
    return np.linalg.solve(lhs, rhs)


def fold_in_batch(batch: pa.RecordBatch | pa.Table, model: FoldInModel) -> pa.RecordBatch:
    """(user_idx, features) for the users of a (user_idx, history) batch that have usable events."""
    histories = batch.column(HISTORY)
    if isinstance(histories, pa.ChunkedArray):
        histories = histories.combine_chunks()
    offsets = histories.offsets.to_numpy(zero_copy_only=False)
    offsets = offsets - offsets[0]  # a sliced array's offsets start where its values do
    pairs = histories.flatten()
    items = pairs.field(ITEM_IDX).to_numpy(zero_copy_only=False)
    strengths = pairs.field(STRENGTH).to_numpy(zero_copy_only=False)
    users = batch.column(USER_IDX).to_numpy(zero_copy_only=False)
    kept, factors = [], []
    for row, user in enumerate(users):
        lo, hi = offsets[row], offsets[row + 1]
        x = solve_user(model, items[lo:hi], strengths[lo:hi])
        if x is not None:
            kept.append(user)
            factors.append(x.astype(np.float32))
    return pa.RecordBatch.from_arrays(
        [pa.array(np.asarray(kept, dtype=np.int32)), pa.array(factors, type=pa.list_(pa.float32()))],
        schema=FOLDED_ARROW,
    )
