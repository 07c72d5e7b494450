//! Policies with `backup.vault.dedicated: false` share their vault and
//! plan: one vault stack and one plan stack per group of identical backup
//! settings, each policy still proven on its own, and a change to one
//! policy's settings touching only the plan stacks it leaves and joins.

use super::*;

use drctl::reconcile::Status;
use drctl::render::StackRole;

/// A minimal policy that shares, with `retention`.
fn sharing(name: &str, table: &str, retention: &str) -> String {
    support::minimal_policy(name, table, &["schema: match-source", "sample: { items: 10 }"])
        .replace("    retention: 35d\n", &format!("    retention: {retention}\n    vault: {{ dedicated: false }}\n"))
}

fn fleet(retention_of_c: &str) -> Checked {
    let files = [("a", "TableA", "35d"), ("b", "TableB", "35d"), ("c", "TableC", retention_of_c)];
    let checked = policy::check(files.map(|(name, table, retention)| Input {
        file: format!("desired/{name}.yaml"),
        content: Ok(sharing(name, table, retention).into_bytes()),
    }));
    assert!(!checked.has_errors(), "{:#?}", checked.findings);
    checked
}

/// drctl's stacks in the primary region by name, with their role tag.
async fn drctl_stacks(account: &TestAccount) -> Vec<(String, String)> {
    let cfn = account.clients().cloudformation;
    let stacks = cfn.describe_stacks().send().await.unwrap().stacks().to_vec();
    let mut found: Vec<(String, String)> = stacks
        .iter()
        .filter(|s| s.stack_status().is_some_and(|st| st.as_str() != "DELETE_COMPLETE"))
        .filter(|s| s.stack_name().unwrap_or_default() != "drctl-bootstrap")
        .filter_map(|s| {
            let role = s.tags().iter().find(|t| t.key() == Some("drctl:role"))?.value()?.to_string();
            Some((s.stack_name()?.to_string(), role))
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn policies_with_the_same_settings_share_one_vault_and_plan_and_each_is_proven() {
    let account = support::account().await;
    let clients = account.clients();
    for table in ["TableA", "TableB", "TableC"] {
        support::create_table(&clients.dynamodb, table, ITEMS).await;
    }
    let desired = fleet("7d");
    bootstrap(&account, desired.policies.iter().map(|p| &p.policy)).await;
    let (_dir, store) = state_dir();
    let (writes, stop) = writer(&account, &["TableA", "TableB", "TableC"]);

    let report = run(&account, &store, &desired, &options("run-1")).await;

    stop.send(true).unwrap();
    let puts = writes.await.unwrap();
    assert!(puts > 20, "the tables took {puts} writes during the drills");
    for outcome in &report.policies {
        assert_eq!(outcome.status, Status::Reconciled, "{report:#?}");
    }
    // One vault for all three (same vault settings), one plan per retention.
    let stacks = drctl_stacks(&account).await;
    let roles: Vec<&str> = stacks.iter().map(|(_, role)| role.as_str()).collect();
    assert_eq!(roles.iter().filter(|r| **r == "vault").count(), 1, "{stacks:?}");
    assert_eq!(roles.iter().filter(|r| **r == "plan").count(), 2, "{stacks:?}");
    assert!(!stacks.iter().any(|(name, _)| ["drctl-a", "drctl-b", "drctl-c"].contains(&name.as_str())), "{stacks:?}");
    let plans = clients.backup.list_backup_plans().send().await.unwrap().backup_plans_list().to_vec();
    let mut selections: Vec<usize> = Vec::new();
    for plan in plans.iter().filter(|p| p.backup_plan_name().is_some_and(|n| n.starts_with("drctl-plan-"))) {
        let listed = clients.backup.list_backup_selections().backup_plan_id(plan.backup_plan_id().unwrap()).send().await.unwrap();
        selections.push(listed.backup_selections_list().len());
    }
    selections.sort();
    assert_eq!(selections, [1, 2]);
    // Each drill restored its own table's recovery point from the shared vault.
    let vault = &stacks.iter().find(|(_, role)| role == "vault").unwrap().0;
    let points = clients.backup.list_recovery_points_by_backup_vault().backup_vault_name(vault).send().await.unwrap();
    let mut tables: Vec<String> =
        points.recovery_points().iter().filter_map(|p| p.resource_arn()?.rsplit('/').next().map(str::to_string)).collect();
    tables.sort();
    tables.dedup();
    assert_eq!(tables, ["TableA", "TableB", "TableC"]);
    assert_eq!(restore_jobs(&account, support::REGION).await.len(), 3);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());

    // Nothing changed: nothing to apply, no drill.
    let plan_options = plan::Options { commit: Some("c0ffee".into()), extra_regions: Vec::new(), concurrency: 2, preview: false };
    let again = plan::plan(&account.aws, &desired, &plan_options).await;
    assert!(!again.has_changes(), "{again:#?}");

    // c takes a's and b's retention: it joins their plan. Only that plan
    // stack changes; a's and b's own plans show no change; c's plan says
    // what changed for its table; c's old plan stack is an orphan.
    let moved = fleet("35d");
    let plan = plan::plan(&account.aws, &moved, &plan_options).await;
    let changed: Vec<(&str, StackRole)> = plan
        .shared
        .iter()
        .filter(|s| s.plan.status != plan::StackStatus::Unchanged)
        .map(|s| (s.plan.stack.as_str(), s.plan.role))
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].1, StackRole::Plan);
    let by_name = |name: &str| plan.policies.iter().find(|p| p.name == name).unwrap();
    assert!(!by_name("a").has_changes() && !by_name("b").has_changes(), "{plan:#?}");
    let c = by_name("c");
    assert!(c.has_changes());
    let lines: Vec<&str> = c.stacks.iter().flat_map(|s| &s.semantic).map(|l| l.text.as_str()).collect();
    assert!(lines.iter().any(|l| l.contains("retention") && l.contains("7d") && l.contains("35d")), "{lines:?}");
    let text = plan::format::text(&plan, false);
    assert!(text.contains(&format!("shares plan {} with 3 tables", changed[0].0)), "{text}");
    assert_eq!(plan.orphans.len(), 1, "{:#?}", plan.orphans);
    assert!(plan.orphans[0].stack.starts_with("drctl-plan-") && plan.orphans[0].shared, "{:#?}", plan.orphans);
    assert!(text.contains("orphan: no policy (a shared stack none uses any more)"), "{text}");

    // Applied with --prune: the orphan plan goes, the shared vault stays.
    let mut prune = options("run-2");
    prune.apply.prune = true;
    let report = reconcile::reconcile(&account.aws, &store, &moved, &plan, &prune, &Progress::Quiet, &Stop::default()).await;
    assert!(report.pruned.iter().all(|p| !p.outcome.is_failure()) && report.pruned.len() == 1, "{report:#?}");
    let statuses: Vec<(&str, Status)> = report.policies.iter().map(|p| (p.policy.as_str(), p.status.clone())).collect();
    // c is applied (its plan stack) and proven again; a and b stay proven.
    assert_eq!(statuses, [("a", Status::Proven), ("b", Status::Proven), ("c", Status::Reconciled)], "{report:#?}");
    let c = report.policies[2].apply.as_ref().unwrap();
    assert_eq!(c.stacks.len(), 1, "{c:#?}");
    let stacks = drctl_stacks(&account).await;
    assert_eq!(stacks.iter().filter(|(_, r)| r == "plan").count(), 1, "{stacks:?}");
    assert_eq!(stacks.iter().filter(|(_, r)| r == "vault").count(), 1, "{stacks:?}");
    let after = clients.backup.list_recovery_points_by_backup_vault().backup_vault_name(vault).send().await.unwrap();
    assert!(after.recovery_points().len() >= points.recovery_points().len(), "no recovery point is lost");
}

