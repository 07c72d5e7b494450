use super::*;
use crate::policy::model::{Copy, Lock};
use crate::policy::{TablePolicy, load};
use crate::render::{StackRole, render};

const SCANS: &str = include_str!("../../../desired/spatial-scans.yaml");

fn scans() -> TablePolicy {
    load("desired/spatial-scans.yaml", SCANS.as_bytes()).expect("the example policy loads").policy
}

fn template(policy: &TablePolicy, role: StackRole) -> Value {
    render(policy).expect("renders").into_iter().find(|s| s.role == role).expect("stack of that role").template
}

fn primary(policy: &TablePolicy) -> Value {
    template(policy, StackRole::Primary)
}

/// The semantic change of the primary stack from `old` to `new`.
fn changes(old: &TablePolicy, new: &TablePolicy) -> Vec<DrChange> {
    dr_changes(Some(&primary(old)), &primary(new))
}

fn lines(changes: &[DrChange]) -> Vec<(&str, bool)> {
    changes.iter().map(|c| (c.text.as_str(), c.weakens)).collect()
}

#[test]
fn an_unchanged_template_has_no_semantic_change() {
    let policy = scans();
    assert_eq!(changes(&policy, &policy), []);
    let dr = template(&policy, StackRole::DrCopy);
    assert_eq!(dr_changes(Some(&dr), &dr), []);
}

#[test]
fn the_summary_reads_every_field_of_the_primary_template() {
    let summary = DrSummary::of(&primary(&scans()));
    let rule = summary.rule.clone().unwrap();
    assert_eq!(rule.schedule.as_deref(), Some("cron(0 */6 * * ? *)"));
    assert_eq!(rule.interval, Some(Duration::from_hours(6)));
    assert_eq!((rule.start_window, rule.completion_window), (Some(Duration::from_hours(1)), Some(Duration::from_hours(4))));
    assert_eq!(rule.lifecycle, Lifecycle { delete_after: Some(Duration::from_days(35)), cold_after: None });
    assert_eq!(rule.copies.keys().collect::<Vec<_>>(), ["us-west-2"]);
    assert_eq!(rule.copies["us-west-2"].delete_after, Some(Duration::from_days(90)));
    assert_eq!(summary.tables, ["SpatialScans"]);
    assert_eq!(summary.kms_key.as_deref(), Some("alias/dr-backups"));
    assert_eq!(summary.topic.as_deref(), Some("dr-announcements"));
    assert_eq!(summary.vault.as_deref(), Some("drctl-spatial-scans"));
    let lock = summary.lock.unwrap();
    assert_eq!((lock.min, lock.max), (Some(Duration::from_days(7)), Some(Duration::from_days(400))));
}

#[test]
fn a_shorter_retention_weakens() {
    let old = scans();
    let mut new = old.clone();
    new.spec.backup.retention = Duration::from_days(14);
    assert_eq!(lines(&changes(&old, &new)), [("retention 35d → 14d", true)]);
    assert_eq!(lines(&changes(&new, &old)), [("retention 14d → 35d", false)]);
}

#[test]
fn a_retention_below_the_lock_minimum_says_so() {
    let old = scans();
    let mut new = old.clone();
    new.spec.backup.retention = Duration::from_days(7);
    new.spec.backup.vault.as_mut().unwrap().lock =
        Some(Lock { min_retention: Duration::from_days(5), max_retention: Duration::from_days(400), changeable_for: None });
    let mut locked = old.clone();
    locked.spec.backup.vault.as_mut().unwrap().lock.as_mut().unwrap().min_retention = Duration::from_days(14);
    // Below the deployed minimum, though the new lock allows it.
    assert_eq!(
        lines(&changes(&locked, &new)),
        [("retention 35d → 7d (below the vault lock minimum 14d)", true), ("vault lock min 14d / max 400d → min 5d / max 400d", true)]
    );
    // Below a new minimum.
    let mut raised = old.clone();
    raised.spec.backup.retention = Duration::from_days(10);
    raised.spec.backup.vault.as_mut().unwrap().lock.as_mut().unwrap().min_retention = Duration::from_days(30);
    assert_eq!(
        lines(&changes(&old, &raised)),
        [("retention 35d → 10d (below the vault lock minimum 30d)", true), ("vault lock min 7d / max 400d → min 30d / max 400d", false)]
    );
}

