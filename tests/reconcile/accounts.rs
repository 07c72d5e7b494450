//! Policies in other AWS accounts (`spec.account`, `desired/_accounts.yaml`):
//! drctl's own credentials are the first hop, each account's role is
//! assumed from them, and every stack, backup, restore and scratch table of
//! a policy is in its account. An account whose role cannot be assumed
//! fails its own policies only.
//!
//! The emulator answers AssumeRole as AWS does in these accounts: "To
//! assume a role, ... the role's trust policy must specify your account or
//! ARN as a principal" (IAM User Guide, "Troubleshooting IAM roles").

use super::*;

use drctl::reconcile::Status;

/// `minimal_policy` in `account`.
fn policy_in(name: &str, table: &str, account: &str) -> String {
    support::minimal_policy(name, table, &["schema: match-source", "sample: { items: 10 }"])
        .replace("  region: us-east-1\n", &format!("  region: us-east-1\n  account: \"{account}\"\n"))
}

fn accounts_file(accounts: &[&TestAccount]) -> String {
    let listed: String =
        accounts.iter().map(|a| format!("  - id: \"{id}\"\n    role: arn:aws:iam::{id}:role/drctl\n", id = a.id)).collect();
    format!("apiVersion: drctl/v1\nkind: Accounts\naccounts:\n{listed}")
}

async fn stack_names(account: &TestAccount) -> Vec<String> {
    let listed = account.clients().cloudformation.describe_stacks().send().await.unwrap();
    let mut names: Vec<String> = listed.stacks().iter().filter_map(|s| s.stack_name()).map(str::to_string).collect();
    names.sort();
    names
}

