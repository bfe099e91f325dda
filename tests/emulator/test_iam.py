"""IAM enforced by the emulator against real resource ARNs (ecs_drain_moto/iam_ext.py).

Every case runs a real boto3 client, with temporary credentials from ``sts:AssumeRole`` of a
role whose only permissions are the inline policy the case gives it, against the emulator with
enforcement on. Set-up runs before enforcement is turned on (moto's reset turns it off again).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION, http

ACCOUNT = "123456789012"
AMI = "ami-12c6146b"
HOOK = "ecs-drain"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}
SCHEDULE_GROUP = "stack-checks"
TARGET_FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:on-lifecycle"
SCHEDULER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler-role"


def statement(actions: str | list[str], resources: str | list[str], condition: dict[str, Any] | None = None, effect: str = "Allow") -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect, "Action": actions, "Resource": resources}
    if condition:
        out["Condition"] = condition
    return out


def control(emulator: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    status, raw = http(method, f"{emulator}/_ecs_drain/iam/{path}", data, {"Content-Type": "application/json"})
    return status, json.loads(raw)


def enforce(emulator: str, enabled: bool = True) -> None:
    assert control(emulator, "POST", "enforce", {"enabled": enabled}) == (200, {"enabled": enabled})


def decisions(emulator: str) -> list[dict[str, Any]]:
    status, body = control(emulator, "GET", "decisions")
    assert status == 200
    return body["decisions"]


def make_client(emulator: str, service: str, creds: dict[str, str]) -> Any:
    return boto3.client(
        service,
        endpoint_url=emulator,
        region_name=REGION,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        **creds,
    )


@pytest.fixture
def role(client: Callable[[str], Any], emulator: str) -> Callable[..., Callable[[str], Any]]:
    """``role(statements, name=...)`` -> a client factory signed as that assumed role."""

    def make(statements: list[dict[str, Any]], name: str = "fn-role") -> Callable[[str], Any]:
        iam = client("iam")
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
        if statements:
            iam.put_role_policy(
                RoleName=name,
                PolicyName="grants",
                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
            )
        creds = client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="fn-session")["Credentials"]
        signed = {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }
        return lambda service: make_client(emulator, service, signed)

    return make


@pytest.fixture
def admin(emulator: str) -> Callable[[str], Any]:
    status, key = control(emulator, "POST", "admin-user", {})
    assert status == 200, key
    creds = {"aws_access_key_id": key["accessKeyId"], "aws_secret_access_key": key["secretAccessKey"]}
    return lambda service: make_client(emulator, service, creds)


@pytest.fixture(autouse=True)
def enforcement_off_afterwards(emulator: str) -> Any:
    yield
    enforce(emulator, False)


# --- the world the operations act on --------------------------------------------------------


ALL_SERVICES = ("ecs", "autoscaling", "dynamodb", "scheduler")


@dataclass
class World:
    """What the operations act on; only the parts of the services asked for are built."""

    cluster_arn: str = ""
    instance_arn: str = ""
    instance_id: str = ""
    task_arn: str = ""
    task_id: str = ""
    service_arn: str = ""
    group_arn: str = ""
    lifecycle_token: str = ""
    victim: str = ""


def build_world(client: Callable[[str], Any], services: tuple[str, ...] = ALL_SERVICES) -> World:
    world = World()
    if "ecs" in services:
        ecs, ec2 = client("ecs"), client("ec2")
        world.cluster_arn = ecs.create_cluster(clusterName="prod")["cluster"]["clusterArn"]
        ecs.create_cluster(clusterName="other")
        task_def = ecs.register_task_definition(
            family="web", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 16, "cpu": 16}]
        )["taskDefinition"]["taskDefinitionArn"]
        inst = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
        doc = json.dumps({"instanceId": inst["InstanceId"], "region": REGION})
        world.instance_arn = ecs.register_container_instance(cluster="prod", instanceIdentityDocument=doc)[
            "containerInstance"
        ]["containerInstanceArn"]
        world.instance_id = world.instance_arn.rsplit("/", 1)[-1]
        world.task_arn = ecs.start_task(cluster="prod", taskDefinition=task_def, containerInstances=[world.instance_arn])[
            "tasks"
        ][0]["taskArn"]
        world.task_id = world.task_arn.rsplit("/", 1)[-1]
        world.service_arn = ecs.create_service(cluster="prod", serviceName="web", taskDefinition=task_def, desiredCount=0)[
            "service"
        ]["serviceArn"]
    if "autoscaling" in services:
        asg = client("autoscaling")
        asg.create_launch_configuration(LaunchConfigurationName="lc", ImageId=AMI, InstanceType="t3.micro")
        asg.create_auto_scaling_group(
            AutoScalingGroupName="workers", LaunchConfigurationName="lc", MinSize=0, MaxSize=5, DesiredCapacity=2,
            AvailabilityZones=[f"{REGION}a"],
        )
        asg.put_lifecycle_hook(
            AutoScalingGroupName="workers", LifecycleHookName=HOOK, LifecycleTransition=TERMINATING,
            HeartbeatTimeout=300, DefaultResult="CONTINUE",
        )
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["workers"])["AutoScalingGroups"][0]
        world.group_arn = group["AutoScalingGroupARN"]
        world.victim = group["Instances"][0]["InstanceId"]
        asg.terminate_instance_in_auto_scaling_group(InstanceId=world.victim, ShouldDecrementDesiredCapacity=True)
        status, raw = http("GET", _base(client) + "/_ecs_drain/autoscaling/lifecycle-actions")
        assert status == 200
        world.lifecycle_token = json.loads(raw)["lifecycleActions"][0]["token"]
    if "dynamodb" in services:
        ddb = client("dynamodb")
        for table in ("drains", "other-table"):
            ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        ddb.put_item(TableName="drains", Item={"pk": {"S": "existing"}})
    if "scheduler" in services:
        sched = client("scheduler")
        sched.create_schedule_group(Name=SCHEDULE_GROUP)
        sched.create_schedule(Name="existing", GroupName=SCHEDULE_GROUP, **schedule_body())
    return world


def _base(client: Callable[[str], Any]) -> str:
    return client("sts").meta.endpoint_url


def schedule_body(role_arn: str = SCHEDULER_ROLE) -> dict[str, Any]:
    return {
        "ScheduleExpression": "at(2030-01-01T00:00:00)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": TARGET_FUNCTION, "RoleArn": role_arn, "Input": "{}"},
    }


def ecs_arn(kind: str, path: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:{kind}/{path}"


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def schedule_arn(group: str, name: str) -> str:
    return f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/{name}"


def group_wildcard(name: str) -> str:
    return f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/{name}"


def bus_arn(name: str) -> str:
    return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}"


def put_drain_event(events: Any, source: str = "ecs-drain", **entry: Any) -> dict[str, Any]:
    """One drain-event-shaped entry on the default bus (or ``EventBusName`` in ``entry``)."""
    return events.put_events(
        Entries=[{"Source": source, "DetailType": "ECS Drain Started", "Detail": json.dumps({"schemaVersion": 1}), **entry}]
    )


PASS_ROLE = statement("iam:PassRole", SCHEDULER_ROLE, {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}})


@dataclass
class Case:
    """One operation: how to call it, the exact resource it is authorized on, a grant that
    must not cover it, and the error code the SDK sees when denied."""

    action: str
    call: Callable[[Callable[[str], Any], World], Any]
    resource: Callable[[World], str]
    grant: Callable[[World], str]
    wrong_grant: Callable[[World], str]
    code: str
    extra: tuple[dict[str, Any], ...] = ()

    @property
    def service(self) -> str:
        return self.action.split(":")[0]


CASES = [
    Case(
        "ecs:ListClusters",
        lambda c, w: c("ecs").list_clusters(),
        lambda w: "*",
        lambda w: "*",
        # No resource-level permissions: a grant scoped to a cluster does not cover it.
        lambda w: w.cluster_arn,
        "AccessDeniedException",
    ),
    Case(
        "ecs:DescribeClusters",
        lambda c, w: c("ecs").describe_clusters(clusters=["prod"]),
        lambda w: w.cluster_arn,
        lambda w: w.cluster_arn,
        lambda w: ecs_arn("cluster", "other"),
        "AccessDeniedException",
    ),
    Case(
        "ecs:ListContainerInstances",
        lambda c, w: c("ecs").list_container_instances(cluster="prod"),
        lambda w: w.cluster_arn,
        lambda w: w.cluster_arn,
        lambda w: ecs_arn("cluster", "other"),
        "AccessDeniedException",
    ),
    Case(
        "ecs:DescribeContainerInstances",
        lambda c, w: c("ecs").describe_container_instances(cluster="prod", containerInstances=[w.instance_id]),
        lambda w: w.instance_arn,
        lambda w: ecs_arn("container-instance", f"prod/{w.instance_id}"),
        lambda w: ecs_arn("container-instance", "other/*"),
        "AccessDeniedException",
    ),
    Case(
        "ecs:UpdateContainerInstancesState",
        lambda c, w: c("ecs").update_container_instances_state(cluster=w.cluster_arn, containerInstances=[w.instance_arn], status="DRAINING"),
        lambda w: w.instance_arn,
        lambda w: ecs_arn("container-instance", "prod/*"),
        lambda w: ecs_arn("container-instance", "other/*"),
        "AccessDeniedException",
    ),
    Case(
        "ecs:ListTasks",
        lambda c, w: c("ecs").list_tasks(cluster="prod", containerInstance=w.instance_id),
        lambda w: w.instance_arn,
        lambda w: ecs_arn("container-instance", "prod/*"),
        # The cluster is not the resource ListTasks is authorized on.
        lambda w: w.cluster_arn,
        "AccessDeniedException",
    ),
    Case(
        "ecs:DescribeTasks",
        lambda c, w: c("ecs").describe_tasks(cluster="prod", tasks=[w.task_id]),
        lambda w: w.task_arn,
        lambda w: ecs_arn("task", f"prod/{w.task_id}"),
        lambda w: ecs_arn("task", "other/*"),
        "AccessDeniedException",
    ),
    Case(
        "ecs:StopTask",
        lambda c, w: c("ecs").stop_task(cluster="prod", task=w.task_arn, reason="drain"),
        lambda w: w.task_arn,
        lambda w: ecs_arn("task", "prod/*"),
        lambda w: ecs_arn("task", "other/*"),
        "AccessDeniedException",
    ),
    Case(
        "ecs:DescribeServices",
        lambda c, w: c("ecs").describe_services(cluster="prod", services=["web"]),
        lambda w: w.service_arn,
        lambda w: ecs_arn("service", "prod/web"),
        lambda w: ecs_arn("service", "other/web"),
        "AccessDeniedException",
    ),
    Case(
        "autoscaling:CompleteLifecycleAction",
        lambda c, w: c("autoscaling").complete_lifecycle_action(
            AutoScalingGroupName="workers", LifecycleHookName=HOOK, LifecycleActionToken=w.lifecycle_token,
            LifecycleActionResult="CONTINUE",
        ),
        lambda w: w.group_arn,
        lambda w: group_wildcard("workers"),
        lambda w: group_wildcard("other-group"),
        "AccessDenied",
    ),
    Case(
        "autoscaling:RecordLifecycleActionHeartbeat",
        lambda c, w: c("autoscaling").record_lifecycle_action_heartbeat(
            AutoScalingGroupName="workers", LifecycleHookName=HOOK, LifecycleActionToken=w.lifecycle_token,
        ),
        lambda w: w.group_arn,
        lambda w: w.group_arn,
        lambda w: group_wildcard("other-group"),
        "AccessDenied",
    ),
    Case(
        "autoscaling:DescribeLifecycleHooks",
        lambda c, w: c("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName="workers"),
        lambda w: "*",
        lambda w: "*",
        # No resource-level permissions: a grant scoped to the group does not cover it.
        lambda w: w.group_arn,
        "AccessDenied",
    ),
    Case(
        "autoscaling:DescribeAutoScalingInstances",
        lambda c, w: c("autoscaling").describe_auto_scaling_instances(InstanceIds=[w.victim]),
        lambda w: "*",
        lambda w: "*",
        lambda w: w.group_arn,
        "AccessDenied",
    ),
    Case(
        "autoscaling:DescribeAutoScalingGroups",
        lambda c, w: c("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["workers"]),
        lambda w: "*",
        lambda w: "*",
        lambda w: w.group_arn,
        "AccessDenied",
    ),
    Case(
        "dynamodb:GetItem",
        lambda c, w: c("dynamodb").get_item(TableName="drains", Key={"pk": {"S": "existing"}}),
        lambda w: table_arn("drains"),
        lambda w: table_arn("drains"),
        lambda w: table_arn("other-table"),
        "AccessDeniedException",
    ),
    Case(
        "dynamodb:PutItem",
        lambda c, w: c("dynamodb").put_item(TableName="drains", Item={"pk": {"S": "new"}}),
        lambda w: table_arn("drains"),
        lambda w: table_arn("drains"),
        lambda w: table_arn("other-table"),
        "AccessDeniedException",
    ),
    Case(
        "dynamodb:UpdateItem",
        lambda c, w: c("dynamodb").update_item(
            TableName="drains", Key={"pk": {"S": "existing"}}, UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"N": "1"}},
        ),
        lambda w: table_arn("drains"),
        lambda w: table_arn("drains"),
        lambda w: table_arn("other-table"),
        "AccessDeniedException",
    ),
    Case(
        "dynamodb:DeleteItem",
        lambda c, w: c("dynamodb").delete_item(TableName="drains", Key={"pk": {"S": "existing"}}),
        lambda w: table_arn("drains"),
        lambda w: table_arn("drains"),
        lambda w: table_arn("other-table"),
        "AccessDeniedException",
    ),
    Case(
        "dynamodb:Query",
        lambda c, w: c("dynamodb").query(
            TableName="drains", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "existing"}}
        ),
        lambda w: table_arn("drains"),
        lambda w: table_arn("drains"),
        lambda w: table_arn("other-table"),
        "AccessDeniedException",
    ),
    Case(
        "dynamodb:Scan",
        lambda c, w: c("dynamodb").scan(TableName="drains"),
        lambda w: table_arn("drains"),
        lambda w: table_arn("drains"),
        lambda w: table_arn("other-table"),
        "AccessDeniedException",
    ),
    Case(
        "dynamodb:DescribeTable",
        lambda c, w: c("dynamodb").describe_table(TableName="drains"),
        lambda w: table_arn("drains"),
        lambda w: table_arn("drains"),
        lambda w: table_arn("other-table"),
        "AccessDeniedException",
    ),
    Case(
        "scheduler:CreateSchedule",
        lambda c, w: c("scheduler").create_schedule(Name="drain-1", GroupName=SCHEDULE_GROUP, **schedule_body()),
        lambda w: schedule_arn(SCHEDULE_GROUP, "drain-1"),
        lambda w: schedule_arn(SCHEDULE_GROUP, "*"),
        lambda w: schedule_arn("other-group", "*"),
        "AccessDeniedException",
        (PASS_ROLE,),
    ),
    Case(
        "scheduler:UpdateSchedule",
        lambda c, w: c("scheduler").update_schedule(Name="existing", GroupName=SCHEDULE_GROUP, **schedule_body()),
        lambda w: schedule_arn(SCHEDULE_GROUP, "existing"),
        lambda w: schedule_arn(SCHEDULE_GROUP, "*"),
        lambda w: schedule_arn("other-group", "*"),
        "AccessDeniedException",
        (PASS_ROLE,),
    ),
    Case(
        "scheduler:GetSchedule",
        lambda c, w: c("scheduler").get_schedule(Name="existing", GroupName=SCHEDULE_GROUP),
        lambda w: schedule_arn(SCHEDULE_GROUP, "existing"),
        lambda w: schedule_arn(SCHEDULE_GROUP, "existing"),
        lambda w: schedule_arn("default", "existing"),
        "AccessDeniedException",
    ),
    Case(
        "scheduler:DeleteSchedule",
        lambda c, w: c("scheduler").delete_schedule(Name="existing", GroupName=SCHEDULE_GROUP),
        lambda w: schedule_arn(SCHEDULE_GROUP, "existing"),
        lambda w: schedule_arn(SCHEDULE_GROUP, "*"),
        lambda w: schedule_arn("other-group", "*"),
        "AccessDeniedException",
    ),
    Case(
        "events:PutEvents",
        lambda c, w: put_drain_event(c("events")),
        lambda w: bus_arn("default"),
        lambda w: bus_arn("default"),
        lambda w: bus_arn("other-bus"),
        "AccessDeniedException",
    ),
]
IDS = [c.action for c in CASES]
# The same cases one after the other on one world: the ones that end what others use, last.
IN_SEQUENCE = sorted(CASES, key=lambda c: c.action in ("autoscaling:CompleteLifecycleAction", "scheduler:DeleteSchedule"))
DENIED_STATUS = {"ecs": 400, "dynamodb": 400, "autoscaling": 403, "scheduler": 403, "events": 400}


def own_decisions(emulator: str, action: str) -> list[dict[str, Any]]:
    return [d for d in decisions(emulator) if d["action"] == action]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_allowed_when_the_policy_names_the_exact_resource(case: Case, client, role, emulator) -> None:
    world = build_world(client, (case.service,))
    as_role = role([statement(case.action, case.grant(world)), *case.extra])
    enforce(emulator)
    case.call(as_role, world)
    recorded = own_decisions(emulator, case.action)
    assert recorded == [
        {
            "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/fn-role/fn-session",
            "role": "fn-role",
            "action": case.action,
            "resources": [case.resource(world)],
            "allowed": True,
            "denied": None,
        }
    ]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_denied_when_the_policy_names_another_resource(case: Case, client, role, emulator) -> None:
    world = build_world(client, (case.service,))
    as_role = role([statement(case.action, case.wrong_grant(world)), *case.extra])
    enforce(emulator)
    with pytest.raises(ClientError) as err:
        case.call(as_role, world)
    service = case.service
    error = err.value.response["Error"]
    assert error["Code"] == case.code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == DENIED_STATUS[service]
    assert error["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/fn-role/fn-session is not authorized to perform: "
        f"{case.action} on resource: {case.resource(world)} because no identity-based policy allows "
        f"the {case.action} action"
    )
    recorded = own_decisions(emulator, case.action)
    assert [(d["allowed"], d["denied"]) for d in recorded] == [(False, case.resource(world))]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_denied_when_the_action_is_not_granted(case: Case, client, role, emulator) -> None:
    world = build_world(client, (case.service,))
    others = [c.action for c in CASES if c.action != case.action]
    as_role = role([statement(others, "*"), *case.extra])
    enforce(emulator)
    with pytest.raises(ClientError) as err:
        case.call(as_role, world)
    assert err.value.response["Error"]["Code"] == case.code


# --- what a denial leaves unchanged, and what an allowed call changes ------------------------


def test_a_denied_update_container_instances_state_changes_nothing(client, role, admin, emulator) -> None:
    world = build_world(client, ("ecs",))
    as_role = role([statement("ecs:UpdateContainerInstancesState", ecs_arn("container-instance", "other/*"))])
    enforce(emulator)
    with pytest.raises(ClientError):
        as_role("ecs").update_container_instances_state(cluster="prod", containerInstances=[world.instance_arn], status="DRAINING")
    found = admin("ecs").describe_container_instances(cluster="prod", containerInstances=[world.instance_arn])
    assert found["containerInstances"][0]["status"] == "ACTIVE"


def test_a_denied_complete_lifecycle_action_leaves_the_action_active(client, role, emulator) -> None:
    world = build_world(client, ("autoscaling",))
    as_role = role([statement("autoscaling:CompleteLifecycleAction", group_wildcard("other-group"))])
    enforce(emulator)
    with pytest.raises(ClientError):
        CASES[IDS.index("autoscaling:CompleteLifecycleAction")].call(as_role, world)
    status, raw = http("GET", f"{emulator}/_ecs_drain/autoscaling/lifecycle-actions")
    assert [a["state"] for a in json.loads(raw)["lifecycleActions"]] == ["active"]


def test_a_denied_put_item_writes_nothing(client, role, admin, emulator) -> None:
    build_world(client, ("dynamodb",))
    as_role = role([statement("dynamodb:PutItem", table_arn("other-table"))])
    enforce(emulator)
    with pytest.raises(ClientError):
        as_role("dynamodb").put_item(TableName="drains", Item={"pk": {"S": "new"}})
    assert "Item" not in admin("dynamodb").get_item(TableName="drains", Key={"pk": {"S": "new"}})


def test_an_allowed_stop_task_stops_the_task(client, role, admin, emulator) -> None:
    world = build_world(client, ("ecs",))
    as_role = role([statement("ecs:StopTask", ecs_arn("task", "prod/*"))])
    enforce(emulator)
    as_role("ecs").stop_task(cluster="prod", task=world.task_arn, reason="drain")
    task = admin("ecs").describe_tasks(cluster="prod", tasks=[world.task_arn])["tasks"][0]
    assert task["lastStatus"] == "STOPPED"


def test_every_resource_of_a_multi_resource_request_must_be_allowed(client, role, emulator) -> None:
    world = build_world(client, ("ecs",))
    ecs = client("ecs")
    inst = client("ec2").run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
    doc = json.dumps({"instanceId": inst["InstanceId"], "region": REGION})
    second = ecs.register_container_instance(cluster="prod", instanceIdentityDocument=doc)["containerInstance"]["containerInstanceArn"]
    as_role = role([statement("ecs:DescribeContainerInstances", world.instance_arn)])
    enforce(emulator)
    as_role("ecs").describe_container_instances(cluster="prod", containerInstances=[world.instance_arn])
    with pytest.raises(ClientError) as err:
        as_role("ecs").describe_container_instances(cluster="prod", containerInstances=[world.instance_arn, second])
    assert second in err.value.response["Error"]["Message"]
    last = own_decisions(emulator, "ecs:DescribeContainerInstances")[-1]
    assert last["resources"] == [world.instance_arn, second]
    assert (last["allowed"], last["denied"]) == (False, second)


def test_an_explicit_deny_wins_and_says_so(client, role, emulator) -> None:
    world = build_world(client, ("ecs",))
    as_role = role(
        [
            statement("ecs:DescribeTasks", ecs_arn("task", "prod/*")),
            statement("ecs:DescribeTasks", world.task_arn, effect="Deny"),
        ]
    )
    enforce(emulator)
    with pytest.raises(ClientError) as err:
        as_role("ecs").describe_tasks(cluster="prod", tasks=[world.task_arn])
    assert err.value.response["Error"]["Message"].endswith("with an explicit deny in an identity-based policy")


def test_ecs_cluster_condition_key_is_the_cluster_arn(client, role, emulator) -> None:
    world = build_world(client, ("ecs",))
    on_prod = role(
        [statement("ecs:DescribeTasks", "*", {"StringEquals": {"ecs:cluster": world.cluster_arn}})], name="prod-role"
    )
    on_other = role(
        [statement("ecs:DescribeTasks", "*", {"StringEquals": {"ecs:cluster": ecs_arn("cluster", "other")}})],
        name="other-role",
    )
    enforce(emulator)
    assert on_prod("ecs").describe_tasks(cluster="prod", tasks=[world.task_id])["tasks"]
    with pytest.raises(ClientError) as err:
        on_other("ecs").describe_tasks(cluster="prod", tasks=[world.task_id])
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"


def test_default_cluster_and_short_names_expand_to_full_arns(client, role, emulator) -> None:
    client("ecs").create_cluster(clusterName="default")
    as_role = role([statement("ecs:ListContainerInstances", ecs_arn("cluster", "default"))])
    enforce(emulator)
    assert as_role("ecs").list_container_instances()["containerInstanceArns"] == []
    assert own_decisions(emulator, "ecs:ListContainerInstances")[0]["resources"] == [ecs_arn("cluster", "default")]


# --- Scheduler: iam:PassRole --------------------------------------------------------------


def test_create_schedule_without_pass_role_is_denied_on_the_role(client, role, emulator) -> None:
    build_world(client, ("scheduler",))
    as_role = role([statement("scheduler:CreateSchedule", schedule_arn(SCHEDULE_GROUP, "*"))])
    enforce(emulator)
    with pytest.raises(ClientError) as err:
        as_role("scheduler").create_schedule(Name="drain-1", GroupName=SCHEDULE_GROUP, **schedule_body())
    response = err.value.response
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "AccessDeniedException"
    assert f"perform: iam:PassRole on resource: {SCHEDULER_ROLE}" in response["Error"]["Message"]
    recorded = [(d["action"], d["allowed"]) for d in decisions(emulator)]
    assert recorded == [("scheduler:CreateSchedule", True), ("iam:PassRole", False)]


def test_pass_role_to_another_service_does_not_cover_scheduler(client, role, emulator) -> None:
    build_world(client, ("scheduler",))
    as_role = role(
        [
            statement("scheduler:CreateSchedule", schedule_arn(SCHEDULE_GROUP, "*")),
            statement("iam:PassRole", SCHEDULER_ROLE, {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
        ]
    )
    enforce(emulator)
    with pytest.raises(ClientError) as err:
        as_role("scheduler").create_schedule(Name="drain-1", GroupName=SCHEDULE_GROUP, **schedule_body())
    assert "iam:PassRole" in err.value.response["Error"]["Message"]


def test_pass_role_of_another_role_is_denied(client, role, emulator) -> None:
    build_world(client, ("scheduler",))
    as_role = role([statement("scheduler:CreateSchedule", schedule_arn(SCHEDULE_GROUP, "*")), PASS_ROLE])
    enforce(emulator)
    other = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
    with pytest.raises(ClientError) as err:
        as_role("scheduler").create_schedule(Name="drain-1", GroupName=SCHEDULE_GROUP, **schedule_body(other))
    assert f"iam:PassRole on resource: {other}" in err.value.response["Error"]["Message"]


def test_schedule_in_the_default_group_is_authorized_on_the_default_group(client, role, emulator) -> None:
    as_role = role([statement("scheduler:CreateSchedule", schedule_arn("default", "*")), PASS_ROLE])
    enforce(emulator)
    as_role("scheduler").create_schedule(Name="plain", **schedule_body())
    assert own_decisions(emulator, "scheduler:CreateSchedule")[0]["resources"] == [schedule_arn("default", "plain")]


# --- signatures, unknown keys, enforcement off, admin, STS -----------------------------------


AUTH_FAILURE_CALLS = {
    "ecs": lambda c, w: c.list_tasks(cluster="prod", containerInstance=w.instance_id),
    "dynamodb": lambda c, w: c.get_item(TableName="drains", Key={"pk": {"S": "existing"}}),
    "autoscaling": lambda c, w: c.record_lifecycle_action_heartbeat(
        AutoScalingGroupName="workers", LifecycleHookName=HOOK, LifecycleActionToken=w.lifecycle_token
    ),
    "scheduler": lambda c, w: c.get_schedule(Name="existing", GroupName=SCHEDULE_GROUP),
}
# (status, code) as each service answers a bad signature / an unknown access key.
BAD_SIGNATURE = {
    "ecs": (400, "InvalidSignatureException"),
    "dynamodb": (400, "InvalidSignatureException"),
    "autoscaling": (403, "SignatureDoesNotMatch"),
    "scheduler": (403, "InvalidSignatureException"),
}
UNKNOWN_KEY = {
    "ecs": (400, "UnrecognizedClientException"),
    "dynamodb": (400, "UnrecognizedClientException"),
    "autoscaling": (403, "InvalidClientTokenId"),
    "scheduler": (403, "UnrecognizedClientException"),
}


@pytest.mark.parametrize("service", list(AUTH_FAILURE_CALLS))
def test_a_request_signed_with_the_wrong_secret_is_refused(service, client, emulator) -> None:
    world = build_world(client, (service,))
    status, key = control(emulator, "POST", "admin-user", {})
    enforce(emulator)
    forged = make_client(emulator, service, {"aws_access_key_id": key["accessKeyId"], "aws_secret_access_key": "not-the-secret"})
    raw = capture_raw(forged)
    with pytest.raises(ClientError) as err:
        AUTH_FAILURE_CALLS[service](forged, world)
    response = err.value.response
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == BAD_SIGNATURE[service]
    assert decisions(emulator) == []
    if service == "autoscaling":
        # The awsQuery shape (moto's <Errors> wrapper is not: the Rust SDK reads no code in it).
        body = raw[0].content.decode()
        assert body.startswith('<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type>'
                               "<Code>SignatureDoesNotMatch</Code>"), body


@pytest.mark.parametrize("service", list(AUTH_FAILURE_CALLS))
def test_unknown_access_key_is_refused_under_enforcement(service, client, emulator) -> None:
    world = build_world(client, (service,))
    enforce(emulator)
    with pytest.raises(ClientError) as err:
        AUTH_FAILURE_CALLS[service](client(service), world)
    response = err.value.response
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == UNKNOWN_KEY[service]


def test_enforcement_off_checks_nothing(client, role, emulator) -> None:
    world = build_world(client)
    nobody = role([])
    for case in IN_SEQUENCE:
        case.call(nobody, world)
    assert decisions(emulator) == []
    assert control(emulator, "GET", "enforce") == (200, {"enabled": False})


def test_admin_user_can_do_everything_under_enforcement(client, admin, emulator) -> None:
    world = build_world(client)
    enforce(emulator)
    for case in IN_SEQUENCE:
        case.call(admin, world)
    admin("ecs").create_cluster(clusterName="made-under-enforcement")
    principals = {d["principal"] for d in decisions(emulator)}
    assert principals == {f"arn:aws:iam::{ACCOUNT}:user/ecs-drain-admin"}
    assert all(d["allowed"] for d in decisions(emulator))
    assert {d["role"] for d in decisions(emulator)} == {None}


def test_admin_user_is_idempotent_and_works_before_and_after_enforcement(emulator) -> None:
    first = control(emulator, "POST", "admin-user", {"userName": "ops"})
    enforce(emulator)
    second = control(emulator, "POST", "admin-user", {"userName": "ops"})
    assert first == second
    status, key = first
    assert status == 200 and key["arn"] == f"arn:aws:iam::{ACCOUNT}:user/ops"
    ecs = make_client(emulator, "ecs", {"aws_access_key_id": key["accessKeyId"], "aws_secret_access_key": key["secretAccessKey"]})
    assert ecs.list_clusters()["clusterArns"] == []


def test_admin_user_can_own_the_fixed_test_key(client, emulator) -> None:
    """The kit's testing/testing key becomes the admin's: set-up code signs as before."""
    body = {"userName": "kit", "accessKeyId": "testing", "secretAccessKey": "testing"}
    first = control(emulator, "POST", "admin-user", body)
    assert first == (200, {"accessKeyId": "testing", "secretAccessKey": "testing", "arn": f"arn:aws:iam::{ACCOUNT}:user/kit"})
    assert control(emulator, "POST", "admin-user", body) == first
    enforce(emulator)
    client("ecs").create_cluster(clusterName="prod")
    client("dynamodb").list_tables()
    assert [(d["principal"], d["allowed"]) for d in decisions(emulator)] == [
        (f"arn:aws:iam::{ACCOUNT}:user/kit", True),
        (f"arn:aws:iam::{ACCOUNT}:user/kit", True),
    ]
    assert control(emulator, "POST", "admin-user", {"accessKeyId": "only-half"})[0] == 400


def test_get_caller_identity_needs_no_grant(role, emulator) -> None:
    as_role = role([])
    enforce(emulator)
    identity = as_role("sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/fn-role/fn-session"


def test_an_operation_outside_the_table_keeps_moto_behaviour_and_is_recorded(client, role, emulator) -> None:
    build_world(client, ("ecs",))
    scoped = role([statement("ecs:ListTaskDefinitions", ecs_arn("task-definition", "web:1"))], name="scoped")
    star = role([statement("ecs:ListTaskDefinitions", "*")], name="star")
    enforce(emulator)
    with pytest.raises(ClientError) as err:
        scoped("ecs").list_task_definitions()
    # moto evaluates it on "*" (so the scoped grant does not match); the denial has ECS's shape.
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "on resource: * because" in err.value.response["Error"]["Message"]
    assert len(star("ecs").list_task_definitions()["taskDefinitionArns"]) == 1
    assert [(d["role"], d["action"], d["resources"], d["allowed"]) for d in decisions(emulator)] == [
        ("scoped", "ecs:ListTaskDefinitions", ["*"], False),
        ("star", "ecs:ListTaskDefinitions", ["*"], True),
    ]


# --- the control endpoints ------------------------------------------------------------------


def test_decisions_are_in_request_order_and_can_be_cleared(client, role, emulator) -> None:
    world = build_world(client)
    as_role = role([statement(["ecs:ListContainerInstances", "dynamodb:GetItem"], "*")])
    enforce(emulator)
    as_role("dynamodb").get_item(TableName="drains", Key={"pk": {"S": "existing"}})
    as_role("ecs").list_container_instances(cluster="prod")
    assert [d["action"] for d in decisions(emulator)] == ["dynamodb:GetItem", "ecs:ListContainerInstances"]
    assert control(emulator, "DELETE", "decisions") == (200, {"cleared": 2})
    assert decisions(emulator) == []
    as_role("ecs").list_container_instances(cluster=world.cluster_arn)
    assert control(emulator, "POST", "decisions/clear", {}) == (200, {"cleared": 1})
    assert decisions(emulator) == []


def test_moto_reset_turns_enforcement_off_and_forgets_decisions(role, emulator) -> None:
    as_role = role([statement("ecs:ListTaskDefinitions", "*")])
    enforce(emulator)
    as_role("ecs").list_task_definitions()
    assert decisions(emulator)
    status, _ = http("POST", f"{emulator}/moto-api/reset", b"")
    assert status == 200
    assert control(emulator, "GET", "enforce") == (200, {"enabled": False})
    assert decisions(emulator) == []


def test_enforce_refuses_a_body_without_a_boolean(emulator) -> None:
    assert control(emulator, "POST", "enforce", {"enabled": "yes"})[0] == 400
    assert control(emulator, "GET", "enforce") == (200, {"enabled": False})


def test_role_actions_lists_inline_and_attached_allow_actions(client, emulator) -> None:
    iam = client("iam")
    iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(
        RoleName="fn",
        PolicyName="inline",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    statement(["ecs:StopTask", "dynamodb:PutItem"], "*"),
                    statement("ecs:DeleteCluster", "*", effect="Deny"),
                ],
            }
        ),
    )
    managed = iam.create_policy(
        PolicyName="managed",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statement("autoscaling:CompleteLifecycleAction", "*")}),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="fn", PolicyArn=managed)
    status, body = control(emulator, "GET", "role-actions?roleName=fn")
    assert (status, body) == (200, {"actions": ["autoscaling:CompleteLifecycleAction", "dynamodb:PutItem", "ecs:StopTask"]})
    assert control(emulator, "GET", "role-actions?roleName=nope")[0] == 404
    assert control(emulator, "GET", "role-actions")[0] == 400


def test_role_created_by_cloudformation_is_evaluated(client, emulator) -> None:
    """moto's CloudFormation keeps inline role policies as dicts; they must still be read."""
    table = table_arn("drains")
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "cfn-role",
                    "AssumeRolePolicyDocument": TRUST,
                    "Policies": [
                        {
                            "PolicyName": "state",
                            "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement("dynamodb:GetItem", table)]},
                        }
                    ],
                },
            }
        }
    }
    build_world(client, ("dynamodb",))
    client("cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_NAMED_IAM"])
    creds = client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/cfn-role", RoleSessionName="fn-session")["Credentials"]
    ddb = make_client(
        emulator,
        "dynamodb",
        {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        },
    )
    assert control(emulator, "GET", "role-actions?roleName=cfn-role") == (200, {"actions": ["dynamodb:GetItem"]})
    enforce(emulator)
    assert ddb.get_item(TableName="drains", Key={"pk": {"S": "existing"}})["Item"]
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName="drains", Item={"pk": {"S": str(uuid.uuid4())}})
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"


