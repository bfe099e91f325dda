"""ECS behaviour of the emulator that ecs-drain relies on (patched or proved as moto does it)."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError

from conftest import http

AMI = "ami-12c6146b"  # one of moto's built-in example AMIs


class Ecs:
    """A small ECS world: a cluster, EC2 instances registered as container instances."""

    def __init__(self, client: Callable[[str], Any], cluster: str = "prod") -> None:
        self.ecs = client("ecs")
        self.ec2 = client("ec2")
        self.cluster = cluster
        self.ecs.create_cluster(clusterName=cluster)
        self.task_def = self.ecs.register_task_definition(
            family="web",
            containerDefinitions=[{"name": "web", "image": "nginx", "memory": 16, "cpu": 16}],
        )["taskDefinition"]["taskDefinitionArn"]

    def add_instances(self, count: int) -> list[tuple[str, str]]:
        """Launch ``count`` EC2 instances and register each; returns (ec2 id, container arn)."""
        out = []
        for inst in self.ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count)["Instances"]:
            doc = json.dumps({"instanceId": inst["InstanceId"], "region": "us-east-1"})
            ci = self.ecs.register_container_instance(cluster=self.cluster, instanceIdentityDocument=doc)
            out.append((inst["InstanceId"], ci["containerInstance"]["containerInstanceArn"]))
        return out

    def start(self, container_instance: str, group: str | None = None, started_by: str | None = None) -> str:
        kwargs: dict[str, Any] = {}
        if group:
            kwargs["group"] = group
        if started_by:
            kwargs["startedBy"] = started_by
        tasks = self.ecs.start_task(
            cluster=self.cluster, taskDefinition=self.task_def, containerInstances=[container_instance], **kwargs
        )["tasks"]
        assert len(tasks) == 1
        return tasks[0]["taskArn"]

    def describe(self, task_arn: str) -> dict[str, Any]:
        tasks = self.ecs.describe_tasks(cluster=self.cluster, tasks=[task_arn])["tasks"]
        assert len(tasks) == 1
        return tasks[0]

    def list_tasks(self, **kwargs: Any) -> list[str]:
        arns: list[str] = []
        for page in self.ecs.get_paginator("list_tasks").paginate(cluster=self.cluster, **kwargs):
            arns.extend(page["taskArns"])
        return arns


def set_task_status(emulator: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status, raw = http(
        "POST",
        f"{emulator}/_ecs_drain/ecs/task-status",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    return status, json.loads(raw)


# --- ListContainerInstances -------------------------------------------------------------


def test_filter_by_ec2_instance_id_finds_the_right_instance_among_several(client):
    world = Ecs(client)
    instances = world.add_instances(4)
    ec2_id, ci_arn = instances[2]
    for expression in (f"ec2InstanceId == {ec2_id}", f"ec2InstanceId=={ec2_id}", f"  ec2InstanceId   ==\t{ec2_id} "):
        found = world.ecs.list_container_instances(cluster=world.cluster, filter=expression)
        assert found["containerInstanceArns"] == [ci_arn], expression


def test_filter_by_ec2_instance_id_of_another_cluster_finds_nothing(client):
    prod = Ecs(client, "prod")
    other = Ecs(client, "other")
    prod.add_instances(2)
    (foreign_ec2_id, _arn), = other.add_instances(1)
    found = prod.ecs.list_container_instances(cluster="prod", filter=f"ec2InstanceId == {foreign_ec2_id}")
    assert found["containerInstanceArns"] == []


@pytest.mark.parametrize(
    "expression",
    [
        "attribute:ecs.instance-type == t3.micro",
        "ec2InstanceId in ['i-0123456789abcdef0']",
        "ec2InstanceId != i-0123456789abcdef0",
        "ec2instanceid == i-0123456789abcdef0",
    ],
)
def test_unsupported_filter_expression_is_rejected_loudly(client, expression):
    world = Ecs(client)
    world.add_instances(2)
    with pytest.raises(ClientError) as err:
        world.ecs.list_container_instances(cluster=world.cluster, filter=expression)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "unsupported filter expression in emulator" in err.value.response["Error"]["Message"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_container_instance_status_filter_is_honoured_with_and_without_ec2_filter(client):
    world = Ecs(client)
    (a_id, a_arn), (b_id, b_arn), (_c_id, c_arn) = world.add_instances(3)
    world.ecs.update_container_instances_state(cluster=world.cluster, containerInstances=[b_arn], status="DRAINING")

    def listed(**kwargs: Any) -> list[str]:
        return world.ecs.list_container_instances(cluster=world.cluster, **kwargs)["containerInstanceArns"]

    assert listed(status="DRAINING") == [b_arn]
    assert sorted(listed(status="ACTIVE")) == sorted([a_arn, c_arn])
    assert sorted(listed()) == sorted([a_arn, b_arn, c_arn])
    assert listed(status="DRAINING", filter=f"ec2InstanceId == {b_id}") == [b_arn]
    assert listed(status="ACTIVE", filter=f"ec2InstanceId == {b_id}") == []
    assert listed(status="DRAINING", filter=f"ec2InstanceId == {a_id}") == []


def test_list_container_instances_paginates_without_loss_or_duplicates(client):
    world = Ecs(client)
    arns = [arn for _id, arn in world.add_instances(5)]
    pages = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"cluster": world.cluster, "maxResults": 2}
        if token:
            kwargs["nextToken"] = token
        page = world.ecs.list_container_instances(**kwargs)
        pages.append(page["containerInstanceArns"])
        token = page.get("nextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(a for p in pages for a in p) == sorted(arns)


def test_list_container_instances_of_unknown_cluster_is_cluster_not_found(client):
    with pytest.raises(ClientError) as err:
        client("ecs").list_container_instances(cluster="nope")
    assert err.value.response["Error"]["Code"] == "ClusterNotFoundException"


# --- ListTasks -----------------------------------------------------------------------------


def test_list_tasks_without_desired_status_lists_only_desired_running(client):
    world = Ecs(client)
    (_id, ci), = world.add_instances(1)
    running = world.start(ci)
    stopped = world.start(ci)
    world.ecs.stop_task(cluster=world.cluster, task=stopped, reason="test")
    assert world.list_tasks(containerInstance=ci) == [running]
    assert world.list_tasks(containerInstance=ci, desiredStatus="RUNNING") == [running]
    assert world.list_tasks(containerInstance=ci, desiredStatus="STOPPED") == [stopped]


def test_task_inside_its_stop_timeout_is_listed_only_under_desired_stopped(client, emulator):
    world = Ecs(client)
    (_id, ci), = world.add_instances(1)
    stopping = world.start(ci, group="service:web", started_by="ecs-svc/123")
    status, _ = set_task_status(emulator, {"cluster": world.cluster, "task": stopping, "lastStatus": "STOPPING"})
    assert status == 200
    assert world.list_tasks(containerInstance=ci) == []
    assert world.list_tasks(containerInstance=ci, desiredStatus="STOPPED") == [stopping]
    assert world.describe(stopping)["lastStatus"] == "STOPPING"


def test_list_tasks_filters_by_container_instance_arn_or_id(client):
    world = Ecs(client)
    (_a, ci_a), (_b, ci_b) = world.add_instances(2)
    on_a = {world.start(ci_a), world.start(ci_a)}
    on_b = {world.start(ci_b)}
    assert set(world.list_tasks(containerInstance=ci_a)) == on_a
    assert set(world.list_tasks(containerInstance=ci_b.split("/")[-1])) == on_b


def test_list_tasks_does_not_mix_clusters_whose_names_contain_each_other(client):
    short = Ecs(client, "prod")
    long = Ecs(client, "prod-blue")
    (_s, ci_short), = short.add_instances(1)
    (_l, ci_long), = long.add_instances(1)
    mine = short.start(ci_short)
    long.start(ci_long)
    assert short.list_tasks() == [mine]


def test_list_tasks_paginates_without_loss_or_duplicates(client):
    world = Ecs(client)
    (_id, ci), = world.add_instances(1)
    tasks = {world.start(ci) for _ in range(7)}
    page_sizes = []
    seen: list[str] = []
    for page in world.ecs.get_paginator("list_tasks").paginate(
        cluster=world.cluster, containerInstance=ci, PaginationConfig={"PageSize": 3}
    ):
        page_sizes.append(len(page["taskArns"]))
        seen.extend(page["taskArns"])
    assert page_sizes == [3, 3, 1]
    assert sorted(seen) == sorted(tasks)


def test_list_tasks_rejects_max_results_above_100(client):
    world = Ecs(client)
    with pytest.raises(ClientError) as err:
        world.ecs.list_tasks(cluster=world.cluster, maxResults=101)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_list_tasks_by_service_name_lists_that_services_tasks(client):
    world = Ecs(client)
    (_id, ci), = world.add_instances(1)
    web = world.start(ci, group="service:web", started_by="ecs-svc/1")
    world.start(ci, group="service:api", started_by="ecs-svc/2")
    world.start(ci)
    assert world.list_tasks(serviceName="web") == [web]


# --- DescribeTasks / StopTask / StartTask / the task-status hook ----------------------------


def test_start_task_places_on_the_chosen_instance_with_group_and_started_by(client):
    world = Ecs(client)
    (_a, _ci_a), (_b, ci_b) = world.add_instances(2)
    arn = world.start(ci_b, group="service:web", started_by="ecs-svc/0123456789")
    task = world.describe(arn)
    assert task["containerInstanceArn"] == ci_b
    assert task["group"] == "service:web"
    assert task["startedBy"] == "ecs-svc/0123456789"
    assert task["lastStatus"] == "RUNNING"
    assert task["desiredStatus"] == "RUNNING"
    assert task["clusterArn"].endswith(":cluster/prod")


def test_described_containers_report_cpu_and_memory_as_strings_like_aws(client, emulator):
    # boto3 parses leniently; the raw JSON is what a strict SDK (the Rust one) reads.
    world = Ecs(client)
    (_id, ci), = world.add_instances(1)
    arn = world.start(ci)
    body = json.dumps({"cluster": "prod", "tasks": [arn]}).encode()
    status, raw = http("POST", emulator + "/", body, {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.DescribeTasks",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261123/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=x",
    })
    assert status == 200, raw
    container = json.loads(raw)["tasks"][0]["containers"][0]
    assert (container["cpu"], container["memory"]) == ("16", "16")


def test_standalone_task_group_defaults_to_family(client):
    world = Ecs(client)
    (_id, ci), = world.add_instances(1)
    run = world.ecs.run_task(cluster=world.cluster, taskDefinition=world.task_def, startedBy="cron")["tasks"][0]
    assert run["group"] == "family:web"
    assert run["startedBy"] == "cron"
    assert run["containerInstanceArn"] == ci


def test_describe_tasks_is_scoped_to_the_cluster_and_reports_missing_tasks(client):
    prod = Ecs(client, "prod")
    other = Ecs(client, "other")
    (_p, ci), = prod.add_instances(1)
    arn = prod.start(ci)
    task_id = arn.split("/")[-1]
    found = prod.ecs.describe_tasks(cluster="prod", tasks=[task_id, arn])
    assert [t["taskArn"] for t in found["tasks"]] == [arn, arn]
    assert found["failures"] == []
    elsewhere = other.ecs.describe_tasks(cluster="other", tasks=[arn])
    assert elsewhere["tasks"] == []
    assert elsewhere["failures"] == [{"arn": arn, "reason": "MISSING"}]
    partial = prod.ecs.describe_tasks(cluster="prod", tasks=[task_id[:8]])
    assert partial["tasks"] == []
    assert partial["failures"][0]["reason"] == "MISSING"


def test_running_task_does_not_advance_however_often_it_is_described(client):
    world = Ecs(client)
    (_id, ci), = world.add_instances(1)
    arn = world.start(ci)
    for _ in range(25):
        assert world.describe(arn)["lastStatus"] == "RUNNING"


def test_task_held_in_stopping_stays_stopping_over_many_describes(client, emulator):
    world = Ecs(client)
    (_id, ci), = world.add_instances(1)
    arn = world.start(ci, group="service:web")
    status, body = set_task_status(
        emulator,
        {"cluster": world.cluster, "task": arn, "lastStatus": "STOPPING", "stoppedReason": "Scaling activity"},
    )
    assert status == 200
    assert body["task"]["lastStatus"] == "STOPPING"
    assert body["task"]["desiredStatus"] == "STOPPED"
    for _ in range(25):
        task = world.describe(arn)
        assert (task["lastStatus"], task["desiredStatus"]) == ("STOPPING", "STOPPED")
    assert task["stoppedReason"] == "Scaling activity"


def test_task_status_hook_accepts_task_id_and_cluster_arn(client, emulator):
    world = Ecs(client)
    (_id, ci), = world.add_instances(1)
    arn = world.start(ci)
    cluster_arn = world.describe(arn)["clusterArn"]
    status, body = set_task_status(
        emulator,
        {"cluster": cluster_arn, "task": arn.split("/")[-1], "lastStatus": "DEACTIVATING", "desiredStatus": "STOPPED"},
    )
    assert status == 200, body
    assert body["task"]["taskArn"] == arn
    assert world.describe(arn)["lastStatus"] == "DEACTIVATING"


def test_task_status_hook_to_stopped_then_back_is_what_the_test_says(client, emulator):
    world = Ecs(client)
    (_id, ci), = world.add_instances(1)
    arn = world.start(ci)
    set_task_status(emulator, {"cluster": world.cluster, "task": arn, "lastStatus": "STOPPED", "stoppedReason": "Essential container exited"})
    task = world.describe(arn)
    assert (task["lastStatus"], task["desiredStatus"], task["stoppedReason"]) == ("STOPPED", "STOPPED", "Essential container exited")
    set_task_status(emulator, {"cluster": world.cluster, "task": arn, "lastStatus": "RUNNING", "desiredStatus": "RUNNING"})
    task = world.describe(arn)
    assert (task["lastStatus"], task["desiredStatus"]) == ("RUNNING", "RUNNING")


def test_task_status_hook_answers_404_for_unknown_task_or_cluster(client, emulator):
    world = Ecs(client)
    world.add_instances(1)
    status, body = set_task_status(emulator, {"cluster": world.cluster, "task": "0000", "lastStatus": "STOPPING"})
    assert status == 404
    assert "unknown task" in body["error"]
    status, body = set_task_status(emulator, {"cluster": "nope", "task": "0000", "lastStatus": "STOPPING"})
    assert status == 404
    assert "unknown cluster" in body["error"]


def test_task_status_hook_answers_400_for_unknown_status(client, emulator):
    world = Ecs(client)
    (_id, ci), = world.add_instances(1)
    arn = world.start(ci)
    status, body = set_task_status(emulator, {"cluster": world.cluster, "task": arn, "lastStatus": "SLEEPING"})
    assert status == 400
    assert "lastStatus" in body["error"]


def test_stop_task_sets_last_and_desired_status_stopped_at_once_and_keeps_reason(client):
    world = Ecs(client)
    (_id, ci), = world.add_instances(1)
    arn = world.start(ci)
    stopped = world.ecs.stop_task(cluster=world.cluster, task=arn, reason="drained by ecs-drain")["task"]
    assert (stopped["lastStatus"], stopped["desiredStatus"]) == ("STOPPED", "STOPPED")
    task = world.describe(arn)
    assert (task["lastStatus"], task["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert task["stoppedReason"] == "drained by ecs-drain"


def test_task_pin_survives_a_moto_reset(client, emulator):
    status, _ = http("POST", f"{emulator}/moto-api/reset", b"")
    assert status == 200
    status, raw = http("GET", f"{emulator}/moto-api/state-manager/get-transition?model_name=ecs::task")
    assert status == 200
    assert json.loads(raw) == {"progression": "manual", "times": 1_000_000_000}


# --- DescribeServices ----------------------------------------------------------------------


def test_describe_services_returns_scheduling_strategy_and_deployment_configuration(client):
    world = Ecs(client)
    world.ecs.create_service(
        cluster=world.cluster,
        serviceName="web",
        taskDefinition=world.task_def,
        desiredCount=2,
        schedulingStrategy="REPLICA",
        deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 100},
    )
    world.ecs.create_service(
        cluster=world.cluster, serviceName="agent", taskDefinition=world.task_def, schedulingStrategy="DAEMON"
    )
    world.ecs.create_service(cluster=world.cluster, serviceName="plain", taskDefinition=world.task_def, desiredCount=1)
    services = {
        s["serviceName"]: s
        for s in world.ecs.describe_services(cluster=world.cluster, services=["web", "agent", "plain"])["services"]
    }
    assert services["web"]["schedulingStrategy"] == "REPLICA"
    assert services["web"]["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    assert services["web"]["deploymentConfiguration"]["maximumPercent"] == 100
    assert services["agent"]["schedulingStrategy"] == "DAEMON"
    assert services["agent"]["deploymentConfiguration"]["minimumHealthyPercent"] == 0
    assert services["agent"]["deploymentConfiguration"]["maximumPercent"] == 100
    assert services["plain"]["schedulingStrategy"] == "REPLICA"
    assert services["plain"]["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    assert services["plain"]["deploymentConfiguration"]["maximumPercent"] == 200


def test_update_service_deployment_configuration_shows_in_describe_services(client):
    world = Ecs(client)
    world.ecs.create_service(cluster=world.cluster, serviceName="web", taskDefinition=world.task_def, desiredCount=1)
    world.ecs.update_service(
        cluster=world.cluster, service="web", deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 150}
    )
    svc = world.ecs.describe_services(cluster=world.cluster, services=["web"])["services"][0]
    assert svc["deploymentConfiguration"]["minimumHealthyPercent"] == 50
    assert svc["deploymentConfiguration"]["maximumPercent"] == 150
