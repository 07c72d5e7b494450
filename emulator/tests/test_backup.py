"""AWS Backup: selections, jobs, recovery points, restores, copies,
notifications and region settings."""

import json
import urllib.error

import pytest
from botocore.exceptions import ClientError
from conftest import DR_REGION, ROLE, make_table, scan_keys


def _plan(backup, name="p1", vault="v1"):
    return backup.create_backup_plan(BackupPlan={"BackupPlanName": name, "Rules": [
        {"RuleName": "r", "TargetBackupVaultName": vault, "ScheduleExpression": "cron(0 5 * * ? *)"}]})["BackupPlanId"]


def test_selection_crud(aws):
    b = aws.client("backup")
    b.create_backup_vault(BackupVaultName="v1")
    plan_id = _plan(b)
    sel = b.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
        "SelectionName": "s1", "IamRoleArn": ROLE, "Resources": ["arn:aws:dynamodb:us-east-1:1:table/t"]})
    got = b.get_backup_selection(BackupPlanId=plan_id, SelectionId=sel["SelectionId"])
    assert got["BackupSelection"]["Resources"] == ["arn:aws:dynamodb:us-east-1:1:table/t"]
    listed = b.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    assert [s["SelectionName"] for s in listed] == ["s1"]
    b.delete_backup_selection(BackupPlanId=plan_id, SelectionId=sel["SelectionId"])
    assert b.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"] == []
    with pytest.raises(ClientError) as err:
        b.get_backup_selection(BackupPlanId=plan_id, SelectionId=sel["SelectionId"])
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_backup_holds_data_as_of_job_start_and_restores(aws):
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "orders", 3)
    b.create_backup_vault(BackupVaultName="v1")
    job = b.start_backup_job(BackupVaultName="v1", ResourceArn=arn, IamRoleArn=ROLE)
    ddb.put_item(TableName="orders", Item={"pk": {"S": "late"}})
    assert b.describe_backup_job(BackupJobId=job["BackupJobId"])["State"] == "COMPLETED"
    vault = b.describe_backup_vault(BackupVaultName="v1")
    assert vault["NumberOfRecoveryPoints"] == 1
    assert b.list_backup_vaults()["BackupVaultList"][0]["NumberOfRecoveryPoints"] == 1
    rp = job["RecoveryPointArn"]
    assert b.describe_recovery_point(BackupVaultName="v1", RecoveryPointArn=rp)["Status"] == "COMPLETED"
    by_resource = b.list_recovery_points_by_resource(ResourceArn=arn)["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in by_resource] == [rp]
    jobs = b.list_backup_jobs(ByBackupVaultName="v1", ByState="COMPLETED", ByResourceArn=arn)["BackupJobs"]
    assert [j["BackupJobId"] for j in jobs] == [job["BackupJobId"]]
    assert b.list_backup_jobs(ByState="FAILED")["BackupJobs"] == []

    restore = b.start_restore_job(RecoveryPointArn=rp, IamRoleArn=ROLE, ResourceType="DynamoDB",
                                  Metadata={"targetTableName": "orders-restored"})
    described = b.describe_restore_job(RestoreJobId=restore["RestoreJobId"])
    assert described["Status"] == "COMPLETED"
    assert described["CreatedResourceArn"].endswith(":table/orders-restored")
    assert ddb.describe_table(TableName="orders-restored")["Table"]["TableStatus"] == "ACTIVE"
    assert scan_keys(ddb, "orders-restored") == {"item-0", "item-1", "item-2"}
    assert [j["RestoreJobId"] for j in b.list_restore_jobs()["RestoreJobs"]] == [restore["RestoreJobId"]]

    with pytest.raises(ClientError) as err:
        b.delete_backup_vault(BackupVaultName="v1")
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    b.delete_recovery_point(BackupVaultName="v1", RecoveryPointArn=rp)
    assert b.describe_backup_vault(BackupVaultName="v1")["NumberOfRecoveryPoints"] == 0


def test_manual_progression_is_visible(aws, control):
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "t", 1)
    b.create_backup_vault(BackupVaultName="v1")
    control.post("/jobs/progression", {"account": aws.account, "kind": "all", "mode": "manual", "steps": 1})
    job = b.start_backup_job(BackupVaultName="v1", ResourceArn=arn, IamRoleArn=ROLE)
    states = [b.describe_backup_job(BackupJobId=job["BackupJobId"])["State"] for _ in range(4)]
    assert states == ["CREATED", "RUNNING", "COMPLETED", "COMPLETED"]
    restore = b.start_restore_job(RecoveryPointArn=job["RecoveryPointArn"], IamRoleArn=ROLE,
                                  Metadata={"targetTableName": "t2"}, ResourceType="DynamoDB")
    statuses = [b.describe_restore_job(RestoreJobId=restore["RestoreJobId"])["Status"] for _ in range(3)]
    assert statuses == ["PENDING", "RUNNING", "COMPLETED"]


