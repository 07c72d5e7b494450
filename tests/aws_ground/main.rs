//! The AWS ground drctl stands on: every AWS operation drctl calls, round
//! tripped over the wire through the real AWS SDK against the local
//! emulator (`scripts/emulator start`), each test in an account of its own.
//!
//! These tests pin the behaviour drctl relies on (change-set semantics,
//! job life cycles, restores holding the data as of the backup, faults
//! arriving as the SDK's errors), so a change of the emulator or the SDK
//! that breaks an assumption fails here, not deep inside a reconcile.

#[path = "../support/mod.rs"]
mod support;

use std::collections::{HashMap, HashSet};

use aws_sdk_backup::types::{
    BackupJobState, BackupPlanInput, BackupRuleInput, BackupSelection, BackupVaultEvent, CopyJobState, RestoreJobStatus,
};
use aws_sdk_cloudformation::types::{
    Capability, ChangeAction, ChangeSetStatus, ChangeSetType, ExecutionStatus, Replacement, RequiresRecreation, ResourceStatus, StackStatus,
};
use aws_sdk_dynamodb::types::{
    AttributeValue, ContinuousBackupsStatus, PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, Select, TableStatus, Tag,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_types::error::display::DisplayErrorContext;
use serde_json::{Value, json};
use support::{CfnAction, CfnFailure, DEADLINE, DR_REGION, Fault, JobKind, JobTarget, Progression, REGION, TestAccount};

// ---------------------------------------------------------------------------
// Helpers for this binary

fn spatial_scans() -> drctl::policy::TablePolicy {
    let path = "desired/spatial-scans.yaml";
    drctl::policy::load(path, &std::fs::read(path).unwrap()).unwrap().policy
}

/// Creates a change set and waits until it leaves CREATE_PENDING/IN_PROGRESS.
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

async fn list_vault_names(backup: &aws_sdk_backup::Client) -> Vec<String> {
    let vaults: Vec<_> = backup.list_backup_vaults().into_paginator().items().send().try_collect().await.unwrap();
    vaults.iter().filter_map(|v| v.backup_vault_name().map(str::to_string)).collect()
}

async fn create_vault(backup: &aws_sdk_backup::Client, name: &str) -> String {
    let out = backup.create_backup_vault().backup_vault_name(name).send().await.unwrap();
    out.backup_vault_arn().unwrap().to_string()
}

/// Waits for a backup job's end; returns the last describe.
async fn wait_backup_job(
    backup: &aws_sdk_backup::Client,
    id: &str,
) -> aws_sdk_backup::operation::describe_backup_job::DescribeBackupJobOutput {
    support::poll(&format!("backup job {id} ended"), DEADLINE, || async {
        let out = backup.describe_backup_job().backup_job_id(id).send().await.unwrap();
        matches!(out.state(), Some(BackupJobState::Completed | BackupJobState::Failed | BackupJobState::Aborted | BackupJobState::Expired))
            .then_some(out)
    })
    .await
}

async fn wait_restore_job(
    backup: &aws_sdk_backup::Client,
    id: &str,
) -> aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput {
    support::poll(&format!("restore job {id} ended"), DEADLINE, || async {
        let out = backup.describe_restore_job().restore_job_id(id).send().await.unwrap();
        matches!(out.status(), Some(RestoreJobStatus::Completed | RestoreJobStatus::Failed | RestoreJobStatus::Aborted)).then_some(out)
    })
    .await
}

async fn wait_copy_job(backup: &aws_sdk_backup::Client, id: &str) -> aws_sdk_backup::types::CopyJob {
    support::poll(&format!("copy job {id} ended"), DEADLINE, || async {
        let out = backup.describe_copy_job().copy_job_id(id).send().await.unwrap();
        let job = out.copy_job()?.clone();
        matches!(job.state(), Some(CopyJobState::Completed | CopyJobState::Failed)).then_some(job)
    })
    .await
}

async fn start_backup(account: &TestAccount, backup: &aws_sdk_backup::Client, vault: &str, table_arn: &str) -> String {
    let out = backup
        .start_backup_job()
        .backup_vault_name(vault)
        .resource_arn(table_arn)
        .iam_role_arn(account.backup_role_arn())
        .send()
        .await
        .unwrap_or_else(|err| panic!("StartBackupJob {table_arn}: {}", DisplayErrorContext(err)));
    out.backup_job_id().unwrap().to_string()
}

async fn start_restore(account: &TestAccount, backup: &aws_sdk_backup::Client, recovery_point: &str, target: &str) -> String {
    let out = backup
        .start_restore_job()
        .recovery_point_arn(recovery_point)
        .iam_role_arn(account.backup_role_arn())
        .resource_type("DynamoDB")
        .metadata("targetTableName", target)
        .send()
        .await
        .unwrap_or_else(|err| panic!("StartRestoreJob {recovery_point}: {}", DisplayErrorContext(err)));
    out.restore_job_id().unwrap().to_string()
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

// ---------------------------------------------------------------------------
// The ground itself

/// A test without the emulator fails and says how to start it; it never
/// passes by skipping.
#[test]
#[should_panic(expected = "run `scripts/emulator start`")]
fn missing_emulator_fails_the_test_with_how_to_start_it() {
    // Port 1 (tcpmux) is closed on loopback: the connection is refused.
    support::Emulator::at("http://127.0.0.1:1");
}

/// Accounts are random and apart: what one creates, another does not see.
#[tokio::test]
async fn each_test_account_is_a_separate_aws_account() {
    let (first, second) = (support::account().await, support::account().await);
    assert_ne!(first.id, second.id);
    assert!(first.id.len() == 12 && first.id.bytes().all(|b| b.is_ascii_digit()), "{}", first.id);
    let sts = aws_sdk_sts::Client::new(first.aws.config());
    let identity = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(identity.account(), Some(first.id.as_str()));
    create_vault(&first.clients().backup, "mine").await;
    assert!(list_vault_names(&second.clients().backup).await.is_empty());
}

// ---------------------------------------------------------------------------
// CloudFormation

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
    assert_eq!(selections[0].selection_name(), Some("drctl-spatial-scans"));
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

// ---------------------------------------------------------------------------
// AWS Backup

#[tokio::test]
async fn backup_selections_are_created_read_listed_and_deleted() {
    let account = support::account().await;
    let backup = account.clients().backup;
    create_vault(&backup, "selections").await;
    let rule = BackupRuleInput::builder()
        .rule_name("daily")
        .target_backup_vault_name("selections")
        .schedule_expression("cron(0 5 * * ? *)")
        .build()
        .unwrap();
    let plan = backup
        .create_backup_plan()
        .backup_plan(BackupPlanInput::builder().backup_plan_name("selections").rules(rule).build().unwrap())
        .send()
        .await
        .unwrap();
    let plan_id = plan.backup_plan_id().unwrap();
    let table_arn = account.table_arn(REGION, "Orders");
    let created = backup
        .create_backup_selection()
        .backup_plan_id(plan_id)
        .backup_selection(
            BackupSelection::builder()
                .selection_name("orders")
                .iam_role_arn(account.backup_role_arn())
                .resources(&table_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let selection_id = created.selection_id().unwrap();

    let got = backup.get_backup_selection().backup_plan_id(plan_id).selection_id(selection_id).send().await.unwrap();
    let selection = got.backup_selection().unwrap();
    assert_eq!((selection.selection_name(), selection.iam_role_arn()), ("orders", account.backup_role_arn().as_str()));
    assert_eq!(selection.resources(), [table_arn]);
    let listed: Vec<_> =
        backup.list_backup_selections().backup_plan_id(plan_id).into_paginator().items().send().try_collect().await.unwrap();
    assert_eq!(listed.iter().filter_map(|s| s.selection_id()).collect::<Vec<_>>(), [selection_id]);

    backup.delete_backup_selection().backup_plan_id(plan_id).selection_id(selection_id).send().await.unwrap();
    let listed = backup.list_backup_selections().backup_plan_id(plan_id).send().await.unwrap();
    assert!(listed.backup_selections_list().is_empty());
    let err = backup.get_backup_selection().backup_plan_id(plan_id).selection_id(selection_id).send().await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

/// The drill's core: an on-demand backup holds the table as of the job's
/// start (items written later are absent), its recovery point is listed
/// by vault and by resource, and a restore brings back exactly those items.
#[tokio::test]
async fn restore_of_a_backup_job_holds_exactly_the_items_at_backup_time() {
    let account = support::account().await;
    let clients = account.clients();
    let (backup, dynamodb) = (&clients.backup, &clients.dynamodb);
    let table_arn = support::create_table(dynamodb, "Scans", 40).await;
    let at_backup = support::scan_sorted(dynamodb, "Scans").await;
    assert_eq!(at_backup.len(), 40);
    create_vault(backup, "drill").await;

    // Manual progression: the job is still under way after it started.
    account.set_job_progression(JobKind::Backup, Progression::Manual { steps: 1 });
    let job_id = start_backup(&account, backup, "drill", &table_arn).await;
    support::put_items(dynamodb, "Scans", (1000..1005).map(support::fixture_item)).await;
    dynamodb.delete_item().table_name("Scans").key("pk", s("HOME#0")).key("sk", s("SCAN#0000")).send().await.unwrap();
    let job = wait_backup_job(backup, &job_id).await;
    assert_eq!(job.state(), Some(&BackupJobState::Completed), "{:?}", job.status_message());
    assert_eq!(job.resource_arn(), Some(table_arn.as_str()));
    let recovery_point = job.recovery_point_arn().unwrap().to_string();

    let by_vault: Vec<_> = backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name("drill")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_vault.iter().filter_map(|rp| rp.recovery_point_arn()).collect::<Vec<_>>(), [recovery_point.as_str()]);
    assert_eq!(by_vault[0].resource_arn(), Some(table_arn.as_str()));
    let by_resource: Vec<_> =
        backup.list_recovery_points_by_resource().resource_arn(&table_arn).into_paginator().items().send().try_collect().await.unwrap();
    assert_eq!(by_resource.iter().filter_map(|rp| rp.recovery_point_arn()).collect::<Vec<_>>(), [recovery_point.as_str()]);
    assert_eq!(by_resource[0].backup_vault_name(), Some("drill"));
    let described = backup.describe_recovery_point().backup_vault_name("drill").recovery_point_arn(&recovery_point).send().await.unwrap();
    assert_eq!(described.resource_arn(), Some(table_arn.as_str()));
    assert_eq!(described.status().map(|s| s.as_str()), Some("COMPLETED"));
    assert_eq!(described.resource_type(), Some("DynamoDB"));
    let vault = backup.describe_backup_vault().backup_vault_name("drill").send().await.unwrap();
    assert_eq!(vault.number_of_recovery_points(), 1);

    account.set_job_progression(JobKind::Backup, Progression::Immediate);
    let restore_id = start_restore(&account, backup, &recovery_point, "drctl-drill-scans-1").await;
    let restore = wait_restore_job(backup, &restore_id).await;
    assert_eq!(restore.status(), Some(&RestoreJobStatus::Completed), "{:?}", restore.status_message());
    assert_eq!(restore.created_resource_arn(), Some(account.table_arn(REGION, "drctl-drill-scans-1").as_str()));
    // What the measured RTO and the proven RPO are computed from.
    let (started, ended) = (restore.creation_date().unwrap(), restore.completion_date().unwrap());
    assert!(ended >= started, "{started} .. {ended}");
    assert_eq!(restore.recovery_point_arn(), Some(recovery_point.as_str()));
    assert_eq!(described.creation_date(), job.creation_date(), "the recovery point is as of the job's start");
    let table = dynamodb.describe_table().table_name("drctl-drill-scans-1").send().await.unwrap();
    assert_eq!(table.table().and_then(|t| t.table_status()), Some(&TableStatus::Active));
    let restored = support::scan_sorted(dynamodb, "drctl-drill-scans-1").await;
    assert_eq!(restored.len(), 40, "the items written after the job started are absent, the deleted one is back");
    assert_eq!(restored, at_backup);
    assert_eq!(support::scan_sorted(dynamodb, "Scans").await.len(), 44, "the source table is untouched");

    // A restore into an existing table fails with the reason.
    let again = start_restore(&account, backup, &recovery_point, "drctl-drill-scans-1").await;
    let again = wait_restore_job(backup, &again).await;
    assert_eq!(again.status(), Some(&RestoreJobStatus::Failed));
    assert!(again.status_message().is_some_and(|m| !m.is_empty()), "{again:?}");
}

/// Jobs are started with client tokens so a resumed run does not
/// start a second job. AWS answers a retried StartBackupJob /
/// StartRestoreJob with the same IdempotencyToken without starting
/// another job.
#[tokio::test]
async fn start_job_with_the_same_idempotency_token_starts_one_job() {
    let account = support::account().await;
    let clients = account.clients();
    let table_arn = support::create_table(&clients.dynamodb, "Once", 1).await;
    create_vault(&clients.backup, "once").await;
    let mut ids = HashSet::new();
    for _ in 0..2 {
        let out = clients
            .backup
            .start_backup_job()
            .backup_vault_name("once")
            .resource_arn(&table_arn)
            .iam_role_arn(account.backup_role_arn())
            .idempotency_token("drctl-drill-once-1")
            .send()
            .await
            .unwrap();
        ids.insert(out.backup_job_id().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let jobs = clients.backup.list_backup_jobs().by_resource_arn(&table_arn).send().await.unwrap();
    assert_eq!(jobs.backup_jobs().len(), 1);
}

/// Cross-region copies need advanced DynamoDB backup (refused without it,
/// as on AWS); with it, a copy lands in the DR vault and restores there
/// with the same items.
#[tokio::test]
async fn copy_to_the_dr_region_restores_there_with_the_same_items() {
    let account = support::account().await;
    let clients = account.clients();
    let dr = account.region(DR_REGION);
    let table_arn = support::create_table(&clients.dynamodb, "Plans", 25).await;
    let source_items = support::scan_sorted(&clients.dynamodb, "Plans").await;
    create_vault(&clients.backup, "primary").await;
    let dr_vault_arn = create_vault(&dr.backup, "dr").await;
    assert_eq!(dr_vault_arn, account.vault_arn(DR_REGION, "dr"));

    let settings = clients.backup.describe_region_settings().send().await.unwrap();
    assert_eq!(settings.resource_type_management_preference().and_then(|p| p.get("DynamoDB")), Some(&false));
    let job = wait_backup_job(&clients.backup, &start_backup(&account, &clients.backup, "primary", &table_arn).await).await;
    let err = clients
        .backup
        .start_copy_job()
        .recovery_point_arn(job.recovery_point_arn().unwrap())
        .source_backup_vault_name("primary")
        .destination_backup_vault_arn(&dr_vault_arn)
        .iam_role_arn(account.backup_role_arn())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_request_exception(), "{err:?}");

    clients.backup.update_region_settings().resource_type_management_preference("DynamoDB", true).send().await.unwrap();
    let settings = clients.backup.describe_region_settings().send().await.unwrap();
    assert_eq!(settings.resource_type_management_preference().and_then(|p| p.get("DynamoDB")), Some(&true));
    let job = wait_backup_job(&clients.backup, &start_backup(&account, &clients.backup, "primary", &table_arn).await).await;
    let recovery_point = job.recovery_point_arn().unwrap();
    assert!(recovery_point.starts_with(&format!("arn:aws:backup:{REGION}:{}:recovery-point:", account.id)), "{recovery_point}");

    let copy = clients
        .backup
        .start_copy_job()
        .recovery_point_arn(recovery_point)
        .source_backup_vault_name("primary")
        .destination_backup_vault_arn(&dr_vault_arn)
        .iam_role_arn(account.backup_role_arn())
        .send()
        .await
        .unwrap_or_else(|err| panic!("StartCopyJob: {}", DisplayErrorContext(err)));
    let copy = wait_copy_job(&clients.backup, copy.copy_job_id().unwrap()).await;
    assert_eq!(copy.state(), Some(&CopyJobState::Completed), "{:?}", copy.status_message());
    let copied = copy.destination_recovery_point_arn().unwrap().to_string();
    assert!(copied.starts_with(&format!("arn:aws:backup:{DR_REGION}:{}:recovery-point:", account.id)), "{copied}");
    let in_dr = dr.backup.list_recovery_points_by_backup_vault().backup_vault_name("dr").send().await.unwrap().recovery_points;
    assert_eq!(in_dr.unwrap_or_default().iter().filter_map(|rp| rp.recovery_point_arn()).collect::<Vec<_>>(), [copied.as_str()]);

    let restore = wait_restore_job(&dr.backup, &start_restore(&account, &dr.backup, &copied, "drctl-drill-plans-dr").await).await;
    assert_eq!(restore.status(), Some(&RestoreJobStatus::Completed), "{:?}", restore.status_message());
    assert_eq!(restore.created_resource_arn(), Some(account.table_arn(DR_REGION, "drctl-drill-plans-dr").as_str()));
    support::wait_table_active(&dr.dynamodb, "drctl-drill-plans-dr").await;
    assert_eq!(support::scan_sorted(&dr.dynamodb, "drctl-drill-plans-dr").await, source_items);
    assert!(
        clients.dynamodb.describe_table().table_name("drctl-drill-plans-dr").send().await.is_err(),
        "the DR restore lands in the DR region only"
    );
}

/// With `manual` progression (2 describes per state), successive describes
/// walk each job through its states, AWS's names for each kind.
#[tokio::test]
async fn manual_job_progression_shows_every_state_in_successive_describes() {
    let account = support::account().await;
    let clients = account.clients();
    let backup = &clients.backup;
    let table_arn = support::create_table(&clients.dynamodb, "Steps", 3).await;
    create_vault(backup, "steps").await;
    account.set_job_progression(JobKind::All, Progression::Manual { steps: 2 });

    let job_id = start_backup(&account, backup, "steps", &table_arn).await;
    let mut states = Vec::new();
    for _ in 0..6 {
        let out = backup.describe_backup_job().backup_job_id(&job_id).send().await.unwrap();
        states.push(out.state().unwrap().as_str().to_string());
    }
    assert_eq!(states, ["CREATED", "CREATED", "RUNNING", "RUNNING", "COMPLETED", "COMPLETED"]);
    // List calls do not move jobs on.
    let listed = backup.list_backup_jobs().by_resource_arn(&table_arn).send().await.unwrap();
    assert_eq!(listed.backup_jobs().len(), 1);
    assert_eq!(listed.backup_jobs()[0].state(), Some(&BackupJobState::Completed));

    let recovery_point = backup.describe_backup_job().backup_job_id(&job_id).send().await.unwrap().recovery_point_arn.unwrap();
    let restore_id = start_restore(&account, backup, &recovery_point, "steps-restored").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let out = backup.describe_restore_job().restore_job_id(&restore_id).send().await.unwrap();
        statuses.push(out.status().unwrap().as_str().to_string());
    }
    assert_eq!(statuses, ["PENDING", "PENDING", "RUNNING", "RUNNING", "COMPLETED", "COMPLETED"]);
    support::wait_table_active(&clients.dynamodb, "steps-restored").await;
}

/// Jobs made to fail end FAILED with the StatusMessage given; a restore
/// that fails creates no table.
#[tokio::test]
async fn jobs_made_to_fail_end_failed_with_their_status_message() {
    let account = support::account().await;
    let clients = account.clients();
    let backup = &clients.backup;
    let table_arn = support::create_table(&clients.dynamodb, "Fragile", 2).await;
    create_vault(backup, "fragile").await;

    account.fail_job(JobKind::Backup, JobTarget::ResourceArn(table_arn.clone()), "Table is being updated");
    let failed = wait_backup_job(backup, &start_backup(&account, backup, "fragile", &table_arn).await).await;
    assert_eq!(failed.state(), Some(&BackupJobState::Failed));
    assert_eq!(failed.status_message(), Some("Table is being updated"));
    let points = backup.list_recovery_points_by_backup_vault().backup_vault_name("fragile").send().await.unwrap();
    assert!(points.recovery_points().is_empty(), "a failed job leaves no recovery point");

    account.reset();
    let done = wait_backup_job(backup, &start_backup(&account, backup, "fragile", &table_arn).await).await;
    assert_eq!(done.state(), Some(&BackupJobState::Completed));

    // A job already under way is failed too.
    account.set_job_progression(JobKind::Restore, Progression::Manual { steps: 1 });
    let restore_id = start_restore(&account, backup, done.recovery_point_arn().unwrap(), "fragile-restored").await;
    let first = backup.describe_restore_job().restore_job_id(&restore_id).send().await.unwrap();
    assert_eq!(first.status(), Some(&RestoreJobStatus::Pending));
    let rule = account.fail_job(JobKind::Restore, JobTarget::TargetTable("fragile-restored".into()), "Insufficient capacity");
    assert_eq!(rule["running_jobs_failed"], json!([restore_id]));
    let restore = wait_restore_job(backup, &restore_id).await;
    assert_eq!(restore.status(), Some(&RestoreJobStatus::Failed));
    assert_eq!(restore.status_message(), Some("Insufficient capacity"));
    assert!(clients.dynamodb.describe_table().table_name("fragile-restored").send().await.is_err());
}

/// Vault notifications round trip, and a job's events reach the topic
/// (seen through an SQS subscription) with AWS Backup's attributes.
#[tokio::test]
async fn vault_notifications_round_trip_and_deliver_job_events() {
    let account = support::account().await;
    let clients = account.clients();
    let sqs = account.sqs(REGION);
    create_vault(&clients.backup, "notified").await;
    let topic_arn = clients.sns.create_topic().name("vault-events").send().await.unwrap().topic_arn.unwrap();
    let queue_url = sqs.create_queue().queue_name("vault-events").send().await.unwrap().queue_url.unwrap();
    let queue_arn = queue_arn(&sqs, &queue_url).await;
    clients.sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(&queue_arn).send().await.unwrap();

    clients
        .backup
        .put_backup_vault_notifications()
        .backup_vault_name("notified")
        .sns_topic_arn(&topic_arn)
        .backup_vault_events(BackupVaultEvent::BackupJobCompleted)
        .backup_vault_events(BackupVaultEvent::RestoreJobCompleted)
        .send()
        .await
        .unwrap();
    let got = clients.backup.get_backup_vault_notifications().backup_vault_name("notified").send().await.unwrap();
    assert_eq!(got.sns_topic_arn(), Some(topic_arn.as_str()));
    let mut events: Vec<&str> = got.backup_vault_events().iter().map(|e| e.as_str()).collect();
    events.sort();
    assert_eq!(events, ["BACKUP_JOB_COMPLETED", "RESTORE_JOB_COMPLETED"]);

    let table_arn = support::create_table(&clients.dynamodb, "Announced", 1).await;
    let job_id = start_backup(&account, &clients.backup, "notified", &table_arn).await;
    wait_backup_job(&clients.backup, &job_id).await;
    let messages = receive_all(&sqs, &queue_url).await;
    assert_eq!(messages.len(), 1, "only the subscribed event: {messages:?}");
    let attributes = &messages[0]["MessageAttributes"];
    assert_eq!(attributes["EventType"]["Value"], json!("BACKUP_JOB_COMPLETED"));
    assert_eq!(attributes["State"]["Value"], json!("COMPLETED"));
    assert_eq!(attributes["Id"]["Value"], json!(job_id));
}

// ---------------------------------------------------------------------------
// DynamoDB

#[tokio::test]
async fn dynamodb_tables_and_items_round_trip() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    let arn = support::create_table(&dynamodb, "Items", 0).await;
    let described = dynamodb.describe_table().table_name("Items").send().await.unwrap();
    let table = described.table().unwrap();
    assert_eq!(table.table_arn(), Some(arn.as_str()));
    assert_eq!(arn, account.table_arn(REGION, "Items"));
    assert_eq!(table.table_status(), Some(&TableStatus::Active));
    let keys: Vec<(&str, &str)> = table.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().as_str())).collect();
    assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);

    let marker = support::fixture_item(7);
    dynamodb.put_item().table_name("Items").set_item(Some(marker.clone())).send().await.unwrap();
    let got = dynamodb
        .get_item()
        .table_name("Items")
        .key("pk", s("HOME#2"))
        .key("sk", s("SCAN#0007"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(got.item(), Some(&marker));
    dynamodb.delete_item().table_name("Items").key("pk", s("HOME#2")).key("sk", s("SCAN#0007")).send().await.unwrap();
    let got = dynamodb.get_item().table_name("Items").key("pk", s("HOME#2")).key("sk", s("SCAN#0007")).send().await.unwrap();
    assert_eq!(got.item(), None);

    dynamodb.delete_table().table_name("Items").send().await.unwrap();
    let err = dynamodb.describe_table().table_name("Items").send().await.unwrap_err().into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
}

/// What the item-count and fingerprint checks read: a COUNT scan, and a
/// parallel scan whose segments cover every item exactly once; a Query by
/// partition key (the query check).
#[tokio::test]
async fn count_scan_parallel_segments_and_query_cover_every_item_exactly_once() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    support::create_table(&dynamodb, "Segments", 120).await;

    let mut counted = 0;
    let mut pages = dynamodb.scan().table_name("Segments").select(Select::Count).limit(50).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        assert!(page.items().is_empty(), "COUNT returns no items");
        counted += page.count();
    }
    assert_eq!(counted, 120);

    // Segments split by a hash of the partition key (5 keys here), so a
    // segment may be empty; together they hold every item exactly once.
    let mut seen = Vec::new();
    let mut non_empty = 0;
    for segment in 0..4 {
        let items: Vec<_> = dynamodb
            .scan()
            .table_name("Segments")
            .segment(segment)
            .total_segments(4)
            .limit(20)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap();
        non_empty += usize::from(!items.is_empty());
        seen.extend(items.iter().map(support::item_key));
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 120, "no item twice");
    assert_eq!(unique.len(), 120, "every item once");
    assert!(non_empty > 1, "the segments split the table");

    let home1: Vec<_> = dynamodb
        .query()
        .table_name("Segments")
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s("HOME#1"))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    let sks: Vec<String> = home1.iter().map(|item| support::item_key(item).1).collect();
    assert_eq!(sks.len(), 24);
    assert!(sks.windows(2).all(|w| w[0] < w[1]), "sorted by sort key: {sks:?}");
    assert!(home1.iter().all(|item| item.get("pk") == Some(&s("HOME#1"))));
}

