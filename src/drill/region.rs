//! The drill in one region: bring the recovery point there (a DR region
//! copies it from the primary vault), restore it into this region's scratch
//! table within a restore slot, wait for ACTIVE, run the checks against the
//! source in the primary region (or the drill's point-in-time reference of it), list the gaps, measure RTO and RPO, and
//! delete the scratch table whatever happened.

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::TableDescription;
use tokio::sync::OwnedSemaphorePermit;

use super::context::{Run, Shared, Target};
use super::journal::Event;
use super::recovery::{self, RecoveryPoint};
use super::{DrillError, DrillResult, Gap, Rto, checks, copy, gaps, quota, reference, scratch};
use crate::aws::Clients;
use crate::policy::model::RecoveryPointChoice;
use crate::render;

/// One region's drill under way: the result filled in as it goes, so a
/// failure part-way still reports what was done.
pub(super) struct RegionDrill<'r, 'a> {
    run: &'r Run<'a>,
    /// Where the drill restores, as `verify.regions` names it: a region, or
    /// `<account>/<region>`. The journal and the result know it by this.
    label: String,
    /// The clients of that region, in that account.
    clients: Clients,
    /// Why drctl cannot act in the target's account.
    unreached: Option<String>,
    restore_started: bool,
    result: DrillResult,
}

impl<'r, 'a> RegionDrill<'r, 'a> {
    pub(super) fn new(run: &'r Run<'a>, label: &str, target: &Result<Target, DrillError>) -> Self {
        let result = DrillResult::blank(run.policy, label, &run.drill_id);
        let (clients, unreached) = match target {
            Ok(Target::Account { account, region, .. }) => match run.options.accounts.get(account) {
                Some(Ok(aws)) => (aws.region(region), None),
                Some(Err(why)) => (run.aws.region(region), Some(why.clone())),
                None => (run.aws.region(region), Some(format!("account {account} was not reached for this drill"))),
            },
            _ => (run.aws.region(label), None),
        };
        Self { run, label: label.to_string(), clients, unreached, restore_started: false, result }
    }

    /// Drills this region and cleans up; the result is judged by the caller
    /// once the canary is gone.
    #[tracing::instrument(skip_all, fields(region = %self.label))]
    pub(super) async fn run(
        mut self,
        target: &Result<Target, DrillError>,
        shared: &Result<Shared, DrillError>,
        dr_blocked: Option<&DrillError>,
    ) -> DrillResult {
        let outcome = self.prove(target, shared, dr_blocked).await;
        self.clean_up().await;
        if let Err(error) = outcome {
            tracing::warn!(%error, "drill stopped");
            self.result.stopped_by(&error);
        }
        self.result
    }

    /// Recovery point here → restore → status → checks → gaps → RTO.
    async fn prove(
        &mut self,
        target: &Result<Target, DrillError>,
        shared: &Result<Shared, DrillError>,
        dr_blocked: Option<&DrillError>,
    ) -> Result<(), DrillError> {
        let target = target.clone()?;
        if let Some(why) = &self.unreached {
            return Err(DrillError::Aws { action: format!("reaching {}", self.label), why: why.clone() });
        }
        if let (Target::Dr { .. } | Target::Account { .. }, Some(blocked)) = (&target, dr_blocked) {
            return Err(blocked.clone());
        }
        let shared = shared.as_ref().map_err(Clone::clone)?;
        self.result.rpo = Some(self.run.rpo(&shared.point));
        let (point, role) = match target {
            Target::Primary => (shared.point.clone(), shared.role.clone()),
            Target::Dr { delete_after_days } => {
                let vault = render::vault_in(self.run.policy, &self.clients.region);
                (self.copy_here(shared, &vault, delete_after_days).await?, shared.role.clone())
            }
            // Restored in the backup account by its own restore role.
            Target::Account { vault, delete_after_days, .. } => {
                let point = self.copy_here(shared, &vault, delete_after_days).await?;
                (point, central_restore_role(&self.clients).await?)
            }
        };
        self.result.recovery_point = Some(point.clone());
        let (restored, restore_start) = self.restore(&point, &role).await?;
        let to_active = since(restore_start);
        // Waiting for the reference (PITR catching up, the exports) is no
        // part of a recovery: it does not count against the RTO.
        let mut reference_wait = Duration::ZERO;
        {
            // Checks of a large table take long: the claim on the scratch
            // table is renewed while they run, so `gc` reading the table
            // leaves it, whatever state store it reads.
            let (clients, table) = (self.clients.clone(), restored.table_name().unwrap_or_default().to_string());
            // Boxed: the checks' futures are large, and kept inline they
            // would grow every drill future that awaits this one.
            let renewing = Box::pin(renew_claim(&clients, &table));
            let checking = Box::pin(async {
                let waiting = SystemTime::now();
                let reference = match self.run.wants_reference() {
                    true => Some(self.run.reference(shared).await),
                    false => None,
                };
                reference_wait = since(waiting);
                self.result.reference = reference.and_then(|r| r.as_ref().ok()).map(|p| p.report.clone());
                self.run_checks(&shared.source, &restored, reference).await;
                let same_place = self.label == self.run.policy.spec.region;
                self.result.gaps = post_restore_gaps(&self.run.primary, &self.clients, same_place, &shared.source, &restored).await;
            });
            futures_util::future::select(checking, renewing).await;
            crate::failpoint::hit("drill/checks-done");
        }
        let objective = self.run.policy.spec.objectives.rto.seconds();
        let measured = since(restore_start).saturating_sub(reference_wait);
        self.result.rto = Some(Rto {
            restore_to_active_seconds: to_active.as_secs_f64(),
            measured_seconds: measured.as_secs_f64(),
            objective_seconds: objective,
            met: measured.as_secs_f64() <= objective as f64,
        });
        Ok(())
    }

