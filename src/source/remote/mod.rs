//! A bare mirror of a remote repository, kept in the cache directory, and
//! fetched like a controller fetches: only the reference it follows.
//!
//! Each fetch first lists the remote's references (one round trip); when
//! the followed reference has not moved, nothing is downloaded. Otherwise
//! only that reference is fetched into the mirror under its own name
//! (`refs/heads/main`), shallow the first time and incrementally after, so
//! that references resolve in the mirror as they would in the remote and a
//! force-push can be told from a fast-forward. A reference given as a sha
//! or a revision expression fetches every reference, as a plain mirror.

mod auth;
mod known_hosts;
pub mod url;

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process;
use std::time::{SystemTime, UNIX_EPOCH};

use git2::{AutotagOption, Direction, FetchOptions, FetchPrune, Oid, ProxyOptions, Repository};

use auth::Authenticator;
pub use auth::{Credentials, GivenToken};
use url::{RemoteUrl, Transport};

use super::SourceError;
use super::location::cache_name;

const REMOTE_NAME: &str = "origin";
const EVERYTHING: &str = "+refs/*:refs/*";
/// libgit2's `GIT_FETCH_DEPTH_UNSHALLOW`: fetch the history a shallow
/// mirror lacks.
const UNSHALLOW: i32 = i32::MAX;

/// A mirror in the cache and how to reach its remote.
pub(super) struct Mirror {
    pub repo: Repository,
    pub url: RemoteUrl,
    credentials: Credentials,
}

/// What a fetch brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The commit the reference points at now.
    pub commit: String,
    /// The commit it pointed at in the mirror before, if any.
    pub previous: Option<String>,
    /// The reference moved to a commit that does not descend from
    /// `previous`: it was force-pushed (or reset), and drctl follows it.
    pub forced: bool,
}

/// What one reference names on the remote.
enum Target {
    /// A branch or tag (full name) and the commit it points at; `head` when
    /// it was reached through the remote's `HEAD`.
    Ref { name: String, oid: Oid, head: bool },
    /// A commit the mirror already holds: commits never change.
    Present(Oid),
    /// A sha or an expression: every reference is needed to resolve it.
    Everything,
}

impl Mirror {
    /// Opens the mirror of `url` under `cache_dir`, creating an empty one on
    /// first use. Makes no network call.
    pub fn open(url: RemoteUrl, cache_dir: &Path, credentials: Credentials) -> Result<Mirror, SourceError> {
        let cache = cache_dir.join(cache_name(url.clean()));
        let repo = if cache.exists() { open_existing(&url, &cache)? } else { create(&url, cache_dir, &cache)? };
        Ok(Mirror { repo, url, credentials })
    }

    /// Brings `reference` from the remote into the mirror. `None` when
    /// every reference was fetched (a sha or an expression): the caller
    /// resolves it in the mirror.
    pub fn fetch(&self, reference: &str) -> Result<Option<Fetched>, SourceError> {
        let auth = Authenticator::new(&self.url, &self.credentials)?;
        let target = self.target(reference, &auth)?;
        let (refspec, previous, head) = match &target {
            Target::Present(oid) => return Ok(Some(Fetched { commit: oid.to_string(), previous: None, forced: false })),
            Target::Ref { name, oid, head } => {
                let previous = self.repo.refname_to_id(name).ok();
                if previous == Some(*oid) {
                    tracing::debug!(url = %self.url, reference, commit = %oid, "policy repository unchanged");
                    self.point_head(name, *head)?;
                    return Ok(Some(Fetched { commit: oid.to_string(), previous: previous.map(|p| p.to_string()), forced: false }));
                }
                (format!("+{name}:{name}"), previous, Some((name.clone(), *head)))
            }
            Target::Everything => (EVERYTHING.to_owned(), None, None),
        };
        let depth = self.depth(previous.is_some(), matches!(target, Target::Everything));
        tracing::info!(url = %self.url, reference, depth, "fetching policy repository");
        let mut options = self.fetch_options(&auth);
        options.depth(depth);
        let mut remote = self.remote()?;
        remote.fetch(&[refspec.as_str()], Some(&mut options), Some("drctl: fetch")).map_err(|e| auth.failure("fetching", e))?;
        drop(remote);
        let Some((name, head)) = head else { return Ok(None) };
        self.point_head(&name, head)?;
        let commit = self.repo.refname_to_id(&name).map_err(SourceError::git(&self.url.to_string(), format!("reading {name}")))?;
        let forced = previous.is_some_and(|old| !self.repo.graph_descendant_of(commit, old).unwrap_or(false));
        if forced {
            tracing::warn!(url = %self.url, reference, commit = %commit, previous = %previous.unwrap_or(Oid::ZERO_SHA1),
                "the reference was force-pushed (its previous commit is not an ancestor of the new one); following it");
        }
        Ok(Some(Fetched { commit: commit.to_string(), previous: previous.map(|p| p.to_string()), forced }))
    }

