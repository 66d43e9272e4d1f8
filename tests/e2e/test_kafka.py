"""Events from a real Kafka broker through `reclake ingest` (a real process, run twice and once killed mid-batch),
then validate and the daily pipeline: landed, valid, quarantined and published counts against what was produced;
and a continuous ingest landing messages as they arrive, stopped by SIGTERM and started again.

The broker is Kafka 4 in KRaft mode (scripts/kafka.sh, jars from scripts/test-tools.sh); the test is skipped when
the jars are absent. Ingest runs as a process of its own (its JVM needs Kafka's source); validate and the
pipeline run in this process's Spark session.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from reclake.faults import FAULT_ENV
from reclake.io.kafka_login import SASL_PASSWORD_ENV, SASL_USERNAME_ENV
from reclake.pipeline import main as run_main
from reclake.stages.validate import main as validate_main
from tests.e2e.servers import Producer, needs_kafka, wait_for
from tests.helpers import REPO, spark_overrides

pytestmark = needs_kafka

TOPIC = "events"
DAY_1, DAY_2 = dt.date(2026, 11, 22), dt.date(2026, 11, 23)
USERS, ITEMS, PER_DAY = 60, 20, 4  # each user: 4 events a day, from the half of the items of their taste
MALFORMED = [b"not json", b"[1, 2]", b"", b'{"user_id": "u1", "item_id": ']
TOP_N = 5


def event(day: dt.date, user: int, n: int, event_type: str = "view") -> dict:
    item = (user % 2) * (ITEMS // 2) + (user * 3 + n) % (ITEMS // 2)
    when = dt.datetime.combine(day, dt.time(8), tzinfo=dt.timezone.utc) + dt.timedelta(minutes=user * 10 + n)
    return {
        "user_id": f"u{user:02d}",
        "item_id": f"i{item:02d}",
        "event_type": event_type,
        "value": None,
        "timestamp": when.isoformat().replace("+00:00", "Z"),
    }


def day_values(day: dt.date, users: range, per_user: int) -> list[bytes]:
    """Valid events of ``day``, the malformed messages and two events of an unknown type."""
    valid = [json.dumps(event(day, u, n)).encode() for u in users for n in range(per_user)]
    unknown = [json.dumps(event(day, u, 9, "teleport")).encode() for u in (0, 1)]
    return [*valid, *MALFORMED, *unknown]


def options(lakehouse: Path, landing: Path, bootstrap: str, topic: str) -> list[str]:
    """What every job of a test is run with: the lakehouse, JSON lines in date folders, the topic."""
    return [
        "--config", str(REPO / "conf" / "local.yaml"), "--lakehouse", str(lakehouse),
        "--set", "input.format=json", "--set", f"input.path={landing}/date={{run_date}}",
        "--set", f"kafka.bootstrap_servers={bootstrap}", "--set", f"kafka.topic={topic}",
    ]  # fmt: skip


def ingest_command(args: list[str], fault: str | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`reclake ingest` as a real process leading its own process group (a fault kills the whole group): the
    keyword arguments of subprocess.run or Popen."""
    environ = {k: v for k, v in os.environ.items() if k != FAULT_ENV} | (env or {}) | {"PYTHONPATH": str(REPO)}
    if fault is not None:
        environ[FAULT_ENV] = fault
    command = [sys.executable, "-m", "reclake.cli", "ingest", *spark_overrides(), *args, "--json"]
    return {"args": command, "env": environ, "cwd": REPO, "start_new_session": True}


