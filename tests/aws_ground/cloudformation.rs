//! CloudFormation as drctl deploys with it: a rendered policy through
//! CREATE change sets, a replacement reported with the property that
//! forces it, the "no changes" answers, an aborted create, and roll-backs
//! with their reasons.

use super::*;

use std::collections::HashSet;

use aws_sdk_cloudformation::types::{
    Capability, ChangeAction, ChangeSetStatus, ChangeSetType, ExecutionStatus, Replacement, RequiresRecreation, ResourceStatus, StackStatus,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use support::{CfnAction, CfnFailure, DEADLINE, DR_REGION, REGION};

fn spatial_scans() -> drctl::policy::TablePolicy {
    let path = "desired/spatial-scans.yaml";
    drctl::policy::load(path, &std::fs::read(path).unwrap()).unwrap().policy
}

/// The stack tags drctl puts on every stack (policy, content hash, commit).
fn stack_tags() -> Vec<aws_sdk_cloudformation::types::Tag> {
    [("drctl:policy", "spatial-scans"), ("drctl:hash", "0123abcd"), ("drctl:commit", "91114e9")]
        .map(|(key, value)| aws_sdk_cloudformation::types::Tag::builder().key(key).value(value).build())
        .into()
}

async fn create_change_set(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    name: &str,
    kind: ChangeSetType,
    body: &str,
) -> aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput {
    cfn.create_change_set()
        .stack_name(stack)
        .change_set_name(name)
        .change_set_type(kind)
        .template_body(body)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .set_tags(Some(stack_tags()))
        .send()
        .await
        .unwrap_or_else(|err| panic!("CreateChangeSet {stack}/{name}: {}", DisplayErrorContext(err)));
    support::poll(&format!("change set {stack}/{name} created"), DEADLINE, || async {
        let out = cfn.describe_change_set().stack_name(stack).change_set_name(name).send().await.ok()?;
        matches!(out.status(), Some(ChangeSetStatus::CreateComplete | ChangeSetStatus::Failed)).then_some(out)
    })
    .await
}

/// Every change of a change set, across pages.
async fn changes(cfn: &aws_sdk_cloudformation::Client, stack: &str, name: &str) -> Vec<aws_sdk_cloudformation::types::ResourceChange> {
    cfn.describe_change_set()
        .stack_name(stack)
        .change_set_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(|err| panic!("DescribeChangeSet {stack}/{name}: {}", DisplayErrorContext(err)))
        .into_iter()
        .filter_map(|change| change.resource_change)
        .collect()
}

/// Deploys a stack the way drctl does: CREATE change set, execute, wait.
async fn deploy_by_change_set(cfn: &aws_sdk_cloudformation::Client, stack: &str, body: &str) -> aws_sdk_cloudformation::types::Stack {
    let created = create_change_set(cfn, stack, "drctl-create", ChangeSetType::Create, body).await;
    assert_eq!(created.status(), Some(&ChangeSetStatus::CreateComplete), "{stack}: {:?}", created.status_reason());
    cfn.execute_change_set().stack_name(stack).change_set_name("drctl-create").send().await.unwrap();
    support::wait_stack(cfn, stack).await
}

/// The rendered stacks of `desired/spatial-scans.yaml` (bootstrap topics
/// first, then the DR vault in us-west-2, then the primary) deploy through
/// CREATE change sets; CloudFormation reads them back and the Backup API
/// lists what they made; a stack delete keeps the vault.
#[tokio::test]
async fn rendered_policy_deploys_by_change_set_and_creates_the_backup_objects() {
    let account = support::account().await;
    let policy = spatial_scans();
    let stacks = drctl::render::render(&policy).unwrap();
    let primary = stacks.iter().find(|s| s.role == drctl::render::StackRole::Primary).unwrap();
    let dr = stacks.iter().find(|s| s.role == drctl::render::StackRole::DrCopy).unwrap();
    assert_eq!((primary.name.as_str(), primary.region.as_str()), ("drctl-spatial-scans", REGION));
    assert_eq!((dr.name.as_str(), dr.region.as_str()), ("drctl-spatial-scans-dr-us-west-2", DR_REGION));

    // The shared topics first (as `drctl bootstrap` does), then the DR vault
    // the plan copies to, then the primary.
    for bootstrap in drctl::render::bootstraps([&policy], None) {
        let stack = drctl::render::render_bootstrap(&bootstrap).unwrap();
        let cfn = account.region(&stack.region).cloudformation;
        let deployed = deploy_by_change_set(&cfn, &stack.name, &stack.to_json()).await;
        assert_eq!(deployed.stack_status(), Some(&StackStatus::CreateComplete), "{}: {:?}", stack.name, deployed.stack_status_reason());
    }
    let dr_cfn = account.region(DR_REGION).cloudformation;
    let dr_stack = deploy_by_change_set(&dr_cfn, &dr.name, &dr.to_json()).await;
    assert_eq!(dr_stack.stack_status(), Some(&StackStatus::CreateComplete), "{:?}", dr_stack.stack_status_reason());

    let cfn = account.clients().cloudformation;
    let created = create_change_set(&cfn, &primary.name, "drctl-create", ChangeSetType::Create, &primary.to_json()).await;
    assert_eq!(created.status(), Some(&ChangeSetStatus::CreateComplete), "{:?}", created.status_reason());
    assert_eq!(created.execution_status(), Some(&ExecutionStatus::Available));
    let reviewed = cfn.describe_stacks().stack_name(&primary.name).send().await.unwrap();
    assert_eq!(reviewed.stacks()[0].stack_status(), Some(&StackStatus::ReviewInProgress), "a CREATE change set makes an empty stack");
    let mut added: Vec<(String, String)> = changes(&cfn, &primary.name, "drctl-create")
        .await
        .iter()
        .map(|c| {
            assert_eq!(c.action(), Some(&ChangeAction::Add), "{c:?}");
            (c.logical_resource_id().unwrap().to_string(), c.resource_type().unwrap().to_string())
        })
        .collect();
    added.sort();
    assert_eq!(
        added,
        [
            ("BackupPlan", "AWS::Backup::BackupPlan"),
            ("BackupRole", "AWS::IAM::Role"),
            ("BackupSelection", "AWS::Backup::BackupSelection"),
            ("BackupVault", "AWS::Backup::BackupVault"),
        ]
        .map(|(id, kind)| (id.to_string(), kind.to_string()))
    );

    cfn.execute_change_set().stack_name(&primary.name).change_set_name("drctl-create").send().await.unwrap();
    let stack = support::wait_stack(&cfn, &primary.name).await;
    assert_eq!(stack.stack_status(), Some(&StackStatus::CreateComplete), "{:?}", stack.stack_status_reason());
    assert_eq!(stack.tags(), stack_tags(), "the change set's tags are the stack's");
    assert_eq!(support::output(&stack, "VaultName"), Some("drctl-spatial-scans"));
    let vault_arn = account.vault_arn(REGION, "drctl-spatial-scans");
    assert_eq!(support::output(&stack, "VaultArn"), Some(vault_arn.as_str()));
    let plan_id = support::output(&stack, "PlanId").expect("PlanId output").to_string();
    let selection_id = support::output(&stack, "SelectionId").expect("SelectionId output").to_string();
    let role_arn = support::output(&stack, "BackupRoleArn").expect("BackupRoleArn output").to_string();

    // GetTemplate returns what was sent.
    let template = cfn.get_template().stack_name(&primary.name).send().await.unwrap();
    let deployed: Value = serde_json::from_str(template.template_body().unwrap()).unwrap();
    let sent: Value = serde_json::from_str(&primary.to_json()).unwrap();
    assert_eq!(deployed, sent);

    // Resource-level events, every resource CREATE_COMPLETE.
    let events: Vec<_> = cfn.describe_stack_events().stack_name(&primary.name).into_paginator().items().send().try_collect().await.unwrap();
    let completed: HashSet<&str> = events
        .iter()
        .filter(|e| e.resource_status() == Some(&ResourceStatus::CreateComplete))
        .filter_map(|e| e.logical_resource_id())
        .collect();
    for id in ["BackupVault", "BackupRole", "BackupPlan", "BackupSelection", primary.name.as_str()] {
        assert!(completed.contains(id), "no CREATE_COMPLETE event for {id}: {completed:?}");
    }

    let listed: Vec<_> =
        cfn.list_stacks().stack_status_filter(StackStatus::CreateComplete).into_paginator().items().send().try_collect().await.unwrap();
    let names: HashSet<&str> = listed.iter().filter_map(|s| s.stack_name()).collect();
    assert!(names.contains(primary.name.as_str()) && names.contains(drctl::render::BOOTSTRAP_STACK), "{names:?}");

    // What the stacks made, through the Backup API.
    let backup = account.clients().backup;
    assert!(list_vault_names(&backup).await.contains(&"drctl-spatial-scans".to_string()));
    assert!(list_vault_names(&account.region(DR_REGION).backup).await.contains(&"drctl-spatial-scans".to_string()));
    let plans: Vec<_> = backup.list_backup_plans().into_paginator().items().send().try_collect().await.unwrap();
    let plan = plans.iter().find(|p| p.backup_plan_id() == Some(plan_id.as_str())).expect("the stack's plan is listed");
    assert_eq!(plan.backup_plan_name(), Some("drctl-spatial-scans"));
    let plan_detail = backup.get_backup_plan().backup_plan_id(&plan_id).send().await.unwrap();
    let rule = &plan_detail.backup_plan().unwrap().rules()[0];
    assert_eq!(rule.schedule_expression(), Some("cron(0 */6 * * ? *)"));
    assert_eq!(rule.lifecycle().and_then(|l| l.delete_after_days()), Some(35));
    assert_eq!(
        rule.copy_actions()[0].destination_backup_vault_arn(),
        account.vault_arn(DR_REGION, "drctl-spatial-scans"),
        "the plan copies to the DR stack's vault"
    );
    let selections: Vec<_> =
        backup.list_backup_selections().backup_plan_id(&plan_id).into_paginator().items().send().try_collect().await.unwrap();
    assert_eq!(selections.len(), 1);
    assert_eq!(selections[0].selection_id(), Some(selection_id.as_str()));
    assert_eq!(selections[0].selection_name(), Some(drctl::render::selection_name("spatial-scans", "SpatialScans").as_str()));
    let selection = backup.get_backup_selection().backup_plan_id(&plan_id).selection_id(&selection_id).send().await.unwrap();
    let selection = selection.backup_selection().unwrap();
    assert_eq!(selection.resources(), [account.table_arn(REGION, "SpatialScans")]);
    assert_eq!(selection.iam_role_arn(), role_arn);

    // Delete: the vault is retained (DeletionPolicy Retain), the plan goes.
    cfn.delete_stack().stack_name(&primary.name).send().await.unwrap();
    let deleted = support::poll("primary stack deleted", DEADLINE, || async {
        let all: Vec<_> = cfn.list_stacks().into_paginator().items().send().try_collect().await.ok()?;
        all.into_iter().find(|s| s.stack_name() == Some(primary.name.as_str()) && s.stack_status().is_some_and(support::is_terminal))
    })
    .await;
    assert_eq!(deleted.stack_status(), Some(&StackStatus::DeleteComplete), "{:?}", deleted.stack_status_reason());
    let gone = cfn.describe_stacks().stack_name(&primary.name).send().await.unwrap_err();
    assert_eq!(gone.into_service_error().meta().code(), Some("ValidationError"));
    assert!(list_vault_names(&backup).await.contains(&"drctl-spatial-scans".to_string()), "the vault is retained");
    let plans: Vec<_> = backup.list_backup_plans().into_paginator().items().send().try_collect().await.unwrap();
    assert!(plans.iter().all(|p| p.backup_plan_id() != Some(plan_id.as_str())), "the plan is deleted with the stack");
}

const TABLE_TEMPLATE: &str = r#"{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Resources": {
    "Table": {
      "Type": "AWS::DynamoDB::Table",
      "Properties": {
        "TableName": "__NAME__",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]
      }
    }
  },
  "Outputs": {"TableName": {"Value": {"Ref": "Table"}}}
}"#;

