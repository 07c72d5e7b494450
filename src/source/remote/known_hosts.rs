//! SSH host keys checked against a `known_hosts` file, as OpenSSH does with
//! `StrictHostKeyChecking yes`: an unknown host, a changed key or a revoked
//! key refuses the connection. Nothing is ever added to the file.
//!
//! The file format is OpenSSH's (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"):
//! `[marker] patterns keytype base64-key [comment]`, where patterns are
//! comma-separated host names with `*` and `?` wildcards, `!` negation,
//! `[host]:port` off port 22, and hashed names `|1|salt|hash` (HMAC-SHA1 of
//! the name keyed by the salt, as `ssh-keygen -H` writes them).
//! `@cert-authority` lines are skipped: libssh2 does not present host
//! certificates.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// What a `known_hosts` file says about the key a server offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Listed for this host: connect.
    Known,
    /// The host is not listed at all.
    Unknown,
    /// The host is listed with another key of the same type (line number).
    Changed { line: usize },
    /// The host is listed, but only with keys of other types.
    OtherTypes { listed: Vec<String> },
    /// The key is marked `@revoked` (line number).
    Revoked { line: usize },
}

/// A host key as the server offered it: the SSH wire-format blob.
pub struct HostKey<'a> {
    blob: &'a [u8],
}

impl<'a> HostKey<'a> {
    pub fn new(blob: &'a [u8]) -> HostKey<'a> {
        HostKey { blob }
    }

    /// The key's type, read from the blob (its first SSH string).
    pub fn key_type(&self) -> String {
        let Some(length) = self.blob.get(..4) else { return "unknown".to_owned() };
        let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
        self.blob.get(4..4 + length).map_or_else(|| "unknown".to_owned(), |name| String::from_utf8_lossy(name).into_owned())
    }

    /// OpenSSH's fingerprint: `SHA256:` and the unpadded base64 of the hash.
    pub fn fingerprint(&self) -> String {
        format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(self.blob)))
    }
}

impl fmt::Display for HostKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key_type(), self.fingerprint())
    }
}

/// Checks `key`, offered by `host` (`name` or `[name]:port`), against the
/// content of a `known_hosts` file.
pub fn check(known_hosts: &str, host: &str, key: &HostKey<'_>) -> Verdict {
    let key_type = key.key_type();
    let mut known = false;
    let mut changed = None;
    let mut other_types = Vec::new();
    for (index, line) in known_hosts.lines().enumerate() {
        let Some(entry) = Entry::parse(line) else { continue };
        let line = index + 1;
        match entry.marker {
            Some(Marker::Revoked) if entry.key == key.blob => return Verdict::Revoked { line },
            Some(_) => continue,
            None => {}
        }
        if !entry.matches(host) {
            continue;
        }
        if entry.key_type != key_type {
            other_types.push(entry.key_type.to_owned());
        } else if entry.key == key.blob {
            known = true;
        } else {
            changed.get_or_insert(line);
        }
    }
    match (known, changed) {
        (true, _) => Verdict::Known,
        (false, Some(line)) => Verdict::Changed { line },
        (false, None) if other_types.is_empty() => Verdict::Unknown,
        (false, None) => {
            other_types.sort();
            other_types.dedup();
            Verdict::OtherTypes { listed: other_types }
        }
    }
}

enum Marker {
    Revoked,
    CertAuthority,
}

struct Entry<'a> {
    marker: Option<Marker>,
    patterns: &'a str,
    key_type: &'a str,
    key: Vec<u8>,
}

impl<'a> Entry<'a> {
    /// One line, or `None` for a comment, a blank or a malformed line (which
    /// OpenSSH skips too).
    fn parse(line: &'a str) -> Option<Entry<'a>> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next()?;
        let marker = match first {
            "@revoked" => Some(Marker::Revoked),
            "@cert-authority" => Some(Marker::CertAuthority),
            marker if marker.starts_with('@') => return None,
            _ => None,
        };
        if marker.is_some() {
            first = fields.next()?;
        }
        let key_type = fields.next()?;
        let key = STANDARD.decode(fields.next()?).ok()?;
        Some(Entry { marker, patterns: first, key_type, key })
    }

    /// Whether `host` matches a pattern of the line and no negated one.
    fn matches(&self, host: &str) -> bool {
        if let Some(hashed) = self.patterns.strip_prefix("|1|") {
            return hashed_matches(hashed, host);
        }
        let mut matched = false;
        for pattern in self.patterns.split(',') {
            match pattern.strip_prefix('!') {
                Some(negated) if wildcard_matches(negated, host) => return false,
                Some(_) => {}
                None => matched |= wildcard_matches(pattern, host),
            }
        }
        matched
    }
}

