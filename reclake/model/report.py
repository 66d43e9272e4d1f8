"""The per-run evaluation report: Markdown with SVG bar charts beside it, browsable in any git host or editor.

The figures come from small Spark aggregations (histograms, deciles, a top-10),
never from collecting lists; the charts are plain SVG written here, so the
report needs no plotting library.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reclake.constants import ITEM_ID, ITEM_IDX, SCORE, USER_IDX
from reclake.frames import one_row, with_positions
from reclake.model.metrics import RANKING_METRICS

HISTORY_EDGES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
COLOURS = ("#4e79a7", "#f28e2b", "#59a14f")
# The metrics table's rows, in order (reclake/model/metrics.py defines each).
REPORTED_METRICS = (
    *RANKING_METRICS,
    "coverage",
    "distributional_coverage",
    "avg_popularity",
    "novelty",
    "diversity",
    "serendipity",
)

# ---------------------------------------------------------------- aggregations (small results only)


def score_histogram(top_k: DataFrame, bins: int = 20) -> list[tuple[str, int]]:
    """(bucket label, count) of the recommended items' scores, ``bins`` equal-width buckets."""
    low, high = one_row(top_k.agg(F.min(SCORE), F.max(SCORE)))
    if low is None:
        return []
    width = (high - low) / bins or 1.0
    bucket = F.least(F.floor((F.col(SCORE) - F.lit(low)) / F.lit(width)), F.lit(bins - 1)).cast("int")
    counts: dict[int, int] = dict(top_k.groupBy(bucket.alias("b")).count().collect())
    return [(f"{low + b * width:.2f}", counts.get(b, 0)) for b in range(bins)]


def popularity_decile_share(top_k: DataFrame, train: DataFrame) -> list[float]:
    """Share of recommendation slots going to each decile of items by training popularity (1 = most popular).

    Deciles as SQL's ``ntile(10)``: with n items, the first n % 10 deciles hold one item more.
    """
    return decile_share(top_k, popularity_deciles(train))


def decile_share(top_k: DataFrame, deciles: DataFrame) -> list[float]:
    """:func:`popularity_decile_share` on deciles already computed (:func:`popularity_deciles`), one query."""
    counts: dict[int, int] = dict(top_k.join(deciles, ITEM_IDX).groupBy("decile").count().collect())
    total = sum(counts.values()) or 1
    return [counts.get(d, 0) / total for d in range(1, 11)]


def popularity_deciles(train: DataFrame) -> DataFrame:
    """(item_idx, decile): each training item's decile by popularity (1 = most popular), as SQL's ``ntile(10)``.

    Its positions are checkpointed (:func:`~reclake.frames.with_positions`): compute it once for every list.
    """
    per_item = train.groupBy(ITEM_IDX).agg(F.count(F.lit(1)).alias("_n"))
    ranked = with_positions(per_item, [F.col("_n").desc(), F.col(ITEM_IDX)], "_pos")
    items = per_item.count()
    size, extra = divmod(items, 10)
    # Positions below `big` fall in the first `extra` deciles of size+1, the rest in deciles of `size`.
    big = extra * (size + 1)
    decile = (
        F.when(F.col("_pos") < big, F.floor(F.col("_pos") / (size + 1)))
        .otherwise(F.lit(extra) + F.floor((F.col("_pos") - big) / max(size, 1)))
        .cast("int")
        + 1
    )
    return ranked.select(ITEM_IDX, decile.alias("decile"))


def most_recommended(top_k: DataFrame, item_ids: DataFrame, n: int = 10) -> list[tuple[str, int, float]]:
    """(item_id, times recommended, share of users) for the ``n`` items recommended most often."""
    users = top_k.select(USER_IDX).distinct().count() or 1
    counts = top_k.groupBy(ITEM_IDX).count().orderBy(F.col("count").desc(), ITEM_IDX).limit(n)
    rows = counts.join(item_ids, ITEM_IDX).orderBy(F.col("count").desc(), ITEM_IDX).collect()
    return [(r[ITEM_ID], r["count"], r["count"] / users) for r in rows]


