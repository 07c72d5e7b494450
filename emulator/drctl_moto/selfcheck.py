"""Start-up check: every moto internal the extension relies on is there, and
moto is exactly the version the extension was written against.

Run on its own with ``python -m drctl_moto.selfcheck`` (from emulator/).
"""

from __future__ import annotations

import importlib
import inspect
import sys

KNOWN_MOTO_VERSION = "5.2.5"

# (module, attribute path) pairs that the extension reads, wraps or replaces.
REQUIRED = [
    ("moto.backup.models", "BackupBackend"),
    ("moto.backup.models", "backup_backends"),
    ("moto.backup.models", "Plan"),
    ("moto.backup.models", "Vault"),
    ("moto.backup.responses", "BackupResponse"),
    ("moto.backup.responses", "BackupResponse.backup_backend"),
    ("moto.backup.urls", "url_paths"),
    ("moto.backup.exceptions", "InvalidParameterValueException"),
    ("moto.backup.exceptions", "InvalidRequestException"),
    ("moto.backup.exceptions", "ResourceNotFoundException"),
    ("moto.backup.exceptions", "AlreadyExistsException"),
    ("moto.backup.exceptions", "BackupClientError"),
    ("moto.cloudformation.parsing", "get_model_list"),
    ("moto.cloudformation.parsing", "get_model_map"),
    ("moto.cloudformation.parsing", "get_name_type_map"),
    ("moto.cloudformation.parsing", "parse_and_create_resource"),
    ("moto.cloudformation.parsing", "parse_and_update_resource"),
    ("moto.cloudformation.parsing", "resource_class_from_type"),
    ("moto.cloudformation.parsing", "ResourceMap._delete_resource"),
    ("moto.cloudformation.parsing", "ResourceMap.update"),
    ("moto.cloudformation.parsing", "ResourceMap.delete"),
    ("moto.cloudformation.models", "Stack.create_resources"),
    ("moto.cloudformation.models", "Stack.update"),
    ("moto.cloudformation.models", "Stack._add_stack_event"),
    ("moto.cloudformation.models", "Stack._create_output_map"),
    ("moto.cloudformation.models", "ChangeSet.apply"),
    ("moto.cloudformation.models", "Change"),
    ("moto.cloudformation.models", "Event"),
    ("moto.cloudformation.models", "CloudFormationBackend.create_change_set"),
    ("moto.cloudformation.models", "CloudFormationBackend.execute_change_set"),
    ("moto.cloudformation.models", "CloudFormationBackend.update_stack"),
    ("moto.cloudformation.models", "CloudFormationBackend.delete_stack"),
    ("moto.cloudformation.models", "CloudFormationBackend._resolve_update_parameters"),
    ("moto.cloudformation.models", "cloudformation_backends"),
    ("moto.cloudformation.responses", "CloudFormationResponse.create_change_set"),
    ("moto.cloudformation.responses", "CloudFormationResponse.describe_change_set"),
    ("moto.cloudformation.responses", "CloudFormationResponse.delete_change_set"),
    ("moto.cloudformation.responses", "CloudFormationResponse.list_change_sets"),
    ("moto.cloudformation.responses", "CloudFormationResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER"),
    ("moto.cloudformation.responses", "transform_dict"),
    ("moto.cloudformation.utils", "generate_changeset_id"),
    ("moto.cloudformation.utils", "generate_stack_id"),
    ("moto.cloudformation.utils", "validate_create_change_set"),
    ("moto.core.common_models", "CloudFormationModel"),
    ("moto.core.responses", "BaseResponse.access_key_regex"),
    ("moto.core.routing", "get_service_router"),
    ("moto.core.request", "Request"),
    ("moto.dynamodb.models", "dynamodb_backends"),
    ("moto.dynamodb.models.table", "Table.create_from_cloudformation_json"),
    ("moto.dynamodb.models.table", "Backup"),
    ("moto.dynamodb.models.table", "RestoredTable"),
    ("moto.dynamodb.models.table", "Table.all_items"),
    ("moto.dynamodb.models.table", "Table.delete_item"),
    ("moto.dynamodb.models", "DynamoDBBackend.create_backup"),
    ("moto.dynamodb.models", "DynamoDBBackend.restore_table_from_backup"),
    ("moto.dynamodb.models", "DynamoDBBackend.update_table"),
    ("moto.dynamodb.models", "DynamoDBBackend.update_continuous_backups"),
    # pitr.py, exports.py, corruption.py (DynamoDB history, restores, exports)
    ("moto.dynamodb.models", "DynamoDBBackend.update_item"),
    ("moto.dynamodb.models", "DynamoDBBackend.transact_write_items"),
    ("moto.dynamodb.models", "DynamoDBBackend.describe_continuous_backups"),
    ("moto.dynamodb.models", "DynamoDBBackend.delete_table"),
    ("moto.dynamodb.models", "DynamoDBBackend.get_table"),
    ("moto.dynamodb.models", "DynamoDBBackend.get_keys_value"),
    ("moto.dynamodb.models", "DynamoDBBackend.get_backup"),
    ("moto.dynamodb.models.table", "Table.put_item"),
    ("moto.dynamodb.models.table", "Table.get_item"),
    ("moto.dynamodb.models.table", "RestoredPITTable._parse_params_from_table"),
    ("moto.dynamodb.models.dynamo_type", "DynamoType"),
    ("moto.dynamodb.models.dynamo_type", "Item.to_json"),
    ("moto.dynamodb.models.utilities", "dynamo_json_dump"),
    ("moto.dynamodb.responses", "DynamoHandler.restore_table_to_point_in_time"),
    ("moto.dynamodb.responses", "DynamoHandler.create_backup"),
    ("moto.dynamodb.responses", "DynamoHandler.export_table_to_point_in_time"),
    ("moto.dynamodb.responses", "DynamoHandler.describe_export"),
    ("moto.dynamodb.responses", "DynamoHandler.list_exports"),
    ("moto.dynamodb.responses", "DynamoHandler.dynamodb_backend"),
    ("moto.dynamodb.responses", "DynamoResult"),
    ("moto.dynamodb.exceptions", "ERROR_TYPE_PREFIX"),
    ("moto.dynamodb.exceptions", "MockValidationException"),
    ("moto.dynamodb.exceptions", "PointInTimeRecoveryUnavailable"),
    ("moto.dynamodb.exceptions", "SourceTableNotFoundException"),
    ("moto.dynamodb.exceptions", "TableAlreadyExistsException"),
    ("moto.dynamodb.exceptions", "TableNotFoundException"),
    ("moto.core.exceptions", "JsonRESTError"),
    ("moto.core.responses", "ActionResult"),
    ("moto.core.utils", "unix_time"),
    ("moto.moto_api._internal", "mock_random"),
    ("moto.utilities.utils", "get_partition"),
    # exports.py and cfn_s3.py (S3)
    ("moto.s3.models", "s3_backends"),
    ("moto.s3.models", "FakeBucket.get_permission"),
    ("moto.s3.models", "FakeBucket.has_cfn_attr"),
    ("moto.s3.models", "S3Backend.put_object"),
    ("moto.s3.models", "S3Backend.create_bucket"),
    ("moto.s3.models", "S3Backend.delete_bucket"),
    ("moto.s3.models", "S3Backend.put_bucket_encryption"),
    ("moto.s3.models", "S3Backend.delete_bucket_encryption"),
    ("moto.s3.models", "S3Backend.put_public_access_block"),
    ("moto.s3.models", "S3Backend.delete_public_access_block"),
    ("moto.s3.models", "S3Backend.put_bucket_lifecycle_configuration"),
    ("moto.s3.models", "S3Backend.delete_bucket_lifecycle"),
    ("moto.s3.models", "S3Backend.put_bucket_ownership_controls"),
    ("moto.s3.models", "S3Backend.delete_bucket_ownership_controls"),
    ("moto.s3.models", "S3Backend.put_bucket_tagging"),
    ("moto.s3.models", "S3Backend.delete_bucket_tagging"),
    ("moto.s3.models", "S3Backend.put_bucket_versioning"),
    ("moto.s3.models", "S3Backend.put_bucket_policy"),
    ("moto.s3.models", "S3Backend.delete_bucket_policy"),
    ("moto.s3.cloud_formation", "cfn_to_api_encryption"),
    ("moto.iam.access_control", "IAMPolicy"),
    ("moto.iam.access_control", "PermissionResult"),
    ("moto.cloudformation.parsing", "ResourceMap.build_resource_diff"),
    ("moto.sns.models", "sns_backends"),
    ("moto.sns.models", "Topic.get_cfn_attribute"),
    ("moto.sns.models", "SNSBackend.subscribe"),
    ("moto.sns.models", "SNSBackend.set_subscription_attributes"),
    ("moto.sns.models", "SNSBackend.publish"),
    ("moto.iam.models", "get_account_id_from"),
    ("moto.moto_api", "state_manager"),
    ("moto.moto_api._internal.state_manager", "StateManager.set_transition"),
    ("moto.moto_api._internal.state_manager", "StateManager.unset_transition"),
    ("moto.moto_api._internal.state_manager", "StateManager.register_default_transition"),
    ("moto.moto_api._internal.managed_state_model", "ManagedState.advance"),
    ("moto.moto_api._internal.managed_state_model", "ManagedState.status"),
    ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication"),
    ("moto.moto_server.werkzeug_app", "create_backend_app"),
    ("moto.moto_server.werkzeug_app", "MotoRequestHandler"),
    # iam_context.py and iam_enforce.py (IAM enforcement)
    ("moto.core.parse", "PROTOCOL_PARSERS"),
    ("moto.core.request", "determine_request_protocol"),
    ("moto.core.utils", "get_service_model"),
    ("moto.iam.models", "iam_backends"),
    ("moto.iam.models", "IAMBackend.get_user_from_access_key_id"),
    ("moto.iam.models", "IAMBackend.get_groups_for_user"),
    ("moto.iam.models", "IAMBackend.get_policy"),
    ("moto.sts.models", "sts_backends"),
    ("moto.sts.models", "AssumedRole.arn"),
    ("moto.s3.models", "s3_backends.bucket_accounts"),
    ("moto.s3.models", "S3Backend.get_bucket_tagging"),
    ("moto.s3.models", "S3Backend.get_object"),
    ("moto.s3.models", "S3Backend.delete_object"),
    # service_quotas.py (Service Quotas for AWS Backup)
    ("moto.servicequotas.responses", "ServiceQuotasResponse.get_service_quota"),
    ("moto.core.responses", "BaseResponse.get_current_account"),
    ("moto.servicequotas.urls", "url_paths"),
    # sts_trust.py (AssumeRole trust policies) and the cross-account copies
    ("moto.iam.models", "Role"),
    ("moto.iam.models", "IAMBackend"),
    ("moto.sts.models", "STSBackend.assume_role"),
    ("moto.sts.models", "AssumedRole"),
    ("moto.core.responses", "BaseResponse.setup_class"),
]