def test_failing_jobs_end_failed_with_message(aws, control):
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "t", 1)
    b.create_backup_vault(BackupVaultName="v1")
    control.post("/jobs/fail", {"account": aws.account, "kind": "backup", "resource_arn": arn,
                                "message": "disk on fire"})
    job = b.start_backup_job(BackupVaultName="v1", ResourceArn=arn, IamRoleArn=ROLE)
    described = b.describe_backup_job(BackupJobId=job["BackupJobId"])
    assert described["State"] == "FAILED"
    assert described["StatusMessage"] == "disk on fire"
    assert b.describe_backup_vault(BackupVaultName="v1")["NumberOfRecoveryPoints"] == 0

    good = b.start_backup_job(BackupVaultName="v1", ResourceArn=arn, IamRoleArn=ROLE)
    control.post("/jobs/fail", {"account": aws.account, "kind": "restore", "next": True, "message": "nope"})
    restore = b.start_restore_job(RecoveryPointArn=good["RecoveryPointArn"], IamRoleArn=ROLE,
                                  Metadata={"targetTableName": "t9"}, ResourceType="DynamoDB")
    described = b.describe_restore_job(RestoreJobId=restore["RestoreJobId"])
    assert (described["Status"], described["StatusMessage"]) == ("FAILED", "nope")
    assert "t9" not in ddb.list_tables()["TableNames"]


def test_running_job_can_be_failed(aws, control):
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "t", 1)
    b.create_backup_vault(BackupVaultName="v1")
    control.post("/jobs/progression", {"account": aws.account, "kind": "backup", "mode": "manual", "steps": 1})
    job = b.start_backup_job(BackupVaultName="v1", ResourceArn=arn, IamRoleArn=ROLE)
    assert b.describe_backup_job(BackupJobId=job["BackupJobId"])["State"] == "CREATED"
    out = control.post("/jobs/fail", {"account": aws.account, "kind": "backup", "resource_arn": arn,
                                      "message": "late failure"})
    assert out["running_jobs_failed"] == [job["BackupJobId"]]
    states = [b.describe_backup_job(BackupJobId=job["BackupJobId"])["State"] for _ in range(2)]
    assert states == ["RUNNING", "FAILED"]


