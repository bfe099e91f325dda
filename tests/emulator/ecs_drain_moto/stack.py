"""Deploying infra/template.yaml into the emulator, as `infra/deploy.sh` deploys it into AWS.

One implementation for every harness: the infra tests (tests/infra) and the Rust test kit
(`crates/drain-testkit/src/stack.rs`, through the command line below) deploy the stack this way, so the roles, the
table and the function settings a test runs with are the template's own.

    python -m ecs_drain_moto.stack --endpoint http://127.0.0.1:PORT --region us-east-1 \
        --stack-name NAME --param ClusterNames=a --param AutoScalingGroupNames=b ...

prints one JSON object: the stack's status, outputs, resources (logical id -> physical id) and,
per function, its name, ARN, execution role ARN and environment variables.

As `infra/deploy.sh` does, the code zips are uploaded to the artifact bucket of the stack's
region (``<ArtifactBucket>-<region>``, ArtifactBucketRegionSuffix=true, the StackSet layout) and
the template names them by parameter; here the zips are stand-ins (the functions run as local
processes, never inside moto).

moto's CloudFormation has no ``AWS::LanguageExtensions``: the template's ``Fn::ForEach`` is
expanded first with cfn-lint's own implementation of the transform
(:func:`expand_language_extensions`), for the parameter values of this deployment, as
CloudFormation expands it before it creates anything.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = ROOT / "infra" / "template.yaml"
CODE_BUCKET = "ecs-drain-artifacts"
CODE_PREFIX = "ecs-drain/"
# The key of each function's zip under ArtifactPrefix (the template's Code.S3Key).
FUNCTION_CODE = {
    "OnLifecycleFunction": "on-lifecycle.zip",
    "OnTaskStoppedFunction": "on-task-stopped.zip",
}
# The artifact parameters every deployment here uses (callers may override them).
ARTIFACT_PARAMETERS = {"ArtifactBucket": CODE_BUCKET, "ArtifactBucketRegionSuffix": "true", "ArtifactPrefix": CODE_PREFIX}


def load_template() -> dict[str, Any]:
    """infra/template.yaml as plain JSON-able data (short-form tags expanded to Fn::...)."""
    from cfnlint.decode import cfn_yaml

    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE_PATH))))


def expand_language_extensions(template: dict[str, Any], parameters: dict[str, str], region: str) -> dict[str, Any]:
    """``template`` with ``Transform: AWS::LanguageExtensions`` applied for ``parameters``.

    cfn-lint resolves a ``Fn::ForEach`` collection that is a ``Ref`` to a parameter from the
    parameter's Default, so the deployment's values are set as Defaults for the expansion and
    the original Parameters section is put back afterwards (CreateStack still validates the
    values against it).
    """
    if template.get("Transform") != "AWS::LanguageExtensions":
        return template
    from cfnlint.template import Template
    from cfnlint.template.transforms._language_extensions import language_extension

    work = copy.deepcopy(template)
    declared = work.get("Parameters", {})
    for name, value in parameters.items():
        if name in declared:
            declared[name]["Default"] = value
    matches, expanded = language_extension(Template("template.yaml", work, regions=[region]))
    if matches or expanded is None:
        raise ValueError(f"AWS::LanguageExtensions could not be expanded: {[str(m) for m in matches]}")
    expanded = json.loads(json.dumps(expanded))
    del expanded["Transform"]
    # Sections without a Fn::ForEach are kept as written: cfn-lint normalises some of them
    # (it reorders Fn::Equals operands in Conditions), and a test reads them as written.
    for section, value in template.items():
        if section != "Transform" and "Fn::ForEach::" not in json.dumps(value):
            expanded[section] = copy.deepcopy(value)
    return expanded


def _stand_in_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        zf.writestr(info, "#!/bin/sh\necho 'stand-in for the Rust bootstrap binary'\n")
    return buf.getvalue()


def without_grant(template: dict[str, Any], role: str, action: str) -> None:
    """Removes `action` from every statement of `role`'s inline policies (a statement left with
    no action goes): how a test deploys a stack that lacks one permission. A conditional
    statement (``Fn::If`` of a statement and ``AWS::NoValue``) is edited inside its branches."""
    props = template["Resources"][role]["Properties"]
    found = False

    def edited(statement: Any) -> Any:
        """The statement without `action`; None when nothing is left of it."""
        nonlocal found
        if isinstance(statement, dict) and "Fn::If" in statement:
            condition, *branches = statement["Fn::If"]
            kept_branches = [edited(branch) for branch in branches]
            return {"Fn::If": [condition, *(b if b is not None else {"Ref": "AWS::NoValue"} for b in kept_branches)]}
        if not isinstance(statement, dict) or "Action" not in statement:
            return statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action in actions:
            found = True
            actions = [a for a in actions if a != action]
        if not actions:
            return None
        return {**statement, "Action": actions}

    for policy in props.get("Policies", []):
        statements = policy["PolicyDocument"]["Statement"]
        policy["PolicyDocument"]["Statement"] = [e for e in (edited(st) for st in statements) if e is not None]
    if not found:
        raise ValueError(f"{role} grants no {action}")


def upload_code(make_client: Any, region: str, bucket: str = CODE_BUCKET, prefix: str = CODE_PREFIX) -> None:
    """The function zips (stand-ins) in ``<bucket>-<region>`` under ``prefix``, as deploy.sh
    uploads them."""
    s3 = make_client("s3", region)
    name = f"{bucket}-{region}"
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if name not in existing:
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    for key in FUNCTION_CODE.values():
        s3.put_object(Bucket=name, Key=f"{prefix}{key}", Body=_stand_in_zip())


def packaged_template(
    make_client: Any, region: str, without: list[tuple[str, str]] = (), parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """The template as deployed: code zips uploaded, the grants a test leaves out removed, the
    language extensions expanded for ``parameters``."""
    template = load_template()
    for role, action in without:
        without_grant(template, role, action)
    upload_code(make_client, region)
    return expand_language_extensions(template, {**ARTIFACT_PARAMETERS, **(parameters or {})}, region)


def deploy(
    make_client: Any,
    region: str,
    stack_name: str,
    parameters: dict[str, str],
    timeout: float = 60,
    without: list[tuple[str, str]] = (),
) -> dict[str, Any]:
    """create_stack and wait for a final status; returns describe_stacks' stack."""
    cfn = make_client("cloudformation", region)
    parameters = {**ARTIFACT_PARAMETERS, **parameters}
    template = packaged_template(make_client, region, without, parameters)
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        if time.monotonic() > deadline:
            raise TimeoutError(f"stack {stack_name} still {stack['StackStatus']} after {timeout:.0f} s")
        time.sleep(0.1)


