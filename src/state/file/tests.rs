use std::sync::Arc;

use super::*;
use crate::state::{Lease, StateStore};

#[test]
fn a_missing_state_file_is_an_empty_document_and_an_unreadable_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(read_document(&dir.path().join("state.json")).unwrap().policies.is_empty());
    std::fs::write(dir.path().join("not-a-dir"), b"").unwrap();
    let error = read_document(&dir.path().join("not-a-dir/state.json")).unwrap_err().to_string();
    assert!(error.contains("cannot be read"), "{error}");
}

#[test]
fn a_bare_file_name_lives_in_the_current_directory() {
    assert_eq!(directory_of(Path::new("state.json")), Path::new("."));
    assert_eq!(directory_of(Path::new("ci/state.json")), Path::new("ci"));
    assert_eq!(directory_of(Path::new("/state.json")), Path::new("/"));
}

/// No history file is an empty history; a history that cannot be opened
/// (here: a file where its directory should be) is an error, never an
/// empty history.
#[test]
fn a_missing_history_is_empty_and_an_unreadable_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(read_history(&dir.path().join("state.json")).unwrap().is_empty());
    std::fs::write(dir.path().join("not-a-dir"), b"").unwrap();
    let error = read_history(&dir.path().join("not-a-dir/state.json")).unwrap_err().to_string();
    assert!(error.contains("cannot be read"), "{error}");
}

fn store_in(dir: &tempfile::TempDir) -> FileStore {
    FileStore::open(dir.path().join("nested").join("state.json"))
}

#[tokio::test]
async fn a_record_round_trips_and_the_file_is_created_with_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    assert_eq!(store.get("spatial-scans").await.unwrap(), None);
    assert!(store.list().await.unwrap().is_empty());

    let mut state = PolicyState::new("spatial-scans");
    state.desired_hash = Some("abc".into());
    state.lease = Some(Lease { owner: "me".into(), expires: 42 });
    let written = store.put(&state).await.unwrap();
    assert_eq!(written.version, 1);
    assert_eq!(written, PolicyState { version: 1, ..state });
    assert_eq!(store.get("spatial-scans").await.unwrap(), Some(written.clone()));

    let second = store.put(&PolicyState::new("floor-plans")).await.unwrap();
    let names: Vec<String> = store.list().await.unwrap().into_iter().map(|s| s.policy).collect();
    assert_eq!(names, ["floor-plans", "spatial-scans"]);

    let text = std::fs::read_to_string(store.path()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["format_version"], 1);
    assert_eq!(value["policies"]["floor-plans"]["version"], second.version);
}

#[tokio::test]
async fn a_write_from_a_stale_version_is_a_conflict_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    let first = store.put(&PolicyState::new("p")).await.unwrap();
    // A second create of the same record.
    let again = store.put(&PolicyState::new("p")).await.unwrap_err();
    assert!(matches!(again, StateError::Conflict { ref policy, expected: 0 } if policy == "p"), "{again}");
    let second = store.put(&PolicyState { desired_hash: Some("new".into()), ..first.clone() }).await.unwrap();
    assert_eq!(second.version, 2);
    let stale = store.put(&PolicyState { desired_hash: Some("lost".into()), ..first }).await.unwrap_err();
    assert!(matches!(stale, StateError::Conflict { expected: 1, .. }), "{stale}");
    assert_eq!(store.get("p").await.unwrap(), Some(second));
    // A version for a record that does not exist is a conflict too.
    let ghost = PolicyState { version: 3, ..PolicyState::new("ghost") };
    assert!(matches!(store.put(&ghost).await, Err(StateError::Conflict { expected: 3, .. })));
}

/// A hostile or runaway state is refused before it is acted on: a file
/// over the limit is not even parsed, a record over DynamoDB's item
/// limit is neither written nor read, and nothing is overwritten.
#[tokio::test]
async fn a_huge_state_file_or_record_is_refused_with_the_limit_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = FileStore::open(&path);
    // Sparse: no disk is used for the bytes past the end.
    File::create(&path).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
    let huge = store.list().await.unwrap_err().to_string();
    assert!(huge.contains("is over 268435456 bytes") && huge.contains("--state dynamodb://TABLE"), "{huge}");
    assert!(store.put(&PolicyState::new("p")).await.is_err());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), MAX_FILE_BYTES + 1, "never overwritten");

    std::fs::remove_file(&path).unwrap();
    let big = PolicyState { desired_hash: Some("x".repeat(crate::state::MAX_RECORD_BYTES)), ..PolicyState::new("p") };
    let refused = store.put(&big).await.unwrap_err().to_string();
    assert!(refused.contains("over the 400000 a record may hold"), "{refused}");
    assert!(!path.exists(), "nothing was written");

    let record = serde_json::to_value(&big).unwrap();
    std::fs::write(&path, serde_json::json!({"format_version": 1, "policies": {"p": record}}).to_string()).unwrap();
    let read = store.get("p").await.unwrap_err().to_string();
    assert!(read.contains("over the 400000 a record may hold") && read.contains("move it aside"), "{read}");
}

