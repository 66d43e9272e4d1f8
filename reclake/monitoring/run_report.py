"""A run's HTML report: one self-contained page with matplotlib plots, for the person on call.

Built by the runtime once the stages (and their finish hooks) have run, succeeded
or failed: the ``--json`` summary gives the timings, volumes, validation rules and
model metrics; small Spark aggregations add the recommendation statistics (over
the staged recommendations) and the model registry the quality of earlier models.
Every figure is a PNG data URI and the style is inline, so the page needs no
network: it opens from a mail attachment or an artifact store as it is.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from reclake.config import Config
from reclake.constants import ITEM_ID, ITEM_IDX, MODEL_VERSION, SCORE
from reclake.io import catalogue
from reclake.io.lakehouse import write_text
from reclake.io.tables import INTERACTIONS, ITEM_IDS, MODEL_REGISTRY, RUNS, STAGED_RECOMMENDATIONS
from reclake.model.report import popularity_decile_share, score_histogram
from reclake.uris import join_uri, path_segment

log = logging.getLogger(__name__)

REPORTS_FOLDER = "_reports"  # under the lakehouse, for runs that evaluated no model
HISTORY_MODELS = 30  # earlier models shown in the quality-over-time plot
RECENT_RUNS = 10
SECTIONS = (
    "Stage timings",
    "Volumes through the pipeline",
    "Validation results by rule",
    "Model metrics vs baseline",
    "Model quality over time",
    "Recommendation statistics",
)
COLOURS = {"model": "#4e79a7", "baseline": "#f28e2b", "other": "#59a14f"}
# The pipeline's row counts in flow order: (stage, count name, label).
VOLUMES = (
    ("validate", "raw_rows", "raw events"),
    ("validate", "valid_rows", "valid events"),
    ("validate", "quarantined_rows", "quarantined"),
    ("prepare", "pairs", "user-item pairs"),
    ("evaluate", "train_rows", "evaluation train"),
    ("evaluate", "test_rows", "evaluation test"),
    ("recommend", "rows", "recommendations"),
    ("publish", "rows", "published"),
)


@dataclass
class RecommendationStats:
    """The staged recommendations in numbers: the figures of the last section."""

    scores: list[tuple[str, int]]
    popularity_deciles: list[float]
    coverage: float  # distinct recommended items / items known
    items_recommended: int


@dataclass
class ReportData:
    """What the page shows beyond the summary: read from the lakehouse."""

    models: list[dict[str, Any]] = field(default_factory=list)  # registry rows with metrics, oldest first
    runs: list[dict[str, Any]] = field(default_factory=list)  # the runs table, newest first
    recommendations: RecommendationStats | None = None


# ---------------------------------------------------------------- data (small Spark aggregations)


def recommendation_stats(spark: SparkSession, root: str) -> RecommendationStats | None:
    """Score histogram, popularity deciles and coverage of the staged recommendations; None if none are staged."""
    if not (catalogue.exists(spark, root, STAGED_RECOMMENDATIONS) and catalogue.exists(spark, root, ITEM_IDS)):
        return None
    item_ids = catalogue.read(spark, root, ITEM_IDS)
    staged_rows = catalogue.read(spark, root, STAGED_RECOMMENDATIONS)
    recommended = staged_rows.join(item_ids, ITEM_ID).select(ITEM_IDX, SCORE).persist()  # read by four aggregations
    interactions = catalogue.read(spark, root, INTERACTIONS)
    try:
        distinct_items = recommended.select(ITEM_IDX).distinct().count()
        return RecommendationStats(
            scores=score_histogram(recommended),
            popularity_deciles=popularity_decile_share(recommended, interactions),
            coverage=distinct_items / (item_ids.count() or 1),
            items_recommended=distinct_items,
        )
    finally:
        recommended.unpersist()


def report_data(spark: SparkSession, config: Config) -> ReportData:
    """The registry's evaluated models, the recent runs and the recommendation statistics."""
    root, data = config.lakehouse.root, ReportData()
    if catalogue.exists(spark, root, MODEL_REGISTRY):
        rows = (
            catalogue.read(spark, root, MODEL_REGISTRY)
            .where(F.col("metrics").isNotNull())
            .select(MODEL_VERSION, "created_at", "status", "metrics")
            .orderBy(F.col("created_at").desc())
            .limit(HISTORY_MODELS)
            .collect()
        )
        data.models = [{**row.asDict(), "metrics": json.loads(row["metrics"])} for row in reversed(rows)]
    if catalogue.exists(spark, root, RUNS):
        rows = (
            catalogue.read(spark, root, RUNS)
            .select("run_id", "run_date", "job", "status", "started_at", "finished_at", "error")
            .orderBy(F.col("started_at").desc())
            .limit(RECENT_RUNS)
            .collect()
        )
        data.runs = [row.asDict() for row in rows]
    data.recommendations = recommendation_stats(spark, root)
    return data


