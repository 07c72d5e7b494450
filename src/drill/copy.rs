//! Bringing the recovery point into a DR region: AWS Backup's advanced
//! DynamoDB features checked first (without them a DynamoDB recovery point
//! cannot be copied), then a copy job from the primary vault to the DR
//! vault, followed to its end.

use std::time::Duration;

use aws_sdk_backup::types::{CopyJobState, Lifecycle};

use super::DrillError;
use super::jobs::{self, Seen};
use super::poll::Backoff;
use crate::aws::Clients;

/// The resource type AWS Backup's region settings name DynamoDB by.
const DYNAMODB: &str = "DynamoDB";

/// Whether AWS Backup's advanced DynamoDB features are on in `clients`'
/// region; [`DrillError::AdvancedBackupOff`], with the command that turns
/// them on, when they are off.
pub async fn ensure_advanced_backup(clients: &Clients) -> Result<(), DrillError> {
    let settings = clients
        .backup
        .describe_region_settings()
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("DescribeRegionSettings in {}", clients.region), &e))?;
    let on = settings.resource_type_management_preference().and_then(|p| p.get(DYNAMODB)).copied().unwrap_or(false);
    if on { Ok(()) } else { Err(DrillError::AdvancedBackupOff { region: clients.region.clone() }) }
}

/// The ARN of `vault` in `clients`' region.
pub async fn vault_arn(clients: &Clients, vault: &str) -> Result<String, DrillError> {
    let described = clients.backup.describe_backup_vault().backup_vault_name(vault).send().await.map_err(|e| {
        if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) {
            DrillError::MissingVault { vault: vault.to_string(), region: clients.region.clone() }
        } else {
            DrillError::aws(format!("DescribeBackupVault {vault} in {}", clients.region), &e)
        }
    })?;
    described
        .backup_vault_arn()
        .map(str::to_string)
        .ok_or_else(|| DrillError::MissingVault { vault: vault.to_string(), region: clients.region.clone() })
}

/// What a copy job needs; it starts in the source (primary) region.
pub struct CopyRequest<'a> {
    pub recovery_point_arn: &'a str,
    pub source_vault: &'a str,
    pub destination_vault_arn: &'a str,
    pub role_arn: &'a str,
    pub idempotency_token: &'a str,
    /// The copy's retention in the DR vault (the policy's copy retention).
    pub delete_after_days: i64,
}

/// Starts the copy job; returns its id. Repeated with the same idempotency
/// token, AWS Backup answers the job the first call started.
pub async fn start(primary: &Clients, request: &CopyRequest<'_>) -> Result<String, DrillError> {
    let started = primary
        .backup
        .start_copy_job()
        .recovery_point_arn(request.recovery_point_arn)
        .source_backup_vault_name(request.source_vault)
        .destination_backup_vault_arn(request.destination_vault_arn)
        .iam_role_arn(request.role_arn)
        .idempotency_token(request.idempotency_token)
        .lifecycle(Lifecycle::builder().delete_after_days(request.delete_after_days).build())
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("StartCopyJob of {} to {}", request.recovery_point_arn, request.destination_vault_arn), &e))?;
    jobs::started_id(started.copy_job_id(), format!("StartCopyJob of {}", request.recovery_point_arn))
}

/// Polls copy job `job_id` (in the primary region) until COMPLETED; returns
/// the recovery point it made in the destination vault.
pub async fn wait(
    primary: &Clients,
    job_id: &str,
    (source_point, destination_vault_arn): (&str, &str),
    backoff: Backoff,
    deadline: Duration,
) -> Result<String, DrillError> {
    jobs::wait_for_arn("copy", "DescribeCopyJob", job_id, backoff, deadline, || async {
        let described = primary
            .backup
            .describe_copy_job()
            .copy_job_id(job_id)
            .send()
            .await
            .map_err(|e| DrillError::aws(format!("DescribeCopyJob {job_id}"), &e))?;
        let Some(job) = described.copy_job() else { return Ok(Seen::Running) };
        jobs::require("copy", job_id, "copies", job.source_recovery_point_arn(), source_point)?;
        jobs::require("copy", job_id, "copies into", job.destination_backup_vault_arn(), destination_vault_arn)?;
        Ok(match job.state() {
            Some(CopyJobState::Completed) => Seen::Completed(job.destination_recovery_point_arn().map(str::to_string)),
            Some(state @ (CopyJobState::Failed | CopyJobState::Partial)) => {
                Seen::Ended { state: state.as_str().to_string(), message: job.status_message().map(str::to_string) }
            }
            _ => Seen::Running,
        })
    })
    .await
}

/// A completed copy of `recovery_point_arn` of `resource_arn` into
/// `destination_vault_arn`, if one exists (a scheduled copy, or an earlier
/// drill's): `(copy job id, destination recovery point ARN)`.
pub async fn existing(
    primary: &Clients,
    resource_arn: &str,
    recovery_point_arn: &str,
    destination_vault_arn: &str,
) -> Result<Option<(String, String)>, DrillError> {
    let mut pages = primary
        .backup
        .list_copy_jobs()
        .by_resource_arn(resource_arn)
        .by_destination_vault_arn(destination_vault_arn)
        .by_state(CopyJobState::Completed)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| DrillError::aws(format!("ListCopyJobs of {resource_arn}"), &e))?;
        let found = page.copy_jobs().iter().find(|job| {
            job.source_recovery_point_arn() == Some(recovery_point_arn)
                && job.destination_backup_vault_arn() == Some(destination_vault_arn)
                && job.state() == Some(&CopyJobState::Completed)
        });
        if let Some((id, arn)) = found.and_then(|job| job.copy_job_id().zip(job.destination_recovery_point_arn())) {
            return Ok(Some((id.to_string(), arn.to_string())));
        }
    }
    Ok(None)
}
