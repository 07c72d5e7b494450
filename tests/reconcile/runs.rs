//! One reconcile from start to end: applied, proven in every drill
//! region, recorded and announced; a policy whose first scheduled backup
//! is still to come waits quietly, then fails loudly; a failed restore
//! and a drill stopped by a throttle are announced as what they are.

use super::*;

use drctl::reconcile::Status;
use support::{Fault, JobKind, JobTarget};

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
    // The drill history has the same whole chain, the message id included.
    let history = store.history(0).await.unwrap();
    assert_eq!(history.len(), 1, "{history:#?}");
    assert_eq!((history[0].policy.as_str(), &history[0].evidence), ("spatial-scans", evidence));

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
