#!/usr/bin/env bash
# Sets up what running reclake needs on a fresh Debian/Ubuntu machine, idempotently:
# checks Python and Java, installs native BLAS for ALS where it can, creates .venv with the
# package and its extras, and fills the Delta Lake jar cache. The tools only the tests use
# (Prometheus, Chromium) are scripts/test-tools.sh's (`make test` runs both).
# Usage: scripts/bootstrap.sh [EXTRAS]   (default extras: dev,airflow,bigquery,serve)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev,airflow,bigquery,serve}"
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

# Resolve the Delta Lake connector jars from Maven Central once, so that the
# first job or test does not pay for (or fail on) the download.
.venv/bin/python -m reclake.spark --warm-jar-cache
