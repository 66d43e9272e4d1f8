"""The wheel is the artefact: built by `make package`, installed into a fresh virtualenv, run outside the checkout.

No editable install and no checkout on sys.path: the venv gets the wheel and
its dependencies from the package index (the pip cache makes a rerun quick),
and every command runs from a folder outside the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

SMALL = ["--set", "generate.users=150", "--set", "generate.items=40", "--set", "als.rank=4", "--set", "als.max_iter=3",
         "--set", "spark.shuffle_partitions=2", "--set", "spark.driver_memory=1g"]  # fmt: skip


@pytest.fixture(scope="module")
def fresh_venv(artefacts, tmp_path_factory) -> Path:
    """A new virtualenv with only the wheel (and what it depends on) installed."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(artefacts[0])],
        capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    return venv


def outside(venv: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the venv's `reclake` from ``workdir`` with a clean Python path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYSPARK_PYTHON", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [str(venv / "bin" / "reclake"), *args], capture_output=True, text=True, cwd=workdir, env=env, timeout=1200
    )


def summary(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_wheel_and_the_zip_hold_the_package_and_its_suites_and_nothing_else(artefacts):
    wheel, archive = artefacts
    names = zipfile.ZipFile(wheel).namelist()
    assert {"reclake/quality/suites/events.rows.json", "reclake/quality/suites/events.batch.json"} <= set(names)
    assert "reclake/stages/validate.py" in names and "reclake/py.typed" in names
    assert not [n for n in names if n.startswith(("jobs/", "tests/", "dags/"))], names
    assert zipfile.ZipFile(archive).namelist() == names  # the --py-files zip is the same files


def test_a_fresh_venv_has_reclake_and_no_jobs_module(fresh_venv, tmp_path):
    code = "import importlib.util, reclake; print(reclake.__file__); print(importlib.util.find_spec('jobs'))"
    done = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    location, jobs = done.stdout.split()
    assert Path(location).is_relative_to(fresh_venv) and jobs == "None"


def test_the_installed_wheel_validates_and_runs_the_pipeline_outside_the_checkout(fresh_venv, tmp_path):
    lakehouse = tmp_path / "lakehouse"
    common = ["--lakehouse", str(lakehouse), "--run-date", "2026-11-20", *SMALL, "--json"]
    generated = summary(outside(fresh_venv, tmp_path, "generate", *common))
    assert generated["status"] == "succeeded"

    validated = summary(outside(fresh_venv, tmp_path, "validate", *common))
    counts = validated["counts"]["validate"]
    assert counts["raw_rows"] == counts["valid_rows"] + counts["quarantined_rows"] > 0
    # The suites were read from the installed package: GX wrote its results for them.
    report = json.loads(Path(validated["validation"]["report"]).read_text())
    assert set(report["great_expectations"]) == {"events.source", "events.batch"}

    done = outside(fresh_venv, tmp_path, "run", *common)
    ran = summary(done)
    assert ran["status"] == "succeeded" and ran["counts"]["publish"]["user_ids"] == 150
    # A fresh JVM started quiet: Ivy's report and log4j's lines went to the log file, not to the terminal.
    assert "WARN" not in done.stderr and ":: resolution report ::" not in done.stderr, done.stderr[-2000:]
    assert "resolution report" in Path(done.stderr.split("logs:")[-1].strip()).read_text()
    user = ran["example_user_id"]
    looked_up = summary(outside(fresh_venv, tmp_path, "lookup", user, "--lakehouse", str(lakehouse), "--json"))
    assert looked_up["user_id"] == user and len(looked_up["items"]) == 10
