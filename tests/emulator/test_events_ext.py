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
