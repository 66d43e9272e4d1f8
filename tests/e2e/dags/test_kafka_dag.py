"""The daily DAG with a kafka section, by dag.test() through real spark-submit against a real broker: ingest runs
ahead of validate, and validate reads what it landed (raw = valid + quarantined). The jobs after validate are
marked successful without running: the other DAG tests run them."""

from __future__ import annotations

import datetime as dt
import json

from deltalake import DeltaTable

from tests.e2e.servers import Producer, needs_kafka
from tests.helpers import DAG_RUN_DATE, run_daily, states

pytestmark = needs_kafka

TOPIC = "dag-events"
USERS, PER_USER = 40, 3
MALFORMED = [b"not json", b'{"user_id": "u1", "item_id": ']
AFTER_VALIDATE = r"^(prepare|retrain_due|train|evaluate|recommend|publish|maintenance_due|maintain)$"


def events_of_the_day() -> list[bytes]:
    """USERS x PER_USER views on DAG_RUN_DATE, each user on items of their own third of 30."""
    noon = dt.datetime.combine(DAG_RUN_DATE, dt.time(12), tzinfo=dt.timezone.utc)
    return [
        json.dumps(
            {
                "user_id": f"u{user:02d}",
                "item_id": f"i{(user % 3) * 10 + (user + n) % 10:02d}",
                "event_type": "view",
                "value": None,
                "timestamp": (noon + dt.timedelta(minutes=user * PER_USER + n)).isoformat(),
            }
        ).encode()
        for user in range(USERS)
        for n in range(PER_USER)
    ]


def test_with_a_kafka_section_the_daily_dag_ingests_ahead_of_validate(broker, dagbag, airflow_env, tmp_path):
    Producer(broker, TOPIC).send([*events_of_the_day(), *MALFORMED], DAG_RUN_DATE)
    lakehouse, landing = tmp_path / "lakehouse", tmp_path / "landing"
    kafka = ["input.format=json", f"kafka.bootstrap_servers={broker}", f"kafka.topic={TOPIC}"]

    dag_run = run_daily(
        dagbag.dags["reclake_daily"],
        lakehouse,
        f"{landing}/date={{run_date}}",
        mark_success=AFTER_VALIDATE,
        overrides=kafka,
    )

    task_states = states(dag_run)
    assert dag_run.state == "success", task_states
    assert {task: task_states[task] for task in ("kafka_configured", "ingest", "validate")} == dict.fromkeys(
        ("kafka_configured", "ingest", "validate"), "success"
    )
    landed = [line for path in (landing / f"date={DAG_RUN_DATE}").glob("*.json") for line in path.open()]
    assert len(landed) == USERS * PER_USER + len(MALFORMED)
    events = DeltaTable(str(lakehouse / "events")).to_pandas()
    quarantine = DeltaTable(str(lakehouse / "quarantine")).to_pandas()
    assert (len(events), len(quarantine)) == (USERS * PER_USER, len(MALFORMED))
    assert events["user_id"].nunique() == USERS
    assert not (lakehouse / "recommendations").exists(), "marked successful: nothing after validate ran"
