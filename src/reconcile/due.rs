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
        return if now >= reproof_at(&state.policy, proven.at, every) { Due::Now("proof due (its slot in verify.every)") } else { Due::No };
    }
    match state.last_drill.as_ref().filter(|d| d.content_hash == hash && !d.passed) {
        Some(failed) if now < failed.finished.saturating_add(retry_failed_after.as_secs()) => {
            Due::RetryAfter(failed.finished.saturating_add(retry_failed_after.as_secs()))
        }
        _ => Due::Now("not proven for this content"),
    }
}

/// When a proof made at `proven_at` is renewed: at the policy's own slot of
/// the period, the latest time no later than `proven_at + every` whose
/// offset in the period is the policy's (a stable hash of its name). So a
/// fleet deployed at once spreads its re-proofs over `verify.every` instead
/// of drilling every table in the same minute, and a proof is renewed
/// before it is older than `verify.every`. The first renewal after a new
/// proof may come early, once, to take the slot; from then on the policy is
/// drilled every `every`, at its slot.
pub fn reproof_at(policy: &str, proven_at: u64, every: Duration) -> u64 {
    let period = every.as_secs().max(1);
    let deadline = proven_at.saturating_add(period);
    deadline - (deadline.wrapping_sub(slot(policy, period)) % period)
}

/// The policy's offset in a period of `period` seconds: FNV-1a of its name,
/// stable across runs, machines and replicas.
fn slot(policy: &str, period: u64) -> u64 {
    let hash = policy.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    hash % period
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
    fn a_fresh_proof_is_enough_until_its_slot_which_comes_before_the_proof_is_old() {
        let mut state = PolicyState::new("p");
        state.reconciled = Some(Reconciled { content_hash: "h".into(), commit: "c".into(), at: 10 * DAY });
        let every = Duration::from_secs(7 * DAY);
        let due = reproof_at("p", 10 * DAY, every);
        assert!(due > 10 * DAY && due <= 17 * DAY, "{due}");
        assert_eq!(drill_due(&state, "h", every, retry(HOUR), due - 1), Due::No);
        assert_eq!(drill_due(&state, "h", every, retry(HOUR), due), Due::Now("proof due (its slot in verify.every)"));
        assert_eq!(drill_due(&state, "h", every, retry(HOUR), 17 * DAY), Due::Now("proof due (its slot in verify.every)"));
    }

    /// A thousand policies proven in the same minute (a fleet's first
    /// apply) are re-proven spread over the week, not all at once; each at
    /// a slot of its own that stays put from one proof to the next.
    #[test]
    fn a_fleet_proven_at_once_renews_its_proofs_spread_over_the_period() {
        let every = Duration::from_secs(7 * DAY);
        let proven = 100 * DAY;
        let mut per_hour = std::collections::BTreeMap::<u64, usize>::new();
        for i in 0..1000 {
            let name = format!("table-{i}");
            let due = reproof_at(&name, proven, every);
            assert!(due > proven && due <= proven + every.as_secs(), "{name}: {due}");
            *per_hour.entry((due - proven) / 3600).or_default() += 1;
            // Drilled at its slot (taking 40 minutes), the next renewal is
            // exactly one period later, at the same slot.
            assert_eq!(reproof_at(&name, due + 2400, every), due + every.as_secs(), "{name}");
            assert_eq!(reproof_at(&name, proven, every), due, "stable: {name}");
        }
        let busiest = per_hour.values().max().copied().unwrap_or(0);
        assert!(busiest <= 20, "at most 20 of 1000 in any hour of the week (about 6 on average): {busiest}");
        assert!(per_hour.len() > 120, "spread over most of the 168 hours: {}", per_hour.len());
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
