//! Restore drills against the emulator: drills in the primary and the DR
//! region that pass every check and leave nothing behind, and every way a
//! drill fails (a failed restore job, differing data, a missing canary, a
//! missed RTO, advanced DynamoDB backup off), a drill resumed after a crash,
//! and the restore-slot quota.

#[path = "../support/mod.rs"]
mod support;

use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use drctl::apply::{self, Progress};
use drctl::drill::{self, Backoff, Cleanup, DrillResult, Event, Journal, NoJournal, Resume, Verdict};
use drctl::plan;
use drctl::policy::{self, Checked, Input, TablePolicy};
use serde_json::json;
use support::{Fault, JobKind, JobTarget, Progression, TestAccount};

const SCANS: &str = include_str!("../../desired/spatial-scans.yaml");
const ITEMS: usize = 60;

/// spatial-scans, drilled in its primary region only, with a fingerprint
/// check besides its own.
fn scans_yaml(recovery_point: &str) -> String {
    two_region_yaml(recovery_point).replace("regions: [us-east-1, us-west-2]", "regions: [us-east-1]")
}

/// spatial-scans as written (drilled in us-east-1 and us-west-2), with a
/// fingerprint check besides its own.
fn two_region_yaml(recovery_point: &str) -> String {
    SCANS
        .replace("recovery_point: on-demand", &format!("recovery_point: {recovery_point}"))
        .replace("      - canary: true\n", if recovery_point == "latest" { "" } else { "      - canary: true\n" })
        .replace("      - query:", "      - fingerprint: match\n      - query:")
}

/// A policy whose data checks compare with the source as it is (a table
/// declared static): what the tests of that mode use.
fn static_source(yaml: String) -> String {
    yaml.replace("    recovery_point: ", "    reference: source\n    static: true\n    recovery_point: ")
}

fn checked(yaml: &str) -> Checked {
    let checked = policy::check([Input { file: "desired/spatial-scans.yaml".into(), content: Ok(yaml.as_bytes().to_vec()) }]);
    assert!(!checked.has_errors(), "{:#?}", checked.findings);
    checked
}

/// The source table with its items, and the policy's stacks deployed.
async fn ground(account: &TestAccount, yaml: &str) -> TablePolicy {
    support::create_table(&account.region(support::REGION).dynamodb, "SpatialScans", ITEMS).await;
    deploy(account, yaml).await
}

/// The policy's stacks deployed with the library's plan and apply.
async fn deploy(account: &TestAccount, yaml: &str) -> TablePolicy {
    let desired = checked(yaml);
    support::bootstrap(account, desired.policies.iter().map(|p| &p.policy)).await;
    let options = plan::Options { commit: None, extra_regions: Vec::new(), concurrency: 2, preview: false };
    let plan = plan::plan(&account.aws, &desired, &options).await;
    let report = apply::apply(&account.aws, &desired, &plan, &apply::Options::default(), &Progress::Quiet).await;
    assert!(!report.failed(), "{report:#?}");
    desired.policies[0].policy.clone()
}

fn fast() -> drill::Options {
    drill::Options {
        job_deadline: support::DEADLINE,
        table_deadline: support::DEADLINE,
        backoff: Backoff { initial: Duration::from_millis(25), max: Duration::from_millis(400) },
        scan_segments: 4,
        // The emulator cuts a backup at its job's start unless a test says
        // otherwise: a short margin covers it (see tests/live_tables.rs).
        consistency_margin: Duration::from_secs(1),
        ..drill::Options::default()
    }
}

/// spatial-scans on the ground, drilled on demand in its primary region
/// with `fault` injected: the account and the result.
async fn drilled_under(fault: Fault) -> (TestAccount, DrillResult) {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.inject_fault(fault);
    let result = drill_primary(&account.aws, &policy, &fast()).await;
    (account, result)
}

/// The drill of a policy drilled in its primary region only: its one result.
async fn drill_primary(aws: &drctl::aws::Aws, policy: &TablePolicy, options: &drill::Options) -> DrillResult {
    let mut results = drill::prove(aws, policy, options, &NoJournal).await;
    assert_eq!(results.len(), 1, "{results:#?}");
    results.remove(0)
}

async fn scratch_tables(account: &TestAccount) -> Vec<String> {
    scratch_tables_in(account, support::REGION).await
}

async fn scratch_tables_in(account: &TestAccount, region: &str) -> Vec<String> {
    let listed = account.region(region).dynamodb.list_tables().into_paginator().items().send().collect::<Vec<_>>().await;
    listed.into_iter().map(Result::unwrap).filter(|name| name.starts_with("drctl-drill-")).collect()
}

/// Turns on AWS Backup's advanced DynamoDB features in the primary region,
/// as an operator would before cross-region copies.
async fn enable_advanced_backup(account: &TestAccount) {
    support::enable_advanced_backup(&account.clients().backup).await;
}

/// A journal that keeps the events and says when a restore job started.
#[derive(Default)]
struct TestJournal {
    events: Mutex<Vec<Event>>,
    restore_started: tokio::sync::Notify,
    /// Refuse to record a scratch table, as a state store that is down would.
    refuse_restores: bool,
    /// Refuse to record the start of the drill.
    refuse_start: bool,
}

