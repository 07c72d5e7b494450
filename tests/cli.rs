//! The command line end to end: `drctl validate`, `render` and `schema` as
//! a user runs them, on real temporary git repositories.

use std::path::Path;
use std::process::{Command, Output};

fn drctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drctl")).current_dir(dir).args(args).env("NO_COLOR", "1").output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A git repository whose first commit holds the example policies.
fn repo_with_examples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("desired");
    std::fs::create_dir(&desired).unwrap();
    for entry in std::fs::read_dir("desired").unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, desired.join(path.file_name().unwrap())).unwrap();
    }
    commit_all(dir.path(), "examples");
    dir
}

fn commit_all(dir: &Path, message: &str) -> String {
    let repo = git2::Repository::open(dir).or_else(|_| git2::Repository::init(dir)).unwrap();
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.update_all(["*"], None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = git2::Signature::now("test", "test@example.com").unwrap();
    let parents: Vec<git2::Commit> = repo.head().ok().and_then(|h| h.peel_to_commit().ok()).into_iter().collect();
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &parents).unwrap().to_string()
}

#[test]
fn validate_passes_on_the_examples_at_head() {
    let repo = repo_with_examples();
    let output = drctl(repo.path(), &["validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("desired/_guardrails.yaml: 3 rules, 1 exception\n3 policy files: 0 errors, 1 warning\n"), "{text}");
    assert!(text.contains("warning: guardrail prod-full-content-check excepted through 2027-06-30"), "{text}");
}

/// A pull request that lowers a production table's bar below the
/// organisation's guardrail is refused by `validate` (CI's first check),
/// at the value it changed, with the rule, its owner and its reason.
#[test]
fn a_pull_request_breaking_a_guardrail_is_refused_at_the_value_it_changed() {
    let repo = repo_with_examples();
    let scans = std::fs::read_to_string(repo.path().join("desired/spatial-scans.yaml")).unwrap();
    std::fs::write(repo.path().join("desired/spatial-scans.yaml"), scans.replace("rpo: 8h", "rpo: 2d")).unwrap();
    commit_all(repo.path(), "relax the RPO");
    let output = drctl(repo.path(), &["validate"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "desired/spatial-scans.yaml:25:10: error: guardrail prod-recovery (owner team-platform): RPO 2d is above the 1d maximum; production data must survive"
        ),
        "{text}"
    );
    assert!(text.contains("hint: lower objectives.rpo to 1d or less, or ask team-platform for an exception"), "{text}");
}

#[test]
fn validate_reports_every_broken_file_with_position_and_hint() {
    let repo = repo_with_examples();
    let desired = repo.path().join("desired");
    std::fs::write(desired.join("bomb.yaml"), "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n").unwrap();
    std::fs::write(desired.join("binary.yaml"), [0xff, 0xfe, 0x00, 0x01]).unwrap();
    std::fs::write(desired.join("empty.yaml"), "").unwrap();
    std::fs::write(desired.join("tabs.yaml"), "apiVersion: drctl/v1\nkind: TablePolicy\nmetadata:\n\tname: x\n").unwrap();
    let scans = std::fs::read_to_string(desired.join("spatial-scans.yaml")).unwrap();
    std::fs::write(desired.join("spatial-scans.yaml"), scans.replace("retention: 35d", "retention: 35d\n    retension: 35d")).unwrap();
    commit_all(repo.path(), "broken");
    let output = drctl(repo.path(), &["validate"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    for expected in [
        "desired/binary.yaml:1:1: error: the file is not UTF-8 text",
        "desired/bomb.yaml:1:4: error: YAML anchors are not allowed",
        "desired/empty.yaml:1:1: error: the policy file is empty",
        "desired/tabs.yaml:4:1: error: invalid YAML: tabs",
        "desired/spatial-scans.yaml:17:5: error: spec.backup: unknown field `retension`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(text.contains("hint: indent with spaces"), "{text}");
    assert_eq!(text.matches("  hint: ").count(), 5, "{text}");
}

#[test]
fn validate_json_lists_findings_and_valid_policies() {
    let repo = repo_with_examples();
    std::fs::write(repo.path().join("desired/extra.yaml"), "apiVersion: drctl/v2\n").unwrap();
    let output = drctl(repo.path(), &["validate", "--worktree", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["errors"], 1);
    assert_eq!(report["findings"][0]["file"], "desired/extra.yaml");
    assert_eq!(report["findings"][0]["line"], 1);
    assert_eq!(report["findings"][0]["rule"], "schema");
    let names: Vec<&str> = report["valid_policies"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["floor-plans", "render-jobs", "spatial-scans"]);
    assert_eq!(report["valid_policies"][0]["content_hash"].as_str().unwrap().len(), 64);
}

#[test]
fn validate_reads_an_older_ref_and_a_remote_url() {
    let repo = repo_with_examples();
    let good = git2::Repository::open(repo.path()).unwrap().head().unwrap().peel_to_commit().unwrap().id().to_string();
    std::fs::write(repo.path().join("desired/render-jobs.yaml"), "kind: nonsense\n").unwrap();
    commit_all(repo.path(), "break render-jobs");
    assert_eq!(drctl(repo.path(), &["validate"]).status.code(), Some(1));
    assert_eq!(drctl(repo.path(), &["validate", "--ref", &good]).status.code(), Some(0));
    let url = format!("file://{}", repo.path().display());
    let elsewhere = tempfile::tempdir().unwrap();
    let output = drctl(elsewhere.path(), &["validate", "--repo", &url, "--ref", &good]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), String::from_utf8_lossy(&output.stderr));
    assert!(elsewhere.path().join(".drctl/cache").is_dir(), "remote cloned into the cache");
}

/// A pull request adding more policy files than the cap is refused whole,
/// before any of them is read or previewed, and the error names the flag.
#[test]
fn more_policy_files_than_the_cap_are_refused_naming_the_flag() {
    let repo = repo_with_examples();
    let output = drctl(repo.path(), &["validate", "--max-policies", "2"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("has 3 policy files in desired/, more than the 2") && stderr.contains("--max-policies"), "{stderr}");
    assert!(!stdout(&output).contains("policy files:"), "nothing was validated: {}", stdout(&output));

    let output = drctl(repo.path(), &["iam-policy", "--max-policies", "2"]);
    assert_eq!(output.status.code(), Some(1));
    let output = drctl(repo.path(), &["validate", "--max-policies", "3"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}

/// `drctl watch --passes N` exits 1 when its last pass failed (a service
/// manager or a CI job sees the failure) and 0 when it succeeded.
#[test]
fn watch_exits_non_zero_when_its_last_pass_failed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("desired")).unwrap();
    std::fs::write(dir.path().join("desired/.keep"), "").unwrap();
    commit_all(dir.path(), "no policies yet");
    let watch = |extra: &[&str]| {
        let mut args = vec!["watch", "--passes", "1", "--endpoint-url", "http://127.0.0.1:9", "--state", "state.json"];
        args.extend_from_slice(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_drctl"))
            .current_dir(dir.path())
            .args(&args)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap()
    };
    let failed = watch(&["--ref", "no-such-branch"]);
    let logs = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{logs}");
    assert!(logs.contains("no-such-branch") && logs.contains("\"last_pass_failed\":true"), "{logs}");
    let passed = watch(&[]);
    assert_eq!(passed.status.code(), Some(0), "{}", String::from_utf8_lossy(&passed.stderr));
}

#[test]
fn validate_with_an_unknown_ref_is_an_error_naming_it() {
    let repo = repo_with_examples();
    let output = drctl(repo.path(), &["validate", "--ref", "mian"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("mian"));
}

#[test]
fn render_prints_one_policy_and_json_parses() {
    let repo = repo_with_examples();
    let output = drctl(repo.path(), &["render", "spatial-scans"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(text.contains("# stack: drctl-spatial-scans region: us-east-1"));
    assert!(text.contains("# stack: drctl-spatial-scans-dr-us-west-2 region: us-west-2"));
    assert!(!text.contains("floor-plans"));
    let output = drctl(repo.path(), &["render", "--format", "json"]);
    let stacks: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stacks.as_array().unwrap().len(), 5);
    assert_eq!(drctl(repo.path(), &["render", "no-such-policy"]).status.code(), Some(1));
}

#[test]
fn render_bootstrap_writes_one_file_per_region() {
    let repo = repo_with_examples();
    let out = repo.path().join("out");
    let output = drctl(repo.path(), &["render", "--bootstrap", "--state-table", "us-east-1:drctl-state", "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let mut files: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(files, ["drctl-bootstrap.eu-west-1.yaml", "drctl-bootstrap.us-east-1.yaml", "drctl-bootstrap.us-west-2.yaml"]);
    assert!(std::fs::read_to_string(out.join("drctl-bootstrap.us-east-1.yaml")).unwrap().contains("TableName: drctl-state"));
}

#[test]
fn schema_prints_the_committed_schema() {
    let output = drctl(Path::new("."), &["schema"]);
    assert_eq!(stdout(&output), std::fs::read_to_string("schema/drctl-v1.json").unwrap());
}

#[test]
fn iam_policy_is_least_privilege_per_mode_and_scoped_to_the_policies() {
    let repo = repo_with_examples();
    let actions = |args: &[&str]| -> (Vec<String>, String) {
        let output = drctl(repo.path(), args);
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let policy: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let actions = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()))
            .collect();
        (actions, stdout(&output))
    };
    let (dry_run, text) = actions(&["iam-policy", "--dry-run"]);
    assert!(dry_run.contains(&"cloudformation:CreateChangeSet".to_string()));
    assert!(
        !dry_run.iter().any(|a| a == "cloudformation:ExecuteChangeSet" || a.starts_with("iam:") || a == "dynamodb:UpdateContinuousBackups"),
        "{dry_run:?}"
    );
    assert!(text.contains("arn:aws:dynamodb:us-east-1:*:table/SpatialScans"), "{text}");
    let (apply, text) = actions(&["iam-policy"]);
    assert!(apply.contains(&"cloudformation:ExecuteChangeSet".to_string()) && apply.contains(&"iam:PassRole".to_string()));
    assert!(text.contains("arn:aws:sns:*:*:dr-announcements"), "{text}");
}

/// Completions and the manual page come from the parser's own definitions:
/// they know every command and the newest flags, and the page carries the
/// exit codes; `--version` names the commit or says it does not know it.
#[test]
fn completions_man_page_and_version_come_from_the_parser() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let output = drctl(dir.path(), &["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = stdout(&output);
        assert!(script.contains("reconcile") && script.contains("git-token-env") && script.contains("known-hosts"), "{shell}: {script}");
    }
    assert_eq!(drctl(dir.path(), &["completions", "tcsh"]).status.code(), Some(2), "an unknown shell is a usage error");

    let man = stdout(&drctl(dir.path(), &["man"]));
    assert!(man.starts_with(".ie") && man.contains(".TH drctl 1"), "{man}");
    assert!(man.contains("watch") && man.contains("Exit codes") && man.contains("a drill failed"), "{man}");

    let version = stdout(&drctl(dir.path(), &["--version"]));
    let commit = option_env!("DRCTL_BUILD_COMMIT").filter(|c| !c.is_empty()).unwrap_or("unknown: built without DRCTL_BUILD_COMMIT");
    let built = option_env!("DRCTL_BUILD_DATE").filter(|d| !d.is_empty()).map(|d| format!(", built {d}")).unwrap_or_default();
    assert_eq!(version.trim(), format!("drctl {} (commit {commit}{built})", env!("CARGO_PKG_VERSION")));
}

/// AWS Backup allows 300 plans and 300 vaults per Region and account
/// (AWS General Reference, "AWS Backup endpoints and quotas"): a 301st
/// policy in one Region is refused before it reaches CloudFormation, on its
/// own file, naming the quota; an account whose quotas were raised says so.
#[test]
fn validate_refuses_the_policy_beyond_aws_backups_quotas_in_a_region() {
    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("desired");
    std::fs::create_dir(&desired).unwrap();
    let jobs = std::fs::read_to_string("desired/render-jobs.yaml").unwrap();
    for i in 1..=301 {
        let text =
            jobs.replace("name: render-jobs", &format!("name: jobs-{i:03}")).replace("table: RenderJobs", &format!("table: RenderJobs{i}"));
        std::fs::write(desired.join(format!("jobs-{i:03}.yaml")), text).unwrap();
    }
    commit_all(dir.path(), "301 policies in us-west-2");

    let output = drctl(dir.path(), &["validate"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(errors.len(), 2, "vaults and plans: {text}");
    assert!(errors.iter().all(|l| l.starts_with("desired/jobs-301.yaml:")), "on the first policy beyond the quota: {errors:?}");
    assert!(
        text.contains("the policies would need 301 backup plans in us-west-2, beyond AWS Backup's quota \"Backup plans per Region per account\" of 300")
            && text.contains("\"Total vaults (backup and logically air-gapped) per Region per account\" of 300")
            && text.contains("--aws-quota backup-plans=N"),
        "{text}"
    );
    assert!(text.contains("  us-west-2: backup-vaults 301/300, backup-plans 301/300, selections-per-plan 1/100"), "{text}");

    let raised = drctl(dir.path(), &["validate", "--aws-quota", "backup-vaults=400,backup-plans=301", "--format", "json"]);
    assert_eq!(raised.status.code(), Some(0), "{}", stdout(&raised));
    let report: serde_json::Value = serde_json::from_slice(&raised.stdout).unwrap();
    let plans = &report["aws_backup_usage"][0]["quotas"][1];
    assert_eq!((plans["key"].as_str(), plans["used"].as_u64(), plans["limit"].as_u64()), (Some("backup-plans"), Some(301), Some(301)));

    let fixed = drctl(dir.path(), &["validate", "--aws-quota", "selections-per-plan=500"]);
    assert_eq!(fixed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&fixed.stderr).contains("cannot be raised"));
}

/// Every drctl command the CI and cron examples run (or tell the reader to
/// run) is one the command line accepts: flags renamed or removed break
/// this test, not a user's pipeline.
#[test]
fn every_drctl_command_in_the_ci_and_cron_examples_parses() {
    use clap::Parser;
    let files = [
        "examples/github-actions/drctl-plan.yml",
        "examples/github-actions/drctl-reconcile.yml",
        "examples/gitlab-ci/.gitlab-ci.yml",
        "examples/cron/drctl.cron",
    ];
    let subcommands = ["validate", "reconcile", "status", "gc", "verify", "iam-policy", "bootstrap", "report", "watch", "render"];
    let mut seen = 0;
    for file in files {
        let text = std::fs::read_to_string(file).unwrap().replace("\\\n", " ");
        for (at, _) in text.match_indices("drctl ") {
            let rest = &text[at + "drctl ".len()..];
            let command: String = rest.chars().take_while(|c| !matches!(c, '\n' | '`' | '>' | '|' | ';' | '&' | '"' | '\'')).collect();
            let words: Vec<&str> = command.split_whitespace().collect();
            if !words.first().is_some_and(|w| subcommands.contains(w)) {
                continue;
            }
            let parsed = drctl::cli::Cli::try_parse_from(std::iter::once("drctl").chain(words.iter().copied()));
            assert!(parsed.is_ok(), "{file}: `drctl {}`: {}", words.join(" "), parsed.err().unwrap());
            seen += 1;
        }
    }
    assert!(seen >= 12, "the examples' commands were found: {seen}");
}