def history_lengths(train: DataFrame) -> list[tuple[str, int]]:
    """(bucket label, users) of training interactions per user, on roughly logarithmic buckets."""
    n = F.count(F.lit(1))
    per_user = train.groupBy(USER_IDX).agg(n.alias("_n"))
    bucket = F.lit(len(HISTORY_EDGES) - 1)
    for i in reversed(range(len(HISTORY_EDGES) - 1)):
        bucket = F.when(F.col("_n") < HISTORY_EDGES[i + 1], F.lit(i)).otherwise(bucket)
    counts: dict[int, int] = dict(per_user.groupBy(bucket.alias("b")).count().collect())
    labels = [f"{lo}-{hi - 1}" if hi - 1 > lo else f"{lo}" for lo, hi in zip(HISTORY_EDGES, HISTORY_EDGES[1:])]
    labels.append(f"{HISTORY_EDGES[-1]}+")
    return [(label, counts.get(i, 0)) for i, label in enumerate(labels)]


# ---------------------------------------------------------------- rendering


def svg_bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], y_label: str) -> str:
    """A grouped bar chart as a standalone SVG document."""
    width, height, left, bottom, top = 640, 300, 60, 60, 30
    plot_w, plot_h = width - left - 20, height - top - bottom
    peak = max((v for values in series.values() for v in values), default=0) or 1.0
    group_w = plot_w / max(1, len(labels))
    bar_w = group_w * 0.8 / max(1, len(series))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="10">',
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak:.3g}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
        f'<text x="14" y="{top + plot_h / 2}" transform="rotate(-90 14 {top + plot_h / 2})" text-anchor="middle">'
        f"{html.escape(y_label)}</text>",
    ]
    for s, (name, values) in enumerate(series.items()):
        colour = COLOURS[s % len(COLOURS)]
        for i, value in enumerate(values):
            h = plot_h * value / peak
            x = left + i * group_w + group_w * 0.1 + s * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}"/>'
            )
        parts.append(f'<rect x="{left + 10 + 110 * s}" y="{height - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{left + 24 + 110 * s}" y="{height - 5}">{html.escape(name)}</text>')
    for i, label in enumerate(labels):
        x = left + (i + 0.5) * group_w
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{html.escape(str(label))}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def content_map_lines(content_map: Mapping[str, Any]) -> list[str]:
    """What the content map chose per feature group (a ridge penalty, or off) and its held-out score."""
    rows = [
        [group, chosen["features"], "off" if chosen["reg_param"] is None else f"on, ridge {chosen['reg_param']:g}"]
        for group, chosen in content_map["groups"].items()
    ]
    return [
        f"The content map, chosen by {content_map['folds']}-fold cross-validation on the trained items: held-out "
        f"R² of the mapped factors {content_map['held_out_r2']:.4f} (1 = the real factors, 0 = their mean).",
        "",
        _table(["feature group", "features", "chosen"], rows),
        "",
    ]


def _cold_start_lines(cold_start: Mapping[str, Any] | None, k: int) -> list[str]:
    """The cold-start section (reclake/model/coldstart.py), or nothing without a catalogue."""
    if not cold_start:
        return []
    items, users = cold_start["new_items"], cold_start["new_users"]
    share = f"{cold_start['share']:.0%}"
    return [
        "## Cold start",
        "",
        f"New items ({items['items']} items, {share} of those with content, held out of training with all their "
        f"interactions; {items['users']} users): each user's top {k} among them through the content map, "
        "against a random ranking of the same items. Recall = hits / min(relevant, k).",
        "",
        _table(
            ["new items", f"recall@{k}", f"ndcg@{k}"],
            [
                ["content map", items["recall"], items["ndcg"]],
                ["random ranking", items["random_recall"], items["random_ndcg"]],
            ],
        ),
        "",
        *content_map_lines(cold_start["content_map"]),
        f"New users ({users['users']} users, {share} held out of training; half of each one's interactions folded "
        "in, the other half scored):",
        "",
        _table(
            ["new users", f"precision@{k}", f"ndcg@{k}"],
            [
                ["fold-in", users["precision"], users["ndcg"]],
                ["popularity fallback", users["popular_precision"], users["popular_ndcg"]],
            ],
        ),
        "",
    ]


