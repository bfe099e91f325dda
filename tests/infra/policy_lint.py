"""Runs parliament (the IAM policy linter) over every IAM policy in infra/template.yaml.

parliament reads plain policy JSON, so each policy document is first rendered for one
representative deployment: three clusters and three Auto Scaling groups (so every per-name
branch of the template is taken), the other parameters at their defaults, and physical names
and ARNs of the shapes CloudFormation gives them. The intrinsic functions the template uses
(Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Split, Fn::Select, Fn::If and the condition
functions) are evaluated here; anything else is refused, so a new construct cannot slip past
unrendered.

Every finding must be explained in infra/parliament-allowlist.yaml (policy, issue, reason), as
checkov skips are explained in the template; an allow-list entry that matches no finding is an
error too, so the list cannot go stale.

    python tests/infra/policy_lint.py      # exit 0: no unexplained finding, no stale entry
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "infra" / "template.yaml"
ALLOWLIST_PATH = ROOT / "infra" / "parliament-allowlist.yaml"

PARTITION, REGION, ACCOUNT, STACK = "aws", "us-east-1", "123456789012", "ecs-drain-prod"
SAMPLE_PARAMETERS = {
    "ClusterNames": "blue,green,red",
    "AutoScalingGroupNames": "blue-asg,green-asg,red-asg",
    "AlarmTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:ecs-drain-alarms",
    # Launch readiness on, so that its ListServices statement is linted too.
    "LaunchReadiness": "on",
}
PSEUDO = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": STACK,
    "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/5f1b9a60-2f0e-11f1-9c3e-0a1b2c3d4e5f",
    "AWS::URLSuffix": "amazonaws.com",
}
NO_VALUE = object()  # AWS::NoValue: the property or list item is dropped


class RenderError(Exception):
    """The template uses something this renderer does not evaluate."""


def load_template() -> dict[str, Any]:
    """infra/template.yaml as plain data (short-form tags expanded), as tests/infra loads it."""
    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE_PATH))))


class Renderer:
    """Evaluates the template's intrinsic functions for one parameter set."""

    def __init__(
        self,
        template: dict[str, Any],
        parameters: dict[str, str],
        stack: str = STACK,
        physical: dict[str, str] | None = None,
    ):
        """``physical``: physical names by logical id, where known (else made up from ``stack``)."""
        self.template = template
        self.stack = stack
        self.physical = physical or {}
        self.resources: dict[str, Any] = template["Resources"]
        self.parameters = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
        unknown = set(parameters) - set(self.parameters)
        if unknown:
            raise RenderError(f"sample parameters the template does not have: {sorted(unknown)}")
        self.parameters.update(parameters)
        # CommaDelimitedList parameters are lists to Ref (AutoScalingGroupNames).
        self.lists = {name for name, p in template.get("Parameters", {}).items() if p.get("Type") == "CommaDelimitedList"}
        self._conditions: dict[str, bool] = {}

    # ------------------------------------------------------------------ names and attributes
    def physical_name(self, logical_id: str) -> str:
        return self.physical.get(logical_id, f"{self.stack}-{logical_id}-EXAMPLE1234")

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name == "AWS::StackName":
            return self.stack
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            value = self.parameters[name]
            return value.split(",") if name in self.lists else value
        resource = self.resources.get(name)
        if resource is None:
            raise RenderError(f"Ref to unknown {name}")
        rtype = resource["Type"]
        if rtype == "AWS::Logs::LogGroup":
            return self.render(resource["Properties"]["LogGroupName"])
        if rtype == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self.physical_name(name)}"
        return self.physical_name(name)

    def get_att(self, name: str, attribute: str) -> str:
        resource = self.resources.get(name)
        if resource is None:
            raise RenderError(f"GetAtt of unknown {name}")
        rtype, physical = resource["Type"], self.physical_name(name)
        arns = {
            "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{physical}",
            "AWS::DynamoDB::Table": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{physical}",
            "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{physical}",
            "AWS::Lambda::Function": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{physical}",
            "AWS::Events::Rule": f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/{physical}",
            "AWS::Events::Archive": f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:archive/{physical}",
            "AWS::Scheduler::ScheduleGroup": f"arn:{PARTITION}:scheduler:{REGION}:{ACCOUNT}:schedule-group/{physical}",
        }
        if rtype == "AWS::Logs::LogGroup" and attribute == "Arn":
            # GetAtt Arn of a log group ends in ":*" (it matches the group's log streams).
            return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{self.ref(name)}:*"
        if rtype == "AWS::SQS::Queue" and attribute == "QueueName":
            return physical
        if attribute == "Arn" and rtype in arns:
            return arns[rtype]
        raise RenderError(f"GetAtt {name}.{attribute} ({rtype}) is not rendered")

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = self.truth(self.template["Conditions"][name])
        return self._conditions[name]

    def truth(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            (fn, args), = node.items()
            if fn == "Condition":
                return self.condition(args)
            if fn == "Fn::Equals":
                left, right = (self.render(a) for a in args)
                return str(left) == str(right)
            if fn == "Fn::Not":
                return not self.truth(args[0])
            if fn == "Fn::And":
                return all(self.truth(a) for a in args)
            if fn == "Fn::Or":
                return any(self.truth(a) for a in args)
        raise RenderError(f"not a condition: {node!r}")

    # ------------------------------------------------------------------ values
    def render(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.render(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, args), = node.items()
            if key == "Ref":
                return self.ref(args)
            if key == "Fn::GetAtt":
                name, attribute = args if isinstance(args, list) else args.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                return self.sub(args)
            if key == "Fn::Join":
                delimiter, items = args
                return delimiter.join(str(i) for i in self.render(items))
            if key == "Fn::Split":
                delimiter, text = args
                return str(self.render(text)).split(delimiter)
            if key == "Fn::Select":
                index, items = args
                return self.render(items)[int(self.render(index))]
            if key == "Fn::If":
                name, then, otherwise = args
                return self.render(then if self.condition(name) else otherwise)
            if key.startswith("Fn::"):
                raise RenderError(f"{key} is not rendered")
        out = {}
        for key, value in node.items():
            rendered = self.render(value)
            if rendered is not NO_VALUE:
                out[key] = rendered
        return out

    def sub(self, args: Any) -> str:
        text, variables = (args, {}) if isinstance(args, str) else args
        values = {name: self.render(value) for name, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name:
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


@dataclass(frozen=True)
class RenderedPolicy:
    """One policy document of the template, rendered."""

    name: str  # e.g. "OnLifecycleRole/on-lifecycle", "SchedulerRole/AssumeRolePolicyDocument"
    kind: str  # identity | trust | resource
    document: dict[str, Any]


def rendered_policies(template: dict[str, Any] | None = None, renderer: Renderer | None = None) -> list[RenderedPolicy]:
    """Every IAM policy document in the template (roles' inline and trust policies,
    AWS::IAM::Policy and ManagedPolicy, queue policies), rendered with the sample parameters (or ``renderer``)."""
    template = template or load_template()
    renderer = renderer or Renderer(template, SAMPLE_PARAMETERS)
    out = []
    for logical_id, resource in template["Resources"].items():
        if logical_id.startswith("Fn::ForEach::"):
            # Fn::ForEach fragments (the lifecycle hooks) are resources without policies;
            # one that held a policy would have to be expanded here first.
            fragment = json.dumps(resource)
            if "PolicyDocument" in fragment or "AWS::IAM::" in fragment:
                raise RenderError(f"{logical_id} holds a policy: expand it before rendering")
            continue
        if "Condition" in resource and not renderer.condition(resource["Condition"]):
            continue
        props = resource.get("Properties", {})
        rtype = resource["Type"]
        if rtype == "AWS::IAM::Role":
            out.append(RenderedPolicy(f"{logical_id}/AssumeRolePolicyDocument", "trust",
                                      renderer.render(props["AssumeRolePolicyDocument"])))  # fmt: skip
            for policy in props.get("Policies", []):
                out.append(RenderedPolicy(f"{logical_id}/{policy['PolicyName']}", "identity",
                                          renderer.render(policy["PolicyDocument"])))  # fmt: skip
        elif rtype in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            out.append(RenderedPolicy(logical_id, "identity", renderer.render(props["PolicyDocument"])))
        elif "PolicyDocument" in props:
            out.append(RenderedPolicy(logical_id, "resource", renderer.render(props["PolicyDocument"])))
    leftover = [p.name for p in out if re.search(r'"(Ref|Fn::[A-Za-z]+)"|\$\{', json.dumps(p.document))]
    if leftover:
        raise RenderError(f"unrendered intrinsics left in {leftover}")
    return out


@dataclass(frozen=True)
class Finding:
    """One parliament finding on one rendered policy."""

    policy: str
    issue: str
    severity: str
    detail: str


def lint(policy: RenderedPolicy) -> list[Finding]:
    # Imported here so that rendering (and its tests) do not need the linter.
    from parliament import analyze_policy_string
    from parliament import config as parliament_config

    # The community auditors (e.g. PERMISSIONS_MANAGEMENT_ACTIONS) are on: more checks, and
    # each of their findings needs a reason like any other.
    analyzed = analyze_policy_string(json.dumps(policy.document), include_community_auditors=True)
    out = []
    for f in analyzed.findings:
        # Severity from parliament's config; the community auditors' issues are not in it.
        severity = parliament_config.get(f.issue, {}).get("severity", "community auditor")
        detail = f.detail if isinstance(f.detail, str) else json.dumps(f.detail, default=str)
        out.append(Finding(policy.name, f.issue, severity, detail[:400]))
    return out


def load_allowlist(path: Path = ALLOWLIST_PATH) -> list[dict[str, str]]:
    entries = yaml.safe_load(path.read_text()) or []
    for entry in entries:
        missing = {"policy", "issue", "reason"} - set(entry)
        if missing:
            raise ValueError(f"{path.name}: entry {entry} lacks {sorted(missing)}")
        if len(entry["reason"].split()) < 8:
            raise ValueError(f"{path.name}: entry {entry['policy']} {entry['issue']}: say why, not just that")
    return entries


def allowed(finding: Finding, entry: dict[str, str]) -> bool:
    return (
        entry["policy"] == finding.policy
        and entry["issue"] == finding.issue
        and entry.get("detail_contains", "") in finding.detail
    )


def check(policies: list[RenderedPolicy], entries: list[dict[str, str]]) -> tuple[list[Finding], list[Finding], list[dict[str, str]]]:
    """(explained findings, unexplained findings, stale allow-list entries)."""
    findings = [f for p in policies for f in lint(p)]
    explained = [f for f in findings if any(allowed(f, e) for e in entries)]
    unexplained = [f for f in findings if f not in explained]
    stale = [e for e in entries if not any(allowed(f, e) for f in findings)]
    return explained, unexplained, stale


def main() -> int:
    policies = rendered_policies()
    explained, unexplained, stale = check(policies, load_allowlist())
    print(f"parliament: {len(policies)} policies: " + ", ".join(p.name for p in policies))
    for f in explained:
        print(f"  explained  {f.policy}: {f.issue} ({f.severity}) {f.detail}")
    for f in unexplained:
        print(f"  FINDING    {f.policy}: {f.issue} ({f.severity}) {f.detail}")
    for e in stale:
        print(f"  STALE      {e['policy']}: {e['issue']} (allow-list entry matches no finding)")
    if unexplained or stale:
        print(f"parliament: {len(unexplained)} unexplained finding(s), {len(stale)} stale allow-list entr(y/ies)")
        return 1
    print(f"parliament: no unexplained findings ({len(explained)} explained in {ALLOWLIST_PATH.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