def test_no_value_items_of_a_cloudformation_role_are_dropped_as_cloudformation_drops_them(client, emulator) -> None:
    """An `!If [cond, arn, !Ref AWS::NoValue]` item first in a Resource list stays null in moto;
    CloudFormation drops it, and so must the evaluator (moto's matcher fails on a null)."""
    table = table_arn("drains")
    template = {
        "Conditions": {"Never": {"Fn::Equals": ["a", "b"]}},
        "Resources": {
            "Fn": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "cfn-novalue-role",
                    "AssumeRolePolicyDocument": TRUST,
                    "Policies": [
                        {
                            "PolicyName": "state",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Action": "dynamodb:GetItem",
                                        "Resource": [{"Fn::If": ["Never", table_arn("other"), {"Ref": "AWS::NoValue"}]}, table],
                                    }
                                ],
                            },
                        }
                    ],
                },
            }
        },
    }
    build_world(client, ("dynamodb",))
    client("cloudformation").create_stack(StackName="s-novalue", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_NAMED_IAM"])
    creds = client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/cfn-novalue-role", RoleSessionName="fn-session")["Credentials"]
    ddb = make_client(
        emulator,
        "dynamodb",
        {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        },
    )
    enforce(emulator)
    assert ddb.get_item(TableName="drains", Key={"pk": {"S": "existing"}})["Item"]


# --- the wire shape of a denial, as the SDKs parse it ---------------------------------------


def capture_raw(client_obj: Any) -> list[Any]:
    """Collect each raw HTTP response the client receives (botocore's after-call event)."""
    seen: list[Any] = []
    client_obj.meta.events.register("after-call.*.*", lambda http_response, **_kw: seen.append(http_response))
    return seen


@pytest.mark.parametrize(
    "service,call,status,content_type,body_check",
    [
        (
            "ecs",
            lambda c: c.list_container_instances(cluster="prod"),
            400,
            "application/x-amz-json-1.1",
            lambda raw: json.loads(raw)["__type"] == "AccessDeniedException" and "message" in json.loads(raw),
        ),
        (
            "dynamodb",
            lambda c: c.get_item(TableName="drains", Key={"pk": {"S": "existing"}}),
            400,
            "application/x-amz-json-1.0",
            lambda raw: json.loads(raw)["__type"] == "com.amazon.coral.service#AccessDeniedException"
            and "Message" in json.loads(raw),
        ),
        (
            "autoscaling",
            lambda c: c.describe_auto_scaling_groups(),
            403,
            "text/xml",
            lambda raw: raw.startswith('<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">'
                                       "<Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: ")
            and "<RequestId>" in raw,
        ),
        (
            "scheduler",
            lambda c: c.get_schedule(Name="existing", GroupName=SCHEDULE_GROUP),
            403,
            "application/json",
            lambda raw: list(json.loads(raw)) == ["Message"],
        ),
    ],
    ids=["ecs", "dynamodb", "autoscaling", "scheduler"],
)
def test_denial_has_the_protocols_error_shape(service, call, status, content_type, body_check, client, role, emulator) -> None:
    build_world(client, (service,))
    as_role = role([statement("sts:GetCallerIdentity", "*")])
    enforce(emulator)
    api = as_role(service)
    raw = capture_raw(api)
    with pytest.raises(ClientError):
        call(api)
    (response,) = raw
    assert response.status_code == status
    assert response.headers["Content-Type"] == content_type
    assert response.headers.get("x-amzn-RequestId")
    assert body_check(response.content.decode()), response.content
    if service == "scheduler":
        assert response.headers["x-amzn-ErrorType"] == "AccessDeniedException"


def test_query_protocol_signatures_are_checked_over_the_bytes_sent(client, admin, emulator) -> None:
    """A form body encoded as the Rust SDK does (space as %20, not Python's +) still verifies."""
    from urllib.parse import parse_qsl, quote

    asg = admin("autoscaling")

    def percent_encode(request: Any, **_kw: Any) -> None:
        pairs = parse_qsl(request.body.decode() if isinstance(request.body, bytes) else request.data)
        request.data = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)

    asg.meta.events.register("before-sign.auto-scaling.*", percent_encode)
    build_world(client, ("autoscaling",))
    enforce(emulator)
    found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["a group with spaces", "workers"])
    assert [g["AutoScalingGroupName"] for g in found["AutoScalingGroups"]] == ["workers"]


