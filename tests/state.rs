//! The state store over the wire: the DynamoDB backend against the emulator's
//! DynamoDB (a table shaped as `drctl bootstrap --state-table` makes it), and
//! leases on both backends through one generic set of scenarios.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use drctl::state::lease::{self, LeaseError};
use drctl::state::{Clock, DynamoStore, FileStore, Lease, PolicyState, StateError, StateStore};
use support::{Fault, TestAccount};

const TABLE: &str = "drctl-state";

/// A fresh account with the state table, and a store on it.
async fn dynamo_store() -> (TestAccount, DynamoStore) {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    support::create_state_table(&dynamodb, TABLE).await;
    (account, DynamoStore::new(dynamodb, TABLE))
}

fn file_store() -> (tempfile::TempDir, FileStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path().join(".drctl").join("state.json"));
    (dir, store)
}

async fn raw_item(account: &TestAccount, pk: &str) -> HashMap<String, AttributeValue> {
    let out = account.clients().dynamodb.get_item().table_name(TABLE).key("pk", AttributeValue::S(pk.into())).send().await.unwrap();
    out.item().cloned().unwrap_or_else(|| panic!("no item {pk}"))
}

// ---------------------------------------------------------------------------
// The DynamoDB backend

#[tokio::test]
async fn a_record_round_trips_through_the_table_with_its_lease_mirrored() {
    let (account, store) = dynamo_store().await;
    assert_eq!(store.get("spatial-scans").await.unwrap(), None);

    let mut state = PolicyState::new("spatial-scans");
    state.desired_hash = Some("c0ffee".into());
    state.lease = Some(Lease { owner: "ci:42:abcd0123".into(), expires: 1_900_000_000 });
    let written = store.put(&state).await.unwrap();
    assert_eq!(written, PolicyState { version: 1, ..state.clone() });
    assert_eq!(store.get("spatial-scans").await.unwrap(), Some(written.clone()));

    let item = raw_item(&account, "policy#spatial-scans").await;
    assert_eq!(item["version"], AttributeValue::N("1".into()));
    assert_eq!(item["lease_owner"], AttributeValue::S("ci:42:abcd0123".into()));
    assert_eq!(item["lease_expires"], AttributeValue::N("1900000000".into()));
    let json: serde_json::Value = serde_json::from_str(item["state"].as_s().unwrap()).unwrap();
    assert_eq!(json["desired_hash"], "c0ffee");

    // Releasing the lease removes its mirror.
    let free = store.put(&PolicyState { lease: None, ..written }).await.unwrap();
    assert_eq!(free.version, 2);
    let item = raw_item(&account, "policy#spatial-scans").await;
    assert!(!item.contains_key("lease_owner") && !item.contains_key("lease_expires"), "{item:?}");
    assert_eq!(store.describe(), "dynamodb://drctl-state");
}

#[tokio::test]
async fn a_stale_write_to_the_table_is_a_conflict_and_changes_nothing() {
    let (_account, store) = dynamo_store().await;
    let first = store.put(&PolicyState::new("p")).await.unwrap();
    let create_again = store.put(&PolicyState::new("p")).await.unwrap_err();
    assert!(matches!(create_again, StateError::Conflict { ref policy, expected: 0 } if policy == "p"), "{create_again}");

    let second = store.put(&PolicyState { desired_hash: Some("kept".into()), ..first.clone() }).await.unwrap();
    let stale = store.put(&PolicyState { desired_hash: Some("lost".into()), ..first }).await.unwrap_err();
    assert!(matches!(stale, StateError::Conflict { expected: 1, .. }), "{stale}");
    assert_eq!(store.get("p").await.unwrap(), Some(second));

    let ghost = PolicyState { version: 5, ..PolicyState::new("ghost") };
    assert!(matches!(store.put(&ghost).await, Err(StateError::Conflict { expected: 5, .. })));
    assert_eq!(store.get("ghost").await.unwrap(), None);
}

