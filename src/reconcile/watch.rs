//! The controller loop (`drctl watch`): fetch the remote, reconcile when the
//! reference moves, re-prove policies whose proof is due, back off on
//! errors, and stop cleanly when asked.
//!
//! # Guarantees
//! - A pass reconciles when the reference points at a commit not yet
//!   reconciled by this loop, when a policy's state says a drill is due or
//!   was interrupted, or when the previous pass failed; otherwise it makes
//!   no AWS call but the state reads.
//! - After a failed pass the loop waits `error_backoff`, doubling up to the
//!   interval, instead of the interval; a success resets it.
//! - [`Stop`] ends the loop between passes at once and within a pass after
//!   the steps under way (leases released by the reconcile).

use std::time::Duration;

use crate::apply::Progress;
use crate::aws::Aws;
use crate::metrics::Metrics;

use crate::policy::{self, Checked};
use crate::source::{Source, SourceError};
use crate::state::{StateError, StateStore};

use super::{Due, Options, Report, Stop, drill_due};

/// How the loop runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub reference: String,
    pub interval: Duration,
    /// The first wait after a failed pass; doubles up to `interval`.
    pub error_backoff: Duration,
    pub extra_regions: Vec<String>,
    /// Passes to run before returning (tests); `None` runs until stopped.
    pub max_passes: Option<u64>,
    /// The most policy files a commit may hold (a pass over more fails).
    pub max_policies: usize,
    /// AWS Backup's quotas each pass's policies are judged against.
    pub limits: crate::render::quotas::Limits,
    pub reconcile: Options,
}

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Quotas(#[from] crate::plan::quotas::CountError),
    #[error("the pass finished with errors: {0}")]
    Failed(String),
}

/// What one pass did.
#[derive(Debug)]
pub enum Pass {
    Idle { commit: String, checked: Box<Checked> },
    Reconciled { commit: String, checked: Box<Checked>, report: Box<Report> },
}

/// Runs passes until `stop` is requested (or `max_passes`).
/// How the loop ended: whether its last pass failed (a source or state
/// error, a policy that failed to apply, a drill that failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub last_pass_failed: bool,
}

pub async fn watch(
    aws: &Aws,
    store: &dyn StateStore,
    source: &Source,
    settings: &Settings,
    stop: &Stop,
    metrics: Option<&Metrics>,
) -> Ended {
    let mut last_reconciled: Option<String> = None;
    let mut failures: u32 = 0;
    let mut passes = 0u64;
    while !stop.requested() {
        let force = failures > 0;
        let started = std::time::Instant::now();
        let outcome = pass(aws, store, source, settings, last_reconciled.as_deref(), force, stop).await;
        passes += 1;
        let (checked, report) = match outcome {
            Ok(Pass::Idle { commit, checked }) => {
                tracing::info!(%commit, "nothing to do");
                failures = 0;
                (Some(checked), None)
            }
            Ok(Pass::Reconciled { commit, checked, report }) => {
                let failed = report.failed() || report.drill_failed() || report.drill_inconclusive();
                tracing::info!(%commit, policies = report.policies.len(), failed, "reconciled");
                last_reconciled = Some(commit);
                failures = if failed { failures + 1 } else { 0 };
                (Some(checked), Some(report))
            }
            Err(error) => {
                tracing::error!(%error, "pass failed");
                failures += 1;
                (None, None)
            }
        };
        if let Some(metrics) = metrics {
            metrics.observe_pass(started.elapsed().as_secs_f64(), failures > 0, report.as_deref());
            if let Some(checked) = &checked {
                observe_inventory(metrics, store, checked, settings.reconcile.clock.now()).await;
            }
        }
        if settings.max_passes.is_some_and(|max| passes >= max) {
            break;
        }
        stop.sleep(wait_after(failures, settings)).await;
    }
    tracing::info!(last_pass_failed = failures > 0, "watch stopped");
    Ended { last_pass_failed: failures > 0 }
}

/// Refreshes the per-policy metrics from the state, as `status` sees it.
/// A state that cannot be listed leaves the last values (the pass that
/// failed on it is counted as failed already).
async fn observe_inventory(metrics: &Metrics, store: &dyn StateStore, checked: &Checked, now: u64) {
    let states = match store.list().await {
        Ok(states) => states,
        Err(error) => {
            tracing::warn!(%error, "metrics not refreshed: the state could not be listed");
            return;
        }
    };
    metrics.observe_inventory(&crate::status::inventory_of(checked, &states, now));
}

