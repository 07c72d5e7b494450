//! State records are data drctl reads, never commands it obeys. A record
//! that names a job its drill did not start (forged, or another drill's)
//! is refused before the drill acts on it: nothing is restored from it, and
//! the jobs, recovery points and tables it names are left as they were.
//! (Scratch names outside a drill's own, huge records and forged regions
//! are refused by the unit tests of `drill::scratch`, `state::file` and
//! `gc`.)

mod support;

use std::time::Duration;

use aws_sdk_backup::types::{BackupJobState, RestoreJobStatus};
use drctl::drill::{self, Backoff};
use drctl::plan;
use drctl::policy::{self, Checked, Input};
use drctl::reconcile::{self, Mode, Report, Status, Stop};
use drctl::state::{Clock, FileStore, InFlight, InFlightRestore, StateStore, Step};
use support::TestAccount;

const DRILL_ID: &str = "0123456789abcdef";
const OTHER_TABLE: &str = "OtherTeamScans";
const OTHER_VAULT: &str = "other-team-vault";

fn checked() -> Checked {
    // One drill region keeps the test to one restore.
    let yaml = include_str!("../desired/spatial-scans.yaml").replace("regions: [us-east-1, us-west-2]", "regions: [us-east-1]");
    let checked = policy::check([Input { file: "desired/spatial-scans.yaml".into(), content: Ok(yaml.into_bytes()) }]);
    assert!(!checked.has_errors(), "{:#?}", checked.findings);
    checked
}

fn options() -> reconcile::Options {
    reconcile::Options {
        commit: Some("c0ffee".into()),
        owner: "test-run".into(),
        lease_ttl: Duration::from_secs(30),
        concurrency: 1,
        apply: drctl::apply::Options::default(),
        drill: drill::Options {
            job_deadline: support::DEADLINE,
            table_deadline: support::DEADLINE,
            backoff: Backoff { initial: Duration::from_millis(25), max: Duration::from_millis(400) },
            consistency_margin: Duration::from_secs(1),
            ..drill::Options::default()
        },
        retry_failed_after: Duration::ZERO,
        retry_inconclusive_after: Duration::ZERO,
        mode: Mode::Reconcile,
        clock: Clock::SYSTEM,
        weakening: Default::default(),
    }
}

async fn run(account: &TestAccount, store: &dyn StateStore, desired: &Checked) -> Report {
    let plan_options = plan::Options { commit: Some("c0ffee".into()), extra_regions: Vec::new(), concurrency: 1, preview: false };
    let plan = plan::plan(&account.aws, desired, &plan_options).await;
    reconcile::reconcile(&account.aws, store, desired, &plan, &options(), &drctl::apply::Progress::Quiet, &Stop::default()).await
}

/// Another team's table, vault and completed backup job in the same
/// account: what a forged record would point drctl at. Returns the job id
/// and its recovery point.
async fn other_team(account: &TestAccount) -> (String, String) {
    let clients = account.clients();
    let table_arn = support::create_table(&clients.dynamodb, OTHER_TABLE, 5).await;
    clients.backup.create_backup_vault().backup_vault_name(OTHER_VAULT).send().await.unwrap();
    let started = clients
        .backup
        .start_backup_job()
        .backup_vault_name(OTHER_VAULT)
        .resource_arn(&table_arn)
        .iam_role_arn(account.backup_role_arn())
        .send()
        .await
        .unwrap();
    let job_id = started.backup_job_id().unwrap().to_string();
    let point = support::poll("the other team's backup", support::DEADLINE, || async {
        let job = clients.backup.describe_backup_job().backup_job_id(&job_id).send().await.unwrap();
        (job.state() == Some(&BackupJobState::Completed)).then(|| job.recovery_point_arn().unwrap().to_string())
    })
    .await;
    (job_id, point)
}

/// The policy applied and proven once, so a drill of it can be resumed.
async fn proven_policy(account: &TestAccount, store: &dyn StateStore, desired: &Checked) {
    let clients = account.clients();
    support::create_table(&clients.dynamodb, "SpatialScans", 20).await;
    support::enable_advanced_backup(&clients.backup).await;
    support::bootstrap(account, [&desired.policies[0].policy]).await;
    let report = run(account, store, desired).await;
    assert_eq!(report.policies[0].status, Status::Reconciled, "{report:#?}");
}

