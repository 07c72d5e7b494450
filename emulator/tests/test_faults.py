"""Fault injection per protocol, account scoping, latency, call counters,
and the self-check."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError


@pytest.mark.parametrize("service,operation,call,code", [
    ("cloudformation", "DescribeStacks", lambda c: c.describe_stacks(), "Throttling"),
    ("dynamodb", "ListTables", lambda c: c.list_tables(), "ThrottlingException"),
    ("backup", "ListBackupVaults", lambda c: c.list_backup_vaults(), "ThrottlingException"),
    ("sns", "ListTopics", lambda c: c.list_topics(), "Throttling"),
])
def test_throttling_reaches_the_sdk_with_the_protocols_code(aws, control, service, operation, call, code):
    control.post("/faults", {"account": aws.account, "service": service, "operation": operation,
                             "kind": "throttle", "times": 1})
    client = aws.client(service)
    with pytest.raises(ClientError) as err:
        call(client)
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    call(client)  # only once


def test_custom_codes_5xx_and_fraction(aws, control):
    ddb = aws.client("dynamodb")
    control.post("/faults", {"account": aws.account, "service": "dynamodb", "operation": "Scan",
                             "code": "ProvisionedThroughputExceededException", "times": 1})
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    with pytest.raises(ClientError) as err:
        ddb.scan(TableName="t")
    assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    control.post("/faults", {"account": aws.account, "service": "backup", "operation": "StartRestoreJob",
                             "kind": "internal", "times": 1})
    with pytest.raises(ClientError) as err:
        aws.client("backup").start_restore_job(RecoveryPointArn="x", Metadata={}, IamRoleArn="r")
    assert err.value.response["Error"]["Code"] == "InternalFailure"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    control.delete("/faults", f"account={aws.account}")
    control.post("/faults", {"account": aws.account, "service": "dynamodb", "operation": "DescribeTable",
                             "probability": 0.5, "seed": 7})
    outcomes = []
    for _ in range(20):
        try:
            ddb.describe_table(TableName="t")
            outcomes.append(True)
        except ClientError:
            outcomes.append(False)
    assert 3 < outcomes.count(False) < 17
    listed = control.get("/faults", f"account={aws.account}")["faults"]
    assert listed[0]["fired"] == outcomes.count(False)


def test_faults_are_scoped_to_their_account(endpoint, control):
    from conftest import Aws

    one, two = Aws(endpoint), Aws(endpoint)
    try:
        control.post("/faults", {"account": one.account, "service": "dynamodb", "operation": "ListTables"})
        with pytest.raises(ClientError):
            one.client("dynamodb").list_tables()
        two.client("dynamodb").list_tables()
    finally:
        control.post("/reset", {"account": one.account})


def test_latency(aws, control):
    control.post("/faults", {"account": aws.account, "service": "dynamodb", "operation": "ListTables",
                             "kind": "latency", "latency_ms": 300, "times": 1})
    start = time.monotonic()
    aws.client("dynamodb").list_tables()
    assert time.monotonic() - start >= 0.3


def test_call_counters(aws, control):
    ddb, cfn = aws.client("dynamodb"), aws.client("cloudformation")
    for _ in range(3):
        ddb.list_tables()
    cfn.describe_stacks()
    aws.client("backup").list_backup_vaults()
    report = control.get("/calls", f"account={aws.account}")
    assert report["calls"]["dynamodb/ListTables"] == 3
    assert report["calls"]["cloudformation/DescribeStacks"] == 1
    assert report["calls"]["backup/ListBackupVaults"] == 1
    control.delete("/calls", f"account={aws.account}")
    assert control.get("/calls", f"account={aws.account}")["total"] == 0


def test_selfcheck_passes():
    emulator = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "drctl_moto.selfcheck"], cwd=emulator,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "self-check passed" in out.stdout


def test_an_omit_fault_drops_a_field_from_the_answer(aws, control):
    """DescribeRecoveryPoint — every response member is optional ("Type:
    Timestamp ... Required: No" for CreationDate in the AWS Backup API
    Reference): an omit fault returns such an answer, once."""
    from conftest import ROLE, make_table

    b, ddb = aws.client("backup"), aws.client("dynamodb")
    arn = make_table(ddb, "omitted", 1)
    b.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": True})
    b.create_backup_vault(BackupVaultName="ov")
    rp = b.start_backup_job(BackupVaultName="ov", ResourceArn=arn, IamRoleArn=ROLE)["RecoveryPointArn"]
    control.post("/faults", {"account": aws.account, "service": "backup", "operation": "DescribeRecoveryPoint",
                             "kind": "omit", "field": "CreationDate", "times": 1})
    first = b.describe_recovery_point(BackupVaultName="ov", RecoveryPointArn=rp)
    assert "CreationDate" not in first and first["RecoveryPointArn"] == rp
    assert "CreationDate" in b.describe_recovery_point(BackupVaultName="ov", RecoveryPointArn=rp)
