//! The restore drill (SPEC §5): a policy is proven by restoring a recovery
//! point into a scratch table and checking it against the source.
//!
//! One drill in the policy's primary region: choose the recovery point (an
//! on-demand backup job into the policy's vault, preceded by the canary, or
//! the newest completed point), restore it with an AWS Backup restore job
//! into `drctl-drill-<name>-<short-id>`, tag it as scratch, wait for ACTIVE,
//! run `status` and then the policy's checks, measure RTO and RPO against
//! the objectives, and clean up.
//!
//! # Guarantees
//! - [`run`] always returns a [`DrillResult`]; infrastructure failures
//!   (a FAILED job with its status message, a timeout, an AWS error) are a
//!   failed drill with the reason, never a panic.
//! - The scratch table is deleted after every drill that started a restore,
//!   passed or failed, and only when its name has the `drctl-drill-` prefix
//!   and it carries `drctl:scratch=true`; otherwise it is left alone and the
//!   drill fails saying so. A scratch name already taken is refused before
//!   any restore.
//! - The canary is the only write to a source table: a conditional put that
//!   never overwrites an item, removed afterwards only while it still
//!   carries this drill's id.
//! - Missing the RTO or RPO objective, a failed check, or a cleanup that
//!   did not finish fails the drill.
//!
//! # Caveats
//! - Primary region only; DR-region drills (copy jobs) are not here yet.
//! - Nothing is recorded in a state store yet, so a process killed
//!   mid-drill leaves its scratch table for a later `gc` to find by tag; the
//!   tag goes on right after the restore job completes, so a kill between
//!   the job's end and the tag leaves an untagged table that drctl will not
//!   delete.
//! - `item_count`, `sample` and `fingerprint` compare with the source as it
//!   is when the checks run, not as of the recovery point: they suit static
//!   tables. `sample` skips keys gone from the source, but an item changed in
//!   the source since the recovery point counts as a mismatch, because
//!   nothing in DynamoDB tells a later change from a bad restore.
//! - A restore job still running at its deadline is not cancelled (AWS
//!   Backup cannot cancel restores): the table it creates later is not
//!   tagged and is left for `gc`, which must find it through the restore job
//!   recorded in the state store.
//! - RTO is measured from the restore job's start to the end of the checks
//!   (time to ACTIVE is reported too); RPO is the age of the recovery point
//!   when the drill started (zero for an on-demand backup, which the canary
//!   proves).

pub mod canary;
pub mod checks;
pub mod error;
pub mod poll;
pub mod recovery;
pub mod scratch;

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::types::TableDescription;
use serde::Serialize;

use crate::aws::{Aws, Clients};
use crate::policy::TablePolicy;
use crate::policy::model::{Check, RecoveryPointChoice};
use crate::render;
pub use canary::Canary;
pub use checks::CheckResult;
pub use error::DrillError;
pub use poll::Backoff;
pub use recovery::RecoveryPoint;
pub use scratch::Cleanup;

/// `canary_cleanup` when the canary was removed from the source.
pub const CANARY_REMOVED: &str = "removed";

/// How a drill waits and scans.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long the backup job, and then the restore job, may take.
    pub job_deadline: Duration,
    /// How long the scratch table may take to become ACTIVE, or to go.
    pub table_deadline: Duration,
    pub backoff: Backoff,
    /// Parallel scan segments for `item_count` and `fingerprint`.
    pub scan_segments: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            job_deadline: Duration::from_secs(6 * 3600),
            table_deadline: Duration::from_secs(3600),
            backoff: Backoff::default(),
            scan_segments: 8,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Passed,
    Failed,
}

/// The measured recovery time against the objective.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rto {
    pub restore_to_active_seconds: f64,
    /// Restore start to checks done: the RTO measured.
    pub measured_seconds: f64,
    pub objective_seconds: u64,
    pub met: bool,
}

/// The recovery point's age at drill start against the objective.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rpo {
    pub measured_seconds: f64,
    pub objective_seconds: u64,
    pub met: bool,
}

/// A setting of the source table that the restored table lacks: AWS
/// restores do not carry it over, so a real recovery must re-apply it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// `point_in_time_recovery`, `ttl`, `streams`, `auto_scaling`, `tags`,
    /// `deletion_protection` or `resource_policy`.
    pub setting: String,
    pub source: String,
    pub restored: String,
    /// What to do after a real restore.
    pub action: String,
}

