"""Bad configuration and unreadable input in real processes and on a copy of the golden lakehouse: refused in one line
before anything is written, or warned about. The refusals checked in process: tests/integration/reliability/test_bad_config.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from reclake.stages import recommend, train
from tests.helpers import REPO, Golden, csv_input, refuse, spark_overrides


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


def test_a_rank_above_the_number_of_items_is_refused_before_training(capsys, golden_copy):
    before, models = versions(golden_copy), sorted((golden_copy / "models").iterdir())
    error = refuse(capsys, train.main, *Golden.args(golden_copy), "--set", "als.rank=121")  # golden: 120 items
    assert error == "ConfigError: als.rank 121 is more than the 120 items to factorise: set it to at most 120"
    assert versions(golden_copy) == before and sorted((golden_copy / "models").iterdir()) == models


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