fn table_template(name: &str) -> String {
    TABLE_TEMPLATE.replace("__NAME__", name)
}

/// A renamed table is a replacement, and the change set says so with the
/// property that forces it: what drctl's destructive-change guard reads.
#[tokio::test]
async fn renaming_a_table_in_a_change_set_reports_replacement_with_details() {
    let account = support::account().await;
    let cfn = account.clients().cloudformation;
    let stack = support::deploy_stack(&cfn, "renames", &table_template("Before")).await;
    assert_eq!(stack.stack_status(), Some(&StackStatus::CreateComplete), "{:?}", stack.stack_status_reason());

    let out = create_change_set(&cfn, "renames", "rename", ChangeSetType::Update, &table_template("After")).await;
    assert_eq!(out.status(), Some(&ChangeSetStatus::CreateComplete), "{:?}", out.status_reason());
    let changes = changes(&cfn, "renames", "rename").await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    let change = &changes[0];
    assert_eq!(change.action(), Some(&ChangeAction::Modify));
    assert_eq!(change.logical_resource_id(), Some("Table"));
    assert_eq!(change.physical_resource_id(), Some("Before"));
    assert_eq!(change.replacement(), Some(&Replacement::True));
    assert_eq!(change.policy_action().map(|a| a.as_str()), Some("ReplaceAndDelete"));
    let detail = change
        .details()
        .iter()
        .find(|d| d.target().and_then(|t| t.name()) == Some("TableName"))
        .unwrap_or_else(|| panic!("no TableName detail: {:?}", change.details()));
    let target = detail.target().unwrap();
    assert_eq!(target.attribute().map(|a| a.as_str()), Some("Properties"));
    assert_eq!(target.requires_recreation(), Some(&RequiresRecreation::Always));
    assert_eq!((target.before_value(), target.after_value()), (Some("Before"), Some("After")));
    assert_eq!(detail.evaluation().map(|e| e.as_str()), Some("Static"));
    assert_eq!(detail.change_source().map(|c| c.as_str()), Some("DirectModification"));

    // Executed, the table is replaced: the new name exists, the old one not.
    cfn.execute_change_set().stack_name("renames").change_set_name("rename").send().await.unwrap();
    let stack = support::wait_stack(&cfn, "renames").await;
    assert_eq!(stack.stack_status(), Some(&StackStatus::UpdateComplete), "{:?}", stack.stack_status_reason());
    let dynamodb = account.clients().dynamodb;
    let tables = dynamodb.list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), ["After"]);
}

