"""CloudFormation: AWS::Backup::* types, Retain, change-set details,
ChangeSetType semantics, roll-back on a failing resource, change-set names,
ARNs, client tokens, role and tags."""

import copy
import json

import pytest
from botocore.exceptions import ClientError
from conftest import ROLE

TEMPLATE = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "drctl-notify"}},
        "Vault": {
            "Type": "AWS::Backup::BackupVault",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BackupVaultName": "orders-vault",
                "BackupVaultTags": {"drctl:policy": "orders"},
                "Notifications": {"SNSTopicArn": {"Ref": "Topic"},
                                  "BackupVaultEvents": ["BACKUP_JOB_COMPLETED", "RESTORE_JOB_COMPLETED"]},
                "LockConfiguration": {"MinRetentionDays": 7, "MaxRetentionDays": 35},
            },
        },
        "Plan": {
            "Type": "AWS::Backup::BackupPlan",
            "Properties": {"BackupPlan": {
                "BackupPlanName": "orders-plan",
                "BackupPlanRule": [{
                    "RuleName": "daily", "TargetBackupVault": {"Ref": "Vault"},
                    "ScheduleExpression": "cron(0 5 * * ? *)", "StartWindowMinutes": 60,
                    "CompletionWindowMinutes": 180, "Lifecycle": {"DeleteAfterDays": 35},
                    "CopyActions": [{"DestinationBackupVaultArn":
                                     "arn:aws:backup:us-west-2:111111111111:backup-vault:dr",
                                     "Lifecycle": {"DeleteAfterDays": 35}}],
                }],
            }},
        },
        "Selection": {
            "Type": "AWS::Backup::BackupSelection",
            "Properties": {"BackupPlanId": {"Ref": "Plan"}, "BackupSelection": {
                "SelectionName": "orders", "IamRoleArn": ROLE,
                "Resources": ["arn:aws:dynamodb:us-east-1:111111111111:table/orders"]}},
        },
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "orders-state",
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "Tags": [{"Key": "team", "Value": "a"}],
            },
        },
    },
    "Outputs": {
        "VaultArn": {"Value": {"Fn::GetAtt": ["Vault", "BackupVaultArn"]}},
        "PlanId": {"Value": {"Ref": "Plan"}},
        "TopicArn": {"Value": {"Fn::GetAtt": ["Topic", "TopicArn"]}},
    },
}


def deploy(cfn, name, template, change_set_type="CREATE", cs="cs1"):
    cfn.create_change_set(StackName=name, ChangeSetName=cs, TemplateBody=json.dumps(template),
                          ChangeSetType=change_set_type)
    cfn.execute_change_set(StackName=name, ChangeSetName=cs)
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def changes_of(cfn, name, template, cs):
    cfn.create_change_set(StackName=name, ChangeSetName=cs, TemplateBody=json.dumps(template),
                          ChangeSetType="UPDATE")
    described = cfn.describe_change_set(StackName=name, ChangeSetName=cs)
    return {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in described["Changes"]}


def test_stack_creates_backup_objects_and_retains_vault(aws):
    cfn, b = aws.client("cloudformation"), aws.client("backup")
    stack = deploy(cfn, "drctl-orders", TEMPLATE)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["VaultArn"].endswith(":backup-vault:orders-vault")
    assert outputs["TopicArn"].endswith(":drctl-notify")
    vault = b.describe_backup_vault(BackupVaultName="orders-vault")
    assert vault["Locked"] is True and vault["MinRetentionDays"] == 7
    assert b.get_backup_vault_notifications(BackupVaultName="orders-vault")["SNSTopicArn"] == outputs["TopicArn"]
    plan = b.get_backup_plan(BackupPlanId=outputs["PlanId"])["BackupPlan"]
    assert plan["Rules"][0]["TargetBackupVaultName"] == "orders-vault"
    assert plan["Rules"][0]["CopyActions"][0]["Lifecycle"]["DeleteAfterDays"] == 35
    selections = b.list_backup_selections(BackupPlanId=outputs["PlanId"])["BackupSelectionsList"]
    assert [s["SelectionName"] for s in selections] == ["orders"]
    events = cfn.describe_stack_events(StackName="drctl-orders")["StackEvents"]
    assert any(e["LogicalResourceId"] == "Vault" and e["ResourceStatus"] == "CREATE_COMPLETE" for e in events)

    cfn.delete_stack(StackName="drctl-orders")
    assert b.describe_backup_vault(BackupVaultName="orders-vault")["BackupVaultName"] == "orders-vault"
    assert "orders-plan" not in [p["BackupPlanName"] for p in b.list_backup_plans()["BackupPlansList"]]
    assert "orders-state" not in aws.client("dynamodb").list_tables()["TableNames"]