def test_copy_job_restorable_in_second_region(aws):
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    ddb_dr, b_dr = aws.client("dynamodb", DR_REGION), aws.client("backup", DR_REGION)
    arn = make_table(ddb, "t", 4)
    b.create_backup_vault(BackupVaultName="v1")
    dest = b_dr.create_backup_vault(BackupVaultName="v1-dr")["BackupVaultArn"]
    # without advanced DynamoDB backup, a copy is refused
    plain = b.start_backup_job(BackupVaultName="v1", ResourceArn=arn, IamRoleArn=ROLE)
    assert plain["RecoveryPointArn"].startswith("arn:aws:dynamodb:")
    with pytest.raises(ClientError) as err:
        b.start_copy_job(RecoveryPointArn=plain["RecoveryPointArn"], SourceBackupVaultName="v1",
                         DestinationBackupVaultArn=dest, IamRoleArn=ROLE)
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"

    assert b.describe_region_settings()["ResourceTypeManagementPreference"]["DynamoDB"] is False
    b.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": True})
    assert b.describe_region_settings()["ResourceTypeManagementPreference"]["DynamoDB"] is True
    job = b.start_backup_job(BackupVaultName="v1", ResourceArn=arn, IamRoleArn=ROLE)
    assert job["RecoveryPointArn"].startswith("arn:aws:backup:us-east-1:")
    copy = b.start_copy_job(RecoveryPointArn=job["RecoveryPointArn"], SourceBackupVaultName="v1",
                            DestinationBackupVaultArn=dest, IamRoleArn=ROLE)
    described = b.describe_copy_job(CopyJobId=copy["CopyJobId"])["CopyJob"]
    assert described["State"] == "COMPLETED"
    dest_rp = described["DestinationRecoveryPointArn"]
    assert dest_rp.startswith(f"arn:aws:backup:{DR_REGION}:")
    assert [c["CopyJobId"] for c in b.list_copy_jobs()["CopyJobs"]] == [copy["CopyJobId"]]
    points = b_dr.list_recovery_points_by_backup_vault(BackupVaultName="v1-dr")["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in points] == [dest_rp]
    assert b_dr.describe_backup_vault(BackupVaultName="v1-dr")["NumberOfRecoveryPoints"] == 1
    restore = b_dr.start_restore_job(RecoveryPointArn=dest_rp, IamRoleArn=ROLE, ResourceType="DynamoDB",
                                     Metadata={"targetTableName": "t-dr"})
    described = b_dr.describe_restore_job(RestoreJobId=restore["RestoreJobId"])
    assert described["CreatedResourceArn"].startswith(f"arn:aws:dynamodb:{DR_REGION}:")
    assert scan_keys(ddb_dr, "t-dr") == {f"item-{i}" for i in range(4)}


def test_notifications_crud_and_delivery(aws):
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    sns, sqs = aws.client("sns"), aws.client("sqs")
    arn = make_table(ddb, "t", 1)
    b.create_backup_vault(BackupVaultName="v1")
    topic = sns.create_topic(Name="dr")["TopicArn"]
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    b.put_backup_vault_notifications(BackupVaultName="v1", SNSTopicArn=topic,
                                     BackupVaultEvents=["BACKUP_JOB_COMPLETED"])
    got = b.get_backup_vault_notifications(BackupVaultName="v1")
    assert got["SNSTopicArn"] == topic and got["BackupVaultEvents"] == ["BACKUP_JOB_COMPLETED"]
    b.start_backup_job(BackupVaultName="v1", ResourceArn=arn, IamRoleArn=ROLE)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert body["MessageAttributes"]["EventType"]["Value"] == "BACKUP_JOB_COMPLETED"
    b.delete_backup_vault_notifications(BackupVaultName="v1")
    with pytest.raises(ClientError):
        b.get_backup_vault_notifications(BackupVaultName="v1")


def test_start_jobs_with_the_same_idempotency_token_start_one_job(aws):
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "t", 2)
    b.create_backup_vault(BackupVaultName="v1")
    dest = aws.client("backup", DR_REGION).create_backup_vault(BackupVaultName="v1-dr")["BackupVaultArn"]
    b.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": True})

    # one token for all three operations: the key includes the operation
    backup = dict(BackupVaultName="v1", ResourceArn=arn, IamRoleArn=ROLE, IdempotencyToken="once")
    first, again = b.start_backup_job(**backup), b.start_backup_job(**backup)
    assert again["BackupJobId"] == first["BackupJobId"]
    assert again["RecoveryPointArn"] == first["RecoveryPointArn"]
    assert [j["BackupJobId"] for j in b.list_backup_jobs()["BackupJobs"]] == [first["BackupJobId"]]
    with pytest.raises(ClientError) as err:
        b.start_backup_job(**{**backup, "Lifecycle": {"DeleteAfterDays": 7}})
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "IdempotencyToken once" in err.value.response["Error"]["Message"]
    other = b.start_backup_job(**{**backup, "IdempotencyToken": "twice"})
    assert other["BackupJobId"] != first["BackupJobId"]

    restore = dict(RecoveryPointArn=first["RecoveryPointArn"], IamRoleArn=ROLE, ResourceType="DynamoDB",
                   Metadata={"targetTableName": "t2"}, IdempotencyToken="once")
    ids = {b.start_restore_job(**restore)["RestoreJobId"] for _ in range(2)}
    assert [j["RestoreJobId"] for j in b.list_restore_jobs()["RestoreJobs"]] == list(ids)
    with pytest.raises(ClientError) as err:
        b.start_restore_job(**{**restore, "Metadata": {"targetTableName": "t3"}})
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"

    copy = dict(RecoveryPointArn=first["RecoveryPointArn"], SourceBackupVaultName="v1",
                DestinationBackupVaultArn=dest, IamRoleArn=ROLE, IdempotencyToken="once")
    ids = {b.start_copy_job(**copy)["CopyJobId"] for _ in range(2)}
    assert [j["CopyJobId"] for j in b.list_copy_jobs()["CopyJobs"]] == list(ids)
    with pytest.raises(ClientError) as err:
        b.start_copy_job(**{**copy, "Lifecycle": {"DeleteAfterDays": 7}})
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"


