//! The state store: per policy, what is desired, what is applied,
//! the last drill, the step in flight and the lease, behind one trait with a
//! local-file backend (the default) and a DynamoDB backend for CI and several
//! replicas.
//!
//! # Guarantees
//! - Every write is a compare-and-swap on the record's `version`: a writer
//!   that read an older version gets [`StateError::Conflict`] and nothing is
//!   written. Leases ([`lease`]) are built on that alone, so they hold for
//!   every backend.
//! - A record is replaced whole or not at all (the file backend writes a
//!   temporary file, syncs it and renames it over the old one).
//!
//! # Caveats
//! - Times are Unix seconds of the machine's clock; leases tolerate clock
//!   skew between replicas only up to their time to live.

pub mod dynamodb;
pub mod file;
pub mod lease;
pub mod slots;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use dynamodb::DynamoStore;
pub use file::FileStore;
pub use lease::{Lease, LeaseError};

/// The newest evidence entries a record keeps (older ones are dropped so a
/// record stays far below DynamoDB's 400 KB item limit).
pub const EVIDENCE_KEPT: usize = 20;

/// What drctl knows of one policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyState {
    pub policy: String,
    /// Bumped by every write; the compare-and-swap token.
    #[serde(default)]
    pub version: u64,
    /// The content hash of the policy as last read from git.
    pub desired_hash: Option<String>,
    /// The content hash and commit whose stacks are deployed.
    pub applied: Option<Applied>,
    /// The last drill, passed or failed.
    pub last_drill: Option<DrillRecord>,
    /// The last drill that could not be completed, when it came after
    /// `last_drill`: it neither proves nor fails the policy, and is retried
    /// soon (see `reconcile::Options::retry_inconclusive_after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inconclusive: Option<DrillRecord>,
    /// The newest content hash a passed drill proved (applied and proven).
    pub reconciled: Option<Reconciled>,
    /// A step started and not yet finished: what a new owner resumes.
    pub in_flight: Option<InFlight>,
    pub lease: Option<Lease>,
    /// commit → change sets → jobs → checks → SNS message, newest last.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// The announcement of the newest evidence, written with the drill's
    /// record and cleared once SNS took it: a run killed in between leaves
    /// it here, and the next run publishes it (an outbox), so a recorded
    /// drill is never left unannounced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<Outbox>,
}

/// An SNS message waiting to be published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outbox {
    pub subject: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    pub content_hash: String,
    pub commit: String,
    /// Unix seconds.
    pub at: u64,
    /// What this apply weakened, and who approved it: the evidence of a
    /// second look (`reconcile --deny-weakening --allow-weakening-by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weakened: Option<Weakened>,
}

/// The changes of an apply that lowered protection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weakened {
    pub changes: Vec<String>,
    /// Who approved them, when the run was told (`--allow-weakening-by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconciled {
    pub content_hash: String,
    pub commit: String,
    pub at: u64,
}

/// One drill of a policy, over all its drill regions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillRecord {
    pub drill_id: String,
    /// Unix seconds when the drill started and ended.
    pub started: u64,
    pub finished: u64,
    pub content_hash: String,
    pub commit: String,
    pub passed: bool,
    /// drctl or AWS could not complete it: neither passed nor failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inconclusive: bool,
    pub regions: Vec<RegionDrill>,
    /// Why it failed (empty when it passed).
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// One region's drill, as the evidence needs it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionDrill {
    pub region: String,
    pub passed: bool,
    pub rto_seconds: Option<f64>,
    pub rto_objective_seconds: u64,
    pub rpo_seconds: Option<f64>,
    pub rpo_objective_seconds: u64,
    pub recovery_point_arn: Option<String>,
    pub backup_job_id: Option<String>,
    pub copy_job_id: Option<String>,
    pub restore_job_id: Option<String>,
    pub scratch_table: Option<String>,
    /// `name: pass|fail — reason` per check, in order.
    #[serde(default)]
    pub checks: Vec<CheckRecord>,
    /// The point-in-time reference the data checks compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceRecord>,
    /// Settings of the source the restored table lacked: what a real
    /// recovery must re-apply (empty in records of older versions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<GapRecord>,
}

