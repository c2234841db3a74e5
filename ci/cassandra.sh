#!/usr/bin/env bash
# A real Cassandra 5.0 node on loopback, or a cluster of them, assembled from Maven Central (no package ships one).
#   ci/cassandra.sh fetch              copy cassandra-all and its dependencies into the jar cache (once)
#   ci/cassandra.sh start              fetch if needed, start the nodes that do not run, wait until all are ready (idempotent)
#   ci/cassandra.sh stop               stop every node's process group
#   ci/cassandra.sh status             one node: print release_version, or exit 1; a cluster: one line per node
#                                      (its release_version, and how it sees every node), then nodetool status; exit 1
#                                      unless every node answers and sees all of them up and normal
#   ci/cassandra.sh stop-node ADDRESS  stop one node (TERM: it tells the others it leaves)
#   ci/cassandra.sh kill-node ADDRESS  kill -9 one node (a crash: the others notice through their failure detector);
#                                      `start` brings it back, and it catches up from the others' hints
#   ci/cassandra.sh nodetool ADDRESS ARGS...  Cassandra's nodetool against that node's JMX
# One node per address of SPEEDRUN_CASSANDRA_HOSTS (comma-separated loopback addresses, default 127.0.0.1: one node).
# Several addresses, e.g. 127.0.0.1,127.0.0.2,127.0.0.3, make a cluster: the first address is the seed, each node
# listens on its own address with the same SPEEDRUN_CASSANDRA_PORT (CQL) and SPEEDRUN_CASSANDRA_STORAGE_PORT, node i
# (from 0) has JMX on 127.0.0.1:SPEEDRUN_CASSANDRA_JMX_PORT+i and an evenly spaced token. One datacenter,
# datacenter1 (SimpleSnitch, rack rack1): NetworkTopologyStrategy {'datacenter1': 3}. Hinted handoff is on
# (max_hint_window 3h). The seed starts first, the others once it listens. A cluster is ready when every node answers
# CQL, sees every node NORMAL in gossip (system_views.gossip_info) with one schema, and up in its failure detector
# (a read at ALL of system_distributed, which every node replicates; beyond 3 nodes, nodetool status).
# SPEEDRUN_CASSANDRA_START_TIMEOUT counts for the seed, then again for the others.
# Jars: $SPEEDRUN_CACHE_DIR/cassandra-$CASSANDRA_VERSION/lib (outside the repo, kept between runs).
# SPEEDRUN_CASSANDRA_AUTHENTICATOR=PasswordAuthenticator starts a node that wants credentials (its
# first superuser is cassandra/cassandra; the readiness check logs in with SPEEDRUN_CASSANDRA_USERNAME
# and SPEEDRUN_CASSANDRA_PASSWORD when they are set, else with that superuser). The default lets anyone in.
# The settings it reads are in the README's table of settings (speedrun.kit.settings.SETTINGS).
# One node: data in $SPEEDRUN_BUILD_DIR/cassandra, log $SPEEDRUN_BUILD_DIR/logs/cassandra.log, PID name cassandra.
# A cluster: node ADDRESS in $SPEEDRUN_BUILD_DIR/cassandra-cluster/ADDRESS, log logs/cassandra-ADDRESS.log,
# PID name cassandra-ADDRESS.
SERVICE=cassandra
. "$(dirname "$0")/lib.sh"

