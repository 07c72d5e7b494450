"""AWS Backup API operations moto lacks, as handlers of a BackupResponse
subclass, plus the routes (paths as in botocore's service model for backup)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import moto.backup.urls as backup_urls
from moto.backup.responses import BackupResponse

from . import backup_models as bm


def _ok(payload: Any) -> tuple[int, dict[str, str], str]:
    return 200, {"Content-Type": "application/json"}, json.dumps(payload)


class DrctlBackupResponse(BackupResponse):
    @property
    def ext(self) -> bm.BackupExtension:
        return bm.ext(self.backup_backend)

    def _body(self) -> dict[str, Any]:
        return json.loads(self.body) if self.body else {}

    def _q(self, name: str) -> str | None:
        value = self.querystring.get(name)
        return value[0] if value else None

    def _segment(self, after: str) -> str:
        """The (decoded) path segment after ``after``."""
        tail = self.path.split(f"/{after}/", 1)[1]
        return unquote(tail.split("/", 1)[0])

    # -- vaults (real recovery-point counts) and plans, within their quotas -
    def create_backup_vault(self) -> str:  # type: ignore[override]
        name = unquote(self.path.rstrip("/").split("/")[-1])
        with bm.LOCK:
            bm.check_vault_quota(self.backup_backend, name)
            return super().create_backup_vault()

    def create_backup_plan(self) -> str:  # type: ignore[override]
        name = (self._body().get("BackupPlan") or {}).get("BackupPlanName")
        with bm.LOCK:
            bm.check_plan_quota(self.backup_backend, name)
            return super().create_backup_plan()

    def describe_backup_vault(self) -> str:  # type: ignore[override]
        name = unquote(self.path.rstrip("/").split("/")[-1])
        vault = self.backup_backend.describe_backup_vault(name)
        out = vault.to_list_dict()
        out["NumberOfRecoveryPoints"] = self.ext.count_points(name)
        out["VaultType"] = "BACKUP_VAULT"
        out["VaultState"] = "AVAILABLE"
        out["Locked"] = bool(vault.locked)
        return _ok(out)

    def list_backup_vaults(self) -> str:  # type: ignore[override]
        out = []
        for vault in self.backup_backend.list_backup_vaults():
            item = vault.to_list_dict()
            item["NumberOfRecoveryPoints"] = self.ext.count_points(vault.backup_vault_name)
            item["VaultType"] = "BACKUP_VAULT"
            item["VaultState"] = "AVAILABLE"
            out.append(item)
        return _ok({"BackupVaultList": out})

    def delete_backup_vault(self):  # type: ignore[override]
        name = unquote(self.path.rstrip("/").split("/")[-1])
        self.ext.vault(name)
        if self.ext.count_points(name):
            raise bm.InvalidRequestException(
                msg=f"Backup vault {name} cannot be deleted because it contains recovery points"
            )
        self.ext.notifications.pop(name, None)
        return super().delete_backup_vault()

    # -- selections -----------------------------------------------------------
    def create_backup_selection(self) -> str:
        plan_id = self._segment("plans")
        body = self._body()
        sel = self.ext.create_selection(
            plan_id, body.get("BackupSelection"), body.get("CreatorRequestId")
        )
        return _ok(
            {"SelectionId": sel.selection_id, "BackupPlanId": plan_id, "CreationDate": sel.creation_date}
        )

    def get_backup_selection(self) -> str:
        plan_id = self._segment("plans")
        sel = self.ext.get_selection(plan_id, self._segment("selections"))
        return _ok(sel.to_get_dict())

    def list_backup_selections(self) -> str:
        plan_id = self._segment("plans")
        self.ext.plan(plan_id)
        items = [s.to_list_dict() for s in self.ext.selections.values() if s.plan_id == plan_id]
        return _ok({"BackupSelectionsList": items})

    def delete_backup_selection(self) -> str:
        self.ext.delete_selection(self._segment("plans"), self._segment("selections"))
        return _ok({})

    # -- backup jobs ----------------------------------------------------------
    def start_backup_job(self) -> str:
        return _ok(self.ext.start_once("StartBackupJob", self._body(), self._start_backup_job))

    def _start_backup_job(self, body: dict[str, Any]) -> dict[str, Any]:
        job = self.ext.start_backup_job(
            vault_name=body.get("BackupVaultName"),
            resource_arn=body.get("ResourceArn"),
            iam_role_arn=body.get("IamRoleArn"),
            lifecycle_cfg=body.get("Lifecycle"),
            tags=body.get("RecoveryPointTags"),
        )
        return {
            "BackupJobId": job.job_id,
            "RecoveryPointArn": job.recovery_point_arn,
            "CreationDate": job.creation_date,
            "IsParent": False,
        }

    def describe_backup_job(self) -> str:
        job = self.ext.backup_job(self._segment("backup-jobs"))
        return _ok(job.describe(job.observe()))

    def list_backup_jobs(self) -> str:
        vault = self._q("backupVaultName")
        resource = self._q("resourceArn")
        state = self._q("state")
        out = []
        for job in self.ext.backup_jobs.values():
            current = job.state
            if vault and job.vault.backup_vault_name != vault:
                continue
            if resource and job.resource_arn != resource:
                continue
            if state and current != state:
                continue
            out.append(job.describe(current))
        return _ok({"BackupJobs": out})

    # -- recovery points ------------------------------------------------------
    def list_recovery_points_by_backup_vault(self) -> str:
        name = self._segment("backup-vaults")
        self.ext.vault(name)
        resource = self._q("resourceArn")
        points = [
            rp.by_vault()
            for rp in self.ext.points_in_vault(name)
            if not resource or rp.resource_arn == resource
        ]
        return _ok({"RecoveryPoints": points})

    def list_recovery_points_by_resource(self) -> str:
        resource = unquote(self.path.split("/resources/", 1)[1].rsplit("/recovery-points", 1)[0])
        self.ext.refresh()
        points = [rp.by_resource() for rp in self.ext.recovery_points.values() if rp.resource_arn == resource]
        return _ok({"RecoveryPoints": points})

    def list_tags(self) -> str:
        """ListTags reads the ARN after /tags/ with or without a trailing
        slash (moto takes the second-to-last segment: the SDK for Rust
        sends none)."""
        arn = unquote(self.path.split("?", 1)[0].split("/tags/", 1)[1]).rstrip("/")
        return json.dumps({"Tags": self.backup_backend.list_tags(resource_arn=arn)})

    def _recovery_point_from_path(self) -> tuple[str, str]:
        name = self._segment("backup-vaults")
        arn = unquote(self.path.split("/recovery-points/", 1)[1]).rstrip("/")
        return name, arn

    def describe_recovery_point(self) -> str:
        name, arn = self._recovery_point_from_path()
        self.ext.vault(name)
        return _ok(self.ext.recovery_point(arn, name).describe())

    def delete_recovery_point(self) -> str:
        name, arn = self._recovery_point_from_path()
        self.ext.vault(name)
        self.ext.delete_recovery_point(name, arn)
        return _ok({})

    # -- restore jobs ---------------------------------------------------------
    def start_restore_job(self) -> str:
        return _ok(self.ext.start_once("StartRestoreJob", self._body(), self._start_restore_job))

    def _start_restore_job(self, body: dict[str, Any]) -> dict[str, Any]:
        job = self.ext.start_restore_job(
            rp_arn=body.get("RecoveryPointArn"),
            metadata=body.get("Metadata"),
            iam_role_arn=body.get("IamRoleArn"),
            resource_type=body.get("ResourceType"),
        )
        return {"RestoreJobId": job.job_id}

    def describe_restore_job(self) -> str:
        job = self.ext.restore_job(self._segment("restore-jobs"))
        return _ok(job.describe(job.observe()))

    def list_restore_jobs(self) -> str:
        status = self._q("status")
        out = []
        for job in self.ext.restore_jobs.values():
            current = job.state
            if status and current != status:
                continue
            out.append(job.describe(current))
        return _ok({"RestoreJobs": out})

    # -- copy jobs ------------------------------------------------------------
    def start_copy_job(self) -> str:
        return _ok(self.ext.start_once("StartCopyJob", self._body(), self._start_copy_job))

    def _start_copy_job(self, body: dict[str, Any]) -> dict[str, Any]:
        job = self.ext.start_copy_job(
            rp_arn=body.get("RecoveryPointArn"),
            source_vault=body.get("SourceBackupVaultName"),
            dest_vault_arn=body.get("DestinationBackupVaultArn"),
            iam_role_arn=body.get("IamRoleArn"),
            lifecycle_cfg=body.get("Lifecycle"),
        )
        return {"CopyJobId": job.job_id, "CreationDate": job.creation_date, "IsParent": False}

    def describe_copy_job(self) -> str:
        job = self.ext.copy_job(self._segment("copy-jobs"))
        return _ok({"CopyJob": job.describe(job.observe())})

    def list_copy_jobs(self) -> str:
        state = self._q("state")
        resource = self._q("resourceArn")
        dest = self._q("destinationVaultArn")
        out = []
        for job in self.ext.copy_jobs.values():
            current = job.state
            if state and current != state:
                continue
            if resource and job.recovery_point.resource_arn != resource:
                continue
            if dest and job.dest_vault.backup_vault_arn != dest:
                continue
            out.append(job.describe(current))
        return _ok({"CopyJobs": out})

    # -- notifications --------------------------------------------------------
    def put_backup_vault_notifications(self) -> str:
        body = self._body()
        self.ext.put_notifications(
            self._segment("backup-vaults"), body.get("SNSTopicArn"), body.get("BackupVaultEvents")
        )
        return _ok({})

    def get_backup_vault_notifications(self) -> str:
        return _ok(self.ext.get_notifications(self._segment("backup-vaults")))

    def delete_backup_vault_notifications(self) -> str:
        self.ext.delete_notifications(self._segment("backup-vaults"))
        return _ok({})

    # -- vault access policies (moto has none) --------------------------------
    def put_backup_vault_access_policy(self) -> str:
        vault = self.ext.vault(self._segment("backup-vaults"))
        policy = self._body().get("Policy")
        if not policy:
            raise bm.MissingParameterValueException("Policy is required")
        bm.set_access_policy(vault, policy)
        return _ok({})

    def get_backup_vault_access_policy(self) -> str:
        vault = self.ext.vault(self._segment("backup-vaults"))
        policy = bm.access_policy(vault)
        if policy is None:
            # AWS's answer for a vault without one.
            raise bm.ResourceNotFoundException(msg=f"Backup Vault {vault.backup_vault_arn} has no associated POLICY")
        return _ok({"BackupVaultName": vault.backup_vault_name, "BackupVaultArn": vault.backup_vault_arn,
                    "Policy": policy})

    def delete_backup_vault_access_policy(self) -> str:
        vault = self.ext.vault(self._segment("backup-vaults"))
        bm.set_access_policy(vault, None)
        return _ok({})

    # -- global settings (one organization per emulator) ----------------------
    def describe_global_settings(self) -> str:
        return _ok(bm.GLOBAL_SETTINGS.describe())

    def update_global_settings(self) -> str:
        bm.GLOBAL_SETTINGS.update(self.current_account, self._body().get("GlobalSettings"))
        return _ok({})

    # -- region settings ------------------------------------------------------
    def describe_region_settings(self) -> str:
        return _ok(self.ext.region_settings())

    def update_region_settings(self) -> str:
        body = self._body()
        self.ext.update_region_settings(
            body.get("ResourceTypeOptInPreference"), body.get("ResourceTypeManagementPreference")
        )
        return _ok({})


# Each path is registered with and without its trailing slash (werkzeug
# matches a trailing slash only when the rule has one).
NEW_PATHS = [
    "{0}/backup/plans/(?P<plan>[^/]+)/selections",
    "{0}/backup/plans/(?P<plan>[^/]+)/selections/(?P<selection>[^/]+)",
    "{0}/backup-jobs",
    "{0}/backup-jobs/(?P<job>[^/]+)",
    "{0}/restore-jobs",
    "{0}/restore-jobs/(?P<job>[^/]+)",
    "{0}/copy-jobs",
    "{0}/copy-jobs/(?P<job>[^/]+)",
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points",
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<arn>.+)",
    "{0}/backup-vaults/(?P<name>[^/]+)/notification-configuration",
    "{0}/backup-vaults/(?P<name>[^/]+)/access-policy",
    "{0}/global-settings",
    "{0}/resources/(?P<arn>.+)/recovery-points",
    "{0}/account-settings",
    "{0}/backup/plans/(?P<plan>[^/]+)",
    "{0}/backup-vaults/(?P<name>[^/]+)",
]


def install_routes() -> None:
    """Send every Backup route (moto's and ours) to the extended handler."""
    paths = backup_urls.url_paths
    for key in list(paths):
        paths[key] = DrctlBackupResponse.dispatch
    for key in NEW_PATHS:
        paths[key + "$"] = DrctlBackupResponse.dispatch
        paths[key + "/$"] = DrctlBackupResponse.dispatch
