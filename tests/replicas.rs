//! Several controllers on one DynamoDB state table while AWS throttles, one
//! of them killed mid-drill: the fleet's verdicts stay honest. Runs the
//! `drctl` binary as operators run it, with drctl's own SDK configuration
//! (five attempts per call, the SDK's standard retry).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_backup::types::RestoreJobStatus;
use drctl::state::{DynamoStore, StateStore};
use support::{Fault, JobKind, Progression, TestAccount};

const POLICIES: usize = 6;
const STATE_TABLE: &str = "drctl-state";

fn policy(i: usize) -> String {
    support::minimal_policy(&format!("homes-{i}"), &format!("Homes{i}"), &["schema: match-source", "canary: true"])
}

/// A repository with `count` policies committed.
fn repository(count: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("desired")).unwrap();
    for i in 1..=count {
        std::fs::write(dir.path().join(format!("desired/homes-{i}.yaml")), policy(i)).unwrap();
    }
    let git = |args: &[&str]| {
        let status = Command::new("git").current_dir(dir.path()).args(args).stdout(Stdio::null()).status().unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "the policies"]);
    dir
}

fn reconcile(account: &TestAccount, repo: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_drctl"));
    command
        .current_dir(repo)
        .args(["reconcile", "--state", &format!("dynamodb://{STATE_TABLE}"), "--concurrency", "2"])
        .args(["--lease-ttl", "6s", "--retry-inconclusive-after", "1s"])
        .env_remove("AWS_PROFILE")
        .envs(account.cli_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The pid in a lease owner (`host:pid:nonce`).
fn owner_pid(owner: &str) -> Option<u32> {
    owner.split(':').nth(1)?.parse().ok()
}

/// Completed restore jobs per policy, from their scratch tables' names.
async fn completed_restores(backup: &aws_sdk_backup::Client) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let pages: Vec<_> = backup.list_restore_jobs().into_paginator().send().collect().await;
    for job in pages.into_iter().flat_map(|page| page.unwrap().restore_jobs.unwrap_or_default()) {
        let table = job.created_resource_arn().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string();
        let Some(rest) = table.strip_prefix("drctl-drill-") else { continue };
        let policy = rest.rsplit_once('-').map(|(name, _)| name.to_string()).unwrap_or_default();
        if job.status() == Some(&RestoreJobStatus::Completed) {
            *counts.entry(policy).or_default() += 1;
        }
    }
    counts
}

fn finish(child: Child) -> (Option<i32>, String) {
    let output = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), text)
}

/// The source tables with items, the state table, the shared topic, and
/// the repository of `count` policies.
async fn fleet(account: &TestAccount, count: usize) -> tempfile::TempDir {
    let clients = account.region(support::REGION);
    for i in 1..=count {
        support::create_table(&clients.dynamodb, &format!("Homes{i}"), 20).await;
    }
    support::create_state_table(&clients.dynamodb, STATE_TABLE).await;
    let checked = drctl::policy::check(
        (1..=count).map(|i| drctl::policy::Input { file: format!("desired/homes-{i}.yaml"), content: Ok(policy(i).into_bytes()) }),
    );
    assert!(!checked.has_errors(), "{:#?}", checked.findings);
    support::bootstrap(account, checked.policies.iter().map(|loaded| &loaded.policy)).await;
    repository(count)
}

