"""The whole pipeline at 1M, 5M and 20M raw events: time, memory and shuffle per stage, and how each grows.

For each scale, in a fresh lakehouse: ``reclake run`` generates synthetic events
(CSV, the default input) and runs every stage in one Spark application, with
Spark's event log on. Per stage this records wall time (the run's ``--json``),
shuffle bytes read and written and the rows it wrote (from the event log: every
Spark job carries its stage's name as its job group), and the run's peak memory
(the summed RSS of the driver JVM and Python workers, sampled every 0.2 s).
Optionally (``--next-day-events``) a second day lands in the largest lakehouse
and runs incrementally, which is what a daily job costs once history has grown.

Prints a Markdown table (paste it into bench/README.md) and writes a log-log plot
of stage time against interactions, ``bench/scale.png``.

    python bench/bench_scale.py                                # 1M, 5M, 20M
    python bench/bench_scale.py --events 1000000 --plot /tmp/scale.png   # one quick scale
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml
from measure import PeakRss

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("generate", "validate", "prepare", "train", "evaluate", "recommend", "publish")
EVENTS_PER_USER = 18.7  # the generator's mean at mean_items_per_user 14 (views, carts, purchases): measured
FIRST_DAY = "2026-11-23"


def catalogue_size(events: int) -> tuple[int, int]:
    """(users, items) for about ``events`` raw events: 1M users x 100k items at 20M."""
    users = max(1000, round(events / EVENTS_PER_USER))
    return users, max(200, min(100_000, users // 10))


def scale_config(workdir: Path, events: int, args: argparse.Namespace, store: str | None = None) -> Path:
    """A config file for one scale: one folder per day of landing data, sizes for the machine.

    The landing folders and the lakehouse go under ``store`` (a URI such as ``s3a://bucket``), by default
    ``workdir``; the config file and the event log stay in ``workdir``.
    """
    users, items = catalogue_size(events)
    store = store or str(workdir)
    config = {
        "input": {"path": f"{store}/landing/date={{run_date}}", "generate_if_missing": True},
        "lakehouse": {"root": f"{store}/lakehouse"},
        "generate": {
            "users": users,
            "items": items,
            "clusters": 32,
            "mean_items_per_user": 14.0,
            "days": 1,
            "partitions": max(4, events // 500_000),
        },
        "prepare": {"log_scaling": True},
        "als": {"rank": args.rank, "max_iter": args.max_iter, "alpha": 2.0},
        "spark": {
            "driver_memory": args.driver_memory,
            "shuffle_partitions": max(8, events // 1_000_000 * 2),
            "conf": {"spark.eventLog.compress": "false"},
        },
        "monitoring": {"event_log_dir": str(workdir / "eventlog")},
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_pipeline(config: Path, run_date: str, log: Path, env: dict[str, str] | None = None) -> tuple[dict, float]:
    """``reclake run --json`` in a child process (with ``env`` added to this process's environment): (its
    summary, peak RSS in GiB of this process's tree)."""
    command = [sys.executable, "-m", "reclake.cli", "run", "--config", str(config), "--run-date", run_date, "--json"]
    with PeakRss() as rss, log.open("w") as err:
        done = subprocess.run(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            check=False,
            env={**os.environ, **(env or {})},
        )
    if done.returncode != 0:
        raise SystemExit(f"reclake run failed ({done.returncode}); see {log}")
    return json.loads(done.stdout.strip().splitlines()[-1]), rss.peak / 2**30


def shuffle_and_output_per_stage(event_log_dir: Path) -> dict[str, dict[str, int]]:
    """From the newest event log: per reclake stage (the Spark job group), shuffle bytes read/written, rows written."""
    log = max(event_log_dir.iterdir(), key=lambda p: p.stat().st_mtime)
    # Spark 4 rolls event logs: a folder of events_<n>_<app> files, in order.
    files = sorted(log.glob("events_*"), key=lambda p: int(p.name.split("_")[1])) if log.is_dir() else [log]
    group_of_spark_stage: dict[int, str] = {}
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for file in files:
        for line in file.read_text().splitlines():
            event = json.loads(line)
            kind = event["Event"]
            if kind == "SparkListenerJobStart":
                group = (event.get("Properties") or {}).get("spark.jobGroup.id", "other")
                for stage_id in event["Stage IDs"]:
                    group_of_spark_stage[stage_id] = group
            elif kind == "SparkListenerTaskEnd" and event.get("Task Metrics"):
                metrics, group = event["Task Metrics"], group_of_spark_stage.get(event["Stage ID"], "other")
                read = metrics.get("Shuffle Read Metrics", {})
                totals[group]["shuffle_read"] += read.get("Remote Bytes Read", 0) + read.get("Local Bytes Read", 0)
                totals[group]["shuffle_written"] += metrics.get("Shuffle Write Metrics", {}).get(
                    "Shuffle Bytes Written", 0
                )
                totals[group]["rows_written"] += metrics.get("Output Metrics", {}).get("Records Written", 0)
    return {group: dict(values) for group, values in totals.items()}


def measure(
    workdir: Path, events: int, args: argparse.Namespace, store: str | None = None, env: dict[str, str] | None = None
) -> dict:
    """One scale in a fresh ``workdir``: landing data and lakehouse under ``store`` (default ``workdir``), the
    run's process with ``env`` added (e.g. the AWS_* variables of an S3 store)."""
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "eventlog").mkdir(parents=True)
    config = scale_config(workdir, events, args, store)
    summary, peak = run_pipeline(config, FIRST_DAY, workdir / "run.log", env)
    row = {
        "target_events": events,
        "raw_events": summary["counts"]["validate"]["raw_rows"],
        "pairs": summary["counts"]["prepare"]["pairs"],
        "users": summary["counts"]["prepare"]["users"],
        "items": summary["counts"]["prepare"]["items"],
        "seconds": {stage: summary["timings_s"].get(stage) for stage in (*STAGES, "total")},
        "peak_rss_gib": round(peak, 2),
        "spark": shuffle_and_output_per_stage(workdir / "eventlog"),
    }
    if args.next_day_events and events == max(args.events):
        row["next_day"] = next_day(workdir, config, args.next_day_events)
    return row


def next_day(workdir: Path, config: Path, events: int) -> dict:
    """Land a second day of about ``events`` events and run it: the daily job's cost on a grown history."""
    settings = yaml.safe_load(config.read_text())
    settings["generate"].update({"users": catalogue_size(events)[0], "seed": 7})
    # Day 1 was the bulk load of the whole history: a normal day is a few percent of it, not a volume drop.
    settings["validation"] = {"min_volume_ratio": 0.01}
    config.write_text(yaml.safe_dump(settings))
    summary, peak = run_pipeline(config, "2026-11-24", workdir / "run-day2.log")
    return {"raw_events": summary["counts"]["validate"]["raw_rows"], "seconds": summary["timings_s"], "peak": peak}


def markdown(rows: list[dict]) -> str:
    header = "| raw events | pairs | users x items | " + " | ".join(STAGES) + " | total | evaluate / train | peak RSS |"
    lines = [header, "|" + "---|" * (len(STAGES) + 6)]
    for row in rows:
        s = row["seconds"]
        ratio = s["evaluate"] / s["train"] if s.get("train") else float("nan")
        cells = [f"{s.get(stage) or 0:.0f}" for stage in (*STAGES, "total")]
        lines.append(
            f"| {row['raw_events']:,} | {row['pairs']:,} | {row['users']:,} x {row['items']:,} | "
            + " | ".join(cells)
            + f" | {ratio:.2f} | {row['peak_rss_gib']:.1f} GiB |"
        )
    lines += ["", "| raw events | stage | shuffle read | shuffle written | rows written |", "|---|---|---|---|---|"]
    for row in rows:
        for stage in STAGES:
            spark = row["spark"].get(stage, {})
            lines.append(
                f"| {row['raw_events']:,} | {stage} | {spark.get('shuffle_read', 0) / 2**20:,.0f} MiB | "
                f"{spark.get('shuffle_written', 0) / 2**20:,.0f} MiB | {spark.get('rows_written', 0):,} |"
            )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    pairs = [row["pairs"] for row in rows]
    for stage in STAGES:
        ax.plot(pairs, [row["seconds"].get(stage) or float("nan") for row in rows], marker="o", label=stage)
    if len(rows) > 1:  # a line of slope 1 through the first validate point: linear growth
        first = rows[0]["seconds"]["validate"]
        ax.plot(pairs, [first * p / pairs[0] for p in pairs], "k:", label="linear")
    ax.set(xscale="log", yscale="log", xlabel="interactions (user-item pairs)", ylabel="stage wall time (s)")
    ax.set_title("reclake run, 2 cores: stage time against interactions")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--driver-memory", default="12g")
    parser.add_argument("--next-day-events", type=int, default=1_000_000, help="0: no second day")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/reclake-bench-scale"))
    parser.add_argument("--plot", type=Path, default=ROOT / "bench" / "scale.png")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    rows = []
    for events in sorted(args.events):
        started = time.perf_counter()
        rows.append(measure(args.workdir / f"e{events}", events, args))
        print(f"{events:,} events: {time.perf_counter() - started:.0f} s", json.dumps(rows[-1]), flush=True)
    (args.workdir / "results.json").write_text(json.dumps(rows, indent=1))
    print(markdown(rows))
    for row in rows:
        if "next_day" in row:
            day = row["next_day"]
            print(f"next day: {day['raw_events']:,} new events on {row['raw_events']:,} of history: {day['seconds']}")
    plot(rows, args.plot)
    print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
