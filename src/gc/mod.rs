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

mod decide;

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

/// The canary of a drill the state records as in flight under a lease
/// that lapsed: its key follows from the drill id and the source's key
/// schema, and it is deleted only while it still carries that drill's
/// id (a conditional delete), never an item drctl did not write.
pub async fn stale_canary(aws: &Aws, state: &PolicyState, mode: Mode, now: u64) -> Option<Found> {
    let in_flight = state.in_flight.as_ref()?;
    let (drill_id, source) = (in_flight.drill_id.as_deref()?, in_flight.source.as_ref()?);
    if !crate::drill::is_drill_id(drill_id) || live(state, now) {
        return None;
    }
    let clients = aws.region(&source.region);
    let mut found = Found {
        kind: Kind::Canary,
        region: source.region.clone(),
        name: format!("canary of drill {drill_id} in {}", source.table),
        stack: None,
        policy: Some(state.policy.clone()),
        outcome: Outcome::Failed,
        why: String::new(),
    };
    let placed = match crate::drill::canary::left_by(&clients.dynamodb, &source.table, drill_id).await {
        Ok(None) => return None,
        Ok(Some(canary)) => canary,
        Err(error) => {
            found.why = error.to_string();
            return Some(found);
        }
    };
    let why = format!("drill {drill_id} of {} was interrupted and its lease lapsed", state.policy);
    (found.outcome, found.why) = match mode {
        Mode::DryRun => (Outcome::WouldDelete, why),
        Mode::Delete => match crate::drill::canary::remove(&clients.dynamodb, &placed).await {
            Ok(()) => (Outcome::Deleted, why),
            Err(error) => (Outcome::Failed, format!("{why}; the delete failed: {error}")),
        },
    };
    Some(found)
}

