//! Drills of a table that takes writes for the whole drill: the data checks
//! compare the restore with the source around the recovery point (two
//! point-in-time exports at the edges of the backup's consistency window),
//! in the primary and a DR region.
//!
//! AWS (DynamoDB, CreateBackup): a backup requested at T holds every write
//! committed before T − 60 s and none after T + 60 s; writes in between may
//! or may not be in it. The emulator cuts each backup's contents where the
//! test says within that window (scaled down to a margin of a few seconds,
//! which the drill is told), so a good restore is proven to pass at either
//! edge and in the middle, while the table keeps changing.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use drctl::apply::{self, Progress};
use drctl::drill::{self, Backoff, DrillResult, NoJournal, Verdict};
use drctl::plan;
use drctl::policy::{self, Input, TablePolicy};
use support::{JobKind, JobTarget, TestAccount};

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");
const TABLE: &str = "SpatialScans";
const ITEMS: usize = 150;
/// The window's margin for the emulator's cuts and the drill alike.
const MARGIN: Duration = Duration::from_secs(2);

/// spatial-scans with every data check (an exact count, a sample larger
/// than the table, so every item is sampled), drilled in `regions`, with
/// `extra` verify lines.
fn yaml(regions: &str, extra: &str) -> String {
    SCANS
        .replace("item_count: { tolerance: 1% }", "item_count: { tolerance: 0% }")
        .replace("regions: [us-east-1, us-west-2]", &format!("regions: [{regions}]"))
        .replace("      - sample: { items: 200 }\n", "      - sample: { items: 1000 }\n      - fingerprint: match\n")
        .replace("    recovery_point: on-demand\n", &format!("    recovery_point: on-demand\n{extra}"))
}

/// The source table with its items, PITR on, and the policy deployed.
async fn ground(account: &TestAccount, yaml: &str) -> TablePolicy {
    support::create_table(&account.region(support::REGION).dynamodb, TABLE, ITEMS).await;
    support::enable_advanced_backup(&account.clients().backup).await;
    let checked = policy::check([Input { file: "desired/spatial-scans.yaml".into(), content: Ok(yaml.as_bytes().to_vec()) }]);
    assert!(!checked.has_errors(), "{:#?}", checked.findings);
    support::bootstrap(account, checked.policies.iter().map(|p| &p.policy)).await;
    let options = plan::Options { commit: None, extra_regions: Vec::new(), concurrency: 2, preview: false };
    let plan = plan::plan(&account.aws, &checked, &options).await;
    let report = apply::apply(&account.aws, &checked, &plan, &apply::Options::default(), &Progress::Quiet).await;
    assert!(!report.failed(), "{report:#?}");
    checked.policies[0].policy.clone()
}

fn options() -> drill::Options {
    drill::Options {
        job_deadline: support::DEADLINE,
        table_deadline: support::DEADLINE,
        backoff: Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(500) },
        scan_segments: 4,
        consistency_margin: MARGIN,
        ..drill::Options::default()
    }
}

/// Which items a [`Writer`] writes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writes {
    /// New items, and updates and deletes of the fixture's items.
    Everywhere,
    /// Only items of its own (partition key `LIVE#…`): new ones, then
    /// updates and deletes of those; the fixture's items stay unchanged.
    OwnItems,
}

