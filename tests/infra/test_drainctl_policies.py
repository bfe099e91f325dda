"""drainctl's managed policies (infra/template.yaml, DrainctlReadOnlyPolicy and
DrainctlOperatorPolicy): what each grants, on which names, and that the worst case the
parameters admit fits IAM's managed-policy quota.

The Rust test crates/drainctl/tests/iam.rs runs drainctl under both with IAM enforced; this
file covers what that cannot: other clusters, groups and regions, and the size limit.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from test_scale import CLUSTERS, ELSEWHERE, GROUPS, allowed, role_policies, worst_case

MANAGED_POLICY_QUOTA = 6_144  # characters of one managed policy, whitespace excluded
READ_ONLY = "DrainctlReadOnlyPolicy"
OPERATOR = "DrainctlOperatorPolicy"
CANCEL = "DrainctlCancelPolicy"

# What drainctl calls, by command (crates/drainctl/src): the read-only policy must hold every
# read, the operator policy every write, and neither anything else.
READS = {
    "cloudformation:DescribeStacks",  # --stack-name
    "dynamodb:Scan",  # status, explain, and the record an action starts from
    "dynamodb:GetItem",  # the operator use case's keyed read
    "ecs:ListServices",  # doctor
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "ecs:ListContainerInstances",
    "ecs:DescribeContainerInstances",
    "ecs:ListTasks",  # explain --event: the census the functions take
    "ecs:DescribeTasks",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeLifecycleHooks",
    "events:DescribeArchive",  # replay
}
WRITES = {
    "dynamodb:PutItem",  # force-complete, extend, cancel (conditional on the revision)
    "autoscaling:CompleteLifecycleAction",  # force-complete, cancel
    "events:StartReplay",  # replay --live
    "events:DescribeReplay",  # following it
    "scheduler:GetSchedule",  # force-complete, cancel: the ended drain's check, read first
    "scheduler:DeleteSchedule",  # ... and deleted
}
CANCELS = {"ecs:UpdateContainerInstancesState"}  # cancel only


def actions(doc: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for statement in doc["Statement"]:
        assert statement["Effect"] == "Allow"
        granted = statement["Action"]
        out.update([granted] if isinstance(granted, str) else granted)
    return out


@pytest.fixture(scope="module")
def sample() -> dict[str, dict[str, Any]]:
    return role_policies(",".join(CLUSTERS), ",".join(GROUPS))


def test_each_policy_grants_exactly_what_its_commands_call(sample: dict[str, dict[str, Any]]) -> None:
    assert actions(sample[READ_ONLY]) == READS
    assert actions(sample[OPERATOR]) == WRITES
    assert actions(sample[CANCEL]) == CANCELS


ECS_READS = [
    ("ListContainerInstances", lambda c: {"cluster": c}),
    ("DescribeContainerInstances", lambda c: {"cluster": c, "containerInstances": ["0f1e2d3c4b5a69788796a5b4c3d2e1f0"]}),
    ("DescribeServices", lambda c: {"cluster": c, "services": ["web"]}),
    ("ListTasks", lambda c: {"cluster": c, "containerInstance": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}),
    ("DescribeTasks", lambda c: {"cluster": c, "tasks": ["9a8b7c6d5e4f30211203f4e5d6c7b8a9"]}),
]
REACTIVATE = ("UpdateContainerInstancesState", lambda c: {"cluster": c, "containerInstances": ["0f1e2d3c4b5a69788796a5b4c3d2e1f0"]})


@pytest.mark.parametrize(("op", "params"), ECS_READS, ids=[op for op, _ in ECS_READS])
def test_the_read_only_policy_reads_the_named_clusters_only(sample: dict[str, dict[str, Any]], op: str, params: Any) -> None:
    policy = json.dumps(sample[READ_ONLY])
    for cluster in CLUSTERS:
        assert allowed(policy, "ecs", op, params(cluster)), (op, cluster)
    for cluster in ("purple", "blue-2", "xblue"):
        assert not allowed(policy, "ecs", op, params(cluster)), (op, cluster)
    assert not allowed(policy, "ecs", op, params("blue"), region=ELSEWHERE[0])
    # and it changes nothing
    op, reactivate = REACTIVATE
    assert not allowed(policy, "ecs", op, reactivate("blue"))
    assert not allowed(policy, "autoscaling", "CompleteLifecycleAction", {"AutoScalingGroupName": "blue-asg"})


def test_the_operator_policies_act_on_the_named_clusters_and_groups_only(sample: dict[str, dict[str, Any]]) -> None:
    op, params = REACTIVATE
    assert not allowed(json.dumps(sample[OPERATOR]), "ecs", op, params("blue")), "cancel's own policy grants it"
    policy = json.dumps(sample[CANCEL])
    for cluster in CLUSTERS:
        assert allowed(policy, "ecs", op, params(cluster)), cluster
    for cluster in ("purple", "blue-2", "xblue"):
        assert not allowed(policy, "ecs", op, params(cluster)), cluster
    assert not allowed(policy, "ecs", op, params("blue"), region=ELSEWHERE[0])
    # a task of a named cluster is not a container instance: no StopTask through this grant
    assert not allowed(policy, "ecs", "StopTask", {"cluster": "blue", "task": "9a8b7c6d5e4f30211203f4e5d6c7b8a9"})
    policy = json.dumps(sample[OPERATOR])
    for group in GROUPS:
        assert allowed(policy, "autoscaling", "CompleteLifecycleAction", {"AutoScalingGroupName": group}), group
    for group in ("other-asg", "blue-asg-2"):
        assert not allowed(policy, "autoscaling", "CompleteLifecycleAction", {"AutoScalingGroupName": group}), group
    assert not allowed(policy, "autoscaling", "RecordLifecycleActionHeartbeat", {"AutoScalingGroupName": "blue-asg"})


def test_fifty_clusters_and_fifty_groups_fit_the_managed_policy_quota() -> None:
    policies = role_policies(*worst_case())
    for name in (READ_ONLY, OPERATOR, CANCEL):
        size = len(json.dumps(policies[name], separators=(",", ":")))
        assert size <= MANAGED_POLICY_QUOTA, (name, size)
