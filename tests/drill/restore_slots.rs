//! The restore-slot quota: with one slot, two drills never restore at
//! once.

use super::*;

use support::{JobKind, Progression};

/// Runs two drills of `policy` at once; returns their results and the most
/// restore jobs that ran together, as the emulator counted them (from each
/// StartRestoreJob until the job was first seen ended: no sampling).
async fn two_drills_at_once(account: &TestAccount, policy: &TablePolicy, options: &drill::Options) -> (Vec<DrillResult>, u64) {
    account.reset_restore_overlap();
    let (a, b) =
        tokio::join!(drill::prove(&account.aws, policy, options, &NoJournal), drill::prove(&account.aws, policy, options, &NoJournal));
    ([a, b].concat(), account.restore_overlap_peak())
}

#[tokio::test]
async fn with_one_restore_slot_two_drills_never_restore_at_once() {
    let account = support::account().await;
    let checks_only_schema = |yaml: String| {
        let start = yaml.find("    checks:\n").unwrap();
        let end = yaml.find("  notify:").unwrap();
        format!("{}    checks:\n      - schema: match-source\n{}", &yaml[..start], &yaml[end..])
    };
    let policy = ground(&account, &checks_only_schema(scans_yaml("on-demand"))).await;
    account.set_job_progression(JobKind::Restore, Progression::Time { seconds: 0.4 });

    let one_slot = fast().with_restore_slots(1).unwrap();
    let (results, most) = two_drills_at_once(&account, &policy, &one_slot).await;
    assert!(results.iter().all(DrillResult::passed), "{results:#?}");
    assert_eq!(most, 1, "one restore job at a time");

    let ten_slots = fast().with_restore_slots(10).unwrap();
    let (results, most) = two_drills_at_once(&account, &policy, &ten_slots).await;
    assert!(results.iter().all(DrillResult::passed), "{results:#?}");
    assert_eq!(most, 2, "without the bound the two restores overlap (so the bound above is what kept them apart)");
    assert_eq!(restore_jobs(&account, support::REGION).await.len(), 4);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
    assert!(matches!(fast().with_restore_slots(51), Err(drill::QuotaError::AboveAwsLimit { requested: 51 })));
}