#[test]
fn a_schedule_change_shows_the_rpo_and_the_expressions() {
    let old = scans();
    let mut new = old.clone();
    new.spec.backup.schedule = Some("cron(0 0 * * ? *)".into());
    assert_eq!(
        lines(&changes(&old, &new)),
        [("backup interval (RPO) 6h → 1d", true), ("schedule cron(0 */6 * * ? *) → cron(0 0 * * ? *)", false)]
    );
    let mut shifted = old.clone();
    shifted.spec.backup.schedule = Some("cron(30 */6 * * ? *)".into());
    assert_eq!(lines(&changes(&old, &shifted)), [("schedule cron(0 */6 * * ? *) → cron(30 */6 * * ? *)", false)]);
    assert_eq!(lines(&changes(&new, &old))[0], ("backup interval (RPO) 1d → 6h", false));
}

#[test]
fn windows_compare_with_the_aws_defaults() {
    let old = scans();
    let mut new = old.clone();
    new.spec.backup.start_window = Some(Duration::from_hours(2));
    new.spec.backup.completion_window = None;
    assert_eq!(lines(&changes(&old, &new)), [("start window 1h → 2h", true), ("completion window 4h → 7d (AWS default)", false)]);
}

#[test]
fn a_copy_region_added_and_removed() {
    let old = scans();
    let mut new = old.clone();
    new.spec.backup.copies.push(Copy {
        region: "eu-west-1".into(),
        retention: Duration::from_days(30),
        cold_storage_after: None,
        account: None,
        vault: None,
    });
    assert_eq!(lines(&changes(&old, &new)), [("copy to eu-west-1 added (keeps 30d)", false)]);
    assert_eq!(lines(&changes(&new, &old)), [("copy to eu-west-1 removed", true)]);
    let mut none = old.clone();
    none.spec.backup.copies.clear();
    assert_eq!(lines(&changes(&old, &none)), [("copy to us-west-2 removed", true)]);
}

#[test]
fn a_copy_kept_shorter_weakens() {
    let old = scans();
    let mut new = old.clone();
    new.spec.backup.copies[0].retention = Duration::from_days(30);
    new.spec.backup.copies[0].cold_storage_after = Some(Duration::from_days(7));
    assert_eq!(
        lines(&changes(&old, &new)),
        [("copy to us-west-2 retention 90d → 30d", true), ("copy to us-west-2 cold storage after 7d added", false)]
    );
}

#[test]
fn cold_storage_added_changed_and_removed() {
    let old = scans();
    let mut new = old.clone();
    new.spec.backup.retention = Duration::from_days(200);
    new.spec.backup.cold_storage_after = Some(Duration::from_days(30));
    let mut later = new.clone();
    later.spec.backup.cold_storage_after = Some(Duration::from_days(60));
    let text = |c: Vec<DrChange>| c.into_iter().map(|c| c.text).collect::<Vec<_>>();
    assert_eq!(text(changes(&old, &new)), ["retention 35d → 200d", "cold storage after 30d added"]);
    assert_eq!(text(changes(&new, &later)), ["cold storage after 30d → 60d"]);
    assert_eq!(text(changes(&later, &old))[1], "cold storage after 60d removed");
}

#[test]
fn a_table_rename_weakens() {
    let old = scans();
    let mut new = old.clone();
    new.spec.table = "Scans2".into();
    assert_eq!(lines(&changes(&old, &new)), [("table SpatialScans → Scans2", true)]);
}

#[test]
fn lock_key_and_topic_changes() {
    let old = scans();
    let mut new = old.clone();
    new.spec.backup.vault = None;
    new.spec.notify.sns_topic = "dr-audit".into();
    assert_eq!(
        lines(&changes(&old, &new)),
        [
            ("vault lock removed", true),
            ("KMS key alias/dr-backups removed", true),
            ("notifications topic changed: dr-announcements → dr-audit", false)
        ]
    );
    let mut rekeyed = old.clone();
    rekeyed.spec.backup.vault.as_mut().unwrap().kms_key = Some("alias/other".into());
    rekeyed.spec.backup.vault.as_mut().unwrap().lock.as_mut().unwrap().max_retention = Duration::from_days(500);
    assert_eq!(
        lines(&changes(&old, &rekeyed)),
        [("vault lock min 7d / max 400d → min 7d / max 500d", false), ("KMS key changed: alias/dr-backups → alias/other", false)]
    );
    assert_eq!(lines(&changes(&new, &old))[0], ("vault lock added: min 7d / max 400d", false));
}

