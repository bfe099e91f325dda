"""ECS patches for moto 5.2.1, so that ecs-drain's ECS calls behave as on AWS.

Each patch replaces one handler of moto's ``EC2ContainerServiceResponse`` (the request layer),
because moto's backend methods are also used by CloudFormation and must keep their signatures.
Why each patch exists (all checked against moto 5.2.1's source):

* ListContainerInstances: moto ignores ``filter`` (returns every instance of the cluster, so a
  lookup by ``ec2InstanceId == i-...`` silently finds the wrong instance), ignores ``status``,
  and does not paginate. We implement the one cluster-query-language form ecs-drain uses,
  reject every other form loudly, honour ``status`` and paginate (default page 100, as AWS).
* ListTasks: moto has no desiredStatus default (AWS: RUNNING), matches the cluster and the
  container instance by substring, ignores ``serviceName`` and does not paginate.
* DescribeTasks: moto ignores the cluster (returns tasks of other clusters), matches task ids
  by substring and never reports ``failures``; AWS scopes to the cluster and answers MISSING.
* CreateService: moto drops ``deploymentConfiguration``; AWS returns it (with defaults) on
  DescribeServices, and ecs-drain reads minimumHealthyPercent/maximumPercent from it.
* Container instance lifecycle: moto registers every instance ACTIVE with its agent connected
  and lets UpdateContainerInstancesState set ACTIVE / DRAINING from any status. AWS documents
  REGISTERING → ACTIVE | REGISTRATION_FAILED, ACTIVE ⇄ DRAINING (the only change the API
  makes: "a container instance can't be changed to DRAINING until it has reached an ACTIVE
  status"; any other status is an error), → DEREGISTERING → INACTIVE, and an agent that
  connects and disconnects on its own. RegisterContainerInstance here starts an instance in the
  status and agent state set by the test (``/_ecs_drain/ecs/registration``, default ACTIVE and
  connected, moto's behaviour); the API refuses to change an instance that is not ACTIVE or
  DRAINING; the test moves an instance along the documented transitions only
  (:func:`set_container_instance_state`) and every change bumps the instance's ``version``, as
  the ``ECS Container Instance State Change`` event's ``version`` does.
* Placing or stopping a task (StartTask, RunTask, StopTask) changes the container instance's
  available resources, which AWS reports as a container instance state change (ECS developer
  guide, "Amazon ECS container instance state change events": the first scenarios listed), so
  those bump its ``version`` too.
* A change log (test-only, ``GET /_ecs_drain/ecs/changes``): every container instance change
  above and every task placed or stopped, in order, with the emulator's time. AWS shows these
  only as events (moto emits none); a test reads the order of what happened from here rather
  than from the functions' own logs.

Not patched because moto already matches AWS (proved by tests in tests/emulator): the task
fields (lastStatus, desiredStatus, group, startedBy, containerInstanceArn, stoppedReason),
DescribeServices ``schedulingStrategy``, StopTask (lastStatus and desiredStatus STOPPED at once,
stoppedReason kept), RunTask/StartTask ``group`` and ``startedBy``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any, Sequence

from moto.core.responses import ActionResult
from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.models import Container, EC2ContainerServiceBackend, Task
from moto.ecs.responses import DESCRIBE_TASKS_TAGS, EC2ContainerServiceResponse

# AWS: "maxResults ... between 1 and 100 ... If this parameter isn't used, then ... returns up
# to 100 results and a nextToken value if applicable."
MAX_PAGE = 100

_EC2_ID_FILTER = re.compile(r"^\s*ec2InstanceId\s*==\s*(i-[0-9A-Za-z]+)\s*$")

CONTAINER_INSTANCE_STATUSES = {
    "ACTIVE",
    "DRAINING",
    "REGISTERING",
    "DEREGISTERING",
    "REGISTRATION_FAILED",
}
TASK_DESIRED_STATUSES = {"RUNNING", "PENDING", "STOPPED"}


def parse_container_instance_filter(expression: str | None) -> str | None:
    """Return the EC2 instance id of an ``ec2InstanceId == i-...`` filter, None for no filter.

    Any other non-empty expression raises InvalidParameterException: silently ignoring a
    filter is exactly the moto behaviour that makes a wrong lookup pass.
    """
    if expression is None or expression.strip() == "":
        return None
    match = _EC2_ID_FILTER.match(expression)
    if not match:
        raise InvalidParameterException(
            f"unsupported filter expression in emulator: {expression!r} "
            "(only 'ec2InstanceId == i-...' is implemented)"
        )
    return match.group(1)


def paginate(items: Sequence[str], max_results: Any, next_token: str | None) -> tuple[list[str], str | None]:
    """Slice ``items`` into one page the way ECS List* calls do.

    The token is opaque to clients; it encodes the offset and the last item handed out so
    that a token from another listing is rejected instead of skipping items silently.
    """
    if max_results is None:
        page_size = MAX_PAGE
    else:
        page_size = int(max_results)
        if not 1 <= page_size <= MAX_PAGE:
            raise InvalidParameterException(
                f"maxResults must be between 1 and {MAX_PAGE}, got {page_size}"
            )
    start = 0
    if next_token:
        try:
            state = json.loads(base64.urlsafe_b64decode(next_token.encode()).decode())
            start = int(state["offset"])
            last = state["last"]
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise InvalidParameterException("Invalid nextToken") from None
        if not (0 < start <= len(items)) or items[start - 1] != last:
            raise InvalidParameterException("Invalid nextToken (listing changed or foreign token)")
    page = list(items[start : start + page_size])
    token = None
    end = start + len(page)
    if end < len(items):
        token = base64.urlsafe_b64encode(
            json.dumps({"offset": end, "last": items[end - 1]}).encode()
        ).decode()
    return page, token


def _same_id(ref: str, arn: str | None) -> bool:
    """True when ``ref`` (an id or a full ARN) names the resource ``arn``."""
    if not arn:
        return False
    return ref == arn or ref.split("/")[-1] == arn.split("/")[-1]


def list_container_instances(self: EC2ContainerServiceResponse) -> ActionResult:
    """ListContainerInstances with ``filter`` (ec2InstanceId == ...), ``status`` and paging."""
    backend: EC2ContainerServiceBackend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster", "default"))
    ec2_instance_id = parse_container_instance_filter(self._get_param("filter"))
    status = self._get_param("status")
    if status is not None and status not in CONTAINER_INSTANCE_STATUSES:
        raise InvalidParameterException(f"Invalid container instance status: {status}")
    instances = backend.container_instances.get(cluster.name, {}).values()
    arns = sorted(
        ci.container_instance_arn
        for ci in instances
        # AWS: without ``status`` every state except INACTIVE is listed.
        if (ci.status == status if status else ci.status != "INACTIVE")
        and (ec2_instance_id is None or ci.ec2_instance_id == ec2_instance_id)
    )
    page, token = paginate(arns, self._get_param("maxResults"), self._get_param("nextToken"))
    return ActionResult({"containerInstanceArns": page, "nextToken": token})


def list_tasks(self: EC2ContainerServiceResponse) -> ActionResult:
    """ListTasks with AWS filter semantics (desiredStatus defaults to RUNNING) and paging."""
    backend: EC2ContainerServiceBackend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster", "default"))
    container_instance = self._get_param("containerInstance")
    family = self._get_param("family")
    started_by = self._get_param("startedBy")
    service_name = self._get_param("serviceName")
    desired_status = self._get_param("desiredStatus") or "RUNNING"
    if desired_status not in TASK_DESIRED_STATUSES:
        raise InvalidParameterException(f"Invalid desiredStatus: {desired_status}")

    tasks: list[Task] = list(backend.tasks.get(cluster.name, {}).values())
    if container_instance:
        tasks = [t for t in tasks if _same_id(container_instance, t.container_instance_arn)]
    if family:
        arns = set(backend.list_task_definitions(family))
        tasks = [t for t in tasks if t.task_definition_arn in arns]
    if started_by:
        tasks = [t for t in tasks if t.started_by == started_by]
    if service_name:
        # Services launch no tasks in moto; tests place service tasks with
        # group="service:<name>", which is what ECS sets for a service's tasks.
        name = service_name.split("/")[-1]
        tasks = [t for t in tasks if t.group == f"service:{name}"]
    tasks = [t for t in tasks if t.desired_status == desired_status]

    arns = sorted(t.task_arn for t in tasks)
    page, token = paginate(arns, self._get_param("maxResults"), self._get_param("nextToken"))
    return ActionResult({"taskArns": page, "nextToken": token})


def describe_tasks(self: EC2ContainerServiceResponse) -> ActionResult:
    """DescribeTasks scoped to the cluster, exact id match, MISSING failures for the rest."""
    backend: EC2ContainerServiceBackend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster", "default"))
    refs = self._get_param("tasks", [])
    if not refs:
        raise InvalidParameterException("Tasks cannot be empty.")
    if len(refs) > MAX_PAGE:
        raise InvalidParameterException(f"At most {MAX_PAGE} tasks per DescribeTasks call, got {len(refs)}")
    by_id = {t.id: t for t in backend.tasks.get(cluster.name, {}).values()}
    tasks, failures = [], []
    for ref in refs:
        task = by_id.get(ref.split("/")[-1])
        if task is None:
            failures.append({"arn": ref, "reason": "MISSING"})
        else:
            task.advance()  # kept from moto: the pinned transition makes it a no-op
            tasks.append(task)
    if "TAGS" in self._get_param("include", []):
        self._include_in_response(DESCRIBE_TASKS_TAGS)
    else:
        self._exclude_from_response(DESCRIBE_TASKS_TAGS)
    return ActionResult({"tasks": tasks, "failures": failures})


_original_create_service = EC2ContainerServiceResponse.create_service


def create_service(self: EC2ContainerServiceResponse) -> ActionResult:
    """CreateService that keeps ``deploymentConfiguration`` (AWS defaults when absent)."""
    result = _original_create_service(self)
    service = result.result["service"]  # type: ignore[attr-defined]
    given = self._get_param("deploymentConfiguration") or {}
    if service.scheduling_strategy == "DAEMON":
        defaults = {"maximumPercent": 100, "minimumHealthyPercent": 0}
    else:
        defaults = {"maximumPercent": 200, "minimumHealthyPercent": 100}
    service.deployment_configuration = {**defaults, **given}
    return result


def set_task_status(
    backend: EC2ContainerServiceBackend,
    cluster_ref: str,
    task_ref: str,
    last_status: str,
    desired_status: str | None = None,
    stopped_reason: str | None = None,
) -> Task:
    """Test-only: put a task into a given state and keep it there.

    Moving to STOPPED goes through moto's own stop_task so the container instance's
    resources are released exactly as StopTask would. Raises LookupError for an unknown
    cluster or task and ValueError for an unknown status.
    """
    allowed = {"RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}
    if last_status not in allowed:
        raise ValueError(f"lastStatus must be one of {sorted(allowed)}, got {last_status!r}")
    if desired_status is not None and desired_status not in {"RUNNING", "STOPPED"}:
        raise ValueError(f"desiredStatus must be RUNNING or STOPPED, got {desired_status!r}")
    cluster_name = cluster_ref.split("/")[-1]
    if cluster_name not in backend.clusters:
        raise LookupError(f"unknown cluster {cluster_ref!r}")
    task_id = task_ref.split("/")[-1]
    task = next(
        (t for t in backend.tasks.get(cluster_name, {}).values() if t.id == task_id),
        None,
    )
    if task is None:
        raise LookupError(f"unknown task {task_ref!r} in cluster {cluster_name!r}")

    if last_status == "STOPPED" and task.last_status != "STOPPED":
        backend.stop_task(cluster_name, task.task_arn, stopped_reason or task.stopped_reason)
    task.last_status = last_status
    if desired_status is not None:
        task.desired_status = desired_status
    elif last_status in {"DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}:
        # On AWS a task past RUNNING always has desiredStatus STOPPED.
        task.desired_status = "STOPPED"
    if stopped_reason is not None:
        task.stopped_reason = stopped_reason
    return task


def task_as_json(task: Task) -> dict[str, Any]:
    return {
        "taskArn": task.task_arn,
        "clusterArn": task.cluster_arn,
        "containerInstanceArn": task.container_instance_arn,
        "lastStatus": task.last_status,
        "desiredStatus": task.desired_status,
        "stoppedReason": task.stopped_reason,
        "group": task.group,
        "startedBy": task.started_by,
        "taskDefinitionArn": task.task_definition_arn,
    }


_original_container_init = Container.__init__


def container_init(self: Container, *args: Any, **kwargs: Any) -> None:
    """Containers report ``cpu`` and ``memory`` as strings, as AWS's DescribeTasks does ("128").

    moto copies the task definition's integers, which the strict Rust SDK refuses to parse
    (boto3 is lenient and never noticed).
    """
    _original_container_init(self, *args, **kwargs)
    for attribute in ("cpu", "memory"):
        value = getattr(self, attribute, None)
        if value is not None:
            setattr(self, attribute, str(value))


# Documented container instance status changes a test may make (ACTIVE <-> DRAINING is the
# API's, UpdateContainerInstancesState, so tests go through it).
TEST_TRANSITIONS = {
    "REGISTERING": {"ACTIVE", "REGISTRATION_FAILED"},
    "ACTIVE": {"DEREGISTERING"},
    "DRAINING": {"DEREGISTERING"},
    "REGISTRATION_FAILED": {"INACTIVE"},
    "DEREGISTERING": {"INACTIVE"},
}
INITIAL_STATUSES = {"ACTIVE", "REGISTERING"}


def registration_defaults(backend: EC2ContainerServiceBackend) -> dict[str, Any]:
    """How RegisterContainerInstance starts an instance in this backend (reset with it)."""
    return backend.__dict__.setdefault("_ecs_drain_registration", {"status": "ACTIVE", "agentConnected": True})


def set_registration_defaults(backend: EC2ContainerServiceBackend, status: str, agent_connected: bool) -> dict[str, Any]:
    if status not in INITIAL_STATUSES:
        raise ValueError(f"a registration starts ACTIVE or REGISTERING, not {status!r}")
    defaults = registration_defaults(backend)
    defaults.update(status=status, agentConnected=agent_connected)
    return dict(defaults)


def _bump(container_instance: Any) -> None:
    container_instance.version = getattr(container_instance, "version", 1) + 1


_original_register = EC2ContainerServiceBackend.register_container_instance


def register_container_instance(self: EC2ContainerServiceBackend, cluster_str: str, ec2_instance_id: str) -> Any:
    container_instance = _original_register(self, cluster_str, ec2_instance_id)
    defaults = registration_defaults(self)
    container_instance.status = defaults["status"]
    container_instance.agent_connected = defaults["agentConnected"]
    container_instance.version = 1
    record_instance_change(self, container_instance, "RegisterContainerInstance")
    return container_instance


_original_update_state = EC2ContainerServiceBackend.update_container_instances_state


def update_container_instances_state(
    self: EC2ContainerServiceBackend, cluster_str: str, list_container_instance_ids: list[str], status: str
) -> Any:
    """UpdateContainerInstancesState only between ACTIVE and DRAINING, bumping ``version``."""
    cluster = self._get_cluster(cluster_str)
    instances = self.container_instances.get(cluster.name, {})
    for ref in list_container_instance_ids:
        found = instances.get(ref.split("/")[-1])
        if found is not None and found.status not in {"ACTIVE", "DRAINING"}:
            raise InvalidParameterException(
                f"Container instance {found.container_instance_arn} is {found.status}: "
                "only ACTIVE and DRAINING container instances can change status"
            )
    changed_before = {ref.split("/")[-1]: getattr(instances.get(ref.split("/")[-1]), "status", None) for ref in list_container_instance_ids}
    updated, failures = _original_update_state(self, cluster_str, list_container_instance_ids, status)
    for container_instance in updated:
        if changed_before.get(container_instance.container_instance_arn.split("/")[-1]) != container_instance.status:
            _bump(container_instance)
            record_instance_change(self, container_instance, "UpdateContainerInstancesState")
    return updated, failures


def find_container_instance(
    backend: EC2ContainerServiceBackend, cluster_ref: str, container_instance: str | None, ec2_instance_id: str | None
) -> Any:
    """A container instance by ARN / id or by EC2 instance id; LookupError when absent."""
    cluster_name = cluster_ref.split("/")[-1]
    if cluster_name not in backend.clusters:
        raise LookupError(f"unknown cluster {cluster_ref!r}")
    for candidate in backend.container_instances.get(cluster_name, {}).values():
        if container_instance and _same_id(container_instance, candidate.container_instance_arn):
            return candidate
        if ec2_instance_id and candidate.ec2_instance_id == ec2_instance_id:
            return candidate
    raise LookupError(
        f"no container instance {container_instance or ec2_instance_id!r} in cluster {cluster_name!r}"
    )


def set_container_instance_state(
    backend: EC2ContainerServiceBackend,
    cluster_ref: str,
    container_instance: str | None,
    ec2_instance_id: str | None,
    status: str | None,
    agent_connected: bool | None,
) -> Any:
    """Test-only: what ECS and its agent do by themselves (register, connect, fail, deregister).

    Refuses (ValueError) a status change AWS does not document, ACTIVE <-> DRAINING (the
    API's), and an agent change on an INACTIVE instance.
    """
    found = find_container_instance(backend, cluster_ref, container_instance, ec2_instance_id)
    changed = False
    if status is not None and status != found.status:
        if status not in TEST_TRANSITIONS.get(found.status, set()):
            raise ValueError(
                f"container instance status cannot go {found.status} -> {status} "
                f"(allowed: {sorted(TEST_TRANSITIONS.get(found.status, set()))}; "
                "ACTIVE <-> DRAINING is UpdateContainerInstancesState's)"
            )
        found.status = status
        changed = True
    if agent_connected is not None and agent_connected != found.agent_connected:
        if found.status == "INACTIVE":
            raise ValueError("an INACTIVE container instance has no agent to connect")
        found.agent_connected = agent_connected
        changed = True
    if changed:
        _bump(found)
        record_instance_change(backend, found, "ecs")
    return found


def container_instance_as_json(container_instance: Any, cluster_arn: str) -> dict[str, Any]:
    """The fields an ``ECS Container Instance State Change`` event's detail carries."""
    return {
        "containerInstanceArn": container_instance.container_instance_arn,
        "clusterArn": cluster_arn,
        "ec2InstanceId": container_instance.ec2_instance_id,
        "status": container_instance.status,
        "agentConnected": container_instance.agent_connected,
        "version": getattr(container_instance, "version", 1),
        "runningTasksCount": container_instance.running_tasks_count,
        "pendingTasksCount": container_instance.pending_tasks_count,
    }


def changes(backend: EC2ContainerServiceBackend) -> list[dict[str, Any]]:
    """The backend's change log, oldest first (kept on the backend, so reset with it)."""
    return backend.__dict__.setdefault("_ecs_drain_changes", [])


def _cluster_arn_of(backend: EC2ContainerServiceBackend, container_instance: Any) -> str | None:
    for name, instances in backend.container_instances.items():
        if any(candidate is container_instance for candidate in instances.values()):
            cluster = backend.clusters.get(name)
            return cluster.arn if cluster is not None else None
    return None


def record_instance_change(backend: EC2ContainerServiceBackend, container_instance: Any, cause: str) -> None:
    """Logs a container instance as it is after a change (the detail of the state change event
    AWS would send), with the emulator's time and what made the change."""
    entry = container_instance_as_json(container_instance, _cluster_arn_of(backend, container_instance) or "")
    changes(backend).append({"at": time.time(), "kind": "containerInstance", "cause": cause, **entry})


def _record_task(backend: EC2ContainerServiceBackend, task: Task, cause: str) -> None:
    changes(backend).append(
        {
            "at": time.time(),
            "kind": "task",
            "cause": cause,
            "taskArn": task.task_arn,
            "clusterArn": task.cluster_arn,
            "containerInstanceArn": task.container_instance_arn,
            "group": task.group,
            "lastStatus": task.last_status,
        }
    )


def _resources_changed(backend: EC2ContainerServiceBackend, tasks: list[Task], cause: str) -> None:
    """Each task's placement or stop, then its container instance's new version (its available
    resources changed)."""
    for task in tasks:
        _record_task(backend, task, cause)
        if not task.container_instance_arn:
            continue
        for instances in backend.container_instances.values():
            found = instances.get(task.container_instance_arn.split("/")[-1])
            if found is not None:
                _bump(found)
                record_instance_change(backend, found, cause)


_original_start_task = EC2ContainerServiceBackend.start_task
_original_run_task = EC2ContainerServiceBackend.run_task
_original_stop_task = EC2ContainerServiceBackend.stop_task


def start_task(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> list[Task]:
    tasks = _original_start_task(self, *args, **kwargs)
    _resources_changed(self, tasks, "StartTask")
    return tasks


def run_task(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> list[Task]:
    tasks = _original_run_task(self, *args, **kwargs)
    _resources_changed(self, tasks, "RunTask")
    return tasks


def stop_task(self: EC2ContainerServiceBackend, cluster_str: str, task_str: str, reason: str) -> Task:
    already_stopped = {
        t.task_arn for ts in self.tasks.values() for t in ts.values() if t.last_status == "STOPPED"
    }
    task = _original_stop_task(self, cluster_str, task_str, reason)
    if task.task_arn not in already_stopped:
        _resources_changed(self, [task], "StopTask")
    return task


def install() -> None:
    EC2ContainerServiceBackend.start_task = start_task  # type: ignore[method-assign]
    EC2ContainerServiceBackend.run_task = run_task  # type: ignore[method-assign]
    EC2ContainerServiceBackend.stop_task = stop_task  # type: ignore[method-assign]
    EC2ContainerServiceBackend.register_container_instance = register_container_instance  # type: ignore[method-assign]
    EC2ContainerServiceBackend.update_container_instances_state = update_container_instances_state  # type: ignore[method-assign]
    Container.__init__ = container_init  # type: ignore[method-assign]
    EC2ContainerServiceResponse.list_container_instances = list_container_instances  # type: ignore[method-assign]
    EC2ContainerServiceResponse.list_tasks = list_tasks  # type: ignore[method-assign]
    EC2ContainerServiceResponse.describe_tasks = describe_tasks  # type: ignore[method-assign]
    EC2ContainerServiceResponse.create_service = create_service  # type: ignore[method-assign]