    /// The recovery point in this DR region: the resumed drill's copy job,
    /// a completed copy already in the DR vault (`latest` only), or a new
    /// copy job from the primary vault, followed to its end.
    async fn copy_here(&mut self, shared: &Shared, vault: &str, delete_after_days: i64) -> Result<RecoveryPoint, DrillError> {
        let run = self.run;
        let vault = vault.to_string();
        let destination = copy::vault_arn(&self.clients, &vault).await?;
        let resource = shared.source.table_arn().unwrap_or_default();
        let _one_job = quota::lock_resource(resource).await;
        let resumed = run.resume().and_then(|r| r.copy_jobs.get(&self.label)).cloned();
        let arn = match resumed {
            Some(job_id) => self.wait_copy(job_id, (&shared.point.arn, &destination)).await?,
            None => match self.reusable_copy(shared, &vault, &destination).await? {
                Some((job_id, arn)) => {
                    tracing::info!(%job_id, "a completed copy of the recovery point is in the DR vault");
                    self.result.copy_job_id = Some(job_id);
                    arn
                }
                None => {
                    let token = format!("drctl-drill-{}-copy-{}", run.drill_id, self.label.replace('/', "-"));
                    let request = copy::CopyRequest {
                        recovery_point_arn: &shared.point.arn,
                        source_vault: &shared.point.vault,
                        destination_vault_arn: &destination,
                        role_arn: &shared.role,
                        idempotency_token: &token,
                        delete_after_days,
                    };
                    let job_id = copy::start(&run.primary, &request).await?;
                    tracing::info!(%job_id, "copy job started");
                    crate::failpoint::hit("drill/copy-started");
                    run.journal
                        .record(&Event::CopyStarted { region: self.label.clone(), job_id: job_id.clone() })
                        .await
                        .map_err(|why| DrillError::Journal { what: format!("copy job {job_id}"), why })?;
                    crate::failpoint::hit("drill/copy-recorded");
                    self.wait_copy(job_id, (&shared.point.arn, &destination)).await?
                }
            },
        };
        // Same data as the source point: its age is this region's RPO.
        Ok(RecoveryPoint { arn, vault, ..shared.point.clone() })
    }

    /// Follows copy job `job_id`, which must copy `expected` (the source
    /// point, the DR vault's ARN).
    async fn wait_copy(&mut self, job_id: String, expected: (&str, &str)) -> Result<String, DrillError> {
        self.result.copy_job_id = Some(job_id.clone());
        copy::wait(&self.run.primary, &job_id, expected, self.run.options.backoff, self.run.options.job_deadline).await
    }

    /// With `recovery_point: latest`, a completed copy of the chosen point
    /// still in the DR vault saves a copy job.
    async fn reusable_copy(&self, shared: &Shared, vault: &str, destination: &str) -> Result<Option<(String, String)>, DrillError> {
        if self.run.policy.spec.verify.recovery_point != RecoveryPointChoice::Latest {
            return Ok(None);
        }
        let resource = shared.source.table_arn().unwrap_or_default();
        let Some((job_id, arn)) = copy::existing(&self.run.primary, resource, &shared.point.arn, destination).await? else {
            return Ok(None);
        };
        // A copy whose point has expired since is no use; one drctl could
        // not ask about is an error, never a reason for a second copy.
        Ok(recovery::find_point(&self.clients, vault, &arn).await?.map(|_| (job_id, arn)))
    }

