//! One policy's reconcile under its lease: settled or not, apply what the
//! plan says changed, drill when due, record the result with its
//! announcement in the outbox, and publish it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::journal;
use super::record::executed_change_sets;
use super::{Due, Held, Mode, Options, PolicyOutcome, StateJournal, Status, Stop, drill_due, drill_record};
use crate::apply::{self, PolicyReport, Progress};
use crate::aws::Aws;
use crate::drill::{self, DrillResult};
use crate::notify;
use crate::plan::PolicyPlan;
use crate::policy::LoadedPolicy;
use crate::policy::accounts::LoadedAccounts;
use crate::state::{self, Applied, Evidence, InFlight, LeaseError, PolicyState, Reconciled, StateStore, Step, Weakened, lease};

pub(super) struct Context<'a> {
    /// The policy's account's (drctl's own until [`Context::policy`] picks it).
    pub(super) aws: &'a Aws,
    /// drctl's own, from which every other account is reached.
    pub(super) root: &'a Aws,
    pub(super) store: &'a dyn StateStore,
    pub(super) options: &'a Options,
    pub(super) progress: &'a Progress,
    pub(super) stop: &'a Stop,
    /// The records as listed when the run started.
    pub(super) known: &'a BTreeMap<String, PolicyState>,
    /// The accounts file: a policy with `spec.account` acts in its account.
    pub(super) accounts: Option<&'a LoadedAccounts>,
}

