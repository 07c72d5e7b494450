//! `drctl gc`: removes what drctl made and left behind —
//! scratch tables of drills that were killed, preview change sets of plans
//! that died, the empty stack an aborted CREATE preview leaves — and never
//! anything else.
//!
//! What is drctl's is decided by evidence, never by a guess:
//! - a table is a leftover scratch table when its name has the
//!   `drctl-drill-` prefix and it carries `drctl:scratch=true`; an untagged
//!   table with the prefix only when a state record's in-flight drill names
//!   it (the drill created it and was killed before it could tag it: gc
//!   finishes that step, tags it, and deletes it through the same guarded
//!   delete the drill uses);
//! - a drill's point-in-time exports (`drctl/<policy>/<drill id>/` in the
//!   bootstrap's export bucket) are leftovers once the state says their
//!   drill is over or its lease expired, or, for a drill the state does not
//!   know, six hours after they were written;
//! - the canary item of a drill the state records in flight under a lapsed
//!   lease (killed mid-drill, its policy perhaps deleted since), found by
//!   the key its drill id gives and removed by a delete conditional on its
//!   own drill id;
//! - a change set is a leftover preview when it is named `drctl-preview-`
//!   on a stack tagged `drctl:managed-by=drctl`; such a stack still in
//!   REVIEW_IN_PROGRESS with nothing but previews on it holds no resources
//!   and is deleted.
//!
//! # Guarantees
//! - Only [`scratch::delete`] deletes tables: it re-reads the name and the
//!   tag right before `DeleteTable`.
//! - A table named by the in-flight drill of a policy whose lease is live
//!   is kept ("in use"), tagged or not; so is a review stack of such a
//!   policy, one with an apply change set pending (a reconcile is creating
//!   it), and a preview younger than [`Options::preview_grace`] (a running
//!   plan may still be reading it).
//! - [`Mode::DryRun`] makes no write at all.
//! - One region's failure (a listing refused) is reported; the other regions
//!   are still collected.
//!
//! - A tagged scratch table whose `drctl:expires` tag lies in the future is
//!   kept unless this gc's state store knows the drill (a drill of another
//!   store, or a bare `drctl verify`, claims its table that way and renews
//!   the claim while its checks run); a drill the store knows is judged by
//!   its lease. An expiry tag that holds no time keeps the table.
//!
//! # Caveats
//! - A drill killed while another store's gc runs leaves a table that gc
//!   keeps until the claim expires (at most the table deadline plus
//!   [`scratch::SCRATCH_HOLD`] after the restore ended).
//! - Tables without the prefix are never read beyond their names; they are
//!   reported as kept.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_cloudformation::types::ChangeSetSummary;
use futures_util::StreamExt;
use serde::Serialize;

use crate::aws::{Aws, Clients, describe};
use crate::drill::scratch::{self, Cleanup, SCRATCH_PREFIX};
use crate::drill::{Backoff, DrillError, reference};
use crate::plan::changeset::{self, PREVIEW_PREFIX};
use crate::plan::deployed::{self, DeployedStack};
use crate::render::{self, StackRole};
use crate::state::{self, PolicyState};

mod canary;
mod change_sets;
mod decide;
mod exports;
pub mod format;
mod tables;

pub use canary::stale_canary;

use decide::{Adopt, Verdict, decide, in_use, live, recording};

/// Whether gc deletes or only says what it would delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Delete,
    DryRun,
}

/// How young a preview change set (or review stack) gc spares by default:
/// a plan running now may still be reading it.
pub const DEFAULT_PREVIEW_GRACE: Duration = Duration::from_secs(600);

/// How gc waits and what it spares. The defaults are the command line's.
#[derive(Clone, Debug)]
pub struct Options {
    /// Previews (and review stacks) younger than this are kept: a plan
    /// running now may still be reading them. Zero spares none.
    pub preview_grace: Duration,
    /// How long a table may take to go after `DeleteTable`.
    pub table_deadline: Duration,
    pub backoff: Backoff,
    /// Tables deleted at the same time, per region.
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self { preview_grace: DEFAULT_PREVIEW_GRACE, table_deadline: Duration::from_secs(900), backoff: Backoff::default(), concurrency: 4 }
    }
}

/// What kind of thing gc found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    ScratchTable,
    /// A table without the scratch prefix: never drctl's, listed as kept.
    OtherTable,
    PreviewChangeSet,
    ReviewStack,
    /// One drill's point-in-time exports in the bootstrap's bucket.
    Export,
    /// The canary item a killed drill left in its source table.
    Canary,
}

/// What gc did with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Deleted,
    WouldDelete,
    Kept,
    Failed,
}

/// One thing found, what was done with it and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    pub kind: Kind,
    pub region: String,
    /// The table, change set or stack name.
    pub name: String,
    /// The stack a change set belongs to.
    pub stack: Option<String>,
    pub policy: Option<String>,
    pub outcome: Outcome,
    pub why: String,
    /// The account it is in, when drctl reaches it by a role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// Everything gc found, region by region.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    pub regions: Vec<String>,
    pub found: Vec<Found>,
    /// What could not be listed or read at all.
    pub errors: Vec<String>,
}

impl GcReport {
    /// Something could not be deleted or listed: exit 1.
    pub fn failed(&self) -> bool {
        !self.errors.is_empty() || self.found.iter().any(|f| f.outcome == Outcome::Failed)
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.found.iter().filter(|f| f.outcome == outcome).count()
    }
}

