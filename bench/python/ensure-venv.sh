#!/usr/bin/env bash
# Creates (once) the benchmark-only Python virtualenv at bench/.venv and installs the given packages into it.
# Python is never a runtime dependency of funnelcast; only benchmarks compare against scikit-learn / PyTorch /
# pandas. Prints the venv's python path on success; exits 3 with a message when Python is unavailable.
# Usage: bench/python/ensure-venv.sh scikit-learn pandas pyarrow
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"
py=${PYTHON:-python3}
if ! command -v "$py" >/dev/null 2>&1; then echo "python3 not found: reference benchmarks skipped" >&2; exit 3; fi
mkdir -p "$here/.cache"
exec 9>"$here/.cache/venv.lock"
flock 9   # several suites may ask at once
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv" >&2
missing=()
for pkg in "$@"; do
  mod=${pkg%%[=<>]*}; mod=${mod//-/_}; [ "$mod" = scikit_learn ] && mod=sklearn; [ "$mod" = xgboost_cpu ] && mod=xgboost
  "$venv/bin/python" -c "import $mod" 2>/dev/null || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then "$venv/bin/pip" install -q --disable-pip-version-check "${missing[@]}" >&2; fi
echo "$venv/bin/python"
