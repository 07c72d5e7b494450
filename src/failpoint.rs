//! Crash points for tests: with the `failpoints` feature, a run started
//! with `DRCTL_FAILPOINT=<name>` aborts the process at that point, as a
//! `kill -9` would (no destructor, no clean-up, no lease released). Without
//! the feature (release builds) [`hit`] compiles to nothing.
//!
//! The points sit between each side effect drctl starts or deletes and the
//! state write that records it, and after each such write: where a crash
//! would leave the most behind. `tests/crash_points.rs` kills a reconcile
//! at each of [`POINTS`] in turn and proves the next run converges.

/// Every crash point, in the order a reconcile with a drill meets them.
pub const POINTS: &[&str] = &[
    "apply/change-set-created",
    "apply/change-set-executing",
    "apply/stack-done",
    "drill/started-recorded",
    "drill/canary-placed",
    "drill/backup-started",
    "drill/backup-recorded",
    "drill/copy-started",
    "drill/copy-recorded",
    "drill/restore-starting-recorded",
    "drill/restore-started",
    "drill/restore-recorded",
    "drill/checks-done",
    "drill/scratch-deleted",
    "drill/canary-removed",
    "reconcile/drill-recorded",
    "reconcile/announced",
];

/// Aborts the process if `DRCTL_FAILPOINT` names `point` (feature
/// `failpoints` only).
#[cfg(feature = "failpoints")]
pub fn hit(point: &'static str) {
    static CHOSEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    debug_assert!(POINTS.contains(&point), "{point} is not listed in failpoint::POINTS");
    if CHOSEN.get_or_init(|| std::env::var("DRCTL_FAILPOINT").ok()).as_deref() == Some(point) {
        eprintln!("drctl: fail point {point}: aborting");
        std::process::abort();
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_point: &'static str) {}
