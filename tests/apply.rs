//! `drctl reconcile` (apply) against the emulator: deploys, updates, no-ops,
//! refusals, pruning, isolated failures and throttling.

mod support;

use drctl::apply::{self, Progress, Report, StackOutcome};
use drctl::aws::Aws;
use drctl::plan::{self, deployed};
use drctl::policy::{self, Checked, Input};
use support::{CfnFailure, Fault, TestAccount};

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");
const RENDER_JOBS: &str = include_str!("../desired/render-jobs.yaml");
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn checked(files: &[(&str, &str)]) -> Checked {
    policy::check(files.iter().map(|(file, text)| Input { file: file.to_string(), content: Ok(text.as_bytes().to_vec()) }))
}

async fn tables(account: &TestAccount) {
    support::create_table(&account.region(support::REGION).dynamodb, "SpatialScans", 3).await;
    support::create_table(&account.region(support::DR_REGION).dynamodb, "RenderJobs", 3).await;
}

/// One `drctl reconcile`: plan without previews, then apply.
async fn reconcile(aws: &Aws, desired: &Checked, prune: bool) -> (plan::Plan, Report) {
    let options = plan::Options { commit: Some(COMMIT.into()), extra_regions: Vec::new(), concurrency: 4, preview: false };
    let plan = plan::plan(aws, desired, &options).await;
    let apply_options = apply::Options { commit: Some(COMMIT.into()), prune, ..apply::Options::default() };
    let report = apply::apply(aws, desired, &plan, &apply_options, &Progress::Quiet).await;
    (plan, report)
}

/// The stack was applied to `status` by a change set drctl names.
fn assert_applied(report: &Report, stack: &str, status: &str) {
    match outcome(report, stack) {
        StackOutcome::Applied { status: got, change_set_id } => {
            assert_eq!(got, status, "{report:#?}");
            assert!(change_set_id.contains("drctl-apply-"), "{change_set_id}");
        }
        other => panic!("{stack}: {other:?}\n{report:#?}"),
    }
}

fn outcome<'a>(report: &'a Report, stack: &str) -> &'a StackOutcome {
    report
        .policies
        .iter()
        .flat_map(|p| &p.stacks)
        .chain(&report.pruned)
        .find(|s| s.stack == stack)
        .map(|s| &s.outcome)
        .unwrap_or_else(|| panic!("no {stack} in {report:#?}"))
}

async fn stack_tags(account: &TestAccount, region: &str, stack: &str) -> std::collections::BTreeMap<String, String> {
    let listed = deployed::list(&account.aws, region).await.unwrap();
    listed.get(stack).unwrap_or_else(|| panic!("{stack} not deployed")).tags.clone()
}

async fn rule_retention_days(account: &TestAccount) -> i64 {
    let backup = account.clients().backup;
    let plans = backup.list_backup_plans().send().await.unwrap();
    let id = plans
        .backup_plans_list()
        .iter()
        .find(|p| p.backup_plan_name() == Some("drctl-spatial-scans"))
        .unwrap()
        .backup_plan_id()
        .unwrap()
        .to_string();
    let plan = backup.get_backup_plan().backup_plan_id(id).send().await.unwrap();
    plan.backup_plan().unwrap().rules()[0].lifecycle().unwrap().delete_after_days().unwrap()
}

