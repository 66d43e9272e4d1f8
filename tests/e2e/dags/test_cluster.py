"""The daily DAG against a real Spark standalone cluster (master + two workers on loopback),
with the code shipped as the packaged artefact: same output as the local-mode run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from deltalake import DeltaTable

from tests.e2e.servers import free_port
from tests.helpers import REPO, run_daily


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """scripts/spark-cluster.sh start, on free ports; always stopped afterwards."""
    state = tmp_path_factory.mktemp("spark-cluster")
    port = free_port()
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "RECLAKE_CLUSTER_DIR": str(state),
        "RECLAKE_MASTER_PORT": str(port),
        "RECLAKE_MASTER_UI_PORT": str(free_port()),
    }
    script = [str(REPO / "scripts" / "spark-cluster.sh")]
    try:
        started = subprocess.run([*script, "start"], env=env, capture_output=True, text=True, timeout=300)
        assert started.returncode == 0, started.stderr[-3000:]
        yield state, port
    finally:
        subprocess.run([*script, "stop"], env=env, capture_output=True, timeout=120)


def published(lakehouse: Path):
    recs = DeltaTable(str(lakehouse / "recommendations")).to_pandas()
    return recs.drop(columns="model_version").sort_values(["user_id", "rank"]).reset_index(drop=True)


def test_pipeline_on_the_cluster_with_the_artefact_equals_local_mode(
    cluster, local_runs, dagbag, airflow_env, synthetic_input, tmp_path, monkeypatch
):
    state, port = cluster
    monkeypatch.setenv(
        "AIRFLOW_CONN_RECLAKE_SPARK", json.dumps({"conn_type": "spark", "host": "spark://127.0.0.1", "port": port})
    )
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")  # the driver, too, listens on loopback only
    lakehouse = tmp_path / "lakehouse"

    dag_run = run_daily(dagbag.dags["reclake_daily"], lakehouse, synthetic_input)

    assert dag_run.state == "success", {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    # Every job ran as an application of this cluster, its executors fetching the artefact.
    apps = sorted(state.glob("work/worker-*/app-*"))
    spark_jobs = [task for task in dagbag.dags["reclake_daily"].tasks if hasattr(task, "application")]
    assert len({app.name for app in apps}) == len(spark_jobs), apps
    assert all(list(app.glob("*/reclake-*.zip")) for app in apps), "an executor ran without the artefact"
    local_lakehouse, _ = local_runs
    cluster_recs, local_recs = published(lakehouse), published(local_lakehouse)
    assert len(cluster_recs) == 200 * 5
    # Same seed, same partitioning: the same items in the same order for every user.
    assert cluster_recs[["user_id", "rank", "item_id", "source", "run_date"]].equals(
        local_recs[["user_id", "rank", "item_id", "source", "run_date"]]
    )
    np.testing.assert_allclose(cluster_recs["score"], local_recs["score"], rtol=1e-5)
