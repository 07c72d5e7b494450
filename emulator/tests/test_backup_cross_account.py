"""AWS Backup copy jobs into another account: cross-account backup in the
organization's global settings, the destination vault's access policy,
the copy restorable in the destination account; vault access policies and
global settings themselves."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError
from conftest import DR_REGION, REGION, ROLE, Aws, make_table, scan_keys

@pytest.fixture
def dest(endpoint, control):
    """A second account (the central backup account)."""
    acct = Aws(endpoint)
    yield acct
    control.post("/reset", {"account": acct.account})


@pytest.fixture
def source(aws):
    """The source account: a table of 4 items and its recovery point in
    vault ``src`` (with advanced DynamoDB backup, which copies need)."""
    ddb, b = aws.client("dynamodb"), aws.client("backup")
    aws.table_arn = make_table(ddb, "orders", 4)
    b.create_backup_vault(BackupVaultName="src")
    b.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": True})
    aws.point = b.start_backup_job(BackupVaultName="src", ResourceArn=aws.table_arn,
                                   IamRoleArn=ROLE)["RecoveryPointArn"]
    return aws


def _copy_policy(principal, **extra):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "backup:CopyIntoBackupVault",
         "Resource": "*", **extra}]})


def _central(dest, region=REGION, policy=None) -> str:
    b = dest.client("backup", region)
    arn = b.create_backup_vault(BackupVaultName="central")["BackupVaultArn"]
    if policy is not None:
        b.put_backup_vault_access_policy(BackupVaultName="central", Policy=policy)
    return arn


def _copy(source, dest_vault_arn) -> dict:
    b = source.client("backup")
    started = b.start_copy_job(RecoveryPointArn=source.point, SourceBackupVaultName="src",
                               DestinationBackupVaultArn=dest_vault_arn, IamRoleArn=ROLE)
    return b.describe_copy_job(CopyJobId=started["CopyJobId"])["CopyJob"]


def _cross_account_backup(aws, on: bool) -> None:
    aws.client("backup").update_global_settings(
        GlobalSettings={"isCrossAccountBackupEnabled": "true" if on else "false"})


def test_global_settings_default_off_and_updated(aws, control):
    """DescribeGlobalSettings reports "The status of the flags
    isCrossAccountBackupEnabled, isMpaEnabled ... and
    isDelegatedAdministratorEnabled" as a string-to-string map, and
    LastUpdateTime (AWS Backup API Reference, DescribeGlobalSettings,
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeGlobalSettings.html);
    UpdateGlobalSettings takes "A value for isCrossAccountBackupEnabled.
    Values can be true or false" (API Reference, UpdateGlobalSettings,
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_UpdateGlobalSettings.html).
    Off until turned on: cross-account backup must be enabled from the
    management account (AWS Backup Developer Guide, "Managing AWS Backup
    resources across multiple AWS accounts",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/manage-cross-account.html).
    The emulator's simplification: one organization of every account, whose
    settings any account may update as its management account."""
    b = aws.client("backup")
    described = b.describe_global_settings()
    assert described["GlobalSettings"] == {"isCrossAccountBackupEnabled": "false", "isMpaEnabled": "false",
                                           "isDelegatedAdministratorEnabled": "false"}
    _cross_account_backup(aws, True)
    described = b.describe_global_settings()
    assert described["GlobalSettings"]["isCrossAccountBackupEnabled"] == "true"
    assert described["LastUpdateTime"].timestamp() > time.time() - 60
    with pytest.raises(ClientError) as err:
        b.update_global_settings(GlobalSettings={"isCrossAccountBackupEnabled": "maybe"})
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as err:
        b.update_global_settings(GlobalSettings={"isSomethingElse": "true"})
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
    # POST /_drctl/reset with the account that updated them: back to AWS's default.
    control.post("/reset", {"account": aws.account})
    assert b.describe_global_settings()["GlobalSettings"]["isCrossAccountBackupEnabled"] == "false"


def test_vault_access_policy_put_get_delete(aws):
    """PutBackupVaultAccessPolicy "Sets a resource-based policy that is used
    to manage access permissions on the target backup vault";
    GetBackupVaultAccessPolicy "Returns the access policy document that is
    associated with the named backup vault" (BackupVaultName,
    BackupVaultArn, Policy); DeleteBackupVaultAccessPolicy "Deletes the
    policy document" (AWS Backup API Reference,
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultAccessPolicy.html,
    .../API_GetBackupVaultAccessPolicy.html, .../API_DeleteBackupVaultAccessPolicy.html).
    A vault without one answers ResourceNotFoundException (its
    ``Errors`` list it; the message is AWS's as reported in
    turbot/steampipe-plugin-aws#2032)."""
    b = aws.client("backup")
    arn = b.create_backup_vault(BackupVaultName="v")["BackupVaultArn"]
    with pytest.raises(ClientError) as err:
        b.get_backup_vault_access_policy(BackupVaultName="v")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["Error"]["Message"] == f"Backup Vault {arn} has no associated POLICY"
    policy = _copy_policy({"AWS": "111122223333"})
    b.put_backup_vault_access_policy(BackupVaultName="v", Policy=policy)
    got = b.get_backup_vault_access_policy(BackupVaultName="v")
    assert (got["BackupVaultName"], got["BackupVaultArn"], json.loads(got["Policy"])) == ("v", arn, json.loads(policy))
    b.delete_backup_vault_access_policy(BackupVaultName="v")
    with pytest.raises(ClientError) as err:
        b.get_backup_vault_access_policy(BackupVaultName="v")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    for bad in ("not json", json.dumps({"Version": "2012-10-17"})):
        with pytest.raises(ClientError) as err:
            b.put_backup_vault_access_policy(BackupVaultName="v", Policy=bad)
        assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as err:
        b.put_backup_vault_access_policy(BackupVaultName="missing", Policy=policy)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_cloudformation_access_policy_is_the_vaults(aws):
    """``AWS::Backup::BackupVault`` ``AccessPolicy``: "A resource-based
    policy that is used to manage access permissions on the target backup
    vault" (CloudFormation User Guide, AWS::Backup::BackupVault,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-backup-backupvault.html):
    GetBackupVaultAccessPolicy answers it; removing it from the template
    removes it."""
    cfn, b = aws.client("cloudformation"), aws.client("backup")
    document = json.loads(_copy_policy({"AWS": "arn:aws:iam::111122223333:root"}))
    template = {"Resources": {"Vault": {"Type": "AWS::Backup::BackupVault", "Properties": {
        "BackupVaultName": "central", "AccessPolicy": document}}}}
    cfn.create_stack(StackName="central", TemplateBody=json.dumps(template))
    assert json.loads(b.get_backup_vault_access_policy(BackupVaultName="central")["Policy"]) == document
    del template["Resources"]["Vault"]["Properties"]["AccessPolicy"]
    cfn.update_stack(StackName="central", TemplateBody=json.dumps(template))
    with pytest.raises(ClientError) as err:
        b.get_backup_vault_access_policy(BackupVaultName="central")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_copy_fails_while_cross_account_backup_is_off(source, dest):
    """Cross-account copies need cross-account backup turned on for the
    organization from its management account (AWS Backup Developer
    Guide, "Managing AWS Backup resources across multiple AWS accounts",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/manage-cross-account.html;
    UpdateGlobalSettings isCrossAccountBackupEnabled: "Allow accounts in
    your organization to copy backups to other accounts", API Reference,
    DescribeGlobalSettings,
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeGlobalSettings.html).
    AWS's docs give no error for it; the emulator follows how AWS reports
    the other organization conditions of a cross-account copy: the copy
    job ends FAILED with a "Copy job failed. ..." StatusMessage (AWS
    Knowledge Center, "Why does my cross-account copy fail in AWS Backup?",
    https://repost.aws/knowledge-center/backup-troubleshoot-cross-account-copy);
    StartCopyJob itself succeeds. The wording after "Copy job failed." is
    the emulator's."""
    dest_vault = _central(dest, policy=_copy_policy({"AWS": source.account}))
    job = _copy(source, dest_vault)
    assert job["State"] == "FAILED"
    assert job["StatusMessage"].startswith("Copy job failed. Cross-account backup is not enabled")
    assert "isCrossAccountBackupEnabled" in job["StatusMessage"]
    assert "DestinationRecoveryPointArn" not in job
    central = dest.client("backup")
    assert central.list_recovery_points_by_backup_vault(BackupVaultName="central")["RecoveryPoints"] == []
    assert central.describe_backup_vault(BackupVaultName="central")["NumberOfRecoveryPoints"] == 0


@pytest.mark.parametrize("policy", ["none", "another-account", "wildcard-action", "denied"])
def test_copy_fails_without_the_vault_access_policy(source, dest, policy):
    """"In your destination account, you must create a backup vault. Then,
    you assign ... a resource-based access policy to allow AWS Backup to
    access the resources you would like to copy" (AWS Backup Developer
    Guide, "Creating backup copies across AWS accounts",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html).
    Without it the copy job fails: "This Access Denied error can occur when
    the destination backup vault doesn't have a vault access policy that
    allows copies from a source account. To resolve this error, you must
    allow the backup:CopyIntoBackupVault action on your destination backup
    vault access policy" (AWS Knowledge Center, "How can I resolve the
    'Access Denied trying to call AWS Backup service' error when trying to
    create a cross-account copy in AWS Backup?",
    https://repost.aws/knowledge-center/backup-resolve-access-denied-error):
    the job ends FAILED (StartCopyJob succeeds), its StatusMessage AWS's
    "Access Denied trying to call AWS Backup service" followed by the
    emulator's detail naming backup:CopyIntoBackupVault. "AWS Backup access
    policies don't support a wildcard in the Action key" (AWS Backup
    Developer Guide, "Vault access policies",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/create-a-vault-access-policy.html),
    so ``backup:*`` does not allow it; a Deny wins over an Allow."""
    _cross_account_backup(source, True)
    documents = {
        "none": None,
        "another-account": _copy_policy({"AWS": "arn:aws:iam::111122223333:root"}),
        "wildcard-action": json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": source.account}, "Action": "backup:*", "Resource": "*"}]}),
        "denied": json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "backup:CopyIntoBackupVault", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": source.account}, "Action": "backup:CopyIntoBackupVault",
             "Resource": "*"}]}),
    }
    dest_vault = _central(dest, policy=documents[policy])
    job = _copy(source, dest_vault)
    assert job["State"] == "FAILED"
    assert job["StatusMessage"].startswith("Access Denied trying to call AWS Backup service")
    assert "backup:CopyIntoBackupVault" in job["StatusMessage"]
    assert dest_vault in job["StatusMessage"] and source.account in job["StatusMessage"]
    assert dest.client("backup").describe_backup_vault(BackupVaultName="central")["NumberOfRecoveryPoints"] == 0


