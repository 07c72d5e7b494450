//! Leases: one run drives a policy at a time. A lease is a field of the
//! policy's record, taken, renewed and released by compare-and-swap writes,
//! so it holds on every backend; an expired lease may be taken over.
//!
//! A run names itself with [`owner_id`], takes the lease with [`acquire`],
//! writes its progress with [`update`] (refused once someone else holds the
//! policy), keeps the lease alive with [`renew`] during long steps and
//! gives it back with [`release`].
//!
//! # Guarantees
//! - Two runs never both hold a policy: a lease changes hands only through a
//!   compare-and-swap on the record's version, and only when it is free,
//!   expired, or already the taker's.
//! - A run whose lease was taken over cannot write the record any more:
//!   [`update`], [`renew`] and [`release`] check the stored lease through the
//!   same compare-and-swap.
//!
//! # Caveats
//! - Expiry is judged by the clock of the run that takes over; replicas'
//!   clocks must agree to well within the time to live.
//! - A lease that expired but that nobody took over is still its owner's:
//!   [`update`] and [`renew`] go on working, as no other run can have acted.
//!   A run that keeps its lease alive (the reconcile's `Held::keep`) stops
//!   once renewals have failed until the lease is about to expire
//!   ([`LeaseError::Lapsing`]), before anyone can take it over.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Clock, PolicyState, StateError, StateStore};

/// How often [`acquire`] re-reads after losing a compare-and-swap before it
/// gives up: each loss means another writer made progress, so a few rounds
/// settle any honest race.
const ACQUIRE_ATTEMPTS: usize = 5;

/// Who holds a policy, and until when (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    pub owner: String,
    pub expires: u64,
}

impl Lease {
    /// Whether the lease still keeps others out at `now`.
    pub fn is_live(&self, now: u64) -> bool {
        self.expires > now
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{policy} is held by {owner} until {}", super::rfc3339(*expires))]
    Held { policy: String, owner: String, expires: u64 },
    /// The record carries no lease of `owner` (never taken, or released).
    #[error("{policy} is not leased to {owner}; acquire the lease first")]
    NotHeld { policy: String, owner: String },
    /// Renewals failed until the lease was about to expire: another run may
    /// take it over, so this one must stop before it writes or deletes more.
    #[error("the lease of {policy} could not be renewed and expires at {}: stopping before another run may take over", super::rfc3339(*expires))]
    Lapsing { policy: String, expires: u64 },
    #[error(transparent)]
    State(#[from] StateError),
}

/// An identity for this run: `host:pid:random`, unique across machines,
/// processes and runs of one process, and readable in the state table.
pub fn owner_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.write_u64(super::now());
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    format!("{}:{}:{:08x}", hostname(), std::process::id(), hasher.finish() as u32)
}

/// The machine's name, reduced to characters safe in logs and tables;
/// `host` when it cannot be found.
fn hostname() -> String {
    let found = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default();
    clean_host(&found)
}

/// A host name as owner ids carry it: letters, digits, `-._`, at most 63.
fn clean_host(found: &str) -> String {
    let clean: String = found.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')).take(63).collect();
    if clean.is_empty() { "host".to_string() } else { clean }
}

/// When a lease taken now by `clock` for `ttl` expires (whole seconds,
/// rounded up).
fn expiry(ttl: Duration, clock: Clock) -> u64 {
    clock.now().saturating_add(super::whole_seconds(ttl))
}

/// Takes the lease of `policy` for `owner`, creating the record if drctl has
/// none: when the lease is free, expired or already `owner`'s. Returns the
/// record as written, with the lease held.
///
/// Fails with [`LeaseError::Held`] while another run holds a live lease
/// (live by `clock`).
#[tracing::instrument(skip(store, ttl, clock), fields(store = %store.describe()))]
pub async fn acquire(store: &dyn StateStore, policy: &str, owner: &str, ttl: Duration, clock: Clock) -> Result<PolicyState, LeaseError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut state = store.get(policy).await?.unwrap_or_else(|| PolicyState::new(policy));
        let now = clock.now();
        match &state.lease {
            Some(lease) if lease.owner != owner && lease.is_live(now) => {
                return Err(LeaseError::Held { policy: policy.to_string(), owner: lease.owner.clone(), expires: lease.expires });
            }
            Some(lease) if lease.owner != owner => {
                tracing::info!(previous = %lease.owner, expired = %super::rfc3339(lease.expires), "taking over an expired lease");
            }
            _ => {}
        }
        state.lease = Some(Lease { owner: owner.to_string(), expires: expiry(ttl, clock) });
        match store.put(&state).await {
            Ok(written) => {
                tracing::debug!(version = written.version, "lease acquired");
                return Ok(written);
            }
            Err(StateError::Conflict { .. }) if attempt < ACQUIRE_ATTEMPTS => {
                tracing::debug!(attempt, "the record changed while taking the lease; reading it again");
            }
            Err(other) => return Err(other.into()),
        }
    }
}

