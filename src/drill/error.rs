//! What can stop a drill before its checks decide: the infrastructure, not
//! the data. A drill reports these as a failed drill with the reason.

use std::time::Duration;

/// An infrastructure failure of a drill, naming what it is about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DrillError {
    /// An AWS call failed (after the SDK's own retries).
    #[error("{action}: {why}")]
    Aws { action: String, why: String },
    /// An AWS call failed with an answer that means "not now" (a throttle,
    /// a server error, a timeout) after the SDK's own retries: a poll goes
    /// on polling (see `poll::until`).
    #[error("{action}: {why}")]
    Transient { action: String, why: String },
    /// AWS refused a call for access, credentials or a quota: drctl could
    /// not ask, so nothing is known against the recovery.
    #[error("{action}: {why}")]
    Refused { action: String, why: String },
    /// A backup or restore job ended in a state other than COMPLETED.
    #[error("{kind} job {job_id} ended {state}: {message}")]
    JobFailed { kind: &'static str, job_id: String, state: String, message: String },
    /// Something did not finish before its deadline.
    #[error("{what}: not done after {}s", waited.as_secs())]
    Timeout { what: String, waited: Duration },
    /// The primary stack lacks an output the drill needs.
    #[error("stack {stack} in {region} has no output {output}: apply the policy first")]
    MissingStackOutput { stack: String, region: String, output: &'static str },
    /// `recovery_point: latest` and the vault has no completed point of the table.
    #[error("vault {vault} has no COMPLETED recovery point of {resource}")]
    NoRecoveryPoint { vault: String, resource: String },
    /// The scratch name is already taken; drctl never restores over a table.
    #[error("a table named {table} already exists; drctl restores only into a table it creates")]
    ScratchNameTaken { table: String },
    /// The canary item cannot be built for the source table's key schema.
    #[error("cannot write a canary into {table}: {why}")]
    Canary { table: String, why: String },
    /// A drill region with no vault of the policy: neither the primary nor
    /// a copy region.
    #[error("{region} is neither the policy's primary region {primary} nor one of its copy regions ({copies})")]
    NotADrillRegion { region: String, primary: String, copies: String },
    /// Cross-region copies of DynamoDB recovery points need AWS Backup's
    /// advanced DynamoDB features in the source region.
    #[error(
        "AWS Backup's advanced features for Amazon DynamoDB are off in {region}, and a DynamoDB recovery point cannot be \
         copied to another region without them; turn them on (they apply to backups taken afterwards) with: \
         aws backup update-region-settings --region {region} --resource-type-management-preference DynamoDB=true"
    )]
    AdvancedBackupOff { region: String },
    /// The state store did not take a step the drill must record first.
    #[error("the drill could not record {what} in the state, so it did not go on: {why}")]
    Journal { what: String, why: String },
    /// A vault the drill needs is missing.
    #[error("backup vault {vault} does not exist in {region}: apply the policy first")]
    MissingVault { vault: String, region: String },
    /// The record of an interrupted drill cannot be trusted.
    #[error("cannot resume the interrupted drill: {why}")]
    BadResume { why: String },
    /// The point-in-time reference of the data checks cannot be built
    /// (PITR off, the window not covered, the export bucket gone, an export
    /// that failed): the data checks fail with why and the fix.
    #[error("the point-in-time reference: {why}")]
    Reference { why: String },
    /// The point-in-time reference cannot exist yet for this recovery
    /// point (PITR was turned on after it was taken): nothing is known
    /// against the recovery, so the drill is inconclusive, not failed.
    #[error("the point-in-time reference: {why}")]
    ReferenceNotYet { why: String },
    /// The restore slots were closed: the process is stopping.
    #[error("no restore slot: the restore slots were closed (the process is stopping)")]
    Stopping,
}

impl DrillError {
    /// Whether this stop says "drctl or AWS could not finish" rather than
    /// anything about the recovery: a transient AWS answer past retries, a
    /// refusal for access or a quota, the state store refusing a step, the
    /// process stopping.
    pub fn is_inconclusive(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::Refused { .. } | Self::Journal { .. } | Self::ReferenceNotYet { .. } | Self::Stopping)
    }

    /// An AWS call's failure, with the SDK error rendered without its request.
    pub(crate) fn aws<E, R>(action: impl Into<String>, error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> Self
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let (action, why) = (action.into(), crate::aws::describe(error));
        if crate::aws::is_transient(error) {
            Self::Transient { action, why }
        } else if crate::aws::is_refusal(error) {
            Self::Refused { action, why }
        } else {
            Self::Aws { action, why }
        }
    }
}