@pytest.mark.parametrize("principal", ["account-id", "root-arn", "star", "org-condition"])
def test_copy_into_another_account_restores_there(source, dest, principal):
    """With cross-account backup on and the destination vault's policy
    allowing backup:CopyIntoBackupVault to the source account (its root ARN,
    as in the Knowledge Center's example; or the account id, which the
    Principal element takes for the account, "AWS JSON policy elements:
    Principal",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html;
    or ``"*"``, alone or with a condition on ``aws:PrincipalOrgID``, the
    Knowledge Center's organization example,
    https://repost.aws/knowledge-center/backup-resolve-access-denied-error;
    the emulator's organization id is ``o-drctlemulator``) the copy
    completes: the destination account's vault holds a recovery point of
    the source table, which a restore in the destination account brings
    back there ("If your original backup is inadvertently deleted, you can
    copy the backup from its destination account to its source account,
    and then start the restore", AWS Backup Developer Guide, "Creating
    backup copies across AWS accounts",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html).
    The copy job is the source account's (DescribeCopyJob, ListCopyJobs);
    the destination is in another Region too ("most resources ... support
    cross-account backup"; DynamoDB with advanced backup copies across
    accounts and Regions: "Feature availability by resource",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/backup-feature-availability.html)."""
    _cross_account_backup(source, True)
    principals = {"account-id": ({"AWS": source.account}, {}),
                  "root-arn": ({"AWS": f"arn:aws:iam::{source.account}:root"}, {}),
                  "star": ("*", {}),
                  "org-condition": ({"AWS": "*"},
                                    {"Condition": {"StringEquals": {"aws:PrincipalOrgID": ["o-drctlemulator"]}}})}
    who, extra = principals[principal]
    dest_vault = _central(dest, DR_REGION, _copy_policy(who, **extra))
    assert dest_vault.startswith(f"arn:aws:backup:{DR_REGION}:{dest.account}:backup-vault:")
    job = _copy(source, dest_vault)
    assert job["State"] == "COMPLETED", job.get("StatusMessage")
    assert job["AccountId"] == source.account
    assert job["DestinationBackupVaultArn"] == dest_vault
    copied = job["DestinationRecoveryPointArn"]
    assert copied.startswith(f"arn:aws:backup:{DR_REGION}:{dest.account}:recovery-point:")
    listed = source.client("backup").list_copy_jobs(ByDestinationVaultArn=dest_vault)["CopyJobs"]
    assert [(j["CopyJobId"], j["State"]) for j in listed] == [(job["CopyJobId"], "COMPLETED")]

    central, ddb = dest.client("backup", DR_REGION), dest.client("dynamodb", DR_REGION)
    points = central.list_recovery_points_by_backup_vault(BackupVaultName="central")["RecoveryPoints"]
    assert [(p["RecoveryPointArn"], p["ResourceArn"]) for p in points] == [(copied, source.table_arn)]
    assert central.describe_backup_vault(BackupVaultName="central")["NumberOfRecoveryPoints"] == 1
    described = central.describe_recovery_point(BackupVaultName="central", RecoveryPointArn=copied)
    assert described["SourceBackupVaultArn"].endswith(f":{source.account}:backup-vault:src")
    restore = central.start_restore_job(RecoveryPointArn=copied, IamRoleArn=ROLE, ResourceType="DynamoDB",
                                        Metadata={"targetTableName": "orders-restored"})
    restored = central.describe_restore_job(RestoreJobId=restore["RestoreJobId"])
    assert restored["Status"] == "COMPLETED"
    assert restored["CreatedResourceArn"] == (
        f"arn:aws:dynamodb:{DR_REGION}:{dest.account}:table/orders-restored")
    assert scan_keys(ddb, "orders-restored") == {f"item-{i}" for i in range(4)}
    # Nothing landed in the source account.
    assert "orders-restored" not in source.client("dynamodb", DR_REGION).list_tables()["TableNames"]


