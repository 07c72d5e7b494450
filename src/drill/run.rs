//! One drill of a policy over its drill regions: the drill id, the checks
//! that need no AWS call (which regions, resumable or not), then the part
//! every region shares, decided once in the primary region (the source
//! table, the backup role, the canary and the recovery point), then every
//! region at once ([`super::region`]), then the canary's removal and the
//! verdicts.

use std::time::SystemTime;

use aws_sdk_dynamodb::types::TableDescription;
use futures_util::future::join_all;

use super::canary::{self, Canary};
use super::context::{PlacedCanary, Run, Shared, Target, days, drill_id, drill_regions, target};
use super::journal::{Event, Journal};
use super::recovery::{self, RecoveryPoint};
use super::region::RegionDrill;
use super::{CANARY_REMOVED, DrillError, DrillResult, Options, copy, judge, quota, reference, scratch};
use crate::aws::Aws;
use crate::policy::TablePolicy;
use crate::policy::model::{Check, RecoveryPointChoice};
use crate::render;

impl<'a> Run<'a> {
    pub(super) async fn prove(aws: &'a Aws, policy: &'a TablePolicy, options: &'a Options, journal: &'a dyn Journal) -> Vec<DrillResult> {
        let targets: Vec<(String, Result<Target, DrillError>)> =
            drill_regions(policy, options).into_iter().map(|region| (region.clone(), target(policy, &region))).collect();
        let drill_id = match drill_id(options.resume.as_ref()) {
            Ok(id) => id,
            Err(error) => {
                let raw = options.resume.as_ref().map(|r| r.drill_id.as_str()).unwrap_or_default();
                return targets.iter().map(|(region, _)| failed(policy, region, raw, &error)).collect();
            }
        };
        if targets.iter().all(|(_, target)| target.is_err()) {
            let refused = |(region, target): &(String, Result<Target, DrillError>)| match target {
                Err(error) => failed(policy, region, &drill_id, error),
                Ok(_) => DrillResult::blank(policy, region, &drill_id),
            };
            return targets.iter().map(refused).collect();
        }
        let primary = aws.region(&policy.spec.region);
        let mut run = Run {
            aws,
            policy,
            options,
            journal,
            drill_id,
            started: SystemTime::now(),
            primary,
            canary: None,
            reference: tokio::sync::OnceCell::new(),
        };
        run.drill(&targets).await
    }

    async fn drill(&mut self, targets: &[(String, Result<Target, DrillError>)]) -> Vec<DrillResult> {
        tracing::info!(drill_id = %self.drill_id, resumed = self.resume().is_some(), "drill started");
        // The journal's contract: a step it cannot take stops the drill before
        // its next side effect (here the canary, whose key the drill id
        // gives), and the drill is inconclusive; the clean-up of what the
        // drill already made still runs.
        let started = self
            .journal
            .record(&Event::Started { drill_id: self.drill_id.clone() })
            .await
            .map_err(|why| DrillError::Journal { what: format!("the start of drill {}", self.drill_id), why });
        crate::failpoint::hit("drill/started-recorded");
        let any_dr = targets.iter().any(|(_, t)| matches!(t, Ok(Target::Dr { .. } | Target::Account { .. })));
        let any_primary = targets.iter().any(|(_, t)| matches!(t, Ok(Target::Primary)));
        let dr_blocked = match any_dr {
            true => copy::ensure_advanced_backup(&self.primary).await.err(),
            false => None,
        };
        let shared = match (started, any_primary, &dr_blocked) {
            (Err(unrecorded), _, _) => Err(unrecorded),
            (Ok(()), false, Some(blocked)) => Err(blocked.clone()),
            (Ok(()), _, _) => self.prepare().await,
        };
        let this = &*self;
        let regions = targets.iter().map(|(region, target)| {
            let drill = RegionDrill::new(this, region, target);
            drill.run(target, &shared, dr_blocked.as_ref())
        });
        // The reference is built while the regions restore (it waits for
        // PITR to pass the window, which takes minutes on AWS).
        let early_reference = async {
            if let (Ok(shared), true) = (&shared, this.wants_reference()) {
                this.reference(shared).await;
            }
        };
        let (mut results, ()) = tokio::join!(join_all(regions), Box::pin(early_reference));
        let exports_cleanup = self.remove_exports(&shared).await;
        let canary_cleanup = self.remove_canary().await;
        crate::failpoint::hit("drill/canary-removed");
        for result in &mut results {
            result.canary_cleanup = canary_cleanup.clone();
            if let (Some(report), Some(cleanup)) = (result.reference.as_mut(), &exports_cleanup) {
                report.cleanup = Some(cleanup.clone());
            }
            judge(result);
        }
        results
    }

    /// Deletes this drill's exports, if it asked for any; what became of them.
    async fn remove_exports(&self, shared: &Result<Shared, DrillError>) -> Option<String> {
        let (Some(_), Ok(shared)) = (self.reference.get(), shared) else { return None };
        match reference::place(&self.primary, &shared.source, self.name(), &self.drill_id).await {
            Ok(place) => Some(reference::clean_up(&self.primary, &place).await),
            Err(error) => Some(format!("not deleted: {error}")),
        }
    }

    /// The source table, the backup role, the canary and the recovery point.
    async fn prepare(&mut self) -> Result<Shared, DrillError> {
        let table = &self.policy.spec.table;
        let source = scratch::describe(&self.primary, table)
            .await?
            .ok_or_else(|| DrillError::Aws { action: format!("DescribeTable {table}"), why: "the source table does not exist".into() })?;
        let role = recovery::backup_role(&self.primary, &render::role_stack(self.policy)).await?;
        let point = self.choose_recovery_point(&source, &role).await?;
        Ok(Shared { source, role, point })
    }