#[async_trait::async_trait]
impl Journal for TestJournal {
    async fn record(&self, event: &Event) -> Result<(), String> {
        if self.refuse_restores && matches!(event, Event::RestoreStarting { .. }) {
            return Err("the state table is unavailable".into());
        }
        if self.refuse_start && matches!(event, Event::Started { .. }) {
            return Err("the state table is unavailable".into());
        }
        self.events.lock().unwrap().push(event.clone());
        if matches!(event, Event::RestoreStarted { .. }) {
            self.restore_started.notify_one();
        }
        Ok(())
    }
}

impl TestJournal {
    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

async fn restore_jobs(account: &TestAccount, region: &str) -> Vec<aws_sdk_backup::types::RestoreJobsListMember> {
    let listed = account.region(region).backup.list_restore_jobs().into_paginator().send().collect::<Vec<_>>().await;
    listed.into_iter().flat_map(|page| page.unwrap().restore_jobs().to_vec()).collect()
}

fn number(result: &DrillResult, check: &str, name: &str) -> u64 {
    let found = result.check(check).unwrap_or_else(|| panic!("no {check} check in {result:#?}"));
    *found.numbers.get(name).unwrap_or_else(|| panic!("{check} has no number {name}: {found:#?}"))
}

async fn assert_source_untouched(account: &TestAccount) {
    let items = support::scan_sorted(&account.clients().dynamodb, "SpatialScans").await;
    let mut expected: Vec<support::Item> = (0..ITEMS).map(support::fixture_item).collect();
    expected.sort_by_key(support::item_key);
    let keys: Vec<_> = items.iter().map(support::item_key).collect();
    assert!(items == expected, "the canary is gone and nothing else changed: {keys:?}");
}

#[tokio::test]
async fn an_on_demand_drill_passes_every_check_and_leaves_no_scratch_table() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;

    let result = drill_primary(&account.aws, &policy, &fast()).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    let names: Vec<&str> = result.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["status", "schema", "item_count", "sample", "canary", "fingerprint", "query"]);
    assert!(result.checks.iter().all(|c| c.passed), "{result:#?}");
    let with_canary = ITEMS as u64 + 1;
    let count = (number(&result, "item_count", "unchanged_expected"), number(&result, "item_count", "restored"));
    assert_eq!(count, (with_canary, with_canary), "against the source at the recovery point, the canary in it");
    assert_eq!(number(&result, "item_count", "tolerance_basis_points"), 100);
    assert_eq!((number(&result, "sample", "compared"), number(&result, "sample", "equal")), (with_canary, with_canary));
    assert_eq!(number(&result, "sample", "mismatched"), 0);
    assert_eq!(number(&result, "canary", "found"), 1);
    assert_eq!(number(&result, "query", "items"), ITEMS as u64 / 5, "pk HOME#1 holds every fifth item");
    assert_eq!(number(&result, "fingerprint", "restored"), with_canary);
    let reference = result.reference.as_ref().expect("PITR on: the point-in-time reference");
    assert_eq!((reference.kind, reference.exports.len(), reference.changed_in_window), ("point-in-time", 2, 0), "{reference:#?}");
    assert_eq!(number(&result, "schema", "differences"), 0);

    let rto = result.rto.as_ref().expect("RTO measured");
    assert!(rto.met && rto.objective_seconds == 3600 && rto.measured_seconds >= rto.restore_to_active_seconds, "{rto:?}");
    let rpo = result.rpo.as_ref().expect("RPO measured");
    assert!(rpo.met && rpo.objective_seconds == 8 * 3600 && rpo.measured_seconds < 60.0, "{rpo:?}");
    let point = result.recovery_point.as_ref().expect("a recovery point");
    assert!(point.backup_job_id.is_some() && point.vault == "drctl-spatial-scans", "{point:?}");
    assert!(result.restore_job_id.is_some());
    let scratch = result.scratch_table.as_deref().expect("a scratch table");
    assert!(scratch.starts_with("drctl-drill-spatial-scans-") && scratch.len() == "drctl-drill-spatial-scans-".len() + 8, "{scratch}");

    assert_eq!(result.scratch_cleanup, Cleanup::Deleted);
    assert_eq!(result.canary_cleanup.as_deref(), Some("removed"));
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_source_untouched(&account).await;
    let json = serde_json::to_value(&result).unwrap();
    assert_eq!(json["verdict"], "passed");
    assert_eq!(json["scratch_cleanup"]["outcome"], "deleted");
}

#[tokio::test]
async fn a_failed_restore_job_is_a_failed_drill_with_its_reason_and_no_scratch_table() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.fail_job(JobKind::Restore, JobTarget::Next, "Insufficient capacity to restore");

    let result = drill_primary(&account.aws, &policy, &fast()).await;

    assert_eq!(result.verdict, Verdict::Failed);
    let error = result.error.as_deref().expect("the failure is reported");
    assert!(error.contains("restore job") && error.contains("FAILED") && error.contains("Insufficient capacity to restore"), "{error}");
    let status = result.check("status").expect("status reported");
    assert!(!status.passed && status.reason.contains("Insufficient capacity"), "{status:?}");
    assert_eq!(result.checks.len(), 1, "no check runs without a restored table");
    assert!(result.reasons.iter().any(|r| r.contains("Insufficient capacity")), "{:?}", result.reasons);
    assert!(result.rto.is_none());
    assert_eq!(result.scratch_cleanup, Cleanup::Absent);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_eq!(result.canary_cleanup.as_deref(), Some("removed"));
    assert_source_untouched(&account).await;
}

