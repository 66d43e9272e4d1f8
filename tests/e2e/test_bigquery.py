"""The BigQuery sink against BigQuery's own REST API, served by a real emulator process (bqemulator on DuckDB).

No Google endpoint is reachable here; bqemulator answers the same API calls the
client makes (tables, load jobs with an upload, multi-statement transactions,
queries). It runs as its own process from its own venv (scripts/test-tools.sh),
started without DuckDB's spatial extension (tests/e2e/servers.py). The sink stages
Parquet in a local folder, so each load job carries its file; what only real
BigQuery does (gs:// loads, IAM, quotas) stays in tests/integration/test_bigquery.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from reclake.io.lakehouse import write_delta
from reclake.io.layout import RECOMMENDATION_COLUMNS
from reclake.io.tables import RECOMMENDATIONS, STAGED_RECOMMENDATIONS, table_uri
from reclake.stages import publish, rollback
from tests.e2e.servers import BQEMULATOR_HOME, bigquery_emulator
from tests.helpers import REPO, files_holding

pytestmark = pytest.mark.skipif(
    not (BQEMULATOR_HOME / ".installed").is_file(),
    reason=f"no bqemulator in {BQEMULATOR_HOME} (run scripts/test-tools.sh)",
)

PROJECT, DATASET = "acme-prod", "reclake"
D1, D2 = dt.date(2026, 11, 23), dt.date(2026, 11, 24)


def no_credentials(home: Path) -> dict[str, str]:
    """What google-auth would otherwise find credentials in: no gcloud login under ``home``, no metadata server."""
    return {"NO_GCE_CHECK": "True", "CLOUDSDK_CONFIG": str(home / "gcloud")}


def anonymous_environment(home: Path) -> dict[str, str]:
    """The environment without Google credentials: no key file, no gcloud login, no metadata server to ask."""
    env = {k: v for k, v in os.environ.items() if k != "GOOGLE_APPLICATION_CREDENTIALS"}
    return {**env, **no_credentials(home)}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    state = tmp_path_factory.mktemp("bqemulator")
    with bigquery_emulator(state, PROJECT, DATASET) as endpoint:
        yield endpoint


@pytest.fixture
def client(emulator, tmp_path, monkeypatch):
    """The sink's own client for the emulator, anonymous as the sink makes it without credentials; the test's
    environment has none either."""
    from reclake.config import load_config
    from reclake.sinks.bigquery import make_client

    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    for key, value in no_credentials(tmp_path).items():
        monkeypatch.setenv(key, value)
    return make_client(load_config(None, sink_settings(emulator, tmp_path, "t")).publish.bigquery_target)


def sink_settings(endpoint: str, tmp_path: Path, table: str) -> list[str]:
    return [
        "publish.sink=bigquery",
        f"publish.bigquery.project={PROJECT}",
        f"publish.bigquery.dataset={DATASET}",
        f"publish.bigquery.table={table}",
        f"publish.bigquery.staging_uri={tmp_path / 'staging'}",
        f"publish.bigquery.api_endpoint={endpoint}",
        "publish.target_file_rows=7",  # several staged files per date: one upload, one load job
    ]


def rows_for(run_date: dt.date, users: range, model: str) -> list[tuple]:
    return [(f"u{u:02d}", r, f"i{u}.{r}.{model}", 1.0 / r, "als", model, run_date) for u in users for r in (1, 2, 3)]


def table_rows(client, table: str, columns: str = ", ".join(RECOMMENDATION_COLUMNS)) -> list[tuple]:
    result = client.query(f"SELECT {columns} FROM `{PROJECT}.{DATASET}.{table}`").result()
    return sorted(tuple(row.values()) for row in result)


def app_query() -> str:
    """The query docs/publishing.md gives app teams for one user's list."""
    text = (REPO / "docs" / "publishing.md").read_text()
    return re.search(r"```sql\n(.*?)```", text, re.S)[1]


