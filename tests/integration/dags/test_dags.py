"""The DAGs' structure, as Airflow parses them: no Spark, no metadata DB."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers import REPO

DAG_IDS = {"reclake_daily", "reclake_weekly_retrain"}


@pytest.fixture(scope="module")
def pipeline_module():
    sys.path.insert(0, str(REPO / "dags"))  # what Airflow does for its dags folder
    try:
        import reclake_pipeline

        yield reclake_pipeline
    finally:
        sys.path.remove(str(REPO / "dags"))


def test_every_dag_file_imports_without_errors_in_under_a_second(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == DAG_IDS
    for stat in dagbag.dagbag_stats:
        assert stat.duration < dt.timedelta(seconds=1), f"{stat.file} took {stat.duration} to import"


def test_importing_the_dags_starts_no_spark_and_loads_no_job_code():
    code = (
        "import sys; sys.path.insert(0, 'dags'); import reclake_pipeline; "
        "heavy = [m for m in ('pyspark', 'delta', 'deltalake', 'reclake.stages') if m in sys.modules]; assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_no_cycles_and_every_task_has_owner_retries_and_alert(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    dag.check_cycle()  # raises on a cycle
    assert {"reclake", "spark"} <= set(dag.tags)
    assert dag.max_active_runs == 1, "runs share the lakehouse tables: they must not overlap"
    assert not dag.catchup
    assert dag.start_date is None, "unpausing it must not start a run before its next tick"
    for task in dag.tasks:
        assert task.owner == "reclake", task.task_id
        assert task.retries == 2 and task.retry_exponential_backoff == 2.0, task.task_id
        assert task.on_failure_callback, task.task_id


def edges(dag) -> set[tuple[str, str]]:
    return {(task.task_id, down) for task in dag.tasks for down in task.downstream_task_ids}


def test_daily_runs_the_jobs_in_order_with_training_gated(dagbag):
    dag = dagbag.dags["reclake_daily"]
    chain = [
        "check_config",
        "kafka_configured",
        "ingest",
        "validate",
        "prepare",
        "retrain_due",
        "train",
        "evaluate",
        "recommend",
        "publish",
        "maintenance_due",
        "maintain",
    ]
    assert edges(dag) == set(zip(chain, chain[1:]))
    # A skipped (reused) training must not skip recommend and publish, nor a skipped ingest validate; a failure
    # must stop them.
    assert dag.get_task("ingest").trigger_rule == "all_success"
    assert dag.get_task("validate").trigger_rule == "none_failed"
    assert dag.get_task("prepare").trigger_rule == "all_success"
    assert dag.get_task("kafka_configured").ignore_downstream_trigger_rules is False
    assert dag.get_task("train").trigger_rule == "all_success"
    assert dag.get_task("recommend").trigger_rule == "none_failed"
    assert dag.get_task("publish").trigger_rule == "none_failed"
    assert dag.get_task("retrain_due").ignore_downstream_trigger_rules is False
    assert dag.get_task("maintenance_due").ignore_downstream_trigger_rules is False
    assert dag.timetable.expression == "0 0 * * *"  # @daily, 00:00 UTC


def test_maintenance_is_skipped_in_a_backfills_runs_and_only_there(dagbag):
    from airflow.utils.types import DagRunType

    due = dagbag.dags["reclake_daily"].get_task("maintenance_due").python_callable
    assert due(dag_run=SimpleNamespace(run_type=DagRunType.BACKFILL_JOB)) is False
    for kind in set(DagRunType) - {DagRunType.BACKFILL_JOB}:
        assert due(dag_run=SimpleNamespace(run_type=kind)) is True, kind


def test_weekly_retrain_only_trains_and_gates_weekly_and_on_each_retrain_request(dagbag):
    from airflow.sdk import AssetOrTimeSchedule

    dag = dagbag.dags["reclake_weekly_retrain"]
    assert edges(dag) == {("check_config", "train"), ("train", "evaluate")}
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.timetable.expression == "0 0 * * 0"  # @weekly, Sundays 00:00 UTC
    assert [asset.uri for asset in dag.timetable.asset_condition.objects] == ["reclake://requests/retrain"]


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_unpaused_in_the_hours_after_a_tick_the_first_run_is_the_next_tick(dagbag, dag_id, monkeypatch):
    """As the scheduler reads the DAG (serialized), on a clock set 44 minutes after midnight of a Sunday: the tick
    of both DAGs. Airflow's default would run the tick just past at once (it did, in CI's scheduler test at 00:44)."""
    import airflow.timetables.trigger as trigger
    import pendulum
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    tick = pendulum.datetime(2026, 12, 6, tz="UTC")  # a Sunday
    monkeypatch.setattr(trigger, "utcnow", lambda: tick.add(minutes=44))
    timetable = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags[dag_id])).timetable
    restriction = TimeRestriction(earliest=None, latest=None, catchup=False)
    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert first.run_after == tick.add(days=1 if dag_id == "reclake_daily" else 7)


def test_schedules_and_the_config_are_the_deployments_choice(pipeline_module, monkeypatch):
    monkeypatch.delenv("RECLAKE_RETRAIN_SCHEDULE", raising=False)
    assert pipeline_module.schedule_setting("RECLAKE_RETRAIN_SCHEDULE", "@weekly") == "@weekly"
    monkeypatch.setenv("RECLAKE_RETRAIN_SCHEDULE", " 30 2 * * 1 ")
    assert pipeline_module.schedule_setting("RECLAKE_RETRAIN_SCHEDULE", "@weekly") == "30 2 * * 1"
    monkeypatch.setenv("RECLAKE_RETRAIN_SCHEDULE", "None")
    assert pipeline_module.schedule_setting("RECLAKE_RETRAIN_SCHEDULE", "@weekly") is None
    assert pipeline_module.retrain_schedule(None) == [pipeline_module.RETRAIN_REQUESTS]  # on requests alone
    # Scheduled and asset-triggered runs have no conf: they load the deployment's config.
    code = (
        "import sys; sys.path.insert(0, 'dags'); import reclake_pipeline as p; "
        "print(p.daily.params['config'], p.daily.schedule, p.weekly_retrain.schedule)"
    )
    env = {**os.environ, "RECLAKE_CONFIG": "/etc/reclake/prod.yaml", "RECLAKE_DAILY_SCHEDULE": "none"}
    env["RECLAKE_RETRAIN_SCHEDULE"] = "none"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split(" ", 2)[:2] == ["/etc/reclake/prod.yaml", "None"]
    assert "reclake_retrain_requests" in out.stdout


def event(day: str | None, at: int, **extra: object) -> SimpleNamespace:
    """An asset event as a task's triggering_asset_events holds it."""
    asset = SimpleNamespace(name="reclake_retrain_requests")
    timestamp = dt.datetime(2026, 12, 1, at, tzinfo=dt.timezone.utc)
    return SimpleNamespace(asset=asset, timestamp=timestamp, extra={**({"run_date": day} if day else {}), **extra})


