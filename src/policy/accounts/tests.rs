use super::*;

const SCANS: &str = include_str!("../../../desired/spatial-scans.yaml");

fn accounts(body: &str) -> LoadedAccounts {
    load("desired/_accounts.yaml", format!("apiVersion: drctl/v1\nkind: Accounts\naccounts:\n{body}").as_bytes()).unwrap()
}

fn messages(loaded: &LoadedAccounts) -> Vec<String> {
    check_file(loaded).into_iter().map(|f| format!("{}:{} {}", f.position.line, f.position.column, f.message)).collect()
}

#[test]
fn a_well_formed_file_has_no_findings() {
    let loaded = accounts(concat!(
        "  - id: \"111111111111\"\n    name: ci\n",
        "  - id: \"222222222222\"\n    role: arn:aws:iam::222222222222:role/drctl\n    externalId: drctl-prod\n",
        "  - id: \"012345678901\"\n    role: arn:aws:iam::012345678901:role/platform/drctl-backup\n",
    ));
    assert_eq!(messages(&loaded), Vec::<String>::new());
    assert_eq!(loaded.get("012345678901").and_then(|a| a.role.as_deref()), Some("arn:aws:iam::012345678901:role/platform/drctl-backup"));
}

#[test]
fn each_mistake_is_reported_at_its_value() {
    let loaded = accounts(concat!(
        "  - id: \"12345\"\n",
        "  - id: \"222222222222\"\n    role: arn:aws:iam::333333333333:role/drctl\n",
        "  - id: \"222222222222\"\n    role: arn:aws:s3:::bucket\n",
        "  - id: \"444444444444\"\n    externalId: x\n",
    ));
    let found = messages(&loaded);
    assert!(found.contains(&"4:9 `12345` is not an AWS account id".to_string()), "{found:?}");
    assert!(found.contains(&"6:11 the role is in account 333333333333, not in account 222222222222".to_string()), "{found:?}");
    assert!(found.contains(&"7:9 account 222222222222 is declared twice".to_string()), "{found:?}");
    assert!(found.contains(&"8:11 `arn:aws:s3:::bucket` is not an IAM role ARN".to_string()), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("10:17 the external id is not one AWS accepts")), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("10:17 an external id without a role")), "{found:?}");
    assert!(found.iter().any(|f| f.contains("more than one account has no role")), "{found:?}");
}

#[test]
fn an_unquoted_id_keeps_its_digits() {
    let loaded = load("desired/_accounts.yaml", b"apiVersion: drctl/v1\nkind: Accounts\naccounts:\n  - id: 012345678901\n").unwrap();
    assert_eq!(loaded.accounts.accounts[0].id, "012345678901");
}

#[test]
fn a_policy_must_name_a_declared_account() {
    let policy = |account: &str| {
        let text = SCANS.replace("  region: us-east-1\n", &format!("  region: us-east-1\n  account: \"{account}\"\n"));
        crate::policy::load("desired/spatial-scans.yaml", text.as_bytes()).unwrap()
    };
    let declared = accounts("  - id: \"222222222222\"\n    role: arn:aws:iam::222222222222:role/drctl\n");
    assert!(check_policy(Ok(Some(&declared)), &policy("222222222222")).is_empty());
    let missing = check_policy(Ok(Some(&declared)), &policy("333333333333")).remove(0);
    assert_eq!(missing.message, "account 333333333333 is not declared in desired/_accounts.yaml");
    assert!(missing.position.line > 1, "{missing}");
    assert!(!check_policy(Ok(None), &policy("222222222222")).is_empty(), "no accounts file declares nothing");
    assert!(check_policy(Err("desired/_accounts.yaml"), &policy("222222222222"))[0].message.contains("cannot be read"));
    let without = crate::policy::load("desired/spatial-scans.yaml", SCANS.as_bytes()).unwrap();
    assert!(check_policy(Err("desired/_accounts.yaml"), &without).is_empty(), "a policy in drctl's own account needs no file");
}

#[test]
fn role_arns_are_parsed_strictly() {
    assert_eq!(role_account("arn:aws:iam::123456789012:role/drctl"), Some("123456789012"));
    assert_eq!(role_account("arn:aws-us-gov:iam::123456789012:role/a/b/drctl"), Some("123456789012"));
    for bad in
        ["arn:aws:iam::12345678901:role/x", "arn:aws:iam::123456789012:user/x", "arn:aws:iam:us-east-1:123456789012:role/x", "role/x", ""]
    {
        assert_eq!(role_account(bad), None, "{bad}");
    }
}

#[test]
fn a_dry_run_reaches_an_account_by_its_plan_role() {
    let loaded = accounts(concat!(
        "  - id: \"222222222222\"\n    role: arn:aws:iam::222222222222:role/drctl\n",
        "    planRole: arn:aws:iam::222222222222:role/drctl-plan\n",
        "  - id: \"333333333333\"\n    role: arn:aws:iam::333333333333:role/drctl\n",
        "    planRole: arn:aws:iam::444444444444:role/drctl-plan\n",
    ));
    let found = messages(&loaded);
    assert_eq!(found, ["9:15 the role is in account 444444444444, not in account 333333333333"]);
    let with_plan_role = loaded.get("222222222222").unwrap();
    assert_eq!(with_plan_role.for_plan().role.as_deref(), Some("arn:aws:iam::222222222222:role/drctl-plan"));
    let mut without = with_plan_role.clone();
    without.plan_role = None;
    assert_eq!(without.for_plan().role, without.role, "without a plan role, the role");
}