/// Everything a drill did and found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrillResult {
    pub policy: String,
    pub region: String,
    pub drill_id: String,
    pub source_table: String,
    pub recovery_point: Option<RecoveryPoint>,
    /// The copy job that brought the recovery point into this (DR) region.
    pub copy_job_id: Option<String>,
    pub restore_job_id: Option<String>,
    pub scratch_table: Option<String>,
    /// `status` first, then the policy's checks in order.
    pub checks: Vec<CheckResult>,
    pub rto: Option<Rto>,
    pub rpo: Option<Rpo>,
    /// Settings the restore did not carry over that a real recovery must re-apply.
    pub gaps: Vec<Gap>,
    pub scratch_cleanup: Cleanup,
    /// What became of the canary, when one was written.
    pub canary_cleanup: Option<String>,
    /// The infrastructure failure that stopped the drill, if any.
    pub error: Option<String>,
    pub verdict: Verdict,
    /// Why the verdict is a failure (empty when it passed).
    pub reasons: Vec<String>,
}

impl DrillResult {
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Passed
    }

    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// Runs one drill of `policy` in `region` (its primary region).
#[tracing::instrument(skip_all, fields(policy = %policy.metadata.name, region = %region))]
pub async fn run(aws: &Aws, policy: &TablePolicy, region: &str, options: &Options) -> DrillResult {
    let mut drill = Drill::new(aws.region(region), policy, options);
    let outcome = drill.prove().await;
    drill.clean_up().await;
    drill.finish(outcome)
}

/// A random 16-hex-digit drill id; its first 8 digits name the scratch table.
fn new_drill_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.write_u128(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    format!("{:016x}", hasher.finish())
}

/// One drill under way: its context and the result filled in as it goes,
/// so a failure part-way still reports what was done.
struct Drill<'a> {
    clients: Clients,
    policy: &'a TablePolicy,
    options: &'a Options,
    started: SystemTime,
    canary: Option<Canary>,
    restore_started: bool,
    result: DrillResult,
}

impl<'a> Drill<'a> {
    fn new(clients: Clients, policy: &'a TablePolicy, options: &'a Options) -> Self {
        let result = DrillResult {
            policy: policy.metadata.name.clone(),
            region: clients.region.clone(),
            drill_id: new_drill_id(),
            source_table: policy.spec.table.clone(),
            recovery_point: None,
            copy_job_id: None,
            restore_job_id: None,
            scratch_table: None,
            checks: Vec::new(),
            rto: None,
            rpo: None,
            gaps: Vec::new(),
            scratch_cleanup: Cleanup::NotCreated,
            canary_cleanup: None,
            error: None,
            verdict: Verdict::Failed,
            reasons: Vec::new(),
        };
        Self { clients, policy, options, started: SystemTime::now(), canary: None, restore_started: false, result }
    }

    fn name(&self) -> &str {
        &self.policy.metadata.name
    }

    /// Recovery point → restore → status → checks → RTO.
    async fn prove(&mut self) -> Result<(), DrillError> {
        if self.clients.region != self.policy.spec.region {
            return Err(DrillError::UnsupportedRegion { region: self.clients.region.clone(), primary: self.policy.spec.region.clone() });
        }
        let source = scratch::describe(&self.clients, &self.policy.spec.table).await?.ok_or_else(|| DrillError::Aws {
            action: format!("DescribeTable {}", self.policy.spec.table),
            why: "the source table does not exist".into(),
        })?;
        let role = recovery::backup_role(&self.clients, &render::stack_name(self.name())).await?;
        let point = self.choose_recovery_point(&source, &role).await?;
        self.result.rpo = Some(self.rpo(&point));
        let (restored, restore_start) = self.restore(&point, &role).await?;
        let to_active = restore_start.elapsed();
        self.run_checks(&source, &restored).await;
        let objective = self.policy.spec.objectives.rto.seconds();
        let measured = restore_start.elapsed();
        self.result.rto = Some(Rto {
            restore_to_active_seconds: to_active.as_secs_f64(),
            measured_seconds: measured.as_secs_f64(),
            objective_seconds: objective,
            met: measured.as_secs_f64() <= objective as f64,
        });
        Ok(())
    }

