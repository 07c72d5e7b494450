//! The IAM policies `drctl iam-policy` prints, read as a security reviewer
//! reads them: no statement lets the holder create or change a role or a
//! policy (the way to administrator), roles are passed only under drctl's
//! paths to one service each, the pull-request identity can never run a
//! change set, and the conditions match what drctl really does against the
//! emulator (the change-set names it creates, the role its stacks run with).

mod support;

use drctl::iam::{self, Scope};
use drctl::policy::{self, Checked, Input};
use serde_json::Value;

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");
const RENDER_JOBS: &str = include_str!("../desired/render-jobs.yaml");

fn checked(files: &[(&str, &str)]) -> Checked {
    let checked = policy::check(files.iter().map(|(file, text)| Input { file: file.to_string(), content: Ok(text.as_bytes().to_vec()) }));
    assert!(checked.findings.is_empty(), "{:?}", checked.findings);
    checked
}

fn examples() -> Scope {
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS), ("desired/render-jobs.yaml", RENDER_JOBS)]);
    Scope::of(desired.valid().map(|p| &p.policy), Some("drctl-state")).unwrap()
}

/// IAM's wildcard match: `*` any run of characters, `?` one; case-blind
/// as IAM compares actions.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn list(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn allows(policy: &Value) -> Vec<&Value> {
    policy["Statement"].as_array().unwrap().iter().filter(|s| s["Effect"] == "Allow").collect()
}

/// The Allow statements whose actions cover `action` (wildcards included).
fn allowing<'a>(policy: &'a Value, action: &str) -> Vec<&'a Value> {
    allows(policy).into_iter().filter(|s| list(&s["Action"]).iter().any(|a| glob(a, action))).collect()
}

/// Actions that create or change identities or policies: any one of them
/// on a role of the holder's choosing is a path to administrator.
const ESCALATION: &[&str] = &[
    "iam:CreateRole",
    "iam:AttachRolePolicy",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:DeleteRolePermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:CreateUser",
    "iam:CreateAccessKey",
    "iam:AttachUserPolicy",
    "iam:PutUserPolicy",
    "iam:AddUserToGroup",
    "iam:UpdateLoginProfile",
    "sts:AssumeRole",
    "lambda:CreateFunction",
    "lambda:UpdateFunctionCode",
    "ec2:RunInstances",
    "cloudformation:CreateStack",
    "cloudformation:UpdateStack",
    "cloudformation:SetStackPolicy",
    "backup:PutBackupVaultAccessPolicy",
    "backup:DeleteBackupVault",
    "backup:DeleteRecoveryPoint",
    "backup:DeleteBackupPlan",
    "backup:UpdateBackupPlan",
    "backup:DeleteBackupSelection",
    "backup:PutBackupVaultLockConfiguration",
    "backup:DeleteBackupVaultNotifications",
    "backup:UpdateRegionSettings",
    "kms:CreateGrant",
    "kms:PutKeyPolicy",
    "dynamodb:PutResourcePolicy",
];

#[test]
fn no_statement_allows_creating_or_changing_a_role_a_policy_or_another_teams_backups() {
    let scope = examples();
    for (mode, policy) in [("apply", iam::apply_policy(&scope)), ("dry-run", iam::dry_run_policy(&scope))] {
        for action in ESCALATION {
            assert!(allowing(&policy, action).is_empty(), "{mode} allows {action}: {:#?}", allowing(&policy, action));
        }
        let iam_actions: Vec<String> =
            allows(&policy).iter().flat_map(|s| list(&s["Action"])).filter(|a| a.to_ascii_lowercase().starts_with("iam:")).collect();
        assert!(iam_actions.iter().all(|a| a == "iam:PassRole"), "{mode}: {iam_actions:?}");
        let wildcards: Vec<String> = allows(&policy).iter().flat_map(|s| list(&s["Action"])).filter(|a| a.contains('*')).collect();
        assert!(wildcards.is_empty(), "{mode} names actions by wildcard: {wildcards:?}");
    }
}

#[test]
fn roles_are_passed_only_under_drctls_paths_and_each_to_one_service() {
    let policy = iam::apply_policy(&examples());
    let passing = allowing(&policy, "iam:PassRole");
    assert_eq!(passing.len(), 2, "{passing:#?}");
    let mut seen = Vec::new();
    for statement in passing {
        let resources = list(&statement["Resource"]);
        let service = statement["Condition"]["StringEquals"]["iam:PassedToService"].as_str().unwrap_or_else(|| panic!("{statement:#}"));
        seen.push((resources.clone(), service.to_string()));
        // A role the holder could name (say `drctl-admin`, or one outside
        // drctl's paths) is not matched.
        for foreign in ["arn:aws:iam::111111111111:role/drctl-admin", "arn:aws:iam::111111111111:role/Admin"] {
            assert!(!resources.iter().any(|r| glob(r, foreign)), "{foreign} passable: {statement:#}");
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            (vec![format!("arn:aws:iam::*:role{}*", iam::BACKUP_ROLE_PATH)], "backup.amazonaws.com".to_string()),
            (vec![format!("arn:aws:iam::*:role{}*", iam::SERVICE_ROLE_PATH)], "cloudformation.amazonaws.com".to_string()),
        ]
    );
}

