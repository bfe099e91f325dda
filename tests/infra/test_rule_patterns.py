"""The template's EventBridge patterns against the real-shaped events in tests/fixtures/.

TestEventPattern is a stub in moto (it answers {} whatever the input), so the events are routed
for real: each pattern is taken from the stack deployed with the fixtures' names (ClusterNames=
prod-cluster, AutoScalingGroupNames=prod-ecs-asg, HookName=ecs-drain-terminate), put on a rule
of its own with an SQS target in a region with nothing else in it (PutEvents answers HTTP 500
when a matching rule targets a Lambda function), and each event goes through PutEvents; a
message on the rule's queue means the pattern matched.

The patterns use exact values, "$or", plain lists, `suffix` filters on clusterArn (moto implements
`suffix` as AWS documents it), one `numeric` filter (InstanceDrainingRule: runningTasksCount <= 5;
the cases at 5 and 6 show moto's matcher applies it) and one `exists` filter (TaskStoppedRule and the
archive require `detail.containerInstanceArn`, so Fargate tasks never reach on-task-stopped);
moto's matcher implements `exists` (moto.events.models, `_does_item_match_named_filter`) as AWS
documents it: the field is present, whatever its value. Near misses are the fixtures with one
field edited.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

import pytest

from conftest import ACCOUNT, Deployed, archived_pattern, load_fixture

ROUTE_REGION = "eu-west-1"  # nothing else is deployed here

TERMINATE = load_fixture("lifecycle-terminate-eventbridge.json")
STOPPED_SERVICE = load_fixture("ecs-task-stopped-service.json")
STOPPED_FARGATE = load_fixture("ecs-task-stopped-fargate.json")
INSTANCE_CHANGE = load_fixture("ecs-container-instance-state-change-counts.json")
SPOT_WARNING = load_fixture("ec2-spot-interruption-warning.json")


def without(event: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``event`` without the field at dotted ``path``."""
    out = copy.deepcopy(event)
    node = out
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    del node[leaf]
    return out


