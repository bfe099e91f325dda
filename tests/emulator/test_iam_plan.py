"""The resources and condition keys each request is authorized on (iam_ext.plan_checks, pure)."""

from __future__ import annotations

from typing import Any, Callable

from ecs_drain_moto.iam_ext import PASSED_TO_SCHEDULER, Check, autoscaling_group_arn, plan_checks

R, A = "eu-west-1", "111122223333"
CLUSTER = f"arn:aws:ecs:{R}:{A}:cluster/prod"


def params(**values: Any) -> Callable[[str], Any]:
    return lambda name: values.get(name)


def ecs(op: str, **values: Any) -> list[Check] | None:
    return plan_checks("ecs", op, params(**values), R, A)


def test_ecs_ids_and_names_expand_with_the_request_cluster():
    assert ecs("DescribeContainerInstances", cluster="prod", containerInstances=["abc"]) == [
        Check("ecs:DescribeContainerInstances", f"arn:aws:ecs:{R}:{A}:container-instance/prod/abc", {"ecs:cluster": CLUSTER})
    ]
    assert ecs("DescribeTasks", cluster=CLUSTER, tasks=["t1", "t2"]) == [
        Check("ecs:DescribeTasks", f"arn:aws:ecs:{R}:{A}:task/prod/{t}", {"ecs:cluster": CLUSTER}) for t in ("t1", "t2")
    ]
    assert ecs("DescribeServices", cluster="prod", services=["web"]) == [
        Check("ecs:DescribeServices", f"arn:aws:ecs:{R}:{A}:service/prod/web", {"ecs:cluster": CLUSTER})
    ]


def test_ecs_default_cluster_when_none_is_named():
    default = f"arn:aws:ecs:{R}:{A}:cluster/default"
    assert ecs("DescribeClusters") == [Check("ecs:DescribeClusters", default)]
    assert ecs("DescribeClusters", clusters=["prod", CLUSTER]) == [Check("ecs:DescribeClusters", CLUSTER)] * 2
    assert ecs("ListClusters") == [Check("ecs:ListClusters", "*")]
    assert ecs("ListContainerInstances") == [Check("ecs:ListContainerInstances", default)]
    assert ecs("StopTask", task="t1") == [
        Check("ecs:StopTask", f"arn:aws:ecs:{R}:{A}:task/default/t1", {"ecs:cluster": default})
    ]


def test_ecs_full_arns_are_kept_and_old_format_arns_gain_the_cluster():
    new = f"arn:aws:ecs:{R}:{A}:container-instance/prod/abc"
    old = f"arn:aws:ecs:{R}:{A}:container-instance/abc"
    checks = ecs("UpdateContainerInstancesState", cluster="prod", containerInstances=[new, old])
    assert [c.resource for c in checks or []] == [new, new]


def test_list_tasks_is_authorized_on_the_container_instance():
    assert ecs("ListTasks", cluster="prod", containerInstance="abc") == [
        Check("ecs:ListTasks", f"arn:aws:ecs:{R}:{A}:container-instance/prod/abc", {"ecs:cluster": CLUSTER})
    ]
    assert ecs("ListTasks", cluster="prod") == [
        Check("ecs:ListTasks", f"arn:aws:ecs:{R}:{A}:container-instance/prod/*", {"ecs:cluster": CLUSTER})
    ]


def test_operations_outside_the_table_are_left_to_moto():
    assert ecs("ListTaskDefinitions") is None
    assert plan_checks("iam", "GetRole", params(), R, A) is None
    assert plan_checks("sts", "GetCallerIdentity", params(), R, A) is None


def test_dynamodb_table_and_index_arns():
    table = f"arn:aws:dynamodb:{R}:{A}:table/drains"
    assert plan_checks("dynamodb", "PutItem", params(TableName="drains"), R, A) == [Check("dynamodb:PutItem", table)]
    assert plan_checks("dynamodb", "GetItem", params(TableName=table), R, A) == [Check("dynamodb:GetItem", table)]
    assert plan_checks("dynamodb", "Query", params(TableName="drains", IndexName="by-state"), R, A) == [
        Check("dynamodb:Query", f"{table}/index/by-state")
    ]


def test_autoscaling_group_arn_real_or_wildcard_uuid():
    real = f"arn:aws:autoscaling:{R}:{A}:autoScalingGroup:0f3c:autoScalingGroupName/workers"
    assert plan_checks("autoscaling", "CompleteLifecycleAction", params(AutoScalingGroupName="workers"), R, A, lambda _n: real) == [
        Check("autoscaling:CompleteLifecycleAction", real)
    ]
    assert autoscaling_group_arn("gone", R, A, None) == (
        f"arn:aws:autoscaling:{R}:{A}:autoScalingGroup:*:autoScalingGroupName/gone"
    )
    assert plan_checks("autoscaling", "DescribeAutoScalingInstances", params(), R, A) == [
        Check("autoscaling:DescribeAutoScalingInstances", "*")
    ]