#[derive(Debug, thiserror::Error)]
enum GcError {
    #[error("{region}: {action}: {why}")]
    Call { region: String, action: String, why: String },
    #[error(transparent)]
    Drill(#[from] DrillError),
    #[error(transparent)]
    Stacks(#[from] deployed::DeployedError),
}

/// Why `drctl gc` could not start.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("reading the state in {store} (gc needs it to spare running drills): {source}")]
    State { store: String, source: state::StateError },
    #[error("no region to look in: no valid policy names one; give --region")]
    NoRegion,
}

/// `drctl gc`: reads the state, then collects drctl's leftovers in every
/// region the valid policies of `checked` use (primary and copies), the
/// regions of drills the state knows, and `extra_regions`.
pub async fn collect(
    aws: &Aws,
    store: &dyn state::StateStore,
    checked: &crate::policy::Checked,
    extra_regions: &[String],
    mode: Mode,
    options: &Options,
) -> Result<GcReport, CollectError> {
    let states = store.list().await.map_err(|source| CollectError::State { store: store.describe(), source })?;
    let mut regions: BTreeSet<String> = extra_regions.iter().cloned().collect();
    for loaded in checked.valid() {
        let spec = &loaded.policy.spec;
        regions.insert(spec.region.clone());
        regions.extend(spec.backup.copies.iter().map(|c| c.region.clone()));
    }
    regions.extend(state_regions(&states));
    if regions.is_empty() {
        return Err(CollectError::NoRegion);
    }
    let regions: Vec<String> = regions.into_iter().collect();
    // Each account's leftovers with its own credentials, and the records of
    // its policies (a deleted policy's record is drctl's own account's).
    let roles = checked.roles_by_policy();
    let reached_by = |policy: &str| roles.get(policy).copied().flatten();
    let roles = checked.accounts.iter().flat_map(|a| &a.accounts.accounts).filter(|a| a.role.is_some());
    let mut report = GcReport::default();
    for account in std::iter::once(None).chain(roles.map(Some)) {
        let id = account.map(|a| a.id.as_str());
        let theirs: Vec<PolicyState> = states.iter().filter(|s| reached_by(&s.policy) == id).cloned().collect();
        match Box::pin(aws.in_account(account)).await {
            Ok(in_account) => {
                let part = Box::pin(run_with(&in_account, &regions, &theirs, mode, options)).await;
                report.regions = part.regions;
                report.found.extend(part.found.into_iter().map(|f| Found { account: id.map(str::to_string), ..f }));
                report.errors.extend(part.errors);
            }
            Err(error) => report.errors.push(error.to_string()),
        }
    }
    Ok(report)
}

/// Collects drctl's leftovers in `regions` with the default [`Options`].
pub async fn run(aws: &Aws, regions: &[String], states: &[PolicyState], mode: Mode) -> GcReport {
    run_with(aws, regions, states, mode, &Options::default()).await
}

/// Collects drctl's leftovers in `regions`, using `states` to know which
/// drills are running and which untagged tables drctl created.
#[tracing::instrument(skip_all, fields(mode = ?mode))]
pub async fn run_with(aws: &Aws, regions: &[String], states: &[PolicyState], mode: Mode, options: &Options) -> GcReport {
    let regions: Vec<String> = regions.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let context = Context { aws, states, mode, options, now: state::now() };
    let per_region = futures_util::future::join_all(regions.iter().map(|region| context.region(region))).await;
    let mut report = GcReport { regions: regions.clone(), ..GcReport::default() };
    for (found, errors) in per_region {
        report.found.extend(found);
        report.errors.extend(errors);
    }
    for state in states {
        if let Some(found) = stale_canary(aws, state, mode, context.now).await {
            report.found.push(found);
        }
    }
    report.found.sort_by(|a, b| (&a.region, a.kind, &a.stack, &a.name).cmp(&(&b.region, b.kind, &b.stack, &b.name)));
    report
}

/// The regions a gc looks in besides the ones asked for: those where a
/// state record has a restore in flight.
pub fn state_regions(states: &[PolicyState]) -> BTreeSet<String> {
    let in_flight = states.iter().filter_map(|s| s.in_flight.as_ref()).flat_map(|f| f.restores.keys().cloned());
    let drilled = states.iter().filter_map(|s| s.last_drill.as_ref()).flat_map(|d| d.regions.iter().map(|r| r.region.clone()));
    // A record is data, not a command: a region that is no AWS region is
    // not looked in.
    in_flight.chain(drilled).filter(|region| crate::policy::names::is_region(region)).collect()
}

struct Context<'a> {
    aws: &'a Aws,
    states: &'a [PolicyState],
    mode: Mode,
    options: &'a Options,
    now: u64,
}

impl Context<'_> {
    async fn region(&self, region: &str) -> (Vec<Found>, Vec<String>) {
        let (mut found, mut errors) = (Vec::new(), Vec::new());
        match self.tables(region).await {
            Ok(tables) => found.extend(tables),
            Err(error) => errors.push(error.to_string()),
        }
        match self.change_sets(region).await {
            Ok(stacks) => found.extend(stacks),
            Err(error) => errors.push(error.to_string()),
        }
        match self.exports(region).await {
            Ok(exports) => found.extend(exports),
            Err(error) => errors.push(error.to_string()),
        }
        (found, errors)
    }

    // -- canaries of killed drills ---------------------------------------------

    // -- point-in-time exports ------------------------------------------------

    // -- scratch tables ------------------------------------------------------

    // -- preview change sets and review stacks ---------------------------------
}
