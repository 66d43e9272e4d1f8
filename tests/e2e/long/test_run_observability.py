"""What a person watching a run sees: the console on a terminal (a real pty), the log file in JSON
and in text, progress from Spark's status tracker, and the HTML run report rendered in headless Chromium."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from reclake.monitoring.progress import CLEAR_LINE
from reclake.monitoring.run_report import SECTIONS
from tests.e2e.servers import free_port, get_json, server
from tests.helpers import REPO, Golden, spark_overrides

STAGES = ["generate", "validate", "prepare", "train", "evaluate", "recommend", "publish"]
INTERVAL_S = 1.0
STAGE_LINE = re.compile(r"^reclake (run|validate): (\w+) +\d+\.\d s")
PROGRESS_LOGGER = "reclake.monitoring.progress"
PYTHON_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")  # log4j's lines start yy/MM/dd


def job_command(job: str, root: Path, *extra: str) -> list[str]:
    sets = ["monitoring.html_report=true", f"monitoring.progress_interval_seconds={INTERVAL_S}"]
    return [
        sys.executable, "-m", "reclake.cli", job, *Golden.args(root), *spark_overrides(),
        *(arg for s in sets for arg in ("--set", s)), *extra, "--json",
    ]  # fmt: skip


def run_on_a_terminal(command: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run ``command`` with stderr on a pseudo-terminal, as in a person's shell: (status, stdout, terminal output)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    os.close(terminal)
    seen = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    stdout = process.communicate(timeout=900)[0].decode()
    reader.join(timeout=30)
    os.close(controller)
    return process.returncode, stdout, seen.decode(errors="replace")


def visible_lines(terminal: str) -> list[str]:
    """What stays on the screen: each line as the terminal shows it once its carriage returns have been applied."""
    lines = terminal.replace("\r\n", "\n").split("\n")
    return [line.split("\r")[-1].replace("\x1b[K", "") for line in lines if line.split("\r")[-1].replace("\x1b[K", "")]


@pytest.fixture(scope="module")
def terminal_run(tmp_path_factory) -> dict[str, Any]:
    """`reclake run --log-format json` on a small synthetic batch, stderr on a pty, progress every second."""
    root = tmp_path_factory.mktemp("observability") / "lakehouse"
    status, stdout, terminal = run_on_a_terminal(job_command("run", root, "--log-format", "json"), root.parent)
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert status == 0, (summary.get("error"), terminal[-3000:])
    return {"root": root, "summary": summary, "terminal": terminal}


def test_the_terminal_keeps_one_line_per_stage_and_a_live_progress_line(terminal_run):
    terminal, summary = terminal_run["terminal"], terminal_run["summary"]
    lines = visible_lines(terminal)
    stage_lines = [m.group(2) for m in map(STAGE_LINE.match, lines) if m]
    assert stage_lines == STAGES, lines
    assert lines[len(STAGES)].startswith("reclake run: succeeded in "), lines
    assert f"  run report: {summary['reports']['html']}" in lines
    # The live line was written and rewritten in place, for a stage that was running then.
    live = re.findall(re.escape(CLEAR_LINE) + r"(\w+): (\d+) s, ", terminal)
    assert {stage for stage, _ in live} <= set(STAGES) and len(live) >= 3, terminal[-2000:]
    # Third-party logs stayed in the log file.
    for noise in ("INFO", "WARN", "py4j", "great_expectations", "Ivy", "log4j"):
        assert not any(noise in line for line in lines), (noise, lines)


def test_json_logs_name_the_run_and_stage_on_every_line_and_report_progress(terminal_run):
    summary = terminal_run["summary"]
    log_path = terminal_run["root"] / "_logs" / f"{summary['run_id']}.log"
    records = [json.loads(line) for line in log_path.read_text().splitlines()]  # every line is one JSON object
    assert records and all(r["run_id"] == summary["run_id"] for r in records)
    assert all({"ts", "level", "logger", "message", "stage"} <= r.keys() for r in records)
    assert {r["stage"] for r in records} >= {"validate", "train", "evaluate"}
    progress = [r for r in records if r["logger"] == PROGRESS_LOGGER]
    assert {r["stage"] for r in progress} >= {"validate", "evaluate"}
    assert all(r["message"].startswith(f"{r['stage']}: ") for r in progress)
    working = [r for r in progress if r["tasks_total"] > 0]
    assert working and all(0 <= r["fraction"] <= 1 and r["tasks_done"] <= r["tasks_total"] for r in working)
    assert all(r["spark_stages"] for r in working)
    assert any(r["rows_read"] > 0 for r in progress)  # rows the stage's Spark jobs have read so far
    # At least one report per interval (and scheduling slack) while a stage runs.
    evaluate_times = [r["elapsed_s"] for r in progress if r["stage"] == "evaluate"]
    assert len(evaluate_times) >= 2 and max(b - a for a, b in zip(evaluate_times, evaluate_times[1:])) < INTERVAL_S + 10
    # The JVM's own lines are not JSON: they go beside the log.
    assert "log4j" in (log_path.with_suffix(".jvm.log")).read_text()


def test_without_a_terminal_progress_goes_to_the_text_log_only(terminal_run, tmp_path):
    root = terminal_run["root"]
    done = subprocess.run(
        job_command("validate", root), capture_output=True, text=True, cwd=root.parent, timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    log_path = root / "_logs" / f"{summary['run_id']}.log"
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    lines = done.stderr.splitlines()
    assert STAGE_LINE.match(lines[0]) and lines[1].startswith("reclake validate: succeeded in "), lines
    # Nothing evaluated: the report goes under <lakehouse>/_reports.
    report = root / "_reports" / f"run-{summary['run_id']}.html"
    assert lines[2:] == [f"  run report: {report}", f"  logs: {log_path}"] and report.exists()
    log_lines = log_path.read_text().splitlines()
    python_lines = [line for line in log_lines if PYTHON_LOG_LINE.match(line)]
    assert python_lines and all(f" run={summary['run_id']} stage=" in line for line in python_lines)
    assert any(f"stage=validate {PROGRESS_LOGGER}: validate: " in line for line in python_lines), python_lines
    assert any("log4j" in line for line in log_lines)  # text format: the JVM's lines stay in the same file


def browser_session(page_url: str, tmp_path: Path) -> dict[str, Any]:
    """Open ``page_url`` in headless Chromium over the DevTools protocol: errors it reported, headings, images."""
    from websockets.sync.client import connect

    port = free_port()
    command = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
               f"--remote-debugging-port={port}", f"--user-data-dir={tmp_path / 'profile'}", "about:blank"]  # fmt: skip
    with server(command, f"http://127.0.0.1:{port}/json/version", tmp_path / "chromium.log", timeout=60):
        (page,) = [t for t in get_json(f"http://127.0.0.1:{port}/json/list") if t["type"] == "page"]
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            events: list[dict[str, Any]] = []
            counter = iter(range(1, 1000))

            def call(method: str, **params: Any) -> dict[str, Any]:
                message_id = next(counter)
                ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
                while True:
                    message = json.loads(ws.recv(timeout=60))
                    if message.get("id") == message_id:
                        assert "error" not in message, message
                        return message["result"]
                    events.append(message)

            for domain in ("Page", "Runtime", "Log"):
                call(f"{domain}.enable")
            call("Page.navigate", url=page_url)
            while not any(e.get("method") == "Page.loadEventFired" for e in events):
                events.append(json.loads(ws.recv(timeout=60)))
            found = call(
                "Runtime.evaluate",
                returnByValue=True,
                expression="JSON.stringify({headings: [...document.querySelectorAll('h2')].map(h => h.textContent),"
                " images: [...document.images].map(i => i.complete && i.naturalWidth > 0)})",
            )
    errors = [
        e
        for e in events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    return {"errors": errors, **json.loads(found["result"]["value"])}


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium: scripts/bootstrap.sh installs it")
def test_the_html_report_renders_in_chromium_with_every_section(terminal_run, tmp_path):
    summary = terminal_run["summary"]
    report = Path(summary["reports"]["html"])
    assert report.parent == Path(summary["tables"]["report"]).parent and report.name == f"run-{summary['run_id']}.html"
    assert Path(summary["reports"]["metrics"]).exists()
    page = report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)  # no network reference at all
    assert f"{summary['counts']['recommend']['rows']:,} recommendations for" in page
    assert f"{summary['counts']['validate']['raw_rows']:,} rows quarantined" in page
    seen = browser_session(report.as_uri(), tmp_path)
    assert seen["errors"] == []
    assert seen["headings"] == list(SECTIONS)
    assert len(seen["images"]) >= 8 and all(seen["images"])  # every plot decoded and drawn
