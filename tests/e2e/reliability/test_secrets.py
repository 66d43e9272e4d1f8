"""A planted secret (a service-account key, the Pushgateway password, an AWS secret key) appears in no output of a
whole run: no log, report, table, commit, registry entry, event log or console line. BigQuery credentials that the
sink uses: the same check in tests/e2e/test_bigquery.py, against the emulator; AWS keys that a run on S3 uses: in
tests/e2e/test_s3.py, against moto's S3 server."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reclake.monitoring.metrics import PASSWORD_ENV, USERNAME_ENV
from tests.helpers import REPO, files_holding


class Pushgateway(BaseHTTPRequestHandler):
    """Accepts every push and remembers the Authorization headers it was sent."""

    seen: list[str] = []

    def do_PUT(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    do_POST = do_PUT  # noqa: N815

    def log_message(self, *args) -> None:
        pass


def test_a_planted_secret_appears_in_no_output(tmp_path):
    token = f"planted-{uuid.uuid4().hex}"
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"type": "service_account", "private_key": token}))
    lakehouse = tmp_path / "lakehouse"
    gateway = ThreadingHTTPServer(("127.0.0.1", 0), Pushgateway)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
        USERNAME_ENV: "reclake",
        PASSWORD_ENV: token,
        # Present but unused by a local lakehouse: they must not leak into Spark's settings or any output either.
        "AWS_ACCESS_KEY_ID": "reclake-planted",
        "AWS_SECRET_ACCESS_KEY": token,
    }
    sets = [
        "generate.users=80", "generate.items=30", "generate.clusters=3", "generate.partitions=2",
        "als.rank=3", "als.max_iter=3", "recommend.similar_items_top_n=3", "evaluate.gate=false",
        "spark.shuffle_partitions=2", "spark.driver_memory=1g", "validation.data_docs=true",
        f"monitoring.pushgateway_url=http://127.0.0.1:{gateway.server_port}",
        f"monitoring.event_log_dir={lakehouse / '_spark_events'}",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reclake.cli", "run", "--config", str(REPO / "conf" / "local.yaml"),
             "--lakehouse", str(lakehouse), "--run-date", "2026-11-23", "--json",
             *(arg for s in sets for arg in ("--set", s))],
            capture_output=True, env=env, cwd=tmp_path, timeout=900,
        )  # fmt: skip
    finally:
        gateway.shutdown()
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert json.loads(done.stdout.decode().strip().splitlines()[-1])["status"] == "succeeded"

    basic = base64.b64encode(f"reclake:{token}".encode())
    assert Pushgateway.seen and set(Pushgateway.seen) == {f"Basic {basic.decode()}"}  # the password was used
    needles = [token.encode(), basic]
    written = [p for p in lakehouse.rglob("*") if p.is_file()]
    kinds = {"_logs", "_metrics", "_validation", "_delta_log", "models", "_spark_events"}
    assert kinds <= {part for p in written for part in p.relative_to(lakehouse).parts}  # every kind of output was made
    assert files_holding(lakehouse, needles) == []
    assert not any(n in done.stdout or n in done.stderr for n in needles)
