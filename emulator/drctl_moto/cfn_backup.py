"""CloudFormation types AWS::Backup::BackupVault, BackupPlan and
BackupSelection, creating the real objects in moto's Backup backend."""

from __future__ import annotations

from typing import Any

from moto.backup.models import Plan, backup_backends
from moto.core.common_models import CloudFormationModel

from . import backup_models as bm
from .cfn_common import ResourceFailed, as_bool, as_int, check_failure, props, tag_dict

VAULT = "AWS::Backup::BackupVault"
PLAN = "AWS::Backup::BackupPlan"
SELECTION = "AWS::Backup::BackupSelection"


def _backend(account_id: str, region_name: str):
    return backup_backends[account_id][region_name]


# ---------------------------------------------------------------------------
class BackupVaultResource(CloudFormationModel):
    def __init__(self, name: str, account_id: str, region_name: str):
        self.name = name
        self.account_id = account_id
        self.region_name = region_name

    @property
    def vault(self):
        return _backend(self.account_id, self.region_name).vaults.get(self.name)

    @property
    def arn(self) -> str:
        return f"arn:aws:backup:{self.region_name}:{self.account_id}:backup-vault:{self.name}"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "BackupVaultName"

    @staticmethod
    def cloudformation_type() -> str:
        return VAULT

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("BackupVaultName", "BackupVaultArn")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "BackupVaultName":
            return self.name
        if attribute_name == "BackupVaultArn":
            return self.arn
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):
        p = props(cloudformation_json)
        check_failure(account_id, VAULT, "create", resource_name, kwargs.get("LogicalId"))
        backend = _backend(account_id, region_name)
        if resource_name in backend.vaults:
            raise ResourceFailed(f"Backup vault with the same name already exists: {resource_name}")
        with bm.LOCK:  # the vault quota fails the resource; the stack rolls back
            bm.check_vault_quota(backend, resource_name)
            backend.create_backup_vault(
                backup_vault_name=resource_name,
                backup_vault_tags=tag_dict(p.get("BackupVaultTags")),
                encryption_key_arn=p.get("EncryptionKeyArn"),
                creator_request_id=None,
            )
        resource = cls(resource_name, account_id, region_name)
        resource._apply(p, {})
        resource._props = p
        return resource

    def _apply(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        backend = _backend(self.account_id, self.region_name)
        ext = bm.ext(backend)
        lock = new.get("LockConfiguration")
        if lock and lock != old.get("LockConfiguration"):
            backend.put_backup_vault_lock_configuration(
                self.name,
                as_int(lock.get("MinRetentionDays")),
                as_int(lock.get("MaxRetentionDays")),
                as_int(lock.get("ChangeableForDays")),
            )
        elif not lock and old.get("LockConfiguration"):
            backend.delete_backup_vault_lock_configuration(self.name)
        notes = new.get("Notifications")
        if notes:
            ext.put_notifications(self.name, notes.get("SNSTopicArn"), notes.get("BackupVaultEvents"))
        elif old.get("Notifications"):
            ext.delete_notifications(self.name)
        # AccessPolicy (a JSON object): GetBackupVaultAccessPolicy answers it,
        # and a cross-account copy into the vault needs it.
        bm.set_access_policy(self.vault, new.get("AccessPolicy"))
        new_tags = tag_dict(new.get("BackupVaultTags"))
        old_tags = tag_dict(old.get("BackupVaultTags"))
        gone = [k for k in old_tags if k not in new_tags]
        if gone:
            backend.untag_resource(self.arn, gone)
        if new_tags:
            backend.tag_resource(self.arn, new_tags)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name,
                                        cloudformation_json, account_id, region_name):
        new = props(cloudformation_json)
        old = getattr(original_resource, "_props", None) or {}
        explicit = new.get("BackupVaultName")
        name = explicit or original_resource.name
        replace = (explicit and explicit != original_resource.name) or (
            new.get("EncryptionKeyArn") != old.get("EncryptionKeyArn")
        )
        if replace:
            if name == original_resource.name:
                raise ResourceFailed(
                    "CloudFormation cannot update a stack when a custom-named resource requires "
                    f"replacing. Rename {name} and update the stack again."
                )
            resource = cls.create_from_cloudformation_json(
                name, cloudformation_json, account_id, region_name
            )
            if cloudformation_json.get("UpdateReplacePolicy") != "Retain":
                original_resource.delete(account_id, region_name)
            resource._props = new
            return resource
        check_failure(account_id, VAULT, "update", name)
        original_resource._apply(new, old)
        original_resource._props = new
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        ext = bm.ext(backend)
        if self.name not in backend.vaults:
            return
        if ext.count_points(self.name):
            raise ResourceFailed(
                f"Backup vault {self.name} cannot be deleted because it contains recovery points"
            )
        ext.notifications.pop(self.name, None)
        backend.delete_backup_vault(self.name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):
        cls(resource_name, account_id, region_name).delete(account_id, region_name)


def _remember_props(resource: Any, cloudformation_json: dict[str, Any]) -> Any:
    resource._props = props(cloudformation_json)
    return resource


# ---------------------------------------------------------------------------
RULE_INT_FIELDS = ("StartWindowMinutes", "CompletionWindowMinutes")


