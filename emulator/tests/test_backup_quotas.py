"""AWS Backup's quotas: backup vaults and plans per Region per account,
resource assignments (selections) per backup plan, concurrent restores per
account; per account, adjustable through /_drctl/quotas, through the API
and through CloudFormation."""

import json
import time
import urllib.error

import pytest
from botocore.exceptions import ClientError
from conftest import DR_REGION, ROLE, Aws, make_table

QUOTAS_PAGE = "https://docs.aws.amazon.com/aws-backup/latest/devguide/aws-backup-limits.html"


@pytest.fixture
def other(endpoint, control):
    """A second fresh account, to show a quota is per account."""
    acct = Aws(endpoint)
    yield acct
    control.post("/reset", {"account": acct.account})


def set_quotas(control, aws, **values):
    return control.post("/quotas", {"account": aws.account, **values})


def raw_answers(client):
    """The raw HTTP answers the client receives, to look at the wire."""
    seen = []
    client.meta.events.register("before-parse.backup.*", lambda response_dict, **_: seen.append(response_dict))
    return seen


def assert_limit_exceeded(err, answer, *words):
    """A LimitExceededException as AWS Backup sends it (rest-json): HTTP 400,
    x-amzn-ErrorType, a JSON body with Message and Code; the message names
    the quota."""
    assert err.value.response["Error"]["Code"] == "LimitExceededException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    assert answer["status_code"] == 400
    assert headers["x-amzn-errortype"] == "LimitExceededException"
    assert headers["content-type"] == "application/json"
    body = json.loads(answer["body"])
    assert body["Code"] == "LimitExceededException"
    assert body["Message"] == err.value.response["Error"]["Message"]
    for word in words:
        assert word in body["Message"]


def _plan(backup, name):
    return backup.create_backup_plan(BackupPlan={"BackupPlanName": name, "Rules": [
        {"RuleName": "r", "TargetBackupVaultName": "v", "ScheduleExpression": "cron(0 5 * * ? *)"}]})["BackupPlanId"]


def _select(backup, plan_id, name):
    return backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
        "SelectionName": name, "IamRoleArn": ROLE, "Resources": ["arn:aws:dynamodb:us-east-1:1:table/t"]})