/// A setting the restore did not carry over, as the drill found it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapRecord {
    /// `point_in_time_recovery`, `ttl`, `streams`, `auto_scaling`, `tags`,
    /// `deletion_protection` or `resource_policy`.
    pub setting: String,
    pub source: String,
    pub restored: String,
    /// What to do after a real restore.
    pub action: String,
}

/// The evidence of a point-in-time reference: the window the backup's
/// marker lies in, the two exports, and how many keys changed within it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceRecord {
    pub window_start: String,
    pub window_end: String,
    pub export_arns: Vec<String>,
    pub changed_in_window: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRecord {
    pub name: String,
    pub passed: bool,
    pub reason: String,
}

/// The step a run started and has not finished.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InFlight {
    pub step: Step,
    pub content_hash: String,
    pub commit: String,
    pub drill_id: Option<String>,
    pub backup_job_id: Option<String>,
    /// Copy job per DR region.
    #[serde(default)]
    pub copy_jobs: BTreeMap<String, String>,
    /// Restore per drill region. The scratch table is recorded before its
    /// restore starts: created by this drill, so drctl may delete it even
    /// if the scratch tag never made it on.
    #[serde(default)]
    pub restores: BTreeMap<String, InFlightRestore>,
    pub started: u64,
    /// The drill's source table and region: where its canary goes, so that
    /// `gc` can remove the canary of a killed drill even after its policy
    /// left the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceTable>,
}

/// A source table, by name and region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceTable {
    pub table: String,
    pub region: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InFlightRestore {
    pub scratch_table: String,
    pub job_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Apply,
    Drill,
}

/// One link of the evidence chain of a reconciled commit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub commit: String,
    pub content_hash: String,
    pub at: u64,
    /// `stack: change-set id` of every change set executed for this commit.
    #[serde(default)]
    pub change_sets: Vec<ChangeSetRecord>,
    pub drill: Option<DrillRecord>,
    pub sns_message_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeSetRecord {
    pub stack: String,
    pub region: String,
    pub change_set_id: Option<String>,
}

impl PolicyState {
    pub fn new(policy: &str) -> Self {
        Self { policy: policy.to_string(), ..Self::default() }
    }

    /// Appends an evidence entry, keeping the newest [`EVIDENCE_KEPT`].
    pub fn push_evidence(&mut self, evidence: Evidence) {
        self.evidence.push(evidence);
        let excess = self.evidence.len().saturating_sub(EVIDENCE_KEPT);
        self.evidence.drain(..excess);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Someone else wrote the record since it was read.
    #[error("state of {policy} changed since it was read (expected version {expected})")]
    Conflict { policy: String, expected: u64 },
    #[error("state file {path}: {why}")]
    File { path: String, why: String },
    #[error("state table {table}: {why}")]
    Table { table: String, why: String },
    #[error("state of {policy} is not readable: {why}; fix or remove the record")]
    Corrupt { policy: String, why: String },
    #[error("--state {given}: {why}")]
    BadLocation { given: String, why: String },
}

/// Where state lives: one record per policy, written by compare-and-swap.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// The record of `policy`, or `None` when drctl has none.
    async fn get(&self, policy: &str) -> Result<Option<PolicyState>, StateError>;

    /// Every record (for `status` and `gc`).
    async fn list(&self) -> Result<Vec<PolicyState>, StateError>;

    /// Writes `state` if the stored version is still `state.version` (or
    /// absent when that is 0), storing it as `state.version + 1`; returns
    /// the record as written.
    async fn put(&self, state: &PolicyState) -> Result<PolicyState, StateError>;

