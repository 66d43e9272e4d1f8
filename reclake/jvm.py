"""How a reclake JVM starts: the Delta connector's jars, the collector, a class-data sharing archive.

The Delta connector comes from Maven Central as a package. Resolving it with Ivy on every start
costs each job and each session a few seconds and a reachable Maven repository; so the warm-up
step (``python -m reclake.spark --warm-jar-cache``, run by ``scripts/bootstrap.sh``) resolves it
once and lists the jar files it got beside the environment, and every later start loads those
files directly. Without the list, or with a listed jar gone, a start resolves the package as before.
A package that ``reclake.PACKAGE_SETS`` names is resolved with the packages and exclusions given there (hadoop-aws:
the AWS SDK's modules, not its bundle), and listed as one connector.

On a small day a job is mostly JVM warm-up: the driver parses and links some 20,000 classes of
Spark, Delta and Hadoop before its first query. Java's class-data sharing (AppCDS) maps the
classes a previous run loaded from one archive instead. ``scripts/bootstrap.sh`` writes the
archive once per Spark version (a whole run of the pipeline on a tiny sample, under
``-XX:ArchiveClassesAtExit``); every driver started afterwards maps it. A missing archive, or
one the JVM finds stale (another Java, another class path), is skipped: the run starts as before.

A leaf module: the DAG file uses it, so it imports neither pyspark nor the rest of reclake (only its constants).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from urllib.parse import unquote, urlparse

from reclake import PACKAGE_SETS

# A local run is one batch JVM: the throughput collector beats G1's short pauses
# (validate on 4.8M events: 17.0-17.6 s against 18.7-19.3 s).
COLLECTOR = "-XX:+UseParallelGC"
# The JVM explains an archive it cannot map on stdout; the run goes on without it, so say nothing.
QUIET_ARCHIVE = "-Xlog:cds=off,cds+dynamic=off"
# spark.quick_jit: compile with C1 alone. A job of seconds spends much of its CPU in C2 compiling code that runs
# for moments; a job of minutes on large data needs C2's code. C1 alone also shrinks the code cache to 48 MB, which
# a whole run's generated code filled: the JVM then failed a method-handle call ("Out of space in CodeCache for
# method handle intrinsic") and Spark died mid-evaluate. The cache keeps the tiered JIT's 240 MB.
QUICK_JIT = ("-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=240m")


def _share() -> Path:
    return Path(sys.prefix) / "share" / "reclake"


def connector_jars_list(package: str) -> Path:
    """Where the warm-up step lists the jar files ``package`` (Maven coordinates) resolved to; for a package of
    ``PACKAGE_SETS``, a name that changes with its set, so a list made for another set is not used."""
    name = package.replace(":", "_")
    if package in PACKAGE_SETS:
        name += "-" + hashlib.sha1(repr(PACKAGE_SETS[package]).encode()).hexdigest()[:8]
    return _share() / f"{name}.jars"


def resolution_conf(package: str) -> dict[str, str]:
    """The Spark settings that resolve ``package`` from Maven: its coordinates, and for a package of
    ``PACKAGE_SETS`` the packages that come with it and the dependencies Ivy leaves out (``spark.jars.excludes``)."""
    extra, excludes = PACKAGE_SETS.get(package, ((), ()))
    conf = {"spark.jars.packages": ",".join((package, *extra))}
    if excludes:
        conf["spark.jars.excludes"] = ",".join(excludes)
    return conf


def remember_connector_jars(package: str, resolved: str, listed: Path | None = None) -> None:
    """List ``resolved`` (Spark's ``spark.jars`` once the package was resolved: comma-separated URIs) in
    ``listed`` (default: :func:`connector_jars_list`) for later starts."""
    paths = [unquote(urlparse(uri).path) if uri.startswith("file:") else uri for uri in resolved.split(",") if uri]
    group, artifact, release = package.split(":")
    own = f"{group}_{artifact}-{release}.jar"  # how Ivy names the package's own jar
    if not any(Path(path).name == own for path in paths):
        # A JVM resolves packages once, at launch: a second package resolved in it gets the first one's jars.
        raise ValueError(f"the resolved jars do not hold {own}: resolve {package} in a JVM of its own")
    listed = listed or connector_jars_list(package)
    listed.parent.mkdir(parents=True, exist_ok=True)
    listed.write_text("".join(f"{path}\n" for path in paths))


def connector_conf(package: str, listed: Path | None = None) -> dict[str, str]:
    """The Spark settings that give a JVM ``package``: the jar files ``listed`` (default:
    :func:`connector_jars_list`) when every one is there, or else its Maven coordinates (:func:`resolution_conf`)."""
    listed = listed or connector_jars_list(package)
    jars = [jar for jar in listed.read_text().splitlines() if jar] if listed.is_file() else []
    if jars and all(Path(jar).is_file() for jar in jars):
        return {"spark.jars": ",".join(jars)}
    return resolution_conf(package)


def connectors_conf(packages: Sequence[str]) -> dict[str, str]:
    """:func:`connector_conf` of several packages, their ``spark.jars`` (``spark.jars.packages``,
    ``spark.jars.excludes``) lists joined."""
    conf: dict[str, str] = {}
    for package in dict.fromkeys(packages):
        for key, value in connector_conf(package).items():
            conf[key] = f"{conf[key]},{value}" if key in conf else value
    return conf


def class_archive() -> Path:
    """Where this environment's archive lives: inside it, named by the Spark it was made with."""
    return _share() / f"spark-{version('pyspark')}-driver.jsa"


def driver_java_options(quick_jit: bool = False) -> str:
    """``spark.driver.extraJavaOptions`` for a reclake driver: the collector, C1 alone if ``quick_jit``
    (``spark.quick_jit``), and this environment's archive where there is one."""
    options = [COLLECTOR, *QUICK_JIT] if quick_jit else [COLLECTOR]
    archive = class_archive()
    if archive.is_file():
        options += [f"-XX:SharedArchiveFile={archive}", QUIET_ARCHIVE]
    return " ".join(options)


def archiving_java_options(archive: Path) -> str:
    """The options for the one run whose classes become ``archive`` when its JVM exits."""
    return f"{COLLECTOR} -XX:ArchiveClassesAtExit={archive} {QUIET_ARCHIVE}"
