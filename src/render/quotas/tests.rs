use super::*;
use crate::policy::TablePolicy;

fn scans() -> TablePolicy {
    crate::policy::load::load("desired/spatial-scans.yaml", include_bytes!("../../../desired/spatial-scans.yaml")).unwrap().policy
}

/// `n` copies of the scans policy (table in us-east-1, copies to
/// us-west-2), each under its own name.
fn fleet(n: usize) -> Vec<Stack> {
    (1..=n)
        .flat_map(|i| {
            let mut policy = scans();
            policy.metadata.name = format!("scans-{i:04}");
            policy.spec.table = format!("Scans{i}");
            crate::render::render(&policy).unwrap()
        })
        .collect()
}

#[test]
fn one_policy_takes_a_vault_a_plan_and_one_selection_in_its_region_and_a_vault_per_copy_region() {
    let usage = usage(&fleet(1), &BTreeMap::new());
    let by_region: Vec<(&str, usize, usize, usize)> =
        usage.iter().map(|u| (u.region.as_str(), u.backup_vaults, u.backup_plans, u.most_selections_per_plan)).collect();
    assert_eq!(by_region, [("us-east-1", 1, 1, 1), ("us-west-2", 1, 0, 0)]);
}

#[test]
fn the_301st_policy_of_a_region_exceeds_the_vault_and_plan_quotas_and_is_named() {
    let stacks = fleet(301);
    let found = exceeded(&stacks, &Limits::default(), &BTreeMap::new());
    let summary: Vec<(&str, &str, usize, usize, Option<&str>)> =
        found.iter().map(|e| (e.region.as_str(), e.quota.key, e.needed, e.limit, e.first_over.as_deref())).collect();
    assert_eq!(
        summary,
        [
            ("us-east-1", "backup-vaults", 301, 300, Some("scans-0301")),
            ("us-east-1", "backup-plans", 301, 300, Some("scans-0301")),
            ("us-west-2", "backup-vaults", 301, 300, Some("scans-0301")),
        ]
    );
    assert_eq!(
        found[1].to_string(),
        "the policies would need 301 backup plans in us-east-1, beyond AWS Backup's quota \"Backup plans per Region per account\" of 300"
    );
    assert!(exceeded(&fleet(300), &Limits::default(), &BTreeMap::new()).is_empty(), "300 fit");
    let raised = Limits::with_overrides(["backup-vaults=400", "backup-plans = 301"]).unwrap();
    assert!(exceeded(&stacks, &raised, &BTreeMap::new()).is_empty(), "raised quotas");
    let lowered = Limits::with_overrides(["backup-plans=10"]).unwrap();
    let found = exceeded(&stacks, &lowered, &BTreeMap::new());
    assert_eq!(found.len(), 3);
    assert_eq!((found[1].needed, found[1].limit, found[1].first_over.as_deref()), (301, 10, Some("scans-0011")));
}

#[test]
fn overrides_name_a_quota_drctl_counts_and_an_adjustable_one() {
    assert_eq!(Limits::default().of("us-east-1", &BACKUP_VAULTS), 300);
    assert_eq!(Limits::default().of("us-east-1", &SELECTIONS_PER_PLAN), 100);
    assert_eq!(Limits::with_overrides(["backup-vaults=500"]).unwrap().of("us-east-1", &BACKUP_VAULTS), 500);
    assert_eq!(Limits::with_overrides(["selections-per-plan=100"]).unwrap().of("us-east-1", &SELECTIONS_PER_PLAN), 100);
    assert!(matches!(Limits::with_overrides(["selections-per-plan=200"]), Err(LimitError::NotAdjustable { default: 100, .. })));
    assert!(matches!(Limits::with_overrides(["vaults=5"]), Err(LimitError::Unknown { .. })));
    for bad in ["backup-vaults", "backup-vaults=many", "backup-vaults=-1", "=3"] {
        assert!(Limits::with_overrides([bad]).is_err(), "{bad}");
    }
}

