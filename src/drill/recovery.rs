//! Choosing the recovery point: an on-demand backup job into the policy's
//! vault, followed to its end, or the newest completed point of the table.

use std::time::{Duration, SystemTime};

use aws_sdk_backup::types::{BackupJobState, Lifecycle, RecoveryPointStatus};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::Serialize;

use super::DrillError;
use super::jobs::{self, Seen};
use super::poll::Backoff;
use crate::aws::Clients;

/// The primary stack's output naming the role AWS Backup jobs run as.
pub const ROLE_OUTPUT: &str = "BackupRoleArn";

/// The recovery point a drill restores.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecoveryPoint {
    pub arn: String,
    pub vault: String,
    /// When the point was taken (RFC 3339).
    pub created: String,
    /// The on-demand backup job that took it, if the drill took it.
    pub backup_job_id: Option<String>,
    #[serde(skip)]
    pub created_at: SystemTime,
    /// When the backup completed, if AWS said (the point-in-time reference
    /// needs it; the RPO does not).
    #[serde(skip)]
    pub completed_at: Option<SystemTime>,
}

/// The role ARN from the `BackupRoleArn` output of `stack`.
pub async fn backup_role(clients: &Clients, stack: &str) -> Result<String, DrillError> {
    let described = clients
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("DescribeStacks {stack}"), &e))?;
    described
        .stacks()
        .first()
        .and_then(|s| s.outputs().iter().find(|o| o.output_key() == Some(ROLE_OUTPUT)))
        .and_then(|o| o.output_value())
        .map(str::to_string)
        .ok_or_else(|| DrillError::MissingStackOutput { stack: stack.into(), region: clients.region.clone(), output: ROLE_OUTPUT })
}

/// What an on-demand backup needs.
pub struct BackupRequest<'a> {
    pub vault: &'a str,
    pub resource_arn: &'a str,
    pub role_arn: &'a str,
    pub idempotency_token: &'a str,
    /// The recovery point's retention; a vault lock with a maximum
    /// retention refuses a job without one.
    pub delete_after_days: i64,
    /// drctl's ownership tags: the apply identity may restore and copy only
    /// recovery points that carry them.
    pub tags: std::collections::HashMap<String, String>,
}

/// Starts an on-demand backup job; returns its id. Repeated with the same
/// idempotency token, AWS Backup answers the job the first call started.
pub async fn start_backup(clients: &Clients, request: &BackupRequest<'_>) -> Result<String, DrillError> {
    let started = clients
        .backup
        .start_backup_job()
        .backup_vault_name(request.vault)
        .resource_arn(request.resource_arn)
        .iam_role_arn(request.role_arn)
        .idempotency_token(request.idempotency_token)
        .lifecycle(Lifecycle::builder().delete_after_days(request.delete_after_days).build())
        .set_recovery_point_tags(Some(request.tags.clone()))
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("StartBackupJob of {} into {}", request.resource_arn, request.vault), &e))?;
    jobs::started_id(started.backup_job_id(), format!("StartBackupJob of {}", request.resource_arn))
}

/// Waits for backup job `job_id` of `resource_arn` into `vault` to
/// complete; returns its recovery point. A job of another resource or
/// vault is refused ([`DrillError::BadResume`]).
pub async fn wait_backup(
    clients: &Clients,
    vault: &str,
    resource_arn: &str,
    job_id: &str,
    backoff: Backoff,
    deadline: Duration,
) -> Result<RecoveryPoint, DrillError> {
    let arn = wait_backup_job(clients, job_id, (vault, resource_arn), backoff, deadline).await?;
    let mut point = describe_point(clients, vault, &arn).await?;
    point.backup_job_id = Some(job_id.to_string());
    Ok(point)
}

/// Polls a backup job until COMPLETED (its recovery point ARN) or an end
/// that is a failure.
async fn wait_backup_job(
    clients: &Clients,
    job_id: &str,
    (vault, resource_arn): (&str, &str),
    backoff: Backoff,
    deadline: Duration,
) -> Result<String, DrillError> {
    jobs::wait_for_arn("backup", "DescribeBackupJob", job_id, backoff, deadline, || async {
        let job = clients
            .backup
            .describe_backup_job()
            .backup_job_id(job_id)
            .send()
            .await
            .map_err(|e| DrillError::aws(format!("DescribeBackupJob {job_id}"), &e))?;
        jobs::require("backup", job_id, "backs up", job.resource_arn(), resource_arn)?;
        jobs::require("backup", job_id, "backs up into vault", job.backup_vault_name(), vault)?;
        Ok(match job.state() {
            Some(BackupJobState::Completed) => Seen::Completed(job.recovery_point_arn().map(str::to_string)),
            Some(state @ (BackupJobState::Failed | BackupJobState::Aborted | BackupJobState::Expired | BackupJobState::Partial)) => {
                Seen::Ended { state: state.as_str().to_string(), message: job.status_message().map(str::to_string) }
            }
            _ => Seen::Running,
        })
    })
    .await
}

