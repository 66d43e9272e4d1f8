"""Airflow for the dag.test() runs: its metadata DB, what a deployment provides, generated input, and the daily
DAG run twice for one date: first on a real Spark standalone cluster with the packaged artefact, then again in
local mode (shared by the tests that read those runs). The running Airflow of the scheduler's tests is in
tests/e2e/conftest.py (airflow_deployment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import spark_cluster
from tests.helpers import DAG_RUN_DATE, LOCAL_MASTER, run_daily, snapshot, spark_overrides, states


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The metadata DB dag.test() records runs in (sqlite under AIRFLOW_HOME)."""
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.fixture(scope="session")
def synthetic_input(spark, tmp_path_factory) -> Path:
    """Raw events from the real `generate` job (200 users, 60 items), shared by every DAG run."""
    from reclake.stages import generate

    root = tmp_path_factory.mktemp("generated")
    args = ["--lakehouse", str(root), "--run-date", DAG_RUN_DATE.isoformat()]
    sizes = ["--set", "generate.users=200", "--set", "generate.items=60"]
    assert generate.main([*args, *sizes, *spark_overrides()]) == 0
    return root / "landing" / "events"


@pytest.fixture(scope="session")
def airflow_env(airflow_db, artefacts):
    """What a deployment provides: spark-submit on PATH, the Spark connection, the artefact variable."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        mp.setenv("PYSPARK_PYTHON", sys.executable)
        mp.setenv("AIRFLOW_CONN_RECLAKE_SPARK", LOCAL_MASTER)
        mp.setenv("AIRFLOW_VAR_RECLAKE_PY_FILES", str(artefacts[1]))
        yield mp


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """scripts/spark-cluster.sh start (a master and two workers on loopback, free ports): (its folder, its
    connection); always stopped afterwards."""
    state = tmp_path_factory.mktemp("spark-cluster")
    with spark_cluster(state) as port:
        yield state, json.dumps({"conn_type": "spark", "host": "spark://127.0.0.1", "port": port})


@pytest.fixture(scope="session")
def daily_runs(cluster, dagbag, airflow_env, synthetic_input, tmp_path_factory):
    """The daily DAG run twice for the same date into one lakehouse: first on the standalone cluster (the
    driver on loopback, executors fetching the artefact), then in local mode.

    Returns (lakehouse, [(dag run, task states, tables)] x 2). Task states are read right after each run:
    the next dag.test() for the date clears them.
    """
    lakehouse = tmp_path_factory.mktemp("daily") / "lakehouse"
    dag = dagbag.dags["reclake_daily"]
    runs = []
    for connection in (cluster[1], LOCAL_MASTER):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AIRFLOW_CONN_RECLAKE_SPARK", connection)
            mp.setenv("SPARK_LOCAL_IP", "127.0.0.1")  # the driver, too, listens on loopback only
            dag_run = run_daily(dag, lakehouse, synthetic_input)
        runs.append((dag_run, states(dag_run), snapshot(lakehouse) if dag_run.state == "success" else None))
    return lakehouse, runs