#[tokio::test]
async fn policies_in_two_accounts_are_applied_and_proven_there_and_a_missing_role_fails_only_its_account() {
    // drctl's own account, two workload accounts whose role `drctl` trusts
    // it, and a third declared with a role nobody created.
    let own = support::account().await;
    let (first, second, missing) = (support::account().await, support::account().await, support::account().await);
    for workload in [&first, &second] {
        workload.role_trusting("drctl", &own.id).await;
    }
    for account in [&first, &second, &missing] {
        account.require_role_trust();
    }
    let files = [
        ("desired/_accounts.yaml", accounts_file(&[&first, &second, &missing])),
        ("desired/orders.yaml", policy_in("orders", "Orders", &first.id)),
        ("desired/renders.yaml", policy_in("renders", "Renders", &second.id)),
        ("desired/lost.yaml", policy_in("lost", "Lost", &missing.id)),
    ];
    let desired = policy::check(files.iter().map(|(file, text)| Input { file: file.to_string(), content: Ok(text.as_bytes().to_vec()) }));
    assert!(!desired.has_errors(), "{:#?}", desired.findings);
    for (account, table) in [(&first, "Orders"), (&second, "Renders")] {
        support::create_table(&account.clients().dynamodb, table, ITEMS).await;
        bootstrap(account, desired.policies.iter().map(|p| &p.policy)).await;
    }
    let (_dir, store) = state_dir();
    let (orders_writes, stop_orders) = writer(&first, &["Orders"]);
    let (renders_writes, stop_renders) = writer(&second, &["Renders"]);

    let plan_options = plan::Options { commit: Some("c0ffee".into()), extra_regions: Vec::new(), concurrency: 2, preview: false };
    let plan = plan::plan(&own.aws, &desired, &plan_options).await;
    let lost_role = format!("arn:aws:iam::{}:role/drctl", missing.id);
    assert_eq!(plan.unreached.len(), 1, "{:#?}", plan.unreached);
    assert!(plan.unreached[0].contains(&format!("cannot assume {lost_role} in account {}", missing.id)), "{:#?}", plan.unreached);
    assert!(plan.unreached[0].contains("AccessDenied"), "AWS's reason is kept: {:#?}", plan.unreached);
    let text = plan::format::text(&plan, false);
    assert!(text.contains("accounts not reached") && text.contains(&lost_role), "{text}");
    assert!(plan.has_errors(), "a dry run exits 1 while an account cannot be reached");
    let account_of = |name: &str| plan.policies.iter().find(|p| p.name == name).unwrap().account.clone();
    assert_eq!(account_of("orders"), Some(first.id.clone()));
    let report = reconcile::reconcile(&own.aws, &store, &desired, &plan, &options("run-1"), &Progress::Quiet, &Stop::default()).await;
    stop_orders.send(true).unwrap();
    stop_renders.send(true).unwrap();
    assert!(orders_writes.await.unwrap() > 5 && renders_writes.await.unwrap() > 5, "the tables took writes during the drills");

    let outcome = |name: &str| report.policies.iter().find(|p| p.policy == name).unwrap();
    assert_eq!(outcome("orders").status, Status::Reconciled, "{report:#?}");
    assert_eq!(outcome("renders").status, Status::Reconciled, "{report:#?}");
    let lost = outcome("lost");
    assert!(!matches!(lost.status, Status::Reconciled | Status::Proven), "{lost:#?}");
    let lost_text = format!("{lost:?}");
    assert!(lost_text.contains(&format!("cannot assume {lost_role}")), "{lost:#?}");

    // Each policy's stack, recovery points and restore are in its account,
    // none in drctl's own; no scratch table is left anywhere.
    assert_eq!(stack_names(&first).await, ["drctl-bootstrap", "drctl-orders", "test-role-drctl"]);
    assert_eq!(stack_names(&second).await, ["drctl-bootstrap", "drctl-renders", "test-role-drctl"]);
    assert_eq!(stack_names(&own).await, Vec::<String>::new());
    for (account, vault, table) in [(&first, "drctl-orders", "Orders"), (&second, "drctl-renders", "Renders")] {
        let points = account.clients().backup.list_recovery_points_by_backup_vault().backup_vault_name(vault).send().await.unwrap();
        assert!(
            points.recovery_points().iter().any(|p| p.resource_arn() == Some(account.table_arn(support::REGION, table).as_str())),
            "{points:?}"
        );
        assert_eq!(restore_jobs(account, support::REGION).await.len(), 1);
        assert_eq!(scratch_tables(account).await, Vec::<String>::new());
    }
    assert!(restore_jobs(&own, support::REGION).await.is_empty());

    // The records are in drctl's own state store; the proven policies are
    // settled, and the next run asks their accounts nothing but the plan.
    let states = store.list().await.unwrap();
    assert!(states.iter().any(|s| s.policy == "orders" && s.reconciled.is_some()), "{states:#?}");
    let again = plan::plan(&own.aws, &desired, &plan_options).await;
    assert!(!again.policies.iter().filter(|p| p.name != "lost").any(|p| p.has_changes()), "{again:#?}");

    // A scratch table a killed drill left in a workload account: gc finds
    // it there, with that account's credentials, and names the account.
    let leftover = "drctl-drill-orders-0a0a0a0a";
    let dynamodb = first.clients().dynamodb;
    let arn = support::create_table(&dynamodb, leftover, 2).await;
    let tags = drctl::drill::scratch::scratch_tags("orders", "0a0a0a0a00000000");
    let tags: Vec<_> = tags.iter().map(|(k, v)| aws_sdk_dynamodb::types::Tag::builder().key(k).value(v).build().unwrap()).collect();
    dynamodb.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.unwrap();
    let gc_options = drctl::gc::Options::default();
    let report = drctl::gc::collect(&own.aws, &store, &desired, &[], drctl::gc::Mode::Delete, &gc_options).await.unwrap();
    let found = report.found.iter().find(|f| f.name == leftover).unwrap_or_else(|| panic!("{report:#?}"));
    assert_eq!((found.outcome, found.account.as_deref()), (drctl::gc::Outcome::Deleted, Some(first.id.as_str())), "{found:#?}");
    assert_eq!(scratch_tables(&first).await, Vec::<String>::new());
    assert!(report.errors.iter().any(|e| e.contains(&lost_role)), "the unreachable account is reported: {report:#?}");
}

/// `minimal_policy` in `account`, copying to `backup`'s central vault in
/// the DR region and drilled there (`<backup>/<region>`) and at home.
fn copying_to(name: &str, table: &str, account: &str, backup: &str) -> String {
    policy_in(name, table, account)
        .replace(
            "    retention: 35d\n",
            &format!(
                "    retention: 35d\n    copies:\n      - {{ region: {}, account: \"{backup}\", retention: 35d }}\n",
                support::DR_REGION
            ),
        )
        .replace("    regions: [us-east-1]\n", &format!("    regions: [us-east-1, \"{backup}/{}\"]\n", support::DR_REGION))
}

