//! Restore drills against the emulator: a drill that passes every check and
//! leaves nothing behind, and a failed restore job reported as a failed
//! drill that still cleans up.

mod support;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use drctl::apply::{self, Progress};
use drctl::drill::{self, Backoff, Cleanup, DrillResult, Verdict};
use drctl::plan;
use drctl::policy::{self, Checked, Input, TablePolicy};
use support::{Fault, JobKind, JobTarget, Progression, TestAccount};

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");
const ITEMS: usize = 60;

/// spatial-scans, drilled in its primary region only (DR-region drills are
/// not built yet), with a fingerprint check besides its own.
fn scans_yaml(recovery_point: &str) -> String {
    SCANS
        .replace("regions: [us-east-1, us-west-2]", "regions: [us-east-1]")
        .replace("recovery_point: on-demand", &format!("recovery_point: {recovery_point}"))
        .replace("      - canary: true\n", if recovery_point == "latest" { "" } else { "      - canary: true\n" })
        .replace("      - query:", "      - fingerprint: match\n      - query:")
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
    }
}

async fn scratch_tables(account: &TestAccount) -> Vec<String> {
    let listed = account.clients().dynamodb.list_tables().into_paginator().items().send().collect::<Vec<_>>().await;
    listed.into_iter().map(Result::unwrap).filter(|name| name.starts_with("drctl-drill-")).collect()
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

    let result = drill::run(&account.aws, &policy, support::REGION, &fast()).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    let names: Vec<&str> = result.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["status", "schema", "item_count", "sample", "canary", "fingerprint", "query"]);
    assert!(result.checks.iter().all(|c| c.passed), "{result:#?}");
    let with_canary = ITEMS as u64 + 1;
    assert_eq!((number(&result, "item_count", "source"), number(&result, "item_count", "restored")), (with_canary, with_canary));
    assert_eq!(number(&result, "item_count", "tolerance_basis_points"), 100);
    assert_eq!((number(&result, "sample", "compared"), number(&result, "sample", "equal")), (with_canary, with_canary));
    assert_eq!(number(&result, "sample", "mismatched"), 0);
    assert_eq!(number(&result, "canary", "found"), 1);
    assert_eq!(number(&result, "query", "items"), ITEMS as u64 / 5, "pk HOME#1 holds every fifth item");
    assert_eq!(number(&result, "fingerprint", "restored_items"), with_canary);
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

    let result = drill::run(&account.aws, &policy, support::REGION, &fast()).await;

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
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.set_job_progression(JobKind::Restore, Progression::Time { seconds: 1.0 });

    let options = fast();
    let (result, ()) =
        tokio::join!(drill::run(&account.aws, &policy, support::REGION, &options), change_an_item_after_the_backup(&account));

    assert_eq!(result.verdict, Verdict::Failed, "{result:#?}");
    let sample = result.check("sample").unwrap();
    assert!(!sample.passed && sample.reason.contains("SCAN#0007") && sample.reason.contains("payload"), "{sample:?}");
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

    let result = drill::run(&account.aws, &policy, support::REGION, &fast()).await;

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

    let result = drill::run(&account.aws, &policy, support::REGION, &fast()).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    let point = result.recovery_point.as_ref().unwrap();
    assert_eq!(Some(point.arn.as_str()), newest.recovery_point_arn());
    assert_eq!(point.backup_job_id, None, "the drill took no backup of its own");
    assert!(result.check("canary").is_none() && result.canary_cleanup.is_none());
    assert!(result.rpo.as_ref().unwrap().measured_seconds >= 1.0, "{:?}", result.rpo);
    assert_eq!(number(&result, "item_count", "restored"), ITEMS as u64);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_restore_past_its_deadline_is_a_failed_drill_naming_the_timeout() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.set_job_progression(JobKind::Restore, Progression::Manual { steps: 1000 });
    let options = drill::Options { job_deadline: Duration::from_millis(600), ..fast() };

    let result = drill::run(&account.aws, &policy, support::REGION, &options).await;

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
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.inject_fault(Fault::throttle("dynamodb", "Scan").probability(0.3, 11));
    account.inject_fault(Fault::throttle("dynamodb", "Query").times(1));
    let aws = account.aws_with_attempts(10).await;

    let result = drill::run(&aws, &policy, support::REGION, &fast()).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    let fired: u64 = account.faults().iter().map(|f| f["fired"].as_u64().unwrap_or(0)).sum();
    assert!(fired >= 2, "throttling happened: {:?}", account.faults());
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_drill_outside_the_primary_region_is_refused_before_touching_anything() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.reset_calls();

    let result = drill::run(&account.aws, &policy, support::DR_REGION, &fast()).await;

    assert_eq!(result.verdict, Verdict::Failed);
    assert!(result.error.as_deref().is_some_and(|e| e.contains("only the primary region us-east-1")), "{result:#?}");
    assert_eq!(account.calls().total, 0, "{:?}", account.calls());
}
