//! Credentials for a remote, offered to libgit2 one at a time in the order
//! git users expect, and the host-key check for SSH.
//!
//! HTTPS: the token in the URL, then a token drctl was handed (the Lambda
//! handler reads one from an SSM parameter), then the environment variable
//! named by `--git-token-env`, then git's credential helpers
//! (`credential.helper`).
//! SSH: the key file given by `--ssh-key`, then the SSH agent. libgit2 asks
//! again after each refusal; when every method was refused, the fetch fails
//! with an error naming the host and the methods tried, never a secret.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};

use super::known_hosts::{self, HostKey, Verdict};
use super::url::{RemoteUrl, Transport};
use crate::source::SourceError;

/// How drctl may authenticate to remotes and check their SSH host keys.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// An HTTPS token drctl was handed, and where it came from.
    pub token: Option<GivenToken>,
    /// An environment variable holding an HTTPS token (`GITHUB_TOKEN`).
    pub token_env: Option<String>,
    /// A private key file for SSH (a deploy key).
    pub ssh_key: Option<PathBuf>,
    /// The `known_hosts` file SSH host keys are checked against (default:
    /// `~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
}

/// An HTTPS token read by drctl itself (from an SSM parameter), named by
/// where it came from. Its `Debug` never shows the token.
#[derive(Clone)]
pub struct GivenToken {
    /// Where it came from, as errors name it (`SSM parameter /drctl/git-token`).
    pub from: String,
    pub token: String,
}

impl std::fmt::Debug for GivenToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GivenToken").field("from", &self.from).field("token", &"<hidden>").finish()
    }
}

impl Credentials {
    fn known_hosts_file(&self) -> Option<PathBuf> {
        self.known_hosts.clone().or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".ssh/known_hosts")))
    }
}

/// One method of authenticating, in the order they are offered.
enum Method {
    UrlToken { user: String, token: String },
    GivenToken { from: String, user: String, token: String },
    EnvToken { name: String, user: String, token: String },
    CredentialHelper,
    KeyFile(PathBuf),
    Agent,
}

impl Method {
    fn describe(&self) -> String {
        match self {
            Method::UrlToken { .. } => "the token in the URL".to_owned(),
            Method::GivenToken { from, .. } => format!("the token in {from}"),
            Method::EnvToken { name, .. } => format!("the token in ${name} (--git-token-env)"),
            Method::CredentialHelper => "git's credential helpers".to_owned(),
            Method::KeyFile(path) => format!("the key {} (--ssh-key)", path.display()),
            Method::Agent => "the SSH agent".to_owned(),
        }
    }
}

/// What the callbacks saw during one connection, for the error afterwards.
#[derive(Default)]
pub struct Attempt {
    /// The methods offered to the server, in order.
    pub tried: Vec<String>,
    /// Every method was offered and refused (or none applied).
    pub exhausted: bool,
    /// Why the host key was refused, when it was.
    pub host_key: Option<SourceError>,
}

/// The username HTTPS forges expect with a bare token (GitHub documents
/// `x-access-token`; GitLab and Bitbucket accept any name with a token).
const TOKEN_USER: &str = "x-access-token";
const SSH_USER: &str = "git";

/// The per-connection authenticator: builds libgit2 callbacks and records
/// what they tried.
pub struct Authenticator<'a> {
    url: &'a RemoteUrl,
    methods: Vec<Method>,
    /// The next method to offer on this connection.
    next: Cell<usize>,
    pub attempt: RefCell<Attempt>,
    known_hosts: Option<(PathBuf, Option<String>)>,
}

