"""Test-only HTTP endpoints under ``/_ecs_drain/`` (never part of any AWS API).

They let a test do what AWS does by itself and moto cannot (hold a task inside its stop
timeout, time out a lifecycle action) and read state that AWS only shows in events.

    POST /_ecs_drain/ecs/task-status
        {"cluster": name|arn, "task": arn|id, "lastStatus": ..., "desiredStatus"?: ...,
         "stoppedReason"?: ..., "region"?: ..., "accountId"?: ...}
        -> 200 {"task": {...}} | 400/404 {"error": "..."}
    POST /_ecs_drain/ecs/registration
        {"status": "ACTIVE"|"REGISTERING", "agentConnected": bool, "region"?, "accountId"?}
        -> 200 {"registration": {...}}: how RegisterContainerInstance starts instances from now
        on (until /moto-api/reset; default ACTIVE and connected)
    POST /_ecs_drain/ecs/container-instance
        {"cluster": name|arn, "containerInstance"?: arn|id, "ec2InstanceId"?: "i-...",
         "status"?: documented next status, "agentConnected"?: bool, "region"?, "accountId"?}
        -> 200 {"containerInstance": {containerInstanceArn, clusterArn, ec2InstanceId, status,
                 agentConnected, version, runningTasksCount, pendingTasksCount}}
           | 400 (undocumented transition) | 404
        (no status / agentConnected: just reads it)
    GET  /_ecs_drain/ecs/changes
        -> 200 {"changes": [{"at": epoch seconds, "kind": "containerInstance", "cause": ...,
                 containerInstanceArn, clusterArn, ec2InstanceId, status, agentConnected,
                 version, runningTasksCount, pendingTasksCount}
                | {"at", "kind": "task", "cause": "StartTask"|"RunTask"|"StopTask", taskArn,
                   clusterArn, containerInstanceArn, group, lastStatus}, ...]}   (oldest first)
    POST /_ecs_drain/events/matching-targets
        {"event": {an EventBridge event with account and region}, "eventBusName"?: "default"}
        -> 200 {"targets": [{rule, ruleArn, targetId, arn, managedBy}, ...]}: where the bus's enabled
           rules deliver an event an AWS service puts there (events_ext.matching_targets)
           | 400 | 404 (no such bus)
    GET  /_ecs_drain/autoscaling/lifecycle-actions
        -> 200 {"lifecycleActions": [{token, asg, hook, instanceId, transition, origin,
                 destination, lifecycleState, state, result, completions, heartbeats,
                 createdAt, completedAt, ...}, ...]}
    POST /_ecs_drain/autoscaling/expire-lifecycle-actions
        {"before": epoch seconds} | {} (= all active)
        -> 200 {"expired": [action, ...]}
    GET  /_ecs_drain/health -> 200 {"ok": true}

IAM (iam_ext.py). Enforcement is whole-server; ``POST /moto-api/reset`` turns it off and
clears the decisions (it also drops every IAM user and role).

    POST /_ecs_drain/iam/admin-user {"userName"?: str = "ecs-drain-admin", "accountId"?: str,
                                     "accessKeyId"?: str, "secretAccessKey"?: str}
        -> 200 {"accessKeyId": str, "secretAccessKey": str, "arn": str}
        (idempotent: the same user and key again; inline Allow * on *; with accessKeyId and
         secretAccessKey the key is exactly that pair, e.g. the kit's "testing"/"testing")
    POST /_ecs_drain/iam/enforce {"enabled": bool} -> 200 {"enabled": bool}
    GET  /_ecs_drain/iam/enforce -> 200 {"enabled": bool}
    GET  /_ecs_drain/iam/decisions
        -> 200 {"decisions": [{"principal": caller ARN, "role": role name | null,
                 "action": "ecs:ListTasks", "resources": [ARN, ...], "allowed": bool,
                 "denied": first denied resource | null}, ...]}   (request order)
    DELETE /_ecs_drain/iam/decisions | POST /_ecs_drain/iam/decisions/clear -> 200 {"cleared": n}
    GET  /_ecs_drain/iam/role-actions?roleName=R[&accountId=A]
        -> 200 {"actions": [sorted Action strings of the role's Allow statements]} | 404
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends
from moto.iam.exceptions import NoSuchEntity, NotFoundException

from . import autoscaling_ext, ecs_ext, events_ext, iam_ext

PREFIX = "/_ecs_drain"
DEFAULT_REGION = "us-east-1"


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _body() -> dict[str, Any]:
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise ValueError("request body must be a JSON object")
    return data


def create_app() -> Flask:
    app = Flask("ecs_drain_moto")

    @app.get(f"{PREFIX}/health")
    def health() -> Response:
        return _json({"ok": True})

    @app.post(f"{PREFIX}/ecs/task-status")
    def task_status() -> Response:
        try:
            body = _body()
            for key in ("cluster", "task", "lastStatus"):
                if not isinstance(body.get(key), str) or not body[key]:
                    raise ValueError(f"missing string field {key!r}")
            arn = _arn_parts(body["task"]) or _arn_parts(body["cluster"]) or (None, None)
            region = body.get("region") or arn[0] or DEFAULT_REGION
            account = body.get("accountId") or arn[1] or DEFAULT_ACCOUNT_ID
            backend = ecs_backends[account][region]
            task = ecs_ext.set_task_status(
                backend,
                body["cluster"],
                body["task"],
                body["lastStatus"],
                desired_status=body.get("desiredStatus"),
                stopped_reason=body.get("stoppedReason"),
            )
        except ValueError as err:
            return _json({"error": str(err)}, 400)
        except LookupError as err:
            return _json({"error": str(err)}, 404)
        return _json({"task": ecs_ext.task_as_json(task)})

    @app.post(f"{PREFIX}/ecs/registration")
    def registration() -> Response:
        try:
            body = _body()
            if not isinstance(body.get("status"), str) or not isinstance(body.get("agentConnected"), bool):
                raise ValueError('body must be {"status": "ACTIVE"|"REGISTERING", "agentConnected": bool}')
            backend = _ecs_backend(body, None)
            defaults = ecs_ext.set_registration_defaults(backend, body["status"], body["agentConnected"])
        except ValueError as err:
            return _json({"error": str(err)}, 400)
        return _json({"registration": defaults})

    @app.post(f"{PREFIX}/ecs/container-instance")
    def container_instance() -> Response:
        try:
            body = _body()
            if not isinstance(body.get("cluster"), str) or not body["cluster"]:
                raise ValueError("missing string field 'cluster'")
            ref, ec2_id = body.get("containerInstance"), body.get("ec2InstanceId")
            if not (isinstance(ref, str) and ref) and not (isinstance(ec2_id, str) and ec2_id):
                raise ValueError("give 'containerInstance' or 'ec2InstanceId'")
            status, agent = body.get("status"), body.get("agentConnected")
            if status is not None and not isinstance(status, str):
                raise ValueError("'status' must be a string")
            if agent is not None and not isinstance(agent, bool):
                raise ValueError("'agentConnected' must be true or false")
            backend = _ecs_backend(body, ref if isinstance(ref, str) else body["cluster"])
            found = ecs_ext.set_container_instance_state(backend, body["cluster"], ref, ec2_id, status, agent)
            cluster_arn = backend.clusters[body["cluster"].split("/")[-1]].arn
        except ValueError as err:
            return _json({"error": str(err)}, 400)
        except LookupError as err:
            return _json({"error": str(err)}, 404)
        return _json({"containerInstance": ecs_ext.container_instance_as_json(found, cluster_arn)})

    @app.get(f"{PREFIX}/ecs/changes")
    def ecs_changes() -> Response:
        found = [entry for _account, _region, backend in ecs_backends.iter_backends() for entry in ecs_ext.changes(backend)]
        return _json({"changes": sorted(found, key=lambda entry: entry["at"])})

    @app.post(f"{PREFIX}/events/matching-targets")
    def matching_targets() -> Response:
        try:
            body = _body()
            event, bus = body.get("event"), body.get("eventBusName", "default")
            if not isinstance(event, dict) or not isinstance(bus, str):
                raise ValueError('body must be {"event": {...}, "eventBusName"?: str}')
            targets = events_ext.matching_targets(event, bus)
        except ValueError as err:
            return _json({"error": str(err)}, 400)
        except LookupError as err:
            return _json({"error": str(err)}, 404)
        return _json({"targets": targets})

    @app.get(f"{PREFIX}/autoscaling/lifecycle-actions")
    def lifecycle_actions() -> Response:
        actions = sorted(autoscaling_ext.all_actions(), key=lambda a: a.createdAt)
        return _json({"lifecycleActions": [a.as_json() for a in actions]})

    @app.post(f"{PREFIX}/autoscaling/expire-lifecycle-actions")
    def expire() -> Response:
        data = request.get_json(force=True, silent=True)
        if data is None and not request.get_data():
            data = {}
        if not isinstance(data, dict):
            return _json({"error": "request body must be a JSON object (or empty)"}, 400)
        before = data.get("before")
        if before is not None and not isinstance(before, (int, float)):
            return _json({"error": "'before' must be epoch seconds"}, 400)
        expired = autoscaling_ext.expire_actions(before)
        return _json({"expired": [a.as_json() for a in expired]})

    @app.post(f"{PREFIX}/iam/admin-user")
    def admin_user() -> Response:
        data = request.get_json(force=True, silent=True)
        if data is None and not request.get_data():
            data = {}
        if not isinstance(data, dict):
            return _json({"error": "request body must be a JSON object (or empty)"}, 400)
        name = data.get("userName", "ecs-drain-admin")
        account = data.get("accountId", DEFAULT_ACCOUNT_ID)
        key_id, secret = data.get("accessKeyId"), data.get("secretAccessKey")
        strings = [name, account] + ([key_id, secret] if key_id is not None or secret is not None else [])
        if not all(isinstance(v, str) and v for v in strings):
            return _json(
                {"error": "'userName', 'accountId', 'accessKeyId' and 'secretAccessKey' must be non-empty "
                 "strings (the last two together or not at all)"},
                400,
            )
        return _json(iam_ext.admin_user(name, account, key_id, secret))

    @app.get(f"{PREFIX}/iam/enforce")
    def enforcement() -> Response:
        return _json({"enabled": iam_ext.enforcing()})

    @app.post(f"{PREFIX}/iam/enforce")
    def enforce() -> Response:
        data = request.get_json(force=True, silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("enabled"), bool):
            return _json({"error": 'body must be {"enabled": true|false}'}, 400)
        return _json({"enabled": iam_ext.set_enforcement(data["enabled"])})

    @app.get(f"{PREFIX}/iam/decisions")
    def decisions() -> Response:
        return _json({"decisions": iam_ext.decisions()})

    @app.delete(f"{PREFIX}/iam/decisions")
    @app.post(f"{PREFIX}/iam/decisions/clear")
    def clear_decisions() -> Response:
        count = len(iam_ext.decisions())
        iam_ext.clear_decisions()
        return _json({"cleared": count})

    @app.get(f"{PREFIX}/iam/role-actions")
    def role_actions() -> Response:
        role = request.args.get("roleName")
        if not role:
            return _json({"error": "missing query parameter roleName"}, 400)
        account = request.args.get("accountId", DEFAULT_ACCOUNT_ID)
        try:
            actions = iam_ext.role_actions(role, account)
        except (NoSuchEntity, NotFoundException) as err:
            return _json({"error": f"no role {role!r} in account {account}: {err}"}, 404)
        return _json({"actions": actions})

    @app.errorhandler(404)
    def not_found(_err: Exception) -> Response:
        return _json({"error": f"no test endpoint {request.method} {request.path}"}, 404)

    @app.errorhandler(405)
    def bad_method(_err: Exception) -> Response:
        return _json({"error": f"method {request.method} not allowed on {request.path}"}, 405)

    return app


def _ecs_backend(body: dict[str, Any], ref: str | None) -> Any:
    arn = (_arn_parts(ref) if ref else None) or _arn_parts(str(body.get("cluster", ""))) or (None, None)
    region = body.get("region") or arn[0] or DEFAULT_REGION
    account = body.get("accountId") or arn[1] or DEFAULT_ACCOUNT_ID
    return ecs_backends[account][region]


def _arn_parts(ref: str) -> tuple[str, str] | None:
    """(region, account) of an ARN (arn:aws:ecs:REGION:ACCOUNT:...), None for a name or id."""
    parts = ref.split(":")
    if ref.startswith("arn:") and len(parts) > 5 and parts[3] and parts[4]:
        return parts[3], parts[4]
    return None