def test_change_set_details_and_replacement(aws):
    cfn = aws.client("cloudformation")
    deploy(cfn, "s", TEMPLATE)
    renamed = copy.deepcopy(TEMPLATE)
    renamed["Resources"]["Vault"]["Properties"]["BackupVaultName"] = "orders-vault-2"
    renamed["Resources"]["Table"]["Properties"]["TableName"] = "orders-state-2"
    renamed["Resources"]["Table"]["Properties"]["Tags"] = [{"Key": "team", "Value": "b"}]
    changes = changes_of(cfn, "s", renamed, "rename")
    vault = changes["Vault"]
    assert vault["Action"] == "Modify" and vault["Replacement"] == "True"
    assert vault["PolicyAction"] == "ReplaceAndRetain"
    assert vault["Details"][0]["Target"] == {
        "Attribute": "Properties", "Name": "BackupVaultName", "RequiresRecreation": "Always",
        "Path": "/Properties/BackupVaultName", "AttributeChangeType": "Modify",
        "BeforeValue": "orders-vault", "AfterValue": "orders-vault-2"}
    assert vault["Details"][0]["ChangeSource"] == "DirectModification"
    table = changes["Table"]
    assert table["Replacement"] == "True" and table["Scope"] == ["Properties", "Tags"]
    # the plan refers to the vault: a dynamic change
    plan = changes["Plan"]
    assert plan["Action"] == "Modify" and plan["Replacement"] == "False"
    assert plan["Details"][0]["Evaluation"] == "Dynamic"
    assert plan["Details"][0]["ChangeSource"] == "ResourceReference"

    tweak = copy.deepcopy(TEMPLATE)
    tweak["Resources"]["Plan"]["Properties"]["BackupPlan"]["BackupPlanRule"][0]["ScheduleExpression"] = "cron(0 6 * * ? *)"
    tweak["Resources"]["Vault"]["Properties"]["BackupVaultTags"] = {"drctl:policy": "orders", "x": "y"}
    changes = changes_of(cfn, "s", tweak, "tweak")
    assert changes["Plan"]["Replacement"] == "False"
    assert changes["Plan"]["Details"][0]["Target"]["RequiresRecreation"] == "Never"
    assert changes["Vault"]["Replacement"] == "False" and changes["Vault"]["Scope"] == ["Tags"]
    cfn.execute_change_set(StackName="s", ChangeSetName="tweak")
    stack = cfn.describe_stacks(StackName="s")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    b = aws.client("backup")
    plan_id = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["PlanId"]
    assert b.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"]["Rules"][0]["ScheduleExpression"] == "cron(0 6 * * ? *)"


def test_table_update_in_place_and_rename(aws):
    cfn, ddb = aws.client("cloudformation"), aws.client("dynamodb")
    template = {"Resources": {"Table": copy.deepcopy(TEMPLATE["Resources"]["Table"])}}
    deploy(cfn, "t", template)
    modified = copy.deepcopy(template)
    modified["Resources"]["Table"]["Properties"]["DeletionProtectionEnabled"] = False
    modified["Resources"]["Table"]["Properties"]["Tags"] = [{"Key": "team", "Value": "z"}]
    assert deploy(cfn, "t", modified, "UPDATE", "m1")["StackStatus"] == "UPDATE_COMPLETE"
    renamed = copy.deepcopy(modified)
    renamed["Resources"]["Table"]["Properties"]["TableName"] = "orders-state-2"
    assert deploy(cfn, "t", renamed, "UPDATE", "m2")["StackStatus"] == "UPDATE_COMPLETE"
    names = ddb.list_tables()["TableNames"]
    assert "orders-state-2" in names and "orders-state" not in names


