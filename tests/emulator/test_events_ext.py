"""events_ext: a rule whose EventPattern CloudFormation passes as a JSON string (pure part), and
the whole event, account included, as a rule's SQS target receives it."""

from __future__ import annotations

import json
from typing import Any, Callable

from ecs_drain_moto.events_ext import normalised


def test_a_string_pattern_becomes_its_object_and_an_object_is_kept():
    pattern = {"source": ["aws.ecs"], "detail": {"clusterArn": [{"suffix": ":cluster/a"}]}}
    assert normalised({"EventPattern": '{"source":["aws.ecs"],"detail":{"clusterArn":[{"suffix":":cluster/a"}]}}', "Name": "r"}) == {
        "EventPattern": pattern,
        "Name": "r",
    }
    assert normalised({"EventPattern": pattern}) == {"EventPattern": pattern}
    assert normalised({"ScheduleExpression": "rate(1 minute)"}) == {"ScheduleExpression": "rate(1 minute)"}


def test_a_queue_target_receives_the_whole_event_with_the_account(client: Callable[[str], Any]) -> None:
    sqs, events = client("sqs"), client("events")
    url = sqs.create_queue(QueueName="drain-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="to-queue", EventPattern=json.dumps({"source": ["ecs-drain"]}))
    events.put_targets(Rule="to-queue", Targets=[{"Id": "q", "Arn": queue_arn}])
    events.put_events(Entries=[{"Source": "ecs-drain", "DetailType": "ECS Drain Started", "Detail": '{"a": 1}', "Resources": ["r"]}])
    body = json.loads(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]["Body"])
    assert sorted(body) == ["account", "detail", "detail-type", "id", "region", "resources", "source", "time", "version"]
    assert (body["account"], body["source"], body["detail"], body["resources"]) == ("123456789012", "ecs-drain", {"a": 1}, ["r"])


def test_a_replay_keeps_the_events_inside_its_window_for_the_rules_it_names():
    from ecs_drain_moto.events_ext import replayed

    events = [{"id": "early", "time": 100.0}, {"id": "inside", "time": "1970-01-01T00:03:20Z"}, {"id": "late", "time": 301}, {"id": "no-time"}]
    kept = replayed(events, ["rule/a", "rule/b"], 150, 300, ["rule/b"])
    assert [(event["id"], rules) for event, rules in kept] == [("inside", ["rule/b"])]
    assert [rules for _, rules in replayed(events, ["rule/a", "rule/b"], 0, 1000, None)] == [["rule/a", "rule/b"]] * 3


def test_start_replay_re_sends_only_the_window_and_only_to_the_filter_rules(client: Callable[[str], Any]) -> None:
    from datetime import datetime, timezone

    sqs, events = client("sqs"), client("events")
    bus_arn = events.describe_event_bus()["Arn"]
    archive_arn = events.create_archive(ArchiveName="drains", EventSourceArn=bus_arn)["ArchiveArn"]
    queues = {}
    for name in ("named", "other"):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule_arn = events.put_rule(Name=name, EventPattern=json.dumps({"source": ["aws.ecs"]}))["RuleArn"]
        events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
        queues[name] = (url, rule_arn)
    at = lambda hour: datetime(2026, 12, 1, hour, tzinfo=timezone.utc)  # noqa: E731
    for hour in (1, 2, 3):
        events.put_events(Entries=[{"Source": "aws.ecs", "DetailType": "ECS Task State Change", "Detail": json.dumps({"hour": hour}), "Time": at(hour)}])
    for url, _ in queues.values():
        while sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            sqs.purge_queue(QueueUrl=url)

    events.start_replay(
        ReplayName="incident",
        EventSourceArn=archive_arn,
        EventStartTime=at(2),
        EventEndTime=at(2).replace(minute=30),
        Destination={"Arn": bus_arn, "FilterArns": [queues["named"][1]]},
    )

    def bodies(name: str) -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queues[name][0], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    named = bodies("named")
    assert [body["detail"] for body in named] == [{"hour": 2}]
    assert named[0]["replay-name"] == "incident"
    assert bodies("other") == []
    assert events.describe_replay(ReplayName="incident")["State"] == "COMPLETED"