#[tokio::test]
async fn on_demand_table_backups_are_created_described_and_listed() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    let table_arn = support::create_table(&dynamodb, "Backed", 5).await;
    let created = dynamodb.create_backup().table_name("Backed").backup_name("manual-1").send().await.unwrap();
    let details = created.backup_details().unwrap();
    let backup_arn = details.backup_arn().to_string();
    assert_eq!(details.backup_name(), "manual-1");
    assert_eq!(details.backup_status().as_str(), "AVAILABLE");

    let described = dynamodb.describe_backup().backup_arn(&backup_arn).send().await.unwrap();
    let description = described.backup_description().unwrap();
    assert_eq!(description.source_table_details().map(|s| s.table_name()), Some("Backed"));
    assert_eq!(description.source_table_details().and_then(|s| s.item_count()), Some(5));
    let listed = dynamodb.list_backups().table_name("Backed").send().await.unwrap();
    let summaries = listed.backup_summaries();
    assert_eq!(summaries.iter().filter_map(|b| b.backup_arn()).collect::<Vec<_>>(), [backup_arn.as_str()]);
    assert_eq!(summaries[0].table_arn(), Some(table_arn.as_str()));
}

#[tokio::test]
async fn point_in_time_recovery_turns_on_and_off() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    support::create_table(&dynamodb, "Recoverable", 0).await;
    let pitr = |out: &aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsOutput| {
        let description = out.continuous_backups_description().unwrap();
        assert_eq!(description.continuous_backups_status(), &ContinuousBackupsStatus::Enabled);
        description.point_in_time_recovery_description().and_then(|p| p.point_in_time_recovery_status()).cloned()
    };
    let before = dynamodb.describe_continuous_backups().table_name("Recoverable").send().await.unwrap();
    assert_eq!(pitr(&before), Some(PointInTimeRecoveryStatus::Disabled));

    for (enabled, expected) in [(true, PointInTimeRecoveryStatus::Enabled), (false, PointInTimeRecoveryStatus::Disabled)] {
        let spec = PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(enabled).build().unwrap();
        let updated =
            dynamodb.update_continuous_backups().table_name("Recoverable").point_in_time_recovery_specification(spec).send().await.unwrap();
        let status = updated
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status());
        assert_eq!(status, Some(&expected));
        let described = dynamodb.describe_continuous_backups().table_name("Recoverable").send().await.unwrap();
        assert_eq!(pitr(&described), Some(expected));
    }
}