def test_change_set_type_semantics(aws):
    cfn = aws.client("cloudformation")
    template = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    with pytest.raises(ClientError) as err:
        cfn.create_change_set(StackName="missing", ChangeSetName="c", TemplateBody=template,
                              ChangeSetType="UPDATE")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError):  # no type means UPDATE, as on AWS
        cfn.create_change_set(StackName="missing", ChangeSetName="c", TemplateBody=template)
    deploy(cfn, "x", json.loads(template))
    with pytest.raises(ClientError) as err:
        cfn.create_change_set(StackName="x", ChangeSetName="c2", TemplateBody=template, ChangeSetType="CREATE")
    assert "already exists" in err.value.response["Error"]["Message"]
    cfn.create_change_set(StackName="x", ChangeSetName="same", TemplateBody=template)
    described = cfn.describe_change_set(StackName="x", ChangeSetName="same")
    assert described["Status"] == "FAILED" and described["ExecutionStatus"] == "UNAVAILABLE"
    assert described["StatusReason"].startswith("The submitted information didn't contain changes.")
    with pytest.raises(ClientError) as err:
        cfn.update_stack(StackName="x", TemplateBody=template)
    assert err.value.response["Error"]["Message"] == "No updates are to be performed."


def test_failing_resource_rolls_back(aws, control):
    cfn, b = aws.client("cloudformation"), aws.client("backup")
    control.post("/cfn/fail", {"account": aws.account, "resource_type": "AWS::Backup::BackupVault",
                               "pattern": "doomed-*", "message": "Vault quota exceeded"})
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["Vault"]["Properties"]["BackupVaultName"] = "doomed-vault"
    cfn.create_stack(StackName="r", TemplateBody=json.dumps(template))
    stack = cfn.describe_stacks(StackName="r")["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="r")["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed[0]["LogicalResourceId"] == "Vault"
    assert failed[0]["ResourceStatusReason"] == "Vault quota exceeded"
    assert "drctl-notify" not in str(aws.client("sns").list_topics())

    deploy(cfn, "u", TEMPLATE)
    updated = copy.deepcopy(TEMPLATE)
    updated["Resources"]["Vault"]["Properties"]["BackupVaultName"] = "doomed-2"
    updated["Resources"]["Plan"]["Properties"]["BackupPlan"]["BackupPlanRule"][0]["StartWindowMinutes"] = 120
    stack = deploy(cfn, "u", updated, "UPDATE", "c2")
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert "doomed-2" not in [v["BackupVaultName"] for v in b.list_backup_vaults()["BackupVaultList"]]


# ---------------------------------------------------------------------------
# Change-set identity: names, ARNs, client tokens, role and tags

TOPIC = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
OTHER_TOPIC = json.dumps({"Resources": {"Other": {"Type": "AWS::SNS::Topic"}}})
CFN_ROLE = "arn:aws:iam::123456789012:role/drctl-cfn"


def raw_bodies(client):
    """The raw HTTP bodies the client receives, to look at the wire format."""
    bodies = []
    client.meta.events.register(
        "before-parse.cloudformation.*",
        lambda response_dict, **_: bodies.append((response_dict["status_code"], response_dict["body"])),
    )
    return bodies


def test_create_change_set_name_already_on_the_stack(aws):
    """CreateChangeSet — Errors: "AlreadyExists: The resource with the name
    requested already exists. HTTP Status Code: 400" (CloudFormation API
    Reference, CreateChangeSet; botocore's model: AlreadyExistsException,
    awsQueryError code AlreadyExistsException, httpStatusCode 400). The
    earlier change set is neither replaced nor joined by a second one. Names
    are per stack: the same name on another stack is a new change set."""
    cfn = aws.client("cloudformation")
    first = cfn.create_change_set(StackName="dup", ChangeSetName="cs", TemplateBody=TOPIC,
                                  ChangeSetType="CREATE", Description="first")
    bodies = raw_bodies(cfn)
    with pytest.raises(ClientError) as err:
        cfn.create_change_set(StackName="dup", ChangeSetName="cs", TemplateBody=OTHER_TOPIC,
                              ChangeSetType="CREATE", Description="second")
    assert err.value.response["Error"]["Code"] == "AlreadyExistsException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    status, body = bodies[-1]
    assert status == 400 and body.lstrip().startswith(b"<ErrorResponse")
    assert b"<Code>AlreadyExistsException</Code>" in body
    summaries = cfn.list_change_sets(StackName="dup")["Summaries"]
    assert [s["ChangeSetId"] for s in summaries] == [first["Id"]]
    described = cfn.describe_change_set(StackName="dup", ChangeSetName="cs")
    assert described["ChangeSetId"] == first["Id"] and described["Description"] == "first"
    assert [c["ResourceChange"]["LogicalResourceId"] for c in described["Changes"]] == ["Topic"]

    other = cfn.create_change_set(StackName="dup-2", ChangeSetName="cs", TemplateBody=TOPIC,
                                  ChangeSetType="CREATE")
    assert other["Id"] != first["Id"] and other["StackId"] != first["StackId"]


def test_create_change_set_retry_with_client_token(aws):
    """CreateChangeSet — ClientToken: "A unique identifier for this
    CreateChangeSet request. Specify this token if you plan to retry requests
    so that CloudFormation knows that you're not attempting to create another
    change set with the same name. You might retry CreateChangeSet requests
    to ensure that CloudFormation successfully received them." (CloudFormation
    API Reference, CreateChangeSet, Request Parameters.) A retry with the
    same name and token answers the first request's Id and StackId and
    creates nothing; another token, or none, is AlreadyExistsException
    (CreateChangeSet — Errors)."""
    cfn = aws.client("cloudformation")
    first = cfn.create_change_set(StackName="tok", ChangeSetName="cs", TemplateBody=TOPIC,
                                  ChangeSetType="CREATE", ClientToken="t-1")
    again = cfn.create_change_set(StackName="tok", ChangeSetName="cs", TemplateBody=TOPIC,
                                  ChangeSetType="CREATE", ClientToken="t-1")
    assert (again["Id"], again["StackId"]) == (first["Id"], first["StackId"])
    for token in ({"ClientToken": "t-2"}, {}):
        with pytest.raises(ClientError) as err:
            cfn.create_change_set(StackName="tok", ChangeSetName="cs", TemplateBody=TOPIC,
                                  ChangeSetType="CREATE", **token)
        assert err.value.response["Error"]["Code"] == "AlreadyExistsException"
    assert [s["ChangeSetId"] for s in cfn.list_change_sets(StackName="tok")["Summaries"]] == [first["Id"]]

    # A change set made without a token is not matched by a retry without one.
    cfn.create_change_set(StackName="tok", ChangeSetName="plain", TemplateBody=TOPIC,
                          ChangeSetType="CREATE")
    with pytest.raises(ClientError) as err:
        cfn.create_change_set(StackName="tok", ChangeSetName="plain", TemplateBody=TOPIC,
                              ChangeSetType="CREATE")
    assert err.value.response["Error"]["Code"] == "AlreadyExistsException"


@pytest.mark.parametrize("with_stack_name", [True, False])
def test_change_set_arn_as_change_set_name(aws, with_stack_name):
    """DescribeChangeSet, ExecuteChangeSet, DeleteChangeSet — ChangeSetName:
    "The name or Amazon Resource Name (ARN) of the change set ..."; StackName:
    "If you specified the name of a change set, specify the stack name or ID
    (ARN) ..." (CloudFormation API Reference, Request Parameters of each), so
    the ARN (CreateChangeSet's Id) alone names the change set, and with the
    StackName it still does. A deleted one is gone: DescribeChangeSet —
    Errors: "ChangeSetNotFound: The specified change set name or ID doesn't
    exit. ... HTTP Status Code: 404"."""
    cfn = aws.client("cloudformation")
    stack = {"StackName": "arn-cs"} if with_stack_name else {}
    created = cfn.create_change_set(StackName="arn-cs", ChangeSetName="c1", TemplateBody=TOPIC,
                                    ChangeSetType="CREATE")
    arn = created["Id"]
    assert arn.startswith("arn:aws:cloudformation:") and ":changeSet/c1/" in arn
    described = cfn.describe_change_set(ChangeSetName=arn, **stack)
    assert described["ChangeSetName"] == "c1" and described["StackId"] == created["StackId"]
    cfn.execute_change_set(ChangeSetName=arn, **stack)
    assert cfn.describe_stacks(StackName="arn-cs")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert cfn.describe_change_set(ChangeSetName=arn, **stack)["ExecutionStatus"] == "EXECUTE_COMPLETE"

    update = cfn.create_change_set(StackName="arn-cs", ChangeSetName="c2", TemplateBody=OTHER_TOPIC)
    cfn.delete_change_set(ChangeSetName=update["Id"], **stack)
    with pytest.raises(ClientError) as err:
        cfn.describe_change_set(ChangeSetName=update["Id"], **stack)
    assert err.value.response["Error"]["Code"] == "ChangeSetNotFound"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert [s["ChangeSetName"] for s in cfn.list_change_sets(StackName="arn-cs")["Summaries"]] == ["c1"]


def test_change_set_role_and_tags_reach_the_stack(aws):
    """CreateChangeSet — RoleARN: "The Amazon Resource Name (ARN) of an IAM
    role that CloudFormation assumes when executing the change set ...
    CloudFormation uses this role for all future operations on the stack ...
    If you don't specify a value, CloudFormation uses the role that was
    previously associated with the stack." Tags: "Key-value pairs to
    associate with this stack." DescribeChangeSet — Tags: "If you execute the
    change set, the tags that will be associated with the stack."
    DescribeStacks — Stack.RoleARN: "The Amazon Resource Name (ARN) of an IAM
    role that's associated with the stack." (CloudFormation API Reference.)
    DescribeChangeSet has no RoleARN among its response elements, so the
    role shows on the stack only."""
    cfn = aws.client("cloudformation")
    tags = [{"Key": "team", "Value": "dr"}, {"Key": "owner", "Value": "drctl"}]
    cfn.create_change_set(StackName="role", ChangeSetName="c1", TemplateBody=TOPIC,
                          ChangeSetType="CREATE", RoleARN=CFN_ROLE, Tags=tags)
    described = cfn.describe_change_set(StackName="role", ChangeSetName="c1")
    assert sorted(described["Tags"], key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])
    cfn.execute_change_set(StackName="role", ChangeSetName="c1")
    stack = cfn.describe_stacks(StackName="role")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["RoleARN"] == CFN_ROLE
    assert sorted(stack["Tags"], key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])

    # An UPDATE change set without a role keeps the stack's role.
    cfn.create_change_set(StackName="role", ChangeSetName="c2", TemplateBody=OTHER_TOPIC)
    cfn.execute_change_set(StackName="role", ChangeSetName="c2")
    stack = cfn.describe_stacks(StackName="role")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE" and stack["RoleARN"] == CFN_ROLE

    # ... and one with another role and tags hands both to the stack.
    role2 = CFN_ROLE + "-2"
    cfn.create_change_set(StackName="role", ChangeSetName="c3", TemplateBody=TOPIC, RoleARN=role2,
                          Tags=[{"Key": "team", "Value": "ops"}])
    cfn.execute_change_set(StackName="role", ChangeSetName="c3")
    stack = cfn.describe_stacks(StackName="role")["Stacks"][0]
    assert stack["RoleARN"] == role2 and stack["Tags"] == [{"Key": "team", "Value": "ops"}]


