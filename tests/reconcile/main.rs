//! The whole reconcile against the emulator: plan → apply → drill in every
//! drill region → record → announce, and the controller's promises: one
//! run per policy at a time, an interrupted drill resumed without a second
//! restore, failures announced.

#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use aws_sdk_backup::types::RestoreJobStatus;
use drctl::apply::{self, Progress};
use drctl::drill::{self, Backoff};
use drctl::plan;
use drctl::policy::{self, Checked, Input};
use drctl::reconcile::{self, Mode, Report, Status, Stop};
use drctl::state::{Clock, DynamoStore, FileStore, PolicyState, StateStore};
use support::{Fault, JobKind, JobTarget, Progression, TestAccount};

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

#[tokio::test]
async fn a_full_reconcile_applies_proves_both_regions_records_and_announces() {
    let account = support::account().await;
    let queue = ground(&account).await;
    let (_dir, store) = state_dir();
    let desired = checked(SCANS);

    let report = run(&account, &store, &desired, &options("run-1")).await;

    let outcome = &report.policies[0];
    assert_eq!(outcome.status, Status::Reconciled, "{report:#?}");
    let regions: Vec<&str> = outcome.drills.iter().map(|d| d.region.as_str()).collect();
    assert_eq!(regions, [support::REGION, support::DR_REGION]);
    for drill in &outcome.drills {
        assert!(drill.passed() && drill.checks.iter().all(|c| c.passed), "{drill:#?}");
    }
    assert!(outcome.drills[1].copy_job_id.is_some(), "the DR drill restores a copy");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());

    let state = store.get("spatial-scans").await.unwrap().expect("recorded");
    let hash = policy::content_hash(&desired.policies[0].policy);
    assert_eq!(state.reconciled.as_ref().map(|r| r.content_hash.as_str()), Some(hash.as_str()));
    assert_eq!(state.applied.as_ref().map(|a| a.commit.as_str()), Some("c0ffee"));
    assert!(state.lease.is_none() && state.in_flight.is_none(), "{state:#?}");
    let evidence = state.evidence.last().expect("evidence");
    assert!(!evidence.change_sets.is_empty() && evidence.change_sets.iter().all(|c| c.change_set_id.is_some()), "{evidence:#?}");
    let drill = evidence.drill.as_ref().unwrap();
    assert!(drill.regions.iter().all(|r| r.restore_job_id.is_some() && r.recovery_point_arn.is_some()), "{drill:#?}");
    assert_eq!(evidence.sns_message_id, outcome.sns_message_id);

    let messages = announcements(&account, &queue).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let envelope = &messages[0];
    let subject = envelope["Subject"].as_str().unwrap();
    assert!(subject.len() <= 100 && subject.contains("spatial-scans") && subject.contains("PASSED"), "{subject}");
    assert_eq!(envelope["MessageAttributes"]["verdict"]["Value"], "passed");
    assert_eq!(envelope["MessageAttributes"]["policy"]["Value"], "spatial-scans");
    assert_eq!(envelope["MessageAttributes"]["environment"]["Value"], "prod");
    assert_eq!(envelope["MessageId"].as_str(), outcome.sns_message_id.as_deref());
    let body: serde_json::Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(body["policy"], "spatial-scans");
    assert_eq!(body["commit"], "c0ffee");
    assert_eq!(body["content_hash"], hash.as_str());

    // Nothing changed and the proof is fresh: no change set, no drill.
    let first = account.calls();
    assert_eq!((first.of("backup/StartBackupJob"), first.of("backup/StartRestoreJob")), (1, 2), "{first:?}");
    account.reset_calls();
    let again = run(&account, &store, &desired, &options("run-2")).await;
    assert_eq!(again.policies[0].status, Status::Proven, "{again:#?}");
    let unchanged = store.get("spatial-scans").await.unwrap().unwrap();
    assert_eq!(unchanged.version, state.version, "a no-op run takes no lease and writes nothing");
    let calls = account.calls();
    assert_eq!((calls.of("backup/StartBackupJob"), calls.of("backup/StartRestoreJob")), (0, 0), "{calls:?}");
    assert_eq!(calls.of("cloudformation/CreateChangeSet"), 0);
    assert!(announcements(&account, &queue).await.is_empty());
}

