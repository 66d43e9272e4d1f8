#!/usr/bin/env bash
# Sets up everything reclake needs on a fresh Debian/Ubuntu machine, idempotently:
# checks Python and Java, installs native BLAS for ALS and Prometheus's tools where it can, creates
# .venv with the package and its extras, and fills the Delta Lake jar cache.
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

# Installs Debian packages when this runs as root with apt-get; otherwise says what to run.
apt_install() {  # apt_install WHAT PACKAGE...
  local what="$1"
  shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "reclake: installing $what ($*)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@") >/dev/null \
      || { echo "reclake: could not install $*" >&2; return 1; }
  else
    echo "reclake: no root to install $what; to fix: sudo apt-get install $*" >&2
    return 1
  fi
}

# Spark's ALS calls native BLAS through netlib when libblas.so.3 is present, and
# falls back to much slower Java code when it is not.
if ! ldconfig -p 2>/dev/null | grep -q 'libblas\.so\.3'; then
  apt_install "native BLAS for ALS" libopenblas0-pthread || echo "reclake: ALS will use Java BLAS (slower)" >&2
fi

# promtool checks and unit-tests monitoring/alerts.yml; Prometheus and the Pushgateway run in
# the monitoring tests (docs/monitoring.md). Only the binaries are used: no service is enabled.
if ! command -v promtool >/dev/null || ! command -v prometheus-pushgateway >/dev/null; then
  apt_install "Prometheus, promtool and the Pushgateway" prometheus prometheus-pushgateway \
    || echo "reclake: the alert-rule and Prometheus tests will be skipped" >&2
fi

# Headless Chromium renders the HTML run report in its test (docs/monitoring.md).
if ! command -v chromium >/dev/null; then
  apt_install "Chromium (headless, for the run report's test)" chromium \
    || echo "reclake: the HTML run report's browser test will be skipped" >&2
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
