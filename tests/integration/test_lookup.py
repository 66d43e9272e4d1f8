"""The Spark-free lookup client, the `reclake lookup` command and the HTTP service, on tables delta-spark wrote."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from fastapi.testclient import TestClient

from reclake.config import PublishSection
from reclake.context import RunContext
from reclake.errors import MissingTableError, NotFound
from reclake.io.layout import (
    RECOMMENDATION_COLUMNS,
    SIMILAR_ITEM_COLUMNS,
    publish_table,
    run_stats,
)
from reclake.io.tables import RECOMMENDATIONS, SIMILAR_ITEMS
from reclake.serving import lookup
from reclake.serving.api import create_app
from reclake.serving.lookup import LookupClient
from tests.helpers import REPO

D2, D3 = dt.date(2026, 11, 22), dt.date(2026, 11, 23)
LAYOUT = PublishSection(target_file_rows=10)


def publish(spark, lakehouse: Path, rows: list[tuple], run_date: dt.date, name="recommendations", key="user_id"):
    columns = RECOMMENDATION_COLUMNS if name == "recommendations" else SIMILAR_ITEM_COLUMNS
    df = spark.createDataFrame(rows, list(columns))
    ctx = RunContext(run_date, f"run-{run_date}")
    table = RECOMMENDATIONS if name == "recommendations" else SIMILAR_ITEMS
    publish_table(df, str(lakehouse), table, run_stats(df, key), ctx=ctx, settings=LAYOUT)


def recs(run_date: dt.date, model: str, users: int, bump: float = 0.0) -> list[tuple]:
    """User uNNN gets items iNNN.1..3 with score 1/rank + bump (3 rows per user)."""
    return [
        (f"u{u:03d}", r, f"i{u:03d}.{r}", 1.0 / r + bump, "als", model, run_date)
        for u in range(users)
        for r in (1, 2, 3)
    ]


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory) -> Path:
    """Version 0: run D2 by model m1 for u000..u009; version 1: run D3 by m2 for u000..u007; similar items."""
    lakehouse = tmp_path_factory.mktemp("lookup") / "lakehouse"
    publish(spark, lakehouse, recs(D2, "m1", users=10), D2)
    publish(spark, lakehouse, recs(D3, "m2", users=8, bump=0.5), D3)
    similar = [("i1", 2, "i3", 0.5, "m2", D3), ("i1", 1, "i2", 0.9, "m2", D3), ("i2", 1, "i1", 0.9, "m2", D3)]
    publish(spark, lakehouse, similar, D3, name="similar_items", key="item_id")
    return lakehouse


def expected_items(user: int, bump: float) -> list[dict]:
    return [{"rank": r, "item_id": f"i{user:03d}.{r}", "score": 1.0 / r + bump, "source": "als"} for r in (1, 2, 3)]


def test_recommendations_for_reads_the_newest_run_in_rank_order(published):
    result = LookupClient(str(published)).recommendations_for("u003")
    assert result["run_date"] == D3 and result["model_version"] == "m2" and result["table_version"] == 1
    assert result["items"] == expected_items(3, 0.5)


def test_time_travel_returns_the_previous_run(published):
    client = LookupClient(str(published))
    old = client.recommendations_for("u003", at_version=0)
    assert (old["run_date"], old["model_version"], old["items"]) == (D2, "m1", expected_items(3, 0.0))
    assert client.recommendations_for("u009", at_version=0)["items"] == expected_items(9, 0.0)
    with pytest.raises(NotFound, match="u009"):
        client.recommendations_for("u009")  # not in the newest run
    with pytest.raises(NotFound, match="no version 7"):
        client.recommendations_for("u003", at_version=7)


def test_similar_items_and_unknown_ids(published):
    client = LookupClient(str(published))
    result = client.similar_items("i1")
    assert [(i["rank"], i["similar_item_id"]) for i in result["items"]] == [(1, "i2"), (2, "i3")]
    with pytest.raises(NotFound):
        client.similar_items("i9")
    with pytest.raises(NotFound):
        client.recommendations_for("u000'; drop table --")
    with pytest.raises(MissingTableError, match="reclake publish"):
        LookupClient(str(published / "nowhere")).recommendations_for("u001")


def test_http_service_answers_404_and_validates_input(published):
    http = TestClient(create_app(LookupClient(str(published))))
    body = http.get("/recommendations/u001").json()
    assert body["user_id"] == "u001" and body["run_date"] == D3.isoformat() and body["items"] == expected_items(1, 0.5)
    assert http.get("/recommendations/u001", params={"version": 0}).json()["model_version"] == "m1"
    assert http.get("/similar/i2").json()["items"] == [{"rank": 1, "similar_item_id": "i1", "score": 0.9}]
    assert http.get("/recommendations/nobody").status_code == 404
    assert http.get("/similar/nothing").status_code == 404
    assert http.get("/recommendations/u001", params={"version": 9}).status_code == 404
    assert http.get("/recommendations/u001", params={"version": -1}).status_code == 400
    assert http.get("/recommendations/u001", params={"version": "latest"}).json() == {"detail": "invalid version"}
    assert http.get("/recommendations/" + "x" * 257).status_code == 400
    assert http.get("/recommendations/bad%01id").status_code == 400


def test_service_serves_a_newly_published_version_without_restart(spark, lakehouse):
    publish(spark, lakehouse, recs(D2, "m1", users=2), D2)
    http = TestClient(create_app(LookupClient(str(lakehouse), refresh_s=0)))
    assert http.get("/recommendations/u001").json()["model_version"] == "m1"
    assert http.get("/similar/i1").status_code == 503  # no similar_items table yet
    publish(spark, lakehouse, recs(D3, "m2", users=2, bump=0.5), D3)
    body = http.get("/recommendations/u001").json()
    assert (body["model_version"], body["run_date"], body["table_version"]) == ("m2", D3.isoformat(), 1)


def test_reclake_lookup_prints_json_without_starting_spark(published):
    script = (  # reclake.cli.command, with a look at what was imported before its exit
        "import sys, reclake.cli, reclake.console\n"
        "status = reclake.cli.main(sys.argv[1:])\n"
        "assert not {'pyspark', 'delta', 'reclake.spark'} & set(sys.modules), 'lookup imported Spark'\n"
        "reclake.console.exit_now(status)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed reclake, nothing else
    args = [sys.executable, "-c", script, "lookup", "u002", "--lakehouse", str(published), "--json"]
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["items"] == expected_items(2, 0.5) and result["run_date"] == D3.isoformat()

    missing = subprocess.run(
        [*args[:3], "lookup", "nobody", "--lakehouse", str(published)],  # args[:4] ends in "lookup" already
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("reclake lookup: error [RECLAKE-LOOKUP-NOT-FOUND] NotFound: user_id 'nobody' "), (
        missing.stderr
    )


def test_new_items_shelf_through_the_client_the_command_and_http(tmp_path, capsys):
    """new_item_recommendations (written here by delta-rs, same columns as recommendations), served like them."""
    http = TestClient(create_app(LookupClient(str(tmp_path), refresh_s=0)))
    assert http.get("/new-items/u001").status_code == 503  # no shelf published yet (no catalogue)
    rows = [("u001", 2, "n7", 0.25, "content", "m2", D3), ("u001", 1, "n3", 0.5, "content", "m2", D3)]
    shelf = pa.Table.from_pylist([dict(zip(RECOMMENDATION_COLUMNS, row, strict=True)) for row in rows])
    write_deltalake(str(tmp_path / "new_item_recommendations"), shelf, partition_by=["run_date"])
    expected = [
        {"rank": 1, "item_id": "n3", "score": 0.5, "source": "content"},
        {"rank": 2, "item_id": "n7", "score": 0.25, "source": "content"},
    ]
    assert http.get("/new-items/u001").json()["items"] == expected
    assert http.get("/new-items/u002").status_code == 404
    assert lookup.main(["u001", "--new-items", "--lakehouse", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["items"] == expected and printed["run_date"] == D3.isoformat()
    with pytest.raises(SystemExit):
        lookup.main(["u001", "--new-items", "--similar", "--lakehouse", str(tmp_path)])
