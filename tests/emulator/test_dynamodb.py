"""The emulator's DynamoDB answers a failed conditional insert the way AWS documents it.

The drainer learns the drain record on file from its failed insert
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``: the ConditionalCheckFailedException carries
the item), instead of reading it first. These pin that moto does so, so that a test which
counts calls against the emulator counts what AWS would be sent.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

TABLE = "drains"
KEY = "container_instance_arn"
ARN = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b"


@pytest.fixture
def table(client):
    ddb = client("dynamodb")
    ddb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    on_file = {KEY: {"S": ARN}, "revision": {"N": "3"}, "status": {"S": "DRAINING"}}
    ddb.put_item(TableName=TABLE, Item=on_file)
    return ddb, on_file


def insert(ddb, **extra):
    new = {KEY: {"S": ARN}, "revision": {"N": "0"}, "status": {"S": "DRAINING"}}
    with pytest.raises(ClientError) as failed:
        ddb.put_item(
            TableName=TABLE,
            Item=new,
            ConditionExpression=f"attribute_not_exists({KEY})",
            **extra,
        )
    return failed.value.response


def test_a_failed_conditional_insert_asking_for_all_old_returns_the_item_on_file(table):
    ddb, on_file = table
    response = insert(ddb, ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert response["Item"] == on_file
    # and nothing was written
    stored = ddb.get_item(TableName=TABLE, Key={KEY: {"S": ARN}}, ConsistentRead=True)["Item"]
    assert stored == on_file


def test_a_failed_conditional_insert_not_asking_returns_no_item(table):
    ddb, _ = table
    response = insert(ddb)
    assert response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert "Item" not in response