/// An UPDATE change set of an unchanged template fails with CloudFormation's
/// "didn't contain changes" reason, and UpdateStack says "No updates are to
/// be performed.": drctl treats both as "nothing to do" and deletes the
/// change set.
#[tokio::test]
async fn unchanged_template_change_set_fails_with_the_no_changes_reason_and_is_deleted() {
    let account = support::account().await;
    let cfn = account.clients().cloudformation;
    let body = table_template("Unchanged");
    deploy_by_change_set(&cfn, "same", &body).await;

    let out = create_change_set(&cfn, "same", "noop", ChangeSetType::Update, &body).await;
    assert_eq!(out.status(), Some(&ChangeSetStatus::Failed));
    assert_eq!(out.execution_status(), Some(&ExecutionStatus::Unavailable));
    let reason = out.status_reason().unwrap();
    assert_eq!(reason, "The submitted information didn't contain changes. Submit different information to create a change set.");
    assert!(drctl::plan::changeset::is_no_change(reason));
    assert!(out.changes().is_empty());

    let listed = cfn.list_change_sets().stack_name("same").send().await.unwrap();
    let mut names: Vec<&str> = listed.summaries().iter().filter_map(|s| s.change_set_name()).collect();
    names.sort();
    assert_eq!(names, ["drctl-create", "noop"]);
    cfn.delete_change_set().stack_name("same").change_set_name("noop").send().await.unwrap();
    let err = cfn.describe_change_set().stack_name("same").change_set_name("noop").send().await.unwrap_err().into_service_error();
    assert!(err.is_change_set_not_found_exception(), "{err:?}");
    let listed = cfn.list_change_sets().stack_name("same").send().await.unwrap();
    assert_eq!(listed.summaries().iter().filter_map(|s| s.change_set_name()).collect::<Vec<_>>(), ["drctl-create"]);

    let err = cfn.update_stack().stack_name("same").template_body(&body).send().await.unwrap_err().into_service_error();
    assert_eq!(err.meta().code(), Some("ValidationError"));
    assert!(drctl::plan::changeset::is_no_change(err.meta().message().unwrap_or_default()), "{err:?}");
}

