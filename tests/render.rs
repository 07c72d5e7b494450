//! Rendered templates: golden files, determinism and the safety properties
//! every stack must keep. `UPDATE_GOLDEN=1 cargo test --test render`
//! rewrites the golden files after an intended change; review the diff.

use std::path::{Path, PathBuf};

use drctl::policy::{self, TablePolicy};
use drctl::render::{self, Stack, StackRole};

fn example_policies() -> Vec<TablePolicy> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("desired")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !drctl::policy::guardrails::is_guardrails_file(&p.to_string_lossy()))
        .collect();
    paths.sort();
    paths.iter().map(|p| policy::load(&p.display().to_string(), &std::fs::read(p).unwrap()).unwrap().policy).collect()
}

fn all_stacks() -> Vec<Stack> {
    let policies = example_policies();
    let mut stacks: Vec<Stack> = policies.iter().flat_map(|p| render::render(p).unwrap()).collect();
    for bootstrap in render::bootstraps(&policies, Some(("us-east-1", "drctl-state"))) {
        stacks.push(render::render_bootstrap(&bootstrap).unwrap());
    }
    stacks
}

fn golden_path(stack: &Stack) -> PathBuf {
    Path::new("tests/golden").join(format!("{}.{}.yaml", stack.name, stack.region))
}

#[test]
fn rendered_templates_match_the_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatched = Vec::new();
    for stack in all_stacks() {
        let path = golden_path(&stack);
        let rendered = stack.to_yaml();
        if update {
            std::fs::write(&path, &rendered).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(rendered.as_str()) {
            mismatched.push(path.display().to_string());
        }
    }
    assert!(mismatched.is_empty(), "rendered templates differ from {mismatched:?}; if intended, rerun with UPDATE_GOLDEN=1 and review");
}

#[test]
fn rendering_is_deterministic_and_json_is_the_same_document() {
    let first = all_stacks();
    let second = all_stacks();
    assert_eq!(first, second);
    for stack in &first {
        let from_json: yaml_serde::Value = serde_json::from_str(&stack.to_json()).unwrap();
        assert_eq!(from_json, stack.template, "{}", stack.name);
    }
}

#[test]
fn each_policy_renders_a_primary_stack_and_one_dr_stack_per_copy_region() {
    for policy in example_policies() {
        let stacks = render::render(&policy).unwrap();
        let name = &policy.metadata.name;
        let primary: Vec<_> = stacks.iter().filter(|s| s.role == StackRole::Primary).collect();
        assert_eq!(primary.len(), 1);
        assert_eq!(primary[0].name, format!("drctl-{name}"));
        assert_eq!(primary[0].region, policy.spec.region);
        let dr: Vec<_> = stacks.iter().filter(|s| s.role == StackRole::DrCopy).map(|s| (s.name.clone(), s.region.clone())).collect();
        let expected: Vec<_> =
            policy.spec.backup.copies.iter().map(|c| (format!("drctl-{name}-dr-{}", c.region), c.region.clone())).collect();
        assert_eq!(dr, expected);
        assert_eq!(stacks.last().unwrap().role, StackRole::Primary, "DR vaults come first so copy destinations exist");
    }
}

#[test]
fn every_vault_is_retained_on_delete_and_on_replacement() {
    let mut vaults = 0;
    for stack in all_stacks() {
        let resources = stack.template["Resources"].as_mapping().unwrap();
        for (id, resource) in resources {
            if resource["Type"].as_str() == Some("AWS::Backup::BackupVault") {
                vaults += 1;
                assert_eq!(resource["DeletionPolicy"].as_str(), Some("Retain"), "{} {id:?}", stack.name);
                assert_eq!(resource["UpdateReplacePolicy"].as_str(), Some("Retain"), "{} {id:?}", stack.name);
            }
        }
    }
    assert_eq!(vaults, 5, "three primary vaults and two DR vaults");
}

#[test]
fn shared_topics_live_in_bootstrap_not_in_policy_stacks() {
    let mut bootstrap_topics = 0;
    for stack in all_stacks() {
        let types: Vec<&str> = stack.template["Resources"].as_mapping().unwrap().values().filter_map(|r| r["Type"].as_str()).collect();
        let topics = types.iter().filter(|t| **t == "AWS::SNS::Topic").count();
        if stack.role == StackRole::Bootstrap {
            bootstrap_topics += topics;
        } else {
            assert_eq!(topics, 0, "{}: {types:?}", stack.name);
        }
    }
    assert!(bootstrap_topics > 0, "the example policies name shared topics");
}

