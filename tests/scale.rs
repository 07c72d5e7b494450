//! The fleet at scale, on the emulator with AWS Backup's default quotas
//! enforced (300 vaults and 300 plans per Region, 100 selections per plan,
//! 50 concurrent restores per account; `emulator/drctl_moto/quotas.py`):
//! 1,000 policies sharing vaults and plans in one account and Region,
//! applied and drilled by three `drctl reconcile` replicas on one DynamoDB
//! state table while the tables take writes. Everything is applied within
//! the quotas, nothing is refused by AWS, every policy is proven once, and
//! the emulator never counts more restores at once than the account's 50.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_backup::types::RestoreJobStatus;
use drctl::state::{DynamoStore, StateStore};
use futures_util::StreamExt;
use support::{JobKind, Progression, TestAccount};

const FLEET: usize = 1000;

/// The fleet's size: `FLEET`, or fewer with `DRCTL_SCALE_FLEET` (a quick
/// look at the same test).
fn fleet_size() -> usize {
    std::env::var("DRCTL_SCALE_FLEET").ok().and_then(|n| n.parse().ok()).unwrap_or(FLEET)
}
const STATE_TABLE: &str = "drctl-state";
/// AWS's concurrent restores per account (DynamoDB's limit, which the
/// emulator enforces), also drctl's default `--shared-restore-slots`.
const RESTORE_CAP: u64 = 50;

fn name(i: usize) -> String {
    format!("fleet-{i:04}")
}

fn policy(i: usize) -> String {
    support::minimal_policy(&name(i), &format!("Fleet{i:04}"), &["schema: match-source", "sample: { items: 4 }"])
        .replace("    retention: 35d\n", "    retention: 35d\n    vault: { dedicated: false }\n")
}

fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(String, String)> = (0..fleet_size()).map(|i| (format!("desired/{}.yaml", name(i)), policy(i))).collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(path, text)| (path.as_str(), text.as_str())).collect();
    support::commit_files(dir.path(), &files);
    dir
}

