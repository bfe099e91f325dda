"""The template as a service-managed StackSet (issue 14): one template, unchanged, in many
accounts and regions.

* Names: nothing the template names itself may collide between two stack instances. IAM roles
  and policies and CloudWatch dashboards are global to an account; the rest is regional. The
  template names none of the global ones (CloudFormation generates them from the stack name and
  a random suffix) and only log groups among the regional ones, under the stack's name.
* Code: Lambda reads a zip only from a bucket in the function's region, so the bucket is a
  parameter, with an optional "-<region>" suffix for one value across a StackSet.
* Side by side: two stacks of the template with the same stack name in two regions of one
  account deploy in the emulator, each reading its code from its own region's bucket.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import ACCOUNT, ARTIFACT_PARAMETERS, Deployed, load_raw_template, load_template, upload_code

# Name properties of the resource types the template uses (CloudFormation generates a name
# when they are absent).
NAME_PROPERTIES = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::Policy": None,  # an inline policy: named within its role only
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Events::Rule": "Name",
    "AWS::Events::Archive": "ArchiveName",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
}


def test_the_template_names_no_resource_but_its_log_groups_under_the_stack_name() -> None:
    for logical_id, resource in load_template()["Resources"].items():
        rtype, props = resource["Type"], resource.get("Properties", {})
        name_property = NAME_PROPERTIES.get(rtype)
        if rtype == "AWS::Logs::LogGroup":
            assert "${AWS::StackName}" in json.dumps(props[name_property]), logical_id
        elif name_property:
            assert name_property not in props, f"{logical_id} names itself ({name_property}): it could collide in a StackSet"
    assert "Fn::ImportValue" not in json.dumps(load_raw_template()), "an import ties the template to one stack's exports"
    assert "Export" not in json.dumps(load_raw_template()["Outputs"]), "an export name is unique per region and account"


def test_the_code_location_is_a_parameter_per_region() -> None:
    template = load_template()
    for function in ("OnLifecycleFunction", "OnTaskStoppedFunction"):
        code = template["Resources"][function]["Properties"]["Code"]
        assert code["S3Bucket"] == {
            "Fn::If": ["ArtifactBucketPerRegion", {"Fn::Sub": "${ArtifactBucket}-${AWS::Region}"}, {"Ref": "ArtifactBucket"}]
        }
        assert code["S3Key"]["Fn::Sub"].startswith("${ArtifactPrefix}")


def test_two_regions_of_one_account_side_by_side(client: Any) -> None:
    parameters = {"ClusterNames": "prod-cluster", "AutoScalingGroupNames": "prod-ecs-asg", "CreateLifecycleHooks": "true"}
    first = Deployed(client, "eu-central-1", "ecs-drain", parameters)
    second = Deployed(client, "ap-northeast-1", "ecs-drain", parameters)
    for stack in (first, second):
        assert stack.stack["StackStatus"] == "CREATE_COMPLETE", stack.stack.get("StackStatusReason")

    # global names (IAM) differ, and each stack's functions run under its own roles
    iam = client("iam", "eu-central-1")
    for role in ("OnLifecycleRole", "OnTaskStoppedRole", "SchedulerRole"):
        assert first.physical_id(role) != second.physical_id(role), role
        for stack in (first, second):
            assert iam.get_role(RoleName=stack.physical_id(role))["Role"]["Arn"].startswith(f"arn:aws:iam::{ACCOUNT}:role/")
    for stack in (first, second):
        conf = client("lambda", stack.region).get_function_configuration(FunctionName=stack.physical_id("OnLifecycleFunction"))
        assert conf["Role"].endswith("/" + stack.physical_id("OnLifecycleRole"))

    # the regional names may repeat (the same stack name) but live in their own regions
    expected = {"OnLifecycleLogGroup": "/ecs-drain/ecs-drain/on-lifecycle", "OnTaskStoppedLogGroup": "/ecs-drain/ecs-drain/on-task-stopped"}
    for logical_id, name in expected.items():
        assert first.physical_id(logical_id) == second.physical_id(logical_id) == name


def test_each_region_reads_the_code_from_its_own_bucket(client: Any) -> None:
    """A region whose "<ArtifactBucket>-<region>" bucket lacks the zips cannot create the
    functions, though another region's bucket has them."""
    region = "sa-east-1"
    template = load_template({"ClusterNames": "prod-cluster", "AutoScalingGroupNames": "prod-ecs-asg"})
    upload_code(client, "eu-central-1")
    cfn = client("cloudformation", region)
    parameters = {**ARTIFACT_PARAMETERS, "ClusterNames": "prod-cluster", "AutoScalingGroupNames": "prod-ecs-asg", "CreateLifecycleHooks": "false"}
    # moto creates the resources within CreateStack and answers Lambda's error there (as JSON
    # in an XML protocol, which botocore cannot parse: the text is in the exception).
    with pytest.raises(Exception) as err:
        cfn.create_stack(
            StackName="ecs-drain-nocode",
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
    assert "NoSuchBucket" in str(err.value)