def test_a_date_lands_a_rerun_replaces_that_date_only_a_second_date_adds_its_own_and_a_rollback_restores(
    spark, run_cli, lakehouse, tmp_path, emulator, client
):
    from google.cloud import bigquery

    sets = [f"--set={s}" for s in sink_settings(emulator, tmp_path, "recommendations")]

    def publish_rows(rows: list[tuple]) -> dict:
        staged = spark.createDataFrame(rows, list(RECOMMENDATION_COLUMNS)).select(*RECOMMENDATION_COLUMNS)
        write_delta(staged, table_uri(str(lakehouse), STAGED_RECOMMENDATIONS))
        status, summary = run_cli(publish.main, "--lakehouse", str(lakehouse), "--run-date", str(rows[0][-1]), *sets)
        assert status == 0, summary.get("error")
        assert summary["counts"]["publish"]["bigquery_rows"] == len(rows)
        return summary

    first, second, rerun = rows_for(D1, range(10), "m1"), rows_for(D2, range(4, 12), "m2"), rows_for(D1, range(3), "m3")
    publish_rows(first)
    assert table_rows(client, "recommendations") == sorted(first)
    publish_rows(second)
    assert table_rows(client, "recommendations") == sorted(first + second)
    publish_rows(rerun)  # the same date again, fewer users: their rows replace all of D1's, D2 untouched
    assert table_rows(client, "recommendations") == sorted(rerun + second)

    table = client.get_table(f"{PROJECT}.{DATASET}.recommendations")
    assert table.time_partitioning == bigquery.TimePartitioning(type_="DAY", field="run_date")
    assert table.clustering_fields == ["user_id"]
    assert [t.table_id for t in client.list_tables(DATASET)] == ["recommendations"]  # every scratch table dropped

    # The app teams' query: the newest date's list for one user, in rank order.
    job = client.query(
        app_query(),
        job_config=bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("user_id", "STRING", "u05")]
        ),
    )
    assert [tuple(r.values()) for r in job.result()] == [(r, f"i5.{r}.m2", 1.0 / r, "m2") for r in (1, 2, 3)]

    def roll_back(run_date: dt.date, run_id: str) -> dict:
        args = ["--lakehouse", str(lakehouse), "--run-date", str(run_date), "--set", f"run.run_id={run_id}", *sets]
        status, summary = run_cli(rollback.main, *args)
        assert status == 0, summary.get("error")
        return summary

    # D1's rerun rolled back: the earlier publish's rows, from its staged files; D2 untouched; twice is once.
    assert roll_back(D1, "rollback-1")["counts"]["rollback"]["bigquery_rows"] == len(first)
    assert table_rows(client, "recommendations") == sorted(first + second)
    roll_back(D1, "rollback-2")
    assert table_rows(client, "recommendations") == sorted(first + second)
    # D2's first publish rolled back: its rows go; the newest date's model is D1's again.
    summary = roll_back(D2, "rollback-3")
    assert summary["counts"]["rollback"]["bigquery_rows"] == 0 and summary["model_version"] == "m1"
    assert table_rows(client, "recommendations") == sorted(first)
    assert [t.table_id for t in client.list_tables(DATASET)] == ["recommendations"]


