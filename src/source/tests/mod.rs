use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{FileMode, ObjectType, Oid, Repository, RepositoryInitOptions, Signature};
use tempfile::TempDir;

use super::location::cache_name;
use super::*;

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

// ------------------------------------------------------- reading commits

#[test]
fn reads_policies_at_head() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let sha =
        commit(&repo, &[("desired/scans.yaml", Entry::File("table: scans\n")), ("desired/orders.yml", Entry::File("table: orders\n"))]);

    let set = open(dir.path()).read_at("HEAD", LIMIT).unwrap();

    assert_eq!(set, at(&sha, "HEAD", vec![data("desired/orders.yml", "table: orders\n"), data("desired/scans.yaml", "table: scans\n"),]));
}

#[test]
fn reads_policies_at_a_branch_a_tag_and_an_older_sha() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let first = commit(&repo, &[("desired/a.yaml", Entry::File("v: 1\n"))]);
    let first_object = repo.revparse_single(&first).unwrap();
    let signature = Signature::now("Test", "test@example.com").unwrap();
    repo.tag("v1", &first_object, &signature, "release 1", false).unwrap();
    repo.tag_lightweight("light", &first_object, false).unwrap();
    let second = commit(&repo, &[("desired/a.yaml", Entry::File("v: 2\n"))]);
    let dev = commit_on(&repo, "refs/heads/dev", &[("desired/a.yaml", Entry::File("v: dev\n"))]);
    let source = open(dir.path());

    assert_eq!(source.read_at("main", LIMIT).unwrap(), at(&second, "main", vec![data("desired/a.yaml", "v: 2\n")]));
    assert_eq!(source.read_at("dev", LIMIT).unwrap(), at(&dev, "dev", vec![data("desired/a.yaml", "v: dev\n")]));
    for tag in ["v1", "light", "refs/tags/v1"] {
        assert_eq!(source.read_at(tag, LIMIT).unwrap(), at(&first, tag, vec![data("desired/a.yaml", "v: 1\n")]));
    }
    let short = &first[..10];
    assert_eq!(source.read_at(short, LIMIT).unwrap(), at(&first, short, vec![data("desired/a.yaml", "v: 1\n")]));
    assert_eq!(source.resolve(&first).unwrap(), first);
    assert_eq!(source.resolve("HEAD~1").unwrap(), first);
}

#[test]
fn only_yaml_files_directly_inside_desired_are_policies() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let sha = commit(
        &repo,
        &[
            ("desired/a.yaml", Entry::File("a\n")),
            ("desired/b.yml", Entry::File("b\n")),
            ("desired/README.md", Entry::File("docs\n")),
            ("desired/a.yaml.bak", Entry::File("old\n")),
            ("desired/nested/c.yaml", Entry::File("nested\n")),
            ("other/d.yaml", Entry::File("other\n")),
            ("top.yaml", Entry::File("top\n")),
        ],
    );

    let set = open(dir.path()).read_at("HEAD", LIMIT).unwrap();

    assert_eq!(set, at(&sha, "HEAD", vec![data("desired/a.yaml", "a\n"), data("desired/b.yml", "b\n")]));
}

#[test]
fn a_revision_without_desired_is_an_empty_set() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let sha = commit(&repo, &[("README.md", Entry::File("hello\n"))]);

    let set = open(dir.path()).read_at("HEAD", LIMIT).unwrap();

    assert_eq!(set, at(&sha, "HEAD", vec![]));
}

#[test]
fn desired_that_is_a_file_or_a_link_is_an_error() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let as_file = commit(&repo, &[("desired", Entry::File("oops\n"))]);
    let as_link = commit(&repo, &[("desired", Entry::Link("elsewhere"))]);
    let source = open(dir.path());

    for (sha, found) in [(&as_file, "a file"), (&as_link, "a symbolic link (drctl never follows links)")] {
        let error = source.read_at(sha, LIMIT).unwrap_err();
        assert!(matches!(&error, SourceError::PolicyDirNotADirectory { found: f, .. } if f == found), "{error:?}");
        assert_eq!(
            error.to_string(),
            format!(
                "`desired` in {} at commit {sha} is {found}, not a directory; policies must be files directly inside a `desired/` directory",
                dir.path().display()
            )
        );
    }
}

