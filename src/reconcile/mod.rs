//! One reconcile per policy: under the
//! policy's lease, apply what the plan says changed, drill when the applied
//! content is not proven (or its proof is older than `verify.every`),
//! record the result, and announce it on SNS.
//!
//! # Guarantees
//! - A policy is driven by one run at a time: every step runs under the
//!   policy's lease, renewed while the step runs; a policy held by a live
//!   run is skipped and reported, never waited for.
//! - A policy is marked reconciled only when a drill passed in every drill
//!   region for the content hash that is applied.
//! - Every job a drill starts is recorded in the state before the drill
//!   goes on, so a run killed at any point is resumed by the next owner: it
//!   waits for the jobs already started (no second restore) and cleans up
//!   the scratch tables the record names.
//! - The drill result is recorded, with its announcement in the state's
//!   outbox, before it is published; a run killed in between, or a publish
//!   that failed, leaves the message for the next run (at least once).
//! - A drill resumed after one of its regions deleted its scratch table,
//!   before the result was recorded, restores that region again: one more
//!   restore, never a false verdict. `tests/crash_points.rs` kills a run at
//!   every step and proves the next one converges.
//! - One policy's failure never stops the others.
//!
//! # Caveats
//! - A failed drill of unchanged content is retried only after
//!   [`Options::retry_failed_after`], so a broken restore does not start a
//!   backup and a restore on every run of a watch loop. An inconclusive
//!   drill (throttled past retries, the state store down) is retried after
//!   [`Options::retry_inconclusive_after`], and never replaces the last
//!   proof nor counts as a failure: it is kept apart in the state
//!   (`last_inconclusive`).
//! - A stop request ([`Stop`]) lets the step under way finish (a drill can
//!   take as long as a restore), then releases the lease; a second signal
//!   ends the process and the next run resumes from the state.

mod due;
pub mod format;
mod held;
mod outcome;
mod policy;
mod record;
mod shared;
mod stop;

pub use held::Held;
pub mod journal;
pub mod watch;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;

use crate::apply::{self, Progress};
use crate::aws::Aws;
use crate::drill;
use crate::plan::{self, Plan, PolicyPlan};
use crate::policy::{Checked, LoadedPolicy};
use crate::state::{self, PolicyState, StateStore};

pub use due::{Due, Retry, drill_due, reproof_at};
pub use format::text;
pub use journal::StateJournal;
pub use outcome::{PolicyOutcome, Report, Status};
use policy::Context;
pub use policy::first_point_grace;
pub use record::drill_record;
pub use stop::Stop;

/// How to reconcile.
#[derive(Clone, Debug)]
pub struct Options {
    pub commit: Option<String>,
    /// This run's identity in leases.
    pub owner: String,
    pub lease_ttl: Duration,
    /// Policies driven at once.
    pub concurrency: usize,
    pub apply: apply::Options,
    pub drill: drill::Options,
    /// A failed drill of the same content is not retried before this.
    pub retry_failed_after: Duration,
    /// An inconclusive drill (drctl or AWS could not complete it) is
    /// retried after this: soon, as nothing is known against the recovery.
    pub retry_inconclusive_after: Duration,
    pub mode: Mode,
    /// The time leases and due drills are judged by ([`Clock::SYSTEM`]
    /// outside tests).
    pub clock: state::Clock,
    /// Whether a change that weakens protection needs an approval.
    pub weakening: WeakeningRule,
}

/// `--deny-weakening` and `--allow-weakening-by` of an apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeakeningRule {
    /// Refuse to apply a policy whose change weakens protection, unless
    /// approved.
    pub deny: bool,
    /// Who approved the weakening changes; recorded with the apply.
    pub approved_by: Option<String>,
}

impl WeakeningRule {
    /// Whether `changes` (a policy's weakening changes) may not be applied.
    pub fn refuses(&self, changes: &[String]) -> bool {
        self.deny && self.approved_by.is_none() && !changes.is_empty()
    }
}

/// What a run may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Apply what changed, drill what is not proven or due.
    Reconcile,
    /// Drill now whatever the state says (`drctl verify`), applying nothing.
    DrillNow,
}

/// The sequence behind `drctl reconcile` and every pass of `drctl watch`:
/// plan every valid policy of `checked` against what is deployed (also
/// looking for orphans in `extra_regions`), hand the plan to `shown` before
/// anything changes, then [`reconcile`] it.
#[allow(clippy::too_many_arguments)]
pub async fn plan_and_reconcile(
    aws: &Aws,
    store: &dyn StateStore,
    checked: &Checked,
    extra_regions: &[String],
    options: &Options,
    progress: &Progress,
    stop: &Stop,
    shown: impl FnOnce(&Plan),
) -> (Plan, Report) {
    let plan_options = plan::Options {
        commit: options.commit.clone(),
        extra_regions: extra_regions.to_vec(),
        concurrency: options.concurrency,
        preview: false,
    };
    let plan = plan::plan(aws, checked, &plan_options).await;
    shown(&plan);
    let report = reconcile(aws, store, checked, &plan, options, progress, stop).await;
    (plan, report)
}

