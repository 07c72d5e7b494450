//! A policy's record under this run's lease: every write goes through the
//! lease (compare-and-swap), the lease is renewed while a step runs, and a
//! run that cannot renew stops before the lease can lapse.

use std::time::Duration;

use tokio::sync::Mutex;

use crate::state::{Clock, PolicyState, StateError, StateStore, lease, lease::LeaseError};

/// A policy's record while this run holds its lease: every write goes
/// through the lease, one at a time.
pub struct Held<'a> {
    store: &'a dyn StateStore,
    owner: String,
    clock: Clock,
    state: Mutex<PolicyState>,
}

impl<'a> Held<'a> {
    pub(super) fn new(store: &'a dyn StateStore, owner: &str, clock: Clock, state: PolicyState) -> Self {
        Self { store, owner: owner.to_string(), clock, state: Mutex::new(state) }
    }

    pub(super) async fn snapshot(&self) -> PolicyState {
        self.state.lock().await.clone()
    }

    /// Writes a change to the record, refused if the lease was lost.
    pub async fn update(&self, change: impl Fn(&mut PolicyState)) -> Result<(), LeaseError> {
        let mut state = self.state.lock().await;
        *state = match lease::update(self.store, &state, &self.owner, &change).await {
            Err(LeaseError::State(StateError::Conflict { .. })) => {
                let fresh = reread(self.store, &self.owner, &state).await?;
                lease::update(self.store, &fresh, &self.owner, &change).await?
            }
            written => written?,
        };
        Ok(())
    }

    /// Renews the lease every third of its time to live; returns only when
    /// it is lost. A store that fails is tried again at the next third: the
    /// lease still holds until it expires, and the step goes on meanwhile,
    /// but not past the last renewal before the expiry: then it is lost
    /// ([`LeaseError::Lapsing`]) and the step, dropped, stops where it is
    /// (as a crash would: the next run resumes from the journal).
    pub(super) async fn keep(&self, ttl: Duration) -> LeaseError {
        loop {
            tokio::time::sleep(ttl / 3).await;
            let mut state = self.state.lock().await;
            let renewed = match lease::renew(self.store, &state, ttl, self.clock).await {
                Err(LeaseError::State(StateError::Conflict { .. })) => reread(self.store, &self.owner, &state).await,
                other => other,
            };
            match renewed {
                Ok(renewed) => *state = renewed,
                Err(LeaseError::State(error)) => {
                    let expires = state.lease.as_ref().map_or(0, |l| l.expires);
                    if self.clock.now() + (ttl / 3).as_secs() >= expires {
                        tracing::error!(%error, "lease not renewed and about to expire; stopping");
                        return LeaseError::Lapsing { policy: state.policy.clone(), expires };
                    }
                    tracing::warn!(%error, "lease not renewed; trying again");
                }
                Err(lost) => return lost,
            }
        }
    }

    pub(super) async fn release(self) -> Result<(), LeaseError> {
        let state = self.state.into_inner();
        match lease::release(self.store, &state).await {
            Err(LeaseError::State(StateError::Conflict { .. })) => {
                let fresh = reread(self.store, &self.owner, &state).await?;
                lease::release(self.store, &fresh).await.map(|_| ())
            }
            released => released.map(|_| ()),
        }
    }
}

/// The stored record after a conflict. A renewal abandoned mid-write
/// (its future dropped when the step it guarded ended) may have stored a
/// version this copy never saw; the lease decides whether it is still ours.
async fn reread(store: &dyn StateStore, owner: &str, stale: &PolicyState) -> Result<PolicyState, LeaseError> {
    let fresh = store.get(&stale.policy).await?.unwrap_or_else(|| stale.clone());
    match &fresh.lease {
        Some(lease) if lease.owner == owner => Ok(fresh),
        Some(lease) => Err(LeaseError::Held { policy: fresh.policy.clone(), owner: lease.owner.clone(), expires: lease.expires }),
        None => Err(LeaseError::NotHeld { policy: fresh.policy.clone(), owner: owner.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    /// Regression: a renewal dropped after its write reached the store left
    /// this run's copy a version behind, and every later write conflicted.
    #[tokio::test]
    async fn writes_survive_a_renewal_abandoned_after_it_was_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::state::FileStore::open(dir.path().join("state.json"));
        let taken = lease::acquire(&store, "p", "me", HOUR, Clock::SYSTEM).await.unwrap();
        let held = Held::new(&store, "me", Clock::SYSTEM, taken.clone());
        lease::renew(&store, &taken, HOUR, Clock::SYSTEM).await.unwrap();

        held.update(|s| s.desired_hash = Some("h".into())).await.unwrap();
        held.release().await.unwrap();

        let stored = store.get("p").await.unwrap().unwrap();
        assert_eq!((stored.desired_hash.as_deref(), stored.lease), (Some("h"), None));
    }

    /// A store whose writes fail once `failing` is set (reads still work).
    struct Unwritable {
        inner: crate::state::FileStore,
        failing: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl StateStore for Unwritable {
        async fn get(&self, policy: &str) -> Result<Option<PolicyState>, StateError> {
            self.inner.get(policy).await
        }
        async fn list(&self) -> Result<Vec<PolicyState>, StateError> {
            self.inner.list().await
        }
        async fn put(&self, state: &PolicyState) -> Result<PolicyState, StateError> {
            if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StateError::File { path: "state.json".into(), why: "disk unreachable".into() });
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
            "unwritable".into()
        }
    }

    /// A run that cannot renew its lease stops before the lease expires:
    /// the step it guards is dropped (here: one that would run for an hour
    /// and then delete), so no other run can ever act beside it.
    #[tokio::test]
    async fn a_run_that_cannot_renew_its_lease_stops_before_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = Unwritable { inner: crate::state::FileStore::open(dir.path().join("state.json")), failing: false.into() };
        let ttl = Duration::from_secs(3);
        let taken = lease::acquire(&store, "p", "me", ttl, Clock::SYSTEM).await.unwrap();
        let expires = taken.lease.as_ref().unwrap().expires;
        let held = Held::new(&store, "me", Clock::SYSTEM, taken);
        store.failing.store(true, std::sync::atomic::Ordering::SeqCst);
        let deleted = std::sync::atomic::AtomicBool::new(false);
        let step = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            deleted.store(true, std::sync::atomic::Ordering::SeqCst);
        };

        let lost = tokio::select! {
            () = step => None,
            lost = held.keep(ttl) => Some(lost),
        };

        assert!(matches!(lost, Some(LeaseError::Lapsing { ref policy, expires: at }) if policy == "p" && at == expires), "{lost:?}");
        assert!(!deleted.load(std::sync::atomic::Ordering::SeqCst), "the step never reached its delete");
        assert!(crate::state::now() < expires, "stopped while the lease still kept others out");
    }

    #[tokio::test]
    async fn a_lease_taken_over_refuses_the_old_owner_s_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::state::FileStore::open(dir.path().join("state.json"));
        let taken = lease::acquire(&store, "p", "me", Duration::ZERO, Clock::SYSTEM).await.unwrap();
        let held = Held::new(&store, "me", Clock::SYSTEM, taken);
        lease::acquire(&store, "p", "next", HOUR, Clock::SYSTEM).await.unwrap();

        let refused = held.update(|s| s.desired_hash = Some("h".into())).await;
        assert!(matches!(refused, Err(LeaseError::Held { ref owner, .. }) if owner == "next"), "{refused:?}");
        assert_eq!(store.get("p").await.unwrap().unwrap().desired_hash, None);
    }
}
