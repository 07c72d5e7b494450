//! Remotes, through `file://` URLs: the mirror, fetching one reference,
//! force-pushes, the cache.

use super::*;

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