    async fn choose_recovery_point(&mut self, source: &TableDescription, role: &str) -> Result<RecoveryPoint, DrillError> {
        let vault = render::vault_in(self.policy, &self.policy.spec.region);
        let resource = source.table_arn().unwrap_or_default().to_string();
        match self.policy.spec.verify.recovery_point {
            RecoveryPointChoice::Latest => recovery::latest(&self.primary, &vault, &resource).await,
            RecoveryPointChoice::OnDemand => {
                if self.policy.spec.verify.checks.contains(&Check::Canary(true)) {
                    self.place_canary(source).await?;
                }
                if self.resume().and_then(|r| r.backup_job_id.as_ref()).is_none() {
                    self.settle_before_backup(source).await?;
                }
                self.back_up(&vault, &resource, role).await
            }
        }
    }

    /// Waits, before an on-demand backup is requested, until what the drill
    /// proves is certain to be in it. AWS: a backup requested at T holds
    /// every write committed before T − 60 s; later writes may or may not
    /// be in it. So the canary is written a margin before the request, and
    /// with the point-in-time reference the window's start (creation −
    /// margin) must lie within the table's PITR window, which a PITR the
    /// apply just turned on does not reach yet.
    async fn settle_before_backup(&self, source: &TableDescription) -> Result<(), DrillError> {
        let margin = self.options.consistency_margin;
        let mut until = SystemTime::now();
        if self.canary.as_ref().is_some_and(|placed| placed.in_source) {
            until += margin;
        }
        if self.wants_reference() {
            let table = source.table_name().unwrap_or_default();
            if let Some((earliest, _)) = reference::export::restorable_window(&self.primary, table).await? {
                until = until.max(earliest + margin);
            }
        }
        if let Ok(wait) = until.duration_since(SystemTime::now()) {
            tracing::info!(seconds = wait.as_secs_f64(), "waiting for the backup's consistency margin before requesting it");
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// The on-demand backup: the resumed drill's job, or a new one (told to
    /// the journal before it is waited for), one per resource at a time.
    async fn back_up(&self, vault: &str, resource: &str, role: &str) -> Result<RecoveryPoint, DrillError> {
        let _one_job = quota::lock_resource(resource).await;
        let job_id = match self.resume().and_then(|r| r.backup_job_id.clone()) {
            Some(job_id) => job_id,
            None => {
                let token = format!("drctl-drill-{}-backup", self.drill_id);
                let request = recovery::BackupRequest {
                    vault,
                    resource_arn: resource,
                    role_arn: role,
                    idempotency_token: &token,
                    delete_after_days: days(self.policy.spec.backup.retention.days_ceil()),
                    tags: render::tags_map(&self.policy.metadata.name).into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                };
                let job_id = recovery::start_backup(&self.primary, &request).await?;
                tracing::info!(%job_id, vault, "backup job started");
                crate::failpoint::hit("drill/backup-started");
                self.journal
                    .record(&Event::BackupStarted { job_id: job_id.clone() })
                    .await
                    .map_err(|why| DrillError::Journal { what: format!("backup job {job_id}"), why })?;
                crate::failpoint::hit("drill/backup-recorded");
                job_id
            }
        };
        recovery::wait_backup(&self.primary, vault, resource, &job_id, self.options.backoff, self.options.job_deadline).await
    }

    /// Writes the canary, or, resuming, takes over the one the interrupted
    /// drill wrote (its key and content follow from the drill id).
    async fn place_canary(&mut self, source: &TableDescription) -> Result<(), DrillError> {
        let table = self.policy.spec.table.clone();
        let nonce = u64::from_str_radix(&self.drill_id, 16).unwrap_or_default();
        let key = canary::canary_key(source.key_schema(), source.attribute_definitions(), nonce)
            .map_err(|why| DrillError::Canary { table: table.clone(), why })?;
        let dynamodb = &self.primary.dynamodb;
        let placed = match self.resume() {
            None => PlacedCanary { canary: canary::write(dynamodb, &table, key, &self.drill_id).await?, in_source: true },
            Some(resume) => {
                let item = canary::canary_item(&key, &self.drill_id);
                match canary::read(dynamodb, &table, &key).await? {
                    Some(found) if found == item => PlacedCanary { canary: Canary { table, key, item }, in_source: true },
                    Some(_) => {
                        let why = "an item with this drill's canary key exists but is not its canary".to_string();
                        return Err(DrillError::Canary { table, why });
                    }
                    // Already removed after the backup took it: check for it, remove nothing.
                    None if resume.backup_job_id.is_some() => PlacedCanary { canary: Canary { table, key, item }, in_source: false },
                    None => PlacedCanary { canary: canary::write(dynamodb, &table, key, &self.drill_id).await?, in_source: true },
                }
            }
        };
        self.canary = Some(placed);
        crate::failpoint::hit("drill/canary-placed");
        Ok(())
    }

    /// Removes the canary after every region's checks; what became of it.
    async fn remove_canary(&mut self) -> Option<String> {
        let placed = self.canary.take()?;
        if !placed.in_source {
            return Some(CANARY_REMOVED.to_string());
        }
        Some(match canary::remove(&self.primary.dynamodb, &placed.canary).await {
            Ok(()) => CANARY_REMOVED.to_string(),
            Err(error) => format!("not removed: {error}"),
        })
    }
}

/// A region's result for a drill that could not start there.
fn failed(policy: &TablePolicy, region: &str, drill_id: &str, error: &DrillError) -> DrillResult {
    let mut result = DrillResult::blank(policy, region, drill_id);
    result.stopped_by(error);
    judge(&mut result);
    result
}