#[test]
fn the_pull_request_identity_can_preview_but_never_run_or_delete_a_stack() {
    let policy = iam::dry_run_policy(&examples());
    for action in
        ["cloudformation:ExecuteChangeSet", "cloudformation:DeleteStack", "dynamodb:UpdateContinuousBackups", "backup:StartRestoreJob"]
    {
        assert!(allowing(&policy, action).is_empty(), "{action}: {policy:#}");
    }
    for action in ["cloudformation:CreateChangeSet", "cloudformation:DeleteChangeSet"] {
        for statement in allowing(&policy, action) {
            let name =
                statement["Condition"]["StringLike"]["cloudformation:ChangeSetName"].as_str().unwrap_or_else(|| panic!("{statement:#}"));
            assert!(glob(name, "drctl-preview-0a1b-9f"), "{statement:#}");
            assert!(!glob(name, "drctl-apply-0a1b-9f"), "a pull request cannot prepare the change set a merge runs: {statement:#}");
        }
    }
}

#[test]
fn restores_copies_and_scratch_deletes_are_limited_to_what_carries_drctls_tags() {
    let policy = iam::apply_policy(&examples());
    for action in ["backup:StartRestoreJob", "backup:StartCopyJob"] {
        let statements = allowing(&policy, action);
        assert!(!statements.is_empty());
        for statement in statements {
            assert_eq!(statement["Condition"]["StringEquals"]["aws:ResourceTag/drctl:managed-by"], "drctl", "{action}: {statement:#}");
        }
    }
    for statement in allowing(&policy, "dynamodb:DeleteTable") {
        assert_eq!(statement["Condition"]["StringEquals"]["aws:ResourceTag/drctl:scratch"], "true", "{statement:#}");
        assert!(!list(&statement["Resource"]).iter().any(|r| glob(r, "arn:aws:dynamodb:us-east-1:111111111111:table/SpatialScans")));
    }
    // The canary is the only write to a source table, and only where a
    // policy's drill places one.
    let writes: Vec<String> = ["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"]
        .iter()
        .flat_map(|action| allowing(&policy, action))
        .flat_map(|s| list(&s["Resource"]))
        .filter(|r| !r.ends_with("table/drctl-state") && !r.ends_with("table/drctl-state-history"))
        .collect();
    let canary_tables = examples().canary_tables;
    assert!(writes.iter().all(|r| canary_tables.contains(r)), "{writes:?} vs {canary_tables:?}");
}

/// The point-in-time reference: exports only of the tables whose policy
/// uses it, and S3 rights (PutObjectAcl among them, which DynamoDB's export
/// needs) only under `drctl/` in drctl's own account's export bucket.
#[test]
fn exports_and_their_objects_are_limited_to_drctls_bucket_and_the_tables_that_use_them() {
    let scope = examples();
    let policy = iam::apply_policy(&scope);
    let exported: Vec<String> = allowing(&policy, "dynamodb:ExportTableToPointInTime").iter().flat_map(|s| list(&s["Resource"])).collect();
    assert_eq!(exported, ["arn:aws:dynamodb:us-east-1:*:table/SpatialScans"], "render-jobs compares with its live table");
    for action in ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket", "s3:AbortMultipartUpload"] {
        let statements = allowing(&policy, action);
        assert!(!statements.is_empty(), "{action}");
        for statement in statements {
            assert!(list(&statement["Resource"]).iter().all(|r| r.starts_with("arn:aws:s3:::drctl-exports-")), "{statement:#}");
            assert_eq!(statement["Condition"]["StringEquals"]["aws:ResourceAccount"], "${aws:PrincipalAccount}", "{statement:#}");
            if action == "s3:ListBucket" {
                // A bucket action: the listing is held to drctl's prefix.
                assert_eq!(statement["Condition"]["StringLike"]["s3:prefix"], "drctl/*", "{statement:#}");
                continue;
            }
            for object in ["arn:aws:s3:::drctl-exports-111111111111-us-east-1/other/key", "arn:aws:s3:::someone-elses-bucket/drctl/x"] {
                assert!(!list(&statement["Resource"]).iter().any(|r| glob(r, object)), "{action} reaches {object}: {statement:#}");
            }
        }
    }
    assert!(allowing(&policy, "s3:PutBucketAcl").is_empty() && allowing(&policy, "s3:PutBucketPolicy").is_empty());
    let without: Vec<&drctl::policy::LoadedPolicy> = Vec::new();
    let nothing = iam::apply_policy(&Scope::of(without.iter().map(|p| &p.policy), None).unwrap());
    assert!(allowing(&nothing, "s3:GetObject").is_empty(), "no policy uses the reference: no S3 right");
}