# Instance attributes the extension reads or sets, by the class whose
# __init__ assigns them: (module, class, attribute).
REQUIRED_ATTRIBUTES = [
    ("moto.iam.models", "IAMBackend", "roles"),
    ("moto.iam.models", "Role", "assume_role_policy_document"),
    ("moto.iam.models", "Role", "arn"),
    ("moto.sts.models", "STSBackend", "assumed_roles"),
    ("moto.sts.models", "AssumedRole", "access_key_id"),
    ("moto.sts.models", "AssumedRole", "role_arn"),
    ("moto.backup.models", "Vault", "backup_vault_arn"),
    ("moto.backup.models", "Vault", "backup_vault_name"),
    ("moto.backup.models", "BackupBackend", "vaults"),
    ("moto.core.responses", "BaseResponse", "current_account"),
]

# Operations of botocore's Backup model the extension serves (moto routes a
# request to a handler by the model's method and URI).
REQUIRED_BACKUP_OPERATIONS = [
    "PutBackupVaultAccessPolicy", "GetBackupVaultAccessPolicy", "DeleteBackupVaultAccessPolicy",
    "DescribeGlobalSettings", "UpdateGlobalSettings", "StartCopyJob",
]

# Routes of moto's Backup service the extension re-points.
REQUIRED_BACKUP_ROUTES = [
    "{0}/backup/plans/?$",
    "{0}/backup-vaults/$",
    "{0}/backup-vaults/(?P<name>[^/]+)$",
]