/// `salt|hash`, both base64: HMAC-SHA1(salt, host) == hash.
fn hashed_matches(hashed: &str, host: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else { return false };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else { return false };
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else { return false };
    mac.update(host.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// OpenSSH's `match_pattern`: `*` any run, `?` one character, otherwise
/// equal ignoring ASCII case (host names are case-insensitive).
fn wildcard_matches(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, at)) => {
                    p = star + 1;
                    t = at + 1;
                    backtrack = Some((star, at + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wire-format blob: string type, then string payload.
    fn blob(key_type: &str, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in [key_type.as_bytes(), payload] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    fn line(patterns: &str, blob: &[u8]) -> String {
        let key_type = HostKey::new(blob).key_type();
        format!("{patterns} {key_type} {}\n", STANDARD.encode(blob))
    }

    fn hashed(host: &str, salt: &[u8]) -> String {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(host.as_bytes());
        format!("|1|{}|{}", STANDARD.encode(salt), STANDARD.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_listed_key_is_known_and_any_other_key_of_its_type_is_a_change() {
        let good = blob("ssh-ed25519", b"good");
        let evil = blob("ssh-ed25519", b"evil");
        let file = format!("# comment\n\n{}", line("github.com,140.82.112.3", &good));

        assert_eq!(check(&file, "github.com", &HostKey::new(&good)), Verdict::Known);
        assert_eq!(check(&file, "GitHub.com", &HostKey::new(&good)), Verdict::Known, "host names ignore case");
        assert_eq!(check(&file, "github.com", &HostKey::new(&evil)), Verdict::Changed { line: 3 });
        assert_eq!(check(&file, "gitlab.com", &HostKey::new(&good)), Verdict::Unknown);
        assert_eq!(check("", "github.com", &HostKey::new(&good)), Verdict::Unknown);
    }

    #[test]
    fn ports_off_22_are_part_of_the_name() {
        let key = blob("ssh-ed25519", b"k");
        let file = line("[127.0.0.1]:2222", &key);
        assert_eq!(check(&file, "[127.0.0.1]:2222", &HostKey::new(&key)), Verdict::Known);
        assert_eq!(check(&file, "127.0.0.1", &HostKey::new(&key)), Verdict::Unknown);
        assert_eq!(check(&file, "[127.0.0.1]:2223", &HostKey::new(&key)), Verdict::Unknown);
    }

    #[test]
    fn hashed_names_match_only_their_host() {
        let key = blob("ecdsa-sha2-nistp256", b"k");
        let file = line(&hashed("[127.0.0.1]:2222", b"0123456789abcdefghij"), &key);
        assert_eq!(check(&file, "[127.0.0.1]:2222", &HostKey::new(&key)), Verdict::Known);
        assert_eq!(check(&file, "127.0.0.1", &HostKey::new(&key)), Verdict::Unknown);
        assert_eq!(check("|1|bad|base64 ssh-ed25519 AAAA\n", "h", &HostKey::new(&key)), Verdict::Unknown);
    }

    #[test]
    fn wildcards_and_negations_follow_openssh() {
        let key = blob("ssh-ed25519", b"k");
        let file = line("*.example.com,!evil.example.com", &key);
        assert_eq!(check(&file, "git.example.com", &HostKey::new(&key)), Verdict::Known);
        assert_eq!(check(&file, "evil.example.com", &HostKey::new(&key)), Verdict::Unknown);
        assert!(wildcard_matches("git?.ex*.com", "git1.example.com"));
        assert!(!wildcard_matches("git?.ex*.com", "git12.example.com"));
        assert!(wildcard_matches("*", ""));
    }

    #[test]
    fn a_revoked_key_is_refused_even_when_also_listed() {
        let key = blob("ssh-ed25519", b"stolen");
        let file = format!("{}@revoked * ssh-ed25519 {}\n", line("h", &key), STANDARD.encode(&key));
        assert_eq!(check(&file, "h", &HostKey::new(&key)), Verdict::Revoked { line: 2 });
    }

    #[test]
    fn a_host_listed_with_other_key_types_says_which() {
        let rsa = blob("ssh-rsa", b"r");
        let ed = blob("ssh-ed25519", b"e");
        let file = line("h", &rsa);
        assert_eq!(check(&file, "h", &HostKey::new(&ed)), Verdict::OtherTypes { listed: vec!["ssh-rsa".into()] });
    }

    #[test]
    fn malformed_lines_and_cert_authorities_are_skipped_never_trusted() {
        let key = blob("ssh-ed25519", b"k");
        let file = format!("garbage\nh ssh-ed25519 !!notbase64\n@cert-authority h ssh-ed25519 {}\n", STANDARD.encode(&key));
        assert_eq!(check(&file, "h", &HostKey::new(&key)), Verdict::Unknown);
    }

    #[test]
    fn fingerprints_are_openssh_sha256() {
        // The SHA-256 of the blob ("abc"), base64 without padding, as `ssh-keygen -l` prints it.
        let key = HostKey::new(b"abc");
        assert_eq!(key.fingerprint(), "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0");
        assert_eq!(key.key_type(), "unknown");
    }
}
