#!/usr/bin/env bash
# A real Cassandra 5.0 node on loopback, assembled from Maven Central (no package ships one).
#   ci/cassandra.sh fetch    copy cassandra-all and its dependencies into the jar cache (once)
#   ci/cassandra.sh start    fetch if needed, start the node, wait until CQL answers (idempotent)
#   ci/cassandra.sh stop     stop the node's process group
#   ci/cassandra.sh status   print release_version, or exit 1
# Jars: $SPEEDRUN_CACHE_DIR/cassandra-$CASSANDRA_VERSION/lib (outside the repo, kept between runs).
# SPEEDRUN_CASSANDRA_AUTHENTICATOR=PasswordAuthenticator starts a node that wants credentials (its
# first superuser is cassandra/cassandra; the readiness check logs in with SPEEDRUN_CASSANDRA_USERNAME
# and SPEEDRUN_CASSANDRA_PASSWORD when they are set, else with that superuser). The default lets anyone in.
# The settings it reads are in the README's table of settings (speedrun.kit.settings.SETTINGS).
# Data and log: $SPEEDRUN_BUILD_DIR/cassandra and $SPEEDRUN_BUILD_DIR/logs/cassandra.log.
SERVICE=cassandra
. "$(dirname "$0")/lib.sh"

CASSANDRA_VERSION=5.0.6
CASSANDRA_HOST="${SPEEDRUN_CASSANDRA_HOSTS:-127.0.0.1}"; CASSANDRA_HOST="${CASSANDRA_HOST%%,*}"
CASSANDRA_PORT="${SPEEDRUN_CASSANDRA_PORT:-9042}"
CASSANDRA_STORAGE_PORT="${SPEEDRUN_CASSANDRA_STORAGE_PORT:-7000}"
CASSANDRA_JMX_PORT="${SPEEDRUN_CASSANDRA_JMX_PORT:-7199}"
CASSANDRA_START_TIMEOUT="${SPEEDRUN_CASSANDRA_START_TIMEOUT:-120}"
CASSANDRA_AUTHENTICATOR="${SPEEDRUN_CASSANDRA_AUTHENTICATOR:-AllowAllAuthenticator}"
case "$CASSANDRA_AUTHENTICATOR" in
  AllowAllAuthenticator|PasswordAuthenticator) ;;
  *) fail "SPEEDRUN_CASSANDRA_AUTHENTICATOR must be AllowAllAuthenticator or PasswordAuthenticator, got '$CASSANDRA_AUTHENTICATOR'.";;
esac
JAR_DIR="$SPEEDRUN_CACHE_DIR/cassandra-$CASSANDRA_VERSION/lib"
NODE_DIR="$SPEEDRUN_BUILD_DIR/cassandra"
LOG="$LOG_DIR/cassandra.log"
PYTHON="$REPO_ROOT/.venv/bin/python"

fetch() {
  if [ -f "$JAR_DIR/.complete" ]; then return 0; fi
  need mvn "Install Maven (Debian: apt-get install maven); it fetches Cassandra's jars from Maven Central."
  say "fetching cassandra-all $CASSANDRA_VERSION and its dependencies from Maven Central into $JAR_DIR"
  local work; work=$(mktemp -d)
  cp "$REPO_ROOT/ci/cassandra/pom.xml" "$work/pom.xml"
  rm -rf "$JAR_DIR"; mkdir -p "$JAR_DIR"
  if ! (cd "$work" && mvn -B -q -Dcassandra.version="$CASSANDRA_VERSION" \
        org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$JAR_DIR" >"$LOG_DIR/cassandra-fetch.log" 2>&1); then
    tail -n 20 "$LOG_DIR/cassandra-fetch.log" >&2
    fail "Maven could not fetch cassandra-all $CASSANDRA_VERSION (log: $LOG_DIR/cassandra-fetch.log)."
  fi
  rm -rf "$work"
  touch "$JAR_DIR/.complete"
  say "$(ls "$JAR_DIR" | wc -l) jars cached"
}

check_java() {
  need java "Install a Java 17 runtime (Debian: apt-get install openjdk-17-jre-headless); Cassandra 5.0 runs on Java 11 or 17."
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
  case "$major" in
    11|17|18|19|20|21|22|23) ;;
    *) fail "Java $major found at $(command -v java); Cassandra 5.0 needs Java 11 or 17 (set PATH to such a JDK).";;
  esac
}

