#!/usr/bin/env bash
# Create/refresh the project's Python venv ($ROOT/.venv) for test tooling.
#
# - Creates the venv with the machine's python3 (override with PYTHON=...) when missing.
# - pip-installs every scripts/requirements-*.txt in ONE pip run (so conflicting pins
#   between files fail loudly instead of silently replacing each other).
# - Fast no-op when the stamp file says the requirement files (and the interpreter)
#   are unchanged since the last successful install.
# - Safe to run concurrently (flock), quiet unless something fails.
#
# Needs only python3 (with the venv module) and access to PyPI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.ecs-drain-requirements.sha256"
PYTHON="${PYTHON:-python3}"

shopt -s nullglob
REQS=("$ROOT"/scripts/requirements-*.txt)
shopt -u nullglob
if [ "${#REQS[@]}" -eq 0 ]; then
    echo "bootstrap-python: no scripts/requirements-*.txt found" >&2
    exit 1
fi

want_hash() {
    {
        "$PYTHON" -c 'import sys; print(sys.version)'
        for f in "${REQS[@]}"; do
            printf '== %s\n' "$(basename "$f")"
            cat "$f"
        done
    } | sha256sum | cut -d' ' -f1
}

up_to_date() {
    [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
        && "$VENV/bin/python" -c '' 2>/dev/null
}

WANT="$(want_hash)"
if up_to_date; then
    exit 0
fi

# Serialise concurrent bootstraps of the same checkout.
LOCK="${TMPDIR:-/tmp}/ecs-drain-bootstrap-$(printf '%s' "$ROOT" | sha256sum | cut -c1-16).lock"
exec 9>"$LOCK"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
if up_to_date; then
    exit 0
fi

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

rm -f "$STAMP"
PIP_ARGS=()
for f in "${REQS[@]}"; do
    PIP_ARGS+=(-r "$f")
done
LOG="$(mktemp)"
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "${PIP_ARGS[@]}" >"$LOG" 2>&1; then
    cat "$LOG" >&2
    rm -f "$LOG"
    echo "bootstrap-python: pip install failed (${REQS[*]})" >&2
    exit 1
fi
rm -f "$LOG"
printf '%s\n' "$WANT" >"$STAMP"