    /// Lists the remote's references and picks what `reference` names.
    fn target(&self, reference: &str, auth: &Authenticator<'_>) -> Result<Target, SourceError> {
        if let Some(oid) = full_sha(reference).filter(|oid| self.repo.find_commit(*oid).is_ok()) {
            return Ok(Target::Present(oid));
        }
        let mut remote = self.remote()?;
        let connection =
            remote.connect_auth(Direction::Fetch, Some(auth.callbacks()), self.proxy()).map_err(|e| auth.failure("connecting to", e))?;
        let heads: Vec<(String, Oid)> = connection
            .list()
            .map_err(|e| auth.failure("listing the references of", e))?
            .iter()
            .filter(|head| !head.name().ends_with("^{}"))
            .map(|head| (head.name().to_owned(), head.oid()))
            .collect();
        let default_branch = connection.default_branch().ok().and_then(|b| b.as_str().ok().map(str::to_owned));
        drop(connection);
        let find = |name: &str| heads.iter().find(|(n, _)| n == name).map(|(n, oid)| (n.clone(), *oid));
        if reference == "HEAD" {
            return match default_branch.as_deref().and_then(find) {
                Some((name, oid)) => Ok(Target::Ref { name, oid, head: true }),
                None => Err(self.not_found(reference, &heads, "the remote's HEAD names no branch; give --ref")),
            };
        }
        let candidates = if reference.starts_with("refs/") {
            vec![reference.to_owned()]
        } else {
            ["refs/", "refs/tags/", "refs/heads/", "refs/remotes/"].iter().map(|prefix| format!("{prefix}{reference}")).collect()
        };
        if let Some((name, oid)) = candidates.iter().find_map(|c| find(c)) {
            return Ok(Target::Ref { name, oid, head: false });
        }
        if looks_like_a_sha_or_expression(reference) {
            return Ok(Target::Everything);
        }
        Err(self.not_found(reference, &heads, ""))
    }

    fn not_found(&self, reference: &str, heads: &[(String, Oid)], why: &str) -> SourceError {
        let mut branches: Vec<&str> = heads.iter().filter_map(|(name, _)| name.strip_prefix("refs/heads/")).collect();
        branches.sort_unstable();
        let known_branches = match (why, branches.is_empty()) {
            ("", true) => "none (the remote has no branches)".to_owned(),
            ("", false) => super::list_elided(branches.iter().map(|b| b.to_string()).collect()),
            (why, _) => why.to_owned(),
        };
        SourceError::ReferenceNotFound { repo: self.url.to_string(), reference: reference.to_owned(), known_branches }
    }

    /// Shallow (one commit) for a reference the mirror has never had; an
    /// incremental fetch after, so that the previous commit's descendants
    /// arrive and a force-push shows. The local transport cannot fetch
    /// shallow.
    fn depth(&self, had_it: bool, everything: bool) -> i32 {
        match (self.url.transport(), everything, had_it) {
            (Transport::File, _, _) => 0,
            (_, true, _) if self.repo.is_shallow() => UNSHALLOW,
            (_, true, _) | (_, false, true) => 0,
            (_, false, false) => 1,
        }
    }

    fn fetch_options<'a>(&self, auth: &'a Authenticator<'a>) -> FetchOptions<'a> {
        let mut options = FetchOptions::new();
        options.remote_callbacks(auth.callbacks()).prune(FetchPrune::On).download_tags(AutotagOption::None);
        if let Some(proxy) = self.proxy() {
            options.proxy_options(proxy);
        }
        options
    }

