//! The exit codes CI depends on, by running the `drctl` binary against the
//! emulator as a pipeline does: validate, the pull-request dry run,
//! bootstrap, reconcile, verify (passed, failed, inconclusive), status and
//! gc, each with the code the README documents.

mod support;

use std::path::Path;
use std::process::Command;

use support::{Fault, JobKind, JobTarget, TestAccount};

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");

/// spatial-scans drilled in its primary region only (a shorter run).
fn primary_only() -> String {
    SCANS.replace("regions: [us-east-1, us-west-2]", "regions: [us-east-1]")
}

/// Runs `drctl args` in `dir` against the account; its exit code and output.
fn drctl(account: &TestAccount, dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_drctl"))
        .current_dir(dir)
        .args(args)
        .env_remove("AWS_PROFILE")
        .envs(account.cli_env())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), text)
}

#[tokio::test]
async fn every_command_ends_with_its_documented_exit_code() {
    let account = support::account().await;
    support::create_table(&account.clients().dynamodb, "SpatialScans", 20).await;
    support::enable_advanced_backup(&account.clients().backup).await;
    let dir = tempfile::tempdir().unwrap();
    support::commit_files(dir.path(), &[("desired/spatial-scans.yaml", &primary_only())]);

    let state = ["--state", "state.json"];
    let run = |args: &[&str]| {
        let args: Vec<&str> = args.iter().chain(&state).copied().collect();
        drctl(&account, dir.path(), &args)
    };
    let expect = |(code, text): (Option<i32>, String), want: i32, what: &str| {
        assert_eq!(code, Some(want), "{what}:\n{text}");
    };

    expect(drctl(&account, dir.path(), &["validate"]), 0, "validate, clean");
    expect(drctl(&account, dir.path(), &["reconcile", "--dry-run", "--detailed-exitcode"]), 2, "a dry run with changes pending");
    expect(drctl(&account, dir.path(), &["bootstrap"]), 0, "bootstrap");
    expect(run(&["reconcile"]), 0, "reconcile: applied and proven");
    expect(drctl(&account, dir.path(), &["reconcile", "--dry-run", "--detailed-exitcode"]), 0, "a dry run with nothing to do");
    // An account whose plan quota is below what the policies need: the dry
    // run refuses the policy beyond it, naming AWS Backup's quota.
    let (code, text) = drctl(&account, dir.path(), &["reconcile", "--dry-run", "--aws-quota", "backup-plans=0"]);
    expect((code, text.clone()), 1, "a dry run beyond AWS Backup's quotas");
    assert!(text.contains("quota \"Backup plans per Region per account\" of 0"), "{text}");
    // Vaults others created take from the same quota: the dry run counts them.
    let backup = account.region(support::REGION).backup;
    backup.create_backup_vault().backup_vault_name("team-data").send().await.unwrap();
    let (code, text) = drctl(&account, dir.path(), &["reconcile", "--dry-run"]);
    expect((code, text.clone()), 0, "a dry run within the quotas");
    assert!(text.contains("  us-east-1: backup-vaults 2/300, backup-plans 1/300"), "drctl's vault and team-data:\n{text}");
    let (code, text) = drctl(&account, dir.path(), &["reconcile", "--dry-run", "--aws-quota", "backup-vaults=1"]);
    expect((code, text.clone()), 1, "a dry run beyond the vault quota, with another team's vault");
    assert!(text.contains("the policies would need 2 backup vaults in us-east-1"), "{text}");
    // The limit is the account's applied quota, read from Service Quotas:
    // lowered there, the dry run refuses without being told; raised there,
    // it accepts, and a value given on the command line only lowers it.
    account.set_quotas(serde_json::json!({ "backup_vaults": 1 }));
    let (code, text) = drctl(&account, dir.path(), &["reconcile", "--dry-run"]);
    expect((code, text.clone()), 1, "a dry run beyond the account's applied vault quota");
    assert!(text.contains("AWS Backup's quota \"Total vaults (backup and logically air-gapped) per Region per account\" of 1"), "{text}");
    account.set_quotas(serde_json::json!({ "backup_vaults": 500 }));
    let (code, text) = drctl(&account, dir.path(), &["reconcile", "--dry-run"]);
    expect((code, text.clone()), 0, "a dry run within the account's raised quota");
    assert!(text.contains("  us-east-1: backup-vaults 2/500, backup-plans 1/300"), "{text}");
    let (code, text) = drctl(&account, dir.path(), &["reconcile", "--dry-run", "--aws-quota", "backup-vaults=1"]);
    expect((code, text.clone()), 1, "headroom given below the applied quota");
    account.set_quotas(serde_json::json!({ "backup_vaults": 300 }));

    // A pull request that shortens the retention: CI with --deny-weakening
    // refuses it until a reviewer's approval is passed in.
    support::commit_files(dir.path(), &[("desired/spatial-scans.yaml", &primary_only().replace("retention: 35d", "retention: 14d"))]);
    let (code, text) = drctl(&account, dir.path(), &["reconcile", "--dry-run", "--deny-weakening"]);
    expect((code, text.clone()), 1, "a weakening dry run under --deny-weakening");
    assert!(text.contains("retention 35d → 14d") && text.contains("refused: 1 change weakens protection (--deny-weakening)"), "{text}");
    let approved = ["reconcile", "--dry-run", "--deny-weakening", "--allow-weakening-by", "alice", "--format", "markdown"];
    let (code, text) = drctl(&account, dir.path(), &approved);
    expect((code, text.clone()), 0, "an approved weakening");
    assert!(text.contains("> 1 change weakens protection: approved by `alice`."), "{text}");
    expect(
        drctl(&account, dir.path(), &["reconcile", "--dry-run", "--deny-weakening"][..2]),
        0,
        "a dry run without the flag is not refused",
    );
    // After the merge: the apply under the same rule leaves the policy
    // unapplied without the approval, and records the approver with it.
    let (code, text) = run(&["reconcile", "--deny-weakening"]);
    expect((code, text.clone()), 1, "a weakening apply under --deny-weakening");
    assert!(text.contains("NOT APPLIED: weakens protection (retention 35d → 14d)"), "{text}");
    expect(run(&["reconcile", "--deny-weakening", "--allow-weakening-by", "alice"]), 0, "an approved weakening applied");
    let (_, status) = run(&["status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(
        status["policies"][0]["state"]["applied"]["weakened"],
        serde_json::json!({ "changes": ["retention 35d → 14d"], "approved_by": "alice" }),
        "{status:#}"
    );
    let (_, status) = run(&["status"]);
    assert!(status.contains("retention 35d → 14d (approved by alice)"), "{status}");
    support::commit_files(dir.path(), &[("desired/spatial-scans.yaml", &primary_only())]);
    expect(run(&["reconcile"]), 0, "the retention back to 35d");

    // A guardrail the policy breaks: the pull request's plan shows it first
    // and the policy is not planned; a rule it meets lets it through again.
    let guardrail = |max_rpo: &str| {
        format!(
            "apiVersion: drctl/v1\nkind: Guardrails\nrules:\n  - id: prod-rpo\n    reason: r\n    owner: team-platform\n    require: {{ max_rpo: {max_rpo} }}\n"
        )
    };
    support::commit_files(dir.path(), &[("desired/_guardrails.yaml", &guardrail("1h"))]);
    let (code, text) = drctl(&account, dir.path(), &["reconcile", "--dry-run", "--format", "markdown"]);
    expect((code, text.clone()), 1, "a dry run of a policy breaking a guardrail");
    assert!(
        text.contains("**Guardrails**: 1 breach, 0 breaches under exceptions.")
            && text.contains("guardrail prod-rpo (owner team-platform): RPO 8h"),
        "{text}"
    );
    // The change to the guardrails file is its own section: whom it catches.
    assert!(
        text.contains("**Guardrails file changed** since `")
            && text.contains("- rules added: prod-rpo")
            && text.contains("- ❌ newly breaks: spatial-scans (rule prod-rpo)"),
        "{text}"
    );
    support::commit_files(dir.path(), &[("desired/_guardrails.yaml", &guardrail("1d"))]);
    let (code, text) = drctl(&account, dir.path(), &["reconcile", "--dry-run", "--detailed-exitcode"]);
    expect((code, text.clone()), 0, "a guardrail the policy meets");
    assert!(
        text.contains("guardrails file changed (since ")
            && text.contains("rules changed: prod-rpo")
            && text.contains("no longer breaks: spatial-scans (rule prod-rpo)"),
        "{text}"
    );
    let (_, json) = drctl(&account, dir.path(), &["reconcile", "--dry-run", "--format", "json", "--guardrails-base", "HEAD~2"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["guardrails_change"]["rules_added"], serde_json::json!(["prod-rpo"]), "against an older base: {json:#}");
    expect(run(&["status", "--detailed-exitcode"]), 0, "status, compliant");

    account.inject_fault(Fault::throttle("backup", "StartBackupJob").times(1));
    let (code, text) = run(&["verify", "spatial-scans", "--max-attempts", "1"]);
    expect((code, text.clone()), 1, "verify, inconclusive");
    assert!(text.contains("INCONCLUSIVE"), "an inconclusive drill says so:\n{text}");
    expect(run(&["status", "--detailed-exitcode"]), 0, "an inconclusive drill leaves the proof standing");
    account.clear_faults();

    account.fail_job(JobKind::Restore, JobTarget::Next, "Insufficient capacity to restore");
    expect(run(&["verify", "spatial-scans"]), 3, "verify, failed");
    expect(run(&["status", "--detailed-exitcode"]), 2, "status, out of compliance after a failed drill");

    expect(run(&["gc"]), 0, "gc");

    // The report of the period: every drill above in the history, each with
    // its evidence chain; the HTML page charts them.
    let (code, json) = run(&["report", "--format", "json"]);
    expect((code, json.clone()), 0, "report");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let drills = report["policies"][0]["drills"].as_array().unwrap();
    let verdicts: Vec<&str> = drills.iter().map(|d| d["verdict"].as_str().unwrap()).collect();
    assert!(verdicts.contains(&"passed") && verdicts.contains(&"failed") && verdicts.contains(&"inconclusive"), "{verdicts:?}");
    assert!(
        drills
            .iter()
            .all(|d| d["sns_message_id"].is_string() && d["regions"][0]["restore_job_id"].is_string() || d["verdict"] == "inconclusive"),
        "{json}"
    );
    // The drill's post-restore gaps reach the history: the scans turn PITR
    // on, and a restored table never has it.
    let passed = drills.iter().rfind(|d| d["verdict"] == "passed").expect("a passed drill");
    let gaps: Vec<&str> = passed["regions"][0]["gaps"].as_array().unwrap().iter().map(|g| g["setting"].as_str().unwrap()).collect();
    assert!(gaps.contains(&"point_in_time_recovery"), "{gaps:?}");
    expect(run(&["report", "--out", "report.html"]), 0, "report as a page");
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(page.contains("<svg") && page.contains("spatial-scans"), "{page}");
    expect(run(&["report", "--since", "yesterday"]), 1, "report, a period that is no date");

    support::commit_files(dir.path(), &[("desired/broken.yaml", "apiVersion: drctl/v1\nkind: TablePolicy\n")]);
    expect(drctl(&account, dir.path(), &["validate"]), 1, "validate, a broken file");
    expect(run(&["reconcile"]), 1, "reconcile with an invalid policy");

    let (code, help) = drctl(&account, dir.path(), &["--help"]);
    assert_eq!(code, Some(0));
    for documented in [
        "  0  done",
        "  1  an error",
        "  2  `reconcile --dry-run --detailed-exitcode`",
        "  3  `reconcile`, `verify`: a drill failed",
        "a drill that was inconclusive",
    ] {
        assert!(help.contains(documented), "`drctl --help` does not document {documented:?}:\n{help}");
    }
}