#[test]
fn links_submodules_and_directories_are_not_files() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    commit(
        &repo,
        &[
            ("secret.yaml", Entry::File("do not read\n")),
            ("desired/link.yaml", Entry::Link("../secret.yaml")),
            ("desired/module.yaml", Entry::Submodule),
            ("desired/dir.yaml/inner.yaml", Entry::File("inner\n")),
            ("desired/real.yaml", Entry::File("real\n")),
        ],
    );

    let set = open(dir.path()).read_at("HEAD", LIMIT).unwrap();

    assert_eq!(
        set.files,
        vec![
            not_a_file("desired/dir.yaml", "a directory"),
            not_a_file("desired/link.yaml", "a symbolic link (drctl never follows links)"),
            not_a_file("desired/module.yaml", "a submodule"),
            data("desired/real.yaml", "real\n"),
        ]
    );
}

#[test]
fn a_blob_over_the_limit_is_too_large_and_never_read() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let claimed = 5_000_000;
    let huge = write_short_loose_blob(&repo, claimed);
    assert_eq!(repo.odb().unwrap().read_header(huge).unwrap(), (claimed, ObjectType::Blob));
    assert!(repo.find_blob(huge).is_err(), "reading the short object must fail, or this test proves nothing");
    commit(&repo, &[("desired/huge.yaml", Entry::Object(huge)), ("desired/small.yaml", Entry::File("12345"))]);

    let set = open(dir.path()).read_at("HEAD", LIMIT).unwrap();

    assert_eq!(
        set.files,
        vec![
            PolicyFile { path: "desired/huge.yaml".to_owned(), content: Blob::TooLarge { size: 5_000_000 } },
            data("desired/small.yaml", "12345"),
        ]
    );
}

#[test]
fn the_limit_is_inclusive() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    commit(&repo, &[("desired/a.yaml", Entry::File("12345"))]);
    let source = open(dir.path());

    assert_eq!(source.read_at("HEAD", 5).unwrap().files, vec![data("desired/a.yaml", "12345")]);
    assert_eq!(source.read_at("HEAD", 4).unwrap().files[0].content, Blob::TooLarge { size: 5 });
}

#[test]
fn a_bare_repository_is_read_in_place() {
    let dir = tempdir();
    let repo = init(dir.path(), true);
    let sha = commit(&repo, &[("desired/a.yaml", Entry::File("a\n"))]);

    let set = open(dir.path()).read_at("main", LIMIT).unwrap();

    assert_eq!(set, at(&sha, "main", vec![data("desired/a.yaml", "a\n")]));
}

// ------------------------------------------------------------ references

#[test]
fn an_unknown_reference_names_the_known_branches() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    commit(&repo, &[("desired/a.yaml", Entry::File("a\n"))]);
    commit_on(&repo, "refs/heads/dev", &[("desired/a.yaml", Entry::File("b\n"))]);
    let source = open(dir.path());

    let error = source.read_at("mian", LIMIT).unwrap_err();

    assert!(matches!(error, SourceError::ReferenceNotFound { .. }), "{error:?}");
    assert_eq!(error.to_string(), format!("reference `mian` not found in {}: known branches: dev, main", dir.path().display()));
    assert!(matches!(source.resolve("0123456789abcdef0123456789abcdef01234567"), Err(SourceError::ReferenceNotFound { .. })));
    assert!(matches!(source.changed_between("HEAD", "mian"), Err(SourceError::ReferenceNotFound { .. })));
}

#[test]
fn head_of_an_empty_repository_is_not_found() {
    let dir = tempdir();
    init(dir.path(), false);

    let error = open(dir.path()).resolve("HEAD").unwrap_err();

    assert_eq!(
        error.to_string(),
        format!("reference `HEAD` not found in {}: known branches: none (the repository has no commits)", dir.path().display())
    );
}

#[test]
fn a_reference_to_a_tree_is_not_a_commit() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    commit(&repo, &[("desired/a.yaml", Entry::File("a\n"))]);

    let error = open(dir.path()).read_at("HEAD^{tree}", LIMIT).unwrap_err();

    assert_eq!(
        error.to_string(),
        format!(
            "reference `HEAD^{{tree}}` in {} points at a tree, not a commit; give a branch, a tag or a commit sha",
            dir.path().display()
        )
    );
}

