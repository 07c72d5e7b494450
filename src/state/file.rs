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
mod tests;
