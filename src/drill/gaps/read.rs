//! Reading the settings a restore does not carry over, from DynamoDB and
//! Application Auto Scaling.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types::{PolicyType, ScalableTarget, ScalingPolicy, ServiceNamespace};
use aws_sdk_dynamodb::types::{PointInTimeRecoveryStatus, TableDescription, TimeToLiveStatus};
use serde_json::Value;

use crate::aws::Clients;
use crate::drill::DrillError;
use crate::drill::scratch::{DRILL_ID_TAG, EXPIRES_TAG, SCRATCH_TAG};
use crate::render::POLICY_TAG;

use super::*;

/// Reads every setting of `table`; each read fails on its own.
pub async fn read(clients: &Clients, table: &TableDescription) -> Settings {
    let name = table.table_name().unwrap_or_default();
    let arn = table.table_arn().unwrap_or_default();
    let (point_in_time_recovery, ttl, auto_scaling, tags, resource_policy) = tokio::join!(
        read_pitr(clients, name),
        read_ttl(clients, name),
        read_auto_scaling(clients, table),
        read_tags(clients, arn),
        read_resource_policy(clients, arn),
    );
    let tags = tags.map(|mut tags| {
        tags.retain(|key, _| !is_scratch_tag(key));
        tags
    });
    Settings {
        point_in_time_recovery,
        ttl,
        stream: table
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .map(|s| s.stream_view_type().map(|v| v.as_str().to_string()).unwrap_or_else(|| "enabled".to_string())),
        auto_scaling,
        tags,
        deletion_protection: table.deletion_protection_enabled().unwrap_or(false),
        resource_policy,
    }
}

/// The tags drctl puts on a scratch table, which no source table needs.
pub(super) fn is_scratch_tag(key: &str) -> bool {
    [SCRATCH_TAG, DRILL_ID_TAG, EXPIRES_TAG, POLICY_TAG].contains(&key)
}

pub(super) async fn read_pitr(clients: &Clients, table: &str) -> Reading<Option<i32>> {
    let out = clients
        .dynamodb
        .describe_continuous_backups()
        .table_name(table)
        .send()
        .await
        .map_err(|e| unknown(DrillError::aws(format!("DescribeContinuousBackups {table}"), &e)))?;
    let pitr = out.continuous_backups_description().and_then(|d| d.point_in_time_recovery_description());
    Ok(match pitr {
        Some(p) if p.point_in_time_recovery_status() == Some(&PointInTimeRecoveryStatus::Enabled) => {
            Some(p.recovery_period_in_days().unwrap_or(35))
        }
        _ => None,
    })
}

pub(super) async fn read_ttl(clients: &Clients, table: &str) -> Reading<Option<String>> {
    let out = clients
        .dynamodb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| unknown(DrillError::aws(format!("DescribeTimeToLive {table}"), &e)))?;
    let ttl = out.time_to_live_description();
    Ok(match ttl.and_then(|t| t.time_to_live_status()) {
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => {
            Some(ttl.and_then(|t| t.attribute_name()).unwrap_or_default().to_string())
        }
        _ => None,
    })
}

pub(super) async fn read_tags(clients: &Clients, arn: &str) -> Reading<BTreeMap<String, String>> {
    crate::drill::scratch::tags_of(clients, arn).await.map_err(unknown)
}

/// The policy with the table's own ARN abstracted; `None` when there is
/// none. An endpoint that does not implement the call is `unknown`.
pub(super) async fn read_resource_policy(clients: &Clients, arn: &str) -> Reading<Option<String>> {
    match clients.dynamodb.get_resource_policy().resource_arn(arn).send().await {
        Ok(out) => Ok(out.policy().map(|p| normalize_policy(p, arn))),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_policy_not_found_exception()) => Ok(None),
        Err(e) => {
            let code = e.as_service_error().and_then(aws_sdk_dynamodb::error::ProvideErrorMetadata::code).unwrap_or_default();
            if is_not_implemented(code) {
                return Err(format!("unknown: the endpoint does not implement GetResourcePolicy ({code})"));
            }
            Err(unknown(DrillError::aws(format!("GetResourcePolicy {arn}"), &e)))
        }
    }
}

/// Error codes of a service or emulator that lacks an operation.
pub(super) fn is_not_implemented(code: &str) -> bool {
    matches!(code, "UnknownOperationException" | "UnknownOperation" | "NotImplemented" | "InvalidAction" | "NotImplementedException")
}

