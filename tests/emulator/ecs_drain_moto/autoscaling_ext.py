"""Auto Scaling lifecycle actions and warm pools for moto 5.2.1.

Why: moto stores lifecycle hooks (PutLifecycleHook / DescribeLifecycleHooks) but never uses
them: it launches instances straight to InService, terminates them at once, has no wait
states, and answers CompleteLifecycleAction / RecordLifecycleActionHeartbeat with HTTP 500.
Its warm pool is a configuration record only (DescribeWarmPool lists no instances, nothing
enters or leaves the pool). ecs-drain holds instances in those wait states, so the emulator
models them the way the Auto Scaling user guide documents ("Amazon EC2 Auto Scaling instance
lifecycle", "Use lifecycle hooks with a warm pool", "Warm pool example events and patterns"):

* Terminating: an instance removed from a group that has an ``autoscaling:EC2_INSTANCE_TERMINATING``
  hook (TerminateInstanceInAutoScalingGroup, or scale-in through SetDesiredCapacity /
  UpdateAutoScalingGroup) goes to ``Terminating:Wait`` and gets one lifecycle action per such
  hook, each with a fresh UUID token. Once no action of it is active it is terminated, or, on
  a scale-in of a group whose warm pool has ``ReuseOnScaleIn``, returned to the pool
  (``Destination`` WarmPool; a manual TerminateInstanceInAutoScalingGroup always terminates).
* Launching: with an ``autoscaling:EC2_INSTANCE_LAUNCHING`` hook, an instance the group adds
  (scale-out, or the replacement of a terminated one) waits in ``Pending:Wait`` with one
  action per launch hook (``Origin`` EC2 for a new instance, WarmPool for one leaving the
  pool; ``Destination`` AutoScalingGroup). CONTINUE (once every action of it is completed)
  puts it InService; ABANDON (which skips its remaining hooks) terminates it and the group
  launches a replacement. Without a launch hook, moto's behaviour (InService at once) stays.
* Warm pools (PutWarmPool / DescribeWarmPool / DeleteWarmPool): the pool holds
  max(MinSize, MaxGroupPreparedCapacity (default: the group's MaxSize) - DesiredCapacity)
  instances, filled when the pool is created and after every change of the group. A new pool
  instance waits in ``Warmed:Pending:Wait`` when the group has a launch hook (``Origin`` EC2,
  ``Destination`` WarmPool), then goes to ``Warmed:Stopped`` / ``Warmed:Running`` /
  ``Warmed:Hibernated`` (the pool state; its EC2 instance is stopped unless Running).
  Scale-out takes ready pool instances first (oldest first; an instance still in
  ``Warmed:Pending:Wait`` is not ready), starts them and passes them through ``Pending:Wait``
  as above; only when the pool is out of ready instances are new ones launched. An instance
  returning to the pool on scale-in goes through ``Warmed:Pending:Wait`` too when the group
  has a launch hook (``Origin`` AutoScalingGroup, ``Destination`` WarmPool: the user guide's
  state diagram leads ``Terminating:Proceed`` to ``Warmed:Pending``; it shows no example
  event for this leg, so these two fields are our reading), and is stopped. ABANDON of a
  terminate action whose destination is the pool terminates the instance instead of reusing
  it. Stopping a pool instance disconnects the ECS agent of its container instance (ECS
  cannot reach a stopped instance); starting it does not reconnect it: the test decides when
  the agent connects (``/_ecs_drain/ecs/container-instance``). DeleteWarmPool terminates the
  pool's instances. A warm pool is refused on a group with a mixed instances policy (a
  documented warm pool limitation).
* CompleteLifecycleAction (by token or by instance id) and RecordLifecycleActionHeartbeat,
  answering ``ValidationError: No active Lifecycle Action found with token <t>`` (or
  ``... with instance ID <id>``) exactly where AWS does: unknown, completed or expired action,
  or an action of another group / hook.
* DeleteLifecycleHook completes the hook's outstanding actions first, as AWS documents:
  CONTINUE for terminating instances, ABANDON for launching ones.
* Test-only helpers (served by routes.py): list every action ever created (with its
  ``origin`` / ``destination``), and expire actions whose heartbeat deadline passed, applying
  the hook's DefaultResult.

Instance refresh is modelled on top of this in refresh_ext.py. Not modelled: the 48 h global
timeout firing by itself (time never advances on its own here; tests expire actions
explicitly), shrinking a pool by terminating pool
instances (``Warmed:Terminating:Wait``), events/notifications (tests build them from the
actions listed, in the documented shapes).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

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
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
WAIT_STATE = "Terminating:Wait"
PENDING_WAIT = "Pending:Wait"
WARMED_PENDING_WAIT = "Warmed:Pending:Wait"
IN_SERVICE = "InService"
RESULTS = ("CONTINUE", "ABANDON")
# Origin / Destination values (Auto Scaling user guide, warm pool example events).
EC2, GROUP, POOL = "EC2", "AutoScalingGroup", "WarmPool"
# PoolState -> the lifecycle state of a ready pool instance.
POOL_STATES = {"Stopped": "Warmed:Stopped", "Running": "Warmed:Running", "Hibernated": "Warmed:Hibernated"}
READY_POOL_STATES = set(POOL_STATES.values())
# States that count towards the group's desired capacity.
GROUP_STATES = {PENDING_WAIT, IN_SERVICE}
# AWS: a hook waits at most min(48 h, 100 x heartbeat timeout).
MAX_GLOBAL_TIMEOUT = 48 * 3600

_lock = threading.RLock()
# Called with the backend after every change of an instance's lifecycle (refresh_ext listens).
_listeners: list[Callable[[AutoScalingBackend], None]] = []


def on_change(listener: Callable[[AutoScalingBackend], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def _changed(backend: AutoScalingBackend) -> None:
    for listener in _listeners:
        listener(backend)


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
    origin: str = GROUP
    destination: str = EC2
    state: str = "active"  # active | completed | expired
    result: str | None = None
    completions: int = 0
    heartbeats: int = 0
    completedAt: float | None = None
    # The instance's lifecycle state while the action waits (Pending:Wait, ...).
    lifecycleState: str = WAIT_STATE
    history: list[str] = field(default_factory=list)

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


def _hooks(backend: AutoScalingBackend, group_name: str, transition: str) -> list[Any]:
    return [
        hook
        for hook in backend.lifecycle_hooks.values()
        if hook.auto_scaling_group_name == group_name and hook.lifecycle_transition == transition
    ]


def _terminating_hooks(backend: AutoScalingBackend, group_name: str) -> list[Any]:
    return _hooks(backend, group_name, TERMINATING)


def pool_of(group: FakeAutoScalingGroup) -> list[InstanceState]:
    """The instances in the group's warm pool (any Warmed:* state), oldest first."""
    return group.__dict__.setdefault("_ecs_drain_pool", [])


