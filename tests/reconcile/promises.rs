//! The controller's promises: two runs at once drive a policy once, a
//! run killed during its restore is resumed without a second restore,
//! and the canary of a deleted policy's killed drill is removed.

use super::*;

use aws_sdk_backup::types::RestoreJobStatus;
use drctl::reconcile::Status;
use support::{JobKind, Progression};

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