    /// HTTPS goes through the proxy git would use (`http.proxy`,
    /// `https_proxy`, `HTTPS_PROXY`, `no_proxy`); libgit2 has no proxy for SSH.
    fn proxy(&self) -> Option<ProxyOptions<'static>> {
        (self.url.transport() == Transport::Https).then(|| {
            let mut proxy = ProxyOptions::new();
            proxy.auto();
            proxy
        })
    }

    /// The remote, always at the URL without secrets.
    fn remote(&self) -> Result<git2::Remote<'_>, SourceError> {
        self.repo.find_remote(REMOTE_NAME).map_err(SourceError::git(&self.url.to_string(), "reading the mirror's remote"))
    }

    /// The mirror's `HEAD` follows the remote's default branch when that is
    /// what was asked for.
    fn point_head(&self, name: &str, head: bool) -> Result<(), SourceError> {
        if !head {
            return Ok(());
        }
        self.repo.set_head(name).map_err(SourceError::git(&self.url.to_string(), format!("pointing HEAD at {name}")))
    }
}

/// A full 40-hex sha.
fn full_sha(reference: &str) -> Option<Oid> {
    (reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Oid::from_str(reference).ok()).flatten()
}

/// A sha prefix (hex, 4 or more digits) or a revision expression (`main~1`).
fn looks_like_a_sha_or_expression(reference: &str) -> bool {
    let hex = reference.len() >= 4 && reference.bytes().all(|b| b.is_ascii_hexdigit());
    hex || reference.contains(['~', '^', '@', ':'])
}

fn open_existing(url: &RemoteUrl, cache: &Path) -> Result<Repository, SourceError> {
    let conflict = |found: String| SourceError::CacheConflict { url: url.to_string(), cache: cache.to_path_buf(), found };
    let repo = Repository::open_bare(cache).map_err(|_| conflict("something that is not a bare git repository".to_owned()))?;
    let cached_url = repo.find_remote(REMOTE_NAME).ok().and_then(|remote| remote.url().ok().map(str::to_owned));
    match cached_url {
        Some(cached) if cached == url.clean() => Ok(repo),
        Some(other) => Err(conflict(format!("a mirror of `{}`", url::redact_unparsed(&other)))),
        None => Err(conflict(format!("a git repository without a readable `{REMOTE_NAME}` remote"))),
    }
}

/// Initialises an empty mirror in a scratch directory next to `cache` and
/// renames it into place, so that `cache` only ever holds a whole
/// repository. The cache directory is private (0700): the mirror holds the
/// policies, and its name and config hold the URL without its secret.
fn create(url: &RemoteUrl, cache_dir: &Path, cache: &Path) -> Result<Repository, SourceError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SourceError::CacheIo { url: url.to_string(), path, source }
    };
    private_dir(cache_dir).map_err(io_error(cache_dir))?;
    let scratch = scratch_dir(cache);
    if let Err(source) = init_mirror(url, &scratch) {
        let _ = fs::remove_dir_all(&scratch);
        return Err(SourceError::git(&url.to_string(), "creating the mirror")(source));
    }
    if let Err(rename_error) = fs::rename(&scratch, cache) {
        let _ = fs::remove_dir_all(&scratch);
        // Another drctl made the same mirror first: use its mirror.
        return if cache.exists() { open_existing(url, cache) } else { Err(io_error(cache)(rename_error)) };
    }
    open_existing(url, cache)
}

fn init_mirror(url: &RemoteUrl, dir: &Path) -> Result<(), git2::Error> {
    let repo = Repository::init_bare(dir)?;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    repo.remote_with_fetch(REMOTE_NAME, url.clean(), EVERYTHING)?;
    Ok(())
}

/// Creates `dir` and its missing parents as 0700 (they hold mirrors of
/// private policies). An existing directory is left as it is: it may be
/// shared, like `/tmp`.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// A sibling of `cache` that no other process will pick: hidden, with this
/// process's id and the time in its name.
fn scratch_dir(cache: &Path) -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.subsec_nanos());
    let name = cache.file_name().map_or_else(|| "repo".into(), |name| name.to_string_lossy());
    cache.with_file_name(format!(".{name}.partial-{}-{nanos}", process::id()))
}
