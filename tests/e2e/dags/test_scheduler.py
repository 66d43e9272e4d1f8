"""The DAGs under a running Airflow 3 (tests/e2e/conftest.py: airflow_deployment, on PostgreSQL): the scheduler, not
dag.test(), decides when each task runs, retries a failed one, starts a run on an Asset event and runs a backfill;
all through the REST API v2 and the CLI. Every job is a real spark-submit of the packaged artefact.

One lakehouse, the deployment's config (RECLAKE_CONFIG) naming it; the runs as a user makes them:
  1. the first of two consecutive dates triggered: it succeeds, its prepare killed once and retried by the
     scheduler, and trains the first model;
  2. a retrain request (POST /assets/events on the reclake_retrain_requests Asset, naming the first date) with the
     reclake_spark connection repointed (PATCH /connections) at a Spark standalone cluster: the scheduler starts the
     retrain DAG, whose jobs run on the cluster and train a second model;
  3. the connection back at local[2], the second date triggered: it succeeds on the retrain's model;
  4. a bad batch for the third date fails at the validation gate, leaving readers on the second date;
  5. `airflow backfill create --max-active-runs 1` over the two dates before the first: one run at a time, each
     date published once, readers still on the second date (a backfill never moves them back). The scheduler is
     first restarted creating no runs from schedules: once a DAG has backfilled runs, the next run its @daily
     schedule gives is today's.
The cluster's output equals local mode's in tests/e2e/test_s3.py (the same comparison, on S3 and with no shared disk).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from reclake.jvm import driver_java_options
from tests.e2e.servers import needs_postgres, wait_for
from tests.helpers import (
    DAG_SMALL,
    DAG_TOP_N,
    HEADER,
    LOCAL_MASTER,
    SUMMARY,
    check_recommendations,
    generate_landing,
    served_dates,
)

pytestmark = needs_postgres

BACKFILLED = [dt.date(2026, 11, 18), dt.date(2026, 11, 19)]  # two: enough to see one run wait for the other
DAY_1, DAY_2, BAD_DAY = dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)
DAG, RETRAIN = "reclake_daily", "reclake_weekly_retrain"
FAULT = "prepare:after_ids"  # taken once: the first prepare dies after writing its id tables
RUN_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def landing(spark, tmp_path_factory) -> Path:
    """Landing folders by date: four days from the real `generate` job, then a bad batch for the fifth (every row
    an unknown event type, so the batch's quarantine share fails the gate)."""
    root = tmp_path_factory.mktemp("scheduled") / "landing"
    days = [*BACKFILLED, DAY_1, DAY_2]
    assert generate_landing(root, DAY_2, days=len(days)) == [f"date={day}" for day in days]
    bad = root / f"date={BAD_DAY}"
    bad.mkdir()
    lines = [f"u{i:07d},i{i % 60:07d},teleport,,{DAY_2}T10:00:00Z" for i in range(50)]
    (bad / "events.csv").write_text("".join(f"{line}\n" for line in [HEADER, *lines]))
    return root


def trigger(api, day: dt.date) -> str:
    """POST a run of the daily DAG for ``day``, with no conf: it loads the deployment's config."""
    body = {"dag_run_id": f"api__{day}", "logical_date": f"{day}T00:00:00Z"}
    return api.call("POST", f"/dags/{DAG}/dagRuns", body)["dag_run_id"]


def request_retrain(api, day: dt.date) -> dict[str, Any]:
    """POST an event of the retrain-request Asset naming ``day`` (as an operator's "retrain now" does); returns the
    retrain run the scheduler started for it, once finished."""
    asset = api.call("GET", "/assets?name_pattern=reclake_retrain_requests")["assets"][0]
    api.call("POST", "/assets/events", {"asset_id": asset["id"], "extra": {"run_date": str(day)}})
    runs = wait_for(
        lambda: api.call("GET", f"/dags/{RETRAIN}/dagRuns")["dag_runs"], "a retrain run for the request", 120
    )
    return api.wait_run(RETRAIN, runs[0]["dag_run_id"], RUN_TIMEOUT_S)


def backfill(deployment) -> list[dict[str, Any]]:
    """`airflow backfill create` over BACKFILLED, one run at a time; returns its runs, oldest first, once finished."""
    deployment.cli(
        "backfill", "create", "--dag-id", DAG, "--from-date", str(BACKFILLED[0]), "--to-date", str(BACKFILLED[-1]),
        "--max-active-runs", "1", "--reprocess-behavior", "none",
    )  # fmt: skip
    listed = deployment.api.call("GET", f"/dags/{DAG}/dagRuns?run_type=backfill&order_by=logical_date")["dag_runs"]
    assert [run["logical_date"][:10] for run in listed] == [str(day) for day in BACKFILLED], listed
    return [deployment.api.wait_run(DAG, run["dag_run_id"], RUN_TIMEOUT_S) for run in listed]


def point_spark_at(api, connection: str) -> None:
    """PATCH the reclake_spark connection to ``connection`` (its JSON form); the next task to start reads it."""
    fields = json.loads(connection)
    body = {"connection_id": "reclake_spark", "conn_type": "spark", "host": fields["host"], "port": fields.get("port")}
    assert api.call("PATCH", "/connections/reclake_spark", body)["host"] == fields["host"]


def recommendations(lakehouse: Path) -> DeltaTable:
    return DeltaTable(str(lakehouse / "recommendations"))


@pytest.fixture(scope="module")
def scheduled(airflow_deployment, cluster, landing, tmp_path_factory) -> dict[str, Any]:
    """The steps of the module's docstring. Returns the runs and their task instances, the cluster's applications,
    what readers served after the two days, the asset events, and the seconds each step took."""
    api = airflow_deployment.api
    lakehouse = tmp_path_factory.mktemp("scheduled-lakehouse") / "lakehouse"
    airflow_deployment.configure([f"lakehouse.root={lakehouse}", f"input.path={landing}/date={{run_date}}", *DAG_SMALL])
    for dag in (DAG, RETRAIN):
        assert api.call("PATCH", f"/dags/{dag}", {"is_paused": False})["is_paused"] is False
    airflow_deployment.fault_once.write_text(FAULT)
    clock, seconds = time.monotonic(), {}

    def lap(step: str) -> None:
        nonlocal clock
        seconds[step], clock = time.monotonic() - clock, time.monotonic()

    first = api.wait_run(DAG, trigger(api, DAY_1), RUN_TIMEOUT_S)
    lap("first_day")
    point_spark_at(api, cluster[1])
    retrain = request_retrain(api, DAY_1)
    point_spark_at(api, LOCAL_MASTER)
    lap("retrain_on_the_cluster")
    runs = [first, api.wait_run(DAG, trigger(api, DAY_2), RUN_TIMEOUT_S)]
    lap("second_day")
    after_two = {"served": served_dates(lakehouse), "version": recommendations(lakehouse).version()}
    bad = api.wait_run(DAG, trigger(api, BAD_DAY), RUN_TIMEOUT_S)
    lap("bad_day")
    after_bad = {"served": served_dates(lakehouse), "version": recommendations(lakehouse).version()}
    airflow_deployment.restart_scheduler({"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"})
    backfilled = backfill(airflow_deployment)
    lap("backfill_of_two_days")
    return {
        "lakehouse": lakehouse,
        "runs": runs,
        "tis": [api.task_instances(DAG, run["dag_run_id"]) for run in runs],
        "retrain": retrain,
        "retrain_tis": api.task_instances(RETRAIN, retrain["dag_run_id"]),
        "cluster_apps": set(cluster[0].glob("work/worker-*/app-*")),  # a folder per worker that ran an application
        "after_two": after_two,
        "after_bad": after_bad,
        "bad": bad,
        "bad_tis": api.task_instances(DAG, bad["dag_run_id"]),
        "backfilled": backfilled,
        "backfilled_tis": [api.task_instances(DAG, run["dag_run_id"]) for run in backfilled],
        "asset_events": api.call("GET", f"/assets/events?source_dag_id={DAG}&limit=100")["asset_events"],
        "daily_runs": api.call("GET", f"/dags/{DAG}/dagRuns?limit=100")["dag_runs"],
        "seconds": seconds,
    }


def test_two_days_triggered_succeed_in_order_with_the_deployments_config(
    airflow_deployment, scheduled, record_property
):
    record_property(SUMMARY, f"steps (s) { {step: round(s) for step, s in scheduled['seconds'].items()} }")
    assert [run["state"] for run in scheduled["runs"]] == ["success", "success"], scheduled["tis"]
    assert [run["logical_date"][:10] for run in scheduled["runs"]] == [str(DAY_1), str(DAY_2)]
    assert [run["conf"] for run in scheduled["runs"]] == [{}, {}], "no conf: the runs loaded RECLAKE_CONFIG"
    states = [{task: ti["state"] for task, ti in tis.items()} for tis in scheduled["tis"]]
    assert states[0]["train"] == "success" and states[1]["train"] == "skipped", "day 2 reuses the latest model"
    assert states[0]["publish"] == states[1]["publish"] == "success"
    assert states[0]["maintain"] == states[1]["maintain"] == "success"  # skipped in backfills only
    assert {ti["pool"] for tis in scheduled["tis"] for ti in tis.values()} == {airflow_deployment.pool}
    # The deployment's config reaches each driver's JVM (spark.quick_jit, from its base conf/local.yaml).
    log = airflow_deployment.api.task_log(DAG, scheduled["runs"][1]["dag_run_id"], "validate", 1)
    assert f"extraJavaOptions={driver_java_options(quick_jit=True)}" in log, log[-3000:]


def test_a_retrain_request_starts_the_retrain_dag_and_the_next_day_serves_its_model(scheduled):
    retrain = scheduled["retrain"]
    assert retrain["run_type"] == "asset_triggered" and retrain["logical_date"] is None, retrain
    assert retrain["state"] == "success", scheduled["retrain_tis"]
    assert {task: ti["state"] for task, ti in scheduled["retrain_tis"].items()} == {
        "check_config": "success", "train": "success", "evaluate": "success",
    }  # fmt: skip
    assert scheduled["runs"][0]["end_date"] <= retrain["start_date"] <= retrain["end_date"]
    assert retrain["end_date"] <= scheduled["runs"][1]["start_date"]
    registry = DeltaTable(str(scheduled["lakehouse"] / "model_registry")).to_pandas().sort_values("created_at")
    assert len(registry) == 2, registry  # the first day trained one, the retrain another; nothing else trained
    # The request named the first day: the retrain trained for it (run_date), not for the day it ran.
    assert [str(day) for day in registry["run_date"]] == [str(DAY_1), str(DAY_1)]
    frame = recommendations(scheduled["lakehouse"]).to_pandas()
    first, newest = registry["model_version"]
    assert set(frame.loc[frame["run_date"] == DAY_1, "model_version"]) == {first}
    assert set(frame.loc[frame["run_date"] == DAY_2, "model_version"]) == {newest}


def test_the_retrains_spark_submits_were_applications_of_the_cluster_with_the_artefact(scheduled):
    apps = scheduled["cluster_apps"]
    tries = sum(ti["try_number"] for ti in scheduled["retrain_tis"].values() if ti["operator"] == "ReclakeJob")
    assert len({app.name for app in apps}) == tries == 2, apps  # train and evaluate; nothing else ran there
    assert all(list(app.glob("*/reclake-*.zip")) for app in apps), "an executor ran without the artefact"


def test_each_date_is_published_once_and_readers_serve_the_second(scheduled):
    lakehouse = scheduled["lakehouse"]
    events = DeltaTable(str(lakehouse / "events")).to_pandas()
    newest = recommendations(lakehouse).to_pandas()
    # The second day's lists, from the events the lakehouse held then (the backfilled days came later).
    held = events[events["ingest_date"].between(DAY_1, DAY_2)]
    check_recommendations(newest[newest["run_date"] == DAY_2], held, DAG_TOP_N)
    served = scheduled["after_two"]["served"]
    assert {table: day for table, (_, day) in served.items()}["recommendations"] == DAY_2
    # One publish commit per date, each writing its own date: no date published twice (backfilled ones included).
    writes = [c for c in recommendations(lakehouse).history() if c["operation"] == "WRITE"]
    assert len(writes) == 2 + len(BACKFILLED), writes
    assert sorted(str(day) for day in newest["run_date"].unique()) == [str(d) for d in [*BACKFILLED, DAY_1, DAY_2]]


def test_each_publish_records_an_asset_event_naming_its_run_date(scheduled):
    published = [
        (event["source_task_id"], event["extra"])
        for event in scheduled["asset_events"]
        if event["name"] == "reclake_recommendations"
    ]
    runs = [*scheduled["runs"], *scheduled["backfilled"]]
    expected = [("publish", {"run_date": run["logical_date"][:10], "run_id": run["dag_run_id"]}) for run in runs]
    assert sorted(published, key=str) == sorted(expected, key=str)


def test_the_latest_model_date_is_day_one_as_the_registry_says(scheduled):
    """Both models were trained for the first day: the retrain's request named it."""
    from reclake.serving.registry import latest_model_date

    assert latest_model_date(str(scheduled["lakehouse"])) == DAY_1


def test_a_job_killed_once_is_retried_by_the_scheduler_and_the_run_succeeds(airflow_deployment, scheduled):
    first = scheduled["tis"][0]
    assert first["prepare"]["try_number"] == 2 and first["prepare"]["state"] == "success"
    # Nothing else was retried: the fault was taken once, by the first day's prepare.
    every = [*scheduled["tis"], scheduled["retrain_tis"], *scheduled["backfilled_tis"]]
    tries = [(run, task, ti["try_number"]) for run, tis in enumerate(every) for task, ti in tis.items()]
    assert [(run, task) for run, task, n in tries if n > 1] == [(0, "prepare")], tries
    assert not airflow_deployment.fault_once.exists()


def test_a_bad_batch_fails_the_run_at_the_gate_with_the_reason_in_the_log_and_readers_stay(
    airflow_deployment, scheduled
):
    bad, tis = scheduled["bad"], scheduled["bad_tis"]
    assert bad["state"] == "failed"
    assert tis["validate"]["state"] == "failed"
    assert tis["validate"]["try_number"] == 3, "retries=2: the scheduler tried it three times"
    assert {tis[t]["state"] for t in ("prepare", "recommend", "publish")} == {"upstream_failed"}
    log = airflow_deployment.api.task_log(DAG, bad["dag_run_id"], "validate", 3)
    assert "quarantine_share" in log, log[-3000:]
    assert scheduled["after_bad"] == scheduled["after_two"]


def test_a_backfill_runs_past_dates_one_at_a_time_and_readers_stay_on_the_newest(scheduled):
    runs = scheduled["backfilled"]
    assert [run["state"] for run in runs] == ["success"] * len(BACKFILLED), scheduled["backfilled_tis"]
    assert {run["run_type"] for run in runs} == {"backfill"}
    # One at a time, oldest first: each run started after the one before had finished.
    for before, after in zip(runs, runs[1:]):
        assert before["end_date"] <= after["start_date"], (before, after)
    assert {tis["train"]["state"] for tis in scheduled["backfilled_tis"]} == {"skipped"}, "the newer model is reused"
    assert {tis["maintain"]["state"] for tis in scheduled["backfilled_tis"]} == {"skipped"}, "maintained once, later"
    # Every table was republished with the older dates in it, and readers still answer from the second day.
    dates = {table: day for table, (_, day) in served_dates(scheduled["lakehouse"]).items()}
    assert dates == {table: day for table, (_, day) in scheduled["after_two"]["served"].items()}
    assert dates["recommendations"] == DAY_2
    # No run came from the schedule: the daily DAG's runs are the module's own.
    kinds = sorted(run["run_type"] for run in scheduled["daily_runs"])
    assert kinds == ["backfill"] * len(BACKFILLED) + ["manual"] * 3, kinds
