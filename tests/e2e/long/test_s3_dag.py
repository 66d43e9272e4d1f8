"""The daily DAG against a standalone cluster whose workers share no disk, its input and lakehouse on S3 (moto's
server): dag.test() of reclake_daily with the Spark connection on the cluster. Every job is an application of the
cluster with executors on both workers, each fetching the artefact and the connectors' jars (hadoop-aws with the AWS
SDK's modules) into its own folders. Long tier: seven jobs on the cluster cost about a minute each on 2 cores;
tests/e2e/test_s3.py runs the whole pipeline there as one spark-submit in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.e2e.conftest import S3_BUCKET
from tests.e2e.servers import spark_cluster
from tests.helpers import (
    DAG_RUN_DATE,
    DAG_TOP_N,
    check_cluster_apps,
    check_recommendations,
    files_holding,
    published_table,
    run_daily,
    states,
)

LANDING = f"s3a://{S3_BUCKET}/dag-on-cluster/landing/events"
LAKEHOUSE = f"s3a://{S3_BUCKET}/dag-on-cluster/lakehouse"
INPUT = ["generate.users=120", "generate.items=40", "generate.days=3", "generate.partitions=2"]
JOBS = ("validate", "prepare", "train", "evaluate", "recommend", "publish", "maintain")


def test_the_daily_dag_runs_its_jobs_on_a_cluster_with_no_shared_disk_against_s3(
    s3_env, dagbag, airflow_env, monkeypatch, tmp_path
):
    # s3_env: the driver's (the Airflow task's) AWS environment; the workers get theirs below
    sets = [arg for s in INPUT for arg in ("--set", s)]
    generated = subprocess.run(
        [sys.executable, "-m", "reclake.cli", "generate", "--input", LANDING, "--lakehouse", LAKEHOUSE,
         "--run-date", DAG_RUN_DATE.isoformat(), *sets],
        capture_output=True, text=True, cwd=tmp_path, env=os.environ, timeout=600,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr[-3000:]
    cluster = tmp_path / "cluster"
    with spark_cluster(cluster, s3_env) as port:
        monkeypatch.setenv(
            "AIRFLOW_CONN_RECLAKE_SPARK", json.dumps({"conn_type": "spark", "host": "spark://127.0.0.1", "port": port})
        )
        monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        dag_run = run_daily(dagbag.dags["reclake_daily"], LAKEHOUSE, LANDING, overrides=INPUT)
    task_states = states(dag_run)
    assert dag_run.state == "success", task_states
    assert {job: task_states[job] for job in JOBS} == dict.fromkeys(JOBS, "success")
    check_cluster_apps(cluster, applications=len(JOBS))  # every job an application of the cluster
    events = published_table(LAKEHOUSE, "events").to_pandas()
    published = published_table(LAKEHOUSE, "recommendations").to_pandas()
    check_recommendations(published, events, DAG_TOP_N)
    # No local folder served as a lakehouse; the secret is in no file of the cluster's nodes.
    assert [p for p in tmp_path.rglob("*") if p.name == "_delta_log" or "s3a:" in p.name] == []
    assert files_holding(cluster, [s3_env["AWS_SECRET_ACCESS_KEY"].encode()]) == []