#[test]
fn malformed_references_are_errors_not_panics() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    commit(&repo, &[("desired/a.yaml", Entry::File("a\n"))]);
    let source = open(dir.path());

    for reference in ["", "HEAD^{nonsense}", "a\0b", "main..dev", "@{-1}", ":/", "HEAD~99"] {
        assert!(source.resolve(reference).is_err(), "{reference:?}");
    }
}

#[test]
fn a_directory_that_is_not_a_repository_is_a_clear_error() {
    let dir = tempdir();

    let error = Source::open(dir.path().to_str().unwrap(), &Access::with_cache(dir.path())).unwrap_err();

    assert!(matches!(error, SourceError::NotARepository { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "`{}` is not a git repository; give the top directory of a work tree, a bare repository, or a file:// URL",
            dir.path().display()
        )
    );
}

// -------------------------------------------------------- changed_between

#[test]
fn changed_between_lists_added_modified_and_deleted_policies_only() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let before = commit(
        &repo,
        &[
            ("desired/kept.yaml", Entry::File("same\n")),
            ("desired/edited.yaml", Entry::File("v: 1\n")),
            ("desired/removed.yml", Entry::File("gone\n")),
            ("desired/relinked.yaml", Entry::File("file\n")),
            ("desired/notes.txt", Entry::File("one\n")),
            ("other/x.yaml", Entry::File("one\n")),
            ("README.md", Entry::File("one\n")),
        ],
    );
    let after = commit(
        &repo,
        &[
            ("desired/kept.yaml", Entry::File("same\n")),
            ("desired/edited.yaml", Entry::File("v: 2\n")),
            ("desired/added.yaml", Entry::File("new\n")),
            ("desired/relinked.yaml", Entry::Link("kept.yaml")),
            ("desired/notes.txt", Entry::File("two\n")),
            ("desired/nested/deep.yaml", Entry::File("ignored\n")),
            ("other/x.yaml", Entry::File("two\n")),
            ("README.md", Entry::File("two\n")),
        ],
    );
    let source = open(dir.path());

    assert_eq!(
        source.changed_between(&before, &after).unwrap(),
        vec![
            change("desired/added.yaml", ChangeKind::Added),
            change("desired/edited.yaml", ChangeKind::Modified),
            change("desired/relinked.yaml", ChangeKind::Modified),
            change("desired/removed.yml", ChangeKind::Deleted),
        ]
    );
    assert_eq!(
        source.changed_between(&after, &before).unwrap(),
        vec![
            change("desired/added.yaml", ChangeKind::Deleted),
            change("desired/edited.yaml", ChangeKind::Modified),
            change("desired/relinked.yaml", ChangeKind::Modified),
            change("desired/removed.yml", ChangeKind::Added),
        ]
    );
    assert_eq!(source.changed_between("HEAD", &after).unwrap(), vec![]);
}

#[test]
fn changed_between_from_a_revision_without_desired_adds_every_policy() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let empty = commit(&repo, &[("README.md", Entry::File("hi\n"))]);
    let full = commit(&repo, &[("desired/a.yaml", Entry::File("a\n")), ("desired/b.yml", Entry::File("b\n"))]);

    assert_eq!(
        open(dir.path()).changed_between(&empty, &full).unwrap(),
        vec![change("desired/a.yaml", ChangeKind::Added), change("desired/b.yml", ChangeKind::Added),]
    );
}

// --------------------------------------------------------------- work tree

#[test]
fn the_work_tree_shows_an_uncommitted_edit_and_an_untracked_policy() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let head = commit(&repo, &[("desired/a.yaml", Entry::File("v: 1\n")), ("README.md", Entry::File("hi\n"))]);
    checkout(&repo);
    fs::write(dir.path().join("desired/a.yaml"), "v: 2\n").unwrap();
    fs::write(dir.path().join("desired/b.yml"), "new\n").unwrap();
    fs::write(dir.path().join("desired/notes.txt"), "not a policy\n").unwrap();

    let set = open(dir.path()).read_worktree(LIMIT).unwrap();

    assert_eq!(
        set,
        PolicySet {
            revision: Revision::WorkTree { head: Some(head), dirty: true },
            files: vec![data("desired/a.yaml", "v: 2\n"), data("desired/b.yml", "new\n")],
        }
    );
}

