//! Policy files as they are on disk in a work tree, committed or not.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::path::Path;

use git2::{Index, Repository, StatusOptions};

use super::{Blob, POLICY_DIR, PolicyFile, PolicySet, Revision, SourceError, is_policy_name};

pub(super) fn read_policies(repo: &Repository, workdir: &Path, describe: &str, max_bytes: u64) -> Result<PolicySet, SourceError> {
    let revision = Revision::WorkTree { head: head_sha(repo, describe)?, dirty: policies_dirty(repo, describe)? };
    let files = read_policy_dir(repo, workdir, describe, max_bytes)?;
    Ok(PolicySet { revision, files })
}

fn head_sha(repo: &Repository, describe: &str) -> Result<Option<String>, SourceError> {
    match repo.head().and_then(|head| head.peel_to_commit()) {
        Ok(commit) => Ok(Some(commit.id().to_string())),
        Err(e) if matches!(e.code(), git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound) => Ok(None),
        Err(e) => Err(SourceError::git(describe, "reading HEAD")(e)),
    }
}

/// Whether any policy file differs from `HEAD`: staged, edited, deleted, or
/// new and not ignored.
fn policies_dirty(repo: &Repository, describe: &str) -> Result<bool, SourceError> {
    let mut options = StatusOptions::new();
    options.pathspec(POLICY_DIR).include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
    let statuses = repo.statuses(Some(&mut options)).map_err(SourceError::git(describe, "reading the status of desired/"))?;
    let dirty = statuses.iter().any(|entry| belongs_to_a_policy(&String::from_utf8_lossy(entry.path_bytes())));
    Ok(dirty)
}

/// Whether `path` is a policy file, or lies inside a directory with a policy
/// name (which is reported as not a file, so its contents matter too).
fn belongs_to_a_policy(path: &str) -> bool {
    let Some(rest) = path.strip_prefix(POLICY_DIR).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    let name = rest.split('/').next().unwrap_or(rest);
    is_policy_name(name)
}

fn read_policy_dir(repo: &Repository, workdir: &Path, describe: &str, max_bytes: u64) -> Result<Vec<PolicyFile>, SourceError> {
    let dir = workdir.join(POLICY_DIR);
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SourceError::WorkTreeIo { repo: describe.to_owned(), path, source }
    };
    let metadata = match fs::symlink_metadata(&dir) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&dir)(e)),
    };
    if !metadata.is_dir() {
        return Err(SourceError::PolicyDirNotADirectory {
            repo: describe.to_owned(),
            revision: "the work tree".to_owned(),
            found: not_a_file_reason(&metadata).to_owned(),
        });
    }
    let index = fresh_index(repo, describe)?;
    let mut files = Vec::new();
    for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
        let entry = entry.map_err(io_error(&dir))?;
        let file_name = entry.file_name();
        let name = file_name.to_string_lossy();
        if !is_policy_name(&name) {
            continue;
        }
        let path = super::policy_path(&name);
        if is_ignored_and_untracked(repo, &index, &path) {
            continue;
        }
        let content = if file_name.to_str().is_none() {
            Blob::NotAFile { why: "a file whose name is not valid UTF-8".to_owned() }
        } else {
            read_file(&entry.path(), max_bytes).map_err(io_error(&entry.path()))?
        };
        files.push(PolicyFile { path, content });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The index as it is on disk now, not as it was when the repository was
/// opened: another process (the engineer's git) may have staged since.
fn fresh_index(repo: &Repository, describe: &str) -> Result<Index, SourceError> {
    let mut index = repo.index().map_err(SourceError::git(describe, "opening the index"))?;
    index.read(false).map_err(SourceError::git(describe, "reading the index"))?;
    Ok(index)
}

/// An ignored file that is not tracked would not be in a commit, so it is
/// not a policy. A tracked file stays a policy even if a pattern matches it.
fn is_ignored_and_untracked(repo: &Repository, index: &Index, path: &str) -> bool {
    let path = Path::new(path);
    // If git cannot tell, keep the file: showing too much beats hiding one.
    let ignored = repo.status_should_ignore(path).unwrap_or(false);
    ignored && index.get_path(path, 0).is_none()
}

/// Reads a regular file of at most `max_bytes` without following links.
fn read_file(path: &Path, max_bytes: u64) -> io::Result<Blob> {
    let metadata = fs::symlink_metadata(path)?;
    if !metadata.is_file() {
        return Ok(Blob::NotAFile { why: not_a_file_reason(&metadata).to_owned() });
    }
    if metadata.len() > max_bytes {
        return Ok(Blob::TooLarge { size: metadata.len() });
    }
    let file = File::open(path)?;
    let opened = file.metadata()?;
    // `open` follows links; if the path was swapped for one since it was
    // examined, the file opened is not the file examined.
    if !same_file(&metadata, &opened) {
        return Ok(Blob::NotAFile { why: "a file that was replaced while drctl was reading it".to_owned() });
    }
    let mut data = Vec::new();
    // One byte past the limit tells a file that grew since it was examined.
    (&file).take(max_bytes.saturating_add(1)).read_to_end(&mut data)?;
    if u64::try_from(data.len()).map_or(true, |len| len > max_bytes) {
        return Ok(Blob::TooLarge { size: file.metadata()?.len() });
    }
    Ok(Blob::Data(data))
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &Metadata, b: &Metadata) -> bool {
    b.is_file()
}

fn not_a_file_reason(metadata: &Metadata) -> &'static str {
    let kind = metadata.file_type();
    if kind.is_symlink() {
        "a symbolic link (drctl never follows links)"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_file() {
        "a file"
    } else {
        "not a regular file (a device, a socket or a pipe)"
    }
}