/// Extends the lease `state` carries by `ttl` from now. Fails with
/// [`LeaseError::Held`] when someone else took the policy over.
#[tracing::instrument(skip_all, fields(policy = %state.policy, store = %store.describe()))]
pub async fn renew(store: &dyn StateStore, state: &PolicyState, ttl: Duration, clock: Clock) -> Result<PolicyState, LeaseError> {
    let owner = holder(state)?;
    let mut next = state.clone();
    next.lease = Some(Lease { owner: owner.to_string(), expires: expiry(ttl, clock) });
    write_held(store, state, owner, &next).await
}

/// Gives back the lease `state` carries, if the stored record still says it
/// is ours; returns the record as written, without a lease. A record that
/// carries no lease is returned as it is.
///
/// The owner is the one `state`'s lease names, so pass the record this
/// run's own [`acquire`], [`renew`] or [`update`] returned, never one read
/// from the store.
#[tracing::instrument(skip_all, fields(policy = %state.policy, store = %store.describe()))]
pub async fn release(store: &dyn StateStore, state: &PolicyState) -> Result<PolicyState, LeaseError> {
    if state.lease.is_none() {
        return Ok(state.clone());
    }
    let owner = holder(state)?;
    let next = PolicyState { lease: None, ..state.clone() };
    let written = write_held(store, state, owner, &next).await?;
    tracing::debug!(version = written.version, "lease released");
    Ok(written)
}

/// A write made under `owner`'s lease: applies `f` to a copy of `state` and
/// stores it. Refused with [`LeaseError::Held`] when the stored record's
/// lease is no longer `owner`'s, and with [`StateError::Conflict`] when the
/// record changed since `state` was read although the lease is still ours.
/// `f` cannot change the lease (use [`renew`] or [`release`]).
#[tracing::instrument(skip_all, fields(policy = %state.policy, owner = %owner, store = %store.describe()))]
pub async fn update(
    store: &dyn StateStore,
    state: &PolicyState,
    owner: &str,
    f: impl FnOnce(&mut PolicyState),
) -> Result<PolicyState, LeaseError> {
    if holder(state)? != owner {
        return Err(not_ours(state, owner));
    }
    let mut next = state.clone();
    f(&mut next);
    next.policy.clone_from(&state.policy);
    next.version = state.version;
    next.lease.clone_from(&state.lease);
    write_held(store, state, owner, &next).await
}

/// The owner of the lease `state` carries.
fn holder(state: &PolicyState) -> Result<&str, LeaseError> {
    state
        .lease
        .as_ref()
        .map(|lease| lease.owner.as_str())
        .ok_or_else(|| LeaseError::NotHeld { policy: state.policy.clone(), owner: "this run".to_string() })
}

/// The error for a record whose lease is not `owner`'s.
fn not_ours(state: &PolicyState, owner: &str) -> LeaseError {
    match &state.lease {
        Some(lease) if lease.owner != owner => {
            LeaseError::Held { policy: state.policy.clone(), owner: lease.owner.clone(), expires: lease.expires }
        }
        _ => LeaseError::NotHeld { policy: state.policy.clone(), owner: owner.to_string() },
    }
}

