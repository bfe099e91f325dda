"""IAM enforced against real resource ARNs, for moto 5.2.1 in server mode.

Why: with moto's enforcement on (``settings.INITIAL_NO_AUTH_ACTION_COUNT`` reached), every
ECS, DynamoDB and Auto Scaling request is evaluated against the resource ``*``, so a policy
scoped to real ARNs (as infra/template.yaml's are) denies everything; Scheduler GET/DELETE
requests fail signature checking first (moto signs an empty body as the form-encoding of the
request headers); and a denial comes back as an XML 403 whatever the protocol, which the Rust
SDK cannot read as ``AccessDeniedException`` for JSON services.

What this module does, only while enforcement is on:

* Signatures are checked with botocore's SigV4 over the bytes actually received
  (:class:`SigV4Request`), for every service.
* For each operation in :data:`OPERATIONS`, the request is authorized against the resource
  ARNs and condition keys the Service Authorization Reference lists for it
  (:func:`plan_checks`, a pure function of the request parameters), each ARN evaluated with
  moto's own ``IAMPolicy`` over the caller's policies: any DENIED result denies, and every
  resource must be PERMITTED by some policy. Scheduler Create/UpdateSchedule also check
  ``iam:PassRole`` on ``Target.RoleArn`` with ``iam:PassedToService``.
* A denial answers in the protocol's real error shape (:func:`denial_response`).
* Every authorization while enforcement is on is recorded (:func:`decisions`), in order.
* Other operations of these five services are evaluated as moto does (the action on ``*``),
  recorded, and denied in the protocol's shape too. Other services (IAM, STS, EC2, ...) keep
  moto's check and its XML 403, recorded as well.
* Unknown keys and bad signatures answer as AWS does per protocol (JSON services:
  UnrecognizedClientException / InvalidSignatureException; Auto Scaling: InvalidClientTokenId
  / SignatureDoesNotMatch in the awsQuery ErrorResponse). Such requests record no decision.

The table (resource ARNs built from the request with the caller's region and account; ECS
names and ids expanded as ECS does, cluster default ``default``):

=====================================================  ===========================================  ==============
operation                                              resource(s)                                  condition keys
=====================================================  ===========================================  ==============
ecs:ListClusters                                       ``*`` (no resource-level permissions)        -
ecs:DescribeClusters                                   each cluster/<c> (none named: default)       -
ecs:ListContainerInstances                             cluster/<c>                                  -
ecs:DescribeContainerInstances, UpdateContainer...     each container-instance/<c>/<id>             ecs:cluster
ecs:ListTasks                                          container-instance/<c>/<id> (none named: /*) ecs:cluster
ecs:DescribeTasks, ecs:StopTask                        each task/<c>/<id>                           ecs:cluster
ecs:DescribeServices                                   each service/<c>/<name>                      ecs:cluster
ecs:ListServices                                       ``*`` (no resource-level permissions)        ecs:cluster
autoscaling:CompleteLifecycleAction, RecordLifecy...   the group's ARN (unknown group: uuid ``*``)  -
autoscaling:DescribeLifecycleHooks, DescribeAutoSc...  ``*`` (no resource-level permissions)        -
dynamodb:Get/Put/Update/DeleteItem, Query, Scan,       table/<t> (Query/Scan with IndexName:        -
DescribeTable                                          table/<t>/index/<i>)
scheduler:Create/Update/Delete/GetSchedule             schedule/<group or default>/<name>           -
iam:PassRole (with Create/UpdateSchedule)              Target.RoleArn                               iam:PassedToService
events:PutEvents                                       each entry's event-bus/<name> (default)      events:source,
                                                                                                    events:detail-type
=====================================================  ===========================================  ==============

moto evaluator quirks that a policy author must know (moto 5.2.1 ``moto/iam``):

* Conditions are checked before ``Resource``, and a statement whose condition fails returns
  DENIED, for Allow as well as Deny statements. AWS would skip such a statement. So an Allow
  with e.g. ``StringEquals: {ecs:cluster: A}`` denies a request on cluster B even when another
  statement allows it.
* Only the ``StringEquals`` operator is evaluated; every other operator (``ArnEquals``,
  ``ArnLike``, ``StringLike``, ...) is treated as satisfied. A condition key the request does
  not supply is treated as satisfied too. We supply ``ecs:cluster`` (the cluster ARN),
  ``iam:PassedToService`` and, on every check of the table above (:func:`with_global_keys`),
  the global keys ``aws:RequestedRegion`` (the request's region) and ``aws:ResourceAccount``
  (the account segment of the resource's ARN; not on ``*``), which infra/template.yaml's
  per-name statements are pinned with.
* Action names match case-sensitively (AWS: case-insensitively); ``*`` in Action/Resource is a
  wildcard, ``?`` is not.
* ``sts:AssumeRole`` is authorized on ``*`` and the role's trust policy is not evaluated, which
  is what lets a test identity assume a Lambda execution role; session expiry is not checked.
* Enforcement is whole-server; ``POST /moto-api/reset`` turns it off and clears decisions.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlparse

from botocore.awsrequest import AWSRequest
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import AccessDeniedError, InvalidClientTokenIdError, SignatureDoesNotMatchError
from moto.core.responses import BaseResponse
from moto.iam.access_control import (
    AssumedRoleAccessKey,
    IAMPolicy,
    IAMPolicyStatement,
    IAMRequest,
    IAMUserAccessKey,
    PermissionResult,
)
from moto.iam.models import Policy, iam_backends
from moto.moto_api._internal.models import MotoAPIBackend
from moto.utilities.utils import get_partition
from werkzeug.exceptions import HTTPException

PASSED_TO_SCHEDULER = {"iam:PassedToService": "scheduler.amazonaws.com"}

_lock = threading.Lock()
_decisions: list[dict[str, Any]] = []


# --- enforcement switch ----------------------------------------------------------------


def enforcing() -> bool:
    """True when moto authorizes requests (the same test moto's mixin makes)."""
    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def set_enforcement(enabled: bool) -> bool:
    """Turn authorization on or off for the whole server, from the next request on."""
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if enabled else float("inf")  # type: ignore[assignment]
    ActionAuthenticatorMixin.request_count = 0
    return enforcing()


def decisions() -> list[dict[str, Any]]:
    with _lock:
        return [dict(d) for d in _decisions]


def clear_decisions() -> None:
    with _lock:
        _decisions.clear()


def _record(decision: "Decision") -> None:
    with _lock:
        _decisions.append(asdict(decision))


# --- what each operation touches (pure) -----------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One IAM action on one resource, with the condition keys AWS supplies for it."""

    action: str
    resource: str
    conditions: dict[str, str] = field(default_factory=dict)


@dataclass
class Decision:
    principal: str
    role: str | None
    action: str
    resources: list[str]
    allowed: bool
    denied: str | None


def _ecs_cluster(ref: str | None, region: str, account: str) -> tuple[str, str]:
    """(name, ARN) of a cluster given by name, ARN or nothing (ECS: "default")."""
    if not ref:
        ref = "default"
    if ref.startswith("arn:"):
        return ref.split("/", 1)[-1], ref
    return ref, f"arn:{get_partition(region)}:ecs:{region}:{account}:cluster/{ref}"


def _ecs_child(kind: str, ref: str, cluster: str, region: str, account: str) -> str:
    """Full ARN of a container instance/task/service given by id, name or ARN.

    An ARN with the cluster segment is kept as given; an old-format ARN (no cluster) or a
    bare id is expanded with the request's cluster, the form AWS evaluates policies against.
    """
    if ref.startswith("arn:"):
        path = ref.split(":", 5)[-1]  # kind/cluster/id or kind/id
        if path.count("/") >= 2:
            return ref
        ref = path.rsplit("/", 1)[-1]
    return f"arn:{get_partition(region)}:ecs:{region}:{account}:{kind}/{cluster}/{ref}"


def _ecs_checks(op: str, p: Callable[[str], Any], region: str, account: str) -> list[Check]:
    name, cluster_arn = _ecs_cluster(p("cluster"), region, account)
    on_cluster = {"ecs:cluster": cluster_arn}
    action = f"ecs:{op}"

    def each(kind: str, refs: Any) -> list[Check]:
        refs = refs or []
        if isinstance(refs, str):
            refs = [refs]
        return [Check(action, _ecs_child(kind, r, name, region, account), on_cluster) for r in refs]

    if op == "ListContainerInstances":
        return [Check(action, cluster_arn)]
    if op == "ListClusters":
        return [Check(action, "*")]
    if op == "DescribeClusters":
        refs = p("clusters") or ["default"]
        return [Check(action, _ecs_cluster(ref, region, account)[1]) for ref in ([refs] if isinstance(refs, str) else refs)]
    if op in ("DescribeContainerInstances", "UpdateContainerInstancesState"):
        return each("container-instance", p("containerInstances"))
    if op == "ListTasks":
        instance = p("containerInstance")
        if instance:
            return each("container-instance", [instance])
        # The reference lists container-instance as ListTasks' only resource type; with no
        # instance named, the request covers every instance of the cluster.
        return [Check(action, _ecs_child("container-instance", "*", name, region, account), on_cluster)]
    if op == "DescribeTasks":
        return each("task", p("tasks"))
    if op == "StopTask":
        return each("task", [p("task")] if p("task") else [])
    if op == "DescribeServices":
        return each("service", p("services"))
    if op == "ListServices":
        # The reference lists no resource type, only the ecs:cluster condition key.
        return [Check(action, "*", on_cluster)]
    raise KeyError(op)


def _dynamodb_checks(op: str, p: Callable[[str], Any], region: str, account: str) -> list[Check]:
    table = p("TableName") or ""
    arn = table if table.startswith("arn:") else f"arn:{get_partition(region)}:dynamodb:{region}:{account}:table/{table}"
    index = p("IndexName") if op in ("Query", "Scan") else None
    return [Check(f"dynamodb:{op}", f"{arn}/index/{index}" if index else arn)]


def autoscaling_group_arn(name: str, region: str, account: str, known_arn: str | None) -> str:
    """The group's real ARN if it exists, else the form a ``*`` in the UUID segment matches."""
    if known_arn:
        return known_arn
    partition = get_partition(region)
    return f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{name}"


def _schedule_arn(group: str | None, name: str, region: str, account: str) -> str:
    return f"arn:{get_partition(region)}:scheduler:{region}:{account}:schedule/{group or 'default'}/{name}"


AUTOSCALING_GROUP_OPS = ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat")
AUTOSCALING_STAR_OPS = ("DescribeLifecycleHooks", "DescribeAutoScalingInstances", "DescribeAutoScalingGroups")

#: service -> operations authorized against real resources here.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "ecs": (
        "ListClusters",
        "DescribeClusters",
        "ListContainerInstances",
        "DescribeContainerInstances",
        "UpdateContainerInstancesState",
        "ListTasks",
        "DescribeTasks",
        "StopTask",
        "DescribeServices",
        "ListServices",
    ),
    "autoscaling": AUTOSCALING_GROUP_OPS + AUTOSCALING_STAR_OPS,
    "dynamodb": ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable"),
    "scheduler": ("CreateSchedule", "UpdateSchedule", "DeleteSchedule", "GetSchedule"),
    "events": ("PutEvents",),
    "cloudformation": ("DescribeStacks",),
}


