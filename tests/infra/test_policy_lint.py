"""The IAM policy linter (tests/infra/policy_lint.py): its renderer agrees with what moto's
CloudFormation deploys, parliament finds what it should, and the template has no unexplained
finding and no stale allow-list entry."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from conftest import MAIN_REGION, TEST_PARAMETERS, Deployed, without_none
from policy_lint import (
    SAMPLE_PARAMETERS,
    RenderedPolicy,
    Renderer,
    RenderError,
    check,
    lint,
    load_allowlist,
    load_template,
    rendered_policies,
)
from test_stack import parse_policy


def by_name(policies: list[RenderedPolicy]) -> dict[str, RenderedPolicy]:
    return {p.name: p for p in policies}


def test_every_policy_of_the_template_is_rendered() -> None:
    names = set(by_name(rendered_policies()))
    assert names == {
        "OnLifecycleRole/AssumeRolePolicyDocument",
        "OnLifecycleRole/on-lifecycle",
        "OnTaskStoppedRole/AssumeRolePolicyDocument",
        "OnTaskStoppedRole/on-task-stopped",
        "SchedulerRole/AssumeRolePolicyDocument",
        "SchedulerInvokePolicy",
        "DeadLetterQueuePolicy",
        "DrainctlReadOnlyPolicy",
        "DrainctlOperatorPolicy",
        "DrainctlCancelPolicy",
        # LaunchReadiness=on in the sample (policy_lint.SAMPLE_PARAMETERS)
        "OnLifecycleLaunchPolicy",
    }


def test_the_sample_takes_every_per_name_branch() -> None:
    """Three clusters and three groups: each name reaches the policies."""
    text = json.dumps(by_name(rendered_policies())["OnLifecycleRole/on-lifecycle"].document)
    for cluster in SAMPLE_PARAMETERS["ClusterNames"].split(","):
        # the cluster, and its container instances, tasks and services (*/<name>/*)
        for pattern in (f":cluster/{cluster}\"", f":*/{cluster}/*\""):
            assert pattern in text, (pattern, cluster)
    for asg in SAMPLE_PARAMETERS["AutoScalingGroupNames"].split(","):
        assert f"autoScalingGroupName/{asg}" in text


@pytest.mark.parametrize("role", ["OnLifecycleRole", "OnTaskStoppedRole"])
def test_renderer_agrees_with_what_moto_deployed(client: Any, main_stack: Deployed, role: str) -> None:
    """The same parameters and physical names give the documents moto's CloudFormation resolved."""
    physical = {lid: r["PhysicalResourceId"] for lid, r in main_stack.resources.items() if lid}
    # moto: Ref of a queue is its URL and of the skipped schedule group "None" (see test_stack).
    physical = {lid: (v.rsplit("/", 1)[-1] if lid.endswith("Queue") else v) for lid, v in physical.items()}
    physical["DrainCheckScheduleGroup"] = "None"
    renderer = Renderer(load_template(), dict(TEST_PARAMETERS, CreateLifecycleHooks="true"), main_stack.name, physical)
    (ours,) = [p for p in rendered_policies(renderer=renderer) if p.name.startswith(f"{role}/on-")]

    iam = client("iam", MAIN_REGION)
    (policy_name,) = iam.list_role_policies(RoleName=main_stack.physical_id(role))["PolicyNames"]
    theirs = without_none(parse_policy(iam.get_role_policy(RoleName=main_stack.physical_id(role), PolicyName=policy_name)["PolicyDocument"]))
    # moto leaves the ":*" off a log group's GetAtt Arn; CloudFormation (and the renderer) keep it.
    ours_text = json.dumps(ours.document).replace(":*\"", "\"")
    assert json.loads(ours_text) == json.loads(json.dumps(theirs).replace(":*\"", "\""))


def test_renderer_refuses_what_it_does_not_evaluate() -> None:
    template = copy.deepcopy(load_template())
    template["Resources"]["SchedulerInvokePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"] = {
        "Fn::ImportValue": "elsewhere"
    }
    with pytest.raises(RenderError):
        rendered_policies(template)


def identity(statements: list[dict[str, Any]]) -> RenderedPolicy:
    return RenderedPolicy("Probe", "identity", {"Version": "2012-10-17", "Statement": statements})


@pytest.mark.parametrize(
    ("statement", "issue"),
    [
        ({"Effect": "Allow", "Action": "ecs:StopTsk", "Resource": "*"}, "UNKNOWN_ACTION"),
        ({"Effect": "Allow", "Action": "ecs:StopTask", "Resource": "arn:aws:s3:::bucket/*"}, "RESOURCE_MISMATCH"),
        ({"Effect": "Allow", "Action": "ecs:StopTask", "Resource": "*"}, "RESOURCE_STAR"),
    ],
)
def test_parliament_finds_a_bad_grant(statement: dict[str, Any], issue: str) -> None:
    """The linter bites: a misspelt action, a resource of the wrong type, an unscoped grant."""
    assert issue in {f.issue for f in lint(identity([statement]))}


def test_template_policies_have_no_unexplained_finding_and_no_stale_allowance() -> None:
    explained, unexplained, stale = check(rendered_policies(), load_allowlist())
    assert unexplained == [], unexplained
    assert stale == [], stale
    assert explained, "the allow-list explains findings; an empty match means the lint did not run"


def test_an_unscoped_grant_in_the_template_is_caught() -> None:
    """The same check over the template with one statement widened to Resource "*" fails."""
    template = copy.deepcopy(load_template())
    statements = template["Resources"]["OnTaskStoppedRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (table,) = [s for s in statements if s.get("Sid") == "StateTable"]
    table["Resource"] = "*"
    _, unexplained, _ = check(rendered_policies(template), load_allowlist())
    assert [(f.policy, f.issue) for f in unexplained] == [("OnTaskStoppedRole/on-task-stopped", "RESOURCE_STAR")]
