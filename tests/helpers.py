"""Plain helpers and constants of the test suite (fixtures live in conftest.py files).

Import them absolutely: ``from tests.helpers import Golden, spark_overrides``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd
import uvicorn
from deltalake import DeltaTable
from pyarrow.fs import FileSelector

from reclake.config import SparkSection, load_config
from reclake.errors import CONDITIONS
from reclake.faults import FAULT_ENV
from reclake.objectstore import filesystem, storage_options
from reclake.serving import LookupClient
from reclake.serving.api import create_app
from reclake.uris import delta_rs_uri

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
MOVIELENS = REPO.parent / "shared" / "data" / "movielens-100k" / "u.data"

# Same settings the jobs get when tests call their main(): getOrCreate returns this session.
# No Spark UI: no test looks at it, and it costs a port and a thread pool per session.
# Spark's own settings are the sample config's (conf/local.yaml: no adaptive execution, no whole-stage code
# generation), which the golden runs would otherwise set on this shared session halfway through.
TEST_SPARK = SparkSection(
    master="local[2]",
    app_name="reclake-tests",
    shuffle_partitions=2,
    driver_memory="2g",
    conf={"spark.ui.enabled": "false", **load_config(REPO / "conf" / "local.yaml").spark.conf},
)

# ---------------------------------------------------------------------------------------------------------------
# The golden lakehouse (built once per session by the `golden` fixture of tests/conftest.py)

GOLDEN_RUN_DATE = "2026-11-23"
GOLDEN_TOP_N = 5
GOLDEN_USERS = 400
# Planted-cluster data on which a rank near the number of clusters clearly beats popularity.
GOLDEN_DATA = [
    "generate.users=400",
    "generate.items=120",
    "generate.clusters=4",
    "generate.mean_items_per_user=15",
    "als.rank=4",
    "als.alpha=5",
    "als.max_iter=6",
    f"recommend.top_n={GOLDEN_TOP_N}",
    "recommend.similar_items_top_n=5",
]


@dataclass(frozen=True)
class Golden:
    """The shared lakehouse and the --json summaries of its two runs (same date, same input)."""

    root: Path
    first: dict[str, Any]
    second: dict[str, Any]
    second_stderr: str  # what a person watching the second run saw (it ran quiet, as `make run` does)

    @staticmethod
    def args(root: Path) -> list[str]:
        """The options every golden run (and a test re-running a job on a copy) uses."""
        sets = [item for s in GOLDEN_DATA for item in ("--set", s)]
        return [
            "--config",
            str(REPO / "conf" / "local.yaml"),
            "--lakehouse",
            str(root),
            "--run-date",
            GOLDEN_RUN_DATE,
            *sets,
        ]


def files_holding(root: Path, needles: list[bytes]) -> list[str]:
    """Every file under ``root`` whose bytes hold one of ``needles`` (a planted secret's forms)."""
    return [str(p) for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]


def spark_overrides() -> list[str]:
    """--set options that keep jobs on the test session's settings (a test's own --set comes later and wins)."""
    # No HTML run report: its plots and aggregations would cost the fast tier seconds per job;
    # tests/e2e/long/test_run_observability.py turns it on.
    sets = [
        "spark.shuffle_partitions=2",
        "spark.quick_jit=true",  # a test's job lasts seconds: C1 alone spends less of the two cores compiling
        "spark.app_name=reclake-tests",
        "validation.data_docs=false",
        "monitoring.html_report=false",
    ]
    return [arg for item in sets for arg in ("--set", item)]


def call_job(main: Callable[[Sequence[str]], int], capsys, *args: str) -> tuple[int, dict[str, Any]]:
    """Call a job's main() as the CLI would, with --json; return (exit status, summary)."""
    status = main([*spark_overrides(), *args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return status, json.loads(out[-1])


def check_recommendations(recs: pd.DataFrame, events: pd.DataFrame, n: int) -> None:
    """Exactly n unseen items per user (fewer only when fewer remain), ranks 1..n, scores non-increasing."""
    catalogue = events["item_id"].nunique()
    seen = events.groupby("user_id")["item_id"].agg(set)
    assert set(recs["user_id"]) == set(seen.index), "every user in the input gets recommendations"
    for user, rows in recs.sort_values(["user_id", "rank"]).groupby("user_id"):
        expected = min(n, catalogue - len(seen[user]))
        assert list(rows["rank"]) == list(range(1, expected + 1)), user
        assert rows["score"].is_monotonic_decreasing, user
        assert not set(rows["item_id"]) & seen[user], f"{user} was recommended an item they have"
        assert rows["item_id"].is_unique, user


def prom_values(path: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A Prometheus text-format file as {(metric name, labels): value}, read with prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(path.read_text())
        for sample in family.samples
    }


def prom_value(values: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return values[(name, frozenset(labels.items()))]


# ---------------------------------------------------------------------------------------------------------------
# Reliability scenarios: real `reclake` processes on a copy of the golden lakehouse, and what every reader sees
# of the published tables afterwards.

PUBLISHED = ("recommendations", "similar_items")
# What identifies a published list, in order: a run's output is compared on these (scores are floats).
LIST_COLUMNS = {
    "recommendations": ("user_id", "rank", "item_id"),
    "similar_items": ("item_id", "rank", "similar_item_id"),
}


def start_job(job: str, root: Path, *extra: str, fault: str | None = None) -> subprocess.Popen:
    """`reclake <job>` with the golden run's settings, as a real process leading its own process group."""
    env = {key: value for key, value in os.environ.items() if key != FAULT_ENV}
    env["PYTHONPATH"] = str(REPO)
    if fault is not None:
        env[FAULT_ENV] = fault
    command = [sys.executable, "-m", "reclake.cli", job, *spark_overrides(), *Golden.args(root), *extra, "--json"]
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def finished(proc: subprocess.Popen) -> dict:
    """The job's ``--json`` summary, once it has exited 0."""
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-2000:] + err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def outcome(proc: subprocess.Popen) -> tuple[int, dict, str]:
    """A job's exit status, its ``--json`` summary and its stderr, however it ended."""
    out, err = proc.communicate(timeout=900)
    assert out.strip(), err[-3000:]
    return proc.returncode, json.loads(out.strip().splitlines()[-1]), err


def killed_by_itself(proc: subprocess.Popen) -> None:
    """The job, armed with a fault point, SIGKILLed its whole process group there: nothing of it outlived that."""
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == -signal.SIGKILL, f"exit {proc.returncode}: {err[-2000:]}"
    assert not group_alive(proc.pid), "the Spark JVM or a Python worker outlived the kill"


def group_alive(pgid: int, grace_s: float = 10.0) -> list[int]:
    """Processes of the killed group ``pgid`` still running ``grace_s`` seconds on: a SIGKILLed JVM takes a
    moment to release its heap and exit after its parent is gone (CI once saw one mid-exit), while one that
    escaped the kill stays (zombies waiting to be reaped do not count)."""
    deadline = time.monotonic() + grace_s
    while (alive := _group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _group_members(pgid: int) -> list[int]:
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def published_table(root: Path | str, table: str) -> DeltaTable:
    """A table as delta-rs reads it, in a local lakehouse or an ``s3a://`` one (from the AWS_* environment)."""
    uri = f"{root}/{table}"
    return DeltaTable(delta_rs_uri(uri), storage_options=storage_options(uri))


def recorded_runs(root: Path | str) -> dict[str, dict]:
    """The lakehouse's ``runs`` table (local or ``s3a://``) by run id."""
    return {row["run_id"]: row for row in published_table(root, "runs").to_pyarrow_table().to_pylist()}


def published_lists(root: Path | str, table: str) -> list[tuple]:
    """The table's rows as read by deltalake (delta-rs), ordered: the identity of a published run."""
    columns = LIST_COLUMNS[table]
    rows = published_table(root, table).to_pyarrow_table(columns=list(columns)).to_pylist()
    return sorted(tuple(row[c] for c in columns) for row in rows)


def assert_every_reader_sees(root: Path | str, spark, expected: dict[str, list[tuple]]) -> dict[str, tuple[int, int]]:
    """delta-spark (unless ``spark`` is None: an S3 lakehouse), deltalake and the lookup client all read exactly
    ``expected``.

    Returns, per table, (its newest committed version, the version the lookup client serves).
    """
    versions = {}
    for table, rows in expected.items():
        columns = LIST_COLUMNS[table]
        if spark is not None:
            by_spark = spark.read.format("delta").load(f"{root}/{table}").select(*columns).collect()
            assert sorted(tuple(row) for row in by_spark) == rows, f"{table} as delta-spark reads it"
        assert published_lists(root, table) == rows, f"{table} as deltalake reads it"
        versions[table] = published_table(root, table).version()
    client = LookupClient(str(root), refresh_s=0)
    recommended = expected["recommendations"]
    for user in {recommended[0][0], recommended[len(recommended) // 2][0], recommended[-1][0]}:
        answer = client.recommendations_for(user)
        assert [(user, i["rank"], i["item_id"]) for i in answer["items"]] == [r for r in recommended if r[0] == user]
    similar = expected["similar_items"]
    item = similar[0][0]
    neighbours = client.similar_items(item)
    assert [(item, i["rank"], i["similar_item_id"]) for i in neighbours["items"]] == [
        r for r in similar if r[0] == item
    ]
    served = {"recommendations": answer["table_version"], "similar_items": neighbours["table_version"]}
    return {table: (versions[table], served[table]) for table in expected}


def last_publish(root: Path | str, table: str) -> dict:
    """The commit metadata of the table's newest commit."""
    return json.loads(published_table(root, table).history(1)[0]["userMetadata"])


def check_what_a_kill_left(
    root: Path | str,
    run_id: str,
    advanced: Sequence[str],
    before: dict[str, tuple[int, int]],
    now: dict[str, tuple[int, int]],
) -> None:
    """After the run ``run_id`` was killed: readers serve the versions they served ``before``; each published table
    in ``advanced`` holds one new complete commit of the killed run (never served), the others none."""
    for table in PUBLISHED:
        (committed, served), (committed_before, served_before) = now[table], before[table]
        assert served == served_before, f"{run_id}: readers moved to {table} version {served}"
        if table in advanced:
            assert committed == committed_before + 1
            assert last_publish(root, table)["run_id"] == run_id
        else:
            assert committed == committed_before, f"{run_id} moved {table}"


def orphan_files(root: Path | str, table: str) -> set[str]:
    """Data files in the table's folder (local or on S3) that no commit of its log ever added: what a killed
    writer left."""
    store, folder = filesystem(f"{root}/{table}")
    listed = [f.path for f in store.get_file_info(FileSelector(folder, recursive=True))]
    on_disk = {
        path.removeprefix(f"{folder}/") for path in listed if path.endswith(".parquet") and "/_delta_log/" not in path
    }
    added = set()
    for commit in (path for path in listed if "/_delta_log/" in path and path.endswith(".json")):
        with store.open_input_stream(commit) as stream:
            for line in stream.read().decode().splitlines():
                action = json.loads(line)
                if "add" in action:
                    added.add(unquote(action["add"]["path"]))
    return on_disk - added


# ---------------------------------------------------------------------------------------------------------------
# Airflow: the DAG tests run in a throwaway AIRFLOW_HOME (set by tests/conftest.py's pytest_configure)

DAG_RUN_DATE = dt.date(2026, 11, 20)
DAG_TOP_N = 5
# Tiny and quick: every job below runs in its own spark-submit JVM with the default 1g driver.
# No HTML run report nor Data Docs per task, as in the fast tier (tests/e2e/long/test_run_observability.py covers them):
# they cost seconds in each of a DAG run's seven spark-submits.
DAG_SMALL = [
    "als.rank=8",
    "als.max_iter=3",
    f"recommend.top_n={DAG_TOP_N}",
    "spark.shuffle_partitions=2",
    "monitoring.html_report=false",
    "validation.data_docs=false",
]
LOCAL_MASTER = '{"conn_type": "spark", "host": "local[2]"}'
# The user property a test records what it measured under (tests/conftest.py prints them at the end of the run).
SUMMARY = "summary"


def airflow_environment(home: Path) -> dict[str, str]:
    """What Airflow must read when first imported: its home (with its sqlite DB) and the repo's dags/."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


def run_daily(dag, lakehouse: Path, events: Path | str, mark_success: str | None = None, **params: Any):
    """One dag.test() of the daily DAG for DAG_RUN_DATE on a tiny config; returns the DagRun. Tasks whose id
    matches the regex ``mark_success`` are marked successful without running."""
    overrides = [f"lakehouse.root={lakehouse}", f"input.path={events}", *DAG_SMALL, *params.pop("overrides", [])]
    return dag.test(
        logical_date=dt.datetime.combine(DAG_RUN_DATE, dt.time(), tzinfo=dt.timezone.utc),
        run_conf={"overrides": overrides, **params},
        mark_success_pattern=mark_success,
    )


def generate_landing(root: Path, end: dt.date, days: int) -> list[str]:
    """Landing folders ``root/date=<day>`` for ``days`` days up to ``end``, from the real `generate` job (200 users,
    60 items, as the DAG runs have); returns the folders' names."""
    from reclake.stages import generate

    sets = [f"input.path={root}/date={{run_date}}", "generate.users=200", "generate.items=60", f"generate.days={days}"]
    args = ["--lakehouse", str(root.parent / "generated"), "--run-date", end.isoformat()]
    assert generate.main([*args, *[a for s in sets for a in ("--set", s)], *spark_overrides()]) == 0
    return sorted(p.name for p in root.iterdir())


def served_dates(lakehouse: Path | str) -> dict[str, tuple[int, dt.date]]:
    """``served_versions`` as delta-rs reads it (local or S3): table -> (the version readers serve, its run date)."""
    rows = published_table(lakehouse, "served_versions").to_pyarrow_table().to_pylist()
    return {row["table_name"]: (row["version"], row["run_date"]) for row in rows}


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


# ---------------------------------------------------------------------------------------------------------------
# Refusals of bad configuration and input; hostile ids for the HTTP service


def refuse(capsys, main, *args: str) -> str:
    """Run a job expected to refuse; return its one-line error."""
    status = main([*spark_overrides(), *args, "--json"])
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert status == 2 and summary["status"] == "failed"
    assert "Traceback" not in err and "\n" not in summary["error"]
    assert f"error [{summary['error_code']}] {summary['error']}" in err
    assert CONDITIONS[summary["error_code"]].error_class == summary["error"].split(":")[0]
    return summary["error"]


def csv_input(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "e.csv").write_text("user_id,item_id,event_type,value,timestamp\nu1,i1,view,,2026-11-22T10:00:00Z\n")
    return folder


HOSTILE_IDS = {
    "nul": "a\x00b",
    "newline": "line\nbreak",
    "right_to_left_mark": "\u200fu1",
    "right_to_left_override": "u1\u202e",
    "byte_order_mark": "\ufeffu1",
    "zero_width_space": "u\u200b1",
    "escape": "u\x1b[31m1",
    "257_characters": "x" * 257,
}


# ---------------------------------------------------------------------------------------------------------------
# Hand-written events and landing batches by date (incremental ingestion, prepare)

EVENTS_SCHEMA = (
    "user_id string, item_id string, event_type string, value double, event_time timestamp, ingest_date date"
)

HEADER = "user_id,item_id,event_type,value,timestamp"
DAY_0, DAY_1, DAY_2 = dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)


def land(root: Path, day: dt.date, lines: list[str]) -> None:
    """One landing batch: ``root/date=<day>/events.csv``."""
    folder = root / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events.csv").write_text("".join(f"{line}\n" for line in [HEADER, *lines]))


def rows(day: dt.date, n: int, prefix: str) -> list[str]:
    """``n`` valid views by users ``<prefix><i>``, at 10:00 the day before the batch's date (fresh, not future)."""
    when = f"{day - dt.timedelta(days=1)}T10:00:00Z"
    return [f"{prefix}{i},i{i % 5},view,,{when}" for i in range(n)]


def run_date(run_cli, lakehouse: Path, landing: Path, day: dt.date, *sets: str):
    """`reclake validate` on the landing batch of ``day`` (input.path with ``{run_date}``)."""
    from reclake.stages.validate import main as validate_main

    args = ["--input", f"{landing}/date={{run_date}}", "--lakehouse", str(lakehouse), "--run-date", str(day)]
    return run_cli(validate_main, *args, *[arg for item in sets for arg in ("--set", item)])


def events_per_date(spark, lakehouse: Path) -> dict[str, int]:
    events = spark.read.format("delta").load(str(lakehouse / "events"))
    return {str(r.ingest_date): r["count"] for r in events.groupBy("ingest_date").count().collect()}


def strengths(df) -> dict[tuple[str, str], float]:
    """{(user_id, item_id): strength rounded to 6 places} of a frame of pairs."""
    return {(r.user_id, r.item_id): round(r.strength, 6) for r in df.collect()}


def python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A real Python process on this checkout, in its own session (its own process group), its stdout piped."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


# argv: lakehouse root, run id, seconds to hold, lease expiry. Prints "held <time>" once it has the lakehouse's
# writer lock (or lease), checks it is still its own every 50 ms like a run between stages, then "released <time>".
HOLD_WRITER_LOCK = """\
import sys, time
from reclake.config import LakehouseSection
from reclake.io.lock import writer_lock
root, run_id, hold_s, expiry_s = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
with writer_lock(LakehouseSection(root=root, lease_expiry_s=expiry_s), run_id, "reclake run", 120) as still_held:
    print("held", time.time(), flush=True)
    deadline = time.monotonic() + hold_s
    while time.monotonic() < deadline:
        still_held()
        time.sleep(0.05)
    print("released", time.time(), flush=True)
"""


# ---------------------------------------------------------------------------------------------------------------
# Readers during publishes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ReaderTally:
    """What the polling readers saw: answers per reader kind, the inconsistent ones, failed reads, and every
    (model version, run date) an answer came from."""

    lookups: Counter = field(default_factory=Counter)
    inconsistent: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    seen: set = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def summary(self) -> str:
        return (
            f"lookups {dict(self.lookups)}, inconsistent {len(self.inconsistent)}, errors {len(self.errors)}, "
            f"(model version, run date) pairs seen {len(self.seen)}"
        )


@contextmanager
def polling_readers(
    root: str, users: list[str], whole: Callable[[dict], bool], per_kind: int = 3, pause_s: float = 0.0
) -> Iterator[ReaderTally]:
    """Threads reading ``users``' lists until the block ends: ``per_kind`` through one LookupClient that re-checks
    ``served_versions`` on every lookup (the hardest case), as many over HTTP from a real uvicorn server on
    loopback, each resting ``pause_s`` between reads (so that on 2 cores the publish still gets the CPU). An
    answer is inconsistent when ``whole`` refuses it, or when its table version or run date is older
    than the one that reader saw before; any exception is a failed read. A second after the block the readers
    stop, so they see its last publish too."""
    client = LookupClient(root, refresh_s=0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(LookupClient(root, refresh_s=0)), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    tally, stop = ReaderTally(), threading.Event()

    def poll(kind: str, offset: int) -> None:
        i, last = offset, (-1, "")
        while not stop.is_set():
            user = users[(i * 37) % len(users)]
            i += 1
            try:
                if kind == "lookup":
                    answer = client.recommendations_for(user)
                else:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/recommendations/{user}", timeout=30) as r:
                        answer = json.loads(r.read())
            except Exception as exc:  # any error is a failed read
                with tally.lock:
                    tally.errors.append(exc)
                continue
            now = (answer["table_version"], str(answer["run_date"]))
            with tally.lock:
                tally.lookups[kind] += 1
                tally.seen.add((answer["model_version"], now[1]))
                if not whole(answer) or now[0] < last[0] or now[1] < last[1]:
                    tally.inconsistent.append((kind, answer))
            last = (max(last[0], now[0]), max(last[1], now[1]))
            time.sleep(pause_s)

    readers = [threading.Thread(target=poll, args=(kind, n)) for kind in ("lookup", "http") for n in range(per_kind)]
    for thread in readers:
        thread.start()
    try:
        yield tally
    finally:
        time.sleep(1)
        stop.set()
        for thread in readers:
            thread.join()
        server.should_exit = True


def check_cluster_apps(cluster: Path, applications: int) -> list[Path]:
    """Every application of scripts/spark-cluster.sh's cluster in ``cluster`` ran as one with no shared disk: each
    had executors on both workers, and each executor fetched the artefact and the connectors' jars into its own
    folder (the AWS SDK's modules, 13 MB with hadoop-aws, not its 686 MB bundle; with Delta's 89 MB about 103 MB)
    and kept its shuffle and spill files in its own worker's scratch folder. Returns the applications' folders."""
    apps = sorted(cluster.glob("work/worker-*/app-*"))
    assert len({app.name for app in apps}) == applications, apps
    for name in {app.name for app in apps}:
        assert {app.parent.name for app in apps if app.name == name} == {"worker-1", "worker-2"}, name
    assert all(list(app.glob("*/reclake-*.zip")) for app in apps), "an executor ran without the artefact"
    for executor in [folder for app in apps for folder in app.iterdir() if folder.is_dir()]:
        jars = {jar.name: jar.stat().st_size for jar in executor.glob("*.jar")}
        assert any(name.startswith("software.amazon.awssdk_s3-") for name in jars), sorted(jars)
        assert not [name for name in jars if "awssdk_bundle" in name]
        assert sum(jars.values()) < 150e6, f"{executor}: {sum(jars.values()) / 1e6:.0f} MB of jars"
    for app in apps:
        stderr = "".join(log.read_text() for log in app.glob("*/stderr"))
        assert f"Created local directory at {cluster / 'scratch' / app.parent.name}/" in stderr
    return apps
