#!/usr/bin/env bash
# Release zips of both functions with cargo-lambda (installed with zig from PyPI into
# .tools/build-venv). Usage: scripts/package.sh [arm64|x86_64]   (default arm64)
# arm64 → target/lambda/<function>/bootstrap.zip (infra/deploy.sh's default);
# x86_64 → target/lambda-x86_64/<function>/bootstrap.zip (pass --lambda-dir to deploy.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ARCH="${1:-arm64}"
VENV="$ROOT/.tools/build-venv"
REQS="$ROOT/scripts/packaging-requirements.txt"

stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/cargo-lambda" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQS"
    echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"

case "$ARCH" in
    arm64)
        rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
        flag=--arm64
        lambda_dir="$ROOT/target/lambda"
        ;;
    x86_64)
        flag=--x86-64
        lambda_dir="$ROOT/target/lambda-x86_64"
        ;;
    *)
        echo "usage: $0 [arm64|x86_64]" >&2
        exit 2
        ;;
esac

cargo lambda build --release "$flag" --output-format zip --lambda-dir "$lambda_dir" \
    -p on-lifecycle -p on-task-stopped --locked

for function in on-lifecycle on-task-stopped; do
    zip="$lambda_dir/$function/bootstrap.zip"
    printf '%-16s %s  %s bytes\n' "$function" "$zip" "$(stat -c %s "$zip")"
done
