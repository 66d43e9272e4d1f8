"""Users' recent events read from the Kafka topic while `reclake serve` runs (``kafka.serve_recent``), no Spark.

A consumer thread (kafka-python) reads every partition of ``kafka.topic`` from the
first offset whose timestamp is after the served run's date (the day after
``run_date``, 00:00 UTC), so what the batch already holds is not read again. Each
message is parsed with the raw-event contract `reclake ingest` lands and validate
reads (:func:`parse_event`); a message it cannot use (not a JSON object, an id
missing, an event type not in ``events.types``, a value it cannot weigh) is counted
and skipped. The events are kept in memory per user (:class:`RecentEvents`), bounded
both ways. When ``served_versions`` moves to a newer run date, the events at or
before that date are dropped: the batch has them now.

Security settings come from the same RECLAKE_KAFKA_* variables as ingest
(reclake/io/kafka_login.py). The consumer joins no group and commits no offset:
every start reads again from the served run's date.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reclake.config import Config, EventType, InputSection, KafkaSection
from reclake.errors import ReclakeError
from reclake.io.kafka_login import KafkaLogin
from reclake.serving.realtime import MAX_RECENT_ITEMS, RecentEvent, weigh

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 256  # as the API takes ids
POLL_MS = 500
LAG_EVERY_S = 2.0  # how often the lag (the topic's end offsets) is asked for
RETRY_S = 2.0  # after an error: nothing published yet, the broker away


@dataclass(frozen=True)
class EventContract:
    """How a message's JSON object reads as an event: input.columns, input.timestamp_format, events.types."""

    user_id: str
    item_id: str
    event_type: str | None  # None: every event is default_event_type
    value: str | None
    timestamp: str
    timestamp_format: str
    default_event_type: str | None
    types: Mapping[str, EventType]

    @classmethod
    def of(cls, settings: InputSection, types: Mapping[str, EventType]) -> EventContract:
        c = settings.columns
        return cls(c.user_id, c.item_id, c.event_type, c.value, c.timestamp, settings.timestamp_format,
                   settings.default_event_type, types)  # fmt: skip


def _id(raw: object) -> str | None:
    """An id as validate takes it: a string (trimmed) or an integer, never empty or over-long."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None
    text = str(raw).strip()
    return text if 0 < len(text) <= MAX_ID_LENGTH else None


def _number(raw: object) -> float | None:
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        number = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _event_time(raw: object, timestamp_format: str) -> dt.datetime | None:
    """The event time in UTC, read as ``timestamp_format``; None where it does not read or the format is a
    Spark datetime pattern."""
    if timestamp_format in ("unix_seconds", "unix_millis"):
        number = _number(raw)
        if number is None:
            return None
        seconds = number / 1000 if timestamp_format == "unix_millis" else number
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    if timestamp_format != "iso8601" or not isinstance(raw, str):
        return None
    try:
        when = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when.astimezone(dt.timezone.utc)


def parse_event(value: bytes | None, message_ms: int, contract: EventContract) -> tuple[str, RecentEvent] | None:
    """(user_id, event) of one message, or None for a message validate would quarantine.

    The event time is the event's own (``contract.timestamp``); where the format is a Spark datetime
    pattern, which only Spark reads, the message's timestamp stands in.
    """
    try:
        record = json.loads(value or b"")
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    user, item = _id(record.get(contract.user_id)), _id(record.get(contract.item_id))
    kind = record.get(contract.event_type) if contract.event_type is not None else contract.default_event_type
    raw_value = record.get(contract.value) if contract.value is not None else None
    amount = _number(raw_value)
    if user is None or item is None or not isinstance(kind, str) or (raw_value is not None and amount is None):
        return None
    try:
        weigh(contract.types, kind, amount)
    except ValueError:
        return None
    when = _event_time(record.get(contract.timestamp), contract.timestamp_format)
    if when is None:
        if contract.timestamp_format in ("iso8601", "unix_seconds", "unix_millis"):
            return None  # no time, or one that does not read: validate quarantines it
        when = dt.datetime.fromtimestamp(message_ms / 1000, dt.timezone.utc)
    return user, RecentEvent(item, kind.strip().lower(), amount, when)


def day_after(run_date: dt.date) -> dt.datetime:
    """Where the events the batch of ``run_date`` does not hold begin: the next day, 00:00 UTC."""
    return dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)


class RecentEvents:
    """Each user's most recent events, at most ``per_user`` each (oldest dropped) for at most ``max_users`` users
    (the least recently active dropped); safe to share between threads."""

    def __init__(self, max_users: int, per_user: int = MAX_RECENT_ITEMS) -> None:
        self.max_users, self.per_user = max_users, per_user
        self._lock = threading.Lock()
        self._users: OrderedDict[str, deque[RecentEvent]] = OrderedDict()

    def add(self, user_id: str, event: RecentEvent) -> None:
        with self._lock:
            events = self._users.pop(user_id, None) or deque(maxlen=self.per_user)
            events.append(event)
            self._users[user_id] = events  # the most recently active last
            if len(self._users) > self.max_users:
                self._users.popitem(last=False)

    def of(self, user_id: str) -> list[RecentEvent]:
        """The user's events, oldest first."""
        with self._lock:
            return list(self._users.get(user_id, ()))

    def clear(self) -> None:
        with self._lock:
            self._users.clear()

    def drop_before(self, start: dt.datetime) -> None:
        """Drop the events before ``start``: a newer run's batch holds them."""
        with self._lock:
            for user in list(self._users):
                kept = deque((e for e in self._users[user] if e.event_time >= start), maxlen=self.per_user)
                if kept:
                    self._users[user] = kept
                else:
                    del self._users[user]

    def __len__(self) -> int:
        with self._lock:
            return len(self._users)


