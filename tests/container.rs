//! The container image (Dockerfile, `scripts/container`): built, then run
//! as an operator runs it, against the emulator on the host's network:
//! `--version`, one `watch` pass with the image's default DynamoDB state,
//! and a running watch stopped by SIGTERM (`docker stop`) that exits 0
//! after finishing its pass.
//!
//! The image is built around the drctl this test binary was built with
//! (`--prebuilt`), on a runtime base made here from Debian's packages
//! (`scripts/container base`: what the distroless image holds), so the test
//! needs no registry and no second compile; the Dockerfile's own Rust stage
//! is what `scripts/container build` runs for a release.
//!
//! Without a container runtime the test says SKIPPED and why; with
//! `DRCTL_REQUIRE_CONTAINER=1` it fails instead.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const TAG: &str = "drctl:test";
const SCANS: &str = include_str!("../desired/spatial-scans.yaml");

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/container")
}

/// The container runtime, or why there is none.
fn runtime() -> Result<String, String> {
    let output = Command::new(script()).arg("runtime").output().map_err(|e| e.to_string())?;
    match output.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&output.stdout).trim().to_string()),
        _ => Err(String::from_utf8_lossy(&output.stderr).trim().to_string()),
    }
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `docker run` of the image on the host's network, with the account's
/// environment, the policy repository mounted read-only at /repo and a git
/// config that trusts it (it belongs to another user than the image's).
fn run(runtime: &str, account: &support::TestAccount, repo: &Path, gitconfig: &Path, extra: &[&str], args: &[&str]) -> Command {
    let mut command = Command::new(runtime);
    command.args(["run", "--network", "host", "-v"]).arg(format!("{}:/repo:ro", repo.display()));
    command.arg("-v").arg(format!("{}:/home/nonroot/.gitconfig:ro", gitconfig.display()));
    for (name, value) in account.cli_env() {
        command.arg("-e").arg(format!("{name}={value}"));
    }
    command.args(["-e", "DRCTL_REPO=/repo"]).args(extra).arg(TAG).args(args);
    command
}

#[tokio::test]
async fn the_image_runs_a_watch_pass_against_the_emulator_and_stops_cleanly_on_sigterm() {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(why) if std::env::var_os("DRCTL_REQUIRE_CONTAINER").is_some() => panic!("DRCTL_REQUIRE_CONTAINER is set: {why}"),
        Err(why) => {
            println!("SKIPPED: the container image was not built or run: {why}");
            return;
        }
    };
    let base = Command::new(script()).arg("base").output().unwrap();
    assert!(base.status.success(), "{}", text(&base));
    let base = String::from_utf8_lossy(&base.stdout).lines().last().unwrap_or_default().trim().to_string();
    let built =
        Command::new(script()).args(["build", TAG, "--prebuilt", env!("CARGO_BIN_EXE_drctl"), "--runtime-image", &base]).output().unwrap();
    assert!(built.status.success(), "{}", text(&built));
    let size = Command::new(script()).args(["size", TAG]).output().unwrap();
    println!("image {TAG}: {} bytes", String::from_utf8_lossy(&size.stdout).trim());

    let version = Command::new(&runtime).args(["run", "--rm", TAG, "--version"]).output().unwrap();
    assert!(version.status.success() && text(&version).starts_with("drctl "), "{}", text(&version));

    let account = support::account().await;
    let clients = account.region(support::REGION);
    support::create_table(&clients.dynamodb, "SpatialScans", 20).await;
    support::create_state_table(&clients.dynamodb, "drctl-state").await;
    support::enable_advanced_backup(&clients.backup).await;
    let checked = drctl::policy::check([drctl::policy::Input { file: "desired/spatial-scans.yaml".into(), content: Ok(SCANS.into()) }]);
    support::bootstrap(&account, [&checked.policies[0].policy]).await;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    support::commit_files(&repo, &[("desired/spatial-scans.yaml", SCANS)]);
    let gitconfig = dir.path().join("gitconfig");
    std::fs::write(&gitconfig, "[safe]\n\tdirectory = *\n").unwrap();
    // Readable by the image's user (uid 65532).
    let status = Command::new("chmod").args(["-R", "a+rX"]).arg(dir.path()).status().unwrap();
    assert!(status.success());

    // One pass, with the image's default state (dynamodb://drctl-state).
    let pass = run(&runtime, &account, &repo, &gitconfig, &["--rm"], &["watch", "--passes", "1"]).output().unwrap();
    assert_eq!(pass.status.code(), Some(0), "{}", text(&pass));
    assert!(text(&pass).contains("reconciled"), "{}", text(&pass));

    // A running watch, stopped by SIGTERM: exit 0, "watch stopped".
    let name = format!("drctl-test-{}", account.id);
    let started = run(&runtime, &account, &repo, &gitconfig, &["-d", "--name", &name], &["watch", "--interval", "1h"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(started.success());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let logs = Command::new(&runtime).args(["logs", &name]).output().unwrap();
        if text(&logs).contains("nothing to do") || text(&logs).contains("\"reconciled\"") {
            break;
        }
        assert!(Instant::now() < deadline, "the watch in the container never finished a pass:\n{}", text(&logs));
        std::thread::sleep(Duration::from_millis(500));
    }
    let stopped = Command::new(&runtime).args(["stop", "--time", "60", &name]).output().unwrap();
    assert!(stopped.status.success(), "{}", text(&stopped));
    let code = Command::new(&runtime).args(["inspect", "--format", "{{.State.ExitCode}}", &name]).output().unwrap();
    let logs = Command::new(&runtime).args(["logs", &name]).output().unwrap();
    let _ = Command::new(&runtime).args(["rm", "-f", &name]).output();
    assert_eq!(String::from_utf8_lossy(&code.stdout).trim(), "0", "{}", text(&logs));
    assert!(text(&logs).contains("watch stopped"), "{}", text(&logs));
}