/// Writes an interrupted drill into the record, as a crash would leave it,
/// with `forge` deciding which jobs it names.
async fn forge(store: &dyn StateStore, forge: impl FnOnce(&mut InFlight)) {
    let mut record = store.get("spatial-scans").await.unwrap().unwrap();
    let mut in_flight = InFlight {
        step: Step::Drill,
        content_hash: record.applied.as_ref().unwrap().content_hash.clone(),
        commit: "c0ffee".into(),
        drill_id: Some(DRILL_ID.into()),
        backup_job_id: None,
        copy_jobs: Default::default(),
        restores: Default::default(),
        started: drctl::state::now(),
        source: None,
    };
    forge(&mut in_flight);
    record.in_flight = Some(in_flight);
    record.lease = None;
    store.put(&record).await.unwrap();
}

async fn restore_job_count(account: &TestAccount) -> usize {
    account.clients().backup.list_restore_jobs().send().await.unwrap().restore_jobs().len()
}

async fn recovery_points_of_other_vault(account: &TestAccount) -> Vec<String> {
    let points = account.clients().backup.list_recovery_points_by_backup_vault().backup_vault_name(OTHER_VAULT).send().await.unwrap();
    points.recovery_points().iter().filter_map(|p| p.recovery_point_arn().map(str::to_string)).collect()
}

#[tokio::test]
async fn a_record_naming_another_teams_backup_job_is_refused_and_nothing_is_restored_from_it() {
    let account = support::account().await;
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path().join("state.json"));
    let desired = checked();
    proven_policy(&account, &store, &desired).await;
    let (foreign_job, _) = other_team(&account).await;
    let (restores, points) = (restore_job_count(&account).await, recovery_points_of_other_vault(&account).await);

    forge(&store, |f| f.backup_job_id = Some(foreign_job.clone())).await;
    let report = run(&account, &store, &desired).await;

    let outcome = &report.policies[0];
    assert_eq!(outcome.drill_reason.as_deref(), Some("resumed an interrupted drill"), "{report:#?}");
    assert_ne!(outcome.status, Status::Reconciled, "{report:#?}");
    let said = serde_json::to_string(&outcome.drills).unwrap();
    assert!(
        said.contains(&format!("backup job {foreign_job} backs up arn:aws:dynamodb:us-east-1:{}:table/{OTHER_TABLE}", account.id))
            && said.contains("the state names a job this drill did not start"),
        "{said}"
    );
    assert_eq!(restore_job_count(&account).await, restores, "nothing was restored");
    assert_eq!(recovery_points_of_other_vault(&account).await, points, "the other team's backups are untouched");
    let record = store.get("spatial-scans").await.unwrap().unwrap();
    assert!(record.in_flight.is_none() && record.lease.is_none(), "the forged drill is over: {record:#?}");
}

#[tokio::test]
async fn a_record_naming_a_restore_into_another_table_is_refused_and_that_table_is_left_alone() {
    let account = support::account().await;
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path().join("state.json"));
    let desired = checked();
    proven_policy(&account, &store, &desired).await;
    let (_, point) = other_team(&account).await;
    let backup = account.clients().backup;
    let started = backup
        .start_restore_job()
        .recovery_point_arn(&point)
        .iam_role_arn(account.backup_role_arn())
        .resource_type("DynamoDB")
        .metadata("targetTableName", "OtherTeamRestored")
        .send()
        .await
        .unwrap();
    let foreign_restore = started.restore_job_id().unwrap().to_string();
    support::poll("the other team's restore", support::DEADLINE, || async {
        let job = backup.describe_restore_job().restore_job_id(&foreign_restore).send().await.unwrap();
        (job.status() == Some(&RestoreJobStatus::Completed)).then_some(())
    })
    .await;
    let restores = restore_job_count(&account).await;

    // The record names the drill's own scratch table (so the name passes)
    // but another team's restore job.
    let scratch = format!("drctl-drill-spatial-scans-{}", &DRILL_ID[..8]);
    forge(&store, |f| {
        f.restores.insert("us-east-1".into(), InFlightRestore { scratch_table: scratch.clone(), job_id: Some(foreign_restore.clone()) });
    })
    .await;
    let report = run(&account, &store, &desired).await;

    let outcome = &report.policies[0];
    assert_ne!(outcome.status, Status::Reconciled, "{report:#?}");
    let said = serde_json::to_string(&outcome.drills).unwrap();
    assert!(said.contains(&format!("restore job {foreign_restore} restored into OtherTeamRestored, not {scratch}")), "{said}");
    assert_eq!(restore_job_count(&account).await, restores, "no restore was started");
    let dynamodb = account.clients().dynamodb;
    assert!(dynamodb.describe_table().table_name("OtherTeamRestored").send().await.is_ok(), "the other team's table is still there");
    assert_eq!(support::scan_sorted(&dynamodb, "SpatialScans").await.len(), 20, "no canary left in the source");
}
