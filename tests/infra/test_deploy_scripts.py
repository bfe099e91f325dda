"""infra/deploy.sh and infra/undeploy.sh against a stand-in `aws` CLI (AWS_CLI=<stub>).

The stub records every invocation and answers the one query the scripts read; nothing talks to
AWS. This checks what the scripts would run: package to the operator's bucket, deploy with
CAPABILITY_IAM and the parameters from the file, and their refusals (architecture mismatch,
more names than the template supports, missing bucket).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT

STUB = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(json.dumps(args) + "\\n")
if "package" in args:
    out = args[args.index("--output-template-file") + 1]
    open(out, "w").write("packaged: true\\n")
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


def test_deploy_packages_then_deploys_with_the_parameters(env: dict[str, Any]) -> None:
    result = run(
        "deploy.sh",
        ["--stack-name", "ecs-drain-prod", "--bucket", "my-artifacts", "--params",
         str(ROOT / "infra" / "parameters.example.json"), "--lambda-dir", str(env["lambda_dir"]),
         "ReplayMode=live"],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    package, deploy, outputs = calls(env)
    assert package[:4] == ["--region", "us-east-1", "cloudformation", "package"]
    assert package[package.index("--s3-bucket") + 1] == "my-artifacts"
    packaged_source = Path(package[package.index("--template-file") + 1])
    text = packaged_source.read_text()
    assert f"Code: {env['lambda_dir']}/on-lifecycle/bootstrap.zip" in text
    assert f"Code: {env['lambda_dir']}/on-task-stopped/bootstrap.zip" in text

    assert deploy[2:4] == ["cloudformation", "deploy"]
    assert deploy[deploy.index("--stack-name") + 1] == "ecs-drain-prod"
    assert deploy[deploy.index("--capabilities") + 1] == "CAPABILITY_IAM"
    assert deploy[deploy.index("--template-file") + 1] == package[package.index("--output-template-file") + 1]
    overrides = deploy[deploy.index("--parameter-overrides") + 1 :]
    example = json.loads((ROOT / "infra" / "parameters.example.json").read_text())
    expected = {k: v for k, v in example.items()}
    expected["ReplayMode"] = "live"  # the command-line override wins
    assert dict(kv.split("=", 1) for kv in overrides) == expected
    assert outputs[2:4] == ["cloudformation", "describe-stacks"]


def test_example_parameters_are_template_parameters() -> None:
    from conftest import load_template

    params = load_template()["Parameters"]
    example = json.loads((ROOT / "infra" / "parameters.example.json").read_text())
    assert set(example) <= set(params)
    required = {name for name, p in params.items() if "Default" not in p}
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


def test_deploy_refuses_more_than_three_clusters(env: dict[str, Any]) -> None:
    result = run(
        "deploy.sh",
        ["--stack-name", "s", "--bucket", "b", "--params", str(ROOT / "infra" / "parameters.example.json"),
         "--lambda-dir", str(env["lambda_dir"]), "ClusterNames=a,b,c,d"],
        env,
    )  # fmt: skip
    assert result.returncode != 0
    assert "at most 3" in result.stderr
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
        ["cloudformation", "delete-stack"],
        ["cloudformation", "wait"],
    ]
    assert "ecs-drain-prod-StateTable-ABC123" in result.stdout
    assert "RETAINED" in result.stdout
