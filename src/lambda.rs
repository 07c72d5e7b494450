//! The scheduled Lambda: every invocation is one pass of `drctl watch`
//! (fetch the policy repository, reconcile what changed, re-prove what is
//! due), bounded by the invocation's deadline.
//!
//! A Lambda invocation lasts at most 15 minutes; a drill of a large table
//! can take hours. So an invocation works until shortly before its
//! deadline and then hands over: the drill's journal in the state store
//! says which jobs it started, and the next invocation resumes it (polls
//! the same restore job, never starts a second one).
//!
//! # Guarantees
//! - At `deadline − stop_margin` no new step starts (the stop request
//!   `watch` uses for SIGTERM); at `deadline − kill_margin` the pass is
//!   dropped where it is, as a crash would be, and the leases this
//!   invocation took are given back, so the next invocation resumes at
//!   once instead of waiting for them to expire.
//! - Each invocation has its own lease owner: two invocations that overlap
//!   never drive the same policy.
//! - The repository token is read from its SSM parameter at every
//!   invocation (a rotated token is picked up) and is never logged.
//!
//! # Caveats
//! - The state must be a DynamoDB table: a Lambda's file system does not
//!   outlive its execution environment.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::aws::Aws;
use crate::reconcile::{Status, Stop, watch};
use crate::source::{Access, GivenToken, Source, SourceError};
use crate::state::{StateStore, lease};

/// How invocations run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The policy repository (an HTTPS or SSH URL, or a path).
    pub repo: String,
    pub access: Access,
    /// The SSM parameter (a SecureString) holding the HTTPS token.
    pub token_parameter: Option<String>,
    /// Before the deadline by this much, no new step starts.
    pub stop_margin: Duration,
    /// Before the deadline by this much, the pass is dropped where it is.
    pub kill_margin: Duration,
    pub watch: watch::Settings,
}

/// One invocation: its id and when Lambda ends it.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub request_id: String,
    pub deadline: SystemTime,
}

#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("SSM GetParameter {parameter}: {why}")]
    Token { parameter: String, why: String },
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// What an invocation did, as the handler returns it.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub request_id: String,
    /// The commit the pass read, once it read one.
    pub commit: Option<String>,
    pub outcome: Outcome,
    /// Work is left for the next invocation (a drill stopped or dropped at
    /// the deadline resumes there; a drill queued for a restore slot starts
    /// there).
    pub continues: bool,
    pub policies: Vec<PolicySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Nothing was due.
    Idle,
    /// The pass reconciled, and nothing failed.
    Reconciled,
    /// The deadline came first; the next invocation goes on.
    DeadlineReached,
    /// The pass failed: an error, a failed apply, a failed or inconclusive
    /// drill (each announced on SNS as usual).
    Failed,
}

#[derive(Clone, Debug, Serialize)]
pub struct PolicySummary {
    pub policy: String,
    #[serde(flatten)]
    pub status: Status,
    /// Each drill region's verdict.
    pub verdicts: std::collections::BTreeMap<String, crate::drill::Verdict>,
}

impl Summary {
    /// Whether the handler reports the invocation as failed.
    pub fn failed(&self) -> bool {
        self.outcome == Outcome::Failed
    }
}

/// Runs one invocation: reads the token, opens the repository and runs one
/// pass, stopping it before `invocation.deadline`.
pub async fn invoke(aws: &Aws, store: &dyn StateStore, settings: &Settings, invocation: &Invocation) -> Summary {
    let owner = format!("{}:{}", lease::owner_id(), invocation.request_id.chars().take(36).collect::<String>());
    let mut summary = Summary {
        request_id: invocation.request_id.clone(),
        commit: None,
        outcome: Outcome::Failed,
        continues: false,
        policies: Vec::new(),
        error: None,
    };
    let source = match open(aws, settings).await {
        Ok(source) => source,
        Err(error) => {
            tracing::error!(%error, "the policy repository could not be opened");
            summary.error = Some(error.to_string());
            return summary;
        }
    };
    let mut pass_settings = settings.watch.clone();
    pass_settings.reconcile.owner.clone_from(&owner);
    let stop = Stop::default();
    let pass = Box::pin(watch::pass(aws, store, &source, &pass_settings, None, false, &stop));
    match bounded(pass, &stop, invocation.deadline, settings).await {
        Bounded::Finished(outcome) => summarize(&mut summary, outcome),
        Bounded::Dropped(pass) => {
            drop(pass);
            tracing::warn!("deadline reached: the pass is dropped where it is; the next invocation resumes it");
            release_leases(store, &owner).await;
            summary.outcome = Outcome::DeadlineReached;
            summary.continues = true;
        }
    }
    summary
}

