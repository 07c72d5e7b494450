//! The shared stacks' step of a run, under one lease in the state store
//! (`_shared-stacks`): replicas on one store apply them one at a time. The
//! stacks render the same for every replica on a commit, so the replica
//! that waited finds nothing left to do (CloudFormation reports no
//! changes). Without the lease two replicas could race on a stack's first
//! create, each taking the other's pending create for an abandoned one.

use std::time::{Duration, Instant};

use super::held::Held;
use super::{Options, Stop};
use crate::apply::{self, Progress, SharedOutcomes};
use crate::aws::Aws;
use crate::plan::{Plan, StackStatus};
use crate::policy::Checked;
use crate::state::{StateStore, lease, lease::LeaseError};

/// The record whose lease guards the shared stacks (reserved: no policy
/// name starts with `_`).
pub const SHARED_STACKS_RECORD: &str = "_shared-stacks";

/// Applies `plan`'s changed shared stacks under the shared-stacks lease,
/// waiting for another holder up to the stack deadline. What cannot be
/// applied (the lease not taken, or lost) is reported as failed for every
/// stack, so that no member is recorded as applied.
pub(super) async fn apply(
    aws: &Aws,
    store: &dyn StateStore,
    checked: &Checked,
    plan: &Plan,
    options: &Options,
    progress: &Progress,
    stop: &Stop,
) -> SharedOutcomes {
    if plan.shared.iter().all(|s| s.plan.status == StackStatus::Unchanged) {
        return SharedOutcomes::default();
    }
    let apply_options = apply::Options { commit: options.commit.clone(), ..options.apply.clone() };
    let held = match take(store, options, stop).await {
        Ok(held) => held,
        Err(why) => return SharedOutcomes::failed(plan, &why),
    };
    let outcomes = tokio::select! {
        outcomes = apply::apply_shared(aws, checked, plan, &apply_options, progress) => outcomes,
        lost = held.keep(options.lease_ttl) => SharedOutcomes::failed(plan, &format!("the shared stacks' lease was lost: {lost}")),
    };
    if let Err(error) = held.release().await {
        tracing::warn!(%error, "the shared stacks' lease was not released; it expires by itself");
    }
    outcomes
}

/// Takes the lease, waiting while another run holds it.
async fn take<'a>(store: &'a dyn StateStore, options: &Options, stop: &Stop) -> Result<Held<'a>, String> {
    let started = Instant::now();
    loop {
        match lease::acquire(store, SHARED_STACKS_RECORD, &options.owner, options.lease_ttl, options.clock).await {
            Ok(state) => return Ok(Held::new(store, &options.owner, options.clock, state)),
            Err(LeaseError::Held { owner, .. }) if started.elapsed() < options.apply.stack_deadline && !stop.requested() => {
                tracing::info!(%owner, "another run applies the shared stacks; waiting");
                stop.sleep(Duration::from_secs(1).min(options.lease_ttl / 3)).await;
            }
            Err(error) => return Err(format!("the shared stacks' lease: {error}")),
        }
    }
}