# ---------------------------------------------------------------- plots


def png(fig: Figure) -> str:
    """An ``<img>`` of the figure, the PNG inline as a data URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    title = html.escape(fig.axes[0].get_title()) if fig.axes else ""
    return f'<img alt="{title}" src="data:image/png;base64,{encoded}">'


def hbar(title: str, labels: Sequence[str], values: Sequence[float], x_label: str) -> str:
    """A horizontal bar chart, values written at the bars' ends."""
    fig = Figure(figsize=(7, 0.35 * len(labels) + 1.2))
    ax = fig.subplots()
    bars = ax.barh(list(labels), list(values), color=COLOURS["model"])
    ax.bar_label(bars, labels=[f"{v:,.4g}" for v in values], padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel(x_label)
    ax.set_xlim(0, (max(values, default=0) or 1) * 1.15)
    return png(fig)


def grouped_bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], y_label: str) -> str:
    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        positions = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
        ax.bar(positions, list(values), width, label=name, color=list(COLOURS.values())[i % len(COLOURS)])
    ax.set_xticks(range(len(labels)), list(labels), fontsize=8, rotation=45 if len(labels) > 10 else 0)
    ax.set_title(title)
    ax.set_ylabel(y_label)
    ax.legend(fontsize=8)
    return png(fig)


def quality_over_time(models: Sequence[Mapping[str, Any]], metric: str) -> str:
    """``metric`` of each evaluated model and of its popularity baseline, models in creation order."""
    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    positions = range(len(models))
    ax.plot(positions, [m["metrics"]["model"][metric] for m in models], "o-", color=COLOURS["model"], label="model")
    baseline = [m["metrics"]["popularity"][metric] for m in models]
    ax.plot(positions, baseline, "s--", color=COLOURS["baseline"], label="baseline")
    published = [(i, m["metrics"]["model"][metric]) for i, m in enumerate(models) if m["status"] == "published"]
    ax.scatter(
        [i for i, _ in published],
        [v for _, v in published],
        s=120,
        facecolors="none",
        edgecolors="black",
        label="published",
        zorder=3,
    )
    labels = [f"{m['created_at']:%m-%d %H:%M}" for m in models]
    ax.set_xticks(positions, labels, fontsize=8, rotation=30, ha="right")
    ax.set_xlim(-0.5, len(models) - 0.5)
    ax.set_title(f"{metric}@{models[-1]['metrics']['k']} of every evaluated model (by creation time, UTC)")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    return png(fig)


