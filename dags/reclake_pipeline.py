"""reclake on Airflow 3: the daily pipeline, and a weekly retraining.

``reclake_daily`` runs, for its run date, ``check_config -> kafka_configured -> ingest ->
validate -> prepare -> retrain_due -> train -> evaluate -> recommend -> publish -> maintain``.
``kafka_configured`` skips ``ingest`` (events from Kafka, landed in the input folders) unless the
run's config has a ``kafka`` section; ``validate`` runs either way. Each job is a ``SparkSubmitOperator``
running ``jobs/<job>.py`` with ``--config {{ params.config }} --run-date <run date>
--set run.run_id={{ run_id }}`` plus one ``--set`` per entry of ``params.overrides``; the run
date is the logical date's, or for a run an Asset triggered (it has none) the date the
triggering event names (``extra.run_date``), else the day it was due (``run_date``).
``retrain_due`` skips the training jobs, and the latest model is reused, unless a retrain
is due (``params.retrain``: ``auto`` = no model yet, or the newest is older than
``params.max_model_age_days``; ``always``; ``never``). ``publish`` updates the
``reclake_recommendations`` Asset, which downstream DAGs can be scheduled on. ``maintenance_due`` skips
``maintain`` in a backfill's runs (the next daily run maintains the tables once).
``reclake_weekly_retrain`` runs the training jobs alone on the interactions the daily
pipeline prepared, so the daily one normally finds a fresh model and only recommends. It runs
weekly, and whenever an event of the ``reclake_retrain_requests`` Asset arrives (an operator's
"retrain now", from the UI or ``POST /api/v2/assets/events``, or an upstream DAG's outlet).

Every job is idempotent per run date (tables are overwritten, or replaced for the
date), so a retried task or a re-run day converges to the same tables; runs of a DAG
never overlap (``max_active_runs=1``), since the jobs share the lakehouse tables. Airflow 3 counts a
backfill's runs apart, against its own limit: create backfills with ``--max-active-runs 1``.

What a deployment provides (see docs/operations.md, "Orchestration with Airflow"):
  connection ``reclake_spark``   the Spark master, e.g. ``spark://host:7077`` (or ``local[2]``)
  variable ``reclake_py_files``  the artefact from ``make package``, shipped with --py-files
  variable ``reclake_alert_callback``  optional dotted path of a ``callable(context)`` for failures
  ``spark-submit`` on the PATH of the Airflow workers; ``RECLAKE_HOME`` when this file does
  not sit in the reclake checkout whose ``jobs/`` and ``conf/`` the workers should use;
  ``RECLAKE_CONFIG``, the YAML config runs load unless their conf names another (scheduled and
  asset-triggered runs have no conf; default ``conf/local.yaml`` of the checkout);
  optionally ``RECLAKE_DAILY_SCHEDULE`` and ``RECLAKE_RETRAIN_SCHEDULE`` (cron or preset, UTC;
  ``none``: only when triggered, or by the retrain Asset; defaults ``@daily``, ``@weekly``),
  ``RECLAKE_POOL``, the pool the tasks run in (default ``default_pool``), and
  ``RECLAKE_RETRY_DELAY_SECONDS``, the first retry's delay (default 120).

Nothing here touches Spark, the lakehouse or Airflow Variables at import time.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import (
    DAG,
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    Variable,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import AirflowFailException

from reclake import DELTA_PACKAGE, KAFKA_PACKAGE
from reclake.jvm import connectors_conf, driver_java_options
from reclake.objectstore import storage_packages

if TYPE_CHECKING:
    from reclake.config import Config

log = logging.getLogger(__name__)

# The reclake checkout (or release) on the Airflow workers: jobs/<job>.py and conf/.
HOME = Path(os.environ.get("RECLAKE_HOME") or Path(__file__).resolve().parents[1])
SPARK_CONN_ID = "reclake_spark"
PY_FILES_VARIABLE = "reclake_py_files"
ALERT_VARIABLE = "reclake_alert_callback"
OWNER = "reclake"
TAGS = ["reclake", "spark"]
# The config a run loads unless its conf names another: the deployment's (scheduled and asset-triggered runs have no conf).
CONFIG = os.environ.get("RECLAKE_CONFIG") or str(HOME / "conf" / "local.yaml")

# The table app teams read. Downstream DAGs: `schedule=[RECOMMENDATIONS]`; each event's
# extra names the run date and run id that were published.
RECOMMENDATIONS = Asset(name="reclake_recommendations", uri="reclake://lakehouse/recommendations")
# "Retrain now": each event starts a run of the retrain DAG; its extra may name the run date, {"run_date": "2026-11-20"}.
RETRAIN_REQUESTS = Asset(name="reclake_retrain_requests", uri="reclake://requests/retrain")

# The pipeline, in order: one task per job, each one line. TRAINING runs only when a
# retrain is due (daily) or always (weekly); the job after it runs either way.
TRAINING = (
    "train",
    "evaluate",  # the quality gate: a rejected model fails here and nothing is published
)  # fmt: skip
DAILY = (
    "ingest",  # only with a kafka section in the config (kafka_configured); else skipped
    "validate",
    "prepare",
    *TRAINING,
    "recommend",
    "publish",
    "maintain",
)  # fmt: skip
PUBLISHES = {"publish": [RECOMMENDATIONS]}  # job -> the Assets it updates
PACKAGES = {"ingest": (KAFKA_PACKAGE,)}  # job -> the connectors it needs beyond Delta's

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    # Transient failures (a lost executor, a busy cluster, late input) get two more tries,
    # 2-4 then 4-8 minutes later (doubling, with jitter); a configuration error fails at
    # once in check_config. RECLAKE_RETRY_DELAY_SECONDS (read where the DAG is parsed) sets
    # the first delay: the running-Airflow test's scheduler retries after seconds, not minutes.
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=float(os.environ.get("RECLAKE_RETRY_DELAY_SECONDS", 120))),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=30),
    "execution_timeout": dt.timedelta(hours=4),
    # The pool every task takes one slot of: RECLAKE_POOL (read where the DAG is parsed; the pool must exist),
    # to cap Spark work across DAGs; else Airflow's default_pool.
    "pool": os.environ.get("RECLAKE_POOL") or "default_pool",
}

COMMON_PARAMS = {
    "config": Param(
        CONFIG,
        type="string",
        description="YAML config every job loads (a path on the Airflow workers; default: RECLAKE_CONFIG)",
    ),
    "overrides": Param(
        [],
        type="array",
        items={"type": "string", "pattern": r"^[A-Za-z_][\w.]*=.*$"},
        description="config overrides for this run, section.key=value, e.g. lakehouse.root=/data/lakehouse",
    ),
    "spark_conf": Param(
        {},
        type="object",
        description='extra spark-submit --conf settings, e.g. {"spark.executor.memory": "4g"}',
    ),
}
DAILY_PARAMS = {
    **COMMON_PARAMS,
    "retrain": Param(
        "auto",
        enum=["auto", "always", "never"],
        description="auto: train when there is no model or the newest is older than max_model_age_days",
    ),
    "max_model_age_days": Param(7, type="integer", minimum=0, description="for retrain=auto"),
}


# ---------------------------------------------------------------- run-time helpers


def override_args(overrides: list[str]) -> list[str]:
    """``["als.rank=8"]`` -> ``["--set", "als.rank=8"]``: the jobs' own override syntax."""
    return [arg for override in overrides for arg in ("--set", override)]