def _warm_pool(group: FakeAutoScalingGroup) -> Any:
    # set_desired_capacity runs inside moto's group constructor, before ``warm_pool`` exists.
    return getattr(group, "warm_pool", None)


def _reuse_on_scale_in(group: FakeAutoScalingGroup) -> bool:
    pool = _warm_pool(group)
    if pool is None:
        return False
    value = (pool.instance_reuse_policy or {}).get("ReuseOnScaleIn")
    return str(value).lower() == "true"


def pool_target(group: FakeAutoScalingGroup) -> int:
    """How many instances the warm pool holds: max(MinSize, MaxGroupPreparedCapacity - desired),
    MaxGroupPreparedCapacity defaulting (unset or -1) to the group's MaxSize."""
    pool = _warm_pool(group)
    if pool is None:
        return 0
    prepared = pool.max_group_prepared_capacity
    prepared = group.max_size if prepared is None or int(prepared) == -1 else int(prepared)
    return max(int(pool.min_size or 0), int(prepared or 0) - int(group.desired_capacity or 0))


def _open_actions(
    backend: AutoScalingBackend,
    group: FakeAutoScalingGroup,
    state: InstanceState,
    transition: str,
    wait_state: str,
    origin: str,
    destination: str,
) -> list[str]:
    """Put the instance in ``wait_state`` with one action per hook of ``transition``."""
    state.lifecycle_state = wait_state
    now = time.time()
    tokens = []
    for hook in _hooks(backend, group.name, transition):
        timeout = int(hook.heartbeat_timeout)
        action = LifecycleAction(
            token=str(uuid.uuid4()),
            asg=group.name,
            hook=hook.name,
            instanceId=state.instance.id,
            transition=transition,
            heartbeatTimeout=timeout,
            defaultResult=hook.default_result,
            createdAt=now,
            heartbeatDeadline=now + timeout,
            globalDeadline=now + min(MAX_GLOBAL_TIMEOUT, 100 * timeout),
            accountId=backend.account_id,
            region=backend.region_name,
            origin=origin,
            destination=destination,
            lifecycleState=wait_state,
        )
        _actions(backend)[action.token] = action
        tokens.append(action.token)
    state._ecs_drain_round = tokens  # type: ignore[attr-defined]
    state._ecs_drain_destination = destination  # type: ignore[attr-defined]
    return tokens


