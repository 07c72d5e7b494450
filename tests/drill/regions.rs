//! Drills in the DR region: both regions pass from one backup and its
//! copy, a completed copy is reused, advanced backup off fails the DR
//! drill with the command that fixes it, and a region without the
//! policy's vault is refused before any call.

use super::*;

use drctl::drill::{Cleanup, Verdict};

#[tokio::test]
async fn a_drill_in_a_region_without_a_vault_of_the_policy_is_refused_before_touching_anything() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.reset_calls();
    let options = drill::Options { regions: Some(vec!["eu-west-1".into()]), ..fast() };

    let result = drill_primary(&account.aws, &policy, &options).await;

    assert_eq!((result.verdict, result.region.as_str()), (Verdict::Failed, "eu-west-1"));
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("neither the policy's primary region us-east-1 nor one of its copy regions (us-west-2)"), "{result:#?}");
    assert_eq!(account.calls().total, 0, "{:?}", account.calls());
}

#[tokio::test]
async fn a_two_region_drill_passes_every_check_in_both_regions_and_leaves_no_scratch_table() {
    let account = support::account().await;
    let policy = ground(&account, &two_region_yaml("on-demand")).await;
    enable_advanced_backup(&account).await;
    let journal = TestJournal::default();

    let results = drill::prove(&account.aws, &policy, &fast(), &journal).await;

    let regions: Vec<&str> = results.iter().map(|r| r.region.as_str()).collect();
    assert_eq!(regions, [support::REGION, support::DR_REGION]);
    let (primary, dr) = (&results[0], &results[1]);
    for result in &results {
        assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
        assert!(result.checks.iter().all(|c| c.passed), "{result:#?}");
        let names: Vec<&str> = result.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["status", "schema", "item_count", "sample", "canary", "fingerprint", "query"]);
        let with_canary = ITEMS as u64 + 1;
        let count = (number(result, "item_count", "unchanged_expected"), number(result, "item_count", "restored"));
        assert_eq!(count, (with_canary, with_canary));
        assert_eq!(number(result, "canary", "found"), 1);
        assert_eq!(number(result, "fingerprint", "restored"), with_canary);
        assert_eq!(result.reference.as_ref().map(|r| r.kind), Some("point-in-time"), "one reference for both regions");
        assert!(result.rpo.as_ref().is_some_and(|r| r.met && r.measured_seconds < 60.0), "{:?}", result.rpo);
        assert!(result.rto.as_ref().is_some_and(|r| r.met), "{:?}", result.rto);
        assert_eq!(result.scratch_cleanup, Cleanup::Deleted);
        assert_eq!(result.canary_cleanup.as_deref(), Some("removed"));
        assert_eq!(result.drill_id, primary.drill_id, "one drill");
    }
    assert_eq!(primary.copy_job_id, None);
    let copy_job = dr.copy_job_id.as_deref().expect("the DR result names its copy job");
    let copied = account.clients().backup.describe_copy_job().copy_job_id(copy_job).send().await.unwrap();
    let copied = copied.copy_job().unwrap();
    let (source_point, dr_point) = (primary.recovery_point.as_ref().unwrap(), dr.recovery_point.as_ref().unwrap());
    assert_eq!(copied.source_recovery_point_arn(), Some(source_point.arn.as_str()));
    assert_eq!(copied.destination_recovery_point_arn(), Some(dr_point.arn.as_str()));
    assert!(dr_point.arn.starts_with("arn:aws:backup:us-west-2:") && dr_point.vault == "drctl-spatial-scans", "{dr_point:?}");
    assert_eq!((&dr_point.backup_job_id, &dr_point.created), (&source_point.backup_job_id, &source_point.created), "the same data");
    let dr_scratch = dr.scratch_table.as_deref().unwrap();
    assert_eq!(Some(dr_scratch), primary.scratch_table.as_deref(), "one name, one table per region");
    // drctl's apply identity may restore and copy only recovery points
    // tagged as drctl's: both points of the drill carry the tags.
    for (region, point) in [(support::REGION, source_point), (support::DR_REGION, dr_point)] {
        let tags = account.region(region).backup.list_tags().resource_arn(&point.arn).send().await.unwrap();
        let tags = tags.tags().cloned().unwrap_or_default();
        assert_eq!(tags.get("drctl:managed-by").map(String::as_str), Some("drctl"), "{region}: {tags:?}");
        assert_eq!(tags.get("drctl:policy").map(String::as_str), Some("spatial-scans"), "{region}: {tags:?}");
    }
    let restored_in_dr = restore_jobs(&account, support::DR_REGION).await;
    assert_eq!(restored_in_dr.len(), 1);
    assert_eq!(restored_in_dr[0].recovery_point_arn(), Some(dr_point.arn.as_str()));

    assert_eq!(scratch_tables_in(&account, support::REGION).await, Vec::<String>::new());
    assert_eq!(scratch_tables_in(&account, support::DR_REGION).await, Vec::<String>::new());
    assert_source_untouched(&account).await;

    let events = journal.events();
    assert_eq!(events[0], Event::Started { drill_id: primary.drill_id.clone() });
    assert_eq!(events[1], Event::BackupStarted { job_id: source_point.backup_job_id.clone().unwrap() });
    assert!(events.contains(&Event::CopyStarted { region: support::DR_REGION.into(), job_id: copy_job.into() }), "{events:#?}");
    for result in &results {
        let table = result.scratch_table.clone().unwrap();
        let starting = Event::RestoreStarting { region: result.region.clone(), scratch_table: table.clone() };
        let started =
            Event::RestoreStarted { region: result.region.clone(), job_id: result.restore_job_id.clone().unwrap(), scratch_table: table };
        let at = |event: &Event| events.iter().position(|e| e == event).unwrap_or_else(|| panic!("{event:?} not in {events:#?}"));
        assert!(at(&starting) < at(&started), "the scratch table is recorded before its restore starts");
    }
}

