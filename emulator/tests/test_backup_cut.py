"""Backups of tables with PITR cut at an instant inside their consistency
window (AWS Backup jobs and DynamoDB CreateBackup), materialised lazily;
restores and copies wait for the instant; restores told to corrupt their
table."""

import time
import urllib.error

import pytest
from botocore.exceptions import ClientError
from conftest import DR_REGION, ROLE, make_table, scan_keys

CREATE_BACKUP = ("CreateBackup - Amazon DynamoDB, "
                 "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateBackup.html")


def enable(ddb, name):
    ddb.update_continuous_backups(TableName=name,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})


def put(ddb, table, key):
    ddb.put_item(TableName=table, Item={"pk": {"S": key}})


def restore(b, rp, target):
    return b.start_restore_job(RecoveryPointArn=rp, IamRoleArn=ROLE, ResourceType="DynamoDB",
                               Metadata={"targetTableName": target})["RestoreJobId"]


def test_without_a_rule_a_pitr_table_is_backed_up_as_of_the_job_start(aws):
    """The default keeps the emulator's earlier behaviour: the recovery point
    holds the table as of the job's start, which lies inside the window AWS
    guarantees ("If you submit a backup request on 2018-12-14 at 14:25:00,
    the backup is guaranteed to contain all data committed to the table up
    to 14:24:00, and data committed after 14:26:00 will not be. The backup
    might contain data modifications made between 14:24:00 and 14:26:00.",
    CreateBackup - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateBackup.html)."""
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "plain", 2)
    enable(ddb, "plain")
    b.create_backup_vault(BackupVaultName="v")
    job = b.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)
    put(ddb, "plain", "after")
    restore(b, job["RecoveryPointArn"], "plain-r")
    assert scan_keys(ddb, "plain-r") == {"item-0", "item-1"}


def test_a_backup_cut_at_start_leaves_out_writes_just_before_the_job(aws, control):
    """Cut at the window's start (created − margin): writes committed within
    the margin before the request are not in the backup, as AWS allows
    ("The backup might contain data modifications made between 14:24:00 and
    14:26:00." for a request at 14:25:00, CreateBackup - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateBackup.html)."""
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "early", 1)
    enable(ddb, "early")
    b.create_backup_vault(BackupVaultName="v")
    with pytest.raises(urllib.error.HTTPError):
        control.post("/backups/cut", {"account": aws.account, "table": "early", "at": "sometime"})
    rule = control.post("/backups/cut", {"account": aws.account, "table": "early", "at": "start",
                                         "margin_seconds": 0.4})["rule"]
    assert rule == {"account": aws.account, "table": "early", "at": "start", "margin_seconds": 0.4}
    time.sleep(0.6)
    put(ddb, "early", "just-before")
    time.sleep(0.1)
    job = b.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)
    restore(b, job["RecoveryPointArn"], "early-r")
    assert scan_keys(ddb, "early-r") == {"item-0"}
    assert control.get("/backups/cut")["rules"][-1]["table"] == "early"


def test_a_backup_cut_at_end_waits_and_holds_writes_after_completion(aws, control):
    """Cut at the window's end (completed + margin): writes committed after
    the job completed, within the margin, are in the recovery point; later
    ones are not ("data committed after 14:26:00 will not be", CreateBackup
    - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateBackup.html).
    The contents exist only once that instant has passed, so a restore
    stays RUNNING until then (RestoreJob Status "PENDING | RUNNING |
    COMPLETED | ABORTED | FAILED", DescribeRestoreJob - AWS Backup,
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeRestoreJob.html).
    DescribeRecoveryPoint's CreationDate and CompletionDate are the backup
    job's (DescribeRecoveryPoint - AWS Backup,
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeRecoveryPoint.html)."""
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "late", 1)
    enable(ddb, "late")
    b.create_backup_vault(BackupVaultName="v")
    control.post("/backups/cut", {"account": aws.account, "table": "*", "at": "end", "margin_seconds": 1})
    job = b.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)
    described = b.describe_backup_job(BackupJobId=job["BackupJobId"])
    rp = b.describe_recovery_point(BackupVaultName="v", RecoveryPointArn=job["RecoveryPointArn"])
    assert (rp["CreationDate"], rp["CompletionDate"]) == (described["CreationDate"], described["CompletionDate"])
    put(ddb, "late", "inside-window")
    restore_id = restore(b, job["RecoveryPointArn"], "late-r")
    assert b.describe_restore_job(RestoreJobId=restore_id)["Status"] == "RUNNING"
    assert "late-r" not in ddb.list_tables()["TableNames"]
    instant = described["CompletionDate"].timestamp() + 1
    time.sleep(max(0.0, instant - time.time()) + 0.1)
    put(ddb, "late", "after-window")
    assert b.describe_restore_job(RestoreJobId=restore_id)["Status"] == "COMPLETED"
    assert scan_keys(ddb, "late-r") == {"item-0", "inside-window"}