/// A client that keeps writing to the source: puts of new items, updates
/// and deletes of existing ones, about 40 a second, until stopped.
struct Writer {
    stop: Arc<AtomicBool>,
    writes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// The writer's own item `i` (partition key `LIVE#…`).
fn own_item(i: usize) -> HashMap<String, AttributeValue> {
    let mut item = support::fixture_item(i);
    item.insert("pk".into(), AttributeValue::S(format!("LIVE#{}", i % 5)));
    item
}

fn key_of(item: HashMap<String, AttributeValue>) -> HashMap<String, AttributeValue> {
    item.into_iter().filter(|(k, _)| k == "pk" || k == "sk").collect()
}

impl Writer {
    fn start(account: &TestAccount, writes: Writes) -> Self {
        let dynamodb = account.region(support::REGION).dynamodb;
        let (stop, count) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (stopping, counting) = (stop.clone(), count.clone());
        // Every writer of the process goes on where the last one stopped, so
        // a second drill's writes change the table again.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let task = tokio::spawn(async move {
            let mut n = NEXT.fetch_add(100_000, Ordering::Relaxed);
            while !stopping.load(Ordering::Relaxed) {
                // Updates and deletes: a fixture item, or the writer's own
                // item put three writes before.
                let existing = |i: usize| match writes {
                    Writes::Everywhere => key_of(support::fixture_item(i % ITEMS)),
                    Writes::OwnItems => key_of(own_item((n - n % 3).saturating_sub(3 * (i % 2)))),
                };
                let outcome = match n % 3 {
                    0 => {
                        let mut item = match writes {
                            Writes::Everywhere => support::fixture_item(ITEMS + n),
                            Writes::OwnItems => own_item(n),
                        };
                        item.insert("payload".into(), AttributeValue::S(format!("written during the drill {n}")));
                        dynamodb.put_item().table_name(TABLE).set_item(Some(item)).send().await.is_ok()
                    }
                    1 => dynamodb
                        .update_item()
                        .table_name(TABLE)
                        .set_key(Some(existing(n)))
                        .update_expression("SET payload = :p")
                        .expression_attribute_values(":p", AttributeValue::S(format!("updated during the drill {n}")))
                        .send()
                        .await
                        .is_ok(),
                    _ => dynamodb.delete_item().table_name(TABLE).set_key(Some(existing(n * 7))).send().await.is_ok(),
                };
                if outcome {
                    counting.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        });
        Self { stop, writes: count, task }
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        self.writes.load(Ordering::Relaxed)
    }
}

/// Drills the policy while the writer writes; every region's result and
/// the number of writes made.
async fn drill_under_writes(account: &TestAccount, policy: &TablePolicy, writes: Writes) -> (Vec<DrillResult>, u64) {
    let writer = Writer::start(account, writes);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let results = drill::prove(&account.aws, policy, &options(), &NoJournal).await;
    let writes = writer.stop().await;
    (results, writes)
}

fn check<'a>(result: &'a DrillResult, name: &str) -> &'a drill::CheckResult {
    result.check(name).unwrap_or_else(|| panic!("no {name} check in {result:#?}"))
}

