"""CloudFormation AWS::S3::Bucket and AWS::S3::BucketPolicy as drctl's
bootstrap stack declares its export bucket.

moto's AWS::S3::Bucket applies only BucketEncryption and Tags, and moto has
no AWS::S3::BucketPolicy at all (the stack says CREATE_COMPLETE, the policy
is never put, DescribeStackResources then fails). This type wraps moto's
bucket and also applies PublicAccessBlockConfiguration,
LifecycleConfiguration (expiration, AbortIncompleteMultipartUpload,
noncurrent-version expiration, transitions, prefix and tag filters) and
OwnershipControls, on create and in place on update (a new BucketName
replaces the bucket). AWS::S3::BucketPolicy puts (and on delete removes)
the bucket's policy.

moto enforces a bucket policy's ``Principal: "*"`` statements on object
calls but ignores their conditions, so the usual "deny unless
aws:SecureTransport" statement denies everything. The bucket's permission
check is replaced by one that evaluates ``Bool`` / ``StringEquals`` /
``StringNotEquals`` conditions on ``aws:SecureTransport`` as ``true`` (the
emulator stands in for AWS's HTTPS endpoints); a statement with a condition
it cannot evaluate does not apply.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.s3.models import FakeBucket, s3_backends
from moto.utilities.utils import get_partition

from .cfn_common import ResourceFailed, as_bool, as_int, check_failure, props, tag_dict

BUCKET = "AWS::S3::Bucket"
POLICY = "AWS::S3::BucketPolicy"


def _backend(account_id: str, region_name: str):
    return s3_backends[account_id][get_partition(region_name)]


# ---------------------------------------------------------------------------
# CloudFormation -> moto's API shapes


def _lifecycle_rules(config: dict[str, Any]) -> list[dict[str, Any]]:
    rules = []
    for r in config.get("Rules") or []:
        rule: dict[str, Any] = {"Status": r.get("Status", "Enabled")}
        if r.get("Id"):
            rule["ID"] = r["Id"]
        tags = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in r.get("TagFilters") or []]
        prefix = r.get("Prefix")
        if tags and (prefix is not None or len(tags) > 1):
            rule["Filter"] = {"And": {"Prefix": prefix or "", "Tag": tags}}
        elif tags:
            rule["Filter"] = {"Tag": tags[0]}
        else:
            rule["Filter"] = {"Prefix": prefix or ""}
        expiration: dict[str, Any] = {}
        if r.get("ExpirationInDays") is not None:
            expiration["Days"] = as_int(r["ExpirationInDays"])
        if r.get("ExpirationDate"):
            expiration["Date"] = r["ExpirationDate"]
        if r.get("ExpiredObjectDeleteMarker") is not None:
            expiration["ExpiredObjectDeleteMarker"] = as_bool(r["ExpiredObjectDeleteMarker"])
        if expiration:
            rule["Expiration"] = expiration
        abort = r.get("AbortIncompleteMultipartUpload")
        if abort:
            rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": as_int(abort["DaysAfterInitiation"])}
        nve = r.get("NoncurrentVersionExpiration")
        if nve:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": as_int(nve["NoncurrentDays"])}
        elif r.get("NoncurrentVersionExpirationInDays") is not None:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": as_int(r["NoncurrentVersionExpirationInDays"])}
        transitions = list(r.get("Transitions") or []) + ([r["Transition"]] if r.get("Transition") else [])
        if transitions:
            rule["Transition"] = [
                {k: v for k, v in (("Days", as_int(t.get("TransitionInDays"))), ("Date", t.get("TransitionDate")),
                                   ("StorageClass", t.get("StorageClass"))) if v is not None}
                for t in transitions
            ]
        nvts = list(r.get("NoncurrentVersionTransitions") or []) + (
            [r["NoncurrentVersionTransition"]] if r.get("NoncurrentVersionTransition") else [])
        if nvts:
            rule["NoncurrentVersionTransition"] = [
                {k: v for k, v in (("NoncurrentDays", as_int(t.get("TransitionInDays"))),
                                   ("StorageClass", t.get("StorageClass")),
                                   ("NewerNoncurrentVersions", t.get("NewerNoncurrentVersions"))) if v is not None}
                for t in nvts
            ]
        rules.append(rule)
    return rules


def _apply(backend: Any, name: str, new: dict[str, Any], old: dict[str, Any]) -> None:
    """Puts what ``new`` declares; removes what only ``old`` declared."""
    from moto.s3.cloud_formation import cfn_to_api_encryption

    if new.get("BucketEncryption"):
        backend.put_bucket_encryption(name, cfn_to_api_encryption(new["BucketEncryption"]))
    elif old.get("BucketEncryption"):
        backend.delete_bucket_encryption(name)
    pab = new.get("PublicAccessBlockConfiguration")
    if pab:
        backend.put_public_access_block(name, {
            k: as_bool(pab.get(k, False))
            for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
        })
    elif old.get("PublicAccessBlockConfiguration"):
        backend.delete_public_access_block(name)
    lifecycle = new.get("LifecycleConfiguration")
    if lifecycle and lifecycle.get("Rules"):
        backend.put_bucket_lifecycle_configuration(name, _lifecycle_rules(lifecycle))
    elif old.get("LifecycleConfiguration"):
        backend.delete_bucket_lifecycle(name)
    ownership = (new.get("OwnershipControls") or {}).get("Rules") or []
    if ownership:
        backend.put_bucket_ownership_controls(name, ownership[0]["ObjectOwnership"])
    elif old.get("OwnershipControls"):
        backend.delete_bucket_ownership_controls(name)
    if new.get("Tags"):
        backend.put_bucket_tagging(name, tag_dict(new["Tags"]))
    elif old.get("Tags"):
        backend.delete_bucket_tagging(name)
    if new.get("VersioningConfiguration"):
        backend.put_bucket_versioning(name, new["VersioningConfiguration"].get("Status", "Enabled"))


# ---------------------------------------------------------------------------
class BucketResource(CloudFormationModel):
    """AWS::S3::Bucket: moto's bucket, with the properties it skips."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "BucketName"

    @staticmethod
    def cloudformation_type() -> str:
        return BUCKET

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return FakeBucket.has_cfn_attr(attr)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):
        check_failure(account_id, BUCKET, "create", resource_name, kwargs.get("LogicalId"))
        p = props(cloudformation_json)
        backend = _backend(account_id, region_name)
        try:
            bucket = backend.create_bucket(resource_name, region_name)
            _apply(backend, resource_name, p, {})
        except ResourceFailed:
            raise
        except Exception as err:
            raise ResourceFailed(str(getattr(err, "message", err))) from err
        bucket._drctl_props = p
        return bucket

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name,
                                        cloudformation_json, account_id, region_name):
        new = props(cloudformation_json)
        old = getattr(original_resource, "_drctl_props", {})
        explicit = new.get("BucketName")
        if explicit and explicit != original_resource.name:
            bucket = cls.create_from_cloudformation_json(explicit, cloudformation_json, account_id, region_name)
            if cloudformation_json.get("UpdateReplacePolicy") != "Retain":
                _backend(account_id, region_name).delete_bucket(original_resource.name)
            return bucket
        check_failure(account_id, BUCKET, "update", original_resource.name)
        try:
            _apply(_backend(account_id, region_name), original_resource.name, new, old)
        except Exception as err:
            raise ResourceFailed(str(getattr(err, "message", err))) from err
        original_resource._drctl_props = new
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):
        backend = _backend(account_id, region_name)
        if resource_name not in backend.buckets:
            return
        if backend.delete_bucket(resource_name) is None:
            raise ResourceFailed(
                f"The bucket you tried to delete is not empty (Bucket: {resource_name})"
            )


