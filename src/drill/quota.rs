//! AWS Backup's quotas, kept by the process rather than discovered by
//! throttling: a bound on concurrent restore jobs across all drills, and
//! one backup or copy job per resource at a time.
//!
//! # Guarantees
//! - [`restore_slots`] never hands out more than [`MAX_RESTORE_SLOTS`]
//!   permits (AWS Backup's default limit of concurrent restore jobs per
//!   account), nor zero.
//! - [`lock_resource`] serialises jobs of one resource ARN within the
//!   process; entries are dropped when nobody holds or waits for them, so
//!   the table of locks does not grow with the resources ever drilled.
//!
//! # Caveats
//! - Both bounds are per process: two drctl processes against one account
//!   share AWS's limits without knowing of each other (the state store's
//!   leases keep them off the same policy, not off the same account).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{OwnedMutexGuard, Semaphore};

/// Concurrent restore jobs when nothing else is said.
pub const DEFAULT_RESTORE_SLOTS: usize = 10;
/// AWS Backup's limit of concurrent restore jobs per account.
pub const MAX_RESTORE_SLOTS: usize = 50;

/// A restore-slot count drctl refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("at least one restore slot is needed")]
    Zero,
    #[error("{requested} concurrent restores exceed AWS Backup's limit of {MAX_RESTORE_SLOTS} per account")]
    AboveAwsLimit { requested: usize },
}

/// A bound of `permits` concurrent restore jobs, to share (by cloning the
/// `Arc`) among every drill that must respect it.
pub fn restore_slots(permits: usize) -> Result<Arc<Semaphore>, QuotaError> {
    match permits {
        0 => Err(QuotaError::Zero),
        n if n > MAX_RESTORE_SLOTS => Err(QuotaError::AboveAwsLimit { requested: n }),
        n => Ok(Arc::new(Semaphore::new(n))),
    }
}

/// The process's default restore slots ([`DEFAULT_RESTORE_SLOTS`]), one
/// semaphore for every drill that does not bring its own.
pub fn process_restore_slots() -> Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| Arc::new(Semaphore::new(DEFAULT_RESTORE_SLOTS))).clone()
}

/// Async locks by key, created on demand and dropped when unused.
#[derive(Debug, Default)]
pub struct ResourceLocks {
    locks: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// One held lock; released (and forgotten when nobody waits) on drop.
#[derive(Debug)]
pub struct ResourceGuard<'a> {
    locks: &'a ResourceLocks,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl ResourceLocks {
    pub const fn new() -> Self {
        Self { locks: Mutex::new(BTreeMap::new()) }
    }

    /// Waits until nobody else holds `key`, then holds it.
    pub async fn lock(&self, key: &str) -> ResourceGuard<'_> {
        let lock = self.table().entry(key.to_string()).or_default().clone();
        let guard = lock.lock_owned().await;
        ResourceGuard { locks: self, key: key.to_string(), guard: Some(guard) }
    }

    /// How many keys are held or waited for.
    pub fn in_use(&self) -> usize {
        self.table().len()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for ResourceGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut table = self.locks.table();
        // Only the table's own reference left: nobody holds or waits.
        if table.get(&self.key).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            table.remove(&self.key);
        }
    }
}

/// The process-wide lock of one resource ARN: one backup or copy job of
/// that resource at a time.
pub async fn lock_resource(arn: &str) -> ResourceGuard<'static> {
    static JOBS: ResourceLocks = ResourceLocks::new();
    JOBS.lock(arn).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn restore_slots_are_between_one_and_aws_limit() {
        assert_eq!(restore_slots(0).unwrap_err(), QuotaError::Zero);
        assert_eq!(restore_slots(51).unwrap_err(), QuotaError::AboveAwsLimit { requested: 51 });
        assert_eq!(restore_slots(50).unwrap().available_permits(), 50);
        assert_eq!(restore_slots(1).unwrap().available_permits(), 1);
        assert_eq!(process_restore_slots().available_permits(), DEFAULT_RESTORE_SLOTS);
        assert!(Arc::ptr_eq(&process_restore_slots(), &process_restore_slots()), "one semaphore per process");
    }

    #[tokio::test]
    async fn one_key_is_held_by_one_holder_at_a_time() {
        let locks = ResourceLocks::new();
        let first = locks.lock("arn:table/a").await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), locks.lock("arn:table/a")).await;
        assert!(waiting.is_err(), "the second holder waits");
        let other = tokio::time::timeout(Duration::from_millis(50), locks.lock("arn:table/b")).await;
        assert!(other.is_ok(), "another resource does not wait");
        drop(other);
        drop(first);
        let again = tokio::time::timeout(Duration::from_millis(50), locks.lock("arn:table/a")).await;
        assert!(again.is_ok(), "released on drop");
    }

    #[tokio::test]
    async fn unused_keys_are_forgotten_and_waited_ones_kept() {
        let locks = Arc::new(ResourceLocks::new());
        let held = locks.lock("k").await;
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _guard = locks.lock("k").await;
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        assert_eq!(locks.in_use(), 1, "kept for the waiter");
        waiter.await.unwrap();
        assert_eq!(locks.in_use(), 0, "forgotten once nobody holds or waits");
    }
}
