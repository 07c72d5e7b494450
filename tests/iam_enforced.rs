//! drctl run as a principal that holds exactly the policy `drctl iam-policy`
//! prints, against an emulator that enforces IAM with resource ARNs and
//! conditions (emulator/README.md, "IAM enforcement"): the whole pipeline
//! succeeds with no call denied, the same principal is denied what it must
//! never do, and without any one statement of the printed policies the run
//! fails naming the denied action. (The offline checks of the printed
//! policies are in tests/iam.rs.)

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

/// An account prepared as an administrator would: the source tables, AWS
/// Backup's advanced DynamoDB features, the policy committed and
/// `drctl bootstrap` run (it creates roles, an administrator's job), with
/// the DynamoDB state table.
struct Prepared {
    account: TestAccount,
    admin: Vec<(&'static str, String)>,
    dir: tempfile::TempDir,
}

const STATE: [&str; 2] = ["--state", "dynamodb://drctl-state"];

async fn prepared() -> Prepared {
    let account = support::account().await;
    let clients = account.clients();
    support::create_table(&clients.dynamodb, "SpatialScans", 20).await;
    support::create_table(&clients.dynamodb, "OtherTeamTable", 3).await;
    support::enable_advanced_backup(&clients.backup).await;
    let admin = account.cli_env();
    let dir = tempfile::tempdir().unwrap();
    support::commit_files(dir.path(), &[("desired/spatial-scans.yaml", SCANS)]);
    let (code, text) = drctl(dir.path(), &admin, &["bootstrap", "--state-table", "us-east-1:drctl-state"]);
    assert_eq!(code, Some(0), "{text}");
    Prepared { account, admin, dir }
}

impl Prepared {
    /// The policy `drctl iam-policy` prints for the plan (`dry_run`) or the
    /// apply identity.
    fn printed_policy(&self, dry_run: bool) -> Value {
        let args: Vec<&str> =
            if dry_run { vec!["iam-policy", "--dry-run"] } else { [&["iam-policy", "--read-key-schemas"][..], &STATE].concat() };
        serde_json::from_str(&printed(self.dir.path(), &self.admin, &args)).unwrap()
    }

    /// Runs `drctl args` in the policy repository as `identity`.
    fn drctl(&self, identity: &[(&str, String)], args: &[&str]) -> (Option<i32>, String) {
        drctl(self.dir.path(), identity, args)
    }
}

fn with_state<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().copied().chain(STATE).collect()
}

