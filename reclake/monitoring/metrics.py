"""A run's Prometheus metrics, built from its ``--json`` summary once the job has finished.

Stages know nothing of Prometheus: :func:`publish_metrics`, called by the runtime
at the end of every job, turns the summary (counts, metrics, timings, tables, the
failed stage) into gauges with ``prometheus_client``, writes them in the text
format for node_exporter's textfile collector (``<textfile_dir>/reclake.prom``,
the latest run; ``<textfile_dir>/runs/<run_id>.prom``, every run) and, when
``monitoring.pushgateway_url`` is set, pushes them to a Pushgateway, one group per
job and stage. The names and labels are listed in docs/monitoring.md.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway, write_to_textfile
from prometheus_client.exposition import basic_auth_handler, default_handler
from prometheus_client.parser import text_string_to_metric_families

from reclake.config import Config
from reclake.errors import ConfigError
from reclake.uris import local_folder

log = logging.getLogger(__name__)

# Pushgateway basic-auth credentials: from the environment only, never from the config or the URL.
USERNAME_ENV, PASSWORD_ENV = "RECLAKE_PUSHGATEWAY_USERNAME", "RECLAKE_PUSHGATEWAY_PASSWORD"
LATEST_FILE = "reclake.prom"  # the name node_exporter's textfile collector reads; runs/ is not read by it
_BASELINE_PREFIX = "baseline_"

# name -> (help, label names). Every gauge a run can produce; docs/monitoring.md lists the same.
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reclake_stage_duration_seconds": ("Wall-clock seconds the stage took in the latest run.", ("stage",)),
    "reclake_stage_success": ("1 if the stage succeeded in the latest run, 0 if it failed.", ("stage",)),
    "reclake_stage_rows": (
        "Rows the stage counted in the latest run, by kind (raw_rows, pairs, ...).",
        ("stage", "kind"),
    ),
    "reclake_last_success_timestamp_seconds": ("Unix time the stage last succeeded.", ("stage",)),
    "reclake_quarantined_rows": ("Rows the validate stage quarantined for breaking the rule.", ("rule",)),
    "reclake_quarantine_share_limit": ("validation.max_quarantine_share: the batch gate on quarantined rows.", ()),
    "reclake_model_metric": (
        "Offline quality of the candidate model and the popularity baseline.",
        ("model", "metric"),
    ),
    "reclake_gate_approved": ("1 if the quality gate approved the latest evaluated model, 0 if it rejected it.", ()),
    "reclake_recommendations": ("Recommendations staged in the latest run, by source (als, popular).", ("source",)),
    "reclake_published_rows": ("Rows published for the run date, by table.", ("table",)),
    "reclake_published_table_version": ("Delta table version the latest publish committed, by table.", ("table",)),
}


@dataclass(frozen=True)
class Sample:
    """One value of one gauge, and the stage whose Pushgateway group carries it."""

    stage: str
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


def samples(summary: Mapping[str, Any], config: Config, now: float) -> list[Sample]:
    """Every gauge value of one finished job, from its summary."""
    out: list[Sample] = []

    def add(group: str, name: str, value: float, /, **labels: str) -> None:
        out.append(Sample(group, name, tuple(labels.items()), float(value)))

    timings, failed = summary.get("timings_s", {}), summary.get("failed_stage")
    for stage, seconds in timings.items():
        if stage == "total":
            continue
        add(stage, "reclake_stage_duration_seconds", seconds, stage=stage)
        add(stage, "reclake_stage_success", 1, stage=stage)
        add(stage, "reclake_last_success_timestamp_seconds", now, stage=stage)
    if failed:
        add(failed, "reclake_stage_success", 0, stage=failed)
    for stage, counts in summary.get("counts", {}).items():
        for kind, value in counts.items():
            if "." not in kind:
                add(stage, "reclake_stage_rows", value, stage=stage, kind=kind)
            elif stage == "validate" and kind.startswith("rule."):
                add(stage, "reclake_quarantined_rows", value, rule=kind.removeprefix("rule."))
            elif stage == "recommend" and kind.startswith("rows."):
                add(stage, "reclake_recommendations", value, source=kind.removeprefix("rows."))
    if "validate" in timings or failed == "validate":
        add("validate", "reclake_quarantine_share_limit", config.validation.max_quarantine_share)
    for metric, value in summary.get("metrics", {}).get("evaluate", {}).items():
        model = "baseline" if metric.startswith(_BASELINE_PREFIX) else "candidate"
        add("evaluate", "reclake_model_metric", value, model=model, metric=metric.removeprefix(_BASELINE_PREFIX))
    if "evaluate" in timings or failed == "evaluate":
        add("evaluate", "reclake_gate_approved", "evaluate" in timings)
    for table, commit in summary.get("published", {}).items():
        add("publish", "reclake_published_rows", commit["rows"], table=table)
        if "version" in commit:  # a Delta table (the BigQuery sink has none)
            add("publish", "reclake_published_table_version", commit["version"], table=table)
    return out


def registry(values: Sequence[Sample]) -> CollectorRegistry:
    """A fresh registry holding ``values`` as gauges (only the gauges that have a value)."""
    reg = CollectorRegistry()
    gauges: dict[str, Gauge] = {}
    for sample in values:
        if sample.name not in gauges:
            help_text, label_names = METRICS[sample.name]
            gauges[sample.name] = Gauge(sample.name, help_text, label_names, registry=reg)
        gauge = gauges[sample.name]
        (gauge.labels(**dict(sample.labels)) if sample.labels else gauge).set(sample.value)
    return reg


def textfile_dir(config: Config) -> Path | None:
    """``monitoring.textfile_dir``, else ``<lakehouse>/_metrics`` for a local lakehouse; None: no files."""
    if config.monitoring.textfile_dir is not None:
        return local_folder(config.monitoring.textfile_dir)
    root = local_folder(config.lakehouse.root)
    return root / "_metrics" if root is not None else None


def previous_last_success(path: Path) -> list[Sample]:
    """The last-success times in an earlier latest file, so a failed stage keeps its last success."""
    if not path.exists():
        return []
    return [
        Sample(point.labels["stage"], family.name, (("stage", point.labels["stage"]),), point.value)
        for family in text_string_to_metric_families(path.read_text())
        if family.name == "reclake_last_success_timestamp_seconds"
        for point in family.samples
    ]


def write_textfiles(values: Sequence[Sample], folder: Path, run_id: str) -> Path:
    """``runs/<run_id>.prom`` (this run) and ``reclake.prom`` (the latest, last successes carried over); its path."""
    run_file = folder / "runs" / f"{run_id}.prom"
    run_file.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(run_file), registry(values))
    latest = folder / LATEST_FILE
    succeeded = {s.stage for s in values if s.name == "reclake_last_success_timestamp_seconds"}
    kept = [s for s in previous_last_success(latest) if s.stage not in succeeded]
    write_to_textfile(str(latest), registry([*values, *kept]))
    return run_file


def auth_handler() -> Callable[..., Callable[[], None]]:
    """Basic auth when both credentials are in the environment, none when neither is."""
    username, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if username is None and password is None:
        return default_handler
    if username is None or password is None:
        raise ConfigError(f"set both {USERNAME_ENV} and {PASSWORD_ENV} for the Pushgateway, or neither")

    def handler(url: str, method: str, timeout: float | None, headers: list, data: bytes) -> Callable[[], None]:
        return basic_auth_handler(url, method, timeout, headers, data, username, password)

    return handler


def by_stage(values: Sequence[Sample]) -> Iterator[tuple[str, list[Sample]]]:
    """The values of each stage's Pushgateway group, stages in run order."""
    for stage in dict.fromkeys(s.stage for s in values):
        yield stage, [s for s in values if s.stage == stage]