def _lifecycle(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return None
    out = {}
    for key, val in value.items():
        out[key] = as_bool(val) if key == "OptInToArchiveForSupportedResources" else as_int(val)
    return out


def plan_document(cfn_plan: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's BackupPlan property -> the Backup API's plan document."""
    rules = []
    for rule in cfn_plan.get("BackupPlanRule") or []:
        out = {k: v for k, v in rule.items() if v is not None}
        if "TargetBackupVault" in out:  # the one name CloudFormation spells differently
            out["TargetBackupVaultName"] = out.pop("TargetBackupVault")
        for field in RULE_INT_FIELDS:
            if field in out:
                out[field] = as_int(out[field])
        if "Lifecycle" in out:
            out["Lifecycle"] = _lifecycle(out["Lifecycle"])
        if "CopyActions" in out:
            out["CopyActions"] = [
                {k: (_lifecycle(v) if k == "Lifecycle" else v) for k, v in action.items()}
                for action in out["CopyActions"]
            ]
        if "EnableContinuousBackup" in out:
            out["EnableContinuousBackup"] = as_bool(out["EnableContinuousBackup"])
        rules.append(out)
    document = {"BackupPlanName": cfn_plan.get("BackupPlanName"), "Rules": rules}
    if cfn_plan.get("AdvancedBackupSettings"):
        document["AdvancedBackupSettings"] = cfn_plan["AdvancedBackupSettings"]
    return document


class BackupPlanResource(CloudFormationModel):
    def __init__(self, plan_id: str, account_id: str, region_name: str):
        self.plan_id = plan_id
        self.account_id = account_id
        self.region_name = region_name

    @property
    def plan(self):
        return _backend(self.account_id, self.region_name).plans[self.plan_id]

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return PLAN

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("BackupPlanId", "BackupPlanArn", "VersionId")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        plan = self.plan
        if attribute_name == "BackupPlanId":
            return plan.backup_plan_id
        if attribute_name == "BackupPlanArn":
            return plan.backup_plan_arn
        if attribute_name == "VersionId":
            return plan.version_id
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.plan_id

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):
        p = props(cloudformation_json)
        document = plan_document(p.get("BackupPlan") or {})
        check_failure(account_id, PLAN, "create", document.get("BackupPlanName"),
                      kwargs.get("LogicalId"))
        backend = _backend(account_id, region_name)
        try:
            with bm.LOCK:
                bm.check_plan_quota(backend, document.get("BackupPlanName"))
                plan = backend.create_backup_plan(document, tag_dict(p.get("BackupPlanTags")), None)
        except Exception as err:  # e.g. AlreadyExists, LimitExceeded
            raise ResourceFailed(str(getattr(err, "message", err))) from err
        return _remember_props(cls(plan.backup_plan_id, account_id, region_name), cloudformation_json)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name,
                                        cloudformation_json, account_id, region_name):
        p = props(cloudformation_json)
        document = plan_document(p.get("BackupPlan") or {})
        check_failure(account_id, PLAN, "update", document.get("BackupPlanName"))
        backend = _backend(account_id, region_name)
        plan = original_resource.plan
        fresh = Plan(backup_plan=document, creator_request_id=plan.creator_request_id, backend=backend)
        plan.backup_plan = fresh.backup_plan
        plan.version_id = fresh.version_id
        plan.advanced_backup_settings = fresh.advanced_backup_settings
        old_tags = tag_dict((getattr(original_resource, "_props", None) or {}).get("BackupPlanTags"))
        new_tags = tag_dict(p.get("BackupPlanTags"))
        gone = [k for k in old_tags if k not in new_tags]
        if gone:
            backend.untag_resource(plan.backup_plan_arn, gone)
        if new_tags:
            backend.tag_resource(plan.backup_plan_arn, new_tags)
        return _remember_props(original_resource, cloudformation_json)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        plan = backend.plans.get(self.plan_id)
        if plan is None or plan.deletion_date is not None:
            return
        ext = bm.ext(backend)
        if any(s.plan_id == self.plan_id for s in ext.selections.values()):
            raise ResourceFailed(
                f"Backup plan {self.plan_id} cannot be deleted while it has backup selections"
            )
        backend.delete_backup_plan(self.plan_id)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):
        cls(resource_name, account_id, region_name).delete(account_id, region_name)


# ---------------------------------------------------------------------------
class BackupSelectionResource(CloudFormationModel):
    def __init__(self, selection_id: str, plan_id: str, account_id: str, region_name: str):
        self.selection_id = selection_id
        self.plan_id = plan_id
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return SELECTION

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("SelectionId", "BackupPlanId", "Id")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name in ("SelectionId", "Id"):
            return self.selection_id
        if attribute_name == "BackupPlanId":
            return self.plan_id
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.selection_id

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):
        p = props(cloudformation_json)
        selection = dict(p.get("BackupSelection") or {})
        check_failure(account_id, SELECTION, "create", selection.get("SelectionName"),
                      kwargs.get("LogicalId"))
        ext = bm.ext(_backend(account_id, region_name))
        try:
            sel = ext.create_selection(p.get("BackupPlanId"), selection, None)
        except Exception as err:
            raise ResourceFailed(str(getattr(err, "message", err))) from err
        return cls(sel.selection_id, sel.plan_id, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name,
                                        cloudformation_json, account_id, region_name):
        # Every property of a selection is create-only: replace it.
        resource = cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )
        original_resource.delete(account_id, region_name)
        return resource

    def delete(self, account_id: str, region_name: str) -> None:
        ext = bm.ext(_backend(account_id, region_name))
        ext.selections.pop(self.selection_id, None)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):
        ext = bm.ext(_backend(account_id, region_name))
        ext.selections.pop(resource_name, None)