def problems() -> list[str]:
    found: list[str] = []
    try:
        import moto
    except ImportError as err:
        return [f"moto is not importable: {err}"]
    if getattr(moto, "__version__", None) != KNOWN_MOTO_VERSION:
        found.append(
            f"moto version is {getattr(moto, '__version__', '?')}, the extension knows exactly "
            f"{KNOWN_MOTO_VERSION} (emulator/requirements.txt pins it)"
        )
    for module_name, attr_path in REQUIRED:
        try:
            obj = importlib.import_module(module_name)
        except Exception as err:  # noqa: BLE001
            found.append(f"module {module_name} cannot be imported: {err}")
            continue
        for part in attr_path.split("."):
            if not hasattr(obj, part):
                found.append(f"{module_name}.{attr_path} is missing")
                break
            obj = getattr(obj, part)
    for module_name, class_name, attribute in REQUIRED_ATTRIBUTES:
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
            names = [cls.__init__] + ([getattr(cls, "setup_class")] if hasattr(cls, "setup_class") else [])
            source = "".join(inspect.getsource(fn) for fn in names)
        except Exception as err:  # noqa: BLE001
            found.append(f"{module_name}.{class_name} cannot be read: {err}")
            continue
        if f"self.{attribute} =" not in source and f"self.{attribute}:" not in source \
                and not isinstance(getattr(cls, attribute, None), property):
            found.append(f"{module_name}.{class_name} no longer sets self.{attribute}")
    try:
        from moto.core.utils import get_service_model

        model = get_service_model("backup")
        for name in REQUIRED_BACKUP_OPERATIONS:
            if name not in model.operation_names:
                found.append(f"botocore's Backup model lacks {name}")
    except Exception as err:  # noqa: BLE001
        found.append(f"botocore's Backup model: {err}")
    try:
        from moto.backup import urls

        for route in REQUIRED_BACKUP_ROUTES:
            if route not in urls.url_paths:
                found.append(f"moto.backup.urls.url_paths lacks {route}")
    except Exception as err:  # noqa: BLE001
        found.append(f"moto.backup.urls: {err}")
    try:
        from .replacement import rules_for

        if "BackupVaultName" not in rules_for("AWS::Backup::BackupVault").always:
            found.append("cfn-lint's resource schemas give no createOnlyProperties for AWS::Backup::BackupVault")
    except Exception as err:  # noqa: BLE001
        found.append(f"cfn-lint resource schemas unreadable: {err}")
    return found


