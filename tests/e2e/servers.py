"""Real server processes for the e2e tests: a free loopback port, start, wait until ready, always stop."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import free_port


def get_json(url: str, timeout: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def wait_for(check, what: str, timeout: float, log: Path | None = None, every: float = 0.5) -> Any:
    """Call ``check`` every ``every`` s until it returns something truthy (errors count as not yet); fail after
    ``timeout`` s."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError) as exc:
            last = exc
        time.sleep(every)
    tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last})\n{tail}")


@contextmanager
def server(
    command: Sequence[str], ready_url: str | Callable[[], Any], log: Path, timeout: float = 120, **popen: Any
) -> Iterator[None]:
    """Run ``command`` (output to ``log``) until the block ends; ready once ``ready_url`` answers (not 5xx), or
    once ``ready_url`` is a check that returns something truthy (for a process that serves no HTTP)."""
    with log.open("wb") as out:  # its own process group: stopping it stops whatever it started
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **popen)
    try:

        def ready() -> Any:
            if process.poll() is not None:
                raise AssertionError(f"{command[-1]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            if callable(ready_url):
                return ready_url()
            try:
                with urllib.request.urlopen(ready_url, timeout=5) as response:
                    return response.status == 200
            except urllib.error.HTTPError as exc:
                return exc.code < 500  # it answers: e.g. 401 behind basic auth; 503 is still starting

        wait_for(ready, f"{' '.join(command[-2:])} to be ready", timeout, log)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def scripted(script: Path, settings: dict[str, str], timeout: float) -> Iterator[None]:
    """``script start`` (a server script of scripts/, its settings in the environment) until the block ends, then
    ``script stop``, whatever happened."""
    env = {**os.environ, **settings}
    subprocess.run(["bash", str(script), "start"], env=env, check=True, timeout=timeout)
    try:
        yield
    finally:
        subprocess.run(["bash", str(script), "stop"], env=env, check=True, timeout=60)


CLUSTER_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "spark-cluster.sh"


@contextmanager
def spark_cluster(state: Path, settings: dict[str, str] | None = None) -> Iterator[int]:
    """scripts/spark-cluster.sh (a master and two workers on loopback, each worker with its own folders under
    ``state``) on free ports until the block ends; the daemons inherit ``settings`` as a node's spark-env.sh
    would give them. Yields the master's port."""
    port = free_port()
    cluster = {
        "PYTHON": sys.executable,
        "RECLAKE_CLUSTER_DIR": str(state),
        "RECLAKE_MASTER_PORT": str(port),
        "RECLAKE_MASTER_UI_PORT": str(free_port()),
    }
    with scripted(CLUSTER_SCRIPT, {**(settings or {}), **cluster}, timeout=300):
        yield port


# The broker's jars (scripts/test-tools.sh fetches them) and the script that runs it.
KAFKA_HOME = Path(
    os.environ.get("RECLAKE_KAFKA_HOME")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reclake" / "kafka-4.2.0"
)
KAFKA_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka.sh"
needs_kafka = pytest.mark.skipif(
    not (KAFKA_HOME / "jars").is_dir(), reason=f"no Kafka jars in {KAFKA_HOME} (run scripts/test-tools.sh)"
)


@contextmanager
def kafka_broker(state: Path) -> Iterator[str]:
    """A Kafka 4 broker (KRaft) on a free loopback port by scripts/kafka.sh, until the block ends; yields
    its bootstrap address."""
    port = free_port()
    with scripted(KAFKA_SCRIPT, {"RECLAKE_KAFKA_DIR": str(state), "RECLAKE_KAFKA_PORT": str(port)}, timeout=180):
        yield f"127.0.0.1:{port}"


@contextmanager
def s3_server(state: Path, bucket: str) -> Iterator[dict[str, str]]:
    """moto's standalone server (the S3 and DynamoDB APIs) on a free loopback port with ``bucket`` created,
    until the block ends; yields the AWS_* environment that points every client at it.

    The keys are made up: moto checks no signature. The secret is a fresh one each time, so a test can look
    for it in whatever a run wrote.
    """
    port, log = free_port(), state / "moto.log"
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "reclake-test",
        "AWS_SECRET_ACCESS_KEY": f"planted-{uuid.uuid4().hex}",
    }
    command = [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)]
    with server(command, f"{env['AWS_ENDPOINT_URL']}/moto-api/data.json", log, timeout=60, cwd=state):
        s3_client(env).create_bucket(Bucket=bucket)
        yield env


def s3_client(env: dict[str, str]) -> Any:
    """A boto3 S3 client for the server ``s3_server`` yielded ``env`` for."""
    import boto3  # the dev extra's; only the S3 tests need it

    return boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    ).client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])


