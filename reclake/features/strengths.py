"""Interaction strengths without Spark: a user's recent events added to what the batch summed, as prepare sums them.

``prepare`` (reclake/features/interactions.py) gives a user-item pair the sum of its
events' type weights (times the event's value for types with ``use_value``), then
``log1p(sum / log_epsilon)`` with ``prepare.log_scaling``. Real-time lists
(reclake/serving/realtime.py) add events that arrived after the run to the pair's
batch strength the same way: back to the plain sum, the new events' weights added,
scaled again. The event types and the prepare settings are the ones the run used,
published with its item factors, so serving weighs events as training did.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reclake.config import EventType, PrepareSection


def event_weight(spec: EventType, value: float | None) -> float:
    """What one event adds to its pair's plain sum: the type's weight, times the value for ``use_value`` types."""
    if spec.use_value:
        if value is None:
            raise ValueError("this event type weighs its value (use_value), and none was given")
        return spec.weight * value
    return spec.weight


def scaled(total: np.ndarray, settings: PrepareSection) -> np.ndarray:
    """A pair's strength from its plain sum of weights (as ``history_strengths`` ends)."""
    return np.log1p(total / settings.log_epsilon) if settings.log_scaling else total


def unscaled(strength: np.ndarray, settings: PrepareSection) -> np.ndarray:
    """The plain sum of weights a strength was scaled from: the inverse of :func:`scaled`."""
    return np.expm1(strength) * settings.log_epsilon if settings.log_scaling else strength


def merged(
    batch: Mapping[str, float], recent: Mapping[str, float], settings: PrepareSection
) -> tuple[list[str], np.ndarray]:
    """Every item of either, with its strength once ``recent`` (plain sums of new events' weights) is added.

    Items only in ``batch`` keep their strength exactly; the others are
    unscaled, summed and scaled again.
    """
    items = [*batch, *(item for item in recent if item not in batch)]
    strengths = np.array([batch.get(item, 0.0) for item in items], dtype=np.float64)
    touched = np.array([item in recent for item in items], dtype=bool)
    if touched.any():
        added = np.array([recent[item] for item, hit in zip(items, touched, strict=True) if hit])
        strengths[touched] = scaled(unscaled(strengths[touched], settings) + added, settings)
    return items, strengths