#[test]
fn a_deleted_policy_makes_the_work_tree_dirty() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let head = commit(&repo, &[("desired/a.yaml", Entry::File("a\n")), ("desired/b.yaml", Entry::File("b\n"))]);
    checkout(&repo);
    fs::remove_file(dir.path().join("desired/b.yaml")).unwrap();

    let set = open(dir.path()).read_worktree(LIMIT).unwrap();

    assert_eq!(set.revision, Revision::WorkTree { head: Some(head), dirty: true });
    assert_eq!(set.files, vec![data("desired/a.yaml", "a\n")]);
}

#[test]
fn changes_outside_policies_leave_the_work_tree_clean() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let head = commit(
        &repo,
        &[("desired/a.yaml", Entry::File("a\n")), ("desired/notes.txt", Entry::File("one\n")), ("README.md", Entry::File("one\n"))],
    );
    checkout(&repo);
    fs::write(dir.path().join("README.md"), "two\n").unwrap();
    fs::write(dir.path().join("desired/notes.txt"), "two\n").unwrap();
    fs::write(dir.path().join("top.yaml"), "not in desired\n").unwrap();

    let set = open(dir.path()).read_worktree(LIMIT).unwrap();

    assert_eq!(
        set,
        PolicySet { revision: Revision::WorkTree { head: Some(head), dirty: false }, files: vec![data("desired/a.yaml", "a\n")] }
    );
}

#[test]
fn ignored_untracked_files_are_not_policies() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let head = commit(
        &repo,
        &[
            (".gitignore", Entry::File("desired/*.local.yaml\n")),
            ("desired/a.yaml", Entry::File("a\n")),
            ("desired/tracked.local.yaml", Entry::File("tracked\n")),
        ],
    );
    checkout(&repo);
    fs::write(dir.path().join("desired/mine.local.yaml"), "scratch\n").unwrap();

    let set = open(dir.path()).read_worktree(LIMIT).unwrap();

    assert_eq!(
        set,
        PolicySet {
            revision: Revision::WorkTree { head: Some(head), dirty: false },
            files: vec![data("desired/a.yaml", "a\n"), data("desired/tracked.local.yaml", "tracked\n"),],
        }
    );
}

#[test]
fn the_work_tree_before_the_first_commit_has_no_head() {
    let dir = tempdir();
    init(dir.path(), false);
    fs::create_dir(dir.path().join("desired")).unwrap();
    fs::write(dir.path().join("desired/a.yaml"), "a\n").unwrap();

    let set = open(dir.path()).read_worktree(LIMIT).unwrap();

    assert_eq!(set, PolicySet { revision: Revision::WorkTree { head: None, dirty: true }, files: vec![data("desired/a.yaml", "a\n")] });
}

#[cfg(unix)]
#[test]
fn the_work_tree_never_follows_links() {
    use std::os::unix::fs::symlink;

    let dir = tempdir();
    init(dir.path(), false);
    let desired = dir.path().join("desired");
    fs::create_dir(&desired).unwrap();
    fs::write(dir.path().join("secret.yaml"), "do not read\n").unwrap();
    symlink("../secret.yaml", desired.join("link.yaml")).unwrap();
    symlink("missing.yaml", desired.join("dangling.yaml")).unwrap();
    fs::create_dir(desired.join("dir.yaml")).unwrap();
    fs::write(desired.join("big.yaml"), "0123456789").unwrap();
    fs::write(desired.join("ok.yaml"), "ok\n").unwrap();

    let set = open(dir.path()).read_worktree(9).unwrap();

    let link = "a symbolic link (drctl never follows links)";
    assert_eq!(
        set.files,
        vec![
            PolicyFile { path: "desired/big.yaml".to_owned(), content: Blob::TooLarge { size: 10 } },
            not_a_file("desired/dangling.yaml", link),
            not_a_file("desired/dir.yaml", "a directory"),
            not_a_file("desired/link.yaml", link),
            data("desired/ok.yaml", "ok\n"),
        ]
    );
}

