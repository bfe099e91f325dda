"""Launch lifecycle actions and warm pools of the emulator (moto has neither; the extension adds
them the way the Auto Scaling user guide documents), and the container instance transitions
ecs-drain's launch readiness reads."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError

from conftest import http

AMI = "ami-12c6146b"
LAUNCH_HOOK = "ecs-drain-launch"
TERMINATE_HOOK = "ecs-drain-terminate"
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


class Group:
    """An Auto Scaling group, its hooks and (optionally) its warm pool."""

    def __init__(self, client: Callable[[str], Any], emulator: str, name: str = "workers", size: int = 1, max_size: int = 10) -> None:
        self.asg = client("autoscaling")
        self.ec2 = client("ec2")
        self.ecs = client("ecs")
        self.emulator = emulator
        self.name = name
        self.asg.create_launch_configuration(LaunchConfigurationName=f"{name}-lc", ImageId=AMI, InstanceType="t3.micro")
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchConfigurationName=f"{name}-lc",
            MinSize=0,
            MaxSize=max_size,
            DesiredCapacity=size,
            AvailabilityZones=["us-east-1a"],
        )

    def hook(self, name: str, transition: str, default_result: str = "ABANDON", heartbeat: int = 300) -> None:
        self.asg.put_lifecycle_hook(
            AutoScalingGroupName=self.name,
            LifecycleHookName=name,
            LifecycleTransition=transition,
            HeartbeatTimeout=heartbeat,
            DefaultResult=default_result,
        )

    def states(self) -> dict[str, str]:
        """Instances of the group (not of its pool), as DescribeAutoScalingGroups lists them."""
        group = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.name])["AutoScalingGroups"][0]
        return {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]}

    def pool(self) -> dict[str, str]:
        found = self.asg.describe_warm_pool(AutoScalingGroupName=self.name)["Instances"]
        return {i["InstanceId"]: i["LifecycleState"] for i in found}

    def lifecycle_state(self, instance_id: str) -> str | None:
        found = self.asg.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
        return found[0]["LifecycleState"] if found else None

    def ec2_state(self, instance_id: str) -> str:
        res = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return res[0]["Instances"][0]["State"]["Name"]

    def actions(self, **match: str) -> list[dict[str, Any]]:
        status, raw = http("GET", f"{self.emulator}/_ecs_drain/autoscaling/lifecycle-actions")
        assert status == 200, raw
        found = json.loads(raw)["lifecycleActions"]
        return [a for a in found if all(a[k] == v for k, v in match.items())]

    def active(self, instance_id: str) -> list[dict[str, Any]]:
        return self.actions(instanceId=instance_id, state="active")

    def complete(self, action: dict[str, Any], result: str = "CONTINUE") -> None:
        self.asg.complete_lifecycle_action(
            AutoScalingGroupName=self.name,
            LifecycleHookName=action["hook"],
            LifecycleActionToken=action["token"],
            LifecycleActionResult=result,
        )

    def scale(self, desired: int) -> None:
        self.asg.set_desired_capacity(AutoScalingGroupName=self.name, DesiredCapacity=desired)

    def new_instances(self, before: set[str]) -> list[str]:
        return sorted(set(self.states()) - before)


def assert_validation_error(err: pytest.ExceptionInfo[ClientError], contains: str) -> None:
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert contains in err.value.response["Error"]["Message"]


# --- launch lifecycle actions ------------------------------------------------------------


def test_scale_out_with_a_launch_hook_waits_in_pending_wait_with_origin_ec2(client, emulator):
    world = Group(client, emulator)
    world.hook(LAUNCH_HOOK, LAUNCHING)
    before = set(world.states())
    world.scale(2)
    (new,) = world.new_instances(before)
    assert world.states()[new] == "Pending:Wait"
    assert world.lifecycle_state(new) == "Pending:Wait"
    assert world.ec2_state(new) == "running"
    (action,) = world.active(new)
    assert action == {
        **action,
        "asg": world.name,
        "hook": LAUNCH_HOOK,
        "transition": LAUNCHING,
        "origin": "EC2",
        "destination": "AutoScalingGroup",
        "lifecycleState": "Pending:Wait",
        "result": None,
    }
    # The waiting instance counts towards the desired capacity: asking again launches nothing.
    world.scale(2)
    assert len(world.states()) == 2


def test_continue_puts_the_launching_instance_in_service(client, emulator):
    world = Group(client, emulator)
    world.hook(LAUNCH_HOOK, LAUNCHING)
    before = set(world.states())
    world.scale(2)
    (new,) = world.new_instances(before)
    world.complete(world.active(new)[0])
    assert world.states()[new] == "InService"
    assert world.lifecycle_state(new) == "InService"
    with pytest.raises(ClientError) as err:
        world.complete(world.actions(instanceId=new)[0])
    assert_validation_error(err, "No active Lifecycle Action found with token")


def test_abandon_terminates_the_launching_instance_and_the_group_replaces_it(client, emulator):
    world = Group(client, emulator)
    world.hook(LAUNCH_HOOK, LAUNCHING)
    before = set(world.states())
    world.scale(2)
    (new,) = world.new_instances(before)
    world.complete(world.active(new)[0], "ABANDON")
    assert new not in world.states()
    assert world.ec2_state(new) in {"shutting-down", "terminated"}
    (replacement,) = world.new_instances(before)
    assert replacement != new
    assert world.states()[replacement] == "Pending:Wait"
    assert world.active(replacement)[0]["origin"] == "EC2"
    assert world.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[world.name])["AutoScalingGroups"][0]["DesiredCapacity"] == 2


def test_every_launch_hook_must_continue_and_one_abandon_skips_the_rest(client, emulator):
    world = Group(client, emulator)
    world.hook(LAUNCH_HOOK, LAUNCHING)
    world.hook("warm-up", LAUNCHING)
    before = set(world.states())
    world.scale(2)
    (new,) = world.new_instances(before)
    first, second = world.active(new)
    world.complete(first)
    assert world.states()[new] == "Pending:Wait", "one of two hooks still waits"
    world.complete(second)
    assert world.states()[new] == "InService"

    world.scale(3)
    (other,) = world.new_instances(before | {new})
    first, second = world.active(other)
    world.complete(first, "ABANDON")
    assert world.actions(token=second["token"])[0]["result"] == "ABANDON"
    assert other not in world.states()


def test_an_expired_launch_action_applies_its_default_result(client, emulator):
    world = Group(client, emulator)
    world.hook(LAUNCH_HOOK, LAUNCHING, default_result="ABANDON")
    before = set(world.states())
    world.scale(2)
    (new,) = world.new_instances(before)
    status, raw = http("POST", f"{emulator}/_ecs_drain/autoscaling/expire-lifecycle-actions", b"{}")
    assert status == 200, raw
    assert [a["result"] for a in json.loads(raw)["expired"]] == ["ABANDON"]
    assert new not in world.states()
    (replacement,) = world.new_instances(before)
    assert world.states()[replacement] == "Pending:Wait"


def test_deleting_the_launch_hook_abandons_its_waiting_instances(client, emulator):
    # DeleteLifecycleHook API reference: outstanding actions are completed first, ABANDON for
    # launching instances, CONTINUE for terminating instances.
    world = Group(client, emulator)
    world.hook(LAUNCH_HOOK, LAUNCHING, default_result="CONTINUE")
    before = set(world.states())
    world.scale(2)
    (new,) = world.new_instances(before)
    world.asg.delete_lifecycle_hook(AutoScalingGroupName=world.name, LifecycleHookName=LAUNCH_HOOK)
    (closed,) = world.actions(instanceId=new)
    assert (closed["state"], closed["result"]) == ("completed", "ABANDON")
    assert new not in world.states()
    # The replacement launches with no launch hook left: in service at once.
    (replacement,) = world.new_instances(before)
    assert world.states()[replacement] == "InService"


def test_a_replacement_waits_in_pending_wait_while_the_old_instance_waits_to_terminate(client, emulator):
    world = Group(client, emulator, size=2)
    world.hook(LAUNCH_HOOK, LAUNCHING)
    world.hook(TERMINATE_HOOK, TERMINATING, default_result="CONTINUE")
    old = sorted(world.states())[0]
    world.asg.terminate_instance_in_auto_scaling_group(InstanceId=old, ShouldDecrementDesiredCapacity=False)
    states = world.states()
    assert states[old] == "Terminating:Wait"
    (replacement,) = [i for i, s in states.items() if s == "Pending:Wait"]
    assert world.active(old)[0]["destination"] == "EC2"
    assert world.active(replacement)[0]["transition"] == LAUNCHING


# --- warm pools ----------------------------------------------------------------------------


def test_put_warm_pool_fills_the_pool_through_warmed_pending_wait(client, emulator):
    world = Group(client, emulator, size=1)
    world.hook(LAUNCH_HOOK, LAUNCHING)
    world.asg.put_warm_pool(AutoScalingGroupName=world.name, MaxGroupPreparedCapacity=3, MinSize=1)
    pool = world.pool()
    assert len(pool) == 2, "MaxGroupPreparedCapacity 3 - desired 1"
    assert set(pool.values()) == {"Warmed:Pending:Wait"}
    assert not set(pool) & set(world.states()), "pool instances are not the group's instances"
    for instance_id in pool:
        assert world.lifecycle_state(instance_id) == "Warmed:Pending:Wait"
        (action,) = world.active(instance_id)
        assert (action["origin"], action["destination"], action["lifecycleState"]) == ("EC2", "WarmPool", "Warmed:Pending:Wait")
        world.complete(action)
        assert world.pool()[instance_id] == "Warmed:Stopped"
        assert world.ec2_state(instance_id) == "stopped"
    config = world.asg.describe_warm_pool(AutoScalingGroupName=world.name)["WarmPoolConfiguration"]
    assert (config["MaxGroupPreparedCapacity"], config["MinSize"], config["PoolState"]) == (3, 1, "Stopped")


def test_a_pool_without_launch_hook_is_ready_at_once_in_its_pool_state(client, emulator):
    world = Group(client, emulator, size=1, max_size=3)
    world.asg.put_warm_pool(AutoScalingGroupName=world.name, PoolState="Running")
    pool = world.pool()
    assert len(pool) == 2, "MaxGroupPreparedCapacity defaults to MaxSize 3 - desired 1"
    assert set(pool.values()) == {"Warmed:Running"}
    assert {world.ec2_state(i) for i in pool} == {"running"}
    assert world.actions() == []


def test_scale_out_takes_a_ready_pool_instance_through_pending_wait_with_origin_warm_pool(client, emulator):
    world = Group(client, emulator, size=1)
    world.hook(LAUNCH_HOOK, LAUNCHING)
    world.asg.put_warm_pool(AutoScalingGroupName=world.name, MaxGroupPreparedCapacity=2)
    (warm,) = world.pool()
    world.complete(world.active(warm)[0])
    assert world.ec2_state(warm) == "stopped"
    world.scale(2)
    assert world.states()[warm] == "Pending:Wait"
    assert warm not in world.pool()
    assert world.ec2_state(warm) in {"pending", "running"}
    (action,) = world.active(warm)
    assert (action["origin"], action["destination"], action["lifecycleState"]) == ("WarmPool", "AutoScalingGroup", "Pending:Wait")
    world.complete(action)
    assert world.states()[warm] == "InService"


def test_an_instance_still_warming_is_not_taken_and_a_new_one_launches(client, emulator):
    world = Group(client, emulator, size=1)
    world.hook(LAUNCH_HOOK, LAUNCHING)
    world.asg.put_warm_pool(AutoScalingGroupName=world.name, MaxGroupPreparedCapacity=2)
    (warming,) = world.pool()
    before = set(world.states())
    world.scale(2)
    (new,) = world.new_instances(before)
    assert new != warming
    assert world.pool() == {warming: "Warmed:Pending:Wait"}
    assert world.active(new)[0]["origin"] == "EC2"


def test_scale_in_with_reuse_returns_the_instance_to_the_pool_and_its_ecs_agent_disconnects(client, emulator):
    world = Group(client, emulator, size=2)
    world.hook(TERMINATE_HOOK, TERMINATING, default_result="CONTINUE")
    world.asg.put_warm_pool(
        AutoScalingGroupName=world.name, MaxGroupPreparedCapacity=2, InstanceReusePolicy={"ReuseOnScaleIn": True}
    )
    assert world.pool() == {}, "prepared capacity 2 - desired 2"
    world.ecs.create_cluster(clusterName="prod")
    arns = {}
    for instance_id in world.states():
        doc = json.dumps({"instanceId": instance_id, "region": "us-east-1"})
        registered = world.ecs.register_container_instance(cluster="prod", instanceIdentityDocument=doc)
        arns[instance_id] = registered["containerInstance"]["containerInstanceArn"]

    world.scale(1)
    (victim,) = [i for i, s in world.states().items() if s == "Terminating:Wait"]
    arn = arns[victim]
    # What ecs-drain does on the terminate action.
    world.ecs.update_container_instances_state(cluster="prod", containerInstances=[arn], status="DRAINING")
    (action,) = world.active(victim)
    assert (action["transition"], action["origin"], action["destination"]) == (TERMINATING, "AutoScalingGroup", "WarmPool")
    assert world.states()[victim] == "Terminating:Wait"
    assert world.pool() == {}, "the instance on its way back is counted, no new pool instance"
    world.complete(action)
    assert victim not in world.states()
    assert world.pool() == {victim: "Warmed:Stopped"}
    assert world.ec2_state(victim) == "stopped"
    (described,) = world.ecs.describe_container_instances(cluster="prod", containerInstances=[arn])["containerInstances"]
    assert (described["status"], described["agentConnected"]) == ("DRAINING", False), (
        "ECS keeps the DRAINING status across the pool round trip; a stopped instance's agent is gone"
    )

    world.scale(2)
    assert world.states()[victim] == "InService", "no launch hook: back in service at once"
    (described,) = world.ecs.describe_container_instances(cluster="prod", containerInstances=[arn])["containerInstances"]
    assert described["status"] == "DRAINING", "nothing sets it ACTIVE but whoever drained it"


def test_an_instance_returning_to_the_pool_passes_warmed_pending_wait_with_a_launch_hook(client, emulator):
    world = Group(client, emulator, size=2)
    world.hook(TERMINATE_HOOK, TERMINATING, default_result="CONTINUE")
    world.hook(LAUNCH_HOOK, LAUNCHING)
    world.asg.put_warm_pool(
        AutoScalingGroupName=world.name, MaxGroupPreparedCapacity=2, InstanceReusePolicy={"ReuseOnScaleIn": True}
    )
    world.scale(1)
    (victim,) = [i for i, s in world.states().items() if s == "Terminating:Wait"]
    world.complete(world.active(victim)[0])
    assert world.pool() == {victim: "Warmed:Pending:Wait"}
    (action,) = world.active(victim)
    assert (action["transition"], action["origin"], action["destination"]) == (LAUNCHING, "AutoScalingGroup", "WarmPool")
    world.complete(action)
    assert world.pool() == {victim: "Warmed:Stopped"}


def test_scale_in_to_the_pool_abandoned_terminates_instead(client, emulator):
    world = Group(client, emulator, size=2)
    world.hook(TERMINATE_HOOK, TERMINATING, default_result="CONTINUE")
    world.asg.put_warm_pool(
        AutoScalingGroupName=world.name, MaxGroupPreparedCapacity=2, InstanceReusePolicy={"ReuseOnScaleIn": True}
    )
    world.scale(1)
    (victim,) = [i for i, s in world.states().items() if s == "Terminating:Wait"]
    world.complete(world.active(victim)[0], "ABANDON")
    assert victim not in world.pool()
    assert world.ec2_state(victim) in {"shutting-down", "terminated"}


def test_scale_in_without_reuse_terminates_with_destination_ec2(client, emulator):
    world = Group(client, emulator, size=2)
    world.hook(TERMINATE_HOOK, TERMINATING, default_result="CONTINUE")
    world.asg.put_warm_pool(AutoScalingGroupName=world.name, MaxGroupPreparedCapacity=2)
    world.scale(1)
    (victim,) = [i for i, s in world.states().items() if s == "Terminating:Wait"]
    assert world.active(victim)[0]["destination"] == "EC2"
    world.complete(world.active(victim)[0])
    assert victim not in world.states()
    assert world.ec2_state(victim) in {"shutting-down", "terminated"}
    assert len(world.pool()) == 1, "the pool is refilled to prepared capacity 2 - desired 1 with a new instance"
    assert victim not in world.pool()


def test_put_warm_pool_refuses_what_aws_refuses(client, emulator):
    world = Group(client, emulator)
    with pytest.raises(ClientError) as err:
        world.asg.put_warm_pool(AutoScalingGroupName=world.name, PoolState="Frozen")
    assert_validation_error(err, "poolState")
    with pytest.raises(ClientError) as err:
        world.asg.put_warm_pool(AutoScalingGroupName="no-such-group")
    assert_validation_error(err, "not found")
    world.ec2.create_launch_template(LaunchTemplateName="mixed", LaunchTemplateData={"ImageId": AMI})
    world.asg.create_auto_scaling_group(
        AutoScalingGroupName="mixed",
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        AvailabilityZones=["us-east-1a"],
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateName": "mixed"},
                "Overrides": [{"InstanceType": "t3.micro"}],
            }
        },
    )
    with pytest.raises(ClientError) as err:
        world.asg.put_warm_pool(AutoScalingGroupName="mixed")
    assert_validation_error(err, "mixed instances policy")


def test_deleting_the_pool_or_the_group_terminates_pool_instances(client, emulator):
    world = Group(client, emulator, size=1, max_size=3)
    world.asg.put_warm_pool(AutoScalingGroupName=world.name)
    first_pool = list(world.pool())
    assert len(first_pool) == 2
    world.asg.delete_warm_pool(AutoScalingGroupName=world.name)
    assert {world.ec2_state(i) for i in first_pool} <= {"shutting-down", "terminated"}
    assert world.lifecycle_state(first_pool[0]) is None

    world.asg.put_warm_pool(AutoScalingGroupName=world.name)
    second_pool = list(world.pool())
    world.asg.delete_auto_scaling_group(AutoScalingGroupName=world.name, ForceDelete=True)
    assert {world.ec2_state(i) for i in second_pool} <= {"shutting-down", "terminated"}


# --- container instance transitions --------------------------------------------------------


def post(emulator: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status, raw = http("POST", f"{emulator}/_ecs_drain/{path}", json.dumps(body).encode(), {"Content-Type": "application/json"})
    return status, json.loads(raw)


def test_a_container_instance_registers_then_goes_active_and_connects_along_documented_transitions(client, emulator):
    ecs, ec2 = client("ecs"), client("ec2")
    ecs.create_cluster(clusterName="prod")
    status, body = post(emulator, "ecs/registration", {"status": "REGISTERING", "agentConnected": False})
    assert status == 200, body
    (instance,) = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"]
    doc = json.dumps({"instanceId": instance["InstanceId"], "region": "us-east-1"})
    arn = ecs.register_container_instance(cluster="prod", instanceIdentityDocument=doc)["containerInstance"]["containerInstanceArn"]

    def described() -> tuple[str, bool]:
        (ci,) = ecs.describe_container_instances(cluster="prod", containerInstances=[arn])["containerInstances"]
        return ci["status"], ci["agentConnected"]

    assert described() == ("REGISTERING", False)
    # The lookup ecs-drain uses finds it while it registers.
    listed = ecs.list_container_instances(cluster="prod", filter=f"ec2InstanceId == {instance['InstanceId']}")
    assert listed["containerInstanceArns"] == [arn]
    with pytest.raises(ClientError) as err:
        ecs.update_container_instances_state(cluster="prod", containerInstances=[arn], status="DRAINING")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "REGISTERING" in err.value.response["Error"]["Message"]

    status, body = post(emulator, "ecs/container-instance", {"cluster": "prod", "ec2InstanceId": instance["InstanceId"], "status": "ACTIVE"})
    assert status == 200, body
    assert (body["containerInstance"]["status"], body["containerInstance"]["version"]) == ("ACTIVE", 2)
    assert described() == ("ACTIVE", False)
    status, body = post(emulator, "ecs/container-instance", {"cluster": "prod", "containerInstance": arn, "agentConnected": True})
    assert (status, body["containerInstance"]["agentConnected"], body["containerInstance"]["version"]) == (200, True, 3)
    assert body["containerInstance"]["clusterArn"].endswith(":cluster/prod")
    assert described() == ("ACTIVE", True)

    ecs.update_container_instances_state(cluster="prod", containerInstances=[arn], status="DRAINING")
    status, body = post(emulator, "ecs/container-instance", {"cluster": "prod", "containerInstance": arn})
    assert (status, body["containerInstance"]["status"], body["containerInstance"]["version"]) == (200, "DRAINING", 4)
    ecs.update_container_instances_state(cluster="prod", containerInstances=[arn], status="ACTIVE")
    assert described() == ("ACTIVE", True)


@pytest.mark.parametrize(
    "start, target",
    [("ACTIVE", "REGISTERING"), ("ACTIVE", "DRAINING"), ("REGISTERING", "DRAINING"), ("REGISTERING", "INACTIVE")],
)
def test_undocumented_container_instance_transitions_are_refused(client, emulator, start, target):
    ecs, ec2 = client("ecs"), client("ec2")
    ecs.create_cluster(clusterName="prod")
    post(emulator, "ecs/registration", {"status": start, "agentConnected": start == "ACTIVE"})
    (instance,) = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"]
    doc = json.dumps({"instanceId": instance["InstanceId"], "region": "us-east-1"})
    arn = ecs.register_container_instance(cluster="prod", instanceIdentityDocument=doc)["containerInstance"]["containerInstanceArn"]
    status, body = post(emulator, "ecs/container-instance", {"cluster": "prod", "containerInstance": arn, "status": target})
    assert status == 400, body
    assert f"{start} -> {target}" in body["error"]
    (ci,) = ecs.describe_container_instances(cluster="prod", containerInstances=[arn])["containerInstances"]
    assert ci["status"] == start


def test_registration_settings_refuse_statuses_a_registration_never_starts_in(emulator):
    status, body = post(emulator, "ecs/registration", {"status": "DRAINING", "agentConnected": True})
    assert status == 400, body
    status, body = post(emulator, "ecs/container-instance", {"cluster": "nope", "ec2InstanceId": "i-0123456789abcdef0"})
    assert status == 404, body
