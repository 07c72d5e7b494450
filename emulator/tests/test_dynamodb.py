"""DynamoDB conditional writes are atomic, as on AWS: of concurrent writers
of one key under `attribute_not_exists` (or `version = :expected`), exactly
one wins. drctl's leases on a DynamoDB state table depend on it."""

from __future__ import annotations

import sys
import threading

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.exceptions import ConditionalCheckFailed
from moto.dynamodb.models import dynamodb_backends

from conftest import REGION, make_table

WRITERS = 8


def race(write) -> list[int]:
    """Runs `write(i)` in WRITERS threads released at once; the winners' i."""
    winners: list[int] = []
    barrier = threading.Barrier(WRITERS)

    def go(i):
        barrier.wait()
        if write(i):
            winners.append(i)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return winners


@pytest.fixture
def fine_grained_switching():
    """Thread switches between nearly every bytecode, so a check-then-write
    that is not atomic loses in most rounds instead of once in a while."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_concurrent_conditional_puts_have_one_winner(aws, fine_grained_switching):
    make_table(aws.client("dynamodb"), "state", items=0)
    backend = dynamodb_backends[aws.account][REGION]

    def create(key):
        def write(i):
            try:
                backend.put_item("state", {"pk": {"S": key}, "owner": {"S": str(i)}, "version": {"N": "1"}},
                                 condition_expression="attribute_not_exists(#pk)",
                                 expression_attribute_names={"#pk": "pk"})
                return True
            except ConditionalCheckFailed:
                return False
        return write

    def bump(key):
        def write(i):
            try:
                backend.put_item("state", {"pk": {"S": key}, "owner": {"S": str(i)}, "version": {"N": "2"}},
                                 condition_expression="#v = :expected",
                                 expression_attribute_names={"#v": "version"},
                                 expression_attribute_values={":expected": {"N": "1"}})
                return True
            except ConditionalCheckFailed:
                return False
        return write

    for round_ in range(60):
        key = f"policy#p{round_}"
        created = race(create(key))
        assert len(created) == 1, f"round {round_}: {created} all created {key}"
        bumped = race(bump(key))
        assert len(bumped) == 1, f"round {round_}: {bumped} all moved {key} from version 1"
        assert backend.get_item("state", {"pk": {"S": key}}).attrs["owner"].value == str(bumped[0])

def test_concurrent_conditional_puts_over_the_wire_have_one_winner(aws):
    ddb = aws.client("dynamodb")
    make_table(ddb, "state", items=0)
    clients = [aws.client("dynamodb") for _ in range(WRITERS)]

    for round_ in range(10):
        key = f"policy#p{round_}"

        def write(i):
            try:
                clients[i].put_item(TableName="state", Item={"pk": {"S": key}, "owner": {"S": str(i)}},
                                    ConditionExpression="attribute_not_exists(pk)")
                return True
            except ClientError as err:
                assert err.response["Error"]["Code"] == "ConditionalCheckFailedException"
                return False

        winners = race(write)
        assert len(winners) == 1, f"round {round_}: {winners}"
        stored = ddb.get_item(TableName="state", Key={"pk": {"S": key}}, ConsistentRead=True)["Item"]
        assert stored["owner"]["S"] == str(winners[0])
