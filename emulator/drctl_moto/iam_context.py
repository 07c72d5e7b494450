"""The request context of an AWS call for IAM evaluation: which actions it
asks for, on which resource ARNs, with which condition keys.

A request is parsed into its API parameters with moto's own protocol
parsers (the botocore model of the service), then ``checks(request)``
lists the authorizations AWS makes for it: one ``Check`` per (action,
resource), e.g. a BatchGetItem over two tables is two checks, a
StartBackupJob is ``backup:StartBackupJob`` on the vault plus
``iam:PassRole`` on the role it passes. Every check must be allowed.

The resource types and ARN formats follow the Service Authorization
Reference (one page per service, "Actions, resources, and condition keys
for ..."). An operation that is not in the table below is evaluated as
``<prefix>:<Operation>`` on the resource ``*`` (a statement scoped to ARNs
does not allow it; a ``"Resource": "*"`` statement does).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

# Signing name -> the IAM action prefix (where they differ) and the botocore
# model name. Service Quotas signs as `servicequotas` (its endpoint prefix),
# which is also its IAM prefix; botocore's (and moto's) model is
# `service-quotas`.
ACTION_PREFIX = {"tagging": "tag", "monitoring": "cloudwatch", "email": "ses"}
MODEL_NAME = {"tagging": "resourcegroupstaggingapi", "monitoring": "cloudwatch", "email": "ses",
              "servicequotas": "service-quotas"}

# Which service a role passed in a request is passed to (iam:PassedToService).
PASSED_TO = {"cloudformation": "cloudformation.amazonaws.com", "backup": "backup.amazonaws.com"}


@dataclass
class Check:
    """One authorization: ``action`` on ``resource`` with request-specific
    condition keys (the global ones are added by the caller)."""

    action: str
    resource: str = "*"
    keys: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "resource": self.resource, "keys": self.keys}


@dataclass
class Request:
    service: str  # the signing name
    operation: str
    params: dict[str, Any]
    region: str
    account: str  # the caller's account, as moto derives it
    partition: str = "aws"
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return ACTION_PREFIX.get(self.service, self.service)

    def action(self, name: str | None = None) -> str:
        return f"{self.prefix}:{name or self.operation}"


# ---------------------------------------------------------------------------
# Parsing a WSGI request into its API parameters


def parse(environ: dict[str, Any], service: str, region: str, account: str, body: bytes) -> Request:
    """The operation and parameters of a signed request (moto's parsers)."""
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.request import Request as MotoRequest
    from moto.core.request import determine_request_protocol
    from moto.core.routing import get_service_router
    from moto.core.utils import get_service_model
    from moto.utilities.utils import get_partition

    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(body)
    request = MotoRequest(env)
    model = get_service_model(MODEL_NAME.get(service, service))
    operation, uri_params = get_service_router(model.service_name).match(request)
    protocol = determine_request_protocol(model, request.content_type)
    params = PROTOCOL_PARSERS[protocol](operation).parse({
        "method": request.method, "values": request.values, "headers": request.headers,
        "body": request.get_data(), "url_path": request.path, "url_params": uri_params,
    })
    headers = {k.lower(): v for k, v in request.headers.items()}
    return Request(service, operation.name, dict(params or {}), region, account,
                   get_partition(region), request.method, headers)


# ---------------------------------------------------------------------------
# Helpers: ARNs, tags, moto's backends


def arn_account(arn: str) -> str | None:
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[4] else None


def arn_region(arn: str) -> str | None:
    parts = arn.split(":", 5)
    return parts[3] if len(parts) == 6 and parts[3] else None


def tag_dict(tags: Any) -> dict[str, str]:
    """Tags in any of the shapes AWS APIs use: [{Key, Value}], {k: v}."""
    if not tags:
        return {}
    if isinstance(tags, dict):
        out = {}
        for key, value in tags.items():
            if isinstance(value, dict) and "Key" in value:
                out[value["Key"]] = value.get("Value", "")
            else:
                out[key] = value
        return out
    out = {}
    for tag in tags:
        if isinstance(tag, dict):
            key = tag.get("Key", tag.get("key"))
            if key is not None:
                out[key] = tag.get("Value", tag.get("value", ""))
    return out


def _request_tag_keys(tags: dict[str, str]) -> dict[str, Any]:
    keys: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    keys["aws:TagKeys"] = sorted(tags)
    return keys


def resource_tags(arn: str, partition: str = "aws") -> dict[str, str] | None:
    """The tags of the resource an ARN names, read from moto's backends
    (None: no such resource, or a kind whose tags are not modelled)."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return None
    _, _, service, region, account, rest = parts
    try:
        if service == "dynamodb" and rest.startswith("table/"):
            from moto.dynamodb.models import dynamodb_backends

            name = rest.split("/")[1]
            table = dynamodb_backends[account][region].tables.get(name)
            return tag_dict(table.tags) if table is not None else None
        if service == "backup":
            from moto.backup.models import backup_backends

            tags = backup_backends[account][region].tagger.get_tag_dict_for_resource(arn)
            if rest.startswith("backup-vault:") and not tags:
                vaults = backup_backends[account][region].vaults
                return {} if rest.split(":", 1)[1] in vaults else None
            return tags
        if service == "sns":
            from moto.sns.models import sns_backends

            topic = sns_backends[account][region].topics.get(arn)
            return dict(topic._tags) if topic is not None else None
        if service == "cloudformation" and rest.startswith("stack/"):
            stack = _stack(account, region, rest.split("/")[1])
            return tag_dict(stack.tags) if stack is not None else None
        if service == "s3":
            bucket = rest.split("/", 1)[0]
            found = _bucket(bucket)
            if found is None:
                return None
            backend, _ = found
            return tag_dict(backend.get_bucket_tagging(bucket).get("Tags", []))
        if service == "iam" and rest.startswith(("role/", "user/")):
            entity = _iam_entity(account, partition, arn)
            return tag_dict(entity.tags) if entity is not None else None
    except Exception:  # noqa: BLE001  (a resource that moto cannot describe has no tags)
        return None
    return None


def _stack(account: str, region: str, name_or_id: str):
    from moto.cloudformation.models import cloudformation_backends

    from .changesets import _live_stack

    return _live_stack(cloudformation_backends[account][region], name_or_id)


def _bucket(name: str):
    """(moto's S3 backend holding the bucket, its owner account) or None."""
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(name)
    if owner is None:
        return None
    partition, account = owner
    return s3_backends[account][partition], account


def _iam_entity(account: str, partition: str, arn: str):
    from moto.iam.models import iam_backends

    backend = iam_backends[account][partition]
    kind = arn.split(":", 5)[5].split("/", 1)[0]
    entities = backend.roles.values() if kind == "role" else backend.users.values()
    for entity in entities:
        if entity.arn == arn:
            return entity
    return None


def pass_role(req: Request, role_arn: str | None, to_service: str | None = None) -> list[Check]:
    """``iam:PassRole`` of a role a request hands to a service."""
    if not role_arn:
        return []
    keys: dict[str, Any] = {"iam:PassedToService": to_service or PASSED_TO.get(req.service, f"{req.service}.amazonaws.com")}
    return [Check("iam:PassRole", role_arn, keys)]


# ---------------------------------------------------------------------------
# The operation table: (signing name, operation) -> builder of checks

Builder = Callable[[Request], list[Check]]
TABLE: dict[tuple[str, str], Builder] = {}
# Documentation of each entry (operation -> resource, keys), for the README.
DESCRIBED: dict[tuple[str, str], str] = {}


def op(service: str, *operations: str, doc: str = "") -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        for name in operations:
            TABLE[(service, name)] = fn
            DESCRIBED[(service, name)] = doc
        return fn
    return register


def checks(req: Request) -> list[Check]:
    builder = TABLE.get((req.service, req.operation))
    if builder is None:
        found = [Check(req.action(), "*")]
    else:
        found = builder(req)
    _add_request_tags(req, found)
    return found


def _add_request_tags(req: Request, found: list[Check]) -> None:
    """aws:RequestTag/* and aws:TagKeys of a request that carries tags (or
    tag keys to remove), on its checks of the request's own action."""
    params = req.params
    tags = None
    for name in ("Tags", "BackupVaultTags", "BackupPlanTags"):
        if params.get(name):
            tags = tag_dict(params[name])
            break
    removed = params.get("TagKeys") or params.get("TagKeyList")
    if tags is None and not removed:
        return
    for check in found:
        if check.action.split(":")[0] != req.prefix:
            continue
        if tags is not None:
            for key, value in _request_tag_keys(tags).items():
                check.keys.setdefault(key, value)
        elif isinstance(removed, list):
            check.keys.setdefault("aws:TagKeys", list(removed))


# ---- DynamoDB -------------------------------------------------------------


def table_arn(req: Request, name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    return f"arn:{req.partition}:dynamodb:{req.region}:{req.account}:table/{name_or_arn}"


def _table(arn: str):
    from moto.dynamodb.models import dynamodb_backends

    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("table/"):
        return None
    try:
        return dynamodb_backends[parts[4]][parts[3]].tables.get(parts[5].split("/")[1])
    except Exception:  # noqa: BLE001
        return None


def _key_value(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        kind, raw = next(iter(value.items()))
        if kind in ("S", "N"):
            return str(raw)
        if kind == "B":
            import base64

            return raw if isinstance(raw, str) else base64.b64encode(raw).decode()
    return None


def leading_keys(arn: str, items: list[dict[str, Any]]) -> list[str] | None:
    """dynamodb:LeadingKeys: the partition-key values of the items (keys)
    a request names, for the table's partition key."""
    table = _table(arn)
    if table is None:
        return None
    found = []
    for item in items:
        value = _key_value((item or {}).get(table.hash_key_attr))
        if value is not None:
            found.append(value)
    return found or None


def _query_leading_key(arn: str, params: dict[str, Any]) -> list[str] | None:
    table = _table(arn)
    if table is None:
        return None
    hash_key = table.hash_key_attr
    conditions = params.get("KeyConditions") or {}
    if hash_key in conditions:
        values = conditions[hash_key].get("AttributeValueList") or []
        found = [_key_value(v) for v in values]
        return [v for v in found if v is not None] or None
    expression = params.get("KeyConditionExpression") or ""
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    for match in re.finditer(r"([#\w.]+)\s*=\s*(:\w+)", expression):
        name = names.get(match.group(1), match.group(1))
        if name == hash_key and match.group(2) in values:
            value = _key_value(values[match.group(2)])
            return [value] if value is not None else None
    return None


def _ddb_keys(params: dict[str, Any]) -> dict[str, Any]:
    keys = {}
    for param, key in (("Select", "dynamodb:Select"), ("ReturnValues", "dynamodb:ReturnValues"),
                       ("ReturnConsumedCapacity", "dynamodb:ReturnConsumedCapacity")):
        if params.get(param):
            keys[key] = params[param]
    return keys


def _with(keys: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {**keys, **{k.replace("__", ":"): v for k, v in more.items() if v is not None}}


@op("dynamodb", "GetItem", "PutItem", "DeleteItem", "UpdateItem",
    doc="table (TableName); dynamodb:LeadingKeys (the partition key of Key / Item), Select, ReturnValues")
def _ddb_item(req: Request) -> list[Check]:
    arn = table_arn(req, req.params.get("TableName", ""))
    item = req.params.get("Key") or req.params.get("Item") or {}
    return [Check(req.action(), arn, _with(_ddb_keys(req.params), dynamodb__LeadingKeys=leading_keys(arn, [item])))]


@op("dynamodb", "Query", "Scan",
    doc="table, or its index `table/T/index/I` with IndexName; Query: dynamodb:LeadingKeys from the partition-key equality of KeyConditionExpression / KeyConditions")
def _ddb_read(req: Request) -> list[Check]:
    arn = table_arn(req, req.params.get("TableName", ""))
    keys = _ddb_keys(req.params)
    if req.operation == "Query":
        keys = _with(keys, dynamodb__LeadingKeys=_query_leading_key(arn, req.params))
    resource = f"{arn}/index/{req.params['IndexName']}" if req.params.get("IndexName") else arn
    return [Check(req.action(), resource, keys)]


@op("dynamodb", "BatchGetItem", "BatchWriteItem",
    doc="one check per table in RequestItems; dynamodb:LeadingKeys of that table's keys")
def _ddb_batch(req: Request) -> list[Check]:
    found = []
    for table, request in (req.params.get("RequestItems") or {}).items():
        arn = table_arn(req, table)
        if req.operation == "BatchGetItem":
            items = list((request or {}).get("Keys") or [])
        else:
            items = []
            for write in request or []:
                if "PutRequest" in write:
                    items.append(write["PutRequest"].get("Item") or {})
                elif "DeleteRequest" in write:
                    items.append(write["DeleteRequest"].get("Key") or {})
        found.append(Check(req.action(), arn, _with({}, dynamodb__LeadingKeys=leading_keys(arn, items))))
    return found


@op("dynamodb", "TransactWriteItems", "TransactGetItems",
    doc="one check per item: dynamodb:PutItem / UpdateItem / DeleteItem / ConditionCheckItem / GetItem on its table, with its LeadingKeys")
def _ddb_transact(req: Request) -> list[Check]:
    actions = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
               "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
    found = []
    for entry in req.params.get("TransactItems") or []:
        for kind, body in entry.items():
            if kind not in actions:
                continue
            arn = table_arn(req, body.get("TableName", ""))
            item = body.get("Key") or body.get("Item") or {}
            found.append(Check(req.action(actions[kind]), arn,
                               _with({}, dynamodb__LeadingKeys=leading_keys(arn, [item]))))
    return found


def _partiql(req: Request, statement: str) -> Check:
    verb = statement.strip().split(None, 1)[0].upper() if statement.strip() else "SELECT"
    action = {"SELECT": "PartiQLSelect", "INSERT": "PartiQLInsert", "UPDATE": "PartiQLUpdate",
              "DELETE": "PartiQLDelete"}.get(verb, "PartiQLSelect")
    match = re.search(r"(?:FROM|INTO|UPDATE)\s+\"?([A-Za-z0-9_.\-]+)\"?", statement, re.IGNORECASE)
    return Check(req.action(action), table_arn(req, match.group(1)) if match else "*")


@op("dynamodb", "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
    doc="dynamodb:PartiQLSelect / Insert / Update / Delete on the table the statement names")
def _ddb_partiql(req: Request) -> list[Check]:
    if req.operation == "ExecuteStatement":
        return [_partiql(req, req.params.get("Statement", ""))]
    entries = req.params.get("Statements") or req.params.get("TransactStatements") or []
    return [_partiql(req, e.get("Statement", "")) for e in entries]


@op("dynamodb", "DescribeTable", "DeleteTable", "UpdateTable", "CreateTable", "DescribeContinuousBackups",
    "UpdateContinuousBackups", "DescribeTimeToLive", "UpdateTimeToLive", "CreateBackup",
    "DescribeKinesisStreamingDestination", "DescribeTableReplicaAutoScaling",
    doc="table (TableName)")
def _ddb_table(req: Request) -> list[Check]:
    return [Check(req.action(), table_arn(req, req.params.get("TableName", "")))]


@op("dynamodb", "TagResource", "UntagResource", "ListTagsOfResource", "GetResourcePolicy",
    "PutResourcePolicy", "DeleteResourcePolicy",
    doc="the ResourceArn (a table, index or stream)")
def _ddb_resource_arn(req: Request) -> list[Check]:
    return [Check(req.action(), req.params.get("ResourceArn", "*"))]


@op("dynamodb", "ExportTableToPointInTime", doc="table (TableArn)")
def _ddb_export(req: Request) -> list[Check]:
    return [Check(req.action(), req.params.get("TableArn", "*"))]


@op("dynamodb", "DescribeExport", doc="the export `table/T/export/ID` (ExportArn)")
def _ddb_describe_export(req: Request) -> list[Check]:
    return [Check(req.action(), req.params.get("ExportArn", "*"))]


@op("dynamodb", "DescribeBackup", "DeleteBackup", doc="the backup `table/T/backup/ID` (BackupArn)")
def _ddb_backup(req: Request) -> list[Check]:
    return [Check(req.action(), req.params.get("BackupArn", "*"))]


@op("dynamodb", "RestoreTableFromBackup", doc="the backup (BackupArn) and the target table (TargetTableName)")
def _ddb_restore_backup(req: Request) -> list[Check]:
    return [Check(req.action(), req.params.get("BackupArn", "*")),
            Check(req.action(), table_arn(req, req.params.get("TargetTableName", "")))]


@op("dynamodb", "RestoreTableToPointInTime", doc="the source table (SourceTableArn or SourceTableName)")
def _ddb_restore_pitr(req: Request) -> list[Check]:
    source = req.params.get("SourceTableArn") or req.params.get("SourceTableName", "")
    return [Check(req.action(), table_arn(req, source))]


# ---- AWS Backup -----------------------------------------------------------


def vault_arn(req: Request, name: str) -> str:
    return f"arn:{req.partition}:backup:{req.region}:{req.account}:backup-vault:{name}"


@op("backup", "DescribeBackupVault", "DeleteBackupVault", "CreateBackupVault", "ListRecoveryPointsByBackupVault",
    "PutBackupVaultNotifications", "GetBackupVaultNotifications", "DeleteBackupVaultNotifications",
    "GetBackupVaultAccessPolicy", "PutBackupVaultAccessPolicy", "DeleteBackupVaultAccessPolicy",
    "PutBackupVaultLockConfiguration", "DeleteBackupVaultLockConfiguration",
    doc="vault `backup-vault:NAME` (BackupVaultName)")
def _backup_vault(req: Request) -> list[Check]:
    return [Check(req.action(), vault_arn(req, req.params.get("BackupVaultName", "")))]


@op("backup", "StartBackupJob", doc="vault (BackupVaultName); iam:PassRole of IamRoleArn to backup.amazonaws.com")
def _backup_start(req: Request) -> list[Check]:
    return ([Check(req.action(), vault_arn(req, req.params.get("BackupVaultName", "")))]
            + pass_role(req, req.params.get("IamRoleArn")))


@op("backup", "StartCopyJob",
    doc="the recovery point (RecoveryPointArn), backup:CopyTargets = DestinationBackupVaultArn; iam:PassRole of IamRoleArn")
def _backup_copy(req: Request) -> list[Check]:
    keys = _with({}, backup__CopyTargets=[req.params["DestinationBackupVaultArn"]]
                 if req.params.get("DestinationBackupVaultArn") else None)
    return ([Check(req.action(), req.params.get("RecoveryPointArn", "*"), keys)]
            + pass_role(req, req.params.get("IamRoleArn")))


@op("backup", "StartRestoreJob", doc="the recovery point (RecoveryPointArn); iam:PassRole of IamRoleArn")
def _backup_restore(req: Request) -> list[Check]:
    return ([Check(req.action(), req.params.get("RecoveryPointArn", "*"))]
            + pass_role(req, req.params.get("IamRoleArn")))


@op("backup", "DescribeRecoveryPoint", "DeleteRecoveryPoint", "UpdateRecoveryPointLifecycle",
    "GetRecoveryPointRestoreMetadata", "DisassociateRecoveryPoint",
    doc="the recovery point (RecoveryPointArn)")
def _backup_recovery_point(req: Request) -> list[Check]:
    return [Check(req.action(), req.params.get("RecoveryPointArn", "*"))]


def plan_arn(req: Request, plan_id: str) -> str:
    return f"arn:{req.partition}:backup:{req.region}:{req.account}:backup-plan:{plan_id}"


@op("backup", "GetBackupPlan", "DeleteBackupPlan", "UpdateBackupPlan", "GetBackupSelection",
    "DeleteBackupSelection", "ListBackupSelections", "CreateBackupSelection", "ListBackupPlanVersions",
    doc="plan `backup-plan:ID` (BackupPlanId); CreateBackupSelection: iam:PassRole of its IamRoleArn")
def _backup_plan(req: Request) -> list[Check]:
    found = [Check(req.action(), plan_arn(req, req.params.get("BackupPlanId", "")))]
    if req.operation == "CreateBackupSelection":
        found += pass_role(req, (req.params.get("BackupSelection") or {}).get("IamRoleArn"))
    return found


@op("backup", "TagResource", "UntagResource", "ListTags", doc="the ResourceArn")
def _backup_tags(req: Request) -> list[Check]:
    return [Check(req.action(), req.params.get("ResourceArn", "*"))]


# ---- CloudFormation -------------------------------------------------------


def stack_arn(req: Request, name_or_arn: str) -> str:
    """The stack's ARN: as given; else the live stack's StackId; else the
    name-only form `stack/NAME/*` (a stack not created yet)."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    try:
        stack = _stack(req.account, req.region, name_or_arn)
    except Exception:  # noqa: BLE001
        stack = None
    if stack is not None:
        return stack.stack_id
    return f"arn:{req.partition}:cloudformation:{req.region}:{req.account}:stack/{name_or_arn}/*"


def _change_set(req: Request) -> tuple[str | None, str | None]:
    """(change set name, stack name or ARN) of a change-set request: a
    change set named by its ARN gives its name and (from moto) its stack."""
    name = req.params.get("ChangeSetName")
    stack = req.params.get("StackName")
    if name and name.startswith("arn:"):
        arn = name
        rest = arn.split(":", 5)[5] if len(arn.split(":", 5)) == 6 else ""
        name = rest.split("/")[1] if rest.count("/") >= 1 else name
        if not stack:
            try:
                from moto.cloudformation.models import cloudformation_backends

                change_set = cloudformation_backends[req.account][req.region].change_sets.get(arn)
                stack = change_set.stack_id if change_set is not None else None
            except Exception:  # noqa: BLE001
                stack = None
    return name, stack


def _cfn_keys(req: Request) -> dict[str, Any]:
    params = req.params
    return _with({},
                 cloudformation__RoleArn=params.get("RoleARN"),
                 cloudformation__TemplateUrl=params.get("TemplateURL"),
                 cloudformation__StackPolicyUrl=params.get("StackPolicyURL"),
                 cloudformation__ResourceTypes=params.get("ResourceTypes") or None)


@op("cloudformation", "CreateChangeSet", "DescribeChangeSet", "DeleteChangeSet", "ExecuteChangeSet",
    doc="stack (StackName, or the stack of the change set's ARN); cloudformation:ChangeSetName (the name, also when an ARN is given); CreateChangeSet: cloudformation:RoleArn, TemplateUrl, ResourceTypes, aws:RequestTag/*, aws:TagKeys and iam:PassRole of RoleARN to cloudformation.amazonaws.com")
def _cfn_change_set(req: Request) -> list[Check]:
    name, stack = _change_set(req)
    keys = _with(_cfn_keys(req) if req.operation == "CreateChangeSet" else {}, cloudformation__ChangeSetName=name)
    found = [Check(req.action(), stack_arn(req, stack) if stack else "*", keys)]
    if req.operation == "CreateChangeSet":
        found += pass_role(req, req.params.get("RoleARN"))
    return found


@op("cloudformation", "CreateStack", "UpdateStack", "DeleteStack",
    doc="stack; cloudformation:RoleArn, TemplateUrl, StackPolicyUrl, ResourceTypes, aws:RequestTag/*, aws:TagKeys; iam:PassRole of RoleARN")
def _cfn_stack_write(req: Request) -> list[Check]:
    return ([Check(req.action(), stack_arn(req, req.params.get("StackName", "")), _cfn_keys(req))]
            + pass_role(req, req.params.get("RoleARN")))


@op("cloudformation", "DescribeStacks", "GetTemplate", "ListChangeSets", "DescribeStackEvents",
    "DescribeStackResources", "DescribeStackResource", "ListStackResources", "SetStackPolicy", "GetStackPolicy",
    "UpdateTerminationProtection", "GetTemplateSummary", "DetectStackDrift", "ContinueUpdateRollback",
    "CancelUpdateStack", "RollbackStack", "SignalResource",
    doc="stack (StackName, a name or ARN; a live stack's real ARN); without StackName: `*`")
def _cfn_stack(req: Request) -> list[Check]:
    name = req.params.get("StackName")
    keys = _with({}, cloudformation__StackPolicyUrl=req.params.get("StackPolicyURL"))
    return [Check(req.action(), stack_arn(req, name) if name else "*", keys)]


# ---- SNS ------------------------------------------------------------------


@op("sns", "Publish", "GetTopicAttributes", "SetTopicAttributes", "Subscribe", "ListSubscriptionsByTopic",
    "DeleteTopic", "AddPermission", "RemovePermission", "GetDataProtectionPolicy", "PutDataProtectionPolicy",
    doc="topic (TopicArn, or Publish's TargetArn)")
def _sns_topic(req: Request) -> list[Check]:
    arn = req.params.get("TopicArn") or req.params.get("TargetArn") or "*"
    keys = {}
    if req.operation == "Subscribe":
        keys = _with({}, sns__Protocol=req.params.get("Protocol"), sns__Endpoint=req.params.get("Endpoint"))
    return [Check(req.action(), arn, keys)]


@op("sns", "CreateTopic", doc="topic `arn:aws:sns:R:A:NAME` (Name); aws:RequestTag/*, aws:TagKeys")
def _sns_create(req: Request) -> list[Check]:
    return [Check(req.action(), f"arn:{req.partition}:sns:{req.region}:{req.account}:{req.params.get('Name', '')}")]


@op("sns", "TagResource", "UntagResource", "ListTagsForResource", doc="the topic (ResourceArn)")
def _sns_tags(req: Request) -> list[Check]:
    return [Check(req.action(), req.params.get("ResourceArn", "*"))]


# ---- S3 -------------------------------------------------------------------

S3_ACTIONS = {
    "ListObjectsV2": "ListBucket", "ListObjects": "ListBucket", "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions", "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject", "CompleteMultipartUpload": "PutObject",
    "UploadPartCopy": "PutObject", "ListMultipartUploads": "ListBucketMultipartUploads",
    "ListParts": "ListMultipartUploadParts", "ListBuckets": "ListAllMyBuckets",
    "GetBucketEncryption": "GetEncryptionConfiguration", "PutBucketEncryption": "PutEncryptionConfiguration",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock", "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration", "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "DeleteBucketTagging": "PutBucketTagging", "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
    "GetObjectAttributes": "GetObject",
}
_ACL_HEADERS = ("x-amz-acl", "x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-read-acp",
                "x-amz-grant-write-acp")


def s3_arn(req: Request, bucket: str | None, key: str | None = None) -> str:
    if not bucket:
        return "*"
    return f"arn:{req.partition}:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def _s3_keys(req: Request, bucket: str | None) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    if bucket:
        found = _bucket(bucket)
        if found is not None:
            keys["aws:ResourceAccount"] = found[1]
            keys["s3:ResourceAccount"] = found[1]
        elif req.operation == "CreateBucket":
            keys["aws:ResourceAccount"] = req.account
    for header in _ACL_HEADERS:
        if header in req.headers:
            keys[f"s3:{header}"] = req.headers[header]
    if "x-amz-server-side-encryption" in req.headers:
        keys["s3:x-amz-server-side-encryption"] = req.headers["x-amz-server-side-encryption"]
    return keys


def _s3(req: Request) -> list[Check]:
    params = req.params
    bucket = params.get("Bucket")
    key = params.get("Key")
    action = req.action(S3_ACTIONS.get(req.operation, req.operation))
    keys = _s3_keys(req, bucket)
    if req.operation in ("ListObjectsV2", "ListObjects", "ListObjectVersions"):
        keys = _with(keys, s3__prefix=params.get("Prefix"), s3__delimiter=params.get("Delimiter"),
                     s3__max_keys=str(params["MaxKeys"]) if params.get("MaxKeys") is not None else None)
        if "s3:max_keys" in keys:
            keys["s3:max-keys"] = keys.pop("s3:max_keys")
    if req.operation == "DeleteObjects":
        objects = (params.get("Delete") or {}).get("Objects") or []
        return [Check(req.action("DeleteObject"), s3_arn(req, bucket, o.get("Key", "")), dict(keys))
                for o in objects]
    found = [Check(action, s3_arn(req, bucket, key if key is not None else None), keys)]
    if req.operation == "PutObject" and any(h in req.headers for h in _ACL_HEADERS):
        found.append(Check(req.action("PutObjectAcl"), s3_arn(req, bucket, key), dict(keys)))
    if req.operation in ("CopyObject", "UploadPartCopy"):
        source = unquote(str(params.get("CopySource") or "")).lstrip("/").split("?")[0]
        if "/" in source:
            src_bucket, src_key = source.split("/", 1)
            found.append(Check(req.action("GetObject"), s3_arn(req, src_bucket, src_key), _s3_keys(req, src_bucket)))
        if req.operation == "CopyObject":
            found[0] = Check(req.action("PutObject"), found[0].resource, found[0].keys)
    return found


S3_DOC = ("bucket `arn:aws:s3:::B` for bucket operations, object `arn:aws:s3:::B/KEY` for object operations; "
          "ListObjects(V2) / HeadBucket = s3:ListBucket with s3:prefix, s3:delimiter, s3:max-keys; HeadObject = "
          "s3:GetObject; DeleteObjects = s3:DeleteObject per key; multipart = s3:PutObject; aws:ResourceAccount "
          "= the bucket owner; ACL headers add s3:PutObjectAcl")


# ---- Service Quotas -------------------------------------------------------


@op("servicequotas", "GetServiceQuota",
    doc="quota `arn:aws:servicequotas:R:A:SERVICE/CODE` (ServiceCode, QuotaCode); ListServiceQuotas and ListAWSDefaultServiceQuotas have no resource type (`*`)")
def _service_quota(req: Request) -> list[Check]:
    service, code = req.params.get("ServiceCode"), req.params.get("QuotaCode")
    if not (service and code):
        return [Check(req.action(), "*")]
    return [Check(req.action(), f"arn:{req.partition}:servicequotas:{req.region}:{req.account}:{service}/{code}")]


# ---- STS, IAM, tagging ----------------------------------------------------


@op("sts", "AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML",
    doc="the role (RoleArn); sts:RoleSessionName, sts:ExternalId, aws:RequestTag/*, aws:TagKeys (the role's trust policy: sts_trust.py, opt-in per account)")
def _sts_assume(req: Request) -> list[Check]:
    keys = _with({}, sts__RoleSessionName=req.params.get("RoleSessionName"),
                 sts__ExternalId=req.params.get("ExternalId"))
    return [Check(req.action(), req.params.get("RoleArn", "*"), keys)]


def iam_arn(req: Request, kind: str, name: str | None, path: str | None = None) -> str:
    """An IAM entity's ARN: the existing one's (with its path), else from
    the request's Path and name."""
    if not name:
        return "*"
    from moto.iam.models import iam_backends

    backend = iam_backends[req.account][req.partition]
    entities = {"role": backend.roles.values(), "user": backend.users.values()}.get(kind, [])
    for entity in entities:
        if entity.name == name:
            return entity.arn
    return f"arn:{req.partition}:iam::{req.account}:{kind}{path or '/'}{name}"


@op("iam", "CreateRole", "GetRole", "DeleteRole", "UpdateRole", "UpdateAssumeRolePolicy", "AttachRolePolicy",
    "DetachRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "GetRolePolicy", "ListRolePolicies",
    "ListAttachedRolePolicies", "TagRole", "UntagRole", "ListRoleTags", "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary", "UpdateRoleDescription",
    doc="role `arn:aws:iam::A:role/PATH/NAME` (RoleName); iam:PolicyARN (Attach/DetachRolePolicy), iam:PermissionsBoundary")
def _iam_role(req: Request) -> list[Check]:
    keys = _with({}, iam__PolicyARN=req.params.get("PolicyArn") if "RolePolicy" in req.operation else None,
                 iam__PermissionsBoundary=req.params.get("PermissionsBoundary"))
    return [Check(req.action(), iam_arn(req, "role", req.params.get("RoleName"), req.params.get("Path")), keys)]


@op("iam", "CreateUser", "GetUser", "DeleteUser", "AttachUserPolicy", "DetachUserPolicy", "PutUserPolicy",
    "DeleteUserPolicy", "CreateAccessKey", "DeleteAccessKey", "ListAccessKeys", "TagUser", "UntagUser",
    doc="user (UserName)")
def _iam_user(req: Request) -> list[Check]:
    keys = _with({}, iam__PolicyARN=req.params.get("PolicyArn") if "UserPolicy" in req.operation else None,
                 iam__PermissionsBoundary=req.params.get("PermissionsBoundary"))
    return [Check(req.action(), iam_arn(req, "user", req.params.get("UserName"), req.params.get("Path")), keys)]


@op("iam", "CreatePolicy", "GetPolicy", "DeletePolicy", "CreatePolicyVersion", "GetPolicyVersion",
    "DeletePolicyVersion", "ListPolicyVersions", "SetDefaultPolicyVersion",
    doc="policy `arn:aws:iam::A:policy/PATH/NAME` (PolicyArn, or CreatePolicy's Path and PolicyName)")
def _iam_policy(req: Request) -> list[Check]:
    arn = req.params.get("PolicyArn") or (
        f"arn:{req.partition}:iam::{req.account}:policy{req.params.get('Path') or '/'}{req.params.get('PolicyName', '')}")
    return [Check(req.action(), arn)]


@op("tagging", "TagResources", "UntagResources",
    doc="tag:TagResources / UntagResources on `*`, and the service's own TagResource / UntagResource (s3: PutBucketTagging) on each ARN")
def _tagging(req: Request) -> list[Check]:
    found = [Check(req.action(), "*")]
    verb = "TagResource" if req.operation == "TagResources" else "UntagResource"
    for arn in req.params.get("ResourceARNList") or []:
        parts = arn.split(":", 5)
        service = parts[2] if len(parts) == 6 else "?"
        action = "s3:PutBucketTagging" if service == "s3" else f"{service}:{verb}"
        keys: dict[str, Any] = {}
        if req.params.get("Tags"):
            keys = _request_tag_keys(tag_dict(req.params["Tags"]))
        elif req.params.get("TagKeys"):
            keys = {"aws:TagKeys": list(req.params["TagKeys"])}
        found.append(Check(action, arn, keys))
    return found


def _s3_register() -> None:
    from moto.core.utils import get_service_model

    for name in get_service_model("s3").operation_names:
        TABLE[("s3", name)] = _s3
    DESCRIBED[("s3", "*")] = S3_DOC


_s3_register()


# ---------------------------------------------------------------------------
# Per-check keys that come from the resource


def resource_keys(check: Check, partition: str = "aws") -> dict[str, Any]:
    """aws:ResourceAccount and aws:ResourceTag/* (s3:BucketTag/*,
    iam:ResourceTag/*) of the resource a check names."""
    keys: dict[str, Any] = {}
    if check.resource == "*":
        return keys
    account = arn_account(check.resource)
    if account and account != "*" and "aws:ResourceAccount" not in check.keys:
        keys["aws:ResourceAccount"] = account
    tags = resource_tags(check.resource, partition)
    if tags:
        service = check.resource.split(":")[2]
        for key, value in tags.items():
            keys[f"aws:ResourceTag/{key}"] = value
            if service == "s3":
                keys[f"s3:BucketTag/{key}"] = value
            if service == "iam":
                keys[f"iam:ResourceTag/{key}"] = value
    return keys