def test_scheduler_schedule_arn_and_pass_role():
    role = f"arn:aws:iam::{A}:role/scheduler"
    checks = plan_checks("scheduler", "CreateSchedule", params(Name="d1", GroupName="g", Target={"RoleArn": role}), R, A)
    assert checks == [
        Check("scheduler:CreateSchedule", f"arn:aws:scheduler:{R}:{A}:schedule/g/d1"),
        Check("iam:PassRole", role, PASSED_TO_SCHEDULER),
    ]
    assert plan_checks("scheduler", "DeleteSchedule", params(Name="d1"), R, A) == [
        Check("scheduler:DeleteSchedule", f"arn:aws:scheduler:{R}:{A}:schedule/default/d1")
    ]


def test_global_keys_region_of_the_request_account_of_the_resource():
    from ecs_drain_moto.iam_ext import with_global_keys

    task = Check("ecs:StopTask", f"arn:aws:ecs:{R}:{A}:task/prod/t1", {"ecs:cluster": CLUSTER})
    assert with_global_keys(task, R) == Check(
        task.action, task.resource, {"aws:RequestedRegion": R, "aws:ResourceAccount": A, "ecs:cluster": CLUSTER}
    )
    # "*" names no account; an IAM role ARN has no region but an account.
    assert with_global_keys(Check("ecs:ListClusters", "*"), R).conditions == {"aws:RequestedRegion": R}
    role = Check("iam:PassRole", f"arn:aws:iam::{A}:role/r", dict(PASSED_TO_SCHEDULER))
    assert with_global_keys(role, R).conditions == {"aws:RequestedRegion": R, "aws:ResourceAccount": A, **PASSED_TO_SCHEDULER}


def test_events_put_events_is_authorized_on_each_entrys_bus_with_its_source():
    entries = [
        {"Source": "ecs-drain", "DetailType": "ECS Drain Started", "Detail": "{}"},
        {"Source": "ecs-drain", "DetailType": "ECS Drain Started", "Detail": "{}", "EventBusName": "default"},
        {"Source": "ecs-drain", "DetailType": "ECS Drain Expired", "Detail": "{}",
         "EventBusName": f"arn:aws:events:{R}:{A}:event-bus/other"},
    ]  # fmt: skip
    assert plan_checks("events", "PutEvents", params(Entries=entries), R, A) == [
        Check("events:PutEvents", f"arn:aws:events:{R}:{A}:event-bus/default",
              {"events:source": "ecs-drain", "events:detail-type": "ECS Drain Started"}),
        Check("events:PutEvents", f"arn:aws:events:{R}:{A}:event-bus/other",
              {"events:source": "ecs-drain", "events:detail-type": "ECS Drain Expired"}),
    ]  # fmt: skip
    # Other EventBridge operations are left to moto's own check.
    assert plan_checks("events", "PutRule", params(Name="r"), R, A) is None


def test_describe_stacks_by_name_is_authorized_on_the_stacks_id():
    stack_id = f"arn:aws:cloudformation:{R}:{A}:stack/ecs-drain-prod/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    known = {"ecs-drain-prod": stack_id}.get
    assert plan_checks("cloudformation", "DescribeStacks", params(StackName="ecs-drain-prod"), R, A, stack_id=known) == [
        Check("cloudformation:DescribeStacks", stack_id)
    ]
    assert plan_checks("cloudformation", "DescribeStacks", params(StackName=stack_id), R, A) == [
        Check("cloudformation:DescribeStacks", stack_id)
    ]
    assert plan_checks("cloudformation", "DescribeStacks", params(StackName="gone"), R, A, stack_id=known) == [
        Check("cloudformation:DescribeStacks", f"arn:aws:cloudformation:{R}:{A}:stack/gone/*")
    ]
    assert plan_checks("cloudformation", "DescribeStacks", params(), R, A) == [Check("cloudformation:DescribeStacks", "*")]
def test_list_services_is_planned_on_star_with_the_cluster_condition_key() -> None:
    """ListServices authorises no resource type; the cluster is the ecs:cluster key (launch readiness)."""
    from ecs_drain_moto.iam_ext import OPERATIONS, _ecs_checks

    assert "ListServices" in OPERATIONS["ecs"]
    params = {"cluster": "prod-cluster", "schedulingStrategy": "DAEMON"}
    (check,) = _ecs_checks("ListServices", params.get, "us-east-1", "123456789012")
    assert check.action == "ecs:ListServices"
    assert check.resource == "*"
    assert check.conditions["ecs:cluster"] == "arn:aws:ecs:us-east-1:123456789012:cluster/prod-cluster"