def retrain_is_due(policy: str, latest_model: dt.date | None, run_date: dt.date, max_age_days: int) -> bool:
    """Whether this run trains: always/never as asked; auto when no model exists or the newest is too old.

    Age is counted in run dates (the date a model was trained for), so a re-run or a
    backfill decides the same way whatever day it actually runs.
    """
    if policy != "auto":
        return policy == "always"
    return latest_model is None or (run_date - latest_model).days > max_age_days


def schedule_setting(variable: str, default: str) -> str | None:
    """A DAG's cron or preset from the environment where DAGs are parsed; ``none``: no time schedule."""
    value = os.environ.get(variable, "").strip() or default
    return None if value.lower() == "none" else value


def at_ticks(cron: str) -> CronTriggerTimetable:
    """Runs at each tick of ``cron`` (UTC), the first at the next tick after the DAG is unpaused.

    ``run_immediately`` is a zero delta: Airflow reads its default (False) as "within a tenth of the gap", so a
    daily DAG unpaused before 02:24 UTC would at once run for the midnight just past."""
    return CronTriggerTimetable(cron, timezone="UTC", run_immediately=dt.timedelta(0))


def daily_schedule(cron: str | None) -> CronTriggerTimetable | None:
    """The daily DAG's timetable; None (only triggered runs) without a cron."""
    return None if cron is None else at_ticks(cron)


def retrain_schedule(cron: str | None) -> AssetOrTimeSchedule | list[Asset]:
    """Retrain on ``cron`` (UTC) and on every retrain request; on requests alone without a cron."""
    if cron is None:
        return [RETRAIN_REQUESTS]
    return AssetOrTimeSchedule(timetable=at_ticks(cron), assets=[RETRAIN_REQUESTS])


