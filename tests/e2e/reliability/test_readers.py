"""Readers during a publish: the lookup client and the HTTP service only ever see one whole published run.

Publishes of the golden run's staged lists (a table commit, then served_versions, as
the publish stage makes them), each tagged with its own model version, follow each other while threads poll a shared LookupClient and a real
uvicorn server over loopback. Every answer must come whole from one publish:
all its rows from one model version, that version one of the publishes, the
list as long as the run's, and no error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import socket
import threading
import time
import urllib.request
from collections import Counter

import uvicorn
from deltalake import DeltaTable
from pyspark.sql import functions as F

from reclake.config import PublishSection
from reclake.context import RunContext
from reclake.io.layout import publish_table, run_stats, staged_run
from reclake.io.tables import RECOMMENDATIONS
from reclake.serving import LookupClient
from reclake.serving.api import create_app
from reclake.stages.publish import serve_published
from tests.helpers import GOLDEN_RUN_DATE, GOLDEN_TOP_N

PUBLISHES = 6
TAG = "reader-test-"  # publish k tags its rows' model version TAG + k and its item ids "@k"
READERS = 3  # threads per reader kind


@dataclasses.dataclass
class Tally:
    lookups: Counter = dataclasses.field(default_factory=Counter)
    inconsistent: list = dataclasses.field(default_factory=list)
    seen_versions: set = dataclasses.field(default_factory=set)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def check(self, kind: str, answer: dict, tags: set[str], last_version: int) -> int:
        """Count one answer; it is consistent when it is one publish's whole list. Return its table version."""
        items, tag = answer["items"], answer["model_version"]
        suffix = f"@{tag.rsplit('-', 1)[1]}" if tag.startswith(TAG) else None
        whole = len(items) == GOLDEN_TOP_N and [i["rank"] for i in items] == list(range(1, GOLDEN_TOP_N + 1))
        one_run = all(_publish_suffix(i["item_id"]) == suffix for i in items)
        with self.lock:
            self.lookups[kind] += 1
            self.seen_versions.add(tag)
            if not whole or not one_run or tag not in tags or answer["table_version"] < last_version:
                self.inconsistent.append((kind, answer))
        return answer["table_version"]


def _publish_suffix(item_id: str) -> str | None:
    return "@" + item_id.split("@", 1)[1] if "@" in item_id else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    client = LookupClient(str(root), refresh_s=0)  # re-checks the table on every lookup: the hardest case
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(LookupClient(str(root), refresh_s=0)), port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    tally, stop = Tally(), threading.Event()
    errors: list[BaseException] = []

    def poll(kind: str, offset: int) -> None:
        i, last_version = offset, 0
        while not stop.is_set():
            user = users[(i * 37) % len(users)]
            i += 1
            try:
                if kind == "lookup":
                    answer = client.recommendations_for(user)
                else:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/recommendations/{user}", timeout=30) as r:
                        answer = json.loads(r.read())
                last_version = tally.check(kind, answer, tags, last_version)
            except Exception as exc:  # any error is a failed read
                errors.append(exc)

    readers = [threading.Thread(target=poll, args=(kind, n)) for kind in ("lookup", "http") for n in range(READERS)]
    for thread in readers:
        thread.start()
    try:
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
    finally:
        time.sleep(1)  # readers see the last version too
        stop.set()
        for thread in readers:
            thread.join()
        server.should_exit = True
    print(
        f"\nreaders during {PUBLISHES} publishes: lookups {dict(tally.lookups)}, inconsistent {len(tally.inconsistent)}, "
        f"errors {len(errors)}, model versions seen {len(tally.seen_versions)}"
    )
    assert not errors, errors[:3]
    assert not tally.inconsistent, tally.inconsistent[:3]
    assert tally.lookups["lookup"] > PUBLISHES and tally.lookups["http"] > PUBLISHES
    assert f"{TAG}0" in tally.seen_versions and f"{TAG}{PUBLISHES - 1}" in tally.seen_versions
