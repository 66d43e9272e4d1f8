"""The daily DAG under a running Airflow 3 (tests/e2e/conftest.py: airflow_deployment, on PostgreSQL): the scheduler, not
dag.test(), decides when each task runs, retries a failed one and fails a run; all through the REST API v2. Every
job is a real spark-submit of the packaged artefact.

One lakehouse, three logical dates triggered as a user would:
  1. the reclake_spark connection repointed (PATCH /connections) at a Spark standalone cluster, the first two dates
     triggered at once: they succeed in order, the first one's prepare killed once and retried by the scheduler;
  2. the connection back at local[2], a bad batch for the third date fails at the validation gate, leaving readers
     on the second date.
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

from tests.e2e.servers import needs_postgres
from tests.helpers import (
    DAG_SMALL,
    DAG_TOP_N,
    HEADER,
    LOCAL_MASTER,
    check_recommendations,
    generate_landing,
    served_dates,
)

pytestmark = needs_postgres

DAY_1, DAY_2, BAD_DAY = dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)
DAG = "reclake_daily"
FAULT = "prepare:after_ids"  # taken once: the first prepare dies after writing its id tables
RUN_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def landing(spark, tmp_path_factory) -> Path:
    """Landing folders by date: two days from the real `generate` job, then a bad batch for the third day (every
    row an unknown event type, so the batch's quarantine share fails the gate)."""
    root = tmp_path_factory.mktemp("scheduled") / "landing"
    assert generate_landing(root, DAY_2, days=2) == [f"date={DAY_1}", f"date={DAY_2}"]
    bad = root / f"date={BAD_DAY}"
    bad.mkdir()
    lines = [f"u{i:07d},i{i % 60:07d},teleport,,{DAY_2}T10:00:00Z" for i in range(50)]
    (bad / "events.csv").write_text("".join(f"{line}\n" for line in [HEADER, *lines]))
    return root


def trigger(api, day: dt.date, lakehouse: Path, landing: Path) -> str:
    """POST a run of the daily DAG for ``day`` on the small config, its input the day's landing folder."""
    overrides = [f"lakehouse.root={lakehouse}", f"input.path={landing}/date={{run_date}}", *DAG_SMALL]
    body = {"dag_run_id": f"api__{day}", "logical_date": f"{day}T00:00:00Z", "conf": {"overrides": overrides}}
    return api.call("POST", f"/dags/{DAG}/dagRuns", body)["dag_run_id"]


def point_spark_at(api, connection: str) -> None:
    """PATCH the reclake_spark connection to ``connection`` (its JSON form); the next task to start reads it."""
    fields = json.loads(connection)
    body = {"connection_id": "reclake_spark", "conn_type": "spark", "host": fields["host"], "port": fields.get("port")}
    assert api.call("PATCH", "/connections/reclake_spark", body)["host"] == fields["host"]


@pytest.fixture(scope="module")
def scheduled(airflow_deployment, cluster, landing, tmp_path_factory) -> dict[str, Any]:
    """Steps 1 and 2 of the module's docstring. Returns the runs, their task instances, the cluster's applications,
    what readers served after the two days, the asset events, and the seconds each step took."""
    api = airflow_deployment.api
    lakehouse = tmp_path_factory.mktemp("scheduled-lakehouse") / "lakehouse"
    assert api.call("PATCH", f"/dags/{DAG}", {"is_paused": False})["is_paused"] is False
    point_spark_at(api, cluster[1])
    airflow_deployment.fault_once.write_text(FAULT)
    started = time.monotonic()
    ids = [trigger(api, day, lakehouse, landing) for day in (DAY_1, DAY_2)]
    runs = [api.wait_run(DAG, run_id, RUN_TIMEOUT_S) for run_id in ids]
    two_days_s = time.monotonic() - started
    after_two = {"served": served_dates(lakehouse), "recommendations": DeltaTable(str(lakehouse / "recommendations"))}
    after_two["version"] = after_two["recommendations"].version()
    apps = set(cluster[0].glob("work/worker-*/app-*"))  # a folder per worker that ran executors of an application
    point_spark_at(api, LOCAL_MASTER)
    started = time.monotonic()
    bad = api.wait_run(DAG, trigger(api, BAD_DAY, lakehouse, landing), RUN_TIMEOUT_S)
    seconds = {"two_days_on_the_cluster": two_days_s, "bad_day_locally": time.monotonic() - started}
    return {
        "lakehouse": lakehouse,
        "runs": runs,
        "tis": [api.task_instances(DAG, run["dag_run_id"]) for run in runs],
        "cluster_apps": apps,
        "after_two": after_two,
        "bad": bad,
        "bad_tis": api.task_instances(DAG, bad["dag_run_id"]),
        "asset_events": api.call("GET", f"/assets/events?source_dag_id={DAG}&limit=100")["asset_events"],
        "seconds": seconds,
    }


def test_two_days_triggered_at_once_on_the_cluster_both_succeed_in_order(airflow_deployment, scheduled, capsys):
    with capsys.disabled():
        print(f"\nscheduler steps (s): { {step: round(s) for step, s in scheduled['seconds'].items()} }")
    first, second = scheduled["runs"]
    assert [run["state"] for run in scheduled["runs"]] == ["success", "success"], scheduled["tis"]
    assert [run["logical_date"][:10] for run in scheduled["runs"]] == [str(DAY_1), str(DAY_2)]
    # max_active_runs=1: the second day started only once the first had finished.
    assert first["end_date"] <= second["start_date"]
    states = [{task: ti["state"] for task, ti in tis.items()} for tis in scheduled["tis"]]
    assert states[0]["train"] == "success" and states[1]["train"] == "skipped", "day 2 reuses day 1's model"
    assert states[0]["publish"] == states[1]["publish"] == "success"
    assert {ti["pool"] for tis in scheduled["tis"] for ti in tis.values()} == {airflow_deployment.pool}


def test_every_spark_submit_of_the_two_days_was_an_application_of_the_cluster_with_the_artefact(scheduled):
    apps = scheduled["cluster_apps"]
    tries = sum(ti["try_number"] for tis in scheduled["tis"] for ti in tis.values() if ti["operator"] == "ReclakeJob")
    assert len({app.name for app in apps}) == tries == 13, apps  # day 1: 7 jobs, prepare twice; day 2: 5 jobs
    assert all(list(app.glob("*/reclake-*.zip")) for app in apps), "an executor ran without the artefact"


def test_each_date_is_published_once_and_readers_serve_the_second(scheduled):
    lakehouse = scheduled["lakehouse"]
    recs = scheduled["after_two"]["recommendations"]
    frame = recs.to_pandas()
    events = DeltaTable(str(lakehouse / "events")).to_pandas()
    assert sorted(str(d) for d in events["ingest_date"].unique()) == [str(DAY_1), str(DAY_2)]
    newest = frame[frame["run_date"] == DAY_2]
    check_recommendations(newest, events, DAG_TOP_N)
    # One publish commit per date, each writing its own date: no date published twice.
    writes = [c for c in recs.history() if c["operation"] == "WRITE"]
    assert len(writes) == 2, writes
    assert {table: day for table, (_, day) in scheduled["after_two"]["served"].items()}["recommendations"] == DAY_2
    registry = DeltaTable(str(lakehouse / "model_registry")).to_pandas()
    assert len(registry) == 1 and set(frame["model_version"]) == set(registry["model_version"])


def test_each_publish_records_an_asset_event_naming_its_run_date(scheduled):
    published = [
        (event["source_task_id"], event["extra"])
        for event in scheduled["asset_events"]
        if event["name"] == "reclake_recommendations"
    ]
    expected = [
        ("publish", {"run_date": run["logical_date"][:10], "run_id": run["dag_run_id"]}) for run in scheduled["runs"]
    ]
    assert sorted(published, key=str) == sorted(expected, key=str)


def test_the_latest_model_date_is_day_one_as_the_registry_says(scheduled):
    from reclake.serving.registry import latest_model_date

    assert latest_model_date(str(scheduled["lakehouse"])) == DAY_1


def test_a_job_killed_once_is_retried_by_the_scheduler_and_the_run_succeeds(airflow_deployment, scheduled):
    first = scheduled["tis"][0]
    assert first["prepare"]["try_number"] == 2 and first["prepare"]["state"] == "success"
    # Nothing else was retried: the fault was taken once, by the first day's prepare.
    tries = [(day, task, ti["try_number"]) for day, tis in enumerate(scheduled["tis"]) for task, ti in tis.items()]
    assert [(day, task) for day, task, n in tries if n > 1] == [(0, "prepare")], tries
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
    lakehouse = scheduled["lakehouse"]
    assert served_dates(lakehouse) == scheduled["after_two"]["served"]
    assert DeltaTable(str(lakehouse / "recommendations")).version() == scheduled["after_two"]["version"]