def test_exports_of_a_change_set_stack_are_importable(aws):
    """Outputs — Export: "The name of the resource output to be exported for a
    cross-stack reference." Fn::ImportValue: "returns the value of an output
    exported by another stack." An export exists once its stack is created
    and follows the stack's updates; a stack that imports a missing export
    fails ("No export named ... found"). (CloudFormation User Guide,
    "Get exported outputs from a deployed CloudFormation stack" and
    Fn::ImportValue.) moto registers exports only in CreateStack."""
    cfn = aws.client("cloudformation")

    def exporting(value):
        return {"Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": value}}},
                "Outputs": {"Arn": {"Value": {"Ref": "T"}, "Export": {"Name": "shared-topic"}}}}

    deploy(cfn, "exporter", exporting("first"))
    exports = {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]}
    assert exports["shared-topic"].endswith(":first")

    importer = {"Resources": {"Q": {"Type": "AWS::SQS::Queue",
                                    "Properties": {"QueueName": "importer",
                                                   "Tags": [{"Key": "topic", "Value": {
                                                       "Fn::ImportValue": "shared-topic"}}]}}}}
    assert deploy(cfn, "importer", importer)["StackStatus"] == "CREATE_COMPLETE"

    deploy(cfn, "exporter", exporting("second"), change_set_type="UPDATE", cs="cs2")
    exports = {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]}
    assert exports["shared-topic"].endswith(":second")

    missing = {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {
        "QueueName": {"Fn::ImportValue": "no-such-export"}}}}}
    assert deploy(cfn, "orphan", missing)["StackStatus"] == "ROLLBACK_COMPLETE"


def test_list_change_sets_lists_only_the_named_stack(aws):
    """ListChangeSets — StackName (required): "The name or the Amazon
    Resource Name (ARN) of the CloudFormation stack for which you want to
    list change sets." (CloudFormation API Reference.)"""
    cfn = aws.client("cloudformation")
    deploy(cfn, "one", json.loads(TOPIC), cs="first")
    deploy(cfn, "two", json.loads(OTHER_TOPIC), cs="second")
    listed = cfn.list_change_sets(StackName="one")["Summaries"]
    assert [c["ChangeSetName"] for c in listed] == ["first"]
    stack_id = cfn.describe_stacks(StackName="two")["Stacks"][0]["StackId"]
    assert [c["ChangeSetName"] for c in cfn.list_change_sets(StackName=stack_id)["Summaries"]] == ["second"]
