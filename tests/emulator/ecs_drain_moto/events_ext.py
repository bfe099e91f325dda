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
"""

from __future__ import annotations

import json
from typing import Any

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
    _installed = True