#[test]
fn a_new_stack_gets_one_summary_line() {
    let policy = scans();
    assert_eq!(
        lines(&dr_changes(None, &primary(&policy))),
        [(
            "new: backs up SpatialScans every 6h, keeps 35d, copies to us-west-2 (90d), vault lock min 7d / max 400d, KMS key alias/dr-backups",
            false
        )]
    );
    assert_eq!(
        lines(&dr_changes(None, &template(&policy, StackRole::DrCopy))),
        [("new: copy vault drctl-spatial-scans for SpatialScans, vault lock min 7d / max 400d, KMS key alias/dr-backups", false)]
    );
}

#[test]
fn the_dr_stack_diffs_its_vault() {
    let old = scans();
    let mut new = old.clone();
    new.spec.backup.vault.as_mut().unwrap().lock.as_mut().unwrap().changeable_for = Some(Duration::from_days(3));
    let dr = |p: &TablePolicy| template(p, StackRole::DrCopy);
    assert_eq!(
        lines(&dr_changes(Some(&dr(&old)), &dr(&new))),
        [("vault lock min 7d / max 400d → min 7d / max 400d, compliance after 3d", false)]
    );
    assert_eq!(
        lines(&dr_changes(Some(&dr(&new)), &dr(&old))),
        [("vault lock min 7d / max 400d, compliance after 3d → min 7d / max 400d", true)]
    );
}

#[test]
fn a_hand_written_template_is_read_as_far_as_it_goes() {
    let deployed: Value = yaml_serde::from_str(
        r#"
Resources:
  Plan:
    Type: AWS::Backup::BackupPlan
    Properties:
      BackupPlan:
        BackupPlanRule:
          - ScheduleExpression: "not a schedule"
            Lifecycle: { DeleteAfterDays: "40" }
            CopyActions:
              - DestinationBackupVaultArn: arn:aws:backup:eu-central-1:123456789012:backup-vault:other
  Selection:
    Type: AWS::Backup::BackupSelection
    Properties:
      BackupSelection:
        Resources: [ !Sub "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/SpatialScans" ]
"#,
    )
    .unwrap();
    let summary = DrSummary::of(&deployed);
    assert_eq!(summary.tables, ["SpatialScans"]);
    let rule = summary.rule.unwrap();
    assert_eq!((rule.interval, rule.lifecycle.delete_after), (None, Some(Duration::from_days(40))));
    assert_eq!(rule.copies.keys().collect::<Vec<_>>(), ["eu-central-1"]);
    let texts: Vec<String> = dr_changes(Some(&deployed), &primary(&scans())).into_iter().map(|c| c.text).collect();
    assert!(texts.contains(&"schedule not a schedule → cron(0 */6 * * ? *)".to_string()), "{texts:?}");
    assert!(texts.contains(&"copy to eu-central-1 removed".to_string()), "{texts:?}");
    assert!(dr_changes(Some(&Value::Null), &Value::Null).is_empty());
    assert_eq!(lines(&dr_changes(None, &Value::Null)), [("new stack", false)]);
}

#[test]
fn a_copy_to_another_account_is_named_by_its_target() {
    let old = scans();
    let mut new = scans();
    new.spec.account = Some("111111111111".into());
    new.spec.backup.copies[0].account = Some("444444444444".into());
    let texts: Vec<(String, bool)> = lines(&changes(&old, &new)).into_iter().map(|(t, w)| (t.to_string(), w)).collect();
    assert!(texts.contains(&("copy to us-west-2 removed".to_string(), true)), "{texts:?}");
    assert!(texts.contains(&("copy to 444444444444/us-west-2 added (keeps 90d)".to_string(), false)), "{texts:?}");
}
