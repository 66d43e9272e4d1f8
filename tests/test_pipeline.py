"""The whole pipeline, end to end, read back with delta-rs (no Spark) and checked against the input."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from deltalake import DeltaTable

from reclake import pipeline as run

from .conftest import MOVIELENS, REPO

TOP_N = 5
SMALL = [
    "--set", "generate.users=300",
    "--set", "generate.items=60",
    "--set", "als.rank=8",
    "--set", "als.max_iter=5",
    "--set", f"recommend.top_n={TOP_N}",
]  # fmt: skip


def check_recommendations(recs: pd.DataFrame, events: pd.DataFrame, n: int) -> None:
    """Exactly n unseen items per user (fewer only when fewer remain), ranks 1..n, scores non-increasing."""
    catalogue = events["item_id"].nunique()
    seen = events.groupby("user_id")["item_id"].agg(set)
    assert set(recs["user_id"]) == set(seen.index), "every user in the input gets recommendations"
    for user, rows in recs.sort_values(["user_id", "rank"]).groupby("user_id"):
        expected = min(n, catalogue - len(seen[user]))
        assert list(rows["rank"]) == list(range(1, expected + 1)), user
        assert rows["score"].is_monotonic_decreasing, user
        assert not set(rows["item_id"]) & seen[user], f"{user} was recommended an item they have"
        assert rows["item_id"].is_unique, user


@pytest.fixture(scope="module")
def pipeline(spark, tmp_path_factory):
    """One run of the embedded default (sample data generated on first use), then a re-run of the same date."""
    lakehouse = tmp_path_factory.mktemp("pipeline") / "lakehouse"
    args = ["--config", str(REPO / "conf" / "local.yaml"), "--lakehouse", str(lakehouse), "--run-date", "2026-11-20"]
    runs = []
    for _ in range(2):
        status = run.main([*args, *SMALL, "--set", "spark.shuffle_partitions=2", "--json"])
        runs.append(status)
    return lakehouse, runs


def test_pipeline_publishes_n_unseen_items_for_every_user(pipeline):
    lakehouse, statuses = pipeline
    assert statuses == [0, 0]
    recs = DeltaTable(str(lakehouse / "recommendations")).to_pandas()
    events = DeltaTable(str(lakehouse / "events")).to_pandas()
    assert events["user_id"].nunique() == 300
    check_recommendations(recs, events, TOP_N)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score", "source", "model_version", "run_date"]
    assert set(recs["source"]) == {"als"}


def test_rerunning_a_date_replaces_its_rows_and_keeps_ids_stable(pipeline):
    lakehouse, _ = pipeline
    table = DeltaTable(str(lakehouse / "recommendations"))
    recs = table.to_pandas()
    # Two runs for one date: one copy, from the second run's model.
    assert len(recs) == recs["user_id"].nunique() * TOP_N
    assert recs["model_version"].nunique() == 1
    previous = DeltaTable(str(lakehouse / "recommendations"), version=table.version() - 1).to_pandas()
    assert len(previous) == len(recs) and previous["model_version"].iloc[0] != recs["model_version"].iloc[0]
    # Same input twice: the id tables were written once and never renumbered.
    assert DeltaTable(str(lakehouse / "user_ids")).version() == 0
    assert DeltaTable(str(lakehouse / "user_ids")).to_pandas()["user_idx"].is_unique


def test_json_summary_names_every_table(spark, tmp_path, run_cli):
    lakehouse = tmp_path / "lakehouse"
    status, summary = run_cli(
        run.main, "--config", str(REPO / "conf" / "local.yaml"), "--lakehouse", str(lakehouse), *SMALL
    )
    assert status == 0 and summary["status"] == "succeeded"
    assert summary["tables"]["recommendations"] == str(lakehouse / "recommendations")
    assert summary["counts"]["publish"]["rows"] == 300 * TOP_N
    assert summary["counts"]["validate"]["raw_rows"] == summary["counts"]["validate"]["valid_rows"]
    assert set(summary["timings_s"]) >= {"validate", "prepare", "train", "recommend", "publish", "total"}


def test_a_failing_stage_reports_status_and_error(spark, tmp_path, run_cli):
    status, summary = run_cli(run.main, "--lakehouse", str(tmp_path), "--input", str(tmp_path / "absent.csv"))
    assert status == 2
    assert summary["status"] == "failed" and "input not found" in summary["error"]


@pytest.mark.slow
@pytest.mark.skipif(not MOVIELENS.exists(), reason=f"MovieLens 100k not found at {MOVIELENS} (../shared absent)")
def test_movielens_by_configuration_alone(spark, tmp_path, run_cli):
    lakehouse = tmp_path / "lakehouse"
    status, summary = run_cli(
        run.main,
        "--config", str(REPO / "conf" / "movielens-100k.yaml"),
        "--input", str(MOVIELENS),
        "--lakehouse", str(lakehouse),
        "--set", "als.max_iter=5",
    )  # fmt: skip
    assert status == 0, summary.get("error")
    assert summary["counts"]["validate"]["valid_rows"] == 100_000
    recs = DeltaTable(summary["tables"]["recommendations"]).to_pandas()
    events = DeltaTable(str(lakehouse / "events")).to_pandas()
    assert recs["user_id"].nunique() == 943
    check_recommendations(recs, events, 10)


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