#[tokio::test]
async fn list_returns_every_policy_record_and_nothing_else() {
    let (account, store) = dynamo_store().await;
    let names: Vec<String> = (0..30).map(|i| format!("policy-{i:02}")).collect();
    for name in names.iter().rev() {
        store.put(&PolicyState::new(name)).await.unwrap();
    }
    // Someone else's item in the same table is not a policy record.
    account
        .clients()
        .dynamodb
        .put_item()
        .table_name(TABLE)
        .item("pk", AttributeValue::S("note#ops".into()))
        .item("text", AttributeValue::S("hello".into()))
        .send()
        .await
        .unwrap();

    let listed = store.list().await.unwrap();
    let listed_names: Vec<&str> = listed.iter().map(|s| s.policy.as_str()).collect();
    assert_eq!(listed_names, names.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(listed.iter().all(|s| s.version == 1));
}

#[tokio::test]
async fn a_corrupt_item_is_reported_by_policy_not_a_panic() {
    let (account, store) = dynamo_store().await;
    account
        .clients()
        .dynamodb
        .put_item()
        .table_name(TABLE)
        .item("pk", AttributeValue::S("policy#broken".into()))
        .item("version", AttributeValue::N("3".into()))
        .item("state", AttributeValue::S("{\"policy\": \"broken\", \"colour\": 1}".into()))
        .send()
        .await
        .unwrap();
    for err in [store.get("broken").await.unwrap_err(), store.list().await.unwrap_err()] {
        assert!(matches!(err, StateError::Corrupt { ref policy, .. } if policy == "broken"), "{err}");
        assert!(err.to_string().contains("fix or remove the record"), "{err}");
    }
}

#[tokio::test]
async fn a_missing_table_is_an_error_that_says_how_to_create_it() {
    let account = support::account().await;
    let store = DynamoStore::new(account.clients().dynamodb, "no-such-table");
    let errors = [store.get("p").await.unwrap_err(), store.list().await.unwrap_err(), store.put(&PolicyState::new("p")).await.unwrap_err()];
    for err in errors {
        assert!(matches!(err, StateError::Table { ref table, .. } if table == "no-such-table"), "{err}");
        assert!(err.to_string().contains("drctl bootstrap --state-table"), "{err}");
    }
}

#[tokio::test]
async fn a_service_failure_is_a_table_error_not_a_conflict() {
    let (account, store) = dynamo_store().await;
    account.inject_fault(Fault::internal("dynamodb", "PutItem").times(1));
    let err = store.put(&PolicyState::new("p")).await.unwrap_err();
    assert!(matches!(err, StateError::Table { ref table, .. } if table == TABLE), "{err}");
    assert!(err.to_string().contains("PutItem"), "{err}");
    // Nothing was written; the next write goes through.
    assert_eq!(store.get("p").await.unwrap(), None);
    assert_eq!(store.put(&PolicyState::new("p")).await.unwrap().version, 1);
}

#[tokio::test]
async fn open_parses_the_state_location() {
    let account = support::account().await;
    support::create_state_table(&account.clients().dynamodb, TABLE).await;
    let store = drctl::state::open("dynamodb://drctl-state", || account.clients().dynamodb).unwrap();
    store.put(&PolicyState::new("p")).await.unwrap();
    assert_eq!(store.list().await.unwrap().len(), 1);
    let bad = drctl::state::open("dynamodb://x", || account.clients().dynamodb).err().expect("a too short table name is refused");
    assert!(matches!(bad, StateError::BadLocation { .. }), "{bad}");
}

// ---------------------------------------------------------------------------
// Leases, the same scenarios on both backends

const TTL: Duration = Duration::from_secs(300);

/// Several owners race for each of a few policies: exactly one wins each,
/// the others learn who.
async fn racing_owners_one_wins(store: Arc<dyn StateStore>) {
    for round in 0..4 {
        let policy = format!("race-{round}");
        let attempts: Vec<_> = (0..6)
            .map(|n| {
                let (store, policy) = (Arc::clone(&store), policy.clone());
                tokio::spawn(async move {
                    let owner = format!("owner-{n}");
                    (owner.clone(), lease::acquire(store.as_ref(), &policy, &owner, TTL, Clock::SYSTEM).await)
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut held_by = Vec::new();
        for attempt in attempts {
            match attempt.await.unwrap() {
                (owner, Ok(state)) => {
                    assert_eq!(state.lease.as_ref().map(|l| l.owner.as_str()), Some(owner.as_str()));
                    winners.push(owner);
                }
                (_, Err(LeaseError::Held { owner, .. })) => held_by.push(owner),
                (owner, Err(other)) => panic!("{owner}: {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "{policy}: {winners:?}");
        assert_eq!(held_by.len(), 5);
        assert!(held_by.iter().all(|owner| *owner == winners[0]), "{held_by:?} vs {winners:?}");
        let stored = store.get(&policy).await.unwrap().unwrap();
        assert_eq!(stored.lease.unwrap().owner, winners[0]);
        assert_eq!(stored.version, 1, "the losers wrote nothing");
    }
}

/// A live lease keeps others out; once expired, another owner takes it.
async fn an_expired_lease_is_taken_over(store: Arc<dyn StateStore>) {
    let store = store.as_ref();
    let live = lease::acquire(store, "live", "a", TTL, Clock::SYSTEM).await.unwrap();
    let held = lease::acquire(store, "live", "b", TTL, Clock::SYSTEM).await.unwrap_err();
    assert!(matches!(held, LeaseError::Held { ref owner, expires, .. } if owner == "a" && expires == live.lease.as_ref().unwrap().expires));

    // One second past a's lease, by a clock moved ahead rather than a wait.
    let expired = lease::acquire(store, "p", "a", TTL, Clock::SYSTEM).await.unwrap();
    let later = Clock::ahead(TTL + Duration::from_secs(1));
    let early = lease::acquire(store, "p", "b", TTL, Clock::ahead(TTL - Duration::from_secs(5))).await.unwrap_err();
    assert!(matches!(early, LeaseError::Held { ref owner, .. } if owner == "a"), "{early}");
    let taken = lease::acquire(store, "p", "b", TTL, later).await.unwrap();
    assert_eq!(taken.version, expired.version + 1);
    assert_eq!(taken.lease.as_ref().unwrap().owner, "b");
    assert!(taken.lease.as_ref().unwrap().expires >= later.now() + 299);
    assert_eq!(store.get("p").await.unwrap(), Some(taken.clone()));

    // Renewing our own lease keeps it ours.
    let renewed = lease::renew(store, &taken, Duration::from_secs(600), later).await.unwrap();
    assert_eq!(renewed.lease.as_ref().unwrap().owner, "b");
    assert!(renewed.lease.as_ref().unwrap().expires >= taken.lease.as_ref().unwrap().expires + 299);
}

/// A run whose lease was taken over can neither release, renew nor write.
async fn a_run_that_lost_its_lease_is_refused(store: Arc<dyn StateStore>) {
    let store = store.as_ref();
    let a = lease::acquire(store, "p", "a", TTL, Clock::SYSTEM).await.unwrap();
    let b = lease::acquire(store, "p", "b", TTL, Clock::ahead(TTL + Duration::from_secs(1))).await.unwrap();

    let release = lease::release(store, &a).await.unwrap_err();
    assert!(matches!(release, LeaseError::Held { ref owner, .. } if owner == "b"), "{release}");
    let renew = lease::renew(store, &a, TTL, Clock::SYSTEM).await.unwrap_err();
    assert!(matches!(renew, LeaseError::Held { ref owner, .. } if owner == "b"), "{renew}");
    let update = lease::update(store, &a, "a", |s| s.desired_hash = Some("from a".into())).await.unwrap_err();
    assert!(matches!(update, LeaseError::Held { ref owner, .. } if owner == "b"), "{update}");
    // Nor can a run write under a lease it never held.
    let stranger = lease::update(store, &b, "c", |s| s.desired_hash = Some("from c".into())).await.unwrap_err();
    assert!(matches!(stranger, LeaseError::Held { ref owner, .. } if owner == "b"), "{stranger}");
    assert_eq!(store.get("p").await.unwrap(), Some(b.clone()), "nothing was written");

    // The holder writes, then releases; the next owner gets it at once.
    let updated = lease::update(store, &b, "b", |s| s.desired_hash = Some("from b".into())).await.unwrap();
    assert_eq!(updated.desired_hash.as_deref(), Some("from b"));
    let released = lease::release(store, &updated).await.unwrap();
    assert_eq!(released.lease, None);
    assert_eq!(store.get("p").await.unwrap(), Some(released.clone()));
    let c = lease::acquire(store, "p", "c", TTL, Clock::SYSTEM).await.unwrap();
    assert_eq!(c.desired_hash.as_deref(), Some("from b"), "a lease change keeps the record");
    let late = lease::update(store, &updated, "b", |_| {}).await.unwrap_err();
    assert!(matches!(late, LeaseError::Held { ref owner, .. } if owner == "c"), "{late}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_owners_one_wins_on_the_file() {
    let (_dir, store) = file_store();
    racing_owners_one_wins(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_owners_one_wins_on_the_table() {
    let (_account, store) = dynamo_store().await;
    racing_owners_one_wins(Arc::new(store)).await;
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_on_the_file() {
    let (_dir, store) = file_store();
    an_expired_lease_is_taken_over(Arc::new(store)).await;
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_on_the_table() {
    let (_account, store) = dynamo_store().await;
    an_expired_lease_is_taken_over(Arc::new(store)).await;
}

#[tokio::test]
async fn a_run_that_lost_its_lease_is_refused_on_the_file() {
    let (_dir, store) = file_store();
    a_run_that_lost_its_lease_is_refused(Arc::new(store)).await;
}

#[tokio::test]
async fn a_run_that_lost_its_lease_is_refused_on_the_table() {
    let (_account, store) = dynamo_store().await;
    a_run_that_lost_its_lease_is_refused(Arc::new(store)).await;
}

fn evidence(at: u64, drill: &str) -> drctl::state::Evidence {
    drctl::state::Evidence {
        commit: "c0ffee".into(),
        content_hash: "h".into(),
        at,
        change_sets: Vec::new(),
        drill: None,
        sns_message_id: Some(format!("message-{drill}")),
    }
}

/// The drill history keeps every entry for a year, oldest first, filtered
/// by the audit period's start; entries older than a year are gone.
async fn history_keeps_a_year_in_order(store: Arc<dyn StateStore>) {
    let now = drctl::state::now();
    let year = drctl::state::HISTORY_KEPT.as_secs();
    for (policy, at, drill) in
        [("scans", now - 100, "d3"), ("plans", now - 3_000, "d2"), ("scans", now - 5_000, "d1"), ("scans", now - year - 10, "d0")]
    {
        store.append_history(policy, &evidence(at, drill)).await.unwrap();
    }
    let all = store.history(0).await.unwrap();
    let seen: Vec<(&str, Option<&str>)> = all.iter().map(|h| (h.policy.as_str(), h.evidence.sns_message_id.as_deref())).collect();
    assert_eq!(seen, [("scans", Some("message-d1")), ("plans", Some("message-d2")), ("scans", Some("message-d3"))]);
    let since = store.history(now - 4_000).await.unwrap();
    assert_eq!(since.len(), 2, "{since:#?}");
}

#[tokio::test]
async fn history_keeps_a_year_in_order_on_the_file() {
    let (_dir, store) = file_store();
    history_keeps_a_year_in_order(Arc::new(store)).await;
}

#[tokio::test]
async fn history_keeps_a_year_in_order_on_the_table() {
    let (_account, store) = dynamo_store().await;
    history_keeps_a_year_in_order(Arc::new(store)).await;
}

#[tokio::test]
async fn a_damaged_history_line_is_an_error_naming_the_line() {
    let (dir, store) = file_store();
    store.append_history("scans", &evidence(drctl::state::now(), "d1")).await.unwrap();
    let history = drctl::state::file::history_path(store.path());
    let mut text = std::fs::read_to_string(&history).unwrap();
    text.push_str("{\"not\": \"an entry\"}\n");
    std::fs::write(&history, text).unwrap();
    let err = store.history(0).await.expect_err("a damaged line is refused");
    assert!(err.to_string().contains("line 2 is not a history entry"), "{err}");
    drop(dir);
}