/// Three replicas of `drctl reconcile` on one state table, 20% of every AWS
/// call throttled, the replica driving a restore killed with SIGKILL; then
/// the throttling stops and one more reconcile converges: every policy
/// proven, exactly one completed restore each, no `failed` verdict recorded
/// or announced, and the reconcile after that is a no-op.
#[tokio::test]
async fn three_replicas_under_throttling_with_one_killed_prove_every_policy_once_and_never_fail() {
    let account = support::account().await;
    let repo = fleet(&account, POLICIES).await;
    let failures = failure_queue(&account).await;
    // Restores take seconds: long enough to kill a replica in one.
    account.set_job_progression(JobKind::Restore, Progression::Time { seconds: 3.0 });
    // The test's own reads ride out the throttling with many attempts.
    let patient = account.aws_with_attempts(30).await;
    let store = DynamoStore::new(patient.region(support::REGION).dynamodb, STATE_TABLE);
    account.inject_fault(Fault::throttle("*", "*").probability(0.2, 2026));

    let mut replicas: Vec<Child> = (0..3).map(|_| reconcile(&account, repo.path()).spawn().unwrap()).collect();
    let victim = wait_for_a_restore_in_flight(&store, &replicas).await;
    let killed = replicas.iter().position(|child| child.id() == victim).unwrap();
    let mut victim = replicas.remove(killed);
    let victim_pid = victim.id();
    victim.kill().unwrap();
    victim.wait().unwrap();
    // What the killed replica left in flight (its drill may have ended in
    // the moment between the look and the kill).
    let killed_by = |s: &drctl::state::PolicyState| s.lease.as_ref().and_then(|l| owner_pid(&l.owner)) == Some(victim_pid);
    let states = store.list().await.unwrap();
    // Drills only: a policy killed mid-apply is applied again (change sets
    // are idempotent), then drilled afresh, not resumed.
    let drilling = |s: &drctl::state::PolicyState| s.in_flight.as_ref().is_some_and(|f| f.step == drctl::state::Step::Drill);
    let interrupted: Vec<String> = states.into_iter().filter(|s| drilling(s) && killed_by(s)).map(|s| s.policy).collect();
    assert!(!interrupted.is_empty(), "the kill interrupted a drill in flight");
    let survivors: Vec<(Option<i32>, String)> = support::finish_all(replicas);

    for (code, output) in &survivors {
        assert!(matches!(code, Some(0) | Some(1)), "a replica under throttling exits 0 or, inconclusive, 1, never 3:\n{output}");
        assert!(!output.contains("FAILED"), "no drill failed:\n{output}");
    }
    let throttled = account.faults().iter().map(|rule| rule["fired"].as_u64().unwrap_or(0)).sum::<u64>();
    assert!(throttled >= 50, "the replicas ran under throttling: {throttled} calls throttled");
    tokio::time::sleep(Duration::from_secs(7)).await; // the killed replica's leases lapse
    account.clear_faults();
    let (code, output) = finish(reconcile(&account, repo.path()).spawn().unwrap());
    assert_eq!(code, Some(0), "{output}");
    // Resumed by a surviving replica once the lease lapsed, or by the last run.
    let resumed: usize =
        survivors.iter().map(|(_, o)| o.as_str()).chain([output.as_str()]).map(|o| o.matches("resumed an interrupted drill").count()).sum();
    let all: Vec<&str> = survivors.iter().map(|(_, o)| o.as_str()).chain([output.as_str()]).collect();
    assert_eq!(
        resumed,
        interrupted.len(),
        "the killed replica's drills {interrupted:?} are resumed, not redone:\n{}",
        all.join("\n-----\n")
    );

    for i in 1..=POLICIES {
        let name = format!("homes-{i}");
        let state = store.get(&name).await.unwrap().unwrap_or_else(|| panic!("{name} has no state"));
        assert!(state.reconciled.is_some() && state.in_flight.is_none() && state.lease.is_none(), "{state:#?}");
        assert!(state.last_drill.as_ref().is_some_and(|drill| drill.passed), "{state:#?}");
    }
    let restores = completed_restores(&patient.region(support::REGION).backup).await;
    let expected: BTreeMap<String, usize> = (1..=POLICIES).map(|i| (format!("homes-{i}"), 1)).collect();
    assert_eq!(restores, expected, "exactly one completed restore per policy:\n{output}");
    assert_eq!(support::drain_queue(&account, &failures).await.len(), 0, "nothing was announced as failed");

    let backups_before = patient.region(support::REGION).backup.list_backup_jobs().send().await.unwrap().backup_jobs().len();
    let (code, output) = finish(reconcile(&account, repo.path()).spawn().unwrap());
    assert_eq!(code, Some(0), "{output}");
    let backups_after = patient.region(support::REGION).backup.list_backup_jobs().send().await.unwrap().backup_jobs().len();
    assert_eq!(backups_after, backups_before, "the next reconcile is a no-op:\n{output}");
    assert_eq!(completed_restores(&patient.region(support::REGION).backup).await, expected);
}

