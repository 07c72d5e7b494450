//! Restore slots shared by every drctl process on one state store: AWS
//! allows 50 concurrent DynamoDB restores per account, and replicas of
//! drctl on one state table must not ask for more between them. Each slot
//! is a record of its own (`_restore-slot-NN`) taken with a lease
//! ([`super::lease`]), so a slot changes hands only by compare-and-swap,
//! and one held by a process that died frees itself when its lease
//! expires.
//!
//! # Guarantees
//! - At most `capacity` slots are held at once across every process on the
//!   store (each slot record has one live lease at a time).
//! - A held slot is renewed in the background every third of its time to
//!   live until [`Slot::release`] (or the slot is dropped).
//! - Slot records never appear in [`StateStore::list`] (their names start
//!   with `_`, which no policy name can).
//!
//! # Caveats
//! - A slot whose holder crashed stays taken until its lease expires: for
//!   that long, the fleet runs one restore fewer.
//! - Every process on the store must use the same capacity; a process with
//!   a larger one may take the extra slots.

use std::sync::Arc;
use std::time::Duration;

use super::lease::{self, LeaseError};
use super::{Clock, PolicyState, StateStore};

/// Names of reserved records start with this; no policy name can.
pub const RESERVED_PREFIX: char = '_';

/// Whether `name` is one of drctl's own records rather than a policy's.
pub fn is_reserved(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
}

/// The record of slot `index`.
pub fn slot_name(index: usize) -> String {
    format!("{RESERVED_PREFIX}restore-slot-{index:02}")
}

/// The account's restore slots on one state store.
#[derive(Clone)]
pub struct SharedSlots {
    store: Arc<dyn StateStore>,
    capacity: usize,
    ttl: Duration,
    clock: Clock,
    /// The first wait when every slot is taken; doubles up to `max_wait`.
    first_wait: Duration,
    max_wait: Duration,
}

impl std::fmt::Debug for SharedSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSlots").field("store", &self.store.describe()).field("capacity", &self.capacity).finish()
    }
}

/// Whether a restore slot is free, as [`SharedSlots::probe`] found them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    Free,
    /// Every slot is held; the earliest of their leases ends at
    /// `next_lease_end` (Unix seconds) unless its holder renews it.
    Busy {
        capacity: usize,
        next_lease_end: u64,
    },
}

/// Why no slot was taken.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error("every one of the {capacity} shared restore slots stayed taken for {waited:?}")]
    Busy { capacity: usize, waited: Duration },
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

impl SharedSlots {
    /// `capacity` slots on `store`, each held under a lease of `ttl`.
    pub fn new(store: Arc<dyn StateStore>, capacity: usize, ttl: Duration, clock: Clock) -> Self {
        Self { store, capacity: capacity.max(1), ttl, clock, first_wait: Duration::from_millis(500), max_wait: Duration::from_secs(15) }
    }