def with_field(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``event`` with a field it does not have added at dotted ``path``."""
    out = copy.deepcopy(event)
    node = out
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    assert leaf not in node, f"{path} is already a field of the fixture"
    node[leaf] = value
    return out


def edited(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``event`` with the field at dotted ``path`` set to ``value``."""
    out = copy.deepcopy(event)
    node = out
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    assert leaf in node, f"{path} is not a field of the fixture"
    assert node[leaf] != value, f"{path} already is {value!r}: not a near miss"
    node[leaf] = value
    return out


# (case id, event, names of the patterns that must match it)
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    # terminate lifecycle actions
    ("terminate", TERMINATE, {"lifecycle", "archive"}),
    ("terminate-replayed", load_fixture("lifecycle-terminate-eventbridge-replayed.json"), {"lifecycle", "archive"}),
    ("launch-action", load_fixture("lifecycle-launch-eventbridge.json"), set()),
    # archived (the archive keeps the hook's actions of any group: its size budget), never routed
    ("terminate-other-asg", edited(TERMINATE, "detail.AutoScalingGroupName", "other-asg"), {"archive"}),
    ("terminate-other-hook", edited(TERMINATE, "detail.LifecycleHookName", "other-hook"), set()),
    (
        "terminate-ecs-managed-draining-hook",
        edited(TERMINATE, "detail.LifecycleHookName", "ecs-managed-draining-termination-hook"),
        set(),
    ),
    ("terminate-launch-detail-type", edited(TERMINATE, "detail-type", "EC2 Instance-launch Lifecycle Action"), set()),
    (
        "terminate-launching-transition",
        edited(TERMINATE, "detail.LifecycleTransition", "autoscaling:EC2_INSTANCE_LAUNCHING"),
        set(),
    ),
    ("terminate-other-source", edited(TERMINATE, "source", "aws.ec2"), set()),
    # ECS task state changes
    ("stopped-service", STOPPED_SERVICE, {"task-stopped", "archive"}),
    ("stopped-daemon", load_fixture("ecs-task-stopped-daemon.json"), {"task-stopped", "archive"}),
    ("stopped-standalone", load_fixture("ecs-task-stopped-standalone.json"), {"task-stopped", "archive"}),
    ("stopped-other-cluster", load_fixture("ecs-task-stopped-other-cluster.json"), set()),
    ("running", load_fixture("ecs-task-running-service.json"), set()),
    ("deactivating", load_fixture("ecs-task-deactivating-service.json"), set()),
    ("stopped-service-last-status-stopping", edited(STOPPED_SERVICE, "detail.lastStatus", "STOPPING"), set()),
    (
        "stopped-cluster-name-suffix",
        edited(STOPPED_SERVICE, "detail.clusterArn", f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/x-prod-cluster"),
        set(),
    ),
    (
        "stopped-cluster-name-prefix",
        edited(STOPPED_SERVICE, "detail.clusterArn", f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod-cluster-2"),
        set(),
    ),
    ("stopped-other-detail-type", edited(STOPPED_SERVICE, "detail-type", "ECS Container Instance State Change"), set()),
    # Fargate: STOPPED in a watched cluster, but on no container instance, so nothing to drain.
    ("stopped-fargate", STOPPED_FARGATE, set()),
    ("stopped-service-without-container-instance", without(STOPPED_SERVICE, "detail.containerInstanceArn"), set()),
    # Real shapes added for issue 9 (tests/fixtures/README.md names each source).
    ("terminate-no-origin", load_fixture("lifecycle-terminate-eventbridge-no-origin.json"), {"lifecycle", "archive"}),
    ("terminate-from-warm-pool", load_fixture("lifecycle-terminate-eventbridge-from-warm-pool.json"), {"lifecycle", "archive"}),
    ("terminate-to-warm-pool", load_fixture("lifecycle-terminate-eventbridge-to-warm-pool.json"), {"lifecycle", "archive"}),
    ("pending", load_fixture("ecs-task-pending-service.json"), set()),
    ("stopped-old-arn-format", load_fixture("ecs-task-stopped-old-arn-format.json"), {"task-stopped", "archive"}),
    # DRAINING container instances of the watched cluster (issue 11's second prompt)
    ("container-instance-state-change-counts", INSTANCE_CHANGE, {"instance-draining", "archive"}),
    ("container-instance-five-running", edited(INSTANCE_CHANGE, "detail.runningTasksCount", 5), {"instance-draining", "archive"}),
    # a busier draining instance, or an event without the count, is archived but invokes nothing
    ("container-instance-six-running", edited(INSTANCE_CHANGE, "detail.runningTasksCount", 6), {"archive"}),
    ("container-instance-state-change-no-counts", load_fixture("ecs-container-instance-state-change.json"), {"archive"}),
    # Launch readiness is off in the deployed stack: no rule of it exists, and the archive keeps
    # only DRAINING changes (InstanceJoinedRule's own pattern: tests/infra/test_launch_readiness.py).
    ("container-instance-registering", load_fixture("ecs-container-instance-state-change-registering.json"), set()),
    ("container-instance-active", load_fixture("ecs-container-instance-state-change-active.json"), set()),
    ("container-instance-active", edited(INSTANCE_CHANGE, "detail.status", "ACTIVE"), set()),
    ("container-instance-inactive", edited(INSTANCE_CHANGE, "detail.status", "INACTIVE"), set()),
    # (archived whatever the cluster: the archive's pattern leaves the cluster list out)
    (
        "container-instance-other-cluster",
        edited(INSTANCE_CHANGE, "detail.clusterArn", f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/other-cluster"),
        {"archive"},
    ),
    (
        "container-instance-cluster-name-prefix",
        edited(INSTANCE_CHANGE, "detail.clusterArn", f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod-cluster-2"),
        {"archive"},
    ),
    ("container-instance-other-detail-type", edited(INSTANCE_CHANGE, "detail-type", "ECS Task State Change"), set()),
    # Spot warnings go to on-lifecycle (not archived: a replayed warning's horizon has passed);
    # rebalance recommendations only with DrainOnRebalance=true (off in this stack).
    ("spot-interruption-warning", SPOT_WARNING, {"spot-warning"}),
    ("spot-interruption-warning-stop", edited(SPOT_WARNING, "detail.instance-action", "stop"), {"spot-warning"}),
    ("spot-interruption-warning-unknown-action", edited(SPOT_WARNING, "detail.instance-action", "reboot"), set()),
    ("spot-interruption-warning-other-source", edited(SPOT_WARNING, "source", "aws.autoscaling"), set()),
    ("spot-interruption-warning-not-an-instance", edited(SPOT_WARNING, "detail.instance-id", "sir-0123abcd"), set()),
    ("rebalance-recommendation", load_fixture("ec2-rebalance-recommendation.json"), set()),
    ("ec2-instance-state-change", load_fixture("ec2-instance-state-change.json"), set()),
    ("terminate-successful", load_fixture("autoscaling-terminate-successful.json"), set()),
    ("scheduled-event", load_fixture("scheduled-event.json"), set()),
    # Issue 12 fixtures: no rule of the stack routes launch actions yet (the wiring of issue 12
    # adds them and moves these to the patterns that must match).
    ("launch-ecs-drain-hook", load_fixture("lifecycle-launch-eventbridge-ecs-drain.json"), set()),
    ("launch-from-warm-pool", load_fixture("lifecycle-launch-eventbridge-from-warm-pool.json"), set()),
    ("launch-to-warm-pool", load_fixture("lifecycle-launch-eventbridge-to-warm-pool.json"), set()),
    ("spot-interruption-warning-hibernate", load_fixture("ec2-spot-interruption-warning-hibernate.json"), {"spot-warning"}),
    # The same Fargate event with a container instance is matched: the `exists` filter alone
    # keeps the Fargate task out (cluster, status and type all match).
    (
        "stopped-fargate-given-a-container-instance",
        with_field(
            STOPPED_FARGATE,
            "detail.containerInstanceArn",
            f"arn:aws:ecs:us-east-1:{ACCOUNT}:container-instance/prod-cluster/3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b",
        ),
        {"task-stopped", "archive"},
    ),
]

# Events from another account or region: PutEvents stamps the caller's account and region on
# the envelope, so these are matched with moto's own matcher (the one its rules use), on the
# patterns as deployed. A cluster of the same name elsewhere: ECS emits the event in the
# cluster's own account and region (both fields say so), e.g. forwarded by a cross-account rule.
ENVELOPE_CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    (
        "stopped-same-cluster-name-other-account",
        edited(
            edited(STOPPED_SERVICE, "detail.clusterArn", "arn:aws:ecs:us-east-1:210987654321:cluster/prod-cluster"),
            "account",
            "210987654321",
        ),
        set(),
    ),
    (
        "stopped-same-cluster-name-other-region",
        edited(
            edited(STOPPED_SERVICE, "detail.clusterArn", f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/prod-cluster"),
            "region",
            "eu-west-1",
        ),
        set(),
    ),
    ("terminate-other-account", edited(TERMINATE, "account", "210987654321"), set()),
    ("terminate-other-region", edited(TERMINATE, "region", "eu-west-1"), set()),
    ("spot-interruption-warning-other-account", edited(SPOT_WARNING, "account", "210987654321"), set()),
    ("spot-interruption-warning-other-region", edited(SPOT_WARNING, "region", "eu-west-1"), set()),
    # and the fixtures themselves, so the matcher is seen to match
    ("terminate", TERMINATE, {"lifecycle", "archive"}),
    ("stopped-service", STOPPED_SERVICE, {"task-stopped", "archive"}),
    ("spot-interruption-warning", SPOT_WARNING, {"spot-warning"}),
]

Router = Callable[[dict[str, Any]], set[str]]


def in_region(pattern: str, region: str) -> str:
    """``pattern`` with its ``region`` filters set to ``region``: the router's rules live in
    ROUTE_REGION, and PutEvents stamps that region on every event it routes."""

    def visit(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: ([region] if k == "region" else visit(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [visit(v) for v in node]
        return node

    return json.dumps(visit(json.loads(pattern)))


@pytest.fixture(scope="module")
def patterns(client: Any, main_stack: Deployed) -> dict[str, str]:
    events = client("events", main_stack.region)
    archive_name = main_stack.outputs["ArchiveArn"].rsplit("/", 1)[1]
    return {
        "lifecycle": events.describe_rule(Name=main_stack.physical_id("LifecycleRule"))["EventPattern"],
        "task-stopped": events.describe_rule(Name=main_stack.physical_id("TaskStoppedRule"))["EventPattern"],
        "instance-draining": events.describe_rule(Name=main_stack.physical_id("InstanceDrainingRule"))["EventPattern"],
        "spot-warning": events.describe_rule(Name=main_stack.physical_id("SpotWarningRule"))["EventPattern"],
        "archive": events.describe_archive(ArchiveName=archive_name)["EventPattern"],
    }


@pytest.fixture(scope="module")
def route(client: Any, patterns: dict[str, str]) -> Router:
    events = client("events", ROUTE_REGION)
    sqs = client("sqs", ROUTE_REGION)
    assert events.list_rules()["Rules"] == [], f"{ROUTE_REGION} must start empty"
    queues: dict[str, str] = {}
    for name, pattern in patterns.items():
        url = sqs.create_queue(QueueName=f"route-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=f"route-{name}", EventPattern=in_region(pattern, ROUTE_REGION), State="ENABLED")
        events.put_targets(Rule=f"route-{name}", Targets=[{"Id": "queue", "Arn": arn}])
        queues[name] = url

    def drain(url: str) -> list[dict[str, Any]]:
        bodies = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                return bodies
            for m in messages:
                bodies.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def send(event: dict[str, Any]) -> set[str]:
        for url in queues.values():
            assert drain(url) == [], "a queue held a message from an earlier case"
        # PutEvents takes the envelope's source / detail-type / resources and the detail as JSON.
        result = events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                    "EventBusName": "default",
                }
            ]
        )
        assert result["FailedEntryCount"] == 0, result
        matched = set()
        for name, url in queues.items():
            bodies = drain(url)
            if bodies:
                assert len(bodies) == 1, (name, bodies)
                assert bodies[0]["detail"] == event["detail"], "the queue got some other event"
                assert bodies[0]["source"] == event["source"]
                matched.add(name)
        return matched

    return send


def test_patterns_are_what_the_stack_deployed(patterns: dict[str, str]) -> None:
    lifecycle = json.loads(patterns["lifecycle"])
    stopped = json.loads(patterns["task-stopped"])
    # The cluster as a suffix of clusterArn, with the event's account and region pinned: the
    # exact ARN arn:aws:ecs:us-east-1:ACCOUNT:cluster/prod-cluster (names hold no ":" or "/").
    assert stopped["detail"]["clusterArn"] == [{"suffix": ":cluster/prod-cluster"}]
    assert stopped["account"] == lifecycle["account"] == [ACCOUNT]
    assert stopped["region"] == lifecycle["region"] == ["us-east-1"]
    assert stopped["detail"]["containerInstanceArn"] == [{"exists": True}]
    assert lifecycle["detail"]["AutoScalingGroupName"] == ["prod-ecs-asg"]
    assert lifecycle["detail"]["LifecycleHookName"] == ["ecs-drain-terminate"]
    draining = json.loads(patterns["instance-draining"])
    assert draining["detail"] == {
        "status": ["DRAINING"],
        "runningTasksCount": [{"numeric": ["<=", 5]}],
        "clusterArn": [{"suffix": ":cluster/prod-cluster"}],
    }
    assert draining["account"] == [ACCOUNT] and draining["region"] == ["us-east-1"]
    assert json.loads(patterns["archive"]) == archived_pattern(lifecycle, stopped, draining)


def test_the_router_can_see_a_match_and_a_miss(route: Router) -> None:
    """Guards the harness itself: a catch-all and a catch-nothing comparison."""
    assert route(TERMINATE) == {"lifecycle", "archive"}
    assert route(edited(TERMINATE, "source", "aws.nothing")) == set()


@pytest.mark.parametrize(("event", "expected"), [(e, x) for _, e, x in CASES], ids=[c for c, _, _ in CASES])
def test_pattern_routing(route: Router, event: dict[str, Any], expected: set[str]) -> None:
    assert route(event) == expected


@pytest.mark.parametrize(("event", "expected"), [(e, x) for _, e, x in ENVELOPE_CASES], ids=[c for c, _, _ in ENVELOPE_CASES])
def test_account_and_region_are_pinned(patterns: dict[str, str], event: dict[str, Any], expected: set[str]) -> None:
    from moto.events.models import EventPattern

    assert {name for name, pattern in patterns.items() if EventPattern.load(pattern).matches_event(event)} == expected


def test_every_fixture_is_a_case() -> None:
    """A new fixture must be classified here, not silently left out."""
    from conftest import FIXTURES

    eventbridge_fixtures = {
        p.name for p in FIXTURES.glob("*.json") if "source" in json.loads(p.read_text())
    }
    used = {name for name in eventbridge_fixtures if any(load_fixture(name) == e for _, e, _ in CASES)}
    assert used == eventbridge_fixtures
