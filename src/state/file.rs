//! The local state file (`.drctl/state.json` by default): one JSON document
//! `{"format_version": 1, "policies": {NAME: PolicyState}}` for a single
//! machine (a laptop, one CI job, one `watch` replica).
//!
//! # Guarantees
//! - `put` is a compare-and-swap: the read, the version check and the write
//!   happen under an exclusive OS lock on a sidecar file (`state.json.lock`),
//!   so concurrent writers in this process or in other processes on the same
//!   machine never lose an update.
//! - The file is replaced whole: a temporary file in the same directory is
//!   written, synced and renamed over the old file, then the directory is
//!   synced. A crash at any point leaves either the old or the new file; a
//!   temporary file left by a crash is never read and is removed by the next
//!   successful write.
//! - A file drctl cannot read (corrupt, or written by a newer drctl) is
//!   reported with its path and the fix, and never overwritten.
//! - The file and its lock are created 0600, and the directory, when drctl
//!   creates it, 0700: the state names tables, jobs and commits.
//!
//! # Caveats
//! - The lock is advisory and local: a state file on a network file system
//!   shared by several machines is not safe; use the DynamoDB backend there.
//! - Readers take no lock; they see the last complete file, which is all a
//!   compare-and-swap needs.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::{Evidence, History, PolicyState, StateError, StateStore};

/// The only document format this drctl reads and writes.
const FORMAT_VERSION: u64 = 1;

/// Temporary files start with this (after a dot, so they stay out of sight):
/// `.state.json.tmp-<pid>-<n>`.
const TMP_MARK: &str = ".tmp-";

/// State in one JSON file, replaced atomically.
#[derive(Clone, Debug)]
pub struct FileStore {
    path: PathBuf,
}

/// The document on disk.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    format_version: u64,
    #[serde(default)]
    policies: BTreeMap<String, PolicyState>,
}

impl FileStore {
    /// Where the state file is unless `--state` says otherwise.
    pub const DEFAULT_PATH: &'static str = ".drctl/state.json";

    /// A store at `path`. Nothing is touched until the first call: the file
    /// and its directory are created by the first write.
    pub fn open(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs blocking file I/O off the async runtime's worker threads.
    async fn blocking<T, F>(&self, work: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(&Path) -> Result<T, StateError> + Send + 'static,
    {
        let path = self.path.clone();
        let shown = self.describe();
        tokio::task::spawn_blocking(move || work(&path))
            .await
            .map_err(|err| StateError::File { path: shown, why: format!("the state file task did not finish: {err}") })?
    }
}

impl Default for FileStore {
    fn default() -> Self {
        Self::open(Self::DEFAULT_PATH)
    }
}

#[async_trait::async_trait]
impl StateStore for FileStore {
    async fn get(&self, policy: &str) -> Result<Option<PolicyState>, StateError> {
        let policy = policy.to_string();
        self.blocking(move |path| Ok(read_document(path)?.policies.remove(&policy))).await
    }

    async fn list(&self) -> Result<Vec<PolicyState>, StateError> {
        let all: Vec<PolicyState> = self.blocking(|path| Ok(read_document(path)?.policies.into_values().collect())).await?;
        Ok(all.into_iter().filter(|s| !super::slots::is_reserved(&s.policy)).collect())
    }

    #[tracing::instrument(skip_all, fields(policy = %state.policy, version = state.version, file = %self.path.display()))]
    async fn put(&self, state: &PolicyState) -> Result<PolicyState, StateError> {
        super::check_record(state)?;
        let state = state.clone();
        let written = self.blocking(move |path| put_locked(path, state)).await?;
        tracing::debug!(version = written.version, "state written");
        Ok(written)
    }

    async fn append_history(&self, policy: &str, entry: &Evidence) -> Result<(), StateError> {
        let line = History { policy: policy.to_string(), evidence: entry.clone() };
        self.blocking(move |path| append_history_line(path, &line)).await
    }

    async fn history(&self, since: u64) -> Result<Vec<History>, StateError> {
        let entries = self.blocking(read_history).await?;
        Ok(super::in_window(entries, since, super::now()))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// `state.json` → `state.json.history.jsonl`: the drill history, one JSON
/// entry per line, only ever appended to (private, like the state).
pub fn history_path(path: &Path) -> PathBuf {
    sidecar(path, ".history.jsonl")
}

/// The largest history file drctl reads (years of weekly drills of
/// hundreds of policies); beyond it, use a state table.
pub const MAX_HISTORY_BYTES: u64 = 512 * 1024 * 1024;

/// Appends one line under the state's lock, so that two runs' lines never
/// interleave.
fn append_history_line(path: &Path, entry: &History) -> Result<(), StateError> {
    let history = history_path(path);
    let mut line = serde_json::to_vec(entry).map_err(|err| file_error(&history, format!("entry not serialisable: {err}")))?;
    line.push(b'\n');
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(directory_of(path))
        .map_err(|err| file_error(path, format!("cannot create its directory: {err}")))?;
    let _lock = lock(path)?;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&history)
        .map_err(|err| file_error(&history, format!("cannot be opened to append: {err}")))?;
    file.write_all(&line).and_then(|()| file.sync_data()).map_err(|err| file_error(&history, format!("cannot be appended to: {err}")))
}

/// Every entry of the history file (none when there is no file). A line
/// that is not an entry is an error naming its line: history is evidence,
/// and a damaged file is not silently shortened.
fn read_history(path: &Path) -> Result<Vec<History>, StateError> {
    let history = history_path(path);
    let file = match File::open(&history) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(file_error(&history, format!("cannot be read: {err}"))),
    };
    let mut bytes = Vec::new();
    file.take(MAX_HISTORY_BYTES + 1).read_to_end(&mut bytes).map_err(|err| file_error(&history, format!("cannot be read: {err}")))?;
    if bytes.len() as u64 > MAX_HISTORY_BYTES {
        return Err(file_error(
            &history,
            format!("is over {MAX_HISTORY_BYTES} bytes; move the state to a table (--state dynamodb://TABLE)"),
        ));
    }
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(index, line)| {
            serde_json::from_slice(line)
                .map_err(|err| file_error(&history, format!("line {} is not a history entry ({err}); fix or remove the line", index + 1)))
        })
        .collect()
}

/// The compare-and-swap, under the sidecar lock.
fn put_locked(path: &Path, mut state: PolicyState) -> Result<PolicyState, StateError> {
    let dir = directory_of(path);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|err| file_error(path, format!("cannot create its directory {}: {err}", dir.display())))?;
    let _lock = lock(path)?;
    let mut document = read_document(path)?;
    let stored = document.policies.get(&state.policy).map(|record| record.version);
    state.version = super::next_version(&state.policy, stored, state.version)?;
    document.policies.insert(state.policy.clone(), state.clone());
    write_atomically(path, &document)?;
    remove_leftovers(path);
    Ok(state)
}

