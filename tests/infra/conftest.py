"""Fixtures for the infra tests: the project's moto launcher on 127.0.0.1, boto3 clients with a
single attempt, the template loaded from infra/template.yaml, and stacks deployed from it.

The emulator is started once per session (``python -m ecs_drain_moto --port 0 --port-file F``
with PYTHONPATH=tests/emulator) and stopped by the PID this fixture started. Stacks are deployed
into regions of their own, so tests do not see each other's resources.
"""

from __future__ import annotations

import copy
import functools
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "infra" / "template.yaml"
FIXTURES = ROOT / "tests" / "fixtures"
EMULATOR_DIR = ROOT / "tests" / "emulator"
sys.path.insert(0, str(EMULATOR_DIR))

from ecs_drain_moto import process  # noqa: E402  (the emulator package lives in tests/emulator)
from ecs_drain_moto.stack import ARTIFACT_PARAMETERS, expand_language_extensions, upload_code  # noqa: E402,F401  (upload_code: re-exported for test_stackset)

ACCOUNT = "123456789012"  # moto's default account, the same as the fixtures'
MAIN_REGION = "us-east-1"  # the fixtures' region
STACK_NAME = "ecs-drain-test"

# The parameters the brief fixes for the rule-pattern tests (they match tests/fixtures).
TEST_PARAMETERS = {
    "ClusterNames": "prod-cluster",
    "AutoScalingGroupNames": "prod-ecs-asg",
    "HookName": "ecs-drain-terminate",
}

@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, port, _log = process.start(tmp_path_factory.mktemp("infra-emulator"))
    endpoint = f"http://127.0.0.1:{port}"
    try:
        req = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200
        yield endpoint
    finally:
        process.stop(proc)


ClientFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def client(emulator: str) -> ClientFactory:
    """``client("sqs", region)``: a boto3 client for the emulator that tries each call once."""
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)

    def make(service: str, region: str = MAIN_REGION) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=emulator,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )

    return make


def load_raw_template() -> dict[str, Any]:
    """infra/template.yaml as plain JSON-able data (short-form tags expanded to Fn::...)."""
    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE_PATH))))


def load_template(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The template as CloudFormation processes it for ``parameters`` (the fixtures' names by
    default): AWS::LanguageExtensions applied, so Fn::ForEach is expanded (one lifecycle hook
    per group) and the Parameters section is the template's own."""
    return json.loads(_expanded(json.dumps({**TEST_PARAMETERS, **ARTIFACT_PARAMETERS, **(parameters or {})}, sort_keys=True)))


@functools.lru_cache(maxsize=16)
def _expanded(parameters: str) -> str:
    # Cached as JSON text (each caller gets its own copy): cfn-lint's transform takes a while.
    return json.dumps(expand_language_extensions(load_raw_template(), json.loads(parameters), MAIN_REGION))


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def deploy(client: ClientFactory, region: str, stack_name: str, parameters: dict[str, str]) -> dict[str, Any]:
    """create_stack into the emulator and wait for a final status; returns describe_stacks' stack
    (the one deployer the Rust test kit uses too: ecs_drain_moto.stack)."""
    from ecs_drain_moto import stack as deployer

    return deployer.deploy(client, region, stack_name, parameters)


class Deployed:
    """A stack deployed into the emulator, with its resources by logical id."""

    def __init__(self, client: ClientFactory, region: str, stack_name: str, parameters: dict[str, str]):
        self.region = region
        self.name = stack_name
        self.parameters = parameters
        self.stack = deploy(client, region, stack_name, parameters)
        cfn = client("cloudformation", region)
        summaries = cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
        self.resources = {r["LogicalResourceId"]: r for r in summaries}
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in self.stack.get("Outputs", [])}

    def physical_id(self, logical_id: str) -> str:
        return self.resources[logical_id]["PhysicalResourceId"]


@pytest.fixture(scope="session")
def main_stack(client: ClientFactory) -> Deployed:
    """The template deployed with the fixtures' names (one cluster, one ASG, hooks on)."""
    return Deployed(client, MAIN_REGION, STACK_NAME, dict(TEST_PARAMETERS, CreateLifecycleHooks="true"))


def archived_pattern(lifecycle: dict[str, Any], stopped: dict[str, Any], draining: dict[str, Any]) -> dict[str, Any]:
    """The archive's pattern as the template builds it from the three rules' deployed patterns:
    the lifecycle actions of the hook in any group, the STOPPED events as routed, and the
    DRAINING instance changes of any cluster (the name lists would pass 4,096 characters)."""
    any_group = {**lifecycle, "detail": {k: v for k, v in lifecycle["detail"].items() if k != "AutoScalingGroupName"}}
    any_cluster = {**draining, "detail": {"status": ["DRAINING"]}}
    return {"$or": [any_group, stopped, any_cluster]}


def without_none(items: Any) -> Any:
    """moto keeps ``AWS::NoValue`` list items as null where CloudFormation drops them."""
    if isinstance(items, list):
        return [without_none(i) for i in items if i is not None]
    if isinstance(items, dict):
        return {k: without_none(v) for k, v in items.items()}
    return items


def deep_copy(value: Any) -> Any:
    return copy.deepcopy(value)
