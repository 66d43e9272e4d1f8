#!/usr/bin/env bash
# Installs the tools only the tests use, idempotently (`make test` and `make test-e2e` run it;
# `make run` does not): Prometheus, promtool and the Pushgateway, headless Chromium, PostgreSQL, Kafka's
# broker jars, a BigQuery emulator and the S3 connector's jars (hadoop-aws, the AWS SDK).
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

# PostgreSQL for the running-Airflow test's metadata DB (scripts/postgres.sh starts a throwaway cluster with
# initdb/pg_ctl; tests/e2e/dags/test_scheduler.py). Only the binaries are used: the Debian cluster it creates is not.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt_install "PostgreSQL (the running-Airflow test's metadata DB)" postgresql \
    || echo "reclake: the running-Airflow test will be skipped" >&2
fi

# hadoop-aws and the AWS SDK v2 modules S3A loads (13.5 MB; reclake.PACKAGE_SETS, not the SDK's 686 MB bundle) for
# the S3 tests (tests/e2e/test_s3.py, docs/object-storage.md): resolved once from Maven Central into the Ivy cache
# and listed, as the Delta jars are, so a run on s3a:// loads them directly.
# Only runs on S3 load them; `make run` never fetches them.
if ! .venv/bin/python -c 'import sys; from reclake import S3_PACKAGE; from reclake.jvm import connector_jars_list as j; sys.exit(not j(S3_PACKAGE).is_file())'; then
  echo "reclake: fetching hadoop-aws and the AWS SDK from Maven Central (S3 test tool)" >&2
  .venv/bin/python -m reclake.spark --resolve "$(.venv/bin/python -c 'from reclake import S3_PACKAGE; print(S3_PACKAGE)')"
fi

# A Kafka broker for the ingest tests (scripts/kafka.sh; docs/ingest.md): Debian has no Kafka package,
# so its jars come from Maven Central, resolved by Maven into a cache folder once.
kafka_version="${RECLAKE_KAFKA_VERSION:-4.2.0}"
kafka_home="${RECLAKE_KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/reclake/kafka-$kafka_version}"
if [ ! -f "$kafka_home/jars/kafka_2.13-$kafka_version.jar" ]; then
  if command -v mvn >/dev/null; then
    echo "reclake: fetching the Kafka $kafka_version broker's jars into $kafka_home (test tool)" >&2
    pom="$(mktemp -d)"
    cat >"$pom/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>reclake</groupId><artifactId>kafka-broker</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$kafka_version</version></dependency>
    <!-- the broker logs through slf4j 1.7: this routes it to log4j2, as Kafka's own distribution does -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.25.3</version></dependency>
  </dependencies>
</project>
POM
    (mvn -q -B -f "$pom/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$kafka_home/jars.tmp" \
      && rm -rf "$kafka_home/jars" && mv "$kafka_home/jars.tmp" "$kafka_home/jars") >&2 \
      || echo "reclake: could not fetch Kafka's jars; the ingest tests will be skipped" >&2
    rm -rf "$pom" "$kafka_home/jars.tmp"
  else
    apt_install "Maven (to fetch the Kafka broker for the ingest tests)" maven \
      && exec bash "$0" "$@" \
      || echo "reclake: the ingest tests will be skipped" >&2
  fi
fi

# A BigQuery emulator for the BigQuery sink's tests (tests/e2e/test_bigquery.py; docs/publishing.md): bqemulator
# serves BigQuery's REST API from DuckDB. A venv of its own: it is a server, and it needs a newer FastAPI than
# `reclake serve` is tested with. numpy: its DuckDB functions need it, and its package does not say so.
bq_version="${RECLAKE_BQEMULATOR_VERSION:-1.4.0}"
bq_home="${RECLAKE_BQEMULATOR_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/reclake/bqemulator-$bq_version}"
if [ ! -f "$bq_home/.installed" ]; then
  echo "reclake: installing bqemulator $bq_version into $bq_home (test tool)" >&2
  (rm -rf "$bq_home" && "${PYTHON:-python3}" -m venv "$bq_home" \
    && "$bq_home/bin/pip" install -q "bqemulator==$bq_version" numpy && touch "$bq_home/.installed") >&2 \
    || echo "reclake: could not install bqemulator; the BigQuery emulator tests will be skipped" >&2
fi
