#!/usr/bin/env bash
# Installs the tools only the tests use, idempotently (`make test` and `make test-e2e` run it;
# `make run` does not): Prometheus, promtool and the Pushgateway, and headless Chromium.
# Each is installed where this runs as root with apt-get; otherwise it says what to run, and
# the tests that need it are skipped.
# Usage: scripts/test-tools.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/apt.sh
. scripts/apt.sh

# promtool checks and unit-tests monitoring/alerts.yml; Prometheus and the Pushgateway run in
# the monitoring tests (docs/monitoring.md). Only the binaries are used: no service is enabled.
if ! command -v promtool >/dev/null || ! command -v prometheus-pushgateway >/dev/null; then
  apt_install "Prometheus, promtool and the Pushgateway (test tools)" prometheus prometheus-pushgateway \
    || echo "reclake: the alert-rule and Prometheus tests will be skipped" >&2
fi

# Headless Chromium renders the HTML run report in its test (docs/monitoring.md).
if ! command -v chromium >/dev/null; then
  apt_install "Chromium (headless, for the run report's test)" chromium \
    || echo "reclake: the HTML run report's browser test will be skipped" >&2
fi