    /// Restores into this region's scratch table (within a restore slot),
    /// tags it, and waits for ACTIVE (the `status` check); returns the table
    /// and when the restore started.
    async fn restore(&mut self, point: &RecoveryPoint, role: &str) -> Result<(TableDescription, SystemTime), DrillError> {
        let run = self.run;
        let region = self.label.clone();
        let plan = scratch::plan(run.name(), &run.drill_id, run.resume().and_then(|r| r.restores.get(&region)))?;
        if !plan.resumed {
            scratch::ensure_absent(&self.clients, &plan.table).await?;
        }
        self.result.scratch_table = Some(plan.table.clone());
        let slot = run.options.restore_slots.clone().acquire_owned().await.map_err(|_| DrillError::Stopping)?;
        let shared = match &run.options.shared_slots {
            // More due drills than the fleet's slots: this one waits its
            // turn up to the job deadline, then is inconclusive (retried).
            Some(slots) => Some(
                slots
                    .acquire(&format!("drill-{}-{region}", run.drill_id), run.options.job_deadline)
                    .await
                    .map_err(|error| DrillError::Transient { action: "taking a shared restore slot".into(), why: error.to_string() })?,
            ),
            None => None,
        };
        let slot = (slot, shared);
        self.restore_started = true;
        let mut table = plan.table.clone();
        let interrupted = match &plan.job_id {
            Some(job_id) => Some(scratch::interrupted_restore(&self.clients, job_id, &plan.table).await?),
            None => None,
        };
        let (job_id, started) = match (plan.job_id, interrupted) {
            (Some(_), Some(scratch::Interrupted::Gone)) => {
                let again = scratch::second_name(run.name(), &run.drill_id).filter(|again| *again != plan.table).ok_or_else(|| {
                    DrillError::BadResume { why: format!("the second scratch table {} of the drill is gone too", plan.table) }
                })?;
                // The checks' results died with the run that deleted the
                // table: only a new restore can prove the recovery point.
                tracing::warn!(gone = %plan.table, table = %again, "the interrupted drill's scratch table was deleted before its result was recorded: restoring again");
                scratch::ensure_absent(&self.clients, &again).await?;
                self.result.scratch_table = Some(again.clone());
                table = again;
                self.start_restore(point, role, &table).await?
            }
            (Some(job_id), Some(scratch::Interrupted::Waiting { created })) => {
                tracing::info!(%job_id, table = %plan.table, "waiting for the interrupted drill's restore job");
                (job_id, created)
            }
            _ => self.start_restore(point, role, &plan.table).await?,
        };
        self.result.restore_job_id = Some(job_id.clone());
        let waited = self.wait_for_restored_table(&job_id, &table, slot).await;
        self.result.checks.push(checks::status(waited.as_ref().map(|_| since(started))));
        waited.map(|table| (table, started))
    }

    /// Tells the journal the scratch table, starts the restore job, and
    /// tells the journal the job.
    async fn start_restore(&self, point: &RecoveryPoint, role: &str, table: &str) -> Result<(String, SystemTime), DrillError> {
        let (run, region) = (self.run, self.label.clone());
        run.journal
            .record(&Event::RestoreStarting { region: region.clone(), scratch_table: table.to_string() })
            .await
            .map_err(|why| DrillError::Journal { what: format!("the scratch table {table}"), why })?;
        crate::failpoint::hit("drill/restore-starting-recorded");
        // The token follows the table: a second restore (see
        // `scratch::second_name`) is a new job, its retries are not.
        let token = format!("drctl-drill-{}-restore-{}", run.drill_id, table.rsplit('-').next().unwrap_or_default());
        let request = scratch::RestoreRequest { recovery_point_arn: &point.arn, role_arn: role, table, idempotency_token: &token };
        let started = SystemTime::now();
        let job_id = scratch::start_restore(&self.clients, &request).await?;
        tracing::info!(%job_id, table, "restore job started");
        crate::failpoint::hit("drill/restore-started");
        run.journal
            .record(&Event::RestoreStarted { region, job_id: job_id.clone(), scratch_table: table.to_string() })
            .await
            .map_err(|why| DrillError::Journal { what: format!("restore job {job_id}"), why })?;
        crate::failpoint::hit("drill/restore-recorded");
        Ok((job_id, started))
    }

    /// Waits for the job (holding its restore slot until it ends), tags the
    /// table as scratch, and waits for ACTIVE.
    async fn wait_for_restored_table(
        &self,
        job_id: &str,
        table: &str,
        (slot, shared): (OwnedSemaphorePermit, Option<crate::state::slots::Slot>),
    ) -> Result<TableDescription, DrillError> {
        let options = self.run.options;
        let ended = scratch::wait_restore(&self.clients, job_id, table, options.backoff, options.job_deadline).await;
        drop(slot);
        if let Some(shared) = shared
            && let Err(error) = shared.release().await
        {
            tracing::warn!(%error, "releasing the shared restore slot failed; it frees itself when its lease expires");
        }
        ended?;
        let mut tags = scratch::scratch_tags(self.run.name(), &self.run.drill_id);
        let (key, until) = scratch::expires_tag(SystemTime::now() + options.table_deadline + scratch::SCRATCH_HOLD);
        tags.insert(key, until);
        scratch::tag(&self.clients, table, &tags).await?;
        scratch::wait_active(&self.clients, table, options.backoff, options.table_deadline).await
    }