def run_date(context: Any) -> str:
    """The date a run's jobs run for (``--run-date``), as ``YYYY-MM-DD``.

    A scheduled, triggered or backfilled run has a logical date: its day. A run an Asset triggered
    has none in Airflow 3: the newest triggering event that names a ``run_date`` in its extra gives it
    (a retrain for the interactions of that day), else the day the run was due (``run_after``).
    """
    if context.get("ds"):
        return str(context["ds"])
    events = sorted(
        (event for events in context["triggering_asset_events"].values() for event in events),
        key=lambda event: event.timestamp,
    )
    named = [event for event in events if (event.extra or {}).get("run_date")]
    if not named:
        return context["dag_run"].run_after.date().isoformat()
    value = str(named[-1].extra["run_date"])
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise AirflowFailException(
            f"the asset event of {named[-1].asset.name} names run_date {value!r}: expected a date, YYYY-MM-DD"
        ) from None  # a retry cannot fix it


def run_config(params: dict[str, Any]) -> Config:
    """The config the jobs of this run load: the file, then the overrides; fails fast when invalid."""
    from reclake.config import load_config
    from reclake.errors import ConfigError

    try:
        return load_config(params["config"], params["overrides"])
    except ConfigError as exc:
        raise AirflowFailException(f"{exc} (DAG params config/overrides)") from None  # a retry cannot fix it


def job_packages(job: str, config: Config) -> list[str]:
    """The connectors a job's spark-submit loads: Delta's, the job's own (ingest: Kafka's), and hadoop-aws
    only for a run whose lakehouse, input or event log is on S3."""
    paths = (config.lakehouse.root, config.input.path, config.monitoring.event_log_dir)
    return [DELTA_PACKAGE, *PACKAGES.get(job, ()), *storage_packages(*paths)]


def alert_on_failure(context: dict[str, Any]) -> None:
    """A task failed for good (retries spent): log it, then call the configured alert, if any.

    The Variable ``reclake_alert_callback`` names a ``callable(context)`` by dotted path
    (e.g. a Slack or PagerDuty notifier wrapped in a function); it is read when the
    failure happens, so changing the alert target needs no DAG change.
    """
    ti = context["ti"]
    try:
        day = run_date(context)
    except AirflowFailException:  # the alert must go out all the same
        day = "an unknown date"
    log.error(
        "reclake: %s.%s failed for %s (run %s, try %s): %s",
        ti.dag_id, ti.task_id, day, context["run_id"], ti.try_number, context.get("exception"),
    )  # fmt: skip
    target = Variable.get(ALERT_VARIABLE, default=None)
    if target:
        module, _, name = target.rpartition(".")
        getattr(importlib.import_module(module), name)(context)


# ---------------------------------------------------------------- tasks


class ReclakeJob(SparkSubmitOperator):
    """spark-submit ``jobs/<job>.py`` for the run's date and id, with the run's config.

    ``application_args`` are templated; the run date (``run_date``: not a template, since an
    asset-triggered run has no ``ds``), ``params.overrides`` and ``params.spark_conf`` are
    added when the task runs (a list param cannot be templated into several arguments).
    Delta's connector (its resolved jars, or its Maven package; ingest's also Kafka's) and the driver's JVM options
    (reclake/jvm.py) go with ``--conf``; the artefact in ``reclake_py_files`` (if set) with ``--py-files``, so executors
    need no reclake installed.
    """

    def __init__(self, *, job: str, **kwargs: Any) -> None:
        self.job = job
        super().__init__(
            task_id=job,
            conn_id=SPARK_CONN_ID,
            application=str(HOME / "jobs" / f"{job}.py"),
            application_args=[
                "--config",
                "{{ params.config }}",
                "--set",
                "run.run_id={{ run_id }}",
            ],
            py_files=f"{{{{ var.value.get('{PY_FILES_VARIABLE}', '') }}}}",
            name=f"reclake-{job}",  # the run date is added when it runs
            **kwargs,
        )

    def execute(self, context: Any) -> None:
        params, day = context["params"], run_date(context)
        # The connectors: the jar files bootstrap resolved on this machine, else their Maven coordinates.
        config, given = run_config(params), self.packages or self.jars
        connector = {} if given else connectors_conf(job_packages(self.job, config))
        # The driver runs here (client mode): its collector, JIT and class-data archive, unless the run sets its own.
        self.conf = {
            **connector,
            "spark.driver.extraJavaOptions": driver_java_options(config.spark.quick_jit),
            **(self.conf or {}),
            **params["spark_conf"],
        }
        self.application_args = [
            *(self.application_args or []), "--run-date", day, *override_args(params["overrides"])
        ]  # fmt: skip
        self.name = f"reclake-{self.job}-{day.replace('-', '')}"
        super().execute(context)
        for asset in self.outlets:
            context["outlet_events"][asset].extra = {"run_date": day, "run_id": context["run_id"]}


