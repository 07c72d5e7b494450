"""What moto's AWS Backup lacks: selections, jobs, recovery points, vault
notifications and region settings, kept beside moto's own BackupBackend.

Recovery points of DynamoDB tables are real moto DynamoDB backups: a backup
job takes one when it starts (so the recovery point holds the data as of the
job's start), a restore job restores it with moto's RestoreTableFromBackup,
and a copy job copies it into the DynamoDB backend of the destination
vault's account and region. A copy into another account ends FAILED unless
the organization's global settings turn cross-account backup on and the
destination vault's access policy allows backup:CopyIntoBackupVault to the
source account (CopyJob.check_cross_account).

A table with PITR and a cut rule (``/_drctl/backups/cut``) is backed up as
of an instant inside the job's consistency window instead: its recovery
point's contents come from the PITR history (pitr.Cut) when a restore or
copy of it first ends, and such a job stays RUNNING until that instant has
passed (it may lie after the backup job's completion). A restore may be
told to corrupt the table it creates (corruption.py).
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

from moto.backup.exceptions import (
    BackupClientError,
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from moto.backup.models import BackupBackend, backup_backends
from moto.core.utils import unix_time
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Backup as DynamoBackup
from moto.moto_api._internal import mock_random

from . import faults, iam_policy, overlap, pitr, quotas
from .corruption import RESTORE_CORRUPTIONS
from .lifecycle import TERMINAL, JobLifecycle

LOCK = threading.RLock()

DDB_RESOURCE_TYPE = "DynamoDB"


def ext(backend: BackupBackend) -> "BackupExtension":
    """The extension's state for one account and region (survives nothing
    that moto's reset does not: a reset backend starts empty again)."""
    state = backend.__dict__.get("_drctl")
    if state is None:
        state = backend.__dict__.setdefault("_drctl", BackupExtension(backend))
    return state


def check_vault_quota(backend: BackupBackend, name: str) -> None:
    """CreateBackupVault within "Total vaults per Region per account" (a name
    moto already holds adds nothing: its AlreadyExistsException stays)."""
    if name not in backend.vaults:
        quotas.check(backend.account_id, "backup_vaults", len(backend.vaults))


def check_plan_quota(backend: BackupBackend, name: str | None) -> None:
    """CreateBackupPlan within "Backup plans per Region per account". moto
    keeps deleted plans (with a DeletionDate): they hold no slot. A name moto
    already holds adds nothing: its AlreadyExistsException stays."""
    plans = list(backend.plans.values())
    if any(p.backup_plan.get("BackupPlanName") == name for p in plans):
        return
    live = sum(1 for p in plans if p.deletion_date is None)
    quotas.check(backend.account_id, "backup_plans", live)


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _recovery_point_tags(ddb: Any, resource_arn: str, assigned: dict[str, str] | None) -> dict[str, str]:
    """The table's tags, then the tags assigned to the backup (those win):
    "Tags that are originally associated with a resource and tags that are
    assigned during backup are assigned to recovery points ... Tags that are
    assigned during backup have priority" (AWS Backup Developer Guide,
    "Copying tags onto backups")."""
    table = next((t for t in ddb.tables.values() if t.table_arn == resource_arn), None)
    tags = {t["Key"]: t["Value"] for t in (table.tags if table else [])}
    tags.update(assigned or {})
    return tags


def backend_for(account: str, region: str) -> BackupBackend:
    return backup_backends[account][region]


def parse_arn(arn: str) -> dict[str, str]:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise InvalidParameterValueException(msg=f"Invalid ARN: {arn}")
    return {
        "partition": parts[1],
        "service": parts[2],
        "region": parts[3],
        "account": parts[4],
        "resource": parts[5],
    }


def _lifecycle_dates(lifecycle_cfg: dict[str, Any] | None, created: float) -> dict:
    calculated: dict[str, Any] = {}
    if lifecycle_cfg:
        if lifecycle_cfg.get("DeleteAfterDays"):
            calculated["DeleteAt"] = created + 86400 * int(
                lifecycle_cfg["DeleteAfterDays"]
            )
        if lifecycle_cfg.get("MoveToColdStorageAfterDays"):
            calculated["MoveToColdStorageAt"] = created + 86400 * int(
                lifecycle_cfg["MoveToColdStorageAfterDays"]
            )
    return calculated


# ---------------------------------------------------------------------------
# Global settings (one organization per emulator) and vault access policies


class MissingParameterValueException(BackupClientError):
    def __init__(self, msg: str):
        super().__init__("MissingParameterValueException", msg)


GLOBAL_SETTING_KEYS = ("isCrossAccountBackupEnabled", "isMpaEnabled", "isDelegatedAdministratorEnabled")


