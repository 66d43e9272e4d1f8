"""Synthetic interaction events with structure ALS can recover.

Users belong to one of ``clusters`` taste clusters and so do items; a user draws
``taste_share`` of their items from their own cluster and the rest from the
whole catalogue. User activity is heavy-tailed (Lomax) and item popularity is
Zipf-like, as in real logs. Every picked item is viewed; some are added to the
cart and some of those bought (``value`` = quantity). Output is deterministic
for a given seed and partition count, and written in the configured input format.

``generate.bad_rows`` adds rows that break the validation rules, in exact numbers
per kind (CSV only), as one more file next to the clean ones; each kind breaks
exactly the row rule named in BAD_ROW_RULES.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from reclake.config import BadRowKind, Config, EventsSection, GenerateSection
from reclake.constants import EVENT_TYPE, ITEM_ID, USER_ID, VALUE
from reclake.errors import ConfigError

TIMESTAMP = "timestamp"
GENERATED_EVENT_TYPES = ("view", "add_to_cart", "purchase")
CART_RATE = 0.3  # share of viewed items added to the cart
PURCHASE_RATE = 0.5  # share of carted items bought
ACTIVITY_SHAPE = 1.8  # Lomax shape: lower is heavier-tailed
# Kind of bad row -> the one row rule it breaks (reclake/quality/suites/events.rows.json).
BAD_ROW_RULES = {
    "malformed_line": "malformed_line",
    "wrong_type": "value_not_numeric",
    "null_id": "user_id_missing",
    "unknown_event_type": "event_type_unknown",
    "out_of_range": "value_out_of_range",
    "future_timestamp": "timestamp_in_future",
    "unparseable_timestamp": "timestamp_unparseable",
    "duplicate": "duplicate",
    "long_id": "user_id_invalid",
    "control_char_id": "user_id_invalid",
}
_SCHEMA = f"{USER_ID} string, {ITEM_ID} string, {EVENT_TYPE} string, {VALUE} double, {TIMESTAMP} string"


def _catalogue(settings: GenerateSection) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Items' clusters and popularity: per cluster its items and their cumulative weights."""
    rng = np.random.default_rng([settings.seed, 0])
    item_cluster = rng.integers(settings.clusters, size=settings.items)
    popularity = (rng.permutation(settings.items) + 1.0) ** -settings.popularity_exponent
    cluster_items, cluster_cdf = [], []
    for cluster in range(settings.clusters):
        members = np.flatnonzero(item_cluster == cluster)
        if members.size == 0:  # tiny catalogues: an empty cluster borrows the whole catalogue
            members = np.arange(settings.items)
        weights = np.cumsum(popularity[members])
        cluster_items.append(members)
        cluster_cdf.append(weights / weights[-1])
    global_cdf = np.cumsum(popularity) / popularity.sum()
    return item_cluster, cluster_items, cluster_cdf, global_cdf


