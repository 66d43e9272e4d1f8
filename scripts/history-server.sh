#!/usr/bin/env bash
# The Spark History Server (from the pip-installed Spark) on the event logs of reclake's runs,
# in the foreground until Ctrl-C: http://127.0.0.1:$HISTORY_PORT (default 18080).
#
#   scripts/history-server.sh [EVENT_LOG_DIR]
#
# EVENT_LOG_DIR defaults to monitoring.event_log_dir of $CONFIG (default conf/local.yaml);
# a local folder (relative: to the repository, like `make run`'s paths) or an object-store
# URI the History Server can read.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
config="${CONFIG:-conf/local.yaml}"
port="${HISTORY_PORT:-18080}"
die() { echo "history-server: $*" >&2; exit 1; }

command -v java >/dev/null || die "Java not found: install a JDK 17 (Debian: apt-get install openjdk-17-jdk-headless)"
# The folder as the jobs write it (file: URI for a local one, created if missing), from the config or the argument.
log_dir="$("$python" - "$config" "${1:-}" <<'PY'
import sys
from reclake.config import load_config
from reclake.spark import event_log_conf
path, given = sys.argv[1], sys.argv[2]
config = load_config(None, [f"monitoring.event_log_dir={given}"]) if given else load_config(path)
print(event_log_conf(config.monitoring.event_log_dir).get("spark.eventLog.dir", ""))
PY
)"
[ -n "$log_dir" ] || die "no event logs: set monitoring.event_log_dir in $config, or pass the folder"
spark_home="$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')" \
  || die "pyspark is not importable by $python (set PYTHON=... or run scripts/bootstrap.sh)"

echo "history-server: event logs in $log_dir, UI and REST API at http://127.0.0.1:$port (Ctrl-C stops it)" >&2
export SPARK_HOME="$spark_home" SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
export SPARK_HISTORY_OPTS="${SPARK_HISTORY_OPTS:-} -Dspark.history.fs.logDirectory=$log_dir -Dspark.history.ui.port=$port"
exec "$spark_home/bin/spark-class" org.apache.spark.deploy.history.HistoryServer