class GlobalSettings:
    """AWS Backup's global settings (DescribeGlobalSettings /
    UpdateGlobalSettings). The emulator models a single organization that
    every account belongs to, and any account may update its settings as
    if it were the management account; every flag is "false" until then,
    as on AWS. ``POST /_drctl/reset`` with the account that last updated
    them (or without an account) puts the defaults back."""

    def __init__(self) -> None:
        self.values = {key: "false" for key in GLOBAL_SETTING_KEYS}
        self.updated: float | None = None
        self.updated_by: str | None = None

    def describe(self) -> dict[str, Any]:
        with LOCK:
            out: dict[str, Any] = {"GlobalSettings": dict(self.values)}
            if self.updated is not None:
                out["LastUpdateTime"] = self.updated
            return out

    def update(self, account: str, settings: Any) -> None:
        if settings is None:
            return
        if not isinstance(settings, dict):
            raise InvalidParameterValueException(msg="GlobalSettings must be a map of strings")
        parsed = {}
        for key, value in settings.items():
            if key not in GLOBAL_SETTING_KEYS:
                raise InvalidParameterValueException(
                    msg=f"Unsupported global setting {key}; supported: {', '.join(GLOBAL_SETTING_KEYS)}"
                )
            text = str(value).lower()
            if text not in ("true", "false"):
                raise InvalidParameterValueException(msg=f"The value of {key} must be true or false")
            parsed[key] = text
        with LOCK:
            self.values.update(parsed)
            self.updated = unix_time()
            self.updated_by = account

    def cross_account_backup(self) -> bool:
        with LOCK:
            return self.values["isCrossAccountBackupEnabled"] == "true"

    def reset(self, account: str | None = None) -> None:
        with LOCK:
            if account is None or account == self.updated_by:
                self.__init__()  # type: ignore[misc]


GLOBAL_SETTINGS = GlobalSettings()

COPY_INTO_VAULT = "backup:CopyIntoBackupVault"
# aws:PrincipalOrgID of every account: the emulator's one organization.
ORGANIZATION_ID = "o-drctlemulator"


def access_policy(vault: Any) -> str | None:
    """The vault's access policy as JSON text (None: it has none). The
    API stores text, CloudFormation's AccessPolicy an object."""
    policy = getattr(vault, "access_policy", None)
    if policy is None or policy == "" or policy == {}:
        return None
    return policy if isinstance(policy, str) else json.dumps(policy)


def set_access_policy(vault: Any, policy: Any) -> None:
    if policy is None or policy == "" or policy == {}:
        vault.access_policy = None
        return
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
    except ValueError as err:
        raise InvalidParameterValueException(msg=f"The access policy is not valid JSON: {err}") from err
    if not isinstance(document, dict) or "Statement" not in document:
        raise InvalidParameterValueException(msg="The access policy must be a JSON policy document with a Statement")
    vault.access_policy = policy if isinstance(policy, str) else json.dumps(policy)


def _exact_action(patterns: Any, action: str) -> bool:
    """Vault access policies "don't support a wildcard in the Action key"
    (AWS Backup Developer Guide, "Vault access policies"): only the action's
    own name (case-insensitive) names it."""
    listed = patterns if isinstance(patterns, list) else [patterns]
    return any(str(p).lower() == action.lower() for p in listed)