def test_a_backup_cut_in_the_middle_of_a_long_job(aws, control):
    """Cut halfway between created − margin and completed + margin: of the
    writes during the job, those before the middle are in, those after are
    not (both allowed: "The backup might contain data modifications made
    between 14:24:00 and 14:26:00.", CreateBackup - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateBackup.html)."""
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "mid", 1)
    enable(ddb, "mid")
    b.create_backup_vault(BackupVaultName="v")
    control.post("/backups/cut", {"account": aws.account, "table": "mid", "at": "middle", "margin_seconds": 0})
    control.post("/jobs/progression", {"account": aws.account, "kind": "backup", "mode": "manual", "steps": 1})
    job = b.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)
    time.sleep(0.3)
    put(ddb, "mid", "first-half")
    time.sleep(0.3)
    put(ddb, "mid", "second-half")
    time.sleep(0.3)
    states = [b.describe_backup_job(BackupJobId=job["BackupJobId"])["State"] for _ in range(3)]
    assert states == ["CREATED", "RUNNING", "COMPLETED"]
    restore(b, job["RecoveryPointArn"], "mid-r")
    assert scan_keys(ddb, "mid-r") == {"item-0", "first-half"}


def test_a_copy_carries_the_cut_contents_to_the_other_region(aws, control):
    """"If you copy your backup to another Region, ..." a copy is the same
    backup in the destination (Creating backup copies across AWS Regions -
    AWS Backup, https://docs.aws.amazon.com/aws-backup/latest/devguide/cross-region-backup.html).
    A copy of a recovery point whose cut instant is ahead stays RUNNING
    until it has passed (CopyJob State "CREATED | RUNNING | COMPLETED |
    FAILED | PARTIAL", DescribeCopyJob - AWS Backup,
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeCopyJob.html)."""
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    ddb_dr, b_dr = aws.client("dynamodb", DR_REGION), aws.client("backup", DR_REGION)
    arn = make_table(ddb, "far", 1)
    enable(ddb, "far")
    b.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": True})
    b.create_backup_vault(BackupVaultName="v")
    dest = b_dr.create_backup_vault(BackupVaultName="v-dr")["BackupVaultArn"]
    control.post("/backups/cut", {"account": aws.account, "table": "far", "at": "end", "margin_seconds": 0.8})
    job = b.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)
    put(ddb, "far", "in-window")
    copy = b.start_copy_job(RecoveryPointArn=job["RecoveryPointArn"], SourceBackupVaultName="v",
                            DestinationBackupVaultArn=dest, IamRoleArn=ROLE)
    assert b.describe_copy_job(CopyJobId=copy["CopyJobId"])["CopyJob"]["State"] == "RUNNING"
    time.sleep(1.0)
    put(ddb, "far", "too-late")
    copied = b.describe_copy_job(CopyJobId=copy["CopyJobId"])["CopyJob"]
    assert copied["State"] == "COMPLETED"
    restore(b_dr, copied["DestinationRecoveryPointArn"], "far-dr")
    assert scan_keys(ddb_dr, "far-dr") == {"item-0", "in-window"}
    restore(b, job["RecoveryPointArn"], "far-here")
    assert scan_keys(ddb, "far-here") == {"item-0", "in-window"}