/// The regions a gc looks in besides the ones asked for: those where a
/// state record has a restore in flight.
pub fn state_regions(states: &[PolicyState]) -> BTreeSet<String> {
    let in_flight = states.iter().filter_map(|s| s.in_flight.as_ref()).flat_map(|f| f.restores.keys().cloned());
    let drilled = states.iter().filter_map(|s| s.last_drill.as_ref()).flat_map(|d| d.regions.iter().map(|r| r.region.clone()));
    in_flight.chain(drilled).collect()
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

    /// The exports of drills under `drctl/` in the region's export bucket,
    /// one prefix per drill. A region without a bootstrap has none.
    async fn exports(&self, region: &str) -> Result<Vec<Found>, GcError> {
        let clients = self.aws.region(region);
        let bucket = match reference::export::bucket(&clients).await {
            Ok(bucket) => bucket,
            // No bootstrap (or an older one without the bucket): no exports.
            Err(DrillError::Reference { .. }) => return Ok(Vec::new()),
            Err(error) => return Err(error.into()),
        };
        let owner = bucket.trim_start_matches(reference::export::BUCKET_PREFIX).split('-').next().unwrap_or_default().to_string();
        let drills = reference::export::list_drills(&clients, &reference::export::Location { bucket: &bucket, owner: &owner }).await?;
        let mut found = Vec::new();
        for ((policy, drill_id), newest) in drills {
            let prefix = reference::drill_prefix(&policy, &drill_id);
            let mut entry = Found {
                kind: Kind::Export,
                region: region.to_string(),
                name: format!("s3://{bucket}/{prefix}"),
                stack: None,
                policy: Some(policy.clone()),
                outcome: Outcome::Failed,
                why: String::new(),
            };
            (entry.outcome, entry.why) = match decide::decide_exports(&policy, &drill_id, newest, self.states, self.now) {
                Verdict::Keep(why) => (Outcome::Kept, why),
                Verdict::Delete { why, .. } if self.mode == Mode::DryRun => (Outcome::WouldDelete, why),
                Verdict::Delete { why, .. } => {
                    let place = reference::Place { bucket: bucket.clone(), owner: owner.clone(), prefix };
                    match reference::clean_up(&clients, &place).await {
                        done if done.starts_with("deleted") => (Outcome::Deleted, format!("{why}; {done}")),
                        failed => (Outcome::Failed, format!("{why}; {failed}")),
                    }
                }
            };
            found.push(entry);
        }
        Ok(found)
    }

    // -- scratch tables ------------------------------------------------------

    async fn tables(&self, region: &str) -> Result<Vec<Found>, GcError> {
        let clients = self.aws.region(region);
        let names: Vec<String> = clients
            .dynamodb
            .list_tables()
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| GcError::Call { region: region.to_string(), action: "ListTables".into(), why: describe(&e) })?;
        let (scratch, others): (Vec<String>, Vec<String>) = names.into_iter().partition(|name| name.starts_with(SCRATCH_PREFIX));
        let mut found: Vec<Found> = others
            .into_iter()
            .map(|name| Found {
                kind: Kind::OtherTable,
                region: region.to_string(),
                name,
                stack: None,
                policy: None,
                outcome: Outcome::Kept,
                why: format!("not named {SCRATCH_PREFIX}*: never drctl's"),
            })
            .collect();
        let handled = futures_util::stream::iter(scratch.iter().map(|name| self.table(&clients, name)))
            .buffer_unordered(self.options.concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        found.extend(handled);
        Ok(found)
    }

    async fn table(&self, clients: &Clients, name: &str) -> Found {
        let mut found = Found {
            kind: Kind::ScratchTable,
            region: clients.region.clone(),
            name: name.to_string(),
            stack: None,
            policy: None,
            outcome: Outcome::Failed,
            why: String::new(),
        };
        let tags = match table_tags(clients, name).await {
            Ok(Some(tags)) => tags,
            Ok(None) => {
                (found.outcome, found.why) = (Outcome::Kept, "gone before gc reached it".into());
                return found;
            }
            Err(error) => {
                found.why = error.to_string();
                return found;
            }
        };
        found.policy = tags.get(render::POLICY_TAG).cloned().or_else(|| self.recording(&clients.region, name).map(|s| s.policy.clone()));
        let (outcome, why) = match decide(name, &clients.region, &tags, self.states, self.now) {
            Verdict::Keep(why) => (Outcome::Kept, why),
            Verdict::Delete { why, .. } if self.mode == Mode::DryRun => (Outcome::WouldDelete, why),
            Verdict::Delete { why, adopt } => self.delete_table(clients, name, why, adopt).await,
        };
        (found.outcome, found.why) = (outcome, why);
        found
    }

    async fn delete_table(&self, clients: &Clients, name: &str, why: String, adopt: Option<Adopt>) -> (Outcome, String) {
        if let Some(adopt) = adopt {
            let tags = scratch::scratch_tags(&adopt.policy, &adopt.drill_id);
            if let Err(error) = scratch::tag(clients, name, &tags).await {
                return (Outcome::Failed, format!("{why}; tagging it as scratch failed: {error}"));
            }
        }
        match scratch::delete(clients, name, self.options.backoff, self.options.table_deadline).await {
            Cleanup::Deleted => (Outcome::Deleted, why),
            Cleanup::Absent | Cleanup::NotCreated => (Outcome::Kept, "gone before gc reached it".into()),
            Cleanup::Refused(refused) => (Outcome::Kept, format!("the scratch guard refused: {refused}")),
            Cleanup::Failed(failed) => (Outcome::Failed, format!("{why}; the delete failed: {failed}")),
        }
    }

    fn recording(&self, region: &str, table: &str) -> Option<&PolicyState> {
        recording(self.states, region, table)
    }

    // -- preview change sets and review stacks ---------------------------------

    async fn change_sets(&self, region: &str) -> Result<Vec<Found>, GcError> {
        let stacks = deployed::list(self.aws, region).await?;
        let mut found = Vec::new();
        for stack in stacks.values() {
            found.extend(self.stack(stack).await);
        }
        Ok(found)
    }

    async fn stack(&self, stack: &DeployedStack) -> Vec<Found> {
        let entry = |kind, name: &str, outcome, why: String| Found {
            kind,
            region: stack.region.clone(),
            name: name.to_string(),
            stack: Some(stack.name.clone()),
            policy: stack.policy().map(str::to_string),
            outcome,
            why,
        };
        let summaries = match list_change_sets(self.aws, stack).await {
            Ok(summaries) => summaries,
            Err(error) => return vec![entry(Kind::PreviewChangeSet, "*", Outcome::Failed, error.to_string())],
        };
        let handle = handle(stack);
        let mut found = Vec::new();
        let previews: Vec<&ChangeSetSummary> =
            summaries.iter().filter(|s| s.change_set_name().is_some_and(|n| n.starts_with(PREVIEW_PREFIX))).collect();
        for preview in &previews {
            let name = preview.change_set_name().unwrap_or_default();
            let (outcome, why) = match self.young(preview) {
                Some(age) => (Outcome::Kept, format!("a preview {age}s old: a running plan may still read it")),
                None if self.mode == Mode::DryRun => (Outcome::WouldDelete, PREVIEW_WHY.to_string()),
                None => match changeset::delete(self.aws, &handle, name).await {
                    Ok(()) => (Outcome::Deleted, PREVIEW_WHY.to_string()),
                    Err(error) => (Outcome::Failed, error.to_string()),
                },
            };
            found.push(entry(Kind::PreviewChangeSet, name, outcome, why));
        }
        if stack.status == "REVIEW_IN_PROGRESS" {
            let (outcome, why) = self.review_stack(stack, &summaries).await;
            found.push(entry(Kind::ReviewStack, &stack.name, outcome, why));
        }
        found
    }

    async fn review_stack(&self, stack: &DeployedStack, summaries: &[ChangeSetSummary]) -> (Outcome, String) {
        let pending = summaries.iter().filter_map(|s| s.change_set_name()).find(|n| !n.starts_with(PREVIEW_PREFIX));
        if let Some(name) = pending {
            return (Outcome::Kept, format!("change set {name} is pending on it: a reconcile may be creating this stack"));
        }
        if let Some(holder) = stack.policy().and_then(|p| self.states.iter().find(|s| s.policy == p)).filter(|s| live(s, self.now)) {
            return (Outcome::Kept, in_use(holder));
        }
        if let Some(age) = summaries.iter().filter_map(|s| self.young(s)).min() {
            return (Outcome::Kept, format!("a preview {age}s old is on it: a running plan may still use it"));
        }
        match self.mode {
            Mode::DryRun => (Outcome::WouldDelete, REVIEW_WHY.to_string()),
            Mode::Delete => match changeset::delete_review_stack(self.aws, &handle(stack)).await {
                Ok(()) => (Outcome::Deleted, REVIEW_WHY.to_string()),
                Err(error) => (Outcome::Failed, error.to_string()),
            },
        }
    }

    /// The change set's age in seconds when it is within the grace.
    fn young(&self, summary: &ChangeSetSummary) -> Option<u64> {
        let created = u64::try_from(summary.creation_time()?.secs()).ok()?;
        let age = self.now.saturating_sub(created);
        (age < self.options.preview_grace.as_secs()).then_some(age)
    }
}

