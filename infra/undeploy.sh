#!/usr/bin/env bash
# Delete the ecs-drain stack, unless drains are in flight.
#
#   infra/undeploy.sh --stack-name NAME [--region REGION] [--force]
#
# Environment equivalents: ECS_DRAIN_STACK_NAME, AWS_REGION / AWS_DEFAULT_REGION.
#
# Refuses (exit 3) while the state table holds drains in flight (status DRAINING or
# COMPLETING), and lists them: deleting the stack deletes its lifecycle hooks, and deleting a
# hook completes its outstanding lifecycle actions at once with CONTINUE, so every instance
# still draining is terminated immediately with its tasks running. Wait for the drains to
# finish (or complete them yourself) and run it again; --force deletes anyway.
#
# The DynamoDB state table has DeletionPolicy RetainExceptOnCreate: it survives the stack (it
# is the audit trail of finished drains). This script prints its name and the command that
# deletes it. Deleting the stack also deletes the schedule group and its per-drain checks.
set -euo pipefail

AWS="${AWS_CLI:-aws}"
STACK_NAME="${ECS_DRAIN_STACK_NAME:-}"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
FORCE=false

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
die() { printf 'undeploy: %s\n' "$*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --stack-name) STACK_NAME="${2:?}"; shift 2 ;;
        --region) REGION="${2:?}"; shift 2 ;;
        --force) FORCE=true; shift ;;
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
[ "$TABLE" != "None" ] || TABLE=""

# ---------------------------------------------------------------- drains in flight
if [ -n "$TABLE" ]; then
    # The CLI follows the scan's pages itself; one tab-separated line per drain in flight.
    if IN_FLIGHT="$(aws_ dynamodb scan --table-name "$TABLE" \
            --filter-expression "#s IN (:draining, :completing)" \
            --expression-attribute-names '{"#s": "status"}' \
            --expression-attribute-values '{":draining": {"S": "DRAINING"}, ":completing": {"S": "COMPLETING"}}' \
            --projection-expression "container_instance_arn, ec2_instance_id, #s, started" \
            --query 'Items[].[container_instance_arn.S, ec2_instance_id.S, status.S, started.S]' \
            --output text)"; then
        :
    elif [ "$FORCE" = true ]; then
        echo "undeploy: could not read the state table '$TABLE'; deleting anyway (--force)" >&2
        IN_FLIGHT=""
    else
        die "could not read the state table '$TABLE' to check for drains in flight; fix access or pass --force"
    fi
    if [ -n "$IN_FLIGHT" ]; then
        count="$(printf '%s\n' "$IN_FLIGHT" | grep -c .)"
        {
            echo "undeploy: $count drain(s) in flight in '$TABLE':"
            echo "  container instance ARN | EC2 instance | status | since"
            printf '%s\n' "$IN_FLIGHT" | while IFS=$'\t' read -r arn ec2 status since; do
                printf '  %s | %s | %s | %s\n' "$arn" "$ec2" "$status" "$since"
            done
            echo "undeploy: deleting the stack deletes its lifecycle hooks, and deleting a hook completes"
            echo "undeploy: its waiting lifecycle actions at once with CONTINUE: these instances would be"
            echo "undeploy: terminated now, with their tasks still running."
        } >&2
        if [ "$FORCE" != true ]; then
            echo "undeploy: refusing; wait for the drains to finish and run this again, or pass --force." >&2
            exit 3
        fi
        echo "undeploy: --force given: deleting anyway." >&2
    fi
fi

# ---------------------------------------------------------------- delete
echo "undeploy: deleting stack $STACK_NAME"
aws_ cloudformation delete-stack --stack-name "$STACK_NAME"
aws_ cloudformation wait stack-delete-complete --stack-name "$STACK_NAME"
echo "undeploy: stack $STACK_NAME deleted"

if [ -n "$TABLE" ]; then
    echo "undeploy: the state table '$TABLE' was RETAINED (DeletionPolicy RetainExceptOnCreate)."
    echo "undeploy: delete it once you no longer need the drains' audit trail:"
    echo "  aws ${REGION_ARGS[*]+${REGION_ARGS[*]} }dynamodb delete-table --table-name $TABLE"
fi
