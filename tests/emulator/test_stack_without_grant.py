"""stack.without_grant: a stack that lacks one permission, plain or conditional statements (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from ecs_drain_moto.stack import without_grant

NO_VALUE = {"Ref": "AWS::NoValue"}


def template(*statements: Any) -> dict[str, Any]:
    policy = {"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)}}
    return {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [policy]}}}}


def statements(t: dict[str, Any]) -> list[Any]:
    return t["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def test_an_action_goes_and_a_statement_left_empty_goes_with_it():
    t = template({"Effect": "Allow", "Action": ["a:One", "a:Two"], "Resource": "*"}, {"Effect": "Allow", "Action": "b:Three", "Resource": "*"})
    without_grant(t, "Role", "b:Three")
    without_grant(t, "Role", "a:One")
    assert statements(t) == [{"Effect": "Allow", "Action": ["a:Two"], "Resource": "*"}]


def test_a_conditional_statement_is_edited_inside_its_branch():
    conditional = {"Fn::If": ["On", {"Effect": "Allow", "Action": "events:PutEvents", "Resource": "bus"}, NO_VALUE]}
    t = template({"Effect": "Allow", "Action": "a:One", "Resource": "*"}, conditional)
    without_grant(t, "Role", "events:PutEvents")
    assert statements(t) == [{"Effect": "Allow", "Action": ["a:One"], "Resource": "*"}, {"Fn::If": ["On", NO_VALUE, NO_VALUE]}]
    with pytest.raises(ValueError):
        without_grant(t, "Role", "events:PutEvents")