def stack_arn(ref: str, region: str, account: str, known_id: str | None) -> str:
    """The stack a request names (name or stack id) as the ARN IAM evaluates.

    AWS authorizes a stack operation against the stack's ARN (its stack id,
    ``arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>``) even when the request
    names the stack by name, so a grant on ``AWS::StackId`` covers ``--stack-name``. A name
    that names no live stack keeps the ``/*`` an ARN pattern would have.
    """
    if ref.startswith("arn:"):
        return ref
    if known_id:
        return known_id
    return f"arn:{get_partition(region)}:cloudformation:{region}:{account}:stack/{ref}/*"


def event_bus_arn(bus: str | None, region: str, account: str) -> str:
    """The bus an entry names (name or ARN; none: ``default``) as an ARN."""
    if bus and bus.startswith("arn:"):
        return bus
    return f"arn:{get_partition(region)}:events:{region}:{account}:event-bus/{bus or 'default'}"


def _events_checks(p: Callable[[str], Any], region: str, account: str) -> list[Check]:
    """PutEvents: each entry's bus, with the entry's ``events:source`` and ``events:detail-type``."""
    entries = p("Entries")
    checks: list[Check] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        conditions = {}
        if entry.get("Source") is not None:
            conditions["events:source"] = str(entry["Source"])
        if entry.get("DetailType") is not None:
            conditions["events:detail-type"] = str(entry["DetailType"])
        check = Check("events:PutEvents", event_bus_arn(entry.get("EventBusName"), region, account), conditions)
        if check not in checks:
            checks.append(check)
    return checks


