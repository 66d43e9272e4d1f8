"""Following Kafka in `reclake serve`: messages read with the raw-event contract, the per-user store's bounds."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from reclake.config import load_config
from reclake.serving.follow import EventContract, RecentEvents, day_after, parse_event
from reclake.serving.realtime import RecentEvent

UTC = dt.timezone.utc
SENT_MS = 1_795_000_000_000  # the message's own timestamp
SENT = dt.datetime.fromtimestamp(SENT_MS / 1000, UTC)


def contract(*overrides: str) -> EventContract:
    config = load_config(None, list(overrides))
    return EventContract.of(config.input, config.events.types)


def message(**fields: object) -> bytes:
    event = {"user_id": "u1", "item_id": "i1", "event_type": "view", "value": None, "timestamp": "2026-11-24T08:00:00Z"}
    return json.dumps({**event, **fields}).encode()


def test_a_message_reads_as_validate_reads_the_landed_line():
    parsed = parse_event(message(user_id=" u1 ", item_id=7, event_type=" Rating", value="4.5"), SENT_MS, contract())
    assert parsed == ("u1", RecentEvent("7", "rating", 4.5, dt.datetime(2026, 11, 24, 8, tzinfo=UTC)))
    naive = parse_event(message(timestamp="2026-11-24 09:30:00"), SENT_MS, contract())
    assert naive is not None and naive[1].event_time == dt.datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def test_other_contracts_read_their_own_columns_and_times():
    renamed = contract(
        "input.columns.user_id=who", "input.columns.event_type=null", "input.default_event_type=purchase",
        "input.columns.timestamp=ts", "input.timestamp_format=unix_millis",
    )  # fmt: skip
    got = parse_event(json.dumps({"who": "u9", "item_id": "i2", "ts": 1_795_000_000_500}).encode(), 0, renamed)
    assert got == ("u9", RecentEvent("i2", "purchase", None, dt.datetime.fromtimestamp(1_795_000_000.5, UTC)))
    spark_pattern = contract("input.timestamp_format=dd/MM/yyyy HH:mm")  # only Spark reads it: the message's time
    assert parse_event(message(timestamp="24/11/2026 08:00"), SENT_MS, spark_pattern)[1].event_time == SENT  # type: ignore[index]


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b"",
        b"[1, 2]",
        b'{"user_id": "u1", "item_id": ',
        b"\xff\xfe",
        message(user_id=""),
        message(user_id=True),
        message(item_id=None),
        message(item_id="x" * 257),
        message(event_type="teleport"),
        message(event_type="rating"),  # its value is weighed, and there is none
        message(event_type="rating", value=9.0),  # outside 0.5..5.0
        message(value="lots"),
        message(timestamp="yesterday"),
        json.dumps({"user_id": "u1", "item_id": "i1", "event_type": "view"}).encode(),  # no time
    ],
)
def test_messages_validate_would_quarantine_are_skipped(value):
    assert parse_event(value, SENT_MS, contract()) is None


def event(item: str, day: int = 24) -> RecentEvent:
    return RecentEvent(item, "view", None, dt.datetime(2026, 11, day, 8, tzinfo=UTC))


def test_the_store_keeps_each_users_newest_events_for_the_most_recently_active_users():
    store = RecentEvents(max_users=2, per_user=3)
    for n in range(5):
        store.add("a", event(f"i{n}"))
    assert [e.item_id for e in store.of("a")] == ["i2", "i3", "i4"]  # the oldest dropped
    store.add("b", event("j"))
    store.add("a", event("i5"))  # a is now the most recently active
    store.add("c", event("k"))  # so b, the least recently active, goes
    assert (store.of("b"), len(store)) == ([], 2)
    assert [e.item_id for e in store.of("a")] == ["i3", "i4", "i5"] and store.of("c") == [event("k")]


def test_a_newer_run_drops_the_events_its_batch_holds():
    store = RecentEvents(max_users=10)
    store.add("a", event("old", day=24))
    store.add("a", event("new", day=25))
    store.add("b", event("old", day=24))
    store.drop_before(day_after(dt.date(2026, 11, 24)))
    assert day_after(dt.date(2026, 11, 24)) == dt.datetime(2026, 11, 25, tzinfo=UTC)
    assert (store.of("a"), store.of("b"), len(store)) == ([event("new", day=25)], [], 1)
