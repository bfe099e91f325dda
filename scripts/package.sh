#!/usr/bin/env bash
# Release zips of both functions with cargo-lambda, then checked (scripts/check-lambda-zip.py).
#
#   scripts/package.sh [arm64|x86_64]      (default arm64; `make package ARCH=x86_64`)
#
# arm64  → target/lambda/<function>/bootstrap.zip        (infra/deploy.sh's default)
# x86_64 → target/lambda-x86_64/<function>/bootstrap.zip (pass --lambda-dir to deploy.sh)
#
# Installs what it needs: cargo-lambda and zig (its cross linker) from PyPI into
# .tools/build-venv (pinned in scripts/packaging-requirements.txt), and the Rust target of the
# architecture with rustup. Makes no assumption about the host architecture (tested from x86_64),
# for either target; only Python 3 (with venv), rustup and its toolchain must be there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ARCH="${1:-arm64}"
VENV="$ROOT/.tools/build-venv"
REQS="$ROOT/scripts/packaging-requirements.txt"

case "$ARCH" in
    arm64)
        target=aarch64-unknown-linux-gnu
        flag=--arm64
        lambda_dir="$ROOT/target/lambda"
        ;;
    x86_64)
        target=x86_64-unknown-linux-gnu
        flag=--x86-64
        lambda_dir="$ROOT/target/lambda-x86_64"
        ;;
    *)
        echo "usage: $0 [arm64|x86_64]" >&2
        exit 2
        ;;
esac

# sha256sum is GNU coreutils; shasum is what macOS and the BSDs have.
digest() { if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1; }

stamp="$VENV/.requirements.sha256"
want="$(digest "$REQS")"
if [ ! -x "$VENV/bin/cargo-lambda" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "package: installing cargo-lambda and zig into .tools/build-venv"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQS"
    echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"

command -v rustup >/dev/null || { echo "package: rustup is needed to add the $target target" >&2; exit 2; }
# Always checked, whatever the host: an arm64 host has no x86_64 target by default either.
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

cargo lambda build --release "$flag" --output-format zip --lambda-dir "$lambda_dir" \
    -p on-lifecycle -p on-task-stopped --locked

zips=()
for function in on-lifecycle on-task-stopped; do
    zip="$lambda_dir/$function/bootstrap.zip"
    # wc -c: portable (stat -c is GNU-only, stat -f BSD-only).
    printf '%-16s %s  %s bytes\n' "$function" "$zip" "$(wc -c < "$zip" | tr -d ' ')"
    zips+=("$zip")
done
python3 "$ROOT/scripts/check-lambda-zip.py" "$ARCH" "${zips[@]}"