def test_a_copy_under_way_ends_when_the_destination_reads_its_vault(source, dest, control):
    """Time progression (the emulator's "Job life cycles"): a cross-account
    copy job ends when a Backup call of either account next reads it, as a
    cross-Region one does; the destination's recovery point appears then.
    The conditions are those at the job's end (the emulator's choice)."""
    _cross_account_backup(source, True)
    dest_vault = _central(dest, policy=_copy_policy({"AWS": source.account}))
    control.post("/jobs/progression", {"account": source.account, "kind": "copy", "mode": "time", "seconds": 0.5})
    job = _copy(source, dest_vault)
    assert job["State"] in ("CREATED", "RUNNING")
    central = dest.client("backup")
    counts = []
    deadline = time.time() + 10
    while time.time() < deadline and (not counts or counts[-1] == 0):
        # Only the destination account reads: its reads move the job on.
        counts.append(central.describe_backup_vault(BackupVaultName="central")["NumberOfRecoveryPoints"])
        time.sleep(0.2)
    assert counts[0] == 0 and counts[-1] == 1
    done = source.client("backup").describe_copy_job(CopyJobId=job["CopyJobId"])["CopyJob"]
    assert done["State"] == "COMPLETED"


def test_destination_vault_must_exist_and_stay_in_the_partition(source, dest):
    """The destination vault must exist in the destination account ("In
    your destination account, you must create a backup vault": AWS Backup
    Developer Guide, "Creating backup copies across AWS accounts",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html):
    as for a cross-Region copy, the emulator refuses the StartCopyJob with
    ResourceNotFoundException. Copies stay within a partition (AWS's
    partitions: aws, aws-cn, aws-us-gov; "You can make cross-Region copies
    only within your AWS partition", Amazon FSx API Reference, CopyBackup,
    https://docs.aws.amazon.com/fsx/latest/APIReference/API_CopyBackup.html,
    the one AWS page that states it): InvalidParameterValueException."""
    _cross_account_backup(source, True)
    b = source.client("backup")
    for arn, code in ((f"arn:aws:backup:{REGION}:{dest.account}:backup-vault:nowhere", "ResourceNotFoundException"),
                      (f"arn:aws-cn:backup:cn-north-1:{dest.account}:backup-vault:central",
                       "InvalidParameterValueException")):
        with pytest.raises(ClientError) as err:
            b.start_copy_job(RecoveryPointArn=source.point, SourceBackupVaultName="src",
                             DestinationBackupVaultArn=arn, IamRoleArn=ROLE)
        assert err.value.response["Error"]["Code"] == code


