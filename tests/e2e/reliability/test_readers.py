"""Readers during a publish: the lookup client and the HTTP service only ever see one whole published run.

Publishes of the golden run's staged lists (a table commit, then served_versions, as
the publish stage makes them), each tagged with its own model version, follow each other while threads poll a
shared LookupClient and a real uvicorn server over loopback (tests/helpers.py: polling_readers). Every answer
must come whole from one publish: all its rows from one model version, that version one of the publishes, the
list as long as the run's, and no error. tests/e2e/test_s3.py runs the same readers against an S3 lakehouse.
"""

from __future__ import annotations

import datetime as dt

from deltalake import DeltaTable
from pyspark.sql import functions as F

from reclake.config import PublishSection
from reclake.context import RunContext
from reclake.io.layout import publish_table, run_stats, staged_run
from reclake.io.tables import RECOMMENDATIONS
from reclake.stages.publish import serve_published
from tests.helpers import GOLDEN_RUN_DATE, GOLDEN_TOP_N, polling_readers

PUBLISHES = 6
TAG = "reader-test-"  # publish k tags its rows' model version TAG + k and its item ids "@k"


def _publish_suffix(item_id: str) -> str | None:
    return "@" + item_id.split("@", 1)[1] if "@" in item_id else None


def test_lookups_and_http_reads_during_publishes_see_only_whole_runs(spark, golden_copy):
    root = golden_copy
    day = dt.date.fromisoformat(GOLDEN_RUN_DATE)
    staged = staged_run(spark, str(root), RECOMMENDATIONS, day).cache()
    users = [r["user_id"] for r in staged.select("user_id").distinct().orderBy("user_id").collect()]
    tags = {f"{TAG}{k}" for k in range(PUBLISHES)} | {
        r[0]
        for r in spark.read.format("delta")
        .load(str(root / "recommendations"))
        .select("model_version")
        .distinct()
        .collect()
    }

    def whole(answer: dict) -> bool:
        """One publish's whole list: every rank, every item of the publish its model version names."""
        items, tag = answer["items"], answer["model_version"]
        suffix = f"@{tag.rsplit('-', 1)[1]}" if tag.startswith(TAG) else None
        ranked = len(items) == GOLDEN_TOP_N and [i["rank"] for i in items] == list(range(1, GOLDEN_TOP_N + 1))
        return ranked and tag in tags and all(_publish_suffix(i["item_id"]) == suffix for i in items)

    with polling_readers(str(root), users, whole) as tally:
        settings = PublishSection()
        for k in range(PUBLISHES):
            tagged = staged.withColumn("model_version", F.lit(f"{TAG}{k}")).withColumn(
                "item_id", F.concat("item_id", F.lit(f"@{k}"))
            )
            ctx = RunContext(run_date=day, run_id=f"{TAG}{k}")
            uri = str(root / "recommendations")
            written = publish_table(
                tagged, str(root), RECOMMENDATIONS, run_stats(tagged, "user_id"), ctx=ctx, settings=settings
            )
            # As the publish stage does: readers move when served_versions names the new version.
            served = {"rows": written["rows"], "version": DeltaTable(uri).version()}
            serve_published(spark, str(root), {"recommendations": served}, ctx)
    print(f"\nreaders during {PUBLISHES} publishes: {tally.summary()}")
    assert not tally.errors, tally.errors[:3]
    assert not tally.inconsistent, tally.inconsistent[:3]
    assert tally.lookups["lookup"] > PUBLISHES and tally.lookups["http"] > PUBLISHES
    versions = {version for version, _ in tally.seen}
    assert f"{TAG}0" in versions and f"{TAG}{PUBLISHES - 1}" in versions