@task
def check_config(params: dict[str, Any] | None = None) -> None:
    """Load the run's config before any Spark starts: a bad key or value fails here, once, naming it."""
    if params is None:
        raise AirflowFailException("check_config runs in a DAG run, which passes it the params")
    run_config(params)


@task.short_circuit(ignore_downstream_trigger_rules=False)
def retrain_due(params: dict[str, Any] | None = None) -> bool:
    """False skips the training jobs; the next job then reuses the latest model."""
    if params is None:
        raise AirflowFailException("retrain_due runs in a DAG run, which passes it the params")
    latest = None
    if params["retrain"] == "auto":
        from reclake.serving.registry import latest_model_date  # delta-rs, no Spark

        latest = latest_model_date(run_config(params).lakehouse.root)
    day = dt.date.fromisoformat(run_date(get_current_context()))
    due = retrain_is_due(params["retrain"], latest, day, params["max_model_age_days"])
    log.info(
        "retrain=%s, newest model trained for %s: %s", params["retrain"], latest, "training" if due else "reusing it"
    )
    return due


@task.short_circuit(ignore_downstream_trigger_rules=False)
def kafka_configured(params: dict[str, Any] | None = None) -> bool:
    """False skips ingest: without a kafka section the events arrive as files; validate runs either way."""
    if params is None:
        raise AirflowFailException("kafka_configured runs in a DAG run, which passes it the params")
    return run_config(params).kafka is not None


@task.short_circuit(ignore_downstream_trigger_rules=False)
def maintenance_due(dag_run: Any = None) -> bool:
    """False skips maintain in a backfill's runs: compacting and vacuuming after each past date is work the next
    daily run does once for all of them."""
    return dag_run is None or dag_run.run_type != "backfill"


def build_dag(
    dag_id: str,
    job_names: tuple[str, ...],
    *,
    schedule: CronTriggerTimetable | AssetOrTimeSchedule | list[Asset] | None,
    params: dict[str, Param],
    doc: str,
) -> DAG:
    """One task per job, in order, after check_config; in a DAG that also runs other jobs,
    the training jobs are gated by retrain_due and the job after them runs unless something failed;
    ingest is gated by kafka_configured, and the job after it runs unless something failed; maintain is gated by
    maintenance_due."""
    gated = set(TRAINING) < set(job_names)
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        # No start date and at_ticks: an unpaused DAG starts at its next tick, not at once with the latest past one
        # (and catchup off means no earlier ones); a backfill gives it earlier dates.
        catchup=False,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, "on_failure_callback": alert_on_failure},
        params=params,
        tags=TAGS,
        doc_md=doc,
    ) as dag:
        previous = check_config()
        for job in job_names:
            after_training = gated and job_names.index(job) > job_names.index(TRAINING[-1])
            after_ingest = job_names.index(job) > 0 and job_names[job_names.index(job) - 1] == "ingest"
            if gated and job == TRAINING[0]:
                previous = previous >> retrain_due()
            if job == "ingest":
                previous = previous >> kafka_configured()
            if job == "maintain":
                previous = previous >> maintenance_due()
            operator = ReclakeJob(
                job=job,
                outlets=PUBLISHES.get(job, []),
                # A skipped (reused) training, or a skipped ingest, is not a failure for the jobs after it.
                trigger_rule="none_failed" if after_training or after_ingest else "all_success",
            )
            previous = previous >> operator
    return dag


daily = build_dag(
    "reclake_daily",
    DAILY,
    schedule=daily_schedule(schedule_setting("RECLAKE_DAILY_SCHEDULE", "@daily")),
    params=DAILY_PARAMS,
    doc="Ingest from Kafka when configured, validate, prepare, train when due (else reuse the latest model), "
    "recommend and publish, for each day.",
)
weekly_retrain = build_dag(
    "reclake_weekly_retrain",
    TRAINING,
    schedule=retrain_schedule(schedule_setting("RECLAKE_RETRAIN_SCHEDULE", "@weekly")),
    params=COMMON_PARAMS,
    doc="Retrain on the interactions the daily pipeline prepared, weekly and on each retrain request "
    "(an event of the reclake_retrain_requests Asset); the daily one then reuses this model.",
)