/// Waits for the drill's backup job to start, then changes one source item:
/// the restore holds the old item, so the data differ.
async fn change_an_item_after_the_backup(account: &TestAccount) {
    let backup = account.clients().backup;
    support::poll("the drill's backup job", support::DEADLINE, || async {
        let jobs = backup.list_backup_jobs().by_backup_vault_name("drctl-spatial-scans").send().await.ok()?;
        (!jobs.backup_jobs().is_empty()).then_some(())
    })
    .await;
    let mut changed = support::fixture_item(7);
    changed.insert("payload".into(), AttributeValue::S("rewritten after the backup".into()));
    support::put_items(&account.clients().dynamodb, "SpatialScans", [changed]).await;
}

#[tokio::test]
async fn restored_data_that_differ_from_the_source_fail_the_sample_and_fingerprint() {
    let account = support::account().await;
    let policy = ground(&account, &static_source(scans_yaml("on-demand"))).await;
    account.set_job_progression(JobKind::Restore, Progression::Time { seconds: 1.0 });

    let options = fast();
    let (result, ()) = tokio::join!(drill_primary(&account.aws, &policy, &options), change_an_item_after_the_backup(&account));

    assert_eq!(result.verdict, Verdict::Failed, "{result:#?}");
    let sample = result.check("sample").unwrap();
    assert!(!sample.passed && sample.reason.contains("first: key hmac:") && sample.reason.contains("differs in payload"), "{sample:?}");
    assert!(!sample.reason.contains("SCAN#0007"), "keys are hidden unless the policy sets show_keys: {sample:?}");
    assert_eq!(number(&result, "sample", "mismatched"), 1);
    let fingerprint = result.check("fingerprint").unwrap();
    assert!(!fingerprint.passed && fingerprint.reason.contains("differs from source"), "{fingerprint:?}");
    for unaffected in ["status", "schema", "item_count", "canary", "query"] {
        assert!(result.check(unaffected).unwrap().passed, "{unaffected}: {result:#?}");
    }
    assert!(result.reasons.iter().any(|r| r.starts_with("sample: ")) && result.reasons.iter().any(|r| r.starts_with("fingerprint: ")));
    assert!(result.rto.as_ref().unwrap().restore_to_active_seconds >= 1.5, "the slow restore is measured: {:?}", result.rto);
    assert_eq!(result.scratch_cleanup, Cleanup::Deleted);
    assert_eq!(result.canary_cleanup.as_deref(), Some("removed"));
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}

/// SpatialScans with a GSI (INCLUDE projection) and an LSI (KEYS_ONLY).
async fn create_indexed_table(dynamodb: &aws_sdk_dynamodb::Client) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, LocalSecondaryIndex, Projection, ProjectionType,
        ScalarAttributeType,
    };
    let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().unwrap();
    let attr = |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().unwrap();
    let projection = |kind, attributes: &[&str]| {
        let mut projection = Projection::builder().projection_type(kind);
        for attribute in attributes {
            projection = projection.non_key_attributes(*attribute);
        }
        projection.build()
    };
    dynamodb
        .create_table()
        .table_name("SpatialScans")
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .attribute_definitions(attr("payload"))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-payload")
                .key_schema(key("payload", KeyType::Hash))
                .projection(projection(ProjectionType::Include, &["size"]))
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by-home-payload")
                .key_schema(key("pk", KeyType::Hash))
                .key_schema(key("payload", KeyType::Range))
                .projection(projection(ProjectionType::KeysOnly, &[]))
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    support::wait_table_active(dynamodb, "SpatialScans").await;
    support::put_items(dynamodb, "SpatialScans", (0..ITEMS).map(support::fixture_item)).await;
}

#[tokio::test]
async fn the_schema_check_covers_indexes_and_a_query_on_an_index() {
    let account = support::account().await;
    create_indexed_table(&account.clients().dynamodb).await;
    let yaml = scans_yaml("on-demand").replace(
        r#"- query: { key: { pk: "HOME#1" }, expect: { min_items: 1 } }"#,
        r#"- query: { key: { payload: "point cloud 3: xxx" }, index: by-payload, expect: { min_items: 1, max_items: 1 } }"#,
    );
    let policy = deploy(&account, &yaml).await;

    let result = drill_primary(&account.aws, &policy, &fast()).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    let schema = result.check("schema").unwrap();
    assert_eq!(number(&result, "schema", "differences"), 0, "{schema:?}");
    assert!(number(&result, "schema", "compared") >= 6, "keys, 3 attributes, GSI, LSI, SSE: {schema:?}");
    let query = result.check("query").unwrap();
    assert!(query.reason.contains("on index by-payload"), "{query:?}");
    assert_eq!(number(&result, "query", "items"), 1);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_latest_drill_restores_the_newest_completed_recovery_point() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("latest")).await;
    let backup = account.clients().backup;
    let table_arn = account.table_arn(support::REGION, "SpatialScans");
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let started = backup
            .start_backup_job()
            .backup_vault_name("drctl-spatial-scans")
            .resource_arn(&table_arn)
            .iam_role_arn(account.backup_role_arn())
            .send()
            .await
            .unwrap();
        jobs.push(started.backup_job_id().unwrap().to_string());
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let newest = backup.describe_backup_job().backup_job_id(&jobs[1]).send().await.unwrap();

    let result = drill_primary(&account.aws, &policy, &fast()).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    let point = result.recovery_point.as_ref().unwrap();
    assert_eq!(Some(point.arn.as_str()), newest.recovery_point_arn());
    assert_eq!(point.backup_job_id, None, "the drill took no backup of its own");
    assert!(result.check("canary").is_none() && result.canary_cleanup.is_none());
    assert!(result.rpo.as_ref().unwrap().measured_seconds >= 1.0, "{:?}", result.rpo);
    assert_eq!(number(&result, "item_count", "restored"), ITEMS as u64);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}

