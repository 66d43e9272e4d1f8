"""The driver JVM's class-data archive (reclake/jvm.py): mapped by a local driver, harmless when stale."""

from __future__ import annotations

import shlex
import subprocess

from reclake.jvm import class_archive, driver_java_options


def test_a_local_driver_maps_the_class_archive_bootstrap_wrote(spark):
    archive = class_archive()
    assert archive.is_file(), f"scripts/bootstrap.sh (make setup) writes {archive}"
    jvm = spark.sparkContext._jvm
    arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    assert f"-XX:SharedArchiveFile={archive}" in arguments
    # "sharing" goes when the JVM could not map the archive it was given.
    assert "sharing" in jvm.java.lang.System.getProperty("java.vm.info")


def test_a_stale_archive_is_skipped_without_a_word_on_stdout():
    # The archive was made on Spark's class path; a bare `java` has another, so it cannot map it (unquieted,
    # Java 17 says "Unable to use shared archive" on stdout).
    options = driver_java_options()
    assert f"-XX:SharedArchiveFile={class_archive()}" in options
    started = subprocess.run(["java", *shlex.split(options), "-version"], capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    assert started.stdout == ""  # a job's last stdout line is its JSON summary
