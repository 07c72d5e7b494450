//! The restore drill: a policy is proven by restoring a recovery
//! point into a scratch table and checking it against the source, in every
//! drill region.
//!
//! [`prove`] runs a policy's whole drill: ONE recovery point in the primary
//! region (an on-demand backup job into the policy's vault, preceded by the
//! canary, or the newest completed point), then, in each region of
//! `verify.regions` and at the same time, a restore of that point into
//! `drctl-drill-<name>-<short-id>`: the primary restores it directly; a DR
//! region first gets it by a copy job from the primary vault into its DR
//! vault. Each region waits for ACTIVE, runs `status` and the policy's
//! checks against the source table (in the primary region), lists the
//! post-restore gaps, measures RTO and RPO against the objectives, and
//! deletes its scratch table. The canary goes once every region is done.
//!
//! # Guarantees
//! - [`prove`] always returns one [`DrillResult`] per drill region;
//!   infrastructure failures (a FAILED job with its status message, a
//!   timeout, an AWS error) are a failed drill with the reason, never a
//!   panic. One region's failure does not stop the others.
//! - Every job and scratch table is told to the [`Journal`] before the drill
//!   goes on (a scratch table before its restore starts), and every job
//!   carries an idempotency token derived from the drill id: a drill resumed
//!   with [`Options::resume`] waits for the jobs already started instead of
//!   starting new ones, and a Start repeated after a crash gets the same job.
//! - The scratch table is deleted after every drill that started a restore,
//!   passed or failed, and only when its name has the `drctl-drill-` prefix
//!   and it carries `drctl:scratch=true`; otherwise it is left alone and the
//!   drill fails saying so. A scratch name already taken is refused before
//!   any restore, except the one a resumed drill's record names, which must
//!   be the very name its drill id gives.
//! - The canary is the only write to a source table: a conditional put that
//!   never overwrites an item, removed after every region's checks, and only
//!   while it still carries this drill's id.
//! - A DR region is drilled only with AWS Backup's advanced DynamoDB
//!   features on in the primary region (checked first); when they are off,
//!   that region's drill fails with the command that turns them on, and the
//!   primary region is still drilled.
//! - Quotas: restore jobs across every drill sharing
//!   [`Options::restore_slots`] never exceed its permits (default 10, never
//!   above AWS Backup's 50 per account), and one backup or copy job per
//!   resource runs at a time in the process ([`quota`]).
//! - Missing the RTO or RPO objective, a failed check, or a cleanup that
//!   did not finish fails the drill.
//!
//! # Caveats
//! - A process killed mid-drill leaves its scratch table and canary until
//!   the drill is resumed (the state store keeps the [`Resume`] record) or
//!   `drctl gc` finds the table by its tag or its recorded name. A table
//!   whose restore finished while no drill watched carries no scratch tag
//!   until a resumed drill tags it.
//! - A restore job still running at its deadline is not cancelled (AWS
//!   Backup cannot cancel restores): the table it creates later is not
//!   tagged and is left for `gc`, which finds it through the name recorded
//!   in the state store.
//! - `item_count`, `sample` and `fingerprint` compare with a basis the
//!   policy declares: point-in-time exports of the source around the
//!   recovery point (PITR on, `reference`), the live source leaving out
//!   items changed since (`changed_since`), or the live source of a table
//!   declared `static` (docs/drills.md).
//! - A drill resumed after one of its regions deleted its scratch table
//!   (the checks ran, the run died before recording them) restores that
//!   region again: the evidence is gone, and a second restore costs less
//!   than a false verdict.
//! - RTO is measured from the restore job's start to the end of the checks
//!   (time to ACTIVE is reported too); a DR region's copy job is not part of
//!   it (in a real recovery the copy already exists). A resumed drill counts
//!   from the restore job's creation as AWS Backup reports it, so time drctl
//!   spent dead counts against the objective: never under-reported.
//! - RPO is the age of the recovery point in the primary region when the
//!   drill started (zero for an on-demand backup, which the canary proves);
//!   a DR region reports the age of the same source point. A resumed drill
//!   measures from its own start.
//! - With `recovery_point: latest`, a DR region reuses a completed copy of
//!   the chosen point already in its vault (a scheduled copy), and copies
//!   it otherwise.
//! - The schema check compares SSE key ARNs literally: a DR restore
//!   encrypted with a customer key of its own region shows as a difference.
//! - Both quotas are per process; several drctl processes against one
//!   account share AWS's limits without knowing of each other.

pub mod canary;
pub mod checks;
pub mod compare;
mod context;
pub mod copy;
pub mod error;
pub mod gaps;
mod jobs;
pub mod journal;
pub mod poll;
pub mod quota;
pub mod recovery;
pub mod reference;
mod region;
pub mod report;
mod run;
pub mod scratch;

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::aws::Aws;
use crate::policy::TablePolicy;
pub use canary::Canary;
pub use checks::CheckResult;
pub use error::DrillError;
pub use journal::{Event, Journal, NoJournal, Resume};
pub use poll::Backoff;
pub use quota::QuotaError;
pub use recovery::RecoveryPoint;
pub use scratch::Cleanup;

