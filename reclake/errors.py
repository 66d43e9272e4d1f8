"""The errors reclake raises on purpose: each names what is wrong and what to do.

The command line prints their message on one line and exits with status 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Mapping


class ReclakeError(Exception):
    """Base class: an error a person can act on.

    ``counts`` and ``metrics`` are what the failing stage had measured before it
    stopped (a rejected batch's quarantine counts, a rejected model's metrics):
    the run's summary and its Prometheus metrics keep them.
    """

    def __init__(
        self, message: str, *, counts: Mapping[str, int] | None = None, metrics: Mapping[str, float] | None = None
    ) -> None:
        super().__init__(message)
        self.counts = dict(counts or {})
        self.metrics = dict(metrics or {})


class ConfigError(ReclakeError):
    """The configuration (file or --set override) is invalid."""


class InputError(ReclakeError):
    """The raw input cannot be read as interaction events."""


class ValidationFailed(ReclakeError):
    """A batch-level data rule failed; nothing downstream may run."""


class MissingTableError(ReclakeError):
    """A stage needs a table an earlier stage has not written yet."""


class QualityGateFailed(ReclakeError):
    """A trained model is not good enough to publish (see `reclake evaluate`)."""


class ConcurrentWriteError(ReclakeError):
    """Another writer committed first to a Delta table this job was committing to."""
