//! The git source: where drctl's desired state comes from.
//!
//! Engineers change policies by editing `desired/*.yaml` in pull requests;
//! this module owns everything between a repository and the bytes of those
//! files. It opens a local repository (work tree or bare) or keeps a bare
//! mirror of a remote one in a cache directory, resolves references to
//! commits, reads the policy files at a commit or in the work tree, and lists
//! which policy files changed between two commits. It does not parse YAML:
//! the policy loader turns the bytes into policies.
//!
//! A policy file is an entry directly inside `desired/` whose name ends in
//! `.yaml` or `.yml`. Nested directories are not searched.
//!
//! # Guarantees
//!
//! - A blob or file larger than `max_bytes` is never read into memory: its
//!   size is taken from the object header or the file metadata first, and it
//!   is reported as [`Blob::TooLarge`].
//! - Symbolic links are never followed, in trees or in the work tree; they,
//!   submodules and directories with policy names are reported as
//!   [`Blob::NotAFile`] so that the loader can name them.
//! - A revision without a `desired/` directory yields an empty set, not an
//!   error. A `desired` that is a file or a link is an error, because reading
//!   it as "no policies" would look like every policy had been deleted.
//! - [`PolicySet::files`] and the result of [`Source::changed_between`] are
//!   sorted by path, so output built from them is deterministic.
//! - A remote's mirror is created by an atomic rename of an initialised
//!   repository, and a fetch moves a reference only after its objects are
//!   stored, so an interrupted fetch never leaves a half-made cache.
//! - No input makes this module panic; every failure is a [`SourceError`]
//!   naming the repository, reference or path, and how to fix it.
//! - A secret in a remote's URL (`https://user:TOKEN@host/...`) is taken out
//!   when the URL is parsed: errors, logs, the cache's name and the mirror's
//!   git config show the URL without it; only the credentials callback sees
//!   it. SSH host keys are checked against `known_hosts`, never trusted on
//!   first use.
//! - A fetch that fails leaves the mirror as the last good fetch left it;
//!   [`Source::open`] never touches the network, so a controller can start
//!   while its remote is down and retry.
//!
//! # Caveats
//!
//! - [`Source`] holds an open repository and is `Send` but not `Sync`: give
//!   each thread its own, or move it into a blocking task.
//! - The object store is trusted to be intact: libgit2 1.9 can spin forever
//!   reading a loose object whose zlib stream is cut short.
//! - libgit2 offers no proxy for SSH; HTTPS follows git's proxy settings.

mod error;
mod location;
mod remote;
mod tree;
mod worktree;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::policy;
use git2::{BranchType, ErrorCode, Repository};

pub use error::SourceError;
pub use remote::url::RemoteUrl;
pub use remote::{Credentials, Fetched, GivenToken};

/// How remotes are reached: where their mirrors are kept, and the
/// credentials and host keys for them.
#[derive(Debug, Clone)]
pub struct Access {
    pub cache_dir: PathBuf,
    pub credentials: Credentials,
}

impl Access {
    /// Mirrors under `cache_dir`, with no credentials but those in URLs and
    /// git's own helpers, and `~/.ssh/known_hosts`.
    pub fn with_cache(cache_dir: impl Into<PathBuf>) -> Access {
        Access { cache_dir: cache_dir.into(), credentials: Credentials::default() }
    }
}

/// The directory, at the top of the repository, that holds the policies.
const POLICY_DIR: &str = "desired";

/// How many branch names an error message lists before eliding the rest.
const BRANCHES_IN_ERRORS: usize = 10;

/// Repo-relative path like `desired/scans.yaml` plus its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFile {
    pub path: String,
    pub content: Blob,
}

/// The content of a policy file, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blob {
    Data(Vec<u8>),
    /// Larger than the limit the caller gave; never read.
    TooLarge {
        size: u64,
    },
    /// A symbolic link, a submodule, a directory with a policy name, or a
    /// name that is not UTF-8: something the loader must reject by name.
    NotAFile {
        why: String,
    },
}

/// All policy files of one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySet {
    pub revision: Revision,
    /// Sorted by path.
    pub files: Vec<PolicyFile>,
}

/// How many policy files drctl reads from one revision unless told
/// otherwise: a pull request adding thousands would otherwise ask for as
/// many preview change sets.
pub const DEFAULT_MAX_POLICIES: usize = 500;

