//! `--repo` over HTTPS and SSH, against real git servers on the loopback
//! (tests/git-servers): `git http-backend` behind TLS with basic auth, its
//! CA trusted through `SSL_CERT_FILE` as OpenSSL reads it, and the system's
//! `sshd` with a deploy key and `known_hosts` files. The `drctl` binary is
//! run as a user runs it; its logs, errors, cache and state are searched for
//! the token, and their file modes checked.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use git2::{Repository, RepositoryInitOptions, Signature};

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");
const TOKEN_USER: &str = "x-access-token";

// ------------------------------------------------------------------ servers

fn server_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/git-servers").join(name)
}

/// `https.py`: git smart HTTP over TLS, basic auth for one user.
struct Https {
    child: Child,
    state: tempfile::TempDir,
    prefix: String,
}

impl Https {
    fn start(repos: &Path, password: &str) -> Https {
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
        let state = tempfile::tempdir().unwrap();
        let child = Command::new(&python)
            .arg(server_script("https.py"))
            .args(["--repos", repos.to_str().unwrap(), "--state", state.path().to_str().unwrap(), "--user", TOKEN_USER])
            .arg("--stop-on-stdin-eof")
            .env("DRCTL_GIT_PASSWORD", password)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} (scripts/test makes the venv): {e}", python.display()));
        let url_file = state.path().join("url");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !url_file.exists() {
            assert!(Instant::now() < deadline, "the HTTPS git server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let prefix = std::fs::read_to_string(url_file).unwrap().trim().to_string();
        Https { child, state, prefix }
    }

    fn ca(&self) -> PathBuf {
        self.state.path().join("ca.pem")
    }

    /// `https://[userinfo@]127.0.0.1:PORT/policies.git`.
    fn url(&self, userinfo: Option<&str>) -> String {
        let host = self.prefix.trim_start_matches("https://");
        match userinfo {
            Some(userinfo) => format!("https://{userinfo}@{host}/policies.git"),
            None => format!("https://{host}/policies.git"),
        }
    }
}

impl Drop for Https {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sshd`: the system's OpenSSH server with a deploy key.
struct Sshd {
    state: tempfile::TempDir,
}

impl Sshd {
    fn start() -> Sshd {
        let state = tempfile::tempdir().unwrap();
        let output = Command::new(server_script("sshd")).arg("start").arg(state.path()).output().unwrap();
        assert!(
            output.status.success(),
            "the SSH git server did not start (exit {:?}): {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        Sshd { state }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.state.path().join(name)
    }

    fn url(&self, repo: &Path) -> String {
        let prefix = std::fs::read_to_string(self.file("url_prefix")).unwrap();
        format!("{}{}", prefix.trim(), repo.display())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = Command::new(server_script("sshd")).arg("stop").arg(self.state.path()).output();
    }
}

// ------------------------------------------------------------ repositories

/// A bare repository `policies.git` under a fresh directory (the servers'
/// root), whose `main` the test moves.
struct Origin {
    root: tempfile::TempDir,
    repo: Repository,
}

impl Origin {
    fn new() -> Origin {
        let root = tempfile::tempdir().unwrap();
        let mut options = RepositoryInitOptions::new();
        options.bare(true).initial_head("main");
        let repo = Repository::init_opts(root.path().join("policies.git"), &options).unwrap();
        Origin { root, repo }
    }

    fn path(&self) -> PathBuf {
        self.root.path().join("policies.git")
    }

    /// Commits exactly `files` under `desired/` on `main`; returns the sha.
    fn push(&self, files: &[(&str, &str)], message: &str) -> String {
        let mut desired = self.repo.treebuilder(None).unwrap();
        for (name, content) in files {
            desired.insert(name, self.repo.blob(content.as_bytes()).unwrap(), 0o100644).unwrap();
        }
        let mut top = self.repo.treebuilder(None).unwrap();
        top.insert("desired", desired.write().unwrap(), 0o040000).unwrap();
        let tree = self.repo.find_tree(top.write().unwrap()).unwrap();
        let parent = self.repo.refname_to_id("refs/heads/main").ok().map(|oid| self.repo.find_commit(oid).unwrap());
        let signature = Signature::now("Test", "test@example.com").unwrap();
        let parents: Vec<_> = parent.iter().collect();
        self.repo.commit(Some("refs/heads/main"), &signature, &signature, message, &tree, &parents).unwrap().to_string()
    }
}

// ------------------------------------------------------------------ drctl

/// A place to run drctl from: its own HOME (no user's git config,
/// credential helper or known_hosts leaks in), cache and state.
struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    fn new() -> Workdir {
        Workdir { dir: tempfile::tempdir().unwrap() }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("drctl/cache")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("drctl/state/state.json")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_drctl"));
        command
            .current_dir(self.dir.path())
            .args(args)
            .args(["--cache-dir", self.cache().to_str().unwrap()])
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("DRCTL_GIT_TOKEN_ENV")
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("no_proxy")
            .env_remove("NO_PROXY");
        command
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        command.output().unwrap()
    }
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Every file and directory under `dirs`: no name and no content holds
/// `secret`, and none can be read by anyone but its owner.
fn assert_private_and_free_of(secret: &str, dirs: &[PathBuf]) -> usize {
    let mut seen = 0;
    let mut pending: Vec<PathBuf> = dirs.to_vec();
    while let Some(path) = pending.pop() {
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        let mode = metadata.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}: readable by others", path.display());
        assert!(!path.to_string_lossy().contains(secret), "a file name holds the token: {}", path.display());
        seen += 1;
        if metadata.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{} holds the token", path.display());
        }
    }
    seen
}

/// A `drctl watch` whose JSON log lines arrive as they are written.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Watch {
    fn spawn(mut command: Command) -> Watch {
        let mut child = command.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Watch { child, lines, log: Vec::new() }
    }

    /// Waits for a log line with `message` (and `field` = `value`).
    fn wait_for(&mut self, message: &str, field: &str, value: &str) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| panic!("no `{message}` log line:\n{}", self.log.join("\n")));
            self.log.push(line.clone());
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if event["message"] == message && event[field] == value {
                return;
            }
        }
    }

    fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        self.log.extend(self.lines.iter());
        (status.code(), self.log.join("\n"))
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).unwrap();
    format!("ghs_{}", hex::encode(bytes))
}

// ------------------------------------------------------------------ HTTPS

/// The README's first remote form: a token as CI systems give it, in the
/// URL, then from an environment variable; validate and a watch that
/// reconciles (apply, drill) the commit pushed between its passes; the token
/// appears in no log line, error, file name or file under the cache and
/// state, which are private.
#[tokio::test]
async fn https_with_a_token_validate_and_watch_read_the_remote_and_the_token_stays_secret() {
    let account = support::account().await;
    let clients = account.region(support::REGION);
    support::create_table(&clients.dynamodb, "SpatialScans", 40).await;
    support::enable_advanced_backup(&clients.backup).await;
    let checked =
        drctl::policy::check([drctl::policy::Input { file: "desired/spatial-scans.yaml".into(), content: Ok(SCANS.as_bytes().to_vec()) }]);
    support::bootstrap(&account, [&checked.policies[0].policy]).await;

    let origin = Origin::new();
    let empty = origin.push(&[(".keep", "")], "no policies yet");
    let token = random_token();
    let server = Https::start(origin.root.path(), &token);
    let ca = server.ca();
    let tls = [("SSL_CERT_FILE", ca.to_str().unwrap())];
    let work = Workdir::new();
    let with_token = server.url(Some(&format!("{TOKEN_USER}:{token}")));

    let from_url = work.run(&["validate", "--repo", &with_token], &tls);
    assert_eq!(from_url.status.code(), Some(0), "{}", text(&from_url));
    let from_env = work
        .run(&["validate", "--repo", &server.url(None), "--git-token-env", "POLICY_REPO_TOKEN"], &[tls[0], ("POLICY_REPO_TOKEN", &token)]);
    assert_eq!(from_env.status.code(), Some(0), "{}", text(&from_env));

    let mut command = work.command(&["watch", "--repo", &with_token, "--ref", "main", "--passes", "2", "--interval", "5s"]);
    command.args(["--state", work.state().to_str().unwrap()]).envs(account.cli_env()).envs(tls).env("DRCTL_LOG", "drctl=debug");
    let mut watch = Watch::spawn(command);
    watch.wait_for("reconciled", "commit", &empty);
    let second = origin.push(&[("spatial-scans.yaml", SCANS)], "spatial-scans: first policy");
    watch.wait_for("reconciled", "commit", &second);
    let (code, log) = watch.finish();

    assert_eq!(code, Some(0), "{log}");
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(work.state()).unwrap()).unwrap();
    let record = &state["policies"]["spatial-scans"];
    assert_eq!(record["applied"]["commit"], second.as_str(), "{record:#}");
    assert_eq!(record["reconciled"]["commit"], second.as_str(), "the drill proved the fetched commit: {record:#}");
    for output in [&from_url, &from_env] {
        assert!(!text(output).contains(&token), "{}", text(output));
    }
    assert!(!log.contains(&token), "the token is in the logs:\n{log}");
    assert!(log.contains(&server.url(None)), "the logs name the URL without its token:\n{log}");
    let files = assert_private_and_free_of(&token, &[work.dir.path().join("drctl")]);
    assert!(files > 20, "the cache and state were searched: {files} entries");
    let mirror = std::fs::read_dir(work.cache()).unwrap().next().unwrap().unwrap().path();
    assert!(mirror.join("shallow").exists(), "the first fetch was shallow: {}", mirror.display());
}

/// HTTPS goes through the proxy `https_proxy` names, as git's does: the
/// proxy sees a CONNECT to the git server and nothing else.
#[test]
fn https_goes_through_the_proxy_of_the_environment() {
    let origin = Origin::new();
    origin.push(&[("spatial-scans.yaml", SCANS)], "policy");
    let token = random_token();
    let server = Https::start(origin.root.path(), &token);
    let proxy_state = tempfile::tempdir().unwrap();
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let mut proxy = Command::new(&python)
        .arg(server_script("connect_proxy.py"))
        .args(["--state", proxy_state.path().to_str().unwrap()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let url_file = proxy_state.path().join("url");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !url_file.exists() {
        assert!(Instant::now() < deadline, "the proxy did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let proxy_url = std::fs::read_to_string(&url_file).unwrap().trim().to_string();
    let work = Workdir::new();
    let ca = server.ca();

    let output = work.run(
        &["validate", "--repo", &server.url(Some(&format!("{TOKEN_USER}:{token}")))],
        &[("SSL_CERT_FILE", ca.to_str().unwrap()), ("https_proxy", &proxy_url)],
    );
    let _ = proxy.kill();
    let _ = proxy.wait();

    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let connects = std::fs::read_to_string(proxy_state.path().join("connects.log")).unwrap_or_default();
    let server_address = server.prefix.trim_start_matches("https://");
    assert!(connects.lines().any(|line| line == server_address), "the proxy saw: {connects:?}");
}

/// A fetch that fails (the remote is gone) fails the pass and changes
/// nothing; the loop backs off and the next pass, with the remote back,
/// reconciles the commit pushed meanwhile.
#[test]
fn a_failed_fetch_fails_only_its_pass_and_the_loop_recovers() {
    let origin = Origin::new();
    let first = origin.push(&[(".keep", "")], "no policies yet");
    let away = origin.root.path().join("away.git");
    let url = format!("file://{}", origin.path().display());
    let work = Workdir::new();
    let mut command = work.command(&["watch", "--repo", &url, "--ref", "main", "--passes", "3", "--interval", "2s"]);
    command.args(["--error-backoff", "2s", "--state", work.state().to_str().unwrap(), "--endpoint-url", "http://127.0.0.1:9"]);
    command.envs([("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x")]);

    let mut watch = Watch::spawn(command);
    watch.wait_for("reconciled", "commit", &first);
    std::fs::rename(origin.path(), &away).unwrap();
    watch.wait_for("pass failed", "level", "ERROR");
    std::fs::rename(&away, origin.path()).unwrap();
    let second = origin.push(&[(".keep", "moved")], "pushed while the remote was away");
    watch.wait_for("reconciled", "commit", &second);
    let (code, log) = watch.finish();

    assert_eq!(code, Some(0), "{log}");
    let failed = log.lines().find(|line| line.contains("pass failed")).unwrap();
    assert!(failed.contains(&format!("cannot fetch `{url}`")) && failed.contains("Nothing was changed"), "{failed}");
}

/// A wrong token: a clear error naming the host and the method tried, exit
/// 1, the token nowhere, nothing written to the state.
#[test]
fn https_with_a_wrong_token_fails_naming_the_host_and_writes_no_state() {
    let origin = Origin::new();
    origin.push(&[("spatial-scans.yaml", SCANS)], "policy");
    let server = Https::start(origin.root.path(), &random_token());
    let ca = server.ca();
    let work = Workdir::new();
    let wrong = random_token();
    let url = server.url(Some(&format!("{TOKEN_USER}:{wrong}")));

    let validate = work.run(&["validate", "--repo", &url], &[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    let watch = work.run(
        &["watch", "--repo", &url, "--passes", "1", "--state", work.state().to_str().unwrap(), "--endpoint-url", "http://127.0.0.1:9"],
        &[("SSL_CERT_FILE", ca.to_str().unwrap()), ("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x")],
    );
    let missing = work.run(&["validate", "--repo", &server.url(None), "--git-token-env", "NO_SUCH_VAR"], &[]);

    assert_eq!(validate.status.code(), Some(1), "{}", text(&validate));
    let expected = format!("cannot authenticate to 127.0.0.1 for `{}`: tried the token in the URL;", server.url(None));
    assert!(text(&validate).contains(&expected), "{}", text(&validate));
    assert_eq!(watch.status.code(), Some(1), "{}", text(&watch));
    assert!(text(&watch).contains("cannot authenticate to 127.0.0.1"), "{}", text(&watch));
    assert!(!work.state().exists(), "a failed fetch writes no state");
    assert!(text(&missing).contains("--git-token-env names $NO_SUCH_VAR, which is not set"), "{}", text(&missing));
    for output in [&validate, &watch] {
        assert!(!text(output).contains(&wrong), "{}", text(output));
    }
    assert_private_and_free_of(&wrong, &[work.dir.path().join("drctl")]);
}

/// Without the server's CA the TLS handshake is refused: no certificate is
/// trusted that the system's roots (or SSL_CERT_FILE) do not vouch for.
#[test]
fn https_to_a_server_whose_certificate_is_not_trusted_is_refused() {
    let origin = Origin::new();
    origin.push(&[("spatial-scans.yaml", SCANS)], "policy");
    let token = random_token();
    let server = Https::start(origin.root.path(), &token);
    let work = Workdir::new();

    let output = work.run(&["validate", "--repo", &server.url(Some(&format!("{TOKEN_USER}:{token}")))], &[]);

    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("cannot fetch"), "{}", text(&output));
    assert!(!text(&output).contains(&token));
}

// ------------------------------------------------------------------ Lambda

/// The scheduled Lambda as AWS runs it: the `drctl-lambda` binary polls a
/// local Lambda Runtime API for EventBridge schedule events, reads the
/// repository's token from an SSM parameter (SecureString) at each
/// invocation, fetches over HTTPS, reconciles (apply, drill) with the state
/// in DynamoDB and answers with its summary. A wrong token in the
/// parameter fails that invocation (an error Lambda counts) naming the
/// parameter, never the token; the right one put back is read by the next
/// invocation of the same process (the parameter is read every time).
#[tokio::test]
async fn the_lambda_binary_reads_its_token_from_ssm_fetches_over_https_and_reconciles_per_invocation() {
    let account = support::account().await;
    let clients = account.region(support::REGION);
    support::create_table(&clients.dynamodb, "SpatialScans", 40).await;
    support::create_state_table(&clients.dynamodb, "drctl-state").await;
    support::enable_advanced_backup(&clients.backup).await;
    let checked =
        drctl::policy::check([drctl::policy::Input { file: "desired/spatial-scans.yaml".into(), content: Ok(SCANS.as_bytes().to_vec()) }]);
    support::bootstrap(&account, [&checked.policies[0].policy]).await;
    let origin = Origin::new();
    let commit = origin.push(&[("spatial-scans.yaml", SCANS)], "spatial-scans");
    let token = random_token();
    let server = Https::start(origin.root.path(), &token);
    let ssm = aws_sdk_ssm::Client::new(account.aws.config());
    let put = |value: String| {
        let ssm = ssm.clone();
        async move {
            let request = ssm.put_parameter().name("/drctl/git-token").value(value).r#type(aws_sdk_ssm::types::ParameterType::SecureString);
            request.overwrite(true).send().await.unwrap();
        }
    };
    put(token.clone()).await;
    let api = support::LambdaApi::start();
    let work = Workdir::new();
    let mut lambda = Command::new(env!("CARGO_BIN_EXE_drctl-lambda"));
    lambda
        .current_dir(work.dir.path())
        .env("HOME", work.dir.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .envs(account.cli_env())
        .env("SSL_CERT_FILE", server.ca())
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "drctl")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("DRCTL_REPO", server.url(None))
        .env("DRCTL_REF", "main")
        .env("DRCTL_STATE", "dynamodb://drctl-state")
        .env("DRCTL_STATE_REGION", support::REGION)
        .env("DRCTL_GIT_TOKEN_PARAMETER", "/drctl/git-token")
        .env("DRCTL_CACHE_DIR", work.cache())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = lambda.spawn().unwrap();
    let schedule = serde_json::json!({
        "version": "0", "id": "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": account.id, "time": "2026-12-07T02:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/drctl"], "detail": {}
    });

    api.invoke("first", &schedule, Duration::from_secs(300));
    let first = api.answer("first", Duration::from_secs(300));
    let wrong = random_token();
    put(wrong.clone()).await;
    api.invoke("wrong", &schedule, Duration::from_secs(120));
    let second = api.answer("wrong", Duration::from_secs(120));
    put(token.clone()).await;
    api.invoke("restored", &schedule, Duration::from_secs(120));
    let third = api.answer("restored", Duration::from_secs(120));
    let mut child = child;
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let log = text(&output);

    let support::Answer::Response(first) = first else { panic!("the first invocation failed: {first:?}\n{log}") };
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!((first["outcome"].as_str(), first["commit"].as_str()), (Some("reconciled"), Some(commit.as_str())), "{first:#}\n{log}");
    assert_eq!(first["policies"][0]["status"], "reconciled", "{first:#}");
    assert_eq!(first["policies"][0]["verdicts"], serde_json::json!({ "us-east-1": "passed", "us-west-2": "passed" }), "{first:#}");
    let support::Answer::Error(second) = second else { panic!("a wrong token must fail the invocation: {second:?}") };
    assert!(second.contains("the token in SSM parameter /drctl/git-token"), "{second}");
    let support::Answer::Response(third) = third else { panic!("the parameter is read again at each invocation: {third:?}\n{log}") };
    let third: serde_json::Value = serde_json::from_str(&third).unwrap();
    assert_eq!(third["policies"][0]["status"], "proven", "{third:#}");
    for secret in [&token, &wrong] {
        assert!(!log.contains(secret.as_str()) && !second.contains(secret.as_str()), "a token leaked:\n{second}\n{log}");
    }
    assert!(log.contains("\"request_id\":\"first\""), "the logs are JSON lines naming the invocation:\n{log}");
}

// -------------------------------------------------------------------- SSH

/// A deploy key and known_hosts (plain and hashed): validate reads the
/// repository; a watch reconciles the commit pushed between its passes.
#[test]
fn ssh_with_a_deploy_key_validate_and_watch_read_the_remote() {
    let origin = Origin::new();
    let first = origin.push(&[(".keep", "")], "no policies yet");
    let sshd = Sshd::start();
    let url = sshd.url(&origin.path());
    let key = sshd.file("deploy_key");
    let work = Workdir::new();
    let ssh = |known_hosts: &str| {
        vec!["--ssh-key".to_string(), key.display().to_string(), "--known-hosts".to_string(), sshd.file(known_hosts).display().to_string()]
    };

    for known_hosts in ["known_hosts", "known_hosts_hashed"] {
        let mut args = vec!["validate".to_string(), "--repo".to_string(), url.clone()];
        args.extend(ssh(known_hosts));
        let output = work.run(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
        assert_eq!(output.status.code(), Some(0), "{known_hosts}: {}", text(&output));
    }

    let mut command = work.command(&["watch", "--repo", &url, "--ref", "main", "--passes", "2", "--interval", "3s"]);
    command.args(ssh("known_hosts")).args(["--state", work.state().to_str().unwrap(), "--endpoint-url", "http://127.0.0.1:9"]);
    command.envs([("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x")]);
    let mut watch = Watch::spawn(command);
    watch.wait_for("reconciled", "commit", &first);
    let second = origin.push(&[(".keep", "moved")], "a commit between passes");
    watch.wait_for("reconciled", "commit", &second);
    let (code, log) = watch.finish();

    assert_eq!(code, Some(0), "{log}");
    assert_private_and_free_of("never-a-secret-here", &[work.cache()]);
}

/// A changed host key and an unknown host are refused, naming the key's
/// fingerprint as `ssh-keygen -l` prints it; a key the server does not
/// accept is a clear error naming the method tried.
#[test]
fn ssh_refuses_a_changed_or_unknown_host_key_and_a_wrong_deploy_key() {
    let origin = Origin::new();
    origin.push(&[("spatial-scans.yaml", SCANS)], "policy");
    let sshd = Sshd::start();
    let url = sshd.url(&origin.path());
    let work = Workdir::new();
    let key = sshd.file("deploy_key");
    let fingerprint = Command::new("ssh-keygen").arg("-lf").arg(sshd.file("ssh_host_ed25519_key.pub")).output().unwrap();
    let fingerprint = String::from_utf8_lossy(&fingerprint.stdout).split_whitespace().nth(1).unwrap().to_string();
    let empty = work.dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let validate = |key: &Path, known_hosts: &Path| {
        work.run(&["validate", "--repo", &url, "--ssh-key", key.to_str().unwrap(), "--known-hosts", known_hosts.to_str().unwrap()], &[])
    };

    let changed = validate(&key, &sshd.file("known_hosts_wrong"));
    let unknown = validate(&key, &empty);
    let wrong_key = validate(&sshd.file("other_host_key"), &sshd.file("known_hosts"));

    assert_eq!(changed.status.code(), Some(1));
    assert!(text(&changed).contains("HOST KEY CHANGED") && text(&changed).contains(&fingerprint), "{}", text(&changed));
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown).contains(&format!("the server's key (ssh-ed25519 {fingerprint}) is not in")), "{}", text(&unknown));
    assert!(text(&unknown).contains("ssh-keyscan -p "), "{}", text(&unknown));
    assert_eq!(wrong_key.status.code(), Some(1));
    let expected =
        format!("cannot authenticate to 127.0.0.1 for `{url}`: tried the key {} (--ssh-key)", sshd.file("other_host_key").display());
    assert!(text(&wrong_key).contains(&expected), "{}", text(&wrong_key));
}

/// The deploy key held by an SSH agent, as on a workstation.
#[test]
fn ssh_through_an_agent_holding_the_deploy_key() {
    let origin = Origin::new();
    origin.push(&[("spatial-scans.yaml", SCANS)], "policy");
    let sshd = Sshd::start();
    let socket = sshd.file("agent.sock");
    let mut agent = Command::new("ssh-agent").arg("-D").arg("-a").arg(&socket).stdout(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "ssh-agent did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let added = Command::new("ssh-add").arg("-q").arg(sshd.file("deploy_key")).env("SSH_AUTH_SOCK", &socket).output().unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let work = Workdir::new();

    let mut command = work.command(&["validate", "--repo", &sshd.url(&origin.path())]);
    let output =
        command.args(["--known-hosts", sshd.file("known_hosts").to_str().unwrap()]).env("SSH_AUTH_SOCK", &socket).output().unwrap();
    let _ = agent.kill();
    let _ = agent.wait();

    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}