def render(
    entry: Mapping[str, Any],
    metrics: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    decision: Sequence[str],
    figures: Mapping[str, Any],
) -> tuple[str, dict[str, str]]:
    """(report.md text, {file name: SVG}) for one evaluated model."""
    k, model, base = metrics["k"], metrics["model"], metrics["popularity"]
    prev = (previous or {}).get("metrics") or {}
    prev_model = prev.get("model", {}) if prev.get("k") == k else {}
    rows = []
    # content_diversity: measured only with a catalogue.
    for name in [*REPORTED_METRICS, *(["content_diversity"] if "content_diversity" in model else [])]:
        lift = (model[name] / base[name] - 1) if base[name] else float("nan")
        row = [
            f"{name}@{k}" if name in RANKING_METRICS else name,
            model[name],
            base[name],
            f"{lift:+.1%}",
        ]
        row += [prev_model[name], f"{model[name] - prev_model[name]:+.4f}"] if name in prev_model else ["-", "-"]
        rows.append(row)
    verdict = "APPROVED" if not decision else "REJECTED"
    previous_name = f"previous published model {previous['model_version']}" if previous else "previous published model"
    svgs = {
        "score_distribution.svg": svg_bars(
            f"Scores of the model's top-{k} items (held-out users)",
            [label for label, _ in figures["scores"]],
            {"recommendations": [c for _, c in figures["scores"]]},
            "recommendations",
        ),
        "popularity_bias.svg": svg_bars(
            "Share of recommendations by item popularity decile (1 = most popular)",
            [str(d) for d in range(1, 11)],
            {"model": figures["model_deciles"], "popularity baseline": figures["baseline_deciles"]},
            "share of slots",
        ),
        "history_lengths.svg": svg_bars(
            "Users per training history length",
            [label for label, _ in figures["history"]],
            {"users": [c for _, c in figures["history"]]},
            "users",
        ),
    }
    split = metrics["split"]
    lines = [
        f"# Evaluation of model {entry['model_version']}: {verdict}",
        "",
        f"- run: {entry.get('run_id')} ({entry.get('run_date')}), code {entry.get('code_version')}",
        f"- data: {json.dumps(entry.get('data_snapshot'), sort_keys=True, default=str)}",
        f"- params: {json.dumps(entry.get('params'), sort_keys=True)}",
        f"- split: {split['kind']}, {split['test_ratio']:.0%} of each user's interactions held out (seed {split['seed']}); "
        f"{split['train_rows']} training rows, {split['test_rows']} test rows, {model['users']} users evaluated; "
        "already-seen items excluded from every list",
        "",
        "## Metrics",
        "",
        _table(["metric", "model", "popularity baseline", "lift", previous_name, "change"], rows),
        "",
        "Beyond accuracy: novelty is the mean self-information of recommended items (bits), "
        "distributional_coverage the entropy of the recommendation slots (bits); diversity (within a list) "
        "and serendipity (unexpected given the user's history, times held-out relevance) use the cosine "
        "of the model's item factors for both columns. Definitions: reclake/model/metrics.py.",
        "",
        "## Quality gate",
        "",
        *([f"- refused: {reason}" for reason in decision] or [f"- passed: {metrics['gate']['summary']}"]),
        "",
        *_cold_start_lines(metrics.get("cold_start"), k),
    ]
    tuning = entry.get("tuning")
    if tuning:
        trial_keys = list(tuning["trials"][0]) if tuning["trials"] else []
        lines += [
            f"## Tuning ({tuning['metric']} on a validation split of the training part)",
            "",
            f"Winner: {json.dumps(tuning['best'], sort_keys=True)}",
            "",
            _table(trial_keys, [[t[key] for key in trial_keys] for t in tuning["trials"]]),
            "",
        ]
    lines += [
        "## Score distribution",
        "",
        "![score distribution](score_distribution.svg)",
        "",
        "## Popularity bias: how often items are recommended",
        "",
        "![popularity bias](popularity_bias.svg)",
        "",
        "Items recommended most often (model):",
        "",
        _table(["item_id", "times recommended", "share of users"], figures["top_items"]),
        "",
        "## Users per history length",
        "",
        "![history lengths](history_lengths.svg)",
        "",
    ]
    return "\n".join(lines), svgs


def figures(model_lists: DataFrame, baseline_lists: DataFrame, train: DataFrame, item_ids: DataFrame) -> dict[str, Any]:
    """Every figure the report draws, as small Python lists."""
    deciles = popularity_deciles(train)  # ranked once for both lists
    return {
        "scores": score_histogram(model_lists),
        "model_deciles": decile_share(model_lists, deciles),
        "baseline_deciles": decile_share(baseline_lists, deciles),
        "top_items": most_recommended(model_lists, item_ids),
        "history": history_lengths(train),
    }
