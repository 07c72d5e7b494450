//! The printed IAM policies allow every call a run makes: the apply
//! policy those of reconcile, verify and gc, the dry-run policy those of
//! a plan with change-set previews.

use super::*;

use drctl::reconcile::Status;

/// The IAM action that authorizes an API operation: its own name, except
/// for the S3 operations whose action is named otherwise (Amazon S3 API
/// reference: DeleteObjects needs `s3:DeleteObject` for every object;
/// ListObjectsV2 needs `s3:ListBucket`; HeadObject needs `s3:GetObject`).
fn iam_action_of(operation: &str) -> String {
    match operation {
        "s3:DeleteObjects" => "s3:DeleteObject".into(),
        "s3:HeadObject" => "s3:GetObject".into(),
        "s3:ListObjectsV2" => "s3:ListBucket".into(),
        other => other.to_string(),
    }
}

/// The IAM actions of a policy document.
fn iam_actions(policy: &serde_json::Value) -> Vec<String> {
    let statements = policy["Statement"].as_array().unwrap();
    statements.iter().flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string())).collect()
}

#[tokio::test]
async fn the_apply_iam_policy_allows_every_call_of_reconcile_verify_status_and_gc() {
    let account = support::account().await;
    let _queue = ground(&account).await;
    let store = state_table(&account).await;
    let desired = checked(SCANS);
    account.reset_calls();

    let report = run(&account, &store, &desired, &options("run-1")).await;
    assert_eq!(report.policies[0].status, Status::Reconciled, "{report:#?}");
    let verified = reconcile::verify(&account.aws, &store, &desired.policies[0], None, &options("run-2"), &Progress::Quiet).await;
    assert_eq!(verified.status, Status::Reconciled, "{verified:#?}");
    let states = store.list().await.unwrap();
    let regions = [support::REGION.to_string(), support::DR_REGION.to_string()];
    let gc = drctl::gc::run(&account.aws, &regions, &states, drctl::gc::Mode::Delete).await;
    assert!(!gc.failed(), "{gc:#?}");
    let called: Vec<String> = account.calls().by_operation.keys().map(|k| iam_action_of(&k.replacen('/', ":", 1))).collect();

    let remote = Remote::new();
    remote.push(SCANS, "spatial-scans");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_drctl"))
        .args(["iam-policy", "--repo", &remote.bare(), "--ref", "main", "--state", "dynamodb://drctl-state"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let allowed = iam_actions(&serde_json::from_slice(&output.stdout).unwrap());
    let missing: Vec<&String> = called.iter().filter(|c| !allowed.contains(c)).collect();
    assert!(called.len() > 20, "the run made the calls it should: {called:?}");
    assert!(missing.is_empty(), "calls the apply policy does not allow: {missing:?}");

    // The pull-request policy covers a dry run with change-set previews.
    let changed = checked(&SCANS.replace("retention: 35d", "retention: 21d"));
    account.reset_calls();
    let preview = plan::Options { commit: None, extra_regions: Vec::new(), concurrency: 2, preview: true };
    let planned = plan::plan(&account.aws, &changed, &preview).await;
    assert!(planned.has_changes() && !planned.has_errors(), "{planned:#?}");
    let called: Vec<String> = account.calls().by_operation.keys().map(|k| k.replacen('/', ":", 1)).collect();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_drctl"))
        .args(["iam-policy", "--dry-run", "--repo", &remote.bare(), "--ref", "main"])
        .output()
        .unwrap();
    let allowed = iam_actions(&serde_json::from_slice(&output.stdout).unwrap());
    let missing: Vec<&String> = called.iter().filter(|c| !allowed.contains(c)).collect();
    assert!(called.iter().any(|c| c == "cloudformation:CreateChangeSet"), "{called:?}");
    assert!(missing.is_empty(), "calls the dry-run policy does not allow: {missing:?}");
}