def plan_checks(
    service: str,
    op: str,
    param: Callable[[str], Any],
    region: str,
    account: str,
    group_arn: Callable[[str], str | None] = lambda _name: None,
    stack_id: Callable[[str], str | None] = lambda _name: None,
) -> list[Check] | None:
    """The checks AWS makes for one request, None for an operation not in :data:`OPERATIONS`.

    ``param`` reads a request parameter by its API member name (``cluster``, ``TableName``,
    ``GroupName``, ``Target``, ``Name``, ...); ``group_arn`` looks up an Auto Scaling group's
    real ARN; ``stack_id`` a live stack's id by its name. An empty list means the request names nothing to authorize (AWS rejects such
    requests by validation, which moto then does).
    """
    if op not in OPERATIONS.get(service, ()):
        return None
    if service == "ecs":
        return _ecs_checks(op, param, region, account)
    if service == "dynamodb":
        return _dynamodb_checks(op, param, region, account)
    if service == "autoscaling":
        if op in AUTOSCALING_STAR_OPS:
            return [Check(f"autoscaling:{op}", "*")]
        name = param("AutoScalingGroupName") or ""
        return [Check(f"autoscaling:{op}", autoscaling_group_arn(name, region, account, group_arn(name)))]
    if service == "events":
        return _events_checks(param, region, account)
    if service == "cloudformation":
        ref = param("StackName")
        if not ref:
            return [Check(f"cloudformation:{op}", "*")]
        return [Check(f"cloudformation:{op}", stack_arn(str(ref), region, account, stack_id(str(ref))))]
    # scheduler
    checks = [Check(f"scheduler:{op}", _schedule_arn(param("GroupName"), param("Name") or "", region, account))]
    target = param("Target")
    if op in ("CreateSchedule", "UpdateSchedule") and isinstance(target, dict) and target.get("RoleArn"):
        checks.append(Check("iam:PassRole", str(target["RoleArn"]), dict(PASSED_TO_SCHEDULER)))
    return checks


