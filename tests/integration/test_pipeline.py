"""The whole pipeline, end to end, read back with delta-rs (no Spark) and checked against the input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from deltalake import DeltaTable

from reclake import pipeline as run
from tests.helpers import GOLDEN_TOP_N, GOLDEN_USERS, REPO, check_recommendations


def test_pipeline_publishes_n_unseen_items_for_every_user(golden):
    recs = DeltaTable(str(golden.root / "recommendations")).to_pandas()
    events = DeltaTable(str(golden.root / "events")).to_pandas()
    assert events["user_id"].nunique() == GOLDEN_USERS
    check_recommendations(recs, events, GOLDEN_TOP_N)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score", "source", "model_version", "run_date"]
    assert set(recs["source"]) == {"als"}


def test_rerunning_a_date_replaces_its_rows_and_keeps_ids_stable(golden):
    table = DeltaTable(str(golden.root / "recommendations"))
    recs = table.to_pandas()
    # Two runs for one date: one copy, from the second run's model.
    assert len(recs) == recs["user_id"].nunique() * GOLDEN_TOP_N
    assert set(recs["model_version"]) == {golden.second["model_version"]} != {golden.first["model_version"]}
    previous = DeltaTable(str(golden.root / "recommendations"), version=table.version() - 1).to_pandas()
    assert len(previous) == len(recs) and set(previous["model_version"]) == {golden.first["model_version"]}
    # Same input twice: the id tables were written once and never renumbered.
    assert DeltaTable(str(golden.root / "user_ids")).version() == 0
    assert DeltaTable(str(golden.root / "user_ids")).to_pandas()["user_idx"].is_unique


def test_json_summary_names_every_table(golden):
    summary = golden.first
    assert summary["status"] == "succeeded"
    for name in ("events", "quarantine", "interactions", "recommendations", "similar_items"):
        assert summary["tables"][name] == str(golden.root / name)
    assert summary["counts"]["publish"]["rows"] == GOLDEN_USERS * GOLDEN_TOP_N
    assert summary["counts"]["validate"]["raw_rows"] == summary["counts"]["validate"]["valid_rows"]
    assert set(summary["timings_s"]) >= {"generate", "validate", "prepare", "train", "recommend", "publish", "total"}
    assert summary["counts"]["generate"] == {}  # generated on first use only
    assert "generate" not in golden.second["counts"] or golden.second["counts"]["generate"] == {}


def test_a_quiet_run_prints_one_line_per_stage_and_where_to_look(golden):
    err = golden.second_stderr.splitlines()
    stages = [m[1] for line in err if (m := re.match(r"reclake run: (\w+) +[\d.]+ s\b", line))]
    assert stages == ["generate", "validate", "prepare", "train", "evaluate", "recommend", "publish"], err
    assert not [line for line in err if "WARN" in line or "INFO" in line], err  # logs went to the file
    assert any("evaluate" in line and "(approved: ndcg@10" in line for line in err), err
    look_up = next(line for line in err if "look up one user:" in line)
    assert look_up.endswith(f"--lakehouse {golden.root}")
    log = Path(next(line for line in err if line.strip().startswith("logs:")).split("logs:")[1].strip())
    assert log.parent == golden.root / "_logs" and "stage publish: done" in log.read_text()
    # Each log line names the run and the stage that wrote it.
    assert f" run={golden.second['run_id']} stage=publish reclake.runner: stage publish: done in " in log.read_text()


def test_a_failing_stage_reports_status_and_error(spark, tmp_path, run_cli):
    status, summary = run_cli(run.main, "--lakehouse", str(tmp_path), "--input", str(tmp_path / "absent.csv"))
    assert status == 2
    assert summary["status"] == "failed" and "input not found" in summary["error"]


def test_cli_help_imports_no_spark():
    code = (
        "import sys, reclake.cli; reclake.cli.main(['--help']); assert 'pyspark' not in sys.modules, 'pyspark imported'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "reclake <job>" in out.stdout and "publish" in out.stdout


def test_job_files_run_as_scripts_the_way_spark_submit_runs_them():
    out = subprocess.run(
        [sys.executable, str(REPO / "jobs" / "train.py"), "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    assert "--set SECTION.KEY=VALUE" in out.stdout and "--lakehouse DIR" in out.stdout
