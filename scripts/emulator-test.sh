#!/usr/bin/env bash
# Test the local AWS emulator (moto + tests/emulator/ecs_drain_moto) with pytest.
# Extra arguments go to pytest, e.g. scripts/emulator-test.sh -k lifecycle -x
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap-python.sh"
cd "$ROOT"
export PYTHONPATH="$ROOT/tests/emulator${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
exec "$ROOT/.venv/bin/python" -m pytest -p no:cacheprovider -q "$ROOT/tests/emulator" "$@"