/// `canary_cleanup` when the canary was removed from the source.
pub const CANARY_REMOVED: &str = "removed";

/// How a drill waits, scans and shares AWS's quotas, and what it resumes.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long the backup job, each copy job, and each restore job may take.
    pub job_deadline: Duration,
    /// How long the scratch table may take to become ACTIVE, or to go.
    pub table_deadline: Duration,
    pub backoff: Backoff,
    /// Parallel scan segments for `item_count` and `fingerprint`.
    pub scan_segments: u32,
    /// How far the point-in-time reference's window reaches beyond the
    /// recovery point's creation and completion (AWS documents 60 s for a
    /// DynamoDB backup; see [`reference`]).
    pub consistency_margin: Duration,
    /// Drill only these regions (`drctl verify --region`); `None`: every
    /// region of `verify.regions`.
    pub regions: Option<Vec<String>>,
    /// The interrupted drill to pick up, from the state store.
    pub resume: Option<Resume>,
    /// Concurrent restore jobs of every drill sharing this semaphore; the
    /// default is the process's own ([`quota::process_restore_slots`]).
    pub restore_slots: Arc<Semaphore>,
    /// Restore slots shared with every process on the state store (taken
    /// after `restore_slots`); `None`: the process's bound alone.
    pub shared_slots: Option<crate::state::slots::SharedSlots>,
    /// The accounts of drill targets in other accounts (`<account>/<region>`
    /// in `verify.regions`), or why drctl cannot act there.
    pub accounts: std::collections::BTreeMap<String, Result<Arc<crate::aws::Aws>, String>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            job_deadline: Duration::from_secs(6 * 3600),
            table_deadline: Duration::from_secs(3600),
            backoff: Backoff::default(),
            scan_segments: 8,
            consistency_margin: reference::DEFAULT_MARGIN,
            regions: None,
            resume: None,
            restore_slots: quota::process_restore_slots(),
            shared_slots: None,
            accounts: std::collections::BTreeMap::new(),
        }
    }
}

impl Options {
    /// These options with a bound of `permits` concurrent restore jobs of
    /// their own; refused above AWS Backup's limit of 50, and at zero.
    pub fn with_restore_slots(self, permits: usize) -> Result<Self, QuotaError> {
        Ok(Self { restore_slots: quota::restore_slots(permits)?, ..self })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Passed,
    /// The recovery is wrong or too slow: a job or a check failed, an
    /// objective was missed, a recovery point is missing.
    Failed,
    /// drctl or AWS could not complete the drill (throttled or failing past
    /// retries, the state store down, the process stopping): nothing is
    /// known against the recovery. Retried soon; never replaces a proof.
    Inconclusive,
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
    /// The point-in-time reference the data checks used, if they used one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<reference::ReferenceReport>,
    pub scratch_cleanup: Cleanup,
    /// What became of the canary, when one was written.
    pub canary_cleanup: Option<String>,
    /// The infrastructure failure that stopped the drill, if any.
    pub error: Option<String>,
    /// `recovery_point: latest` found no completed recovery point to drill:
    /// the schedule may not have run yet since the policy was applied.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_recovery_point: bool,
    /// The error that stopped the drill says "could not finish", not
    /// "wrong" (see [`DrillError::is_inconclusive`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    pub verdict: Verdict,
    /// Why the verdict is a failure (empty when it passed).
    pub reasons: Vec<String>,
}

impl DrillResult {
    /// Records the error that stopped the drill.
    pub(crate) fn stopped_by(&mut self, error: &DrillError) {
        self.error = Some(error.to_string());
        self.no_recovery_point = matches!(error, DrillError::NoRecoveryPoint { .. });
        self.interrupted = error.is_inconclusive();
    }

    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Passed
    }

    pub fn inconclusive(&self) -> bool {
        self.verdict == Verdict::Inconclusive
    }

    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// Proves `policy`: one recovery point in the primary region, then a
/// restore and the checks in each drill region (the regions of
/// `verify.regions`, or [`Options::regions`]), concurrently. One result per
/// region, in the order the regions are listed. See the module docs for
/// what it guarantees.
#[tracing::instrument(skip_all, fields(policy = %policy.metadata.name))]
pub async fn prove(aws: &Aws, policy: &TablePolicy, options: &Options, journal: &dyn Journal) -> Vec<DrillResult> {
    context::Run::prove(aws, policy, options, journal).await
}

/// A random 16-hex-digit drill id; its first 8 digits name the scratch table.
pub fn new_drill_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.write_u128(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    format!("{:016x}", hasher.finish())
}

/// Whether `id` has the shape of a drill id (16 hexadecimal digits): the
/// scratch name and the canary's nonce are cut from it.
pub fn is_drill_id(id: &str) -> bool {
    id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit())
}

