"""Airflow for the dag.test() runs (its metadata DB, what a deployment provides), and the Spark standalone cluster
the running Airflow's tests point their runs at (test_scheduler.py; the deployment itself is tests/e2e/conftest.py:
airflow_deployment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import spark_cluster
from tests.helpers import LOCAL_MASTER


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The metadata DB dag.test() records runs in (sqlite under AIRFLOW_HOME)."""
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]


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