#[test]
fn every_arn_is_written_in_the_partition_of_the_policies_regions() {
    let china = SCANS.replace("us-east-1", "cn-north-1").replace("us-west-2", "cn-northwest-1");
    let desired = checked(&[("desired/spatial-scans.yaml", &china)]);
    let scope = Scope::of(desired.valid().map(|p| &p.policy), None).unwrap();
    for policy in [iam::apply_policy(&scope), iam::dry_run_policy(&scope)] {
        let resources: Vec<String> = allows(&policy).iter().flat_map(|s| list(&s["Resource"])).filter(|r| r != "*").collect();
        assert!(!resources.is_empty());
        assert!(resources.iter().all(|r| r.starts_with("arn:aws-cn:")), "{resources:#?}");
    }

    let both = checked(&[("desired/spatial-scans.yaml", &china), ("desired/render-jobs.yaml", RENDER_JOBS)]);
    let error = Scope::of(both.valid().map(|p| &p.policy), None).unwrap_err();
    assert!(error.to_string().contains("aws, aws-cn"), "{error}");
}

/// The conditions hold for what drctl does: its apply change sets match
/// the execute condition, its stacks run with a role the pass condition
/// names, its previews match only the preview condition.
#[tokio::test]
async fn the_conditions_match_the_change_sets_and_roles_drctl_really_uses() {
    let account = support::account().await;
    support::create_table(&account.region(support::REGION).dynamodb, "SpatialScans", 3).await;
    let desired = checked(&[("desired/spatial-scans.yaml", SCANS)]);
    support::bootstrap(&account, desired.policies.iter().map(|p| &p.policy)).await;
    let scope = Scope::of(desired.valid().map(|p| &p.policy), None).unwrap();
    let (apply_policy, dry_run_policy) = (iam::apply_policy(&scope), iam::dry_run_policy(&scope));
    let condition = |policy: &Value, action: &str, key: &str, operator: &str| -> String {
        let statements = allowing(policy, action);
        statements
            .iter()
            .find_map(|s| s["Condition"][operator][key].as_str())
            .unwrap_or_else(|| panic!("{action}: {statements:#?}"))
            .to_string()
    };

    let options = drctl::plan::Options { commit: None, extra_regions: Vec::new(), concurrency: 2, preview: false };
    let plan = drctl::plan::plan(&account.aws, &desired, &options).await;
    let report =
        drctl::apply::apply(&account.aws, &desired, &plan, &drctl::apply::Options::default(), &drctl::apply::Progress::Quiet).await;
    assert!(!report.failed(), "{report:#?}");

    let execute = condition(&apply_policy, "cloudformation:ExecuteChangeSet", "cloudformation:ChangeSetName", "StringLike");
    let create_role = condition(&apply_policy, "cloudformation:CreateChangeSet", "cloudformation:RoleArn", "ArnLike");
    let passable: Vec<String> = allowing(&apply_policy, "iam:PassRole").iter().flat_map(|s| list(&s["Resource"])).collect();
    let mut checked_stacks = 0;
    for region in [support::REGION, support::DR_REGION] {
        let cfn = account.region(region).cloudformation;
        for stack in drctl::plan::deployed::list(&account.aws, region).await.unwrap().into_values() {
            if stack.name == drctl::render::BOOTSTRAP_STACK {
                continue;
            }
            let described = cfn.describe_stacks().stack_name(&stack.name).send().await.unwrap();
            let role =
                described.stacks()[0].role_arn().unwrap_or_else(|| panic!("{} runs without the service role", stack.name)).to_string();
            assert!(glob(&create_role, &role) && passable.iter().any(|p| glob(p, &role)), "{role} vs {create_role} / {passable:?}");
            let change_sets = cfn.list_change_sets().stack_name(&stack.name).send().await.unwrap();
            let executed: Vec<&str> = change_sets.summaries().iter().filter_map(|c| c.change_set_name()).collect();
            assert!(!executed.is_empty() && executed.iter().all(|name| glob(&execute, name)), "{executed:?} vs {execute}");
            checked_stacks += 1;
        }
    }
    assert_eq!(checked_stacks, 2, "the policy stack and its DR vault stack");

    // The names drctl gives its previews: the dry-run policy may create
    // them, the apply policy never executes them.
    let create_preview = condition(&dry_run_policy, "cloudformation:CreateChangeSet", "cloudformation:ChangeSetName", "StringLike");
    let preview = drctl::plan::changeset::run_name(drctl::plan::changeset::PREVIEW_PREFIX, "0123456789abcdef");
    let apply = drctl::plan::changeset::run_name(drctl::plan::changeset::APPLY_PREFIX, "0123456789abcdef");
    assert!(glob(&create_preview, &preview) && !glob(&execute, &preview), "{preview}: {create_preview} / {execute}");
    assert!(!glob(&create_preview, &apply) && glob(&execute, &apply), "{apply}: {create_preview} / {execute}");
}