# ---------------------------------------------------------------- page

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { border: 1px solid #ddd; padding: 0.2em 0.6em; }
td.n { text-align: right; } .failed { color: #b00; } .empty { color: #777; font-style: italic; }
img { max-width: 100%; }
"""


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f'<td class="n">{value:.4f}</td>'
        if isinstance(value, int):
            return f'<td class="n">{value:,}</td>'
        return f"<td>{html.escape('' if value is None else str(value))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def empty(text: str) -> str:
    return f'<p class="empty">{html.escape(text)}</p>'


def timings_section(summary: Mapping[str, Any], data: ReportData) -> str:
    timings = {k: v for k, v in summary.get("timings_s", {}).items() if k != "total"}
    parts = [hbar("Seconds per stage", list(timings), list(timings.values()), "seconds")] if timings else []
    if data.runs:
        parts.append("<h3>Recent runs</h3>")
        parts.append(
            table(
                ["run id", "run date", "job", "status", "started", "finished", "error"],
                [
                    [r[k] for k in ("run_id", "run_date", "job", "status", "started_at", "finished_at", "error")]
                    for r in data.runs
                ],
            )
        )
    return "".join(parts) or empty("no stage ran")


def volumes_section(summary: Mapping[str, Any]) -> str:
    counts = summary.get("counts", {})
    steps = [(label, counts[stage][key]) for stage, key, label in VOLUMES if key in counts.get(stage, {})]
    if not steps:
        return empty("no stage of this run counted rows")
    return hbar("Rows through the pipeline", [s for s, _ in steps], [v for _, v in steps], "rows")


def validation_section(summary: Mapping[str, Any], config: Config) -> str:
    counts = summary.get("counts", {}).get("validate", {})
    rules = {k.removeprefix("rule."): v for k, v in counts.items() if k.startswith("rule.")}
    if not rules:
        return empty("this run did not validate a batch")
    share = counts.get("quarantined_rows", 0) / (counts.get("raw_rows") or 1)
    limit = config.validation.max_quarantine_share
    verdict = "within" if share <= limit else "above"
    return (
        f"<p>{counts.get('quarantined_rows', 0):,} of {counts.get('raw_rows', 0):,} rows quarantined "
        f"({share:.2%}), {verdict} the gate of {limit:.2%}. A row can break several rules.</p>"
        + hbar("Rows breaking each rule", list(rules), list(rules.values()), "rows")
    )


def metrics_section(summary: Mapping[str, Any]) -> str:
    evaluated = summary.get("metrics", {}).get("evaluate", {})
    names = [k for k in evaluated if not k.startswith("baseline_")]
    if not names:
        return empty("this run evaluated no model")
    ranking = [n for n in names if "@" in n and f"baseline_{n}" in evaluated]  # not the cold-start figures
    chart = grouped_bars(
        "Ranking metrics: model vs popularity baseline",
        ranking,
        {"model": [evaluated[n] for n in ranking], "baseline": [evaluated[f"baseline_{n}"] for n in ranking]},
        "value",
    )
    rows = [[n, evaluated[n], evaluated.get(f"baseline_{n}")] for n in names]
    gate = summary.get("gate") or summary.get("error") or ""
    return f"<p>{html.escape(str(gate))}</p>" + chart + table(["metric", "model", "popularity baseline"], rows)


def history_section(data: ReportData, config: Config) -> str:
    metric = config.evaluate.metric
    models = [m for m in data.models if metric in m["metrics"].get("model", {})]
    if not models:
        return empty("no evaluated model in the model registry yet")
    rows = [
        [
            m[MODEL_VERSION],
            m["created_at"],
            m["status"],
            m["metrics"]["model"][metric],
            m["metrics"]["popularity"][metric],
        ]
        for m in reversed(models)
    ]
    return quality_over_time(models, metric) + table(
        ["model", "created", "status", f"{metric} model", f"{metric} baseline"], rows
    )


def recommendations_section(summary: Mapping[str, Any], stats: RecommendationStats | None) -> str:
    counts = summary.get("counts", {}).get("recommend", {})
    sources = {k.removeprefix("rows."): v for k, v in counts.items() if k.startswith("rows.")}
    if stats is None or not sources:
        return empty("this run staged no recommendations")
    total = sum(sources.values()) or 1
    return (
        f"<p>{counts.get('rows', 0):,} recommendations for {counts.get('users', 0):,} users; "
        f"{stats.items_recommended:,} distinct items, coverage {stats.coverage:.1%} of the catalogue.</p>"
        + hbar("Share of recommendations per source", list(sources), [v / total for v in sources.values()], "share")
        + grouped_bars(
            "Share of recommendations by item popularity decile (1 = most popular)",
            [str(d) for d in range(1, 11)],
            {"recommendations": stats.popularity_deciles},
            "share of slots",
        )
        + grouped_bars(
            "Score distribution",
            [label for label, _ in stats.scores],
            {"recommendations": [n for _, n in stats.scores]},
            "recommendations",
        )
    )


def render(summary: Mapping[str, Any], data: ReportData, config: Config) -> str:
    """The whole page: a header with the run's outcome, then one section per entry of :data:`SECTIONS`."""
    status = summary.get("status", "unknown")
    bodies = (
        timings_section(summary, data),
        volumes_section(summary),
        validation_section(summary, config),
        metrics_section(summary),
        history_section(data, config),
        recommendations_section(summary, data.recommendations),
    )
    failure = (
        f'<p class="failed">failed in {html.escape(str(summary.get("failed_stage")))}: '
        f"{html.escape(str(summary.get('error')))}</p>"
        if status == "failed"
        else ""
    )
    sections = "".join(f"<h2>{title}</h2>{body}" for title, body in zip(SECTIONS, bodies))
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = f"{summary.get('job')} {summary.get('run_id')}: {status}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>run date {html.escape(str(summary.get('run_date')))}, "
        f"{summary.get('timings_s', {}).get('total', 0):.1f} s in total; generated {generated}</p>"
        f"{failure}{sections}</body></html>\n"
    )


def report_uri(summary: Mapping[str, Any], config: Config) -> str:
    """``run-<run_id>.html`` beside the evaluation's report.md, or under ``<lakehouse>/_reports``."""
    evaluated = summary.get("tables", {}).get("report")
    folder = evaluated.rsplit("/", 1)[0] if evaluated else join_uri(config.lakehouse.root, REPORTS_FOLDER)
    return join_uri(folder, f"run-{path_segment(summary['run_id'])}.html")


def write_run_report(spark: SparkSession, config: Config, summary: Mapping[str, Any]) -> str:
    """Gather, render and write the run's HTML report; its path or URI."""
    uri = report_uri(summary, config)
    write_text(spark, uri, render(summary, report_data(spark, config), config))
    return uri
