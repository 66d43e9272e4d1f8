"""MovieLens 100k through `reclake run` by configuration alone (conf/movielens-100k.yaml), read back with delta-rs."""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

from reclake import pipeline as run
from tests.helpers import MOVIELENS, REPO, check_recommendations


@pytest.mark.skipif(not MOVIELENS.exists(), reason=f"MovieLens 100k not found at {MOVIELENS} (../shared absent)")
def test_movielens_by_configuration_alone(spark, tmp_path, run_cli):
    lakehouse = tmp_path / "lakehouse"
    status, summary = run_cli(
        run.main,
        "--config", str(REPO / "conf" / "movielens-100k.yaml"),
        "--input", str(MOVIELENS),
        "--lakehouse", str(lakehouse),
        "--set", "als.max_iter=5",
    )  # fmt: skip
    assert status == 0, summary.get("error")
    assert summary["counts"]["validate"]["valid_rows"] == 100_000
    recs = DeltaTable(summary["tables"]["recommendations"]).to_pandas()
    events = DeltaTable(str(lakehouse / "events")).to_pandas()
    assert recs["user_id"].nunique() == 943
    check_recommendations(recs, events, 10)
