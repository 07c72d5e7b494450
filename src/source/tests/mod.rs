use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{FileMode, ObjectType, Oid, Repository, RepositoryInitOptions, Signature};
use tempfile::TempDir;

use super::location::cache_name;
use super::*;

mod local;
mod remote;

const LIMIT: u64 = 1 << 20;

// ---------------------------------------------------------------- helpers

/// One entry of a committed tree.
#[derive(Clone, Copy)]
enum Entry<'a> {
    File(&'a str),
    Link(&'a str),
    Submodule,
    /// An object already in the repository, stored as a regular file.
    Object(Oid),
}

fn tempdir() -> TempDir {
    TempDir::new().expect("create a temporary directory")
}

fn init(dir: &Path, bare: bool) -> Repository {
    let mut options = RepositoryInitOptions::new();
    options.bare(bare).initial_head("main");
    Repository::init_opts(dir, &options).expect("init a repository")
}

/// Commits a tree holding exactly `files` on the branch `HEAD` points to and
/// returns the commit's sha.
fn commit(repo: &Repository, files: &[(&str, Entry<'_>)]) -> String {
    commit_on(repo, "HEAD", files)
}

/// Commits a tree holding exactly `files` on top of `refname`, moving it.
fn commit_on(repo: &Repository, refname: &str, files: &[(&str, Entry<'_>)]) -> String {
    let tree = repo.find_tree(write_tree(repo, files)).expect("find tree");
    let parent = repo.refname_to_id(refname).ok().map(|oid| repo.find_commit(oid).expect("find parent"));
    let signature = Signature::now("Test", "test@example.com").expect("signature");
    repo.commit(Some(refname), &signature, &signature, "test commit", &tree, &parent.iter().collect::<Vec<_>>())
        .expect("commit")
        .to_string()
}

fn write_tree(repo: &Repository, files: &[(&str, Entry<'_>)]) -> Oid {
    let mut builder = repo.treebuilder(None).expect("treebuilder");
    let mut subdirs: BTreeMap<&str, Vec<(&str, Entry<'_>)>> = BTreeMap::new();
    for &(path, entry) in files {
        if let Some((dir, rest)) = path.split_once('/') {
            subdirs.entry(dir).or_default().push((rest, entry));
            continue;
        }
        let (oid, mode) = match entry {
            Entry::File(text) => (repo.blob(text.as_bytes()).expect("blob"), FileMode::Blob),
            Entry::Link(target) => (repo.blob(target.as_bytes()).expect("blob"), FileMode::Link),
            Entry::Submodule => (Oid::from_str("0123456789abcdef0123456789abcdef01234567").expect("oid"), FileMode::Commit),
            Entry::Object(oid) => (oid, FileMode::Blob),
        };
        builder.insert(path, oid, mode.into()).expect("insert");
    }
    for (dir, entries) in subdirs {
        let oid = write_tree(repo, &entries);
        builder.insert(dir, oid, FileMode::Tree.into()).expect("insert");
    }
    builder.write().expect("write tree")
}

/// Makes the work tree and index match `HEAD`.
fn checkout(repo: &Repository) {
    repo.checkout_head(Some(CheckoutBuilder::new().force())).expect("checkout");
}

fn open(path: &Path) -> Source {
    let cache = tempdir();
    Source::open(path.to_str().expect("utf-8 path"), &Access::with_cache(cache.path())).expect("open")
}

/// Opens the mirror of `url` under `cache` and fetches `reference`.
fn open_at(url: &str, reference: &str, cache: &Path) -> Result<Source, SourceError> {
    Source::open_at(url, reference, &Access::with_cache(cache))
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn data(path: &str, text: &str) -> PolicyFile {
    PolicyFile { path: path.to_owned(), content: Blob::Data(text.as_bytes().to_vec()) }
}

fn not_a_file(path: &str, why: &str) -> PolicyFile {
    PolicyFile { path: path.to_owned(), content: Blob::NotAFile { why: why.to_owned() } }
}

fn at(sha: &str, reference: &str, files: Vec<PolicyFile>) -> PolicySet {
    PolicySet { revision: Revision::Commit { sha: sha.to_owned(), reference: reference.to_owned() }, files }
}

fn change(path: &str, kind: ChangeKind) -> Change {
    Change { path: path.to_owned(), kind }
}

fn entries_of(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).expect("read dir").map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Writes a loose object whose header claims a blob of `claimed_size` bytes
/// of `x` but whose body holds only four: its header reads fine, reading the
/// whole object fails its hash check.
fn write_short_loose_blob(repo: &Repository, claimed_size: usize) -> Oid {
    let oid = Oid::hash_object(ObjectType::Blob, &vec![b'x'; claimed_size]).expect("hash");
    let mut stored = format!("blob {claimed_size}\0").into_bytes();
    stored.extend_from_slice(b"xxxx");
    let len = u16::try_from(stored.len()).expect("short");
    // zlib header, one final stored (uncompressed) deflate block, checksum.
    // A stream cut short instead would make libgit2 1.9 spin forever.
    let mut object = vec![0x78, 0x01, 0x01];
    object.extend(len.to_le_bytes());
    object.extend((!len).to_le_bytes());
    object.extend(&stored);
    object.extend(adler32(&stored).to_be_bytes());
    let hex = oid.to_string();
    let dir = repo.path().join("objects").join(&hex[..2]);
    fs::create_dir_all(&dir).expect("object dir");
    fs::write(dir.join(&hex[2..]), object).expect("write object");
    oid
}

fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (a, b) = data.iter().fold((1_u32, 0_u32), |(a, b), &byte| {
        let a = (a + u32::from(byte)) % MOD;
        (a, (b + a) % MOD)
    });
    (b << 16) | a
}
