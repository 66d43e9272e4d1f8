#!/usr/bin/env bash
# A real Kafka broker on loopback for the ingest tests: Kafka 4 in KRaft combined mode (one process is
# broker and controller), from the jars scripts/test-tools.sh fetched from Maven Central.
#
#   scripts/kafka.sh start    # format the storage once, start the broker, wait until it serves
#   scripts/kafka.sh status   # running or not
#   scripts/kafka.sh stop     # stop what `start` started (by pid), wait until gone
#
# State (pid, server.properties, data, logs) lives in $RECLAKE_KAFKA_DIR (default ./.kafka,
# git-ignored). Ports: RECLAKE_KAFKA_PORT (9092) for clients, the next one for the controller.
# The jars: $RECLAKE_KAFKA_HOME/jars (default ~/.cache/reclake/kafka-4.2.0). Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${RECLAKE_KAFKA_VERSION:-4.2.0}"
home="${RECLAKE_KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/reclake/kafka-$version}"
state="${RECLAKE_KAFKA_DIR:-.kafka}"
host=127.0.0.1
port="${RECLAKE_KAFKA_PORT:-9092}"
controller_port=$((port + 1))
timeout_s="${RECLAKE_KAFKA_TIMEOUT:-90}"

die() { echo "kafka: $*" >&2; exit 1; }

alive() { [ -f "$state/kafka.pid" ] && kill -0 "$(cat "$state/kafka.pid")" 2>/dev/null; }

# The broker's JVM: a small heap (a test broker holds little), its log4j2 configuration, the jars.
java_args() {
  echo "-Xms128m -Xmx512m -XX:+UseParallelGC -Dlog4j2.configurationFile=$state/log4j2.properties"
}

configure() {
  mkdir -p "$state/logs" "$state/data"
  state="$(cd "$state" && pwd)"
  # Loopback only; one node, so every internal topic has one replica.
  cat >"$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$host:$controller_port
listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$controller_port
advertised.listeners=PLAINTEXT://$host:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$state/data
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Tests produce events of past dates with their event time as the message time: keep them, whatever their age.
log.retention.ms=-1
PROPS
  cat >"$state/log4j2.properties" <<PROPS
appender.file.type=File
appender.file.name=file
appender.file.fileName=$state/logs/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
PROPS
}

start() {
  command -v java >/dev/null || die "Java not found: install a JDK 17 (Debian: apt-get install openjdk-17-jdk-headless)"
  [ -f "$home/jars/kafka_2.13-$version.jar" ] || die "no Kafka jars in $home/jars: run scripts/test-tools.sh"
  if alive; then
    echo "kafka: already running at $host:$port (pid $(cat "$state/kafka.pid"))" >&2
    return
  fi
  configure
  # shellcheck disable=SC2046  # java_args is words on purpose
  if [ ! -f "$state/data/meta.properties" ]; then  # KRaft: the storage is formatted once, as a standalone quorum
    java $(java_args) -cp "$home/jars/*" kafka.tools.StorageTool format --standalone --ignore-formatted \
      --cluster-id "$(java $(java_args) -cp "$home/jars/*" kafka.tools.StorageTool random-uuid)" \
      --config "$state/server.properties" >"$state/logs/format.log" 2>&1 \
      || die "could not format the storage; see $state/logs/format.log"
  fi
  # shellcheck disable=SC2046
  nohup java $(java_args) -cp "$home/jars/*" kafka.Kafka "$state/server.properties" \
    >"$state/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$state/kafka.pid"
  local deadline=$((SECONDS + timeout_s))
  until grep -q "Kafka Server started" "$state/logs/server.log" 2>/dev/null; do
    alive || die "the broker exited during start-up; see $state/logs/"
    [ $SECONDS -lt $deadline ] || { stop; die "not serving after ${timeout_s}s; see $state/logs/"; }
    sleep 0.5
  done
  echo "kafka: $host:$port up (KRaft, logs in $state/logs)" >&2
}

stop() {
  if alive; then
    local pid deadline=$((SECONDS + 30))
    pid="$(cat "$state/kafka.pid")"
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then kill -9 "$pid" 2>/dev/null || true; break; fi
      sleep 0.5
    done
  fi
  rm -f "$state/kafka.pid"
  echo "kafka: stopped" >&2
}

status() {
  if alive; then echo "kafka: running at $host:$port (pid $(cat "$state/kafka.pid"))"; else echo "kafka: not running"; return 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