    async fn run_checks(
        &mut self,
        source: &TableDescription,
        restored: &TableDescription,
        reference: Option<&Result<reference::Prepared, DrillError>>,
    ) {
        let tables = checks::Tables {
            source_clients: &self.run.primary,
            restored_clients: &self.clients,
            source,
            restored,
            canary: self.run.canary.as_ref().map(|placed| &placed.canary),
            segments: self.run.options.scan_segments,
            seed: u64::from_str_radix(&self.run.drill_id, 16).unwrap_or_default(),
            basis: match reference {
                Some(prepared) => checks::Basis::PointInTime(prepared.as_ref()),
                None => checks::Basis::Source(self.changed_since()),
            },
            outcome: tokio::sync::OnceCell::new(),
            filtered: tokio::sync::OnceCell::new(),
        };
        for check in &self.run.policy.spec.verify.checks {
            let result = checks::run(check, &tables).await;
            self.result.checks.push(result);
        }
    }

    /// `verify.changed_since`, cut at the window's start: the recovery
    /// point's creation minus the consistency margin.
    fn changed_since(&self) -> Option<checks::changed_since::ChangedSince> {
        let attribute = self.run.policy.spec.verify.changed_since.as_ref()?.attribute.clone();
        let created = self.result.recovery_point.as_ref()?.created_at;
        let cutoff = created.checked_sub(self.run.options.consistency_margin).unwrap_or(SystemTime::UNIX_EPOCH);
        Some(checks::changed_since::ChangedSince { attribute, cutoff })
    }

    /// Deletes the scratch table if a restore was started, whatever happened.
    async fn clean_up(&mut self) {
        if let (true, Some(table)) = (self.restore_started, self.result.scratch_table.clone()) {
            let options = self.run.options;
            self.result.scratch_cleanup = scratch::delete(&self.clients, &table, options.backoff, options.table_deadline).await;
            crate::failpoint::hit("drill/scratch-deleted");
        }
    }
}

/// Renews the scratch table's expiry tag every quarter of
/// [`scratch::SCRATCH_HOLD`], for as long as it is polled. A failed renewal
/// is logged: the state store's lease still guards the table, and the next
/// renewal may succeed.
async fn renew_claim(clients: &Clients, table: &str) {
    loop {
        tokio::time::sleep(scratch::SCRATCH_HOLD / 4).await;
        if let Err(error) = scratch::claim(clients, table, scratch::SCRATCH_HOLD).await {
            tracing::warn!(%error, table, "renewing the claim on the scratch table failed");
        }
    }
}

/// The role AWS Backup restores central recovery points with, in a backup
/// account: an output of its `drctl-central` stack there.
async fn central_restore_role(clients: &Clients) -> Result<String, DrillError> {
    use crate::render::central::{CENTRAL_STACK, RESTORE_ROLE_OUTPUT};
    let action = || format!("DescribeStacks {CENTRAL_STACK} in {}", clients.region);
    let described = clients.cloudformation.describe_stacks().stack_name(CENTRAL_STACK).send().await.map_err(|e| DrillError::Aws {
        action: action(),
        why: format!("{} (run `drctl bootstrap --backup-account` there)", crate::aws::describe(&e)),
    })?;
    let stack = described.stacks().first();
    stack
        .into_iter()
        .flat_map(|s| s.outputs())
        .find(|o| o.output_key() == Some(RESTORE_ROLE_OUTPUT))
        .and_then(|o| o.output_value())
        .map(str::to_string)
        .ok_or_else(|| DrillError::Aws { action: action(), why: format!("no {RESTORE_ROLE_OUTPUT} output") })
}

/// The post-restore gaps, each table's settings read in its own region
/// and account (`same_place`: the restore is in the source's).
async fn post_restore_gaps(
    source_clients: &Clients,
    restored_clients: &Clients,
    same_place: bool,
    source: &TableDescription,
    restored: &TableDescription,
) -> Vec<Gap> {
    if same_place {
        return gaps::find(restored_clients, source, restored).await;
    }
    let (source_settings, restored_settings) = tokio::join!(gaps::read(source_clients, source), gaps::read(restored_clients, restored));
    gaps::compare(source.table_name().unwrap_or_default(), &source_settings, &restored_settings)
}

fn since(start: SystemTime) -> Duration {
    SystemTime::now().duration_since(start).unwrap_or(Duration::ZERO)
}
