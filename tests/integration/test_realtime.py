"""Real-time lists on the golden lakehouse: serving's fold-in equals the batch fold-in, with and without
recommend.exclude_seen_window_days; the POST API and the command.

The batch path is Spark's own: the recent events summed as one more batch of the
run date by prepare's functions, the users folded in by recommend's fold-in and
scored by its top-N kernel. The serving path reads only what publish wrote.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from deltalake import DeltaTable
from fastapi.testclient import TestClient
from pyspark.ml.recommendation import ALSModel

from reclake.config import AlsSection, load_config
from reclake.constants import (
    EVENT_COLUMNS,
    INGEST_DATE,
    ITEM_ID,
    ITEM_IDX,
    RANK,
    SCORE,
    USER_ID,
    USER_IDX,
)
from reclake.features.interactions import daily_pair_sums, history_strengths, new_id_mappings, to_interactions
from reclake.io import catalogue
from reclake.io.tables import DAILY_PAIRS, EVENTS, INTERACTIONS, ITEM_IDS, USER_IDS
from reclake.model.registry import latest_approved_version, model_entry, model_uri
from reclake.recommend.fallback import folded_in_factors
from reclake.recommend.lists import pairs_since, window_start
from reclake.recommend.topn import top_n_for_users
from reclake.serving import lookup
from reclake.serving.api import MAX_BODY_BYTES, create_app
from reclake.serving.lookup import LookupClient
from reclake.stages import publish, recommend
from tests.helpers import GOLDEN_DATA, GOLDEN_RUN_DATE, GOLDEN_TOP_N, REPO, Golden

RUN_DATE = dt.date.fromisoformat(GOLDEN_RUN_DATE)
NEW_USERS = ("visitor-1", "visitor-2")
UNKNOWN = "no-such-item"


def golden_ids(golden: Golden, table: str, column: str) -> list[str]:
    return sorted(DeltaTable(str(golden.root / table)).to_pyarrow_table(columns=[column]).column(column).to_pylist())


@pytest.fixture(scope="module")
def recent(golden: Golden) -> dict[str, list[tuple[str, str, float | None]]]:
    """Per user, (item_id, event_type, value) since the run: known users (items they had and new ones, every
    event type, an item twice, an unknown item), a known user with nothing new, users the run never saw."""
    users, items = golden_ids(golden, "user_histories", USER_ID), golden_ids(golden, "item_factors", ITEM_ID)
    histories = DeltaTable(str(golden.root / "user_histories")).to_pyarrow_table().to_pylist()
    had = {}
    for row in histories:
        had.setdefault(row[USER_ID], []).append(row[ITEM_ID])
    first, second, third, quiet = sorted(set(users))[:4]
    return {
        first: [(items[0], "view", None), (had[first][0], "purchase", 2.0), (items[7], "rating", 4.5)],
        second: [(had[second][1], "view", None), (had[second][1], "view", None), (items[30], "add_to_cart", None)],
        third: [(items[60], "view", None), (UNKNOWN, "view", None), (items[61], "rating", 0.5)],
        quiet: [],
        NEW_USERS[0]: [(items[3], "view", None), (items[40], "purchase", 1.0), (items[90], "view", None)],
        NEW_USERS[1]: [(items[10], "add_to_cart", None), (UNKNOWN, "view", None)],
    }


@pytest.fixture(scope="module")
def batch(golden: Golden, spark, recent) -> dict[str, list[tuple[str, float]]]:
    """Each user's top N by the Spark path: their events since the run as one more batch of the run date."""
    root = str(golden.root)
    config = load_config(REPO / "conf" / "local.yaml", GOLDEN_DATA)  # the golden runs' event types and prepare
    when = dt.datetime.combine(RUN_DATE, dt.time(12), tzinfo=dt.timezone.utc)
    events = [(user, item, kind, value, when, RUN_DATE) for user, rows in recent.items() for item, kind, value in rows]
    schema = "user_id string, item_id string, event_type string, value double, event_time timestamp, ingest_date date"
    new_events = spark.createDataFrame(events, schema).select(*EVENT_COLUMNS, INGEST_DATE)
    wanted = spark.createDataFrame([(user,) for user in recent], f"{USER_ID} string")
    daily = catalogue.read(spark, root, DAILY_PAIRS).join(wanted, USER_ID, "left_semi")
    new_daily = daily_pair_sums(new_events, config.events.types)
    pairs = history_strengths(daily.select(*new_daily.columns).unionByName(new_daily), config.prepare, RUN_DATE)
    known_users = catalogue.read(spark, root, USER_IDS)
    users = known_users.unionByName(new_id_mappings(wanted, known_users, USER_ID, USER_IDX))
    items = catalogue.read(spark, root, ITEM_IDS)
    interactions = to_interactions(pairs, users, items)

    version = latest_approved_version(spark, root)
    item_factors = ALSModel.load(model_uri(root, version)).itemFactors.withColumnRenamed("id", ITEM_IDX)
    params = AlsSection.model_validate(model_entry(spark, root, version)["params"])
    folded = folded_in_factors(users.join(wanted, USER_ID, "left_semi"), interactions, item_factors, params)
    top = top_n_for_users(folded, item_factors, interactions.select(USER_IDX, ITEM_IDX), GOLDEN_TOP_N)
    rows = top.join(users, USER_IDX).join(items, ITEM_IDX).orderBy(USER_ID, RANK).collect()
    lists: dict[str, list[tuple[str, float]]] = {}
    for row in rows:
        lists.setdefault(row[USER_ID], []).append((row[ITEM_ID], row[SCORE]))
    return lists