impl Context<'_> {
    #[tracing::instrument(skip_all, fields(policy = %loaded.policy.metadata.name, commit = self.options.commit.as_deref().unwrap_or("worktree")))]
    pub(super) async fn policy(&self, loaded: &LoadedPolicy, planned: Option<&PolicyPlan>) -> PolicyOutcome {
        let name = loaded.policy.metadata.name.clone();
        let mut outcome = PolicyOutcome {
            policy: name.clone(),
            status: Status::Error,
            apply: None,
            drills: Vec::new(),
            drill_reason: None,
            sns_message_id: None,
            errors: Vec::new(),
        };
        if self.settled(loaded, planned) {
            outcome.status = Status::Proven;
            return outcome;
        }
        let account = loaded.policy.spec.account.as_deref().and_then(|id| self.accounts?.get(id));
        match Box::pin(self.aws.in_account(account)).await {
            Ok(aws) => Box::pin(Context { aws: &aws, ..*self }.leased(loaded, planned, outcome)).await,
            Err(error) => {
                outcome.errors.push(error.to_string());
                outcome
            }
        }
    }

    /// The policy's reconcile under its lease, in its account.
    async fn leased(&self, loaded: &LoadedPolicy, planned: Option<&PolicyPlan>, mut outcome: PolicyOutcome) -> PolicyOutcome {
        let name = loaded.policy.metadata.name.clone();
        let held = match lease::acquire(self.store, &name, &self.options.owner, self.options.lease_ttl, self.options.clock).await {
            Ok(state) => Held::new(self.store, &self.options.owner, self.options.clock, state),
            Err(LeaseError::Held { owner, expires, .. }) => {
                tracing::info!(%owner, expires, "held by another run: skipped");
                outcome.status = Status::Held { owner, expires };
                return outcome;
            }
            Err(error) => {
                outcome.errors.push(format!("lease: {error}"));
                return outcome;
            }
        };
        let driven = tokio::select! {
            driven = self.drive(&held, loaded, planned, &mut outcome) => driven,
            lost = held.keep(self.options.lease_ttl) => Err(lost),
        };
        if let Err(error) = driven {
            tracing::warn!(%error, "reconcile stopped");
            outcome.errors.push(error.to_string());
            if outcome.status == Status::Reconciled || outcome.status == Status::Proven {
                outcome.status = Status::Error;
            }
        }
        if let Err(error) = held.release().await {
            outcome.errors.push(format!("lease not released: {error}"));
        }
        outcome
    }

    /// Whether the policy is applied, proven and not due, with nothing in
    /// flight: then a reconcile has nothing to do and takes no lease (a
    /// no-op run reads the state and writes nothing).
    fn settled(&self, loaded: &LoadedPolicy, planned: Option<&PolicyPlan>) -> bool {
        let Some(planned) = planned.filter(|p| self.options.mode == Mode::Reconcile && !p.has_changes() && p.error.is_none()) else {
            return false;
        };
        let Some(state) = self.known.get(&loaded.policy.metadata.name) else { return false };
        let hash = &planned.content_hash;
        let every = Duration::from_secs(loaded.policy.spec.verify.every.seconds());
        state.in_flight.is_none()
            && state.outbox.is_none()
            && state.desired_hash.as_ref() == Some(hash)
            && state.applied.as_ref().is_some_and(|a| &a.content_hash == hash)
            && drill_due(state, hash, every, self.options.retry(), self.options.clock.now()) == Due::No
    }

    /// apply → drill → record → announce, each step recorded under the lease.
    async fn drive(
        &self,
        held: &Held<'_>,
        loaded: &LoadedPolicy,
        planned: Option<&PolicyPlan>,
        outcome: &mut PolicyOutcome,
    ) -> Result<(), LeaseError> {
        let hash = crate::policy::content_hash(&loaded.policy);
        let commit = self.options.commit.clone().unwrap_or_else(|| "worktree".to_string());
        held.update(|s| s.desired_hash = Some(hash.clone())).await?;
        // An announcement an interrupted run recorded but did not publish.
        self.flush_outbox(held, loaded, outcome).await?;
        // An interrupted drill is finished first, whatever content it was
        // proving: its jobs and scratch tables are only known from this
        // record. It proves the current content only if that is applied.
        let resume = held.snapshot().await.in_flight.filter(|f| f.step == Step::Drill);
        let mut change_sets = Vec::new();
        if let (None, Mode::Reconcile, Some(planned)) = (&resume, self.options.mode, planned) {
            if self.stop.requested() {
                outcome.status = Status::Stopped;
                return Ok(());
            }
            let weakening = planned.weakening();
            if self.options.weakening.refuses(&weakening) {
                outcome.status = Status::WeakeningRefused { changes: weakening };
                return Ok(());
            }
            if let Some(report) = self.apply(held, loaded, planned, &commit).await? {
                change_sets = executed_change_sets(&report);
                let failed = report.failed();
                outcome.apply = Some(report);
                if failed {
                    outcome.status = Status::ApplyFailed;
                    return Ok(());
                }
            }
        }
        let reason = match (&resume, self.options.mode) {
            (Some(_), _) => "resumed an interrupted drill",
            (None, Mode::DrillNow) => "verify",
            (None, Mode::Reconcile) => {
                let state = held.snapshot().await;
                let every = std::time::Duration::from_secs(loaded.policy.spec.verify.every.seconds());
                match drill_due(&state, &hash, every, self.options.retry(), self.options.clock.now()) {
                    Due::Now(reason) => reason,
                    Due::RetryAfter(after) => {
                        outcome.status = Status::AwaitingRetry { after };
                        return Ok(());
                    }
                    Due::No => {
                        outcome.status = Status::Proven;
                        return Ok(());
                    }
                }
            }
        };
        if self.stop.requested() {
            outcome.status = Status::Stopped;
            return Ok(());
        }
        if let (None, Mode::Reconcile) = (&resume, self.options.mode)
            && let Some(queued) = self.queued().await
        {
            outcome.status = queued;
            return Ok(());
        }
        outcome.drill_reason = Some(reason.to_string());
        // A resumed drill is recorded as what it was: a drill of the content
        // and commit it started for, from when it started.
        let (hash, commit, started) = match &resume {
            Some(interrupted) => (interrupted.content_hash.clone(), interrupted.commit.clone(), interrupted.started),
            None => (hash, commit, self.options.clock.now()),
        };
        let drills = self.drill(held, loaded, &hash, &commit, resume).await?;
        if let Some(until) = self.awaiting_first_point(held, loaded, &drills).await {
            held.update(|s| s.in_flight = None).await?;
            outcome.status = Status::AwaitingRecoveryPoint { until };
            outcome.drills = drills;
            return Ok(());
        }
        let passed = !drills.is_empty() && drills.iter().all(DrillResult::passed);
        let inconclusive = !passed && !drills.is_empty() && drills.iter().all(|d| d.passed() || d.inconclusive());
        let whole =
            self.options.drill.regions.as_ref().is_none_or(|given| loaded.policy.spec.verify.regions.iter().all(|r| given.contains(r)));
        let applied = held.snapshot().await.applied.is_some_and(|a| a.content_hash == hash);
        let proves = passed && whole && applied;
        outcome.status = match (passed, proves, inconclusive) {
            (false, _, true) => Status::DrillInconclusive,
            (false, _, false) => Status::DrillFailed,
            (true, true, _) => Status::Reconciled,
            (true, false, _) => Status::DrillPassed,
        };
        let record = drill_record(&drills, &hash, &commit, started);
        let announcement = notify::Announcement {
            policy: &loaded.policy,
            commit: Some(&commit),
            content_hash: &hash,
            change_sets: &change_sets,
            drills: &drills,
        };
        // Kept with the record, so that a run killed before SNS took it
        // leaves the message for the next run to publish.
        let outbox = match notify::compose(&announcement, notify::OUTBOX_BYTES) {
            Ok(message) => Some(message),
            Err(error) => {
                outcome.errors.push(format!("announcement not sent: {error}"));
                None
            }
        };
        held.update(|s| {
            s.in_flight = None;
            s.outbox = outbox.clone();
            if proves {
                s.reconciled = Some(Reconciled { content_hash: hash.clone(), commit: commit.clone(), at: record.finished });
            }
            // An inconclusive drill is kept apart: the last conclusive drill
            // (and its proof) still says where the policy stands.
            if record.inconclusive {
                s.last_inconclusive = Some(record.clone());
            } else {
                s.last_drill = Some(record.clone());
                s.last_inconclusive = None;
            }
            s.push_evidence(Evidence {
                commit: commit.clone(),
                content_hash: hash.clone(),
                at: record.finished,
                change_sets: change_sets.clone(),
                drill: Some(record.clone()),
                sns_message_id: None,
            });
        })
        .await?;
        outcome.drills = drills;
        crate::failpoint::hit("reconcile/drill-recorded");
        self.flush_outbox(held, loaded, outcome).await?;
        crate::failpoint::hit("reconcile/announced");
        Ok(())
    }

    /// With `recovery_point: latest` and no recovery point yet, the time
    /// until which that is expected: the schedule's longest gap and its
    /// windows after the apply. Before then no point is not a failed drill
    /// (nothing is announced); after it, backups are not happening.
    async fn awaiting_first_point(&self, held: &Held<'_>, loaded: &LoadedPolicy, drills: &[DrillResult]) -> Option<u64> {
        if self.options.mode != Mode::Reconcile || drills.is_empty() || !drills.iter().all(|d| d.no_recovery_point) {
            return None;
        }
        let applied = held.snapshot().await.applied?;
        let until = applied.at.saturating_add(first_point_grace(&loaded.policy).as_secs());
        (self.options.clock.now() < until).then_some(until)
    }

    /// Applies the policy's changed stacks; `None` when nothing changed.
    async fn apply(
        &self,
        held: &Held<'_>,
        loaded: &LoadedPolicy,
        planned: &PolicyPlan,
        commit: &str,
    ) -> Result<Option<PolicyReport>, LeaseError> {
        let hash = planned.content_hash.clone();
        let deployed = held.snapshot().await.applied.is_some_and(|a| a.content_hash == hash);
        if !(planned.has_changes() || planned.error.is_some()) {
            let interrupted = held.snapshot().await.in_flight.is_some_and(|f| f.step == Step::Apply);
            if !deployed || interrupted {
                // Deployed already: by an earlier run without state, by hand
                // from the same render, or by a run killed while CloudFormation
                // finished its change set.
                held.update(|s| {
                    s.applied = Some(Applied {
                        content_hash: hash.clone(),
                        commit: commit.to_string(),
                        at: self.options.clock.now(),
                        weakened: None,
                    });
                    s.in_flight = None;
                })
                .await?;
            }
            return Ok(None);
        }
        held.update(|s| s.in_flight = Some(in_flight(Step::Apply, &hash, commit))).await?;
        // The stacks carry the commit this run reconciles (`drctl:commit`).
        let options = apply::Options { commit: self.options.commit.clone(), ..self.options.apply.clone() };
        let report = apply::apply_policy(self.aws, planned, loaded, &options, self.progress).await;
        let failed = report.failed();
        let weakening = planned.weakening();
        let weakened =
            (!weakening.is_empty()).then(|| Weakened { changes: weakening, approved_by: self.options.weakening.approved_by.clone() });
        held.update(|s| {
            s.in_flight = None;
            if !failed {
                s.applied = Some(Applied {
                    content_hash: hash.clone(),
                    commit: commit.to_string(),
                    at: self.options.clock.now(),
                    weakened: weakened.clone(),
                });
            }
        })
        .await?;
        Ok(Some(report))
    }

    /// `Queued` when every shared restore slot is held: a new drill would
    /// only wait for one. Resumed drills and `verify` are never queued; a
    /// store that cannot be read lets the drill start (it waits for a slot
    /// as before).
    async fn queued(&self) -> Option<Status> {
        let slots = self.options.drill.shared_slots.as_ref()?;
        match slots.probe().await {
            Ok(crate::state::slots::Availability::Busy { capacity, next_lease_end }) => {
                tracing::info!(capacity, "every shared restore slot is busy: the drill is queued for the next run");
                Some(Status::Queued { capacity, next_lease_end })
            }
            Ok(crate::state::slots::Availability::Free) => None,
            Err(error) => {
                tracing::warn!(%error, "the shared restore slots could not be read; the drill starts and waits for one if needed");
                None
            }
        }
    }

    /// The accounts the policy's copies go to, for drills restoring there.
    async fn target_accounts(&self, loaded: &LoadedPolicy) -> BTreeMap<String, Result<std::sync::Arc<Aws>, String>> {
        let mut reached = BTreeMap::new();
        for account in loaded.policy.spec.backup.copies.iter().filter_map(|c| c.account.as_ref()) {
            let declared = self.accounts.and_then(|a| a.get(account));
            let aws = match Box::pin(self.root.in_account(declared)).await {
                Ok(crate::aws::InAccount::Assumed(aws)) => Ok(aws),
                Ok(crate::aws::InAccount::Own(root)) => Ok(std::sync::Arc::new(Aws::from_config(root.config().clone()))),
                Err(error) => Err(error.to_string()),
            };
            reached.insert(account.clone(), aws);
        }
        reached
    }

    async fn drill(
        &self,
        held: &Held<'_>,
        loaded: &LoadedPolicy,
        hash: &str,
        commit: &str,
        resume: Option<InFlight>,
    ) -> Result<Vec<DrillResult>, LeaseError> {
        let mut options = self.options.drill.clone();
        options.accounts = self.target_accounts(loaded).await;
        match &resume {
            Some(in_flight) => options.resume = journal::resume_of(in_flight),
            None => {
                let source = state::SourceTable { table: loaded.policy.spec.table.clone(), region: loaded.policy.spec.region.clone() };
                let started = InFlight { source: Some(source), ..in_flight(Step::Drill, hash, commit) };
                held.update(|s| s.in_flight = Some(started.clone())).await?
            }
        }
        let journal = StateJournal::new(held);
        // Boxed: a drill's state machine is large, and a run holds several.
        let drills = Box::pin(drill::prove(self.aws, &loaded.policy, &options, &journal)).await;
        // A step the journal could not take stopped the drill (inconclusive);
        // its result is still recorded below, unless the lease was lost.
        match journal.into_result() {
            Err(lost @ (LeaseError::Held { .. } | LeaseError::NotHeld { .. })) => Err(lost),
            _ => Ok(drills),
        }
    }

    /// Publishes the announcement waiting in the state's outbox, if any,
    /// names its message id in the newest evidence and empties the outbox.
    /// A publish that fails leaves it for the next run (at least once: SNS
    /// subscribers deduplicate by `drills[].drill_id`).
    async fn flush_outbox(&self, held: &Held<'_>, loaded: &LoadedPolicy, outcome: &mut PolicyOutcome) -> Result<(), LeaseError> {
        let Some(message) = held.snapshot().await.outbox else { return Ok(()) };
        match notify::publish(self.aws, &loaded.policy, &message).await {
            Ok(message_id) => {
                held.update(|s| {
                    s.outbox = None;
                    if let Some(last) = s.evidence.last_mut() {
                        last.sns_message_id = Some(message_id.clone());
                    }
                })
                .await?;
                // The history gets the whole chain, the message id included.
                if let Some(entry) = held.snapshot().await.evidence.last()
                    && let Err(error) = self.store.append_history(&loaded.policy.metadata.name, entry).await
                {
                    outcome.errors.push(format!("drill history not appended: {error}"));
                }
                outcome.sns_message_id = Some(message_id);
            }
            Err(error) => outcome.errors.push(format!("announcement not sent (kept for the next run): {error}")),
        }
        Ok(())
    }
}

pub(super) fn in_flight(step: Step, hash: &str, commit: &str) -> InFlight {
    InFlight {
        step,
        content_hash: hash.to_string(),
        commit: commit.to_string(),
        drill_id: None,
        backup_job_id: None,
        copy_jobs: BTreeMap::new(),
        restores: BTreeMap::new(),
        started: state::now(),
        source: None,
    }
}

/// How long after an apply the first scheduled recovery point may take:
/// the schedule's longest gap, the start window (AWS Backup's default 8h)
/// and the completion window (at most a day counted: a first backup of a
/// table rarely takes longer, and a longer wait would hide a broken plan).
pub fn first_point_grace(policy: &crate::policy::TablePolicy) -> Duration {
    const HOUR: u64 = 3600;
    let backup = &policy.spec.backup;
    let gap = crate::policy::validate::schedule_of(policy).and_then(Result::ok).map(|s| s.max_gap().seconds()).unwrap_or(24 * HOUR);
    let start = backup.start_window.map(|w| w.seconds()).unwrap_or(8 * HOUR);
    let completion = backup.completion_window.map(|w| w.seconds()).unwrap_or(24 * HOUR).min(24 * HOUR);
    Duration::from_secs(gap + start + completion)
}