/// Reconciles every valid policy of `checked` as `plan` says, at most
/// `options.concurrency` at once, then prunes orphans when asked.
pub async fn reconcile(
    aws: &Aws,
    store: &dyn StateStore,
    checked: &Checked,
    plan: &Plan,
    options: &Options,
    progress: &Progress,
    stop: &Stop,
) -> Report {
    let planned: BTreeMap<&str, &PolicyPlan> = plan.policies.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut work: Vec<(&LoadedPolicy, &PolicyPlan)> =
        checked.valid().filter_map(|loaded| Some((loaded, *planned.get(loaded.policy.metadata.name.as_str())?))).collect();
    // Changed policies first: with more work than slots, what a commit
    // changed is applied and proven before routine re-proofs.
    work.sort_by_key(|(_, planned)| !planned.has_changes());
    // One read of every record up front: a policy with nothing to do is
    // recognised without a read (or a lease) of its own.
    let known = match store.list().await {
        Ok(records) => records.into_iter().map(|r| (r.policy.clone(), r)).collect(),
        Err(error) => {
            tracing::warn!(%error, "state not listed; every policy is read under its lease");
            BTreeMap::new()
        }
    };
    let canaries = remove_canaries_of_deleted_policies(aws, checked, known.values(), options.clock).await;
    // Shared stacks before any policy: each is applied once, and its members
    // then report (and record) what became of it.
    // Each account of the plan's shared stacks and orphans, reached once.
    let accounts = Box::pin(apply::stack_accounts(aws, checked, plan)).await;
    let with_shared;
    let options = if options.mode == Mode::Reconcile && !stop.requested() {
        let mut shared = apply::SharedOutcomes::default();
        for (account, in_account) in &accounts {
            let part = plan.stacks_in(*account);
            shared.extend(match in_account {
                Ok(in_account) => Box::pin(shared::apply(in_account, store, checked, &part, options, progress, stop)).await,
                Err(why) => apply::SharedOutcomes::failed(&part, why),
            });
        }
        with_shared = Options { apply: apply::Options { shared, ..options.apply.clone() }, ..options.clone() };
        &with_shared
    } else {
        options
    };
    let context = Context { aws, root: aws, store, options, progress, stop, known: &known, accounts: checked.accounts.as_ref() };
    let mut policies: Vec<PolicyOutcome> =
        futures_util::stream::iter(work.into_iter().map(|(loaded, planned)| Box::pin(context.policy(loaded, Some(planned)))))
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
    policies.sort_by(|a, b| a.policy.cmp(&b.policy));
    let (pruned, orphans_left) = if stop.requested() {
        (Vec::new(), plan.orphans.clone())
    } else {
        Box::pin(apply::prune_in_accounts(&accounts, plan, &options.apply, progress)).await
    };
    progress.finish();
    Report { commit: options.commit.clone(), policies, pruned, orphans_left, invalid: plan.invalid.clone(), canaries }
}

/// A drill killed after writing its canary, whose policy has since left the
/// repository, is never resumed: its canary goes here, at the start of the
/// run (the same guarded removal `drctl gc` makes).
async fn remove_canaries_of_deleted_policies<'a>(
    aws: &Aws,
    checked: &Checked,
    records: impl Iterator<Item = &'a PolicyState>,
    clock: state::Clock,
) -> Vec<crate::gc::Found> {
    let desired: std::collections::BTreeSet<&str> = checked.valid().map(|p| p.policy.metadata.name.as_str()).collect();
    let mut removed = Vec::new();
    for record in records.filter(|r| !desired.contains(r.policy.as_str())) {
        if let Some(found) = crate::gc::stale_canary(aws, record, crate::gc::Mode::Delete, clock.now()).await {
            tracing::info!(policy = %record.policy, outcome = ?found.outcome, why = %found.why, "canary of a deleted policy's killed drill");
            removed.push(found);
        }
    }
    removed
}

/// Drills one policy now (`drctl verify`) under its lease, applying
/// nothing, and records and announces the result like a reconcile; it
/// marks the policy reconciled only when the drill covered every drill
/// region and the policy's content is the one applied.
pub async fn verify(
    aws: &Aws,
    store: &dyn StateStore,
    loaded: &LoadedPolicy,
    accounts: Option<&crate::policy::accounts::LoadedAccounts>,
    options: &Options,
    progress: &Progress,
) -> PolicyOutcome {
    let options = Options { mode: Mode::DrillNow, ..options.clone() };
    let stop = Stop::default();
    let known = BTreeMap::new();
    let context = Context { aws, root: aws, store, options: &options, progress, stop: &stop, known: &known, accounts };
    context.policy(loaded, None).await
}

impl Options {
    pub fn retry(&self) -> Retry {
        Retry { failed: self.retry_failed_after, inconclusive: self.retry_inconclusive_after }
    }
}