#[tokio::test]
async fn a_corrupt_file_is_reported_with_its_path_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = FileStore::open(&path);
    for corrupt in [
        "{\"format_version\": 1, \"policies\": {\"p\": ",
        "",
        "[]",
        "{\"policies\": {}}",
        "{\"format_version\": 2, \"policies\": {}}",
        "{\"format_version\": 1, \"policies\": {\"p\": {\"policy\": \"p\", \"colour\": 1}}}",
        "{\"format_version\": 1, \"policies\": {\"p\": {\"policy\": \"q\"}}}",
    ] {
        std::fs::write(&path, corrupt).unwrap();
        for err in
            [store.get("p").await.unwrap_err(), store.list().await.unwrap_err(), store.put(&PolicyState::new("p")).await.unwrap_err()]
        {
            let StateError::File { path: shown, why } = &err else { panic!("{corrupt:?}: {err}") };
            assert_eq!(shown, &path.display().to_string());
            assert!(why.contains("move it aside"), "{corrupt:?}: {why}");
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), corrupt, "the file was overwritten");
    }
    std::fs::write(&path, "{\"format_version\": 2, \"policies\": {}}").unwrap();
    let newer = store.get("p").await.unwrap_err().to_string();
    assert!(newer.contains("format_version 2") && newer.contains("reads only 1"), "{newer}");
}

#[tokio::test]
async fn a_temporary_file_left_by_a_crash_is_ignored_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = FileStore::open(&path);
    let written = store.put(&PolicyState::new("p")).await.unwrap();
    // A writer died after writing half of its temporary file.
    let leftover = dir.path().join(".state.json.tmp-99999-0");
    std::fs::write(&leftover, "{\"format_version\": 1, \"poli").unwrap();
    assert_eq!(store.get("p").await.unwrap(), Some(written.clone()));
    let next = store.put(&written).await.unwrap();
    assert_eq!(next.version, 2);
    assert_eq!(store.get("p").await.unwrap(), Some(next));
    assert!(!leftover.exists(), "the next write clears a crash's leftovers");
    let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert!(names.iter().all(|n| !n.contains(TMP_MARK)), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_concurrent_writers_of_one_version_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store_in(&dir));
    let mut current = store.put(&PolicyState::new("p")).await.unwrap();
    for round in 0..5 {
        let tasks: Vec<_> = (0..12)
            .map(|writer| {
                let store = Arc::clone(&store);
                let attempt = PolicyState { desired_hash: Some(format!("{round}-{writer}")), ..current.clone() };
                tokio::spawn(async move { store.put(&attempt).await })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(written) => winners.push(written),
                Err(StateError::Conflict { expected, .. }) => assert_eq!(expected, current.version),
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let stored = store.get("p").await.unwrap().unwrap();
        assert_eq!(stored, winners[0]);
        assert_eq!(stored.version, current.version + 1);
        current = stored;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_modify_write_loops_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store_in(&dir));
    let (writers, increments) = (8, 10);
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for _ in 0..increments {
                    loop {
                        let mut state = store.get("counter").await.unwrap().unwrap_or_else(|| PolicyState::new("counter"));
                        let n: u64 = state.desired_hash.as_deref().map_or(0, |n| n.parse().unwrap());
                        state.desired_hash = Some((n + 1).to_string());
                        match store.put(&state).await {
                            Ok(_) => break,
                            Err(StateError::Conflict { .. }) => continue,
                            Err(other) => panic!("{other}"),
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let stored = store.get("counter").await.unwrap().unwrap();
    assert_eq!(stored.desired_hash.as_deref(), Some((writers * increments).to_string().as_str()));
    assert_eq!(stored.version, writers * increments);
}

#[tokio::test]
async fn a_record_without_a_policy_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    assert!(store.put(&PolicyState::default()).await.is_err());
    assert!(!store.path().exists());
}

fn entry(at: u64) -> Evidence {
    Evidence { commit: format!("c{at}"), content_hash: "h".into(), at, change_sets: Vec::new(), drill: None, sns_message_id: None }
}

#[tokio::test]
async fn the_history_is_appended_beside_the_state_and_read_back_in_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    assert_eq!(store.history(0).await.unwrap(), vec![], "no file yet: no history");
    let now = crate::state::now();
    store.append_history("b", &entry(now - 10)).await.unwrap();
    store.append_history("a", &entry(now - 20)).await.unwrap();
    store.append_history("a", &entry(now - 400 * 86_400)).await.unwrap();
    let path = dir.path().join("nested").join("state.json.history.jsonl");
    assert_eq!(history_path(store.path()), path);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3, "appended, one line each: {text}");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o777, 0o600);
    let read: Vec<(String, u64)> = store.history(0).await.unwrap().into_iter().map(|h| (h.policy, now - h.evidence.at)).collect();
    assert_eq!(read, [("a".to_string(), 20), ("b".to_string(), 10)], "a year and a day at most, oldest first");
    assert!(store.list().await.unwrap().is_empty(), "history is not a record");
}

#[tokio::test]
async fn a_damaged_or_unreadable_history_is_an_error_never_a_shorter_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    store.append_history("a", &entry(crate::state::now())).await.unwrap();
    let path = history_path(store.path());
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("not json\n");
    std::fs::write(&path, text).unwrap();
    let err = store.history(0).await.unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert!(store.history(0).await.is_err(), "a directory where the file should be");
    assert_eq!(MAX_HISTORY_BYTES, 512 * 1024 * 1024);
}