/// A poll that stays throttled past the SDK's retries is not a failed job:
/// drctl polls again until the job's deadline and the drill passes.
#[tokio::test]
async fn job_polls_throttled_past_the_sdks_retries_keep_polling_and_the_drill_passes() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    // The SDK tries each call 3 times; three whole calls' worth of
    // throttles, for every job a drill polls.
    const ATTEMPTS: u32 = 3;
    let aws = account.aws_with_attempts(ATTEMPTS).await;
    for operation in ["DescribeBackupJob", "DescribeRestoreJob"] {
        account.inject_fault(Fault::throttle("backup", operation).times(3 * ATTEMPTS));
    }

    let result = drill_primary(&aws, &policy, &fast()).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    let calls = account.calls();
    assert!(calls.of("backup/DescribeBackupJob") > u64::from(3 * ATTEMPTS), "{calls:?}");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}

/// A check whose reads stay throttled past the SDK's retries reaches no
/// verdict: the drill is inconclusive, not failed, and the other checks
/// still report.
#[tokio::test]
async fn a_check_throttled_past_the_sdks_retries_makes_the_drill_inconclusive_not_failed() {
    let (account, result) = drilled_under(Fault::throttle("dynamodb", "Scan").times(1)).await;

    assert_eq!(result.verdict, Verdict::Inconclusive, "{result:#?}");
    // item_count and fingerprint share one scan of the restore: both go unanswered.
    let unanswered: Vec<&str> = result.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
    assert!(!unanswered.is_empty() && unanswered.iter().all(|c| ["item_count", "fingerprint", "sample"].contains(c)), "{result:#?}");
    assert!(result.checks.iter().filter(|c| !c.passed).all(|c| c.inconclusive && c.reason.contains("Throttling")), "{result:#?}");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_source_untouched(&account).await;
}

/// AWS refusing a call for access says nothing against the recovery:
/// drctl could not ask, so the drill is inconclusive, not failed.
#[tokio::test]
async fn a_restore_refused_for_access_makes_the_drill_inconclusive() {
    let (account, result) = drilled_under(Fault::throttle("backup", "StartRestoreJob").code("AccessDeniedException").times(1)).await;

    assert_eq!(result.verdict, Verdict::Inconclusive, "{result:#?}");
    assert!(result.error.as_deref().unwrap_or_default().contains("AccessDeniedException"), "{result:#?}");
    assert_source_untouched(&account).await;
}

/// AWS's answers may leave out any member; the recovery point's creation
/// time is what the RPO is measured from. Without it the drill stops with
/// the operation named, instead of taking "now" and passing any RPO.
#[tokio::test]
async fn a_recovery_point_without_a_creation_date_fails_the_drill_naming_the_call() {
    let (account, result) = drilled_under(Fault::omit("backup", "DescribeRecoveryPoint", "CreationDate")).await;

    assert_eq!(result.verdict, Verdict::Failed, "{result:#?}");
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("DescribeRecoveryPoint") && error.contains("no CreationDate"), "{result:#?}");
    assert!(result.rpo.is_none(), "no RPO without the point's time: {:?}", result.rpo);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_source_untouched(&account).await;
}

/// A COMPLETED job whose answer names no recovery point, or a started
/// restore whose answer has no job id, stops the drill naming the call:
/// one reading of job answers for backup, copy and restore jobs.
#[tokio::test]
async fn a_job_answer_without_its_recovery_point_or_id_stops_the_drill_naming_the_call() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.inject_fault(Fault::omit("backup", "DescribeBackupJob", "RecoveryPointArn"));
    let result = drill_primary(&account.aws, &policy, &fast()).await;
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("DescribeBackupJob") && error.contains("names no recovery point"), "{result:#?}");
    assert_eq!(result.verdict, Verdict::Failed);

    account.clear_faults();
    account.inject_fault(Fault::omit("backup", "StartRestoreJob", "RestoreJobId"));
    let result = drill_primary(&account.aws, &policy, &fast()).await;
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("StartRestoreJob") && error.contains("no job id"), "{result:#?}");
    account.clear_faults();
    // The restore did start on AWS's side: its table is drctl's scratch
    // table all the same, and the drill's clean-up or gc removes it.
    assert_source_untouched(&account).await;
}