def test_same_account_cross_region_copy_needs_neither(source):
    """A copy into another Region of the same account needs neither the
    organization's cross-account setting nor a vault access policy: both
    are conditions of cross-account copies only (AWS Backup Developer
    Guide, "Creating backup copies across AWS accounts",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html);
    it works as before, restorable in the other Region."""
    b_dr, ddb_dr = source.client("backup", DR_REGION), source.client("dynamodb", DR_REGION)
    assert b_dr.describe_global_settings()["GlobalSettings"]["isCrossAccountBackupEnabled"] == "false"
    dest_vault = b_dr.create_backup_vault(BackupVaultName="dr")["BackupVaultArn"]
    job = _copy(source, dest_vault)
    assert job["State"] == "COMPLETED"
    assert b_dr.describe_backup_vault(BackupVaultName="dr")["NumberOfRecoveryPoints"] == 1
    restore = b_dr.start_restore_job(RecoveryPointArn=job["DestinationRecoveryPointArn"], IamRoleArn=ROLE,
                                     ResourceType="DynamoDB", Metadata={"targetTableName": "orders-dr"})
    assert b_dr.describe_restore_job(RestoreJobId=restore["RestoreJobId"])["Status"] == "COMPLETED"
    assert scan_keys(ddb_dr, "orders-dr") == {f"item-{i}" for i in range(4)}
