#!/usr/bin/env bash
# Sets up what running reclake needs on a fresh Debian/Ubuntu machine, idempotently:
# checks Python and Java, installs native BLAS for ALS where it can, creates .venv with the
# package and its extras, fills the Delta Lake jar cache and writes the driver's class-data
# archive (reclake/jvm.py). The tools only the tests use
# (Prometheus, Chromium) are scripts/test-tools.sh's (`make test` runs both).
# Usage: scripts/bootstrap.sh [EXTRAS]   (default extras: dev,airflow,bigquery,serve,function,s3)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev,airflow,bigquery,serve,function,s3}"
python="${PYTHON:-python3}"

command -v "$python" >/dev/null || { echo "reclake: python3 not found: install Python 3.10 or newer" >&2; exit 1; }
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "reclake: Python 3.10 or newer is required, found $("$python" --version 2>&1): install python3.10+ (or set PYTHON=...)" >&2; exit 1; }
command -v java >/dev/null || { echo "reclake: Java not found: install a JDK 17 (Debian: apt-get install openjdk-17-jdk-headless)" >&2; exit 1; }
java_major=$(java -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1)
[ "${java_major:-0}" -ge 17 ] || { echo "reclake: Spark 4 needs Java 17 or newer, found Java ${java_major:-unknown}: install openjdk-17-jdk-headless" >&2; exit 1; }

# shellcheck source=scripts/apt.sh
. scripts/apt.sh

# Spark's ALS calls native BLAS through netlib when libblas.so.3 is present, and
# falls back to much slower Java code when it is not.
if ! ldconfig -p 2>/dev/null | grep -q 'libblas\.so\.3'; then
  apt_install "native BLAS for ALS" libopenblas0-pthread || echo "reclake: ALS will use Java BLAS (slower)" >&2
fi

stamp=".venv/.installed-$(cat setup.py | sha1sum | cut -c1-12)-${extras//,/_}"
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/pip install -q --upgrade pip "setuptools>=68" wheel
  .venv/bin/pip install -q -e ".[${extras}]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# Resolve the connectors' jars (Delta Lake's; Kafka's source for `reclake ingest`) from Maven Central once and
# list them (reclake/jvm.py), so that no job or test pays for (or fails on) the download or Ivy's resolution at start.
delta=$(.venv/bin/python -c 'from reclake import DELTA_PACKAGE; print(DELTA_PACKAGE)')
if ! .venv/bin/python -c 'import sys; from reclake import DELTA_PACKAGE, KAFKA_PACKAGE; from reclake.jvm import connector_jars_list as j; sys.exit(not all(j(p).is_file() for p in (DELTA_PACKAGE, KAFKA_PACKAGE)))'; then
  .venv/bin/python -m reclake.spark --warm-jar-cache
fi

# The driver's class-data sharing archive (reclake/jvm.py): one whole run of the pipeline on a
# tiny sample, whose JVM writes the classes it loaded when it exits; every later driver maps them.
archive=$(.venv/bin/python -c 'from reclake.jvm import class_archive; print(class_archive())')
if [ ! -f "$archive" ]; then
  echo "reclake: writing the driver's class-data archive (one small run, about two minutes, once)" >&2
  sample=$(mktemp -d)
  trap 'rm -rf "$sample"' EXIT
  options=$(.venv/bin/python -c "import sys; from pathlib import Path; from reclake.jvm import archiving_java_options as a; print(a(Path(sys.argv[1])))" "$sample/driver.jsa")
  PATH="$PWD/.venv/bin:$PATH" PYSPARK_PYTHON="$PWD/.venv/bin/python" spark-submit --master 'local[2]' --packages "$delta" --driver-java-options "$options" \
    jobs/run.py --config conf/local.yaml --lakehouse "$sample/lakehouse" --run-date 2026-01-01 \
    --set generate.users=200 --set generate.items=60 --set als.max_iter=3 --set spark.log_level=ERROR \
    --set monitoring.html_report=false --set validation.data_docs=false >"$sample/out.log" 2>&1 \
    || { echo "reclake: the archiving run failed (jobs start without the archive); its output:" >&2; tail -20 "$sample/out.log" >&2; }
  if [ -s "$sample/driver.jsa" ]; then
    mkdir -p "$(dirname "$archive")"
    mv "$sample/driver.jsa" "$archive"
  fi
fi