def test_realtime_lists_equal_the_batch_fold_in_of_the_same_history(golden, recent, batch):
    client = LookupClient(str(golden.root))
    assert set(batch) == set(recent), "every test user has a batch list"
    for user, rows in recent.items():
        items, kinds, values = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
        served = client.realtime_for(user, items, kinds, values)
        got = [(row[ITEM_ID], row[SCORE]) for row in served["items"]]
        assert [item for item, _ in got] == [item for item, _ in batch[user]], user
        assert [score for _, score in got] == pytest.approx([s for _, s in batch[user]], abs=1e-5), user
        assert {row["source"] for row in served["items"]} == {"realtime"}
        assert [row[RANK] for row in served["items"]] == list(range(1, GOLDEN_TOP_N + 1))
        assert served["unknown_items"] == items.count(UNKNOWN)
        assert not set(got) & set(items), "recent items are never recommended back"
        assert served["run_date"] == RUN_DATE and served["model_version"] == golden.second["model_version"]


def test_post_answers_as_the_client_and_refuses_bad_requests_without_echoing_them(golden, recent):
    client = LookupClient(str(golden.root), max_recent=4)
    http = TestClient(create_app(client))
    user = NEW_USERS[0]
    items = [row[0] for row in recent[user]]
    body = http.post(f"/recommendations/{user}", json={"items": items}).json()
    assert body["user_id"] == user and body["run_date"] == GOLDEN_RUN_DATE
    assert body["items"] == json.loads(json.dumps(client.realtime_for(user, items)["items"]))
    assert (body["history_items"], body["recent_items"], body["unknown_items"]) == (0, 3, 0)

    def refused(payload: object, status: int, path: str = f"/recommendations/{user}") -> str:
        response = http.post(path, json=payload)
        assert response.status_code == status, response.text
        assert "<bad>" not in response.text
        return response.json()["detail"]

    assert refused({"items": [UNKNOWN, "<bad>"]}, 404).startswith("nothing to fold in")
    assert refused({"items": ["<bad>"] * 5}, 413) == "more than 4 items in one request"
    assert refused({"items": items, "event_types": ["<bad>"] * 3}, 422).startswith("item #1: the event type is not one")
    assert "one per item" in refused({"items": items, "event_types": ["view"]}, 422)
    assert "use_value" in refused({"items": items[:1], "event_types": ["rating"]}, 422)
    assert "outside" in refused({"items": items[:1], "event_types": ["rating"], "values": [9.0]}, 422)
    assert refused({"items": ["bad\u200bid"]}, 400) == "invalid items"
    assert refused({"items": "<bad>"}, 400) == "invalid items"
    assert refused({"items": [], "<bad>": 1}, 400) == "invalid body"  # a made-up key is not named either
    bad_json = http.post(f"/recommendations/{user}", content=b"{<bad>", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and "<bad>" not in bad_json.text
    huge = {"items": ["x" * 200] * (MAX_BODY_BYTES // 200)}
    assert http.post(f"/recommendations/{user}", json=huge).status_code == 413
    assert http.request("GET", f"/recommendations/{user}", content=b"{}").status_code == 413  # GETs take no body
    assert http.post("/similar/i1", json={"items": []}).status_code == 405


def test_reclake_lookup_recent_prints_the_realtime_list(golden, recent, capsys):
    user = NEW_USERS[1]
    items = ",".join(row[0] for row in recent[user])
    assert lookup.main([user, "--recent", items, "--lakehouse", str(golden.root), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = LookupClient(str(golden.root)).realtime_for(user, items.split(","))
    assert printed["items"] == json.loads(json.dumps(expected["items"])) and printed["unknown_items"] == 1
    assert lookup.main([user, "--recent", items, "--event-types", "nope,view", "--lakehouse", str(golden.root)]) == 2
    assert "[RECLAKE-LOOKUP-REFUSED]" in capsys.readouterr().err


def test_with_a_seen_window_realtime_lists_exclude_what_the_batch_lists_exclude(spark, run_cli, golden_copy):
    root, days = golden_copy, 7
    for stage in (recommend, publish):
        status, summary = run_cli(stage.main, *Golden.args(root), "--set", f"recommend.exclude_seen_window_days={days}")
        assert status == 0, summary.get("error")
    # From the events, not from what recommend flagged: each user's items of the window, and of before it.
    users, items = catalogue.read(spark, str(root), USER_IDS), catalogue.read(spark, str(root), ITEM_IDS)
    window = pairs_since(catalogue.read(spark, str(root), EVENTS), window_start(RUN_DATE, days), users, items)
    interactions = catalogue.read(spark, str(root), INTERACTIONS)

    def named(pairs):
        return {(r[USER_ID], r[ITEM_ID]) for r in pairs.join(users, USER_IDX).join(items, ITEM_IDX).collect()}

    recent, had = named(window), named(interactions)
    older = had - recent
    assert recent and older

    # The batch fold-in of each user's history, with the window's items masked, and the published ALS lists.
    version = latest_approved_version(spark, str(root))
    item_factors = ALSModel.load(model_uri(str(root), version)).itemFactors.withColumnRenamed("id", ITEM_IDX)
    params = AlsSection.model_validate(model_entry(spark, str(root), version)["params"])
    folded = folded_in_factors(users, interactions, item_factors, params)
    top = top_n_for_users(folded, item_factors, window, GOLDEN_TOP_N).join(users, USER_IDX).join(items, ITEM_IDX)
    batch: dict[str, list[tuple[str, float]]] = {}
    for row in top.orderBy(USER_ID, RANK).collect():
        batch.setdefault(row[USER_ID], []).append((row[ITEM_ID], row[SCORE]))
    published = DeltaTable(str(root / "recommendations")).to_pandas()
    published = published[published["run_date"].astype(str) == GOLDEN_RUN_DATE]

    client = LookupClient(str(root))
    served = {user: client.realtime_for(user, [])["items"] for user in sorted(batch)[:60]}
    for user, rows in served.items():
        assert [(row[ITEM_ID], row[SCORE]) for row in rows] == [
            (item, pytest.approx(score, abs=1e-5)) for item, score in batch[user]
        ], user
    lists = {
        "real-time": {(user, row[ITEM_ID]) for user, rows in served.items() for row in rows},
        "batch fold-in": {(user, item) for user in served for item, _ in batch[user]},
        "published": set(zip(published[USER_ID], published[ITEM_ID], strict=True)),
    }
    for name, pairs in lists.items():
        assert not pairs & recent, f"{name}: an item of the window recommended back"
        assert pairs & older, f"{name}: no item from before the window recommended back"
