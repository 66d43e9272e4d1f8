"""Shared fixtures and the tiers: one real local SparkSession for the whole run, one golden lakehouse, temp lakehouses.

The tier of a test is its folder: ``tests/unit`` (pure functions, small Spark
frames), ``tests/integration`` (real jobs, the golden lakehouse, Airflow's DagBag:
with unit, the fast tier, ``make test``) and ``tests/e2e`` (spark-submit, the
cluster, dag.test(), killed processes, real servers, the wheel: ``make test-e2e``).
Everything under tests/e2e gets the ``e2e`` marker here, and under tests/e2e/long also ``long``
(whole-pipeline checks of minutes each that CI leaves out: ``make test-long``); no test marks itself.

The golden lakehouse is the whole pipeline run once (then re-run for the same
date) on planted-cluster synthetic data; tests that only read it share it, tests
that write get their own copy (:func:`golden_copy`), so the expensive run
happens once per version of the code (kept in pytest's cache between sessions). Plain helpers and constants are in tests/helpers.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    REPO,
    SUMMARY,
    TEST_SPARK,
    TESTS,
    Golden,
    airflow_environment,
    call_job,
    spark_overrides,
)

E2E = TESTS / "e2e"
LONG = E2E / "long"
_AIRFLOW_HOME: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    # Airflow reads its configuration when first imported: a throwaway AIRFLOW_HOME (with its own sqlite DB)
    # and the repo's dags/ are set before any test module can import airflow.
    global _AIRFLOW_HOME
    _AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="reclake-airflow-"))
    os.environ.update(airflow_environment(_AIRFLOW_HOME))
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the order matters only there
        config.pluginmanager.register(FileOrder(), "reclake-file-order")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _AIRFLOW_HOME is not None:
        shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """What tests measured and recorded with ``record_property(SUMMARY, text)`` (step times, kills made), at the end
    of the log: under pytest-xdist a test's own prints never reach it."""
    recorded = [
        (report.nodeid, value)
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == SUMMARY
    ]
    if recorded:
        terminalreporter.section("what tests measured")
        for nodeid, text in sorted(recorded):
            terminalreporter.write_line(f"{nodeid}: {text}")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects on markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The e2e and long markers come from the folder: every test under tests/e2e has e2e, every test under
    tests/e2e/long also long, and no other test may have either."""
    for item in items:
        for marker, folder in (("e2e", E2E), ("long", LONG)):
            inside = item.path.is_relative_to(folder)
            if not inside and item.get_closest_marker(marker) is not None:
                raise pytest.UsageError(f"{item.nodeid} is marked {marker} outside {folder.name}/: move it there")
            if inside:
                item.add_marker(marker)


# The e2e files that take longest (minutes in an idle fresh-clone rehearsal, 2026-12-04), handed out first to
# `make test-e2e`'s two workers, so the run does not end with one worker on a long file while the other idles.
SLOWEST_E2E_FILES = (
    "e2e/dags/test_scheduler.py",  # 15.5: a running Airflow's six DAG runs, one on the cluster
    "e2e/test_s3.py",  # 11: the pipeline on S3, kills, concurrent publishes, the no-shared-disk cluster
    "e2e/reliability/test_crash.py",  # 5: a whole run killed at 7 named points and 2 random moments
    "e2e/test_kafka.py",
    "e2e/reliability/test_concurrency.py",
    "e2e/test_bigquery.py",
)


class FileOrder:
    """Orders the test files for the xdist workers (``--dist loadfile --no-loadscope-reorder``: files handed out
    in this order, the next one to whichever worker is free).

    First the slowest e2e files (:data:`SLOWEST_E2E_FILES`, longest first); then one file that reads the golden
    lakehouse, so one worker starts building it at once; then every file that does not need it, which the other
    worker runs meanwhile instead of waiting on the build's lock (about two minutes on a fresh checkout); then the
    other golden readers. Within each group, files with more tests go first, so that no long file is left for
    the end while the other worker idles.
    """

    @pytest.hookimpl(trylast=True)  # after `-m` has deselected
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        by_file: dict[Path, list[pytest.Item]] = {}
        for item in items:
            by_file.setdefault(item.path, []).append(item)
        slowest = [TESTS / name for name in SLOWEST_E2E_FILES if TESTS / name in by_file]
        rest = [path for path in by_file if path not in slowest]
        readers = [path for path in rest if any("golden" in t.fixturenames for t in by_file[path])]
        others = [path for path in rest if path not in readers]

        def most_tests_first(paths: list[Path]) -> list[Path]:
            return sorted(paths, key=lambda path: -len(by_file[path]))

        order = slowest + readers[:1] + most_tests_first(others) + most_tests_first(readers[1:])
        items[:] = [test for path in order for test in by_file[path]]


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


def golden_key() -> str:
    """A hash of what the golden lakehouse depends on: the package, its config, the helpers that build it."""
    digest = hashlib.sha256(sys.version.encode())
    sources = [*sorted((REPO / "reclake").rglob("*.py")), *sorted((REPO / "reclake").rglob("*.json"))]
    for path in [
        *sources,
        REPO / "conf" / "local.yaml",
        REPO / "setup.py",
        TESTS / "helpers.py",
        TESTS / "conftest.py",
    ]:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def golden(spark, request) -> Golden:
    """`reclake run` with conf/local.yaml (input generated on first use), twice for the same date. Read only.

    Built once per version of the code: it is kept in pytest's cache under a hash of what it
    depends on (:func:`golden_key`), so `make test-e2e` after `make test` (as CI runs them)
    reuses the fast tier's instead of spending minutes on the same two runs.
    """
    cache = Path(request.config.cache.mkdir("golden"))
    # pytest-xdist workers share the cache: the first to arrive builds, the others wait for it and read.
    with open(cache.parent / "golden.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _golden_in(cache)


def _golden_in(cache: Path) -> Golden:
    from reclake import pipeline

    folder, built = cache / golden_key(), cache / golden_key() / "summaries.json"
    if built.exists():
        saved = json.loads(built.read_text())
        return Golden(folder / "lakehouse", saved["first"], saved["second"], saved["second_stderr"])
    shutil.rmtree(cache, ignore_errors=True)  # lakehouses of older code
    root = folder / "lakehouse"
    root.parent.mkdir(parents=True)
    summaries = []
    for _ in range(2):
        out, err = io.StringIO(), io.StringIO()  # capsys is per test: a session fixture reads its output itself
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = pipeline.main([*spark_overrides(), *Golden.args(root), "--json"])
        summary = json.loads(out.getvalue().strip().splitlines()[-1])
        assert status == 0, summary.get("error")
        summaries.append(summary)
    golden = Golden(root, *summaries, second_stderr=err.getvalue())
    built.write_text(
        json.dumps({"first": golden.first, "second": golden.second, "second_stderr": golden.second_stderr})
    )
    return golden


@pytest.fixture
def golden_copy(golden: Golden, tmp_path: Path) -> Path:
    """A private copy of the golden lakehouse, for a test that writes to it."""
    root = tmp_path / "lakehouse"
    shutil.copytree(golden.root, root)
    return root


@pytest.fixture(scope="session")
def dagbag():
    """The repo's dags/ as Airflow parses them (the fast DAG tests and the dag.test() runs share it)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))
