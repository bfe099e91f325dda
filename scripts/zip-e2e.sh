#!/usr/bin/env bash
# The shipped artifact is what the end-to-end test runs: unpacks the release zips of ARCH
# (scripts/package.sh ARCH) and runs the built-binaries end-to-end test (tests/lambda_binaries.rs)
# with each function's `bootstrap` from its zip instead of a host build (ECS_DRAIN_FUNCTION_DIR,
# read by crates/drain-testkit/src/runtime_api.rs's function_binary).
#
#   scripts/zip-e2e.sh [x86_64|arm64]      (default x86_64)
#
# arm64 runs under qemu user mode with nothing installed system-wide: qemu-user-static and the
# aarch64 C library (libc6-arm64-cross) are fetched with `apt-get download` and unpacked with
# `dpkg-deb -x` into .tools/qemu-arm64 (once), and each bootstrap is started through a small
# wrapper: qemu-aarch64-static -L <that folder>/usr/aarch64-linux-gnu <bootstrap>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ARCH="${1:-x86_64}"
case "$ARCH" in
    x86_64) lambda_dir="$ROOT/target/lambda-x86_64" ;;
    arm64) lambda_dir="$ROOT/target/lambda" ;;
    *) echo "usage: $0 [x86_64|arm64]" >&2; exit 2 ;;
esac
unpacked="$ROOT/target/zip-e2e-$ARCH"
rm -rf "$unpacked"

qemu="" sysroot=""
if [ "$ARCH" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
    scratch="$ROOT/.tools/qemu-arm64"
    if [ ! -x "$scratch/root/usr/bin/qemu-aarch64-static" ]; then
        rm -rf "$scratch"
        mkdir -p "$scratch/debs" "$scratch/root"
        (cd "$scratch/debs" && apt-get download qemu-user-static libc6-arm64-cross)
        for deb in "$scratch"/debs/*.deb; do dpkg-deb -x "$deb" "$scratch/root"; done
    fi
    qemu="$scratch/root/usr/bin/qemu-aarch64-static"
    sysroot="$scratch/root/usr/aarch64-linux-gnu"
fi

for function in on-lifecycle on-task-stopped; do
    zip="$lambda_dir/$function/bootstrap.zip"
    [ -f "$zip" ] || { echo "zip-e2e: $zip not found: run scripts/package.sh $ARCH first" >&2; exit 2; }
    python3 "$ROOT/scripts/check-lambda-zip.py" "$ARCH" "$zip"
    mkdir -p "$unpacked/$function"
    python3 -m zipfile -e "$zip" "$unpacked/$function"
    chmod 755 "$unpacked/$function/bootstrap"  # Python's zipfile does not restore modes
    if [ -n "$qemu" ]; then
        mv "$unpacked/$function/bootstrap" "$unpacked/$function/bootstrap.arm64"
        printf '#!/bin/sh\nexec "%s" -L "%s" "%s" "$@"\n' "$qemu" "$sysroot" "$unpacked/$function/bootstrap.arm64" \
            > "$unpacked/$function/bootstrap"
        chmod 755 "$unpacked/$function/bootstrap"
    fi
done

echo "zip-e2e: tests/lambda_binaries.rs with the $ARCH bootstraps from $unpacked"
ECS_DRAIN_FUNCTION_DIR="$unpacked" cargo test --locked -p drain-testkit --test lambda_binaries
