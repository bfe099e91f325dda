"""Instance refresh of the emulator (moto has none): batches by Min/MaxHealthyPercentage, held by
the group's launch and terminate lifecycle actions."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from test_launch_and_warm_pool import LAUNCH_HOOK, LAUNCHING, TERMINATE_HOOK, TERMINATING, Group


def refresh(world: Group, refresh_id: str) -> dict[str, Any]:
    (found,) = world.asg.describe_instance_refreshes(AutoScalingGroupName=world.name, InstanceRefreshIds=[refresh_id])[
        "InstanceRefreshes"
    ]
    return found


def by_state(world: Group) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for instance_id, state in world.states().items():
        out.setdefault(state, []).append(instance_id)
    return out


def hooked_group(client, emulator, size: int = 3) -> Group:
    world = Group(client, emulator, size=size)
    world.hook(LAUNCH_HOOK, LAUNCHING)
    world.hook(TERMINATE_HOOK, TERMINATING, default_result="CONTINUE")
    return world


def test_a_refresh_replaces_one_instance_at_a_time_held_by_both_lifecycle_actions(client, emulator):
    world = hooked_group(client, emulator)
    old = set(world.states())
    refresh_id = world.asg.start_instance_refresh(AutoScalingGroupName=world.name)["InstanceRefreshId"]
    status = refresh(world, refresh_id)
    assert (status["Status"], status["PercentageComplete"], status["InstancesToUpdate"]) == ("InProgress", 0, 3)
    assert status["Preferences"]["MinHealthyPercentage"] == 90
    for step in range(3):
        states = by_state(world)
        (leaving,) = states["Terminating:Wait"]
        (joining,) = states["Pending:Wait"]
        assert leaving in old and joining not in old, f"batch {step}: one old out, one new in"
        # The replacement joining does not move the refresh on while the old one still drains ...
        world.complete(world.active(joining)[0])
        assert by_state(world).get("Terminating:Wait") == [leaving]
        assert "Pending:Wait" not in by_state(world)
        assert refresh(world, refresh_id)["PercentageComplete"] == 100 * step // 3
        # ... and the old one's drain completing does.
        world.complete(world.active(leaving)[0])
    status = refresh(world, refresh_id)
    assert (status["Status"], status["PercentageComplete"], status["InstancesToUpdate"]) == ("Successful", 100, 0)
    assert "EndTime" in status
    states = world.states()
    assert len(states) == 3 and set(states.values()) == {"InService"}
    assert not set(states) & old


def test_a_replacement_that_never_joins_holds_the_refresh(client, emulator):
    world = hooked_group(client, emulator)
    refresh_id = world.asg.start_instance_refresh(AutoScalingGroupName=world.name)["InstanceRefreshId"]
    (leaving,) = by_state(world)["Terminating:Wait"]
    (joining,) = by_state(world)["Pending:Wait"]
    world.complete(world.active(leaving)[0])
    world.complete(world.active(joining)[0], "ABANDON")
    # ABANDON: the group launches another replacement; the refresh still waits for it.
    (again,) = by_state(world)["Pending:Wait"]
    assert again != joining
    assert "Terminating:Wait" not in by_state(world)
    assert refresh(world, refresh_id)["PercentageComplete"] == 0, "no replacement serves yet"
    world.complete(world.active(again)[0])
    assert refresh(world, refresh_id)["PercentageComplete"] == 33
    assert len(by_state(world)["Terminating:Wait"]) == 1, "the next batch starts"


def test_launch_before_terminate_when_the_maximum_is_above_100(client, emulator):
    world = hooked_group(client, emulator)
    old = set(world.states())
    refresh_id = world.asg.start_instance_refresh(
        AutoScalingGroupName=world.name, Preferences={"MinHealthyPercentage": 100, "MaxHealthyPercentage": 150}
    )["InstanceRefreshId"]
    states = by_state(world)
    (surge,) = states["Pending:Wait"]
    assert "Terminating:Wait" not in states, "nothing old is terminated before the new instance serves"
    assert len(states["InService"]) == 3
    world.complete(world.active(surge)[0])
    (leaving,) = by_state(world)["Terminating:Wait"]
    assert leaving in old
    assert "Pending:Wait" not in by_state(world), "the surge instance was the replacement"
    world.complete(world.active(leaving)[0])
    assert len(by_state(world)["Pending:Wait"]) == 1
    assert refresh(world, refresh_id)["Status"] == "InProgress"


def test_a_group_without_hooks_is_refreshed_at_once(client, emulator):
    world = Group(client, emulator, size=3)
    old = set(world.states())
    refresh_id = world.asg.start_instance_refresh(AutoScalingGroupName=world.name)["InstanceRefreshId"]
    assert refresh(world, refresh_id)["Status"] == "Successful"
    states = world.states()
    assert len(states) == 3 and not set(states) & old


def test_one_refresh_at_a_time_and_cancel_needs_one(client, emulator):
    world = hooked_group(client, emulator)
    refresh_id = world.asg.start_instance_refresh(AutoScalingGroupName=world.name)["InstanceRefreshId"]
    with pytest.raises(ClientError) as err:
        world.asg.start_instance_refresh(AutoScalingGroupName=world.name)
    assert err.value.response["Error"]["Code"] == "InstanceRefreshInProgress"
    assert world.asg.cancel_instance_refresh(AutoScalingGroupName=world.name)["InstanceRefreshId"] == refresh_id
    assert refresh(world, refresh_id)["Status"] == "Cancelled"
    # In-flight instances finish their own lifecycle; no new batch starts.
    (leaving,) = by_state(world)["Terminating:Wait"]
    (joining,) = by_state(world)["Pending:Wait"]
    world.complete(world.active(joining)[0])
    world.complete(world.active(leaving)[0])
    assert set(world.states().values()) == {"InService"}
    assert world.actions(state="active") == []
    with pytest.raises(ClientError) as err:
        world.asg.cancel_instance_refresh(AutoScalingGroupName=world.name)
    assert err.value.response["Error"]["Code"] == "ActiveInstanceRefreshNotFound"


@pytest.mark.parametrize(
    "preferences, names",
    [
        ({"SkipMatching": True}, "SkipMatching"),
        ({"CheckpointPercentages": [50]}, "CheckpointPercentages"),
        ({"MinHealthyPercentage": 50, "MaxHealthyPercentage": 200}, "difference"),
    ],
)
def test_preferences_the_model_lacks_or_aws_refuses_are_refused(client, emulator, preferences, names):
    world = Group(client, emulator, size=1)
    with pytest.raises(ClientError) as err:
        world.asg.start_instance_refresh(AutoScalingGroupName=world.name, Preferences=preferences)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert names in err.value.response["Error"]["Message"]
    assert world.asg.describe_instance_refreshes(AutoScalingGroupName=world.name)["InstanceRefreshes"] == []


def test_deleting_the_group_fails_its_refresh(client, emulator):
    world = hooked_group(client, emulator)
    world.asg.start_instance_refresh(AutoScalingGroupName=world.name)
    backend_refreshes = world.asg.describe_instance_refreshes(AutoScalingGroupName=world.name)["InstanceRefreshes"]
    assert backend_refreshes[0]["Status"] == "InProgress"
    world.asg.delete_auto_scaling_group(AutoScalingGroupName=world.name, ForceDelete=True)
    with pytest.raises(ClientError) as err:
        world.asg.describe_instance_refreshes(AutoScalingGroupName=world.name)
    assert "not found" in err.value.response["Error"]["Message"]