CASSANDRA_VERSION=5.0.6
CASSANDRA_HOSTS=()
IFS=, read -r -a _hosts <<< "${SPEEDRUN_CASSANDRA_HOSTS:-127.0.0.1}"
for _host in "${_hosts[@]}"; do _host="${_host//[[:space:]]/}"; [ -z "$_host" ] || CASSANDRA_HOSTS+=("$_host"); done
[ ${#CASSANDRA_HOSTS[@]} -gt 0 ] || CASSANDRA_HOSTS=(127.0.0.1)
CASSANDRA_HOST="${CASSANDRA_HOSTS[0]}"
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
CLUSTER_DIR="$SPEEDRUN_BUILD_DIR/cassandra-cluster"
CLUSTER_HEAP=768m  # per node of a cluster: three of them and a test run share 2 cores and 24 GB
# A node of a cluster that stops announces it for 0.5 s (default 2 s; loopback is instant), then drops the messages it
# still has for the others instead of waiting up to 10 s for nodes that stop at the same time (drain still flushes).
# system_auth (the roles of PasswordAuthenticator) on every node, up to 3, so that logins outlive a node that is down.
# The default superuser is made once every node is up; until then a node retries every superuser_setup_delay_ms
# (0, as for one node, would retry in a busy loop).
# system_distributed on every node too (up to 3): the readiness check reads it at ALL.
_replicas=$(( ${#CASSANDRA_HOSTS[@]} < 3 ? ${#CASSANDRA_HOSTS[@]} : 3 ))
CLUSTER_JVM_OPTIONS=(-Dcassandra.shutdown_announce_in_ms=500 -Dcassandra.test.messagingService.nonGracefulShutdown=true
                     -Dcassandra.superuser_setup_delay_ms=500
                     -Dcassandra.system_auth.default_rf="$_replicas" -Dcassandra.system_distributed.default_rf="$_replicas")
PYTHON="$REPO_ROOT/.venv/bin/python"

is_loopback() { [[ "$1" =~ ^127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] && [ "${BASH_REMATCH[1]}" -le 255 ] && [ "${BASH_REMATCH[2]}" -le 255 ] && [ "${BASH_REMATCH[3]}" -le 255 ]; }
# A cluster: several addresses, all on loopback. Several others (a remote cluster) keep the one-node status check.
CLUSTER=false
if [ ${#CASSANDRA_HOSTS[@]} -gt 1 ]; then
  CLUSTER=true
  for _host in "${CASSANDRA_HOSTS[@]}"; do is_loopback "$_host" || CLUSTER=false; done
fi
hosts_list() { local IFS=,; echo "${CASSANDRA_HOSTS[*]}"; }

# check_hosts: before a start, every address must be one this machine can listen on, once.
check_hosts() {
  local host seen=","
  for host in "${CASSANDRA_HOSTS[@]}"; do
    if [ "$host" = localhost ] && [ ${#CASSANDRA_HOSTS[@]} -gt 1 ]; then
      fail "SPEEDRUN_CASSANDRA_HOSTS=$(hosts_list): a cluster needs one loopback IP address a node (127.0.0.1,127.0.0.2,...), not localhost."
    elif ! is_loopback "$host" && [ "$host" != localhost ]; then
      fail "SPEEDRUN_CASSANDRA_HOSTS=$(hosts_list): '$host' is not a loopback address (127.x.y.z). This script starts nodes on this machine only; a remote cluster or Astra DB runs elsewhere."
    fi
    case "$seen" in *",$host,"*) fail "SPEEDRUN_CASSANDRA_HOSTS=$(hosts_list) names $host twice.";; esac
    seen="$seen$host,"
  done
}

# node_name/node_dir/node_log/node_jmx INDEX: the PID name, folder, log and JMX port of node INDEX (from 0).
node_name() { if $CLUSTER; then echo "cassandra-${CASSANDRA_HOSTS[$1]}"; else echo cassandra; fi; }
node_dir()  { if $CLUSTER; then echo "$CLUSTER_DIR/${CASSANDRA_HOSTS[$1]}"; else echo "$NODE_DIR"; fi; }
node_log()  { if $CLUSTER; then echo "$LOG_DIR/cassandra-${CASSANDRA_HOSTS[$1]}.log"; else echo "$LOG"; fi; }
node_jmx()  { echo $((CASSANDRA_JMX_PORT + $1)); }
# node_token INDEX: evenly spaced Murmur3 tokens, (2i+1-n) * floor((2^63-1)/n) (never overflows; 0 for one node)
node_token() { local n=${#CASSANDRA_HOSTS[@]}; echo $(( (2 * $1 + 1 - n) * (9223372036854775807 / n) )); }
# node_index ADDRESS: the index of ADDRESS in SPEEDRUN_CASSANDRA_HOSTS
node_index() {
  local i
  for i in "${!CASSANDRA_HOSTS[@]}"; do [ "${CASSANDRA_HOSTS[$i]}" != "${1:-}" ] || { echo "$i"; return 0; }; done
  fail "'${1:-}' is not one of SPEEDRUN_CASSANDRA_HOSTS ($(hosts_list))."
}

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

# the --add-exports/--add-opens that Cassandra (and nodetool) need on Java 17
OPENS=()
load_opens() {
  local option
  OPENS=()
  while read -r option; do
    case "$option" in --add-*) OPENS+=("${option/ /=}");; esac
  done < "$REPO_ROOT/ci/cassandra/jvm17-server.options"
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

# cluster_cql wait SECONDS ADDRESS=PIDFILE... | cluster_cql status: every node asked over CQL on its own (a
# white-list policy): its release_version, and its gossip view (system_views.gossip_info) of every node.
# wait: polls every second until every node answers and sees every node NORMAL in its latest generation
# (exit 0), a node's process is gone (exit 3, prints its address) or SECONDS passed (exit 4, prints what is missing).
# status: prints ADDRESS<TAB>up<TAB>release_version<TAB>gossip view, or ADDRESS<TAB>down<TAB>why, one line a node.
cluster_cql() {
  [ -x "$PYTHON" ] || fail "$PYTHON is missing: run ci/setup.sh first (the readiness check uses cassandra-driver)."
  "$PYTHON" - "$(hosts_list)" "$CASSANDRA_PORT" "$CASSANDRA_AUTHENTICATOR" "$@" <<'PY'
import logging, os, sys, time, warnings
logging.disable(logging.CRITICAL)  # the driver's warnings about nodes that do not answer yet
warnings.simplefilter('ignore', DeprecationWarning)  # the driver's, about load_balancing_policy outside an execution profile
from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement
hosts, port, authenticator, mode = sys.argv[1].split(','), int(sys.argv[2]), sys.argv[3], sys.argv[4]
auth = None
if authenticator == 'PasswordAuthenticator':
    auth = PlainTextAuthProvider(os.environ.get('SPEEDRUN_CASSANDRA_USERNAME') or 'cassandra', os.environ.get('SPEEDRUN_CASSANDRA_PASSWORD') or 'cassandra')
elif os.environ.get('SPEEDRUN_CASSANDRA_USERNAME'):
    auth = PlainTextAuthProvider(os.environ['SPEEDRUN_CASSANDRA_USERNAME'], os.environ.get('SPEEDRUN_CASSANDRA_PASSWORD', ''))

# With up to 3 nodes, every node holds a replica of every system_distributed partition (replication factor 3), so a
# read at ALL fails at once (Unavailable) unless its coordinator's failure detector sees every node up.
ALL_UP = SimpleStatement("SELECT id FROM system_distributed.repair_history WHERE keyspace_name = 'speedrun' AND columnfamily_name = 'probe' LIMIT 1",
                         consistency_level=ConsistencyLevel.ALL)

def ask(host):
    "HOST's release_version, its gossip view {address: row} and whether it sees all up (None: not known); raises when it does not answer."
    cluster = Cluster([host], port=port, load_balancing_policy=WhiteListRoundRobinPolicy([host]), connect_timeout=2,
                      control_connection_timeout=2, auth_provider=auth)
    try:
        session = cluster.connect()
        local = session.execute("SELECT release_version, bootstrapped FROM system.local").one()
        gossip = {str(row.address): row for row in session.execute('SELECT address, generation, status_with_port, "schema" FROM system_views.gossip_info')}
        all_up = None
        if len(hosts) <= 3:
            try: all_up = session.execute(ALL_UP, timeout=3) is not None
            except Exception: all_up = False
        return local, gossip, all_up
    finally:
        cluster.shutdown()

def ask_all():
    answers = {}
    for host in hosts:
        try: answers[host] = ask(host)
        except Exception as error:
            answers[host] = 'refuses the credentials' if 'Authentication' in str(error) else f'no CQL answer ({type(error).__name__})'
    return answers

def state(answers, host, other):
    "How HOST sees OTHER in gossip: NORMAL only when in OTHER's own latest generation."
    row = answers[host][1].get(other)
    if row is None: return 'unknown'
    status = (row.status_with_port or 'without status yet').split(',')[0]
    own = answers[other][1].get(other) if isinstance(answers[other], tuple) else None
    if status == 'NORMAL' and own is not None and own.generation != row.generation: return 'NORMAL(old generation)'
    return status

def missing(answers):
    out = []
    for host in hosts:
        if not isinstance(answers[host], tuple): out.append(f'{host}: {answers[host]}'); continue
        if answers[host][0].bootstrapped != 'COMPLETED': out.append(f'{host}: not bootstrapped'); continue
        out += [f'{host} sees {other} {state(answers, host, other)}' for other in hosts if state(answers, host, other) != 'NORMAL']
    if not out and len({answers[host][1][host].schema for host in hosts}) > 1: out.append('the nodes do not agree on the schema yet')
    if not out: out = [f'{host} does not see every node up yet' for host in hosts if answers[host][2] is False]
    return out

def alive(pidfile):
    try: pid = open(pidfile).read().strip()
    except OSError: return False
    try: return open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError): return False

if mode == 'status':
    answers = ask_all()
    for host in hosts:
        if isinstance(answers[host], tuple):
            print(host, 'up', answers[host][0].release_version, ' '.join(f'{other}={state(answers, host, other)}' for other in hosts), sep='\t')
        else: print(host, 'down', answers[host], sep='\t')
    sys.exit(0)
deadline, pidfiles = time.monotonic() + float(sys.argv[5]), dict(pair.split('=', 1) for pair in sys.argv[6:])
while True:
    for host, pidfile in pidfiles.items():
        if not alive(pidfile): print(host); sys.exit(3)
    problems = missing(ask_all())
    if not problems: sys.exit(0)
    if time.monotonic() > deadline: print('; '.join(problems)); sys.exit(4)
    time.sleep(1)
PY
}

port_open() { (exec 3<>"/dev/tcp/$CASSANDRA_HOST/$CASSANDRA_PORT") 2>/dev/null; }
listening() { ss -Hltn "sport = :$2" 2>/dev/null | grep -qF "$1:$2"; }  # listening HOST PORT, without connecting

# nodetool INDEX ARGS...: Cassandra's nodetool against node INDEX's JMX (a JVM of its own: about 1 s)
NODETOOL_LOGBACK="$RUN_DIR/nodetool-logback.xml"
nodetool_setup() {  # the --add-opens, and a log configuration: warnings and errors to stderr, as Cassandra's logback-tools.xml
  [ ${#OPENS[@]} -gt 0 ] || load_opens
  [ ! -f "$NODETOOL_LOGBACK" ] || return 0
  printf '%s\n' '<configuration><appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender"><target>System.err</target>' \
    '<encoder><pattern>%-5level %msg%n</pattern></encoder></appender><root level="WARN"><appender-ref ref="STDERR"/></root></configuration>' \
    > "$NODETOOL_LOGBACK.$BASHPID" && mv -f "$NODETOOL_LOGBACK.$BASHPID" "$NODETOOL_LOGBACK"
}
nodetool() {
  local jmx; jmx=$(node_jmx "$1"); shift
  nodetool_setup
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Duser.home="$RUN_DIR" -Dlogback.configurationFile="$NODETOOL_LOGBACK" "${OPENS[@]}" \
    -cp "$JAR_DIR/*" org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$jmx" "$@"
}

# ring_views DIR: nodetool status on every node at once (outputs kept in DIR/INDEX); prints ADDRESS<TAB>VIEW a node,
# VIEW how its failure detector sees the configured nodes, like "127.0.0.1=UN 127.0.0.2=DN 127.0.0.3=UN" (empty when
# nodetool failed there)
ring_views() {
  local dir=$1 i host state view pids=()
  nodetool_setup
  for i in "${!CASSANDRA_HOSTS[@]}"; do nodetool "$i" status >"$dir/$i" 2>&1 & pids+=($!); done
  wait "${pids[@]}" || true
  for i in "${!CASSANDRA_HOSTS[@]}"; do
    view=""
    if grep -q '^Datacenter' "$dir/$i"; then
      for host in "${CASSANDRA_HOSTS[@]}"; do
        state=$(awk -v host="$host" '$2 == host {print $1; exit}' "$dir/$i")
        view="$view $host=${state:-?}"
      done
    fi
    printf '%s\t%s\n' "${CASSANDRA_HOSTS[$i]}" "${view# }"
  done
}
# all_up VIEW: every configured node appears as UN in VIEW
all_up() { local host; for host in "${CASSANDRA_HOSTS[@]}"; do [[ " $1 " == *" $host=UN "* ]] || return 1; done; }

# wait_ring_up: until nodetool status on every node says every node is UN (up, normal), 20 s at most; else prints the views
wait_ring_up() {
  local work outcome i view; work=$(mktemp -d)
  for _ in $(seq 1 20); do
    outcome=0
    while IFS=$'\t' read -r i view; do all_up "$view" || outcome=1; done < <(ring_views "$work")
    [ "$outcome" = 1 ] || break
    sleep 1
  done
  [ "$outcome" = 0 ] || ring_views "$work" | tr '\t\n' ': '
  rm -rf "$work"
  return "$outcome"
}

# prepare_node INDEX: the node's folders and configuration
prepare_node() {
  local dir host=${CASSANDRA_HOSTS[$1]}; dir=$(node_dir "$1")
  mkdir -p "$dir"/{conf,data,commitlog,saved_caches,hints,cdc_raw,tmp}
  sed -e "s|@LISTEN_ADDRESS@|$host|g" -e "s|@STORAGE_PORT@|$CASSANDRA_STORAGE_PORT|g" \
      -e "s|@NATIVE_PORT@|$CASSANDRA_PORT|g" -e "s|@STORAGE_DIR@|$dir|g" \
      -e "s|@SEEDS@|$CASSANDRA_HOST:$CASSANDRA_STORAGE_PORT|g" -e "s|@INITIAL_TOKEN@|$(node_token "$1")|g" \
      -e "s|^authenticator: .*|authenticator: $CASSANDRA_AUTHENTICATOR|" \
      "$REPO_ROOT/ci/cassandra/cassandra.yaml.in" > "$dir/conf/cassandra.yaml"
  cp "$REPO_ROOT/ci/cassandra/logback.xml" "$dir/conf/logback.xml"
}

# launch_node INDEX HEAP [JVM OPTION...]: starts node INDEX detached (its own process group and PID file)
launch_node() {
  local index=$1 heap=$2 dir; dir=$(node_dir "$1"); shift 2
  [ ${#OPENS[@]} -gt 0 ] || load_opens
  start_detached "$(node_name "$index")" "$(node_log "$index")" java \
    -Xms"$heap" -Xmx"$heap" -Xss256k -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
    -Djava.net.preferIPv4Stack=true -Djdk.attach.allowAttachSelf=true -Dio.netty.tryReflectionSetAccessible=true \
    "${OPENS[@]}" \
    -Dcassandra.config="file://$dir/conf/cassandra.yaml" \
    -Dcassandra-foreground=yes \
    -Dcassandra.storagedir="$dir" -Dcassandra.logdir="$LOG_DIR" \
    -Dlogback.configurationFile="$dir/conf/logback.xml" \
    -Dcassandra.jmx.local.port="$(node_jmx "$index")" \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.initial_token="$(node_token "$index")" \
    -Dcassandra.ignore_kernel_bug_1057843_check=true \
    -Djava.io.tmpdir="$dir/tmp" -Djna.tmpdir="$dir/tmp" "$@" \
    -cp "$dir/conf:$JAR_DIR/*" org.apache.cassandra.service.CassandraDaemon
}

start() {
  if pid_alive cassandra; then
    say "already running (pid $(cat "$RUN_DIR/cassandra.pid")), release $(cql_ready 2>/dev/null || echo '?')"
    return 0
  fi
  check_java
  check_hosts
  for port in "$CASSANDRA_PORT:SPEEDRUN_CASSANDRA_PORT" "$CASSANDRA_STORAGE_PORT:SPEEDRUN_CASSANDRA_STORAGE_PORT" "$CASSANDRA_JMX_PORT:SPEEDRUN_CASSANDRA_JMX_PORT"; do
    require_free_port "$CASSANDRA_HOST" "${port%%:*}" "${port##*:}"
  done
  fetch
  prepare_node 0
  say "starting Cassandra $CASSANDRA_VERSION on $CASSANDRA_HOST:$CASSANDRA_PORT with $CASSANDRA_AUTHENTICATOR (log: $LOG)"
  local began=$SECONDS
  launch_node 0 1g -Dcassandra.superuser_setup_delay_ms=0
  wait_until "$CASSANDRA_START_TIMEOUT" cassandra "$LOG" port_open
  wait_until 30 cassandra "$LOG" cql_ready
  say "ready in $((SECONDS - began)) s: release_version $(cql_ready)"
}

# stop_started INDEX...: stops the nodes this start launched (after a failed start)
stop_started() { local i pids=(); [ $# -gt 0 ] || return 0; for i in "$@"; do stop_group "$(node_name "$i")" & pids+=($!); done; wait "${pids[@]}"; }

start_cluster() {
  local n=${#CASSANDRA_HOSTS[@]} i missing=() launch=() pairs=() outcome view
  check_hosts
  for i in "${!CASSANDRA_HOSTS[@]}"; do pid_alive "$(node_name "$i")" || missing+=("$i"); done
  local began=$SECONDS
  if [ ${#missing[@]} -eq 0 ]; then
    say "all $n nodes already running ($(hosts_list))"
  else
    check_java
    for i in "${missing[@]}"; do
      require_free_port "${CASSANDRA_HOSTS[$i]}" "$CASSANDRA_PORT" SPEEDRUN_CASSANDRA_PORT
      require_free_port "${CASSANDRA_HOSTS[$i]}" "$CASSANDRA_STORAGE_PORT" SPEEDRUN_CASSANDRA_STORAGE_PORT
      require_free_port 127.0.0.1 "$(node_jmx "$i")" SPEEDRUN_CASSANDRA_JMX_PORT
    done
    fetch
    load_opens
    for i in "${missing[@]}"; do prepare_node "$i"; done
    launch=("${missing[@]}")
    # A cluster's nodes keep the default share of the CPU, whatever this shell's nice value (ci/lib.sh, keep_niceness): at
    # make test's nice 10 beside the chapters, a node killed and started again took more than 120 s to answer, and reads at
    # LOCAL_QUORUM timed out on the node's side while one of three was down (two fresh-clone runs, tests/test_cluster.py).
    KEEP_NICENESS=no
    say "starting ${#missing[@]} of $n Cassandra $CASSANDRA_VERSION nodes ($(hosts_list); seed $CASSANDRA_HOST), CQL port $CASSANDRA_PORT, $CASSANDRA_AUTHENTICATOR (logs: $LOG_DIR/cassandra-ADDRESS.log)"
    # the seed alone until it listens to the others: a node's first gossip (its shadow round) is with the seed, and
    # the seed starts sooner with the cores to itself; then the others all at once
    if [ "${missing[0]}" = 0 ] && [ ${#missing[@]} -gt 1 ]; then
      launch_node 0 "$CLUSTER_HEAP" "${CLUSTER_JVM_OPTIONS[@]}"
      wait_until "$CASSANDRA_START_TIMEOUT" "$(node_name 0)" "$(node_log 0)" listening "$CASSANDRA_HOST" "$CASSANDRA_STORAGE_PORT"
      launch=("${missing[@]:1}")
    fi
    for i in "${launch[@]}"; do launch_node "$i" "$CLUSTER_HEAP" "${CLUSTER_JVM_OPTIONS[@]}"; done
  fi
  # SPEEDRUN_CASSANDRA_START_TIMEOUT for the seed alone, then again for the others (and the checks)
  for i in "${!CASSANDRA_HOSTS[@]}"; do pairs+=("${CASSANDRA_HOSTS[$i]}=$RUN_DIR/$(node_name "$i").pid"); done
  outcome=0; view=$(cluster_cql wait "$CASSANDRA_START_TIMEOUT" "${pairs[@]}") || outcome=$?
  case "$outcome" in
    0) ;;
    3) i=$(node_index "$view"); tail -n 25 "$(node_log "$i")" >&2 || true; rm -f "$RUN_DIR/$(node_name "$i").pid"
       stop_started "${missing[@]}"
       fail "node $view exited during start-up; the last lines of $(node_log "$i") are above.";;
    4) stop_started "${missing[@]}"
       fail "the cluster was not ready ${CASSANDRA_START_TIMEOUT}s after its last nodes started: $view (logs: $LOG_DIR/cassandra-*.log; SPEEDRUN_CASSANDRA_START_TIMEOUT=... waits longer)";;
    *) stop_started "${missing[@]}"; fail "the readiness check failed: $view";;
  esac
  if [ "$n" -gt 3 ] && ! view=$(wait_ring_up); then  # beyond 3 nodes the read at ALL does not reach every node
    stop_started "${missing[@]}"
    fail "every node answers CQL, but not every node sees all up after 20 s: $view"
  fi
  say "cluster of $n ready in $((SECONDS - began)) s ($(hosts_list)): every node sees all up and normal, datacenter1"
}

status_cluster() {
  local work host state detail gossip view i outcome=0 cql ring; work=$(mktemp -d)
  cluster_cql status > "$work/cql" & cql=$!
  ring_views "$work" > "$work/ring" & ring=$!
  wait "$ring" || true
  wait "$cql" || { rm -rf "$work"; fail "the status check over CQL failed."; }
  while IFS=$'\t' read -r host state detail gossip; do
    if [ "$state" = up ]; then
      view=$(awk -F'\t' -v host="$host" '$1 == host {print $2}' "$work/ring")
      all_up "$view" || outcome=1
      printf '%-15s up    release_version %s, sees %s\n' "$host" "$detail" "${view:-? (nodetool failed; gossip says $gossip)}"
    else
      outcome=1
      printf '%-15s down  %s\n' "$host" "$detail"
    fi
  done < "$work/cql"
  for i in "${!CASSANDRA_HOSTS[@]}"; do
    if grep -q '^Datacenter' "$work/$i"; then
      echo "nodetool status, as ${CASSANDRA_HOSTS[$i]} sees the ring:"; sed -n '/^Datacenter/,$p' "$work/$i"; break
    fi
  done
  rm -rf "$work"
  return $outcome
}

stop_cluster() { local i pids=(); for i in "${!CASSANDRA_HOSTS[@]}"; do stop_group "$(node_name "$i")" & pids+=($!); done; wait "${pids[@]}"; }

kill_node() {
  local i name pid; i=$(node_index "$1"); name=$(node_name "$i")
  if ! pid_alive "$name"; then rm -f "$RUN_DIR/$name.pid"; say "node $1 is not running"; return 0; fi
  pid=$(cat "$RUN_DIR/$name.pid")
  kill -KILL -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do pgrep -g "$pid" >/dev/null 2>&1 || break; sleep 0.25; done
  rm -f "$RUN_DIR/$name.pid"
  say "node $1 killed (kill -9 of pid $pid)"
}

usage() { echo "usage: $0 fetch|start|stop|status|stop-node ADDRESS|kill-node ADDRESS|nodetool ADDRESS ARGS..." >&2; exit 2; }
case "${1:-}" in
  fetch) fetch ;;
  start) if $CLUSTER; then start_cluster; else start; fi ;;
  stop) if $CLUSTER; then stop_cluster; else stop_group cassandra; fi ;;
  status) if $CLUSTER; then status_cluster; else cql_ready; fi ;;
  stop-node) [ $# -eq 2 ] || usage; i=$(node_index "$2"); stop_group "$(node_name "$i")" ;;
  kill-node) [ $# -eq 2 ] || usage; kill_node "$2" ;;
  nodetool) [ $# -ge 3 ] || usage; i=$(node_index "$2"); shift 2; nodetool "$i" "$@" ;;
  *) usage ;;
esac
