use super::*;
use crate::render::quotas::{Limits, exceeded};

fn scans(name: &str) -> TablePolicy {
    let mut policy =
        crate::policy::load::load("desired/spatial-scans.yaml", include_bytes!("../../../desired/spatial-scans.yaml")).unwrap().policy;
    policy.metadata.name = name.to_string();
    policy.spec.table = format!("Table-{name}");
    policy.spec.backup.vault.as_mut().unwrap().dedicated = Some(false);
    policy
}

fn fleet(n: usize) -> Vec<TablePolicy> {
    (0..n).map(|i| scans(&format!("scans-{i:04}"))).collect()
}

fn names(stacks: &[Stack]) -> Vec<(String, String, usize)> {
    stacks.iter().map(|s| (s.region.clone(), s.name.clone(), s.members.len())).collect()
}

fn selections(stack: &Stack) -> Vec<String> {
    let resources = stack.template.get("Resources").and_then(|r| r.as_mapping()).unwrap();
    resources
        .values()
        .filter(|r| r.get("Type").and_then(|t| t.as_str()) == Some("AWS::Backup::BackupSelection"))
        .map(|r| r["Properties"]["BackupSelection"]["SelectionName"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn policies_with_the_same_settings_share_one_plan_and_one_vault_per_region() {
    let policies = fleet(3);
    let stacks = render(&policies).unwrap();
    let vault = vault_stack_name(&policies[0], "us-east-1");
    let dr_vault = vault_stack_name(&policies[0], "us-west-2");
    let plan = plan_stack_name(&group(&policies[0]), 0);
    assert_eq!(names(&stacks), [("us-east-1".into(), vault, 3), ("us-west-2".into(), dr_vault.clone(), 3), ("us-east-1".into(), plan, 3)]);
    let plan = &stacks[2];
    let expected: Vec<String> = policies.iter().map(|p| crate::render::selection_name(&p.metadata.name, &p.spec.table)).collect();
    assert_eq!(selections(plan), expected);
    // The copy goes to the shared vault of the copy region.
    let rule = &plan.template["Resources"]["BackupPlan"]["Properties"]["BackupPlan"]["BackupPlanRule"][0];
    assert_eq!(rule["CopyActions"][0]["DestinationBackupVaultArn"]["Fn::Sub"][1]["Vault"].as_str(), Some(dr_vault.as_str()));
    assert_eq!(rule["TargetBackupVault"].as_str(), Some(stacks[0].name.as_str()));
}

#[test]
fn a_different_retention_makes_another_plan_but_keeps_the_vault() {
    let mut policies = fleet(2);
    policies[1].spec.backup.retention = "7d".parse().unwrap();
    assert_ne!(group(&policies[0]), group(&policies[1]));
    assert_eq!(vault_stack_name(&policies[0], "us-east-1"), vault_stack_name(&policies[1], "us-east-1"));
    let stacks = render(&policies).unwrap();
    let roles: Vec<(StackRole, usize)> = stacks.iter().map(|s| (s.role, s.members.len())).collect();
    assert_eq!(roles, [(StackRole::Vault, 2), (StackRole::Vault, 2), (StackRole::Plan, 1), (StackRole::Plan, 1)]);
}

#[test]
fn vault_settings_and_the_environment_separate_vaults() {
    let base = scans("a");
    let mut other_key = scans("b");
    other_key.spec.backup.vault.as_mut().unwrap().kms_key = Some("alias/other".into());
    let mut unlocked = scans("c");
    unlocked.spec.backup.vault.as_mut().unwrap().lock = None;
    let mut staging = scans("d");
    staging.metadata.environment = crate::policy::model::Environment::Staging;
    let mut topic = scans("e");
    topic.spec.notify.sns_topic = "other-topic".into();
    for other in [&other_key, &unlocked, &staging, &topic] {
        assert_ne!(vault_stack_name(&base, "us-east-1"), vault_stack_name(other, "us-east-1"), "{}", other.metadata.name);
        assert_ne!(group(&base), group(other));
    }
    // The table and the name are not backup settings.
    assert_eq!(group(&base), group(&scans("f")));
}

#[test]
fn a_key_id_is_the_primary_vaults_only_and_an_arn_topic_notifies_only_there() {
    let mut policy = scans("a");
    policy.spec.backup.vault.as_mut().unwrap().kms_key = Some("1234abcd-12ab-34cd-56ef-1234567890ab".into());
    policy.spec.notify.sns_topic = "arn:aws:sns:us-east-1:123456789012:dr".into();
    let stacks = render([&policy]).unwrap();
    let primary = &stacks[0].template["Resources"]["BackupVault"]["Properties"];
    let dr = &stacks[1].template["Resources"]["BackupVault"]["Properties"];
    assert!(primary.get("EncryptionKeyArn").is_some() && primary.get("Notifications").is_some());
    assert!(dr.get("EncryptionKeyArn").is_none() && dr.get("Notifications").is_none());
}

#[test]
fn a_dedicated_policy_renders_no_shared_stack_and_a_shared_one_no_stack_of_its_own() {
    let mut dedicated = scans("own");
    dedicated.spec.backup.vault.as_mut().unwrap().dedicated = None;
    assert!(render([&dedicated]).unwrap().is_empty());
    assert_eq!(crate::render::render(&dedicated).unwrap().len(), 2);
    let shared = scans("shares");
    assert!(crate::render::render(&shared).unwrap().is_empty());
    assert_eq!(crate::render::role_stack(&shared), vault_stack_name(&shared, "us-east-1"));
    assert_eq!(crate::render::vault_in(&shared, "us-west-2"), vault_stack_name(&shared, "us-west-2"));
    assert_eq!(crate::render::vault_in(&dedicated, "us-west-2"), "drctl-own");
}

#[test]
fn a_group_above_the_selections_per_plan_is_split_in_shards_within_every_limit() {
    let policies = fleet(250);
    let stacks = render(&policies).unwrap();
    let plans: Vec<&Stack> = stacks.iter().filter(|s| s.role == StackRole::Plan).collect();
    assert!(plans.len() >= 3, "{} plans", plans.len());
    assert_eq!(plans.iter().map(|p| p.members.len()).sum::<usize>(), 250);
    for plan in &plans {
        assert!(plan.members.len() <= SELECTIONS_PER_PLAN, "{} has {}", plan.name, plan.members.len());
        assert!(plan.to_json().len() <= TEMPLATE_BODY_LIMIT, "{} is {} bytes", plan.name, plan.to_json().len());
        assert_eq!(selections(plan).len(), plan.members.len());
    }
    // drctl's own quota projection finds nothing to refuse in one Region.
    assert!(exceeded(&stacks, &Limits::default(), &BTreeMap::new()).is_empty());
}

#[test]
fn two_thousand_policies_fit_the_default_quotas_of_one_region() {
    let policies = fleet(2000);
    let stacks: Vec<Stack> = crate::render::render_all(&policies).unwrap();
    assert!(exceeded(&stacks, &Limits::default(), &BTreeMap::new()).is_empty());
    let plans = stacks.iter().filter(|s| s.role == StackRole::Plan).count();
    let vaults = stacks.iter().filter(|s| s.role == StackRole::Vault).count();
    assert_eq!(vaults, 2);
    assert!((20..=64).contains(&plans), "{plans} plans");
}

#[test]
fn adding_a_member_changes_only_its_own_shard() {
    let before = render(&fleet(250)).unwrap();
    let mut policies = fleet(250);
    policies.push(scans("newcomer"));
    let after = render(&policies).unwrap();
    let changed: Vec<&str> =
        after.iter().filter(|a| !before.iter().any(|b| b.name == a.name && b.template == a.template)).map(|a| a.name.as_str()).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(after.iter().find(|s| s.name == changed[0]).unwrap().members.contains(&"newcomer".to_string()));
}

#[test]
fn rendering_is_the_same_whatever_the_order_of_the_policies() {
    let policies = fleet(40);
    let mut reversed = policies.clone();
    reversed.reverse();
    assert_eq!(render(&policies).unwrap(), render(&reversed).unwrap());
}

#[test]
fn a_selection_is_named_for_its_policy_and_table_within_aws_limits() {
    let long = "a".repeat(40);
    for (policy, table) in [("scans", "SpatialScans"), (long.as_str(), "SpatialScans"), ("a-b", "T")] {
        let name = crate::render::selection_name(policy, table);
        assert!(name.len() <= 50 && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)), "{name}");
        let (owner, hash) = name.rsplit_once('-').unwrap();
        assert_eq!((owner, hash.contains('-')), (format!("drctl-{policy}").as_str(), false), "{name}");
        assert!((3..=8).contains(&hash.len()), "{name}");
        assert_ne!(name, crate::render::selection_name(policy, &format!("{table}2")), "a new table is a new name");
    }
}

#[test]
fn a_members_new_table_keeps_its_selections_logical_id_and_changes_its_name() {
    let before = render(&[scans("mover"), scans("stayer")]).unwrap();
    let mut moved = scans("mover");
    moved.spec.table = "Elsewhere".into();
    let after = render(&[moved, scans("stayer")]).unwrap();
    let plan = |stacks: &[Stack]| stacks.iter().find(|s| s.role == StackRole::Plan).unwrap().clone();
    let id = selection_id("mover");
    let name_of = |stack: &Stack| {
        stack.template["Resources"][id.as_str()]["Properties"]["BackupSelection"]["SelectionName"].as_str().unwrap().to_string()
    };
    assert_ne!(name_of(&plan(&before)), name_of(&plan(&after)));
    assert_eq!(selections(&plan(&before)).len(), selections(&plan(&after)).len());
}

#[test]
fn policies_of_different_accounts_never_share_and_no_account_keeps_its_names() {
    let own = scans("own");
    let mut elsewhere = scans("elsewhere");
    elsewhere.spec.account = Some("222222222222".into());
    assert_ne!(vault_stack_name(&own, "us-east-1"), vault_stack_name(&elsewhere, "us-east-1"));
    assert_ne!(group(&own), group(&elsewhere));
    let stacks = render(&[own.clone(), elsewhere]).unwrap();
    assert_eq!(stacks.iter().filter(|s| s.role == StackRole::Plan).count(), 2, "{:?}", names(&stacks));
    assert!(stacks.iter().all(|s| s.members.len() == 1), "{:?}", names(&stacks));
    // The names of a policy without an account are those it had before.
    assert_eq!(vault_stack_name(&own, "us-east-1"), vault_stack_name(&scans("other"), "us-east-1"));
}

#[test]
fn a_copy_to_another_account_lands_in_its_central_vault_and_needs_no_stack_here() {
    let mut policy = scans("central");
    policy.spec.account = Some("111111111111".into());
    policy.spec.backup.copies[0].account = Some("444444444444".into());
    let stacks = render(&[policy.clone()]).unwrap();
    assert!(stacks.iter().all(|s| s.region == "us-east-1"), "no vault of ours in the copy region: {:?}", names(&stacks));
    let plan = stacks.iter().find(|s| s.role == StackRole::Plan).unwrap();
    let rule = &plan.template["Resources"]["BackupPlan"]["Properties"]["BackupPlan"]["BackupPlanRule"][0];
    let destination = &rule["CopyActions"][0]["DestinationBackupVaultArn"]["Fn::Sub"][1];
    assert_eq!((destination["Account"].as_str(), destination["Vault"].as_str()), (Some("444444444444"), Some("drctl-central")));
    policy.spec.backup.vault.as_mut().unwrap().dedicated = None;
    let own = crate::render::render(&policy).unwrap();
    assert_eq!(own.iter().map(|s| s.role).collect::<Vec<_>>(), [StackRole::Primary], "no DR stack for a copy to another account");
}