impl PolicySet {
    /// The set, or [`SourceError::TooManyPolicies`] when it holds more than
    /// `max` files: refused whole, so no run acts on a part of it.
    pub fn at_most(self, max: usize, repo: &str) -> Result<PolicySet, SourceError> {
        // The guardrails and accounts files are more, whatever the number of policies.
        let policies = self
            .files
            .iter()
            .filter(|f| !policy::guardrails::is_guardrails_file(&f.path) && !policy::accounts::is_accounts_file(&f.path))
            .count();
        if policies <= max {
            return Ok(self);
        }
        let revision = match &self.revision {
            Revision::Commit { sha, .. } => sha.clone(),
            Revision::WorkTree { .. } => "the work tree".to_string(),
        };
        Err(SourceError::TooManyPolicies { repo: repo.to_string(), revision, count: policies, max })
    }
}

/// Where a [`PolicySet`] was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    /// A commit: its full sha and the reference the caller asked for.
    Commit { sha: String, reference: String },
    /// The files on disk. `head` is `None` before the first commit; `dirty`
    /// says whether any policy file differs from `head` (edited, deleted,
    /// or new and not ignored).
    WorkTree { head: Option<String>, dirty: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One policy file that differs between two commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
}

/// An open policy repository: local, or a cached mirror of a remote.
pub struct Source {
    origin: Origin,
}

enum Origin {
    Local { repo: Repository, path: PathBuf },
    Remote(remote::Mirror),
}

impl Source {
    /// Opens `repo`: a local path (work tree or bare repository) is opened in
    /// place; a URL (`file://`, `https://`, `ssh://`, `user@host:path`) opens
    /// its mirror under the cache directory, created empty on first use.
    /// Makes no network call: [`Source::fetch`] does.
    pub fn open(repo: &str, access: &Access) -> Result<Source, SourceError> {
        match location::parse(repo) {
            location::Location::Path(path) => Self::open_local(path),
            location::Location::Url => {
                let url = RemoteUrl::parse(repo)?;
                location::check_transport(&url)?;
                let mirror = remote::Mirror::open(url, &access.cache_dir, access.credentials.clone())?;
                Ok(Source { origin: Origin::Remote(mirror) })
            }
        }
    }

    /// Opens `repo` and fetches `reference` (what a one-off command does).
    pub fn open_at(repo: &str, reference: &str, access: &Access) -> Result<Source, SourceError> {
        let source = Self::open(repo, access)?;
        source.fetch(reference)?;
        Ok(source)
    }

    fn open_local(path: &Path) -> Result<Source, SourceError> {
        let repo = Repository::open(path).map_err(|source| SourceError::NotARepository { path: path.to_path_buf(), source })?;
        Ok(Source { origin: Origin::Local { repo, path: path.to_path_buf() } })
    }

    fn repo(&self) -> &Repository {
        match &self.origin {
            Origin::Local { repo, .. } => repo,
            Origin::Remote(mirror) => &mirror.repo,
        }
    }

    /// Fetches `reference` from a remote, so that it resolves to the
    /// remote's current commit; `None` for a local repository, which is read
    /// in place. On failure the mirror keeps what the last good fetch
    /// brought, and nothing else changes.
    pub fn fetch(&self, reference: &str) -> Result<Option<Fetched>, SourceError> {
        let Origin::Remote(mirror) = &self.origin else { return Ok(None) };
        match mirror.fetch(reference)? {
            Some(fetched) => Ok(Some(fetched)),
            None => Ok(Some(Fetched { commit: self.resolve(reference)?, previous: None, forced: false })),
        }
    }

    /// Resolves `HEAD`, a branch, a tag, a sha (full or unambiguous prefix)
    /// or any other git revision expression to a full commit sha. For a
    /// remote, branches are the remote's branches as of the last fetch and
    /// `HEAD` is the remote's default branch.
    pub fn resolve(&self, reference: &str) -> Result<String, SourceError> {
        Ok(self.find_commit(reference)?.id().to_string())
    }

    /// Reads the policy files of the commit `reference` resolves to.
    pub fn read_at(&self, reference: &str, max_bytes: u64) -> Result<PolicySet, SourceError> {
        let commit = self.find_commit(reference)?;
        let sha = commit.id().to_string();
        let files = tree::read_policies(self.repo(), &commit, max_bytes, &self.describe())?;
        Ok(PolicySet { revision: Revision::Commit { sha, reference: reference.to_owned() }, files })
    }

