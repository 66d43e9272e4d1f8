"""`reclake serve` following a real Kafka topic (kafka.serve_recent): a user's events after the served run
fold into their real-time list, equal to the lookup client's list for the same items.

The broker is Kafka 4 in KRaft mode (scripts/kafka.sh); the server is a real process over the golden
lakehouse. Events of the run's own date are ignored (the batch holds them): those sent that day are never
read (the consumer starts at the next day's first offset), one sent late is read and dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import urllib.request

import pytest
from deltalake import DeltaTable

from reclake.constants import ITEM_ID, SCORE
from reclake.serving.lookup import LookupClient
from tests.e2e.servers import Producer, free_port, get_json, needs_kafka, server, wait_for
from tests.helpers import GOLDEN_RUN_DATE, REPO

pytestmark = needs_kafka

TOPIC = "recent-events"
RUN_DATE = dt.date.fromisoformat(GOLDEN_RUN_DATE)
NEXT_DAY = RUN_DATE + dt.timedelta(days=1)
KNOWN, VISITOR = "u0000001", "visitor-kafka"  # a user of the run, one it never saw
UNKNOWN = "no-such-item"


def message(user: str, item: str, day: dt.date, event_type: str = "view", value: float | None = None) -> bytes:
    when = dt.datetime.combine(day, dt.time(9), tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z")
    event = {"user_id": user, "item_id": item, "event_type": event_type, "value": value, "timestamp": when}
    return json.dumps(event).encode()


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def same_list(served: dict, expected: dict) -> None:
    assert [row[ITEM_ID] for row in served["items"]] == [row[ITEM_ID] for row in expected["items"]]
    assert [row[SCORE] for row in served["items"]] == pytest.approx([row[SCORE] for row in expected["items"]], abs=1e-5)
    assert {row["source"] for row in served["items"]} == {"realtime"}
    assert served["unknown_items"] == expected["unknown_items"]


def test_serve_folds_in_the_users_events_read_from_kafka(golden, broker, tmp_path):
    items = sorted(
        DeltaTable(str(golden.root / "item_factors")).to_pyarrow_table(columns=[ITEM_ID])[ITEM_ID].to_pylist()
    )
    producer = Producer(broker, TOPIC)
    # The run's own date: sent that day (never read) and sent late, the next day (read, dropped).
    producer.send([message(KNOWN, items[i], RUN_DATE, "purchase", 1.0) for i in (50, 51, 52)], RUN_DATE)
    early = [(KNOWN, items[3], "view", None), (KNOWN, items[40], "purchase", 1.0)]
    producer.send([*(message(*e[:2], NEXT_DAY, *e[2:]) for e in early), b"not json"], NEXT_DAY)
    producer.send([message(KNOWN, items[53], RUN_DATE, "purchase", 1.0)], NEXT_DAY)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "reclake.cli", "serve", "--config", str(REPO / "conf" / "local.yaml"),
        "--lakehouse", str(golden.root), "--port", str(port),
        "--set", "input.format=json", "--set", "input.path=landing/date={run_date}",
        "--set", f"kafka.bootstrap_servers={broker}", "--set", f"kafka.topic={TOPIC}", "--set", "kafka.serve_recent=true",
    ]  # fmt: skip
    with server(command, f"{url}/recommendations/{KNOWN}", tmp_path / "serve.log", cwd=REPO):
        # And while it runs: one more event of the known user, the visitor's (one of an unknown item).
        late = [(KNOWN, items[7], "rating", 4.5)]
        visitor = [(VISITOR, items[60], "view", None), (VISITOR, UNKNOWN, "view", None), (VISITOR, items[61], "add_to_cart", None)]  # fmt: skip
        producer.send([message(*e[:2], NEXT_DAY, *e[2:]) for e in [*late, *visitor]], NEXT_DAY)

        def realtime(user: str, events: int) -> dict | None:
            """The user's answer once it holds their ``events`` and the consumer has read the whole topic."""
            answer = get_json(f"{url}/recommendations/{user}/realtime")
            return answer if (answer["kafka_events"], answer["kafka"]["lag"]) == (events, 0) else None

        known = wait_for(lambda: realtime(KNOWN, 3), "the known user's 3 events", 60, tmp_path / "serve.log")
        seen = wait_for(lambda: realtime(VISITOR, 3), "the visitor's 3 events", 60, tmp_path / "serve.log")
        posted = post_json(f"{url}/recommendations/{KNOWN}", {"items": [items[90]], "event_types": ["view"]})
        batch = get_json(f"{url}/recommendations/{KNOWN}")

    client = LookupClient(str(golden.root))

    def expected(events: list[tuple[str, str, str, float | None]], *extra: tuple[str, str, float | None]) -> dict:
        rows = [e[1:] for e in events] + list(extra)
        user = events[0][0]
        return client.realtime_for(user, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    same_list(known, expected([*early, *late]))
    same_list(seen, expected(visitor))
    same_list(posted, expected([*early, *late], (items[90], "view", None)))
    assert (posted["kafka_events"], posted["recent_items"], seen["unknown_items"]) == (3, 4, 1)
    status = posted["kafka"]
    # Read: the next day's 8 messages (5 events, the late one, the malformed one, ...) and never the run date's.
    assert (status["messages_read"], status["malformed"], status["before_run"]) == (8, 1, 1)
    assert dt.datetime.fromisoformat(status["since"]) == dt.datetime.combine(NEXT_DAY, dt.time(), dt.timezone.utc)
    assert status["users"] == 2
    assert batch["items"] == json.loads(json.dumps(client.recommendations_for(KNOWN)["items"]))