/// Scratch tables are found by their tags; TTL is one of the settings a
/// restore does not carry over.
#[tokio::test]
async fn table_tags_and_time_to_live_are_readable() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    let arn = support::create_table(&dynamodb, "drctl-drill-x-1a2b", 0).await;
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    dynamodb
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag(drctl::render::MANAGED_BY_TAG, drctl::render::MANAGED_BY_VALUE))
        .tags(tag("drctl:scratch", "true"))
        .send()
        .await
        .unwrap();
    let tags = dynamodb.list_tags_of_resource().resource_arn(&arn).send().await.unwrap();
    let tags: HashMap<&str, &str> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, HashMap::from([("drctl:managed-by", "drctl"), ("drctl:scratch", "true")]));

    let ttl = dynamodb.describe_time_to_live().table_name("drctl-drill-x-1a2b").send().await.unwrap();
    assert_eq!(ttl.time_to_live_description().and_then(|t| t.time_to_live_status()), Some(&TimeToLiveStatus::Disabled));
    let spec = TimeToLiveSpecification::builder().enabled(true).attribute_name("expires").build().unwrap();
    dynamodb.update_time_to_live().table_name("drctl-drill-x-1a2b").time_to_live_specification(spec).send().await.unwrap();
    let ttl = dynamodb.describe_time_to_live().table_name("drctl-drill-x-1a2b").send().await.unwrap();
    let description = ttl.time_to_live_description().unwrap();
    assert_eq!(description.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(description.attribute_name(), Some("expires"));
}

