"""The HTTP service holds its bounds: hostile ids, long URLs, bodies, big headers, idle connections, load.

The fast tests run the app in process on a tiny table written with delta-rs (no
Spark); the e2e tests start a real `reclake serve` on a copy of the golden
lakehouse and load it over loopback with bench/bench_http.py.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from fastapi.testclient import TestClient

from reclake.serving.api import MAX_URL_BYTES, create_app
from reclake.serving.lookup import LookupClient
from tests.helpers import HOSTILE_IDS

RUN_DATE = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """recommendations: u1 with 5 items, one run date, written by delta-rs."""
    root = tmp_path_factory.mktemp("http") / "lakehouse"
    rows = pa.table(
        {
            "user_id": ["u1"] * 5,
            "rank": pa.array(range(1, 6), pa.int32()),
            "item_id": [f"i{r}" for r in range(1, 6)],
            "score": [1.0 / r for r in range(1, 6)],
            "source": ["als"] * 5,
            "model_version": ["m1"] * 5,
            "run_date": [RUN_DATE] * 5,
        }
    )
    write_deltalake(str(root / "recommendations"), rows, partition_by=["run_date"])
    return root


def short_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail"} and len(response.content) < 200
    return body["detail"]


@pytest.mark.parametrize("name", sorted(HOSTILE_IDS))
def test_ids_it_cannot_hold_get_400_without_the_id_echoed(tiny, name):
    http = TestClient(create_app(LookupClient(str(tiny))))
    hostile = HOSTILE_IDS[name]
    response = http.get("/recommendations/" + urllib.parse.quote(hostile, safe=""))
    assert short_error(response, 400) == "invalid user_id"
    assert hostile not in response.text


def test_long_urls_bodies_and_unknown_ids_get_short_errors(tiny):
    http = TestClient(create_app(LookupClient(str(tiny))))
    assert "2048" in short_error(http.get("/recommendations/" + "x" * 10_000), 414)
    assert "2048" in short_error(http.get("/recommendations/u1", params={"pad": "y" * MAX_URL_BYTES}), 414)
    assert "16384" in short_error(http.get("/recommendations/u1", headers={"x-pad": "p" * 20_000}), 431)
    assert short_error(http.request("GET", "/recommendations/u1", content=b"x" * 10), 413) == (
        "this request takes no body"
    )
    assert short_error(http.get("/recommendations/nobody"), 404).startswith("user_id 'nobody' is not in run")
    assert short_error(http.get("/recommendations/u1", params={"version": -1}), 400) == "invalid version"


def test_responses_hold_at_most_max_items(tiny):
    assert len(TestClient(create_app(LookupClient(str(tiny)))).get("/recommendations/u1").json()["items"]) == 5
    capped = TestClient(create_app(LookupClient(str(tiny)), max_items=2)).get("/recommendations/u1").json()
    assert [i["item_id"] for i in capped["items"]] == ["i1", "i2"]