impl<'a> Authenticator<'a> {
    /// Reads what the methods need up front (the token variable, the
    /// `known_hosts` file), so that a missing one is a clear error before any
    /// connection.
    pub fn new(url: &'a RemoteUrl, credentials: &'a Credentials) -> Result<Authenticator<'a>, SourceError> {
        let methods = match url.transport() {
            Transport::File => Vec::new(),
            Transport::Https => https_methods(url, credentials)?,
            Transport::Ssh => ssh_methods(credentials),
        };
        if let (Transport::Ssh, Some(path)) = (url.transport(), &credentials.ssh_key) {
            std::fs::File::open(path).map_err(|source| SourceError::SshKey { path: path.clone(), source })?;
        }
        let known_hosts = (url.transport() == Transport::Ssh).then(|| credentials.known_hosts_file()).flatten().map(|path| {
            let content = std::fs::read_to_string(&path).ok();
            (path, content)
        });
        Ok(Authenticator { url, methods, next: Cell::new(0), attempt: RefCell::default(), known_hosts })
    }

    /// libgit2 callbacks for one connection: they offer the methods from
    /// the first on (each connection authenticates afresh) and check SSH
    /// host keys.
    pub fn callbacks(&'a self) -> RemoteCallbacks<'a> {
        self.next.set(0);
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(move |_url, username_from_url, allowed| self.next_credential(username_from_url, allowed));
        callbacks.certificate_check(move |cert, _host| match cert.as_hostkey() {
            // TLS certificates: libgit2 has checked them against the system's
            // roots (or SSL_CERT_FILE); keep its verdict.
            None => Ok(CertificateCheckStatus::CertificatePassthrough),
            Some(hostkey) => self.check_host_key(hostkey.hostkey()),
        });
        callbacks
    }

    fn next_credential(&self, username_from_url: Option<&str>, allowed: CredentialType) -> Result<Cred, git2::Error> {
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(username_from_url.or(self.url.user()).unwrap_or(SSH_USER));
        }
        while let Some(method) = self.methods.get(self.next.get()) {
            self.next.set(self.next.get() + 1);
            if let Some(credential) = self.credential(method, username_from_url, allowed) {
                let mut attempt = self.attempt.borrow_mut();
                let described = method.describe();
                if !attempt.tried.contains(&described) {
                    attempt.tried.push(described);
                }
                return Ok(credential);
            }
        }
        self.attempt.borrow_mut().exhausted = true;
        Err(git2::Error::from_str("drctl has no more credentials to offer"))
    }

    /// The credential `method` gives, or `None` when it does not apply to
    /// what the server allows or has nothing to give.
    fn credential(&self, method: &Method, username_from_url: Option<&str>, allowed: CredentialType) -> Option<Cred> {
        let ssh_user = username_from_url.or(self.url.user()).unwrap_or(SSH_USER);
        let plaintext = allowed.contains(CredentialType::USER_PASS_PLAINTEXT);
        let ssh_key = allowed.contains(CredentialType::SSH_KEY);
        match method {
            Method::UrlToken { user, token } | Method::GivenToken { user, token, .. } | Method::EnvToken { user, token, .. }
                if plaintext =>
            {
                Cred::userpass_plaintext(user, token).ok()
            }
            Method::CredentialHelper if plaintext => {
                let config = git2::Config::open_default().ok()?;
                Cred::credential_helper(&config, self.url.clean(), self.url.user()).ok()
            }
            Method::KeyFile(path) if ssh_key => Cred::ssh_key(ssh_user, None, path, None).ok(),
            Method::Agent if ssh_key => Cred::ssh_key_from_agent(ssh_user).ok(),
            _ => None,
        }
    }

    fn check_host_key(&self, blob: Option<&[u8]>) -> Result<CertificateCheckStatus, git2::Error> {
        let host = self.url.known_hosts_name();
        let refuse = |error: SourceError| {
            let message = error.to_string();
            self.attempt.borrow_mut().host_key = Some(error);
            Err(git2::Error::from_str(&message))
        };
        let Some(blob) = blob else {
            return refuse(SourceError::HostKey { host, why: "libssh2 did not present the server's host key".to_owned() });
        };
        let key = HostKey::new(blob);
        let Some((path, content)) = &self.known_hosts else {
            return refuse(SourceError::HostKey {
                host,
                why: "no known_hosts file: HOME is not set; give one with --known-hosts".to_owned(),
            });
        };
        let file = path.display();
        let why = match content {
            None => format!("{file} cannot be read; give a known_hosts file that lists {host} with --known-hosts"),
            Some(content) => match known_hosts::check(content, &host, &key) {
                Verdict::Known => {
                    tracing::debug!(host, key = %key, "SSH host key known");
                    return Ok(CertificateCheckStatus::CertificateOk);
                }
                Verdict::Unknown => format!(
                    "the server's key ({key}) is not in {file}; check it against the fingerprint the host publishes, then add it (ssh-keyscan {} >> {file})",
                    self.url.keyscan_args()
                ),
                Verdict::Changed { line } => format!(
                    "HOST KEY CHANGED: the server offered {key}, but {file}:{line} lists another {} key for it; someone may be intercepting the connection. If the host really changed its key, replace that line",
                    key.key_type()
                ),
                Verdict::OtherTypes { listed } => format!(
                    "the server offered {key}, but {file} lists only {} keys for it; add its {} key after checking its fingerprint",
                    listed.join(", "),
                    key.key_type()
                ),
                Verdict::Revoked { line } => format!("the server's key ({key}) is marked @revoked in {file}:{line}"),
            },
        };
        refuse(SourceError::HostKey { host, why })
    }

    /// The error for a connection that failed: the host key, the
    /// credentials, or the transport's own error.
    pub fn failure(&self, action: &'static str, source: git2::Error) -> SourceError {
        let mut attempt = self.attempt.borrow_mut();
        if let Some(error) = attempt.host_key.take() {
            return error;
        }
        if attempt.exhausted || source.code() == git2::ErrorCode::Auth {
            let tried = if attempt.tried.is_empty() { self.nothing_to_offer() } else { attempt.tried.join(", then ") };
            return SourceError::Authentication { url: self.url.to_string(), host: self.url.host().to_owned(), tried, hint: self.hint() };
        }
        SourceError::Transport { url: self.url.to_string(), action, source }
    }

    /// What was missing when no method had a credential to offer.
    fn nothing_to_offer(&self) -> String {
        match self.url.transport() {
            Transport::Ssh => "nothing: no --ssh-key was given and no SSH agent is running (SSH_AUTH_SOCK)".to_owned(),
            _ => "nothing: no token in the URL or with --git-token-env, and git's credential helpers had none".to_owned(),
        }
    }

    fn hint(&self) -> &'static str {
        match self.url.transport() {
            Transport::Ssh => "check that the deploy key is added to the repository and readable, or that the agent holds it",
            _ => "check that the token is valid, unexpired and can read the repository",
        }
    }
}

fn https_methods(url: &RemoteUrl, credentials: &Credentials) -> Result<Vec<Method>, SourceError> {
    let mut methods = Vec::new();
    if let Some(token) = url.secret() {
        methods.push(Method::UrlToken { user: url.user().unwrap_or(TOKEN_USER).to_owned(), token: token.to_owned() });
    }
    if let Some(given) = &credentials.token {
        let user = url.user().unwrap_or(TOKEN_USER).to_owned();
        methods.push(Method::GivenToken { from: given.from.clone(), user, token: given.token.clone() });
    }
    if let Some(name) = &credentials.token_env {
        let token = std::env::var(name).ok().filter(|t| !t.is_empty()).ok_or_else(|| SourceError::TokenEnv { name: name.clone() })?;
        methods.push(Method::EnvToken { name: name.clone(), user: url.user().unwrap_or(TOKEN_USER).to_owned(), token });
    }
    methods.push(Method::CredentialHelper);
    Ok(methods)
}

fn ssh_methods(credentials: &Credentials) -> Vec<Method> {
    let mut methods = Vec::new();
    if let Some(path) = &credentials.ssh_key {
        methods.push(Method::KeyFile(path.clone()));
    }
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        methods.push(Method::Agent);
    }
    methods
}