#[tokio::test]
async fn first_deploy_then_update_then_no_op() {
    let account = support::account().await;
    tables(&account).await;
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS), ("desired/render-jobs.yaml", RENDER_JOBS)]);
    let (_, report) = reconcile(&account.aws, &desired, false).await;
    assert!(!report.failed(), "{report:#?}");
    for stack in ["drctl-spatial-scans", "drctl-spatial-scans-dr-us-west-2", "drctl-render-jobs"] {
        assert_applied(&report, stack, "CREATE_COMPLETE");
    }
    let tags = stack_tags(&account, support::REGION, "drctl-spatial-scans").await;
    assert_eq!(tags.get("drctl:commit").map(String::as_str), Some(COMMIT));
    let scans = desired.policies.iter().find(|p| p.policy.metadata.name == "spatial-scans").unwrap();
    assert_eq!(tags.get("drctl:content-hash"), Some(&policy::content_hash(&scans.policy)));
    assert_eq!(rule_retention_days(&account).await, 35);
    let pitr = account.clients().dynamodb.describe_continuous_backups().table_name("SpatialScans").send().await.unwrap();
    let status = pitr
        .continuous_backups_description()
        .unwrap()
        .point_in_time_recovery_description()
        .unwrap()
        .point_in_time_recovery_status()
        .unwrap()
        .as_str()
        .to_string();
    assert_eq!(status, "ENABLED", "PITR set as the policy asks");

    let shorter = SCANS.replace("    retention: 35d", "    retention: 14d");
    let desired = checked(&[("desired/spatial-scans.yaml", &shorter), ("desired/render-jobs.yaml", RENDER_JOBS)]);
    let (_, report) = reconcile(&account.aws, &desired, false).await;
    assert_applied(&report, "drctl-spatial-scans", "UPDATE_COMPLETE");
    assert_eq!(rule_retention_days(&account).await, 14);

    account.reset_calls();
    let (plan, report) = reconcile(&account.aws, &desired, false).await;
    assert!(!plan.has_changes() && report.policies.is_empty(), "{plan:#?} {report:#?}");
    let calls = account.calls();
    assert_eq!(calls.of("cloudformation/CreateChangeSet"), 0);
    assert_eq!(calls.of("cloudformation/ExecuteChangeSet"), 0);
    assert_eq!(calls.of("cloudformation/GetTemplate"), 0);
    assert_eq!(calls.of("cloudformation/DescribeStacks"), 2, "{calls:?}");
    assert_eq!(calls.of("dynamodb/DescribeContinuousBackups"), 1, "{calls:?}");
}

#[tokio::test]
async fn replacing_a_vault_is_refused_and_nothing_changes() {
    let account = support::account().await;
    tables(&account).await;
    reconcile(&account.aws, &checked(&[("desired/spatial-scans.yaml", SCANS)]), false).await;
    let before = stack_tags(&account, support::REGION, "drctl-spatial-scans").await;
    let new_key = SCANS.replace("kms_key: alias/dr-backups", "kms_key: alias/other-key");
    let (_, report) = reconcile(&account.aws, &checked(&[("desired/spatial-scans.yaml", &new_key)]), false).await;
    assert!(report.failed());
    // The DR vault, applied first, is refused, and the policy stops there.
    let StackOutcome::Refused { why } = outcome(&report, "drctl-spatial-scans-dr-us-west-2") else { panic!("{report:#?}") };
    assert!(why.contains("replace a backup vault") && why.contains("BackupVault"), "{why}");
    assert_eq!(report.policies[0].stacks.len(), 1, "nothing after a refusal: {report:#?}");
    assert_eq!(stack_tags(&account, support::REGION, "drctl-spatial-scans").await, before, "the stack was not touched");
    let dr = account.region(support::DR_REGION).cloudformation;
    let change_sets = dr.list_change_sets().stack_name("drctl-spatial-scans-dr-us-west-2").send().await.unwrap();
    let pending: Vec<_> =
        change_sets.summaries().iter().filter(|c| c.execution_status().map(|s| s.as_str()) == Some("AVAILABLE")).collect();
    assert!(pending.is_empty(), "the refused change set is deleted: {pending:?}");
}

