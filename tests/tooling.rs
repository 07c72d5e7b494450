//! Checks by the project's pinned Python tools (installed in .venv by
//! scripts/venv or scripts/test): cfn-lint over every rendered template, and
//! the JSON Schema against every example policy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use drctl::policy;
use drctl::render;

fn venv_tool(name: &str, env: &str) -> PathBuf {
    let path =
        std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin").join(name));
    assert!(path.exists(), "{} not found: run scripts/venv (or scripts/test), which installs the pinned version", path.display());
    path
}

fn example_policies() -> Vec<policy::TablePolicy> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("desired")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !drctl::policy::guardrails::is_guardrails_file(&p.to_string_lossy()))
        .collect();
    paths.sort();
    paths.iter().map(|p| policy::load(&p.display().to_string(), &std::fs::read(p).unwrap()).unwrap().policy).collect()
}

#[test]
fn cfn_lint_finds_nothing_in_any_rendered_template() {
    let cfn_lint = venv_tool("cfn-lint", "DRCTL_CFN_LINT");
    let dir = tempfile::tempdir().unwrap();
    let policies = example_policies();
    let mut stacks: Vec<render::Stack> = policies.iter().flat_map(|p| render::render(p).unwrap()).collect();
    for bootstrap in render::bootstraps(&policies, Some(("us-east-1", "drctl-state"))) {
        stacks.push(render::render_bootstrap(&bootstrap).unwrap());
    }
    // The scheduled Lambda, with drctl's rights for the examples.
    let scope = drctl::iam::Scope::of(&policies, Some("drctl-state")).unwrap();
    let lambda = render::deployment::lambda(&drctl::iam::apply_policy(&scope), "drctl-state", "us-east-1").unwrap();
    stacks.push(render::Stack {
        name: "drctl-lambda".into(),
        region: "us-east-1".into(),
        role: render::StackRole::Bootstrap,
        policy: None,
        members: Vec::new(),
        template: lambda,
    });
    // The same policies sharing their vaults and plans.
    let sharing: Vec<_> = policies
        .iter()
        .cloned()
        .map(|mut p| {
            p.spec.backup.vault.get_or_insert_with(Default::default).dedicated = Some(false);
            p
        })
        .collect();
    let shared = render::shared::render(&sharing).unwrap();
    assert!(shared.iter().any(|s| s.role == render::StackRole::Plan) && shared.iter().any(|s| s.role == render::StackRole::Vault));
    let shared_count = shared.len();
    stacks.extend(shared);
    // A backup account's central vaults, admitting two source accounts.
    let central = render::central::Central {
        account: "444444444444".into(),
        region: "us-west-2".into(),
        vaults: [("drctl-central".to_string(), ["111111111111".to_string(), "222222222222".to_string()].into())].into(),
        organization: None,
        lock: Some((30, 3650)),
    };
    stacks.push(render::central::render(&central).unwrap());
    // And one admitting an organization's accounts.
    let by_organization = render::central::Central { region: "us-east-1".into(), organization: Some("o-a1b2c3d4e5".into()), ..central };
    stacks.push(render::central::render(&by_organization).unwrap());
    // cfn-lint checks a template against the resource specification of the
    // region it is deployed to.
    let mut by_region: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for stack in &stacks {
        let path = dir.path().join(format!("{}.{}.json", stack.name, stack.region));
        std::fs::write(&path, stack.to_json()).unwrap();
        let yaml = dir.path().join(format!("{}.{}.yaml", stack.name, stack.region));
        std::fs::write(&yaml, stack.to_yaml()).unwrap();
        by_region.entry(stack.region.clone()).or_default().extend([path, yaml]);
    }
    assert_eq!(stacks.len(), 11 + shared_count);
    for (region, files) in by_region {
        let output = Command::new(&cfn_lint).arg("--regions").arg(&region).arg("--").args(&files).output().unwrap();
        assert!(
            output.status.success() && output.stdout.is_empty(),
            "cfn-lint found problems in {region}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn json_schema_accepts_every_example_and_refuses_unknown_fields() {
    let python = venv_tool("python", "DRCTL_PYTHON");
    let script = r#"
import json, sys, yaml, jsonschema
schema = json.load(open("schema/drctl-v1.json"))
validator = jsonschema.Draft202012Validator(schema)
bad = 0
for path in sys.argv[1:]:
    doc = yaml.safe_load(open(path))
    errors = list(validator.iter_errors(doc))
    for e in errors:
        print(path, list(e.path), e.message)
    bad += bool(errors)
broken = yaml.safe_load(open(sys.argv[1]))
broken["spec"]["backup"]["retension"] = "35d"
assert list(validator.iter_errors(broken)), "unknown field accepted"
sys.exit(1 if bad else 0)
"#;
    let mut files: Vec<PathBuf> = std::fs::read_dir("desired")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !drctl::policy::guardrails::is_guardrails_file(&p.to_string_lossy()))
        .collect();
    files.sort();
    let output = Command::new(python).arg("-c").arg(script).args(&files).output().unwrap();
    assert!(output.status.success(), "{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
}