#[cfg(unix)]
#[test]
fn a_linked_desired_directory_in_the_work_tree_is_an_error() {
    let dir = tempdir();
    init(dir.path(), false);
    fs::create_dir(dir.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("elsewhere", dir.path().join("desired")).unwrap();

    let error = open(dir.path()).read_worktree(LIMIT).unwrap_err();

    assert_eq!(
        error.to_string(),
        format!(
            "`desired` in {} at the work tree is a symbolic link (drctl never follows links), not a directory; policies must be files directly inside a `desired/` directory",
            dir.path().display()
        )
    );
}

#[test]
fn only_a_local_work_tree_has_uncommitted_files() {
    let bare_dir = tempdir();
    let bare = init(bare_dir.path(), true);
    commit(&bare, &[("desired/a.yaml", Entry::File("a\n"))]);
    let cache = tempdir();
    let url = file_url(bare_dir.path());

    let bare_error = open(bare_dir.path()).read_worktree(LIMIT).unwrap_err();
    let remote_error = open_at(&url, "HEAD", cache.path()).unwrap().read_worktree(LIMIT).unwrap_err();

    assert_eq!(
        bare_error.to_string(),
        format!(
            "cannot read uncommitted files from {}: it is a bare repository; read a commit instead, or give drctl the path of a local work tree",
            bare_dir.path().display()
        )
    );
    assert_eq!(
        remote_error.to_string(),
        format!(
            "cannot read uncommitted files from {url}: it is a remote, read through a bare mirror; read a commit instead, or give drctl the path of a local work tree"
        )
    );
}

// ------------------------------------------------------------------ remote

#[test]
fn a_file_url_is_mirrored_into_the_cache_and_fetch_brings_new_commits() {
    let origin_dir = tempdir();
    let origin = init(origin_dir.path(), true);
    let first = commit(&origin, &[("desired/a.yaml", Entry::File("v: 1\n"))]);
    let cache = tempdir();
    let url = file_url(origin_dir.path());

    let source = open_at(&url, "HEAD", cache.path()).unwrap();

    assert_eq!(entries_of(cache.path()), vec![cache_name(&url)]);
    assert_eq!(source.read_at("HEAD", LIMIT).unwrap(), at(&first, "HEAD", vec![data("desired/a.yaml", "v: 1\n")]));

    let second = commit(&origin, &[("desired/a.yaml", Entry::File("v: 2\n")), ("desired/b.yaml", Entry::File("b\n"))]);
    assert_eq!(source.resolve("main").unwrap(), first, "not fetched yet");
    let fetched = source.fetch("HEAD").unwrap().unwrap();

    assert_eq!(fetched, Fetched { commit: second.clone(), previous: Some(first.clone()), forced: false });
    assert_eq!(
        source.read_at("main", LIMIT).unwrap(),
        at(&second, "main", vec![data("desired/a.yaml", "v: 2\n"), data("desired/b.yaml", "b\n")])
    );
    assert_eq!(
        source.changed_between(&first, "HEAD").unwrap(),
        vec![change("desired/a.yaml", ChangeKind::Modified), change("desired/b.yaml", ChangeKind::Added),]
    );
    let unchanged = source.fetch("HEAD").unwrap().unwrap();
    assert_eq!((unchanged.commit, unchanged.forced), (second, false));
}

/// A controller follows a force-pushed reference (the remote is the truth)
/// and says so: the new commit does not descend from the one it had.
#[test]
fn a_force_pushed_reference_is_followed_and_flagged() {
    let origin_dir = tempdir();
    let origin = init(origin_dir.path(), true);
    commit(&origin, &[("desired/a.yaml", Entry::File("v: 1\n"))]);
    let before = commit(&origin, &[("desired/a.yaml", Entry::File("v: 2\n"))]);
    let cache = tempdir();
    let url = file_url(origin_dir.path());
    let source = open_at(&url, "main", cache.path()).unwrap();
    assert_eq!(source.resolve("main").unwrap(), before);

    let tree = origin.find_commit(Oid::from_str(&before).unwrap()).unwrap().tree().unwrap();
    let signature = Signature::now("Test", "test@example.com").unwrap();
    let rewritten = origin.commit(None, &signature, &signature, "rewritten history", &tree, &[]).unwrap();
    origin.reference("refs/heads/main", rewritten, true, "force-push").unwrap();
    let fetched = source.fetch("main").unwrap().unwrap();

    assert_eq!(fetched, Fetched { commit: rewritten.to_string(), previous: Some(before), forced: true });
    assert_eq!(source.resolve("main").unwrap(), rewritten.to_string());
}

#[test]
fn a_work_tree_given_as_a_file_url_is_mirrored_too() {
    let origin_dir = tempdir();
    let origin = init(origin_dir.path(), false);
    let sha = commit(&origin, &[("desired/a.yaml", Entry::File("a\n"))]);
    let cache = tempdir();

    let source = open_at(&file_url(origin_dir.path()), "HEAD", cache.path()).unwrap();

    assert_eq!(source.resolve("HEAD").unwrap(), sha);
}

#[test]
fn each_reference_is_fetched_by_its_name_and_head_follows_the_remote() {
    let origin_dir = tempdir();
    let origin = init(origin_dir.path(), true);
    let main = commit(&origin, &[("desired/a.yaml", Entry::File("main\n"))]);
    let dev = commit_on(&origin, "refs/heads/dev", &[("desired/a.yaml", Entry::File("dev\n"))]);
    let feature = commit_on(&origin, "refs/heads/feature", &[("desired/a.yaml", Entry::File("feature\n"))]);
    origin.tag_lightweight("v1", &origin.revparse_single(&main).unwrap(), false).unwrap();
    let cache = tempdir();
    let url = file_url(origin_dir.path());
    let source = open_at(&url, "HEAD", cache.path()).unwrap();

    assert_eq!(source.resolve("HEAD").unwrap(), main);
    assert!(source.resolve("dev").is_err(), "only the followed reference is fetched");
    for (reference, sha) in [("dev", &dev), ("feature", &feature), ("v1", &main), ("refs/heads/dev", &dev)] {
        assert_eq!(&source.fetch(reference).unwrap().unwrap().commit, sha, "{reference}");
        assert_eq!(&source.resolve(reference).unwrap(), sha, "{reference}");
    }

    origin.set_head("refs/heads/dev").unwrap();
    origin.find_reference("refs/heads/feature").unwrap().delete().unwrap();
    source.fetch("HEAD").unwrap();

    assert_eq!(source.resolve("HEAD").unwrap(), dev);
    let error = source.fetch("feature").unwrap_err();
    assert_eq!(error.to_string(), format!("reference `feature` not found in {url}: known branches: dev, main"));
}

#[test]
fn a_sha_is_fetched_once_and_then_read_from_the_mirror() {
    let origin_dir = tempdir();
    let origin = init(origin_dir.path(), true);
    let first = commit(&origin, &[("desired/a.yaml", Entry::File("v: 1\n"))]);
    commit(&origin, &[("desired/a.yaml", Entry::File("v: 2\n"))]);
    let cache = tempdir();
    let url = file_url(origin_dir.path());

    let source = open_at(&url, &first, cache.path()).unwrap();
    assert_eq!(source.resolve(&first).unwrap(), first);

    // The remote is gone: a commit already in the mirror needs no network.
    fs::remove_dir_all(origin_dir.path()).unwrap();
    assert_eq!(source.fetch(&first).unwrap().unwrap().commit, first);
    assert!(source.fetch("main").is_err());
}

#[test]
fn opening_a_remote_again_reuses_and_fetches_its_cache() {
    let origin_dir = tempdir();
    let origin = init(origin_dir.path(), true);
    commit(&origin, &[("desired/a.yaml", Entry::File("v: 1\n"))]);
    let cache = tempdir();
    let url = file_url(origin_dir.path());
    drop(open_at(&url, "HEAD", cache.path()).unwrap());
    let second = commit(&origin, &[("desired/a.yaml", Entry::File("v: 2\n"))]);

    let source = open_at(&url, "HEAD", cache.path()).unwrap();

    assert_eq!(source.resolve("HEAD").unwrap(), second);
    assert_eq!(entries_of(cache.path()), vec![cache_name(&url)]);
}

#[test]
fn a_cache_directory_holding_something_else_is_not_overwritten() {
    let origin_dir = tempdir();
    let origin = init(origin_dir.path(), true);
    commit(&origin, &[("desired/a.yaml", Entry::File("a\n"))]);
    let cache = tempdir();
    let url = file_url(origin_dir.path());
    let occupied = cache.path().join(cache_name(&url));
    fs::create_dir(&occupied).unwrap();
    fs::write(occupied.join("precious.txt"), "keep me").unwrap();

    let error = open_at(&url, "HEAD", cache.path()).unwrap_err();

    assert_eq!(
        error.to_string(),
        format!(
            "the cache directory {} for `{url}` holds something that is not a bare git repository; remove it so that drctl can clone afresh, or use another cache directory",
            occupied.display()
        )
    );
    assert_eq!(fs::read_to_string(occupied.join("precious.txt")).unwrap(), "keep me");
}

/// Opening makes no network call (a controller starts while its remote is
/// down); the fetch fails naming the URL, and a later one succeeds.
#[test]
fn a_remote_that_is_not_there_yet_fails_the_fetch_not_the_open() {
    let later = tempdir();
    let path = later.path().join("policies.git");
    let url = file_url(&path);
    let cache = tempdir();

    let source = Source::open(&url, &Access::with_cache(cache.path().join("mirrors"))).unwrap();
    let error = source.fetch("HEAD").unwrap_err();

    assert!(matches!(error, SourceError::Transport { .. }), "{error:?}");
    assert!(error.to_string().starts_with(&format!("cannot fetch `{url}`")), "{error}");
    let mode = fs::metadata(cache.path().join("mirrors")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the cache is private");

    let origin = init(&path, true);
    let sha = commit(&origin, &[("desired/a.yaml", Entry::File("a\n"))]);
    assert_eq!(source.fetch("HEAD").unwrap().unwrap().commit, sha);
}

#[test]
fn transports_drctl_does_not_speak_are_refused_with_a_clear_error() {
    let cache = tempdir();
    for (url, scheme) in [("git://example.com/policies.git", "git"), ("s3://bucket/policies", "s3")] {
        let error = Source::open(url, &Access::with_cache(cache.path())).unwrap_err();
        assert!(matches!(&error, SourceError::UnsupportedTransport { scheme: s, .. } if s == scheme), "{url}: {error:?}");
        assert!(
            error.to_string().starts_with(&format!("cannot read `{url}`: this drctl binary was built without the `{scheme}` transport")),
            "{error}"
        );
    }
    assert!(git2::Version::get().https() && git2::Version::get().ssh(), "the default build speaks HTTPS and SSH");
    assert_eq!(entries_of(cache.path()), Vec::<String>::new());
}

#[test]
fn cache_names_are_readable_stable_and_distinct() {
    let name = cache_name("file:///srv/git/policies.git");

    assert!(name.starts_with("srv-git-policies.git-"), "{name}");
    assert_eq!(name.len(), "srv-git-policies.git-".len() + 12);
    assert_eq!(name, cache_name("file:///srv/git/policies.git"));
    assert_ne!(name, cache_name("file:///srv/git/policies.git/"));
    assert_ne!(cache_name("file:///a/b"), cache_name("file:///a-b"), "sanitising alone would merge these");
    for url in ["file://", "file:///..", "", "/../../etc"] {
        let name = cache_name(url);
        assert!(!name.starts_with('.') && !name.contains('/') && !name.is_empty(), "{url:?} gave {name:?}");
    }
    let long = format!("file:///{}/policies.git", "x".repeat(500));
    assert!(cache_name(&long).len() <= 48 + 13);
    assert!(cache_name(&long).contains("policies.git"));
}

#[test]
fn fetching_a_local_repository_does_nothing() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let sha = commit(&repo, &[("desired/a.yaml", Entry::File("a\n"))]);
    let source = open(dir.path());

    assert_eq!(source.fetch("HEAD").unwrap(), None);

    assert_eq!(source.resolve("HEAD").unwrap(), sha);
}

#[test]
fn a_source_can_move_to_another_thread() {
    let dir = tempdir();
    let repo = init(dir.path(), false);
    let sha = commit(&repo, &[("desired/a.yaml", Entry::File("a\n"))]);
    let source = open(dir.path());

    let resolved = std::thread::spawn(move || source.resolve("HEAD").unwrap()).join().unwrap();

    assert_eq!(resolved, sha);
}
