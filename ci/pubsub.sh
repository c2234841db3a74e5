#!/usr/bin/env bash
# The Google Pub/Sub emulator (gcloud's pubsub-emulator component) on loopback.
#   ci/pubsub.sh start    start it, wait until it answers (idempotent)
#   ci/pubsub.sh stop     stop gcloud and its Java child (the whole process group)
#   ci/pubsub.sh status   exit 0 when it answers
# Address: $PUBSUB_EMULATOR_HOST (default 127.0.0.1:8085); project: $PUBSUB_PROJECT_ID.
# Log: $SPEEDRUN_BUILD_DIR/logs/pubsub.log. The emulator keeps its topics in memory only.
SERVICE=pubsub
. "$(dirname "$0")/lib.sh"

EMULATOR="${PUBSUB_EMULATOR_HOST:-127.0.0.1:8085}"
[ -n "$EMULATOR" ] || fail "PUBSUB_EMULATOR_HOST is empty, which means real Pub/Sub: there is no emulator to start."
HOST="${EMULATOR%:*}"; PORT="${EMULATOR##*:}"
PROJECT="${PUBSUB_PROJECT_ID:-speedrun-local}"
LOG="$LOG_DIR/pubsub.log"

answers() { [ "$(curl -s -m 1 "http://$HOST:$PORT/")" = "Ok" ]; }

start() {
  if pid_alive pubsub; then
    answers || fail "the emulator's process is running but does not answer on $HOST:$PORT (log: $LOG)."
    say "already running on $HOST:$PORT"
    return 0
  fi
  need java "Install a Java runtime (Debian: apt-get install openjdk-17-jre-headless); the emulator is a Java program."
  need gcloud "Install the Google Cloud CLI with its pubsub-emulator component."
  [ -d "$(dirname "$(readlink -f "$(command -v gcloud)")")/../platform/pubsub-emulator" ] \
    || fail "gcloud's pubsub-emulator component is missing (gcloud components install pubsub-emulator, or apt-get install google-cloud-cli-pubsub-emulator)."
  require_free_port "$HOST" "$PORT" PUBSUB_EMULATOR_HOST
  say "starting the emulator on $HOST:$PORT for project $PROJECT (log: $LOG)"
  local began=$SECONDS
  JAVA_TOOL_OPTIONS="${PUBSUB_JAVA_TOOL_OPTIONS:--Xmx256m}" \
    start_detached pubsub "$LOG" gcloud beta emulators pubsub start --host-port="$HOST:$PORT" --project="$PROJECT" --quiet
  wait_until 60 pubsub "$LOG" answers
  say "ready in $((SECONDS - began)) s"
}

case "${1:-}" in
  start) start ;;
  stop) stop_group pubsub ;;
  status) answers ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