#[tokio::test]
async fn drctl_holding_only_its_printed_policies_runs_the_pipeline_and_nothing_else() {
    let ready = prepared().await;
    let (account, admin) = (&ready.account, &ready.admin);
    let planner = role_holding(account, admin, "drctl-plan", &ready.printed_policy(true).to_string());
    let applier = role_holding(account, admin, "drctl-apply", &ready.printed_policy(false).to_string());
    account.enforce_iam(&format!("arn:aws:sts::{}:assumed-role/drctl-*", account.id));

    let (code, text) = ready.drctl(&planner, &["reconcile", "--dry-run", "--detailed-exitcode"]);
    assert_eq!(code, Some(2), "the pull request's plan, as the plan role:\n{text}");
    let (code, text) = ready.drctl(&applier, &with_state(&["reconcile"]));
    assert_eq!(code, Some(0), "reconcile as the apply role:\n{text}\ndenied: {:#?}", account.iam_denials());
    let (code, text) = ready.drctl(&applier, &with_state(&["verify", "spatial-scans"]));
    assert_eq!(code, Some(0), "verify as the apply role:\n{text}\ndenied: {:#?}", account.iam_denials());
    let (code, text) = ready.drctl(&applier, &with_state(&["gc"]));
    assert_eq!(code, Some(0), "gc as the apply role:\n{text}\ndenied: {:#?}", account.iam_denials());
    assert_eq!(account.iam_denials(), Vec::<Value>::new(), "no call of the pipeline was denied");

    // What the apply role must never do.
    let (code, text) = aws(
        admin,
        &[
            "backup",
            "create-backup-plan",
            "--backup-plan",
            r#"{"BackupPlanName":"other-team","Rules":[{"RuleName":"daily","TargetBackupVaultName":"Default"}]}"#,
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    let other_plan = serde_json::from_str::<Value>(&text).unwrap()["BackupPlanId"].as_str().unwrap().to_string();
    let admin_policy = "arn:aws:iam::aws:policy/AdministratorAccess";
    let forbidden: [(&str, Vec<&str>); 7] = [
        ("create a role", vec!["iam", "create-role", "--role-name", "escalate", "--assume-role-policy-document", "{}"]),
        (
            "attach AdministratorAccess to itself",
            vec!["iam", "attach-role-policy", "--role-name", "drctl-apply", "--policy-arn", admin_policy],
        ),
        (
            "write another team's table",
            vec!["dynamodb", "put-item", "--table-name", "OtherTeamTable", "--item", r#"{"pk":{"S":"x"},"sk":{"S":"y"}}"#],
        ),
        (
            "write an item other than the canary into the table it protects",
            vec!["dynamodb", "put-item", "--table-name", "SpatialScans", "--item", r#"{"pk":{"S":"HOME#9"},"sk":{"S":"x"}}"#],
        ),
        ("read another team's table", vec!["dynamodb", "scan", "--table-name", "OtherTeamTable"]),
        ("delete the bootstrap stack", vec!["cloudformation", "delete-stack", "--stack-name", "drctl-bootstrap"]),
        ("delete another team's backup plan", vec!["backup", "delete-backup-plan", "--backup-plan-id", &other_plan]),
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

/// Runs `commands` in turn as `identity` until one fails: whether one
/// failed, and everything they printed.
fn run_until_failure(ready: &Prepared, identity: &[(&str, String)], commands: &[Vec<&str>]) -> (bool, String) {
    let mut printed = String::new();
    for args in commands {
        let (code, text) = ready.drctl(identity, args);
        printed.push_str(&format!("$ drctl {}\n{text}\n", args.join(" ")));
        if code != Some(0) {
            printed.push_str(&format!("(exit {code:?})\n"));
            return (true, printed);
        }
    }
    (false, printed)
}

/// Statements whose denial is reported rather than fatal: the plan's check
/// of AWS Backup's advanced DynamoDB features (a warning with the error),
/// and the reads of the post-restore gaps (a gap `unknown:` with the
/// error; gaps are advice for a real recovery, never part of the verdict).
const REPORTED_NOT_FATAL: [&str; 4] =
    ["ReadBackupSettings", "PostRestoreGaps", "PostRestoreGapsOfScratchBackups", "PostRestoreGapsAutoScaling"];

/// The printed policy is least privilege in the other direction too: with
/// any one of its Allow statements removed, the pipeline that identity runs
/// fails (or, for the reads in `REPORTED_NOT_FATAL`, reports the denial),
/// naming an action of that statement, so an operator reading it knows what
/// to grant. `shard` of `shards`: each statement needs a fresh account and
/// a whole run, so the statements are spread over tests that run in
/// parallel.
async fn each_statement_is_needed(dry_run: bool, shard: usize, shards: usize) {
    let commands: Vec<Vec<&str>> = if dry_run {
        vec![vec!["reconcile", "--dry-run"]]
    } else {
        vec![with_state(&["reconcile", "--dry-run"]), with_state(&["reconcile"]), with_state(&["gc"])]
    };
    let statements = prepared().await.printed_policy(dry_run)["Statement"].as_array().unwrap().clone();
    let allows: Vec<&Value> = statements.iter().filter(|s| s["Effect"] == "Allow").collect();
    assert!(allows.len() > shards, "{} Allow statements", allows.len());
    for statement in allows.iter().skip(shard).step_by(shards) {
        let sid = statement["Sid"].as_str().unwrap();
        let ready = prepared().await;
        let mut policy = ready.printed_policy(dry_run);
        policy["Statement"].as_array_mut().unwrap().retain(|s| s["Sid"] != sid);
        let identity = role_holding(&ready.account, &ready.admin, "drctl-under-test", &policy.to_string());
        ready.account.enforce_iam(&format!("arn:aws:sts::{}:assumed-role/drctl-*", ready.account.id));
        let (failed, printed) = run_until_failure(&ready, &identity, &commands);
        let actions: Vec<&str> = match &statement["Action"] {
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            other => vec![other.as_str().unwrap()],
        };
        assert!(
            failed || REPORTED_NOT_FATAL.contains(&sid),
            "without {sid}, {commands:?} all succeeded: the statement is not needed\n{printed}"
        );
        let denied = actions.iter().find(|action| printed.contains(&format!("not authorized to perform: {action}")));
        let Some(denied) = denied else { panic!("without {sid}, the output names the denial of none of {actions:?}:\n{printed}") };
        let outcome = if failed { "failed" } else { "reported" };
        eprintln!("without {sid}: {outcome}, naming {denied}");
    }
}

#[tokio::test]
async fn without_any_one_statement_of_the_plan_policy_the_dry_run_fails_naming_its_action() {
    each_statement_is_needed(true, 0, 1).await;
}

#[tokio::test]
async fn without_any_one_statement_of_the_apply_policy_the_pipeline_fails_naming_its_action_1_of_3() {
    each_statement_is_needed(false, 0, 3).await;
}

#[tokio::test]
async fn without_any_one_statement_of_the_apply_policy_the_pipeline_fails_naming_its_action_2_of_3() {
    each_statement_is_needed(false, 1, 3).await;
}

#[tokio::test]
async fn without_any_one_statement_of_the_apply_policy_the_pipeline_fails_naming_its_action_3_of_3() {
    each_statement_is_needed(false, 2, 3).await;
}