cql_ready() {  # a real CQL answer through cassandra-driver
  [ -x "$PYTHON" ] || fail "$PYTHON is missing: run ci/setup.sh first (the readiness check uses cassandra-driver)."
  "$PYTHON" - "$CASSANDRA_HOST" "$CASSANDRA_PORT" "$CASSANDRA_AUTHENTICATOR" <<'PY'
import os, sys
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster
auth = None
if sys.argv[3] == 'PasswordAuthenticator':
    auth = PlainTextAuthProvider(os.environ.get('SPEEDRUN_CASSANDRA_USERNAME') or 'cassandra', os.environ.get('SPEEDRUN_CASSANDRA_PASSWORD') or 'cassandra')
elif os.environ.get('SPEEDRUN_CASSANDRA_USERNAME'):
    auth = PlainTextAuthProvider(os.environ['SPEEDRUN_CASSANDRA_USERNAME'], os.environ.get('SPEEDRUN_CASSANDRA_PASSWORD', ''))
cluster = Cluster([sys.argv[1]], port=int(sys.argv[2]), connect_timeout=2, control_connection_timeout=2, auth_provider=auth)
try:
    print(cluster.connect().execute("SELECT release_version FROM system.local").one().release_version)
finally:
    cluster.shutdown()
PY
}

port_open() { (exec 3<>"/dev/tcp/$CASSANDRA_HOST/$CASSANDRA_PORT") 2>/dev/null; }

start() {
  if pid_alive cassandra; then
    say "already running (pid $(cat "$RUN_DIR/cassandra.pid")), release $(cql_ready 2>/dev/null || echo '?')"
    return 0
  fi
  check_java
  for port in "$CASSANDRA_PORT:SPEEDRUN_CASSANDRA_PORT" "$CASSANDRA_STORAGE_PORT:SPEEDRUN_CASSANDRA_STORAGE_PORT" "$CASSANDRA_JMX_PORT:SPEEDRUN_CASSANDRA_JMX_PORT"; do
    require_free_port "$CASSANDRA_HOST" "${port%%:*}" "${port##*:}"
  done
  fetch
  mkdir -p "$NODE_DIR"/{conf,data,commitlog,saved_caches,hints,cdc_raw,tmp}
  sed -e "s|@LISTEN_ADDRESS@|$CASSANDRA_HOST|g" -e "s|@STORAGE_PORT@|$CASSANDRA_STORAGE_PORT|g" \
      -e "s|@NATIVE_PORT@|$CASSANDRA_PORT|g" -e "s|@STORAGE_DIR@|$NODE_DIR|g" \
      -e "s|^authenticator: .*|authenticator: $CASSANDRA_AUTHENTICATOR|" \
      "$REPO_ROOT/ci/cassandra/cassandra.yaml.in" > "$NODE_DIR/conf/cassandra.yaml"
  cp "$REPO_ROOT/ci/cassandra/logback.xml" "$NODE_DIR/conf/logback.xml"
  local opens=() option
  while read -r option; do
    case "$option" in --add-*) opens+=("${option/ /=}");; esac
  done < "$REPO_ROOT/ci/cassandra/jvm17-server.options"
  say "starting Cassandra $CASSANDRA_VERSION on $CASSANDRA_HOST:$CASSANDRA_PORT with $CASSANDRA_AUTHENTICATOR (log: $LOG)"
  local began=$SECONDS
  start_detached cassandra "$LOG" java \
    -Xms1g -Xmx1g -Xss256k -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
    -Djava.net.preferIPv4Stack=true -Djdk.attach.allowAttachSelf=true -Dio.netty.tryReflectionSetAccessible=true \
    "${opens[@]}" \
    -Dcassandra.config="file://$NODE_DIR/conf/cassandra.yaml" \
    -Dcassandra-foreground=yes \
    -Dcassandra.storagedir="$NODE_DIR" -Dcassandra.logdir="$LOG_DIR" \
    -Dlogback.configurationFile="$NODE_DIR/conf/logback.xml" \
    -Dcassandra.jmx.local.port="$CASSANDRA_JMX_PORT" \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.initial_token=0 \
    -Dcassandra.ignore_kernel_bug_1057843_check=true -Dcassandra.superuser_setup_delay_ms=0 \
    -Djava.io.tmpdir="$NODE_DIR/tmp" -Djna.tmpdir="$NODE_DIR/tmp" \
    -cp "$NODE_DIR/conf:$JAR_DIR/*" org.apache.cassandra.service.CassandraDaemon
  wait_until "$CASSANDRA_START_TIMEOUT" cassandra "$LOG" port_open
  wait_until 30 cassandra "$LOG" cql_ready
  say "ready in $((SECONDS - began)) s: release_version $(cql_ready)"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop_group cassandra ;;
  status) cql_ready ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