/// Waits until the state shows a restore job started under a lease held by
/// one of `replicas`; returns that replica's pid.
async fn wait_for_a_restore_in_flight(store: &DynamoStore, replicas: &[Child]) -> u32 {
    let pids: Vec<u32> = replicas.iter().map(Child::id).collect();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        assert!(Instant::now() < deadline, "no replica started a restore");
        for state in store.list().await.unwrap() {
            let restoring = state.in_flight.as_ref().is_some_and(|f| f.restores.values().any(|r| r.job_id.is_some()));
            let owner = state.lease.as_ref().and_then(|lease| owner_pid(&lease.owner));
            if let (true, Some(pid)) = (restoring, owner)
                && pids.contains(&pid)
            {
                return pid;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An SQS queue that hears only `failed` announcements on the topic.
async fn failure_queue(account: &TestAccount) -> String {
    let topic = format!("arn:aws:sns:{}:{}:dr-announcements", support::REGION, account.id);
    support::queue_on_topics(account, "failures", &[topic], r#"{"verdict": ["failed"]}"#).await
}

const FLEET: usize = 100;

fn watch(account: &TestAccount, repo: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_drctl"))
        .current_dir(repo)
        .args(["watch", "--ref", "main", "--state", &format!("dynamodb://{STATE_TABLE}"), "--interval", "3s", "--error-backoff", "2s"])
        // Eight attempts per call: at 10% faults a call fails for good once
        // in 10^8, so every drill concludes (the verdicts under faults that
        // outlast the retries are the other test's).
        .args(["--concurrency", "8", "--lease-ttl", "10s", "--max-attempts", "8"])
        .env_remove("AWS_PROFILE")
        .envs(account.cli_env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A fleet under load: three `drctl watch` replicas on one DynamoDB state
/// table drive 100 policies while 10% of every AWS call is throttled or
/// fails with a 500; one replica is killed with SIGKILL in a drill and
/// started again. Every policy is applied and proven exactly once (one
/// completed restore each, by the emulator's job list), and once the
/// replicas are stopped (SIGTERM) no lease is held, no scratch table and
/// no canary is left.
#[tokio::test]
async fn a_fleet_of_100_policies_under_faults_is_proven_once_each_by_three_watch_replicas() {
    let account = support::account().await;
    let repo = fleet(&account, FLEET).await;
    account.set_job_progression(JobKind::Restore, Progression::Time { seconds: 1.0 });
    let patient = account.aws_with_attempts(30).await;
    let store = DynamoStore::new(patient.region(support::REGION).dynamodb, STATE_TABLE);
    account.inject_fault(Fault::throttle("*", "*").probability(0.05, 7));
    account.inject_fault(Fault::internal("*", "*").probability(0.05, 11));

    let mut replicas: Vec<Child> = (0..3).map(|_| watch(&account, repo.path())).collect();
    let victim = wait_for_a_restore_in_flight(&store, &replicas).await;
    let killed = replicas.iter().position(|child| child.id() == victim).unwrap();
    let mut victim = replicas.remove(killed);
    victim.kill().unwrap();
    victim.wait().unwrap();
    replicas.push(watch(&account, repo.path()));

    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let states = store.list().await.unwrap();
        let proven = states.iter().filter(|s| s.reconciled.is_some() && s.in_flight.is_none()).count();
        if proven == FLEET {
            break;
        }
        assert!(Instant::now() < deadline, "{proven} of {FLEET} policies proven");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    for replica in &replicas {
        let stopped = Command::new("kill").args(["-TERM", &replica.id().to_string()]).status().unwrap();
        assert!(stopped.success());
    }
    for mut replica in replicas {
        replica.wait().unwrap();
    }
    let faulted = account.faults().iter().map(|rule| rule["fired"].as_u64().unwrap_or(0)).sum::<u64>();
    assert!(faulted >= 200, "the fleet ran under faults: {faulted} calls throttled or failed");
    account.clear_faults();

    let restores = completed_restores(&patient.region(support::REGION).backup).await;
    let expected: BTreeMap<String, usize> = (1..=FLEET).map(|i| (format!("homes-{i}"), 1)).collect();
    assert_eq!(restores, expected, "exactly one completed restore per policy");
    let states = store.list().await.unwrap();
    assert!(states.iter().all(|s| s.lease.is_none() && s.in_flight.is_none()), "leases released, nothing in flight");
    assert!(states.iter().all(|s| s.last_drill.as_ref().is_some_and(|d| d.passed)), "every drill passed");
    let dynamodb = patient.region(support::REGION).dynamodb;
    let tables = dynamodb.list_tables().into_paginator().items().send().collect::<Vec<_>>().await;
    let scratch: Vec<String> = tables.into_iter().map(Result::unwrap).filter(|t| t.starts_with("drctl-drill-")).collect();
    assert_eq!(scratch, Vec::<String>::new(), "no scratch table left");
    for i in 1..=FLEET {
        let items = dynamodb.scan().table_name(format!("Homes{i}")).select(aws_sdk_dynamodb::types::Select::Count).send().await.unwrap();
        assert_eq!(items.count(), 20, "Homes{i} holds only its own items: no canary left");
    }
}

/// Replicas on one state table share the account's restore slots: three
/// `drctl reconcile` processes, each free to run two drills' restores at once
/// (`--concurrency 2`, `--restore-concurrency 10`), with two slots shared
/// through the state table, never have more than two restore jobs running
/// at once between them (counted by the emulator over the account's
/// restore jobs). A drill due while both slots are held is queued for the
/// next run rather than started to wait: rounds of the three replicas prove
/// every policy, with one restore each.
#[tokio::test]
async fn replicas_on_one_state_table_never_run_more_restores_at_once_than_the_shared_slots() {
    const FLEET: usize = 9;
    let account = support::account().await;
    let repo = fleet(&account, FLEET).await;
    account.set_job_progression(JobKind::Restore, Progression::Time { seconds: 2.0 });
    account.reset_restore_overlap();
    let store = DynamoStore::new(account.region(support::REGION).dynamodb, STATE_TABLE);
    let mut rounds = 0;
    loop {
        rounds += 1;
        let replicas: Vec<Child> = (0..3)
            .map(|_| reconcile(&account, repo.path()).args(["--restore-concurrency", "10", "--shared-restore-slots", "2"]).spawn().unwrap())
            .collect();
        for (code, output) in support::finish_all(replicas) {
            assert_eq!(code, Some(0), "{output}");
        }
        let states = store.list().await.unwrap();
        if states.len() == FLEET && states.iter().all(|s| s.reconciled.is_some()) {
            break;
        }
        assert!(rounds < 10, "queued drills were not drilled by the following runs: {states:#?}");
    }
    let peak = account.restore_overlap_peak();
    assert!(peak <= 2, "at most two restores at once across the replicas: {peak}");
    assert_eq!(peak, 2, "the slots were used side by side, not one at a time");

    let states = store.list().await.unwrap();
    assert_eq!(states.len(), FLEET, "the slot records are not listed as policies");
    assert!(states.iter().all(|s| s.reconciled.is_some() && s.lease.is_none()), "{states:#?}");
    let restores = completed_restores(&account.region(support::REGION).backup).await;
    assert_eq!(restores.values().sum::<usize>(), FLEET, "one restore per policy: {restores:?}");
}

/// Every shared restore slot held (here by the test, as another replica
/// would): a due drill is not started to wait, it is reported queued with
/// when the slots' leases end, and nothing is restored; once a slot is
/// free, the next run drills it.
#[tokio::test]
async fn a_drill_due_while_every_shared_slot_is_held_is_queued_for_the_next_run() {
    let account = support::account().await;
    let repo = fleet(&account, 1).await;
    let store: std::sync::Arc<dyn StateStore> =
        std::sync::Arc::new(DynamoStore::new(account.region(support::REGION).dynamodb, STATE_TABLE));
    let slots = drctl::state::slots::SharedSlots::new(store.clone(), 1, Duration::from_secs(60), drctl::state::Clock::SYSTEM);
    let held = slots.acquire("another-replica", Duration::from_secs(5)).await.unwrap();

    let (code, output) = finish(reconcile(&account, repo.path()).args(["--shared-restore-slots", "1"]).spawn().unwrap());
    assert_eq!(code, Some(0), "a queued drill is no error: {output}");
    assert!(output.contains("queued: a drill is due, and all 1 shared restore slots are busy"), "{output}");
    let record = store.get("homes-1").await.unwrap().unwrap();
    assert!(record.applied.is_some() && record.reconciled.is_none() && record.in_flight.is_none(), "{record:#?}");
    assert!(completed_restores(&account.region(support::REGION).backup).await.is_empty(), "nothing restored");

    held.release().await.unwrap();
    let (code, output) = finish(reconcile(&account, repo.path()).args(["--shared-restore-slots", "1"]).spawn().unwrap());
    assert_eq!(code, Some(0), "{output}");
    assert!(store.get("homes-1").await.unwrap().unwrap().reconciled.is_some(), "{output}");
    assert_eq!(completed_restores(&account.region(support::REGION).backup).await.values().sum::<usize>(), 1);
}