impl DrillResult {
    /// A result with nothing done yet (and a failed verdict until judged).
    fn blank(policy: &TablePolicy, region: &str, drill_id: &str) -> Self {
        Self {
            policy: policy.metadata.name.clone(),
            region: region.to_string(),
            drill_id: drill_id.to_string(),
            source_table: policy.spec.table.clone(),
            recovery_point: None,
            copy_job_id: None,
            restore_job_id: None,
            scratch_table: None,
            checks: Vec::new(),
            rto: None,
            rpo: None,
            gaps: Vec::new(),
            reference: None,
            scratch_cleanup: Cleanup::NotCreated,
            canary_cleanup: None,
            error: None,
            no_recovery_point: false,
            interrupted: false,
            verdict: Verdict::Failed,
            reasons: Vec::new(),
        }
    }
}

/// The verdict and its reasons from what a drill recorded: it passes only
/// with no error, every check passed, both objectives measured and met, and
/// everything cleaned up.
fn judge(result: &mut DrillResult) {
    // What speaks against the recovery itself: failed checks, missed objectives.
    let mut against: Vec<String> =
        result.checks.iter().filter(|c| !c.passed && !c.inconclusive).map(|c| format!("{}: {}", c.name, c.reason)).collect();
    let unanswered: Vec<String> =
        result.checks.iter().filter(|c| !c.passed && c.inconclusive).map(|c| format!("{}: {}", c.name, c.reason)).collect();
    result.interrupted |= !unanswered.is_empty();
    if let Some(rto) = result.rto.as_ref().filter(|r| !r.met) {
        against.push(format!("RTO {:.0}s exceeds the objective {}s", rto.measured_seconds, rto.objective_seconds));
    }
    if let Some(rpo) = result.rpo.as_ref().filter(|r| !r.met) {
        against.push(format!("RPO {:.0}s exceeds the objective {}s", rpo.measured_seconds, rpo.objective_seconds));
    }
    let mut reasons: Vec<String> = result.error.iter().cloned().collect();
    let judged_the_recovery = !against.is_empty();
    reasons.extend(against);
    reasons.extend(unanswered);
    if !result.scratch_cleanup.is_ok() {
        reasons.push(format!("scratch table not cleaned up: {:?}", result.scratch_cleanup));
    }
    if let Some(canary) = result.canary_cleanup.as_ref().filter(|c| c.as_str() != CANARY_REMOVED) {
        reasons.push(format!("canary {canary}"));
    }
    if reasons.is_empty() && (result.rto.is_none() || result.rpo.is_none()) {
        reasons.push("the drill ended without measuring RTO and RPO".to_string());
    }
    result.verdict = match (reasons.is_empty(), judged_the_recovery, result.interrupted) {
        (true, _, _) => Verdict::Passed,
        (false, false, true) => Verdict::Inconclusive,
        (false, _, _) => Verdict::Failed,
    };
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
            reference: None,
            scratch_cleanup: Cleanup::Deleted,
            canary_cleanup: Some(CANARY_REMOVED.into()),
            error: None,
            no_recovery_point: false,
            interrupted: false,
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

    /// A drill stopped by "could not finish" is inconclusive; one stopped
    /// by a real failure, or with a failed check, is failed whatever else.
    #[test]
    fn a_drill_stopped_by_a_transient_error_is_inconclusive_unless_something_failed() {
        let stop = |error: DrillError, check_fails: bool| {
            judged(|r| {
                r.rto = None;
                r.checks.truncate(1);
                r.checks[0].passed = !check_fails;
                r.stopped_by(&error);
            })
        };
        let throttled = DrillError::Transient { action: "StartBackupJob".into(), why: "ThrottlingException: Rate exceeded".into() };
        let result = stop(throttled.clone(), false);
        assert_eq!(result.verdict, Verdict::Inconclusive, "{result:#?}");
        assert_eq!(result.reasons, ["StartBackupJob: ThrottlingException: Rate exceeded"]);
        assert_eq!(stop(DrillError::Stopping, false).verdict, Verdict::Inconclusive);
        assert_eq!(stop(throttled, true).verdict, Verdict::Failed, "a failed check is a failure");
        let job = DrillError::JobFailed { kind: "restore", job_id: "j".into(), state: "FAILED".into(), message: "m".into() };
        assert_eq!(stop(job, false).verdict, Verdict::Failed);
        let denied = DrillError::Refused { action: "StartRestoreJob".into(), why: "AccessDeniedException".into() };
        assert_eq!(stop(denied, false).verdict, Verdict::Inconclusive, "drctl could not ask");
        let refused = DrillError::Aws { action: "StartRestoreJob".into(), why: "InvalidParameterValueException".into() };
        assert_eq!(stop(refused, false).verdict, Verdict::Failed);
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
        assert!(is_drill_id(&a) && !is_drill_id(&a[..15]) && !is_drill_id("0123456789abcdeZ"));
    }

    /// Compiles only while a drill's future may move between worker
    /// threads, as the controller's spawned reconciles need.
    #[allow(dead_code)]
    fn prove_is_send<'a>(
        aws: &'a Aws,
        policy: &'a TablePolicy,
        options: &'a Options,
        journal: &'a dyn Journal,
    ) -> impl std::future::Future<Output = Vec<DrillResult>> + Send + 'a {
        prove(aws, policy, options, journal)
    }
}
