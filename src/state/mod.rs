//! The state store (SPEC §6): per policy, what is desired, what is applied,
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
    /// The newest content hash a passed drill proved (applied and proven).
    pub reconciled: Option<Reconciled>,
    /// A step started and not yet finished: what a new owner resumes.
    pub in_flight: Option<InFlight>,
    pub lease: Option<Lease>,
    /// commit → change sets → jobs → checks → SNS message, newest last.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    pub content_hash: String,
    pub commit: String,
    /// Unix seconds.
    pub at: u64,
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
    pub region: Option<String>,
    pub backup_job_id: Option<String>,
    pub copy_job_id: Option<String>,
    pub restore_job_id: Option<String>,
    /// The scratch table this drill restores into: created by this drill,
    /// so drctl may delete it even if the tag never made it on.
    pub scratch_table: Option<String>,
    pub started: u64,
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

    /// Where this store is, for messages.
    fn describe(&self) -> String;
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

/// Opens the store `--state` names: a file path, or `dynamodb://TABLE`.
// PLACEHOLDER (helper A finishes: validation of the table name, DynamoStore).
pub fn open(location: &str, _dynamodb: impl FnOnce() -> aws_sdk_dynamodb::Client) -> Result<std::sync::Arc<dyn StateStore>, StateError> {
    Ok(std::sync::Arc::new(FileStore::open(location)))
}
