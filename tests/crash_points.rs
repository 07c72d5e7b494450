//! A crash at every step: `drctl reconcile` is aborted (as `kill -9` would)
//! at each crash point of `drctl::failpoint::POINTS` in turn, then run
//! again. The second run converges: the policy applied and proven, exactly
//! one backup, copy and restore job, nothing left behind (scratch table,
//! canary, change set waiting for execution, lease, step in flight) and
//! one announcement. Needs the `failpoints` feature (scripts/test enables
//! it).

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use aws_sdk_cloudformation::types::ExecutionStatus;
use support::TestAccount;

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");
const ITEMS: usize = 40;

fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("desired")).unwrap();
    std::fs::write(dir.path().join("desired/spatial-scans.yaml"), SCANS).unwrap();
    let git = |args: &[&str]| {
        let status = Command::new("git").current_dir(dir.path()).args(args).stdout(Stdio::null()).status().unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "spatial-scans"]);
    dir
}

fn reconcile(account: &TestAccount, repo: &Path, failpoint: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_drctl"));
    command
        .current_dir(repo)
        .args(["reconcile", "--state", "state.json", "--lease-ttl", "3s"])
        .env_remove("AWS_PROFILE")
        .env_remove("DRCTL_FAILPOINT")
        .envs(account.cli_env());
    if let Some(point) = failpoint {
        command.env("DRCTL_FAILPOINT", point);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

async fn crash_and_converge(point: &str) {
    if !cfg!(feature = "failpoints") {
        panic!("build the tests with --features failpoints (scripts/test does): without it no crash point exists");
    }
    let account = support::account().await;
    let primary = account.region(support::REGION);
    let dr = account.region(support::DR_REGION);
    support::create_table(&primary.dynamodb, "SpatialScans", ITEMS).await;
    support::enable_advanced_backup(&primary.backup).await;
    let checked =
        drctl::policy::check([drctl::policy::Input { file: "desired/spatial-scans.yaml".into(), content: Ok(SCANS.as_bytes().to_vec()) }]);
    support::bootstrap(&account, [&checked.policies[0].policy]).await;
    let announcements = announcement_queue(&account).await;
    let repo = repository();

    let crashed = reconcile(&account, repo.path(), Some(point));
    assert_eq!(crashed.status.signal(), Some(libc_sigabrt()), "the run was aborted at {point}:\n{}", text(&crashed));
    assert!(text(&crashed).contains(&format!("fail point {point}: aborting")), "{}", text(&crashed));
    tokio::time::sleep(Duration::from_secs(4)).await; // its lease lapses
    let rerun = reconcile(&account, repo.path(), None);
    assert_eq!(rerun.status.code(), Some(0), "the run after a crash at {point}:\n{}", text(&rerun));

    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(repo.path().join("state.json")).unwrap()).unwrap();
    let record = &state["policies"]["spatial-scans"];
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // A crash after the last write leaves the dead run's lease, expired.
    let lease_free = record["lease"].is_null() || record["lease"]["expires"].as_u64().is_some_and(|expires| expires <= now);
    assert!(record["reconciled"].is_object() && record["in_flight"].is_null() && lease_free, "{point}: {record:#}");
    assert!(record["outbox"].is_null(), "{point}: the announcement was published: {record:#}");
    assert_eq!(record["last_drill"]["passed"], true, "{point}: {record:#}");

    let backups = primary.backup.list_backup_jobs().send().await.unwrap().backup_jobs().len();
    let copies = primary.backup.list_copy_jobs().send().await.unwrap().copy_jobs().len();
    let restores = [&primary, &dr].map(|c| c.backup.list_restore_jobs()).into_iter().collect::<Vec<_>>();
    let mut restore_counts = Vec::new();
    for request in restores {
        restore_counts.push(request.send().await.unwrap().restore_jobs().len());
    }
    assert_eq!((backups, copies), (1, 1), "{point}: one backup and one copy job");
    // A crash after a region deleted its scratch table, before the result
    // was recorded, loses that region's checks: the resumed drill restores
    // it again (one more restore, never a false verdict). Elsewhere, one.
    let most = if matches!(point, "drill/scratch-deleted" | "drill/canary-removed") { 2 } else { 1 };
    assert!(restore_counts.iter().all(|n| (1..=most).contains(n)), "{point}: restore jobs per drill region: {restore_counts:?}");

    for clients in [&primary, &dr] {
        let tables = clients.dynamodb.list_tables().send().await.unwrap().table_names().to_vec();
        assert!(tables.iter().all(|t| !t.starts_with("drctl-drill-")), "{point}: scratch tables left: {tables:?}");
    }
    let items = support::scan_sorted(&primary.dynamodb, "SpatialScans").await;
    assert_eq!(items.len(), ITEMS, "{point}: the source holds only its own items (no canary)");

    let change_sets = primary.cloudformation.list_change_sets().stack_name("drctl-spatial-scans").send().await.unwrap();
    let waiting: Vec<_> = change_sets
        .summaries()
        .iter()
        .filter(|c| c.execution_status() == Some(&ExecutionStatus::Available))
        .map(|c| c.change_set_name().unwrap_or_default().to_string())
        .collect();
    assert!(waiting.is_empty(), "{point}: change sets left waiting for execution: {waiting:?}");

    assert_eq!(support::drain_queue(&account, &announcements).await.len(), 1, "{point}: the drill is announced once");
}

/// SIGABRT, as `std::process::abort` raises it.
fn libc_sigabrt() -> i32 {
    6
}

/// An SQS queue hearing drctl's announcements (by their verdict attribute)
/// on the topic.
async fn announcement_queue(account: &TestAccount) -> String {
    let topic = format!("arn:aws:sns:{}:{}:dr-announcements", support::REGION, account.id);
    support::queue_on_topics(account, "announcements", &[topic], r#"{"verdict": ["passed", "failed", "inconclusive"]}"#).await
}

macro_rules! crash_points {
    ($($test:ident => $point:literal),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                crash_and_converge($point).await;
            }
        )*

        /// Every crash point drctl has is tested here, in its order.
        #[test]
        fn every_crash_point_has_its_test() {
            assert_eq!(vec![$($point),*], drctl::failpoint::POINTS.to_vec());
        }
    };
}

crash_points! {
    crash_after_the_change_set_is_created => "apply/change-set-created",
    crash_while_the_change_set_executes => "apply/change-set-executing",
    crash_when_the_stack_is_done => "apply/stack-done",
    crash_after_the_drill_start_is_recorded => "drill/started-recorded",
    crash_after_the_canary_is_placed => "drill/canary-placed",
    crash_after_the_backup_job_starts => "drill/backup-started",
    crash_after_the_backup_job_is_recorded => "drill/backup-recorded",
    crash_after_the_copy_job_starts => "drill/copy-started",
    crash_after_the_copy_job_is_recorded => "drill/copy-recorded",
    crash_after_the_scratch_table_is_recorded => "drill/restore-starting-recorded",
    crash_after_the_restore_job_starts => "drill/restore-started",
    crash_after_the_restore_job_is_recorded => "drill/restore-recorded",
    crash_after_the_checks => "drill/checks-done",
    crash_after_the_scratch_table_is_deleted => "drill/scratch-deleted",
    crash_after_the_canary_is_removed => "drill/canary-removed",
    crash_after_the_drill_is_recorded => "reconcile/drill-recorded",
    crash_after_the_announcement => "reconcile/announced",
}