class TokenEndpoint(BaseHTTPRequestHandler):
    """Google's OAuth token endpoint, as far as a refresh goes: it remembers each form it was sent and answers
    with the planted access token."""

    access_token = ""
    forms: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:
        self.forms.append(parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()))
        body = json.dumps({"access_token": self.access_token, "expires_in": 3600, "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def jwt_key_id(assertion: str) -> str:
    """The ``kid`` of a JWT's header: which key signed it."""
    header = assertion.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def test_reclake_run_publishes_into_the_emulator_from_a_local_staging_folder_and_no_credential_leaks(
    tmp_path, emulator, client
):
    """With credentials from the environment (a service-account key file whose token endpoint is local), the sink
    uses them and their secrets appear in no output: lakehouse, logs, staging, console."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    token = f"planted-{uuid.uuid4().hex}"
    private_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    TokenEndpoint.access_token = f"{token}-access"
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    key = tmp_path / "keys" / "credentials.json"
    key.parent.mkdir()
    key.write_text(
        json.dumps(
            {"type": "service_account", "project_id": PROJECT, "private_key_id": f"{token}-key-id",
             "private_key": private_key, "client_email": "reclake@acme-prod.iam.gserviceaccount.com",
             "client_id": "1", "token_uri": f"http://127.0.0.1:{endpoint.server_port}/token"}
        )
    )  # fmt: skip
    lakehouse = tmp_path / "lakehouse"
    sets = [
        "generate.users=60", "generate.items=25", "generate.clusters=3", "generate.partitions=2",
        "als.rank=3", "als.max_iter=3", "recommend.top_n=5", "recommend.similar_items_top_n=3",
        "evaluate.gate=false", "spark.shuffle_partitions=2", "spark.driver_memory=1g",
        "validation.data_docs=false", "monitoring.html_report=false",
        *sink_settings(emulator, tmp_path, "from_run"),
    ]  # fmt: skip
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reclake.cli", "run", "--config", str(REPO / "conf" / "local.yaml"),
             "--lakehouse", str(lakehouse), "--run-date", D1.isoformat(), "--json",
             *(arg for s in sets for arg in ("--set", s))],
            capture_output=True, text=True, cwd=tmp_path, timeout=900,
            env={**anonymous_environment(tmp_path), "PYTHONPATH": str(REPO), "GOOGLE_APPLICATION_CREDENTIALS": str(key)},
        )  # fmt: skip
    finally:
        endpoint.shutdown()
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded"

    rows = table_rows(client, "from_run")
    assert len(rows) == summary["counts"]["publish"]["bigquery_rows"] > 0
    ranks: dict[str, list[int]] = {}
    for user, rank, *_rest, run_date in rows:
        assert run_date == D1
        ranks.setdefault(user, []).append(rank)
    assert all(r == list(range(1, len(r) + 1)) and len(r) <= 5 for r in ranks.values())
    assert len(ranks) > 40  # most of the 60 users have a list
    assert not Path(table_uri(str(lakehouse), RECOMMENDATIONS)).exists()  # the lists went to BigQuery, not Delta

    # The key was used (the client got its token with an assertion it signed), and no secret of it appears anywhere.
    assert TokenEndpoint.forms and all(
        jwt_key_id(form["assertion"][0]) == f"{token}-key-id" for form in TokenEndpoint.forms
    )
    needles = [token.encode(), *(line.encode() for line in private_key.splitlines()[1:-1])]
    assert (lakehouse / "_logs").is_dir() and files_holding(lakehouse, needles) == []
    assert files_holding(tmp_path / "staging", needles) == []
    assert token not in done.stdout and token not in done.stderr


def test_a_replace_that_fails_midway_leaves_the_date_as_it_was(emulator, tmp_path, client):
    from reclake.config import load_config
    from reclake.sinks.bigquery import replace_date_script

    target = load_config(None, sink_settings(emulator, tmp_path, "midway")).publish.bigquery_target
    table = f"{PROJECT}.{DATASET}.midway"
    client.query(f"CREATE TABLE `{table}` (user_id STRING, rank INT64, run_date DATE)").result()
    client.query(f"INSERT INTO `{table}` VALUES ('u1', 1, DATE '{D1}'), ('u2', 1, DATE '{D2}')").result()
    # A scratch "table" whose rows fail while the transaction inserts them, after its DELETE ran.
    broken = f"{PROJECT}.{DATASET}.midway__load_broken"
    client.query(
        f"CREATE VIEW `{broken}` AS SELECT ERROR('lost midway') AS user_id, 1 AS rank, DATE '{D1}' AS run_date"
    ).result()
    with pytest.raises(Exception, match="lost midway"):
        client.query(replace_date_script(target, D1, ["user_id", "rank", "run_date"], broken)).result()
    assert table_rows(client, "midway", "user_id, rank, run_date") == [("u1", 1, D1), ("u2", 1, D2)]