/// The account's applied value (read from Service Quotas) is the limit in
/// its Region; a value the operator gave caps it (headroom), never raises it
/// past what AWS would accept.
#[test]
fn an_applied_quota_counts_in_its_region_and_a_given_one_only_lowers_it() {
    let mut limits = Limits::default();
    limits.set_applied("us-east-1", &BACKUP_VAULTS, 500);
    assert_eq!((limits.of("us-east-1", &BACKUP_VAULTS), limits.of("us-west-2", &BACKUP_VAULTS)), (500, 300));
    assert_eq!(limits.of("us-east-1", &BACKUP_PLANS), 300, "one quota applied, the other at AWS's default");
    let mut given = Limits::with_overrides(["backup-vaults=400", "backup-plans=350"]).unwrap();
    given.set_applied("us-east-1", &BACKUP_VAULTS, 500);
    given.set_applied("us-east-1", &BACKUP_PLANS, 320);
    assert_eq!(given.of("us-east-1", &BACKUP_VAULTS), 400, "headroom kept below the applied 500");
    assert_eq!(given.of("us-east-1", &BACKUP_PLANS), 320, "AWS refuses the 321st, whatever was given");
    assert_eq!(given.of("us-west-2", &BACKUP_PLANS), 350, "nothing applied there: the given value");
    let stacks = fleet(450);
    let mut applied = Limits::default();
    applied.set_applied("us-east-1", &BACKUP_VAULTS, 500);
    applied.set_applied("us-east-1", &BACKUP_PLANS, 500);
    let found = exceeded(&stacks, &applied, &BTreeMap::new());
    assert_eq!(
        found.iter().map(|e| (e.region.as_str(), e.quota.key, e.limit)).collect::<Vec<_>>(),
        [("us-west-2", "backup-vaults", 300)],
        "only the Region without raised quotas is beyond them"
    );
}

#[test]
fn a_stack_without_backup_resources_counts_nothing() {
    let bootstrap = crate::render::bootstraps([&scans()], None);
    let stacks: Vec<Stack> = bootstrap.iter().map(|b| crate::render::render_bootstrap(b).unwrap()).collect();
    assert!(usage(&stacks, &BTreeMap::new()).iter().all(|u| u.backup_vaults + u.backup_plans + u.most_selections_per_plan == 0));
}

#[test]
fn vaults_and_plans_of_others_take_from_the_same_quotas() {
    let others = BTreeMap::from([(
        "us-east-1".to_string(),
        Usage { region: "us-east-1".into(), backup_vaults: 298, backup_plans: 10, most_selections_per_plan: 0 },
    )]);
    let stacks = fleet(3);
    let found = exceeded(&stacks, &Limits::default(), &others);
    let summary: Vec<(&str, &str, usize, Option<&str>)> =
        found.iter().map(|e| (e.region.as_str(), e.quota.key, e.needed, e.first_over.as_deref())).collect();
    assert_eq!(summary, [("us-east-1", "backup-vaults", 301, Some("scans-0003"))]);
    let used: Vec<(String, usize, usize)> =
        usage(&stacks, &others).into_iter().map(|u| (u.region, u.backup_vaults, u.backup_plans)).collect();
    assert_eq!(used, [("us-east-1".to_string(), 301, 13), ("us-west-2".to_string(), 3, 0)]);
}

#[test]
fn stacks_of_another_account_count_against_that_accounts_quotas() {
    let accounts =
        "apiVersion: drctl/v1\nkind: Accounts\naccounts:\n  - id: \"222222222222\"\n    role: arn:aws:iam::222222222222:role/drctl\n";
    let own = include_str!("../../../desired/spatial-scans.yaml");
    let elsewhere = own
        .replace("name: spatial-scans", "name: elsewhere")
        .replace("  region: us-east-1\n", "  region: us-east-1\n  account: \"222222222222\"\n");
    let inputs = [("desired/_accounts.yaml", accounts), ("desired/spatial-scans.yaml", own), ("desired/elsewhere.yaml", &elsewhere)];
    let checked = crate::policy::check(
        inputs.iter().map(|(file, text)| crate::policy::Input { file: file.to_string(), content: Ok(text.as_bytes().to_vec()) }),
    );
    assert!(!checked.has_errors(), "{:#?}", checked.findings);
    let projection = Projection::of(&checked);
    assert_eq!(projection.regions(), ["us-east-1", "us-west-2"], "applied quotas are read in drctl's own account only");
    let usage = usage(&projection.stacks, &BTreeMap::new());
    let places: Vec<(&str, usize)> = usage.iter().map(|u| (u.region.as_str(), u.backup_vaults)).collect();
    assert_eq!(places, [("222222222222/us-east-1", 1), ("222222222222/us-west-2", 1), ("us-east-1", 1), ("us-west-2", 1)]);
}
