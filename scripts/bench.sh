#!/usr/bin/env bash
# make bench: ecs-drain's benchmarks. Builds what they need, runs each part, prints one table per
# part (also kept in target/bench/latest.md). The figures are printed, never asserted: this is not
# part of `make test`. See BENCHMARKS.md for what each figure means.
#
#   bash scripts/bench.sh            # every part, scale run at its scaled-down default
#   bash scripts/bench.sh --full     # the scale run at full size (1,000 instances, 50,000 events)
#   BENCH_PARTS="warm calls" bash scripts/bench.sh   # only some parts
#
# Parts: cold (cold start), warm (warm handler cost), calls (AWS calls per event), rss (peak RSS
# and zip sizes), scale (scale run against the emulator), scale-memory (full-size shape over the
# in-memory ports), scale-calls (the same shape's AWS and ECS calls under both census rules).
# Everything talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

full=""
for arg in "$@"; do
    case "$arg" in
        --full) full="--full" ;;
        *) echo "usage: $0 [--full]" >&2; exit 2 ;;
    esac
done
parts="${BENCH_PARTS:-cold warm calls rss scale scale-memory scale-calls}"
target="${CARGO_TARGET_DIR:-target}"
out_dir="$target/bench"
mkdir -p "$out_dir"
report="$out_dir/latest.md"

echo "== bench: python venv for the local AWS emulator"
bash scripts/bootstrap-python.sh

echo "== bench: building (release functions, release drain-bench, bench-emulator example)"
# The functions exactly as shipped (release profile: opt-level s, fat LTO), for this host's
# architecture: the arm64 zips cannot run here.
cargo build --locked --release -p on-lifecycle -p on-task-stopped
# The in-process benchmarks in release too: they time the handler code itself.
cargo build --locked --release -p drain-bench --bin drain-bench
# The emulator-driven harness in the dev profile: it drives processes and moto, whose cost
# dwarfs its own (see BENCHMARKS.md).
cargo build --locked -p drain-bench --example bench-emulator

bench="$target/release/drain-bench"
emulated="$target/debug/examples/bench-emulator"

{
    echo "# ecs-drain benchmark run"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (shared with other builds: wall figures are noisy, prefer CPU figures)"
    echo "- $(rustc --version)"
} | tee "$report"

failed=""
run_part() {
    local name="$1"
    shift
    echo
    echo "== bench: $name (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    if "$@" 2>"$out_dir/$name.stderr" | tee -a "$report"; then
        :
    else
        echo "!! bench part '$name' failed; stderr:" >&2
        tail -n 30 "$out_dir/$name.stderr" >&2
        failed="$failed $name"
    fi
}

for part in $parts; do
    case "$part" in
        cold) run_part cold "$emulated" cold-start --starts "${BENCH_STARTS:-20}" --bin-dir "$target/release" ;;
        warm) run_part warm "$bench" warm ;;
        calls) run_part calls "$emulated" calls ;;
        rss) run_part rss "$emulated" rss --events "${BENCH_EVENTS:-1000}" --bin-dir "$target/release" ;;
        scale) run_part scale "$emulated" scale $full ;;
        scale-memory) run_part scale-memory "$bench" scale-memory ;;
        scale-calls) run_part scale-calls "$bench" scale-calls ;;
        *) echo "unknown bench part: $part" >&2; failed="$failed $part" ;;
    esac
done

echo
echo "== bench: tables kept in $report"
if [ -n "$failed" ]; then
    echo "!! bench parts that did not run to the end:$failed" >&2
    exit 1
fi
