"""How a reclake JVM starts (reclake/jvm.py): the Delta connector from the jar files bootstrap listed, else
from Maven; the class-data archive mapped by a local driver, harmless when stale."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from reclake import DELTA_PACKAGE, S3_PACKAGE
from reclake.jvm import (
    QUICK_JIT,
    class_archive,
    connector_conf,
    connector_jars_list,
    driver_java_options,
    remember_connector_jars,
)


def test_a_session_loads_the_listed_connector_jars_without_resolving_the_package(spark):
    listed = connector_jars_list(DELTA_PACKAGE)
    assert listed.is_file(), f"scripts/bootstrap.sh (make setup) writes {listed}"
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.jars.packages", None) is None, "Ivy resolved the package at start"
    jars = conf.get("spark.jars").split(",")
    assert any("delta-spark_" in jar for jar in jars) and len(jars) == len(listed.read_text().splitlines())
    # The connector is really there: Delta's classes load in this JVM (forName raises when they do not).
    jvm = spark.sparkContext._jvm
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    assert (
        jvm.java.lang.Class.forName("io.delta.tables.DeltaTable", True, loader).getName()
        == "io.delta.tables.DeltaTable"
    )


def test_a_missing_or_incomplete_list_falls_back_to_the_maven_package(tmp_path):
    listed = tmp_path / "connector.jars"
    assert connector_conf("g:a:1", listed) == {"spark.jars.packages": "g:a:1"}
    jar = tmp_path / "a b" / "g_a-1.jar"  # the package's own jar, as Ivy names it
    jar.parent.mkdir()
    jar.write_bytes(b"")
    remember_connector_jars("g:a:1", f"{jar.as_uri()},{(tmp_path / 'gone.jar').as_uri()}", listed)
    assert listed.read_text().splitlines()[0] == str(jar), "file: URIs are listed as paths, spaces and all"
    assert connector_conf("g:a:1", listed) == {"spark.jars.packages": "g:a:1"}, "a listed jar is gone"
    remember_connector_jars("g:a:1", jar.as_uri(), listed)
    assert connector_conf("g:a:1", listed) == {"spark.jars": str(jar)}
    other = tmp_path / "h_b-2.jar"
    with pytest.raises(ValueError, match="g_a-1.jar"):  # another package's jars (a JVM resolves once, at launch)
        remember_connector_jars("g:a:1", other.as_uri(), listed)
    assert connector_conf("g:a:1", listed) == {"spark.jars": str(jar)}, "the list is left as it was"


def test_hadoop_aws_comes_with_the_aws_sdk_modules_and_never_the_bundle(tmp_path):
    conf = connector_conf(S3_PACKAGE, tmp_path / "none.jars")
    packages = conf["spark.jars.packages"].split(",")
    assert packages[0] == S3_PACKAGE and "software.amazon.awssdk:s3:2.35.4" in packages
    excludes = conf["spark.jars.excludes"].split(",")
    assert "software.amazon.awssdk:bundle" in excludes and "io.netty:*" in excludes  # Spark ships its own Netty
    # A list written when hadoop-aws brought the bundle (named after the package alone) is not this set's list.
    assert connector_jars_list(S3_PACKAGE).name != f"{S3_PACKAGE.replace(':', '_')}.jars"
    assert connector_conf("g:a:1", tmp_path / "none.jars") == {"spark.jars.packages": "g:a:1"}, "no exclusions"


def test_a_local_driver_maps_the_class_archive_bootstrap_wrote(spark):
    archive = class_archive()
    assert archive.is_file(), f"scripts/bootstrap.sh (make setup) writes {archive}"
    jvm = spark.sparkContext._jvm
    arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    assert f"-XX:SharedArchiveFile={archive}" in arguments
    # "sharing" goes when the JVM could not map the archive it was given.
    assert "sharing" in jvm.java.lang.System.getProperty("java.vm.info")


@pytest.mark.parametrize("quick_jit", [False, True])
def test_a_stale_archive_is_skipped_without_a_word_on_stdout(quick_jit):
    # The archive was made on Spark's class path; a bare `java` has another, so it cannot map it (unquieted,
    # Java 17 says "Unable to use shared archive" on stdout).
    options = driver_java_options(quick_jit)
    assert f"-XX:SharedArchiveFile={class_archive()}" in options
    assert (set(QUICK_JIT) <= set(shlex.split(options))) is quick_jit  # spark.quick_jit: C1 alone
    started = subprocess.run(["java", *shlex.split(options), "-version"], capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    assert started.stdout == ""  # a job's last stdout line is its JSON summary


@pytest.mark.parametrize("quick_jit", [False, True])
def test_the_code_cache_is_the_tiered_jits_with_or_without_quick_jit(quick_jit):
    # C1 alone would shrink it to 48 MB, which a whole run's generated code filled: the driver died in evaluate
    # ("Out of space in CodeCache for method handle intrinsic").
    options = [*shlex.split(driver_java_options(quick_jit)), "-XX:+PrintFlagsFinal", "-version"]
    flags = subprocess.run(["java", *options], capture_output=True, text=True, timeout=60)
    assert flags.returncode == 0, flags.stderr
    size = re.search(r"\bReservedCodeCacheSize\s*=\s*(\d+)", flags.stdout)
    assert size is not None and int(size[1]) >= 240 * 2**20, flags.stdout[-2000:]
