#!/usr/bin/env bash
# A real Spark standalone cluster on loopback, from the pip-installed Spark: one master
# and two workers (1 core, 2g each by default), for running the jobs and the DAGs the
# way they run in production (spark-submit --master spark://127.0.0.1:7077).
#
#   scripts/spark-cluster.sh start    # start master + workers, wait until both workers registered
#   scripts/spark-cluster.sh status   # which daemons run, workers registered with the master
#   scripts/spark-cluster.sh stop     # stop what `start` started (by pid), wait until gone
#
# Pids, logs and each worker's own work and scratch folders live in $RECLAKE_CLUSTER_DIR (default
# ./.spark-cluster, git-ignored); the workers share no folder. They inherit this script's environment
# (the AWS_* variables of a run on S3, as spark-env.sh would set them on a real node).
# Ports: RECLAKE_MASTER_PORT (7077), RECLAKE_MASTER_UI_PORT (8080), workers' UIs on the next two ports. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
state="${RECLAKE_CLUSTER_DIR:-.spark-cluster}"
host=127.0.0.1
port="${RECLAKE_MASTER_PORT:-7077}"
ui_port="${RECLAKE_MASTER_UI_PORT:-8080}"
workers="${RECLAKE_WORKERS:-2}"
worker_cores="${RECLAKE_WORKER_CORES:-1}"
worker_memory="${RECLAKE_WORKER_MEMORY:-2g}"
timeout_s="${RECLAKE_CLUSTER_TIMEOUT:-90}"
master_url="spark://$host:$port"

die() { echo "spark-cluster: $*" >&2; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Workers registered and ALIVE, from the master's JSON status page (0 when it does not answer).
alive_workers() {
  "$python" - "http://$host:$ui_port/json/" <<'PY'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        print(sum(w.get("state") == "ALIVE" for w in json.load(response).get("workers", [])))
except (OSError, ValueError):
    print(0)
PY
}

# spark-class execs java, so the background pid is the JVM's own.
daemon() {  # name, class, args...
  local name=$1; shift
  nohup "$spark_home/bin/spark-class" "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$state/$name.pid"
}

start() {
  command -v java >/dev/null || die "Java not found: install a JDK 17 (Debian: apt-get install openjdk-17-jdk-headless)"
  spark_home="$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')" \
    || die "pyspark is not importable by $python (set PYTHON=... or run scripts/bootstrap.sh)"
  mkdir -p "$state/logs" "$state/work"
  if alive "$state/master.pid"; then
    echo "spark-cluster: already running at $master_url (pid $(cat "$state/master.pid"))" >&2
  else
    # Loopback only: nothing listens on a public interface. Executors run the same Python as the jobs.
    export SPARK_LOCAL_IP=$host SPARK_MASTER_HOST=$host SPARK_HOME="$spark_home"
    export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$(command -v "$python")}"
    # Workers must get `reclake` from the artefact spark-submit ships (--py-files), not from a checkout.
    unset PYTHONPATH
    daemon master org.apache.spark.deploy.master.Master --host $host --port "$port" --webui-port "$ui_port"
    # Each worker its own folders, as on separate machines: its work dir (the apps' files and logs) and its
    # scratch (SPARK_LOCAL_DIRS: shuffle and spill files, Python workers' temp files), never a shared /tmp.
    for i in $(seq 1 "$workers"); do
      mkdir -p "$state/scratch/worker-$i"
      SPARK_LOCAL_DIRS="$state/scratch/worker-$i" daemon "worker-$i" org.apache.spark.deploy.worker.Worker \
        "$master_url" --host $host --cores "$worker_cores" --memory "$worker_memory" \
        --webui-port $((ui_port + i)) --work-dir "$state/work/worker-$i"
    done
  fi
  local deadline=$((SECONDS + timeout_s))
  until [ "$(alive_workers)" -ge "$workers" ]; do
    for pid in "$state"/*.pid; do
      alive "$pid" || { stop; die "$(basename "$pid" .pid) exited during start-up; see $state/logs/"; }
    done
    [ $SECONDS -lt $deadline ] || { stop; die "workers not registered after ${timeout_s}s; see $state/logs/"; }
    sleep 1
  done
  echo "spark-cluster: $master_url up with $workers workers (UI http://$host:$ui_port, logs in $state/logs)" >&2
}

stop() {
  local pids=() pid
  for file in "$state"/*.pid; do
    [ -f "$file" ] || continue
    alive "$file" && pids+=("$(cat "$file")")
  done
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then kill -9 "$pid" 2>/dev/null || true; break; fi
      sleep 0.5
    done
  done
  rm -f "$state"/*.pid
  echo "spark-cluster: stopped" >&2
}

status() {
  local file any=1
  for file in "$state"/*.pid; do
    [ -f "$file" ] || continue
    if alive "$file"; then echo "$(basename "$file" .pid): running (pid $(cat "$file"))"; any=0; fi
  done
  echo "workers registered at $master_url: $(alive_workers)"
  return $any
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
