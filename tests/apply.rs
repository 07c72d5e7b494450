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

/// The source tables, and `drctl bootstrap` of every region the example
/// policies use.
async fn tables(account: &TestAccount) {
    support::create_table(&account.region(support::REGION).dynamodb, "SpatialScans", 3).await;
    support::create_table(&account.region(support::DR_REGION).dynamodb, "RenderJobs", 3).await;
    let examples = checked(&[("desired/spatial-scans.yaml", SCANS), ("desired/render-jobs.yaml", RENDER_JOBS)]);
    support::bootstrap(account, examples.policies.iter().map(|p| &p.policy)).await;
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

/// A policy pointed at another table: the selection cannot be updated, so
/// CloudFormation creates the new one before it deletes the old, in the
/// same plan. AWS Backup refuses two selections of one name in a plan
/// (CreateBackupSelection answers AlreadyExistsException), so the new
/// selection's name must differ: it carries the table's hash.
#[tokio::test]
async fn a_policy_moved_to_another_table_updates_its_selection() {
    let account = support::account().await;
    tables(&account).await;
    support::create_table(&account.region(support::REGION).dynamodb, "SpatialScansV2", 3).await;
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS)]);
    let (_, report) = reconcile(&account.aws, &desired, false).await;
    assert!(!report.failed(), "{report:#?}");

    let moved = SCANS.replace("table: SpatialScans", "table: SpatialScansV2");
    let desired = checked(&[("desired/spatial-scans.yaml", &moved)]);
    let (_, report) = reconcile(&account.aws, &desired, false).await;
    assert_applied(&report, "drctl-spatial-scans", "UPDATE_COMPLETE");
    let backup = account.clients().backup;
    let plans = backup.list_backup_plans().send().await.unwrap();
    let plan_id =
        plans.backup_plans_list().iter().find(|p| p.backup_plan_name() == Some("drctl-spatial-scans")).unwrap().backup_plan_id().unwrap();
    let selections = backup.list_backup_selections().backup_plan_id(plan_id).send().await.unwrap();
    let selections = selections.backup_selections_list();
    assert_eq!(selections.len(), 1, "the old selection is gone: {selections:?}");
    let selection =
        backup.get_backup_selection().backup_plan_id(plan_id).selection_id(selections[0].selection_id().unwrap()).send().await.unwrap();
    assert_eq!(selection.backup_selection().unwrap().resources(), [account.table_arn(support::REGION, "SpatialScansV2")]);
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

/// The pull-request plan role may create change sets on drctl's stacks.
/// Whatever it prepares there — under the name an apply used to take, with
/// a template of its own, with no changes at all — `reconcile` executes
/// only the change set CloudFormation created for its own run.
#[tokio::test]
async fn a_change_set_prepared_by_someone_else_is_never_executed() {
    let account = support::account().await;
    tables(&account).await;
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS)]);
    reconcile(&account.aws, &desired, false).await;
    let cfn = account.region(support::REGION).cloudformation;
    let deployed = cfn.get_template().stack_name("drctl-spatial-scans").send().await.unwrap().template_body().unwrap().to_string();
    let mut squatted: serde_json::Value = serde_json::from_str(&deployed).unwrap();
    squatted["Resources"]["Squatter"] = serde_json::json!({"Type": "AWS::SNS::Topic"});
    // The names a squatter can compute from the pull request: the template
    // the merge will deploy is public, so its hash is too.
    let shorter = SCANS.replace("    retention: 35d", "    retention: 14d");
    let next = checked(&[("desired/spatial-scans.yaml", &shorter)]);
    let stacks = drctl::render::render(&next.policies[0].policy).unwrap();
    let hash = deployed::template_hash(stacks.iter().find(|s| s.name == "drctl-spatial-scans").unwrap());
    let predictable = [format!("drctl-apply-{}", &hash[..16]), format!("drctl-apply-{}-0000000000000000", &hash[..12])];
    for (name, body) in [(&predictable[0], squatted.to_string()), (&predictable[1], deployed.clone())] {
        cfn.create_change_set()
            .stack_name("drctl-spatial-scans")
            .change_set_name(name)
            .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Update)
            .template_body(body)
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
            .send()
            .await
            .unwrap();
    }

    let (_, report) = reconcile(&account.aws, &next, false).await;
    assert_applied(&report, "drctl-spatial-scans", "UPDATE_COMPLETE");
    let StackOutcome::Applied { change_set_id, .. } = outcome(&report, "drctl-spatial-scans") else { unreachable!() };
    assert!(predictable.iter().all(|name| !change_set_id.contains(&format!("/{name}/"))), "{change_set_id}");
    assert_eq!(rule_retention_days(&account).await, 14);
    let now = cfn.get_template().stack_name("drctl-spatial-scans").send().await.unwrap();
    assert!(!now.template_body().unwrap().contains("Squatter"), "the squatter's template never ran");
}

