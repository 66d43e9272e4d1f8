"""Many writers appending to one Delta table on S3 (moto's server) from separate Spark drivers.

Delta's log store for s3a:// (S3SingleDriverLogStore) is safe for one driver only: S3 has no put-if-absent
it uses, so two drivers writing the same next commit file can overwrite each other. With the writer lease
(reclake/io/lease.py) held around each commit, the drivers take turns: every append is in the table, once,
and the versions run without a gap. The same appenders without the lease (``appenders(..., locked=False)``) were
run by hand, not asserted (a lost commit depends on timing): docs/object-storage.md gives what was seen.
"""

from __future__ import annotations

from deltalake import DeltaTable

from reclake.objectstore import storage_options
from tests.e2e.conftest import S3_BUCKET
from tests.helpers import python

WRITERS, APPENDS, ROWS = 3, 4, 10

# argv: table URI, writer name, appends, "locked" or not. One Spark driver appending ROWS rows per commit.
APPEND = f"""\
import sys
from reclake.config import LakehouseSection, SparkSection
from reclake.io.lock import writer_lock
from reclake.objectstore import storage_packages
from reclake.spark import build_spark_session
table, name, appends, locked = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "locked"
spark = build_spark_session(SparkSection(master="local[1]"), packages=storage_packages(table))
lakehouse = LakehouseSection(root=table.rsplit("/", 1)[0])
for n in range(appends):
    rows = spark.createDataFrame([(name, n, i) for i in range({ROWS})], "writer string, append int, row int")
    if locked:
        with writer_lock(lakehouse, name, "appender", 600):
            rows.write.format("delta").mode("append").save(table)
    else:
        rows.write.format("delta").mode("append").save(table)
    print("appended", n, flush=True)
"""


def appenders(table: str, locked: bool) -> list[tuple[str, int]]:
    """Create ``table`` with one row, run the writers at once; the (writer, append) pairs it then holds."""
    first = python(APPEND, table, "first", "1", "locked")
    assert first.wait(timeout=300) == 0, first.communicate()[1][-3000:]
    writers = [python(APPEND, table, f"w{n}", str(APPENDS), "locked" if locked else "free") for n in range(WRITERS)]
    for writer in writers:
        out, err = writer.communicate(timeout=900)
        assert writer.returncode == 0, err[-3000:]
        assert out.count("appended") == APPENDS
    rows = DeltaTable(table.replace("s3a://", "s3://"), storage_options=storage_options(table)).to_pyarrow_table()
    return sorted({(w, n) for w, n in zip(rows["writer"].to_pylist(), rows["append"].to_pylist(), strict=True)})


def test_appenders_holding_the_lease_lose_no_commit_and_leave_no_gap(s3_env):
    table = f"s3a://{S3_BUCKET}/writers-leased/appends"
    landed = appenders(table, locked=True)
    expected = sorted([("first", 0), *((f"w{w}", n) for w in range(WRITERS) for n in range(APPENDS))])
    assert landed == expected, f"lost commits: {sorted(set(expected) - set(landed))}"
    dt = DeltaTable(table.replace("s3a://", "s3://"), storage_options=storage_options(table))
    assert dt.version() == WRITERS * APPENDS  # version 0 created the table; one version per append after it
    assert sorted(commit["version"] for commit in dt.history()) == list(range(WRITERS * APPENDS + 1))
    assert len(dt.to_pyarrow_table()) == ROWS * (WRITERS * APPENDS + 1), "an append landed twice"