/// The objects left under drctl's prefix in the export bucket.
async fn exports_left(account: &TestAccount) -> usize {
    let bucket = format!("drctl-exports-{}-{}", account.id, support::REGION);
    let listed = account.region(support::REGION).s3.list_objects_v2().bucket(&bucket).prefix("drctl/").send().await.unwrap();
    listed.contents().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_good_restore_of_a_table_under_writes_passes_wherever_the_backup_is_cut() {
    let account = support::account().await;
    let policy = ground(&account, &yaml("us-east-1, us-west-2", "")).await;
    for cut in ["start", "middle", "end"] {
        account.cut_backups(TABLE, cut, MARGIN);
        let (results, writes) = drill_under_writes(&account, &policy, Writes::Everywhere).await;
        assert!(writes > 20, "the writer wrote {writes} times");
        assert_eq!(results.len(), 2);
        for result in &results {
            assert_eq!(result.verdict, Verdict::Passed, "cut at the {cut}: {result:#?}");
            let reference = result.reference.as_ref().expect("the result names its reference");
            assert_eq!(reference.kind, "point-in-time");
            assert_eq!(reference.exports.len(), 2, "{reference:#?}");
            assert!(
                reference.changed_in_window > 0,
                "cut at the {cut}: the writer changed items within the window ({writes} writes): {reference:#?}"
            );
            assert_eq!(reference.window.margin_seconds, MARGIN.as_secs());
            assert!(reference.cleanup.as_deref().is_some_and(|c| c.starts_with("deleted")), "{reference:#?}");
            let fingerprint = check(result, "fingerprint");
            assert!(fingerprint.reason.contains("changed within the backup's window ("), "{fingerprint:?}");
            assert!(check(result, "item_count").numbers["changed_in_window"] > 0);
        }
    }
    assert_eq!(exports_left(&account).await, 0, "the exports are deleted after each drill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restore_missing_one_item_fails_item_count_and_fingerprint() {
    let account = support::account().await;
    let policy = ground(&account, &yaml("us-east-1", "")).await;
    account.cut_backups(TABLE, "middle", MARGIN);
    // Damage an item the writer leaves alone: a changed item restored in a
    // state neither export holds is not judged.
    account.corrupt_restore("*", "drop_item", "HOME#");
    let (results, _) = drill_under_writes(&account, &policy, Writes::OwnItems).await;
    let result = &results[0];
    assert_eq!(result.verdict, Verdict::Failed, "{result:#?}");
    let (count, fingerprint) = (check(result, "item_count"), check(result, "fingerprint"));
    assert!(!count.passed && count.numbers["difference"] >= 1, "{count:?}");
    assert!(!fingerprint.passed, "{fingerprint:?}");
    let dropped = dropped_key(&account);
    assert!(fingerprint.reason.contains(&format!("{dropped} ")), "names the missing key {dropped}: {fingerprint:?}");
    assert_eq!(exports_left(&account).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restore_with_one_changed_attribute_fails_sample_and_fingerprint_naming_the_key() {
    let account = support::account().await;
    let policy = ground(&account, &yaml("us-east-1", "")).await;
    account.cut_backups(TABLE, "start", MARGIN);
    account.corrupt_restore("*", "flip_attribute", "HOME#");
    let (results, _) = drill_under_writes(&account, &policy, Writes::OwnItems).await;
    let result = &results[0];
    assert_eq!(result.verdict, Verdict::Failed, "{result:#?}");
    let changed = dropped_key(&account);
    let (sample, fingerprint) = (check(result, "sample"), check(result, "fingerprint"));
    assert!(check(result, "item_count").passed, "no item is missing");
    assert!(!sample.passed && sample.reason.contains(&changed), "{sample:?}");
    assert!(!fingerprint.passed && fingerprint.reason.contains(&changed), "{fingerprint:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn comparing_with_the_live_source_fails_a_good_restore_of_a_table_under_writes() {
    let account = support::account().await;
    let policy = ground(&account, &yaml("us-east-1", "    reference: source\n")).await;
    account.cut_backups(TABLE, "middle", MARGIN);
    let (results, _) = drill_under_writes(&account, &policy, Writes::Everywhere).await;
    let result = &results[0];
    assert_eq!(result.verdict, Verdict::Failed, "the old mode cannot prove a live table: {result:#?}");
    assert!(result.reference.is_none());
    assert!(!check(result, "fingerprint").passed);
}

/// The key of the item the emulator's corruption touched, as drctl names it
/// in its reports (a keyed hash).
fn dropped_key(account: &TestAccount) -> String {
    let applied = account.corruptions();
    let key = applied["applied"][0]["key"].clone();
    assert!(key.is_object(), "{applied}");
    let item = drill::reference::dynamodb_json::parse_line(&serde_json::json!({ "Item": key }).to_string()).unwrap();
    let names = ["pk".to_string(), "sk".to_string()];
    drill::checks::sample::key_hash(&drill::checks::items::key_bytes(&item, &names))
}

/// A drill whose reference cannot be had fails its data checks with why and
/// the fix; the other checks still run, the scratch table and any export
/// are deleted, and the source holds exactly its items (the canary gone).
async fn assert_failed_for_the_reference(account: &TestAccount, result: &DrillResult, why: &str, fix: &str) {
    assert_eq!(result.verdict, Verdict::Failed, "{result:#?}");
    for name in ["item_count", "sample", "fingerprint"] {
        let failed = check(result, name);
        assert!(!failed.passed && !failed.inconclusive, "{failed:?}");
        assert!(failed.reason.contains(why) && failed.reason.contains(fix), "{name} says why ({why}) and the fix ({fix}): {failed:?}");
    }
    for name in ["status", "schema", "canary", "query"] {
        assert!(check(result, name).passed, "{name}: {result:#?}");
    }
    assert_eq!(result.scratch_cleanup, drill::Cleanup::Deleted);
    assert_eq!(result.canary_cleanup.as_deref(), Some("removed"));
    let scratch = account.region(support::REGION).dynamodb.list_tables().send().await.unwrap();
    assert!(scratch.table_names().iter().all(|t| !t.starts_with("drctl-drill-")), "{scratch:?}");
    let items = support::scan_sorted(&account.region(support::REGION).dynamodb, TABLE).await;
    assert_eq!(items.len(), ITEMS, "the source is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_export_fails_the_data_checks_with_its_reason() {
    let account = support::account().await;
    let policy = ground(&account, &yaml("us-east-1", "")).await;
    account.fail_job(JobKind::Export, JobTarget::Next, "S3 throttled the export");
    let results = drill::prove(&account.aws, &policy, &options(), &NoJournal).await;
    assert_failed_for_the_reference(&account, &results[0], "S3 throttled the export", "drctl bootstrap").await;
    assert_eq!(exports_left(&account).await, 0, "what the export wrote is deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_export_bucket_that_is_gone_fails_the_data_checks_naming_the_fix() {
    let account = support::account().await;
    let policy = ground(&account, &yaml("us-east-1", "")).await;
    let s3 = account.region(support::REGION).s3;
    s3.delete_bucket().bucket(format!("drctl-exports-{}-{}", account.id, support::REGION)).send().await.unwrap();
    let results = drill::prove(&account.aws, &policy, &options(), &NoJournal).await;
    assert_failed_for_the_reference(&account, &results[0], "FAILED", "drctl bootstrap").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pitr_turned_off_since_the_apply_fails_the_data_checks_naming_the_fix() {
    let account = support::account().await;
    let policy = ground(&account, &yaml("us-east-1", "")).await;
    let spec = aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(false).build().unwrap();
    let dynamodb = account.region(support::REGION).dynamodb;
    dynamodb.update_continuous_backups().table_name(TABLE).point_in_time_recovery_specification(spec).send().await.unwrap();
    let results = drill::prove(&account.aws, &policy, &options(), &NoJournal).await;
    assert_failed_for_the_reference(&account, &results[0], "point-in-time recovery is off", "drctl reconcile").await;
    assert_eq!(exports_left(&account).await, 0);
}

/// `drctl compare`: a restore an operator made by hand, judged against the
/// source as it was at the instant restored to, while the source changes;
/// a restore that differs exits 3 naming why.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_compare_command_judges_a_hand_made_restore_against_the_source_at_its_instant() {
    let account = support::account().await;
    ground(&account, &yaml("us-east-1", "")).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let writer = Writer::start(&account, Writes::Everywhere);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let instant = std::time::SystemTime::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let dynamodb = account.region(support::REGION).dynamodb;
    dynamodb
        .restore_table_to_point_in_time()
        .source_table_name(TABLE)
        .target_table_name("SpatialScans-incident")
        .restore_date_time(aws_smithy_types::DateTime::from(instant))
        .send()
        .await
        .unwrap();
    support::wait_table_active(&dynamodb, "SpatialScans-incident").await;
    let at = aws_smithy_types::DateTime::from(instant).fmt(aws_smithy_types::date_time::Format::DateTime).unwrap();
    let compare = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_drctl"))
            .args(["compare", TABLE, "SpatialScans-incident", "--from", &at, "--region", support::REGION, "--format", "json"])
            .env_remove("AWS_PROFILE")
            .envs(account.cli_env())
            .output()
            .unwrap()
    };
    let equal = compare();
    writer.stop().await;
    let report: serde_json::Value = serde_json::from_slice(&equal.stdout).unwrap_or_default();
    assert_eq!(equal.status.code(), Some(0), "{report:#}\n{}", String::from_utf8_lossy(&equal.stderr));
    assert_eq!(report["passed"], true);
    assert!(report["reference"]["cleanup"].as_str().is_some_and(|c| c.starts_with("deleted")), "{report:#}");

    let mut changed = support::fixture_item(3);
    changed.insert("payload".into(), AttributeValue::S("edited after the restore".into()));
    support::put_items(&dynamodb, "SpatialScans-incident", [changed]).await;
    let different = compare();
    let report: serde_json::Value = serde_json::from_slice(&different.stdout).unwrap_or_default();
    assert_eq!(different.status.code(), Some(3), "{report:#}");
    assert!(report["checks"][1]["reason"].as_str().is_some_and(|r| r.contains("key hmac:")), "names the key: {report:#}");
    assert_eq!(exports_left(&account).await, 0);
}