#[tokio::test]
async fn a_deployed_policy_moves_to_shared_stacks_in_one_change_and_keeps_its_old_vault_and_recovery_points() {
    let account = support::account().await;
    let clients = account.clients();
    support::create_table(&clients.dynamodb, "TableM", ITEMS).await;
    let own = support::minimal_policy("m", "TableM", &["schema: match-source", "sample: { items: 10 }"]);
    let check = |yaml: &str| {
        let checked = policy::check([Input { file: "desired/m.yaml".into(), content: Ok(yaml.as_bytes().to_vec()) }]);
        assert!(!checked.has_errors(), "{:#?}", checked.findings);
        checked
    };
    let dedicated = check(&own);
    bootstrap(&account, dedicated.policies.iter().map(|p| &p.policy)).await;
    let (_dir, store) = state_dir();
    let (writes, stop) = writer(&account, &["TableM"]);
    let first = run(&account, &store, &dedicated, &options("run-1")).await;
    assert_eq!(first.policies[0].status, Status::Reconciled, "{first:#?}");
    let old_points = clients.backup.list_recovery_points_by_backup_vault().backup_vault_name("drctl-m").send().await.unwrap();
    assert!(!old_points.recovery_points().is_empty());

    // One change: the policy now shares. Its own stack is an orphan in the
    // plan, and the shared stacks are new.
    let sharing = check(&sharing("m", "TableM", "35d"));
    let plan_options = plan::Options { commit: Some("c0ffee".into()), extra_regions: Vec::new(), concurrency: 2, preview: false };
    let plan = plan::plan(&account.aws, &sharing, &plan_options).await;
    let orphans: Vec<&str> = plan.orphans.iter().map(|o| o.stack.as_str()).collect();
    assert_eq!(orphans, ["drctl-m"]);
    let new: Vec<StackRole> = plan.shared.iter().filter(|s| s.plan.status == plan::StackStatus::New).map(|s| s.plan.role).collect();
    assert_eq!(new, [StackRole::Vault, StackRole::Plan]);

    let mut prune = options("run-2");
    prune.apply.prune = true;
    let second = reconcile::reconcile(&account.aws, &store, &sharing, &plan, &prune, &Progress::Quiet, &Stop::default()).await;
    stop.send(true).unwrap();
    assert!(writes.await.unwrap() > 5, "the table took writes during the drills");
    assert_eq!(second.policies[0].status, Status::Reconciled, "{second:#?}");
    let pruned = &second.pruned[..];
    assert!(
        matches!(&pruned[0].outcome, apply::StackOutcome::Deleted { retained_vaults } if retained_vaults == &["drctl-m (us-east-1)".to_string()]),
        "{pruned:#?}"
    );
    // The old vault and every recovery point in it remain.
    let kept = clients.backup.list_recovery_points_by_backup_vault().backup_vault_name("drctl-m").send().await.unwrap();
    let arns = |points: &aws_sdk_backup::operation::list_recovery_points_by_backup_vault::ListRecoveryPointsByBackupVaultOutput| {
        points.recovery_points().iter().filter_map(|p| p.recovery_point_arn().map(str::to_string)).collect::<Vec<_>>()
    };
    assert_eq!(arns(&kept), arns(&old_points));
    // The second drill backed up into the shared vault.
    let shared_vault = drctl::render::vault_in(&sharing.policies[0].policy, support::REGION);
    let points = clients.backup.list_recovery_points_by_backup_vault().backup_vault_name(&shared_vault).send().await.unwrap();
    assert_eq!(points.recovery_points().len(), 1);
    assert_eq!(restore_jobs(&account, support::REGION).await.len(), 2);
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}