def vault_allows_copy(vault: Any, source_account: str, role_arn: str | None, partition: str) -> bool:
    """Whether the vault's access policy allows backup:CopyIntoBackupVault
    to ``source_account`` (copying with ``role_arn``): an Allow whose
    Principal names the account (id, root ARN, the role, or "*") and whose
    Condition holds, and no Deny that matches."""
    text = access_policy(vault)
    if not text:
        return False
    try:
        document = json.loads(text)
    except ValueError:
        return False
    root = f"arn:{partition}:iam::{source_account}:root"
    arns = {root} | ({role_arn} if role_arn else set())
    now = unix_time()
    ctx = iam_policy.Context({
        "aws:PrincipalAccount": source_account,
        "aws:PrincipalArn": role_arn or root,
        "aws:PrincipalType": "AssumedRole" if role_arn else "Account",
        "aws:PrincipalOrgID": ORGANIZATION_ID,
        "aws:ResourceAccount": vault.backup_vault_arn.split(":")[4],
        "aws:SecureTransport": True,
        "aws:CurrentTime": _iso(now),
        "aws:EpochTime": str(int(now)),
    })
    variables = str(document.get("Version", "")) == "2012-10-17"
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else list(statements or [])
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        if "Action" in statement:
            if not _exact_action(statement["Action"], COPY_INTO_VAULT):
                continue
        elif "NotAction" in statement:
            if _exact_action(statement["NotAction"], COPY_INTO_VAULT):
                continue
        else:
            continue
        if "Resource" in statement:
            if not any(iam_policy.resource_matches(str(p), vault.backup_vault_arn, ctx, variables)
                       for p in _as_list(statement["Resource"])):
                continue
        elif "NotResource" in statement:
            if any(iam_policy.resource_matches(str(p), vault.backup_vault_arn, ctx, variables)
                   for p in _as_list(statement["NotResource"])):
                continue
        if "Principal" in statement:
            if not iam_policy.principal_matches(statement["Principal"], source_account, arns, partition):
                continue
        elif "NotPrincipal" in statement:
            if iam_policy.principal_matches(statement["NotPrincipal"], source_account, arns, partition):
                continue
        else:
            continue
        if not iam_policy.conditions_hold(statement.get("Condition"), ctx, variables):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _iso(when: float) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(when, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class CopyRefused(Exception):
    """A copy job ends FAILED with this StatusMessage."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Selection:
    def __init__(self, plan_id: str, selection: dict[str, Any], request_id: str | None):
        self.selection_id = str(mock_random.uuid4())
        self.plan_id = plan_id
        self.selection = selection
        self.creator_request_id = request_id
        self.creation_date = unix_time()

    def to_get_dict(self) -> dict[str, Any]:
        out = {
            "BackupSelection": self.selection,
            "SelectionId": self.selection_id,
            "BackupPlanId": self.plan_id,
            "CreationDate": self.creation_date,
        }
        if self.creator_request_id:
            out["CreatorRequestId"] = self.creator_request_id
        return out

    def to_list_dict(self) -> dict[str, Any]:
        out = {
            "SelectionId": self.selection_id,
            "SelectionName": self.selection.get("SelectionName"),
            "BackupPlanId": self.plan_id,
            "CreationDate": self.creation_date,
            "IamRoleArn": self.selection.get("IamRoleArn"),
        }
        if self.creator_request_id:
            out["CreatorRequestId"] = self.creator_request_id
        return out


class RecoveryPoint:
    def __init__(
        self,
        arn: str,
        vault: Any,
        resource_arn: str,
        ddb_backup_arn: str,
        iam_role_arn: str | None,
        lifecycle_cfg: dict[str, Any] | None,
        created_by: dict[str, Any] | None = None,
        source_vault_arn: str | None = None,
        initiation_date: float | None = None,
        completion_date: float | None = None,
        cut: "pitr.Cut | None" = None,
    ):
        self.arn = arn
        self.vault_name = vault.backup_vault_name
        self.vault_arn = vault.backup_vault_arn
        self.encryption_key_arn = vault.encryption_key_arn
        self.resource_arn = resource_arn
        self.ddb_backup_arn = ddb_backup_arn
        self.iam_role_arn = iam_role_arn
        self.lifecycle = lifecycle_cfg or {}
        self.created_by = created_by or {}
        self.source_vault_arn = source_vault_arn
        self.creation_date = initiation_date or unix_time()
        self.initiation_date = self.creation_date
        self.completion_date = completion_date or unix_time()
        # The contents as of an instant of the PITR history, taken when a
        # restore or copy first needs them (None: the backup as taken).
        self.cut = cut
        self.status = "COMPLETED"
        self.size = 0
        self.last_restore_time: float | None = None

    @property
    def resource_name(self) -> str:
        return self.resource_arn.rsplit("/", 1)[-1]

    def contents_ready(self) -> bool:
        """Whether the instant the contents are cut at has passed."""
        return self.cut is None or self.cut.ready()

    def settle_contents(self, ddb_backup: Any) -> None:
        """Puts the cut contents into the DynamoDB backup (once)."""
        if self.cut is not None:
            pitr.settle_backup(ddb_backup)

    def _common(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "RecoveryPointArn": self.arn,
            "BackupVaultName": self.vault_name,
            "BackupVaultArn": self.vault_arn,
            "ResourceArn": self.resource_arn,
            "ResourceType": DDB_RESOURCE_TYPE,
            "ResourceName": self.resource_name,
            "IamRoleArn": self.iam_role_arn,
            "Status": self.status,
            "CreationDate": self.creation_date,
            "InitiationDate": self.initiation_date,
            "CompletionDate": self.completion_date,
            "BackupSizeInBytes": self.size,
            "Lifecycle": self.lifecycle,
            "CalculatedLifecycle": _lifecycle_dates(self.lifecycle, self.creation_date),
            "IsEncrypted": bool(self.encryption_key_arn),
            "IsParent": False,
            "VaultType": "BACKUP_VAULT",
            "StorageClass": "WARM",
        }
        if self.encryption_key_arn:
            out["EncryptionKeyArn"] = self.encryption_key_arn
        if self.source_vault_arn:
            out["SourceBackupVaultArn"] = self.source_vault_arn
        if self.created_by:
            out["CreatedBy"] = self.created_by
        if self.last_restore_time:
            out["LastRestoreTime"] = self.last_restore_time
        return {k: v for k, v in out.items() if v is not None}

    def describe(self) -> dict[str, Any]:
        return self._common()

    def by_vault(self) -> dict[str, Any]:
        out = self._common()
        out.pop("StorageClass", None)
        return out

    def by_resource(self) -> dict[str, Any]:
        out = {
            "RecoveryPointArn": self.arn,
            "CreationDate": self.creation_date,
            "Status": self.status,
            "BackupSizeBytes": self.size,
            "BackupVaultName": self.vault_name,
            "ResourceName": self.resource_name,
            "IsParent": False,
            "VaultType": "BACKUP_VAULT",
        }
        if self.encryption_key_arn:
            out["EncryptionKeyArn"] = self.encryption_key_arn
        return out


class Job:
    """Common part of backup, restore and copy jobs."""

    kind = ""
    state_key = "State"

    def __init__(self, ext_: "BackupExtension"):
        self.ext = ext_
        self.account = ext_.account_id
        self.region = ext_.region_name
        self.job_id = str(mock_random.uuid4()).upper()
        self.creation_date = unix_time()
        self.completion_date: float | None = None
        self.status_message: str | None = None
        self.fail_message: str | None = None
        self.life = JobLifecycle(self.kind, self.account, gate=self.may_complete)
        self._settled = False

    def may_complete(self) -> bool:
        """Whether the job may reach COMPLETED now (see JobLifecycle.gate)."""
        return True

    def doom(self, message: str, code: str | None = None) -> None:
        if self._settled:
            return
        self.fail_message = message
        self.life.doom()

    @property
    def state(self) -> str:
        """Current state; runs the job's side effects when it ends."""
        with LOCK:
            current = self.life.status
            return self._settle(current)

    def observe(self) -> str:
        """A Describe call: counts towards manual progression."""
        with LOCK:
            current = self.life.observe()
            return self._settle(current)

    def _settle(self, current: str | None) -> str:
        if current in TERMINAL and not self._settled:
            self._settled = True
            self.completion_date = unix_time()
            if self.kind == "restore":
                overlap.RESTORES.ended(self.account)
            if current == "COMPLETED":
                try:
                    self.on_complete()
                except Exception as err:  # the job fails with the reason
                    self.life.status = "FAILED"
                    current = "FAILED"
                    self.status_message = str(getattr(err, "message", err))
                    self.on_failed()
            else:
                self.status_message = self.fail_message or "Job failed"
                self.on_failed()
            self.ext.notify_job_end(self, current)
        return current or ""

    def on_complete(self) -> None:  # pragma: no cover - overridden
        pass

    def on_failed(self) -> None:
        pass

    def percent(self, state: str) -> str:
        return {"RUNNING": "50.0", "COMPLETED": "100.0"}.get(state, "0.0")


class BackupJob(Job):
    kind = "backup"

    def __init__(self, ext_, vault, resource_arn, iam_role_arn, lifecycle_cfg,
                 recovery_point_arn, ddb_backup_arn, created_by=None, tags=None, cut=None):
        super().__init__(ext_)
        self.cut = cut
        self.tags = dict(tags or {})
        self.vault = vault
        self.resource_arn = resource_arn
        self.iam_role_arn = iam_role_arn
        self.lifecycle = lifecycle_cfg
        self.recovery_point_arn = recovery_point_arn
        self.ddb_backup_arn = ddb_backup_arn
        self.created_by = created_by or {}

    def on_complete(self) -> None:
        rp = RecoveryPoint(
            arn=self.recovery_point_arn,
            vault=self.vault,
            resource_arn=self.resource_arn,
            ddb_backup_arn=self.ddb_backup_arn,
            iam_role_arn=self.iam_role_arn,
            lifecycle_cfg=self.lifecycle,
            created_by=self.created_by,
            initiation_date=self.creation_date,
            completion_date=self.completion_date,
            cut=self.cut,
        )
        if self.cut is not None:
            # Now that the window [created − margin, completed + margin] is known.
            self.cut.place(self.creation_date, self.completion_date)
        self.ext.recovery_points[rp.arn] = rp
        if self.tags and rp.arn.startswith("arn:aws:backup:"):
            self.ext.backend.tagger.tag_resource(rp.arn, _tag_list(self.tags))

    def on_failed(self) -> None:
        ddb = dynamodb_backends[self.account][self.region]
        ddb.backups.pop(self.ddb_backup_arn, None)
        pitr.PENDING.pop(self.ddb_backup_arn, None)

    def describe(self, state: str) -> dict[str, Any]:
        out = {
            "AccountId": self.account,
            "BackupJobId": self.job_id,
            "BackupVaultName": self.vault.backup_vault_name,
            "BackupVaultArn": self.vault.backup_vault_arn,
            "RecoveryPointArn": self.recovery_point_arn,
            "ResourceArn": self.resource_arn,
            "ResourceName": self.resource_arn.rsplit("/", 1)[-1],
            "ResourceType": DDB_RESOURCE_TYPE,
            "CreationDate": self.creation_date,
            "InitiationDate": self.creation_date,
            "State": state,
            "PercentDone": self.percent(state),
            "BackupSizeInBytes": 0,
            "IamRoleArn": self.iam_role_arn,
            "IsParent": False,
            "BackupType": "",
            "VaultType": "BACKUP_VAULT",
            "StartBy": self.creation_date + 8 * 3600,
        }
        if self.created_by:
            out["CreatedBy"] = self.created_by
        if self.lifecycle:
            out["RecoveryPointLifecycle"] = self.lifecycle
        if self.completion_date:
            out["CompletionDate"] = self.completion_date
        if self.status_message:
            out["StatusMessage"] = self.status_message
        if self.vault.encryption_key_arn:
            out["EncryptionKeyArn"] = self.vault.encryption_key_arn
        return out


class RestoreJob(Job):
    kind = "restore"
    state_key = "Status"

    def __init__(self, ext_, recovery_point: RecoveryPoint, target_table: str,
                 iam_role_arn, metadata):
        super().__init__(ext_)
        self.recovery_point = recovery_point
        self.target_table = target_table
        self.iam_role_arn = iam_role_arn
        self.metadata = metadata
        self.created_resource_arn: str | None = None
        self.corruption: dict[str, Any] | None = None

    def may_complete(self) -> bool:
        return self.recovery_point.contents_ready()

    def on_complete(self) -> None:
        ddb = dynamodb_backends[self.account][self.region]
        rp = self.recovery_point
        rp.settle_contents(ddb.get_backup(rp.ddb_backup_arn))
        table = ddb.restore_table_from_backup(
            target_table_name=self.target_table,
            backup_arn=rp.ddb_backup_arn,
        )
        self.created_resource_arn = table.table_arn
        rp.last_restore_time = unix_time()
        self.corruption = RESTORE_CORRUPTIONS.apply(self.account, self.region, table, self.job_id)

    def describe(self, state: str) -> dict[str, Any]:
        rp = self.recovery_point
        out = {
            "AccountId": self.account,
            "RestoreJobId": self.job_id,
            "RecoveryPointArn": rp.arn,
            "SourceResourceArn": rp.resource_arn,
            "BackupVaultArn": rp.vault_arn,
            "CreationDate": self.creation_date,
            "Status": state,
            "PercentDone": self.percent(state),
            "BackupSizeInBytes": rp.size,
            "IamRoleArn": self.iam_role_arn,
            "ExpectedCompletionTimeMinutes": 1,
            "ResourceType": DDB_RESOURCE_TYPE,
            "RecoveryPointCreationDate": rp.creation_date,
            "IsParent": False,
        }
        if self.created_resource_arn:
            out["CreatedResourceArn"] = self.created_resource_arn
        if self.completion_date:
            out["CompletionDate"] = self.completion_date
        if self.status_message:
            out["StatusMessage"] = self.status_message
        return out


class CopyJob(Job):
    kind = "copy"

    def __init__(self, ext_, recovery_point: RecoveryPoint, dest_vault,
                 dest_ext: "BackupExtension", iam_role_arn, lifecycle_cfg):
        super().__init__(ext_)
        self.recovery_point = recovery_point
        self.dest_vault = dest_vault
        self.dest_ext = dest_ext
        self.iam_role_arn = iam_role_arn
        self.lifecycle = lifecycle_cfg
        self.dest_recovery_point_arn: str | None = None
        if dest_ext is not ext_:
            # The destination's listings let the job end (time mode), as its own do.
            dest_ext.incoming.append(self)

    @property
    def cross_account(self) -> bool:
        return self.dest_ext.account_id != self.account

    def may_complete(self) -> bool:
        return self.recovery_point.contents_ready()

    def check_cross_account(self) -> None:
        """AWS Backup's conditions on a copy into another account, as of
        the job's end (AWS Backup Developer Guide, "Creating backup copies
        across AWS accounts"): cross-account backup turned on for the
        organization, and the destination vault's access policy allowing
        backup:CopyIntoBackupVault to the source account."""
        if not self.cross_account:
            return
        if not GLOBAL_SETTINGS.cross_account_backup():
            raise CopyRefused(
                "Copy job failed. Cross-account backup is not enabled for the organization: "
                "isCrossAccountBackupEnabled is false (UpdateGlobalSettings in the management account "
                "turns it on)"
            )
        partition = self.dest_vault.backup_vault_arn.split(":")[1]
        if not vault_allows_copy(self.dest_vault, self.account, self.iam_role_arn, partition):
            why = ("has no access policy" if access_policy(self.dest_vault) is None
                   else "has an access policy that does not allow it")
            raise CopyRefused(
                "Access Denied trying to call AWS Backup service: "
                f"{COPY_INTO_VAULT} into backup vault {self.dest_vault.backup_vault_arn} is not allowed "
                f"for account {self.account}: the vault {why}"
            )

    def on_complete(self) -> None:
        self.check_cross_account()
        src = self.recovery_point
        src_ddb = dynamodb_backends[self.account][self.region]
        backup = src_ddb.get_backup(src.ddb_backup_arn)
        src.settle_contents(backup)
        dest_account = self.dest_ext.account_id
        dest_region = self.dest_ext.region_name
        dest_ddb = dynamodb_backends[dest_account][dest_region]
        copied = DynamoBackup(
            dest_account, dest_region, backup.name, backup.table, type_="AWS_BACKUP"
        )
        dest_ddb.backups[copied.arn] = copied
        arn = recovery_point_arn(dest_region, dest_account)
        rp = RecoveryPoint(
            arn=arn,
            vault=self.dest_vault,
            resource_arn=src.resource_arn,
            ddb_backup_arn=copied.arn,
            iam_role_arn=self.iam_role_arn,
            lifecycle_cfg=self.lifecycle or src.lifecycle,
            source_vault_arn=src.vault_arn,
            initiation_date=self.creation_date,
        )
        self.dest_ext.recovery_points[arn] = rp
        self.dest_recovery_point_arn = arn
        # "If you copy your backup to another Region, AWS Backup copies all
        # tags of the original backup to the destination Region."
        tags = self.ext.backend.tagger.get_tag_dict_for_resource(src.arn)
        if tags:
            self.dest_ext.backend.tagger.tag_resource(arn, _tag_list(tags))

    def describe(self, state: str) -> dict[str, Any]:
        src = self.recovery_point
        out = {
            "AccountId": self.account,
            "CopyJobId": self.job_id,
            "SourceBackupVaultArn": src.vault_arn,
            "SourceRecoveryPointArn": src.arn,
            "DestinationBackupVaultArn": self.dest_vault.backup_vault_arn,
            "ResourceArn": src.resource_arn,
            "ResourceName": src.resource_name,
            "ResourceType": DDB_RESOURCE_TYPE,
            "CreationDate": self.creation_date,
            "State": state,
            "BackupSizeInBytes": src.size,
            "IamRoleArn": self.iam_role_arn,
            "IsParent": False,
            "DestinationVaultType": "BACKUP_VAULT",
        }
        if self.dest_recovery_point_arn:
            out["DestinationRecoveryPointArn"] = self.dest_recovery_point_arn
        if self.lifecycle:
            out["DestinationRecoveryPointLifecycle"] = self.lifecycle
        if self.completion_date:
            out["CompletionDate"] = self.completion_date
        if self.status_message:
            out["StatusMessage"] = self.status_message
        return out


def recovery_point_arn(region: str, account: str) -> str:
    """Recovery points of advanced DynamoDB backup (and all copies)."""
    return f"arn:aws:backup:{region}:{account}:recovery-point:{str(mock_random.uuid4()).upper()}"


class BackupExtension:
    def __init__(self, backend: BackupBackend):
        self.account_id = backend.account_id
        self.region_name = backend.region_name
        self.backend = backend
        self.selections: dict[str, Selection] = {}
        self.backup_jobs: dict[str, BackupJob] = {}
        self.restore_jobs: dict[str, RestoreJob] = {}
        self.copy_jobs: dict[str, CopyJob] = {}
        self.recovery_points: dict[str, RecoveryPoint] = {}
        self.notifications: dict[str, dict[str, Any]] = {}
        # Copy jobs of other accounts and regions into this one's vaults.
        self.incoming: list[CopyJob] = []
        self.opt_in = {t: True for t in (
            "Aurora", "CloudFormation", "DocumentDB", "DynamoDB", "EBS", "EC2",
            "EFS", "FSx", "Neptune", "RDS", "Redshift", "S3", "SAP HANA on Amazon EC2",
            "Storage Gateway", "Timestream", "VirtualMachine")}
        self.management = {"DynamoDB": False, "EFS": True}
        # (operation, IdempotencyToken) -> (the request without it, the answer)
        self.started: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}

    # -- vaults -----------------------------------------------------------
    def vault(self, name: str):
        vault = self.backend.vaults.get(name)
        if vault is None:
            raise ResourceNotFoundException(msg=f"Backup vault {name} not found")
        return vault

    def points_in_vault(self, name: str) -> list[RecoveryPoint]:
        self.refresh()
        return [rp for rp in self.recovery_points.values() if rp.vault_name == name]

    def count_points(self, name: str) -> int:
        return len(self.points_in_vault(name))

    def refresh(self) -> None:
        """Let jobs whose time has come end (time and immediate modes)."""
        for jobs in (self.backup_jobs, self.restore_jobs, self.copy_jobs):
            for job in list(jobs.values()):
                job.state  # noqa: B018 - property with side effects
        for job in list(self.incoming):
            job.state  # noqa: B018

    # -- selections -------------------------------------------------------
    def plan(self, plan_id: str):
        plan = self.backend.plans.get(plan_id)
        if plan is None or plan.deletion_date is not None:
            raise ResourceNotFoundException(msg=f"Backup plan {plan_id} not found")
        return plan

    def create_selection(self, plan_id, selection, request_id) -> Selection:
        self.plan(plan_id)
        if not selection or not selection.get("SelectionName") or not selection.get("IamRoleArn"):
            raise InvalidParameterValueException(
                msg="BackupSelection must have SelectionName and IamRoleArn"
            )
        with LOCK:
            on_plan = [s for s in self.selections.values() if s.plan_id == plan_id]
            if any(s.selection.get("SelectionName") == selection["SelectionName"] for s in on_plan):
                raise _already_exists(selection["SelectionName"])
            quotas.check(self.account_id, "selections_per_plan", len(on_plan), f"backup plan {plan_id}")
            sel = Selection(plan_id, selection, request_id)
            self.selections[sel.selection_id] = sel
            return sel

    def get_selection(self, plan_id, selection_id) -> Selection:
        sel = self.selections.get(selection_id)
        if sel is None or sel.plan_id != plan_id:
            raise ResourceNotFoundException(msg=f"Backup selection {selection_id} not found")
        return sel

    def delete_selection(self, plan_id, selection_id) -> None:
        self.get_selection(plan_id, selection_id)
        del self.selections[selection_id]

    # -- idempotency tokens -----------------------------------------------
    def start_once(self, operation: str, request: dict[str, Any],
                   start: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """A Start*Job call. Repeated with the same IdempotencyToken (in this
        account and region) it answers what the first call answered and starts
        nothing; the same token with other parameters is refused."""
        request = dict(request)
        token = request.pop("IdempotencyToken", None)
        if not token:
            return start(request)
        with LOCK:
            seen = self.started.get((operation, token))
            if seen is None:
                answer = start(request)
                self.started[(operation, token)] = (request, answer)
                return answer
            if seen[0] != request:
                raise InvalidRequestException(
                    msg=f"IdempotencyToken {token} was already used for a {operation} "
                    "request with different parameters"
                )
            return seen[1]

    # -- backup jobs ------------------------------------------------------
    def start_backup_job(self, vault_name, resource_arn, iam_role_arn, lifecycle_cfg,
                         created_by=None, tags=None) -> BackupJob:
        vault = self.vault(vault_name)
        if not iam_role_arn:
            raise InvalidParameterValueException(msg="IamRoleArn is required")
        arn = parse_arn(resource_arn or "")
        if arn["service"] != "dynamodb" or not arn["resource"].startswith("table/"):
            raise InvalidParameterValueException(
                msg=f"Invalid resource ARN {resource_arn}: this emulator backs up DynamoDB tables only"
            )
        if arn["region"] != self.region_name or arn["account"] != self.account_id:
            raise InvalidParameterValueException(
                msg=f"Resource {resource_arn} is not in this account and region"
            )
        table_name = arn["resource"].split("/", 2)[1]
        ddb = dynamodb_backends[self.account_id][self.region_name]
        if table_name not in ddb.tables:
            raise InvalidParameterValueException(
                msg=f"Resource {resource_arn} does not exist"
            )
        backup = ddb.create_backup(table_name, f"awsbackup-{mock_random.get_random_hex(8)}")
        backup.type = "AWS_BACKUP"
        omitted = faults.SNAPSHOT_OMISSIONS.take(self.account_id, resource_arn)
        _leave_out(backup.table, omitted)
        cut = None
        history = pitr.history_of(ddb.tables[table_name])
        rule = pitr.CUT_RULES.find(self.account_id, table_name) if history is not None else None
        if rule is not None:
            cut = pitr.Cut(history, rule, after=lambda table: _leave_out(table, omitted))
            pitr.PENDING[backup.arn] = cut
        if self.management.get("DynamoDB"):
            rp_arn = recovery_point_arn(self.region_name, self.account_id)
        else:
            rp_arn = backup.arn
        job = BackupJob(self, vault, resource_arn, iam_role_arn, lifecycle_cfg,
                        rp_arn, backup.arn, created_by, _recovery_point_tags(ddb, resource_arn, tags),
                        cut=cut)
        self.backup_jobs[job.job_id] = job
        faults.JOB_FAILURES.apply(job, {"resource_arn": resource_arn})
        self.notify(vault_name, "BACKUP_JOB_STARTED", job, "RUNNING")
        job.state  # noqa: B018 - immediate mode ends here
        return job

    def backup_job(self, job_id) -> BackupJob:
        job = self.backup_jobs.get(job_id) or self.backup_jobs.get(job_id.upper())
        if job is None:
            raise ResourceNotFoundException(msg=f"Backup job {job_id} not found")
        return job

    # -- recovery points --------------------------------------------------
    def recovery_point(self, arn: str, vault_name: str | None = None) -> RecoveryPoint:
        self.refresh()
        rp = self.recovery_points.get(arn)
        if rp is None or (vault_name and rp.vault_name != vault_name):
            raise ResourceNotFoundException(msg=f"Recovery point {arn} not found")
        return rp

    def delete_recovery_point(self, vault_name, arn) -> None:
        rp = self.recovery_point(arn, vault_name)
        ddb = dynamodb_backends[self.account_id][self.region_name]
        ddb.backups.pop(rp.ddb_backup_arn, None)
        pitr.PENDING.pop(rp.ddb_backup_arn, None)
        del self.recovery_points[arn]

    # -- restore jobs -----------------------------------------------------
    def start_restore_job(self, rp_arn, metadata, iam_role_arn, resource_type) -> RestoreJob:
        rp = self.recovery_point(rp_arn)
        if resource_type and resource_type != DDB_RESOURCE_TYPE:
            raise InvalidParameterValueException(
                msg=f"Unsupported resource type {resource_type}; this emulator restores DynamoDB"
            )
        target = (metadata or {}).get("targetTableName")
        if not target:
            raise InvalidParameterValueException(
                msg="Metadata must contain targetTableName for a DynamoDB restore"
            )
        with LOCK:  # the count and the new job's start, as one step
            running = self.running_restores()
            quotas.check(self.account_id, "concurrent_restores", running,
                         f"restore jobs of the account under way: {running}")
            job = RestoreJob(self, rp, target, iam_role_arn, metadata)
            self.restore_jobs[job.job_id] = job
            overlap.RESTORES.started(self.account_id)
        faults.JOB_FAILURES.apply(job, {"target_table": target, "resource_arn": rp.resource_arn})
        self.notify(rp.vault_name, "RESTORE_JOB_STARTED", job, "RUNNING")
        job.state  # noqa: B018
        return job

    def running_restores(self) -> int:
        """The account's restore jobs running now, in every Region. Jobs end
        lazily (time mode: when a call reads them), so first let those whose
        time has come end: an ended job frees its slot."""
        for state in _peer_extensions(self.account_id):
            for job in list(state.restore_jobs.values()):
                job.state  # noqa: B018 - property with side effects
        return overlap.RESTORES.get(self.account_id)["running"]

    def restore_job(self, job_id) -> RestoreJob:
        job = self.restore_jobs.get(job_id) or self.restore_jobs.get(job_id.upper())
        if job is None:
            raise ResourceNotFoundException(msg=f"Restore job {job_id} not found")
        return job

    # -- copy jobs --------------------------------------------------------
    def start_copy_job(self, rp_arn, source_vault, dest_vault_arn, iam_role_arn,
                       lifecycle_cfg) -> CopyJob:
        self.vault(source_vault)
        rp = self.recovery_point(rp_arn, source_vault)
        dest = parse_arn(dest_vault_arn or "")
        if dest["service"] != "backup" or not dest["resource"].startswith("backup-vault:"):
            raise InvalidParameterValueException(msg=f"Invalid vault ARN {dest_vault_arn}")
        if not rp.arn.startswith("arn:aws:backup:"):
            raise InvalidRequestException(
                msg="Copying this DynamoDB recovery point requires AWS Backup's advanced "
                "features for Amazon DynamoDB (UpdateRegionSettings "
                "ResourceTypeManagementPreference DynamoDB=true before the backup)"
            )
        source_partition = self.backend.vaults[source_vault].backup_vault_arn.split(":")[1]
        if dest["partition"] != source_partition:
            raise InvalidParameterValueException(
                msg=f"Invalid vault ARN {dest_vault_arn}: a copy stays within partition {source_partition}"
            )
        if not dest["account"].isdigit() or len(dest["account"]) != 12:
            raise InvalidParameterValueException(msg=f"Invalid vault ARN {dest_vault_arn}")
        try:
            dest_backend = backend_for(dest["account"], dest["region"])
        except KeyError as err:
            raise InvalidParameterValueException(
                msg=f"Invalid vault ARN {dest_vault_arn}: no Region {dest['region']}"
            ) from err
        dest_ext = ext(dest_backend)
        dest_vault = dest_ext.vault(dest["resource"].split(":", 1)[1])
        job = CopyJob(self, rp, dest_vault, dest_ext, iam_role_arn, lifecycle_cfg)
        self.copy_jobs[job.job_id] = job
        faults.JOB_FAILURES.apply(job, {"resource_arn": rp.resource_arn})
        self.notify(source_vault, "COPY_JOB_STARTED", job, "RUNNING")
        job.state  # noqa: B018
        return job

    def copy_job(self, job_id) -> CopyJob:
        job = self.copy_jobs.get(job_id) or self.copy_jobs.get(job_id.upper())
        if job is None:
            raise ResourceNotFoundException(msg=f"Copy job {job_id} not found")
        return job

    # -- notifications ----------------------------------------------------
    def put_notifications(self, vault_name, topic_arn, events) -> None:
        self.vault(vault_name)
        if not topic_arn or not events:
            raise InvalidParameterValueException(
                msg="SNSTopicArn and BackupVaultEvents are required"
            )
        self.notifications[vault_name] = {
            "SNSTopicArn": topic_arn,
            "BackupVaultEvents": list(events),
        }

    def get_notifications(self, vault_name) -> dict[str, Any]:
        vault = self.vault(vault_name)
        conf = self.notifications.get(vault_name)
        if conf is None:
            raise ResourceNotFoundException(
                msg=f"Backup vault {vault_name} has no notification configuration"
            )
        return {
            "BackupVaultName": vault_name,
            "BackupVaultArn": vault.backup_vault_arn,
            **conf,
        }

    def delete_notifications(self, vault_name) -> None:
        self.vault(vault_name)
        self.notifications.pop(vault_name, None)

    def notify(self, vault_name: str, event: str, job: Job, state: str) -> None:
        conf = self.notifications.get(vault_name)
        if not conf or event not in conf["BackupVaultEvents"]:
            return
        from moto.sns.models import sns_backends

        topic_arn = conf["SNSTopicArn"]
        topic = parse_arn(topic_arn)
        try:
            sns = sns_backends[topic["account"]][topic["region"]]
            details = job.describe(state)
            ident = {"backup": "BackupJobId", "restore": "RestoreJobId", "copy": "CopyJobId"}[job.kind]
            message = (
                f"An AWS Backup {job.kind} job {details.get(ident)} is {state}. "
                f"Vault: {vault_name}. "
                + (f"Status message: {job.status_message}. " if job.status_message else "")
            )
            # moto's SNS backend takes attributes as {Type, Value}
            attributes = {
                name: {"Type": "String", "Value": value}
                for name, value in (("EventType", event), ("State", state),
                                    ("AccountId", job.account), ("Id", job.job_id))
            }
            sns.publish(
                message=message + "\n" + _json(details),
                arn=topic_arn,
                subject="Notification from AWS Backup",
                message_attributes=attributes,
            )
        except Exception:  # a missing topic must not break the job
            pass

    def notify_job_end(self, job: Job, state: str) -> None:
        if job.kind == "backup":
            vault = job.vault.backup_vault_name
            events = ["BACKUP_JOB_COMPLETED"] + (["BACKUP_JOB_FAILED"] if state == "FAILED" else [])
        elif job.kind == "restore":
            vault = job.recovery_point.vault_name
            events = ["RESTORE_JOB_COMPLETED"] + (["RESTORE_JOB_FAILED"] if state == "FAILED" else [])
        else:
            vault = job.recovery_point.vault_name
            events = ["COPY_JOB_SUCCESSFUL"] if state == "COMPLETED" else ["COPY_JOB_FAILED"]
        for event in events:
            self.notify(vault, event, job, state)

    # -- region settings --------------------------------------------------
    def region_settings(self) -> dict[str, Any]:
        return {
            "ResourceTypeOptInPreference": dict(self.opt_in),
            "ResourceTypeManagementPreference": dict(self.management),
        }

    def update_region_settings(self, opt_in, management) -> None:
        if opt_in:
            self.opt_in.update({k: bool(v) for k, v in opt_in.items()})
        if management:
            for key, value in management.items():
                if key not in ("DynamoDB", "EFS"):
                    raise InvalidParameterValueException(
                        msg=f"Unsupported resource type {key} in ResourceTypeManagementPreference"
                    )
                self.management[key] = bool(value)


def _leave_out(table: Any, prefixes: list[str]) -> None:
    """Drops from a backup's copy of a table the items whose key starts with
    one of ``prefixes`` (see faults.SnapshotOmissions)."""
    if not prefixes:
        return
    keys = [name for name in (table.hash_key_attr, table.range_key_attr) if name]
    for item in table.all_items():
        if faults.key_starts_with(item, keys, prefixes):
            table.delete_item(item.hash_key, item.range_key)


def _already_exists(name: str):
    from moto.backup.exceptions import AlreadyExistsException

    return AlreadyExistsException(msg=f"Backup selection with name {name} already exists")


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str, sort_keys=True)


def _peer_extensions(account: str) -> list[BackupExtension]:
    """Extensions of other regions of the same account that exist already."""
    out = []
    try:
        regions = backup_backends[account]
    except KeyError:
        return out
    for region in list(regions.keys()):
        backend = regions[region]
        state = backend.__dict__.get("_drctl")
        if state is not None:
            out.append(state)
    return out

