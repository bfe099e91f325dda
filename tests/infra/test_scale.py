"""Any number of clusters and groups (issue 14): the name lists at their limits.

* Size: IAM refuses a role whose inline policies exceed 10,240 characters (whitespace not
  counted). The worst case the parameters admit, 50 clusters filling ClusterNames' MaxLength and
  50 groups of 40 characters, is rendered (tests/infra/policy_lint.py's renderer) and measured.
* Meaning: the per-name ARN patterns wildcard partition, region, account and, for ECS, the
  resource type; the statements pin region and account by condition. The rendered policies are
  evaluated with moto's evaluator (ecs_drain_moto.iam_ext, the same path the emulator enforces
  with) against the ARNs each operation touches (iam_ext.plan_checks), in and outside the named
  clusters and groups, in and outside the stack's region and account.
* Scale over the wire: the template deploys with 50 clusters and 50 groups; every name reaches
  the policies, the rule patterns and the archive, and there is one lifecycle hook per group.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import ACCOUNT, MAIN_REGION, Deployed, archived_pattern, load_template
from ecs_drain_moto.iam_ext import Check, evaluate, plan_checks, with_global_keys
from policy_lint import Renderer, rendered_policies

IAM_ROLE_INLINE_QUOTA = 10_240  # characters of all a role's inline policies, whitespace excluded
MAX_GROUPS = 50
GROUP_NAME_MAX = 40


def names(prefix: str, count: int, length: int) -> list[str]:
    return [f"{prefix}{i:02d}".ljust(length, "x") for i in range(count)]


def worst_case() -> tuple[str, str]:
    max_length = load_template()["Parameters"]["ClusterNames"]["MaxLength"]
    length = (max_length - 49) // 50  # 50 names and 49 commas within MaxLength
    clusters = ",".join(names("c", 50, length))
    assert len(clusters) <= max_length
    groups = ",".join(names("g", MAX_GROUPS, GROUP_NAME_MAX))
    return clusters, groups


def role_policies(clusters: str, groups: str) -> dict[str, dict[str, Any]]:
    template = load_template({"ClusterNames": clusters, "AutoScalingGroupNames": groups})
    renderer = Renderer(template, {"ClusterNames": clusters, "AutoScalingGroupNames": groups})
    return {p.name: p.document for p in rendered_policies(template, renderer) if p.kind == "identity"}


def test_group_names_are_bounded_as_the_size_budget_assumes() -> None:
    pattern = load_template()["Parameters"]["AutoScalingGroupNames"]["AllowedPattern"]
    assert pattern.endswith(f"{{1,{GROUP_NAME_MAX}}}"), pattern


EVENT_PATTERN_MAX = 4_096  # characters (the EventBridge API model: PutRule, CreateArchive)


@pytest.mark.parametrize("launch_readiness", ["off", "on"])
def test_every_rule_and_archive_pattern_fits_at_the_longest_names(launch_readiness: str) -> None:
    """moto takes a pattern of any size; EventBridge refuses one over 4,096 characters, and the
    stack would roll back. Rendered at 50 clusters and 50 groups of the longest names the
    parameters allow, and with a launch hook name of its longest."""
    clusters, groups = worst_case()
    params = {
        "ClusterNames": clusters,
        "AutoScalingGroupNames": groups,
        "LaunchReadiness": launch_readiness,
        "LaunchHookName": "h" * load_template()["Parameters"]["LaunchHookName"]["MaxLength"],
    }
    template = load_template(params)
    renderer = Renderer(template, params)
    sizes = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] not in ("AWS::Events::Rule", "AWS::Events::Archive"):
            continue
        if "Condition" in resource and not renderer.condition(resource["Condition"]):
            continue
        pattern = renderer.render(resource["Properties"]["EventPattern"])
        text = pattern if isinstance(pattern, str) else json.dumps(pattern, separators=(",", ":"))
        sizes[logical_id] = len(text)
    print(f"event pattern sizes at the longest names (launch readiness {launch_readiness}): {sizes}")
    assert {"EventArchive", "LifecycleRule", "TaskStoppedRule", "InstanceDrainingRule"} <= set(sizes)
    assert all(size <= EVENT_PATTERN_MAX for size in sizes.values()), sizes


def test_fifty_clusters_and_fifty_groups_fit_the_role_policy_quota() -> None:
    clusters, groups = worst_case()
    policies = role_policies(clusters, groups)
    for role in ("OnLifecycleRole", "OnTaskStoppedRole"):
        inline = [doc for name, doc in policies.items() if name.startswith(f"{role}/")]
        size = sum(len(json.dumps(doc, separators=(",", ":"))) for doc in inline)
        assert size <= IAM_ROLE_INLINE_QUOTA, (role, size)
    # and the budget is used: one more name of the same length would not fit the parameter
    assert len(clusters) + 1 + len(clusters.split(",")[0]) > load_template()["Parameters"]["ClusterNames"]["MaxLength"]


# ------------------------------------------------------------------------------ meaning

CLUSTERS = ["blue", "green", "red"]
GROUPS = ["blue-asg", "green/asg.1", "red-asg"]
ELSEWHERE = ("eu-west-3", "210987654321")


@pytest.fixture(scope="module")
def sample_policies() -> dict[str, str]:
    docs = role_policies(",".join(CLUSTERS), ",".join(GROUPS))
    return {name.split("/")[0]: json.dumps(doc) for name, doc in docs.items() if "/" in name}


def allowed(policy: str, service: str, op: str, params: dict[str, Any], region: str = MAIN_REGION, account: str = ACCOUNT) -> bool:
    group_arns = {g: f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:0b0e2f1c-1111-4222-8333-944445555666:autoScalingGroupName/{g}" for g in GROUPS + ["other-asg", "blue-asg-2", "x/blue-asg"]}
    checks = plan_checks(service, op, lambda name: params.get(name), region, account, group_arns.get)
    assert checks, (service, op, params)
    return all(evaluate([policy], with_global_keys(check, region))[0] for check in checks)


ECS_CASES = [
    ("ListContainerInstances", lambda c: {"cluster": c}),
    ("DescribeContainerInstances", lambda c: {"cluster": c, "containerInstances": ["0f1e2d3c4b5a69788796a5b4c3d2e1f0"]}),
    ("UpdateContainerInstancesState", lambda c: {"cluster": c, "containerInstances": ["0f1e2d3c4b5a69788796a5b4c3d2e1f0"]}),
    ("ListTasks", lambda c: {"cluster": c, "containerInstance": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}),
    ("DescribeTasks", lambda c: {"cluster": c, "tasks": ["9a8b7c6d5e4f30211203f4e5d6c7b8a9"]}),
    ("StopTask", lambda c: {"cluster": c, "task": "9a8b7c6d5e4f30211203f4e5d6c7b8a9"}),
    ("DescribeServices", lambda c: {"cluster": c, "services": ["web"]}),
]
# on-task-stopped holds every ECS action on-lifecycle does: the container-instance ones for the
# rare restore-ACTIVE path of an expired drain (see the template's comment).
ON_TASK_STOPPED_ECS = {op for op, _ in ECS_CASES}


@pytest.mark.parametrize(("op", "params"), ECS_CASES, ids=[op for op, _ in ECS_CASES])
def test_ecs_patterns_grant_the_named_clusters_here_and_nothing_else(sample_policies: dict[str, str], op: str, params: Any) -> None:
    for role in ("OnLifecycleRole", "OnTaskStoppedRole"):
        policy = sample_policies[role]
        granted = role == "OnLifecycleRole" or op in ON_TASK_STOPPED_ECS
        for cluster in CLUSTERS:
            assert allowed(policy, "ecs", op, params(cluster)) is granted, (role, op, cluster)
        # a cluster not named, names that contain or extend a named one, the named one elsewhere
        for cluster in ("purple", "blue-2", "xblue", "blu"):
            assert not allowed(policy, "ecs", op, params(cluster)), (role, op, cluster)
        assert not allowed(policy, "ecs", op, params("blue"), region=ELSEWHERE[0]), (role, op)
        # (another account's cluster of the same name is out of reach by AWS's design, not by
        # this policy: ECS has no resource-based policies, so no grant here can cross accounts)


def test_a_service_named_like_a_cluster_in_another_cluster_is_not_granted(sample_policies: dict[str, str]) -> None:
    """service/<other cluster>/blue: the service name is not the cluster segment."""
    for role in ("OnLifecycleRole", "OnTaskStoppedRole"):
        assert allowed(sample_policies[role], "ecs", "DescribeServices", {"cluster": "red", "services": ["blue"]})
        assert not allowed(sample_policies[role], "ecs", "DescribeServices", {"cluster": "purple", "services": ["blue"]})


@pytest.mark.parametrize(("role", "ops"), [
    ("OnLifecycleRole", ["CompleteLifecycleAction", "RecordLifecycleActionHeartbeat"]),
    ("OnTaskStoppedRole", ["CompleteLifecycleAction"]),
])  # fmt: skip
def test_group_patterns_grant_the_named_groups_here_and_nothing_else(sample_policies: dict[str, str], role: str, ops: list[str]) -> None:
    policy = sample_policies[role]
    for op in ops:
        for group in GROUPS:
            assert allowed(policy, "autoscaling", op, {"AutoScalingGroupName": group}), (role, op, group)
        for group in ("other-asg", "blue-asg-2", "x/blue-asg"):
            assert not allowed(policy, "autoscaling", op, {"AutoScalingGroupName": group}), (role, op, group)
        assert not allowed(policy, "autoscaling", op, {"AutoScalingGroupName": "blue-asg"}, region=ELSEWHERE[0])
    if role == "OnTaskStoppedRole":
        assert not allowed(policy, "autoscaling", "RecordLifecycleActionHeartbeat", {"AutoScalingGroupName": "blue-asg"})


def test_no_statement_depends_on_a_condition_key_an_action_may_lack() -> None:
    """Only aws:RequestedRegion (in every request) pins the wildcarded patterns: a key that some
    action's request context lacks (aws:ResourceAccount) would deny that action on AWS.
    events:source is in every PutEvents request (each entry's Source is required) and is the
    only action it is granted with."""
    for name, doc in role_policies(",".join(CLUSTERS), ",".join(GROUPS)).items():
        for statement in doc.get("Statement", []) if isinstance(doc, dict) else []:
            for keys in statement.get("Condition", {}).values():
                if "events:source" in keys:
                    assert statement["Action"] in ("events:PutEvents", ["events:PutEvents"]), (name, statement)
                assert set(keys) <= {"aws:RequestedRegion", "iam:PassedToService", "aws:SourceAccount", "aws:SourceArn", "events:source"}, (name, statement)


def test_the_evaluator_sees_the_pins() -> None:
    """Guards the harness: without the condition keys, the wildcarded patterns would match the
    other region too, so the region cases above fail only because the pin is evaluated."""
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:StopTask", "Resource": "arn:*:ecs:*:*:*/blue/*",
                      "Condition": {"StringEquals": {"aws:RequestedRegion": MAIN_REGION}}}]})  # fmt: skip
    task = f"arn:aws:ecs:{ELSEWHERE[0]}:{ACCOUNT}:task/blue/t1"
    assert evaluate([doc], Check("ecs:StopTask", task))[0]  # no key supplied: moto counts it satisfied
    assert not evaluate([doc], with_global_keys(Check("ecs:StopTask", task), ELSEWHERE[0]))[0]


# ------------------------------------------------------------------------------ over the wire


def test_fifty_clusters_and_fifty_groups_deploy(client: Any) -> None:
    clusters = names("cl", 50, 6)
    groups = names("asg-", 50, 12)
    stack = Deployed(
        client, "ca-central-1", "ecs-drain-fifty",
        {"ClusterNames": ",".join(clusters), "AutoScalingGroupNames": ",".join(groups), "CreateLifecycleHooks": "true"},
    )  # fmt: skip
    assert stack.stack["StackStatus"] == "CREATE_COMPLETE", stack.stack.get("StackStatusReason")
    events = client("events", stack.region)
    task_pattern = json.loads(events.describe_rule(Name=stack.physical_id("TaskStoppedRule"))["EventPattern"])
    assert task_pattern["detail"]["clusterArn"] == [{"suffix": f":cluster/{c}"} for c in clusters]
    lifecycle_pattern = json.loads(events.describe_rule(Name=stack.physical_id("LifecycleRule"))["EventPattern"])
    assert lifecycle_pattern["detail"]["AutoScalingGroupName"] == groups
    draining_pattern = json.loads(events.describe_rule(Name=stack.physical_id("InstanceDrainingRule"))["EventPattern"])
    assert draining_pattern["detail"]["clusterArn"] == task_pattern["detail"]["clusterArn"]
    archive_name = stack.outputs["ArchiveArn"].rsplit("/", 1)[1]
    archive_pattern = events.describe_archive(ArchiveName=archive_name)["EventPattern"]
    assert json.loads(archive_pattern) == archived_pattern(lifecycle_pattern, task_pattern, draining_pattern)
    print(f"archive pattern at 50 clusters and 50 groups: {len(archive_pattern)} characters")
    # one hook per group in what CloudFormation creates (moto skips the type: the expanded template)
    expanded = load_template({"ClusterNames": ",".join(clusters), "AutoScalingGroupNames": ",".join(groups)})
    def hooks_of(transition: str) -> list[str]:
        return [
            r["Properties"]["AutoScalingGroupName"]
            for r in expanded["Resources"].values()
            if r["Type"] == "AWS::AutoScaling::LifecycleHook" and r["Properties"]["LifecycleTransition"] == transition
        ]

    assert sorted(hooks_of("autoscaling:EC2_INSTANCE_TERMINATING")) == sorted(groups)
    # the launch hooks (LaunchReadiness=on only, condition CreateLaunchHooksOn): one per group too
    assert sorted(hooks_of("autoscaling:EC2_INSTANCE_LAUNCHING")) == sorted(groups)