def _begin_wait(
    backend: AutoScalingBackend, group: FakeAutoScalingGroup, state: InstanceState, destination: str = EC2
) -> None:
    """Move an instance to Terminating:Wait and open one action per terminating hook."""
    _open_actions(backend, group, state, TERMINATING, WAIT_STATE, GROUP, destination)


def _locate(backend: AutoScalingBackend, instance_id: str) -> tuple[FakeAutoScalingGroup, InstanceState, bool] | None:
    """(group, state, in_pool) of an instance of some group of this backend."""
    for group in backend.autoscaling_groups.values():
        for state in group.instance_states:
            if state.instance.id == instance_id:
                return group, state, False
        for state in pool_of(group):
            if state.instance.id == instance_id:
                return group, state, True
    return None


def _disconnect_agent(backend: AutoScalingBackend, instance_id: str) -> None:
    """A stopped EC2 instance's ECS agent is not connected (ECS cannot reach it)."""
    from moto.ecs.models import ecs_backends

    from . import ecs_ext

    ecs = ecs_backends[backend.account_id][backend.region_name]
    for instances in ecs.container_instances.values():
        for container_instance in instances.values():
            if container_instance.ec2_instance_id == instance_id and container_instance.agent_connected:
                container_instance.agent_connected = False
                ecs_ext._bump(container_instance)
                ecs_ext.record_instance_change(ecs, container_instance, "agent")


def _terminate(group: FakeAutoScalingGroup, state: InstanceState) -> None:
    backend = group.autoscaling_backend
    if state in group.instance_states:
        group.instance_states.remove(state)
    if state in pool_of(group):
        pool_of(group).remove(state)
    backend.ec2_backend.terminate_instances([state.instance.id])


def _to_pool_state(group: FakeAutoScalingGroup, state: InstanceState) -> None:
    """A pool instance whose launch actions are done: stopped (or running) in the pool."""
    pool = _warm_pool(group)
    pool_state = (pool.pool_state if pool is not None else None) or "Stopped"
    state.lifecycle_state = POOL_STATES.get(pool_state, "Warmed:Stopped")
    if pool_state != "Running":
        group.autoscaling_backend.ec2_backend.stop_instances([state.instance.id])
        _disconnect_agent(group.autoscaling_backend, state.instance.id)


def _enter_pool(group: FakeAutoScalingGroup, state: InstanceState, origin: str) -> None:
    """Put an instance in the pool, through Warmed:Pending:Wait when the group has a launch hook."""
    backend = group.autoscaling_backend
    if state in group.instance_states:
        group.instance_states.remove(state)
    pool_of(group).append(state)
    if not _open_actions(backend, group, state, LAUNCHING, WARMED_PENDING_WAIT, origin, POOL):
        _to_pool_state(group, state)


def _launch_new(group: FakeAutoScalingGroup, count: int) -> list[InstanceState]:
    """Launch ``count`` new EC2 instances the way moto does; returns their (InService) states."""
    if count <= 0:
        return []
    before = len(group.instance_states)
    group.replace_autoscaling_group_instances(count, group.get_propagated_tags())
    return group.instance_states[before:]


def _scale_out(group: FakeAutoScalingGroup, count: int) -> None:
    """Add ``count`` instances: ready pool instances first, then new ones; each through
    Pending:Wait when the group has a launch hook."""
    backend = group.autoscaling_backend
    ready = [s for s in pool_of(group) if s.lifecycle_state in READY_POOL_STATES][:count]
    for state in ready:
        pool_of(group).remove(state)
        if state.lifecycle_state != "Warmed:Running":
            backend.ec2_backend.start_instances([state.instance.id])
        group.instance_states.append(state)
        if not _open_actions(backend, group, state, LAUNCHING, PENDING_WAIT, POOL, GROUP):
            state.lifecycle_state = IN_SERVICE
    for state in _launch_new(group, count - len(ready)):
        if not _open_actions(backend, group, state, LAUNCHING, PENDING_WAIT, EC2, GROUP):
            state.lifecycle_state = IN_SERVICE


