//! Waiting for an AWS Backup job (backup, copy or restore): one reading of
//! its end states for all three kinds, so they cannot drift apart.
//!
//! - COMPLETED ends the wait with what the job made; a job that must name a
//!   recovery point and does not is an error naming the call, never `""`.
//! - A failure state (FAILED, ABORTED, EXPIRED, PARTIAL) is
//!   [`DrillError::JobFailed`] with the job's status message.
//! - Anything else is "not yet"; a poll throttled or failing on AWS's side
//!   is polled again until the deadline ([`poll::until`]).

use std::future::Future;
use std::time::Duration;

use super::DrillError;
use super::poll::{self, Backoff};

/// A job as one poll saw it.
pub(crate) enum Seen {
    Running,
    /// COMPLETED, with the ARN of what the job made if the answer names one.
    Completed(Option<String>),
    /// A state the job does not come back from.
    Ended {
        state: String,
        message: Option<String>,
    },
}

/// Polls job `job_id` of `kind` with `describe` (its Describe call, named
/// `action` in errors) until it ends; returns the ARN a COMPLETED job made.
pub(crate) async fn wait_for_arn<F, Fut>(
    kind: &'static str,
    action: &str,
    job_id: &str,
    backoff: Backoff,
    deadline: Duration,
    describe: F,
) -> Result<String, DrillError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Seen, DrillError>>,
{
    match wait(kind, job_id, backoff, deadline, describe).await? {
        Some(arn) if !arn.is_empty() => Ok(arn),
        _ => Err(DrillError::Aws {
            action: format!("{action} {job_id}"),
            why: format!("the {kind} job is COMPLETED but the answer names no recovery point"),
        }),
    }
}

/// Polls job `job_id` of `kind` until it ends; returns what a COMPLETED job
/// named, if anything.
pub(crate) async fn wait<F, Fut>(
    kind: &'static str,
    job_id: &str,
    backoff: Backoff,
    deadline: Duration,
    mut describe: F,
) -> Result<Option<String>, DrillError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Seen, DrillError>>,
{
    poll::until(&format!("{kind} job {job_id}"), backoff, deadline, || {
        let seen = describe();
        async move {
            match seen.await? {
                Seen::Running => Ok(None),
                Seen::Completed(arn) => Ok(Some(arn)),
                Seen::Ended { state, message } => Err(DrillError::JobFailed {
                    kind,
                    job_id: job_id.to_string(),
                    state,
                    message: message.unwrap_or_else(|| "no status message".to_string()),
                }),
            }
        }
    })
    .await
}

/// Refuses a job that is not the one this drill started: a state record
/// naming another job (forged, or another drill's) is neither waited for
/// nor acted on. `what` names the field compared (e.g. "backs up"); an
/// answer without it is refused too (fail closed).
pub(crate) fn require(kind: &'static str, job_id: &str, what: &str, found: Option<&str>, expected: &str) -> Result<(), DrillError> {
    match found {
        Some(found) if found == expected => Ok(()),
        found => Err(DrillError::BadResume {
            why: format!(
                "{kind} job {job_id} {what} {}, not {expected}: the state names a job this drill did not start",
                found.unwrap_or("nothing (the answer does not say)")
            ),
        }),
    }
}

/// The id a Start*Job call answered: required, never `""`.
pub(crate) fn started_id(id: Option<&str>, action: String) -> Result<String, DrillError> {
    id.filter(|id| !id.is_empty()).map(str::to_string).ok_or(DrillError::Aws { action, why: "the answer has no job id".into() })
}