pub(crate) async fn describe_point(clients: &Clients, vault: &str, arn: &str) -> Result<RecoveryPoint, DrillError> {
    let point = clients
        .backup
        .describe_recovery_point()
        .backup_vault_name(vault)
        .recovery_point_arn(arn)
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("DescribeRecoveryPoint {arn}"), &e))?;
    recovery_point(arn, vault, point.creation_date(), "DescribeRecoveryPoint").map(|p| p.completed(point.completion_date()))
}

/// The recovery point `arn` in `vault` if it is still there to restore:
/// `None` only when AWS says so (not found, or its status EXPIRED,
/// DELETING or STOPPED). Any other failure to ask (a throttle, a denial)
/// is an error: "could not tell" never means "gone".
pub(crate) async fn find_point(clients: &Clients, vault: &str, arn: &str) -> Result<Option<RecoveryPoint>, DrillError> {
    let described = clients.backup.describe_recovery_point().backup_vault_name(vault).recovery_point_arn(arn).send().await;
    let point = match described {
        Ok(point) => point,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => return Ok(None),
        Err(e) => return Err(DrillError::aws(format!("DescribeRecoveryPoint {arn}"), &e)),
    };
    match point.status() {
        Some(RecoveryPointStatus::Expired | RecoveryPointStatus::Deleting | RecoveryPointStatus::Stopped) => Ok(None),
        Some(RecoveryPointStatus::Completed) => {
            recovery_point(arn, vault, point.creation_date(), "DescribeRecoveryPoint").map(|p| Some(p.completed(point.completion_date())))
        }
        other => Err(DrillError::Aws {
            action: format!("DescribeRecoveryPoint {arn}"),
            why: format!("its status is {}, not COMPLETED", other.map_or("missing", |s| s.as_str())),
        }),
    }
}

/// The newest COMPLETED recovery point of `resource_arn` in `vault`.
pub async fn latest(clients: &Clients, vault: &str, resource_arn: &str) -> Result<RecoveryPoint, DrillError> {
    let mut pages = clients
        .backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(vault)
        .by_resource_arn(resource_arn)
        .into_paginator()
        .send();
    let mut newest: Option<(DateTime, String, Option<DateTime>)> = None;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| DrillError::aws(format!("ListRecoveryPointsByBackupVault {vault}"), &e))?;
        for point in page.recovery_points() {
            let completed = point.status() == Some(&RecoveryPointStatus::Completed);
            let mine = point.resource_arn() == Some(resource_arn);
            if let (true, true, Some(created), Some(arn)) = (completed, mine, point.creation_date(), point.recovery_point_arn())
                && newest.as_ref().is_none_or(|(best, _, _)| instant(created) > instant(best))
            {
                newest = Some((*created, arn.to_string(), point.completion_date().copied()));
            }
        }
    }
    let (created, arn, completed) =
        newest.ok_or_else(|| DrillError::NoRecoveryPoint { vault: vault.to_string(), resource: resource_arn.to_string() })?;
    recovery_point(&arn, vault, Some(&created), "ListRecoveryPointsByBackupVault").map(|p| p.completed(completed.as_ref()))
}

fn instant(time: &DateTime) -> (i64, u32) {
    (time.secs(), time.subsec_nanos())
}

/// The point `arn` in `vault` taken at `created`, as `action` answered.
/// An answer without the time is an error: the RPO is measured from it, and
/// "now" in its place would make any point look fresh.
pub(crate) fn recovery_point(arn: &str, vault: &str, created: Option<&DateTime>, action: &str) -> Result<RecoveryPoint, DrillError> {
    let created_at = created.and_then(|c| SystemTime::try_from(*c).ok()).ok_or_else(|| DrillError::Aws {
        action: format!("{action} {arn}"),
        why: "the answer has no CreationDate: the recovery point's age (the RPO) cannot be measured".into(),
    })?;
    Ok(RecoveryPoint {
        arn: arn.to_string(),
        vault: vault.to_string(),
        created: DateTime::from(created_at).fmt(Format::DateTime).unwrap_or_default(),
        backup_job_id: None,
        created_at,
        completed_at: None,
    })
}

impl RecoveryPoint {
    fn completed(self, completion: Option<&DateTime>) -> Self {
        Self { completed_at: completion.and_then(|c| SystemTime::try_from(*c).ok()), ..self }
    }
}
