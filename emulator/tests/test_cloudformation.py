"""CloudFormation: AWS::Backup::* types, Retain, change-set details,
ChangeSetType semantics, roll-back on a failing resource."""

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