def test_a_backup_told_to_omit_items_leaves_them_out_of_its_recovery_point(aws, control):
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "t", 3)
    ddb.put_item(TableName="t", Item={"pk": {"S": "drctl-canary#00ff"}, "v": {"N": "9"}})
    b.create_backup_vault(BackupVaultName="v1")
    with pytest.raises(urllib.error.HTTPError):
        control.post("/backups/omit", {"account": aws.account, "resource_arn": arn})
    rule = control.post("/backups/omit", {"account": aws.account, "resource_arn": arn,
                                          "key_prefix": "drctl-canary#"})["rule"]
    assert (rule["times"], rule["fired"]) == (1, 0)
    assert control.get("/backups/omit")["rules"][-1]["id"] == rule["id"]

    def restored_keys(name):
        job = b.start_backup_job(BackupVaultName="v1", ResourceArn=arn, IamRoleArn=ROLE)
        b.start_restore_job(RecoveryPointArn=job["RecoveryPointArn"], IamRoleArn=ROLE,
                            ResourceType="DynamoDB", Metadata={"targetTableName": name})
        return scan_keys(ddb, name)

    assert restored_keys("omitted") == {"item-0", "item-1", "item-2"}
    assert "drctl-canary#00ff" in scan_keys(ddb, "t"), "the source keeps the item"
    assert restored_keys("whole") == {"item-0", "item-1", "item-2", "drctl-canary#00ff"}, "one backup only"
    assert [r for r in control.get("/backups/omit")["rules"] if r["id"] == rule["id"]] == []


def test_omissions_touch_only_their_account_and_table_and_binary_keys_match(aws, control):
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    ddb.create_table(TableName="bin", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "B"}],
                     BillingMode="PAY_PER_REQUEST")
    arn = ddb.describe_table(TableName="bin")["Table"]["TableArn"]
    other_arn = make_table(ddb, "other", 1)
    ddb.put_item(TableName="other", Item={"pk": {"S": "drctl-canary#1"}})
    for key in (b"drctl-canary#1", b"plain"):
        ddb.put_item(TableName="bin", Item={"id": {"B": key}})
    b.create_backup_vault(BackupVaultName="v1")
    control.post("/backups/omit", {"account": "000000000001", "resource_arn": other_arn, "key_prefix": "drctl"})
    control.post("/backups/omit", {"account": aws.account, "resource_arn": arn, "key_prefix": "drctl-canary#"})
    for table, arn_, target in (("other", other_arn, "other-r"), ("bin", arn, "bin-r")):
        job = b.start_backup_job(BackupVaultName="v1", ResourceArn=arn_, IamRoleArn=ROLE)
        b.start_restore_job(RecoveryPointArn=job["RecoveryPointArn"], IamRoleArn=ROLE,
                            ResourceType="DynamoDB", Metadata={"targetTableName": target})
    assert scan_keys(ddb, "other-r") == {"item-0", "drctl-canary#1"}, "another account's rule"
    assert [i["id"]["B"] for i in ddb.scan(TableName="bin-r")["Items"]] == [b"plain"]
    control.delete("/backups/omit", query="account=000000000001")