// ---------------------------------------------------------------------------
// SNS → SQS

async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    let attributes = sqs.get_queue_attributes().queue_url(queue_url).attribute_names(QueueAttributeName::QueueArn).send().await.unwrap();
    attributes.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).unwrap().clone()
}

/// Every message waiting on the queue, as the SNS envelopes (JSON) they are.
async fn receive_all(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<Value> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs.receive_message().queue_url(queue_url).max_number_of_messages(10).wait_time_seconds(0).send().await.unwrap();
        if out.messages().is_empty() {
            return bodies;
        }
        for message in out.messages() {
            bodies.push(serde_json::from_str(message.body().unwrap()).unwrap());
            sqs.delete_message().queue_url(queue_url).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
}

/// drctl's announcement: Subject, JSON body and attributes reach a
/// subscribed queue; a subscription's filter policy keeps other messages out.
#[tokio::test]
async fn announcement_reaches_a_subscribed_queue_through_its_filter_policy() {
    let account = support::account().await;
    let sns = account.clients().sns;
    let sqs = account.sqs(REGION);
    let topic_arn = sns.create_topic().name("dr-announcements").send().await.unwrap().topic_arn.unwrap();
    let queue_url = sqs.create_queue().queue_name("failures").send().await.unwrap().queue_url.unwrap();
    let queue_arn = queue_arn(&sqs, &queue_url).await;
    let subscribed = sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("FilterPolicy", json!({ "verdict": ["failed"] }).to_string())
        .return_subscription_arn(true)
        .send()
        .await
        .unwrap();
    assert!(subscribed.subscription_arn().is_some_and(|arn| arn.starts_with(&topic_arn)));

    let attribute = |v: &str| MessageAttributeValue::builder().data_type("String").string_value(v).build().unwrap();
    let body = |verdict: &str| json!({ "policy": "spatial-scans", "verdict": verdict, "rto": { "measured_s": 42, "target_s": 3600 } });
    sns.publish()
        .topic_arn(&topic_arn)
        .subject("drctl: spatial-scans proven")
        .message(body("passed").to_string())
        .message_attributes("verdict", attribute("passed"))
        .send()
        .await
        .unwrap();
    let published = sns
        .publish()
        .topic_arn(&topic_arn)
        .subject("drctl: spatial-scans drill FAILED")
        .message(body("failed").to_string())
        .message_attributes("verdict", attribute("failed"))
        .message_attributes("policy", attribute("spatial-scans"))
        .send()
        .await
        .unwrap();

    let messages = receive_all(&sqs, &queue_url).await;
    assert_eq!(messages.len(), 1, "the passed announcement is filtered out: {messages:?}");
    let envelope = &messages[0];
    assert_eq!(envelope["Type"], json!("Notification"));
    assert_eq!(envelope["MessageId"], json!(published.message_id().unwrap()));
    assert_eq!(envelope["Subject"], json!("drctl: spatial-scans drill FAILED"));
    let delivered: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(delivered, body("failed"));
    assert_eq!(envelope["MessageAttributes"]["verdict"], json!({ "Type": "String", "Value": "failed" }));
    assert_eq!(envelope["MessageAttributes"]["policy"]["Value"], json!("spatial-scans"));
}

// ---------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn throttling_on_cloudformation_reaches_the_client_as_throttling() {
    let account = support::account().await;
    let cfn = account.clients().cloudformation;
    account.inject_fault(Fault::throttle("cloudformation", "ListStacks").times(1));
    let err = cfn.list_stacks().send().await.unwrap_err();
    assert_eq!(drctl::aws::error_code(&err), Some("Throttling"));
    assert_eq!(err.into_service_error().meta().code(), Some("Throttling"));
    // Fired once: the next call goes through.
    cfn.list_stacks().send().await.unwrap();
    assert_eq!(account.calls().of("cloudformation/ListStacks"), 2);
}

