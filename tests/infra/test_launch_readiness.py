"""Launch readiness in the stack (issue 12 §1, §3): nothing of it exists unless LaunchReadiness
is on; on, the launch hooks, the two rules and their permissions, the alarm and the
ListServices grant exist, the grant fits IAM's managed-policy quota at 50 clusters, and the
function is told the launch settings."""

from __future__ import annotations

import json
from typing import Any

from conftest import load_template
from policy_lint import Renderer, rendered_policies

LAUNCH_RESOURCES = {
    "LaunchRule",
    "InstanceJoinedRule",
    "LaunchRulePermission",
    "InstanceJoinedRulePermission",
    "OnLifecycleLaunchPolicy",
    "LaunchDeadlinesPassedAlarm",
}
MANAGED_POLICY_QUOTA = 6_144  # characters of a managed policy document, whitespace excluded


def expanded(parameters: dict[str, str]) -> tuple[dict[str, Any], Renderer]:
    template = load_template(parameters)
    return template, Renderer(template, parameters)


def present(template: dict[str, Any], renderer: Renderer) -> set[str]:
    return {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if "Condition" not in resource or renderer.condition(resource["Condition"])
    }


def test_launch_readiness_is_off_by_default_and_adds_nothing() -> None:
    template, renderer = expanded({"ClusterNames": "blue", "AutoScalingGroupNames": "blue-asg"})
    live = present(template, renderer)
    assert not LAUNCH_RESOURCES & live
    assert not any(r.startswith("LaunchHook") for r in live)


def test_launch_readiness_on_adds_its_hooks_rules_alarm_and_grant() -> None:
    params = {"ClusterNames": "blue,green", "AutoScalingGroupNames": "blue-asg,green-asg", "LaunchReadiness": "on"}
    template, renderer = expanded(params)
    live = present(template, renderer)
    assert LAUNCH_RESOURCES <= live
    hooks = [template["Resources"][r] for r in live if r.startswith("LaunchHook")]
    assert sorted(h["Properties"]["AutoScalingGroupName"] for h in hooks) == ["blue-asg", "green-asg"]
    assert {h["Properties"]["LifecycleTransition"] for h in hooks} == {"autoscaling:EC2_INSTANCE_LAUNCHING"}
    env = renderer.render(template["Resources"]["OnLifecycleFunction"]["Properties"]["Environment"]["Variables"])
    assert env["ECS_DRAIN_LAUNCH_HOOK_NAME"] == "ecs-drain-launch"
    assert (env["ECS_DRAIN_LAUNCH_DEADLINE_SECONDS"], env["ECS_DRAIN_LAUNCH_DEADLINE_POLICY"]) == ("900", "ABANDON")
    pattern = json.loads(renderer.render(template["Resources"]["InstanceJoinedRule"]["Properties"]["EventPattern"]))
    assert pattern["detail"] == {"$or": [{"status": ["ACTIVE"], "agentConnected": [True]}, {"status": ["REGISTRATION_FAILED"]}]}


def test_the_launch_hook_name_is_empty_for_the_function_when_off() -> None:
    template, renderer = expanded({"ClusterNames": "blue", "AutoScalingGroupNames": "blue-asg"})
    env = renderer.render(template["Resources"]["OnLifecycleFunction"]["Properties"]["Environment"]["Variables"])
    assert env["ECS_DRAIN_LAUNCH_HOOK_NAME"] == ""


def test_the_list_services_grant_names_the_clusters_and_fits_at_fifty() -> None:
    clusters = ",".join(f"c{i:02d}" + "x" * 29 for i in range(50))
    params = {"ClusterNames": clusters, "AutoScalingGroupNames": "g", "LaunchReadiness": "on"}
    template, renderer = expanded(params)
    (policy,) = [p for p in rendered_policies(template, renderer) if p.name == "OnLifecycleLaunchPolicy"]
    (statement,) = policy.document["Statement"]
    assert statement["Action"] == "ecs:ListServices"
    assert len(statement["Condition"]["ArnLike"]["ecs:cluster"]) == 50
    assert len(json.dumps(policy.document, separators=(",", ":"))) <= MANAGED_POLICY_QUOTA


def test_the_instance_joined_rule_routes_only_ready_or_failed_registrations() -> None:
    from moto.events.models import EventPattern

    from conftest import FIXTURES

    params = {"ClusterNames": "prod-cluster", "AutoScalingGroupNames": "prod-ecs-asg", "LaunchReadiness": "on"}
    template, renderer = expanded(params)
    pattern = EventPattern.load(renderer.render(template["Resources"]["InstanceJoinedRule"]["Properties"]["EventPattern"]))

    def fixture(name: str) -> dict[str, Any]:
        return json.loads((FIXTURES / name).read_text())

    def renamed(event: dict[str, Any]) -> dict[str, Any]:
        # the renderer's sample account and region, as the rule pins them
        return {**event, "account": renderer.ref("AWS::AccountId"), "region": renderer.ref("AWS::Region")}

    active = renamed(fixture("ecs-container-instance-state-change-active.json"))
    assert pattern.matches_event(active)
    # an instance of a cluster the stack does not watch is routed too (completed at once)
    other = {**active, "detail": {**active["detail"], "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/batch"}}
    assert pattern.matches_event(other)
    failed = {**active, "detail": {**active["detail"], "status": "REGISTRATION_FAILED", "agentConnected": False}}
    assert pattern.matches_event(failed)
    assert not pattern.matches_event(renamed(fixture("ecs-container-instance-state-change-registering.json")))
    disconnected = {**active, "detail": {**active["detail"], "agentConnected": False}}
    assert not pattern.matches_event(disconnected)
    assert not pattern.matches_event(renamed(fixture("ecs-container-instance-state-change.json")))


def test_the_archive_keeps_launch_actions_only_with_launch_readiness_on() -> None:
    """A replay can only bring back what the archive kept: with launch readiness on, the launch
    actions of the launch hook (a new instance, a warm-pool return) are archived beside the
    terminate actions; off, the archive's pattern is the three drain rules' alone."""
    from moto.events.models import EventPattern

    from conftest import FIXTURES

    def fixture(name: str) -> dict[str, Any]:
        return json.loads((FIXTURES / name).read_text())

    base = {"ClusterNames": "prod-cluster", "AutoScalingGroupNames": "prod-ecs-asg"}
    launch = fixture("lifecycle-launch-eventbridge-ecs-drain.json")
    warm_return = fixture("lifecycle-launch-eventbridge-from-warm-pool.json")
    terminate = fixture("lifecycle-terminate-eventbridge.json")
    other_hook = {**launch, "detail": {**launch["detail"], "LifecycleHookName": "someone-elses-hook"}}
    for launch_readiness, launches_kept in (("on", True), ("off", False)):
        template, renderer = expanded({**base, "LaunchReadiness": launch_readiness})
        archive = EventPattern.load(renderer.render(template["Resources"]["EventArchive"]["Properties"]["EventPattern"]))

        def renamed(event: dict[str, Any]) -> dict[str, Any]:
            # the renderer's sample account and region, as the archive pins them
            return {**event, "account": renderer.ref("AWS::AccountId"), "region": renderer.ref("AWS::Region")}

        assert archive.matches_event(renamed(terminate)), launch_readiness
        assert archive.matches_event(renamed(launch)) is launches_kept, launch_readiness
        assert archive.matches_event(renamed(warm_return)) is launches_kept, launch_readiness
        assert not archive.matches_event(renamed(other_hook)), launch_readiness
