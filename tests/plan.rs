//! `drctl reconcile --dry-run` against the emulator: what a reviewer sees,
//! and the promise that a dry run leaves nothing behind.

mod support;

use drctl::plan::{self, Action, Plan, Replacement, StackStatus, deployed};
use drctl::policy::{self, Checked, Input};
use drctl::render;
use support::{TestAccount, wait_stack};

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");
const RENDER_JOBS: &str = include_str!("../desired/render-jobs.yaml");

fn checked(files: &[(&str, String)]) -> Checked {
    policy::check(files.iter().map(|(file, text)| Input { file: file.to_string(), content: Ok(text.clone().into_bytes()) }))
}

fn options() -> plan::Options {
    plan::Options {
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        extra_regions: Vec::new(),
        concurrency: 4,
        preview: true,
    }
}

/// Deploys every stack of the policies as an apply would: rendered
/// template, drctl's stack tags.
async fn deploy(account: &TestAccount, checked: &Checked) {
    tables(account).await;
    support::bootstrap(account, checked.valid().map(|p| &p.policy)).await;
    for loaded in checked.valid() {
        let hash = policy::content_hash(&loaded.policy);
        for stack in render::render(&loaded.policy).unwrap() {
            let cfn = account.region(&stack.region).cloudformation;
            let tags =
                plan::stack_tags(&stack, &hash, Some("fedcba9876543210fedcba9876543210fedcba98"), &plan::policy_regions(&loaded.policy));
            cfn.create_stack()
                .stack_name(&stack.name)
                .template_body(stack.to_json())
                .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
                .set_tags(Some(tags.iter().map(|(k, v)| aws_sdk_cloudformation::types::Tag::builder().key(k).value(v).build()).collect()))
                .send()
                .await
                .unwrap();
            let status = wait_stack(&cfn, &stack.name).await.stack_status().unwrap().as_str().to_string();
            assert_eq!(status, "CREATE_COMPLETE", "{}", stack.name);
        }
    }
}

/// The example tables the policies govern, with PITR on as they ask.
async fn tables(account: &TestAccount) {
    for (region, table) in [(support::REGION, "SpatialScans"), (support::DR_REGION, "RenderJobs")] {
        let dynamodb = account.region(region).dynamodb;
        support::create_table(&dynamodb, table, 3).await;
        let pitr =
            aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build().unwrap();
        dynamodb.update_continuous_backups().table_name(table).point_in_time_recovery_specification(pitr).send().await.unwrap();
    }
}

/// Every stack of the account in both regions with its status, and the
/// number of change sets it holds: what a dry run must not change.
async fn snapshot(account: &TestAccount) -> Vec<(String, String, String, usize)> {
    let mut all = Vec::new();
    for region in [support::REGION, support::DR_REGION] {
        let cfn = account.region(region).cloudformation;
        let stacks = cfn.describe_stacks().send().await.unwrap();
        for stack in stacks.stacks() {
            let name = stack.stack_name().unwrap().to_string();
            let change_sets = cfn.list_change_sets().stack_name(&name).send().await.unwrap().summaries().len();
            all.push((region.to_string(), name, stack.stack_status().unwrap().as_str().to_string(), change_sets));
        }
    }
    all.sort();
    all
}

fn stack<'a>(plan: &'a Plan, name: &str) -> &'a plan::StackPlan {
    plan.policies.iter().flat_map(|p| &p.stacks).find(|s| s.stack == name).unwrap_or_else(|| panic!("no stack {name} in {plan:#?}"))
}

fn semantic(plan: &Plan) -> Vec<String> {
    plan.policies.iter().flat_map(|p| &p.stacks).flat_map(|s| &s.semantic).map(|c| c.text.clone()).collect()
}

#[tokio::test]
async fn first_deploy_shows_every_stack_new_and_leaves_nothing_behind() {
    let account = support::account().await;
    tables(&account).await;
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS.into()), ("desired/render-jobs.yaml", RENDER_JOBS.into())]);
    let plan = plan::plan(&account.aws, &desired, &options()).await;
    assert!(!plan.has_errors(), "{plan:#?}");
    assert!(plan.has_changes());
    let statuses: Vec<_> = plan.policies.iter().flat_map(|p| &p.stacks).map(|s| (s.stack.as_str(), s.status)).collect();
    assert_eq!(
        statuses,
        [
            ("drctl-render-jobs", StackStatus::New),
            ("drctl-spatial-scans-dr-us-west-2", StackStatus::New),
            ("drctl-spatial-scans", StackStatus::New)
        ]
    );
    let primary = stack(&plan, "drctl-spatial-scans");
    let added: Vec<_> = primary.changes.iter().map(|c| (c.action, c.logical_id.as_str())).collect();
    for id in ["BackupVault", "BackupPlan", "BackupSelection", "BackupRole"] {
        assert!(added.contains(&(Action::Add, id)), "{added:?}");
    }
    assert!(primary.semantic[0].text.starts_with("new:"), "{:?}", primary.semantic);
    // The CREATE previews left no change set and no vault: only the empty
    // stacks in REVIEW_IN_PROGRESS, which the plan role has no right to
    // delete (`drctl gc` or the apply that creates them removes them).
    let mut left: Vec<_> = snapshot(&account).await.into_iter().map(|(_, name, status, change_sets)| (name, status, change_sets)).collect();
    left.sort();
    let review = |name: &str| (name.to_string(), "REVIEW_IN_PROGRESS".to_string(), 0);
    assert_eq!(left, [review("drctl-render-jobs"), review("drctl-spatial-scans"), review("drctl-spatial-scans-dr-us-west-2")]);
    let vaults = account.clients().backup.list_backup_vaults().send().await.unwrap();
    assert!(vaults.backup_vault_list().is_empty());
}

