//! drctl as a scheduled Lambda function (`drctl::lambda`, configured as
//! `drctl-lambda` reads its environment): each invocation is one pass,
//! bounded by the invocation's deadline, and a drill longer than one
//! invocation is resumed by the next from the state, never restarted.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use drctl::cli::lambda::LambdaArgs;
use drctl::lambda::{Invocation, Outcome};
use drctl::state::{DynamoStore, StateStore};
use support::{JobKind, Progression, TestAccount};

const STATE_TABLE: &str = "drctl-state";
const TABLE: &str = "SpatialScans";

fn policy() -> String {
    support::minimal_policy("spatial-scans", TABLE, &["schema: match-source", "sample: { items: 20 }", "canary: true"])
}

/// New items put into the source table, one every 50 ms, until stopped:
/// the table takes writes while its drill runs.
struct Writer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl Writer {
    fn start(account: &TestAccount) -> Writer {
        let dynamodb = account.region(support::REGION).dynamodb;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let written = AtomicU64::new(0);
        let task = tokio::spawn(async move {
            let mut n = 0usize;
            while !stopping.load(Ordering::Relaxed) {
                let mut item = support::fixture_item(100_000 + n);
                item.insert("payload".into(), AttributeValue::S(format!("written while the Lambda drilled {n}")));
                if dynamodb.put_item().table_name(TABLE).set_item(Some(item)).send().await.is_ok() {
                    written.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            written.load(Ordering::Relaxed)
        });
        Writer { stop, task }
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

fn invocation(id: &str, lasts: Duration) -> Invocation {
    Invocation { request_id: id.to_string(), deadline: SystemTime::now() + lasts }
}

/// The restore jobs of the account, by id.
async fn restore_jobs(account: &TestAccount) -> Vec<String> {
    let backup = account.region(support::REGION).backup;
    let pages: Vec<_> = backup.list_restore_jobs().into_paginator().send().collect().await;
    pages.into_iter().flat_map(|page| page.unwrap().restore_jobs.unwrap_or_default()).filter_map(|job| job.restore_job_id).collect()
}

/// A restore that outlasts two invocations: the first starts it and is cut
/// off at its deadline, the second finds it still running and is cut off
/// too, the third sees it complete and proves the policy. One restore job
/// in all, the leases given back at each cut, the table written to
/// throughout, and the fourth invocation has nothing to do.
#[tokio::test]
async fn a_drill_longer_than_an_invocation_is_resumed_by_the_next_ones_with_one_restore_job() {
    let account = support::account().await;
    let clients = account.region(support::REGION);
    support::create_table(&clients.dynamodb, TABLE, 40).await;
    support::create_state_table(&clients.dynamodb, STATE_TABLE).await;
    let checked = drctl::policy::check([drctl::policy::Input { file: "desired/spatial-scans.yaml".into(), content: Ok(policy().into()) }]);
    support::bootstrap(&account, [&checked.policies[0].policy]).await;
    let repo = tempfile::tempdir().unwrap();
    support::commit_files(repo.path(), &[("desired/spatial-scans.yaml", &policy())]);
    let cache = tempfile::tempdir().unwrap();
    let args = LambdaArgs::parse_with([
        "--repo",
        repo.path().to_str().unwrap(),
        "--cache-dir",
        cache.path().to_str().unwrap(),
        "--state",
        &format!("dynamodb://{STATE_TABLE}"),
        "--state-region",
        support::REGION,
        "--stop-margin",
        "12s",
        "--kill-margin",
        "8s",
        // AWS's ±60 s backup window, shortened for the emulator.
        "--consistency-margin-seconds",
        "2",
    ])
    .unwrap();
    let settings = args.settings().unwrap();
    let store = DynamoStore::new(clients.dynamodb.clone(), STATE_TABLE);
    let aws = account.aws_with_attempts(5).await;
    account.set_job_progression(JobKind::Restore, Progression::Manual { steps: 1_000_000 });
    let writer = Writer::start(&account);

    // 1: applies, backs up, starts the restore; cut off while it runs.
    let first = drctl::lambda::invoke(&aws, &store, &settings, &invocation("first", Duration::from_secs(40))).await;
    assert_eq!((first.outcome, first.continues), (Outcome::DeadlineReached, true), "{first:#?}");
    let record = store.get("spatial-scans").await.unwrap().expect("the first invocation left a record");
    let in_flight = record.in_flight.as_ref().expect("the drill is in flight after the first invocation");
    let started = in_flight.restores.get(support::REGION).and_then(|r| r.job_id.clone());
    let started = started.unwrap_or_else(|| panic!("the first invocation started the restore: {record:#?}"));
    assert!(record.lease.is_none(), "the cut-off invocation gave its lease back: {:?}", record.lease);
    assert_eq!(restore_jobs(&account).await, std::slice::from_ref(&started));

    // 2: resumes the same restore, still running; cut off again.
    let second = drctl::lambda::invoke(&aws, &store, &settings, &invocation("second", Duration::from_secs(16))).await;
    assert_eq!((second.outcome, second.continues), (Outcome::DeadlineReached, true), "{second:#?}");
    let record = store.get("spatial-scans").await.unwrap().unwrap();
    let in_flight = record.in_flight.as_ref().expect("the drill is still in flight after the second invocation");
    let resumed = in_flight.restores.get(support::REGION).and_then(|r| r.job_id.as_deref());
    assert_eq!(resumed, Some(started.as_str()), "the same restore job: {second:#?}\n{record:#?}");
    assert!(record.lease.is_none(), "{:?}", record.lease);
    assert_eq!(restore_jobs(&account).await, std::slice::from_ref(&started), "the second invocation started no restore");

    // 3: the restore completes; the drill's checks run and prove the policy.
    account.set_job_progression(JobKind::Restore, Progression::Manual { steps: 1 });
    let third = drctl::lambda::invoke(&aws, &store, &settings, &invocation("third", Duration::from_secs(300))).await;
    let written = writer.stop().await;
    assert_eq!((third.outcome, third.continues), (Outcome::Reconciled, false), "{third:#?}");
    let outcome = &third.policies[0];
    assert_eq!(outcome.status, drctl::reconcile::Status::Reconciled, "{third:#?}");
    assert_eq!(outcome.verdicts.get(support::REGION), Some(&drctl::drill::Verdict::Passed), "{third:#?}");
    assert_eq!(restore_jobs(&account).await, std::slice::from_ref(&started), "one restore job across three invocations");
    let record = store.get("spatial-scans").await.unwrap().unwrap();
    assert!(record.in_flight.is_none() && record.lease.is_none(), "{record:#?}");
    assert!(written > 20, "the source took writes during the drill: {written}");

    // 4: nothing is due.
    let fourth = drctl::lambda::invoke(&aws, &store, &settings, &invocation("fourth", Duration::from_secs(120))).await;
    assert!(matches!(fourth.outcome, Outcome::Reconciled | Outcome::Idle), "{fourth:#?}");
    assert!(fourth.policies.iter().all(|p| p.status == drctl::reconcile::Status::Proven), "{fourth:#?}");
    assert_eq!(restore_jobs(&account).await, [started]);
}

/// What `drctl-lambda` refuses before serving: a state the function would
/// lose, and margins in the wrong order.
#[test]
fn the_lambda_settings_refuse_a_state_file_and_a_kill_margin_after_the_stop() {
    let file = LambdaArgs::parse_with(["--repo", "https://example.com/policies.git", "--state", "/tmp/state.json"]).unwrap();
    let error = file.settings().unwrap_err().to_string();
    assert!(error.contains("DynamoDB table"), "{error}");
    let margins = LambdaArgs::parse_with(["--state", "dynamodb://t", "--stop-margin", "10s", "--kill-margin", "20s"]).unwrap();
    let error = margins.settings().unwrap_err().to_string();
    assert!(error.contains("--kill-margin"), "{error}");
    let defaults = LambdaArgs::parse_with(["--state", "dynamodb://t"]).unwrap();
    assert_eq!(defaults.source.cache_dir, std::path::Path::new(drctl::cli::lambda::LAMBDA_CACHE_DIR), "only /tmp is writable in Lambda");
}

/// `scripts/lambda-package`: the zip Lambda runs holds `bootstrap`
/// (executable, as the zip records it) and under lib/ every library it
/// links beyond glibc's; unpacked with lib/ on the library path, as Lambda
/// sets it, the bootstrap starts and reads its settings from the
/// environment.
#[test]
fn the_lambda_package_holds_an_executable_bootstrap_and_the_libraries_it_links() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("drctl-lambda.zip");
    let packaged = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lambda-package"))
        .arg(&zip)
        .env("DRCTL_LAMBDA_BINARY", env!("CARGO_BIN_EXE_drctl-lambda"))
        .output()
        .unwrap();
    assert!(packaged.status.success(), "{}", String::from_utf8_lossy(&packaged.stderr));
    let unpack = r#"
import os, sys, zipfile
archive = zipfile.ZipFile(sys.argv[1])
for info in archive.infolist():
    path = archive.extract(info, sys.argv[2])
    os.chmod(path, (info.external_attr >> 16) & 0o777)
    print(info.filename, oct((info.external_attr >> 16) & 0o777))
"#;
    let root = dir.path().join("task");
    let listed = Command::new("python3").args(["-c", unpack]).arg(&zip).arg(&root).output().unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let listing = String::from_utf8(listed.stdout).unwrap();
    assert!(listing.lines().any(|l| l == "bootstrap 0o755"), "{listing}");
    let ldd = Command::new("ldd").arg(env!("CARGO_BIN_EXE_drctl-lambda")).output().unwrap();
    for line in String::from_utf8(ldd.stdout).unwrap().lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let glibc = ["linux-vdso", "libc.so", "libm.so", "libdl.so", "libpthread.so", "librt.so", "ld-linux", "libgcc_s.so"];
        if !glibc.iter().any(|g| name.starts_with(g)) && !name.starts_with('/') {
            assert!(listing.lines().any(|l| l.starts_with(&format!("lib/{name} "))), "{name} is not packaged:\n{listing}");
        }
    }
    let started = Command::new(root.join("bootstrap"))
        .current_dir(&root)
        .env_clear()
        .env("LD_LIBRARY_PATH", root.join("lib"))
        .env("DRCTL_STATE", "/tmp/state.json")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&started.stderr);
    assert_eq!(started.status.code(), Some(1), "{log}");
    assert!(log.contains("a Lambda function needs the state in a DynamoDB table"), "{log}");
}
