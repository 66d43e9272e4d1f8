"""Shared fixtures: one real local SparkSession for the whole run, one golden lakehouse, temp lakehouses.

The golden lakehouse is the whole pipeline run once (then re-run for the same
date) on planted-cluster synthetic data; tests that only read it share it, tests
that write get their own copy (:func:`golden_copy`), so the expensive run
happens once per session.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reclake.config import SparkSection

REPO = Path(__file__).resolve().parents[1]
MOVIELENS = REPO.parent / "shared" / "data" / "movielens-100k" / "u.data"

# Same settings the jobs get when tests call their main(): getOrCreate returns this session.
# No Spark UI: no test looks at it, and it costs a port and a thread pool per session.
TEST_SPARK = SparkSection(
    master="local[2]",
    app_name="reclake-tests",
    shuffle_partitions=2,
    driver_memory="2g",
    conf={"spark.ui.enabled": "false"},
)

GOLDEN_RUN_DATE = "2026-11-23"
GOLDEN_TOP_N = 5
GOLDEN_USERS = 400
# Planted-cluster data on which a rank near the number of clusters clearly beats popularity.
GOLDEN_DATA = [
    "generate.users=400",
    "generate.items=120",
    "generate.clusters=4",
    "generate.mean_items_per_user=15",
    "als.rank=4",
    "als.alpha=5",
    "als.max_iter=6",
    f"recommend.top_n={GOLDEN_TOP_N}",
    "recommend.similar_items_top_n=5",
]


def spark_overrides() -> list[str]:
    """--set options that keep jobs on the test session's settings (a test's own --set comes later and wins)."""
    # No HTML run report: its plots and aggregations would cost the fast tier seconds per job;
    # tests/e2e/test_run_observability.py turns it on.
    sets = [
        "spark.shuffle_partitions=2",
        "spark.app_name=reclake-tests",
        "validation.data_docs=false",
        "monitoring.html_report=false",
    ]
    return [arg for item in sets for arg in ("--set", item)]


def call_job(main: Callable[[Sequence[str]], int], capsys, *args: str) -> tuple[int, dict[str, Any]]:
    """Call a job's main() as the CLI would, with --json; return (exit status, summary)."""
    status = main([*spark_overrides(), *args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return status, json.loads(out[-1])


def prom_values(path: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A Prometheus text-format file as {(metric name, labels): value}, read with prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(path.read_text())
        for sample in family.samples
    }


def prom_value(values: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return values[(name, frozenset(labels.items()))]


@pytest.fixture(scope="session")
def spark():
    # py4j says "Closing down clientserver connection" from __del__ at interpreter exit, into a handler
    # Airflow's logging config bound to a capture stream pytest has closed by then: a traceback, no failure.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    from reclake.spark import build_spark_session

    session = build_spark_session(TEST_SPARK)
    yield session
    session.stop()


@pytest.fixture
def lakehouse(tmp_path: Path) -> Path:
    return tmp_path / "lakehouse"


@pytest.fixture
def run_cli(spark, capsys) -> Callable[..., tuple[int, dict[str, Any]]]:
    """Call a job's main() as the CLI would, with --json; return (exit status, summary)."""

    def call(main: Callable[[Sequence[str]], int], *args: str) -> tuple[int, dict[str, Any]]:
        return call_job(main, capsys, *args)

    return call


@dataclass(frozen=True)
class Golden:
    """The shared lakehouse and the --json summaries of its two runs (same date, same input)."""

    root: Path
    first: dict[str, Any]
    second: dict[str, Any]
    second_stderr: str  # what a person watching the second run saw (it ran quiet, as `make run` does)

    @staticmethod
    def args(root: Path) -> list[str]:
        """The options every golden run (and a test re-running a job on a copy) uses."""
        sets = [item for s in GOLDEN_DATA for item in ("--set", s)]
        return [
            "--config",
            str(REPO / "conf" / "local.yaml"),
            "--lakehouse",
            str(root),
            "--run-date",
            GOLDEN_RUN_DATE,
            *sets,
        ]


@pytest.fixture(scope="session")
def golden(spark, tmp_path_factory) -> Golden:
    """`reclake run` with conf/local.yaml (input generated on first use), twice for the same date. Read only."""
    from reclake import pipeline

    root = tmp_path_factory.mktemp("golden") / "lakehouse"
    summaries = []
    for _ in range(2):
        out, err = io.StringIO(), io.StringIO()  # capsys is per test: a session fixture reads its output itself
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = pipeline.main([*spark_overrides(), *Golden.args(root), "--json"])
        summary = json.loads(out.getvalue().strip().splitlines()[-1])
        assert status == 0, summary.get("error")
        summaries.append(summary)
    return Golden(root, *summaries, second_stderr=err.getvalue())


@pytest.fixture
def golden_copy(golden: Golden, tmp_path: Path) -> Path:
    """A private copy of the golden lakehouse, for a test that writes to it."""
    root = tmp_path / "lakehouse"
    shutil.copytree(golden.root, root)
    return root
