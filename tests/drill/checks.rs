//! A drill in the primary region: every check passes on a faithful
//! restore and leaves nothing behind; a failed restore job, differing
//! data, a missing canary and a missed RTO each fail the drill with their
//! reason; `drctl fingerprint` tells tables apart.

use super::*;

use aws_sdk_dynamodb::types::AttributeValue;
use drctl::drill::{Cleanup, Verdict};
use serde_json::json;
use support::{JobKind, JobTarget, Progression};

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
