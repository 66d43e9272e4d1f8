"""Backfills and retraining under a running Airflow 3 (tests/e2e/conftest.py: airflow_deployment): `airflow
backfill create` over three past dates, then the weekly retrain and the next day's daily run on its model.

Long tier: five DAG runs of real spark-submits, about 15 minutes on a shared 2-core machine.

Airflow 3 runs a backfill's runs against the backfill's own limit (``--max-active-runs``, default 10), not the
DAG's ``max_active_runs``, and counts them apart from the DAG's other runs; the jobs share the lakehouse, so a
backfill of reclake_daily must be created with ``--max-active-runs 1`` (docs/operations.md).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from deltalake import DeltaTable

from tests.e2e.servers import needs_postgres
from tests.helpers import DAG_SMALL, generate_landing, served_dates

pytestmark = needs_postgres

DAYS = [dt.date(2026, 11, 17), dt.date(2026, 11, 18), dt.date(2026, 11, 19)]
NEXT_DAY = dt.date(2026, 11, 20)
DAILY, RETRAIN = "reclake_daily", "reclake_weekly_retrain"
RUN_TIMEOUT_S = 1200


@pytest.fixture(scope="module")
def backfilled(airflow_deployment, spark, tmp_path_factory) -> dict[str, Any]:
    """The three days landed (and the next one), the daily DAG unpaused, one backfill over the three days with
    one run at a time; returns the lakehouse, the overrides and the backfill's runs, oldest first."""
    api = airflow_deployment.api
    root = tmp_path_factory.mktemp("backfill")
    landing, lakehouse = root / "landing", root / "lakehouse"
    assert len(generate_landing(landing, NEXT_DAY, days=4)) == 4
    overrides = [f"lakehouse.root={lakehouse}", f"input.path={landing}/date={{run_date}}", *DAG_SMALL]
    assert api.call("PATCH", f"/dags/{DAILY}", {"is_paused": False})["is_paused"] is False
    airflow_deployment.cli(
        "backfill", "create", "--dag-id", DAILY, "--from-date", str(DAYS[0]), "--to-date", str(DAYS[-1]),
        "--max-active-runs", "1", "--reprocess-behavior", "none", "--dag-run-conf", json.dumps({"overrides": overrides}),
    )  # fmt: skip
    listed = api.call("GET", f"/dags/{DAILY}/dagRuns?run_type=backfill&order_by=logical_date")["dag_runs"]
    assert [run["logical_date"][:10] for run in listed] == [str(day) for day in DAYS], listed
    runs = [api.wait_run(DAILY, run["dag_run_id"], RUN_TIMEOUT_S) for run in listed]
    return {"lakehouse": lakehouse, "overrides": overrides, "runs": runs}


def test_a_backfill_runs_three_past_dates_one_at_a_time_and_publishes_each_once(backfilled):
    runs = backfilled["runs"]
    assert [run["state"] for run in runs] == ["success"] * 3, runs
    assert {run["run_type"] for run in runs} == {"backfill"}
    # One at a time, oldest first: each run started after the one before had finished.
    for before, after in zip(runs, runs[1:]):
        assert before["end_date"] <= after["start_date"], (before, after)
    recommendations = DeltaTable(str(backfilled["lakehouse"] / "recommendations"))
    writes = [c for c in recommendations.history() if c["operation"] == "WRITE"]
    assert len(writes) == 3, writes
    assert served_dates(backfilled["lakehouse"])["recommendations"][1] == DAYS[-1]
    events = DeltaTable(str(backfilled["lakehouse"] / "events")).to_pandas()
    assert sorted(str(d) for d in events["ingest_date"].unique()) == [str(day) for day in DAYS]


def test_the_weekly_retrain_trains_and_the_next_daily_run_uses_its_model(airflow_deployment, backfilled):
    api, lakehouse = airflow_deployment.api, backfilled["lakehouse"]
    conf = {"overrides": backfilled["overrides"]}
    assert api.call("PATCH", f"/dags/{RETRAIN}", {"is_paused": False})["is_paused"] is False
    # The week's retrain, for the logical date its @weekly schedule would give it, then the next day's run.
    retrain = {"dag_run_id": f"weekly__{DAYS[-1]}", "logical_date": f"{DAYS[-1]}T00:00:00Z", "conf": conf}
    retrained = api.wait_run(RETRAIN, api.call("POST", f"/dags/{RETRAIN}/dagRuns", retrain)["dag_run_id"], 900)
    assert retrained["state"] == "success", api.task_instances(RETRAIN, retrained["dag_run_id"])
    registry = DeltaTable(str(lakehouse / "model_registry")).to_pandas().sort_values("created_at")
    assert len(registry) == 2, registry  # the backfill's first day trained one; the retrain another
    newest = registry["model_version"].iloc[-1]
    daily = {"dag_run_id": f"api__{NEXT_DAY}", "logical_date": f"{NEXT_DAY}T00:00:00Z", "conf": conf}
    next_day = api.wait_run(DAILY, api.call("POST", f"/dags/{DAILY}/dagRuns", daily)["dag_run_id"], RUN_TIMEOUT_S)
    tis = api.task_instances(DAILY, next_day["dag_run_id"])
    assert next_day["state"] == "success", tis
    assert tis["train"]["state"] == "skipped", "the retrain's model is fresh: the daily run only recommends"
    recs = DeltaTable(str(lakehouse / "recommendations")).to_pandas()
    assert set(recs.loc[recs["run_date"] == NEXT_DAY, "model_version"]) == {newest}