/// The directory the file lives in (`.` for a bare file name).
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// `state.json` → `state.json.lock` next to it.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// An exclusive lock on the sidecar lock file, held until the returned file
/// is dropped (closing it releases the lock, also when the process dies).
fn lock(path: &Path) -> Result<File, StateError> {
    let lock_path = sidecar(path, ".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|err| file_error(path, format!("cannot open the lock file {}: {err}", lock_path.display())))?;
    file.lock().map_err(|err| file_error(path, format!("cannot lock {}: {err}", lock_path.display())))?;
    Ok(file)
}

/// The largest state file drctl reads: about 640 records at their
/// largest, far more at their usual few kilobytes. Beyond it, use a state
/// table (`--state dynamodb://TABLE`).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// The document at `path`; an empty one when there is no file yet.
fn read_document(path: &Path) -> Result<Document, StateError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Document { format_version: FORMAT_VERSION, ..Document::default() });
        }
        Err(err) => return Err(file_error(path, format!("cannot be read: {err}"))),
    };
    // Read at most one byte past the limit: a file that grows while it is
    // read is judged by what was read.
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|err| file_error(path, format!("cannot be read: {err}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(file_error(
            path,
            format!("is over {MAX_FILE_BYTES} bytes, more than drctl reads; move the state to a table (--state dynamodb://TABLE)"),
        ));
    }
    parse(path, &bytes)
}

/// Parses a document, refusing what this drctl does not understand.
fn parse(path: &Path, bytes: &[u8]) -> Result<Document, StateError> {
    const FIX: &str = "fix it or move it aside (drctl never overwrites a state file it cannot read)";
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|err| file_error(path, format!("is not valid JSON ({err}); {FIX}")))?;
    match value.get("format_version") {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(FORMAT_VERSION) => {}
        Some(other) => {
            return Err(file_error(
                path,
                format!("has format_version {other}, and this drctl reads only {FORMAT_VERSION}; use the drctl that wrote it, or {FIX}"),
            ));
        }
        None => return Err(file_error(path, format!("is not a drctl state file (no format_version); {FIX}"))),
    }
    let document: Document =
        serde_json::from_value(value).map_err(|err| file_error(path, format!("is not a drctl state document ({err}); {FIX}")))?;
    for (name, record) in &document.policies {
        if *name != record.policy {
            return Err(file_error(path, format!("the record under `{name}` is of policy `{}`; {FIX}", record.policy)));
        }
        let size = serde_json::to_vec(record).map_or(usize::MAX, |json| json.len());
        super::check_size(name, size).map_err(|error| file_error(path, format!("{error}; {FIX}")))?;
    }
    Ok(document)
}

/// Writes a temporary file next to `path`, syncs it, renames it over `path`
/// and syncs the directory so the rename itself survives a crash.
fn write_atomically(path: &Path, document: &Document) -> Result<(), StateError> {
    let mut bytes = serde_json::to_vec_pretty(document).map_err(|err| file_error(path, format!("cannot be encoded: {err}")))?;
    bytes.push(b'\n');
    let tmp = temp_path(path);
    let written = write_synced(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(err) = written {
        // Best effort: a leftover is harmless (never read) and cleared later.
        let _ = std::fs::remove_file(&tmp);
        return Err(file_error(path, format!("cannot be written: {err}")));
    }
    sync_directory(directory_of(path)).map_err(|err| file_error(path, format!("its directory cannot be synced: {err}")))
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn sync_directory(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A temporary file name no other writer uses (the lock serialises writers
/// of this file, the pid and counter make the name unique anyway).
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}{TMP_MARK}{}-{n}", std::process::id()))
}

/// Removes temporary files a crashed writer left behind. Runs under the
/// lock, so no live writer's temporary file is among them.
fn remove_leftovers(path: &Path) {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { return };
    let prefix = format!(".{name}{TMP_MARK}");
    let Ok(entries) = std::fs::read_dir(directory_of(path)) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::debug!(file = %entry.path().display(), "removed a temporary state file a crash left"),
                Err(err) => tracing::warn!(file = %entry.path().display(), %err, "cannot remove a leftover temporary state file"),
            }
        }
    }
}

fn file_error(path: &Path, why: String) -> StateError {
    StateError::File { path: path.display().to_string(), why }
}

#[cfg(test)]
mod tests {
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
}
