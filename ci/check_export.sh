#!/usr/bin/env bash
# Fails when generated/ is not exactly what nbdev_export makes of nbs/ (an edited notebook that was
# not exported, a hand edit under generated/, or a module whose notebook is gone). The export runs
# in a scratch copy, so the working tree is never touched.
SERVICE=export-check
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
cp settings.ini environment.yml pyproject.toml "$scratch/"
cp -r nbs "$scratch/nbs"
mkdir -p "$scratch/generated/speedrun"
cp generated/speedrun/__init__.py "$scratch/generated/speedrun/"
(cd "$scratch" && "$REPO_ROOT/.venv/bin/nbdev_export") || fail "nbdev_export failed on nbs/ (above)."
if ! diff -r -q -x __pycache__ generated/speedrun "$scratch/generated/speedrun" > "$scratch/differences"; then
  sed 's|'"$scratch"'/|fresh export: |' "$scratch/differences" >&2
  fail "generated/ is not what nbs/ exports. Run 'make export' (nbdev_export), then commit nbs/ and generated/ together. Never edit generated/ by hand."
fi
say "generated/ is exactly what nbs/ exports"
