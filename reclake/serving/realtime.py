"""Real-time lists: a user's recent items folded in against the served run's item factors at request time, no Spark.

A run publishes its item factors with the settings of the solve (``item_factors``)
and what each user had and which of it the batch lists exclude (``user_histories``,
``excluded``: what the user had in the last ``recommend.exclude_seen_window_days``,
everything when unset). A request names the items a user
interacted with since; their events are weighed into strengths as prepare weighs
them (reclake/features/strengths.py) and added to the user's batch history, and
the user's factors come from one ALS user step against the fixed item factors
(:func:`reclake.recommend.foldin.solve_user`, the solve recommend runs for new
users). The list is then scored as the batch scores it: one float32 product with
the eligible items' factors, the excluded history items (as the batch lists
exclude them) and the recent items masked, the kernel's top-N selection (:func:`reclake.recommend.kernel.top_k_entries`), ties by
item index. A user unknown to the run gets the fold-in of the recent items alone.

One served version of ``item_factors`` is loaded into numpy once (the Gram matrix
Y^T Y computed then: 0.1 s for 100k items at rank 64, not worth a column) and kept
until ``served_versions`` names another.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclake.config import EventType
from reclake.constants import ELIGIBLE, FEATURES, FOLDIN_SETTINGS, ITEM_ID, ITEM_IDX, MODEL_VERSION, SOURCE, SOURCE_ALS
from reclake.errors import NotFound, RequestRefused
from reclake.features.strengths import event_weight, merged
from reclake.recommend.foldin import FoldInModel, FoldInSettings, solve_user
from reclake.recommend.kernel import catalogue, top_k_entries
from reclake.vectors import factor_matrix

MAX_RECENT_ITEMS = 100  # recent items in one request, by default
DEFAULT_WEIGHT = 1.0  # what an item without an event type adds to its pair's plain sum (the default `view`'s weight)


@dataclass(frozen=True)
class RealtimeModel:
    """One served run's ``item_factors`` in memory: the fold-in model, the eligible items as a scoring catalogue."""

    version: int  # of item_factors
    run_date: dt.date
    model_version: str
    settings: FoldInSettings
    foldin: FoldInModel  # the model's items (source als), by item index
    index: Mapping[str, int]  # item_id -> item_idx, every published item
    candidates: tuple[np.ndarray, np.ndarray]  # eligible item indices, sorted, and their padded float32 factors
    names: np.ndarray  # item_id of each candidate, in the same order

    @classmethod
    def build(cls, rows: pa.Table, version: int, run_date: dt.date) -> RealtimeModel:
        """From one run date's rows of ``item_factors``."""
        if not rows.num_rows:
            raise NotFound(f"item_factors has no rows for run {run_date} (table version {version})")
        settings = FoldInSettings.from_json(rows.column(FOLDIN_SETTINGS)[0].as_py())
        ids = rows.column(ITEM_IDX).to_numpy(zero_copy_only=False).astype(np.int64)
        vectors = factor_matrix(rows.column(FEATURES), rows.num_rows)
        names = np.asarray(rows.column(ITEM_ID).to_pylist(), dtype=object)
        trained = pc.equal(rows.column(SOURCE), SOURCE_ALS).to_numpy(zero_copy_only=False)
        eligible = rows.column(ELIGIBLE).to_numpy(zero_copy_only=False).astype(bool)
        als = settings.als
        foldin = FoldInModel.build(ids[trained], vectors[trained], als.reg_param, als.alpha, als.implicit_prefs)
        candidates = catalogue(ids[eligible], vectors[eligible])
        order = np.argsort(ids[eligible], kind="stable")
        return cls(
            version,
            run_date,
            str(rows.column(MODEL_VERSION)[0].as_py()),
            settings,
            foldin,
            dict(zip(names.tolist(), ids.tolist(), strict=True)),
            candidates,
            names[eligible][order],
        )