/// With `latest`, a completed copy in the DR vault is reused; when drctl
/// cannot ask whether that copy is still there (DescribeRecoveryPoint
/// throttled past the SDK's retries), it stops: "could not tell" is not
/// "expired", and it starts no second copy job.
#[tokio::test]
async fn a_throttled_look_at_a_copied_point_starts_no_second_copy_job() {
    let account = support::account().await;
    let policy = ground(&account, &two_region_yaml("latest")).await;
    enable_advanced_backup(&account).await;
    // The scheduled backup runs a while after the apply turned PITR on (a
    // point taken within the margin of it cannot be compared item for item).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let backup = account.clients().backup;
    backup
        .start_backup_job()
        .backup_vault_name("drctl-spatial-scans")
        .resource_arn(account.table_arn(support::REGION, "SpatialScans"))
        .iam_role_arn(account.backup_role_arn())
        .send()
        .await
        .unwrap();
    let first = drill::prove(&account.aws, &policy, &fast(), &NoJournal).await;
    assert!(first.iter().all(|r| r.verdict == Verdict::Passed), "{first:#?}");
    let copies = || async { backup.list_copy_jobs().send().await.unwrap().copy_jobs().len() };
    assert_eq!(copies().await, 1);

    account.inject_fault(Fault::throttle("backup", "DescribeRecoveryPoint"));
    let second = drill::prove(&account.aws, &policy, &fast(), &NoJournal).await;

    account.clear_faults();
    let dr = second.iter().find(|r| r.region == support::DR_REGION).unwrap();
    let error = dr.error.as_deref().unwrap_or_default();
    assert!(error.contains("DescribeRecoveryPoint"), "{dr:#?}");
    assert_eq!(copies().await, 1, "no second copy job");
    assert_eq!(scratch_tables_in(&account, support::DR_REGION).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_restore_past_its_deadline_is_a_failed_drill_naming_the_timeout() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.set_job_progression(JobKind::Restore, Progression::Manual { steps: 1000 });
    let options = drill::Options { job_deadline: Duration::from_millis(600), ..fast() };

    let result = drill_primary(&account.aws, &policy, &options).await;

    assert_eq!(result.verdict, Verdict::Failed);
    let error = result.error.as_deref().unwrap();
    assert!(error.starts_with("restore job ") && error.contains("not done after"), "{error}");
    assert!(!result.check("status").unwrap().passed);
    assert_eq!(result.scratch_cleanup, Cleanup::Absent, "the job has not created the table");
    assert_source_untouched(&account).await;
}

#[tokio::test]
async fn throttled_scans_and_queries_are_retried_and_the_drill_still_passes() {
    let account = support::account().await;
    let policy = ground(&account, &static_source(scans_yaml("on-demand"))).await;
    account.inject_fault(Fault::throttle("dynamodb", "Scan").probability(0.3, 11));
    account.inject_fault(Fault::throttle("dynamodb", "Query").times(1));
    let aws = account.aws_with_attempts(10).await;

    let result = drill_primary(&aws, &policy, &fast()).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    let fired: u64 = account.faults().iter().map(|f| f["fired"].as_u64().unwrap_or(0)).sum();
    assert!(fired >= 2, "throttling happened: {:?}", account.faults());
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_drill_in_a_region_without_a_vault_of_the_policy_is_refused_before_touching_anything() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.reset_calls();
    let options = drill::Options { regions: Some(vec!["eu-west-1".into()]), ..fast() };

    let result = drill_primary(&account.aws, &policy, &options).await;

    assert_eq!((result.verdict, result.region.as_str()), (Verdict::Failed, "eu-west-1"));
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("neither the policy's primary region us-east-1 nor one of its copy regions (us-west-2)"), "{result:#?}");
    assert_eq!(account.calls().total, 0, "{:?}", account.calls());
}

#[tokio::test]
async fn a_two_region_drill_passes_every_check_in_both_regions_and_leaves_no_scratch_table() {
    let account = support::account().await;
    let policy = ground(&account, &two_region_yaml("on-demand")).await;
    enable_advanced_backup(&account).await;
    let journal = TestJournal::default();

    let results = drill::prove(&account.aws, &policy, &fast(), &journal).await;

    let regions: Vec<&str> = results.iter().map(|r| r.region.as_str()).collect();
    assert_eq!(regions, [support::REGION, support::DR_REGION]);
    let (primary, dr) = (&results[0], &results[1]);
    for result in &results {
        assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
        assert!(result.checks.iter().all(|c| c.passed), "{result:#?}");
        let names: Vec<&str> = result.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["status", "schema", "item_count", "sample", "canary", "fingerprint", "query"]);
        let with_canary = ITEMS as u64 + 1;
        let count = (number(result, "item_count", "unchanged_expected"), number(result, "item_count", "restored"));
        assert_eq!(count, (with_canary, with_canary));
        assert_eq!(number(result, "canary", "found"), 1);
        assert_eq!(number(result, "fingerprint", "restored"), with_canary);
        assert_eq!(result.reference.as_ref().map(|r| r.kind), Some("point-in-time"), "one reference for both regions");
        assert!(result.rpo.as_ref().is_some_and(|r| r.met && r.measured_seconds < 60.0), "{:?}", result.rpo);
        assert!(result.rto.as_ref().is_some_and(|r| r.met), "{:?}", result.rto);
        assert_eq!(result.scratch_cleanup, Cleanup::Deleted);
        assert_eq!(result.canary_cleanup.as_deref(), Some("removed"));
        assert_eq!(result.drill_id, primary.drill_id, "one drill");
    }
    assert_eq!(primary.copy_job_id, None);
    let copy_job = dr.copy_job_id.as_deref().expect("the DR result names its copy job");
    let copied = account.clients().backup.describe_copy_job().copy_job_id(copy_job).send().await.unwrap();
    let copied = copied.copy_job().unwrap();
    let (source_point, dr_point) = (primary.recovery_point.as_ref().unwrap(), dr.recovery_point.as_ref().unwrap());
    assert_eq!(copied.source_recovery_point_arn(), Some(source_point.arn.as_str()));
    assert_eq!(copied.destination_recovery_point_arn(), Some(dr_point.arn.as_str()));
    assert!(dr_point.arn.starts_with("arn:aws:backup:us-west-2:") && dr_point.vault == "drctl-spatial-scans", "{dr_point:?}");
    assert_eq!((&dr_point.backup_job_id, &dr_point.created), (&source_point.backup_job_id, &source_point.created), "the same data");
    let dr_scratch = dr.scratch_table.as_deref().unwrap();
    assert_eq!(Some(dr_scratch), primary.scratch_table.as_deref(), "one name, one table per region");
    // drctl's apply identity may restore and copy only recovery points
    // tagged as drctl's: both points of the drill carry the tags.
    for (region, point) in [(support::REGION, source_point), (support::DR_REGION, dr_point)] {
        let tags = account.region(region).backup.list_tags().resource_arn(&point.arn).send().await.unwrap();
        let tags = tags.tags().cloned().unwrap_or_default();
        assert_eq!(tags.get("drctl:managed-by").map(String::as_str), Some("drctl"), "{region}: {tags:?}");
        assert_eq!(tags.get("drctl:policy").map(String::as_str), Some("spatial-scans"), "{region}: {tags:?}");
    }
    let restored_in_dr = restore_jobs(&account, support::DR_REGION).await;
    assert_eq!(restored_in_dr.len(), 1);
    assert_eq!(restored_in_dr[0].recovery_point_arn(), Some(dr_point.arn.as_str()));

    assert_eq!(scratch_tables_in(&account, support::REGION).await, Vec::<String>::new());
    assert_eq!(scratch_tables_in(&account, support::DR_REGION).await, Vec::<String>::new());
    assert_source_untouched(&account).await;

    let events = journal.events();
    assert_eq!(events[0], Event::Started { drill_id: primary.drill_id.clone() });
    assert_eq!(events[1], Event::BackupStarted { job_id: source_point.backup_job_id.clone().unwrap() });
    assert!(events.contains(&Event::CopyStarted { region: support::DR_REGION.into(), job_id: copy_job.into() }), "{events:#?}");
    for result in &results {
        let table = result.scratch_table.clone().unwrap();
        let starting = Event::RestoreStarting { region: result.region.clone(), scratch_table: table.clone() };
        let started =
            Event::RestoreStarted { region: result.region.clone(), job_id: result.restore_job_id.clone().unwrap(), scratch_table: table };
        let at = |event: &Event| events.iter().position(|e| e == event).unwrap_or_else(|| panic!("{event:?} not in {events:#?}"));
        assert!(at(&starting) < at(&started), "the scratch table is recorded before its restore starts");
    }
}

