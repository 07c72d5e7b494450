//! A remote repository's address, split into what may be shown and what
//! must stay in memory.
//!
//! CI systems hand out repository URLs with a token in them
//! (`https://x-access-token:TOKEN@github.com/org/repo.git`). The token is
//! taken out when the URL is parsed: libgit2, logs, errors, the cache's name
//! and the mirror's git config only ever see the URL without it, and the
//! token reaches the server through the credentials callback alone.

use std::fmt;

use url::Url;

use crate::source::SourceError;

/// How a remote is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    File,
    Https,
    Ssh,
}

/// A parsed remote URL. `Display` shows the URL without userinfo.
#[derive(Clone)]
pub struct RemoteUrl {
    /// What libgit2 is given: no password, and for HTTPS no user either.
    clean: String,
    transport: Transport,
    host: String,
    port: Option<u16>,
    /// The user named in the URL (`git` in `git@github.com:org/repo`).
    user: Option<String>,
    /// The password (a token) named in the URL; never shown.
    secret: Option<String>,
}

impl RemoteUrl {
    /// Parses a `scheme://` URL or git's scp-like `user@host:path`.
    pub fn parse(text: &str) -> Result<RemoteUrl, SourceError> {
        if !text.contains("://") {
            return Self::parse_scp_like(text);
        }
        let invalid = |why: &str| SourceError::InvalidUrl { url: redact_unparsed(text), why: why.to_owned() };
        let url = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        let transport = match url.scheme() {
            "file" => Transport::File,
            "https" | "http" => Transport::Https,
            "ssh" | "ssh+git" | "git+ssh" => Transport::Ssh,
            other => {
                return Err(SourceError::UnsupportedTransport {
                    url: redact_unparsed(text),
                    scheme: other.to_owned(),
                    supported: "local paths, file://, https:// and ssh:// URLs, and user@host:path".to_owned(),
                });
            }
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a query or fragment could carry a secret into logs; give the token with --git-token-env"));
        }
        let user = Some(url.username()).filter(|u| !u.is_empty()).map(percent_decoded);
        let secret = url.password().map(percent_decoded);
        let mut clean = url.clone();
        // Setting userinfo fails only for URLs that cannot have any (file:).
        let _ = clean.set_password(None);
        if transport == Transport::Https {
            let _ = clean.set_username("");
        }
        Ok(RemoteUrl {
            clean: clean.to_string(),
            transport,
            host: url.host_str().unwrap_or_default().to_owned(),
            port: url.port(),
            user,
            secret,
        })
    }

    /// `[user@]host:path`, which git reads as SSH on port 22.
    fn parse_scp_like(text: &str) -> Result<RemoteUrl, SourceError> {
        // The authority ends at the last colon before the path's first slash,
        // so that a password (`user:pass@host:path`) is never read as a host.
        let before_path = text.split('/').next().unwrap_or(text);
        let (authority, _) = before_path
            .rsplit_once(':')
            .ok_or_else(|| SourceError::InvalidUrl { url: redact_unparsed(text), why: "neither a URL nor user@host:path".to_owned() })?;
        let (user, host) = match authority.rsplit_once('@') {
            Some((user, host)) => (Some(user.to_owned()), host),
            None => (None, authority),
        };
        if user.as_deref().is_some_and(|u| u.contains(':')) {
            return Err(SourceError::InvalidUrl {
                url: redact_unparsed(text),
                why: "SSH takes no password in the URL; use an SSH agent or --ssh-key".to_owned(),
            });
        }
        Ok(RemoteUrl { clean: text.to_owned(), transport: Transport::Ssh, host: host.to_owned(), port: None, user, secret: None })
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The URL libgit2 connects to, with no secret in it.
    pub fn clean(&self) -> &str {
        &self.clean
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }

    /// The arguments `ssh-keyscan` needs to fetch this host's keys.
    pub fn keyscan_args(&self) -> String {
        match self.port {
            Some(port) if port != 22 => format!("-p {port} {}", self.host),
            _ => self.host.clone(),
        }
    }

    /// How `known_hosts` names this host: `host`, or `[host]:port` off 22.
    pub fn known_hosts_name(&self) -> String {
        match self.port {
            Some(port) if port != 22 => format!("[{}]:{port}", self.host),
            _ => self.host.clone(),
        }
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.clean)
    }
}

impl fmt::Debug for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteUrl")
            .field("url", &self.clean)
            .field("user", &self.user)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn percent_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// A URL that did not parse, for an error message: everything between the
/// scheme and the last `@` before the path is userinfo and is hidden, and so
/// are a query and a fragment.
pub fn redact_unparsed(text: &str) -> String {
    let text = match text.find(['?', '#']) {
        Some(cut) => &text[..cut],
        None => text,
    };
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, text),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let redacted = match rest[..authority_end].rfind('@') {
        Some(at) => format!("***{}", &rest[at..]),
        None => rest.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{redacted}"),
        None => redacted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_in_an_https_url_is_kept_out_of_everything_shown() {
        let url = RemoteUrl::parse("https://x-access-token:ghs_S3CRET@github.com/org/policies.git").unwrap();

        assert_eq!(url.to_string(), "https://github.com/org/policies.git");
        assert_eq!(url.clean(), "https://github.com/org/policies.git");
        assert_eq!((url.user(), url.secret()), (Some("x-access-token"), Some("ghs_S3CRET")));
        assert!(!format!("{url:?}").contains("S3CRET"), "{url:?}");
        assert_eq!(url.transport(), Transport::Https);
    }

    #[test]
    fn percent_encoded_tokens_are_decoded_for_the_server() {
        let url = RemoteUrl::parse("https://user:p%40ss%2Fword@git.example.com:8443/a.git").unwrap();
        assert_eq!(url.secret(), Some("p@ss/word"));
        assert_eq!(url.clean(), "https://git.example.com:8443/a.git");
    }

    #[test]
    fn ssh_urls_keep_their_user_and_name_their_known_hosts_entry() {
        let scp = RemoteUrl::parse("git@github.com:org/policies.git").unwrap();
        assert_eq!((scp.transport(), scp.host(), scp.user()), (Transport::Ssh, "github.com", Some("git")));
        assert_eq!(scp.known_hosts_name(), "github.com");
        assert_eq!(scp.clean(), "git@github.com:org/policies.git");

        let ported = RemoteUrl::parse("ssh://deploy@127.0.0.1:2222/srv/policies.git").unwrap();
        assert_eq!(ported.known_hosts_name(), "[127.0.0.1]:2222");
        assert_eq!(ported.clean(), "ssh://deploy@127.0.0.1:2222/srv/policies.git");
        assert_eq!(RemoteUrl::parse("ssh://h:22/r").unwrap().known_hosts_name(), "h");
    }

    #[test]
    fn urls_that_could_leak_a_secret_are_refused_without_showing_it() {
        for text in ["https://h/r.git?private_token=S3CRET", "https://h/r.git#S3CRET", "u:S3CRET@host:org/r.git"] {
            let error = RemoteUrl::parse(text).unwrap_err().to_string();
            assert!(!error.contains("S3CRET"), "{error}");
        }
        assert_eq!(redact_unparsed("https://user:S3CRET@host/a@b"), "https://***@host/a@b");
        assert_eq!(redact_unparsed("ht tps://tok@host"), "ht tps://***@host");
    }

    #[test]
    fn other_schemes_are_refused_naming_what_is_supported() {
        let error = RemoteUrl::parse("git://example.com/r.git").unwrap_err();
        assert!(matches!(&error, SourceError::UnsupportedTransport { scheme, .. } if scheme == "git"), "{error:?}");
    }
}