    /// Reads the policy files as they are on disk in a local work tree,
    /// committed or not. Untracked files that git ignores are left out, as
    /// they would be from a commit.
    pub fn read_worktree(&self, max_bytes: u64) -> Result<PolicySet, SourceError> {
        let (repo, workdir) = match &self.origin {
            Origin::Remote(_) => return Err(self.no_work_tree("it is a remote, read through a bare mirror")),
            Origin::Local { repo, .. } => match repo.workdir() {
                None => return Err(self.no_work_tree("it is a bare repository")),
                Some(workdir) => (repo, workdir.to_path_buf()),
            },
        };
        worktree::read_policies(repo, &workdir, &self.describe(), max_bytes)
    }

    /// Lists the policy files that differ between the commits `from` and `to`
    /// resolve to, sorted by path. Other files are ignored.
    pub fn changed_between(&self, from: &str, to: &str) -> Result<Vec<Change>, SourceError> {
        let from = self.find_commit(from)?;
        let to = self.find_commit(to)?;
        tree::changed_policies(self.repo(), &from, &to, &self.describe())
    }

    fn find_commit(&self, reference: &str) -> Result<git2::Commit<'_>, SourceError> {
        let object = self.repo().revparse_single(reference).map_err(|e| self.reference_error(reference, e))?;
        object.peel_to_commit().map_err(|_| SourceError::NotACommit {
            repo: self.describe(),
            reference: reference.to_owned(),
            kind: object.kind().map_or("unknown object", |k| k.str()).to_owned(),
        })
    }

    fn reference_error(&self, reference: &str, error: git2::Error) -> SourceError {
        let repo = self.describe();
        let reference = reference.to_owned();
        match error.code() {
            ErrorCode::NotFound | ErrorCode::UnbornBranch => {
                SourceError::ReferenceNotFound { repo, reference, known_branches: self.known_branches() }
            }
            ErrorCode::Ambiguous => SourceError::AmbiguousReference { repo, reference },
            ErrorCode::InvalidSpec => SourceError::InvalidReference { repo, reference, source: error },
            _ => SourceError::Git { repo, action: format!("resolving `{reference}`"), source: error },
        }
    }

    /// Branch names for an error message; best effort, because it is only
    /// ever called while reporting another failure.
    fn known_branches(&self) -> String {
        let names: Vec<String> = match self.repo().branches(Some(BranchType::Local)) {
            Ok(branches) => {
                branches.filter_map(Result::ok).filter_map(|(branch, _)| branch.name().ok().flatten().map(str::to_owned)).collect()
            }
            Err(_) => return "(could not list them)".to_owned(),
        };
        if names.is_empty() {
            return "none (the repository has no commits)".to_owned();
        }
        list_elided(names)
    }

    fn no_work_tree(&self, why: &str) -> SourceError {
        SourceError::NoWorkTree { repo: self.describe(), why: why.to_owned() }
    }

    /// How errors name this repository: the path or URL the caller gave.
    fn describe(&self) -> String {
        self.to_string()
    }
}

/// Sorted names, joined, the tail elided past a few.
fn list_elided(mut names: Vec<String>) -> String {
    names.sort();
    let total = names.len();
    names.truncate(BRANCHES_IN_ERRORS);
    let listed = names.join(", ");
    match total - names.len() {
        0 => listed,
        more => format!("{listed} and {more} more"),
    }
}

/// The path, or the URL without its secret.
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Local { path, .. } => write!(f, "{}", path.display()),
            Origin::Remote(mirror) => write!(f, "{}", mirror.url),
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source").field("repo", &self.to_string()).finish_non_exhaustive()
    }
}

/// Whether `name`, an entry directly inside `desired/`, is a policy file.
fn is_policy_name(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// The repo-relative path of the policy file called `name`.
fn policy_path(name: &str) -> String {
    format!("{POLICY_DIR}/{name}")
}

impl PolicySet {
    /// The commit the policies were read at; `None` for the work tree.
    pub fn commit(&self) -> Option<String> {
        match &self.revision {
            Revision::Commit { sha, .. } => Some(sha.clone()),
            Revision::WorkTree { .. } => None,
        }
    }

    /// The policy loader's view of a policy set.
    pub fn inputs(&self) -> Vec<policy::Input> {
        self.files
            .iter()
            .map(|file| policy::Input {
                file: file.path.clone(),
                content: match &file.content {
                    Blob::Data(bytes) => Ok(bytes.clone()),
                    Blob::TooLarge { size } => Err(policy::load::too_large(&file.path, *size)),
                    Blob::NotAFile { why } => Err(policy::Finding::error(
                        &file.path,
                        policy::Position::START,
                        "not-a-file",
                        format!("not a regular file: {why}"),
                        "make the policy a plain file in desired/",
                    )),
                },
            })
            .collect()
    }
}
