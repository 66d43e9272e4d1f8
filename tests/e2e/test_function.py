"""The Cloud Function entry point run by `functions-framework` as a real process, answering as `reclake serve` does.

The lakehouse is two runs of `recommendations` written by delta-rs (no Spark), as
tests/integration/test_lookup.py's new-items test writes one. Every request goes to
the function's process and to the FastAPI app of `reclake serve` (in process), and
the two must answer with the same status and the same JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from fastapi.testclient import TestClient

from reclake.io.layout import RECOMMENDATION_COLUMNS
from reclake.serving.api import create_app
from reclake.serving.lookup import LookupClient
from tests.e2e.servers import free_port, server
from tests.helpers import REPO

D2, D3 = dt.date(2026, 11, 22), dt.date(2026, 11, 23)
FUNCTIONS_FRAMEWORK = Path(sys.executable).with_name("functions-framework")  # the extra `function` installs it
SOURCE = REPO / "reclake" / "serving" / "function.py"

pytestmark = pytest.mark.skipif(not FUNCTIONS_FRAMEWORK.is_file(), reason=f"no {FUNCTIONS_FRAMEWORK} (extra function)")


def recs(run_date: dt.date, model: str, users: int) -> pa.Table:
    rows = [(f"u{u:03d}", r, f"i{u:03d}.{r}", 1.0 / r, "als", model, run_date) for u in range(users) for r in (1, 2, 3)]
    return pa.Table.from_pylist([dict(zip(RECOMMENDATION_COLUMNS, row, strict=True)) for row in rows])


def call(base: str, path: str, method: str = "GET") -> tuple[int, object]:
    try:
        with urllib.request.urlopen(urllib.request.Request(base + path, method=method), timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory) -> Path:
    """Version 0: run D2 by m1 for u000..u009; version 1: run D3 by m2 for u000..u007."""
    root = tmp_path_factory.mktemp("function") / "lakehouse"
    write_deltalake(str(root / "recommendations"), recs(D2, "m1", 10), partition_by=["run_date"])
    write_deltalake(str(root / "recommendations"), recs(D3, "m2", 8), partition_by=["run_date"], mode="append")
    return root


def function_process(lakehouse: Path, port: int, log: Path):
    """`functions-framework` serving the function's target on a loopback port, reading ``lakehouse``."""
    command = [
        str(FUNCTIONS_FRAMEWORK), "--source", str(SOURCE), "--target", "recommendations",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "RECLAKE_LAKEHOUSE": str(lakehouse)}
    return server(command, f"http://127.0.0.1:{port}/nowhere", log, timeout=60, env=env)  # ready: it answers 404


def api_answer(lakehouse: Path, path: str) -> tuple[int, object]:
    response = TestClient(create_app(LookupClient(str(lakehouse)))).get(path)
    return response.status_code, response.json()


def test_the_function_answers_like_the_http_api(lakehouse, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with function_process(lakehouse, port, tmp_path / "function.log"):
        status, body = call(base, "/recommendations/u001")
        assert status == 200 and body["run_date"] == D3.isoformat() and body["model_version"] == "m2"
        assert [item["item_id"] for item in body["items"]] == ["i001.1", "i001.2", "i001.3"]
        assert call(base, "/recommendations/u009?version=0")[1]["model_version"] == "m1"  # time travel
        assert call(base, "/recommendations/u009")[0] == 404  # not in the newest run
        paths = [
            "/recommendations/u001", "/recommendations/u001?version=0", "/recommendations/u001?version=1",
            "/recommendations/u009", "/recommendations/u001?version=9", "/recommendations/u001?version=-1",
            "/recommendations/u001?version=latest", "/recommendations/" + "x" * 257, "/recommendations/bad%01id",
            "/recommendations/bad%E2%80%AEid", "/recommendations/%E2%80%AE?version=-1", "/recommendations/u0%2F1",
            "/nowhere", "/recommendations/u000'%3B%20drop%20table%20--",
        ]  # fmt: skip
        for path in paths:
            assert call(base, path) == api_answer(lakehouse, path), path
        assert call(base, "/recommendations/u001", method="DELETE") == (405, {"detail": "Method Not Allowed"})


def test_before_anything_is_published_the_function_answers_503_like_the_api(tmp_path):
    port, empty = free_port(), tmp_path / "empty"
    with function_process(empty, port, tmp_path / "function.log"):
        answer = call(f"http://127.0.0.1:{port}", "/recommendations/u001")
    assert answer[0] == 503 and answer == api_answer(empty, "/recommendations/u001")
