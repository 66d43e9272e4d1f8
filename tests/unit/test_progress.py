"""Progress of a running stage: the rows its Spark jobs have read, from Spark's status store."""

from __future__ import annotations

import time

from reclake.monitoring.progress import Snapshot, job_description, progress_line, rows_read


def test_rows_read_counts_only_the_jobs_of_the_stage_asked_for(spark):
    context = spark.sparkContext
    context.setJobGroup("validate", job_description("validate", "r-progress"))
    try:
        spark.range(0, 5000, numPartitions=2).selectExpr("id % 7 AS k").groupBy("k").count().collect()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
        context.setLocalProperty("spark.job.description", None)
    # 5,000 rows from the range, then the 2 x 7 partial counts from the shuffle. Spark's listener bus fills the
    # status store after the job returns: under load the last task's rows arrive a moment later (5,008 seen).
    deadline = time.monotonic() + 10
    while rows_read(spark, job_description("validate", "r-progress")) != 5000 + 14 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rows_read(spark, job_description("validate", "r-progress")) == 5000 + 14
    assert rows_read(spark, job_description("train", "r-progress")) == 0


def test_the_progress_line_says_the_fraction_and_the_rows():
    line = progress_line("train", 95.4, Snapshot((31, 32), 20, 8, 1_234_567))
    assert (
        line
        == "train: 95 s, 40% of the running Spark tasks done (8/20, Spark stages 31, 32), 1,234,567 rows read so far"
    )
