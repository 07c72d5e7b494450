//! Restore drills against the emulator: drills in the primary and the DR
//! region that pass every check and leave nothing behind, and every way a
//! drill fails (a failed restore job, differing data, a missing canary, a
//! missed RTO, advanced DynamoDB backup off), a drill resumed after a crash,
//! and the restore-slot quota.

#[path = "../support/mod.rs"]
mod support;

mod checks;
mod faults;
mod regions;
mod restore_slots;
mod resume;

use std::sync::Mutex;
use std::time::Duration;

use drctl::apply::{self, Progress};
use drctl::drill::{self, Backoff, DrillResult, Event, Journal, NoJournal};
use drctl::plan;
use drctl::policy::{self, Checked, Input, TablePolicy};
use support::{Fault, TestAccount};

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
