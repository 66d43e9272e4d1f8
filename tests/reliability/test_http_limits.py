"""The HTTP service holds its bounds: hostile ids, long URLs, bodies, big headers, idle connections, load.

The fast tests run the app in process on a tiny table written with delta-rs (no
Spark); the e2e tests start a real `reclake serve` on a copy of the golden
lakehouse and load it over loopback with bench/bench_http.py.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from fastapi.testclient import TestClient

from reclake.serving.api import MAX_URL_BYTES, create_app
from reclake.serving.lookup import LookupClient

from ..conftest import REPO
from ..e2e.servers import free_port, server

RUN_DATE = dt.date(2026, 11, 23)
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
        "this API takes no request body"
    )
    assert short_error(http.get("/recommendations/nobody"), 404).startswith("user_id 'nobody' is not in run")
    assert short_error(http.get("/recommendations/u1", params={"version": -1}), 400) == "invalid version"


def test_responses_hold_at_most_max_items(tiny):
    assert len(TestClient(create_app(LookupClient(str(tiny)))).get("/recommendations/u1").json()["items"]) == 5
    capped = TestClient(create_app(LookupClient(str(tiny)), max_items=2)).get("/recommendations/u1").json()
    assert [i["item_id"] for i in capped["items"]] == ["i1", "i2"]


def raw_request(port: int, request: bytes, wait: float = 10.0) -> bytes:
    """Send raw bytes on a new connection; return all the server sends until it closes (or ``wait`` passes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(request)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        return received


@pytest.mark.e2e
def test_a_real_server_holds_8_connections_of_load_and_its_bounds(golden_copy, tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "reclake.cli", "serve", "--lakehouse", str(golden_copy), "--port", str(port)]
    with server(command, f"http://127.0.0.1:{port}/recommendations/u0000001", tmp_path / "serve.log", cwd=REPO):
        bench = [sys.executable, str(REPO / "bench" / "bench_http.py"), "--url", f"http://127.0.0.1:{port}"]
        ids = tmp_path / "ids.txt"
        ids.write_text("\n".join(f"u{n:07d}" for n in range(400)))  # the golden run's users
        done = subprocess.run(
            [*bench, "--ids", str(ids), "--requests", "2000", "--connections", "8", "--seconds", "30", "--json"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"\nHTTP load: {figures}")
        assert figures["errors"] == 0, figures["error_examples"]
        assert figures["requests"] == 2000 and figures["seconds"] <= 31, figures

        # Headers over 16 KiB: refused, whether they arrive at once (the app: 431) or trickle in (uvicorn: 400).
        big = b"GET /recommendations/u0000001 HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 20_000 + b"\r\n\r\n"
        assert raw_request(port, big).startswith(b"HTTP/1.1 431 ")
        endless = b"GET /recommendations/u0000001 HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: p\r\n" * 10_000  # no end
        assert raw_request(port, endless).split(b"\r\n", 1)[0] in (b"HTTP/1.1 400 Bad Request", b"")
        # An idle keep-alive connection is closed by the server after its timeout (5 s), not held forever.
        t0 = time.monotonic()
        answer = raw_request(port, b"GET /recommendations/u0000001 HTTP/1.1\r\nHost: x\r\n\r\n", wait=20)
        assert answer.startswith(b"HTTP/1.1 200") and 4 < time.monotonic() - t0 < 15
        # Hostile ids over a real connection: 400 with the short error.
        for hostile in HOSTILE_IDS.values():
            path = "/recommendations/" + urllib.parse.quote(hostile, safe="")
            answer = raw_request(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            assert answer.startswith(b"HTTP/1.1 400") and answer.endswith(b'{"detail":"invalid user_id"}'), answer[:300]
