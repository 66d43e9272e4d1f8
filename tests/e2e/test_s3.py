"""The pipeline with its input and lakehouse on S3 (moto's server), run as a user runs it: `reclake generate` and
`reclake run` as processes with only the AWS_* environment variables pointing them at the store, then
`reclake lookup` and the LookupClient reading the published lists back through delta-rs; `reclake publish` killed
at each publish fault point on a copy of that lakehouse, `reclake maintain` then removing what the kills left;
then the same input run by spark-submit on a standalone cluster whose nodes share no folder, its output equal to
the local run's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from deltalake import DeltaTable

from reclake import DELTA_PACKAGE
from reclake.faults import FAULT_ENV
from reclake.io.tables import EVENTS, QUARANTINE, RECOMMENDATIONS, SIMILAR_ITEMS
from reclake.jvm import connectors_conf, driver_java_options
from reclake.objectstore import storage_options, storage_packages
from reclake.serving import LookupClient
from reclake.uris import delta_rs_uri
from tests.e2e.conftest import S3_BUCKET
from tests.e2e.servers import free_port, get_json, s3_client, server, spark_cluster
from tests.helpers import (
    PUBLISHED,
    REPO,
    assert_every_reader_sees,
    check_cluster_apps,
    check_what_a_kill_left,
    files_holding,
    finished,
    killed_by_itself,
    orphan_files,
    outcome,
    polling_readers,
    published_lists,
    python,
    recorded_runs,
)

RUN_DATE = dt.date(2026, 11, 20)
LANDING = f"s3a://{S3_BUCKET}/landing/events"
LAKEHOUSE = f"s3a://{S3_BUCKET}/lakehouse"
SMALL = [
    "generate.users=120", "generate.items=40", "generate.days=3", "generate.partitions=2",
    "als.rank=4", "als.max_iter=3", "recommend.top_n=5", "recommend.similar_items_top_n=3",
    "spark.shuffle_partitions=2", "spark.driver_memory=1g",
]  # fmt: skip
# Two rows validate must quarantine (no user; a time that is not one), beside the generated files.
BAD_ROWS = "user_id,item_id,event_type,value,timestamp\n,i0000001,view,,2026-11-19T10:00:00Z\nu0000001,i0000001,view,,yesterday\n"


@dataclass(frozen=True)
class S3Run:
    env: dict[str, str]  # the processes' whole environment
    workdir: Path  # their working directory
    tmpdir: Path  # their TMPDIR: the run's logs (the documented place for a remote lakehouse)
    summary: dict[str, Any]
    output: str  # everything both commands printed


def reclake(
    run: S3Run | dict[str, str], workdir: Path, *args: str, timeout: float = 900
) -> subprocess.CompletedProcess:
    env = run.env if isinstance(run, S3Run) else run
    return subprocess.run(
        [sys.executable, "-m", "reclake.cli", *args], capture_output=True, text=True, cwd=workdir, env=env,
        timeout=timeout,
    )  # fmt: skip


def delta(aws: dict[str, str], uri: str) -> DeltaTable:
    return DeltaTable(delta_rs_uri(uri), storage_options=storage_options(uri, aws))


@pytest.fixture(scope="module")
def s3_run(s3, tmp_path_factory) -> S3Run:
    """Generated events landed on S3 (and two bad rows put beside them), then the whole pipeline on S3."""
    root = tmp_path_factory.mktemp("s3-run")
    workdir, tmpdir = root / "work", root / "tmp"
    workdir.mkdir()
    tmpdir.mkdir()
    # Nothing but what a user's shell has: the AWS_* variables, PATH and HOME (and Java's home when set).
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "TMPDIR": str(tmpdir), "PYTHONPATH": str(REPO)}
    env.update({k: os.environ[k] for k in ("JAVA_HOME",) if k in os.environ})
    env.update(s3)
    sets = [arg for s in SMALL for arg in ("--set", s)]
    common = ["--input", LANDING, "--lakehouse", LAKEHOUSE, "--run-date", RUN_DATE.isoformat(), *sets]
    generated = reclake(env, workdir, "generate", *common)
    assert generated.returncode == 0, generated.stdout[-2000:] + generated.stderr[-3000:]
    s3_client(s3).put_object(Bucket=S3_BUCKET, Key="landing/events/bad-rows.csv", Body=BAD_ROWS.encode())
    events = f"monitoring.event_log_dir=s3a://{S3_BUCKET}/spark-events"  # a folder Spark needs made first
    done = reclake(env, workdir, "run", *common, "--set", events, "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    output = generated.stdout + generated.stderr + done.stdout + done.stderr
    return S3Run(env, workdir, tmpdir, json.loads(done.stdout.strip().splitlines()[-1]), output)


def test_the_pipeline_runs_on_s3_and_writes_nothing_where_a_local_lakehouse_would_be(s3_run, s3):
    assert s3_run.summary["status"] == "succeeded"
    assert s3_run.summary["counts"]["recommend"]["users"] > 100
    # Nothing in the working directory (no "s3a:" folder, no lakehouse), and in TMPDIR only the logs.
    assert list(s3_run.workdir.iterdir()) == []
    assert [p.name for p in s3_run.tmpdir.iterdir()] == ["reclake-logs"]
    assert {p.suffix for p in (s3_run.tmpdir / "reclake-logs").iterdir()} == {".log"}  # generate's and run's
    # What the run wrote besides its tables is under the lakehouse on S3: the reports and the Data Docs.
    keys = [
        o["Key"]
        for page in s3_client(s3).get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix="lakehouse/")
        for o in page.get("Contents", [])
    ]
    assert any(k.endswith("/report.md") for k in keys) and any(k.endswith(".html") and "/run-" in k for k in keys)
    assert "lakehouse/_validation/data_docs/index.html" in keys
    events = s3_client(s3).list_objects_v2(Bucket=S3_BUCKET, Prefix="spark-events/eventlog_v2_")
    assert any("/events_" in o["Key"] for o in events.get("Contents", []))  # the run's Spark event log
    assert f"lakehouse/_validation/results/{s3_run.summary['run_id']}.json" in keys


def test_raw_rows_equal_valid_plus_quarantined_read_back_from_s3(s3_run, s3):
    counts = s3_run.summary["counts"]["validate"]
    events = delta(s3, EVENTS.uri(LAKEHOUSE)).to_pyarrow_table().num_rows
    quarantined = delta(s3, QUARANTINE.uri(LAKEHOUSE)).to_pyarrow_table().num_rows
    assert quarantined == counts["quarantined_rows"] == 2
    assert events == counts["valid_rows"] and events + quarantined == counts["raw_rows"]
    recommendations = delta(s3, RECOMMENDATIONS.uri(LAKEHOUSE)).to_pyarrow_table()
    assert recommendations.num_rows == s3_run.summary["counts"]["recommend"]["rows"]


def test_reclake_lookup_and_the_lookup_client_read_a_users_list_from_s3(s3_run, s3_env):
    user = "u0000007"
    looked_up = reclake(s3_run, s3_run.workdir, "lookup", user, "--lakehouse", LAKEHOUSE, "--json", timeout=120)
    assert looked_up.returncode == 0, looked_up.stderr[-3000:]
    answer = json.loads(looked_up.stdout.strip().splitlines()[-1])
    assert answer["user_id"] == user and answer["run_date"] == RUN_DATE.isoformat()
    assert [item["rank"] for item in answer["items"]] == list(range(1, 6))
    client = LookupClient(LAKEHOUSE)
    listed = client.recommendations_for(user)
    assert [item["item_id"] for item in listed["items"]] == [item["item_id"] for item in answer["items"]]


def test_the_planted_aws_secret_appears_in_no_output_log_or_object(s3_run, s3):
    secret = s3["AWS_SECRET_ACCESS_KEY"]
    assert secret not in s3_run.output
    assert files_holding(s3_run.tmpdir, [secret.encode()]) == []
    client = s3_client(s3)
    holding = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET)
        for o in page.get("Contents", [])
        if secret.encode() in client.get_object(Bucket=S3_BUCKET, Key=o["Key"])["Body"].read()
    ]
    assert holding == []


def test_reclake_serve_answers_from_s3(s3_run, tmp_path):
    port, user = free_port(), "u0000007"
    command = [sys.executable, "-m", "reclake.cli", "serve", "--lakehouse", LAKEHOUSE, "--port", str(port)]
    url = f"http://127.0.0.1:{port}/recommendations/{user}"
    with server(command, url, tmp_path / "serve.log", cwd=s3_run.workdir, env=s3_run.env):
        answer = get_json(url)
    assert answer["user_id"] == user and len(answer["items"]) == 5
    assert answer["model_version"] == s3_run.summary["model_version"]


# (point, the published tables the kill leaves at a new complete version), as in reliability/test_crash.py
PUBLISH_POINTS = [
    ("publish:after_files", ()),
    ("publish:between_tables", ("similar_items",)),
    ("publish:before_served", ("similar_items", "recommendations")),
]
# A killed job's writer lease is taken over once it expires: soon, here, and the next job waits for that.
SHORT_LEASE = ["lakehouse.lease_expiry_s=6", "run.lock_wait_s=60"]


def copy_lakehouse(s3: dict[str, str], prefix: str) -> str:
    """A copy of the S3 run's lakehouse under ``prefix`` (server-side copies), for a test to change."""
    client = s3_client(s3)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix="lakehouse/"):
        for listed in page.get("Contents", []):
            source = {"Bucket": S3_BUCKET, "Key": listed["Key"]}
            client.copy_object(Bucket=S3_BUCKET, Key=f"{prefix}-{listed['Key']}", CopySource=source)
    return f"s3a://{S3_BUCKET}/{prefix}-lakehouse"


