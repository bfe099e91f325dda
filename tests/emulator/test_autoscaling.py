"""Auto Scaling lifecycle actions of the emulator (moto has none; the extension adds them)."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError

from conftest import http

AMI = "ami-12c6146b"
HOOK = "ecs-drain"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


class Asg:
    def __init__(self, client: Callable[[str], Any], emulator: str, name: str = "workers", size: int = 3, hook: bool = True, heartbeat: int = 300) -> None:
        self.asg = client("autoscaling")
        self.ec2 = client("ec2")
        self.emulator = emulator
        self.name = name
        self.asg.create_launch_configuration(LaunchConfigurationName=f"{name}-lc", ImageId=AMI, InstanceType="t3.micro")
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchConfigurationName=f"{name}-lc",
            MinSize=0,
            MaxSize=10,
            DesiredCapacity=size,
            AvailabilityZones=["us-east-1a"],
        )
        if hook:
            self.asg.put_lifecycle_hook(
                AutoScalingGroupName=name,
                LifecycleHookName=HOOK,
                LifecycleTransition=TERMINATING,
                HeartbeatTimeout=heartbeat,
                DefaultResult="CONTINUE",
            )

    def instance_ids(self) -> list[str]:
        return [i["InstanceId"] for i in self.group()["Instances"]]

    def group(self) -> dict[str, Any]:
        return self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.name])["AutoScalingGroups"][0]

    def lifecycle_state(self, instance_id: str) -> str | None:
        found = self.asg.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
        return found[0]["LifecycleState"] if found else None

    def ec2_state(self, instance_id: str) -> str:
        res = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return res[0]["Instances"][0]["State"]["Name"]

    def actions(self) -> list[dict[str, Any]]:
        status, raw = http("GET", f"{self.emulator}/_ecs_drain/autoscaling/lifecycle-actions")
        assert status == 200, raw
        return json.loads(raw)["lifecycleActions"]

    def terminate(self, instance_id: str, decrement: bool = True) -> dict[str, Any]:
        return self.asg.terminate_instance_in_auto_scaling_group(
            InstanceId=instance_id, ShouldDecrementDesiredCapacity=decrement
        )["Activity"]

    def complete(self, result: str = "CONTINUE", **ids: str) -> None:
        self.asg.complete_lifecycle_action(
            AutoScalingGroupName=self.name, LifecycleHookName=HOOK, LifecycleActionResult=result, **ids
        )

    def heartbeat(self, **ids: str) -> None:
        self.asg.record_lifecycle_action_heartbeat(AutoScalingGroupName=self.name, LifecycleHookName=HOOK, **ids)


def assert_no_active_action(err: pytest.ExceptionInfo[ClientError], message: str) -> None:
    response = err.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "ValidationError"
    assert response["Error"]["Message"] == message


def test_terminate_with_hook_waits_in_terminating_wait_with_a_fresh_action(client, emulator):
    world = Asg(client, emulator)
    victim = world.instance_ids()[1]
    activity = world.terminate(victim)
    assert victim in activity["Description"]
    assert world.lifecycle_state(victim) == "Terminating:Wait"
    states = {i["InstanceId"]: i["LifecycleState"] for i in world.group()["Instances"]}
    assert states[victim] == "Terminating:Wait"
    assert world.ec2_state(victim) == "running"
    assert world.group()["DesiredCapacity"] == 2
    (action,) = world.actions()
    assert uuid.UUID(action["token"])
    assert action == {
        **action,
        "asg": world.name,
        "hook": HOOK,
        "instanceId": victim,
        "transition": TERMINATING,
        "state": "active",
        "result": None,
        "completions": 0,
        "heartbeats": 0,
        "completedAt": None,
    }


def test_terminate_without_hook_terminates_at_once(client, emulator):
    world = Asg(client, emulator, hook=False)
    victim = world.instance_ids()[0]
    world.terminate(victim)
    assert victim not in world.instance_ids()
    assert world.ec2_state(victim) in {"shutting-down", "terminated"}
    assert world.actions() == []


def test_terminate_without_decrement_launches_a_replacement_while_the_old_one_waits(client, emulator):
    world = Asg(client, emulator, size=2)
    victim = world.instance_ids()[0]
    world.terminate(victim, decrement=False)
    states = {i["InstanceId"]: i["LifecycleState"] for i in world.group()["Instances"]}
    assert states.pop(victim) == "Terminating:Wait"
    assert list(states.values()) == ["InService", "InService"]
    assert world.group()["DesiredCapacity"] == 2


def test_complete_continue_terminates_and_a_second_complete_is_validation_error(client, emulator):
    world = Asg(client, emulator)
    victim = world.instance_ids()[0]
    world.terminate(victim)
    token = world.actions()[0]["token"]
    world.complete(LifecycleActionToken=token)
    assert victim not in world.instance_ids()
    assert world.lifecycle_state(victim) is None
    assert world.ec2_state(victim) in {"shutting-down", "terminated"}
    with pytest.raises(ClientError) as err:
        world.complete(LifecycleActionToken=token)
    assert_no_active_action(err, f"No active Lifecycle Action found with token {token}")
    (action,) = world.actions()
    assert (action["state"], action["result"], action["completions"]) == ("completed", "CONTINUE", 1)
    assert action["completedAt"] >= action["createdAt"]


def test_complete_by_instance_id_then_again_names_the_instance(client, emulator):
    world = Asg(client, emulator)
    victim = world.instance_ids()[2]
    world.terminate(victim)
    world.complete(InstanceId=victim)
    assert world.ec2_state(victim) in {"shutting-down", "terminated"}
    with pytest.raises(ClientError) as err:
        world.complete(InstanceId=victim)
    assert_no_active_action(err, f"No active Lifecycle Action found with instance ID {victim}")
    assert world.actions()[0]["completions"] == 1


def test_abandon_also_terminates_the_instance(client, emulator):
    world = Asg(client, emulator)
    victim = world.instance_ids()[0]
    world.terminate(victim)
    world.complete(result="ABANDON", LifecycleActionToken=world.actions()[0]["token"])
    assert victim not in world.instance_ids()
    assert world.ec2_state(victim) in {"shutting-down", "terminated"}
    assert world.actions()[0]["result"] == "ABANDON"


def test_complete_with_unknown_token_is_validation_error(client, emulator):
    world = Asg(client, emulator)
    victim = world.instance_ids()[0]
    world.terminate(victim)
    wrong = str(uuid.uuid4())
    with pytest.raises(ClientError) as err:
        world.complete(LifecycleActionToken=wrong)
    assert_no_active_action(err, f"No active Lifecycle Action found with token {wrong}")
    assert world.lifecycle_state(victim) == "Terminating:Wait"


def test_complete_with_another_hooks_name_is_validation_error(client, emulator):
    world = Asg(client, emulator)
    victim = world.instance_ids()[0]
    world.terminate(victim)
    token = world.actions()[0]["token"]
    with pytest.raises(ClientError) as err:
        world.asg.complete_lifecycle_action(
            AutoScalingGroupName=world.name, LifecycleHookName="someone-else", LifecycleActionToken=token, LifecycleActionResult="CONTINUE"
        )
    assert_no_active_action(err, f"No active Lifecycle Action found with token {token}")
    with pytest.raises(ClientError) as err:
        world.asg.complete_lifecycle_action(
            AutoScalingGroupName="other-group", LifecycleHookName=HOOK, LifecycleActionToken=token, LifecycleActionResult="CONTINUE"
        )
    assert_no_active_action(err, f"No active Lifecycle Action found with token {token}")
    assert world.actions()[0]["state"] == "active"


def test_complete_with_an_invalid_result_is_validation_error(client, emulator):
    world = Asg(client, emulator)
    world.terminate(world.instance_ids()[0])
    with pytest.raises(ClientError) as err:
        world.complete(result="MAYBE", LifecycleActionToken=world.actions()[0]["token"])
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert world.actions()[0]["state"] == "active"


def test_no_active_action_error_is_a_query_protocol_xml_400(client, emulator):
    token = str(uuid.uuid4())
    body = (
        "Action=CompleteLifecycleAction&Version=2011-01-01&AutoScalingGroupName=workers"
        f"&LifecycleHookName={HOOK}&LifecycleActionToken={token}&LifecycleActionResult=CONTINUE"
    ).encode()
    status, raw = http(
        "POST",
        f"{emulator}/",
        body,
        {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/autoscaling/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    text = raw.decode()
    assert status == 400, text
    assert re.search(r"<ErrorResponse[^>]*>.*<Error>.*</Error>.*</ErrorResponse>", text, re.S), text
    assert "<Code>ValidationError</Code>" in text
    assert f"<Message>No active Lifecycle Action found with token {token}</Message>" in text


def test_heartbeats_are_counted_and_push_the_deadline(client, emulator):
    world = Asg(client, emulator, heartbeat=60)
    victim = world.instance_ids()[0]
    world.terminate(victim)
    before = world.actions()[0]
    time.sleep(0.05)
    world.heartbeat(LifecycleActionToken=before["token"])
    world.heartbeat(InstanceId=victim)
    world.heartbeat(LifecycleActionToken=before["token"])
    after = world.actions()[0]
    assert after["heartbeats"] == 3
    assert after["state"] == "active"
    assert after["heartbeatDeadline"] > before["heartbeatDeadline"]
    assert world.lifecycle_state(victim) == "Terminating:Wait"


def test_heartbeat_with_wrong_or_finished_token_is_validation_error(client, emulator):
    world = Asg(client, emulator)
    victim = world.instance_ids()[0]
    world.terminate(victim)
    token = world.actions()[0]["token"]
    wrong = str(uuid.uuid4())
    with pytest.raises(ClientError) as err:
        world.heartbeat(LifecycleActionToken=wrong)
    assert_no_active_action(err, f"No active Lifecycle Action found with token {wrong}")
    world.complete(LifecycleActionToken=token)
    with pytest.raises(ClientError) as err:
        world.heartbeat(LifecycleActionToken=token)
    assert_no_active_action(err, f"No active Lifecycle Action found with token {token}")
    assert world.actions()[0]["heartbeats"] == 0


def test_scale_in_of_a_hooked_group_puts_the_surplus_in_terminating_wait(client, emulator):
    world = Asg(client, emulator, size=3)
    world.asg.set_desired_capacity(AutoScalingGroupName=world.name, DesiredCapacity=1)
    states = sorted(i["LifecycleState"] for i in world.group()["Instances"])
    assert states == ["InService", "Terminating:Wait", "Terminating:Wait"]
    actions = world.actions()
    assert len(actions) == 2 and len({a["token"] for a in actions}) == 2
    waiting = {a["instanceId"] for a in actions}
    assert all(world.ec2_state(i) == "running" for i in waiting)
    world.asg.update_auto_scaling_group(AutoScalingGroupName=world.name, DesiredCapacity=1)
    assert len(world.actions()) == 2  # no new victims: waiting instances are not InService
    for action in actions:
        world.complete(LifecycleActionToken=action["token"])
    assert [i["LifecycleState"] for i in world.group()["Instances"]] == ["InService"]


def test_update_auto_scaling_group_scale_in_also_waits(client, emulator):
    world = Asg(client, emulator, size=2)
    world.asg.update_auto_scaling_group(AutoScalingGroupName=world.name, DesiredCapacity=1)
    states = sorted(i["LifecycleState"] for i in world.group()["Instances"])
    assert states == ["InService", "Terminating:Wait"]
    assert len(world.actions()) == 1


def test_expiring_an_action_applies_the_default_result_and_terminates(client, emulator):
    world = Asg(client, emulator)
    victim = world.instance_ids()[0]
    world.terminate(victim)
    token = world.actions()[0]["token"]
    status, raw = http(
        "POST",
        f"{emulator}/_ecs_drain/autoscaling/expire-lifecycle-actions",
        json.dumps({"before": time.time() - 3600}).encode(),
        {"Content-Type": "application/json"},
    )
    assert (status, json.loads(raw)["expired"]) == (200, [])
    assert world.lifecycle_state(victim) == "Terminating:Wait"
    status, raw = http(
        "POST",
        f"{emulator}/_ecs_drain/autoscaling/expire-lifecycle-actions",
        json.dumps({"before": time.time() + 10_000}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200
    assert [a["token"] for a in json.loads(raw)["expired"]] == [token]
    (action,) = world.actions()
    assert (action["state"], action["result"], action["completions"]) == ("expired", "CONTINUE", 0)
    assert world.ec2_state(victim) in {"shutting-down", "terminated"}
    with pytest.raises(ClientError) as err:
        world.complete(LifecycleActionToken=token)
    assert_no_active_action(err, f"No active Lifecycle Action found with token {token}")


def test_two_terminating_hooks_each_get_an_action_and_both_must_complete(client, emulator):
    world = Asg(client, emulator)
    world.asg.put_lifecycle_hook(
        AutoScalingGroupName=world.name,
        LifecycleHookName="ecs-managed-draining-termination-hook",
        LifecycleTransition=TERMINATING,
        HeartbeatTimeout=300,
    )
    victim = world.instance_ids()[0]
    world.terminate(victim)
    actions = {a["hook"]: a for a in world.actions()}
    assert set(actions) == {HOOK, "ecs-managed-draining-termination-hook"}
    world.complete(LifecycleActionToken=actions[HOOK]["token"])
    assert world.lifecycle_state(victim) == "Terminating:Wait"
    world.asg.complete_lifecycle_action(
        AutoScalingGroupName=world.name,
        LifecycleHookName="ecs-managed-draining-termination-hook",
        LifecycleActionToken=actions["ecs-managed-draining-termination-hook"]["token"],
        LifecycleActionResult="CONTINUE",
    )
    assert world.lifecycle_state(victim) is None


def test_deleting_the_group_does_not_leave_waiting_instances_behind(client, emulator):
    world = Asg(client, emulator, size=2)
    victim = world.instance_ids()[0]
    world.terminate(victim)
    world.asg.delete_auto_scaling_group(AutoScalingGroupName=world.name, ForceDelete=True)
    assert world.asg.describe_auto_scaling_instances()["AutoScalingInstances"] == []
    assert world.ec2_state(victim) in {"shutting-down", "terminated"}
    assert world.actions()[0]["state"] == "expired"


def test_lifecycle_actions_are_cleared_by_moto_reset(client, emulator):
    world = Asg(client, emulator)
    world.terminate(world.instance_ids()[0])
    assert len(world.actions()) == 1
    assert http("POST", f"{emulator}/moto-api/reset", b"")[0] == 200
    assert world.actions() == []


# --- LifecycleState as DescribeAutoScalingInstances and DescribeAutoScalingGroups report it ---


def _both_states(world: Asg, instance_id: str) -> tuple[str | None, str | None]:
    """(DescribeAutoScalingInstances, DescribeAutoScalingGroups) state of one instance."""
    in_group = {i["InstanceId"]: i["LifecycleState"] for i in world.group()["Instances"]}
    return world.lifecycle_state(instance_id), in_group.get(instance_id)


@pytest.mark.parametrize("result", ["CONTINUE", "ABANDON"])
def test_lifecycle_state_goes_in_service_wait_then_gone_in_both_apis(client, emulator, result):
    world = Asg(client, emulator, size=2)
    victim, bystander = world.instance_ids()
    assert _both_states(world, victim) == ("InService", "InService")
    world.terminate(victim)
    assert _both_states(world, victim) == ("Terminating:Wait", "Terminating:Wait")
    assert _both_states(world, bystander) == ("InService", "InService")
    (found,) = world.asg.describe_auto_scaling_instances(InstanceIds=[victim])["AutoScalingInstances"]
    assert (found["AutoScalingGroupName"], found["LifecycleState"]) == (world.name, "Terminating:Wait")
    world.heartbeat(InstanceId=victim)
    assert _both_states(world, victim) == ("Terminating:Wait", "Terminating:Wait")
    world.complete(result, InstanceId=victim)
    # The emulator terminates at once once no action is active, so Terminating:Proceed has no
    # observable duration: the instance leaves both listings as AWS's does after termination.
    assert _both_states(world, victim) == (None, None)
    assert world.ec2_state(victim) in {"shutting-down", "terminated"}
    assert _both_states(world, bystander) == ("InService", "InService")


def test_an_expired_action_also_removes_the_instance_from_both_apis(client, emulator):
    world = Asg(client, emulator, size=2)
    victim = world.instance_ids()[0]
    world.terminate(victim)
    status, _raw = http("POST", f"{emulator}/_ecs_drain/autoscaling/expire-lifecycle-actions", b"{}", {"Content-Type": "application/json"})
    assert status == 200
    assert _both_states(world, victim) == (None, None)


def test_an_instance_in_no_group_is_not_described(client, emulator):
    world = Asg(client, emulator, size=1)
    (stray,) = [i["InstanceId"] for i in world.ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"]]
    assert world.asg.describe_auto_scaling_instances(InstanceIds=[stray])["AutoScalingInstances"] == []


def test_heartbeat_by_an_instance_without_an_action_is_validation_error(client, emulator):
    world = Asg(client, emulator, size=2)
    in_service = world.instance_ids()[0]
    with pytest.raises(ClientError) as err:
        world.heartbeat(InstanceId=in_service)
    assert_no_active_action(err, f"No active Lifecycle Action found with instance ID {in_service}")
    with pytest.raises(ClientError) as err:
        world.complete(InstanceId=in_service)
    assert_no_active_action(err, f"No active Lifecycle Action found with instance ID {in_service}")


def test_deleting_the_hook_completes_its_actions_with_continue_and_terminates(client, emulator):
    # AWS DeleteLifecycleHook: "If there are any outstanding lifecycle actions, they are
    # completed first (ABANDON for launching instances, CONTINUE for terminating instances)."
    world = Asg(client, emulator, size=2)
    victim = world.instance_ids()[0]
    world.terminate(victim)
    (action,) = world.actions()
    world.asg.delete_lifecycle_hook(AutoScalingGroupName=world.name, LifecycleHookName=HOOK)
    (closed,) = world.actions()
    assert (closed["state"], closed["result"]) == ("completed", "CONTINUE")
    assert _both_states(world, victim) == (None, None)
    assert world.ec2_state(victim) in {"shutting-down", "terminated"}
    with pytest.raises(ClientError) as err:
        world.complete(LifecycleActionToken=action["token"])
    assert_no_active_action(err, f"No active Lifecycle Action found with token {action['token']}")


def test_deleting_one_of_two_hooks_keeps_the_instance_waiting_for_the_other(client, emulator):
    world = Asg(client, emulator, size=2)
    world.asg.put_lifecycle_hook(
        AutoScalingGroupName=world.name, LifecycleHookName="second", LifecycleTransition=TERMINATING, HeartbeatTimeout=300
    )
    victim = world.instance_ids()[0]
    world.terminate(victim)
    world.asg.delete_lifecycle_hook(AutoScalingGroupName=world.name, LifecycleHookName="second")
    assert _both_states(world, victim) == ("Terminating:Wait", "Terminating:Wait")
    world.complete(InstanceId=victim)
    assert _both_states(world, victim) == (None, None)