/// The policy as canonical JSON with `arn` replaced by `${TableArn}`; the
/// text as it is when it is not JSON.
pub(super) fn normalize_policy(policy: &str, arn: &str) -> String {
    let abstracted = policy.replace(arn, OWN_ARN);
    match serde_json::from_str::<Value>(&abstracted) {
        Ok(value) => value.to_string(),
        Err(_) => abstracted,
    }
}

pub(super) async fn read_auto_scaling(clients: &Clients, table: &TableDescription) -> Reading<Vec<ScalingTarget>> {
    let name = table.table_name().unwrap_or_default();
    let mut resource_ids = vec![format!("table/{name}")];
    resource_ids
        .extend(table.global_secondary_indexes().iter().filter_map(|g| g.index_name()).map(|index| format!("table/{name}/index/{index}")));
    let targets = scalable_targets(clients, &resource_ids).await?;
    let mut found = Vec::with_capacity(targets.len());
    for target in &targets {
        let policies = scaling_policies(clients, target).await?;
        found.push(summarize_target(name, target, &policies));
    }
    found.sort_by(|a, b| (&a.scope, &a.dimension).cmp(&(&b.scope, &b.dimension)));
    Ok(found)
}

pub(super) async fn scalable_targets(clients: &Clients, resource_ids: &[String]) -> Reading<Vec<ScalableTarget>> {
    let mut targets = Vec::new();
    // DescribeScalableTargets takes at most 50 resource ids per call.
    for ids in resource_ids.chunks(50) {
        let mut pages = clients
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Dynamodb)
            .set_resource_ids(Some(ids.to_vec()))
            .into_paginator()
            .items()
            .send();
        while let Some(target) = pages.next().await {
            targets.push(target.map_err(|e| unknown(DrillError::aws("DescribeScalableTargets", &e)))?);
        }
    }
    Ok(targets)
}

pub(super) async fn scaling_policies(clients: &Clients, target: &ScalableTarget) -> Reading<Vec<ScalingPolicy>> {
    let mut policies = Vec::new();
    let mut pages = clients
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Dynamodb)
        .resource_id(target.resource_id())
        .scalable_dimension(target.scalable_dimension().clone())
        .into_paginator()
        .items()
        .send();
    while let Some(policy) = pages.next().await {
        policies.push(policy.map_err(|e| unknown(DrillError::aws(format!("DescribeScalingPolicies {}", target.resource_id()), &e)))?);
    }
    Ok(policies)
}

/// A target in table-independent terms (`table`, `index/G`), so a source
/// and a restore with other names compare equal.
pub(super) fn summarize_target(table: &str, target: &ScalableTarget, policies: &[ScalingPolicy]) -> ScalingTarget {
    let own = format!("table/{table}");
    let scope = match target.resource_id().strip_prefix(&own) {
        Some("") => "table".to_string(),
        Some(rest) => rest.trim_start_matches('/').to_string(),
        None => target.resource_id().to_string(),
    };
    let mut policies: Vec<ScalingPolicySummary> = policies.iter().map(summarize_policy).collect();
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    ScalingTarget {
        scope,
        dimension: target.scalable_dimension().as_str().to_string(),
        min: target.min_capacity(),
        max: target.max_capacity(),
        policies,
    }
}

pub(super) fn summarize_policy(policy: &ScalingPolicy) -> ScalingPolicySummary {
    let target_tracking = policy.target_tracking_scaling_policy_configuration().map(|c| {
        let mut config = serde_json::json!({ "TargetValue": c.target_value() });
        if let Some(metric) = c.predefined_metric_specification() {
            config["PredefinedMetricSpecification"] =
                serde_json::json!({ "PredefinedMetricType": metric.predefined_metric_type().as_str() });
        }
        if let Some(seconds) = c.scale_in_cooldown() {
            config["ScaleInCooldown"] = seconds.into();
        }
        if let Some(seconds) = c.scale_out_cooldown() {
            config["ScaleOutCooldown"] = seconds.into();
        }
        if let Some(disabled) = c.disable_scale_in() {
            config["DisableScaleIn"] = disabled.into();
        }
        config.to_string()
    });
    let kind = match policy.policy_type() {
        PolicyType::TargetTrackingScaling => "target tracking".to_string(),
        PolicyType::StepScaling => "step scaling".to_string(),
        other => other.as_str().to_string(),
    };
    ScalingPolicySummary { name: policy.policy_name().to_string(), kind, target_tracking }
}