#[tokio::test]
async fn the_example_repository_reconciles_with_every_drill_passing_in_every_region() {
    let account = support::account().await;
    let (east, west) = (account.region(support::REGION), account.region(support::DR_REGION));
    support::create_table(&east.dynamodb, "SpatialScans", ITEMS).await;
    support::create_table(&east.dynamodb, "FloorPlans", ITEMS).await;
    support::create_table(&west.dynamodb, "RenderJobs", ITEMS).await;
    support::enable_advanced_backup(&east.backup).await;
    // floor-plans announces on the audit team's existing topic, by ARN.
    let audit = east.sns.create_topic().name("dr-announcements-audit").send().await.unwrap().topic_arn().unwrap().to_string();
    let files = [
        ("desired/spatial-scans.yaml", SCANS.to_string()),
        ("desired/floor-plans.yaml", FLOOR_PLANS.replace("arn:aws:sns:us-east-1:123456789012:dr-announcements-audit", &audit)),
        ("desired/render-jobs.yaml", RENDER_JOBS.to_string()),
    ];
    let desired = policy::check(files.iter().map(|(file, text)| Input { file: file.to_string(), content: Ok(text.as_bytes().to_vec()) }));
    assert!(!desired.has_errors(), "{:#?}", desired.findings);
    bootstrap(&account, desired.valid().map(|p| &p.policy)).await;
    let topics = [
        format!("arn:aws:sns:{}:{}:dr-announcements", support::REGION, account.id),
        format!("arn:aws:sns:{}:{}:dr-announcements", support::DR_REGION, account.id),
        audit,
    ];
    let queue = subscribe_queue(&account, &topics).await;
    // floor-plans proves its newest scheduled recovery point: apply first,
    // then take the backup its plan would take.
    let plan =
        plan::plan(&account.aws, &desired, &plan::Options { commit: None, extra_regions: Vec::new(), concurrency: 2, preview: false })
            .await;
    assert!(!apply::apply(&account.aws, &desired, &plan, &apply::Options::default(), &Progress::Quiet).await.failed());
    // The plan runs a while after the apply turned PITR on: a point taken
    // within the margin of it cannot be compared item for item.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    east.backup
        .start_backup_job()
        .backup_vault_name("drctl-floor-plans")
        .resource_arn(account.table_arn(support::REGION, "FloorPlans"))
        .iam_role_arn(account.backup_role_arn())
        .send()
        .await
        .unwrap();
    let (_dir, store) = state_dir();

    let report = run(&account, &store, &desired, &options("run-1")).await;

    let drilled: Vec<(&str, Vec<&str>)> =
        report.policies.iter().map(|p| (p.policy.as_str(), p.drills.iter().map(|d| d.region.as_str()).collect())).collect();
    assert_eq!(
        drilled,
        [("floor-plans", vec!["eu-west-1"]), ("render-jobs", vec!["us-west-2"]), ("spatial-scans", vec!["us-east-1", "us-west-2"])]
    );
    for outcome in &report.policies {
        assert_eq!(outcome.status, Status::Reconciled, "{outcome:#?}");
        assert!(outcome.drills.iter().all(|d| d.passed() && d.checks.iter().all(|c| c.passed)), "{outcome:#?}");
        assert!(outcome.sns_message_id.is_some() && outcome.errors.is_empty(), "{outcome:#?}");
    }
    let mut leftovers = scratch_tables(&account).await;
    let eu = account.region("eu-west-1").dynamodb.list_tables().send().await.unwrap();
    leftovers.extend(eu.table_names().iter().filter(|n| n.starts_with("drctl-drill-")).cloned());
    assert_eq!(leftovers, Vec::<String>::new());
    let mut received: Vec<(String, String)> = announcements(&account, &queue)
        .await
        .iter()
        .map(|m| {
            (
                m["MessageAttributes"]["policy"]["Value"].as_str().unwrap().to_string(),
                m["MessageAttributes"]["verdict"]["Value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    received.sort();
    let passed = |p: &str| (p.to_string(), "passed".to_string());
    assert_eq!(received, [passed("floor-plans"), passed("render-jobs"), passed("spatial-scans")]);
    // The evidence names the reference the data checks used: the
    // point-in-time exports for the scans (PITR on), none for the render
    // jobs (the live table, leaving out changed jobs).
    let scans = store.get("spatial-scans").await.unwrap().unwrap();
    for region in &scans.last_drill.as_ref().unwrap().regions {
        let reference = region.reference.as_ref().unwrap_or_else(|| panic!("{scans:#?}"));
        assert!(reference.export_arns.len() == 2 && reference.window_start < reference.window_end, "{reference:#?}");
    }
    let jobs = store.get("render-jobs").await.unwrap().unwrap();
    assert!(jobs.last_drill.as_ref().unwrap().regions.iter().all(|r| r.reference.is_none()), "{jobs:#?}");
}

#[tokio::test]
async fn latest_before_the_first_scheduled_backup_waits_quietly_and_then_fails_loudly() {
    let account = support::account().await;
    let queue = ground(&account).await;
    let (_dir, store) = state_dir();
    let latest = SCANS.replace("recovery_point: on-demand", "recovery_point: latest").replace("      - canary: true\n", "");
    let desired = checked(&latest);

    let report = run(&account, &store, &desired, &options("run-1")).await;

    let outcome = &report.policies[0];
    let grace = reconcile::first_point_grace(&desired.policies[0].policy).as_secs();
    assert!(matches!(outcome.status, Status::AwaitingRecoveryPoint { until } if until >= drctl::state::now() + grace - 60), "{outcome:#?}");
    assert!(!report.failed() && !report.drill_failed(), "exit 0: nothing is wrong yet");
    assert!(announcements(&account, &queue).await.is_empty(), "nothing announced");
    let state = store.get("spatial-scans").await.unwrap().unwrap();
    assert!(state.last_drill.is_none() && state.in_flight.is_none() && state.reconciled.is_none(), "{state:#?}");

    // Past the schedule's gap and windows without a recovery point: backups are not happening.
    let mut stale = state.clone();
    stale.applied.as_mut().unwrap().at -= grace + 1;
    store.put(&stale).await.unwrap();
    let late = run(&account, &store, &desired, &options("run-2")).await;
    assert_eq!(late.policies[0].status, Status::DrillFailed, "{late:#?}");
    let messages = announcements(&account, &queue).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["MessageAttributes"]["verdict"]["Value"], "failed");
}

#[tokio::test]
async fn a_failed_restore_is_announced_and_leaves_the_policy_unreconciled() {
    let account = support::account().await;
    let queue = ground(&account).await;
    let (_dir, store) = state_dir();
    let desired = checked(SCANS);
    account.fail_job(JobKind::Restore, JobTarget::Next, "Insufficient capacity to restore");

    let report = run(&account, &store, &desired, &options("run-1")).await;

    assert_eq!(report.policies[0].status, Status::DrillFailed, "{report:#?}");
    assert!(report.drill_failed() && !report.failed(), "a failed drill is exit 3, not an error");
    let state = store.get("spatial-scans").await.unwrap().unwrap();
    assert!(state.reconciled.is_none() && state.applied.is_some(), "{state:#?}");
    let last = state.last_drill.as_ref().unwrap();
    assert!(!last.passed && last.reasons.iter().any(|r| r.contains("Insufficient capacity")), "{last:#?}");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    let messages = announcements(&account, &queue).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["MessageAttributes"]["verdict"]["Value"], "failed");
    assert!(messages[0]["Subject"].as_str().unwrap().contains("FAILED"));

    // The next run does not hammer a broken restore: it waits for the retry time.
    let again = run(&account, &store, &desired, &options("run-2")).await;
    assert!(matches!(again.policies[0].status, Status::AwaitingRetry { .. }), "{again:#?}");
}

/// A drill AWS would not let finish (its backup throttled past the SDK's
/// retries) is inconclusive, not failed: announced as such (a subscription
/// filtering on `passed`/`failed` stays quiet), exit 1 (not 3), kept apart in the state so it
/// neither proves nor fails the policy, and retried by the next run.
#[tokio::test]
async fn a_drill_stopped_by_a_throttle_is_inconclusive_and_the_next_run_proves_the_policy() {
    let account = support::account().await;
    let queue = ground(&account).await;
    let (_dir, store) = state_dir();
    let desired = checked(SCANS);
    account.inject_fault(Fault::throttle("backup", "StartBackupJob").times(1));

    let report = run(&account, &store, &desired, &options("run-1")).await;

    assert_eq!(report.policies[0].status, Status::DrillInconclusive, "{report:#?}");
    assert!(report.policies[0].drills.iter().all(|d| d.verdict == drill::Verdict::Inconclusive), "{report:#?}");
    assert!(!report.failed() && !report.drill_failed(), "{report:#?}");
    assert_eq!(drctl::cli::reconcile_exit_code(&report, false), 1, "an error that says so, not a failed drill");
    let state = store.get("spatial-scans").await.unwrap().unwrap();
    assert!(state.last_drill.is_none() && state.reconciled.is_none(), "{state:#?}");
    let inconclusive = state.last_inconclusive.as_ref().expect("kept apart");
    assert!(inconclusive.inconclusive && !inconclusive.passed, "{inconclusive:#?}");
    assert!(inconclusive.reasons.iter().any(|r| r.contains("StartBackupJob") && r.contains("Throttling")), "{inconclusive:#?}");
    // Announced, with `verdict: inconclusive`: the queue's subscription
    // filters on passed and failed (as a pager's would), so it stays quiet.
    assert!(report.policies[0].sns_message_id.is_some(), "{report:#?}");
    assert!(announcements(&account, &queue).await.is_empty(), "the failed-or-passed filter let an inconclusive drill through");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());

    let again = run(&account, &store, &desired, &options("run-2")).await;

    assert_eq!(again.policies[0].status, Status::Reconciled, "{again:#?}");
    let state = store.get("spatial-scans").await.unwrap().unwrap();
    assert!(state.last_inconclusive.is_none() && state.last_drill.as_ref().is_some_and(|d| d.passed), "{state:#?}");
}

#[tokio::test]
async fn two_concurrent_reconciles_on_the_dynamodb_store_drive_the_policy_once() {
    let account = support::account().await;
    let _queue = ground(&account).await;
    let store = state_table(&account).await;
    let desired = checked(SCANS);

    let (run_a, run_b) = (options("run-a"), options("run-b"));
    let (a, b) = tokio::join!(run(&account, &store, &desired, &run_a), run(&account, &store, &desired, &run_b));

    let statuses = [a.policies[0].status.clone(), b.policies[0].status.clone()];
    assert_eq!(statuses.iter().filter(|s| **s == Status::Reconciled).count(), 1, "{statuses:?}");
    assert!(statuses.iter().any(|s| matches!(s, Status::Held { .. } | Status::Proven)), "{statuses:?}");
    let restores = restore_jobs(&account, support::REGION).await.len() + restore_jobs(&account, support::DR_REGION).await.len();
    assert_eq!(restores, 2, "one drill: one restore per drill region");
    let state = store.get("spatial-scans").await.unwrap().unwrap();
    assert!(state.lease.is_none() && state.reconciled.is_some(), "{state:#?}");
}

#[tokio::test]
async fn a_reconcile_killed_during_the_restore_is_resumed_without_a_second_restore() {
    let account = support::account().await;
    let _queue = ground(&account).await;
    let (_dir, store) = state_dir();
    let desired = checked(SCANS);
    // Restores take a few seconds: long enough to kill the run in the middle.
    account.set_job_progression(JobKind::Restore, Progression::Time { seconds: 2.0 });
    let mut first = options("doomed-run");
    first.lease_ttl = Duration::from_secs(3);

    // The first run dies (its future is dropped) once a restore is recorded as started.
    let doomed = run(&account, &store, &desired, &first);
    tokio::select! {
        report = doomed => panic!("the run should have been killed during its restore: {report:#?}"),
        _ = wait_for_recorded_restore(&store) => {}
    }
    let interrupted = store.get("spatial-scans").await.unwrap().unwrap();
    assert!(interrupted.in_flight.is_some() && interrupted.lease.is_some(), "{interrupted:#?}");
    let started = restore_jobs(&account, support::REGION).await.len() + restore_jobs(&account, support::DR_REGION).await.len();

    // While the dead run's lease lasts, nobody else drives the policy.
    let early = run(&account, &store, &desired, &options("next-run")).await;
    assert!(matches!(early.policies[0].status, Status::Held { ref owner, .. } if owner == "doomed-run"), "{early:#?}");
    // A new owner takes over once the dead run's lease expired: its clock
    // is a second past the expiry (a clock moved ahead, not a wait).
    let next = reconcile::Options { clock: Clock::ahead(first.lease_ttl + Duration::from_secs(1)), ..options("next-run") };
    let report = run(&account, &store, &desired, &next).await;

    let outcome = &report.policies[0];
    assert_eq!(outcome.status, Status::Reconciled, "{report:#?}");
    assert_eq!(outcome.drill_reason.as_deref(), Some("resumed an interrupted drill"));
    let after = restore_jobs(&account, support::REGION).await.len() + restore_jobs(&account, support::DR_REGION).await.len();
    assert!(started >= 1 && after == 2, "restores before {started}, after {after}: none started twice");
    let completed =
        restore_jobs(&account, support::REGION).await.iter().filter(|j| j.status() == Some(&RestoreJobStatus::Completed)).count();
    assert_eq!(completed, 1);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    let state = store.get("spatial-scans").await.unwrap().unwrap();
    assert!(state.in_flight.is_none() && state.lease.is_none() && state.reconciled.is_some(), "{state:#?}");
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

/// Polls the state until the policy is reconciled at `commit`.
async fn wait_reconciled(store: &dyn StateStore, commit: &str) -> PolicyState {
    support::poll(&format!("spatial-scans reconciled at {commit}"), Duration::from_secs(120), || async {
        store.get("spatial-scans").await.unwrap().filter(|s| s.reconciled.as_ref().is_some_and(|r| r.commit == commit))
    })
    .await
}

#[tokio::test]
async fn watch_reconciles_each_commit_pushed_to_the_remote() {
    let account = support::account().await;
    let _queue = ground(&account).await;
    let (_dir, store) = state_dir();
    let remote = Remote::new();
    let first = remote.push(SCANS, "spatial-scans: first policy");
    // A URL: each pass fetches the remote into a mirror in the cache.
    let cache = tempfile::tempdir().unwrap();
    let source =
        drctl::source::Source::open(&format!("file://{}", remote.bare()), &drctl::source::Access::with_cache(cache.path())).unwrap();
    let settings = reconcile::watch::Settings {
        reference: "main".into(),
        interval: Duration::from_millis(300),
        error_backoff: Duration::from_millis(300),
        extra_regions: Vec::new(),
        max_passes: None,
        max_policies: drctl::source::DEFAULT_MAX_POLICIES,
        reconcile: options("watcher"),
    };
    let stop = Stop::default();

    let watching = reconcile::watch::watch(&account.aws, &store, &source, &settings, &stop);
    let pushing = async {
        wait_reconciled(&store, &first).await;
        let second = remote.push(&SCANS.replace("retention: 35d", "retention: 21d"), "spatial-scans: keep 21 days");
        let state = wait_reconciled(&store, &second).await;
        stop.request();
        (second, state)
    };
    let ((second, _), ended) = tokio::join!(pushing, watching);
    assert!(!ended.last_pass_failed, "{ended:?}");
    let state = store.get("spatial-scans").await.unwrap().unwrap();

    assert_eq!(state.applied.as_ref().map(|a| a.commit.as_str()), Some(second.as_str()));
    assert!(state.evidence.iter().any(|e| e.commit == first) && state.evidence.iter().any(|e| e.commit == second), "{state:#?}");
    assert!(state.lease.is_none(), "the loop released its lease: {state:#?}");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}

#[tokio::test]
async fn sigterm_during_watch_finishes_the_drill_releases_the_lease_and_leaves_no_scratch_table() {
    let account = support::account().await;
    let _queue = ground(&account).await;
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    let store = FileStore::open(&state_file);
    let remote = Remote::new();
    remote.push(SCANS, "spatial-scans");
    account.set_job_progression(JobKind::Restore, Progression::Time { seconds: 1.0 });

    let mut watch = std::process::Command::new(env!("CARGO_BIN_EXE_drctl"))
        .args(["watch", "--repo", &remote.bare(), "--ref", "main", "--interval", "1m"])
        .args(["--state", state_file.to_str().unwrap(), "--cache-dir", dir.path().join("cache").to_str().unwrap()])
        .envs(account.cli_env())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), wait_for_recorded_restore(&store)).await.expect("a restore starts");
    let killed = std::process::Command::new("kill").args(["-TERM", &watch.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = watch.wait().unwrap();
    let mut logs = String::new();
    std::io::Read::read_to_string(watch.stderr.as_mut().unwrap(), &mut logs).unwrap();

    assert!(status.success(), "{status:?}\n{logs}");
    let first_log: serde_json::Value = serde_json::from_str(logs.lines().next().unwrap()).expect("JSON logs in watch mode");
    assert!(first_log.get("level").is_some(), "{first_log}");
    let state = store.get("spatial-scans").await.unwrap().unwrap();
    assert!(state.lease.is_none(), "{state:#?}");
    assert!(state.in_flight.is_none() && state.last_drill.is_some(), "the drill under way finished: {state:#?}");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}

/// The IAM action that authorizes an API operation: its own name, except
/// for the S3 operations whose action is named otherwise (Amazon S3 API
/// reference: DeleteObjects needs `s3:DeleteObject` for every object;
/// ListObjectsV2 needs `s3:ListBucket`; HeadObject needs `s3:GetObject`).
fn iam_action_of(operation: &str) -> String {
    match operation {
        "s3:DeleteObjects" => "s3:DeleteObject".into(),
        "s3:HeadObject" => "s3:GetObject".into(),
        "s3:ListObjectsV2" => "s3:ListBucket".into(),
        other => other.to_string(),
    }
}

/// The IAM actions of a policy document.
fn iam_actions(policy: &serde_json::Value) -> Vec<String> {
    let statements = policy["Statement"].as_array().unwrap();
    statements.iter().flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string())).collect()
}

