"""Undo a bad publish: `reclake rollback --run-date D` restores the published tables, lookups follow."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from deltalake import DeltaTable

from reclake.errors import FirstPublish, MissingTableError, RollbackRefused
from reclake.io.layout import version_before_last_publish
from reclake.serving import LookupClient
from reclake.stages import rollback
from tests.helpers import GOLDEN_RUN_DATE, Golden

D1, D2 = dt.date(2026, 11, 22), dt.date(2026, 11, 23)


def published(date: dt.date, run_id: str) -> str:
    return json.dumps({"run_date": date.isoformat(), "run_id": run_id})


def test_the_version_before_the_dates_last_publish_is_restored():
    history = [(0, published(D1, "a")), (1, published(D2, "b")), (2, published(D2, "c")), (3, None)]
    assert version_before_last_publish(history, "recommendations", D2) == 1  # the OPTIMIZE at 3 goes too
    assert version_before_last_publish([*history, (4, '{"rolled_back_run_date": "2026-11-23"}')], "t", D2) == 1


def test_a_rollback_that_would_undo_another_date_or_has_nothing_before_is_refused():
    history = [(0, published(D1, "a")), (1, published(D2, "b")), (2, published(D1, "c"))]
    with pytest.raises(RollbackRefused, match=r"later by version 2 \(run date 2026-11-22\)"):
        version_before_last_publish(history, "recommendations", D2)
    with pytest.raises(FirstPublish, match="first publish"):
        version_before_last_publish(history[:1], "recommendations", D1)
    with pytest.raises(MissingTableError, match="no publish for run date 2026-11-21"):
        version_before_last_publish(history, "recommendations", dt.date(2026, 11, 21))


def test_rollback_serves_the_previous_run_again_and_is_recorded(run_cli, golden, golden_copy):
    # The golden lakehouse published its date twice: the second run's model is live.
    first, second = golden.first["model_version"], golden.second["model_version"]
    client = LookupClient(str(golden_copy), refresh_s=0)
    user = golden.second["example_user_id"]
    assert client.recommendations_for(user)["model_version"] == second
    table = DeltaTable(str(golden_copy / "recommendations"))
    bad_version = table.version()

    status, summary = run_cli(rollback.main, *Golden.args(golden_copy), "--set", "run.run_id=rollback-1")
    assert status == 0, summary.get("error")
    assert summary["counts"]["rollback"]["recommendations.restored_to_version"] == bad_version - 1
    answer = client.recommendations_for(user)
    assert answer["model_version"] == first and answer["table_version"] == bad_version + 1
    assert DeltaTable(str(golden_copy / "recommendations"), version=bad_version - 1).to_pyarrow_table() == (
        DeltaTable(str(golden_copy / "recommendations")).to_pyarrow_table()
    )
    assert (golden_copy / "models" / "PUBLISHED").read_text().strip() == first
    runs = DeltaTable(str(golden_copy / "runs")).to_pandas().set_index("run_id")
    assert runs.loc["rollback-1", "job"] == "reclake rollback" and runs.loc["rollback-1", "status"] == "succeeded"

    # Rolling back the same date again converges on the same version instead of walking further back.
    status, summary = run_cli(rollback.main, *Golden.args(golden_copy))
    assert status == 0 and summary["counts"]["rollback"]["recommendations.restored_to_version"] == bad_version - 1
    assert client.recommendations_for(user)["model_version"] == first


def test_rolling_back_a_date_never_published_names_it(run_cli, golden_copy):
    args = ["--lakehouse", str(golden_copy), "--run-date", "2026-11-01"]
    status, summary = run_cli(rollback.main, *args)
    assert status == 2 and "no publish for run date 2026-11-01" in summary["error"]
    assert (
        GOLDEN_RUN_DATE
        in json.loads(DeltaTable(str(golden_copy / "recommendations")).history(1)[0]["userMetadata"])["run_date"]
    )  # nothing was restored