fn statements(role: &yaml_serde::Value) -> Vec<&yaml_serde::Value> {
    role["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_sequence().unwrap())
        .collect()
}

fn actions(statement: &yaml_serde::Value) -> Vec<&str> {
    statement["Action"].as_sequence().unwrap().iter().filter_map(|a| a.as_str()).collect()
}

/// drctl's identity holds no IAM write right: the roles a policy stack
/// needs are created by the bootstrap's CloudFormation service role, and
/// that role is confined so a template of someone else's cannot use it to
/// make an administrator: roles only under /drctl/backup/, only with the
/// bootstrap's boundary, only AWS Backup's managed policies attached, no
/// inline policies, trust or boundary changes.
#[test]
fn the_service_role_can_make_only_bounded_backup_roles() {
    for stack in all_stacks().into_iter().filter(|s| s.role == StackRole::Bootstrap) {
        let resources = &stack.template["Resources"];
        let role = &resources["CloudFormationRole"];
        assert_eq!(role["Properties"]["Path"].as_str(), Some("/drctl/cloudformation/"));
        let trusted = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"];
        assert_eq!(trusted.as_str(), Some("cloudformation.amazonaws.com"));
        let allowed: Vec<_> = statements(role).into_iter().filter(|s| s["Effect"].as_str() == Some("Allow")).collect();
        let with = |action: &str| allowed.iter().filter(|s| actions(s).contains(&action)).copied().collect::<Vec<_>>();
        let create = with("iam:CreateRole");
        assert_eq!(create.len(), 1, "{}", stack.name);
        assert_eq!(create[0]["Condition"]["StringEquals"]["iam:PermissionsBoundary"]["Ref"].as_str(), Some("BackupRoleBoundary"));
        let attach = with("iam:AttachRolePolicy");
        assert_eq!(attach.len(), 1);
        let policies = attach[0]["Condition"]["ArnEquals"]["iam:PolicyARN"].as_sequence().unwrap();
        assert_eq!(policies.len(), 2);
        assert!(
            policies.iter().all(|p| p["Fn::Sub"].as_str().unwrap().contains(":iam::aws:policy/service-role/AWSBackupServiceRolePolicyFor"))
        );
        for statement in with("iam:CreateRole").iter().chain(&attach).chain(&with("iam:PassRole")) {
            assert!(statement["Resource"]["Fn::Sub"].as_str().unwrap().ends_with(":role/drctl/backup/*"), "{statement:?}");
        }
        assert!(with("iam:PassRole")[0]["Condition"]["StringEquals"]["iam:PassedToService"].as_str() == Some("backup.amazonaws.com"));
        for never in [
            "iam:PutRolePolicy",
            "iam:PutRolePermissionsBoundary",
            "iam:DeleteRolePermissionsBoundary",
            "iam:UpdateAssumeRolePolicy",
            "iam:CreatePolicyVersion",
        ] {
            assert!(with(never).is_empty(), "{never} allowed in {}", stack.name);
            assert!(
                allowed.iter().all(|s| !actions(s).iter().any(|a| a.ends_with('*') && never.starts_with(a.trim_end_matches('*')))),
                "{never}"
            );
        }
        let export = &stack.template["Outputs"]["BackupRoleBoundaryArn"]["Export"]["Name"];
        assert_eq!(export.as_str(), Some(render::BOUNDARY_EXPORT));
    }
    for stack in all_stacks().into_iter().filter(|s| s.role == StackRole::Primary) {
        let role = &stack.template["Resources"]["BackupRole"]["Properties"];
        assert_eq!(role["Path"].as_str(), Some("/drctl/backup/"), "{}", stack.name);
        assert_eq!(role["PermissionsBoundary"]["Fn::ImportValue"].as_str(), Some(render::BOUNDARY_EXPORT), "{}", stack.name);
        assert!(role.get("Policies").is_none(), "no inline policy: {}", stack.name);
    }
}

#[test]
fn policy_values_are_sub_variables_never_part_of_the_pattern() {
    let text =
        std::fs::read_to_string("desired/spatial-scans.yaml").unwrap().replace("table: SpatialScans", "table: \"Evil${AWS::AccountId}\"");
    // Bypasses validation on purpose: rendering alone must keep the value inert.
    let policy: TablePolicy = yaml_serde::from_str(&text).unwrap();
    let stacks = render::render(&policy).unwrap();
    let selection =
        &stacks.last().unwrap().template["Resources"]["BackupSelection"]["Properties"]["BackupSelection"]["Resources"][0]["Fn::Sub"];
    assert_eq!(selection[0].as_str(), Some("arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${Table}"));
    assert_eq!(selection[1]["Table"].as_str(), Some("Evil${AWS::AccountId}"));
}