    /// These slots, waiting `first` (doubling up to `max`) while all are taken.
    pub fn with_waits(self, first: Duration, max: Duration) -> Self {
        Self { first_wait: first, max_wait: max.max(first), ..self }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether a slot is free now, read without taking one (one read per
    /// slot while they are held, fewer once a free one is found): a run
    /// asks before it starts a drill, so that a drill that would only wait
    /// is queued for a later run instead.
    pub async fn probe(&self) -> Result<Availability, super::StateError> {
        let now = self.clock.now();
        let mut next_lease_end = u64::MAX;
        for index in 0..self.capacity {
            match self.store.get(&slot_name(index)).await?.and_then(|record| record.lease) {
                Some(lease) if lease.is_live(now) => next_lease_end = next_lease_end.min(lease.expires),
                _ => return Ok(Availability::Free),
            }
        }
        Ok(Availability::Busy { capacity: self.capacity, next_lease_end })
    }

    /// Takes a free slot for `holder` (unique per restore: a process holds
    /// several), waiting while every slot is taken, for at most `patience`.
    pub async fn acquire(&self, holder: &str, patience: Duration) -> Result<Slot, SlotError> {
        let started = std::time::Instant::now();
        let mut wait = self.first_wait;
        // Start at a different slot each time, so that holders do not all
        // race for slot 0.
        let offset = (self.clock.now() as usize).wrapping_add(holder.len()) % self.capacity;
        loop {
            for step in 0..self.capacity {
                let name = slot_name((offset + step) % self.capacity);
                match lease::acquire(self.store.as_ref(), &name, holder, self.ttl, self.clock).await {
                    Ok(record) => {
                        tracing::debug!(slot = %name, holder, "restore slot taken");
                        return Ok(Slot::hold(self.clone(), record));
                    }
                    Err(LeaseError::Held { .. }) => {}
                    // Another process won the record's compare-and-swap.
                    Err(LeaseError::State(super::StateError::Conflict { .. })) => {}
                    Err(other) => return Err(other.into()),
                }
            }
            if started.elapsed() + wait > patience {
                return Err(SlotError::Busy { capacity: self.capacity, waited: started.elapsed() });
            }
            tracing::debug!(capacity = self.capacity, ?wait, "every shared restore slot is taken; waiting");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.max_wait);
        }
    }
}

/// A held slot, renewed in the background until released or dropped.
pub struct Slot {
    name: String,
    renewing: Option<tokio::task::JoinHandle<()>>,
    latest: Arc<tokio::sync::Mutex<PolicyState>>,
    slots: SharedSlots,
}

impl Slot {
    fn hold(slots: SharedSlots, record: PolicyState) -> Self {
        let name = record.policy.clone();
        let latest = Arc::new(tokio::sync::Mutex::new(record));
        let renewing = {
            let (latest, slots) = (latest.clone(), slots.clone());
            tokio::spawn(async move {
                let every = slots.ttl / 3;
                loop {
                    tokio::time::sleep(every).await;
                    let mut held = latest.lock().await;
                    match lease::renew(slots.store.as_ref(), &held, slots.ttl, slots.clock).await {
                        Ok(renewed) => *held = renewed,
                        // The next round tries again; a lapsed slot is at
                        // worst one restore more for a while.
                        Err(error) => tracing::warn!(slot = %held.policy, %error, "renewing a restore slot failed"),
                    }
                }
            })
        };
        Self { name, renewing: Some(renewing), latest, slots }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Gives the slot back.
    pub async fn release(mut self) -> Result<(), SlotError> {
        if let Some(renewing) = self.renewing.take() {
            renewing.abort();
        }
        let held = self.latest.lock().await.clone();
        release_current(self.slots.store.as_ref(), &held).await?;
        tracing::debug!(slot = %self.name, "restore slot released");
        Ok(())
    }
}

impl Drop for Slot {
    /// A slot dropped without [`Slot::release`] (an error on the way) is
    /// released in the background; if that fails too, its lease expires.
    fn drop(&mut self) {
        let Some(renewing) = self.renewing.take() else { return };
        renewing.abort();
        let (latest, store) = (self.latest.clone(), self.slots.store.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let held = latest.lock().await.clone();
                if let Err(error) = release_current(store.as_ref(), &held).await {
                    tracing::warn!(slot = %held.policy, %error, "releasing a restore slot failed; it frees itself when its lease expires");
                }
            });
        }
    }
}

/// Releases the slot `held` names, also when a renewal cut short (the
/// task aborted after its write) left `held` a version behind.
async fn release_current(store: &dyn StateStore, held: &PolicyState) -> Result<(), LeaseError> {
    match lease::release(store, held).await {
        Err(LeaseError::State(super::StateError::Conflict { .. })) => match store.get(&held.policy).await? {
            Some(stored) if stored.lease.as_ref().map(|l| &l.owner) == held.lease.as_ref().map(|l| &l.owner) => {
                lease::release(store, &stored).await.map(drop)
            }
            // Someone else's now, or gone: nothing of ours to give back.
            _ => Ok(()),
        },
        other => other.map(drop),
    }
}

#[cfg(test)]
mod tests;
