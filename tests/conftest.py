"""Shared fixtures: one real local SparkSession for the whole test run, tiny frames, temp lakehouses."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from reclake.config import SparkSection

REPO = Path(__file__).resolve().parents[1]
MOVIELENS = REPO.parent / "shared" / "data" / "movielens-100k" / "u.data"

# Same settings the jobs get when tests call their main(): getOrCreate returns this session.
TEST_SPARK = SparkSection(master="local[2]", app_name="reclake-tests", shuffle_partitions=2, driver_memory="2g")


@pytest.fixture(scope="session")
def spark():
    from reclake.spark import build_spark_session

    session = build_spark_session(TEST_SPARK)
    yield session
    session.stop()


@pytest.fixture
def lakehouse(tmp_path: Path) -> Path:
    return tmp_path / "lakehouse"


def spark_overrides() -> list[str]:
    """--set options that keep jobs on the test session's settings."""
    return ["--set", "spark.shuffle_partitions=2", "--set", "spark.app_name=reclake-tests"]


@pytest.fixture
def run_cli(spark, capsys) -> Callable[..., tuple[int, dict[str, Any]]]:
    """Call a job's main() as the CLI would, with --json; return (exit status, summary)."""

    def call(main: Callable[[Sequence[str]], int], *args: str) -> tuple[int, dict[str, Any]]:
        status = main([*args, *spark_overrides(), "--json"])
        out = capsys.readouterr().out.strip().splitlines()
        return status, json.loads(out[-1])

    return call