    async fn choose_recovery_point(&mut self, source: &TableDescription, role: &str) -> Result<RecoveryPoint, DrillError> {
        let vault = render::vault_name(self.name());
        let resource = source.table_arn().unwrap_or_default().to_string();
        let point = match self.policy.spec.verify.recovery_point {
            RecoveryPointChoice::Latest => recovery::latest(&self.clients, &vault, &resource).await?,
            RecoveryPointChoice::OnDemand => {
                if self.policy.spec.verify.checks.contains(&Check::Canary(true)) {
                    self.write_canary(source).await?;
                }
                let token = format!("drctl-drill-{}-backup", self.result.drill_id);
                let request = recovery::BackupRequest { vault: &vault, resource_arn: &resource, role_arn: role, idempotency_token: &token };
                recovery::on_demand(&self.clients, &request, self.options.backoff, self.options.job_deadline).await?
            }
        };
        self.result.recovery_point = Some(point.clone());
        Ok(point)
    }

    async fn write_canary(&mut self, source: &TableDescription) -> Result<(), DrillError> {
        let table = self.policy.spec.table.clone();
        let nonce = u64::from_str_radix(&self.result.drill_id, 16).unwrap_or_default();
        let key = canary::canary_key(source.key_schema(), source.attribute_definitions(), nonce)
            .map_err(|why| DrillError::Canary { table: table.clone(), why })?;
        self.canary = Some(canary::write(&self.clients.dynamodb, &table, key, &self.result.drill_id).await?);
        Ok(())
    }

    fn rpo(&self, point: &RecoveryPoint) -> Rpo {
        let age = self.started.duration_since(point.created_at).unwrap_or(Duration::ZERO);
        let objective = self.policy.spec.objectives.rpo.seconds();
        Rpo { measured_seconds: age.as_secs_f64(), objective_seconds: objective, met: age.as_secs_f64() <= objective as f64 }
    }

    /// Restores into a fresh scratch table, tags it, and waits for ACTIVE
    /// (the `status` check); returns the table and when the restore started.
    async fn restore(&mut self, point: &RecoveryPoint, role: &str) -> Result<(TableDescription, Instant), DrillError> {
        let table = scratch::scratch_name(self.name(), &self.result.drill_id[..8]);
        scratch::ensure_absent(&self.clients, &table).await?;
        self.result.scratch_table = Some(table.clone());
        let token = format!("drctl-drill-{}-restore", self.result.drill_id);
        let request = scratch::RestoreRequest { recovery_point_arn: &point.arn, role_arn: role, table: &table, idempotency_token: &token };
        let started = Instant::now();
        self.restore_started = true;
        let job_id = scratch::start_restore(&self.clients, &request).await?;
        self.result.restore_job_id = Some(job_id.clone());
        let waited = self.wait_for_restored_table(&job_id, &table).await;
        self.result.checks.push(checks::status(waited.as_ref().map(|_| started.elapsed())));
        waited.map(|table| (table, started))
    }

    async fn wait_for_restored_table(&self, job_id: &str, table: &str) -> Result<TableDescription, DrillError> {
        let (backoff, options) = (self.options.backoff, self.options);
        scratch::wait_restore(&self.clients, job_id, backoff, options.job_deadline).await?;
        scratch::tag(&self.clients, table, &scratch::scratch_tags(self.name(), &self.result.drill_id)).await?;
        scratch::wait_active(&self.clients, table, backoff, options.table_deadline).await
    }

    async fn run_checks(&mut self, source: &TableDescription, restored: &TableDescription) {
        let tables =
            checks::Tables { clients: &self.clients, source, restored, canary: self.canary.as_ref(), segments: self.options.scan_segments };
        for check in &self.policy.spec.verify.checks {
            let result = checks::run(check, &tables).await;
            self.result.checks.push(result);
        }
    }

    /// Deletes the scratch table (if a restore was started) and removes the
    /// canary (if one was written), whatever happened before.
    async fn clean_up(&mut self) {
        if let (true, Some(table)) = (self.restore_started, self.result.scratch_table.clone()) {
            self.result.scratch_cleanup = scratch::delete(&self.clients, &table, self.options.backoff, self.options.table_deadline).await;
        }
        if let Some(canary) = self.canary.take() {
            self.result.canary_cleanup = Some(match canary::remove(&self.clients.dynamodb, &canary).await {
                Ok(()) => CANARY_REMOVED.to_string(),
                Err(error) => format!("not removed: {error}"),
            });
        }
    }

    fn finish(mut self, outcome: Result<(), DrillError>) -> DrillResult {
        if let Err(error) = outcome {
            self.result.error = Some(error.to_string());
        }
        judge(&mut self.result);
        self.result
    }
}

