//! `drctl watch --metrics-addr`: a monitoring system scrapes the running
//! controller. Not ready before its first pass; after it, the policy's
//! compliance, proof time, measured RTO and RPO with their targets and the
//! drill count are there, in OpenMetrics text; SIGTERM ends it with exit 0.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");

/// `GET path` on `port`: the status code and the body ("" when the
/// server does not answer yet).
fn get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return (0, String::new()) };
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (code, body)
}

/// Every sample of `text` as parsed by Prometheus's own Python client
/// (its OpenMetrics parser, in the venv): `name{labels}` → value.
fn parsed(text: &str) -> std::collections::BTreeMap<String, f64> {
    const SCRIPT: &str = r#"
import sys, json
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))
        out[f'{s.name}{{{labels}}}'] = s.value
print(json.dumps(out))
"#;
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let mut child = Command::new(&python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/venv installs it)", python.display()));
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the OpenMetrics parser refused the text: {}\n{text}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn drctl(account: &support::TestAccount, dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drctl"))
        .current_dir(dir)
        .args(args)
        .env_remove("AWS_PROFILE")
        .envs(account.cli_env())
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_running_watch_serves_its_policies_metrics_and_readiness() {
    let account = support::account().await;
    support::create_table(&account.clients().dynamodb, "SpatialScans", 20).await;
    support::enable_advanced_backup(&account.clients().backup).await;
    let dir = tempfile::tempdir().unwrap();
    let primary_only = SCANS.replace("regions: [us-east-1, us-west-2]", "regions: [us-east-1]");
    support::commit_files(dir.path(), &[("desired/spatial-scans.yaml", &primary_only)]);
    let bootstrap = drctl(&account, dir.path(), &["bootstrap"]);
    assert!(bootstrap.status.success(), "{}", String::from_utf8_lossy(&bootstrap.stderr));

    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let mut watch = Command::new(env!("CARGO_BIN_EXE_drctl"))
        .current_dir(dir.path())
        .args(["watch", "--state", "state.json", "--interval", "1h", "--metrics-addr", &address])
        .env_remove("AWS_PROFILE")
        .envs(account.cli_env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut answered_unready = false;
    loop {
        match get(port, "/readyz").0 {
            200 => break,
            503 => answered_unready = true,
            _ => {}
        }
        assert!(Instant::now() < deadline, "watch never became ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(answered_unready, "not ready until its first pass completed");
    assert_eq!(get(port, "/healthz").0, 200);
    // The container's health check: `drctl health`, alive and ready here,
    // and failing against a port nothing answers on.
    for args in [&["health", "--addr", address.as_str()][..], &["health", "--addr", address.as_str(), "--ready"]] {
        let health = drctl(&account, dir.path(), args);
        assert_eq!(health.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&health.stderr));
    }
    let closed = format!("127.0.0.1:{}", free_port());
    let health = drctl(&account, dir.path(), &["health", "--addr", &closed, "--timeout", "1s"]);
    assert_eq!(health.status.code(), Some(1), "{}", String::from_utf8_lossy(&health.stdout));
    assert!(String::from_utf8_lossy(&health.stderr).contains(&format!("/healthz on {closed}")));
    let (code, metrics) = get(port, "/metrics");
    assert_eq!(code, 200);
    for line in [
        "drctl_policy_compliant{policy=\"spatial-scans\"} 1",
        "drctl_rto_target_seconds{policy=\"spatial-scans\"} 3600",
        "drctl_rpo_target_seconds{policy=\"spatial-scans\"} 28800",
        "drctl_drills_total{verdict=\"passed\"} 1",
        "drctl_reconcile_passes_total 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    // Parsed as a Prometheus server would, the values are the state's.
    let samples = parsed(&metrics);
    let state = drctl::state::FileStore::open(dir.path().join("state.json"));
    let record = drctl::state::StateStore::get(&state, "spatial-scans").await.unwrap().expect("a record");
    let drill = record.last_drill.as_ref().expect("a drill");
    let rto = drill.regions.iter().filter_map(|r| r.rto_seconds).fold(0.0, f64::max);
    assert_eq!(samples["drctl_policy_compliant{policy=spatial-scans}"], 1.0, "{samples:#?}");
    assert_eq!(samples["drctl_last_proof_timestamp_seconds{policy=spatial-scans}"], record.reconciled.as_ref().unwrap().at as f64);
    assert_eq!(samples["drctl_rto_seconds{policy=spatial-scans}"], rto);
    assert_eq!(samples["drctl_drills_total{verdict=passed}"], 1.0);

    let stopped = Command::new("kill").args(["-TERM", &watch.id().to_string()]).status().unwrap();
    assert!(stopped.success());
    let status = watch.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM ends the watch cleanly");
}
