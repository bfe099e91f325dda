"""Instance refresh for moto 5.2.1 (StartInstanceRefresh, DescribeInstanceRefreshes,
CancelInstanceRefresh), on top of the lifecycle model of :mod:`autoscaling_ext`.

Why: moto has no instance refresh (the calls answer HTTP 500), and an instance refresh is where
the downtime ecs-drain's launch readiness prevents shows: the refresh moves on to the next old
instance as soon as the replacement is InService, whether or not its ECS agent has joined.

What is modelled (Auto Scaling user guide, "Use an instance refresh to update instances";
RefreshPreferences API reference):

* The instances InService when the refresh starts are the ones to replace (no desired
  configuration, so no skip matching), oldest first.
* MinHealthyPercentage (default 90) and MaxHealthyPercentage (default 100; 100..200, at most
  100 above the minimum) decide the batches. With a maximum of 100 an old batch is terminated
  and its replacements launched at the same time, the batch being
  max(1, InService - ceil(desired x min / 100)) instances (so a minimum of 100 replaces one at
  a time); above 100 the refresh first launches up to floor(desired x max / 100) - desired new
  instances and terminates as many old ones once those are InService.
* Terminations go through Terminating:Wait when the group has a terminating hook, launches
  through Pending:Wait (or the warm pool) when it has a launch hook, exactly as for scaling.
* The next batch starts only when no instance of the group is in Pending:Wait and the
  previous batch's old instances are gone: the refresh waits for the replacements to be
  InService and for the old instances' terminate actions to complete. (AWS documents the wait
  for replacements to pass health checks and warm-up; waiting for terminations too is our
  reading. Warm-up time is not modelled: time never advances by itself here.)
* Status Pending is skipped (InProgress at once), Successful when every old instance is
  replaced, Cancelled at once on CancelInstanceRefresh (in-flight instances finish their own
  lifecycle), Failed when the group is deleted. A second StartInstanceRefresh while one is in
  progress answers ``InstanceRefreshInProgress``; CancelInstanceRefresh without one answers
  ``ActiveInstanceRefreshNotFound``.
* A launch-first batch's surge instances sit above the desired capacity until their old
  counterparts go; a SetDesiredCapacity in that window scales them in like any surplus (AWS
  would not). Tests do not scale a group mid-refresh.
* Preferences and options this model does not implement (checkpoints, SkipMatching,
  AutoRollback, alarms, bake time, a DesiredConfiguration, a Strategy other than Rolling,
  ScaleInProtectedInstances / StandbyInstances) are refused with a ValidationError naming
  them, never silently ignored. InstanceWarmup is accepted and has no effect (no clock).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult

from . import autoscaling_ext as lifecycle

ACTIVE_STATUSES = {"Pending", "InProgress"}
UNSUPPORTED_PREFERENCES = (
    "CheckpointPercentages",
    "CheckpointDelay",
    "AlarmSpecification",
    "BakeTime",
    "ScaleInProtectedInstances",
    "StandbyInstances",
)


class InstanceRefreshInProgress(AutoscalingClientError):
    code = "InstanceRefreshInProgress"


class ActiveInstanceRefreshNotFound(AutoscalingClientError):
    code = "ActiveInstanceRefreshNotFound"


@dataclass
class Refresh:
    refresh_id: str
    group: str
    min_healthy: int
    max_healthy: int
    warmup: int | None
    old: list[str]
    status: str = "InProgress"
    status_reason: str | None = None
    start_time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    end_time: datetime | None = None
    replaced: set[str] = field(default_factory=set)
    # Old instances of the batch under way, and (launch-first) how many surge instances
    # were launched whose old counterparts are still to be terminated.
    in_flight_old: list[str] = field(default_factory=list)
    surge_launched: int = 0

    def percentage(self) -> int:
        return 100 if not self.old else (100 * len(self.replaced)) // len(self.old)

    def finish(self, status: str, reason: str | None = None) -> None:
        self.status = status
        self.status_reason = reason
        self.end_time = datetime.now(timezone.utc)

    def as_response(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "InstanceRefreshId": self.refresh_id,
            "AutoScalingGroupName": self.group,
            "Status": self.status,
            "StartTime": self.start_time,
            "PercentageComplete": self.percentage(),
            "InstancesToUpdate": len(self.old) - len(self.replaced),
            "Preferences": {"MinHealthyPercentage": self.min_healthy, "MaxHealthyPercentage": self.max_healthy},
            "Strategy": "Rolling",
        }
        if self.warmup is not None:
            out["Preferences"]["InstanceWarmup"] = self.warmup
        if self.status_reason:
            out["StatusReason"] = self.status_reason
        if self.end_time is not None:
            out["EndTime"] = self.end_time
        return out


def refreshes(backend: AutoScalingBackend) -> list[Refresh]:
    """The backend's refreshes, oldest first (reset with it)."""
    return backend.__dict__.setdefault("_ecs_drain_refreshes", [])