def _refill_pool(group: FakeAutoScalingGroup) -> None:
    """Launch instances into the warm pool up to its size (a pool never shrinks here)."""
    if _warm_pool(group) is None or getattr(group, "_ecs_drain_deleting", False):
        return
    returning = [
        s
        for s in group.instance_states
        if s.lifecycle_state == WAIT_STATE and getattr(s, "_ecs_drain_destination", EC2) == POOL
    ]
    missing = pool_target(group) - len(pool_of(group)) - len(returning)
    for state in _launch_new(group, missing):
        _enter_pool(group, state, EC2)


def _round_result(backend: AutoScalingBackend, state: InstanceState) -> str:
    """CONTINUE unless an action of the instance's current wait ended ABANDON."""
    actions = _actions(backend)
    tokens = getattr(state, "_ecs_drain_round", [])
    return "ABANDON" if any(actions[t].result == "ABANDON" for t in tokens if t in actions) else "CONTINUE"


def _settle(backend: AutoScalingBackend, instance_id: str) -> None:
    """Move the instance on once none of its lifecycle actions is active any more."""
    if any(a.instanceId == instance_id and a.state == "active" for a in _actions(backend).values()):
        return
    found = _locate(backend, instance_id)
    if found is None:
        return
    group, state, _in_pool = found
    result = _round_result(backend, state)
    wait_state = state.lifecycle_state
    if wait_state == WAIT_STATE:
        if result == "CONTINUE" and getattr(state, "_ecs_drain_destination", EC2) == POOL and _warm_pool(group) is not None:
            _enter_pool(group, state, GROUP)
        else:
            _terminate(group, state)
    elif wait_state == PENDING_WAIT:
        if result == "CONTINUE":
            state.lifecycle_state = IN_SERVICE
        else:
            # ABANDON: the instance is terminated and the group launches a replacement.
            _terminate(group, state)
            if not getattr(group, "_ecs_drain_deleting", False):
                group.set_desired_capacity(group.desired_capacity)
    elif wait_state == WARMED_PENDING_WAIT:
        if result == "CONTINUE":
            _to_pool_state(group, state)
        else:
            _terminate(group, state)
            _refill_pool(group)
    else:
        return
    if group.name in backend.autoscaling_groups:
        backend.update_attached_elbs(group.name)
        backend.update_attached_target_groups(group.name)