#[tokio::test]
async fn prune_deletes_an_orphan_but_keeps_its_vault_and_recovery_points() {
    let account = support::account().await;
    tables(&account).await;
    let both = checked(&[("desired/spatial-scans.yaml", SCANS), ("desired/render-jobs.yaml", RENDER_JOBS)]);
    reconcile(&account.aws, &both, false).await;
    let backup = account.region(support::DR_REGION).backup;
    backup
        .start_backup_job()
        .backup_vault_name("drctl-render-jobs")
        .resource_arn(account.table_arn(support::DR_REGION, "RenderJobs"))
        .iam_role_arn(account.backup_role_arn())
        .send()
        .await
        .unwrap();
    let only_scans = checked(&[("desired/spatial-scans.yaml", SCANS)]);
    let (_, report) = reconcile(&account.aws, &only_scans, false).await;
    assert_eq!(report.orphans_left.len(), 1, "without --prune the orphan is left alone: {report:#?}");
    let (_, report) = reconcile(&account.aws, &only_scans, true).await;
    let StackOutcome::Deleted { retained_vaults } = outcome(&report, "drctl-render-jobs") else { panic!("{report:#?}") };
    assert_eq!(retained_vaults, &["drctl-render-jobs (us-west-2)".to_string()]);
    assert!(!deployed::list(&account.aws, support::DR_REGION).await.unwrap().contains_key("drctl-render-jobs"));
    let vault = backup.describe_backup_vault().backup_vault_name("drctl-render-jobs").send().await.unwrap();
    assert_eq!(vault.number_of_recovery_points(), 1, "the vault and its recovery point remain");
}

#[tokio::test]
async fn a_failing_resource_rolls_back_and_the_other_policy_still_applies() {
    let account = support::account().await;
    tables(&account).await;
    account.fail_cfn_resource(CfnFailure::new("drctl-render-jobs", "Backup plan limit exceeded").resource_type("AWS::Backup::BackupPlan"));
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS), ("desired/render-jobs.yaml", RENDER_JOBS)]);
    let (_, report) = reconcile(&account.aws, &desired, false).await;
    assert!(report.failed());
    let StackOutcome::Failed { status, reasons, .. } = outcome(&report, "drctl-render-jobs") else { panic!("{report:#?}") };
    assert_eq!(status, "ROLLBACK_COMPLETE");
    assert!(reasons.iter().any(|r| r.contains("Backup plan limit exceeded")), "{reasons:?}");
    assert_applied(&report, "drctl-spatial-scans", "CREATE_COMPLETE");
    let text = apply::report_text(&report);
    assert!(text.contains("Apply FAILED for: render-jobs"), "{text}");

    // The next run deletes the stack that died on create and creates it
    // anew; the vault the failed create retained is in the way, and the
    // report says how to clear it. Once cleared, the create succeeds.
    account.reset();
    let (_, report) = reconcile(&account.aws, &desired, false).await;
    let StackOutcome::Failed { fix, .. } = outcome(&report, "drctl-render-jobs") else { panic!("{report:#?}") };
    assert!(
        fix.as_deref()
            .is_some_and(|f| f.contains("aws backup delete-backup-vault --backup-vault-name drctl-render-jobs --region us-west-2")),
        "{fix:?}"
    );
    account.region(support::DR_REGION).backup.delete_backup_vault().backup_vault_name("drctl-render-jobs").send().await.unwrap();
    let (_, report) = reconcile(&account.aws, &desired, false).await;
    assert_applied(&report, "drctl-render-jobs", "CREATE_COMPLETE");
}

#[tokio::test]
async fn throttling_on_a_third_of_cloudformation_calls_still_converges() {
    let account = support::account().await;
    tables(&account).await;
    account.inject_fault(Fault::throttle("cloudformation", "*").probability(0.3, 7));
    let aws = account.aws_with_attempts(10).await;
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS), ("desired/render-jobs.yaml", RENDER_JOBS)]);
    let (plan, report) = reconcile(&aws, &desired, false).await;
    assert!(!plan.has_errors() && !report.failed(), "{plan:#?} {report:#?}");
    account.clear_faults();
    let (plan, _) = reconcile(&account.aws, &desired, false).await;
    assert!(!plan.has_changes(), "converged: {plan:#?}");
    assert!(account.calls().total > 0);
}
