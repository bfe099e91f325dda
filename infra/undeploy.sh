#!/usr/bin/env bash
# Delete the ecs-drain stack.
#
#   infra/undeploy.sh --stack-name NAME [--region REGION]
#
# Environment equivalents: ECS_DRAIN_STACK_NAME, AWS_REGION / AWS_DEFAULT_REGION.
#
# The DynamoDB state table has DeletionPolicy Retain: it survives the stack (it may hold the
# tokens of drains still in flight). This script prints its name and the command that deletes it.
# Deleting the stack deletes the schedule group and with it any pending per-drain check schedules;
# lifecycle actions still waiting then complete with the hook's DefaultResult (CONTINUE) when
# their heartbeat timeout runs out.
set -euo pipefail

AWS="${AWS_CLI:-aws}"
STACK_NAME="${ECS_DRAIN_STACK_NAME:-}"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
die() { printf 'undeploy: %s\n' "$*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --stack-name) STACK_NAME="${2:?}"; shift 2 ;;
        --region) REGION="${2:?}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[ -n "$STACK_NAME" ] || die "--stack-name (or ECS_DRAIN_STACK_NAME) is required"
command -v "$AWS" >/dev/null 2>&1 || die "aws CLI not found (set AWS_CLI to its path)"
REGION_ARGS=()
[ -z "$REGION" ] || REGION_ARGS=(--region "$REGION")
aws_() { "$AWS" "${REGION_ARGS[@]+"${REGION_ARGS[@]}"}" "$@"; }

TABLE="$(aws_ cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query "Stacks[0].Outputs[?OutputKey=='TableName'].OutputValue" --output text)"

echo "undeploy: deleting stack $STACK_NAME"
aws_ cloudformation delete-stack --stack-name "$STACK_NAME"
aws_ cloudformation wait stack-delete-complete --stack-name "$STACK_NAME"
echo "undeploy: stack $STACK_NAME deleted"

if [ -n "$TABLE" ] && [ "$TABLE" != "None" ]; then
    echo "undeploy: the state table '$TABLE' was RETAINED (DeletionPolicy Retain)."
    echo "undeploy: delete it once no drain is in flight:"
    echo "  aws ${REGION_ARGS[*]+${REGION_ARGS[*]} }dynamodb delete-table --table-name $TABLE"
fi