def test_omitted_items_stay_omitted_from_a_cut_backup(aws, control):
    """The omission fault (a recovery point older than it claims) still
    applies when the contents come from the PITR history. AWS's guarantee it
    breaks: "the backup is guaranteed to contain all data committed to the
    table up to 14:24:00" (CreateBackup - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateBackup.html)."""
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "omit", 2)
    put(ddb, "omit", "drctl-canary#1")
    enable(ddb, "omit")
    b.create_backup_vault(BackupVaultName="v")
    control.post("/backups/cut", {"account": aws.account, "table": "omit", "at": "end", "margin_seconds": 0.3})
    control.post("/backups/omit", {"account": aws.account, "resource_arn": arn, "key_prefix": "drctl-canary#"})
    job = b.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)
    time.sleep(0.4)
    restore(b, job["RecoveryPointArn"], "omit-r")
    assert scan_keys(ddb, "omit-r") == {"item-0", "item-1"}


def test_dynamodb_create_backup_is_cut_too_and_creating_until_then(aws, control):
    """"When you create an on-demand backup, a time marker of the request is
    cataloged, and the backup is created asynchronously ... Backup requests
    are processed instantaneously and become available for restore within
    minutes." and the 14:24/14:26 guarantee (CreateBackup - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateBackup.html).
    BackupStatus "CREATING | DELETED | AVAILABLE" (BackupDetails - Amazon
    DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BackupDetails.html);
    restoring a backup still being created: "BackupInUseException There is
    another ongoing conflicting backup control plane operation on the table.
    The backup is either being created, deleted or restored to a table."
    (RestoreTableFromBackup - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableFromBackup.html)."""
    ddb = aws.client("dynamodb")
    make_table(ddb, "ondemand", 1)
    enable(ddb, "ondemand")
    control.post("/backups/cut", {"account": aws.account, "table": "ondemand", "at": "end", "margin_seconds": 0.8})
    details = ddb.create_backup(TableName="ondemand", BackupName="bk1")["BackupDetails"]
    assert details["BackupStatus"] == "CREATING"
    put(ddb, "ondemand", "in-window")
    with pytest.raises(ClientError) as err:
        ddb.restore_table_from_backup(TargetTableName="ondemand-r", BackupArn=details["BackupArn"])
    assert err.value.response["Error"]["Code"] == "BackupInUseException"
    time.sleep(0.9)
    put(ddb, "ondemand", "after")
    desc = ddb.describe_backup(BackupArn=details["BackupArn"])["BackupDescription"]["BackupDetails"]
    assert desc["BackupStatus"] == "AVAILABLE"
    ddb.restore_table_from_backup(TargetTableName="ondemand-r", BackupArn=details["BackupArn"])
    assert scan_keys(ddb, "ondemand-r") == {"item-0", "in-window"}

    control.delete("/backups/cut", f"account={aws.account}")
    plain = ddb.create_backup(TableName="ondemand", BackupName="bk2")["BackupDetails"]
    assert plain["BackupStatus"] == "AVAILABLE"