def push(values: Sequence[Sample], url: str, job: str, timeout: float) -> None:
    """One group per stage, ``{job, stage}``; POST replaces only the gauges pushed, so a failed stage keeps its last success."""
    handler = auth_handler()
    for stage, group in by_stage(values):
        pushadd_to_gateway(url, job, registry(group), {"stage": stage}, timeout=timeout, handler=handler)


def publish_metrics(summary: Mapping[str, Any], config: Config) -> dict[str, str]:
    """Write (and push) the finished job's metrics; the ``reports`` entries of the summary.

    Monitoring must not fail a run: a file or push that fails is logged as a warning.
    """
    settings = config.monitoring
    if not settings.metrics:
        return {}
    values = samples(summary, config, time.time())
    reports: dict[str, str] = {}
    folder = textfile_dir(config)
    if folder is not None:
        try:
            reports["metrics"] = str(write_textfiles(values, folder, summary["run_id"]))
        except OSError as exc:
            log.warning("could not write the metrics under %s: %s", folder, exc)
    if settings.pushgateway_url is not None:
        job = summary["job"].replace(" ", "_")  # "reclake run" -> reclake_run
        try:
            push(values, settings.pushgateway_url, job, settings.push_timeout_s)
        except (OSError, ConfigError) as exc:
            log.warning("could not push the metrics to %s: %s", settings.pushgateway_url, exc)
    return reports
