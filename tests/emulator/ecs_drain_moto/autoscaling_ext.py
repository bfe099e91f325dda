"""Auto Scaling lifecycle actions for moto 5.2.1 (termination side only).

Why: moto stores lifecycle hooks (PutLifecycleHook / DescribeLifecycleHooks) but never uses
them: it terminates instances at once, has no Terminating:Wait state, and answers
CompleteLifecycleAction / RecordLifecycleActionHeartbeat with HTTP 500. ecs-drain's whole job
is to hold an instance in Terminating:Wait until it is drained and then complete the action, so
the emulator must model that:

* An instance removed from a group that has an ``autoscaling:EC2_INSTANCE_TERMINATING`` hook
  (TerminateInstanceInAutoScalingGroup, or scale-in through SetDesiredCapacity /
  UpdateAutoScalingGroup) goes to ``Terminating:Wait`` and gets one lifecycle action per such
  hook, each with a fresh UUID token. It is terminated (the way moto normally terminates) once
  no action of it is active any more.
* CompleteLifecycleAction (by token or by instance id) and RecordLifecycleActionHeartbeat,
  answering ``ValidationError: No active Lifecycle Action found with token <t>`` (or
  ``... with instance ID <id>``) exactly where AWS does: unknown, completed or expired action,
  or an action of another group / hook.
* DeleteLifecycleHook completes the hook's outstanding actions with CONTINUE first, as AWS
  documents, so deleting a hook (or the stack) mid-drain terminates the waiting instances.
* Test-only helpers (served by routes.py): list every action ever created, and expire actions
  whose heartbeat deadline passed, applying the hook's DefaultResult.

Not modelled: launch hooks, warm pools, the 48 h global timeout firing by itself (time never
advances on its own here; tests expire actions explicitly), events/notifications.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import (
    AutoScalingBackend,
    FakeAutoScalingGroup,
    InstanceState,
    TerminateInstanceActivity,
    autoscaling_backends,
)
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult, EmptyResult

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
WAIT_STATE = "Terminating:Wait"
RESULTS = ("CONTINUE", "ABANDON")
# AWS: a hook waits at most min(48 h, 100 x heartbeat timeout).
MAX_GLOBAL_TIMEOUT = 48 * 3600

_lock = threading.RLock()


@dataclass
class LifecycleAction:
    token: str
    asg: str
    hook: str
    instanceId: str
    transition: str
    heartbeatTimeout: int
    defaultResult: str
    createdAt: float
    heartbeatDeadline: float
    globalDeadline: float
    accountId: str
    region: str
    state: str = "active"  # active | completed | expired
    result: str | None = None
    completions: int = 0
    heartbeats: int = 0
    completedAt: float | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _actions(backend: AutoScalingBackend) -> dict[str, LifecycleAction]:
    """The backend's lifecycle actions by token, in creation order.

    Stored on the backend object so that ``POST /moto-api/reset`` clears them with it.
    """
    return backend.__dict__.setdefault("_ecs_drain_lifecycle_actions", {})


def all_actions() -> Iterator[LifecycleAction]:
    for _account, _region, backend in autoscaling_backends.iter_backends():
        yield from _actions(backend).values()  # type: ignore[arg-type]


def _terminating_hooks(backend: AutoScalingBackend, group_name: str) -> list[Any]:
    return [
        hook
        for hook in backend.lifecycle_hooks.values()
        if hook.auto_scaling_group_name == group_name and hook.lifecycle_transition == TERMINATING
    ]


def _begin_wait(backend: AutoScalingBackend, group: FakeAutoScalingGroup, state: InstanceState) -> None:
    """Move an instance to Terminating:Wait and open one action per terminating hook."""
    state.lifecycle_state = WAIT_STATE
    now = time.time()
    for hook in _terminating_hooks(backend, group.name):
        timeout = int(hook.heartbeat_timeout)
        action = LifecycleAction(
            token=str(uuid.uuid4()),
            asg=group.name,
            hook=hook.name,
            instanceId=state.instance.id,
            transition=TERMINATING,
            heartbeatTimeout=timeout,
            defaultResult=hook.default_result,
            createdAt=now,
            heartbeatDeadline=now + timeout,
            globalDeadline=now + min(MAX_GLOBAL_TIMEOUT, 100 * timeout),
            accountId=backend.account_id,
            region=backend.region_name,
        )
        _actions(backend)[action.token] = action


def _finish_if_done(backend: AutoScalingBackend, instance_id: str) -> None:
    """Terminate the instance once none of its lifecycle actions is active any more."""
    if any(a.instanceId == instance_id and a.state == "active" for a in _actions(backend).values()):
        return
    for group in backend.autoscaling_groups.values():
        for state in list(group.instance_states):
            if state.instance.id == instance_id and state.lifecycle_state == WAIT_STATE:
                group.instance_states.remove(state)
                backend.ec2_backend.terminate_instances([instance_id])
                backend.update_attached_elbs(group.name)
                backend.update_attached_target_groups(group.name)


def _close(action: LifecycleAction, state: str, result: str) -> None:
    action.state = state
    action.result = result
    action.completedAt = time.time()


def _find_active(
    backend: AutoScalingBackend,
    asg: str | None,
    hook: str | None,
    token: str | None,
    instance_id: str | None,
) -> LifecycleAction:
    """The active action named by token (or instance id) for this group and hook.

    Anything else is AWS's ValidationError "No active Lifecycle Action found ...", which
    callers must treat as terminal.
    """
    if token:
        action = _actions(backend).get(token)
        if (
            action is None
            or action.state != "active"
            or action.asg != asg
            or action.hook != hook
            or (instance_id and action.instanceId != instance_id)
        ):
            raise ValidationError(f"No active Lifecycle Action found with token {token}")
        return action
    if instance_id:
        for action in _actions(backend).values():
            if (
                action.state == "active"
                and action.instanceId == instance_id
                and action.asg == asg
                and action.hook == hook
            ):
                return action
        raise ValidationError(f"No active Lifecycle Action found with instance ID {instance_id}")
    raise ValidationError("Either LifecycleActionToken or InstanceId must be provided")


def complete_lifecycle_action(
    backend: AutoScalingBackend,
    asg: str | None,
    hook: str | None,
    token: str | None,
    instance_id: str | None,
    result: str | None,
) -> LifecycleAction:
    if result not in RESULTS:
        raise ValidationError(
            f"Value '{result}' at 'lifecycleActionResult' failed to satisfy constraint: "
            "Member must be one of CONTINUE, ABANDON"
        )
    with _lock:
        action = _find_active(backend, asg, hook, token, instance_id)
        action.completions += 1
        _close(action, "completed", result)
        if result == "ABANDON":
            # ABANDON skips the instance's remaining hooks; for a terminating transition
            # the instance is terminated either way.
            for other in _actions(backend).values():
                if other.instanceId == action.instanceId and other.state == "active":
                    _close(other, "completed", "ABANDON")
        _finish_if_done(backend, action.instanceId)
        return action


def record_heartbeat(
    backend: AutoScalingBackend,
    asg: str | None,
    hook: str | None,
    token: str | None,
    instance_id: str | None,
) -> LifecycleAction:
    with _lock:
        action = _find_active(backend, asg, hook, token, instance_id)
        action.heartbeats += 1
        action.heartbeatDeadline = min(time.time() + action.heartbeatTimeout, action.globalDeadline)
        return action


def expire_actions(before: float | None) -> list[LifecycleAction]:
    """Test-only: time out active actions (all, or those whose deadline < ``before``).

    Applies the hook's DefaultResult as AWS does on a heartbeat timeout; for a terminating
    hook the instance is terminated in both cases.
    """
    expired = []
    with _lock:
        for _account, _region, backend in autoscaling_backends.iter_backends():
            for action in list(_actions(backend).values()):  # type: ignore[arg-type]
                if action.state != "active":
                    continue
                deadline = min(action.heartbeatDeadline, action.globalDeadline)
                if before is None or deadline < before:
                    _close(action, "expired", action.defaultResult)
                    expired.append(action)
            for action in expired:
                if action.accountId == backend.account_id and action.region == backend.region_name:
                    _finish_if_done(backend, action.instanceId)  # type: ignore[arg-type]
    return expired


# --- patches of moto's backend / group / response classes -------------------------------

_original_terminate_instance = AutoScalingBackend.terminate_instance
_original_set_desired_capacity = FakeAutoScalingGroup.set_desired_capacity
_original_delete_group = AutoScalingBackend.delete_auto_scaling_group
_original_delete_hook = AutoScalingBackend.delete_lifecycle_hook


def terminate_instance(
    self: AutoScalingBackend, instance_id: str, should_decrement: bool
) -> TerminateInstanceActivity:
    """TerminateInstanceInAutoScalingGroup that honours terminating lifecycle hooks."""
    with _lock:
        found = [
            (group, state)
            for group in self.autoscaling_groups.values()
            for state in group.instance_states
            if state.instance.id == instance_id
        ]
        if not found or not _terminating_hooks(self, found[0][0].name):
            return _original_terminate_instance(self, instance_id, should_decrement)
        group, state = found[0]
        if state.lifecycle_state.startswith("Terminating"):
            raise ValidationError(
                f"The instance {instance_id} is already in {state.lifecycle_state} state."
            )
        original_size = group.desired_capacity
        _begin_wait(self, group, state)
        if should_decrement:
            group.desired_capacity = original_size - 1
        else:
            # AWS launches the replacement while the old instance waits.
            group.set_desired_capacity(group.desired_capacity)
        return TerminateInstanceActivity(state.instance, original_size)


def set_desired_capacity(self: FakeAutoScalingGroup, new_capacity: int | None) -> None:
    """Scale-in of a hooked group puts the surplus instances in Terminating:Wait.

    Without a terminating hook (or for mixed-instances groups, or while the group is being
    deleted) moto's own behaviour is kept.
    """
    backend = self.autoscaling_backend
    with _lock:
        hooked = (
            _terminating_hooks(backend, self.name)
            and not self.mixed_instances_policy
            and not getattr(self, "_ecs_drain_deleting", False)
        )
        target = self.min_size if new_capacity is None else new_capacity
        active = self.active_instances()
        if not hooked or len(active) <= (target or 0):
            return _original_set_desired_capacity(self, new_capacity)
        self.desired_capacity = target
        surplus = len(active) - (target or 0)
        victims = [s for s in active if not s.protected_from_scale_in][:surplus]
        for state in victims:
            _begin_wait(backend, self, state)
        if self.name in backend.autoscaling_groups:
            backend.update_attached_elbs(self.name)
            backend.update_attached_target_groups(self.name)


def delete_auto_scaling_group(self: AutoScalingBackend, group_name: str) -> None:
    """Deleting a group skips its hooks (like ForceDelete): waiting instances go at once."""
    with _lock:
        group = self.autoscaling_groups.get(group_name)
        if group is not None:
            group._ecs_drain_deleting = True  # type: ignore[attr-defined]
            for action in _actions(self).values():
                if action.asg == group_name and action.state == "active":
                    _close(action, "expired", action.defaultResult)
            for state in [s for s in group.instance_states if s.lifecycle_state == WAIT_STATE]:
                _finish_if_done(self, state.instance.id)
        return _original_delete_group(self, group_name)


def delete_lifecycle_hook(self: AutoScalingBackend, as_name: str, name: str) -> None:
    """AWS (DeleteLifecycleHook): outstanding actions are completed first, CONTINUE for a
    terminating hook; an instance with no other active action is then terminated."""
    with _lock:
        _original_delete_hook(self, as_name, name)
        closed = []
        for action in _actions(self).values():
            if action.asg == as_name and action.hook == name and action.state == "active":
                _close(action, "completed", "CONTINUE")
                closed.append(action.instanceId)
        for instance_id in closed:
            _finish_if_done(self, instance_id)


def _complete_response(self: AutoScalingResponse) -> ActionResult:
    complete_lifecycle_action(
        self.autoscaling_backend,
        asg=self._get_param("AutoScalingGroupName"),
        hook=self._get_param("LifecycleHookName"),
        token=self._get_param("LifecycleActionToken"),
        instance_id=self._get_param("InstanceId"),
        result=self._get_param("LifecycleActionResult"),
    )
    return EmptyResult()


def _heartbeat_response(self: AutoScalingResponse) -> ActionResult:
    record_heartbeat(
        self.autoscaling_backend,
        asg=self._get_param("AutoScalingGroupName"),
        hook=self._get_param("LifecycleHookName"),
        token=self._get_param("LifecycleActionToken"),
        instance_id=self._get_param("InstanceId"),
    )
    return EmptyResult()


def install() -> None:
    AutoScalingBackend.terminate_instance = terminate_instance  # type: ignore[method-assign]
    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group  # type: ignore[method-assign]
    AutoScalingBackend.delete_lifecycle_hook = delete_lifecycle_hook  # type: ignore[method-assign]
    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity  # type: ignore[method-assign]
    AutoScalingResponse.complete_lifecycle_action = _complete_response  # type: ignore[attr-defined]
    AutoScalingResponse.record_lifecycle_action_heartbeat = _heartbeat_response  # type: ignore[attr-defined]