def _finish_if_done(backend: AutoScalingBackend, instance_id: str) -> None:
    _settle(backend, instance_id)


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
            # ABANDON skips the instance's remaining hooks.
            for other in _actions(backend).values():
                if other.instanceId == action.instanceId and other.state == "active":
                    _close(other, "completed", "ABANDON")
        _settle(backend, action.instanceId)
        _changed(backend)
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

    Applies the hook's DefaultResult as AWS does on a heartbeat timeout.
    """
    expired = []
    with _lock:
        for _account, _region, backend in autoscaling_backends.iter_backends():
            mine = []
            for action in list(_actions(backend).values()):  # type: ignore[arg-type]
                if action.state != "active":
                    continue
                deadline = min(action.heartbeatDeadline, action.globalDeadline)
                if before is None or deadline < before:
                    _close(action, "expired", action.defaultResult)
                    mine.append(action)
            for action in mine:
                _settle(backend, action.instanceId)  # type: ignore[arg-type]
            if mine:
                _changed(backend)  # type: ignore[arg-type]
            expired.extend(mine)
    return expired


def instance_as_json(state: InstanceState) -> dict[str, Any]:
    """A warm pool instance as DescribeWarmPool lists it."""
    return {
        "InstanceId": state.instance.id,
        "InstanceType": state.instance_type,
        "AvailabilityZone": state.availability_zone,
        "LifecycleState": state.lifecycle_state,
        "HealthStatus": state.health_status,
        "ProtectedFromScaleIn": bool(state.protected_from_scale_in),
        **(
            {"LaunchConfigurationName": state.auto_scaling_group.launch_config_name}
            if getattr(state.auto_scaling_group, "launch_config_name", None)
            else {}
        ),
    }


# --- patches of moto's backend / group / response classes -------------------------------

_original_terminate_instance = AutoScalingBackend.terminate_instance
_original_set_desired_capacity = FakeAutoScalingGroup.set_desired_capacity
_original_delete_group = AutoScalingBackend.delete_auto_scaling_group
_original_delete_hook = AutoScalingBackend.delete_lifecycle_hook
_original_describe_instances = AutoScalingBackend.describe_auto_scaling_instances
_original_put_warm_pool = AutoScalingBackend.put_warm_pool
_original_delete_warm_pool = AutoScalingBackend.delete_warm_pool


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
            activity = _original_terminate_instance(self, instance_id, should_decrement)
            _changed(self)
            return activity
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
        _changed(self)
        return TerminateInstanceActivity(state.instance, original_size)


def set_desired_capacity(self: FakeAutoScalingGroup, new_capacity: int | None) -> None:
    """Scale-out through Pending:Wait (launch hooks) and the warm pool; scale-in through
    Terminating:Wait (terminating hooks) and back into the pool (ReuseOnScaleIn).

    Without any hook or warm pool (or for mixed-instances groups, or while the group is being
    deleted) moto's own behaviour is kept.
    """
    backend = self.autoscaling_backend
    with _lock:
        launch_hooked = bool(_hooks(backend, self.name, LAUNCHING))
        terminate_hooked = bool(_terminating_hooks(backend, self.name))
        modelled = (
            (launch_hooked or terminate_hooked or _warm_pool(self) is not None)
            and not self.mixed_instances_policy
            and not getattr(self, "_ecs_drain_deleting", False)
        )
        if not modelled:
            _original_set_desired_capacity(self, new_capacity)
            _changed(backend)
            return
        target = (self.min_size if new_capacity is None else new_capacity) or 0
        self.desired_capacity = target
        current = [s for s in self.instance_states if s.lifecycle_state in GROUP_STATES]
        if len(current) < target:
            _scale_out(self, target - len(current))
        elif len(current) > target:
            surplus = len(current) - target
            in_service = [s for s in current if s.lifecycle_state == IN_SERVICE]
            victims = [s for s in in_service if not s.protected_from_scale_in][:surplus]
            reuse = _reuse_on_scale_in(self)
            for state in victims:
                if terminate_hooked:
                    _begin_wait(backend, self, state, POOL if reuse else EC2)
                elif reuse:
                    _enter_pool(self, state, GROUP)
                else:
                    _terminate(self, state)
        _refill_pool(self)
        if self.name in backend.autoscaling_groups:
            backend.update_attached_elbs(self.name)
            backend.update_attached_target_groups(self.name)
        _changed(backend)


def delete_auto_scaling_group(self: AutoScalingBackend, group_name: str) -> None:
    """Deleting a group skips its hooks (like ForceDelete): waiting and pool instances go at once."""
    with _lock:
        group = self.autoscaling_groups.get(group_name)
        if group is not None:
            group._ecs_drain_deleting = True  # type: ignore[attr-defined]
            for action in _actions(self).values():
                if action.asg == group_name and action.state == "active":
                    _close(action, "expired", action.defaultResult)
            for state in list(pool_of(group)):
                _terminate(group, state)
            for state in [s for s in group.instance_states if s.lifecycle_state != IN_SERVICE]:
                _terminate(group, state)
            _changed(self)
        return _original_delete_group(self, group_name)


def delete_lifecycle_hook(self: AutoScalingBackend, as_name: str, name: str) -> None:
    """AWS (DeleteLifecycleHook): outstanding actions are completed first, ABANDON for
    launching instances and CONTINUE for terminating ones; each instance then moves on."""
    with _lock:
        _original_delete_hook(self, as_name, name)
        closed = []
        for action in _actions(self).values():
            if action.asg == as_name and action.hook == name and action.state == "active":
                _close(action, "completed", "ABANDON" if action.transition == LAUNCHING else "CONTINUE")
                closed.append(action.instanceId)
        for instance_id in closed:
            _settle(self, instance_id)
        _changed(self)


def describe_auto_scaling_instances(self: AutoScalingBackend, instance_ids: list[str]) -> list[InstanceState]:
    """DescribeAutoScalingInstances lists warm pool instances too (their Warmed:* states)."""
    found = _original_describe_instances(self, instance_ids)
    for group in self.autoscaling_groups.values():
        found.extend(s for s in pool_of(group) if not instance_ids or s.instance.id in instance_ids)
    return found


def put_warm_pool(
    self: AutoScalingBackend,
    group_name: str,
    max_group_prepared_capacity: Any,
    min_size: Any,
    pool_state: str | None,
    instance_reuse_policy: dict[str, Any] | None,
) -> None:
    """PutWarmPool with AWS's parameter checks, then the pool is filled."""
    with _lock:
        group = self.autoscaling_groups.get(group_name)
        if group is None:
            raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{group_name}' not found")
        if group.mixed_instances_policy:
            raise ValidationError(
                "You can't add a warm pool to an Auto Scaling group that has a mixed instances policy."
            )
        if min_size is not None and int(min_size) < 0:
            raise ValidationError(
                f"Value '{min_size}' at 'minSize' failed to satisfy constraint: "
                "Member must have value greater than or equal to 0"
            )
        if max_group_prepared_capacity is not None and int(max_group_prepared_capacity) < -1:
            raise ValidationError(
                f"Value '{max_group_prepared_capacity}' at 'maxGroupPreparedCapacity' failed to "
                "satisfy constraint: Member must have value greater than or equal to -1"
            )
        if pool_state is not None and pool_state not in POOL_STATES:
            raise ValidationError(
                f"Value '{pool_state}' at 'poolState' failed to satisfy constraint: "
                "Member must satisfy enum value set: [Running, Stopped, Hibernated]"
            )
        _original_put_warm_pool(
            self,
            group_name=group_name,
            max_group_prepared_capacity=None if max_group_prepared_capacity is None else int(max_group_prepared_capacity),
            min_size=None if min_size is None else int(min_size),
            pool_state=pool_state,
            instance_reuse_policy=instance_reuse_policy,
        )
        _refill_pool(group)


