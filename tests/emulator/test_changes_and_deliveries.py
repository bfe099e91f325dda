"""The emulator's ECS change log (what AWS would report as container instance and task state
change events, in order, with the emulator's time) and the delivery of AWS's own events to the
targets of the rules that match them (AWS puts them on the default bus itself)."""

from __future__ import annotations

import json
from typing import Any, Callable

from conftest import http

ACCOUNT = "123456789012"


def changes(emulator: str) -> list[dict[str, Any]]:
    status, body = http("GET", f"{emulator}/_ecs_drain/ecs/changes")
    assert status == 200, body
    return json.loads(body)["changes"]


def post(emulator: str, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status, body = http(
        "POST", f"{emulator}{path}", json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    return status, json.loads(body)


def cluster_with_instance(client: Callable[[str], Any]) -> tuple[Any, str]:
    ecs = client("ecs")
    ecs.create_cluster(clusterName="workers")
    ec2_id = client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    document = json.dumps({"instanceId": ec2_id, "region": "us-east-1", "accountId": ACCOUNT})
    registered = ecs.register_container_instance(cluster="workers", instanceIdentityDocument=document)
    return ecs, registered["containerInstance"]["containerInstanceArn"]


def test_every_container_instance_change_and_task_placement_is_logged_in_order(
    client: Callable[[str], Any], emulator: str
) -> None:
    # GIVEN a registered container instance
    ecs, arn = cluster_with_instance(client)
    ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": "web:1", "cpu": 128, "memory": 128}]
    )
    # WHEN a task is placed on it, the instance drains, and the task stops
    task = ecs.start_task(cluster="workers", taskDefinition="web", containerInstances=[arn], group="service:web")[
        "tasks"
    ][0]["taskArn"]
    ecs.update_container_instances_state(cluster="workers", containerInstances=[arn], status="DRAINING")
    ecs.stop_task(cluster="workers", task=task, reason="drained")
    # AND a second StopTask of the stopped task changes nothing
    ecs.stop_task(cluster="workers", task=task, reason="again")

    # THEN the log holds each change once, oldest first, each instance entry with its version
    log = changes(emulator)
    assert [(e["kind"], e["cause"]) for e in log] == [
        ("containerInstance", "RegisterContainerInstance"),
        ("task", "StartTask"),
        ("containerInstance", "StartTask"),
        ("containerInstance", "UpdateContainerInstancesState"),
        ("task", "StopTask"),
        ("containerInstance", "StopTask"),
    ]
    instance_entries = [e for e in log if e["kind"] == "containerInstance"]
    assert [e["version"] for e in instance_entries] == [1, 2, 3, 4]
    assert [e["status"] for e in instance_entries] == ["ACTIVE", "ACTIVE", "DRAINING", "DRAINING"]
    assert all(e["containerInstanceArn"] == arn and e["clusterArn"].endswith(":cluster/workers") for e in instance_entries)
    assert [e["lastStatus"] for e in log if e["kind"] == "task"] == ["RUNNING", "STOPPED"]
    times = [e["at"] for e in log]
    assert times == sorted(times)
    # AND DescribeContainerInstances reports the version the log last shows
    described = ecs.describe_container_instances(cluster="workers", containerInstances=[arn])
    assert described["containerInstances"][0]["version"] == 4


def test_the_agent_connecting_is_logged_and_a_reset_clears_the_log(client: Callable[[str], Any], emulator: str) -> None:
    # GIVEN an instance that registers REGISTERING with its agent not yet connected
    status, _ = post(emulator, "/_ecs_drain/ecs/registration", {"status": "REGISTERING", "agentConnected": False})
    assert status == 200
    _ecs, arn = cluster_with_instance(client)
    # WHEN ECS makes it ACTIVE and the agent connects
    for change in ({"status": "ACTIVE"}, {"agentConnected": True}):
        status, _ = post(emulator, "/_ecs_drain/ecs/container-instance", {"cluster": "workers", "containerInstance": arn, **change})
        assert status == 200
    # THEN the log shows the three states in order
    assert [(e["status"], e["agentConnected"], e["version"]) for e in changes(emulator)] == [
        ("REGISTERING", False, 1),
        ("ACTIVE", False, 2),
        ("ACTIVE", True, 3),
    ]
    # WHEN the emulator is reset THEN the log is empty
    status, _ = http("POST", f"{emulator}/moto-api/reset", b"")
    assert status == 200
    assert changes(emulator) == []


def joined_event(status: str, agent_connected: bool, account: str = ACCOUNT) -> dict[str, Any]:
    """An "ECS Container Instance State Change" in the shape of
    tests/fixtures/ecs-container-instance-state-change-active.json."""
    return {
        "version": "0",
        "id": "8952ba83-7be2-4ab5-9c32-6687532d15a2",
        "detail-type": "ECS Container Instance State Change",
        "source": "aws.ecs",
        "account": account,
        "time": "2026-11-02T18:44:31Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:ecs:us-east-1:{account}:container-instance/workers/0b1d2c3e"],
        "detail": {
            "clusterArn": f"arn:aws:ecs:us-east-1:{account}:cluster/workers",
            "containerInstanceArn": f"arn:aws:ecs:us-east-1:{account}:container-instance/workers/0b1d2c3e",
            "ec2InstanceId": "i-0123456789abcdef0",
            "status": status,
            "agentConnected": agent_connected,
            "version": 2,
        },
    }


