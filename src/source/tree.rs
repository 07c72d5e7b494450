//! Policy files as committed: read from a commit's tree, never checked out.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{Commit, FileMode, ObjectType, Odb, Oid, Repository, Tree, TreeEntry};

use super::{Blob, Change, ChangeKind, POLICY_DIR, PolicyFile, SourceError, is_policy_name};

/// What identifies a policy entry's content: equal keys, equal content.
type EntryKey = (Oid, i32);

pub(super) fn read_policies(
    repo: &Repository,
    commit: &Commit<'_>,
    max_bytes: u64,
    describe: &str,
) -> Result<Vec<PolicyFile>, SourceError> {
    let Some(dir) = policy_dir(repo, commit, describe)? else {
        return Ok(Vec::new());
    };
    let odb = repo.odb().map_err(SourceError::git(describe, "opening the object database"))?;
    let mut files = Vec::new();
    for entry in dir.iter() {
        let name = String::from_utf8_lossy(entry.name_bytes());
        if !is_policy_name(&name) {
            continue;
        }
        let path = super::policy_path(&name);
        let content =
            read_entry(repo, &odb, &entry, max_bytes).map_err(SourceError::git(describe, format!("reading {path} at {}", commit.id())))?;
        files.push(PolicyFile { path, content });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

pub(super) fn changed_policies(repo: &Repository, from: &Commit<'_>, to: &Commit<'_>, describe: &str) -> Result<Vec<Change>, SourceError> {
    let before = policy_entries(repo, from, describe)?;
    let mut after = policy_entries(repo, to, describe)?;
    let mut changes = Vec::new();
    for (path, old) in before {
        let kind = match after.remove(&path) {
            None => ChangeKind::Deleted,
            Some(new) if new != old => ChangeKind::Modified,
            Some(_) => continue,
        };
        changes.push(Change { path, kind });
    }
    changes.extend(after.into_keys().map(|path| Change { path, kind: ChangeKind::Added }));
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}

/// Policy paths of a commit with what identifies their content. Comparing
/// entries rather than diffing blobs means a file turned into a link, or a
/// directory with a policy name, changes exactly when `read_policies` would
/// show something different.
fn policy_entries(repo: &Repository, commit: &Commit<'_>, describe: &str) -> Result<BTreeMap<String, EntryKey>, SourceError> {
    let Some(dir) = policy_dir(repo, commit, describe)? else {
        return Ok(BTreeMap::new());
    };
    Ok(dir
        .iter()
        .filter_map(|entry| {
            let name = String::from_utf8_lossy(entry.name_bytes());
            is_policy_name(&name).then(|| (super::policy_path(&name), (entry.id(), entry.filemode())))
        })
        .collect())
}

/// The `desired/` tree of `commit`, or `None` if it has none.
fn policy_dir<'r>(repo: &'r Repository, commit: &Commit<'_>, describe: &str) -> Result<Option<Tree<'r>>, SourceError> {
    let root = commit.tree().map_err(SourceError::git(describe, format!("reading the tree of {}", commit.id())))?;
    let entry = match root.get_path(Path::new(POLICY_DIR)) {
        Ok(entry) => entry,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => {
            return Err(SourceError::git(describe, format!("looking up desired/ in {}", commit.id()))(e));
        }
    };
    if entry.kind() != Some(ObjectType::Tree) {
        return Err(SourceError::PolicyDirNotADirectory {
            repo: describe.to_owned(),
            revision: format!("commit {}", commit.id()),
            found: not_a_file_reason(&entry),
        });
    }
    repo.find_tree(entry.id()).map(Some).map_err(SourceError::git(describe, format!("reading desired/ in {}", commit.id())))
}

fn read_entry(repo: &Repository, odb: &Odb<'_>, entry: &TreeEntry<'_>, max_bytes: u64) -> Result<Blob, git2::Error> {
    if std::str::from_utf8(entry.name_bytes()).is_err() {
        return Ok(not_a_file("a file whose name is not valid UTF-8"));
    }
    if is_regular_blob(entry) { read_blob(repo, odb, entry.id(), max_bytes) } else { Ok(not_a_file(&not_a_file_reason(entry))) }
}

fn is_regular_blob(entry: &TreeEntry<'_>) -> bool {
    // A link is stored as a blob holding its target; the mode tells them apart.
    entry.kind() == Some(ObjectType::Blob) && entry.filemode() != i32::from(FileMode::Link)
}

fn not_a_file_reason(entry: &TreeEntry<'_>) -> String {
    let reason = if entry.filemode() == i32::from(FileMode::Link) {
        "a symbolic link (drctl never follows links)"
    } else {
        match entry.kind() {
            Some(ObjectType::Commit) => "a submodule",
            Some(ObjectType::Tree) => "a directory",
            Some(ObjectType::Blob) => "a file",
            _ => "an entry of an unknown kind",
        }
    };
    reason.to_owned()
}

fn not_a_file(why: &str) -> Blob {
    Blob::NotAFile { why: why.to_owned() }
}

/// Reads a blob only once its header shows it fits in `max_bytes`.
fn read_blob(repo: &Repository, odb: &Odb<'_>, oid: Oid, max_bytes: u64) -> Result<Blob, git2::Error> {
    let (size, _) = odb.read_header(oid)?;
    let size = u64::try_from(size).unwrap_or(u64::MAX);
    if size > max_bytes {
        return Ok(Blob::TooLarge { size });
    }
    Ok(Blob::Data(repo.find_blob(oid)?.content().to_vec()))
}