def _int(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be an integer, got {value!r}") from None


def start(backend: AutoScalingBackend, group_name: str, strategy: str | None, desired_configuration: Any, preferences: dict[str, Any]) -> Refresh:
    with lifecycle._lock:
        group = backend.autoscaling_groups.get(group_name)
        if group is None:
            raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{group_name}' not found")
        if any(r.group == group_name and r.status in ACTIVE_STATUSES for r in refreshes(backend)):
            raise InstanceRefreshInProgress(
                "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."
            )
        if strategy not in (None, "Rolling"):
            raise ValidationError(f"Strategy {strategy!r} is not modelled by the emulator (only Rolling)")
        if desired_configuration:
            raise ValidationError("DesiredConfiguration is not modelled by the emulator")
        unsupported = [name for name in UNSUPPORTED_PREFERENCES if preferences.get(name) not in (None, [], {})]
        unsupported += [name for name in ("SkipMatching", "AutoRollback") if str(preferences.get(name)).lower() == "true"]
        if unsupported:
            raise ValidationError(f"instance refresh preferences not modelled by the emulator: {', '.join(unsupported)}")
        min_healthy = _int(preferences.get("MinHealthyPercentage"), "MinHealthyPercentage", 90)
        max_healthy = _int(preferences.get("MaxHealthyPercentage"), "MaxHealthyPercentage", 100)
        if not 0 <= min_healthy <= 100:
            raise ValidationError("MinHealthyPercentage must be between 0 and 100")
        if not 100 <= max_healthy <= 200:
            raise ValidationError("MaxHealthyPercentage must be between 100 and 200")
        if max_healthy - min_healthy > 100:
            raise ValidationError("The difference between MaxHealthyPercentage and MinHealthyPercentage must be at most 100")
        warmup = preferences.get("InstanceWarmup")
        refresh = Refresh(
            refresh_id=str(uuid.uuid4()),
            group=group_name,
            min_healthy=min_healthy,
            max_healthy=max_healthy,
            warmup=None if warmup is None else _int(warmup, "InstanceWarmup", 0),
            old=[s.instance.id for s in group.instance_states if s.lifecycle_state == lifecycle.IN_SERVICE],
        )
        refreshes(backend).append(refresh)
        advance(backend)
        return refresh


def cancel(backend: AutoScalingBackend, group_name: str) -> Refresh:
    with lifecycle._lock:
        if group_name not in backend.autoscaling_groups:
            raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{group_name}' not found")
        for refresh in refreshes(backend):
            if refresh.group == group_name and refresh.status in ACTIVE_STATUSES:
                refresh.finish("Cancelled", "Instance refresh cancelled by request")
                return refresh
        raise ActiveInstanceRefreshNotFound("No in progress or pending Instance Refresh found for Auto Scaling group " + group_name)


_advancing = False


def advance(backend: AutoScalingBackend) -> None:
    """Move every refresh of the backend on as far as the instances' states allow."""
    global _advancing
    if _advancing:
        return
    _advancing = True
    try:
        with lifecycle._lock:
            for refresh in refreshes(backend):
                # Each step either changes something or stops; a refresh has at most
                # 2 x len(old) steps, the bound only guards against a modelling bug.
                for _ in range(2 * len(refresh.old) + 2):
                    if refresh.status not in ACTIVE_STATUSES or not _step(backend, refresh):
                        break
    finally:
        _advancing = False


def _step(backend: AutoScalingBackend, refresh: Refresh) -> bool:
    """One step of one refresh; False when it must wait."""
    group = backend.autoscaling_groups.get(refresh.group)
    if group is None or getattr(group, "_ecs_drain_deleting", False):
        refresh.finish("Failed", "The Auto Scaling group was deleted")
        return False
    states = {s.instance.id: s for s in group.instance_states}
    if any(s.lifecycle_state == lifecycle.PENDING_WAIT for s in states.values()):
        return False
    if any(i in states for i in refresh.in_flight_old):
        return False
    refresh.replaced.update(refresh.in_flight_old)
    refresh.in_flight_old = []
    # Old instances that left by other means (scale-in, a manual termination) need no refresh.
    remaining = [i for i in refresh.old if i not in refresh.replaced and i in states and states[i].lifecycle_state == lifecycle.IN_SERVICE]
    refresh.replaced.update(i for i in refresh.old if i not in remaining and i not in refresh.replaced)
    if refresh.surge_launched:
        victims = remaining[: refresh.surge_launched]
        refresh.surge_launched = 0
        _retire(group, [states[i] for i in victims], replace=False)
        refresh.in_flight_old = victims
        return True
    if not remaining:
        refresh.finish("Successful")
        return False
    desired = int(group.desired_capacity or 0)
    in_service = sum(1 for s in states.values() if s.lifecycle_state == lifecycle.IN_SERVICE)
    max_count = math.floor(desired * refresh.max_healthy / 100)
    if max_count > desired:
        launch = max(1, min(max_count - desired, len(remaining)))
        lifecycle._scale_out(group, launch)
        refresh.surge_launched = launch
        return True
    min_count = math.ceil(desired * refresh.min_healthy / 100)
    batch = max(1, in_service - min_count)
    victims = remaining[:batch]
    _retire(group, [states[i] for i in victims], replace=True)
    refresh.in_flight_old = victims
    return True


def _retire(group: FakeAutoScalingGroup, victims: list[Any], replace: bool) -> None:
    """Terminate old instances (through Terminating:Wait when hooked), launching replacements
    at the same time when ``replace``; the desired capacity does not change."""
    backend = group.autoscaling_backend
    hooked = bool(lifecycle._terminating_hooks(backend, group.name))
    for state in victims:
        if hooked:
            lifecycle._begin_wait(backend, group, state, lifecycle.EC2)
        else:
            lifecycle._terminate(group, state)
    if replace:
        lifecycle._scale_out(group, len(victims))


# --- responses ----------------------------------------------------------------------------


def _start_response(self: AutoScalingResponse) -> ActionResult:
    params = self._get_params()
    refresh = start(
        self.autoscaling_backend,
        params.get("AutoScalingGroupName"),
        params.get("Strategy"),
        params.get("DesiredConfiguration"),
        params.get("Preferences") or {},
    )
    return ActionResult({"InstanceRefreshId": refresh.refresh_id})


def _describe_response(self: AutoScalingResponse) -> ActionResult:
    params = self._get_params()
    group_name = params.get("AutoScalingGroupName")
    if group_name not in self.autoscaling_backend.autoscaling_groups:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{group_name}' not found")
    wanted = params.get("InstanceRefreshIds") or []
    with lifecycle._lock:
        found = [
            r.as_response()
            for r in reversed(refreshes(self.autoscaling_backend))
            if r.group == group_name and (not wanted or r.refresh_id in wanted)
        ]
    return ActionResult({"InstanceRefreshes": found})


def _cancel_response(self: AutoScalingResponse) -> ActionResult:
    refresh = cancel(self.autoscaling_backend, self._get_params().get("AutoScalingGroupName"))
    return ActionResult({"InstanceRefreshId": refresh.refresh_id})


def install() -> None:
    lifecycle.on_change(advance)
    AutoScalingResponse.start_instance_refresh = _start_response  # type: ignore[attr-defined]
    AutoScalingResponse.describe_instance_refreshes = _describe_response  # type: ignore[attr-defined]
    AutoScalingResponse.cancel_instance_refresh = _cancel_response  # type: ignore[attr-defined]
