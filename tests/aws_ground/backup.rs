//! AWS Backup: selections, a backup job's data as of its start and its
//! restore, idempotent starts, copies to the DR region, job life cycles
//! and failures, vault notifications.

use super::*;

use std::collections::HashSet;

use aws_sdk_backup::types::{
    BackupJobState, BackupPlanInput, BackupRuleInput, BackupSelection, BackupVaultEvent, CopyJobState, RestoreJobStatus,
};
use aws_sdk_dynamodb::types::TableStatus;
use aws_smithy_types::error::display::DisplayErrorContext;
use serde_json::json;
use support::{DEADLINE, DR_REGION, JobKind, JobTarget, Progression, REGION, TestAccount};

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