    /// Appends `entry` to `policy`'s drill history: the evidence of every
    /// drill, kept [`HISTORY_KEPT`] for trends and audits (the record keeps
    /// only the newest [`EVIDENCE_KEPT`]).
    async fn append_history(&self, policy: &str, entry: &Evidence) -> Result<(), StateError>;

    /// Every history entry of every policy at or after `since` (Unix
    /// seconds), oldest first.
    async fn history(&self, since: u64) -> Result<Vec<History>, StateError>;

    /// Where this store is, for messages.
    fn describe(&self) -> String;
}

/// How long the drill history keeps an entry: a year and a day, so that a
/// yearly audit period is whole.
pub const HISTORY_KEPT: std::time::Duration = std::time::Duration::from_secs(366 * 86_400);

/// One entry of the drill history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    pub policy: String,
    pub evidence: Evidence,
}

/// Sorts `entries` oldest first (then by policy) and drops those before
/// `since` or older than [`HISTORY_KEPT`] at `now`.
fn in_window(mut entries: Vec<History>, since: u64, now: u64) -> Vec<History> {
    let oldest = since.max(now.saturating_sub(HISTORY_KEPT.as_secs()));
    entries.retain(|h| h.evidence.at >= oldest);
    entries.sort_by(|a, b| (a.evidence.at, &a.policy).cmp(&(b.evidence.at, &b.policy)));
    entries
}

/// The time leases, due drills and records are judged by: the system's
/// clock, or the system's clock moved ahead, so that a test reaches a
/// lease's expiry or a drill's due date without waiting for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    ahead: u64,
}

impl Clock {
    /// The system's clock.
    pub const SYSTEM: Clock = Clock { ahead: 0 };

    /// The system's clock moved `by` ahead (whole seconds, rounded up).
    pub fn ahead(by: std::time::Duration) -> Self {
        Clock { ahead: whole_seconds(by) }
    }

    /// Unix seconds by this clock.
    pub fn now(self) -> u64 {
        now().saturating_add(self.ahead)
    }
}

/// `duration` in whole seconds, rounded up (a lease or a clock never
/// falls short of what was asked).
pub(crate) fn whole_seconds(duration: std::time::Duration) -> u64 {
    duration.as_secs().saturating_add(u64::from(duration.subsec_nanos() > 0))
}

/// Current Unix time in seconds.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// RFC 3339 of Unix seconds, for people.
pub fn rfc3339(seconds: u64) -> String {
    aws_smithy_types::DateTime::from_secs(seconds as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| seconds.to_string())
}

/// Where `--state` says state lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local JSON file ([`FileStore`]).
    File(std::path::PathBuf),
    /// A DynamoDB table ([`DynamoStore`]), in the region the caller chooses.
    DynamoDb { table: String },
}

impl Location {
    /// Parses `--state`: a file path, or `dynamodb://TABLE` with a valid
    /// DynamoDB table name. Any other `scheme://` is refused rather than
    /// taken for a directory named `scheme:`.
    pub fn parse(given: &str) -> Result<Self, StateError> {
        const FORMS: &str = "give a file path (e.g. .drctl/state.json) or dynamodb://TABLE";
        let bad = |why: String| StateError::BadLocation { given: crate::policy::names::shown(given), why };
        if given.trim().is_empty() {
            return Err(bad(format!("is empty; {FORMS}")));
        }
        if let Some(table) = given.strip_prefix("dynamodb://") {
            if !crate::policy::names::is_table_name(table) {
                return Err(bad(format!(
                    "`{}` is not a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ - .; the region comes from --state-region)",
                    crate::policy::names::shown(table)
                )));
            }
            return Ok(Self::DynamoDb { table: table.to_string() });
        }
        if let Some((scheme, _)) = given.split_once("://") {
            return Err(bad(format!("`{}://` is not a state store drctl knows; {FORMS}", crate::policy::names::shown(scheme))));
        }
        Ok(Self::File(given.into()))
    }
}

