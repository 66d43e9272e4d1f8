"""Evaluate the newest model offline against a popularity baseline, and gate it before publishing.

The interactions are split per user (``evaluate.split``: random, or time = each
user's latest interactions held out); a model with the newest registered
model's settings is fit on the training part, and its top-k lists and the
popularity baseline's, already-seen items excluded, are scored on the held-out
part (reclake/model/metrics.py) for about ``evaluate.max_users`` of its users:
accuracy at k, and beyond it coverage, popularity, diversity, novelty and
serendipity. The gate then approves the model only if, on
``evaluate.metric``@k, it beats the baseline by ``baseline_margin`` and is no more
than ``tolerance`` below the last published model's recorded value; otherwise
the model is marked rejected and the job fails naming the metric and both
values, so ``recommend`` and ``publish`` never see it. Metrics and status go to
the registry and a report to ``models/<version>/report.md``.

With a catalogue (the ``catalogue`` table validate writes) the lists' diversity is
also measured on content (``content_diversity``), and the cold-start paths are
evaluated with one more ALS fit (reclake/model/coldstart.py): held-out new items
ranked through the content map against a random ranking, held-out new users
folded in against the popularity fallback. Without one, both are skipped.

    spark-submit jobs/evaluate.py --config conf/local.yaml
    reclake evaluate --config conf/movielens-100k.yaml --set evaluate.split=time
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession

from reclake.config import AlsSection, Config
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import MissingTableError, QualityGateFailed
from reclake.io import catalogue
from reclake.io.lakehouse import write_text
from reclake.io.tables import CATALOGUE, INTERACTIONS, ITEM_IDS
from reclake.model import registry, report
from reclake.model.evaluation import evaluate_model, evaluation_record
from reclake.model.gate import judge, new_status, summary_metrics
from reclake.runner import run_job


@dataclass
class EvaluateResult(StageResult):
    """The model evaluated, and the gate's one-line verdict."""

    model_version: str = ""
    gate: str = ""


def run(spark: SparkSession, config: Config, ctx: RunContext) -> EvaluateResult:
    """Read ``interactions``, ``item_ids``, ``catalogue`` (if configured) and the registry's newest model;
    write its status and metrics to ``model_registry`` and ``models/<version>/report.md``."""
    root, settings = config.lakehouse.root, config.evaluate
    entry = registry.latest_entry(spark, root)
    if entry is None:
        raise MissingTableError("no model in the model registry: run `reclake train` first")
    version, k = entry["model_version"], settings.k
    spark.sparkContext.setCheckpointDir(config.checkpoint_dir)
    interactions = catalogue.read(spark, root, INTERACTIONS)
    item_ids = catalogue.read(spark, root, ITEM_IDS)
    items = catalogue.read(spark, root, CATALOGUE) if config.catalogue is not None else None
    params = AlsSection.model_validate(entry["params"])
    found = evaluate_model(interactions, item_ids, items, params, settings, config.recommend)
    previous = registry.latest_published(spark, root, exclude=version)
    verdict = judge(found.model, found.baseline, previous, settings)
    metrics = evaluation_record(found, verdict, previous, settings)
    registry.set_status(spark, root, version, new_status(verdict, entry["status"]), metrics)
    text, svgs = report.render(entry, metrics, previous, verdict.refusals, found.figures)
    folder = registry.model_dir(root, version)
    for name, content in {"report.md": text, **svgs}.items():
        write_text(spark, f"{folder}/{name}", content)
    counts = {**found.rows, "users": int(found.model["users"])}
    measured = summary_metrics(found.model, found.baseline, found.cold_start, k)
    if not verdict.approved:
        message = f"model {version} rejected: {'; '.join(verdict.refusals)} (report: {folder}/report.md)"
        raise QualityGateFailed(message, counts=counts, metrics=measured)
    return EvaluateResult(
        counts=counts,
        metrics=measured,
        tables={"report": f"{folder}/report.md"},
        note=f"approved: {verdict.summary}",
        model_version=version,
        gate=verdict.summary,
    )


STAGE = Stage("evaluate", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake evaluate", __doc__.splitlines()[0], [STAGE], argv)
