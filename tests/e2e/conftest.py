"""Fixtures the e2e modules share: built once per session, only read by the tests that use them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.servers import kafka_broker
from tests.helpers import REPO


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory) -> tuple[Path, Path]:
    """(wheel, zip) from scripts/package.sh (`make package`): the wheel test installs one, the DAG runs ship the
    other with --py-files."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "package.sh"), str(out)],
        capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable}, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    archive = Path(done.stdout.strip())
    wheels = list(out.glob("reclake-*-py3-none-any.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    return wheels[0], archive


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> Iterator[str]:
    """A Kafka broker (scripts/kafka.sh) for the session's Kafka tests, each on a topic of its own."""
    with kafka_broker(tmp_path_factory.mktemp("kafka")) as bootstrap:
        yield bootstrap
