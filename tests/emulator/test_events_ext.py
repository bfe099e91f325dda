"""events_ext: a rule whose EventPattern CloudFormation passes as a JSON string (pure part)."""

from __future__ import annotations

from ecs_drain_moto.events_ext import normalised


def test_a_string_pattern_becomes_its_object_and_an_object_is_kept():
    pattern = {"source": ["aws.ecs"], "detail": {"clusterArn": [{"suffix": ":cluster/a"}]}}
    assert normalised({"EventPattern": '{"source":["aws.ecs"],"detail":{"clusterArn":[{"suffix":":cluster/a"}]}}', "Name": "r"}) == {
        "EventPattern": pattern,
        "Name": "r",
    }
    assert normalised({"EventPattern": pattern}) == {"EventPattern": pattern}
    assert normalised({"ScheduleExpression": "rate(1 minute)"}) == {"ScheduleExpression": "rate(1 minute)"}
