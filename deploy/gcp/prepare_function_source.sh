#!/usr/bin/env bash
# Fill deploy/gcp/batch_function/ for Cloud Functions: the speedrun wheel and a requirements.txt
# naming it beside the pinned dependencies. Run before `terraform apply` (the archive is made from it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; root="$(cd "$here/../.." && pwd)"
rm -rf "$here/batch_function/wheels"
"$root/.venv/bin/pip" wheel --no-deps --no-build-isolation -w "$here/batch_function/wheels" "$root" >/dev/null
wheel="$(cd "$here/batch_function" && ls wheels/*.whl)"
{ grep -v '^#' "$here/requirements.txt"; echo "./$wheel"; } > "$here/batch_function/requirements.txt"
echo "function source ready: $here/batch_function ($wheel)"