/// A CREATE change set that is deleted instead of executed leaves its empty
/// stack in REVIEW_IN_PROGRESS (what drctl cleans up), and DeleteStack
/// removes it.
#[tokio::test]
async fn aborted_create_change_set_leaves_a_review_in_progress_stack_to_delete() {
    let account = support::account().await;
    let cfn = account.clients().cloudformation;
    let out = create_change_set(&cfn, "aborted", "drctl-create", ChangeSetType::Create, &table_template("Aborted")).await;
    assert_eq!(out.status(), Some(&ChangeSetStatus::CreateComplete));
    cfn.delete_change_set().stack_name("aborted").change_set_name("drctl-create").send().await.unwrap();
    let stack = cfn.describe_stacks().stack_name("aborted").send().await.unwrap();
    assert_eq!(stack.stacks()[0].stack_status(), Some(&StackStatus::ReviewInProgress));
    // As on AWS, a stack in REVIEW_IN_PROGRESS takes another CREATE change
    // set (how a resumed run can finish the create), but not an UPDATE one.
    let again = create_change_set(&cfn, "aborted", "drctl-create-2", ChangeSetType::Create, &table_template("Aborted")).await;
    assert_eq!(again.status(), Some(&ChangeSetStatus::CreateComplete), "{:?}", again.status_reason());
    let err = cfn
        .create_change_set()
        .stack_name("aborted")
        .change_set_name("update")
        .change_set_type(ChangeSetType::Update)
        .template_body(table_template("Aborted"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.meta().code(), Some("ValidationError"), "{err:?}");

    cfn.delete_stack().stack_name("aborted").send().await.unwrap();
    let err = cfn.describe_stacks().stack_name("aborted").send().await.unwrap_err().into_service_error();
    assert_eq!(err.meta().code(), Some("ValidationError"));
    assert!(err.meta().message().unwrap_or_default().contains("does not exist"), "{err:?}");
    assert!(account.clients().dynamodb.list_tables().send().await.unwrap().table_names().is_empty());
}

/// A resource made to fail on update rolls the stack back to
/// UPDATE_ROLLBACK_COMPLETE (a failure for drctl) and the change set ends
/// EXECUTE_FAILED.
#[tokio::test]
async fn failing_update_rolls_back_and_marks_the_change_set_execute_failed() {
    let account = support::account().await;
    let cfn = account.clients().cloudformation;
    let body = table_template("Stable");
    assert_eq!(support::deploy_stack(&cfn, "stable", &body).await.stack_status(), Some(&StackStatus::CreateComplete));
    let changed = body.replace("PAY_PER_REQUEST\",", "PAY_PER_REQUEST\", \"DeletionProtectionEnabled\": true,");
    assert_ne!(changed, body);
    // Once: the roll-back's own update of the table must go through.
    account.fail_cfn_resource(
        CfnFailure::new("Stable", "Update refused for the test").resource_type("AWS::DynamoDB::Table").on(CfnAction::Update).times(1),
    );
    let out = create_change_set(&cfn, "stable", "protect", ChangeSetType::Update, &changed).await;
    assert_eq!(out.status(), Some(&ChangeSetStatus::CreateComplete), "{:?}", out.status_reason());
    assert_eq!(changes(&cfn, "stable", "protect").await[0].replacement(), Some(&Replacement::False));
    cfn.execute_change_set().stack_name("stable").change_set_name("protect").send().await.unwrap();
    let stack = support::wait_stack(&cfn, "stable").await;
    assert_eq!(stack.stack_status(), Some(&StackStatus::UpdateRollbackComplete), "{:?}", stack.stack_status_reason());
    let events: Vec<_> = cfn.describe_stack_events().stack_name("stable").into_paginator().items().send().try_collect().await.unwrap();
    let failed = events.iter().find(|e| e.resource_status() == Some(&ResourceStatus::UpdateFailed)).expect("an UPDATE_FAILED event");
    assert_eq!(failed.logical_resource_id(), Some("Table"));
    assert!(failed.resource_status_reason().unwrap_or_default().contains("Update refused for the test"), "{failed:?}");
    let change_set = cfn.describe_change_set().stack_name("stable").change_set_name("protect").send().await.unwrap();
    assert_eq!(change_set.execution_status(), Some(&ExecutionStatus::ExecuteFailed));
    let template = cfn.get_template().stack_name("stable").send().await.unwrap();
    let deployed: Value = serde_json::from_str(template.template_body().unwrap()).unwrap();
    assert_eq!(deployed, serde_json::from_str::<Value>(&body).unwrap(), "the previous template is back");
}

/// A resource made to fail rolls a new stack back (ROLLBACK_COMPLETE) and
/// the failure reason is in the resource's event.
#[tokio::test]
async fn failing_resource_rolls_the_stack_back_with_its_reason_in_the_events() {
    let account = support::account().await;
    let cfn = account.clients().cloudformation;
    account.fail_cfn_resource(CfnFailure::new("Doomed", "Table limit exceeded").resource_type("AWS::DynamoDB::Table"));
    let stack = support::deploy_stack(&cfn, "doomed", &table_template("Doomed")).await;
    assert_eq!(stack.stack_status(), Some(&StackStatus::RollbackComplete), "{:?}", stack.stack_status_reason());
    let events: Vec<_> = cfn.describe_stack_events().stack_name("doomed").into_paginator().items().send().try_collect().await.unwrap();
    let failed = events
        .iter()
        .find(|e| e.logical_resource_id() == Some("Table") && e.resource_status() == Some(&ResourceStatus::CreateFailed))
        .expect("a CREATE_FAILED event for the table");
    assert!(failed.resource_status_reason().unwrap_or_default().contains("Table limit exceeded"), "{failed:?}");
    assert!(account.clients().dynamodb.list_tables().send().await.unwrap().table_names().is_empty());
}