def ingest(
    args: list[str], *, fault: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`reclake ingest` run to its end."""
    return subprocess.run(**ingest_command(args, fault, env), capture_output=True, text=True, timeout=600)


def landed(landing: Path) -> dict[str, list[dict]]:
    """Every landed line, per date folder."""
    return {
        folder.name.removeprefix("date="): [
            json.loads(line) for f in sorted(folder.glob("*.json")) for line in f.open()
        ]
        for folder in sorted(landing.glob("date=*"))
    }


def test_events_from_kafka_land_exactly_once_and_flow_through_the_daily_pipeline(broker, run_cli, tmp_path):
    lakehouse, landing = tmp_path / "lakehouse", tmp_path / "landing"
    common = options(lakehouse, landing, broker, TOPIC)
    small = [
        "als.rank=3", "als.max_iter=3", "evaluate.gate=false", f"recommend.top_n={TOP_N}",
        "recommend.similar_items_top_n=3", "spark.driver_memory=1g",
    ]  # fmt: skip
    producer = Producer(broker, TOPIC)

    # Day 1 lands (in micro-batches of 130 messages, with headers) and is validated.
    producer.send(day_values(DAY_1, range(USERS), PER_DAY), DAY_1, headers=[("source", b"e2e"), ("trace", b"\xff")])
    first = ingest([*common, "--set", "kafka.max_offsets_per_trigger=130"])
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    day_1 = USERS * PER_DAY + len(MALFORMED) + 2
    assert summary["counts"]["ingest"] == {"landed": day_1, "malformed": len(MALFORMED), "late": 0, "dates": 1}
    headers = [{"key": "source", "value": "e2e"}, {"key": "trace", "base64": "/w=="}]  # no UTF-8: base64
    assert [row["_kafka_headers"] for row in landed(landing)[str(DAY_1)]] == [headers] * day_1
    status, validated = run_cli(validate_main, *common, "--run-date", str(DAY_1))
    assert status == 0, validated.get("error")
    counts = validated["counts"]["validate"]
    assert (counts["raw_rows"], counts["valid_rows"], counts["quarantined_rows"]) == (day_1, USERS * PER_DAY, 6)
    quarantine = DeltaTable(str(lakehouse / "quarantine")).to_pandas()
    malformed = quarantine["reasons"].map(lambda reasons: "malformed_line" in reasons)
    assert sorted(quarantine[malformed]["raw_record"]) == sorted(v.decode() for v in MALFORMED)  # as they came
    assert [list(r) for r in quarantine[~malformed]["reasons"]] == [["event_type_unknown"]] * 2
    assert [json.loads(r)["_kafka_headers"] for r in quarantine[~malformed]["raw_record"]] == [headers] * 2

    # Day 2, and 5 late events of day 1 (its batch has run). The first ingest is killed in its first batch,
    # after one file of it landed; the next one lands that batch again (not twice) and the rest.
    late = [json.dumps(event(DAY_1, u, 7)).encode() for u in range(5)]
    producer.send(day_values(DAY_2, range(USERS), PER_DAY), DAY_2)
    producer.send(late, DAY_1)
    killed = ingest([*common, "--set", "kafka.max_offsets_per_trigger=130"], fault="ingest:mid_batch")
    assert killed.returncode < 0, killed.stderr[-3000:]
    partly = sum(map(len, landed(landing).values()))
    assert day_1 < partly < len(producer.sent), "the kill left part of its batch landed"

    token = f"planted-{uuid.uuid4().hex}"  # a SASL password from the environment is never written anywhere
    again = ingest(
        [*common, "--set", "kafka.max_offsets_per_trigger=130"],
        env={SASL_USERNAME_ENV: "reclake", SASL_PASSWORD_ENV: token},
    )
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    day_2 = USERS * PER_DAY + len(MALFORMED) + 2
    assert summary["counts"]["ingest"] == {"landed": day_2 + 5, "malformed": len(MALFORMED), "late": 5, "dates": 2}
    assert token not in again.stdout + again.stderr
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]

    # Each message landed exactly once, under its event's date (malformed ones: the message's date).
    lines = landed(landing)
    assert {day: len(rows) for day, rows in lines.items()} == {str(DAY_1): day_1 + 5, str(DAY_2): day_2}
    offsets = Counter((row["_kafka_partition"], row["_kafka_offset"]) for rows in lines.values() for row in rows)
    assert offsets == Counter(producer.sent)
    assert sorted(r["_malformed_value"] for r in lines[str(DAY_2)] if "_malformed_value" in r) == sorted(
        v.decode() for v in MALFORMED
    )
    assert {str(row["_kafka_headers"]) for row in lines[str(DAY_2)]} == {"[]"}, "sent without headers"

    # Re-running day 1 takes the late events in; the daily pipeline for day 2 publishes every user's list.
    status, revalidated = run_cli(validate_main, *common, "--run-date", str(DAY_1))
    assert status == 0, revalidated.get("error")
    counts = revalidated["counts"]["validate"]
    assert (counts["raw_rows"], counts["valid_rows"], counts["quarantined_rows"]) == (day_1 + 5, USERS * PER_DAY + 5, 6)
    sets = [arg for s in small for arg in ("--set", s)]
    status, daily = run_cli(run_main, *common, *sets, "--run-date", str(DAY_2))
    assert status == 0, daily.get("error")
    counts = daily["counts"]["validate"]
    assert (counts["raw_rows"], counts["valid_rows"], counts["quarantined_rows"]) == (day_2, USERS * PER_DAY, 6)
    published = DeltaTable(str(lakehouse / "recommendations")).to_pandas()
    published = published[published["run_date"].astype(str) == str(DAY_2)]
    assert published["user_id"].nunique() == USERS and len(published) == USERS * TOP_N


def test_a_continuous_ingest_lands_messages_as_they_come_and_stops_cleanly_on_sigterm(broker, tmp_path):
    topic, landing = "live", tmp_path / "landing"
    continuous = ["--set", "kafka.trigger=continuous", "--set", "kafka.trigger_interval_s=1"]
    args = [*options(tmp_path / "lakehouse", landing, broker, topic), *continuous]
    producer = Producer(broker, topic)
    users = iter(range(0, 1000, 10))

    def all_landed() -> bool:
        return sum(map(len, landed(landing).values())) == len(producer.sent)

    # Two runs: the first lands two rounds of messages as they come, the second one more after a restart.
    for run, rounds in enumerate((2, 1)):
        out, err = tmp_path / f"ingest-{run}.out", tmp_path / f"ingest-{run}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(**ingest_command(args), stdout=stdout, stderr=stderr)
        try:
            before = len(producer.sent)
            for _ in range(rounds):
                user = next(users)
                producer.send([json.dumps(event(DAY_1, u, 0)).encode() for u in range(user, user + 10)], DAY_1)
                wait_for(all_landed, f"run {run}: {len(producer.sent)} messages landed", timeout=90, log=err)
            assert process.poll() is None, "a continuous ingest runs until stopped"
            os.kill(process.pid, signal.SIGTERM)  # the job's process, as `kill` and a supervisor stop it
            status = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        assert status == 0, err.read_text()[-3000:]
        assert "Traceback" not in err.read_text()
        summary = json.loads(out.read_text().strip().splitlines()[-1])
        assert summary["counts"]["ingest"]["landed"] == len(producer.sent) - before

    offsets = Counter(
        (row["_kafka_partition"], row["_kafka_offset"]) for rows in landed(landing).values() for row in rows
    )
    assert offsets == Counter(producer.sent) and len(producer.sent) == 30, "each message exactly once"
