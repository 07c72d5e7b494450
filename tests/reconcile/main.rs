//! The whole reconcile against the emulator: plan → apply → drill in every
//! drill region → record → announce, and the controller's promises: one
//! run per policy at a time, an interrupted drill resumed without a second
//! restore, failures announced.

#[path = "../support/mod.rs"]
mod support;

mod accounts;
mod iam_policy;
mod promises;
mod runs;
mod shared;
mod watch;

use std::time::Duration;

use drctl::apply::{self, Progress};
use drctl::drill::{self, Backoff};
use drctl::plan;
use drctl::policy::{self, Checked, Input};
use drctl::reconcile::{self, Mode, Report, Stop};
use drctl::state::{Clock, DynamoStore, FileStore, PolicyState, StateStore};
use support::TestAccount;

const SCANS: &str = include_str!("../../desired/spatial-scans.yaml");
const FLOOR_PLANS: &str = include_str!("../../desired/floor-plans.yaml");
const RENDER_JOBS: &str = include_str!("../../desired/render-jobs.yaml");
const ITEMS: usize = 40;

fn checked(yaml: &str) -> Checked {
    let checked = policy::check([Input { file: "desired/spatial-scans.yaml".into(), content: Ok(yaml.as_bytes().to_vec()) }]);
    assert!(!checked.has_errors(), "{:#?}", checked.findings);
    checked
}

/// The source table with data, the shared topic with an SQS queue
/// subscribed, and AWS Backup's advanced DynamoDB features on (copies).
async fn ground(account: &TestAccount) -> String {
    let clients = account.region(support::REGION);
    support::create_table(&clients.dynamodb, "SpatialScans", ITEMS).await;
    support::enable_advanced_backup(&clients.backup).await;
    let policy = checked(SCANS).policies.remove(0).policy;
    bootstrap(account, [&policy]).await;
    subscribe_queue(account, &[format!("arn:aws:sns:{}:{}:dr-announcements", support::REGION, account.id)]).await
}

/// The shared stacks of the policies' regions, as `drctl bootstrap` deploys them.
async fn bootstrap<'a>(account: &TestAccount, policies: impl IntoIterator<Item = &'a drctl::policy::TablePolicy>) {
    support::bootstrap(account, policies).await;
}

/// An SQS queue hearing drctl's announcements on the topics (by their
/// attributes: the vault's own job notifications go to the same topic);
/// returns the queue URL.
async fn subscribe_queue(account: &TestAccount, topics: &[String]) -> String {
    support::queue_on_topics(account, "announcements", topics, r#"{"verdict": ["passed", "failed"]}"#).await
}

/// Every SNS envelope waiting in the queue.
async fn announcements(account: &TestAccount, queue: &str) -> Vec<serde_json::Value> {
    support::drain_queue(account, queue).await
}

fn options(owner: &str) -> reconcile::Options {
    reconcile::Options {
        commit: Some("c0ffee".into()),
        owner: owner.into(),
        lease_ttl: Duration::from_secs(30),
        concurrency: 2,
        apply: apply::Options::default(),
        drill: drill::Options {
            job_deadline: support::DEADLINE,
            table_deadline: support::DEADLINE,
            backoff: Backoff { initial: Duration::from_millis(25), max: Duration::from_millis(400) },
            scan_segments: 4,
            // The emulator cuts a backup at its job's start: a short margin
            // around the backup's window covers it (tests/live_tables.rs).
            consistency_margin: Duration::from_secs(1),
            ..drill::Options::default()
        },
        retry_failed_after: Duration::from_secs(3600),
        // Tests reconcile again at once after an inconclusive drill.
        retry_inconclusive_after: Duration::ZERO,
        mode: Mode::Reconcile,
        clock: Clock::SYSTEM,
        weakening: Default::default(),
    }
}

async fn run(account: &TestAccount, store: &dyn StateStore, desired: &Checked, options: &reconcile::Options) -> Report {
    let plan_options = plan::Options { commit: options.commit.clone(), extra_regions: Vec::new(), concurrency: 2, preview: false };
    let plan = plan::plan(&account.aws, desired, &plan_options).await;
    reconcile::reconcile(&account.aws, store, desired, &plan, options, &Progress::Quiet, &Stop::default()).await
}

async fn scratch_tables(account: &TestAccount) -> Vec<String> {
    let mut found = Vec::new();
    for region in [support::REGION, support::DR_REGION] {
        let names = account.region(region).dynamodb.list_tables().send().await.unwrap().table_names().to_vec();
        found.extend(names.into_iter().filter(|n| n.starts_with("drctl-drill-")).map(|n| format!("{region}:{n}")));
    }
    found
}

async fn restore_jobs(account: &TestAccount, region: &str) -> Vec<aws_sdk_backup::types::RestoreJobsListMember> {
    account.region(region).backup.list_restore_jobs().send().await.unwrap().restore_jobs().to_vec()
}

/// The DynamoDB state store on a table like the one bootstrap creates.
async fn state_table(account: &TestAccount) -> DynamoStore {
    let dynamodb = account.region(support::REGION).dynamodb;
    support::create_state_table(&dynamodb, "drctl-state").await;
    DynamoStore::new(dynamodb, "drctl-state")
}

fn state_dir() -> (tempfile::TempDir, FileStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path().join("state.json"));
    (dir, store)
}

/// Polls the state until the drill has recorded a started restore job.
async fn wait_for_recorded_restore(store: &dyn StateStore) {
    loop {
        let state: Option<PolicyState> = store.get("spatial-scans").await.unwrap();
        if state.and_then(|s| s.in_flight).is_some_and(|f| f.restores.values().any(|r| r.job_id.is_some())) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A bare "remote" with a work clone that commits and pushes policies.
struct Remote {
    dir: tempfile::TempDir,
}

impl Remote {
    fn new() -> Self {
        let remote = Self { dir: tempfile::tempdir().unwrap() };
        remote.git(&["init", "-q", "--bare", "-b", "main", "remote.git"]);
        remote.git(&["clone", "-q", "remote.git", "work"]);
        std::fs::create_dir_all(remote.dir.path().join("work/desired")).unwrap();
        remote
    }

    fn bare(&self) -> String {
        self.dir.path().join("remote.git").display().to_string()
    }

    fn git(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("git")
            .current_dir(self.dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Commits `yaml` as the spatial-scans policy and pushes; returns the commit.
    fn push(&self, yaml: &str, message: &str) -> String {
        std::fs::write(self.dir.path().join("work/desired/spatial-scans.yaml"), yaml).unwrap();
        self.git(&["-C", "work", "add", "-A"]);
        self.git(&["-C", "work", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message]);
        self.git(&["-C", "work", "push", "-q", "origin", "HEAD:main"]);
        self.git(&["-C", "work", "rev-parse", "HEAD"])
    }
}

/// Puts a new item into each table every few milliseconds until stopped:
/// the drills prove tables that take writes.
fn writer(account: &TestAccount, tables: &[&str]) -> (tokio::task::JoinHandle<usize>, tokio::sync::watch::Sender<bool>) {
    let dynamodb = account.clients().dynamodb;
    let tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut puts = 0;
        while !*stopped.borrow() {
            for table in &tables {
                let item = support::fixture_item(10_000 + puts);
                dynamodb.put_item().table_name(table).set_item(Some(item)).send().await.unwrap();
                puts += 1;
            }
            let _ = tokio::time::timeout(Duration::from_millis(10), stopped.changed()).await;
        }
        puts
    });
    (task, stop)
}
