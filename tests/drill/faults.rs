//! AWS that throttles, refuses, leaves members out of its answers or is
//! slow: the drill polls on, is inconclusive or fails naming the call or
//! the timeout; it never passes on an answer it did not get.

use super::*;

use drctl::drill::{Cleanup, Verdict};
use support::{JobKind, Progression};

/// A poll that stays throttled past the SDK's retries is not a failed job:
/// drctl polls again until the job's deadline and the drill passes.
#[tokio::test]
async fn job_polls_throttled_past_the_sdks_retries_keep_polling_and_the_drill_passes() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    // The SDK tries each call 3 times; three whole calls' worth of
    // throttles, for every job a drill polls.
    const ATTEMPTS: u32 = 3;
    let aws = account.aws_with_attempts(ATTEMPTS).await;
    for operation in ["DescribeBackupJob", "DescribeRestoreJob"] {
        account.inject_fault(Fault::throttle("backup", operation).times(3 * ATTEMPTS));
    }

    let result = drill_primary(&aws, &policy, &fast()).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    let calls = account.calls();
    assert!(calls.of("backup/DescribeBackupJob") > u64::from(3 * ATTEMPTS), "{calls:?}");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}

/// A check whose reads stay throttled past the SDK's retries reaches no
/// verdict: the drill is inconclusive, not failed, and the other checks
/// still report.
#[tokio::test]
async fn a_check_throttled_past_the_sdks_retries_makes_the_drill_inconclusive_not_failed() {
    let (account, result) = drilled_under(Fault::throttle("dynamodb", "Scan").times(1)).await;

    assert_eq!(result.verdict, Verdict::Inconclusive, "{result:#?}");
    // item_count and fingerprint share one scan of the restore: both go unanswered.
    let unanswered: Vec<&str> = result.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
    assert!(!unanswered.is_empty() && unanswered.iter().all(|c| ["item_count", "fingerprint", "sample"].contains(c)), "{result:#?}");
    assert!(result.checks.iter().filter(|c| !c.passed).all(|c| c.inconclusive && c.reason.contains("Throttling")), "{result:#?}");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_source_untouched(&account).await;
}

/// AWS refusing a call for access says nothing against the recovery:
/// drctl could not ask, so the drill is inconclusive, not failed.
#[tokio::test]
async fn a_restore_refused_for_access_makes_the_drill_inconclusive() {
    let (account, result) = drilled_under(Fault::throttle("backup", "StartRestoreJob").code("AccessDeniedException").times(1)).await;

    assert_eq!(result.verdict, Verdict::Inconclusive, "{result:#?}");
    assert!(result.error.as_deref().unwrap_or_default().contains("AccessDeniedException"), "{result:#?}");
    assert_source_untouched(&account).await;
}

/// AWS's answers may leave out any member; the recovery point's creation
/// time is what the RPO is measured from. Without it the drill stops with
/// the operation named, instead of taking "now" and passing any RPO.
#[tokio::test]
async fn a_recovery_point_without_a_creation_date_fails_the_drill_naming_the_call() {
    let (account, result) = drilled_under(Fault::omit("backup", "DescribeRecoveryPoint", "CreationDate")).await;

    assert_eq!(result.verdict, Verdict::Failed, "{result:#?}");
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("DescribeRecoveryPoint") && error.contains("no CreationDate"), "{result:#?}");
    assert!(result.rpo.is_none(), "no RPO without the point's time: {:?}", result.rpo);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_source_untouched(&account).await;
}

/// A COMPLETED job whose answer names no recovery point, or a started
/// restore whose answer has no job id, stops the drill naming the call:
/// one reading of job answers for backup, copy and restore jobs.
#[tokio::test]
async fn a_job_answer_without_its_recovery_point_or_id_stops_the_drill_naming_the_call() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.inject_fault(Fault::omit("backup", "DescribeBackupJob", "RecoveryPointArn"));
    let result = drill_primary(&account.aws, &policy, &fast()).await;
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("DescribeBackupJob") && error.contains("names no recovery point"), "{result:#?}");
    assert_eq!(result.verdict, Verdict::Failed);

    account.clear_faults();
    account.inject_fault(Fault::omit("backup", "StartRestoreJob", "RestoreJobId"));
    let result = drill_primary(&account.aws, &policy, &fast()).await;
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("StartRestoreJob") && error.contains("no job id"), "{result:#?}");
    account.clear_faults();
    // The restore did start on AWS's side: its table is drctl's scratch
    // table all the same, and the drill's clean-up or gc removes it.
    assert_source_untouched(&account).await;
}

#[tokio::test]
async fn a_restore_past_its_deadline_is_a_failed_drill_naming_the_timeout() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.set_job_progression(JobKind::Restore, Progression::Manual { steps: 1000 });
    let options = drill::Options { job_deadline: Duration::from_millis(600), ..fast() };

    let result = drill_primary(&account.aws, &policy, &options).await;

    assert_eq!(result.verdict, Verdict::Failed);
    let error = result.error.as_deref().unwrap();
    assert!(error.starts_with("restore job ") && error.contains("not done after"), "{error}");
    assert!(!result.check("status").unwrap().passed);
    assert_eq!(result.scratch_cleanup, Cleanup::Absent, "the job has not created the table");
    assert_source_untouched(&account).await;
}

#[tokio::test]
async fn throttled_scans_and_queries_are_retried_and_the_drill_still_passes() {
    let account = support::account().await;
    let policy = ground(&account, &static_source(scans_yaml("on-demand"))).await;
    account.inject_fault(Fault::throttle("dynamodb", "Scan").probability(0.3, 11));
    account.inject_fault(Fault::throttle("dynamodb", "Query").times(1));
    let aws = account.aws_with_attempts(10).await;

    let result = drill_primary(&aws, &policy, &fast()).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    let fired: u64 = account.faults().iter().map(|f| f["fired"].as_u64().unwrap_or(0)).sum();
    assert!(fired >= 2, "throttling happened: {:?}", account.faults());
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}
