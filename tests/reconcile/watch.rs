//! `watch`: each commit pushed to the remote is reconciled, and SIGTERM
//! lets the drill under way finish and release its lease.

use super::*;

use support::{JobKind, Progression};

/// Polls the state until the policy is reconciled at `commit`.
async fn wait_reconciled(store: &dyn StateStore, commit: &str) -> PolicyState {
    support::poll(&format!("spatial-scans reconciled at {commit}"), Duration::from_secs(120), || async {
        store.get("spatial-scans").await.unwrap().filter(|s| s.reconciled.as_ref().is_some_and(|r| r.commit == commit))
    })
    .await
}

#[tokio::test]
async fn watch_reconciles_each_commit_pushed_to_the_remote() {
    let account = support::account().await;
    let _queue = ground(&account).await;
    let (_dir, store) = state_dir();
    let remote = Remote::new();
    let first = remote.push(SCANS, "spatial-scans: first policy");
    // A URL: each pass fetches the remote into a mirror in the cache.
    let cache = tempfile::tempdir().unwrap();
    let source =
        drctl::source::Source::open(&format!("file://{}", remote.bare()), &drctl::source::Access::with_cache(cache.path())).unwrap();
    let settings = reconcile::watch::Settings {
        reference: "main".into(),
        interval: Duration::from_millis(300),
        error_backoff: Duration::from_millis(300),
        extra_regions: Vec::new(),
        max_passes: None,
        max_policies: drctl::source::DEFAULT_MAX_POLICIES,
        limits: Default::default(),
        reconcile: options("watcher"),
    };
    let stop = Stop::default();

    let watching = reconcile::watch::watch(&account.aws, &store, &source, &settings, &stop, None);
    let pushing = async {
        wait_reconciled(&store, &first).await;
        let second = remote.push(&SCANS.replace("retention: 35d", "retention: 21d"), "spatial-scans: keep 21 days");
        let state = wait_reconciled(&store, &second).await;
        stop.request();
        (second, state)
    };
    let ((second, _), ended) = tokio::join!(pushing, watching);
    assert!(!ended.last_pass_failed, "{ended:?}");
    let state = store.get("spatial-scans").await.unwrap().unwrap();

    assert_eq!(state.applied.as_ref().map(|a| a.commit.as_str()), Some(second.as_str()));
    assert!(state.evidence.iter().any(|e| e.commit == first) && state.evidence.iter().any(|e| e.commit == second), "{state:#?}");
    assert!(state.lease.is_none(), "the loop released its lease: {state:#?}");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}

#[tokio::test]
async fn sigterm_during_watch_finishes_the_drill_releases_the_lease_and_leaves_no_scratch_table() {
    let account = support::account().await;
    let _queue = ground(&account).await;
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    let store = FileStore::open(&state_file);
    let remote = Remote::new();
    remote.push(SCANS, "spatial-scans");
    account.set_job_progression(JobKind::Restore, Progression::Time { seconds: 1.0 });

    let mut watch = std::process::Command::new(env!("CARGO_BIN_EXE_drctl"))
        .args(["watch", "--repo", &remote.bare(), "--ref", "main", "--interval", "1m"])
        .args(["--state", state_file.to_str().unwrap(), "--cache-dir", dir.path().join("cache").to_str().unwrap()])
        .envs(account.cli_env())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), wait_for_recorded_restore(&store)).await.expect("a restore starts");
    let killed = std::process::Command::new("kill").args(["-TERM", &watch.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = watch.wait().unwrap();
    let mut logs = String::new();
    std::io::Read::read_to_string(watch.stderr.as_mut().unwrap(), &mut logs).unwrap();

    assert!(status.success(), "{status:?}\n{logs}");
    let first_log: serde_json::Value = serde_json::from_str(logs.lines().next().unwrap()).expect("JSON logs in watch mode");
    assert!(first_log.get("level").is_some(), "{first_log}");
    let state = store.get("spatial-scans").await.unwrap().unwrap();
    assert!(state.lease.is_none(), "{state:#?}");
    assert!(state.in_flight.is_none() && state.last_drill.is_some(), "the drill under way finished: {state:#?}");
    assert_eq!(scratch_tables(&account).await, Vec::<String>::new());
}