def delete_warm_pool(self: AutoScalingBackend, group_name: str) -> None:
    """DeleteWarmPool terminates the pool's instances."""
    with _lock:
        group = self.autoscaling_groups.get(group_name)
        if group is None:
            raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{group_name}' not found")
        for action in _actions(self).values():
            if action.asg == group_name and action.state == "active" and action.destination == POOL and action.transition == LAUNCHING:
                _close(action, "expired", "ABANDON")
        for state in list(pool_of(group)):
            _terminate(group, state)
        _original_delete_warm_pool(self, group_name)


def _action_params(self: AutoScalingResponse) -> dict[str, Any]:
    """The parameters naming one lifecycle action, shared by Complete and RecordHeartbeat."""
    return {
        "asg": self._get_param("AutoScalingGroupName"),
        "hook": self._get_param("LifecycleHookName"),
        "token": self._get_param("LifecycleActionToken"),
        "instance_id": self._get_param("InstanceId"),
    }


def _complete_response(self: AutoScalingResponse) -> ActionResult:
    result = self._get_param("LifecycleActionResult")
    complete_lifecycle_action(self.autoscaling_backend, **_action_params(self), result=result)
    return EmptyResult()


def _heartbeat_response(self: AutoScalingResponse) -> ActionResult:
    record_heartbeat(self.autoscaling_backend, **_action_params(self))
    return EmptyResult()


def _describe_warm_pool_response(self: AutoScalingResponse) -> ActionResult:
    group_name = self._get_param("AutoScalingGroupName")
    group = self.autoscaling_backend.autoscaling_groups.get(group_name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{group_name}' not found")
    with _lock:
        instances = [instance_as_json(s) for s in pool_of(group)]
    return ActionResult({"WarmPoolConfiguration": group.warm_pool, "Instances": instances})


def install() -> None:
    AutoScalingBackend.terminate_instance = terminate_instance  # type: ignore[method-assign]
    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group  # type: ignore[method-assign]
    AutoScalingBackend.delete_lifecycle_hook = delete_lifecycle_hook  # type: ignore[method-assign]
    AutoScalingBackend.describe_auto_scaling_instances = describe_auto_scaling_instances  # type: ignore[method-assign]
    AutoScalingBackend.put_warm_pool = put_warm_pool  # type: ignore[method-assign]
    AutoScalingBackend.delete_warm_pool = delete_warm_pool  # type: ignore[method-assign]
    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity  # type: ignore[method-assign]
    AutoScalingResponse.complete_lifecycle_action = _complete_response  # type: ignore[attr-defined]
    AutoScalingResponse.record_lifecycle_action_heartbeat = _heartbeat_response  # type: ignore[attr-defined]
    AutoScalingResponse.describe_warm_pool = _describe_warm_pool_response  # type: ignore[method-assign]
