//! `drctl status` end to end: the binary on a real temporary git repository
//! of policies, against a state file written through `drctl::state::FileStore`
//! (no AWS: a state file needs none), and once against a DynamoDB state
//! table on the emulator.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use drctl::state::{
    Applied, ChangeSetRecord, CheckRecord, DrillRecord, DynamoStore, Evidence, FileStore, Lease, PolicyState, Reconciled, RegionDrill,
    StateStore,
};

const HOUR: u64 = 3600;

fn drctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drctl"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("DRCTL_STATE")
        .env_remove("DRCTL_REF")
        .env_remove("DRCTL_REPO")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A git repository whose one commit holds the named example policies (and
/// any extra files given); returns it with the commit.
fn repo_with(examples: &[&str], extra: &[(&str, &str)]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("desired");
    std::fs::create_dir(&desired).unwrap();
    for name in examples {
        std::fs::copy(format!("desired/{name}.yaml"), desired.join(format!("{name}.yaml"))).unwrap();
    }
    for (file, text) in extra {
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    let repo = git2::Repository::init(dir.path()).unwrap();
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = git2::Signature::now("test", "test@example.com").unwrap();
    let commit = repo.commit(Some("HEAD"), &signature, &signature, "policies", &tree, &[]).unwrap().to_string();
    (dir, commit)
}

/// The content hash drctl computes for an example policy.
fn hash_of(name: &str) -> String {
    let text = std::fs::read(format!("desired/{name}.yaml")).unwrap();
    drctl::policy::content_hash(&drctl::policy::load(&format!("desired/{name}.yaml"), &text).unwrap().policy)
}

fn region(name: &str, passed: bool, rto: f64, rpo: f64) -> RegionDrill {
    RegionDrill {
        region: name.into(),
        passed,
        rto_seconds: Some(rto),
        rto_objective_seconds: 3600,
        rpo_seconds: Some(rpo),
        rpo_objective_seconds: 8 * 3600,
        recovery_point_arn: Some(format!("arn:aws:backup:{name}:123456789012:recovery-point:rp-1")),
        backup_job_id: Some("backup-job-1".into()),
        restore_job_id: Some(format!("restore-job-{name}")),
        scratch_table: Some("drctl-drill-x-1".into()),
        checks: vec![CheckRecord { name: "item_count".into(), passed, reason: "301 items restored, 301 in the source".into() }],
        ..RegionDrill::default()
    }
}

fn drill(policy_hash: &str, commit: &str, passed: bool, finished: u64, regions: Vec<RegionDrill>) -> DrillRecord {
    DrillRecord {
        drill_id: format!("drill-{finished}"),
        started: finished - 60,
        finished,
        content_hash: policy_hash.into(),
        commit: commit.into(),
        passed,
        inconclusive: false,
        regions,
        reasons: if passed { vec![] } else { vec!["us-west-2: restore job FAILED: injected fault".into()] },
    }
}

/// A policy applied and proven at `commit` an hour ago, with its evidence.
fn proven(policy: &str, hash: &str, commit: &str, regions: Vec<RegionDrill>) -> PolicyState {
    let at = drctl::state::now() - HOUR;
    let passed = drill(hash, commit, true, at, regions);
    PolicyState {
        desired_hash: Some(hash.into()),
        applied: Some(Applied { content_hash: hash.into(), commit: commit.into(), at: at - 60, weakened: None }),
        last_drill: Some(passed.clone()),
        reconciled: Some(Reconciled { content_hash: hash.into(), commit: commit.into(), at }),
        evidence: vec![Evidence {
            commit: commit.into(),
            content_hash: hash.into(),
            at,
            change_sets: vec![ChangeSetRecord {
                stack: format!("drctl-{policy}"),
                region: "us-east-1".into(),
                change_set_id: Some("arn:aws:cloudformation:us-east-1:123456789012:changeSet/drctl-apply/1".into()),
            }],
            drill: Some(passed),
            sns_message_id: Some("sns-message-id-1".into()),
        }],
        ..PolicyState::new(policy)
    }
}

async fn write_state(path: &Path, records: Vec<PolicyState>) {
    let store = FileStore::open(path);
    for record in records {
        store.put(&record).await.unwrap();
    }
}

/// The three examples: spatial-scans proven (with a live lease),
/// render-jobs whose last drill failed, floor-plans unknown to the state;
/// plus the record of a policy deleted since.
async fn examples_and_state() -> (tempfile::TempDir, String, String) {
    let (repo, commit) = repo_with(&["spatial-scans", "render-jobs", "floor-plans"], &[]);
    let mut scans = proven(
        "spatial-scans",
        &hash_of("spatial-scans"),
        &commit,
        vec![region("us-east-1", true, 42.0, 600.0), region("us-west-2", true, 95.0, 700.0)],
    );
    scans.lease = Some(Lease { owner: "ci-runner:7:0badcafe".into(), expires: drctl::state::now() + HOUR });
    let mut jobs = proven("render-jobs", &hash_of("render-jobs"), &commit, vec![region("us-west-2", true, 30.0, 60.0)]);
    jobs.last_drill =
        Some(drill(&hash_of("render-jobs"), &commit, false, drctl::state::now() - 60, vec![region("us-west-2", false, 12.0, 60.0)]));
    let old = proven("old-scans", "0ld", "1111111111111111111111111111111111111111", vec![region("us-east-1", true, 5.0, 5.0)]);
    let state = repo.path().join(".drctl").join("state.json");
    write_state(&state, vec![scans, jobs, old]).await;
    let state = state.display().to_string();
    (repo, commit, state)
}

#[tokio::test]
async fn text_marks_each_policy_and_exits_0_unless_asked_for_a_detailed_exit_code() {
    let (repo, commit, state) = examples_and_state().await;
    let output = drctl(repo.path(), &["status", "--state", &state]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    for expected in [
        format!("drctl status of commit {commit} at "),
        "\nfloor-plans: ✗ OUT OF COMPLIANCE\n".into(),
        "\n  ✗ no state: drctl has never reconciled this policy\n".into(),
        "\nrender-jobs: ✗ OUT OF COMPLIANCE\n".into(),
        "  ✗ last drill failed (drill-".into(),
        "): us-west-2: restore job FAILED: injected fault\n".into(),
        "\nspatial-scans: ✓ compliant\n".into(),
        "\n  table       SpatialScans in us-east-1 (prod), owner team-3d\n".into(),
        "\n  backup      cron(0 */6 * * ? *), keeps 35d, vault drctl-spatial-scans, PITR on\n".into(),
        "\n  copies      us-west-2 (keeps 90d, vault drctl-spatial-scans)\n".into(),
        " (1h ago) in us-east-1, us-west-2, commit ".into(),
        "\n  RTO         1m 35s (target 1h, in us-west-2)\n".into(),
        "\n  RPO         11m 40s (target 8h, in us-west-2)\n".into(),
        // The renewal at spatial-scans' slot of the week: a date, not now.
        "\n  next drill  20".into(),
        format!("\n  reconciled  commit {}\n", &commit[..12]),
        "\n  lease       held by ci-runner:7:0badcafe until ".into(),
        "\n- old-scans: not desired (orphan state); last applied commit 111111111111".into(),
        "\nStatus: 3 policies: 1 compliant, 2 out of compliance, 1 orphan state record, 0 invalid.\n".into(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
    }
    assert!(!text.contains('\x1b'), "NO_COLOR is honoured");

    let detailed = drctl(repo.path(), &["status", "--state", &state, "--detailed-exitcode"]);
    assert_eq!(detailed.status.code(), Some(2), "{}", stderr(&detailed));
    // The same report; only the header's clock may have moved on.
    let body = |text: &str| text.split_once('\n').map(|(_, rest)| rest.to_string()).unwrap_or_default();
    assert_eq!(body(&stdout(&detailed)), body(&text));
}

#[tokio::test]
async fn json_is_format_version_1_with_times_both_ways_and_the_evidence_chain() {
    let (repo, commit, state) = examples_and_state().await;
    let output = drctl(repo.path(), &["status", "--state", &state, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["format_version"], 1);
    assert_eq!(value["commit"], commit.as_str());
    assert_eq!(value["compliant"], false);
    assert_eq!(value["summary"], serde_json::json!({ "policies": 3, "compliant": 1, "out_of_compliance": 2, "orphans": 1, "invalid": 0 }));
    let policies = value["policies"].as_array().unwrap();
    let verdicts: Vec<(&str, bool)> = policies.iter().map(|p| (p["name"].as_str().unwrap(), p["compliant"].as_bool().unwrap())).collect();
    assert_eq!(verdicts, [("floor-plans", false), ("render-jobs", false), ("spatial-scans", true)]);
    assert_eq!(policies[0]["compliance"][0]["rule"], "no-state");
    assert_eq!(policies[1]["compliance"][0]["rule"], "last-drill-failed");

    let scans = &policies[2];
    assert_eq!(scans["content_hash"], hash_of("spatial-scans").as_str());
    assert_eq!(scans["reconciled_commit"], commit.as_str());
    let proven_at = scans["last_proven_restore"]["at"]["unix"].as_u64().unwrap();
    assert!(proven_at + HOUR <= drctl::state::now() + 5, "{proven_at}");
    assert!(scans["last_proven_restore"]["at"]["rfc3339"].as_str().unwrap().ends_with('Z'));
    // Renewed at spatial-scans' slot of the week, before the proof is a week old.
    let renewal = drctl::reconcile::reproof_at("spatial-scans", proven_at, std::time::Duration::from_secs(7 * 24 * HOUR));
    assert!(renewal > proven_at && renewal <= proven_at + 7 * 24 * HOUR);
    assert_eq!(scans["next_drill_due"]["at"]["unix"].as_u64().unwrap(), renewal);
    assert_eq!(scans["rto"]["seconds"], 95.0);
    assert_eq!(scans["rto"]["target_seconds"], 3600);
    assert_eq!(scans["rpo"]["met"], true);
    assert_eq!(scans["state"]["version"], 1);
    assert_eq!(scans["state"]["lease"]["owner"], "ci-runner:7:0badcafe");
    // commit → change sets → backup, copy and restore jobs → checks → SNS message id.
    let link = &scans["evidence"][0];
    assert_eq!(link["commit"], commit.as_str());
    assert_eq!(link["change_sets"][0]["stack"], "drctl-spatial-scans");
    assert_eq!(link["drill"]["regions"][1]["restore_job_id"], "restore-job-us-west-2");
    assert_eq!(link["drill"]["regions"][0]["backup_job_id"], "backup-job-1");
    assert_eq!(link["drill"]["regions"][0]["checks"][0]["name"], "item_count");
    assert_eq!(link["sns_message_id"], "sns-message-id-1");

    assert_eq!(value["orphans"][0]["policy"], "old-scans");
    assert_eq!(value["orphans"][0]["marker"], "not desired (orphan state)");
    assert_eq!(value["orphans"][0]["evidence"][0]["content_hash"], "0ld");
}

#[tokio::test]
async fn markdown_opens_with_the_summary_table() {
    let (repo, commit, state) = examples_and_state().await;
    let output = drctl(repo.path(), &["status", "--state", &state, "--format", "markdown"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let md = stdout(&output);
    let head = format!("### drctl status\n\nCommit `{}`, ", &commit[..12]);
    assert!(md.starts_with(&head), "{md}");
    assert!(md.contains("\n> [!CAUTION]\n> Out of compliance: `floor-plans`, `render-jobs`.\n"), "{md}");
    let table = md
        .find("\n| policy | table | env | last proven restore | RTO (target) | RPO (target) | next drill due | reconciled | compliance |\n")
        .unwrap();
    assert!(table < md.find("<details>").unwrap(), "{md}");
    for expected in [
        "\n| `spatial-scans` | `SpatialScans` (us-east-1) | prod | ",
        " (us-east-1, us-west-2) | 1m 35s (1h) | 11m 40s (8h) | ",
        "| ✅ compliant |\n",
        "\n| `floor-plans` | `FloorPlans` (us-east-1) | prod | never | — (4h) | — (1d) | now | — | ❌ **out of compliance**: no state: drctl has never reconciled this policy |\n",
        "\n| `old-scans` | — | | | | | | `111111111111` | ⚠️ not desired (orphan state) |\n",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
}

#[tokio::test]
async fn a_compliant_repository_exits_0_with_a_detailed_exit_code() {
    let (repo, commit) = repo_with(&["spatial-scans"], &[]);
    let state = repo.path().join("state.json");
    write_state(&state, vec![proven("spatial-scans", &hash_of("spatial-scans"), &commit, vec![region("us-east-1", true, 10.0, 10.0)])])
        .await;
    let output = drctl(repo.path(), &["status", "--state", &state.display().to_string(), "--detailed-exitcode"]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("\nspatial-scans: ✓ compliant\n"), "{}", stdout(&output));
}

#[tokio::test]
async fn a_changed_policy_is_not_proven_until_its_new_content_is() {
    let changed = std::fs::read_to_string("desired/spatial-scans.yaml").unwrap().replace("retention: 35d", "retention: 30d");
    let (repo, commit) = repo_with(&[], &[("desired/spatial-scans.yaml", &changed)]);
    let state = repo.path().join("state.json");
    write_state(&state, vec![proven("spatial-scans", &hash_of("spatial-scans"), &commit, vec![region("us-east-1", true, 10.0, 10.0)])])
        .await;
    let output = drctl(repo.path(), &["status", "--state", &state.display().to_string(), "--detailed-exitcode"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(2), "{text}{}", stderr(&output));
    assert!(text.contains("\n  ✗ not applied: the deployed content is "), "{text}");
    assert!(text.contains("\n  ✗ change not yet proven: the proven content is "), "{text}");
    assert!(text.contains("\n  next drill  now (changed since the last proof)\n"), "{text}");
}

#[test]
fn without_a_state_file_every_policy_has_no_state_and_an_invalid_file_is_marked() {
    let broken = "apiVersion: drctl/v1\nkind: TablePolicy\nmetadata: { name: broken, environment: prod }\nspec: {}\n";
    let (repo, _) = repo_with(&["render-jobs"], &[("desired/broken.yaml", broken)]);
    let output = drctl(repo.path(), &["status", "--state", "nowhere/state.json", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["policies"][0]["compliance"][0]["rule"], "no-state");
    assert_eq!(value["invalid"][0]["file"], "desired/broken.yaml");
    assert!(!repo.path().join("nowhere").exists(), "status writes nothing");
    let text = stdout(&drctl(repo.path(), &["status", "--state", "nowhere/state.json"]));
    assert!(text.contains("\n? invalid: desired/broken.yaml"), "{text}");
}

#[test]
fn a_corrupt_state_file_is_an_error_naming_it() {
    let (repo, _) = repo_with(&["render-jobs"], &[]);
    std::fs::write(repo.path().join("state.json"), "{\"format_version\": 1, \"poli").unwrap();
    let output = drctl(repo.path(), &["status", "--state", "state.json"]);
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(error.contains("state.json") && error.contains("not valid JSON"), "{error}");
    assert!(stdout(&output).is_empty());
}

#[tokio::test]
async fn a_dynamodb_state_table_is_read_over_the_wire() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    dynamodb
        .create_table()
        .table_name("drctl-state")
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .attribute_definitions(AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    support::wait_table_active(&dynamodb, "drctl-state").await;
    let (repo, commit) = repo_with(&["spatial-scans", "render-jobs"], &[]);
    let store = DynamoStore::new(dynamodb, "drctl-state");
    store.put(&proven("spatial-scans", &hash_of("spatial-scans"), &commit, vec![region("us-east-1", true, 10.0, 10.0)])).await.unwrap();
    store.put(&proven("gone", "0ld", &commit, vec![])).await.unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_drctl"))
        .current_dir(repo.path())
        .args(["status", "--state", "dynamodb://drctl-state", "--state-region", support::REGION, "--format", "json", "--detailed-exitcode"])
        .envs(account.cli_env())
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let verdicts: Vec<(&str, bool)> =
        value["policies"].as_array().unwrap().iter().map(|p| (p["name"].as_str().unwrap(), p["compliant"].as_bool().unwrap())).collect();
    assert_eq!(verdicts, [("render-jobs", false), ("spatial-scans", true)]);
    assert_eq!(value["policies"][1]["evidence"][0]["sns_message_id"], "sns-message-id-1");
    assert_eq!(value["orphans"][0]["policy"], "gone");
}
