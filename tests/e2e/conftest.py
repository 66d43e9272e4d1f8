"""Fixtures the e2e modules share: built once per session, only read by the tests that use them."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from reclake.config.loading import apply_override, load_config, parse_override
from reclake.faults import FAULT_ONCE_ENV
from tests.e2e.servers import AirflowApi, free_port, kafka_broker, postgres, s3_server, server
from tests.helpers import LOCAL_MASTER, REPO, airflow_environment


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory) -> tuple[Path, Path]:
    """(wheel, zip) from scripts/package.sh (`make package`): the wheel test installs one, the DAG runs ship the
    other with --py-files."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "package.sh"), str(out)],
        capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable}, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    archive = Path(done.stdout.strip())
    wheels = list(out.glob("reclake-*-py3-none-any.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    return wheels[0], archive


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
def broker(tmp_path_factory) -> Iterator[str]:
    """A Kafka broker (scripts/kafka.sh) for the session's Kafka tests, each on a topic of its own."""
    with kafka_broker(tmp_path_factory.mktemp("kafka")) as bootstrap:
        yield bootstrap


S3_BUCKET = "reclake-e2e"


@pytest.fixture(scope="session")
def s3(tmp_path_factory) -> Iterator[dict[str, str]]:
    """moto's S3 and DynamoDB server with the bucket ``S3_BUCKET``, for the session's S3 tests (each under a
    prefix of its own); yields the AWS_* environment that points a client at it."""
    with s3_server(tmp_path_factory.mktemp("moto"), S3_BUCKET) as env:
        yield env


@pytest.fixture
def s3_env(s3, monkeypatch) -> dict[str, str]:
    """``s3``'s AWS_* environment set in this process for one test: its own readers (delta-rs, the LookupClient,
    pyarrow) and the processes it starts reach the moto server as a deployment's would."""
    for key, value in s3.items():
        monkeypatch.setenv(key, value)
    return s3


POOL = "reclake_spark"


@dataclass(frozen=True)
class Deployment:
    """A running Airflow: its REST API, the environment its processes share (for the CLI), its folder, the file
    that arms a fault the next job reaching it takes once (RECLAKE_FAULT_ONCE), the config its runs load unless
    their conf names another (RECLAKE_CONFIG; `configure` writes it), a way to restart its scheduler, and the pool
    its tasks run in."""

    api: AirflowApi
    env: dict[str, str]
    home: Path
    fault_once: Path
    config: Path
    restart_scheduler: Callable[[dict[str, str]], None]  # stops the scheduler, starts it with these settings
    pool: str = POOL

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """``airflow <args>`` against this deployment's metadata DB."""
        return airflow_cli(self.env, *args)

    def configure(self, overrides: list[str]) -> None:
        """Write the deployment's config: conf/local.yaml with ``overrides`` applied, checked as a job loads it."""
        data = yaml.safe_load((REPO / "conf" / "local.yaml").read_text())
        for override in overrides:
            apply_override(data, *parse_override(override))
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))
        load_config(str(self.config))


def airflow_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``airflow <args>`` in ``env``; fails the test with its output when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def airflow_deployment(artefacts, tmp_path_factory) -> Iterator[Deployment]:
    """Airflow 3 as a deployment runs it: a PostgreSQL metadata DB (a throwaway cluster), `airflow db migrate`,
    then the api-server, the scheduler (LocalExecutor) and the dag-processor as separate processes, the DAGs
    from the repo's dags/, the reclake_spark connection (in the DB) at local Spark and the artefact variable. Logged in as
    a SimpleAuthManager admin. Every process and the cluster are stopped afterwards.

    The scheduler creates runs from the DAGs' schedules and Assets (use_job_schedule), as deployed; the DAGs have
    no start date, so unpausing one starts no run before its next tick (tomorrow 00:00 UTC for the daily one).
    `restart_scheduler` restarts it with other settings. Retries wait 1 s instead of 2 minutes
    (RECLAKE_RETRY_DELAY_SECONDS).
    """
    root = tmp_path_factory.mktemp("airflow-deployment")
    home, logs = root / "home", root / "logs"
    home.mkdir()
    logs.mkdir()
    api_port, health_port = free_port(), free_port()
    password = secrets.token_urlsafe(16)
    (home / "passwords.json").write_text(json.dumps({"reclake": password}))
    with postgres(root / "postgres") as database:
        # The test session's own Airflow settings (sqlite, its home) must not leak into the deployment.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RECLAKE_FAULT"))}
        env.update(airflow_environment(home))
        env.update(
            {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "2",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "reclake:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),  # the scheduler's task tokens, the API's
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(health_port),
                # What a deployment provides (as airflow_env does for dag.test()).
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                "PYSPARK_PYTHON": sys.executable,
                "PYTHONPATH": str(REPO),
                "SPARK_LOCAL_IP": "127.0.0.1",
                "AIRFLOW_VAR_RECLAKE_PY_FILES": str(artefacts[1]),
                "RECLAKE_RETRY_DELAY_SECONDS": "1",
                "RECLAKE_POOL": POOL,
                FAULT_ONCE_ENV: str(root / "fault-once"),
                "RECLAKE_CONFIG": str(root / "reclake.yaml"),
            }
        )
        airflow_cli(env, "db", "migrate")
        # The Spark connection in the metadata DB, not the environment, so a test can repoint it through the API.
        airflow_cli(env, "connections", "add", "reclake_spark", "--conn-json", LOCAL_MASTER)
        # The pool the DAG's tasks take their slot in (RECLAKE_POOL), made as a user would, before they run.
        airflow_cli(env, "pools", "set", POOL, "2", "reclake's spark-submit tasks")
        base = f"http://127.0.0.1:{api_port}"
        airflow = [sys.executable, "-m", "airflow"]
        api_server = [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1"]
        popen = {"env": env, "cwd": root}
        with (
            server(api_server, f"{base}/api/v2/monitor/health", logs / "api-server.log", timeout=180, **popen),
            contextlib.ExitStack() as scheduler,
        ):
            starts = itertools.count(1)

            def restart_scheduler(settings: dict[str, str]) -> None:
                scheduler.close()  # stops the running one, if any
                health, log = f"http://127.0.0.1:{health_port}/health", logs / f"scheduler-{next(starts)}.log"
                scheduler.enter_context(server([*airflow, "scheduler"], health, log, env={**env, **settings}, cwd=root))

            restart_scheduler({})
            api = AirflowApi(base, "reclake", password)

            def parsed() -> bool:
                dags = api.call("GET", "/dags?dag_id_pattern=reclake")["dags"]
                return {d["dag_id"] for d in dags} >= {"reclake_daily", "reclake_weekly_retrain"}

            with server([*airflow, "dag-processor"], parsed, logs / "dag-processor.log", timeout=180, **popen):
                yield Deployment(api, env, home, root / "fault-once", root / "reclake.yaml", restart_scheduler)