#[tokio::test]
async fn with_advanced_backup_off_the_dr_drill_fails_with_the_command_that_fixes_it_and_the_primary_passes() {
    let account = support::account().await;
    let policy = ground(&account, &two_region_yaml("on-demand")).await;

    let results = drill::prove(&account.aws, &policy, &fast(), &NoJournal).await;

    let (primary, dr) = (&results[0], &results[1]);
    assert_eq!(primary.verdict, Verdict::Passed, "{primary:#?}");
    assert_eq!(dr.verdict, Verdict::Failed);
    let error = dr.error.as_deref().unwrap_or_default();
    assert!(error.contains("advanced features for Amazon DynamoDB are off in us-east-1"), "{error}");
    assert!(
        error.contains("aws backup update-region-settings --region us-east-1 --resource-type-management-preference DynamoDB=true"),
        "{error}"
    );
    assert!(dr.reasons.iter().any(|r| r.contains("update-region-settings")), "{:?}", dr.reasons);
    assert!(dr.checks.is_empty() && dr.copy_job_id.is_none() && dr.scratch_table.is_none(), "{dr:#?}");
    assert_eq!(account.calls().of("backup/StartCopyJob"), 0);
    assert_eq!(scratch_tables_in(&account, support::DR_REGION).await, Vec::<String>::new());
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_source_untouched(&account).await;
}

#[tokio::test]
async fn a_latest_dr_drill_restores_a_completed_copy_of_the_chosen_point_without_copying_again() {
    let account = support::account().await;
    let policy = ground(&account, &two_region_yaml("latest")).await;
    enable_advanced_backup(&account).await;
    // The scheduled backup runs a while after the apply turned PITR on (a
    // point taken within the margin of it cannot be compared item for item).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let backup = account.clients().backup;
    let taken = backup
        .start_backup_job()
        .backup_vault_name("drctl-spatial-scans")
        .resource_arn(account.table_arn(support::REGION, "SpatialScans"))
        .iam_role_arn(account.backup_role_arn())
        .send()
        .await
        .unwrap();
    let scheduled_copy = backup
        .start_copy_job()
        .recovery_point_arn(taken.recovery_point_arn().unwrap())
        .source_backup_vault_name("drctl-spatial-scans")
        .destination_backup_vault_arn(account.vault_arn(support::DR_REGION, "drctl-spatial-scans"))
        .iam_role_arn(account.backup_role_arn())
        .send()
        .await
        .unwrap();

    let results = drill::prove(&account.aws, &policy, &fast(), &NoJournal).await;

    assert!(results.iter().all(DrillResult::passed), "{results:#?}");
    assert_eq!(results[1].copy_job_id.as_deref(), scheduled_copy.copy_job_id());
    assert_eq!(account.calls().of("backup/StartCopyJob"), 1, "only the test's own copy");
    assert_eq!(results[0].recovery_point.as_ref().unwrap().arn, taken.recovery_point_arn().unwrap());
    assert_eq!(scratch_tables_in(&account, support::DR_REGION).await, Vec::<String>::new());
}

