//! When a policy's drill is due: pure scheduling from the state record.

use std::time::Duration;

use crate::state::PolicyState;

/// Why a drill is due now, or when a failed one may be retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    Now(&'static str),
    RetryAfter(u64),
    No,
}

/// Whether `state`, with `hash` applied, needs a drill at `now`.
pub fn drill_due(state: &PolicyState, hash: &str, every: Duration, retry: Retry, now: u64) -> Due {
    let retry_failed_after = retry.failed;
    if let Some(inconclusive) = state.last_inconclusive.as_ref().filter(|d| d.content_hash == hash) {
        let after = inconclusive.finished.saturating_add(retry.inconclusive.as_secs());
        if now < after {
            return Due::RetryAfter(after);
        }
    }
    let proven = state.reconciled.as_ref().filter(|r| r.content_hash == hash);
    if let Some(proven) = proven {
        return if now >= proven.at.saturating_add(every.as_secs()) { Due::Now("proof older than verify.every") } else { Due::No };
    }
    match state.last_drill.as_ref().filter(|d| d.content_hash == hash && !d.passed) {
        Some(failed) if now < failed.finished.saturating_add(retry_failed_after.as_secs()) => {
            Due::RetryAfter(failed.finished.saturating_add(retry_failed_after.as_secs()))
        }
        _ => Due::Now("not proven for this content"),
    }
}

/// How long drills that did not pass wait before they are tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    pub failed: Duration,
    pub inconclusive: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{DrillRecord, Reconciled};

    const HOUR: Duration = Duration::from_secs(3600);

    fn retry(failed: Duration) -> Retry {
        Retry { failed, inconclusive: Duration::from_secs(300) }
    }
    const DAY: u64 = 86_400;

    fn drilled(hash: &str, passed: bool, finished: u64) -> DrillRecord {
        DrillRecord {
            drill_id: "d".into(),
            started: finished - 10,
            finished,
            content_hash: hash.into(),
            commit: "c".into(),
            passed,
            inconclusive: false,
            regions: Vec::new(),
            reasons: Vec::new(),
        }
    }

    #[test]
    fn unproven_content_is_drilled() {
        let state = PolicyState::new("p");
        assert_eq!(drill_due(&state, "h1", 7 * 24 * HOUR, retry(HOUR), 1_000_000), Due::Now("not proven for this content"));
        let mut state = PolicyState::new("p");
        state.reconciled = Some(Reconciled { content_hash: "h0".into(), commit: "c".into(), at: 999_000 });
        assert_eq!(drill_due(&state, "h1", 7 * 24 * HOUR, retry(HOUR), 1_000_000), Due::Now("not proven for this content"));
    }

    #[test]
    fn a_fresh_proof_is_enough_and_an_old_one_is_due() {
        let mut state = PolicyState::new("p");
        state.reconciled = Some(Reconciled { content_hash: "h".into(), commit: "c".into(), at: 10 * DAY });
        let every = Duration::from_secs(7 * DAY);
        assert_eq!(drill_due(&state, "h", every, retry(HOUR), 16 * DAY), Due::No);
        assert_eq!(drill_due(&state, "h", every, retry(HOUR), 17 * DAY), Due::Now("proof older than verify.every"));
    }

    /// An inconclusive drill waits only its short pause, whatever the proof
    /// of the content says, and is then due again.
    #[test]
    fn an_inconclusive_drill_is_retried_after_its_short_pause() {
        let mut state = PolicyState::new("p");
        state.last_inconclusive = Some(DrillRecord { inconclusive: true, ..drilled("h", false, 5_000) });
        let retry = Retry { failed: HOUR, inconclusive: Duration::from_secs(300) };
        assert_eq!(drill_due(&state, "h", HOUR * 24, retry, 5_100), Due::RetryAfter(5_300));
        assert_eq!(drill_due(&state, "h", HOUR * 24, retry, 5_300), Due::Now("not proven for this content"));
        assert_eq!(drill_due(&state, "other", HOUR * 24, retry, 5_100), Due::Now("not proven for this content"));
    }

    #[test]
    fn a_failed_drill_is_retried_only_after_the_pause() {
        let mut state = PolicyState::new("p");
        state.last_drill = Some(drilled("h", false, 5_000));
        assert_eq!(drill_due(&state, "h", HOUR * 24, retry(HOUR), 5_100), Due::RetryAfter(8_600));
        assert_eq!(drill_due(&state, "h", HOUR * 24, retry(HOUR), 8_600), Due::Now("not proven for this content"));
        // A failure of other content does not hold back the new content.
        assert_eq!(drill_due(&state, "h2", HOUR * 24, retry(HOUR), 5_100), Due::Now("not proven for this content"));
    }
}