const PREVIEW_WHY: &str = "a preview change set a plan did not clean up (previews are deleted once read)";
const REVIEW_WHY: &str = "an empty stack in REVIEW_IN_PROGRESS left by an aborted CREATE preview";

/// The tags of `table`, `None` when it is gone.
async fn table_tags(clients: &Clients, table: &str) -> Result<Option<BTreeMap<String, String>>, GcError> {
    let Some(description) = scratch::describe(clients, table).await? else { return Ok(None) };
    let Some(arn) = description.table_arn() else { return Ok(Some(BTreeMap::new())) };
    Ok(Some(scratch::tags_of(clients, arn).await?))
}

/// The stack's change sets, every page. Only summaries of this stack are
/// kept: the answer is filtered, not trusted.
async fn list_change_sets(aws: &Aws, stack: &DeployedStack) -> Result<Vec<ChangeSetSummary>, GcError> {
    let client = aws.region(&stack.region).cloudformation;
    let mut summaries = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client.list_change_sets().stack_name(&stack.name).set_next_token(token.take()).send().await.map_err(|e| {
            GcError::Call { region: stack.region.clone(), action: format!("ListChangeSets {}", stack.name), why: describe(&e) }
        })?;
        summaries.extend(page.summaries().iter().filter(|s| s.stack_name().is_none_or(|name| name == stack.name)).cloned());
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(summaries),
        }
    }
}

/// A deployed stack as the change-set functions take it: they read only
/// its name and region, so the template is left empty.
fn handle(stack: &DeployedStack) -> render::Stack {
    render::Stack {
        name: stack.name.clone(),
        region: stack.region.clone(),
        role: StackRole::Primary,
        policy: stack.policy().map(str::to_string),
        template: yaml_serde::Value::Null,
    }
}
