//! Local repositories: commits, references, changes between commits, the
//! work tree.

use super::*;

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
