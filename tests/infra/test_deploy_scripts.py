"""infra/deploy.sh and infra/undeploy.sh, against a stand-in `aws` CLI and against the emulator.

The stub (AWS_CLI=<stub>) records every invocation and answers the one query the scripts read;
nothing talks to AWS. This checks what the scripts would run: upload the zips to the operator's
bucket, deploy with CAPABILITY_IAM, CAPABILITY_AUTO_EXPAND and the parameters from the file, and their refusals (architecture
mismatch, more names than the template supports, missing bucket).

undeploy.sh's refusal to delete a stack with drains in flight runs the real `aws` CLI (the
awscli that scripts/infra-check.sh installs into .tools/awscli-venv, or one on PATH) against the moto emulator on 127.0.0.1 (AWS_ENDPOINT_URL), with a
stack deployed from the template and drain records written into its table.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, ClientFactory, Deployed

STUB = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(json.dumps(args) + "\\n")
if "describe-stacks" in args and any("TableName" in a for a in args):
    print("ecs-drain-prod-StateTable-ABC123")
"""


def fake_zip(path: Path, machine: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = b"\x7fELF" + bytes(14) + struct.pack("<H", machine) + bytes(44)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("bootstrap", header)


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, Any]:
    stub = tmp_path / "aws"
    stub.write_text(STUB.format(python=sys.executable))
    stub.chmod(0o755)
    lambda_dir = tmp_path / "lambda"
    for fn in ("on-lifecycle", "on-task-stopped"):
        fake_zip(lambda_dir / fn / "bootstrap.zip", 0xB7)  # aarch64
    log = tmp_path / "aws.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_DRAIN_"))}
    environ.update(AWS_CLI=str(stub), STUB_LOG=str(log), AWS_REGION="us-east-1")
    return {"environ": environ, "lambda_dir": lambda_dir, "log": log, "tmp": tmp_path}


