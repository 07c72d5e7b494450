//! drctl run as a principal that holds exactly the policy `drctl iam-policy`
//! prints, against an emulator that enforces IAM with resource ARNs and
//! conditions (emulator/README.md, "IAM enforcement"): the whole pipeline
//! succeeds with no call denied, and the same principal is denied what it
//! must never do. (The offline checks of the printed policies are in
//! tests/iam.rs.)

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::TestAccount;

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");

fn aws_cli() -> PathBuf {
    let path =
        std::env::var_os("DRCTL_AWS_CLI").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/aws"));
    assert!(path.exists(), "{} not found: run scripts/venv (or scripts/test), which installs the pinned AWS CLI", path.display());
    path
}

/// Runs the AWS CLI with `env` (credentials); its exit code and output.
fn aws(env: &[(&str, String)], args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(aws_cli())
        .args(args)
        .args(["--output", "json"])
        .env_remove("AWS_PROFILE")
        .env("AWS_DEFAULT_REGION", support::REGION)
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    (output.status.code(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

fn run_drctl(dir: &Path, env: &[(&str, String)], args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drctl"))
        .current_dir(dir)
        .args(args)
        .env_remove("AWS_PROFILE")
        .envs(env.iter().cloned())
        .output()
        .unwrap()
}

fn drctl(dir: &Path, env: &[(&str, String)], args: &[&str]) -> (Option<i32>, String) {
    let output = run_drctl(dir, env, args);
    (output.status.code(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

/// What `drctl args` prints on stdout (a policy document).
fn printed(dir: &Path, env: &[(&str, String)], args: &[&str]) -> String {
    let output = run_drctl(dir, env, args);
    assert!(output.status.success(), "drctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A role holding `policy` as its only (inline) policy, assumed: the
/// environment of a process running as it.
fn role_holding(account: &TestAccount, admin: &[(&'static str, String)], name: &str, policy: &str) -> Vec<(&'static str, String)> {
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":"sts:AssumeRole"}}]}}"#,
        account.id
    );
    let (code, text) = aws(admin, &["iam", "create-role", "--role-name", name, "--assume-role-policy-document", &trust]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) =
        aws(admin, &["iam", "put-role-policy", "--role-name", name, "--policy-name", "printed-by-drctl", "--policy-document", policy]);
    assert_eq!(code, Some(0), "{text}");
    let role = format!("arn:aws:iam::{}:role/{name}", account.id);
    let (code, text) = aws(admin, &["sts", "assume-role", "--role-arn", &role, "--role-session-name", "drctl-under-test"]);
    assert_eq!(code, Some(0), "{text}");
    let credentials: Value = serde_json::from_str(&text).unwrap();
    let credentials = &credentials["Credentials"];
    let mut env: Vec<(&'static str, String)> = admin
        .iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET") && !k.starts_with("AWS_SESSION"))
        .cloned()
        .collect();
    env.push(("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"].as_str().unwrap().to_string()));
    env.push(("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"].as_str().unwrap().to_string()));
    env.push(("AWS_SESSION_TOKEN", credentials["SessionToken"].as_str().unwrap().to_string()));
    env
}

#[tokio::test]
async fn drctl_holding_only_its_printed_policies_runs_the_pipeline_and_nothing_else() {
    let account = support::account().await;
    let clients = account.clients();
    support::create_table(&clients.dynamodb, "SpatialScans", 20).await;
    support::create_table(&clients.dynamodb, "OtherTeamTable", 3).await;
    support::enable_advanced_backup(&clients.backup).await;
    let admin = account.cli_env();
    let dir = tempfile::tempdir().unwrap();
    support::commit_files(
        dir.path(),
        &[("desired/spatial-scans.yaml", &SCANS.replace("regions: [us-east-1, us-west-2]", "regions: [us-east-1]"))],
    );
    // The bootstrap creates roles: an administrator's job, once per region.
    let (code, text) = drctl(dir.path(), &admin, &["bootstrap"]);
    assert_eq!(code, Some(0), "{text}");

    let plan_policy = printed(dir.path(), &admin, &["iam-policy", "--dry-run"]);
    let apply_policy = printed(dir.path(), &admin, &["iam-policy"]);
    let planner = role_holding(&account, &admin, "drctl-plan", &plan_policy);
    let applier = role_holding(&account, &admin, "drctl-apply", &apply_policy);
    account.enforce_iam(&format!("arn:aws:sts::{}:assumed-role/drctl-*", account.id));

    fn with_state<'a>(args: &[&'a str]) -> Vec<&'a str> {
        args.iter().copied().chain(["--state", "state.json"]).collect()
    }
    let (code, text) = drctl(dir.path(), &planner, &["reconcile", "--dry-run", "--detailed-exitcode"]);
    assert_eq!(code, Some(2), "the pull request's plan, as the plan role:\n{text}");
    let (code, text) = drctl(dir.path(), &applier, &with_state(&["reconcile"]));
    assert_eq!(code, Some(0), "reconcile as the apply role:\n{text}\ndenied: {:#?}", account.iam_denials());
    let (code, text) = drctl(dir.path(), &applier, &with_state(&["verify", "spatial-scans"]));
    assert_eq!(code, Some(0), "verify as the apply role:\n{text}\ndenied: {:#?}", account.iam_denials());
    let (code, text) = drctl(dir.path(), &applier, &with_state(&["gc"]));
    assert_eq!(code, Some(0), "gc as the apply role:\n{text}\ndenied: {:#?}", account.iam_denials());
    assert_eq!(account.iam_denials(), Vec::<Value>::new(), "no call of the pipeline was denied");

    // What the apply role must never do.
    let admin_policy = "arn:aws:iam::aws:policy/AdministratorAccess";
    let forbidden: [(&str, Vec<&str>); 5] = [
        ("create a role", vec!["iam", "create-role", "--role-name", "escalate", "--assume-role-policy-document", "{}"]),
        (
            "attach AdministratorAccess to itself",
            vec!["iam", "attach-role-policy", "--role-name", "drctl-apply", "--policy-arn", admin_policy],
        ),
        (
            "write another team's table",
            vec!["dynamodb", "put-item", "--table-name", "OtherTeamTable", "--item", r#"{"pk":{"S":"x"},"sk":{"S":"y"}}"#],
        ),
        ("read another team's table", vec!["dynamodb", "scan", "--table-name", "OtherTeamTable"]),
        ("delete the bootstrap stack", vec!["cloudformation", "delete-stack", "--stack-name", "drctl-bootstrap"]),
    ];
    for (what, args) in forbidden {
        let (code, text) = aws(&applier, &args);
        assert_ne!(code, Some(0), "the apply role could {what}:\n{text}");
        assert!(text.contains("AccessDenied") || text.contains("not authorized"), "{what}: refused for another reason:\n{text}");
    }
    let planned = aws(
        &planner,
        &["cloudformation", "execute-change-set", "--change-set-name", "drctl-apply-x", "--stack-name", "drctl-spatial-scans"],
    );
    assert!(planned.1.contains("AccessDenied"), "the plan role can execute no change set:\n{}", planned.1);
}