def with_global_keys(check: Check, region: str) -> Check:
    """``check`` with the global condition keys AWS puts in every such request context:
    ``aws:RequestedRegion`` and, for a resource ARN, ``aws:ResourceAccount`` (pure)."""
    keys = {"aws:RequestedRegion": region}
    parts = check.resource.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[4]:
        keys["aws:ResourceAccount"] = parts[4]
    return Check(check.action, check.resource, {**keys, **check.conditions})


# --- the caller and moto's evaluator ------------------------------------------------------


class SigV4Request(IAMRequest):
    """moto's IAMRequest, but signing the bytes received.

    moto rebuilds the request with ``data=body or data``: for a request with no body (a
    Scheduler GET/DELETE) that is the form-encoding of the query or of the headers, whose
    hash is not the empty payload the client signed. Form posts (awsQuery): werkzeug
    consumes their body into the form, so the server keeps the bytes received
    (:data:`RAW_FORM_BODY`, set by server.py) and :func:`setup_class` hands them on; moto's
    re-encoding of the form is only the fallback (it differs from the Rust SDK's encoding of
    e.g. spaces).
    """

    def _create_aws_request(self) -> AWSRequest:
        request = super()._create_aws_request()
        content_type = self._headers.get("Content-Type", "") or ""
        if not self._body and not content_type.startswith("application/x-www-form-urlencoded"):
            request.data = b""
        return request


def _policies(access_key: IAMUserAccessKey | AssumedRoleAccessKey) -> list[Any]:
    """The caller's policies in a form moto's IAMPolicy accepts.

    Roles created by moto's CloudFormation keep inline documents as dicts, which IAMPolicy
    would read as its internal user-policy record; serialise them. They also keep each
    `AWS::NoValue` list item as null, where CloudFormation drops it: drop it here too (moto's
    matcher fails on a null Resource).
    """
    out: list[Any] = []
    for policy in access_key.collect_policies():
        if isinstance(policy, (Policy, str)):
            out.append(policy)
        elif isinstance(policy, dict) and "policy_document" in policy:
            document = policy["policy_document"]
            out.append(document if isinstance(document, str) else json.dumps(_without_no_value(document)))
        else:
            out.append(json.dumps(_without_no_value(policy)))
    return out