/// AWS Backup copies into another account's vault only with cross-account
/// backup on for the organization and the destination vault's access
/// policy allowing `backup:CopyIntoBackupVault` to the source account
/// ("Creating backup copies across AWS accounts", AWS Backup Developer
/// Guide); the emulator enforces both.
#[tokio::test]
async fn a_copy_in_the_backup_account_is_restored_and_proven_there_and_an_account_its_vault_does_not_admit_fails_with_the_reason() {
    let own = support::account().await;
    let (workload, stranger, backup) = (support::account().await, support::account().await, support::account().await);
    for account in [&workload, &stranger, &backup] {
        account.role_trusting("drctl", &own.id).await;
        account.require_role_trust();
    }
    let files = [
        ("desired/_accounts.yaml", accounts_file(&[&workload, &stranger, &backup])),
        ("desired/orders.yaml", copying_to("orders", "Orders", &workload.id, &backup.id)),
        ("desired/renders.yaml", copying_to("renders", "Renders", &stranger.id, &backup.id)),
    ];
    let desired = policy::check(files.iter().map(|(file, text)| Input { file: file.to_string(), content: Ok(text.as_bytes().to_vec()) }));
    assert!(!desired.has_errors(), "{:#?}", desired.findings);
    for (account, table) in [(&workload, "Orders"), (&stranger, "Renders")] {
        support::create_table(&account.clients().dynamodb, table, ITEMS).await;
        support::enable_advanced_backup(&account.clients().backup).await;
        bootstrap(account, desired.policies.iter().map(|p| &p.policy)).await;
    }
    backup.clients().backup.update_global_settings().global_settings("isCrossAccountBackupEnabled", "true").send().await.unwrap();

    // The backup account's administrator bootstraps its central vault from
    // a revision where only `orders` copied there: its access policy admits
    // the workload account, not the stranger.
    assert_eq!(backup.aws.caller_account().await.unwrap(), backup.id);
    let only_orders: Vec<_> = desired.policies.iter().map(|p| &p.policy).filter(|p| p.metadata.name == "orders").collect();
    let centrals = drctl::render::central::centrals(only_orders, &backup.id);
    assert_eq!(centrals.len(), 1);
    let outcome = drctl::apply::bootstrap_central(&backup.aws, &centrals[0], &Progress::Quiet).await;
    assert!(!outcome.as_ref().unwrap().is_failure(), "{outcome:?}");

    let (writes, stop) = writer(&workload, &["Orders"]);
    let report = run(&own, &state_dir().1, &desired, &options("run-1")).await;
    stop.send(true).unwrap();
    assert!(writes.await.unwrap() > 5, "the table took writes during the drills");

    let outcome = |name: &str| report.policies.iter().find(|p| p.policy == name).unwrap();
    let orders = outcome("orders");
    assert_eq!(orders.status, Status::Reconciled, "{orders:#?}");
    let central =
        orders.drills.iter().find(|d| d.region == format!("{}/{}", backup.id, support::DR_REGION)).expect("a drill in the backup account");
    assert!(central.passed(), "{central:#?}");
    assert!(
        central.recovery_point.as_ref().unwrap().arn.contains(&format!(":{}:", backup.id)),
        "the point restored is the backup account's copy: {central:#?}"
    );
    assert_eq!(restore_jobs(&backup, support::DR_REGION).await.len(), 1, "restored in the backup account");
    assert!(restore_jobs(&workload, support::DR_REGION).await.is_empty());
    assert_eq!(scratch_tables(&backup).await, Vec::<String>::new());
    assert_eq!(scratch_tables(&workload).await, Vec::<String>::new());

    let renders = outcome("renders");
    assert!(!matches!(renders.status, Status::Reconciled | Status::Proven), "{renders:#?}");
    let refused = renders.drills.iter().find(|d| d.region.contains('/')).expect("the backup account's drill");
    let text = format!("{refused:?}");
    assert!(text.contains("CopyIntoBackupVault") && text.contains(&stranger.id), "the reason names the refusal: {refused:#?}");
}
