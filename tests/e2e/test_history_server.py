"""Spark event logs and the History Server: a job run with ``monitoring.event_log_dir`` set, then
``scripts/history-server.sh`` (what ``make history`` runs) on those logs, asked through its REST API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.servers import free_port, get_json, server, wait_for
from tests.helpers import REPO

APP_NAME = "reclake-history-test"


def test_the_history_server_finds_a_runs_application(tmp_path: Path):
    events = tmp_path / "spark-events" / "reclake"  # missing: the job creates it
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHON": sys.executable}
    sets = [f"spark.app_name={APP_NAME}", "spark.driver_memory=1g", "spark.shuffle_partitions=2",
            "generate.users=40", "generate.items=20", f"monitoring.event_log_dir={events}"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "reclake.cli", "generate", "--lakehouse", str(tmp_path / "lakehouse"), "--json",
         *(arg for s in sets for arg in ("--set", s))],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["status"] == "succeeded"
    # Spark 4 writes rolling event logs: a folder eventlog_v2_<app id>, its status file marking it complete.
    (log,) = events.iterdir()
    app_id = log.name.removeprefix("eventlog_v2_")
    assert app_id.startswith("local-") and (log / f"appstatus_{app_id}").exists(), sorted(log.iterdir())

    port = free_port()
    applications = f"http://127.0.0.1:{port}/api/v1/applications"
    command = ["bash", str(REPO / "scripts" / "history-server.sh"), str(events)]
    with server(command, applications, tmp_path / "history.log", env={**env, "HISTORY_PORT": str(port)}):
        found = wait_for(lambda: get_json(applications), "the application in the History Server", 60)
    assert [app["id"] for app in found] == [app_id]
    assert found[0]["name"] == APP_NAME
    assert found[0]["attempts"][0]["completed"] is True
