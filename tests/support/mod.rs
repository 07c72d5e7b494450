//! Test support for integration tests that talk to the local AWS emulator
//! (moto server + drctl's extension, `scripts/emulator start`) over the wire,
//! through the real AWS SDK.
//!
//! - [`Emulator`]: where it listens (`DRCTL_EMULATOR_URL`); a test fails,
//!   never skips, when it does not answer.
//! - [`TestAccount`]: a fresh random 12-digit account per test (STS
//!   AssumeRole), so tests run in parallel without seeing each other, with a
//!   [`drctl::aws::Aws`] for it and the control API scoped to it (faults,
//!   call counters, job life cycles, job and resource failures).
//! - Fixtures: tables with items, sorted scans, stacks deployed and waited
//!   for, and one poll loop with backoff and a deadline for everything.
//!

//! One file per part, each re-exported here (callers name everything
//! `support::…`): `emulator.rs` (the emulator, accounts), `control.rs`
//! (rules and counters of its control API), and the fixtures of
//! `dynamodb.rs`, `cloudformation.rs` and `queues.rs`.
//!
//! Use with `mod support;` from a test binary (with
//! `#[path = "../support/mod.rs"]` from a `tests/<name>/main.rs`); not
//! every binary uses every helper.
#![allow(dead_code)]

mod cloudformation;
mod control;
mod dynamodb;
mod emulator;
mod lambda_api;
mod queues;

// Every binary gets all of them and uses some (as with `dead_code` above).
#[allow(unused_imports)]
pub use cloudformation::{bootstrap, deploy_stack, is_terminal, output, wait_stack};
#[allow(unused_imports)]
pub use control::{Calls, CfnAction, CfnFailure, Fault, JobKind, JobTarget, Progression};
#[allow(unused_imports)]
pub use dynamodb::{
    Item, create_state_table, create_table, enable_advanced_backup, fixture_item, item_key, put_items, scan_sorted, wait_table_active,
};
#[allow(unused_imports)]
pub use emulator::{Emulator, TestAccount, account, sdk_config};
#[allow(unused_imports)]
pub use lambda_api::{Answer, LambdaApi};
#[allow(unused_imports)]
pub use queues::{drain_queue, queue_on_topics};

use std::future::Future;
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
pub const DR_REGION: &str = "us-west-2";

/// How long a stack, change set, job or table may take on the emulator.
pub const DEADLINE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Polling

/// Calls `probe` until it returns `Some`, with a short backoff (25 ms
/// doubling to 400 ms); panics naming `what` at the deadline.
pub async fn poll<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(25);
    loop {
        if let Some(done) = probe().await {
            return done;
        }
        if started.elapsed() >= deadline {
            panic!("{what}: not done after {deadline:?}");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(400));
    }
}

/// Writes `files` (path, text) into the repository in `dir` (created when
/// missing) and commits them on top of its HEAD.
/// A policy of one primary-region table, backed up every 6 hours and
/// drilled there with an on-demand recovery point and `checks` (each a
/// line of the `checks:` list, like `canary: true`).
pub fn minimal_policy(name: &str, table: &str, checks: &[&str]) -> String {
    let checks: String = checks.iter().map(|c| format!("      - {c}\n")).collect();
    format!(
        r#"apiVersion: drctl/v1
kind: TablePolicy
metadata:
  name: {name}
  environment: prod
spec:
  table: {table}
  region: us-east-1
  backup:
    schedule: "cron(0 */6 * * ? *)"
    retention: 35d
  objectives:
    rpo: 6h
    rto: 1h
  verify:
    every: 7d
    regions: [us-east-1]
    recovery_point: on-demand
    checks:
{checks}  notify:
    sns_topic: dr-announcements
"#
    )
}

pub fn commit_files(dir: &std::path::Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let repo = git2::Repository::open(dir).or_else(|_| git2::Repository::init(dir)).unwrap();
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = git2::Signature::now("test", "test@example.com").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &signature, &signature, "policies", &tree, &parents).unwrap();
}

/// Waits for every child, reading each one's output as it comes (a child
/// whose pipe fills would stop until read): exit code and output, in order.
pub fn finish_all(children: Vec<std::process::Child>) -> Vec<(Option<i32>, String)> {
    let readers: Vec<_> = children
        .into_iter()
        .map(|child| {
            std::thread::spawn(move || {
                let output = child.wait_with_output().unwrap();
                let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
                (output.status.code(), text)
            })
        })
        .collect();
    readers.into_iter().map(|reader| reader.join().unwrap()).collect()
}