#[tokio::test]
async fn an_unchanged_policy_needs_no_template_and_no_change_set() {
    let account = support::account().await;
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS.into())]);
    deploy(&account, &desired).await;
    account.reset_calls();
    let plan = plan::plan(&account.aws, &desired, &options()).await;
    assert!(!plan.has_changes() && !plan.has_errors(), "{plan:#?}");
    assert!(plan.policies[0].stacks.iter().all(|s| s.status == StackStatus::Unchanged));
    let calls = account.calls();
    assert_eq!(calls.of("cloudformation/CreateChangeSet"), 0);
    assert_eq!(calls.of("cloudformation/GetTemplate"), 0);
    assert_eq!(calls.of("cloudformation/DescribeStacks"), 2, "one listing per region: {calls:?}");
}

#[tokio::test]
async fn a_retention_change_is_shown_in_three_views_and_changes_nothing() {
    let account = support::account().await;
    deploy(&account, &checked(&[("desired/spatial-scans.yaml", SCANS.into())])).await;
    let before = snapshot(&account).await;
    let shorter = SCANS.replace("    retention: 35d", "    retention: 7d");
    let plan = plan::plan(&account.aws, &checked(&[("desired/spatial-scans.yaml", shorter)]), &options()).await;
    assert!(!plan.has_errors(), "{plan:#?}");
    let primary = stack(&plan, "drctl-spatial-scans");
    assert_eq!(primary.status, StackStatus::Changed);
    let retention =
        primary.semantic.iter().find(|c| c.text.contains("retention 35d → 7d")).unwrap_or_else(|| panic!("{:?}", primary.semantic));
    assert!(retention.weakens);
    let diff = primary.template_diff.as_deref().unwrap();
    assert!(
        diff.contains("-                \"DeleteAfterDays\": 35") && diff.contains("+                \"DeleteAfterDays\": 7"),
        "{diff}"
    );
    assert!(
        primary.changes.iter().any(|c| c.action == Action::Modify && c.logical_id == "BackupPlan" && !c.replaces()),
        "{:?}",
        primary.changes
    );
    assert_eq!(snapshot(&account).await, before, "a dry run changes nothing");
}

#[tokio::test]
async fn a_copy_region_added_then_removed() {
    let account = support::account().await;
    let without_copy = SCANS
        .replace("    copies:\n      - region: us-west-2\n        retention: 90d\n", "")
        .replace("[us-east-1, us-west-2]", "[us-east-1]");
    deploy(&account, &checked(&[("desired/spatial-scans.yaml", without_copy.clone())])).await;
    let plan = plan::plan(&account.aws, &checked(&[("desired/spatial-scans.yaml", SCANS.into())]), &options()).await;
    assert_eq!(stack(&plan, "drctl-spatial-scans-dr-us-west-2").status, StackStatus::New);
    assert_eq!(stack(&plan, "drctl-spatial-scans").status, StackStatus::Changed);
    assert!(semantic(&plan).iter().any(|t| t.contains("copy to us-west-2 added")), "{:?}", semantic(&plan));

    let account = support::account().await;
    deploy(&account, &checked(&[("desired/spatial-scans.yaml", SCANS.into())])).await;
    let before = snapshot(&account).await;
    let plan = plan::plan(&account.aws, &checked(&[("desired/spatial-scans.yaml", without_copy)]), &options()).await;
    let removed = stack(&plan, "drctl-spatial-scans").semantic.iter().find(|c| c.text.contains("copy to us-west-2 removed")).cloned();
    assert!(removed.is_some_and(|c| c.weakens), "{:?}", semantic(&plan));
    let orphans: Vec<_> = plan.orphans.iter().map(|o| (o.stack.as_str(), o.region.as_str(), o.policy.as_str())).collect();
    assert_eq!(orphans, [("drctl-spatial-scans-dr-us-west-2", "us-west-2", "spatial-scans")]);
    assert_eq!(snapshot(&account).await, before);
}