def test_requested_region_and_resource_account_pin_a_wildcarded_arn(client, role, emulator) -> None:
    """infra/template.yaml's per-name statements: partition, region and account wildcarded in
    the ARN, pinned by aws:RequestedRegion and aws:ResourceAccount (with_global_keys)."""
    world = build_world(client, ("ecs",))
    pattern = "arn:*:ecs:*:*:task/prod/*"

    def pinned(region: str, account: str) -> dict[str, Any]:
        return {"StringEquals": {"aws:RequestedRegion": region, "aws:ResourceAccount": account}}

    here = role([statement("ecs:DescribeTasks", pattern, pinned(REGION, ACCOUNT))], name="here-role")
    other_region = role([statement("ecs:DescribeTasks", pattern, pinned("eu-west-3", ACCOUNT))], name="region-role")
    other_account = role([statement("ecs:DescribeTasks", pattern, pinned(REGION, "999999999999"))], name="account-role")
    enforce(emulator)
    assert here("ecs").describe_tasks(cluster="prod", tasks=[world.task_id])["tasks"]
    for denied in (other_region, other_account):
        with pytest.raises(ClientError) as err:
            denied("ecs").describe_tasks(cluster="prod", tasks=[world.task_id])
        assert err.value.response["Error"]["Code"] == "AccessDeniedException"