/// Writes `next` in place of `read` (which `owner` held the lease of). A
/// lost compare-and-swap is explained by a re-read: someone else's lease
/// (or none) is [`LeaseError::Held`]/[`LeaseError::NotHeld`], our own lease
/// with a newer version is the conflict itself.
async fn write_held(store: &dyn StateStore, read: &PolicyState, owner: &str, next: &PolicyState) -> Result<PolicyState, LeaseError> {
    match store.put(next).await {
        Ok(written) => Ok(written),
        Err(conflict @ StateError::Conflict { .. }) => match store.get(&read.policy).await? {
            Some(stored) if stored.lease.as_ref().is_some_and(|lease| lease.owner == owner) => Err(conflict.into()),
            Some(stored) => Err(not_ours(&stored, owner)),
            None => Err(LeaseError::NotHeld { policy: read.policy.clone(), owner: owner.to_string() }),
        },
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::FileStore;

    fn store() -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path().join("state.json"));
        (dir, store)
    }

    #[test]
    fn owner_ids_name_the_host_and_process_and_differ() {
        let (a, b) = (owner_id(), owner_id());
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split(':').collect();
        assert_eq!(parts.len(), 3, "{a}");
        assert!(!parts[0].is_empty());
        assert_eq!(parts[1], std::process::id().to_string());
        assert_eq!(parts[2].len(), 8);
    }

    #[test]
    fn a_ttl_rounds_up_to_whole_seconds() {
        let now = crate::state::now();
        assert!((now..=now + 1).contains(&expiry(Duration::ZERO, Clock::SYSTEM)));
        assert!((now + 1..=now + 2).contains(&expiry(Duration::from_millis(1), Clock::SYSTEM)));
        assert!((now + 30..=now + 31).contains(&expiry(Duration::from_secs(30), Clock::SYSTEM)));
        assert_eq!(expiry(Duration::MAX, Clock::SYSTEM), u64::MAX);
    }

    #[tokio::test]
    async fn acquire_creates_the_record_and_reacquiring_our_own_lease_extends_it() {
        let (_dir, store) = store();
        let first = acquire(&store, "p", "a", Duration::from_secs(10), Clock::SYSTEM).await.unwrap();
        assert_eq!(first.version, 1);
        assert_eq!(first.lease.as_ref().unwrap().owner, "a");
        let again = acquire(&store, "p", "a", Duration::from_secs(100), Clock::SYSTEM).await.unwrap();
        assert_eq!(again.version, 2);
        assert!(again.lease.as_ref().unwrap().expires >= first.lease.as_ref().unwrap().expires + 89);
        let held = acquire(&store, "p", "b", Duration::from_secs(10), Clock::SYSTEM).await.unwrap_err();
        assert!(matches!(held, LeaseError::Held { ref owner, .. } if owner == "a"), "{held}");
    }

    #[tokio::test]
    async fn update_keeps_the_lease_and_refuses_a_record_without_one() {
        let (_dir, store) = store();
        let held = acquire(&store, "p", "a", Duration::from_secs(10), Clock::SYSTEM).await.unwrap();
        let updated = update(&store, &held, "a", |s| {
            s.desired_hash = Some("h".into());
            s.lease = None;
            s.version = 99;
        })
        .await
        .unwrap();
        assert_eq!(updated.desired_hash.as_deref(), Some("h"));
        assert_eq!(updated.lease, held.lease);
        assert_eq!(updated.version, held.version + 1);
        let stale = update(&store, &held, "a", |_| {}).await.unwrap_err();
        assert!(matches!(stale, LeaseError::State(StateError::Conflict { .. })), "{stale}");
        let wrong_owner = update(&store, &updated, "b", |_| {}).await.unwrap_err();
        assert!(matches!(wrong_owner, LeaseError::Held { ref owner, .. } if owner == "a"), "{wrong_owner}");

        let released = release(&store, &updated).await.unwrap();
        assert_eq!(released.lease, None);
        assert!(matches!(update(&store, &released, "a", |_| {}).await, Err(LeaseError::NotHeld { .. })));
        assert!(matches!(renew(&store, &released, Duration::from_secs(1), Clock::SYSTEM).await, Err(LeaseError::NotHeld { .. })));
        assert!(matches!(update(&store, &updated, "a", |_| {}).await, Err(LeaseError::NotHeld { .. })));
    }

    #[test]
    fn host_names_keep_only_what_is_safe_in_logs_and_tables() {
        assert_eq!(clean_host("web-1.example_b\n"), "web-1.example_b");
        assert_eq!(clean_host("a b$c;\u{1b}[31m"), "abc31m");
        assert_eq!(clean_host(" \n"), "host");
        assert_eq!(clean_host(&"x".repeat(100)).len(), 63);
    }

    /// A store whose first `conflicts` writes lose the compare-and-swap.
    struct Contended {
        inner: FileStore,
        conflicts: std::sync::atomic::AtomicUsize,
        puts: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl StateStore for Contended {
        async fn get(&self, policy: &str) -> Result<Option<PolicyState>, StateError> {
            self.inner.get(policy).await
        }
        async fn list(&self) -> Result<Vec<PolicyState>, StateError> {
            self.inner.list().await
        }
        async fn put(&self, state: &PolicyState) -> Result<PolicyState, StateError> {
            use std::sync::atomic::Ordering::SeqCst;
            self.puts.fetch_add(1, SeqCst);
            if self.conflicts.load(SeqCst) > 0 {
                self.conflicts.fetch_sub(1, SeqCst);
                return Err(StateError::Conflict { policy: state.policy.clone(), expected: state.version });
            }
            self.inner.put(state).await
        }
        async fn append_history(&self, policy: &str, entry: &crate::state::Evidence) -> Result<(), StateError> {
            self.inner.append_history(policy, entry).await
        }
        async fn history(&self, since: u64) -> Result<Vec<crate::state::History>, StateError> {
            self.inner.history(since).await
        }
        fn describe(&self) -> String {
            "contended".into()
        }
    }

    #[tokio::test]
    async fn acquire_reads_again_after_a_lost_race_a_bounded_number_of_times() {
        use std::sync::atomic::Ordering::SeqCst;
        let dir = tempfile::tempdir().unwrap();
        let store = |conflicts: usize| Contended {
            inner: FileStore::open(dir.path().join(format!("state-{conflicts}.json"))),
            conflicts: conflicts.into(),
            puts: 0.into(),
        };
        let ttl = Duration::from_secs(10);
        let won = store(ACQUIRE_ATTEMPTS - 1);
        let taken = acquire(&won, "p", "a", ttl, Clock::SYSTEM).await.unwrap();
        assert_eq!((taken.lease.unwrap().owner.as_str(), won.puts.load(SeqCst)), ("a", ACQUIRE_ATTEMPTS));
        let lost = store(ACQUIRE_ATTEMPTS);
        let error = acquire(&lost, "p", "a", ttl, Clock::SYSTEM).await.unwrap_err();
        assert!(matches!(error, LeaseError::State(StateError::Conflict { .. })), "{error}");
        assert_eq!(lost.puts.load(SeqCst), ACQUIRE_ATTEMPTS, "no attempt past the bound");
    }
}