def _user_events(user_ids: np.ndarray, settings: GenerateSection, end: dt.datetime, catalogue: tuple) -> pd.DataFrame:
    """All events of a batch of users, vectorised with numpy."""
    _, cluster_items, cluster_cdf, global_cdf = catalogue
    rng = np.random.default_rng([settings.seed, 1, int(user_ids[0])])
    user_cluster = (user_ids * 2654435761) % settings.clusters  # fixed per user, whatever the batch
    scale = (settings.mean_items_per_user - 1) * (ACTIVITY_SHAPE - 1)
    per_user = 1 + np.floor(rng.pareto(ACTIVITY_SHAPE, size=user_ids.size) * scale).astype(np.int64)
    per_user = np.minimum(per_user, max(1, settings.items // 2))

    picks_user = np.repeat(user_ids, per_user)
    picks_cluster = np.repeat(user_cluster, per_user)
    draws = rng.random(picks_user.size)
    from_taste = rng.random(picks_user.size) < settings.taste_share
    items = np.searchsorted(global_cdf, draws).clip(max=settings.items - 1)
    for cluster, (members, cdf) in enumerate(zip(cluster_items, cluster_cdf)):
        mask = from_taste & (picks_cluster == cluster)
        items[mask] = members[np.searchsorted(cdf, draws[mask]).clip(max=members.size - 1)]

    seen_at = end.timestamp() - rng.random(picks_user.size) * settings.days * 86400
    carted = rng.random(picks_user.size) < CART_RATE
    bought = carted & (rng.random(picks_user.size) < PURCHASE_RATE)
    quantity = rng.integers(1, 4, size=picks_user.size).astype(float)
    parts = [
        (np.ones_like(carted), "view", np.full(picks_user.size, np.nan), 0.0),
        (carted, "add_to_cart", np.full(picks_user.size, np.nan), 60.0),
        (bought, "purchase", quantity, 300.0),
    ]
    frames = []
    for mask, event_type, value, delay in parts:
        seconds = np.minimum(seen_at[mask] + delay, end.timestamp() - 1)
        frames.append(
            pd.DataFrame(
                {
                    USER_ID: _format_ids(picks_user[mask], "u", settings.string_ids),
                    ITEM_ID: _format_ids(items[mask], "i", settings.string_ids),
                    EVENT_TYPE: event_type,
                    VALUE: value[mask],
                    TIMESTAMP: pd.to_datetime(seconds, unit="s").strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _format_ids(ids: np.ndarray, prefix: str, string_ids: bool) -> pd.Series:
    series = pd.Series(ids)
    return prefix + series.astype(str).str.zfill(7) if string_ids else series.astype(str)


def generate_events(spark: SparkSession, settings: GenerateSection, end_date: dt.date) -> DataFrame:
    """Synthetic raw events (user_id, item_id, event_type, value, timestamp as ISO-8601 text)."""
    end = dt.datetime.combine(end_date, dt.time(), tzinfo=dt.timezone.utc)
    catalogue = _catalogue(settings)

    def per_batch(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if len(batch):
                yield _user_events(batch["id"].to_numpy(), settings, end, catalogue)

    users = spark.range(0, settings.users, numPartitions=settings.partitions)
    return users.mapInPandas(per_batch, schema=_SCHEMA)


def _out_of_range_purchase(events: EventsSection) -> str:
    """A purchase value outside the configured range."""
    purchase = events.types["purchase"]
    if purchase.min_value is not None:
        return str(purchase.min_value - 1)
    if purchase.max_value is not None:
        return str(purchase.max_value + 1)
    raise ConfigError("generate.bad_rows.out_of_range needs a min_value or max_value for events.types.purchase")


def bad_lines(bad_rows: Mapping[BadRowKind, int], config: Config, end: dt.datetime) -> list[str]:
    """CSV lines (without header), each breaking exactly one row rule, ``bad_rows[kind]`` of each kind.

    ``duplicate: n`` gives one valid row and n copies of it. Every other line has
    its own ids, so no two bad lines are duplicates of each other.
    """
    when = (end - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    broken = {
        "wrong_type": {EVENT_TYPE: "purchase", VALUE: "three"},
        "null_id": {USER_ID: ""},
        "unknown_event_type": {EVENT_TYPE: "teleport"},
        "out_of_range": {EVENT_TYPE: "purchase", VALUE: _out_of_range_purchase(config.events)},
        "future_timestamp": {TIMESTAMP: "2999-01-01T00:00:00Z"},
        "unparseable_timestamp": {TIMESTAMP: "not a time"},
        "long_id": {USER_ID: "u" * (config.validation.id_max_length + 1)},
        "control_char_id": {USER_ID: "bad\x07id"},
    }
    rows: list[list[str]] = []
    for kind, count in bad_rows.items():
        for i in range(count + (kind == "duplicate")):
            key = "bad-duplicate" if kind == "duplicate" else f"bad-{kind}-{i}"
            row = {USER_ID: key, ITEM_ID: key, EVENT_TYPE: "view", VALUE: "", TIMESTAMP: when}
            row.update(broken.get(kind, {}))
            rows.append([*row.values(), "extra field"] if kind == "malformed_line" else list(row.values()))
    out = io.StringIO()
    csv.writer(out, delimiter=config.input.delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue().splitlines()