def test_the_run_date_is_the_logical_dates_else_the_newest_request_that_names_one_else_the_day_it_was_due(
    pipeline_module,
):
    due = SimpleNamespace(run_after=dt.datetime(2026, 12, 4, 9, 30, tzinfo=dt.timezone.utc))
    run_date = pipeline_module.run_date
    assert run_date({"ds": "2026-11-20", "dag_run": due}) == "2026-11-20"
    requests = [event("2026-11-21", at=10), event("2026-11-22", at=12), event(None, at=13, reason="new catalogue")]
    assert run_date({"dag_run": due, "triggering_asset_events": {"requests": requests}}) == "2026-11-22"
    assert run_date({"dag_run": due, "triggering_asset_events": {"requests": requests[2:]}}) == "2026-12-04"
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="run_date 'last friday': expected a date"):
        run_date({"dag_run": due, "triggering_asset_events": {"requests": [event("last friday", at=1)]}})


def test_only_publish_updates_the_recommendations_asset(dagbag):
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            uris = [asset.uri for asset in task.outlets]
            expected = ["reclake://lakehouse/recommendations"] if task.task_id == "publish" else []
            assert uris == expected, (dag.dag_id, task.task_id)


def test_spark_tasks_submit_the_job_files_with_the_run_date_and_config(dagbag):
    from airflow.providers.apache.spark.operators.spark_submit import (
        SparkSubmitOperator,
    )

    dag = dagbag.dags["reclake_daily"]
    spark_tasks = [task for task in dag.tasks if isinstance(task, SparkSubmitOperator)]
    assert [t.task_id for t in spark_tasks] == [
        "ingest",
        "validate",
        "prepare",
        "train",
        "evaluate",
        "recommend",
        "publish",
        "maintain",
    ]
    for task in spark_tasks:
        assert Path(task.application) == REPO / "jobs" / f"{task.task_id}.py"
        assert Path(task.application).is_file()
        assert task.application_args[:2] == ["--config", "{{ params.config }}"]
        assert "--run-date" not in task.application_args, "added when it runs: an asset-triggered run has no ds"
        assert "run.run_id={{ run_id }}" in task.application_args
        assert task._conn_id == "reclake_spark"