JOINED_PATTERN = {
    "account": [ACCOUNT],
    "source": ["aws.ecs"],
    "detail-type": ["ECS Container Instance State Change"],
    "detail": {"$or": [{"status": ["ACTIVE"], "agentConnected": [True]}, {"status": ["REGISTRATION_FAILED"]}]},
}
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:on-lifecycle"


def test_an_aws_event_is_delivered_to_the_targets_of_the_enabled_rules_it_matches_only(
    client: Callable[[str], Any], emulator: str
) -> None:
    # GIVEN a rule for joined instances with a function target, and a disabled rule for all
    events = client("events")
    events.put_rule(Name="joined", EventPattern=json.dumps(JOINED_PATTERN))
    events.put_targets(Rule="joined", Targets=[{"Id": "on-lifecycle", "Arn": FUNCTION_ARN}])
    events.put_rule(Name="everything-off", EventPattern=json.dumps({"source": ["aws.ecs"]}), State="DISABLED")
    events.put_targets(Rule="everything-off", Targets=[{"Id": "other", "Arn": FUNCTION_ARN + "-other"}])

    def targets(event: dict[str, Any]) -> list[tuple[str, str]]:
        status, body = post(emulator, "/_ecs_drain/events/matching-targets", {"event": event})
        assert status == 200, body
        return [(t["rule"], t["arn"]) for t in body["targets"]]

    # THEN an ACTIVE, connected instance reaches the function, and so does a failed registration
    assert targets(joined_event("ACTIVE", True)) == [("joined", FUNCTION_ARN)]
    assert targets(joined_event("REGISTRATION_FAILED", False)) == [("joined", FUNCTION_ARN)]
    # AND a registering or disconnected instance, or another account's event, reaches nothing
    assert targets(joined_event("REGISTERING", False)) == []
    assert targets(joined_event("ACTIVE", False)) == []
    assert targets(joined_event("ACTIVE", True, account="210987654321")) == []


def test_an_event_without_account_or_for_an_unknown_bus_is_refused(emulator: str) -> None:
    event = joined_event("ACTIVE", True)
    del event["account"]
    status, body = post(emulator, "/_ecs_drain/events/matching-targets", {"event": event})
    assert status == 400, body
    status, body = post(
        emulator, "/_ecs_drain/events/matching-targets", {"event": joined_event("ACTIVE", True), "eventBusName": "nope"}
    )
    assert status == 404, body


def test_an_archive_rule_is_reported_as_eventbridge_s_own(client: Callable[[str], Any], emulator: str) -> None:
    # GIVEN an archive of the default bus for ECS events (EventBridge keeps a rule for it)
    client("events").create_archive(
        ArchiveName="ecs-events",
        EventSourceArn=f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default",
        EventPattern=json.dumps({"source": ["aws.ecs"]}),
    )
    # WHEN an ECS event is matched THEN the archive's rule is the only match, marked managed
    status, body = post(emulator, "/_ecs_drain/events/matching-targets", {"event": joined_event("ACTIVE", True)})
    assert status == 200, body
    assert [(t["rule"], t["managedBy"]) for t in body["targets"]] == [
        ("Events-Archive-ecs-events", "prod.vhs.events.aws.internal")
    ]