#[tokio::test]
async fn the_apply_iam_policy_allows_every_call_of_reconcile_verify_status_and_gc() {
    let account = support::account().await;
    let _queue = ground(&account).await;
    let store = state_table(&account).await;
    let desired = checked(SCANS);
    account.reset_calls();

    let report = run(&account, &store, &desired, &options("run-1")).await;
    assert_eq!(report.policies[0].status, Status::Reconciled, "{report:#?}");
    let verified = reconcile::verify(&account.aws, &store, &desired.policies[0], &options("run-2"), &Progress::Quiet).await;
    assert_eq!(verified.status, Status::Reconciled, "{verified:#?}");
    let states = store.list().await.unwrap();
    let regions = [support::REGION.to_string(), support::DR_REGION.to_string()];
    let gc = drctl::gc::run(&account.aws, &regions, &states, drctl::gc::Mode::Delete).await;
    assert!(!gc.failed(), "{gc:#?}");
    let called: Vec<String> = account.calls().by_operation.keys().map(|k| iam_action_of(&k.replacen('/', ":", 1))).collect();

    let remote = Remote::new();
    remote.push(SCANS, "spatial-scans");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_drctl"))
        .args(["iam-policy", "--repo", &remote.bare(), "--ref", "main", "--state", "dynamodb://drctl-state"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let allowed = iam_actions(&serde_json::from_slice(&output.stdout).unwrap());
    let missing: Vec<&String> = called.iter().filter(|c| !allowed.contains(c)).collect();
    assert!(called.len() > 20, "the run made the calls it should: {called:?}");
    assert!(missing.is_empty(), "calls the apply policy does not allow: {missing:?}");

    // The pull-request policy covers a dry run with change-set previews.
    let changed = checked(&SCANS.replace("retention: 35d", "retention: 21d"));
    account.reset_calls();
    let preview = plan::Options { commit: None, extra_regions: Vec::new(), concurrency: 2, preview: true };
    let planned = plan::plan(&account.aws, &changed, &preview).await;
    assert!(planned.has_changes() && !planned.has_errors(), "{planned:#?}");
    let called: Vec<String> = account.calls().by_operation.keys().map(|k| k.replacen('/', ":", 1)).collect();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_drctl"))
        .args(["iam-policy", "--dry-run", "--repo", &remote.bare(), "--ref", "main"])
        .output()
        .unwrap();
    let allowed = iam_actions(&serde_json::from_slice(&output.stdout).unwrap());
    let missing: Vec<&String> = called.iter().filter(|c| !allowed.contains(c)).collect();
    assert!(called.iter().any(|c| c == "cloudformation:CreateChangeSet"), "{called:?}");
    assert!(missing.is_empty(), "calls the dry-run policy does not allow: {missing:?}");
}

/// A drill killed after its canary went into the source, whose policy then
/// left the repository, is never resumed: the next reconcile removes the
/// canary (guarded by its own drill id) and the source holds its items.
#[tokio::test]
async fn a_reconcile_removes_the_canary_of_a_deleted_policys_killed_drill() {
    let account = support::account().await;
    let _queue = ground(&account).await;
    let dynamodb = account.region(support::REGION).dynamodb;
    let drill = "0a1b2c3d4e5f6071";
    let described = dynamodb.describe_table().table_name("SpatialScans").send().await.unwrap();
    let table = described.table().unwrap();
    let key =
        drill::canary::canary_key(table.key_schema(), table.attribute_definitions(), u64::from_str_radix(drill, 16).unwrap()).unwrap();
    drill::canary::write(&dynamodb, "SpatialScans", key, drill).await.unwrap();
    let (_dir, store) = state_dir();
    let mut record = PolicyState::new("old-scans");
    record.in_flight = Some(drctl::state::InFlight {
        step: drctl::state::Step::Drill,
        content_hash: "c0ffee".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        drill_id: Some(drill.into()),
        backup_job_id: None,
        copy_jobs: Default::default(),
        restores: Default::default(),
        started: drctl::state::now() - 600,
        source: Some(drctl::state::SourceTable { table: "SpatialScans".into(), region: support::REGION.into() }),
    });
    record.lease = Some(drctl::state::Lease { owner: "killed-run".into(), expires: drctl::state::now() - 1 });
    store.put(&record).await.unwrap();
    assert_eq!(support::scan_sorted(&dynamodb, "SpatialScans").await.len(), ITEMS + 1);

    let report = run(&account, &store, &policy::check(Vec::<Input>::new()), &options("run-1")).await;

    assert_eq!(report.canaries.len(), 1, "{report:#?}");
    assert_eq!(report.canaries[0].outcome, drctl::gc::Outcome::Deleted, "{report:#?}");
    assert!(!report.failed(), "{report:#?}");
    assert_eq!(support::scan_sorted(&dynamodb, "SpatialScans").await.len(), ITEMS, "nothing of drctl's left in the source");
}
