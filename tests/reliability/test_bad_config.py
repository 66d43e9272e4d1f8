"""Bad configuration is refused before the first write, with one line naming the key, exit status 2.

The refusals that need no data happen before the log file and the Spark session
(the lakehouse folder is not even created); those that need the data (a rank
above the number of items) happen before the stage writes anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from reclake.errors import CONDITIONS
from reclake.stages import recommend, train, validate

from ..conftest import REPO, Golden, spark_overrides


def refuse(capsys, main, *args: str) -> str:
    """Run a job expected to refuse; return its one-line error."""
    status = main([*spark_overrides(), *args, "--json"])
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert status == 2 and summary["status"] == "failed"
    assert "Traceback" not in err and "\n" not in summary["error"]
    assert f"error [{summary['error_code']}] {summary['error']}" in err
    assert CONDITIONS[summary["error_code"]].error_class == summary["error"].split(":")[0]
    return summary["error"]


def csv_input(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "e.csv").write_text("user_id,item_id,event_type,value,timestamp\nu1,i1,view,,2026-11-22T10:00:00Z\n")
    return folder


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing_input", ["InputError", "input not found"]),
        ("lakehouse_is_the_input", ["ConfigError", "lakehouse.root", "input.path"]),
        ("lakehouse_inside_the_input", ["ConfigError", "lakehouse.root", "input.path"]),
        ("unknown_key", ["ConfigError", "validation.max_quarantine_shares: unknown key"]),
        ("top_n_zero", ["ConfigError", "recommend.top_n", "greater than 0"]),
        ("top_n_negative", ["ConfigError", "recommend.top_n", "greater than 0"]),
        ("unknown_encoding", ["ConfigError", "input.encoding: not a known character set"]),
    ],
)
def test_bad_configuration_is_refused_before_anything_is_written(capsys, tmp_path, case, words):
    source, lakehouse = tmp_path / "in", tmp_path / "lakehouse"
    if case.startswith("lakehouse_"):
        csv_input(source)
    args = {
        "missing_input": ["--input", str(source), "--lakehouse", str(lakehouse)],
        "lakehouse_is_the_input": ["--input", str(source), "--lakehouse", str(source)],
        "lakehouse_inside_the_input": ["--input", str(source), "--lakehouse", str(source / "lh")],
        "unknown_key": ["--lakehouse", str(lakehouse), "--set", "validation.max_quarantine_shares=0.1"],
        "top_n_zero": ["--lakehouse", str(lakehouse), "--set", "recommend.top_n=0"],
        "top_n_negative": ["--lakehouse", str(lakehouse), "--set", "recommend.top_n=-5"],
        "unknown_encoding": ["--lakehouse", str(lakehouse), "--set", "input.encoding=utf-99"],
    }[case]
    error = refuse(capsys, recommend.main if case.startswith("top_n") else validate.main, *args)
    assert all(w in error for w in words), error
    assert not lakehouse.exists() and not (source / "lh").exists()
    if source.exists():  # the input folder is untouched: no _logs, no tables in it
        assert sorted(p.name for p in source.iterdir()) == ["e.csv"]


@pytest.mark.e2e
@pytest.mark.parametrize("what", ["folder", "file"])
def test_unreadable_input_is_refused_naming_it(tmp_path, what):
    """Root reads everything, so the job runs as root without the capabilities that bypass file permissions."""
    folder = csv_input(tmp_path / "in")
    source = folder if what == "folder" else folder / "e.csv"
    source.chmod(0o000)
    lakehouse = tmp_path / "lakehouse"
    bound = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    done = subprocess.run(
        [*bound, sys.executable, "-m", "reclake.cli", "validate", "--input", str(source),
         "--lakehouse", str(lakehouse), "--json"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    source.chmod(0o700)
    assert done.returncode == 2, done.stderr
    error = json.loads(done.stdout.strip().splitlines()[-1])["error"]
    assert error == f"InputError: input not readable: {source} (permission denied for this user; see input.path)"
    assert "Traceback" not in done.stderr
    assert not lakehouse.exists()


def versions(root: Path) -> dict[str, int]:
    """Each table's newest Delta version under the lakehouse, from its log."""
    return {
        str(log.parent.relative_to(root)): max(int(p.stem) for p in log.glob("*.json"))
        for log in root.rglob("_delta_log")
    }


@pytest.mark.e2e
def test_a_rank_above_the_number_of_items_is_refused_before_training(capsys, golden_copy):
    before, models = versions(golden_copy), sorted((golden_copy / "models").iterdir())
    error = refuse(capsys, train.main, *Golden.args(golden_copy), "--set", "als.rank=121")  # golden: 120 items
    assert error == "ConfigError: als.rank 121 is more than the 120 items to factorise: set it to at most 120"
    assert versions(golden_copy) == before and sorted((golden_copy / "models").iterdir()) == models


@pytest.mark.e2e
def test_top_n_above_the_catalogue_warns_and_every_user_gets_every_item_they_lack(spark, capsys, golden_copy):
    status = recommend.main([*spark_overrides(), *Golden.args(golden_copy), "--set", "recommend.top_n=500", "--json"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "warning: recommend.top_n 500 > the 120 eligible items: lists are shorter" in err
    staged = spark.read.format("delta").load(str(golden_copy / "staging" / "recommendations"))
    got = {r.user_id: (r.n, r.items, r.top) for r in staged.groupBy("user_id").agg(
        F.count("*").alias("n"), F.countDistinct("item_id").alias("items"), F.max("rank").alias("top")).collect()}  # fmt: skip
    events = spark.read.format("delta").load(str(golden_copy / "events"))
    catalogue = events.select("item_id").distinct().count()
    seen = {
        r.user_id: r.seen for r in events.groupBy("user_id").agg(F.countDistinct("item_id").alias("seen")).collect()
    }
    assert catalogue == 120
    assert got == {user: (catalogue - n, catalogue - n, catalogue - n) for user, n in seen.items()}
