#!/usr/bin/env bash
# Every test of ecs-drain, as CI runs it (`make test`, `.ci/run`):
#   rustfmt and clippy (warnings are errors), the Rust unit, integration and end-to-end tests
#   (against the local AWS emulator on 127.0.0.1), the emulator extension's own tests, and the
#   infra validation (cfn-lint, checkov, smoke deploy and rule-pattern tests), then the release
#   zips: built and checked for x86_64 (scripts/package.sh), and the end-to-end test of the built
#   binaries run once more with the bootstrap from each zip (scripts/zip-e2e.sh); then the same
#   for arm64, under qemu user mode (about 7 minutes more on 2 cores, see BENCHMARKS.md;
#   ECS_DRAIN_CI_ARM64=0 skips it). Each step prints how long it took.
# Installs what it needs itself (scripts/bootstrap-python.sh). Runs every step, then exits
# non-zero if any failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

failed=()
step() {
    local name="$1"
    shift
    printf '\n==== %s: %s\n' "$name" "$*"
    local started=$SECONDS
    if ! "$@"; then
        failed+=("$name")
        printf '==== %s FAILED\n' "$name"
    fi
    printf '==== %s: %d s\n' "$name" "$((SECONDS - started))"
}

bash scripts/bootstrap-python.sh || { echo "python bootstrap failed" >&2; exit 2; }

step rustfmt cargo fmt --all --check
step clippy cargo clippy --workspace --all-targets --locked -- -D warnings
step rust-tests cargo test --workspace --locked
step emulator-tests bash scripts/emulator-test.sh
step infra-check bash scripts/infra-check.sh
step package-x86_64 bash scripts/package.sh x86_64
step zip-e2e-x86_64 bash scripts/zip-e2e.sh x86_64
if [ "${ECS_DRAIN_CI_ARM64:-1}" != 0 ]; then
    step package-arm64 bash scripts/package.sh arm64
    step zip-e2e-arm64 bash scripts/zip-e2e.sh arm64
fi

if [ "${#failed[@]}" -ne 0 ]; then
    printf '\nfailed steps: %s\n' "${failed[*]}"
    exit 1
fi
printf '\nevery test step succeeded\n'