/// Opens the store `--state` names: a file path, or `dynamodb://TABLE`.
/// `dynamodb` builds the client of the table's region, only when needed.
pub fn open(location: &str, dynamodb: impl FnOnce() -> aws_sdk_dynamodb::Client) -> Result<std::sync::Arc<dyn StateStore>, StateError> {
    Ok(match Location::parse(location)? {
        Location::File(path) => std::sync::Arc::new(FileStore::open(path)),
        Location::DynamoDb { table } => std::sync::Arc::new(DynamoStore::new(dynamodb(), &table)),
    })
}

/// The largest record either store writes or reads, as JSON: DynamoDB's
/// own item limit (400 KB), so that a record the file store holds moves to
/// a table unchanged. A record holds its last 20 evidence entries and an
/// outbox of at most 128 KiB, well under it.
pub const MAX_RECORD_BYTES: usize = 400 * 1000;

/// Refuses a record no backend can key, or one over [`MAX_RECORD_BYTES`].
fn check_record(state: &PolicyState) -> Result<(), StateError> {
    if state.policy.is_empty() {
        return Err(StateError::Corrupt {
            policy: "(no name)".to_string(),
            why: "a record without a policy name cannot be stored".to_string(),
        });
    }
    check_size(&state.policy, serde_json::to_vec(state).map_or(usize::MAX, |json| json.len()))
}

/// Refuses a record of `bytes` over [`MAX_RECORD_BYTES`] (written or read).
fn check_size(policy: &str, bytes: usize) -> Result<(), StateError> {
    if bytes > MAX_RECORD_BYTES {
        return Err(StateError::Corrupt {
            policy: policy.to_string(),
            why: format!("the record is {bytes} bytes, over the {MAX_RECORD_BYTES} a record may hold"),
        });
    }
    Ok(())
}