#[tokio::test]
async fn a_table_rename_is_flagged_as_a_replacement() {
    let account = support::account().await;
    deploy(&account, &checked(&[("desired/spatial-scans.yaml", SCANS.into())])).await;
    let renamed = SCANS.replace("table: SpatialScans", "table: SpatialScansV2");
    let plan = plan::plan(&account.aws, &checked(&[("desired/spatial-scans.yaml", renamed)]), &options()).await;
    let primary = stack(&plan, "drctl-spatial-scans");
    let selection = primary.changes.iter().find(|c| c.logical_id == "BackupSelection").unwrap_or_else(|| panic!("{:?}", primary.changes));
    assert_eq!(selection.replacement, Some(Replacement::True));
    assert!(
        primary.semantic.iter().any(|c| c.text.contains("SpatialScans") && c.text.contains("SpatialScansV2")),
        "{:?}",
        primary.semantic
    );
    let text = plan::format::text(&plan, false);
    assert!(text.to_lowercase().contains("replace"), "{text}");
}

#[tokio::test]
async fn a_deleted_policy_shows_its_stacks_as_orphans() {
    let account = support::account().await;
    deploy(&account, &checked(&[("desired/spatial-scans.yaml", SCANS.into()), ("desired/render-jobs.yaml", RENDER_JOBS.into())])).await;
    let before = snapshot(&account).await;
    let plan = plan::plan(&account.aws, &checked(&[("desired/render-jobs.yaml", RENDER_JOBS.into())]), &options()).await;
    let mut orphans: Vec<_> = plan.orphans.iter().map(|o| o.stack.as_str()).collect();
    orphans.sort();
    assert_eq!(orphans, ["drctl-spatial-scans", "drctl-spatial-scans-dr-us-west-2"]);
    assert!(plan.has_changes());
    assert_eq!(snapshot(&account).await, before, "orphans are reported, never touched by a dry run");
}

#[tokio::test]
async fn a_broken_policy_is_reported_and_the_others_still_planned() {
    let account = support::account().await;
    deploy(&account, &checked(&[("desired/spatial-scans.yaml", SCANS.into())])).await;
    let broken = SCANS.replace("retention: 35d", "retention: 35 days");
    let plan = plan::plan(
        &account.aws,
        &checked(&[("desired/spatial-scans.yaml", broken), ("desired/render-jobs.yaml", RENDER_JOBS.into())]),
        &options(),
    )
    .await;
    assert!(plan.has_errors());
    assert_eq!(plan.invalid.len(), 1);
    assert_eq!(plan.invalid[0].file, "desired/spatial-scans.yaml");
    assert!(plan.invalid[0].findings[0].contains("35 days"), "{:?}", plan.invalid);
    assert_eq!(stack(&plan, "drctl-render-jobs").status, StackStatus::New);
    assert!(plan.orphans.is_empty(), "an invalid policy's stacks are not orphans: {:?}", plan.orphans);
}

#[tokio::test]
async fn pitr_differences_are_shown() {
    let account = support::account().await;
    let missing = plan::plan(&account.aws, &checked(&[("desired/spatial-scans.yaml", SCANS.into())]), &options()).await;
    let error = missing.policies[0].error.clone().unwrap_or_default();
    assert!(error.contains("table SpatialScans does not exist in us-east-1"), "{missing:#?}");
    support::create_table(&account.clients().dynamodb, "SpatialScans", 3).await;
    let plan = plan::plan(&account.aws, &checked(&[("desired/spatial-scans.yaml", SCANS.into())]), &options()).await;
    let pitr = plan.policies[0].pitr.clone().unwrap();
    assert_eq!((pitr.from, pitr.to), (Some(false), true));
    let without = SCANS.replace("    point_in_time_recovery: true\n", "");
    let plan = plan::plan(&account.aws, &checked(&[("desired/spatial-scans.yaml", without)]), &options()).await;
    assert!(plan.policies[0].pitr.is_none(), "an unmanaged setting is left alone");
    assert!(deployed::is_stable_success("UPDATE_COMPLETE"));
}

#[tokio::test]
async fn copies_without_advanced_dynamodb_backup_are_warned_with_the_fix() {
    let account = support::account().await;
    tables(&account).await;
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS.into()), ("desired/render-jobs.yaml", RENDER_JOBS.into())]);

    let off = plan::plan(&account.aws, &desired, &options()).await;

    let warnings = |plan: &Plan, name: &str| plan.policies.iter().find(|p| p.name == name).unwrap().warnings.clone();
    let scans = warnings(&off, "spatial-scans");
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert!(scans[0].contains("aws backup update-region-settings --region us-east-1 --resource-type-management-preference DynamoDB=true"));
    assert!(warnings(&off, "render-jobs").is_empty(), "a policy without copies needs no advanced features");
    assert!(plan::format::text(&off, false).contains("warning: AWS Backup's advanced features"));
    assert!(plan::format::markdown(&off).contains("**Warning:**"));

    account
        .region(support::REGION)
        .backup
        .update_region_settings()
        .resource_type_management_preference("DynamoDB", true)
        .send()
        .await
        .unwrap();
    let on = plan::plan(&account.aws, &desired, &options()).await;
    assert!(warnings(&on, "spatial-scans").is_empty());
}