def consumer_options(settings: KafkaSection, login: KafkaLogin) -> dict[str, Any]:
    """kafka-python's options: the section's brokers, the login from the environment; no group, no commits."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "group_id": None,
        "enable_auto_commit": False,
        "client_id": "reclake-serve",
    }
    if login.security_protocol:
        options["security_protocol"] = login.security_protocol
    if login.username:
        options["sasl_mechanism"] = login.mechanism
        options["sasl_plain_username"] = login.username
        options["sasl_plain_password"] = login.password or ""
    return options


class KafkaFollower:
    """The consumer thread: reads the topic from the served run's next day on into :class:`RecentEvents`."""

    def __init__(
        self,
        config: Config,
        served_date: Callable[[], dt.date | None],
        environ: Mapping[str, str],
    ) -> None:
        if config.kafka is None:
            raise ValueError("following Kafka needs a kafka section")
        self.settings = config.kafka
        self.contract = EventContract.of(config.input, config.events.types)
        self.events = RecentEvents(config.kafka.serve_max_users)
        self._served_date = served_date
        self._options = consumer_options(self.settings, KafkaLogin.from_environ(environ))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reclake-kafka", daemon=True)
        self.read = self.kept = self.malformed = self.before_run = self.errors = 0
        self.lag: int | None = None
        self.last_message_time: dt.datetime | None = None
        self.since: dt.datetime | None = None

    def start(self) -> KafkaFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def status(self) -> dict[str, Any]:
        """What the consumer has done: for the realtime answers."""
        return {
            "topic": self.settings.topic,
            "since": self.since,
            "messages_read": self.read,
            "malformed": self.malformed,
            "before_run": self.before_run,
            "users": len(self.events),
            "lag": self.lag,
            "last_message_time": self.last_message_time,
        }

    def _run(self) -> None:
        """Follow the topic until stopped; an error (broker away, nothing published yet) waits and starts over."""
        while not self._stop.is_set():
            try:
                self._follow()
            except Exception:  # never end the thread: the API keeps answering from what is kept
                self.errors += 1
                log.exception("kafka: following %s failed; retrying in %.0f s", self.settings.topic, RETRY_S)
                self._stop.wait(RETRY_S)

    def _start_time(self) -> dt.datetime | None:
        try:
            served = self._served_date()
        except ReclakeError as exc:  # nothing published yet
            log.info("kafka: waiting for a served run: %s", exc)
            return None
        return day_after(served) if served is not None else None

    def _follow(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        start = self._start_time()
        if start is None:
            self._stop.wait(RETRY_S)
            return
        consumer = KafkaConsumer(**self._options)
        try:
            partitions = consumer.partitions_for_topic(self.settings.topic)
            if not partitions:
                log.info("kafka: topic %s has no partitions yet", self.settings.topic)
                self._stop.wait(RETRY_S)
                return
            assigned = [TopicPartition(self.settings.topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            self._seek(consumer, assigned, start)
            lag_checked = 0.0
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=POLL_MS).values():
                    for record in records:
                        self._take(record.value, record.timestamp)
                now = time.monotonic()
                if now - lag_checked >= LAG_EVERY_S:
                    lag_checked = now
                    ends = consumer.end_offsets(assigned)
                    self.lag = sum(max(ends[tp] - consumer.position(tp), 0) for tp in assigned)
                    moved = self._start_time()
                    if moved is not None and moved > start:
                        start = self.since = moved
                        self.events.drop_before(moved)
        finally:
            consumer.close()

    def _seek(self, consumer: Any, assigned: list[Any], start: dt.datetime) -> None:
        """Each partition from its first message at or after ``start`` (its end when it has none); what an
        earlier attempt kept is read again, so it is dropped."""
        self.events.clear()
        self.since = start
        found = consumer.offsets_for_times({tp: int(start.timestamp() * 1000) for tp in assigned})
        for tp in assigned:
            if found.get(tp) is None:
                consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, found[tp].offset)

    def _take(self, value: bytes | None, message_ms: int) -> None:
        self.read += 1
        self.last_message_time = dt.datetime.fromtimestamp(message_ms / 1000, dt.timezone.utc)
        parsed = parse_event(value, message_ms, self.contract)
        if parsed is None:
            self.malformed += 1
        elif self.since is not None and parsed[1].event_time < self.since:
            self.before_run += 1  # sent late, but its date's batch has run
        else:
            self.events.add(*parsed)
