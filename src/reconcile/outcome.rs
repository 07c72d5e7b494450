//! What a reconcile reports: per policy, what became of it, and the run as
//! a whole.

use serde::Serialize;

use crate::apply::{PolicyReport, StackReport};
use crate::drill::DrillResult;
use crate::plan::{InvalidPolicy, OrphanStack};

/// What became of one policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Status {
    /// Applied (if needed) and proven by a drill in this run.
    Reconciled,
    /// Already applied and proven; nothing was due.
    Proven,
    /// Applied, and a drill of this content failed recently: not retried yet.
    AwaitingRetry {
        after: u64,
    },
    /// Applied with `recovery_point: latest`, and the schedule has not made
    /// a recovery point yet; one is expected by `until` (Unix seconds).
    AwaitingRecoveryPoint {
        until: u64,
    },
    ApplyFailed,
    /// Not applied: the change weakens protection and `--deny-weakening`
    /// asked for an approval nobody gave.
    WeakeningRefused {
        changes: Vec<String>,
    },
    DrillFailed,
    /// No drill failed, but one could not be completed: retried soon.
    DrillInconclusive,
    /// The drill passed, but it does not prove the applied content in every
    /// drill region (`verify` of some regions, or of content not applied).
    DrillPassed,
    /// A drill is due, but every shared restore slot of the account is
    /// held: not started, so that it does not wait holding the policy; the
    /// next run (the next `watch` pass) drills it. The earliest slot lease
    /// ends at `next_lease_end` unless its holder renews it.
    Queued {
        capacity: usize,
        next_lease_end: u64,
    },
    /// Another run holds the policy.
    Held {
        owner: String,
        expires: u64,
    },
    /// Stopped before its next step; the state says where it was.
    Stopped,
    /// The state store, the lease or the announcement failed.
    Error,
}

/// One policy's reconcile.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyOutcome {
    pub policy: String,
    #[serde(flatten)]
    pub status: Status,
    pub apply: Option<PolicyReport>,
    pub drills: Vec<DrillResult>,
    /// Why a drill ran: "not proven", "proof due", "resumed", "verify".
    pub drill_reason: Option<String>,
    pub sns_message_id: Option<String>,
    pub errors: Vec<String>,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub commit: Option<String>,
    pub policies: Vec<PolicyOutcome>,
    pub pruned: Vec<StackReport>,
    pub orphans_left: Vec<OrphanStack>,
    pub invalid: Vec<InvalidPolicy>,
    /// Canaries of killed drills of policies no longer in the repository,
    /// removed from their source tables (a policy still there resumes its
    /// own drill, which removes its canary).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<crate::gc::Found>,
}

impl Report {
    pub fn drill_failed(&self) -> bool {
        self.policies.iter().any(|p| p.status == Status::DrillFailed)
    }

    pub fn drill_inconclusive(&self) -> bool {
        self.policies.iter().any(|p| p.status == Status::DrillInconclusive)
    }

    pub fn failed(&self) -> bool {
        !self.invalid.is_empty()
            || self.pruned.iter().any(|s| s.outcome.is_failure())
            || self
                .policies
                .iter()
                .any(|p| matches!(p.status, Status::ApplyFailed | Status::WeakeningRefused { .. } | Status::Error) || !p.errors.is_empty())
            || self.canaries.iter().any(|c| c.outcome == crate::gc::Outcome::Failed)
    }
}