def run(script: str, args: list[str], env: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "infra" / script), *args],
        env=env["environ"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def calls(env: dict[str, Any]) -> list[list[str]]:
    if not env["log"].exists():
        return []
    return [json.loads(line) for line in env["log"].read_text().splitlines()]


def test_deploy_uploads_the_code_then_deploys_with_the_parameters(env: dict[str, Any]) -> None:
    result = run(
        "deploy.sh",
        ["--stack-name", "ecs-drain-prod", "--bucket", "my-artifacts", "--params",
         str(ROOT / "infra" / "parameters.example.json"), "--lambda-dir", str(env["lambda_dir"]),
         "ReplayMode=live"],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    upload_lifecycle, upload_stopped, deploy, outputs = calls(env)
    digest = hashlib.sha256(
        b"".join((env["lambda_dir"] / fn / "bootstrap.zip").read_bytes() for fn in ("on-lifecycle", "on-task-stopped"))
    ).hexdigest()[:16]
    prefix = f"ecs-drain/{digest}/"
    for upload, fn in ((upload_lifecycle, "on-lifecycle"), (upload_stopped, "on-task-stopped")):
        assert upload[:4] == ["--region", "us-east-1", "s3", "cp"]
        assert upload[-2:] == [str(env["lambda_dir"] / fn / "bootstrap.zip"), f"s3://my-artifacts/{prefix}{fn}.zip"]

    assert deploy[2:4] == ["cloudformation", "deploy"]
    assert deploy[deploy.index("--stack-name") + 1] == "ecs-drain-prod"
    # CAPABILITY_AUTO_EXPAND: the template uses the AWS::LanguageExtensions transform.
    assert deploy[deploy.index("--capabilities") + 1 : deploy.index("--capabilities") + 3] == ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    assert deploy[deploy.index("--template-file") + 1] == str(ROOT / "infra" / "template.yaml")
    overrides = deploy[deploy.index("--parameter-overrides") + 1 :]
    example = json.loads((ROOT / "infra" / "parameters.example.json").read_text())
    expected = {k: v for k, v in example.items()}
    expected["ReplayMode"] = "live"  # the command-line override wins
    expected.update(ArtifactBucket="my-artifacts", ArtifactPrefix=prefix)
    assert dict(kv.split("=", 1) for kv in overrides) == expected
    assert outputs[2:4] == ["cloudformation", "describe-stacks"]


def test_example_parameters_are_template_parameters() -> None:
    from conftest import load_template

    params = load_template()["Parameters"]
    example = json.loads((ROOT / "infra" / "parameters.example.json").read_text())
    assert set(example) <= set(params)
    # ArtifactBucket / ArtifactPrefix: deploy.sh sets them to where it uploaded the code.
    required = {name for name, p in params.items() if "Default" not in p} - {"ArtifactBucket"}
    assert required <= set(example)
    for name, value in example.items():
        if "AllowedValues" in params[name]:
            assert value in [str(v) for v in params[name]["AllowedValues"]], name


def test_deploy_refuses_code_built_for_another_architecture(env: dict[str, Any]) -> None:
    result = run(
        "deploy.sh",
        ["--stack-name", "s", "--bucket", "b", "--params", str(ROOT / "infra" / "parameters.example.json"),
         "--lambda-dir", str(env["lambda_dir"]), "Architecture=x86_64"],
        env,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Architecture" in result.stderr
    assert calls(env) == []


def test_deploy_refuses_more_than_fifty_clusters(env: dict[str, Any]) -> None:
    result = run(
        "deploy.sh",
        ["--stack-name", "s", "--bucket", "b", "--params", str(ROOT / "infra" / "parameters.example.json"),
         "--lambda-dir", str(env["lambda_dir"]), "ClusterNames=" + ",".join(f"c{i}" for i in range(51))],
        env,
    )  # fmt: skip
    assert result.returncode != 0
    assert "at most 50" in result.stderr
    assert calls(env) == []


def test_deploy_requires_a_bucket(env: dict[str, Any]) -> None:
    result = run("deploy.sh", ["--stack-name", "s", "--lambda-dir", str(env["lambda_dir"])], env)
    assert result.returncode != 0
    assert "--bucket" in result.stderr
    assert calls(env) == []


def test_undeploy_deletes_the_stack_and_reports_the_retained_table(env: dict[str, Any]) -> None:
    result = run("undeploy.sh", ["--stack-name", "ecs-drain-prod"], env)
    assert result.returncode == 0, result.stderr
    verbs = [c[2:4] for c in calls(env)]
    assert verbs == [
        ["cloudformation", "describe-stacks"],
        ["dynamodb", "scan"],  # drains in flight? (the stub has none)
        ["cloudformation", "delete-stack"],
        ["cloudformation", "wait"],
    ]
    assert "ecs-drain-prod-StateTable-ABC123" in result.stdout
    assert "RETAINED" in result.stdout


# ------------------------------------------------------------------------------ undeploy vs moto

CLUSTER = "arn:aws:ecs:{region}:123456789012:cluster/prod-cluster"


def drain_item(region: str, instance: str, ec2: str, status: str, started: str) -> dict[str, Any]:
    """A drain record as crates/drain-aws/src/dynamodb.rs writes it (the attributes undeploy reads,
    and enough of the rest to be a real record)."""
    return {
        "container_instance_arn": {"S": f"arn:aws:ecs:{region}:123456789012:container-instance/prod-cluster/{instance}"},
        "cluster_arn": {"S": CLUSTER.format(region=region)},
        "ec2_instance_id": {"S": ec2},
        "asg_name": {"S": "prod-ecs-asg"},
        "hook_name": {"S": "ecs-drain-terminate"},
        "lifecycle_token": {"S": "c613620e-07e2-4ed2-a9e2-ef8258911ade"},
        "status": {"S": status},
        "phase": {"S": "GRACEFUL"},
        "started": {"S": started},
        "started_at": {"N": "1793645000"},
        "revision": {"N": "3"},
    }


@pytest.fixture()
def real_cli(emulator: str, tmp_path: Path) -> dict[str, str]:
    """The environment for the real aws CLI against the emulator (no user config or credentials)."""
    # scripts/infra-check.sh installs the CLI into .tools/awscli-venv and names it here.
    aws = os.environ.get("ECS_DRAIN_AWS_CLI") or shutil.which("aws")
    assert aws and os.access(aws, os.X_OK), "the aws CLI is needed: run the undeploy tests through scripts/infra-check.sh"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_DRAIN_"))}
    environ.update(
        AWS_CLI=aws,
        AWS_ENDPOINT_URL=emulator,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_MAX_ATTEMPTS="1",
    )
    return environ


def undeploy(environ: dict[str, str], region: str, stack: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "infra" / "undeploy.sh"), "--stack-name", stack, "--region", region, *extra],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def stack_exists(client: ClientFactory, region: str, stack: str) -> bool:
    stacks = client("cloudformation", region).list_stacks()["StackSummaries"]
    return any(s["StackName"] == stack and s["StackStatus"] != "DELETE_COMPLETE" for s in stacks)


def deploy_with_drains(client: ClientFactory, region: str, stack: str, items: list[dict[str, Any]]) -> Deployed:
    deployed = Deployed(
        client, region, stack,
        {"ClusterNames": "prod-cluster", "AutoScalingGroupNames": "prod-ecs-asg", "CreateLifecycleHooks": "false"},
    )  # fmt: skip
    assert deployed.stack["StackStatus"] == "CREATE_COMPLETE"
    ddb = client("dynamodb", region)
    for item in items:
        ddb.put_item(TableName=deployed.outputs["TableName"], Item=item)
    return deployed


def test_undeploy_refuses_while_drains_are_in_flight_and_lists_them(client: ClientFactory, real_cli: dict[str, str]) -> None:
    region, stack = "ca-central-1", "ecs-drain-busy"
    deploy_with_drains(client, region, stack, [
        drain_item(region, "aaaa1111", "i-0aaaaaaaaaaaaaaa1", "DRAINING", "2026-11-02T18:40:00Z"),
        drain_item(region, "bbbb2222", "i-0bbbbbbbbbbbbbbb2", "COMPLETING", "2026-11-02T18:41:00Z"),
        drain_item(region, "cccc3333", "i-0ccccccccccccccc3", "COMPLETED", "2026-11-02T17:00:00Z"),
        drain_item(region, "dddd4444", "i-0ddddddddddddddd4", "EXPIRED", "2026-11-02T16:00:00Z"),
    ])  # fmt: skip

    result = undeploy(real_cli, region, stack)
    assert result.returncode == 3, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    listed = [line.strip() for line in lines if "container-instance/" in line]
    assert sorted(listed) == [
        f"arn:aws:ecs:{region}:123456789012:container-instance/prod-cluster/aaaa1111 | i-0aaaaaaaaaaaaaaa1 | DRAINING | 2026-11-02T18:40:00Z",
        f"arn:aws:ecs:{region}:123456789012:container-instance/prod-cluster/bbbb2222 | i-0bbbbbbbbbbbbbbb2 | COMPLETING | 2026-11-02T18:41:00Z",
    ]
    assert "2 drain(s) in flight" in result.stderr
    assert "CONTINUE" in result.stderr and "--force" in result.stderr
    assert "deleting stack" not in result.stdout
    assert stack_exists(client, region, stack), "the stack was deleted despite drains in flight"


def test_undeploy_force_deletes_despite_drains_in_flight(client: ClientFactory, real_cli: dict[str, str]) -> None:
    region, stack = "eu-central-1", "ecs-drain-forced"
    deployed = deploy_with_drains(client, region, stack, [
        drain_item(region, "aaaa1111", "i-0aaaaaaaaaaaaaaa1", "DRAINING", "2026-11-02T18:40:00Z"),
    ])  # fmt: skip

    result = undeploy(real_cli, region, stack, "--force")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "i-0aaaaaaaaaaaaaaa1 | DRAINING" in result.stderr  # still listed, so the operator knows
    assert "--force given" in result.stderr
    assert not stack_exists(client, region, stack)
    assert f"stack {stack} deleted" in result.stdout
    assert deployed.outputs["TableName"] in result.stdout


def test_undeploy_deletes_when_no_drain_is_in_flight(client: ClientFactory, real_cli: dict[str, str]) -> None:
    region, stack = "eu-north-1", "ecs-drain-idle"
    deploy_with_drains(client, region, stack, [
        drain_item(region, "cccc3333", "i-0ccccccccccccccc3", "COMPLETED", "2026-11-02T17:00:00Z"),
    ])  # fmt: skip

    result = undeploy(real_cli, region, stack)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "in flight" not in result.stderr
    assert not stack_exists(client, region, stack)


# ------------------------------------------------------------------------------ README replay


def readme_block(heading: str) -> str:
    """The first ```sh block after ``heading`` in infra/README.md."""
    text = (ROOT / "infra" / "README.md").read_text()
    after = text[text.index(heading) :]
    start = after.index("```sh\n") + len("```sh\n")
    return after[start : after.index("```", start)]


def test_readme_replay_command_targets_only_the_stacks_rules(
    client: ClientFactory, main_stack: Deployed, real_cli: dict[str, str]
) -> None:
    """The documented replay, run as written (stack name aside) with the aws CLI against the
    emulator: it replays the stack's archive onto the default bus, filtered to the two rules."""
    script = readme_block("## Replaying the archive").replace("ecs-drain-prod", main_stack.name)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=dict(real_cli, AWS_DEFAULT_REGION=main_stack.region),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    replay = client("events", main_stack.region).describe_replay(ReplayName="debug-drain-2026-11-03")
    assert replay["EventSourceArn"] == main_stack.outputs["ArchiveArn"]
    assert replay["Destination"] == {
        "Arn": f"arn:aws:events:{main_stack.region}:123456789012:event-bus/default",
        "FilterArns": [
            main_stack.outputs["LifecycleRuleArn"],
            main_stack.outputs["TaskStoppedRuleArn"],
            main_stack.outputs["InstanceDrainingRuleArn"],
        ],
    }
