//! The drill's journal: an interrupted drill resumes without a second
//! restore job, a resume record naming another table is refused, and
//! nothing starts that the journal could not record.

use super::*;

use drctl::drill::{Cleanup, Resume, Verdict};
use support::{JobKind, Progression};

/// Starts a drill whose restore job does not progress, and drops it (as a
/// crash would) once the journal has its restore job; returns the events.
async fn interrupted_drill(account: &TestAccount, policy: &TablePolicy) -> Vec<Event> {
    account.set_job_progression(JobKind::Restore, Progression::Manual { steps: 1000 });
    let journal = TestJournal::default();
    let options = fast();
    tokio::select! {
        results = drill::prove(&account.aws, policy, &options, &journal) => panic!("the drill was to be interrupted: {results:#?}"),
        () = journal.restore_started.notified() => {}
        () = tokio::time::sleep(support::DEADLINE) => panic!("no restore job started: {:#?}", journal.events()),
    }
    account.set_job_progression(JobKind::Restore, Progression::Immediate);
    journal.events()
}

#[tokio::test]
async fn a_resumed_drill_waits_for_the_interrupted_restore_and_ends_with_one_restore_job() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    let events = interrupted_drill(&account, &policy).await;
    let resume = Resume::from_events(&events).expect("the interrupted drill is resumable");
    let (scratch, job) = resume.restores[support::REGION].clone();
    assert!(job.is_some() && resume.backup_job_id.is_some(), "{resume:?}");
    let leftover = scratch_tables(&account).await;
    assert!(leftover.is_empty(), "the pending restore has made no table yet: {leftover:?}");

    let options = drill::Options { resume: Some(resume.clone()), ..fast() };
    let result = drill_primary(&account.aws, &policy, &options).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    assert_eq!((&result.drill_id, &result.restore_job_id), (&resume.drill_id, &job));
    assert_eq!(result.scratch_table.as_deref(), Some(scratch.as_str()));
    assert_eq!(result.recovery_point.as_ref().unwrap().backup_job_id, resume.backup_job_id);
    assert_eq!(number(&result, "canary", "found"), 1, "the interrupted drill's canary, taken over");
    assert_eq!(restore_jobs(&account, support::REGION).await.len(), 1, "exactly one restore job");
    assert_eq!(account.calls().of("backup/StartBackupJob"), 1, "the backup job was waited for, not started again");
    assert_eq!(account.calls().of("backup/StartRestoreJob"), 1, "the restore job was waited for, not started again");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_eq!(result.canary_cleanup.as_deref(), Some("removed"));
    assert_source_untouched(&account).await;
}

#[tokio::test]
async fn a_resumed_drill_that_never_learnt_its_restore_job_gets_the_same_one_by_its_token() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    let mut events = interrupted_drill(&account, &policy).await;
    events.retain(|e| !matches!(e, Event::RestoreStarted { .. }));
    let resume = Resume::from_events(&events).unwrap();
    assert_eq!(resume.restores[support::REGION].1, None, "killed between RestoreStarting and the job's id");

    let options = drill::Options { resume: Some(resume), ..fast() };
    let result = drill_primary(&account.aws, &policy, &options).await;

    assert_eq!(result.verdict, Verdict::Passed, "{result:#?}");
    assert_eq!(restore_jobs(&account, support::REGION).await.len(), 1, "the repeated start answered the first job");
    assert_eq!(account.calls().of("backup/StartRestoreJob"), 2);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_source_untouched(&account).await;
}

#[tokio::test]
async fn a_resume_record_naming_a_table_the_drill_id_does_not_name_is_refused_and_that_table_kept() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    let resume = Resume {
        drill_id: "00000000deadbeef".into(),
        restores: [(support::REGION.to_string(), ("SpatialScans".to_string(), None))].into(),
        ..Resume::default()
    };

    let result = drill_primary(&account.aws, &policy, &drill::Options { resume: Some(resume), ..fast() }).await;

    assert_eq!(result.verdict, Verdict::Failed);
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("names scratch table SpatialScans") && error.contains("drctl-drill-spatial-scans-00000000"), "{error}");
    assert_eq!((result.scratch_cleanup.clone(), result.restore_job_id.clone()), (Cleanup::NotCreated, None));
    assert_eq!(account.calls().of("backup/StartRestoreJob"), 0);
    assert_source_untouched(&account).await;
}

/// The state store down when the drill starts: it writes no canary (whose
/// key no record would hold) and starts no job; inconclusive.
#[tokio::test]
async fn a_drill_whose_start_cannot_be_recorded_writes_no_canary_and_starts_nothing() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    account.reset_calls();
    let journal = TestJournal { refuse_start: true, ..TestJournal::default() };

    let results = drill::prove(&account.aws, &policy, &fast(), &journal).await;

    let result = &results[0];
    assert_eq!(result.verdict, Verdict::Inconclusive, "{result:#?}");
    assert!(result.error.as_deref().unwrap_or_default().contains("could not record the start of drill"), "{result:#?}");
    let calls = account.calls();
    for side_effect in ["dynamodb/PutItem", "backup/StartBackupJob", "backup/StartRestoreJob", "backup/StartCopyJob"] {
        assert_eq!(calls.of(side_effect), 0, "{side_effect}: {calls:?}");
    }
    assert_source_untouched(&account).await;
}

/// A restore whose scratch table cannot be recorded is not started: a
/// table no record names could be left behind by a crash.
#[tokio::test]
async fn a_drill_does_not_restore_what_it_cannot_record() {
    let account = support::account().await;
    let policy = ground(&account, &scans_yaml("on-demand")).await;
    let journal = TestJournal { refuse_restores: true, ..TestJournal::default() };

    let results = drill::prove(&account.aws, &policy, &fast(), &journal).await;

    let result = &results[0];
    assert_eq!(result.verdict, Verdict::Inconclusive, "a state store that is down says nothing against the recovery");
    let error = result.error.as_deref().unwrap_or_default();
    assert!(error.contains("could not record the scratch table") && error.contains("unavailable"), "{error}");
    assert!(result.restore_job_id.is_none());
    assert!(account.region(support::REGION).backup.list_restore_jobs().send().await.unwrap().restore_jobs().is_empty());
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert_source_untouched(&account).await;
}
