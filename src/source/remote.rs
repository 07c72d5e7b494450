//! A bare mirror of a remote repository, kept in the cache directory.
//!
//! The mirror's refs are the remote's refs (`+refs/*:refs/*`, pruned), and its
//! `HEAD` follows the remote's default branch, so references resolve in the
//! mirror exactly as they would in the remote.

use std::fs;
use std::path::{Path, PathBuf};
use std::process;
use std::time::{SystemTime, UNIX_EPOCH};

use git2::{AutotagOption, FetchOptions, FetchPrune, Remote, Repository};

use super::SourceError;
use super::location::cache_name;

const REMOTE_NAME: &str = "origin";
const MIRROR_REFSPEC: &str = "+refs/*:refs/*";

/// Opens the mirror of `url` under `cache_dir`, cloning it on first use and
/// fetching it otherwise. Returns the repository and its directory.
pub(super) fn open_mirror(url: &str, cache_dir: &Path) -> Result<(Repository, PathBuf), SourceError> {
    let cache = cache_dir.join(cache_name(url));
    if cache.exists() {
        let repo = open_existing(url, &cache)?;
        fetch_mirror(&repo, url, &cache)?;
        return Ok((repo, cache));
    }
    let repo = clone_into(url, cache_dir, &cache)?;
    Ok((repo, cache))
}

/// Fetches every ref of the remote into the mirror and points `HEAD` at the
/// remote's default branch.
pub(super) fn fetch_mirror(repo: &Repository, url: &str, cache: &Path) -> Result<(), SourceError> {
    tracing::debug!(url, cache = %cache.display(), "fetching policy repository");
    fetch_all(repo).map_err(|source| SourceError::Fetch { url: url.to_owned(), cache: cache.to_path_buf(), source })
}

fn fetch_all(repo: &Repository) -> Result<(), git2::Error> {
    let mut remote = repo.find_remote(REMOTE_NAME)?;
    let mut options = FetchOptions::new();
    // The refspec already covers refs/tags; pruning drops deleted branches so
    // that they stop resolving.
    options.prune(FetchPrune::On).download_tags(AutotagOption::None);
    remote.fetch::<&str>(&[], Some(&mut options), Some("drctl: fetch"))?;
    follow_remote_head(repo, &remote)
}

/// Points the mirror's `HEAD` at the branch the remote's `HEAD` names.
fn follow_remote_head(repo: &Repository, remote: &Remote<'_>) -> Result<(), git2::Error> {
    // An empty remote has no default branch; keeping the old HEAD is right.
    let Ok(branch) = remote.default_branch() else {
        return Ok(());
    };
    repo.set_head(branch.as_str()?)
}

fn open_existing(url: &str, cache: &Path) -> Result<Repository, SourceError> {
    let conflict = |found: String| SourceError::CacheConflict { url: url.to_owned(), cache: cache.to_path_buf(), found };
    let repo = Repository::open_bare(cache).map_err(|_| conflict("something that is not a bare git repository".to_owned()))?;
    let cached_url = repo.find_remote(REMOTE_NAME).ok().and_then(|remote| remote.url().ok().map(str::to_owned));
    match cached_url {
        Some(cached) if cached == url => Ok(repo),
        Some(other) => Err(conflict(format!("a mirror of `{other}`"))),
        None => Err(conflict(format!("a git repository without a readable `{REMOTE_NAME}` remote"))),
    }
}

/// Clones into a scratch directory next to `cache` and renames it into
/// place, so that `cache` only ever holds a complete mirror.
fn clone_into(url: &str, cache_dir: &Path, cache: &Path) -> Result<Repository, SourceError> {
    tracing::info!(url, cache = %cache.display(), "cloning policy repository");
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SourceError::CacheIo { url: url.to_owned(), path, source }
    };
    fs::create_dir_all(cache_dir).map_err(io_error(cache_dir))?;
    let scratch = scratch_dir(cache);
    if let Err(source) = init_mirror(url, &scratch) {
        let _ = fs::remove_dir_all(&scratch);
        return Err(SourceError::Clone { url: url.to_owned(), cache: cache.to_path_buf(), source });
    }
    if let Err(rename_error) = fs::rename(&scratch, cache) {
        let _ = fs::remove_dir_all(&scratch);
        // Another drctl finished the same clone first: use its mirror.
        return if cache.exists() { open_existing(url, cache) } else { Err(io_error(cache)(rename_error)) };
    }
    open_existing(url, cache)
}

fn init_mirror(url: &str, dir: &Path) -> Result<(), git2::Error> {
    let repo = Repository::init_bare(dir)?;
    repo.remote_with_fetch(REMOTE_NAME, url, MIRROR_REFSPEC)?;
    fetch_all(&repo)
}

/// A sibling of `cache` that no other process will pick: hidden, with this
/// process's id and the time in its name.
fn scratch_dir(cache: &Path) -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.subsec_nanos());
    let name = cache.file_name().map_or_else(|| "repo".into(), |name| name.to_string_lossy());
    cache.with_file_name(format!(".{name}.partial-{}-{nanos}", process::id()))
}