/// The verdict and its reasons from what a drill recorded: it passes only
/// with no error, every check passed, both objectives measured and met, and
/// everything cleaned up.
fn judge(result: &mut DrillResult) {
    let mut reasons: Vec<String> = result.error.iter().cloned().collect();
    reasons.extend(result.checks.iter().filter(|c| !c.passed).map(|c| format!("{}: {}", c.name, c.reason)));
    if let Some(rto) = result.rto.as_ref().filter(|r| !r.met) {
        reasons.push(format!("RTO {:.0}s exceeds the objective {}s", rto.measured_seconds, rto.objective_seconds));
    }
    if let Some(rpo) = result.rpo.as_ref().filter(|r| !r.met) {
        reasons.push(format!("RPO {:.0}s exceeds the objective {}s", rpo.measured_seconds, rpo.objective_seconds));
    }
    if !result.scratch_cleanup.is_ok() {
        reasons.push(format!("scratch table not cleaned up: {:?}", result.scratch_cleanup));
    }
    if let Some(canary) = result.canary_cleanup.as_ref().filter(|c| c.as_str() != CANARY_REMOVED) {
        reasons.push(format!("canary {canary}"));
    }
    if reasons.is_empty() && (result.rto.is_none() || result.rpo.is_none()) {
        reasons.push("the drill ended without measuring RTO and RPO".to_string());
    }
    result.verdict = if reasons.is_empty() { Verdict::Passed } else { Verdict::Failed };
    result.reasons = reasons;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passing() -> DrillResult {
        let mut result = DrillResult {
            policy: "p".into(),
            region: "us-east-1".into(),
            drill_id: "0123456789abcdef".into(),
            source_table: "T".into(),
            recovery_point: None,
            copy_job_id: None,
            restore_job_id: Some("J".into()),
            scratch_table: Some("drctl-drill-p-01234567".into()),
            checks: vec![checks::status(Ok(Duration::from_secs(3)))],
            rto: Some(Rto { restore_to_active_seconds: 3.0, measured_seconds: 5.0, objective_seconds: 3600, met: true }),
            rpo: Some(Rpo { measured_seconds: 0.0, objective_seconds: 60, met: true }),
            gaps: Vec::new(),
            scratch_cleanup: Cleanup::Deleted,
            canary_cleanup: Some(CANARY_REMOVED.into()),
            error: None,
            verdict: Verdict::Failed,
            reasons: Vec::new(),
        };
        judge(&mut result);
        result
    }

    fn judged(change: impl FnOnce(&mut DrillResult)) -> DrillResult {
        let mut result = passing();
        change(&mut result);
        judge(&mut result);
        result
    }

    #[test]
    fn a_drill_with_everything_met_passes() {
        let result = passing();
        assert_eq!((result.verdict, result.reasons), (Verdict::Passed, vec![]));
    }

    #[test]
    fn a_missed_objective_fails_the_drill() {
        let result = judged(|r| {
            r.rto = Some(Rto { restore_to_active_seconds: 50.0, measured_seconds: 4000.0, objective_seconds: 3600, met: false })
        });
        assert_eq!(result.verdict, Verdict::Failed);
        assert_eq!(result.reasons, ["RTO 4000s exceeds the objective 3600s"]);
        let result = judged(|r| r.rpo = Some(Rpo { measured_seconds: 90.0, objective_seconds: 60, met: false }));
        assert_eq!(result.reasons, ["RPO 90s exceeds the objective 60s"]);
    }

    #[test]
    fn a_failed_check_an_error_or_a_left_table_fails_the_drill() {
        let result = judged(|r| r.checks[0].passed = false);
        assert!(result.reasons[0].starts_with("status: "), "{:?}", result.reasons);
        let result = judged(|r| r.error = Some("restore job J ended FAILED: no capacity".into()));
        assert_eq!(result.reasons, ["restore job J ended FAILED: no capacity"]);
        let result = judged(|r| r.scratch_cleanup = Cleanup::Refused("not tagged".into()));
        assert!(result.reasons[0].contains("not cleaned up"), "{:?}", result.reasons);
        let result = judged(|r| r.canary_cleanup = Some("not removed: throttled".into()));
        assert_eq!(result.reasons, ["canary not removed: throttled"]);
    }

    #[test]
    fn a_drill_that_measured_nothing_does_not_pass() {
        let result = judged(|r| r.rto = None);
        assert_eq!(result.verdict, Verdict::Failed);
    }

    #[test]
    fn drill_ids_are_sixteen_hex_digits_and_differ() {
        let (a, b) = (new_drill_id(), new_drill_id());
        assert!(a.len() == 16 && a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }
}