def installed_problems() -> list[str]:
    """After install(): the extension is really what moto now uses."""
    found: list[str] = []
    from moto.cloudformation.parsing import get_model_map

    from . import cfn_backup, cfn_resources, cfn_s3

    expected = {
        "AWS::Backup::BackupVault": cfn_backup.BackupVaultResource,
        "AWS::Backup::BackupPlan": cfn_backup.BackupPlanResource,
        "AWS::Backup::BackupSelection": cfn_backup.BackupSelectionResource,
        "AWS::SNS::Subscription": cfn_resources.SubscriptionResource,
        "AWS::DynamoDB::Table": cfn_resources.TableResource,
        "AWS::SNS::Topic": cfn_resources.TopicResource,
        "AWS::S3::Bucket": cfn_s3.BucketResource,
        "AWS::S3::BucketPolicy": cfn_s3.BucketPolicyResource,
    }
    model_map = get_model_map()
    for cfn_type, cls in expected.items():
        if model_map.get(cfn_type) is not cls:
            found.append(f"moto's CloudFormation model map does not use the extension for {cfn_type}")
    if "AWS::IAM::Role" not in model_map:
        found.append("moto's CloudFormation model map lacks AWS::IAM::Role")
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.s3.models import FakeBucket

    for cls, name in ((Table, "put_item"), (Table, "delete_item"), (DynamoDBBackend, "update_item"),
                      (DynamoDBBackend, "transact_write_items"),
                      (DynamoDBBackend, "update_continuous_backups"),
                      (DynamoDBBackend, "describe_continuous_backups"),
                      (DynamoDBBackend, "delete_table"), (DynamoDBBackend, "restore_table_from_backup")):
        if not getattr(getattr(cls, name), "__drctl_pitr__", False):
            found.append(f"{cls.__name__}.{name} is not hooked for the PITR history")
    if not getattr(FakeBucket.get_permission, "__drctl__", False):
        found.append("FakeBucket.get_permission is not the extension's")
    from moto.backup import urls as backup_urls

    from .backup_api import DrctlBackupResponse

    for route in ("{0}/backup-vaults/(?P<name>[^/]+)/access-policy$", "{0}/global-settings$"):
        if backup_urls.url_paths.get(route) != DrctlBackupResponse.dispatch:
            found.append(f"moto's Backup routes lack the extension's {route}")
    from moto.servicequotas.responses import ServiceQuotasResponse

    for name in ("list_service_quotas", "get_service_quota"):
        if not getattr(getattr(ServiceQuotasResponse, name, None), "__drctl__", False):
            found.append(f"ServiceQuotasResponse.{name} is not the extension's")
    return found


def run(installed: bool = False) -> None:
    found = problems()
    if installed and not found:
        found = installed_problems()
    if found:
        bar = "!" * 72
        print(bar, file=sys.stderr)
        print("drctl emulator self-check FAILED: the moto extension cannot run.", file=sys.stderr)
        for item in found:
            print(f"  - {item}", file=sys.stderr)
        print(bar, file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    from . import install

    run()
    install()
    run(installed=True)
    print(f"drctl emulator self-check passed (moto {KNOWN_MOTO_VERSION})")