enum Bounded<F, T> {
    Finished(T),
    Dropped(F),
}

/// Drives `pass` until it ends, asking it to stop at the stop margin and
/// giving it up at the kill margin.
async fn bounded<F: Future + ?Sized>(
    mut pass: std::pin::Pin<Box<F>>,
    stop: &Stop,
    deadline: SystemTime,
    settings: &Settings,
) -> Bounded<std::pin::Pin<Box<F>>, F::Output> {
    let left = deadline.duration_since(SystemTime::now()).unwrap_or_default();
    let now = tokio::time::Instant::now();
    let stop_at = now + left.saturating_sub(settings.stop_margin);
    let kill_at = now + left.saturating_sub(settings.kill_margin);
    tokio::select! {
        outcome = &mut pass => return Bounded::Finished(outcome),
        _ = tokio::time::sleep_until(stop_at) => {
            tracing::info!("the deadline is near: finishing the steps under way, starting no new one");
            stop.request();
        }
    }
    tokio::select! {
        outcome = &mut pass => Bounded::Finished(outcome),
        _ = tokio::time::sleep_until(kill_at) => Bounded::Dropped(pass),
    }
}

async fn open(aws: &Aws, settings: &Settings) -> Result<Source, LambdaError> {
    let mut access = settings.access.clone();
    if let Some(parameter) = &settings.token_parameter {
        access.credentials.token = Some(token(aws, parameter).await?);
    }
    Ok(Source::open(&settings.repo, &access)?)
}

/// The HTTPS token in an SSM parameter, decrypted.
async fn token(aws: &Aws, parameter: &str) -> Result<GivenToken, LambdaError> {
    let ssm = aws_sdk_ssm::Client::new(aws.config());
    let failed = |why: String| LambdaError::Token { parameter: parameter.to_string(), why };
    let output = ssm.get_parameter().name(parameter).with_decryption(true).send().await.map_err(|e| failed(crate::aws::describe(&e)))?;
    let token =
        output.parameter().and_then(|p| p.value()).filter(|v| !v.is_empty()).ok_or_else(|| failed("AWS returned no value".to_string()))?;
    Ok(GivenToken { from: format!("SSM parameter {parameter}"), token: token.to_string() })
}

/// Gives back every lease `owner` still holds (a dropped pass could not).
/// A lease that cannot be given back expires on its own.
async fn release_leases(store: &dyn StateStore, owner: &str) {
    let records = match store.list().await {
        Ok(records) => records,
        Err(error) => {
            tracing::warn!(%error, "leases not given back (the state could not be listed); they expire on their own");
            return;
        }
    };
    for record in records.iter().filter(|r| r.lease.as_ref().is_some_and(|l| l.owner == owner)) {
        match lease::release(store, record).await {
            Ok(_) => tracing::info!(policy = %record.policy, "lease given back for the next invocation"),
            Err(error) => tracing::warn!(policy = %record.policy, %error, "lease not given back; it expires on its own"),
        }
    }
}

fn summarize(summary: &mut Summary, outcome: Result<watch::Pass, watch::PassError>) {
    match outcome {
        Ok(watch::Pass::Idle { commit, .. }) => {
            summary.commit = Some(commit);
            summary.outcome = Outcome::Idle;
        }
        Ok(watch::Pass::Reconciled { commit, report, .. }) => {
            summary.commit = Some(commit);
            let stopped = report.policies.iter().any(|p| p.status == Status::Stopped);
            let queued = report.policies.iter().any(|p| matches!(p.status, Status::Queued { .. }));
            summary.continues = stopped || queued;
            let failed = report.failed() || report.drill_failed() || report.drill_inconclusive();
            summary.outcome = match (failed, stopped) {
                (true, _) => Outcome::Failed,
                (false, true) => Outcome::DeadlineReached,
                (false, false) => Outcome::Reconciled,
            };
            summary.policies = report
                .policies
                .iter()
                .map(|p| PolicySummary {
                    policy: p.policy.clone(),
                    status: p.status.clone(),
                    verdicts: p.drills.iter().map(|d| (d.region.clone(), d.verdict)).collect(),
                })
                .collect();
        }
        Err(error) => {
            tracing::error!(%error, "pass failed");
            summary.error = Some(error.to_string());
        }
    }
}