/// Starts a drill whose restore job does not progress, and drops it (as a
/// crash would) once the journal has its restore job; returns the events.
async fn interrupted_drill(account: &TestAccount, policy: &TablePolicy) -> Vec<Event> {
    account.set_job_progression(JobKind::Restore, Progression::Manual { steps: 1000 });
    let journal = TestJournal::default();
    let options = fast();
    tokio::select! {
        results = drill::prove(&account.aws, policy, &options, &journal) => panic!("the drill was to be interrupted: {results:#?}"),
        () = journal.restore_started.notified() => {}
        () = tokio::time::sleep(support::DEADLINE) => panic!("no restore job started: {:#?}", journal.events()),
    }
    account.set_job_progression(JobKind::Restore, Progression::Immediate);
    journal.events()
}

#[tokio::test]
async fn a_resumed_drill_waits_for_the_interrupted_restore_and_ends_with_one_restore_job() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    let events = interrupted_drill(&account, &policy).await;
    let resume = Resume::from_events(&events).expect("the interrupted drill is resumable");
    let (scratch, job) = resume.restores[support::REGION].clone();
    assert!(job.is_some() && resume.backup_job_id.is_some(), "{resume:?}");
    let leftover = scratch_tables(&account).await;
    assert!(leftover.is_empty(), "the pending restore has made no table yet: {leftover:?}");

    let options = drill::Options { resume: Some(resume.clone()), ..fast() };
    let result = drill_primary(&account.aws, &policy, &options).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    assert_eq!((&result.drill_id, &result.restore_job_id), (&resume.drill_id, &job));
    assert_eq!(result.scratch_table.as_deref(), Some(scratch.as_str()));
    assert_eq!(result.recovery_point.as_ref().unwrap().backup_job_id, resume.backup_job_id);
    assert_eq!(number(&result, "canary", "found"), 1, "the interrupted drill's canary, taken over");
    assert_eq!(restore_jobs(&account, support::REGION).await.len(), 1, "exactly one restore job");
    assert_eq!(account.calls().of("backup/StartBackupJob"), 1, "the backup job was waited for, not started again");
    assert_eq!(account.calls().of("backup/StartRestoreJob"), 1, "the restore job was waited for, not started again");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_eq!(result.canary_cleanup.as_deref(), Some("removed"));
    assert_source_untouched(&account).await;
}

#[tokio::test]
async fn a_resumed_drill_that_never_learnt_its_restore_job_gets_the_same_one_by_its_token() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    let mut events = interrupted_drill(&account, &policy).await;
    events.retain(|e| !matches!(e, Event::RestoreStarted { .. }));
    let resume = Resume::from_events(&events).unwrap();
    assert_eq!(resume.restores[support::REGION].1, None, "killed between RestoreStarting and the job's id");

    let options = drill::Options { resume: Some(resume), ..fast() };
    let result = drill_primary(&account.aws, &policy, &options).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    assert_eq!(restore_jobs(&account, support::REGION).await.len(), 1, "the repeated start answered the first job");
    assert_eq!(account.calls().of("backup/StartRestoreJob"), 2);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_source_untouched(&account).await;
}

#[tokio::test]
async fn a_resume_record_naming_a_table_the_drill_id_does_not_name_is_refused_and_that_table_kept() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    let resume = Resume {
        drill_id: "00000000deadbeef".into(),
        restores: [(support::REGION.to_string(), ("SpatialScans".to_string(), None))].into(),
        ..Resume::default()
    };

    let result = drill_primary(&account.aws, &policy, &drill::Options { resume: Some(resume), ..fast() }).await;

    assert_eq!(result.verdict, Verdict::Failed);
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("names scratch table SpatialScans") && error.contains("drctl-drill-spatial-scans-00000000"), "{error}");
    assert_eq!((result.scratch_cleanup.clone(), result.restore_job_id.clone()), (Cleanup::NotCreated, None));
    assert_eq!(account.calls().of("backup/StartRestoreJob"), 0);
    assert_source_untouched(&account).await;
}

#[tokio::test]
async fn a_canary_missing_from_the_restore_fails_the_canary_check() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    let omit = json!({
        "account": account.id,
        "resource_arn": account.table_arn(support::REGION, "SpatialScans"),
        "key_prefix": "drctl-canary#",
    });
    let (status, body) = account.emulator.http("POST", "/_drctl/backups/omit", Some(&omit)).unwrap();
    assert_eq!(status, 200, "{body}");

    let result = drill_primary(&account.aws, &policy, &fast()).await;

    assert_eq!(result.verdict, Verdict::Failed);
    let canary = result.check("canary").unwrap();
    assert!(!canary.passed && canary.reason.contains("is not in the restore"), "{canary:?}");
    assert_eq!(number(&result, "canary", "found"), 0);
    assert!(result.reasons.iter().any(|r| r.starts_with("canary: ")), "{:?}", result.reasons);
    assert!(result.check("schema").unwrap().passed && result.check("query").unwrap().passed);
    assert_eq!(result.scratch_cleanup, Cleanup::Deleted);
    assert_eq!(result.canary_cleanup.as_deref(), Some("removed"));
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_source_untouched(&account).await;
}

/// Takes a little over a minute: the shortest RTO a policy can state is 1m,
/// and the restore job takes 2 × 30.5 s on the emulator's clock.
#[tokio::test]
async fn a_restore_slower_than_the_rto_fails_the_drill() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand").replace("rto: 1h", "rto: 1m")).await;
    account.set_job_progression(JobKind::Restore, Progression::Time { seconds: 30.5 });
    let options = drill::Options { job_deadline: Duration::from_secs(120), ..fast() };

    let result = drill_primary(&account.aws, &policy, &options).await;

    assert_eq!(result.verdict, Verdict::Failed);
    assert!(result.checks.iter().all(|c| c.passed), "only the objective is missed: {result:#?}");
    let rto = result.rto.as_ref().unwrap();
    assert!(!rto.met && rto.objective_seconds == 60 && rto.measured_seconds > 60.0, "{rto:?}");
    assert!(result.reasons.iter().any(|r| r.starts_with("RTO ") && r.ends_with("exceeds the objective 60s")), "{:?}", result.reasons);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}

