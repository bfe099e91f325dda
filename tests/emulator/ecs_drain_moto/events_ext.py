"""EventBridge rules deployed by CloudFormation with a JSON *string* EventPattern.

AWS::Events::Rule takes EventPattern as an object or as a JSON string (the resource's registry
schema: ``"type": ["object", "string"]``); infra/template.yaml builds TaskStoppedRule's pattern
as a string, because a list of cluster names can only become a list of ``suffix`` filters inside
a string. moto 5.2.1 (``Rule.create_from_cloudformation_json``) always ``json.dumps`` the
property, so a string would be stored as a JSON string literal and match nothing. Here a string
is parsed back first, so both forms reach moto as the object it expects.

Also: a rule's target receives the whole event, ``account`` included (EventBridge's event
structure: version, id, detail-type, source, account, time, region, resources, detail). moto
5.2.1 renders a target's input without a transformer through a default template that leaves
``account`` out; :data:`WHOLE_EVENT_TEMPLATE` puts it back, so a consumer's schema check sees
the envelope AWS delivers.

And StartReplay (EventBridge API reference, StartReplay and ReplayDestination): only the events
that occurred between ``EventStartTime`` and ``EventEndTime`` are replayed, and when the
destination names ``FilterArns`` only those rules receive them. moto 5.2.1
(``Replay.replay_events``) replays the whole archive to every rule on the bus, so a test of
`drainctl replay` could not see a wrong window or a missing rule. :func:`replayed` applies both
filters, and the patch routes each event only to the rules it keeps.

And delivering AWS's own events (test-only, ``POST /_ecs_drain/events/matching-targets``):
AWS services put their events (``aws.autoscaling``, ``aws.ecs``, ``aws.ec2``) on the account's
default bus themselves, and PutEvents refuses those sources to anyone else, so a test cannot
send them through the API. moto emits none. :func:`matching_targets` answers which enabled
rules of the bus match such an event (moto's own pattern matcher, the one PutEvents uses) and
their targets, so that a test delivers it exactly where the deployed rules would, and nowhere
else.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable

_installed = False


def normalised(properties: dict[str, Any]) -> dict[str, Any]:
    """The rule's properties with a string EventPattern parsed to its object (pure)."""
    pattern = properties.get("EventPattern")
    if isinstance(pattern, str):
        return {**properties, "EventPattern": json.loads(pattern)}
    return properties


#: moto's default target input with the ``account`` field AWS delivers.
WHOLE_EVENT_TEMPLATE = (
    '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
    '"account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, '
    '"detail": <detail>}'
)


def _epoch(value: Any) -> float | None:
    """A time as moto keeps it (epoch seconds, an ISO 8601 text or a datetime), in epoch seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def replayed(
    events: Iterable[dict[str, Any]],
    rule_arns: Iterable[str],
    start: Any,
    end: Any,
    filter_arns: list[str] | None,
) -> list[tuple[dict[str, Any], list[str]]]:
    """Each archived event inside the window with the rules it is replayed to (pure).

    The window is inclusive at both ends; an event whose time cannot be read is left out, as it
    cannot be shown to lie inside the window. No ``FilterArns`` means every rule on the bus.
    """
    low, high = _epoch(start), _epoch(end)
    rules = [arn for arn in rule_arns if not filter_arns or arn in filter_arns]
    kept = []
    for event in events:
        at = _epoch(event.get("time"))
        if at is None or low is None or high is None or not low <= at <= high:
            continue
        kept.append((event, rules))
    return kept


def matching_targets(event: dict[str, Any], bus_name: str = "default") -> list[dict[str, Any]]:
    """The targets of every ENABLED rule on ``bus_name`` (in the event's account and region)
    whose pattern matches ``event``, in rule-name order, each with the rule's ``managedBy``
    (set for an archive's own rule); LookupError for an unknown bus."""
    from moto.events.models import events_backends

    account, region = event.get("account"), event.get("region")
    if not isinstance(account, str) or not isinstance(region, str):
        raise ValueError("the event needs its 'account' and 'region' fields")
    bus = events_backends[account][region].event_buses.get(bus_name)
    if bus is None:
        raise LookupError(f"no event bus {bus_name!r} in {account}/{region}")
    found = []
    for name in sorted(bus.rules):
        rule = bus.rules[name]
        if rule.state != "ENABLED" or rule.scheduled_expression or not rule.event_pattern.matches_event(event):
            continue
        for target in rule.targets:
            found.append(
                {
                    "rule": rule.name,
                    "ruleArn": rule.arn,
                    "targetId": target["Id"],
                    "arn": target["Arn"],
                    # Set on rules EventBridge keeps for itself (an archive's): their target is
                    # EventBridge, not a consumer.
                    "managedBy": rule.managed_by,
                }
            )
    return found


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.events.models import Rule
    from moto.events.utils import EventTemplateParser

    EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = WHOLE_EVENT_TEMPLATE

    original = Rule.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any) -> Any:
        props = cloudformation_json.get("Properties", {})
        cloudformation_json = {**cloudformation_json, "Properties": normalised(props)}
        return original(cls, resource_name, cloudformation_json, *args, **kwargs)

    Rule.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign]

    from moto.events.models import Replay, ReplayState, events_backends
    from moto.moto_api._internal import mock_random as random
    from moto.core.utils import unix_time

    def replay_events(self: Any, archive: Any) -> None:
        bus_name = self.destination["Arn"].split("/")[-1]
        bus = events_backends[self.account_id][self.region].describe_event_bus(bus_name)
        rules = {rule.arn: rule for rule in bus.rules.values()}
        filter_arns = self.destination.get("FilterArns") or None
        for event, arns in replayed(archive.events, rules, self.event_start_time, self.event_end_time, filter_arns):
            for arn in arns:
                rules[arn].send_to_targets(dict(event, **{"id": str(random.uuid4()), "replay-name": self.name}), transform_input=False)
        self.state = ReplayState.COMPLETED
        self.end_time = unix_time()

    Replay.replay_events = replay_events  # type: ignore[method-assign]
    _installed = True
