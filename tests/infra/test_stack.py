"""Smoke deploy of infra/template.yaml into the moto emulator, and the template's own contracts.

moto's CloudFormation silently skips resource types it does not model (it logs a warning), so
the deploy test names them explicitly and requires every template resource to be either created
or listed here with a reason: nothing is skipped silently. moto also ignores some properties
of resources it does create (DynamoDB TTL / point-in-time recovery / SSE, Lambda Architectures
and LoggingConfig); those are asserted on the template itself, as moto cannot show them.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import pytest

from conftest import (
    ACCOUNT,
    MAIN_REGION,
    TEMPLATE_PATH,
    Deployed,
    archived_pattern,
    load_template,
    without_none,
)

# Resource types moto 5.2.1's CloudFormation does not model (checked: they are missing from
# moto.cloudformation.parsing.get_model_map()); it skips them with a warning.
SKIPPED_BY_MOTO = {
    "AWS::AutoScaling::LifecycleHook": "moto has no CloudFormation model for lifecycle hooks",
    "AWS::Scheduler::ScheduleGroup": "moto has no CloudFormation model for EventBridge Scheduler",
    "AWS::CloudWatch::Alarm": "moto's CloudWatch has no CloudFormation model for alarms",
    "AWS::Lambda::EventInvokeConfig": "moto has no CloudFormation model for async invoke config",
    "AWS::SQS::QueuePolicy": "moto has no CloudFormation model for SQS queue policies",
}

# With one cluster, one ASG and CreateLifecycleHooks=true only these resources are left out by a
# condition (the hooks are one per group, by Fn::ForEach). The rebalance rule is created only with
# DrainOnRebalance=true (the main stack keeps the default, false).
ABSENT_BY_CONDITION_MAIN: dict[str, str] = {
    "RebalanceRule": "DrainOnRebalance",
    "RebalanceRulePermission": "DrainOnRebalance",
    # LaunchReadiness is off by default (tests/infra/test_launch_readiness.py turns it on).
    "LaunchRule": "LaunchReadinessOn",
    "InstanceJoinedRule": "LaunchReadinessOn",
    "LaunchRulePermission": "LaunchReadinessOn",
    "InstanceJoinedRulePermission": "LaunchReadinessOn",
    "OnLifecycleLaunchPolicy": "LaunchReadinessOn",
    "LaunchDeadlinesPassedAlarm": "LaunchReadinessOn",
}

CLUSTER_ARN = f"arn:aws:ecs:{MAIN_REGION}:{ACCOUNT}:cluster/prod-cluster"

# Which actions each role grants is not pinned here: the integration suite derives the actions
# the functions really call from the emulator's IAM decision log and compares them with the
# deployed roles. These tests pin where each granted action may apply (its resources).

# Actions without resource-level permissions (the Service Authorization Reference lists no
# resource type for them), so "*" is the only Resource IAM honours; every other action must be
# scoped to named resources.
NO_RESOURCE_LEVEL_ACTIONS = {
    "autoscaling:DescribeLifecycleHooks",
    "autoscaling:DescribeAutoScalingInstances",
    # drainctl doctor's reads (DrainctlReadOnlyPolicy): no resource type in the Service
    # Authorization Reference either.
    "autoscaling:DescribeAutoScalingGroups",
    "ecs:ListServices",
    "ecs:DescribeTaskDefinition",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
}

# Grants removed because no code path calls them (issue 8): they must not come back unnoticed.
NEVER_CALLED = {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "scheduler:ListSchedules"}

# What moto's CloudFormation makes of `Ref DrainCheckScheduleGroup`: it skips the resource type,
# Ref of a skipped resource is Python None, and the template's Fn::Sub mapping form turns that
# into the string "None" everywhere the name is used (environment, policy ARN, output).
MOTO_SCHEDULE_GROUP = "None"


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(client: Any, stack: Deployed, logical_id: str) -> list[dict[str, Any]]:
    iam = client("iam", stack.region)
    role = stack.physical_id(logical_id)
    statements: list[dict[str, Any]] = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        statements.extend(without_none(parse_policy(doc))["Statement"])
    return statements


def parse_policy(doc: Any) -> dict[str, Any]:
    """A policy document as returned by the emulator. moto stores the inline policies of a role
    created by CloudFormation as the Python repr of the resolved dict, not as JSON."""
    if isinstance(doc, dict):
        return doc
    try:
        return json.loads(doc)
    except json.JSONDecodeError:
        return ast.literal_eval(doc)


def grants(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """action -> the resources it is allowed on."""
    out: dict[str, set[str]] = {}
    for st in statements:
        assert st["Effect"] == "Allow"
        for action in as_list(st["Action"]):
            out.setdefault(action, set()).update(as_list(st["Resource"]))
    return out


def ecs_arns(kind: str, clusters: list[str], region: str) -> set[str]:
    """The template's per-cluster ARN patterns: ``cluster`` (the cluster itself) or
    ``in-cluster`` (its container instances, tasks and services: ``*/<name>/*``). Partition,
    region and account are wildcards, pinned by the statement's condition (see pinned())."""
    if kind == "cluster":
        return {f"arn:*:ecs:*:*:cluster/{c}" for c in clusters}
    assert kind == "in-cluster", kind
    return {f"arn:*:ecs:*:*:*/{c}/*" for c in clusters}


def asg_arns(asgs: list[str], region: str) -> set[str]:
    return {f"arn:*:autoscaling:*:*:*:autoScalingGroupName/{a}" for a in asgs}


def pinned(statements: list[dict[str, Any]], region: str) -> None:
    """Every statement with a wildcarded ARN is pinned to the stack's region (the account needs no
    pin: ECS and Auto Scaling have no resource-based policies)."""
    for st in statements:
        if any(str(r).startswith("arn:*:") for r in as_list(st["Resource"])):
            assert st.get("Condition") == {
                "StringEquals": {"aws:RequestedRegion": region}
            }, st


# ------------------------------------------------------------------------------ smoke deploy


def test_stack_reaches_create_complete(main_stack: Deployed) -> None:
    assert main_stack.stack["StackStatus"] == "CREATE_COMPLETE", main_stack.stack.get("StackStatusReason")


def test_every_template_resource_is_created_or_explicitly_expected_to_be_skipped(main_stack: Deployed) -> None:
    template = load_template()["Resources"]
    created = {lid: r for lid, r in main_stack.resources.items() if lid}
    assert set(created) <= set(template), f"resources not in the template: {set(created) - set(template)}"

    unexplained = []
    for logical_id, resource in template.items():
        rtype = resource["Type"]
        if logical_id in created:
            assert created[logical_id]["ResourceType"] == rtype
            assert rtype not in SKIPPED_BY_MOTO, (
                f"moto now creates {rtype} ({logical_id}): drop it from SKIPPED_BY_MOTO and assert on it"
            )
        elif rtype not in SKIPPED_BY_MOTO and logical_id not in ABSENT_BY_CONDITION_MAIN:
            unexplained.append((logical_id, rtype))
    assert not unexplained, f"template resources neither created nor expected to be skipped: {unexplained}"

    template_types = {r["Type"] for r in template.values()}
    stale = set(SKIPPED_BY_MOTO) - template_types
    assert not stale, f"SKIPPED_BY_MOTO lists types the template does not use: {stale}"
    for logical_id in ABSENT_BY_CONDITION_MAIN:
        assert "Condition" in template[logical_id], f"{logical_id} has no Condition"


def test_outputs(client: Any, main_stack: Deployed) -> None:
    assert set(main_stack.outputs) >= {
        "TableName",
        "ArchiveArn",
        "OnLifecycleFunctionName",
        "OnTaskStoppedFunctionName",
        "DeadLetterQueueUrl",
        "FailureQueueUrl",
        "LifecycleRuleArn",
        "TaskStoppedRuleArn",
        "InstanceDrainingRuleArn",
        "ScheduleGroupName",
    }
    events = client("events")
    for output, rule in (
        ("LifecycleRuleArn", "LifecycleRule"),
        ("TaskStoppedRuleArn", "TaskStoppedRule"),
        ("InstanceDrainingRuleArn", "InstanceDrainingRule"),
    ):
        assert main_stack.outputs[output] == events.describe_rule(Name=main_stack.physical_id(rule))["Arn"]
    assert main_stack.outputs["ScheduleGroupName"] == MOTO_SCHEDULE_GROUP
    assert main_stack.outputs["TableName"] == main_stack.physical_id("StateTable")
    assert main_stack.outputs["OnLifecycleFunctionName"] == main_stack.physical_id("OnLifecycleFunction")
    assert main_stack.outputs["OnTaskStoppedFunctionName"] == main_stack.physical_id("OnTaskStoppedFunction")
    assert main_stack.outputs["DeadLetterQueueUrl"] == main_stack.physical_id("DeadLetterQueue")
    assert main_stack.outputs["FailureQueueUrl"] == main_stack.physical_id("FailureQueue")
    assert main_stack.outputs["ArchiveArn"].startswith(f"arn:aws:events:{MAIN_REGION}:{ACCOUNT}:archive/")


def test_table_key_and_billing(client: Any, main_stack: Deployed) -> None:
    table = client("dynamodb").describe_table(TableName=main_stack.outputs["TableName"])["Table"]
    assert table["KeySchema"] == [{"AttributeName": "container_instance_arn", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "container_instance_arn", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_table_ttl_pitr_sse_and_retention_in_template() -> None:
    # moto's CloudFormation ignores these three properties, so they are checked here.
    table = load_template()["Resources"]["StateTable"]
    props = table["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    # A failed create leaves no table behind; a delete or a replacement keeps the drains' state.
    assert table["DeletionPolicy"] == "RetainExceptOnCreate"
    assert table["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("logical_id", ["OnLifecycleFunction", "OnTaskStoppedFunction"])
def test_function_configuration(client: Any, main_stack: Deployed, logical_id: str) -> None:
    config = client("lambda").get_function_configuration(FunctionName=main_stack.physical_id(logical_id))
    assert config["Runtime"] == "provided.al2023"
    assert config["Handler"] == "bootstrap"
    assert config["Timeout"] == 60
    assert config["MemorySize"] == 128
    assert config["Role"].endswith(main_stack.physical_id(logical_id.replace("Function", "Role")))
    env = {k: str(v) for k, v in config["Environment"]["Variables"].items()}  # moto keeps numbers as numbers
    expected = {
        "ECS_DRAIN_TABLE": main_stack.outputs["TableName"],
        "ECS_DRAIN_CLUSTERS": "prod-cluster",
        "ECS_DRAIN_HOOK_NAME": "ecs-drain-terminate",
        "ECS_DRAIN_DEADLINE_SECONDS": "3600",
        "ECS_DRAIN_DEADLINE_POLICY": "continue",
        "ECS_DRAIN_REPLAY_MODE": "dry-run",
        "ECS_DRAIN_METRICS_NAMESPACE": "ecs-drain",
        "ECS_DRAIN_EVENTS": "on",
        "RUST_LOG": "info",
    }
    if logical_id == "OnLifecycleFunction":
        # Launch readiness off: an empty hook name is read as unset.
        expected["ECS_DRAIN_LAUNCH_HOOK_NAME"] = ""
        expected["ECS_DRAIN_LAUNCH_DEADLINE_SECONDS"] = "900"
        expected["ECS_DRAIN_LAUNCH_DEADLINE_POLICY"] = "ABANDON"
        expected["ECS_DRAIN_LAUNCH_WAIT_FOR_DAEMONS"] = "false"
        expected["ECS_DRAIN_SCHEDULE_GROUP"] = MOTO_SCHEDULE_GROUP
        # The schedules' dead-letter queue.
        expected["ECS_DRAIN_CHECK_DLQ_ARN"] = queue_arn(client, main_stack, "FailureQueueUrl")
        expected["ECS_DRAIN_SCHEDULE_ROLE_ARN"] = f"arn:aws:iam::{ACCOUNT}:role/{main_stack.physical_id('SchedulerRole')}"
        expected["ECS_DRAIN_ON_REBALANCE"] = "false"
    assert env == expected


@pytest.mark.parametrize("logical_id", ["OnLifecycleFunction", "OnTaskStoppedFunction"])
def test_function_architecture_and_logging_in_template(logical_id: str) -> None:
    # moto ignores Architectures and LoggingConfig.
    template = load_template()
    props = template["Resources"][logical_id]["Properties"]
    assert props["Architectures"] == [{"Ref": "Architecture"}]
    assert template["Parameters"]["Architecture"]["Default"] == "arm64"
    assert template["Parameters"]["Architecture"]["AllowedValues"] == ["arm64", "x86_64"]
    log_group = logical_id.replace("Function", "LogGroup")
    assert props["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": {"Ref": log_group},
    }
    assert template["Resources"][log_group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


@pytest.mark.parametrize(
    ("rule", "function"),
    [
        ("LifecycleRule", "OnLifecycleFunction"),
        ("TaskStoppedRule", "OnTaskStoppedFunction"),
        ("InstanceDrainingRule", "OnTaskStoppedFunction"),
        ("SpotWarningRule", "OnLifecycleFunction"),
    ],
)
def test_rule_target_retry_dead_letter_and_permission(client: Any, main_stack: Deployed, rule: str, function: str) -> None:
    events = client("events")
    rule_name = main_stack.physical_id(rule)
    described = events.describe_rule(Name=rule_name)
    assert described["State"] == "ENABLED"
    targets = events.list_targets_by_rule(Rule=rule_name)["Targets"]
    fn_arn = f"arn:aws:lambda:{MAIN_REGION}:{ACCOUNT}:function:{main_stack.physical_id(function)}"
    dlq_arn = client("sqs").get_queue_attributes(
        QueueUrl=main_stack.outputs["DeadLetterQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert len(targets) == 1
    assert targets[0]["Arn"] == fn_arn
    # A Spot warning is worth acting on for its two minutes only.
    retry = (2, 120) if rule == "SpotWarningRule" else (20, 3600)
    assert targets[0]["RetryPolicy"] == {"MaximumRetryAttempts": retry[0], "MaximumEventAgeInSeconds": retry[1]}
    assert targets[0]["DeadLetterConfig"] == {"Arn": dlq_arn}

    # One statement per rule feeding the function (two each), each for its rule only.
    policy = json.loads(client("lambda").get_policy(FunctionName=main_stack.physical_id(function))["Policy"])
    statements = [
        statement
        for statement in policy["Statement"]
        if statement["Condition"]["ArnLike"]["AWS:SourceArn"] == described["Arn"]
    ]
    assert len(statements) == 1
    assert len(policy["Statement"]) == 2
    assert statements[0]["Principal"] == {"Service": "events.amazonaws.com"}
    assert statements[0]["Action"] == "lambda:InvokeFunction"


def test_rule_patterns_resolved(client: Any, main_stack: Deployed) -> None:
    events = client("events")
    lifecycle = json.loads(events.describe_rule(Name=main_stack.physical_id("LifecycleRule"))["EventPattern"])
    stopped = json.loads(events.describe_rule(Name=main_stack.physical_id("TaskStoppedRule"))["EventPattern"])
    pin = {"account": [ACCOUNT], "region": [MAIN_REGION]}
    assert lifecycle == {
        **pin,
        "source": ["aws.autoscaling"],
        "detail-type": ["EC2 Instance-terminate Lifecycle Action"],
        "detail": {
            "AutoScalingGroupName": ["prod-ecs-asg"],
            "LifecycleHookName": ["ecs-drain-terminate"],
            "LifecycleTransition": ["autoscaling:EC2_INSTANCE_TERMINATING"],
        },
    }
    # The cluster as a suffix of clusterArn under the pinned account and region: CLUSTER_ARN.
    assert CLUSTER_ARN.endswith(":cluster/prod-cluster")
    assert stopped == {
        **pin,
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "lastStatus": ["STOPPED"],
            "containerInstanceArn": [{"exists": True}],
            "clusterArn": [{"suffix": ":cluster/prod-cluster"}],
        },
    }


def test_archive_on_default_bus_with_both_patterns(client: Any, main_stack: Deployed) -> None:
    events = client("events")
    archive_name = main_stack.outputs["ArchiveArn"].rsplit("/", 1)[1]
    archive = events.describe_archive(ArchiveName=archive_name)
    assert archive["EventSourceArn"] == f"arn:aws:events:{MAIN_REGION}:{ACCOUNT}:event-bus/default"
    assert archive["RetentionDays"] == 30
    lifecycle = json.loads(events.describe_rule(Name=main_stack.physical_id("LifecycleRule"))["EventPattern"])
    stopped = json.loads(events.describe_rule(Name=main_stack.physical_id("TaskStoppedRule"))["EventPattern"])
    draining = json.loads(events.describe_rule(Name=main_stack.physical_id("InstanceDrainingRule"))["EventPattern"])
    assert json.loads(archive["EventPattern"]) == archived_pattern(lifecycle, stopped, draining)


def test_queues_encrypted(client: Any, main_stack: Deployed) -> None:
    sqs = client("sqs")
    for output in ("DeadLetterQueueUrl", "FailureQueueUrl"):
        attrs = sqs.get_queue_attributes(QueueUrl=main_stack.outputs[output], AttributeNames=["All"])["Attributes"]
        assert attrs["SqsManagedSseEnabled"] == "true", output


def table_arn(stack: Deployed) -> str:
    return f"arn:aws:dynamodb:{stack.region}:{ACCOUNT}:table/{stack.outputs['TableName']}"


def queue_arn(client: Any, stack: Deployed, output: str) -> str:
    return client("sqs", stack.region).get_queue_attributes(
        QueueUrl=stack.outputs[output], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]


def log_group_arn(stack: Deployed, logical_id: str) -> str:
    # GetAtt of a log group's Arn is "arn:...:log-group:NAME:*" on AWS (matching its log streams,
    # which CreateLogStream/PutLogEvents act on); moto leaves the ":*" off.
    return f"arn:aws:logs:{stack.region}:{ACCOUNT}:log-group:{stack.physical_id(logical_id)}"


def assert_scoped(
    client: Any, stack: Deployed, g: dict[str, set[str]], log_group: str, ecs_kinds: list[str], clusters: list[str], asgs: list[str]
) -> None:
    """Every granted action applies only to this stack's named resources, whatever the action."""
    r = stack.region
    ecs = set().union(*(ecs_arns(kind, clusters, r) for kind in ecs_kinds))
    pinned(role_statements(client, stack, "OnLifecycleRole") + role_statements(client, stack, "OnTaskStoppedRole"), r)
    allowed_by_service = {
        "ecs": ecs,
        "autoscaling": asg_arns(asgs, r),
        "dynamodb": {table_arn(stack)},
        "scheduler": {f"arn:aws:scheduler:{r}:{ACCOUNT}:schedule/{MOTO_SCHEDULE_GROUP}/*"},
        "iam": {f"arn:aws:iam::{ACCOUNT}:role/{stack.physical_id('SchedulerRole')}"},
        # Lambda itself writes the function's logs and sends failed async invocations to the
        # OnFailure destination with the execution role.
        "logs": {log_group_arn(stack, log_group)},
        "sqs": {queue_arn(client, stack, "FailureQueueUrl")},
        # Drain events, on the default bus only (DrainEvents=on, the default).
        "events": {default_bus_arn(r)},
    }
    assert not set(g) & NEVER_CALLED, f"grants nothing calls: {set(g) & NEVER_CALLED}"
    for action, resources in g.items():
        service = action.split(":", 1)[0]
        assert service in allowed_by_service, f"{action}: a service this stack has no business with"
        if action in NO_RESOURCE_LEVEL_ACTIONS:
            assert resources == {"*"}, action
            continue
        assert "*" not in resources, action
        if service == "logs":
            resources = {arn.removesuffix(":*") for arn in resources}
        if service == "ecs":
            # One statement lists the per-cluster patterns of every ECS resource type the role
            # touches; each action authorises one type, so the list grants nothing more.
            assert resources == ecs, action
        else:
            assert resources == allowed_by_service[service], action


def default_bus_arn(region: str) -> str:
    return f"arn:aws:events:{region}:{ACCOUNT}:event-bus/default"


def drain_event_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if "events:PutEvents" in as_list(s["Action"])]


@pytest.mark.parametrize("role", ["OnLifecycleRole", "OnTaskStoppedRole"])
def test_both_roles_publish_drain_events_only_as_ecs_drain_on_the_default_bus(client: Any, main_stack: Deployed, role: str) -> None:
    put = drain_event_statements(role_statements(client, main_stack, role))
    assert len(put) == 1, put
    assert as_list(put[0]["Action"]) == ["events:PutEvents"]
    assert as_list(put[0]["Resource"]) == [default_bus_arn(main_stack.region)]
    assert put[0]["Condition"] == {"StringEquals": {"events:source": "ecs-drain"}}


def test_drain_events_can_be_turned_off(client: Any) -> None:
    param = load_template()["Parameters"]["DrainEvents"]
    assert (param["Default"], param["AllowedValues"]) == ("on", ["on", "off"])
    stack = Deployed(
        client,
        "eu-central-1",
        "ecs-drain-no-events",
        {"ClusterNames": "prod-cluster", "AutoScalingGroupNames": "prod-ecs-asg", "CreateLifecycleHooks": "false",
         "DrainEvents": "off"},
    )  # fmt: skip
    assert stack.stack["StackStatus"] == "CREATE_COMPLETE", stack.stack.get("StackStatusReason")
    lam = client("lambda", stack.region)
    for function, role in [("OnLifecycleFunction", "OnLifecycleRole"), ("OnTaskStoppedFunction", "OnTaskStoppedRole")]:
        env = lam.get_function_configuration(FunctionName=stack.physical_id(function))["Environment"]["Variables"]
        assert env["ECS_DRAIN_EVENTS"] == "off"
        statements = role_statements(client, stack, role)
        assert statements, role
        assert drain_event_statements(statements) == [], role


def test_spot_warning_rule_pattern(client: Any, main_stack: Deployed) -> None:
    events = client("events")
    pattern = json.loads(events.describe_rule(Name=main_stack.physical_id("SpotWarningRule"))["EventPattern"])
    assert pattern == {
        "account": [ACCOUNT],
        "region": [MAIN_REGION],
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Spot Instance Interruption Warning"],
        "detail": {"instance-id": [{"prefix": "i-"}], "instance-action": ["terminate", "stop", "hibernate"]},
    }
    env = client("lambda").get_function_configuration(FunctionName=main_stack.physical_id("OnLifecycleFunction"))
    assert env["Environment"]["Variables"]["ECS_DRAIN_ON_REBALANCE"] == "false"


def test_rebalance_recommendations_are_routed_only_when_enabled(client: Any) -> None:
    param = load_template()["Parameters"]["DrainOnRebalance"]
    assert (param["Default"], param["AllowedValues"]) == ("false", ["true", "false"])
    stack = Deployed(
        client,
        "eu-west-2",
        "ecs-drain-rebalance",
        {"ClusterNames": "prod-cluster", "AutoScalingGroupNames": "prod-ecs-asg", "CreateLifecycleHooks": "false",
         "DrainOnRebalance": "true"},
    )  # fmt: skip
    assert stack.stack["StackStatus"] == "CREATE_COMPLETE", stack.stack.get("StackStatusReason")
    events = client("events", stack.region)
    rule = events.describe_rule(Name=stack.physical_id("RebalanceRule"))
    assert json.loads(rule["EventPattern"]) == {
        "account": [ACCOUNT],
        "region": [stack.region],
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance Rebalance Recommendation"],
        "detail": {"instance-id": [{"prefix": "i-"}]},
    }
    (target,) = events.list_targets_by_rule(Rule=stack.physical_id("RebalanceRule"))["Targets"]
    fn = stack.physical_id("OnLifecycleFunction")
    assert target["Arn"].endswith(f":function:{fn}")
    lam = client("lambda", stack.region)
    assert lam.get_function_configuration(FunctionName=fn)["Environment"]["Variables"]["ECS_DRAIN_ON_REBALANCE"] == "true"
    policy = json.loads(lam.get_policy(FunctionName=fn)["Policy"])
    assert rule["Arn"] in {statement["Condition"]["ArnLike"]["AWS:SourceArn"] for statement in policy["Statement"]}


def test_on_lifecycle_role_least_privilege(client: Any, main_stack: Deployed) -> None:
    statements = role_statements(client, main_stack, "OnLifecycleRole")
    g = grants(statements)
    assert_scoped(
        client, main_stack, g, "OnLifecycleLogGroup",
        ["cluster", "in-cluster"], ["prod-cluster"], ["prod-ecs-asg"],
    )  # fmt: skip
    # iam:PassRole only of the scheduler role, and only to Scheduler.
    pass_role = [s for s in statements if "iam:PassRole" in as_list(s["Action"])]
    assert len(pass_role) == 1 and as_list(pass_role[0]["Action"]) == ["iam:PassRole"]
    assert pass_role[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    # Book and move only: an ended drain's one-shot check fires once and EventBridge Scheduler
    # deletes it (ActionAfterCompletion=DELETE), so the function never reads or deletes one.
    scheduler = sorted(a for a in g if a.startswith("scheduler:"))
    assert scheduler == ["scheduler:CreateSchedule", "scheduler:UpdateSchedule"], scheduler


def test_on_task_stopped_role_least_privilege(client: Any, main_stack: Deployed) -> None:
    statements = role_statements(client, main_stack, "OnTaskStoppedRole")
    g = grants(statements)
    # No scheduler, no PassRole: on-task-stopped neither books nor cancels checks. (Its cluster
    # grant serves one rare path: giving an expired drain's instance back to service.)
    assert_scoped(
        client, main_stack, g, "OnTaskStoppedLogGroup",
        ["cluster", "in-cluster"], ["prod-cluster"], ["prod-ecs-asg"],
    )  # fmt: skip
    assert not [a for a in g if a.startswith(("scheduler:", "iam:"))], sorted(g)


def test_no_wildcard_actions_and_star_resource_only_where_required() -> None:
    """Over the whole template: no '*' in any action; Resource '*' only where IAM has no resource type."""
    template = load_template()

    def statements(node: Any) -> Any:
        if isinstance(node, dict):
            if "Effect" in node and "Action" in node:
                yield node
            for v in node.values():
                yield from statements(v)
        elif isinstance(node, list):
            for v in node:
                yield from statements(v)

    found = list(statements(template["Resources"]))
    assert len(found) >= 10
    for st in found:
        for action in as_list(st["Action"]):
            assert "*" not in action, st
        if "*" in as_list(st.get("Resource", [])):
            assert set(as_list(st["Action"])) <= NO_RESOURCE_LEVEL_ACTIONS, st


# ------------------------------------------------------------------------------ name lists


@pytest.mark.parametrize(
    ("region", "clusters", "asgs"),
    [
        ("us-west-1", ["blue", "green"], ["blue-asg", "green-asg"]),
        ("us-west-2", ["c-one", "c-two", "c-three"], ["a-one", "a-two", "a-three"]),
    ],
)
def test_every_listed_cluster_and_asg_is_covered(client: Any, region: str, clusters: list[str], asgs: list[str]) -> None:
    """2 and 3 names: every name reaches IAM, the rule pattern and the archive pattern."""
    stack = Deployed(
        client,
        region,
        f"ecs-drain-{len(clusters)}",
        {"ClusterNames": ",".join(clusters), "AutoScalingGroupNames": ",".join(asgs), "CreateLifecycleHooks": "false"},
    )
    assert stack.stack["StackStatus"] == "CREATE_COMPLETE"

    lifecycle = grants(role_statements(client, stack, "OnLifecycleRole"))
    assert lifecycle["ecs:StopTask"] == ecs_arns("cluster", clusters, region) | ecs_arns("in-cluster", clusters, region)
    assert lifecycle["autoscaling:RecordLifecycleActionHeartbeat"] == asg_arns(asgs, region)
    stopped = grants(role_statements(client, stack, "OnTaskStoppedRole"))
    assert stopped["ecs:StopTask"] == ecs_arns("cluster", clusters, region) | ecs_arns("in-cluster", clusters, region)
    assert stopped["autoscaling:CompleteLifecycleAction"] == asg_arns(asgs, region)

    events = client("events", region)
    task_pattern = json.loads(events.describe_rule(Name=stack.physical_id("TaskStoppedRule"))["EventPattern"])
    assert task_pattern["detail"]["clusterArn"] == [{"suffix": f":cluster/{c}"} for c in clusters]
    assert (task_pattern["account"], task_pattern["region"]) == ([ACCOUNT], [region])
    lifecycle_pattern = json.loads(events.describe_rule(Name=stack.physical_id("LifecycleRule"))["EventPattern"])
    assert lifecycle_pattern["detail"]["AutoScalingGroupName"] == asgs
    archive_name = stack.outputs["ArchiveArn"].rsplit("/", 1)[1]
    draining_pattern = json.loads(events.describe_rule(Name=stack.physical_id("InstanceDrainingRule"))["EventPattern"])
    assert draining_pattern["detail"]["clusterArn"] == task_pattern["detail"]["clusterArn"]
    archive_pattern = json.loads(events.describe_archive(ArchiveName=archive_name)["EventPattern"])
    assert archive_pattern == archived_pattern(lifecycle_pattern, task_pattern, draining_pattern)

    env = client("lambda", region).get_function_configuration(FunctionName=stack.physical_id("OnTaskStoppedFunction"))[
        "Environment"
    ]["Variables"]
    assert env["ECS_DRAIN_CLUSTERS"] == ",".join(clusters)


# ------------------------------------------------------------------------------ parameters


def test_parameter_ranges_are_enforced_by_the_template() -> None:
    """cfn-lint does not catch range errors, so the template must carry its own bounds."""
    params = load_template()["Parameters"]
    assert (params["HeartbeatTimeoutSeconds"]["MinValue"], params["HeartbeatTimeoutSeconds"]["MaxValue"]) == (120, 7200)
    assert params["HeartbeatTimeoutSeconds"]["Default"] == 300
    assert (params["DrainDeadlineSeconds"]["MinValue"], params["DrainDeadlineSeconds"]["MaxValue"]) == (60, 172800)
    assert params["DrainDeadlineSeconds"]["Default"] == 3600
    assert params["DeadlinePolicy"]["AllowedValues"] == ["continue", "abandon"]
    assert params["ReplayMode"]["AllowedValues"] == ["dry-run", "live"]
    assert params["ReplayMode"]["Default"] == "dry-run"
    assert params["CreateLifecycleHooks"]["AllowedValues"] == ["true", "false"]
    assert params["MemorySize"]["Default"] == 128
    # ClusterNames is a plain string so that AllowedPattern bounds the count (1-50) and
    # MaxLength the total; AutoScalingGroupNames is a list, which Fn::ForEach needs for the
    # hooks, so AllowedPattern applies to each name (test_scale.py).
    assert params["ClusterNames"]["Type"] == "String"
    assert params["AutoScalingGroupNames"]["Type"] == "CommaDelimitedList"
    assert params["HookName"]["Default"] == "ecs-drain-terminate"
    assert params["LogRetentionDays"]["AllowedValues"] == [
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
    ]  # fmt: skip


def test_lifecycle_hooks_in_template() -> None:
    """moto skips AWS::AutoScaling::LifecycleHook, so the hooks are checked on the template."""
    groups = ["blue-asg", "green_asg", "red.asg"]
    resources = load_template({"AutoScalingGroupNames": ",".join(groups)})["Resources"]
    hooks = {lid: r for lid, r in resources.items() if r["Type"] == "AWS::AutoScaling::LifecycleHook"
             and r["Properties"]["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"}  # fmt: skip
    launch = {lid for lid, r in resources.items() if r["Type"] == "AWS::AutoScaling::LifecycleHook"} - set(hooks)
    assert launch == {"LaunchHookblueasg", "LaunchHookgreenasg", "LaunchHookredasg"}
    # One hook per group (Fn::ForEach), named after the group's letters and digits.
    assert set(hooks) == {"LifecycleHookblueasg", "LifecycleHookgreenasg", "LifecycleHookredasg"}
    assert sorted(h["Properties"]["AutoScalingGroupName"] for h in hooks.values()) == groups
    for hook in hooks.values():
        props = hook["Properties"]
        assert props["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
        assert props["DefaultResult"] == "CONTINUE"
        assert props["HeartbeatTimeout"] == {"Ref": "HeartbeatTimeoutSeconds"}
        assert props["LifecycleHookName"] == {"Ref": "HookName"}
        assert hook["Condition"] == "CreateHooks"


def test_event_invoke_configs_in_template() -> None:
    """moto skips AWS::Lambda::EventInvokeConfig, so it is checked on the template."""
    resources = load_template()["Resources"]
    configs = {r["Properties"]["FunctionName"]["Ref"]: r["Properties"] for r in resources.values()
               if r["Type"] == "AWS::Lambda::EventInvokeConfig"}  # fmt: skip
    assert set(configs) == {"OnLifecycleFunction", "OnTaskStoppedFunction"}
    for props in configs.values():
        assert props["MaximumRetryAttempts"] == 2
        assert 60 <= props["MaximumEventAgeInSeconds"] <= 21600
        assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["FailureQueue", "Arn"]}}}


# The metric names the functions write in Embedded Metric Format (each also with no dimensions).
EMF_METRICS = {
    "DrainsStarted", "DrainsCompleted", "DrainDuration", "DrainsExpired", "DeadlinesEnforced",
    "StuckServices", "RefusedEvents", "PermanentFailures", "HookSecondsLeft", "EventsNotPublished",
}  # fmt: skip
# Launch readiness's metrics (not on the dashboard yet).
LAUNCH_EMF_METRICS = {
    "LaunchesStarted", "LaunchesCompleted", "LaunchDuration", "LaunchDeadlinesPassed", "LaunchesExpired",
    "InstancesReactivated",
}  # fmt: skip
NS = {"Ref": "MetricsNamespace"}


def alarms() -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in load_template()["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def watched(props: dict[str, Any]) -> tuple[Any, ...]:
    """(namespace, metric, dimension name, what the dimension names) of an alarm."""
    dims = props.get("Dimensions", [])
    assert len(dims) <= 1, props
    if not dims:
        return (json.dumps(props["Namespace"]), props["MetricName"], None, None)
    value = dims[0]["Value"]
    target = value.get("Ref") or value["Fn::GetAtt"][0]
    return (json.dumps(props["Namespace"]), props["MetricName"], dims[0]["Name"], target)


def test_alarms_in_template() -> None:
    """moto skips AWS::CloudWatch::Alarm: every alarm is "> 0 in 5 minutes" on one metric."""
    found = {}
    for logical_id, alarm in alarms().items():
        props = alarm["Properties"]
        assert props["ComparisonOperator"] == "GreaterThanThreshold" and props["Threshold"] == 0, logical_id
        assert props["EvaluationPeriods"] == 1 and props["Period"] == 300, logical_id
        assert props["TreatMissingData"] == "notBreaching", logical_id
        assert props["AlarmActions"] == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
        found[logical_id] = watched(props)
    lam, sqs, sched, ns = '"AWS/Lambda"', '"AWS/SQS"', '"AWS/Scheduler"', json.dumps(NS)
    assert found == {
        "OnLifecycleErrorsAlarm": (lam, "Errors", "FunctionName", "OnLifecycleFunction"),
        "OnTaskStoppedErrorsAlarm": (lam, "Errors", "FunctionName", "OnTaskStoppedFunction"),
        "DeadLetterQueueDepthAlarm": (sqs, "ApproximateNumberOfMessagesVisible", "QueueName", "DeadLetterQueue"),
        "FailureQueueDepthAlarm": (sqs, "ApproximateNumberOfMessagesVisible", "QueueName", "FailureQueue"),
        # The functions' own metrics, stack-wide (the no-dimension set).
        "DrainsExpiredAlarm": (ns, "DrainsExpired", None, None),
        "PermanentFailuresAlarm": (ns, "PermanentFailures", None, None),
        "DeadlinesEnforcedAlarm": (ns, "DeadlinesEnforced", None, None),
        "OnLifecycleThrottlesAlarm": (lam, "Throttles", "FunctionName", "OnLifecycleFunction"),
        "OnTaskStoppedThrottlesAlarm": (lam, "Throttles", "FunctionName", "OnTaskStoppedFunction"),
        "OnLifecycleAsyncEventsDroppedAlarm": (lam, "AsyncEventsDropped", "FunctionName", "OnLifecycleFunction"),
        "OnTaskStoppedAsyncEventsDroppedAlarm": (lam, "AsyncEventsDropped", "FunctionName", "OnTaskStoppedFunction"),
        "CheckInvocationsDroppedAlarm": (sched, "InvocationDroppedCount", "ScheduleGroup", "DrainCheckScheduleGroup"),
        "CheckTargetErrorsAlarm": (sched, "TargetErrorCount", "ScheduleGroup", "DrainCheckScheduleGroup"),
        "LaunchDeadlinesPassedAlarm": (ns, "LaunchDeadlinesPassed", None, None),
    }
    for props in (a["Properties"] for a in alarms().values()):
        if props["Namespace"] == NS:
            assert props["MetricName"] in EMF_METRICS | LAUNCH_EMF_METRICS
        statistic = "Maximum" if props["Namespace"] == "AWS/SQS" else "Sum"
        assert props["Statistic"] == statistic, props


def test_deadline_alarm_can_be_turned_off() -> None:
    template = load_template()
    param = template["Parameters"]["AlarmOnDeadlineEnforced"]
    assert (param["Default"], param["AllowedValues"]) == ("true", ["true", "false"])
    assert alarms()["DeadlinesEnforcedAlarm"]["Condition"] == "AlarmOnDeadline"
    assert template["Conditions"]["AlarmOnDeadline"] == {"Fn::Equals": [{"Ref": "AlarmOnDeadlineEnforced"}, "true"]}
    conditional = {lid: a["Condition"] for lid, a in alarms().items() if "Condition" in a}
    assert conditional == {"DeadlinesEnforcedAlarm": "AlarmOnDeadline", "LaunchDeadlinesPassedAlarm": "LaunchReadinessOn"}


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("ecs-drain", True), ("team/ecs_drain.v2", True), ("AWS/ECS", False), ("ecs drain", False), ('ecs"drain', False),
     ("", False), ("n" * 255, True), ("n" * 256, False)],
)  # fmt: skip
def test_metrics_namespace_parameter(value: str, accepted: bool) -> None:
    param = load_template()["Parameters"]["MetricsNamespace"]
    assert param["Default"] == "ecs-drain"
    assert allowed(param, value) is accepted


def dashboard_metrics(body: dict[str, Any]) -> tuple[set[tuple[str, str]], list[str]]:
    """The (namespace, metric) pairs a dashboard's widgets plot, and its metric-math expressions."""
    metrics, expressions = set(), []
    for widget in body["widgets"]:
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict):
                expressions.append(row[0]["expression"])
            else:
                metrics.add((row[0], row[1]))
    return metrics, expressions


def test_dashboard(client: Any, main_stack: Deployed) -> None:
    """moto creates the dashboard with the body resolved: it is JSON and plots the stack's metrics."""
    name = main_stack.physical_id("DrainDashboard")
    body = json.loads(client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"])
    metrics, expressions = dashboard_metrics(body)
    ns_metrics = {m for n, m in metrics if n == "ecs-drain"}
    assert ns_metrics == EMF_METRICS
    assert {("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles")} <= metrics
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert any(t.startswith("Drains in flight") for t in titles)
    # In flight = started - completed - expired (metric math), outcomes by Result.
    assert "RUNNING_SUM(FILL(started, 0) - FILL(completed, 0) - FILL(expired, 0))" in expressions
    for result in ("CONTINUE", "ABANDON"):
        assert any(f'MetricName="DrainsCompleted" Result="{result}"' in e for e in expressions), result
    duration = [row[2]["stat"] for w in body["widgets"] for row in w["properties"]["metrics"] if row[:2] == ["ecs-drain", "DrainDuration"]]
    assert duration == ["p50", "p99", "Maximum"]
    functions = {row[3] for w in body["widgets"] for row in w["properties"]["metrics"] if row[0] == "AWS/Lambda"}
    assert functions == {main_stack.physical_id("OnLifecycleFunction"), main_stack.physical_id("OnTaskStoppedFunction")}
    assert all(w["properties"]["region"] == MAIN_REGION for w in body["widgets"])


def test_dead_letter_queue_policy_admits_every_rule_that_dead_letters_to_it_and_no_other() -> None:
    """moto skips AWS::SQS::QueuePolicy, so it is checked on the template. A rule whose target
    names DeadLetterQueue but whose ARN the policy omits loses its dead letters on AWS
    (InvocationsFailedToBeSentToDlq), so the list is derived from the rules, with each rule's own
    Condition, rather than written out again."""
    resources = load_template()["Resources"]
    policy = resources["DeadLetterQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "DeadLetterQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    (condition,) = statement["Condition"].items()
    assert condition[0] == "ArnEquals"
    (listed,) = condition[1].values()

    def arn_entry(logical_id: str) -> Any:
        arn = {"Fn::GetAtt": [logical_id, "Arn"]}
        rule_condition = resources[logical_id].get("Condition")
        return arn if rule_condition is None else {"Fn::If": [rule_condition, arn, {"Ref": "AWS::NoValue"}]}

    dead_lettering = [
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Events::Rule"
        and any(target.get("DeadLetterConfig", {}).get("Arn") == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]} for target in resource["Properties"].get("Targets", []))
    ]
    assert len(dead_lettering) >= 7, dead_lettering
    assert sorted(map(repr, listed)) == sorted(repr(arn_entry(logical_id)) for logical_id in dead_lettering)


def number_parameter_accepts(param: dict[str, Any], value: int) -> bool:
    """What CloudFormation does with a Number parameter's MinValue/MaxValue at CreateStack."""
    return param.get("MinValue", value) <= value <= param.get("MaxValue", value)


@pytest.mark.parametrize(("seconds", "accepted"), [(30, False), (60, False), (119, False), (120, True), (7200, True), (7201, False)])
def test_heartbeat_timeout_boundary(seconds: int, accepted: bool) -> None:
    """Checks are at least 60 s apart, so a timeout under 120 s could run out between two checks."""
    param = load_template()["Parameters"]["HeartbeatTimeoutSeconds"]
    assert number_parameter_accepts(param, seconds) is accepted
    assert number_parameter_accepts(param, param["Default"])


def allowed(param: dict[str, Any], value: str) -> bool:
    """CloudFormation's AllowedPattern check: the pattern must match the whole value."""
    return re.fullmatch(param["AllowedPattern"], value) is not None


def list_allowed(param: dict[str, Any], value: str) -> bool:
    """A CommaDelimitedList's AllowedPattern: CloudFormation matches it against each name."""
    return all(re.fullmatch(param["AllowedPattern"], item) is not None for item in value.split(","))


def cluster_names_accepted(value: str) -> bool:
    param = load_template()["Parameters"]["ClusterNames"]
    return allowed(param, value) and len(value) <= param["MaxLength"]


def names(count: int, length: int = 3) -> str:
    return ",".join(f"{i:0{length}d}"[-length:] for i in range(count))


CLUSTER_LIST_CASES = [
    ("one", True),
    ("one,two,three,four", True),
    (names(50), True),
    (names(51), False),  # more than 50 names
    (names(50, 13), True),  # 50 * 13 + 49 commas = 699 characters
    (names(50, 14), False),  # 749 characters: over MaxLength (the policy size quota)
    ("", False),
    ("one,", False),
    (",one", False),
    ("one,,two", False),
    ("one, two", False),
    ("one two", False),
    ("x" * 255, True),
    ("x" * 256, False),
]


@pytest.mark.parametrize(("value", "accepted"), CLUSTER_LIST_CASES)
def test_cluster_names_accept_one_to_fifty_names_within_the_size_budget(value: str, accepted: bool) -> None:
    assert cluster_names_accepted(value) is accepted


GROUP_LIST_CASES = [
    ("one", True),
    (names(50, 40), True),
    ("", False),
    ("one,", False),
    ("one,,two", False),
    ("one, two", False),
    ("x" * 40, True),
    ("x" * 41, False),  # 50 groups of 40 characters is what the policy size quota admits
]


@pytest.mark.parametrize(("value", "accepted"), GROUP_LIST_CASES)
def test_group_names_are_checked_one_by_one(value: str, accepted: bool) -> None:
    assert list_allowed(load_template()["Parameters"]["AutoScalingGroupNames"], value) is accepted


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("prod_cluster-2", True), ("prod.cluster", False), ("prod/cluster", False), ("arn:aws:ecs:us-east-1:123456789012:cluster/a", False), ("*", False)],
)
def test_cluster_names_are_ecs_cluster_names(value: str, accepted: bool) -> None:
    """ECS cluster names: letters, digits, hyphens, underscores (not ARNs, no wildcards)."""
    assert cluster_names_accepted(value) is accepted


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("prod-ecs-asg", True), ("eks/ng.1:blue", True), ("asg*", False), ("asg?", False), ('a"b', False), ("a\\b", False), ("a\tb", False)],
)
def test_asg_names_cannot_widen_a_policy_or_break_the_archive_pattern(value: str, accepted: bool) -> None:
    """ASG names go into IAM ARNs (where * and ? are wildcards) and into a JSON string."""
    assert list_allowed(load_template()["Parameters"]["AutoScalingGroupNames"], value) is accepted


def test_no_wait_condition_guard_is_left() -> None:
    """The name count is refused at CreateStack by the parameters, not by a failing resource."""
    resources = load_template()["Resources"]
    assert not [lid for lid, r in resources.items() if r["Type"].startswith("AWS::CloudFormation::Wait")]


def test_lifecycle_hooks_wait_for_the_rule_its_permission_and_the_invoke_config() -> None:
    """A scale-in during stack creation must not reach a hook before its notice can reach the function."""
    resources = load_template()["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::AutoScaling::LifecycleHook":
            continue
        if resource["Properties"]["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING":
            # a launch hook also waits for the state-change rule and the ListServices grant
            assert set(resource["DependsOn"]) == {
                "LaunchRule", "LaunchRulePermission", "InstanceJoinedRulePermission", "OnLifecycleLaunchPolicy",
                "OnLifecycleInvokeConfig",
            }, logical_id  # fmt: skip
        else:
            assert set(resource["DependsOn"]) == {"LifecycleRule", "LifecycleRulePermission", "OnLifecycleInvokeConfig"}, logical_id


def test_schedule_group_is_named_by_cloudformation() -> None:
    resources = load_template()["Resources"]
    assert "Name" not in resources["DrainCheckScheduleGroup"].get("Properties", {})
    assert "-checks" not in TEMPLATE_PATH.read_text(), "a hand-built schedule group name is left in the template"


def test_schedule_group_name_is_one_value_everywhere(client: Any, main_stack: Deployed) -> None:
    """Environment, policy ARN and output name the same group (in moto: the string "None")."""
    env = client("lambda").get_function_configuration(FunctionName=main_stack.physical_id("OnLifecycleFunction"))[
        "Environment"
    ]["Variables"]
    group = env["ECS_DRAIN_SCHEDULE_GROUP"]
    assert group == main_stack.outputs["ScheduleGroupName"] == MOTO_SCHEDULE_GROUP
    g = grants(role_statements(client, main_stack, "OnLifecycleRole"))
    assert g["scheduler:CreateSchedule"] == {f"arn:aws:scheduler:{MAIN_REGION}:{ACCOUNT}:schedule/{group}/*"}


def test_on_task_stopped_reserved_concurrency_is_unset_by_default(client: Any, main_stack: Deployed) -> None:
    concurrency = client("lambda").get_function_concurrency(FunctionName=main_stack.physical_id("OnTaskStoppedFunction"))
    assert "ReservedConcurrentExecutions" not in concurrency


def test_on_task_stopped_reserved_concurrency_parameter(client: Any) -> None:
    stack = Deployed(
        client,
        "ap-southeast-2",
        "ecs-drain-reserved",
        {"ClusterNames": "prod-cluster", "AutoScalingGroupNames": "prod-ecs-asg", "CreateLifecycleHooks": "false",
         "OnTaskStoppedReservedConcurrency": "5"},
    )  # fmt: skip
    assert stack.stack["StackStatus"] == "CREATE_COMPLETE"
    lam = client("lambda", stack.region)
    stopped = lam.get_function_concurrency(FunctionName=stack.physical_id("OnTaskStoppedFunction"))
    assert int(stopped["ReservedConcurrentExecutions"]) == 5
    # on-lifecycle is not capped by it.
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=stack.physical_id("OnLifecycleFunction"))


@pytest.mark.parametrize(("value", "accepted"), [("", True), ("5", True), ("9999", True), ("0", False), ("05", False), ("10000", False), ("-1", False), ("ten", False)])
def test_reserved_concurrency_parameter_values(value: str, accepted: bool) -> None:
    """Empty = unreserved; 0 would throttle on-task-stopped entirely, so it is refused."""
    param = load_template()["Parameters"]["OnTaskStoppedReservedConcurrency"]
    assert param["Default"] == ""
    assert allowed(param, value) is accepted