def stack_failure(cfn, name, template):
    """Creates the stack; its status and the CREATE_FAILED resource's
    (logical id, reason)."""
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    failed = [(e["LogicalResourceId"], e.get("ResourceStatusReason", ""))
              for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    return status, failed


def _vault_resource(name):
    return {"Type": "AWS::Backup::BackupVault", "Properties": {"BackupVaultName": name}}


def _plan_resource(name):
    return {"Type": "AWS::Backup::BackupPlan", "Properties": {"BackupPlan": {
        "BackupPlanName": name,
        "BackupPlanRule": [{"RuleName": "r", "TargetBackupVault": "v", "ScheduleExpression": "cron(0 5 * * ? *)"}],
    }}}


def _selection_resource(name, plan="Plan"):
    return {"Type": "AWS::Backup::BackupSelection", "Properties": {
        "BackupPlanId": {"Ref": plan},
        "BackupSelection": {"SelectionName": name, "IamRoleArn": ROLE,
                            "Resources": ["arn:aws:dynamodb:us-east-1:1:table/t"]}}}


# ---------------------------------------------------------------------------
# The control endpoint


def test_quotas_have_aws_defaults_and_adjust_per_account(aws, other, control):
    """Defaults from AWS's pages: "Total vaults (backup and logically
    air-gapped) per Region per account" 300 (adjustable), "Backup plans per
    Region per account" 300 (adjustable), "Resource assignments per backup
    plan" 100 (not adjustable on AWS)
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/aws-backup-limits.html);
    DynamoDB: "up to 50 concurrent restores (any type of restore) in a given
    account"
    (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableFromBackup.html).
    The emulator adjusts each per account; missing keys keep their values."""
    defaults = {"backup_vaults": 300, "backup_plans": 300, "selections_per_plan": 100, "concurrent_restores": 50}
    assert control.get("/quotas", f"account={aws.account}") == {"account": aws.account, **defaults}

    assert set_quotas(control, aws, backup_vaults=3, concurrent_restores=1) == {
        "account": aws.account, **defaults, "backup_vaults": 3, "concurrent_restores": 1}
    assert set_quotas(control, aws, backup_plans=0)["backup_vaults"] == 3  # kept
    assert control.get("/quotas", f"account={other.account}") == {"account": other.account, **defaults}

    for bad in ({"account": aws.account, "vaults": 1}, {"account": aws.account, "backup_vaults": -1},
                {"account": aws.account, "backup_vaults": "3"}, {"backup_vaults": 3}):
        with pytest.raises(urllib.error.HTTPError) as err:
            control.post("/quotas", bad)
        assert err.value.code == 400

    control.delete("/quotas", f"account={aws.account}")
    assert control.get("/quotas", f"account={aws.account}") == {"account": aws.account, **defaults}
    set_quotas(control, aws, backup_vaults=3)
    control.post("/reset", {"account": aws.account})
    assert control.get("/quotas", f"account={aws.account}")["backup_vaults"] == 300


# ---------------------------------------------------------------------------
# Backup vaults


def test_vault_quota_at_aws_default_of_300(aws):
    """The 301st CreateBackupVault of an account in a Region is
    LimitExceededException, an error AWS's API reference gives
    CreateBackupVault
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupVault.html);
    the quota, "Total vaults (backup and logically air-gapped) per Region per
    account", is 300 by default
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/aws-backup-limits.html).
    A deleted vault frees its slot; another Region has its own 300."""
    b = aws.client("backup")
    for i in range(300):
        b.create_backup_vault(BackupVaultName=f"v{i}")
    answers = raw_answers(b)
    with pytest.raises(ClientError) as err:
        b.create_backup_vault(BackupVaultName="v300")
    assert_limit_exceeded(err, answers[-1], "Total vaults", "300")
    assert len(b.list_backup_vaults()["BackupVaultList"]) == 300

    with pytest.raises(ClientError) as err:  # a name it holds adds nothing
        b.create_backup_vault(BackupVaultName="v0")
    assert err.value.response["Error"]["Code"] == "AlreadyExistsException"

    aws.client("backup", DR_REGION).create_backup_vault(BackupVaultName="v300")
    b.delete_backup_vault(BackupVaultName="v0")
    b.create_backup_vault(BackupVaultName="v300")


def test_vault_quota_lowered_is_per_account(aws, other, control):
    """The vault quota is adjustable on AWS ("Total vaults ... per Region per
    account", 300, adjustable:
    https://docs.aws.amazon.com/aws-backup/latest/devguide/aws-backup-limits.html),
    per account: another account keeps its own."""
    set_quotas(control, aws, backup_vaults=2)
    b = aws.client("backup")
    b.create_backup_vault(BackupVaultName="a")
    b.create_backup_vault(BackupVaultName="b")
    answers = raw_answers(b)
    with pytest.raises(ClientError) as err:
        b.create_backup_vault(BackupVaultName="c")
    assert_limit_exceeded(err, answers[-1], "quota of 2")
    for name in ("a", "b", "c"):
        other.client("backup").create_backup_vault(BackupVaultName=name)
    b.delete_backup_vault(BackupVaultName="a")
    b.create_backup_vault(BackupVaultName="c")


def test_vault_quota_through_cloudformation(aws, control):
    """AWS::Backup::BackupVault creates the vault with CreateBackupVault, so the
    quota ("Total vaults ... per Region per account":
    https://docs.aws.amazon.com/aws-backup/latest/devguide/aws-backup-limits.html;
    LimitExceededException:
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupVault.html)
    fails the resource: its CREATE_FAILED reason names the limit and the stack
    rolls back. A stack's deletion frees its vaults' slots."""
    set_quotas(control, aws, backup_vaults=2)
    cfn, b = aws.client("cloudformation"), aws.client("backup")
    b.create_backup_vault(BackupVaultName="by-api")
    template = {"Resources": {"First": _vault_resource("cfn-1"), "Second": _vault_resource("cfn-2")}}
    status, failed = stack_failure(cfn, "vaults", template)
    assert status == "ROLLBACK_COMPLETE"
    assert len(failed) == 1
    assert "Total vaults (backup and logically air-gapped) per Region per account" in failed[0][1]
    assert "quota of 2" in failed[0][1]
    assert [v["BackupVaultName"] for v in b.list_backup_vaults()["BackupVaultList"]] == ["by-api"]

    b.delete_backup_vault(BackupVaultName="by-api")
    status, failed = stack_failure(cfn, "vaults-2", template)
    assert (status, failed) == ("CREATE_COMPLETE", [])
    cfn.delete_stack(StackName="vaults-2")
    b.create_backup_vault(BackupVaultName="x")
    b.create_backup_vault(BackupVaultName="y")


# ---------------------------------------------------------------------------
# Backup plans


def test_plan_quota_per_region_and_account(aws, other, control):
    """CreateBackupPlan past "Backup plans per Region per account" (300 by
    default, adjustable:
    https://docs.aws.amazon.com/aws-backup/latest/devguide/aws-backup-limits.html)
    is LimitExceededException
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupPlan.html).
    A deleted plan frees its slot; another Region and another account keep
    their own."""
    assert control.get("/quotas", f"account={aws.account}")["backup_plans"] == 300
    set_quotas(control, aws, backup_plans=2)
    b = aws.client("backup")
    first = _plan(b, "p1")
    _plan(b, "p2")
    answers = raw_answers(b)
    with pytest.raises(ClientError) as err:
        _plan(b, "p3")
    assert_limit_exceeded(err, answers[-1], "Backup plans per Region per account", "quota of 2")
    _plan(aws.client("backup", DR_REGION), "p3")
    for name in ("p1", "p2", "p3"):
        _plan(other.client("backup"), name)

    b.delete_backup_plan(BackupPlanId=first)
    _plan(b, "p3")
    with pytest.raises(ClientError) as err:
        _plan(b, "p4")
    assert err.value.response["Error"]["Code"] == "LimitExceededException"


def test_plan_quota_through_cloudformation(aws, control):
    """AWS::Backup::BackupPlan past "Backup plans per Region per account"
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/aws-backup-limits.html)
    fails with the reason naming the limit; the stack rolls back, deleting the
    plan it had created."""
    set_quotas(control, aws, backup_plans=1)
    cfn, b = aws.client("cloudformation"), aws.client("backup")
    template = {"Resources": {"PlanA": _plan_resource("a"), "PlanB": _plan_resource("b")}}
    status, failed = stack_failure(cfn, "plans", template)
    assert status == "ROLLBACK_COMPLETE"
    assert len(failed) == 1
    assert "Backup plans per Region per account: the quota of 1 is reached" in failed[0][1]
    assert b.list_backup_plans()["BackupPlansList"] == []
    status, failed = stack_failure(cfn, "one-plan", {"Resources": {"Plan": _plan_resource("c")}})
    assert (status, failed) == ("CREATE_COMPLETE", []), failed


# ---------------------------------------------------------------------------
# Resource assignments (selections) per plan


def test_selection_quota_at_aws_default_of_100(aws):
    """The 101st CreateBackupSelection on one plan is LimitExceededException
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupSelection.html):
    "Resource assignments per backup plan" is 100, not adjustable
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/aws-backup-limits.html).
    The quota is per plan: another plan of the account has its own."""
    b = aws.client("backup")
    plan_id = _plan(b, "p")
    for i in range(100):
        _select(b, plan_id, f"s{i}")
    answers = raw_answers(b)
    with pytest.raises(ClientError) as err:
        _select(b, plan_id, "s100")
    assert_limit_exceeded(err, answers[-1], "Resource assignments per backup plan", "100", plan_id)
    _select(b, _plan(b, "q"), "s100")


def test_selection_quota_lowered_freed_and_per_account(aws, other, control):
    """Resource assignments per backup plan
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/aws-backup-limits.html),
    lowered through the control API: a deleted selection frees its slot, and
    another account is not affected."""
    set_quotas(control, aws, selections_per_plan=2)
    b = aws.client("backup")
    plan_id = _plan(b, "p")
    first = _select(b, plan_id, "s1")
    _select(b, plan_id, "s2")
    with pytest.raises(ClientError) as err:
        _select(b, plan_id, "s3")
    assert err.value.response["Error"]["Code"] == "LimitExceededException"
    with pytest.raises(ClientError) as err:  # a name the plan holds adds nothing
        _select(b, plan_id, "s1")
    assert err.value.response["Error"]["Code"] == "AlreadyExistsException"
    b.delete_backup_selection(BackupPlanId=plan_id, SelectionId=first["SelectionId"])
    _select(b, plan_id, "s3")

    theirs = _plan(other.client("backup"), "p")
    for name in ("s1", "s2", "s3"):
        _select(other.client("backup"), theirs, name)


def test_selection_quota_through_cloudformation(aws, control):
    """AWS::Backup::BackupSelection past "Resource assignments per backup plan"
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/aws-backup-limits.html)
    fails with the reason naming the limit; the stack rolls back."""
    set_quotas(control, aws, selections_per_plan=1)
    cfn, b = aws.client("cloudformation"), aws.client("backup")
    template = {"Resources": {"Plan": _plan_resource("p"), "One": _selection_resource("one"),
                              "Two": _selection_resource("two")}}
    status, failed = stack_failure(cfn, "selections", template)
    assert status == "ROLLBACK_COMPLETE"
    assert len(failed) == 1 and failed[0][0] in ("One", "Two")
    assert "Resource assignments per backup plan: the quota of 1 is reached" in failed[0][1]
    assert b.list_backup_plans()["BackupPlansList"] == []


# ---------------------------------------------------------------------------
# Concurrent restores


def _recovery_point(acct, region="us-east-1") -> str:
    ddb, b = acct.client("dynamodb", region), acct.client("backup", region)
    arn = make_table(ddb, "src", 1)
    b.create_backup_vault(BackupVaultName="v")
    return b.start_backup_job(BackupVaultName="v", ResourceArn=arn, IamRoleArn=ROLE)["RecoveryPointArn"]


def _restore(b, rp, target, **extra):
    return b.start_restore_job(RecoveryPointArn=rp, IamRoleArn=ROLE, ResourceType="DynamoDB",
                               Metadata={"targetTableName": target}, **extra)["RestoreJobId"]


def _hold_restores(control, acct):
    """Restore jobs stay under way until described three times."""
    control.post("/jobs/progression", {"account": acct.account, "kind": "restore", "mode": "manual", "steps": 1})


def test_concurrent_restores_at_the_default_of_50(aws, control):
    """DynamoDB: "Any number of users can execute up to 50 concurrent restores
    (any type of restore) in a given account"
    (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableFromBackup.html).
    AWS's docs do not say what AWS Backup's StartRestoreJob does past it: its
    API reference lists no LimitExceededException among its errors
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/API_StartRestoreJob.html),
    and no page says the job fails instead. The emulator's choice where the
    docs are silent: StartRestoreJob answers LimitExceededException (HTTP 400)
    while 50 restore jobs of the account run."""
    rp = _recovery_point(aws)
    _hold_restores(control, aws)
    b = aws.client("backup")
    for i in range(50):
        _restore(b, rp, f"t{i}")
    answers = raw_answers(b)
    with pytest.raises(ClientError) as err:
        _restore(b, rp, "t50")
    assert_limit_exceeded(err, answers[-1], "Concurrent restores", "50")
    assert control.get("/restores/overlap", f"account={aws.account}")["running"] == 50


def test_ended_restores_free_their_slots_per_account(aws, other, control):
    """The concurrent-restore quota (DynamoDB's 50 per account:
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableFromBackup.html;
    LimitExceededException from StartRestoreJob is the emulator's choice, the
    docs being silent:
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_StartRestoreJob.html)
    lowered to 2: a job that ends COMPLETED or FAILED frees its slot; a repeat
    with the IdempotencyToken starts nothing and is answered; restores in
    another Region of the account count; another account is not affected."""
    rp = _recovery_point(aws)
    rp_dr = _recovery_point(aws, DR_REGION)
    rp_other = _recovery_point(other)
    for acct in (aws, other):
        _hold_restores(control, acct)
    set_quotas(control, aws, concurrent_restores=2)
    b, b_dr = aws.client("backup"), aws.client("backup", DR_REGION)

    first = _restore(b, rp, "t1", IdempotencyToken="tok-1")
    _restore(b_dr, rp_dr, "t2")
    with pytest.raises(ClientError) as err:
        _restore(b, rp, "t3")
    assert err.value.response["Error"]["Code"] == "LimitExceededException"
    assert _restore(b, rp, "t1", IdempotencyToken="tok-1") == first
    for i in range(3):
        _restore(other.client("backup"), rp_other, f"o{i}")

    states = [b.describe_restore_job(RestoreJobId=first)["Status"] for _ in range(3)]
    assert states == ["PENDING", "RUNNING", "COMPLETED"]
    third = _restore(b, rp, "t3")
    with pytest.raises(ClientError) as err:
        _restore(b, rp, "t4")
    assert err.value.response["Error"]["Code"] == "LimitExceededException"

    control.post("/jobs/fail", {"account": aws.account, "kind": "restore", "target_table": "t3",
                                "message": "no capacity"})
    statuses = [b.describe_restore_job(RestoreJobId=third)["Status"] for _ in range(3)]
    assert statuses[-1] == "FAILED"
    _restore(b, rp, "t4")


def test_restore_ended_in_time_mode_frees_its_slot_unread(aws, control):
    """In time mode a job ends lazily, when a call reads it (one state per
    read at most); StartRestoreJob first lets the account's due restore jobs
    move on, so a restore whose time is up frees its slot though nobody
    described it (the quota: DynamoDB's
    concurrent restores per account,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableFromBackup.html)."""
    rp = _recovery_point(aws)
    set_quotas(control, aws, concurrent_restores=1)
    control.post("/jobs/progression", {"account": aws.account, "kind": "restore", "mode": "time", "seconds": 0.1})
    b = aws.client("backup")
    _restore(b, rp, "t1")
    time.sleep(0.15)  # moto's time mode: one state per read, at most
    with pytest.raises(ClientError) as err:  # its read moved t1 to RUNNING
        _restore(b, rp, "t2")
    assert err.value.response["Error"]["Code"] == "LimitExceededException"
    time.sleep(0.15)
    _restore(b, rp, "t2")  # its read ended t1
    assert "t1" in aws.client("dynamodb").list_tables()["TableNames"]