# ---------------------------------------------------------------------------
class BucketPolicyResource(CloudFormationModel):
    """AWS::S3::BucketPolicy (Bucket, PolicyDocument)."""

    def __init__(self, bucket: str, account_id: str, region_name: str):
        self.bucket = bucket
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return POLICY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @property
    def physical_resource_id(self) -> str:
        return self.bucket

    @staticmethod
    def _document(p: dict[str, Any]) -> bytes:
        doc = p.get("PolicyDocument")
        if doc is None:
            raise ResourceFailed("Property PolicyDocument cannot be empty.")
        return (doc if isinstance(doc, str) else json.dumps(doc)).encode()

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):
        p = props(cloudformation_json)
        bucket = p.get("Bucket")
        check_failure(account_id, POLICY, "create", bucket, kwargs.get("LogicalId"))
        backend = _backend(account_id, region_name)
        if not bucket or bucket not in backend.buckets:
            raise ResourceFailed(f"The specified bucket does not exist (Bucket: {bucket})")
        backend.put_bucket_policy(bucket, cls._document(p))
        resource = cls(bucket, account_id, region_name)
        return resource

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name,
                                        cloudformation_json, account_id, region_name):
        p = props(cloudformation_json)
        check_failure(account_id, POLICY, "update", original_resource.bucket)
        if p.get("Bucket") != original_resource.bucket:
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json,
                                                       account_id, region_name)
        _backend(account_id, region_name).put_bucket_policy(original_resource.bucket, cls._document(p))
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        if self.bucket in backend.buckets:
            backend.delete_bucket_policy(self.bucket)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):
        bucket = props(cloudformation_json).get("Bucket") or resource_name
        cls(bucket, account_id, region_name).delete(account_id, region_name)


# ---------------------------------------------------------------------------
# Bucket-policy conditions

# The request context the emulator evaluates conditions against.
CONTEXT = {"aws:securetransport": "true"}


def _condition_holds(condition: dict[str, Any] | None) -> bool:
    for operator, pairs in (condition or {}).items():
        op = operator.replace("IfExists", "")
        for key, expected in (pairs or {}).items():
            actual = CONTEXT.get(key.lower())
            if actual is None:
                return False
            values = [str(v).lower() for v in (expected if isinstance(expected, list) else [expected])]
            if op in ("Bool", "StringEquals", "StringEqualsIgnoreCase"):
                if actual not in values:
                    return False
            elif op in ("StringNotEquals", "StringNotEqualsIgnoreCase"):
                if actual in values:
                    return False
            else:
                return False
    return True


def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    """FakeBucket.get_permission with the statements' conditions evaluated."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    raw = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
    try:
        doc = json.loads(raw)
    except ValueError:
        return PermissionResult.NEUTRAL
    statements = doc.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    applying = []
    for statement in statements:
        if _condition_holds(statement.get("Condition")):
            applying.append({k: v for k, v in statement.items() if k != "Condition"})
    if not applying:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps({"Version": doc.get("Version", "2012-10-17"), "Statement": applying})) \
        .is_action_permitted(action, resource)


get_permission.__drctl__ = True  # type: ignore[attr-defined]


def install() -> None:
    if not getattr(FakeBucket.get_permission, "__drctl__", False):
        FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
