# Shared shell helpers of the ci/ scripts: paths, port checks, start and stop by process group.
# Sourced, never run. Every service writes its log to $SPEEDRUN_BUILD_DIR/logs and its PID to
# $SPEEDRUN_BUILD_DIR/run, so `make clean` removes all of it.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$REPO_ROOT/.env" ]; then set -a; . "$REPO_ROOT/.env"; set +a; fi
SPEEDRUN_BUILD_DIR="${SPEEDRUN_BUILD_DIR:-$REPO_ROOT/build}"
SPEEDRUN_CACHE_DIR="${SPEEDRUN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-speedrun}"
LOG_DIR="$SPEEDRUN_BUILD_DIR/logs"
RUN_DIR="$SPEEDRUN_BUILD_DIR/run"
mkdir -p "$LOG_DIR" "$RUN_DIR"

say()  { printf '[%s] %s\n' "${SERVICE:-ci}" "$*" >&2; }
fail() { printf '[%s] ERROR: %s\n' "${SERVICE:-ci}" "$*" >&2; exit 1; }

# need COMMAND "what to do when missing"
need() { command -v "$1" >/dev/null 2>&1 || fail "'$1' is not installed or not on PATH. $2"; }

# port_owner HOST PORT: prints "pid/command" of the listener, or nothing when the port is free.
port_owner() {
  local listing
  listing=$(ss -Hltnp "sport = :$2" 2>/dev/null | grep -E "($1|0\.0\.0\.0|\*|\[::\]):$2\b" || true)
  [ -n "$listing" ] || return 0
  echo "$listing" | grep -oE 'users:\(\("[^"]+",pid=[0-9]+' | head -1 | sed -E 's/users:\(\("([^"]+)",pid=([0-9]+)/pid \2 (\1)/' || echo "unknown process"
}

# require_free_port HOST PORT SETTING: fails with the owner's name when something already listens.
require_free_port() {
  local owner
  owner=$(port_owner "$1" "$2")
  [ -z "$owner" ] || fail "port $1:$2 is already taken by $owner. Stop that process or choose another port with $3=..."
}

# pid_alive NAME: true while any process of NAME's process group (its PID file) is running.
pid_alive() {
  local pidfile="$RUN_DIR/$1.pid"
  [ -f "$pidfile" ] && pgrep -g "$(cat "$pidfile")" >/dev/null 2>&1
}

# start_detached NAME LOG COMMAND...: runs COMMAND in a new session (its own process group).
start_detached() {
  local name=$1 log=$2; shift 2
  setsid "$@" >"$log" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$RUN_DIR/$name.pid"
  # until the child has made its session, no process is in group PID and pid_alive would call it dead
  # (a busy machine showed that window: "exited during start-up" with an empty log and the node left running)
  for _ in $(seq 1 100); do
    pgrep -g "$pid" >/dev/null 2>&1 || ! kill -0 "$pid" 2>/dev/null && break
    sleep 0.05
  done
  keep_niceness "$pid"
}

# keep_niceness PID: gives the scheduler group of PID's session this shell's nice value (not with KEEP_NICENESS=no). A session of its own is a group of
# its own, which Linux weighs as much as this shell's whole session whatever the nice values inside it, so without this the
# nodes and the emulator started by `make test`'s independent group (nice 10) would take the CPU at nice 0 (speedrun.kit.inheritance).
# Linux takes one such change per 100 ms from a process without CAP_SYS_ADMIN: hence the tries.
keep_niceness() {
  local niceness; niceness=$(nice)
  [ "${KEEP_NICENESS:-yes}" = yes ] && [ "$niceness" != 0 ] && [ -e "/proc/$1/autogroup" ] || return 0
  for _ in $(seq 1 30); do
    { echo "$niceness" > "/proc/$1/autogroup"; } 2>/dev/null && return 0
    sleep 0.05
  done
  say "could not give process $1's session nice $niceness; it runs at nice 0 beside the other sessions"
}

# wait_until SECONDS NAME LOG CHECK...: polls CHECK every 0.5 s; fails with the log's tail on time-out
# or when the process died.
wait_until() {
  local seconds=$1 name=$2 log=$3; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$name"; then
      if [ -s "$log" ]; then tail -n 25 "$log" >&2 || true; else say "$log is empty: $name ended before it wrote a line"; fi
      rm -f "$RUN_DIR/$name.pid"
      fail "$name exited during start-up; the last lines of $log are above."
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 25 "$log" >&2 || true
      stop_group "$name"
      fail "$name was not ready after ${seconds}s; the last lines of $log are above."
    fi
    sleep 0.5
  done
}

# stop_group NAME: TERM to the whole process group, KILL after 20 s, PID file removed.
stop_group() {
  local name=$1 pidfile="$RUN_DIR/$1.pid" pid
  [ -f "$pidfile" ] || { say "$name is not running (no PID file)"; return 0; }
  pid=$(cat "$pidfile")
  if pgrep -g "$pid" >/dev/null 2>&1; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      pgrep -g "$pid" >/dev/null 2>&1 || break
      sleep 0.5
    done
    if pgrep -g "$pid" >/dev/null 2>&1; then
      say "$name did not stop within 20 s; killing its process group"
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
  say "$name stopped"
}