/// Runs two drills of `policy` at once; returns their results and the most
/// restore jobs that ran together, as the emulator counted them (from each
/// StartRestoreJob until the job was first seen ended: no sampling).
async fn two_drills_at_once(account: &TestAccount, policy: &TablePolicy, options: &drill::Options) -> (Vec<DrillResult>, u64) {
    account.reset_restore_overlap();
    let (a, b) =
        tokio::join!(drill::prove(&account.aws, policy, options, &NoJournal), drill::prove(&account.aws, policy, options, &NoJournal));
    ([a, b].concat(), account.restore_overlap_peak())
}

#[tokio::test]
async fn with_one_restore_slot_two_drills_never_restore_at_once() {
    let account = support::account().await;
    let checks_only_schema = |yaml: String| {
        let start = yaml.find("    checks:\n").unwrap();
        let end = yaml.find("  notify:").unwrap();
        format!("{}    checks:\n      - schema: match-source\n{}", &yaml[..start], &yaml[end..])
    };
    let policy = ground(&account, &checks_only_schema(scans_yaml("on-demand"))).await;
    account.set_job_progression(JobKind::Restore, Progression::Time { seconds: 0.4 });

    let one_slot = fast().with_restore_slots(1).unwrap();
    let (results, most) = two_drills_at_once(&account, &policy, &one_slot).await;
    assert!(results.iter().all(DrillResult::passed), "{results:#?}");
    assert_eq!(most, 1, "one restore job at a time");

    let ten_slots = fast().with_restore_slots(10).unwrap();
    let (results, most) = two_drills_at_once(&account, &policy, &ten_slots).await;
    assert!(results.iter().all(DrillResult::passed), "{results:#?}");
    assert_eq!(most, 2, "without the bound the two restores overlap (so the bound above is what kept them apart)");
    assert_eq!(restore_jobs(&account, support::REGION).await.len(), 4);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert!(matches!(fast().with_restore_slots(51), Err(drill::QuotaError::AboveAwsLimit { requested: 51 })));
}

/// `drctl fingerprint` over the wire: the same hash whatever the segments
/// and item order, another hash after one attribute changes.
#[tokio::test]
async fn the_fingerprint_command_tells_equal_tables_from_different_ones() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    support::create_table(&dynamodb, "Original", ITEMS).await;
    support::create_table(&dynamodb, "Copy", 0).await;
    support::put_items(&dynamodb, "Copy", (0..ITEMS).rev().map(support::fixture_item)).await;
    let fingerprint = |table: &str, segments: &str| -> serde_json::Value {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_drctl"))
            .args(["fingerprint", table, "--region", support::REGION, "--segments", segments, "--format", "json"])
            .envs(account.cli_env())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    };

    let original = fingerprint("Original", "1");
    assert_eq!(original["items"], ITEMS as u64);
    assert_eq!(fingerprint("Copy", "7")["fingerprint"], original["fingerprint"]);
    let mut changed = support::fixture_item(3);
    changed.insert("rooms".into(), AttributeValue::N("99".into()));
    support::put_items(&dynamodb, "Copy", [changed]).await;
    let copy = fingerprint("Copy", "4");
    assert_eq!(copy["items"], ITEMS as u64);
    assert_ne!(copy["fingerprint"], original["fingerprint"]);
}

/// A restore whose scratch table cannot be recorded is not started: a
/// table no record names could be left behind by a crash.
/// The state store down when the drill starts: it writes no canary (whose
/// key no record would hold) and starts no job; inconclusive.
#[tokio::test]
async fn a_drill_whose_start_cannot_be_recorded_writes_no_canary_and_starts_nothing() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.reset_calls();
    let journal = TestJournal { refuse_start: true, ..TestJournal::default() };

    let results = drill::prove(&account.aws, &policy, &fast(), &journal).await;

    let result = &results[0];
    assert_eq!(result.verdict, Verdict::Inconclusive, "{result:#?}");
    assert!(result.error.as_deref().unwrap_or_default().contains("could not record the start of drill"), "{result:#?}");
    let calls = account.calls();
    for side_effect in ["dynamodb/PutItem", "backup/StartBackupJob", "backup/StartRestoreJob", "backup/StartCopyJob"] {
        assert_eq!(calls.of(side_effect), 0, "{side_effect}: {calls:?}");
    }
    assert_source_untouched(&account).await;
}

#[tokio::test]
async fn a_drill_does_not_restore_what_it_cannot_record() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    let journal = TestJournal { refuse_restores: true, ..TestJournal::default() };

    let results = drill::prove(&account.aws, &policy, &fast(), &journal).await;

    let result = &results[0];
    assert_eq!(result.verdict, Verdict::Inconclusive, "a state store that is down says nothing against the recovery");
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("could not record the scratch table") && error.contains("unavailable"), "{error}");
    assert!(result.restore_job_id.is_none());
    assert!(account.region(support::REGION).backup.list_restore_jobs().send().await.unwrap().restore_jobs().is_empty());
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_source_untouched(&account).await;
}