#[tokio::test]
async fn with_advanced_backup_off_the_dr_drill_fails_with_the_command_that_fixes_it_and_the_primary_passes() {
    let account = support::account().await;
    let policy = ground(&account, &two_region_yaml("on-demand")).await;

    let results = drill::prove(&account.aws, &policy, &fast(), &NoJournal).await;

    let (primary, dr) = (&results[0], &results[1]);
    assert_eq!(primary.verdict, Verdict::Passed, "{primary:#?}");
    assert_eq!(dr.verdict, Verdict::Failed);
    let error = dr.error.as_deref().unwrap_or_default();
    assert!(error.contains("advanced features for Amazon DynamoDB are off in us-east-1"), "{error}");
    assert!(
        error.contains("aws backup update-region-settings --region us-east-1 --resource-type-management-preference DynamoDB=true"),
        "{error}"
    );
    assert!(dr.reasons.iter().any(|r| r.contains("update-region-settings")), "{:?}", dr.reasons);
    assert!(dr.checks.is_empty() && dr.copy_job_id.is_none() && dr.scratch_table.is_none(), "{dr:#?}");
    assert_eq!(account.calls().of("backup/StartCopyJob"), 0);
    assert_eq!(scratch_tables_in(&account, support::DR_REGION).await, Vec::<String>::new());
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_source_untouched(&account).await;
}

#[tokio::test]
async fn a_latest_dr_drill_restores_a_completed_copy_of_the_chosen_point_without_copying_again() {
    let account = support::account().await;
    let policy = ground(&account, &two_region_yaml("latest")).await;
    enable_advanced_backup(&account).await;
    // The scheduled backup runs a while after the apply turned PITR on (a
    // point taken within the margin of it cannot be compared item for item).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let backup = account.clients().backup;
    let taken = backup
        .start_backup_job()
        .backup_vault_name("drctl-spatial-scans")
        .resource_arn(account.table_arn(support::REGION, "SpatialScans"))
        .iam_role_arn(account.backup_role_arn())
        .send()
        .await
        .unwrap();
    let scheduled_copy = backup
        .start_copy_job()
        .recovery_point_arn(taken.recovery_point_arn().unwrap())
        .source_backup_vault_name("drctl-spatial-scans")
        .destination_backup_vault_arn(account.vault_arn(support::DR_REGION, "drctl-spatial-scans"))
        .iam_role_arn(account.backup_role_arn())
        .send()
        .await
        .unwrap();

    let results = drill::prove(&account.aws, &policy, &fast(), &NoJournal).await;

    assert!(results.iter().all(DrillResult::passed), "{results:#?}");
    assert_eq!(results[1].copy_job_id.as_deref(), scheduled_copy.copy_job_id());
    assert_eq!(account.calls().of("backup/StartCopyJob"), 1, "only the test's own copy");
    assert_eq!(results[0].recovery_point.as_ref().unwrap().arn, taken.recovery_point_arn().unwrap());
    assert_eq!(scratch_tables_in(&account, support::DR_REGION).await, Vec::<String>::new());
}

/// With `latest`, a completed copy in the DR vault is reused; when drctl
/// cannot ask whether that copy is still there (DescribeRecoveryPoint
/// throttled past the SDK's retries), it stops: "could not tell" is not
/// "expired", and it starts no second copy job.
#[tokio::test]
async fn a_throttled_look_at_a_copied_point_starts_no_second_copy_job() {
    let account = support::account().await;
    let policy = ground(&account, &two_region_yaml("latest")).await;
    enable_advanced_backup(&account).await;
    // The scheduled backup runs a while after the apply turned PITR on (a
    // point taken within the margin of it cannot be compared item for item).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let backup = account.clients().backup;
    backup
        .start_backup_job()
        .backup_vault_name("drctl-spatial-scans")
        .resource_arn(account.table_arn(support::REGION, "SpatialScans"))
        .iam_role_arn(account.backup_role_arn())
        .send()
        .await
        .unwrap();
    let first = drill::prove(&account.aws, &policy, &fast(), &NoJournal).await;
    assert!(first.iter().all(|r| r.verdict == Verdict::Passed), "{first:#?}");
    let copies = || async { backup.list_copy_jobs().send().await.unwrap().copy_jobs().len() };
    assert_eq!(copies().await, 1);

    account.inject_fault(Fault::throttle("backup", "DescribeRecoveryPoint"));
    let second = drill::prove(&account.aws, &policy, &fast(), &NoJournal).await;

    account.clear_faults();
    let dr = second.iter().find(|r| r.region == support::DR_REGION).unwrap();
    let error = dr.error.as_deref().unwrap_or_default();
    assert!(error.contains("DescribeRecoveryPoint"), "{dr:#?}");
    assert_eq!(copies().await, 1, "no second copy job");
    assert_eq!(scratch_tables_in(&account, support::DR_REGION).await, Vec::<String>::new());
}
