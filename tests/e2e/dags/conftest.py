"""The Spark standalone cluster the running Airflow's tests point their runs at (test_scheduler.py; the deployment
itself, and Airflow for the dag.test() runs, are in tests/e2e/conftest.py)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.servers import spark_cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """scripts/spark-cluster.sh start (a master and two workers on loopback, free ports): (its folder, its
    connection); always stopped afterwards."""
    state = tmp_path_factory.mktemp("spark-cluster")
    with spark_cluster(state) as port:
        yield state, json.dumps({"conn_type": "spark", "host": "spark://127.0.0.1", "port": port})