/// A change set name already taken is someone else's: drctl refuses it
/// rather than adopt it (it never has a reason to reuse a name).
#[tokio::test]
async fn a_change_set_name_already_taken_is_refused_not_adopted() {
    let account = support::account().await;
    tables(&account).await;
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS)]);
    reconcile(&account.aws, &desired, false).await;
    let stacks = drctl::render::render(&desired.policies[0].policy).unwrap();
    let primary = stacks.iter().find(|s| s.name == "drctl-spatial-scans").unwrap();
    let cfn = account.region(support::REGION).cloudformation;
    cfn.create_change_set()
        .stack_name(&primary.name)
        .change_set_name("drctl-apply-taken")
        .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Update)
        .template_body(r#"{"Resources":{"Squatter":{"Type":"AWS::SNS::Topic"}}}"#)
        .send()
        .await
        .unwrap();
    let request =
        plan::changeset::Request { stack: primary, exists: true, tags: Vec::new(), name: "drctl-apply-taken".into(), role_arn: None };
    let error = plan::changeset::create(&account.aws, &request).await.unwrap_err();
    assert!(matches!(error, plan::changeset::ChangeSetError::NotOurs { .. }), "{error}");
    assert!(error.to_string().contains("already exists and this run did not create it"), "{error}");
    let listed = cfn.list_change_sets().stack_name(&primary.name).send().await.unwrap();
    let taken: Vec<_> = listed.summaries().iter().filter(|c| c.change_set_name() == Some("drctl-apply-taken")).collect();
    assert_eq!(taken.len(), 1, "{listed:?}");
    assert_eq!(taken[0].execution_status().map(|s| s.as_str()), Some("AVAILABLE"), "left for a person to inspect, never run");
}

/// A stack is found by its name, and a name proves nothing: a stack named
/// as drctl would name it, without drctl's tags for this policy, is
/// refused, never updated, and the refusal names the tag that is wrong.
#[tokio::test]
async fn a_stack_with_a_drctl_name_but_not_drctl_tags_is_refused() {
    let account = support::account().await;
    tables(&account).await;
    let dr = account.region(support::DR_REGION).cloudformation;
    let foreign = r#"{"Resources":{"Topic":{"Type":"AWS::SNS::Topic"}}}"#;
    support::deploy_stack(&dr, "drctl-spatial-scans-dr-us-west-2", foreign).await;
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS)]);
    let (_, report) = reconcile(&account.aws, &desired, false).await;
    assert!(report.failed());
    let StackOutcome::Refused { why } = outcome(&report, "drctl-spatial-scans-dr-us-west-2") else { panic!("{report:#?}") };
    assert!(why.contains("tag drctl:managed-by is missing"), "{why}");
    assert_eq!(report.policies[0].stacks.len(), 1, "nothing after a refusal: {report:#?}");
    let template = dr.get_template().stack_name("drctl-spatial-scans-dr-us-west-2").send().await.unwrap();
    assert!(template.template_body().unwrap().contains("AWS::SNS::Topic"), "the foreign stack was not touched");
    let change_sets = dr.list_change_sets().stack_name("drctl-spatial-scans-dr-us-west-2").send().await.unwrap();
    assert!(change_sets.summaries().is_empty(), "no change set was even created: {change_sets:?}");

    // drctl's tags naming another policy are not this policy's.
    dr.delete_stack().stack_name("drctl-spatial-scans-dr-us-west-2").send().await.unwrap();
    let tag = |key: &str, value: &str| aws_sdk_cloudformation::types::Tag::builder().key(key).value(value).build();
    dr.create_stack()
        .stack_name("drctl-spatial-scans-dr-us-west-2")
        .template_body(foreign)
        .tags(tag("drctl:managed-by", "drctl"))
        .tags(tag("drctl:role", "dr-copy"))
        .tags(tag("drctl:policy", "render-jobs"))
        .send()
        .await
        .unwrap();
    support::wait_stack(&dr, "drctl-spatial-scans-dr-us-west-2").await;
    let (_, report) = reconcile(&account.aws, &desired, false).await;
    let StackOutcome::Refused { why } = outcome(&report, "drctl-spatial-scans-dr-us-west-2") else { panic!("{report:#?}") };
    assert!(why.contains("tag drctl:policy is render-jobs (expected spatial-scans)"), "{why}");
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

/// Reads of a stack that stay throttled past the SDK's retries (here the
/// SDK tries once) are read again: a throttled read is not a failed apply.
#[tokio::test]
async fn stack_reads_throttled_past_the_sdks_retries_are_read_again_and_the_apply_succeeds() {
    let account = support::account().await;
    tables(&account).await;
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS)]);
    let options = plan::Options { commit: Some(COMMIT.into()), extra_regions: Vec::new(), concurrency: 4, preview: false };
    let plan = plan::plan(&account.aws, &desired, &options).await;
    account.inject_fault(Fault::throttle("cloudformation", "DescribeStacks").times(4));

    let report = apply::apply(&account.aws, &desired, &plan, &apply::Options::default(), &Progress::Quiet).await;

    assert!(!report.failed(), "{report:#?}");
    assert_applied(&report, "drctl-spatial-scans", "CREATE_COMPLETE");
    assert_eq!(account.faults()[0]["fired"], 4, "the throttles were met: {:?}", account.faults());
}
