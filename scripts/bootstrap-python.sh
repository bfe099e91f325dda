#!/usr/bin/env bash
# Create/refresh the project's Python venv ($ROOT/.venv) for test tooling.
#
# - Creates the venv with the machine's python3 (override with PYTHON=...) when missing.
# - pip-installs every scripts/requirements-*.txt in ONE pip run (so conflicting pins
#   between files fail loudly instead of silently replacing each other).
# - Fast no-op when the stamp file says the requirement files (and the interpreter)
#   are unchanged since the last successful install.
# - Safe to run concurrently (flock), quiet unless something fails.
# - --progress (what `make demo` uses): says what it installs and how long that takes, shows
#   pip's own progress, and the time it took; one line when the venv is already up to date.
#
# Needs only python3 (with the venv module) and access to PyPI.
set -euo pipefail

PROGRESS=0
case "${1:-}" in
    "") ;;
    --progress) PROGRESS=1 ;;
    *) echo "usage: bootstrap-python.sh [--progress]" >&2; exit 2 ;;
esac
say() {
    if [ "$PROGRESS" = 1 ]; then
        echo "bootstrap-python: $*"
    fi
}

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
    say "the emulator's venv ($VENV) is up to date"
    exit 0
fi

# Serialise concurrent bootstraps of the same checkout.
LOCK="${TMPDIR:-/tmp}/ecs-drain-bootstrap-$(printf '%s' "$ROOT" | sha256sum | cut -c1-16).lock"
exec 9>"$LOCK"
if command -v flock >/dev/null 2>&1; then
    if ! flock -n 9; then
        say "another bootstrap of this checkout is running; waiting for it"
        flock 9
    fi
fi
if up_to_date; then
    say "the emulator's venv ($VENV) is up to date"
    exit 0
fi
STARTED=$SECONDS
say "installing the local AWS emulator (moto[server] 5.2.1 and boto3; our extension runs from"
say "tests/emulator) and the infra checkers (cfn-lint, parliament) from PyPI into $VENV:"
say "about 70 pinned packages, once per checkout. It took 96 s on a shared 2-core machine with"
say "a fast link (2026-12-02); longer on a slow one. Later runs are a no-op."

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
    rm -rf "$VENV"
    say "creating the venv with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi

rm -f "$STAMP"
PIP_ARGS=()
for f in "${REQS[@]}"; do
    PIP_ARGS+=(-r "$f")
done
if [ "$PROGRESS" = 1 ]; then
    # pip's own lines (Collecting / Downloading with its progress bar / Installing) are the
    # progress; they go straight to the terminal, so a failure is already on screen.
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input \
            --progress-bar on "${PIP_ARGS[@]}"; then
        echo "bootstrap-python: pip install failed (${REQS[*]})" >&2
        exit 1
    fi
else
    LOG="$(mktemp)"
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
            "${PIP_ARGS[@]}" >"$LOG" 2>&1; then
        cat "$LOG" >&2
        rm -f "$LOG"
        echo "bootstrap-python: pip install failed (${REQS[*]})" >&2
        exit 1
    fi
    rm -f "$LOG"
fi
printf '%s\n' "$WANT" >"$STAMP"
say "done in $((SECONDS - STARTED)) s"
