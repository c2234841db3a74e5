#!/usr/bin/env bash
# Builds the project's environment in .venv from environment.yml, the one list of dependencies.
# With conda on PATH (and SPEEDRUN_USE_CONDA not 0) it runs `conda env update --prefix .venv`;
# otherwise a Python 3.11 venv and pip. Either way: the workbook installed editable (import
# speedrun from anywhere), `pip check` clean, and a Jupyter kernel "mlops-speedrun" inside .venv.
# Also installs Debian's chromium and graphviz (as root) when they are missing.
# Idempotent: keyed on a hash of environment.yml and pyproject.toml, a second run takes a second.
SERVICE=setup
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

VENV="$REPO_ROOT/.venv"
STAMP="$VENV/.speedrun-environment-hash"
KERNEL_NAME=mlops-speedrun
wanted=$(cat environment.yml pyproject.toml | sha256sum | cut -c1-16)

# System packages pip cannot provide, installed from Debian when their command is missing (as root):
#   debian_package COMMAND PACKAGE WHAT-NEEDS-IT
debian_package() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's $2 for $3"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } > "$LOG_DIR/apt-$2.log" 2>&1 \
      || { tail -n 20 "$LOG_DIR/apt-$2.log" >&2; fail "could not install $2 (log: $LOG_DIR/apt-$2.log)."; }
  else
    fail "$1 is missing: install Debian's $2 package (sudo apt-get install $2); $3 need it."
  fi
}
# Chromium for the web client's browser tests (Playwright drives Debian's build; its own browser
# downloads are not reachable here); Graphviz's dot for the chapters' architecture diagrams
# (speedrun.tools.diagrams; the test redraws them and compares with the committed SVGs).
debian_package chromium chromium "the browser tests"
debian_package dot graphviz "the architecture diagrams"
# wrk, a compiled HTTP load generator: `make bench` measures the servers with it (speedrun.kit.measuring.measure_wrk).
debian_package wrk wrk "make bench and its tests"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ] && [ -x "$VENV/bin/python" ]; then
  say "environment up to date ($VENV)"
  exit 0
fi

UV_VERSION=0.13.8
began=$SECONDS
if command -v conda >/dev/null 2>&1 && [ "${SPEEDRUN_USE_CONDA:-1}" != 0 ]; then
  say "building $VENV with conda from environment.yml"
  conda env update --prefix "$VENV" --file environment.yml --prune
else
  python_for_venv="${SPEEDRUN_PYTHON:-$(command -v python3.11 || true)}"
  [ -n "$python_for_venv" ] || fail "Python 3.11 is needed (cassandra-driver uses asyncore, removed in 3.12). Install it or set SPEEDRUN_PYTHON=/path/to/python3.11."
  version=$("$python_for_venv" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  [ "$version" = 3.11 ] || fail "$python_for_venv is Python $version; the workbook needs 3.11 (set SPEEDRUN_PYTHON)."
  [ -x "$VENV/bin/python" ] || { say "creating $VENV with $python_for_venv"; "$python_for_venv" -m venv "$VENV"; }
  requirements="$VENV/requirements-from-environment.txt"
  # the pip list of environment.yml: the "- name==version" lines under "- pip:"
  awk '/^[[:space:]]*- pip:/ {in_pip=1; next} in_pip && /^[[:space:]]*- / {sub(/^[[:space:]]*- /, ""); print}' \
    environment.yml > "$requirements"
  # uv installs the same pins in a quarter of pip's time (33 s against 139 s here: parallel downloads and unpacking), and
  # byte-compiles them: this machine class sets PYTHONDONTWRITEBYTECODE=1, so nothing would be compiled later. pip's
  # configuration (find-links, certificates) is passed on; should uv fail, pip installs instead.
  say "installing $(wc -l < "$requirements") pinned packages with uv $UV_VERSION (pip if that fails; a minute or so on a fresh machine)"
  if ! { "$VENV/bin/python" -m pip install --quiet "uv==$UV_VERSION" &&
         "$VENV/bin/python" -m uv --quiet pip install --python "$VENV/bin/python" --native-tls --compile-bytecode \
           ${PIP_FIND_LINKS:+--find-links "$PIP_FIND_LINKS"} --requirement "$requirements"; }; then
    say "uv could not install them; pip installs them instead (a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --requirement "$requirements"
  fi
fi
say "installing the workbook (generated/speedrun) in editable mode"
"$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation --editable "$REPO_ROOT"
"$VENV/bin/python" -m pip check >&2 || fail "pip check found broken requirements (above)."
"$VENV/bin/python" -m ipykernel install --sys-prefix --name "$KERNEL_NAME" --display-name "Python 3.11 (mlops-speedrun)" >/dev/null
echo "$wanted" > "$STAMP"
say "environment ready in $((SECONDS - began)) s: $VENV, Jupyter kernel '$KERNEL_NAME'"
