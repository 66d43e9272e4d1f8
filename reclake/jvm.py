"""The driver JVM's options: the collector, and a class-data sharing archive of the classes a run loads.

On a small day a job is mostly JVM warm-up: the driver parses and links some 20,000 classes of
Spark, Delta and Hadoop before its first query. Java's class-data sharing (AppCDS) maps the
classes a previous run loaded from one archive instead. ``scripts/bootstrap.sh`` writes the
archive once per Spark version (a whole run of the pipeline on a tiny sample, under
``-XX:ArchiveClassesAtExit``); every driver started afterwards maps it. A missing archive, or
one the JVM finds stale (another Java, another class path), is skipped: the run starts as before.

A leaf module: the DAG file uses it, so it imports neither pyspark nor the rest of reclake.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

# A local run is one batch JVM: the throughput collector beats G1's short pauses
# (validate on 4.8M events: 17.0-17.6 s against 18.7-19.3 s).
COLLECTOR = "-XX:+UseParallelGC"
# The JVM explains an archive it cannot map on stdout; the run goes on without it, so say nothing.
QUIET_ARCHIVE = "-Xlog:cds=off,cds+dynamic=off"


def class_archive() -> Path:
    """Where this environment's archive lives: inside it, named by the Spark it was made with."""
    return Path(sys.prefix) / "share" / "reclake" / f"spark-{version('pyspark')}-driver.jsa"


def driver_java_options() -> str:
    """``spark.driver.extraJavaOptions`` for a reclake driver: the collector, and this environment's archive
    where there is one."""
    archive = class_archive()
    if not archive.is_file():
        return COLLECTOR
    return f"{COLLECTOR} -XX:SharedArchiveFile={archive} {QUIET_ARCHIVE}"


def archiving_java_options(archive: Path) -> str:
    """The options for the one run whose classes become ``archive`` when its JVM exits."""
    return f"{COLLECTOR} -XX:ArchiveClassesAtExit={archive} {QUIET_ARCHIVE}"