/// The compare-and-swap rule both backends share: a write from `expected`
/// succeeds when the stored version is `expected` (an absent record counts
/// as version 0) and stores `expected + 1`.
fn next_version(policy: &str, stored: Option<u64>, expected: u64) -> Result<u64, StateError> {
    if stored.unwrap_or(0) != expected {
        return Err(StateError::Conflict { policy: policy.to_string(), expected });
    }
    expected
        .checked_add(1)
        .ok_or_else(|| StateError::Corrupt { policy: policy.to_string(), why: format!("version {expected} cannot be incremented") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_locations_parse_or_say_what_is_accepted() {
        assert_eq!(Location::parse(".drctl/state.json").unwrap(), Location::File(".drctl/state.json".into()));
        assert_eq!(Location::parse("/var/lib/drctl/state.json").unwrap(), Location::File("/var/lib/drctl/state.json".into()));
        assert_eq!(Location::parse("dynamodb://drctl-state").unwrap(), Location::DynamoDb { table: "drctl-state".into() });
        for (given, says) in [
            ("", "is empty"),
            ("dynamodb://", "not a DynamoDB table name"),
            ("dynamodb://us-east-1/drctl-state", "not a DynamoDB table name"),
            ("dynamodb://a b", "not a DynamoDB table name"),
            ("s3://bucket/state.json", "`s3://` is not a state store"),
        ] {
            let err = Location::parse(given).unwrap_err();
            assert!(matches!(err, StateError::BadLocation { .. }), "{given}: {err}");
            assert!(err.to_string().contains(says), "{given}: {err}");
        }
        assert!(Location::parse("s3://x").unwrap_err().to_string().contains("dynamodb://TABLE"));
    }

    #[test]
    fn open_builds_a_client_only_for_a_table() {
        let file = open("somewhere/state.json", || panic!("no client for a file")).unwrap();
        assert_eq!(file.describe(), "somewhere/state.json");
        let config = aws_sdk_dynamodb::Config::builder().behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest()).build();
        let table = open("dynamodb://drctl-state", || aws_sdk_dynamodb::Client::from_conf(config)).unwrap();
        assert_eq!(table.describe(), "dynamodb://drctl-state");
        assert!(open("ftp://x", || panic!("no client for a refused location")).is_err());
    }

    #[test]
    fn evidence_keeps_the_newest_entries_newest_last() {
        let mut state = PolicyState::new("p");
        let entry = |at: u64| Evidence {
            commit: format!("c{at}"),
            content_hash: "h".into(),
            at,
            change_sets: Vec::new(),
            drill: None,
            sns_message_id: None,
        };
        for at in 0..(EVIDENCE_KEPT as u64 + 5) {
            state.push_evidence(entry(at));
        }
        let kept: Vec<u64> = state.evidence.iter().map(|e| e.at).collect();
        assert_eq!(kept, (5..EVIDENCE_KEPT as u64 + 5).collect::<Vec<_>>());
    }

    #[test]
    fn a_clock_ahead_is_the_system_clock_moved_by_whole_seconds_rounded_up() {
        use std::time::Duration;
        let ahead = |by: Duration| Clock::ahead(by).ahead;
        assert_eq!(ahead(Duration::ZERO), 0);
        assert_eq!(ahead(Duration::from_secs(2)), 2);
        assert_eq!(ahead(Duration::from_millis(1500)), 2);
        assert_eq!(ahead(Duration::from_millis(1)), 1);
        assert_eq!(ahead(Duration::MAX), u64::MAX);
        let before = now();
        let later = Clock::ahead(Duration::from_secs(3600)).now();
        assert!((before + 3600..=now() + 3600).contains(&later), "{before} {later}");
        assert!((before..=now()).contains(&Clock::SYSTEM.now()));
    }

    #[test]
    fn the_history_window_is_a_year_and_a_day_oldest_first() {
        assert_eq!(HISTORY_KEPT.as_secs(), 366 * 86_400);
        let now = 1_796_083_200;
        let entry = |policy: &str, at: u64| History {
            policy: policy.into(),
            evidence: Evidence {
                commit: "c".into(),
                content_hash: "h".into(),
                at,
                change_sets: Vec::new(),
                drill: None,
                sns_message_id: None,
            },
        };
        let year = HISTORY_KEPT.as_secs();
        let entries =
            vec![entry("b", now - 10), entry("a", now - year - 1), entry("c", now - year), entry("a", now - 10), entry("a", now - 500)];
        let kept = |since: u64| -> Vec<(String, u64)> {
            in_window(entries.clone(), since, now).into_iter().map(|h| (h.policy, now - h.evidence.at)).collect()
        };
        let key = |p: &str, age: u64| (p.to_string(), age);
        assert_eq!(kept(0), [key("c", year), key("a", 500), key("a", 10), key("b", 10)], "oldest first, then by policy");
        assert_eq!(kept(now - 500), [key("a", 500), key("a", 10), key("b", 10)], "since is included");
        assert_eq!(kept(now - 499), [key("a", 10), key("b", 10)]);
    }

    #[test]
    fn a_record_may_hold_up_to_the_limit_and_not_a_byte_more() {
        assert!(check_size("p", MAX_RECORD_BYTES).is_ok());
        let err = check_size("p", MAX_RECORD_BYTES + 1).unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }) && err.to_string().contains("400001 bytes"), "{err}");
    }

    #[test]
    fn the_compare_and_swap_rule() {
        assert_eq!(next_version("p", None, 0).unwrap(), 1);
        assert_eq!(next_version("p", Some(4), 4).unwrap(), 5);
        assert!(matches!(next_version("p", Some(4), 3), Err(StateError::Conflict { expected: 3, .. })));
        assert!(matches!(next_version("p", Some(1), 0), Err(StateError::Conflict { expected: 0, .. })));
        assert!(matches!(next_version("p", None, 2), Err(StateError::Conflict { expected: 2, .. })));
        assert!(matches!(next_version("p", Some(u64::MAX), u64::MAX), Err(StateError::Corrupt { .. })));
    }
}