def test_ingest_runs_only_with_a_kafka_section_and_submits_kafkas_connector(dagbag, tmp_path):
    dag = dagbag.dags["reclake_daily"]
    configured = dag.get_task("kafka_configured").python_callable
    params = {"config": str(REPO / "conf" / "local.yaml"), "overrides": []}
    assert configured(params=params) is False, "no kafka section: ingest is skipped"
    kafka = ["kafka.bootstrap_servers=127.0.0.1:9092", "kafka.topic=events", "input.format=json"]
    kafka.append(f"input.path={tmp_path}/landing/date={{run_date}}")
    assert configured(params={**params, "overrides": kafka}) is True
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="kafka.topic"):
        configured(params={**params, "overrides": kafka[:1]})  # a kafka section without a topic is refused

    from reclake import DELTA_PACKAGE, KAFKA_PACKAGE
    from reclake.jvm import connectors_conf

    assert dag.get_task("ingest").job == "ingest"
    conf = connectors_conf([DELTA_PACKAGE, KAFKA_PACKAGE])  # what ReclakeJob.execute gives ingest's spark-submit
    assert conf != connectors_conf([DELTA_PACKAGE]) and "kafka" in " ".join(conf.values())


def test_a_run_on_s3_submits_hadoop_aws_and_a_local_run_does_not(pipeline_module):
    from reclake import DELTA_PACKAGE, KAFKA_PACKAGE, S3_PACKAGE

    params = {"config": str(REPO / "conf" / "local.yaml"), "overrides": []}
    local = pipeline_module.run_config(params)
    assert pipeline_module.job_packages("prepare", local) == [DELTA_PACKAGE]
    s3 = pipeline_module.run_config({**params, "overrides": ["lakehouse.root=s3a://bucket/lakehouse"]})
    assert pipeline_module.job_packages("prepare", s3) == [DELTA_PACKAGE, S3_PACKAGE]
    landing = pipeline_module.run_config({**params, "overrides": ["input.path=s3a://bucket/landing/date={run_date}"]})
    assert pipeline_module.job_packages("ingest", landing) == [DELTA_PACKAGE, KAFKA_PACKAGE, S3_PACKAGE]
    from reclake.jvm import connectors_conf

    # What that spark-submit gets: the AWS SDK's modules (listed, or resolved with the bundle excluded), never the bundle.
    conf = connectors_conf(pipeline_module.job_packages("prepare", s3))
    assert "awssdk_s3-" in conf.get("spark.jars", "") or "awssdk:bundle" in conf.get("spark.jars.excludes", "")
    assert "awssdk_bundle" not in conf.get("spark.jars", "")


def test_params_name_the_config_and_validate_overrides(dagbag):
    params = dagbag.dags["reclake_daily"].params
    assert Path(params["config"]).is_file()
    assert params["overrides"] == [] and params["retrain"] == "auto"
    from airflow.sdk.exceptions import ParamValidationError

    overrides = params.get_param("overrides")
    assert overrides.resolve(["als.rank=8", "input.path=/data/x=1"]) == ["als.rank=8", "input.path=/data/x=1"]
    with pytest.raises(ParamValidationError):
        overrides.resolve(["als.rank 8"])
    with pytest.raises(ParamValidationError):
        params.get_param("retrain").resolve("sometimes")


def test_override_args_become_one_set_each(pipeline_module):
    assert pipeline_module.override_args([]) == []
    assert pipeline_module.override_args(["als.rank=8", "input.path=/a=b"]) == [
        "--set", "als.rank=8", "--set", "input.path=/a=b",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "latest", "expected"),
    [
        ("auto", None, True),  # no model yet
        ("auto", dt.date(2026, 11, 20), False),  # trained for this very date (a re-run)
        ("auto", dt.date(2026, 11, 13), False),  # 7 days old: still fresh
        ("auto", dt.date(2026, 11, 12), True),  # 8 days old
        ("auto", dt.date(2026, 11, 25), False),  # a backfill of an earlier date reuses the newer model
        ("always", dt.date(2026, 11, 20), True),
        ("never", None, False),
    ],
)
def test_retrain_is_due(pipeline_module, policy, latest, expected):
    assert pipeline_module.retrain_is_due(policy, latest, dt.date(2026, 11, 20), 7) is expected


def test_latest_model_date_is_none_without_a_registry(tmp_path):
    from reclake.serving.registry import latest_model_date

    assert latest_model_date(str(tmp_path / "lakehouse")) is None