def test_a_restore_told_to_corrupt_drops_or_changes_one_item_and_says_which(aws, control):
    """On AWS a restore creates the table with the recovery point's data
    ("AWS Backup restores your DynamoDB table ... to a new table",
    Restore a DynamoDB table - AWS Backup,
    https://docs.aws.amazon.com/aws-backup/latest/devguide/restoring-dynamodb.html);
    this fault breaks that on purpose, once, so a verification comparing
    the restored table with the source must name the damaged item's key."""
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    ddb.create_table(TableName="pairs", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                   {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"}],
                     BillingMode="PAY_PER_REQUEST")
    arn = ddb.describe_table(TableName="pairs")["Table"]["TableArn"]
    for i in range(4):
        ddb.put_item(TableName="pairs", Item={"pk": {"S": "p"}, "sk": {"N": str(i)}, "name": {"S": f"n{i}"}})
    b.create_backup_vault(BackupVaultName="v")
    rp = b.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)["RecoveryPointArn"]
    with pytest.raises(urllib.error.HTTPError):
        control.post("/restores/corrupt", {"account": aws.account, "table": "*", "kind": "shred"})
    control.post("/restores/corrupt", {"account": aws.account, "table": "pairs-drop", "kind": "drop_item"})
    control.post("/restores/corrupt", {"account": aws.account, "table": "*", "kind": "flip_attribute"})

    def rows(name):
        return {(i["pk"]["S"], i["sk"]["N"]): i["name"]["S"] for i in ddb.scan(TableName=name)["Items"]}

    source = rows("pairs")
    restore(b, rp, "pairs-drop")
    dropped = source.keys() - rows("pairs-drop").keys()
    assert len(dropped) == 1 and len(rows("pairs-drop")) == 3
    restore(b, rp, "pairs-flip")
    flipped = {k: v for k, v in rows("pairs-flip").items() if source[k] != v}
    assert len(flipped) == 1 and list(flipped.values())[0] == source[list(flipped)[0]] + "~"
    restore(b, rp, "pairs-clean")
    assert rows("pairs-clean") == source, "each rule fires once"

    applied = control.get("/restores/corrupt", f"account={aws.account}")["applied"]
    assert [(a["table"], a["kind"]) for a in applied] == [("pairs-drop", "drop_item"), ("pairs-flip", "flip_attribute")]
    (pk, sk), = dropped
    assert applied[0]["key"] == {"pk": {"S": pk}, "sk": {"N": sk}}
    (pk, sk), = flipped
    assert applied[1]["key"] == {"pk": {"S": pk}, "sk": {"N": sk}}
    assert (applied[1]["attribute"], applied[1]["before"]) == ("name", {"S": source[(pk, sk)]})
    control.post("/reset", {"account": aws.account})
    assert control.get("/restores/corrupt", f"account={aws.account}") == {"rules": [], "applied": []}


def test_flip_adds_an_attribute_to_an_item_that_has_only_its_key(aws, control):
    """As above (Restore a DynamoDB table - AWS Backup,
    https://docs.aws.amazon.com/aws-backup/latest/devguide/restoring-dynamodb.html):
    an item with no non-key attribute gets one."""
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "bare", 0)
    put(ddb, "bare", "only-key")
    b.create_backup_vault(BackupVaultName="v")
    rp = b.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)["RecoveryPointArn"]
    control.post("/restores/corrupt", {"account": aws.account, "table": "bare-r", "kind": "flip_attribute"})
    restore(b, rp, "bare-r")
    item = ddb.scan(TableName="bare-r")["Items"][0]
    assert item == {"pk": {"S": "only-key"}, "drctl_corrupted": {"S": "1"}}
    applied = control.get("/restores/corrupt", f"account={aws.account}")["applied"]
    assert applied[0]["key"] == {"pk": {"S": "only-key"}} and applied[0]["attribute"] == "drctl_corrupted"


def test_a_corruption_can_be_kept_among_items_of_a_partition_key_prefix(aws, control):
    """As above (Restore a DynamoDB table - AWS Backup,
    https://docs.aws.amazon.com/aws-backup/latest/devguide/restoring-dynamodb.html):
    a test that writes to some items while a drill runs keeps the damage
    among the others, so it knows which state the damaged item had."""
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "mixed", 0)
    for key in ["live-1", "live-2", "stable-1", "stable-2", "stable-3"]:
        put(ddb, "mixed", key)
    b.create_backup_vault(BackupVaultName="v")
    rp = b.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)["RecoveryPointArn"]
    for seed in range(5):
        control.post("/restores/corrupt", {"account": aws.account, "table": f"mixed-{seed}", "kind": "drop_item",
                                           "seed": seed, "hash_key_prefix": "stable-"})
        restore(b, rp, f"mixed-{seed}")
    applied = control.get("/restores/corrupt", f"account={aws.account}")["applied"]
    assert len(applied) == 5 and all(a["key"]["pk"]["S"].startswith("stable-") for a in applied), applied