# The BigQuery emulator's venv (scripts/test-tools.sh installs it) and the launcher that starts it without spatial.
BQEMULATOR_HOME = Path(
    os.environ.get("RECLAKE_BQEMULATOR_HOME")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reclake" / "bqemulator-1.4.0"
)
BQEMULATOR_LAUNCHER = Path(__file__).with_name("bigquery_emulator.py")


@contextmanager
def bigquery_emulator(state: Path, project: str, dataset: str) -> Iterator[str]:
    """bqemulator (BigQuery's REST API on an in-memory DuckDB) on a free loopback port, with ``project`` and its
    empty ``dataset``, until the block ends; yields its endpoint.

    Started by tests/e2e/bigquery_emulator.py, which skips loading DuckDB's spatial extension: bqemulator
    downloads it at start, which cannot be done here, and reclake's tables have no GEOGRAPHY column.
    """
    port, log = free_port(), state / "bqemulator.log"
    endpoint = f"http://127.0.0.1:{port}"
    command = [
        str(BQEMULATOR_HOME / "bin" / "python"), str(BQEMULATOR_LAUNCHER), "start", "--rest-port", str(port),
        "--grpc-port", "0", "--project", project, "--ephemeral", "--no-admin", "--log-level", "warning",
    ]  # fmt: skip
    # cwd: bqemulator reads a .bqemu.toml there; the upload folder keeps the files it is sent in the test's tree.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(state), "BQEMU_UPLOAD_STAGING_DIR": str(state / "uploads")}
    with server(command, f"{endpoint}/readyz", log, timeout=60, cwd=state, env=env):
        body = json.dumps({"datasetReference": {"projectId": project, "datasetId": dataset}}).encode()
        request = urllib.request.Request(
            f"{endpoint}/bigquery/v2/projects/{project}/datasets", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200, response.read()
        yield endpoint


class Producer:
    """Creates ``topic`` with 3 partitions, sends to them in turn and remembers the (partition, offset) of every
    message."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import KafkaProducer
        from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        admin.close()
        self.topic = topic
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.sent: list[tuple[int, int]] = []

    def send(self, values: list[bytes], day: dt.date, headers: list[tuple[str, bytes]] | None = None) -> None:
        """``values`` as messages of ``day`` (their Kafka timestamp: 12:00 UTC), each with ``headers``."""
        millis = int(dt.datetime.combine(day, dt.time(12), tzinfo=dt.timezone.utc).timestamp() * 1000)
        futures = [
            self.producer.send(
                self.topic, value=v, key=f"k{i}".encode(), partition=i % 3, timestamp_ms=millis, headers=headers
            )
            for i, v in enumerate(values)
        ]
        self.producer.flush()
        self.sent += [(meta.partition, meta.offset) for meta in (f.get(timeout=30) for f in futures)]


# PostgreSQL from Debian's packages (scripts/test-tools.sh) and the script that runs a throwaway cluster of it.
POSTGRES_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"
needs_postgres = pytest.mark.skipif(
    not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
    reason="no PostgreSQL server (run scripts/test-tools.sh)",
)


@contextmanager
def postgres(state: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster (scripts/postgres.sh: initdb, pg_ctl) on a free loopback port until the
    block ends; yields the SQLAlchemy URL of its empty database ``airflow``."""
    port = free_port()
    with scripted(POSTGRES_SCRIPT, {"RECLAKE_PG_DIR": str(state), "RECLAKE_PG_PORT": str(port)}, timeout=120):
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/airflow"


class AirflowApi:
    """Airflow 3's REST API v2 as a client calls it: a JWT from the auth manager's ``POST /auth/token``
    (SimpleAuthManager's users and passwords), then ``Authorization: Bearer`` on every call."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base
        login = json.dumps({"username": username, "password": password}).encode()
        request = urllib.request.Request(f"{base}/auth/token", login, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            self.token = json.load(response)["access_token"]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """``method`` ``/api/v2<path>`` with a JSON body; the JSON answer (an HTTP error raises, with its body)."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(f"{self.base}/api/v2{path}", data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:2000]!r}") from None

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """The run once the scheduler has finished it (success or failed)."""

        def finished() -> dict[str, Any] | None:
            run = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        return wait_for(finished, f"{dag_id} run {run_id} to finish", timeout, every=3)  # runs take minutes

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """Task id -> the task instance of the run (state, try_number, pool, ...)."""
        answer = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in answer["task_instances"]}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """One try's log as the API serves it: structured lines, their events joined."""
        answer = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}")
        return "\n".join(line.get("event", "") if isinstance(line, dict) else str(line) for line in answer["content"])