def describe(make_client: Any, region: str, stack: dict[str, Any]) -> dict[str, Any]:
    """The deployed stack as the Rust test kit reads it."""
    cfn = make_client("cloudformation", region)
    name = stack["StackName"]
    summaries = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}
    lam = make_client("lambda", region)
    functions = {}
    for logical_id in FUNCTION_CODE:
        if logical_id not in resources:
            continue
        conf = lam.get_function_configuration(FunctionName=resources[logical_id])
        functions[logical_id] = {
            "name": conf["FunctionName"],
            "arn": conf["FunctionArn"],
            "role": conf["Role"],
            "environment": conf.get("Environment", {}).get("Variables", {}),
        }
    return {
        "stackName": name,
        "status": stack["StackStatus"],
        "statusReason": stack.get("StackStatusReason"),
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        "resources": resources,
        "functions": functions,
    }


def client_factory(endpoint: str) -> Any:
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)

    def make(service: str, region: str) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )

    return make


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecs_drain_moto.stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="the emulator, http://127.0.0.1:PORT")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--without-grant", action="append", default=[], metavar="ROLE=ACTION", help="deploy with ACTION removed from role ROLE (logical id)"
    )
    args = parser.parse_args(argv)
    if not args.endpoint.startswith("http://127.0.0.1:"):
        parser.error("--endpoint must be the local emulator on 127.0.0.1")
    parameters = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--param {item!r} is not KEY=VALUE")
        parameters[key] = value
    without = []
    for item in args.without_grant:
        role, sep, action = item.partition("=")
        if not sep:
            parser.error(f"--without-grant {item!r} is not ROLE=ACTION")
        without.append((role, action))
    make = client_factory(args.endpoint)
    stack = deploy(make, args.region, args.stack_name, parameters, without=without)
    out = describe(make, args.region, stack)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0 if out["status"] == "CREATE_COMPLETE" else 1


if __name__ == "__main__":
    sys.exit(main())