def _without_no_value(value: Any) -> Any:
    """A CloudFormation-resolved document as CloudFormation would store it: no null list items."""
    if isinstance(value, list):
        return [_without_no_value(item) for item in value if item is not None]
    if isinstance(value, dict):
        return {key: _without_no_value(item) for key, item in value.items()}
    return value


def evaluate(policies: list[Any], check: Check) -> tuple[bool, bool]:
    """(allowed, explicit) for one check: moto's IAMPolicy over every policy.

    ``explicit`` is True when a Deny statement matched, for AWS's "with an explicit deny"
    message.
    """
    permitted = False
    denied = False
    for policy in policies:
        result = IAMPolicy(policy).is_action_permitted(check.action, check.resource, None, check.conditions)
        if result == PermissionResult.DENIED:
            denied = True
        elif result == PermissionResult.PERMITTED:
            permitted = True
    if denied:
        return False, _explicit_deny(policies, check)
    return permitted, False


def _explicit_deny(policies: list[Any], check: Check) -> bool:
    for policy in policies:
        statements = IAMPolicy(policy)._policy_json["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Deny":
                continue
            result = IAMPolicyStatement(statement).is_action_permitted(
                check.action, check.resource, None, check.conditions
            )
            if result == PermissionResult.DENIED:
                return True
    return False


def _role_of(access_key: Any) -> str | None:
    return getattr(access_key, "_owner_role_name", None)


# --- error shapes -------------------------------------------------------------------------


def denial_message(principal: str, check: Check, explicit: bool) -> str:
    """AWS's AccessDenied message for identity-based policies."""
    head = f"User: {principal} is not authorized to perform: {check.action} on resource: {check.resource}"
    if explicit:
        return f"{head} with an explicit deny in an identity-based policy"
    return f"{head} because no identity-based policy allows the {check.action} action"


def denial_response(service: str, message: str) -> TYPE_RESPONSE:
    """(status, headers, body) of an access denial in the service's protocol.

    ECS (awsJson1_1): 400, ``__type`` AccessDeniedException. DynamoDB (awsJson1_0): 400, the
    coral-namespaced type and ``Message`` DynamoDB sends. Auto Scaling (awsQuery): 403
    ErrorResponse with Code AccessDenied. Scheduler (restJson1): 403 with
    ``x-amzn-ErrorType: AccessDeniedException`` and ``{"Message": ...}``.
    """
    code = "AccessDenied" if service == "autoscaling" else "AccessDeniedException"
    return error_response(service, code, message, 400 if service in JSON_1_1 + ("dynamodb",) else 403)


#: What the JSON services answer for an unknown access key and for a bad signature
#: (Auto Scaling, awsQuery: InvalidClientTokenId / SignatureDoesNotMatch, same messages).
UNRECOGNIZED_CLIENT = ("UnrecognizedClientException", "The security token included in the request is invalid.")
INVALID_SIGNATURE = (
    "InvalidSignatureException",
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
)


#: The awsJson1_1 services of :data:`OPERATIONS`: errors as ``{"__type", "message"}``, 400.
JSON_1_1 = ("ecs", "events")


def error_response(service: str, code: str, message: str, status: int) -> TYPE_RESPONSE:
    """One error in the service's wire protocol (see :func:`denial_response`)."""
    request_id = str(uuid.uuid4())
    if service in JSON_1_1:
        body = {"__type": code, "message": message}
        return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}, json.dumps(body)
    if service == "dynamodb":
        body = {"__type": f"com.amazon.coral.service#{code}", "Message": message}
        return status, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id}, json.dumps(body)
    if service == "scheduler":
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code, "x-amzn-RequestId": request_id}
        return status, headers, json.dumps({"Message": message})
    escaped = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    xml = (
        '<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{escaped}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, xml


def authentication_failure(service: str, err: HTTPException) -> TYPE_RESPONSE | None:
    """An unknown key or bad signature in the service's shape; None: keep moto's.

    moto's own body (``<ErrorResponse><Errors><Error>``, text/html) is not the awsQuery
    shape: the Rust SDK reads it as an unhandled error with no code.
    """
    if isinstance(err, InvalidClientTokenIdError):
        code, message = UNRECOGNIZED_CLIENT
        if service == "autoscaling":
            code = "InvalidClientTokenId"
    elif isinstance(err, SignatureDoesNotMatchError):
        code, message = INVALID_SIGNATURE
        if service == "autoscaling":
            code = "SignatureDoesNotMatch"
    else:
        return None
    return error_response(service, code, message, 400 if service in JSON_1_1 + ("dynamodb",) else 403)


# --- patches ------------------------------------------------------------------------------

#: WSGI environ key under which server.py keeps a form post's body as received.
RAW_FORM_BODY = "ecs_drain.raw_form_body"

_original_setup_class = BaseResponse.setup_class
_original_call_action = BaseResponse.call_action
_original_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action


def _param_reader(response: BaseResponse, service: str) -> Callable[[str], Any]:
    if service != "scheduler":
        return lambda name: response._get_param(name)
    # Scheduler is not parsed by moto's automated parser: the name is the last path
    # segment, the group is the groupName query (Get/Delete) or GroupName in the body.
    parsed = urlparse(response.uri)
    query = parse_qs(parsed.query)
    try:
        body = json.loads(response.body) if response.body else {}
    except (TypeError, ValueError):
        body = {}
    if not isinstance(body, dict):
        body = {}

    def read(name: str) -> Any:
        if name == "Name":
            return unquote(parsed.path.rstrip("/").rsplit("/", 1)[-1])
        if name == "GroupName":
            return body.get("GroupName") or (query.get("groupName") or [None])[0]
        return body.get(name)

    return read


def _group_arn_lookup(response: BaseResponse) -> Callable[[str], str | None]:
    def lookup(name: str) -> str | None:
        backend = response.autoscaling_backend  # type: ignore[attr-defined]
        group = backend.autoscaling_groups.get(name)
        return group.arn if group is not None else None

    return lookup


def _stack_id_lookup(response: BaseResponse) -> Callable[[str], str | None]:
    def lookup(name: str) -> str | None:
        from moto.cloudformation.models import cloudformation_backends

        backend = cloudformation_backends[response.current_account][response.region]
        for stack in backend.stacks.values():
            if stack.name == name and stack.status != "DELETE_COMPLETE":
                return str(stack.stack_id)
        return None

    return lookup


def _http_error(response: BaseResponse, err: HTTPException) -> TYPE_RESPONSE:
    """moto's own rendering of an authentication failure (as its call_action does)."""
    status, headers, body = response._transform_response(
        response.response_headers, (err.description, {"status": err.code})
    )
    headers, body = response._enrich_response(headers, body)
    return status, headers, body


def setup_class(self: BaseResponse, request: Any, *args: Any, **kwargs: Any) -> None:
    """moto's setup_class, keeping the raw form body the server saved for signature checks."""
    _original_setup_class(self, request, *args, **kwargs)
    environ = getattr(request, "environ", None)
    raw = environ.get(RAW_FORM_BODY) if isinstance(environ, dict) else None
    self._ecs_drain_raw_form = raw  # type: ignore[attr-defined]


def call_action(self: BaseResponse) -> TYPE_RESPONSE:
    """moto's call_action, preceded by our authorization for the services in :data:`OPERATIONS`."""
    service = self.service_name or ""
    if not enforcing() or service not in OPERATIONS:
        return _original_call_action(self)
    op = self._get_action()
    checks = plan_checks(
        service,
        op,
        _param_reader(self, service),
        self.region,
        self.current_account,
        _group_arn_lookup(self) if service == "autoscaling" else (lambda _name: None),
        _stack_id_lookup(self) if service == "cloudformation" else (lambda _name: None),
    )
    if checks is None:
        if not op:
            return _original_call_action(self)
        # moto's own evaluation (the action on "*"), answered in the protocol's shape.
        checks = [Check(f"{service}:{op}", "*")]
    checks = [with_global_keys(c, self.region) for c in checks]
    try:
        request = _iam_request(self)
        request.check_signature()
    except HTTPException as err:
        return authentication_failure(service, err) or _http_error(self, err)
    principal = request._access_key.arn
    policies = _policies(request._access_key)
    denial: tuple[Check, bool] | None = None
    for action in dict.fromkeys(c.action for c in checks):
        mine = [c for c in checks if c.action == action]
        first_denied: tuple[Check, bool] | None = None
        for check in mine:
            allowed, explicit = evaluate(policies, check)
            if not allowed:
                first_denied = (check, explicit)
                break
        _record(
            Decision(
                principal=principal,
                role=_role_of(request._access_key),
                action=action,
                resources=[c.resource for c in mine],
                allowed=first_denied is None,
                denied=first_denied[0].resource if first_denied else None,
            )
        )
        if first_denied is not None:
            denial = first_denied
            break
    if denial is not None:
        return denial_response(service, denial_message(principal, denial[0], denial[1]))
    self._ecs_drain_authorized = True  # type: ignore[attr-defined]
    return _original_call_action(self)


def _iam_request(response: Any) -> SigV4Request:
    parsed = urlparse(response.uri)
    path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    return SigV4Request(
        account_id=response.current_account,
        method=response.method,
        path=path,
        data=response.data,
        body=getattr(response, "_ecs_drain_raw_form", None) or response.raw_body,
        headers=response.headers,
        action=response._get_action(),
    )


def authorize_normal_action(self: Any, resource: str = "*") -> None:
    """moto's check (against ``resource``) for everything else, with our signature check, recorded."""
    if getattr(self, "_ecs_drain_authorized", False):
        return
    if not enforcing():
        return _original_authorize(self, resource)
    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return None
    request = _iam_request(self)
    request.check_signature()
    action = request._action
    try:
        request.check_action_permitted(resource)
    except AccessDeniedError:
        _record(Decision(request._access_key.arn, _role_of(request._access_key), action, [resource], False, resource))
        raise
    _record(Decision(request._access_key.arn, _role_of(request._access_key), action, [resource], True, None))
    return None


# --- test-only helpers served by routes.py --------------------------------------------------

ADMIN_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def admin_user(
    user_name: str, account_id: str, access_key_id: str | None = None, secret_access_key: str | None = None
) -> dict[str, str]:
    """Create (once) an IAM user allowed everything, with one access key; return it.

    With ``access_key_id`` (and its secret), the user's key is exactly that pair: a test kit
    that signs with fixed test credentials (e.g. ``testing``/``testing``) keeps working, as
    that admin, once enforcement is on.
    """
    backend = iam_backends[account_id]["aws"]
    user = backend.users.get(user_name)
    if user is None:
        user = backend.create_user(region_name="us-east-1", user_name=user_name)
    backend.put_user_policy(user_name, "ecs-drain-admin", ADMIN_POLICY)
    active = [k for k in user.access_keys if k.status == "Active"]
    if access_key_id is None:
        key = active[0] if active else backend.create_access_key(user_name)
    else:
        same = [k for k in active if k.access_key_id == access_key_id]
        key = same[0] if same else backend.create_access_key(user_name)
        backend.access_keys.pop(key.access_key_id, None)
        key.access_key_id = access_key_id
        key.secret_access_key = secret_access_key or key.secret_access_key
        backend.access_keys[access_key_id] = key
    return {"accessKeyId": key.access_key_id, "secretAccessKey": key.secret_access_key, "arn": user.arn}


def role_actions(role_name: str, account_id: str) -> list[str]:
    """Sorted Action strings of the role's Allow statements (inline and attached policies)."""
    backend = iam_backends[account_id]["aws"]
    role = backend.get_role(role_name)
    documents: list[Any] = list(role.policies.values())
    for managed in role.managed_policies.values():
        documents.append(next(v.document for v in managed.versions if v.is_default))
    actions: set[str] = set()
    for document in documents:
        parsed = json.loads(document) if isinstance(document, str) else document
        statements = parsed.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Allow" or "Action" not in statement:
                continue
            granted = statement["Action"]
            actions.update([granted] if isinstance(granted, str) else granted)
    return sorted(actions)


_original_reset = MotoAPIBackend.reset


def reset(self: MotoAPIBackend) -> None:
    """``POST /moto-api/reset`` also forgets decisions and turns enforcement off.

    The reset drops every IAM user and role, so enforcement left on would refuse every
    request of the next test.
    """
    _original_reset(self)
    clear_decisions()
    set_enforcement(False)


def install() -> None:
    MotoAPIBackend.reset = reset  # type: ignore[method-assign]
    BaseResponse.setup_class = setup_class  # type: ignore[method-assign]
    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = authorize_normal_action  # type: ignore[method-assign]