#[test]
fn the_glob_matches_as_iam_does() {
    assert!(glob("iam:*", "iam:CreateRole") && glob("IAM:createrole", "iam:CreateRole") && glob("drctl-?", "drctl-a"));
    assert!(!glob("role/drctl/backup/*", "role/drctl-backup") && !glob("drctl-apply-*", "drctl-preview-1"));
}

/// With accounts, each identity's policy covers its own policies: drctl's
/// own (the first hop) may assume the declared roles (the plan roles for a
/// dry run) and holds the state table; each role covers its account's
/// tables and nothing of the state store.
#[test]
fn each_account_role_covers_its_own_policies_and_the_first_hop_only_assumes_the_roles() {
    let accounts = concat!(
        "apiVersion: drctl/v1\nkind: Accounts\naccounts:\n",
        "  - id: \"222222222222\"\n    role: arn:aws:iam::222222222222:role/drctl\n",
        "    planRole: arn:aws:iam::222222222222:role/drctl-plan\n",
    );
    let elsewhere = RENDER_JOBS.replace("  region: us-west-2\n", "  region: us-west-2\n  account: \"222222222222\"\n");
    assert_ne!(elsewhere, RENDER_JOBS);
    let desired =
        checked(&[("desired/_accounts.yaml", accounts), ("desired/spatial-scans.yaml", SCANS), ("desired/render-jobs.yaml", &elsewhere)]);
    let names = |account: Option<&str>| -> Vec<String> {
        iam::policies_of(&desired, account).unwrap().iter().map(|p| p.metadata.name.clone()).collect()
    };
    assert_eq!(names(None), ["spatial-scans"]);
    assert_eq!(names(Some("222222222222")), ["render-jobs"]);
    assert!(iam::policies_of(&desired, Some("333333333333")).is_err(), "an undeclared account");

    let own = iam::with_assume_roles(
        iam::apply_policy(&Scope::of(iam::policies_of(&desired, None).unwrap(), Some("drctl-state")).unwrap()),
        &iam::assumed_roles(&desired, false),
    );
    let assume = allowing(&own, "sts:AssumeRole");
    assert_eq!(assume.len(), 1, "{own:#}");
    assert_eq!(list(&assume[0]["Resource"]), ["arn:aws:iam::222222222222:role/drctl"]);
    let plan = iam::with_assume_roles(
        iam::dry_run_policy(&Scope::of(iam::policies_of(&desired, None).unwrap(), None).unwrap()),
        &iam::assumed_roles(&desired, true),
    );
    assert_eq!(list(&allowing(&plan, "sts:AssumeRole")[0]["Resource"]), ["arn:aws:iam::222222222222:role/drctl-plan"]);

    // A backup account that holds no policy: its role still restores and
    // checks drills' scratch tables there.
    let with_backup = format!("{accounts}  - id: \"444444444444\"\n    role: arn:aws:iam::444444444444:role/drctl\n");
    let desired_backup = checked(&[("desired/_accounts.yaml", &with_backup), ("desired/spatial-scans.yaml", SCANS)]);
    let backup = iam::apply_policy(&Scope::of(iam::policies_of(&desired_backup, Some("444444444444")).unwrap(), None).unwrap());
    assert!(!allowing(&backup, "backup:StartRestoreJob").is_empty() && !allowing(&backup, "dynamodb:DeleteTable").is_empty(), "{backup:#}");
    assert!(!backup.to_string().contains("table/SpatialScans"), "{backup:#}");
    let role = iam::apply_policy(&Scope::of(iam::policies_of(&desired, Some("222222222222")).unwrap(), None).unwrap());
    let text = role.to_string();
    assert!(text.contains("table/RenderJobs") && !text.contains("table/SpatialScans"), "{role:#}");
    assert!(!text.contains("drctl-state") && allowing(&role, "sts:AssumeRole").is_empty(), "{role:#}");
}
