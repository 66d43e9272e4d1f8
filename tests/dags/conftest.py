"""Airflow for the DAG tests: a throwaway AIRFLOW_HOME with its own sqlite DB, the repo's dags/.

Airflow reads its configuration when first imported, so the environment is set here,
when pytest loads this file, before any test module imports airflow.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from ..conftest import REPO, spark_overrides

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="reclake-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
)

RUN_DATE = dt.date(2026, 11, 20)
TOP_N = 5
# Tiny and quick: every job below runs in its own spark-submit JVM with the default 1g driver.
SMALL = ["als.rank=8", "als.max_iter=3", f"recommend.top_n={TOP_N}", "spark.shuffle_partitions=2"]
LOCAL_MASTER = '{"conn_type": "spark", "host": "local[2]"}'
TABLES = ("events", "quarantine", "interactions", "user_ids", "item_ids", "model_registry", "recommendations")


@pytest.fixture(scope="session", autouse=True)
def _remove_airflow_home():
    yield
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The metadata DB dag.test() records runs in (sqlite under AIRFLOW_HOME)."""
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.fixture(scope="session")
def artefact(tmp_path_factory) -> Path:
    """The zip `make package` builds, shipped to executors with --py-files."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "package.sh"), str(out)],
        capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable}, check=True,
    )  # fmt: skip
    return Path(result.stdout.strip())


@pytest.fixture(scope="session")
def synthetic_input(spark, tmp_path_factory) -> Path:
    """Raw events from the real `generate` job (200 users, 60 items), shared by every DAG run."""
    from reclake.stages import generate

    root = tmp_path_factory.mktemp("generated")
    args = ["--lakehouse", str(root), "--run-date", RUN_DATE.isoformat()]
    sizes = ["--set", "generate.users=200", "--set", "generate.items=60"]
    assert generate.main([*args, *sizes, *spark_overrides()]) == 0
    return root / "landing" / "events"


@pytest.fixture(scope="session")
def airflow_env(airflow_db, artefact):
    """What a deployment provides: spark-submit on PATH, the Spark connection, the artefact variable."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        mp.setenv("PYSPARK_PYTHON", sys.executable)
        mp.setenv("AIRFLOW_CONN_RECLAKE_SPARK", LOCAL_MASTER)
        mp.setenv("AIRFLOW_VAR_RECLAKE_PY_FILES", str(artefact))
        yield mp


def run_daily(dag, lakehouse: Path, events: Path, **params: Any):
    """One dag.test() of the daily DAG for RUN_DATE on a tiny config; returns the DagRun."""
    overrides = [f"lakehouse.root={lakehouse}", f"input.path={events}", *SMALL, *params.pop("overrides", [])]
    return dag.test(
        logical_date=dt.datetime.combine(RUN_DATE, dt.time(), tzinfo=dt.timezone.utc),
        run_conf={"overrides": overrides, **params},
    )


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def snapshot(lakehouse: Path) -> dict[str, Any]:
    """Each table's rows (sorted, comparable) and its Delta version, read with delta-rs."""
    tables = {}
    for name in TABLES:
        table = DeltaTable(str(lakehouse / name))
        # Who wrote a row and when differs per attempt by design; the data must not.
        frame = table.to_pandas().drop(columns=["run_id", "quarantined_at"], errors="ignore")
        frame = frame.sort_values(list(frame.columns)).reset_index(drop=True)
        tables[name] = (frame, table.version())
    return tables


@pytest.fixture(scope="session")
def local_runs(dagbag, airflow_env, synthetic_input, tmp_path_factory):
    """The daily DAG run twice for the same date in local mode: (lakehouse, [(dag run, task states, tables)] x 2).

    Task states are read right after each run: the next dag.test() for the date clears them.
    """
    lakehouse = tmp_path_factory.mktemp("local") / "lakehouse"
    dag = dagbag.dags["reclake_daily"]
    runs = []
    for _ in range(2):
        dag_run = run_daily(dag, lakehouse, synthetic_input)
        runs.append((dag_run, states(dag_run), snapshot(lakehouse) if dag_run.state == "success" else None))
    return lakehouse, runs