@pytest.fixture(scope="module")
def faults_lakehouse(s3_run, s3) -> str:
    """The S3 run's lakehouse copied, for the kills to hit."""
    return copy_lakehouse(s3, "faults")


def start_on_s3(
    run: S3Run, lakehouse: str, job: str, *sets: str, fault: str | None = None, day: dt.date = RUN_DATE
) -> subprocess.Popen:
    """`reclake <job>` on ``lakehouse`` in the S3 run's environment, leading its own process group."""
    args = ["--lakehouse", lakehouse, "--run-date", day.isoformat(), "--json"]
    command = [
        sys.executable,
        "-m",
        "reclake.cli",
        job,
        *args,
        *[a for s in [*SMALL, *SHORT_LEASE, *sets] for a in ("--set", s)],
    ]
    env = {**run.env, **({FAULT_ENV: fault} if fault else {})}
    return subprocess.Popen(
        command, cwd=run.workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def test_kills_at_the_publish_points_on_s3_leave_readers_on_the_published_run_and_maintain_removes_the_orphans(
    faults_lakehouse, s3_run, s3_env
):
    root = faults_lakehouse
    expected = {table: published_lists(root, table) for table in PUBLISHED}
    versions = assert_every_reader_sees(root, None, expected)
    for point, advanced in PUBLISH_POINTS:
        run_id = f"killed-{point.replace(':', '-')}"
        killed_by_itself(start_on_s3(s3_run, root, "publish", f"run.run_id={run_id}", fault=point))
        now = assert_every_reader_sees(root, None, expected)
        check_what_a_kill_left(root, run_id, advanced, versions, now)
        versions = now
        if point == "publish:after_files":  # its data files were written to S3, its commit never was
            assert orphan_files(root, "similar_items"), "the kill came after the commit, not before it"
    assert orphan_files(root, "similar_items")
    # The next publish for the date serves every table again; maintenance then removes what the kills left
    # (while readers served an older version than the newest, VACUUM would have kept that version's files).
    assert finished(start_on_s3(s3_run, root, "publish", "run.run_id=recovered"))["status"] == "succeeded"
    served = assert_every_reader_sees(root, None, expected)
    assert all(committed == serving for committed, serving in served.values()), served
    finished(start_on_s3(s3_run, root, "maintain", "publish.vacuum_retention_hours=0"))
    assert not any(orphan_files(root, table) for table in PUBLISHED)
    assert_every_reader_sees(root, None, expected)


NEXT_DAY = RUN_DATE + dt.timedelta(days=1)
# argv: lakehouse URI, day, next day. One Spark driver stages the day's lists again as the next day's, every
# recommended item id marked "@next" so that a reader can tell the two dates' lists apart.
STAGE_NEXT_DAY = """\
import sys, datetime as dt
from pyspark.sql import functions as F
from reclake.config import SparkSection
from reclake.io.lakehouse import write_delta
from reclake.objectstore import storage_packages
from reclake.spark import build_spark_session
root, day, next_day = sys.argv[1], dt.date.fromisoformat(sys.argv[2]), dt.date.fromisoformat(sys.argv[3])
spark = build_spark_session(SparkSection(master="local[1]"), packages=storage_packages(root))
for table in ("recommendations", "similar_items"):
    uri = f"{root}/staging/{table}"
    rows = spark.read.format("delta").load(uri).where(F.col("run_date") == F.lit(day))
    if table == "recommendations":
        rows = rows.withColumn("item_id", F.concat("item_id", F.lit("@next")))
    write_delta(rows.withColumn("run_date", F.lit(next_day)), uri, mode="append")
"""


@pytest.fixture(scope="module")
def concurrency_lakehouse(s3_run, s3) -> str:
    """The S3 run's lakehouse copied, for concurrent jobs to share."""
    return copy_lakehouse(s3, "concurrency")


def lists_by_date(aws: dict[str, str], lakehouse: str) -> dict[str, list[tuple]]:
    """The published recommendations per run date, as (user, rank, item) sorted."""
    rows = delta(aws, f"{lakehouse}/recommendations").to_pyarrow_table(
        columns=["run_date", "user_id", "rank", "item_id"]
    )
    by_date: dict[str, list[tuple]] = {}
    for row in rows.to_pylist():
        by_date.setdefault(str(row["run_date"]), []).append((row["user_id"], row["rank"], row["item_id"]))
    return {day: sorted(lists) for day, lists in by_date.items()}


def test_two_publishes_of_one_date_on_s3_one_is_refused_in_one_line_and_one_copy_is_published(
    concurrency_lakehouse, s3_run, s3_env
):
    root = concurrency_lakehouse
    expected = lists_by_date(s3_env, root)
    no_wait = "run.lock_wait_s=0"
    jobs = [start_on_s3(s3_run, root, "publish", f"run.run_id=same-date-{n}", no_wait) for n in range(2)]
    outcomes = sorted((outcome(job) for job in jobs), key=lambda o: o[0])
    (won, summary, _), (refused, refusal, _) = outcomes
    assert won == 0 and summary["status"] == "succeeded", summary.get("error")
    assert refused == 2 and refusal["error_code"] == "RECLAKE-LAKEHOUSE-BUSY", refusal
    assert refusal["error"].startswith(f"LakehouseBusy: reclake publish (run {summary['run_id']}, "), refusal
    assert "\n" not in refusal["error"]
    assert lists_by_date(s3_env, root) == expected  # one complete copy of the date
    runs = recorded_runs(root)
    assert runs[summary["run_id"]]["status"] == "succeeded"
    assert runs[refusal["run_id"]]["status"] == "failed" and "LakehouseBusy" in runs[refusal["run_id"]]["error"]


def test_publishes_of_two_dates_at_once_on_s3_land_one_copy_each_while_readers_see_only_whole_runs(
    concurrency_lakehouse, s3_run, s3_env
):
    root = concurrency_lakehouse
    staging = python(STAGE_NEXT_DAY, root, RUN_DATE.isoformat(), NEXT_DAY.isoformat())
    _, err = staging.communicate(timeout=600)
    assert staging.returncode == 0, err[-3000:]
    day_lists = lists_by_date(s3_env, root)[RUN_DATE.isoformat()]
    users = sorted({user for user, _, _ in day_lists})
    model_version = s3_run.summary["model_version"]

    def whole(answer: dict) -> bool:
        """One date's whole list: every rank, each item of the date the answer names, the run's model."""
        marked = str(answer["run_date"]) == NEXT_DAY.isoformat()
        items = answer["items"]
        ranks = [i["rank"] for i in items] == list(range(1, len(items) + 1)) and len(items) == 5
        return (
            ranks
            and answer["model_version"] == model_version
            and all(i["item_id"].endswith("@next") == marked for i in items)
        )

    wait = "run.lock_wait_s=600"
    with polling_readers(root, users, whole, per_kind=2, pause_s=0.25) as tally:
        jobs = [
            start_on_s3(s3_run, root, "publish", f"run.run_id=date-{day}", wait, day=day)
            for day in (RUN_DATE, NEXT_DAY)
        ]
        outcomes = [outcome(job) for job in jobs]
    print(f"\nreaders during two publishes on S3: {tally.summary()}")
    for status, summary, _ in outcomes:
        assert status == 0 and summary["status"] == "succeeded", summary.get("error")
    by_date = lists_by_date(s3_env, root)
    assert by_date == {
        RUN_DATE.isoformat(): day_lists,
        NEXT_DAY.isoformat(): [(user, rank, f"{item}@next") for user, rank, item in day_lists],
    }  # one copy each: no (user, rank) twice in a date
    runs = recorded_runs(root)
    assert runs[f"date-{RUN_DATE}"]["status"] == runs[f"date-{NEXT_DAY}"]["status"] == "succeeded"
    assert not tally.errors, tally.errors[:3]
    assert not tally.inconsistent, tally.inconsistent[:3]
    assert min(tally.lookups["lookup"], tally.lookups["http"]) > 10
    assert (model_version, NEXT_DAY.isoformat()) in tally.seen  # readers moved on to the newest date


CLUSTER_LAKEHOUSE = f"s3a://{S3_BUCKET}/cluster-lakehouse"


@dataclass(frozen=True)
class ClusterRun:
    root: Path  # every local folder of the run: the cluster's, the driver's working, temporary and scratch folders
    cluster: Path  # scripts/spark-cluster.sh's folder: each worker's work and scratch folders
    workdir: Path
    summary: dict[str, Any]
    output: str


@pytest.fixture(scope="module")
def cluster_run(s3_run, s3, artefacts, tmp_path_factory) -> ClusterRun:
    """The local run's input run again as the docs run a cluster: spark-submit of jobs/run.py with the packaged
    artefact (--py-files) and the connectors the DAG passes, on a standalone cluster whose workers each have their
    own folders and get the AWS_* variables from their environment only (never Spark's configuration)."""
    root = tmp_path_factory.mktemp("s3-cluster")
    folders = {name: root / name for name in ("work", "tmp", "driver-scratch")}
    for folder in folders.values():
        folder.mkdir()
    # The user's shell of s3_run, but the code only from the artefact, and the driver on loopback.
    env = {k: v for k, v in s3_run.env.items() if k != "PYTHONPATH"}
    env.update({"TMPDIR": str(folders["tmp"]), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable})
    conf = {
        **connectors_conf([DELTA_PACKAGE, *storage_packages(LANDING, CLUSTER_LAKEHOUSE)]),
        "spark.driver.extraJavaOptions": driver_java_options(),
        "spark.local.dir": str(folders["driver-scratch"]),
    }
    sets = [arg for s in SMALL for arg in ("--set", s)]
    with spark_cluster(root / "cluster", s3) as port:
        command = [
            str(Path(sys.executable).with_name("spark-submit")), "--master", f"spark://127.0.0.1:{port}",
            *[arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")],
            "--py-files", str(artefacts[1]), str(REPO / "jobs" / "run.py"),
            "--input", LANDING, "--lakehouse", CLUSTER_LAKEHOUSE, "--run-date", RUN_DATE.isoformat(), *sets, "--json",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, cwd=folders["work"], env=env, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return ClusterRun(root, root / "cluster", folders["work"], summary, done.stdout + done.stderr)


def published(aws: dict[str, str], lakehouse: str) -> dict[str, pd.DataFrame]:
    """The published lists read back from S3 through delta-rs, sorted; the model's version names the run that
    trained it, so it is left out."""
    frames = {}
    for table in (RECOMMENDATIONS, SIMILAR_ITEMS):
        frame = delta(aws, table.uri(lakehouse)).to_pandas().drop(columns=["model_version"])
        frames[table.name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return frames


def test_a_cluster_with_no_shared_disk_publishes_on_s3_what_local_mode_does(cluster_run, s3_run, s3, artefacts):
    assert cluster_run.summary["status"] == "succeeded"
    [app] = {app.name for app in check_cluster_apps(cluster_run.cluster, applications=1)}
    # What each executor imported reclake from is the wheel, byte for byte (under the .zip name Spark puts on the
    # executors' path: it leaves .whl files off it).
    wheel, shipped = artefacts[0].read_bytes(), sorted(cluster_run.cluster.glob(f"work/worker-*/{app}/*/reclake-*.zip"))
    assert shipped and all(copy.read_bytes() == wheel for copy in shipped), shipped
    # The same rows as the local run on the same input; floats to their last few bits.
    local, cluster = published(s3, LAKEHOUSE), published(s3, CLUSTER_LAKEHOUSE)
    for name, frame in cluster.items():
        assert len(frame) > 0
        pd.testing.assert_frame_equal(frame, local[name], obj=name, check_exact=False, rtol=1e-5)
    # No local folder served as a lakehouse: no Delta log, no "s3a:" folder; the working directory stays empty.
    assert [p for p in cluster_run.root.rglob("*") if p.name == "_delta_log" or "s3a:" in p.name] == []
    assert list(cluster_run.workdir.iterdir()) == []
    # The workers got the keys from their environment: the secret is in no output, log or file of the cluster.
    secret = s3["AWS_SECRET_ACCESS_KEY"]
    assert secret not in cluster_run.output
    assert files_holding(cluster_run.root, [secret.encode()]) == []
