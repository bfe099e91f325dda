#!/usr/bin/env bash
# Package and deploy the ecs-drain stack.
#
#   infra/deploy.sh --stack-name NAME --bucket BUCKET [--params FILE] [--prefix PREFIX]
#                   [--region REGION] [--lambda-dir DIR] [Key=Value ...]
#
# Environment equivalents: ECS_DRAIN_STACK_NAME, ECS_DRAIN_ARTIFACT_BUCKET,
# ECS_DRAIN_PARAMS_FILE, ECS_DRAIN_ARTIFACT_PREFIX, AWS_REGION / AWS_DEFAULT_REGION, ECS_DRAIN_LAMBDA_DIR.
#
# --params is a flat JSON object of template parameters (see infra/parameters.example.json);
# trailing Key=Value arguments override it. The code is taken from
# <lambda-dir>/{on-lifecycle,on-task-stopped}/bootstrap.zip (default: target/lambda, what
# `cargo lambda build --release --arm64 --output-format zip` writes); its architecture must match
# the Architecture parameter (checked here). The zips are uploaded to the bucket (in the stack's
# region) under <prefix>/<digest of the zips>/, then `aws cloudformation deploy` creates or
# updates the stack with ArtifactBucket and ArtifactPrefix pointing at them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
AWS="${AWS_CLI:-aws}"

STACK_NAME="${ECS_DRAIN_STACK_NAME:-}"
BUCKET="${ECS_DRAIN_ARTIFACT_BUCKET:-}"
PARAMS_FILE="${ECS_DRAIN_PARAMS_FILE:-}"
PREFIX="${ECS_DRAIN_ARTIFACT_PREFIX:-ecs-drain}"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
LAMBDA_DIR="${ECS_DRAIN_LAMBDA_DIR:-$ROOT/target/lambda}"
OVERRIDES=()

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
die() { printf 'deploy: %s\n' "$*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --stack-name) STACK_NAME="${2:?}"; shift 2 ;;
        --bucket) BUCKET="${2:?}"; shift 2 ;;
        --params) PARAMS_FILE="${2:?}"; shift 2 ;;
        --prefix) PREFIX="${2:?}"; shift 2 ;;
        --region) REGION="${2:?}"; shift 2 ;;
        --lambda-dir) LAMBDA_DIR="${2:?}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *=*) OVERRIDES+=("$1"); shift ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[ -n "$STACK_NAME" ] || die "--stack-name (or ECS_DRAIN_STACK_NAME) is required"
[ -n "$BUCKET" ] || die "--bucket (or ECS_DRAIN_ARTIFACT_BUCKET) is required: an S3 bucket for the code"
command -v "$AWS" >/dev/null 2>&1 || die "aws CLI not found (set AWS_CLI to its path)"
REGION_ARGS=()
[ -z "$REGION" ] || REGION_ARGS=(--region "$REGION")

# Parameters: the JSON file, then Key=Value overrides; validated and printed as Key=Value lines.
mapfile -t PARAMS < <(python3 - "$PARAMS_FILE" "${OVERRIDES[@]+"${OVERRIDES[@]}"}" <<'EOF'
import json, sys
path, overrides = sys.argv[1], sys.argv[2:]
params = {}
if path:
    with open(path) as f:
        params = json.load(f)
    if not isinstance(params, dict):
        sys.exit("deploy: the parameters file must be a JSON object of Key: Value")
for item in overrides:
    key, _, value = item.partition("=")
    params[key] = value
for key in ("ClusterNames", "AutoScalingGroupNames"):
    value = str(params.get(key, ""))
    names = value.split(",")
    if not value or any(not n or n != n.strip() for n in names):
        sys.exit(f"deploy: {key} must be 1 to 50 comma-separated names without spaces, got {value!r}")
    if len(names) > 50:
        sys.exit(f"deploy: {key} has {len(names)} names; the template supports at most 50")
for key, value in params.items():
    print(f"{key}={value}")
EOF
) || die "invalid parameters"
[ "${#PARAMS[@]}" -gt 0 ] || die "no parameters (ClusterNames and AutoScalingGroupNames are required)"

ARCH="arm64"
for kv in "${PARAMS[@]}"; do
    case "$kv" in Architecture=*) ARCH="${kv#Architecture=}" ;; esac
done

# The zips must exist and hold a bootstrap built for $ARCH.
for fn in on-lifecycle on-task-stopped; do
    zip="$LAMBDA_DIR/$fn/bootstrap.zip"
    [ -f "$zip" ] || die "$zip not found: build with cargo lambda build --release --arm64 --output-format zip"
    python3 - "$zip" "$ARCH" <<'EOF' || die "$zip does not match Architecture=$ARCH"
import struct, sys, zipfile
path, arch = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(path) as zf:
    head = zf.open("bootstrap").read(20)
if head[:4] != b"\x7fELF":
    sys.exit(f"deploy: {path}: bootstrap is not an ELF binary")
machine = struct.unpack("<H", head[18:20])[0]
found = {0xB7: "arm64", 0x3E: "x86_64"}.get(machine, hex(machine))
if found != arch:
    sys.exit(f"deploy: {path}: bootstrap is {found}, Architecture is {arch}")
EOF
done

# The zips go to s3://$BUCKET/$PREFIX/<digest>/ (in the stack's region: Lambda reads code only
# from a bucket in its own region); the template names them by parameter. A new digest per build
# is what makes CloudFormation update the functions' code.
DIGEST="$(cat "$LAMBDA_DIR/on-lifecycle/bootstrap.zip" "$LAMBDA_DIR/on-task-stopped/bootstrap.zip" | sha256sum | cut -c1-16)"
KEY_PREFIX="${PREFIX%/}/$DIGEST/"
echo "deploy: uploading code to s3://$BUCKET/$KEY_PREFIX"
for fn in on-lifecycle on-task-stopped; do
    "$AWS" "${REGION_ARGS[@]+"${REGION_ARGS[@]}"}" s3 cp --only-show-errors \
        "$LAMBDA_DIR/$fn/bootstrap.zip" "s3://$BUCKET/$KEY_PREFIX$fn.zip"
done

echo "deploy: deploying stack $STACK_NAME"
"$AWS" "${REGION_ARGS[@]+"${REGION_ARGS[@]}"}" cloudformation deploy \
    --template-file "$HERE/template.yaml" \
    --stack-name "$STACK_NAME" \
    --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
    --no-fail-on-empty-changeset \
    --parameter-overrides "${PARAMS[@]}" "ArtifactBucket=$BUCKET" "ArtifactPrefix=$KEY_PREFIX"

"$AWS" "${REGION_ARGS[@]+"${REGION_ARGS[@]}"}" cloudformation describe-stacks \
    --stack-name "$STACK_NAME" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' \
    --output table