# --- events:PutEvents: the bus and the source ---------------------------------------------------

DRAIN_EVENTS_GRANT = statement("events:PutEvents", bus_arn("default"), {"StringEquals": {"events:source": "ecs-drain"}})


def test_put_events_with_the_stacks_grant_publishes_as_ecs_drain(client, role, emulator) -> None:
    as_role = role([DRAIN_EVENTS_GRANT])
    enforce(emulator)
    answer = put_drain_event(as_role("events"))
    assert answer["FailedEntryCount"] == 0 and answer["Entries"][0]["EventId"]
    assert [(d["resources"], d["allowed"]) for d in own_decisions(emulator, "events:PutEvents")] == [([bus_arn("default")], True)]


def test_put_events_under_another_source_is_denied_by_the_source_condition(client, role, emulator) -> None:
    as_role = role([DRAIN_EVENTS_GRANT])
    enforce(emulator)
    with pytest.raises(ClientError) as err:
        put_drain_event(as_role("events"), source="aws.autoscaling")
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [(d["allowed"], d["denied"]) for d in own_decisions(emulator, "events:PutEvents")] == [(False, bus_arn("default"))]


def test_put_events_on_another_bus_by_arn_is_denied(client, role, emulator) -> None:
    client("events").create_event_bus(Name="other-bus")
    as_role = role([DRAIN_EVENTS_GRANT])
    enforce(emulator)
    with pytest.raises(ClientError) as err:
        put_drain_event(as_role("events"), EventBusName=bus_arn("other-bus"))
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert own_decisions(emulator, "events:PutEvents")[0]["denied"] == bus_arn("other-bus")