@dataclass(frozen=True)
class RecentEvent:
    """One event a user had since the run, as read from the Kafka topic (reclake/serving/follow.py)."""

    item_id: str
    event_type: str | None  # None: weighs DEFAULT_WEIGHT
    value: float | None
    event_time: dt.datetime  # UTC


@dataclass(frozen=True)
class Recent:
    """A request's recent items the run knows, as plain sums of their events' weights, and how many it did not."""

    sums: dict[str, float]
    unknown: int


def weigh(types: Mapping[str, EventType], event_type: str | None, value: float | None) -> float:
    """What one event adds to its pair's plain sum, as prepare weighs it; ValueError (not echoing the input)
    for an event type not in ``types``, a value out of its type's range or missing where the type weighs it."""
    if event_type is None:
        return DEFAULT_WEIGHT
    spec = types.get(event_type.strip().lower())
    if spec is None:
        raise ValueError(f"the event type is not one of the run's: {', '.join(sorted(types))}")
    low, high = spec.min_value, spec.max_value
    if value is not None and ((low is not None and value < low) or (high is not None and value > high)):
        raise ValueError(f"the value is outside {low}..{high} for its event type")
    return event_weight(spec, value)


def recent_sums(
    items: Sequence[str],
    event_types: Sequence[str | None] | None,
    values: Sequence[float | None] | None,
    model: RealtimeModel,
    max_items: int = MAX_RECENT_ITEMS,
) -> Recent:
    """Each known item's plain sum of recent weights (an item named twice: two events); unknown items counted.

    Refused (:class:`RequestRefused`, never echoing the input): more than
    ``max_items`` items, event types or values not one per item, an event that
    :func:`weigh` refuses. An item without an event type weighs ``DEFAULT_WEIGHT``.
    """
    if len(items) > max_items:
        raise RequestRefused(f"{len(items)} recent items: at most {max_items} in one request")
    for name, given in (("event types", event_types), ("values", values)):
        if given is not None and len(given) != len(items):
            raise RequestRefused(f"{len(given)} {name} for {len(items)} items: give one per item")
    sums: dict[str, float] = {}
    unknown = 0
    for position, item in enumerate(items):
        value = values[position] if values is not None else None
        try:
            weight = weigh(model.settings.event_types, event_types[position] if event_types else None, value)
        except ValueError as exc:
            raise RequestRefused(f"item #{position + 1}: {exc}") from None
        if item in model.index:
            sums[item] = sums.get(item, 0.0) + weight
        else:
            unknown += 1
    return Recent(sums, unknown)


def realtime_list(
    model: RealtimeModel, history: Mapping[str, float], excluded: Collection[str], recent: Recent
) -> list[tuple[str, float]]:
    """(item_id, score) of the user's top N, best first: the fold-in of ``history`` plus ``recent``, without
    the items of ``excluded`` and ``recent``.

    ``history``: the user's batch strengths by item id; ``excluded``: the items the
    batch lists exclude for the user. Raises :class:`NotFound` when neither gives a
    usable solve (no item the model has factors for with a positive strength).
    """
    items, strengths = merged(history, recent.sums, model.settings.prepare)
    indices = np.array([model.index.get(item, -1) for item in items], dtype=np.int64)
    factors = solve_user(model.foldin, indices, strengths)
    if factors is None:
        raise NotFound(
            f"nothing to fold in: the user has no usable history in run {model.run_date} and none of the "
            f"{len(recent.sums) + recent.unknown} recent items has model factors"
        )
    ids, matrix = model.candidates
    if not len(ids):
        return []
    scores = matrix @ factors.astype(np.float32)  # float32, as the batch kernel scores
    scores[len(ids) :] = -np.inf
    masked = np.array([model.index.get(item, -1) for item in (*excluded, *recent.sums)], dtype=np.int64)
    seen = masked[masked >= 0]
    pos = np.minimum(np.searchsorted(ids, seen), len(ids) - 1)
    scores[pos[ids[pos] == seen]] = -np.inf
    _, cols, ranks = top_k_entries(scores[None, :], model.settings.top_n)
    return [(model.names[col], float(scores[col])) for col in cols[np.argsort(ranks)]]
