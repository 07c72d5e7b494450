use std::io;
use std::path::PathBuf;

/// Why the git source could not answer. Each variant names the repository
/// (the path or URL the caller gave) and says what to do about it; the
/// underlying git or I/O error is kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "{repo} at {revision} has {count} policy files in desired/, more than the {max} drctl reads at once (each may cost a preview change set and a drill); split the repository, or raise the cap with --max-policies"
    )]
    TooManyPolicies { repo: String, revision: String, count: usize, max: usize },

    #[error(
        "`{}` is not a git repository; give the top directory of a work tree, a bare repository, or a file:// URL",
        path.display()
    )]
    NotARepository {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },

    #[error(
        "cannot read `{url}`: this drctl binary was built without the `{scheme}` transport (it can read {supported}); clone the repository yourself and give drctl its local path"
    )]
    UnsupportedTransport { url: String, scheme: String, supported: String },

    #[error(
        "cannot write the cache for `{url}` at {}; check that the cache directory can be created and is writable",
        path.display()
    )]
    CacheIo {
        url: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "the cache directory {} for `{url}` holds {found}; remove it so that drctl can clone afresh, or use another cache directory",
        cache.display()
    )]
    CacheConflict { url: String, cache: PathBuf, found: String },

    #[error("cannot use the repository URL `{url}`: {why}")]
    InvalidUrl { url: String, why: String },

    #[error("--git-token-env names ${name}, which is not set or empty; export the token in it, or drop the flag")]
    TokenEnv { name: String },

    #[error("the SSH key {} (--ssh-key) cannot be read; check the path and that this user can read it", path.display())]
    SshKey {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("refusing the SSH host {host}: {why}")]
    HostKey { host: String, why: String },

    #[error("cannot authenticate to {host} for `{url}`: tried {tried}; {hint}")]
    Authentication { url: String, host: String, tried: String, hint: &'static str },

    #[error(
        "cannot fetch `{url}` ({action} the remote failed); check the URL, the network and any proxy. Nothing was changed: the cache keeps the commits of the last good fetch"
    )]
    Transport {
        url: String,
        action: &'static str,
        #[source]
        source: git2::Error,
    },

    #[error("reference `{reference}` not found in {repo}: known branches: {known_branches}")]
    ReferenceNotFound { repo: String, reference: String, known_branches: String },

    #[error(
        "reference `{reference}` is ambiguous in {repo}: give more hex digits of the sha, or the full name (refs/heads/..., refs/tags/...)"
    )]
    AmbiguousReference { repo: String, reference: String },

    #[error("`{reference}` is not a valid reference in {repo}; give a branch, a tag or a commit sha")]
    InvalidReference {
        repo: String,
        reference: String,
        #[source]
        source: git2::Error,
    },

    #[error("reference `{reference}` in {repo} points at a {kind}, not a commit; give a branch, a tag or a commit sha")]
    NotACommit { repo: String, reference: String, kind: String },

    #[error("cannot read uncommitted files from {repo}: {why}; read a commit instead, or give drctl the path of a local work tree")]
    NoWorkTree { repo: String, why: String },

    #[error("`desired` in {repo} at {revision} is {found}, not a directory; policies must be files directly inside a `desired/` directory")]
    PolicyDirNotADirectory { repo: String, revision: String, found: String },

    #[error("cannot read {} in the work tree of {repo}; check its permissions", path.display())]
    WorkTreeIo {
        repo: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("git failed while {action} in {repo}")]
    Git {
        repo: String,
        action: String,
        #[source]
        source: git2::Error,
    },
}

impl SourceError {
    /// A git failure with no more specific remedy than its own message.
    pub(super) fn git(repo: &str, action: impl Into<String>) -> impl FnOnce(git2::Error) -> Self {
        let repo = repo.to_owned();
        let action = action.into();
        move |source| SourceError::Git { repo, action, source }
    }
}