/// The wait before the next pass: the interval, or a backoff after failures.
fn wait_after(failures: u32, settings: &Settings) -> Duration {
    if failures == 0 {
        return settings.interval;
    }
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    settings.error_backoff.saturating_mul(factor).min(settings.interval)
}

/// One pass: fetch, read the reference, and reconcile if anything is due.
pub async fn pass(
    aws: &Aws,
    store: &dyn StateStore,
    source: &Source,
    settings: &Settings,
    last_reconciled: Option<&str>,
    force: bool,
    stop: &Stop,
) -> Result<Pass, PassError> {
    let commit = match source.fetch(&settings.reference)? {
        Some(fetched) => fetched.commit,
        None => source.resolve(&settings.reference)?,
    };
    let set = source.read_at(&commit, policy::MAX_FILE_BYTES as u64)?.at_most(settings.max_policies, &source.to_string())?;
    let mut checked = policy::check(set.inputs());
    let moved = last_reconciled != Some(commit.as_str());
    let due = if moved || force { None } else { due_policy(store, &checked, &settings.reconcile).await? };
    if !(moved || force || due.is_some()) {
        // Not judged against the quotas: that needs their applied values
        // from AWS; a policy beyond them was never applied, so it shows as
        // not proven either way.
        return Ok(Pass::Idle { commit, checked: Box::new(checked) });
    }
    // A pass that reconciles judges the policies against the account's
    // applied quotas, read afresh (one call per Region): a raised quota
    // counts without a restart, and an idle pass makes no AWS call.
    let projection = crate::render::quotas::Projection::of(&checked);
    let mut limits = settings.limits.clone();
    crate::plan::quotas::read_applied(aws, projection.regions().iter().map(String::as_str), &mut limits).await?;
    projection.judge(&mut checked, &limits, &Default::default());
    let why = if moved {
        "new commit"
    } else if force {
        "retry after a failed pass"
    } else {
        "a drill is due"
    };
    tracing::info!(%commit, why, policy = due.as_deref().unwrap_or(""), "reconciling");
    let options = Options { commit: Some(commit.clone()), ..settings.reconcile.clone() };
    let (_, report) =
        super::plan_and_reconcile(aws, store, &checked, &settings.extra_regions, &options, &Progress::Quiet, stop, |_| ()).await;
    Ok(Pass::Reconciled { commit, checked: Box::new(checked), report: Box::new(report) })
}

/// The first valid policy whose state says a drill is due, or that has a
/// step in flight (an interrupted run to resume): one listing of the state.
async fn due_policy(store: &dyn StateStore, checked: &Checked, options: &Options) -> Result<Option<String>, StateError> {
    let now = options.clock.now();
    let records: std::collections::BTreeMap<String, _> = store.list().await?.into_iter().map(|r| (r.policy.clone(), r)).collect();
    for loaded in checked.valid() {
        let name = &loaded.policy.metadata.name;
        let Some(record) = records.get(name) else { return Ok(Some(name.clone())) };
        let hash = policy::content_hash(&loaded.policy);
        let every = Duration::from_secs(loaded.policy.spec.verify.every.seconds());
        let interrupted = record.in_flight.is_some() && record.lease.as_ref().is_none_or(|l| l.expires <= now);
        if interrupted || matches!(drill_due(record, &hash, every, options.retry(), now), Due::Now(_)) {
            return Ok(Some(name.clone()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            reference: "HEAD".into(),
            interval: Duration::from_secs(300),
            error_backoff: Duration::from_secs(10),
            extra_regions: Vec::new(),
            max_passes: None,
            max_policies: crate::source::DEFAULT_MAX_POLICIES,
            limits: Default::default(),
            reconcile: Options {
                commit: None,
                owner: "t".into(),
                lease_ttl: Duration::from_secs(60),
                concurrency: 1,
                apply: Default::default(),
                drill: Default::default(),
                retry_failed_after: Duration::from_secs(3600),
                retry_inconclusive_after: Duration::from_secs(300),
                mode: super::super::Mode::Reconcile,
                clock: crate::state::Clock::SYSTEM,
                weakening: Default::default(),
            },
        }
    }

    #[test]
    fn failures_back_off_doubling_up_to_the_interval() {
        let s = settings();
        let waits: Vec<u64> = (0..7).map(|f| wait_after(f, &s).as_secs()).collect();
        assert_eq!(waits, [300, 10, 20, 40, 80, 160, 300]);
    }
}
