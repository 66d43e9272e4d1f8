"""The alert rules pass promtool's checks and their own unit tests; the metrics pass promtool's lint.

promtool comes with Debian's `prometheus` package, which scripts/bootstrap.sh installs.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import generate_latest

from reclake.config import Config
from reclake.monitoring.metrics import METRICS, registry, samples
from tests.helpers import REPO

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package prometheus; scripts/bootstrap.sh installs it)"
)
MONITORING = REPO / "monitoring"

# A failed run's summary in the shape runtime.execute gives it: evaluate rejected the model.
REJECTED_RUN = {
    "job": "reclake run",
    "run_id": "20261123-060000-abcdef",
    "status": "failed",
    "failed_stage": "evaluate",
    "timings_s": {"validate": 12.5, "prepare": 3.0, "train": 20.1, "total": 50.0},
    "counts": {
        "validate": {"raw_rows": 1000, "valid_rows": 990, "quarantined_rows": 10, "rule.event_type_unknown": 10},
        "prepare": {"pairs": 800},
        "evaluate": {"train_rows": 600, "test_rows": 200, "users": 90},
    },
    "metrics": {"evaluate": {"ndcg@10": 0.1, "baseline_ndcg@10": 0.2, "coverage": 0.5, "baseline_coverage": 0.1}},
}


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, cwd=MONITORING, timeout=120)


def test_alert_rules_are_valid():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert b"SUCCESS: 6 rules found" in result.stdout


def test_alert_rules_pass_their_unit_tests():
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_metric_names_pass_promtools_lint():
    values = samples(REJECTED_RUN, Config(), now=1_795_000_000.0)
    text = generate_latest(registry(values))
    result = promtool("check", "metrics", stdin=text)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout.decode() + result.stderr.decode()
    assert {value.name for value in values} == set(METRICS) - {
        "reclake_recommendations",  # the run stopped before recommend and publish
        "reclake_published_rows",
        "reclake_published_table_version",
    }
    assert b"reclake_gate_approved 0.0" in text and b'reclake_stage_success{stage="evaluate"} 0.0' in text