#[tokio::test]
async fn throttling_on_dynamodb_reaches_the_client_as_throttling_exception() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    support::create_table(&dynamodb, "Hot", 1).await;
    account.inject_fault(Fault::throttle("dynamodb", "Scan"));
    let err = dynamodb.scan().table_name("Hot").send().await.unwrap_err().into_service_error();
    assert_eq!(err.meta().code(), Some("ThrottlingException"), "{err:?}");
    assert!(err.is_throttling_exception(), "the modelled variant: {err:?}");
    // Other operations and other accounts are not affected.
    dynamodb.describe_table().table_name("Hot").send().await.unwrap();
    let neighbour = support::account().await;
    let neighbour_db = neighbour.clients().dynamodb;
    support::create_table(&neighbour_db, "Hot", 1).await;
    neighbour_db.scan().table_name("Hot").send().await.unwrap();
    account.clear_faults();
    dynamodb.scan().table_name("Hot").send().await.unwrap();
}

/// The SDK's standard retry rides out two throttles in three attempts; the
/// emulator counted all three calls.
#[tokio::test]
async fn two_throttles_are_retried_to_success_within_three_attempts() {
    let account = support::account().await;
    let retrying = account.aws_with_attempts(3).await;
    let cfn = retrying.region(REGION).cloudformation;
    let dynamodb = retrying.region(REGION).dynamodb;
    support::create_table(&dynamodb, "Retried", 1).await;
    account.reset_calls();

    account.inject_fault(Fault::throttle("cloudformation", "DescribeStacks").times(2));
    account.inject_fault(Fault::throttle("dynamodb", "DescribeTable").times(2));
    let stacks = cfn.describe_stacks().send().await.unwrap();
    assert!(stacks.stacks().is_empty());
    let table = dynamodb.describe_table().table_name("Retried").send().await.unwrap();
    assert_eq!(table.table().and_then(|t| t.table_name()), Some("Retried"));

    let calls = account.calls();
    assert_eq!(calls.of("cloudformation/DescribeStacks"), 3, "{calls:?}");
    assert_eq!(calls.of("dynamodb/DescribeTable"), 3, "{calls:?}");
    assert_eq!(calls.total, 6, "{calls:?}");
    assert!(account.faults().iter().all(|f| f["fired"] == json!(2)), "{:?}", account.faults());

    // Three throttles exhaust three attempts.
    account.inject_fault(Fault::throttle("cloudformation", "DescribeStacks").times(3));
    let err = cfn.describe_stacks().send().await.unwrap_err();
    assert_eq!(drctl::aws::error_code(&err), Some("Throttling"));
    assert_eq!(account.calls().of("cloudformation/DescribeStacks"), 6);
}
