//! Rendered templates: golden files, determinism and the safety properties
//! every stack must keep. `UPDATE_GOLDEN=1 cargo test --test render`
//! rewrites the golden files after an intended change; review the diff.

use std::path::{Path, PathBuf};

use drctl::policy::{self, TablePolicy};
use drctl::render::{self, Stack, StackRole};

fn example_policies() -> Vec<TablePolicy> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("desired").unwrap().map(|e| e.unwrap().path()).collect();
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
    for stack in all_stacks() {
        let types: Vec<&str> = stack.template["Resources"].as_mapping().unwrap().values().filter_map(|r| r["Type"].as_str()).collect();
        let has_topic = types.contains(&"AWS::SNS::Topic");
        assert_eq!(
            has_topic,
            stack.role == StackRole::Bootstrap && stack.template["Resources"].as_mapping().unwrap().len() > 1,
            "{}: {types:?}",
            stack.name
        );
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