fn reconcile(account: &TestAccount, repo: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_drctl"))
        .current_dir(repo)
        .args(["reconcile", "--state", &format!("dynamodb://{STATE_TABLE}"), "--concurrency", "24"])
        .args(["--restore-concurrency", "24", "--lease-ttl", "30s", "--retry-inconclusive-after", "1s"])
        .args(["--max-policies", "2000"])
        .env_remove("AWS_PROFILE")
        .envs(account.cli_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

async fn completed_restores(backup: &aws_sdk_backup::Client) -> usize {
    let pages: Vec<_> = backup.list_restore_jobs().into_paginator().send().collect().await;
    pages
        .into_iter()
        .flat_map(|page| page.unwrap().restore_jobs.unwrap_or_default())
        .filter(|j| j.status() == Some(&RestoreJobStatus::Completed))
        .count()
}

/// One put into a table of the fleet every few milliseconds, round the
/// fleet, until stopped.
fn writer(account: &TestAccount) -> (tokio::task::JoinHandle<usize>, tokio::sync::watch::Sender<bool>) {
    let dynamodb = account.clients().dynamodb;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut puts = 0;
        while !*stopped.borrow() {
            let table = format!("Fleet{:04}", (puts * 7) % fleet_size());
            dynamodb.put_item().table_name(table).set_item(Some(support::fixture_item(1_000 + puts))).send().await.unwrap();
            puts += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        puts
    });
    (task, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sharing_policies_are_applied_within_the_default_quotas_and_drilled_within_the_restore_cap() {
    let fleet = fleet_size();
    let account = support::account().await;
    let clients = account.clients();
    futures_util::stream::iter((0..fleet).map(|i| {
        let dynamodb = clients.dynamodb.clone();
        async move { support::create_table(&dynamodb, &format!("Fleet{i:04}"), 4).await }
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    support::create_state_table(&clients.dynamodb, STATE_TABLE).await;
    let repo = repository();
    let checked = drctl::policy::check(
        (0..fleet).map(|i| drctl::policy::Input { file: format!("desired/{}.yaml", name(i)), content: Ok(policy(i).into_bytes()) }),
    );
    assert!(!checked.has_errors(), "{:#?}", checked.findings);
    support::bootstrap(&account, checked.policies.iter().map(|p| &p.policy)).await;
    // Restores that last long enough for the replicas' drills to overlap
    // (the rest of a drill on the emulator takes a few seconds at this load).
    account.set_job_progression(JobKind::Restore, Progression::Time { seconds: 8.0 });
    account.reset_restore_overlap();
    let (writes, stop) = writer(&account);

    let store = DynamoStore::new(clients.dynamodb.clone(), STATE_TABLE);
    let mut rounds = 0;
    loop {
        rounds += 1;
        let started = std::time::Instant::now();
        let replicas: Vec<Child> = (0..3).map(|_| reconcile(&account, repo.path())).collect();
        for (code, output) in support::finish_all(replicas) {
            eprintln!("replica done after {:?}: {}", started.elapsed(), output.lines().rev().take(3).collect::<Vec<_>>().join(" | "));
            // 0: nothing failed and nothing was refused (a queued drill too).
            assert_eq!(code, Some(0), "{}", output.lines().filter(|l| !l.contains("held by")).take(80).collect::<Vec<_>>().join("\n"));
        }
        let states = store.list().await.unwrap();
        let proven = states.iter().filter(|s| s.reconciled.is_some()).count();
        eprintln!("round {rounds}: {proven} of {fleet} proven, restore peak so far {}", account.restore_overlap_peak());
        if states.len() == fleet && proven == fleet {
            break;
        }
        assert!(rounds < 6, "round {rounds}: {proven} of {fleet} proven");
    }
    stop.send(true).unwrap();
    let puts = writes.await.unwrap();
    assert!(puts > 100, "the fleet took {puts} writes while it was drilled");

    let peak = account.restore_overlap_peak();
    assert!(peak <= RESTORE_CAP, "at most the account's {RESTORE_CAP} restores at once: {peak}");
    assert!(peak > 24, "the replicas' drills overlapped beyond one replica's bound: {peak}");
    // One restore per drill, and one drill per policy, except a proof whose
    // renewal slot (`reproof_at`: a stable offset in `verify.every`, spread
    // over the fleet) fell within this test: drilled again, as scheduled.
    let drills = drills_by_policy(&store).await;
    assert_eq!(drills.len(), fleet, "every policy drilled");
    let total: usize = drills.values().map(Vec::len).sum();
    assert_eq!(completed_restores(&clients.backup).await, total, "one restore per drill");
    for (policy, started) in &drills {
        if let [first, second] = started[..] {
            let renewal = drctl::reconcile::reproof_at(policy, first.1, Duration::from_secs(7 * 86_400));
            assert!(second.0 >= renewal, "{policy} was drilled again before its renewal: {started:?}");
        } else {
            assert_eq!(started.len(), 1, "{policy}: {started:?}");
        }
    }

    // Within the quotas, as drctl's own projection said: what AWS holds.
    let rendered = drctl::render::render_all(checked.policies.iter().map(|p| &p.policy)).unwrap();
    let plans: Vec<_> = clients.backup.list_backup_plans().into_paginator().send().collect::<Vec<_>>().await;
    let plans: Vec<_> = plans.into_iter().flat_map(|p| p.unwrap().backup_plans_list.unwrap_or_default()).collect();
    let plan_stacks = rendered.iter().filter(|s| s.role == drctl::render::StackRole::Plan).count();
    assert_eq!(plans.len(), plan_stacks);
    assert!(plans.len() <= 300);
    let mut selections = BTreeMap::new();
    for plan in &plans {
        let id = plan.backup_plan_id().unwrap();
        let pages: Vec<_> = clients.backup.list_backup_selections().backup_plan_id(id).into_paginator().send().collect().await;
        let count: usize = pages.into_iter().map(|p| p.unwrap().backup_selections_list.unwrap_or_default().len()).sum();
        selections.insert(plan.backup_plan_name().unwrap_or_default().to_string(), count);
    }
    assert_eq!(selections.values().sum::<usize>(), fleet, "one selection per table");
    assert!(selections.values().all(|n| *n <= 100), "{selections:?}");
    let vaults = clients.backup.list_backup_vaults().send().await.unwrap().backup_vault_list().len();
    assert_eq!(vaults, 1, "one shared vault");

    // And the next run drills only what its renewal slot makes due.
    let before = completed_restores(&clients.backup).await;
    let (code, output) = support::finish_all(vec![reconcile(&account, repo.path())]).remove(0);
    assert_eq!(code, Some(0), "{output}");
    let again: usize = drills_by_policy(&store).await.values().map(Vec::len).sum::<usize>() - total;
    assert_eq!(completed_restores(&clients.backup).await, before + again);
    assert!(again <= 2, "{again} drills in a run with nothing changed");
}

/// Per policy, each drill's (start, end) from the state's history, in order.
async fn drills_by_policy(store: &DynamoStore) -> BTreeMap<String, Vec<(u64, u64)>> {
    let mut drills: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for entry in store.history(0).await.unwrap() {
        if let Some(drill) = entry.evidence.drill {
            drills.entry(entry.policy).or_default().push((drill.started, drill.finished));
        }
    }
    drills
}