def test_recovery_points_carry_the_backups_tags_and_copies_keep_them(aws):
    """StartBackupJob — RecoveryPointTags: "The tags to assign to the
    resources." (AWS Backup API Reference.) "Tags that are originally
    associated with a resource and tags that are assigned during backup are
    assigned to recovery points ... Tags that are assigned during backup
    have priority." "DynamoDB does not support assigning tags to backups
    unless you first enable Advanced DynamoDB backup." "If you copy your
    backup to another Region, AWS Backup copies all tags of the original
    backup to the destination Region." (AWS Backup Developer Guide,
    "Copying tags onto backups".) drctl's IAM policy lets it restore and
    copy only recovery points tagged as its own."""
    ddb, b, b_dr = aws.client("dynamodb"), aws.client("backup"), aws.client("backup", DR_REGION)
    arn = make_table(ddb, "tagged", 2)
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "scans"},
                                            {"Key": "drctl:policy", "Value": "from-table"}])
    b.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": True})
    b.create_backup_vault(BackupVaultName="tv")
    dest = b_dr.create_backup_vault(BackupVaultName="tv-dr")["BackupVaultArn"]
    job = b.start_backup_job(BackupVaultName="tv", ResourceArn=arn, IamRoleArn=ROLE,
                             RecoveryPointTags={"drctl:managed-by": "drctl", "drctl:policy": "scans"})
    rp = job["RecoveryPointArn"]
    expected = {"team": "scans", "drctl:managed-by": "drctl", "drctl:policy": "scans"}
    assert b.list_tags(ResourceArn=rp)["Tags"] == expected
    copy = b.start_copy_job(RecoveryPointArn=rp, SourceBackupVaultName="tv",
                            DestinationBackupVaultArn=dest, IamRoleArn=ROLE)
    copied = b.describe_copy_job(CopyJobId=copy["CopyJobId"])["CopyJob"]["DestinationRecoveryPointArn"]
    assert b_dr.list_tags(ResourceArn=copied)["Tags"] == expected

    # An untagged backup's recovery point has the table's tags only.
    untagged = b.start_backup_job(BackupVaultName="tv", ResourceArn=arn, IamRoleArn=ROLE)["RecoveryPointArn"]
    assert b.list_tags(ResourceArn=untagged)["Tags"] == {"team": "scans", "drctl:policy": "from-table"}


def test_restores_running_at_once_are_counted_inside_the_emulator(aws, control):
    """AWS Backup bounds the DynamoDB restore jobs an account runs at once
    (AWS Backup developer guide, "AWS Backup quotas": concurrent restore
    jobs per account), and drctl bounds its own. The emulator counts, per
    account, restore jobs from StartRestoreJob until it first reports them
    ended, and keeps the peak: an exact count where sampling
    ListRestoreJobs can miss a short overlap. A replayed IdempotencyToken
    starts no job and counts nothing."""
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    arn = make_table(ddb, "t", 1)
    b.create_backup_vault(BackupVaultName="v1")
    job = b.start_backup_job(BackupVaultName="v1", ResourceArn=arn, IamRoleArn=ROLE)
    control.post("/jobs/progression", {"account": aws.account, "kind": "restore", "mode": "manual", "steps": 1})
    query = f"account={aws.account}"

    def restore(table, token=None):
        extra = {"IdempotencyToken": token} if token else {}
        return b.start_restore_job(RecoveryPointArn=job["RecoveryPointArn"], IamRoleArn=ROLE, ResourceType="DynamoDB",
                                   Metadata={"targetTableName": table}, **extra)["RestoreJobId"]

    first, second = restore("r1", "tok"), restore("r2")
    restore("r1", "tok")  # the same job again
    assert control.get("/restores/overlap", query) == {"running": 2, "peak": 2}
    for _ in range(3):
        b.describe_restore_job(RestoreJobId=first)
    assert control.get("/restores/overlap", query) == {"running": 1, "peak": 2}
    for _ in range(3):
        b.describe_restore_job(RestoreJobId=second)
    assert control.get("/restores/overlap", query) == {"running": 0, "peak": 2}
    control.delete("/restores/overlap", query)
    restore("r3")
    assert control.get("/restores/overlap", query) == {"running": 1, "peak": 1}
    assert control.get("/restores/overlap", "account=000000000000") == {"running": 0, "peak": 0}
