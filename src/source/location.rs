//! Telling a local path from a URL, and whether this build can reach it.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::SourceError;
use super::remote::url::{RemoteUrl, Transport};

pub(super) enum Location<'a> {
    Path(&'a Path),
    Url,
}

/// How many characters of the URL a cache directory name keeps readable.
const CACHE_NAME_MAX: usize = 48;

/// How many hex digits of the URL's hash make a cache name unique.
const CACHE_HASH_DIGITS: usize = 12;

pub(super) fn parse(repo: &str) -> Location<'_> {
    if url_scheme(repo).is_some() || is_scp_like(repo) && !Path::new(repo).exists() {
        return Location::Url;
    }
    Location::Path(Path::new(repo))
}

/// The scheme of `scheme://rest`, if `repo` has that shape (RFC 3986 syntax).
fn url_scheme(repo: &str) -> Option<&str> {
    let (scheme, _) = repo.split_once("://")?;
    let mut chars = scheme.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_valid = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (starts_with_letter && rest_valid).then_some(scheme)
}

/// `user@host:path` or `host:path`, which git reads as ssh. A colon after the
/// first slash, or a one-letter "host" (a Windows drive), makes it a path.
fn is_scp_like(repo: &str) -> bool {
    let Some((host, _)) = repo.split_once(':') else {
        return false;
    };
    !host.contains('/') && host.len() > 1
}

/// Whether this build's libgit2 has the transport `url` needs.
pub(super) fn check_transport(url: &RemoteUrl) -> Result<(), SourceError> {
    let version = git2::Version::get();
    let (available, scheme) = match url.transport() {
        Transport::File => (true, "file"),
        Transport::Https => (version.https(), "https"),
        Transport::Ssh => (version.ssh(), "ssh"),
    };
    if available {
        return Ok(());
    }
    Err(SourceError::UnsupportedTransport { url: url.to_string(), scheme: scheme.to_owned(), supported: supported_transports(&version) })
}

fn supported_transports(version: &git2::Version) -> String {
    let mut supported = vec!["local paths", "file:// URLs"];
    if version.https() {
        supported.push("https:// URLs");
    }
    if version.ssh() {
        supported.push("ssh URLs");
    }
    supported.join(", ")
}

/// A directory name for the cache of `url` (given without its secret):
/// readable, safe on any file system, and unique because it ends with part
/// of the URL's hash.
pub(super) fn cache_name(url: &str) -> String {
    let readable = url.split_once("://").map_or(url, |(_, rest)| rest);
    let mut name = String::with_capacity(CACHE_NAME_MAX + CACHE_HASH_DIGITS + 1);
    for c in readable.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' };
        if !(c == '-' && name.ends_with('-')) {
            name.push(c);
        }
    }
    // Keep the end of the URL, where the repository's own name is.
    let skip = name.len().saturating_sub(CACHE_NAME_MAX);
    let mut name = name[skip..].trim_matches(['-', '.']).to_owned();
    if name.is_empty() {
        name.push_str("repo");
    }
    let hash = hex::encode(Sha256::digest(url.as_bytes()));
    name.push('-');
    name.push_str(&hash[..CACHE_HASH_DIGITS]);
    name
}
