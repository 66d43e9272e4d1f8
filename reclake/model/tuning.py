"""Hyper-parameter search for ALS over rank, reg_param and alpha, scored on a validation split.

The caller passes training data only (``train`` runs this on the evaluation
split's training part, never its test part); a validation split is carved out
of it per user, every candidate is fit on the rest and scored on it by the
configured ranking metric at k, seen items excluded. Ties go to the earlier
candidate. Grid search tries every combination; random search tries ``budget``
distinct combinations drawn with the configured seed.
"""

from __future__ import annotations

import itertools
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from pyspark import StorageLevel
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame

from reclake.config import AlsSection, EvaluateSection, TuneSection
from reclake.errors import ConfigError
from reclake.frames import measure_together
from reclake.model.als import fit_als
from reclake.model.metrics import RANKING_METRICS
from reclake.model.scoring import flat_metrics, list_quality, model_top_k
from reclake.model.splitters import holdout, random_split

log = logging.getLogger(__name__)
SEARCHED = ("rank", "reg_param", "alpha")


@dataclass
class TuningResult:
    """The winning settings and every trial: its searched params and validation metrics."""

    best: AlsSection
    metric: str
    trials: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"metric": self.metric, "best": {k: getattr(self.best, k) for k in SEARCHED}, "trials": self.trials}


def candidates(settings: TuneSection) -> list[dict[str, Any]]:
    """The (rank, reg_param, alpha) combinations to try, in trial order."""
    grid = [
        dict(zip(SEARCHED, combo)) for combo in itertools.product(settings.rank, settings.reg_param, settings.alpha)
    ]
    if settings.strategy == "grid":
        return grid
    return random.Random(settings.seed).sample(grid, min(settings.budget, len(grid)))


def tune(train: DataFrame, base: AlsSection, settings: TuneSection, k: int) -> TuningResult:
    """Search ``settings``' space on a validation split of ``train``; other ALS settings come from ``base``."""
    fit_part, validation = random_split(train, settings.validation_ratio, settings.seed)
    # Every trial reads both parts: materialise them once instead of re-splitting per fit.
    fit_part = fit_part.persist(StorageLevel.MEMORY_AND_DISK)
    validation = validation.persist(StorageLevel.MEMORY_AND_DISK)
    trials: list[dict[str, Any]] = []
    best: tuple[float, AlsSection] | None = None
    try:
        for params in candidates(settings):
            als = base.model_copy(update=params)
            model = fit_als(fit_part, als)
            metrics = flat_metrics(
                measure_together(list_quality(model_top_k(model, fit_part, validation, k), fit_part, validation, k))
            )
            trials.append(
                {
                    **params,
                    **{f"{name}@{k}": metrics[name] for name in RANKING_METRICS},
                    "coverage": metrics["coverage"],
                }
            )
            score = metrics[settings.metric]
            log.info("tuning trial %d: %s -> %s@%d = %.4f", len(trials), params, settings.metric, k, score)
            if best is None or score > best[0]:
                best = (score, als)
    finally:
        fit_part.unpersist()
        validation.unpersist()
    if best is None:  # TuneSection's validator requires a value in each searched list
        raise ConfigError("tune: the search space has no candidate to try")
    return TuningResult(best=best[1], metric=f"{settings.metric}@{k}", trials=trials)


def check_rank(als: AlsSection, settings: TuneSection, items: int) -> None:
    """Refuse, before anything is fitted or written, a rank above the number of items: no factors to find."""
    key, rank = ("tune.rank", max(settings.rank)) if settings.enabled else ("als.rank", als.rank)
    if rank > items:
        raise ConfigError(f"{key} {rank} is more than the {items} items to factorise: set it to at most {items}")


def fit_tuned(
    interactions: DataFrame, als: AlsSection, settings: TuneSection, evaluation: EvaluateSection
) -> tuple[ALSModel, AlsSection, TuningResult | None]:
    """ALS fit on every interaction with ``als``, or, with tuning on, with the search's winner.

    Tuning sees only the evaluation's training part, so ``evaluate``'s test part stays unseen.
    """
    tuning = tune(holdout(interactions, evaluation)[0], als, settings, evaluation.k) if settings.enabled else None
    best = tuning.best if tuning else als
    return fit_als(interactions, best), best, tuning
