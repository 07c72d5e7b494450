//! Post-restore gaps: the settings a DynamoDB restore does
//! not carry over, compared between the source table and the restored one,
//! each with the action a real recovery must take to re-apply it.
//!
//! A restore (by AWS Backup or DynamoDB itself) brings back keys, items,
//! indexes and encryption, but not point-in-time recovery, TTL, streams,
//! auto scaling, tags, deletion protection or the resource policy. A drill
//! that passes proves the data; these gaps are what an operator must still
//! do after a real restore, so the drill lists them instead of leaving them
//! to be found during an outage.
//!
//! # Guarantees
//! - [`find`] never fails and never panics: a setting that cannot be read
//!   (an AWS error, an endpoint that does not implement the call) is a gap
//!   whose value is `unknown: <why>` and whose action says to check by hand.
//!   Gaps inform; they never fail a drill.
//! - Read-only: only Describe, List and Get calls.
//! - A setting equal on both sides is not a gap; drctl's own scratch tags
//!   on the restored table are ignored.
//!
//! # Caveats
//! - Actions name the restored table `<restored-table>` (and its ARN
//!   `<restored-table-arn>`): in a drill the restored table is a scratch
//!   table that is deleted, in a real recovery it is whatever table the
//!   restore created.
//! - Auto scaling compares scalable targets and target-tracking policies;
//!   step scaling policies are compared by name and type only.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types::{PolicyType, ScalableTarget, ScalingPolicy, ServiceNamespace};
use aws_sdk_dynamodb::types::{PointInTimeRecoveryStatus, TableDescription, TimeToLiveStatus};
use serde_json::Value;

use super::scratch::{DRILL_ID_TAG, EXPIRES_TAG, SCRATCH_TAG};
use super::{DrillError, Gap};
use crate::aws::Clients;
use crate::render::POLICY_TAG;

/// How an action names the restored table.
pub const RESTORED_TABLE: &str = "<restored-table>";
const RESTORED_ARN: &str = "<restored-table-arn>";
/// Stands for the table's own ARN inside a resource policy, so that the
/// source's and the restore's policies compare equal when only that differs.
const OWN_ARN: &str = "${TableArn}";

/// A setting as read from one table: its value, or why it could not be read.
pub type Reading<T> = Result<T, String>;

/// The settings of one table that a restore does not carry over.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `Some(recovery period in days)` when PITR is on.
    pub point_in_time_recovery: Reading<Option<i32>>,
    /// The TTL attribute when TTL is on (or being turned on).
    pub ttl: Reading<Option<String>>,
    /// The stream view type when a stream is on.
    pub stream: Option<String>,
    pub auto_scaling: Reading<Vec<ScalingTarget>>,
    pub tags: Reading<BTreeMap<String, String>>,
    pub deletion_protection: bool,
    /// The resource policy, its own table ARN replaced by `${TableArn}`.
    pub resource_policy: Reading<Option<String>>,
}

/// One scalable dimension of a table or GSI and its scaling policies.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingTarget {
    /// `table` or `index/<name>`.
    pub scope: String,
    /// e.g. `dynamodb:table:ReadCapacityUnits`.
    pub dimension: String,
    pub min: i32,
    pub max: i32,
    pub policies: Vec<ScalingPolicySummary>,
}

/// What a scaling policy does, enough to recreate a target-tracking one.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingPolicySummary {
    pub name: String,
    pub kind: String,
    /// The target-tracking configuration as the CLI takes it (JSON).
    pub target_tracking: Option<String>,
}

/// The gaps between `source` and `restored`, in a fixed order of settings.
#[tracing::instrument(skip_all, fields(source = source.table_name().unwrap_or_default(), restored = restored.table_name().unwrap_or_default()))]
pub async fn find(clients: &Clients, source: &TableDescription, restored: &TableDescription) -> Vec<Gap> {
    let (source_settings, restored_settings) = tokio::join!(read(clients, source), read(clients, restored));
    let gaps = compare(source.table_name().unwrap_or_default(), &source_settings, &restored_settings);
    for gap in &gaps {
        tracing::debug!(setting = %gap.setting, source = %gap.source, restored = %gap.restored, "post-restore gap");
    }
    gaps
}

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
fn is_scratch_tag(key: &str) -> bool {
    [SCRATCH_TAG, DRILL_ID_TAG, EXPIRES_TAG, POLICY_TAG].contains(&key)
}

async fn read_pitr(clients: &Clients, table: &str) -> Reading<Option<i32>> {
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

async fn read_ttl(clients: &Clients, table: &str) -> Reading<Option<String>> {
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

async fn read_tags(clients: &Clients, arn: &str) -> Reading<BTreeMap<String, String>> {
    super::scratch::tags_of(clients, arn).await.map_err(unknown)
}

/// The policy with the table's own ARN abstracted; `None` when there is
/// none. An endpoint that does not implement the call is `unknown`.
async fn read_resource_policy(clients: &Clients, arn: &str) -> Reading<Option<String>> {
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
fn is_not_implemented(code: &str) -> bool {
    matches!(code, "UnknownOperationException" | "UnknownOperation" | "NotImplemented" | "InvalidAction" | "NotImplementedException")
}

/// The policy as canonical JSON with `arn` replaced by `${TableArn}`; the
/// text as it is when it is not JSON.
fn normalize_policy(policy: &str, arn: &str) -> String {
    let abstracted = policy.replace(arn, OWN_ARN);
    match serde_json::from_str::<Value>(&abstracted) {
        Ok(value) => value.to_string(),
        Err(_) => abstracted,
    }
}

async fn read_auto_scaling(clients: &Clients, table: &TableDescription) -> Reading<Vec<ScalingTarget>> {
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

async fn scalable_targets(clients: &Clients, resource_ids: &[String]) -> Reading<Vec<ScalableTarget>> {
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

async fn scaling_policies(clients: &Clients, target: &ScalableTarget) -> Reading<Vec<ScalingPolicy>> {
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
fn summarize_target(table: &str, target: &ScalableTarget, policies: &[ScalingPolicy]) -> ScalingTarget {
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

fn summarize_policy(policy: &ScalingPolicy) -> ScalingPolicySummary {
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

fn unknown(error: DrillError) -> String {
    format!("unknown: {error}")
}

/// The gaps between two tables' settings, in a fixed order; `source_table`
/// names the source in actions that copy from it.
pub fn compare(source_table: &str, source: &Settings, restored: &Settings) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let pitr_check = format!("aws dynamodb describe-continuous-backups --table-name {}", shell_word(source_table));
    gaps.extend(setting(
        "point_in_time_recovery",
        &source.point_in_time_recovery,
        &restored.point_in_time_recovery,
        show_pitr,
        pitr_action,
        &pitr_check,
    ));
    let ttl_check = format!("aws dynamodb describe-time-to-live --table-name {}", shell_word(source_table));
    gaps.extend(setting("ttl", &source.ttl, &restored.ttl, show_ttl, ttl_action, &ttl_check));
    gaps.extend(setting("streams", &Ok(source.stream.clone()), &Ok(restored.stream.clone()), show_stream, stream_action, ""));
    let scaling_check = format!(
        "aws application-autoscaling describe-scalable-targets --service-namespace dynamodb --resource-ids {}",
        shell_word(&format!("table/{source_table}"))
    );
    gaps.extend(setting(
        "auto_scaling",
        &source.auto_scaling,
        &restored.auto_scaling,
        |t: &Vec<ScalingTarget>| show_scaling(t),
        |s: &Vec<ScalingTarget>, r: &Vec<ScalingTarget>| scaling_action(s, r),
        &scaling_check,
    ));
    let tags_check = "aws dynamodb list-tags-of-resource --resource-arn <source-table-arn>";
    gaps.extend(setting("tags", &source.tags, &restored.tags, show_tags, tags_action, tags_check));
    gaps.extend(setting(
        "deletion_protection",
        &Ok(source.deletion_protection),
        &Ok(restored.deletion_protection),
        |on| enabled(*on),
        protection_action,
        "",
    ));
    let policy_check = "aws dynamodb get-resource-policy --resource-arn <source-table-arn>";
    gaps.extend(setting(
        "resource_policy",
        &source.resource_policy,
        &restored.resource_policy,
        show_policy,
        |s, _| policy_action(source_table, s),
        policy_check,
    ));
    gaps
}

/// One setting's gap, if any: none when both sides were read and are
/// equal; the values and `action` when they differ; `unknown` values and
/// a by-hand check when either side could not be read.
fn setting<T: PartialEq>(
    name: &str,
    source: &Reading<T>,
    restored: &Reading<T>,
    show: impl Fn(&T) -> String,
    action: impl Fn(&T, &T) -> String,
    check: &str,
) -> Option<Gap> {
    let shown = |reading: &Reading<T>| match reading {
        Ok(value) => show(value),
        Err(why) if why.starts_with("unknown") => why.clone(),
        Err(why) => format!("unknown: {why}"),
    };
    let action = match (source, restored) {
        (Ok(s), Ok(r)) if s == r => return None,
        (Ok(s), Ok(r)) => action(s, r),
        _ => format!("could not compare {name}: check the source by hand (`{check}`) and re-apply it to the restored table"),
    };
    Some(Gap { setting: name.to_string(), source: shown(source), restored: shown(restored), action })
}

fn enabled(on: bool) -> String {
    if on { "enabled".to_string() } else { "disabled".to_string() }
}

fn show_pitr(pitr: &Option<i32>) -> String {
    match pitr {
        Some(days) => format!("enabled ({days} days)"),
        None => "disabled".to_string(),
    }
}

fn pitr_action(source: &Option<i32>, _: &Option<i32>) -> String {
    let specification = match source {
        Some(days) => format!("PointInTimeRecoveryEnabled=true,RecoveryPeriodInDays={days}"),
        None => "PointInTimeRecoveryEnabled=false".to_string(),
    };
    let verb = if source.is_some() { "enable" } else { "disable" };
    format!(
        "{verb} PITR: aws dynamodb update-continuous-backups --table-name {RESTORED_TABLE} --point-in-time-recovery-specification {specification}"
    )
}

fn show_ttl(ttl: &Option<String>) -> String {
    match ttl {
        Some(attribute) => format!("enabled on attribute {attribute}"),
        None => "disabled".to_string(),
    }
}

fn ttl_action(source: &Option<String>, restored: &Option<String>) -> String {
    match (source, restored) {
        (Some(attribute), _) => format!(
            "enable TTL: aws dynamodb update-time-to-live --table-name {RESTORED_TABLE} --time-to-live-specification {}",
            shell_word(&format!("Enabled=true,AttributeName={attribute}"))
        ),
        (None, Some(attribute)) => format!(
            "disable TTL: aws dynamodb update-time-to-live --table-name {RESTORED_TABLE} --time-to-live-specification {}",
            shell_word(&format!("Enabled=false,AttributeName={attribute}"))
        ),
        (None, None) => String::new(),
    }
}

fn show_stream(stream: &Option<String>) -> String {
    match stream {
        Some(view) => format!("enabled ({view})"),
        None => "disabled".to_string(),
    }
}

fn stream_action(source: &Option<String>, _: &Option<String>) -> String {
    match source {
        Some(view) => format!(
            "enable the stream: aws dynamodb update-table --table-name {RESTORED_TABLE} --stream-specification StreamEnabled=true,StreamViewType={}; \
             then point its consumers (Lambda event source mappings, Kinesis adapters) at the new stream ARN",
            shell_word(view)
        ),
        None => format!(
            "disable the stream: aws dynamodb update-table --table-name {RESTORED_TABLE} --stream-specification StreamEnabled=false"
        ),
    }
}

fn show_scaling(targets: &[ScalingTarget]) -> String {
    if targets.is_empty() {
        return "none".to_string();
    }
    let shown: Vec<String> = targets
        .iter()
        .map(|t| {
            let dimension = t.dimension.rsplit(':').next().unwrap_or(&t.dimension);
            let policies: Vec<String> = t.policies.iter().map(|p| format!("{} {}", p.kind, p.name)).collect();
            let policies = if policies.is_empty() { String::new() } else { format!(" [{}]", policies.join(", ")) };
            format!("{} {dimension} {}..{}{policies}", t.scope, t.min, t.max)
        })
        .collect();
    shown.join("; ")
}

fn scaling_action(source: &[ScalingTarget], restored: &[ScalingTarget]) -> String {
    let mut steps = Vec::new();
    for target in restored.iter().filter(|r| !source.iter().any(|s| s.scope == r.scope && s.dimension == r.dimension)) {
        steps.push(format!(
            "aws application-autoscaling deregister-scalable-target --service-namespace dynamodb --resource-id {} --scalable-dimension {}",
            restored_resource(&target.scope),
            target.dimension
        ));
    }
    for target in source.iter().filter(|s| !restored.contains(s)) {
        steps.extend(register_target(target));
    }
    format!("re-create auto scaling: {}", steps.join("; "))
}

/// The CLI calls that re-create one scalable target and its policies on
/// the restored table.
fn register_target(target: &ScalingTarget) -> Vec<String> {
    let resource = restored_resource(&target.scope);
    let mut steps = vec![format!(
        "aws application-autoscaling register-scalable-target --service-namespace dynamodb --resource-id {resource} \
         --scalable-dimension {} --min-capacity {} --max-capacity {}",
        target.dimension, target.min, target.max
    )];
    for policy in &target.policies {
        steps.push(match &policy.target_tracking {
            Some(config) => format!(
                "aws application-autoscaling put-scaling-policy --service-namespace dynamodb --resource-id {resource} \
                 --scalable-dimension {} --policy-name {} --policy-type TargetTrackingScaling \
                 --target-tracking-scaling-policy-configuration {}",
                target.dimension,
                shell_word(&policy.name),
                shell_word(config)
            ),
            None => format!("re-create the {} policy {} of {resource} as on the source", policy.kind, shell_word(&policy.name)),
        });
    }
    steps
}

fn restored_resource(scope: &str) -> String {
    match scope {
        "table" => format!("table/{RESTORED_TABLE}"),
        index => format!("table/{RESTORED_TABLE}/{index}"),
    }
}

fn show_tags(tags: &BTreeMap<String, String>) -> String {
    if tags.is_empty() {
        return "none".to_string();
    }
    tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

fn tags_action(source: &BTreeMap<String, String>, restored: &BTreeMap<String, String>) -> String {
    let mut steps = Vec::new();
    let missing: Vec<String> =
        source.iter().filter(|(k, v)| restored.get(*k) != Some(*v)).map(|(k, v)| shell_word(&format!("Key={k},Value={v}"))).collect();
    if !missing.is_empty() {
        steps.push(format!("aws dynamodb tag-resource --resource-arn {RESTORED_ARN} --tags {}", missing.join(" ")));
    }
    let extra: Vec<String> = restored.keys().filter(|k| !source.contains_key(*k)).map(|k| shell_word(k)).collect();
    if !extra.is_empty() {
        steps.push(format!("aws dynamodb untag-resource --resource-arn {RESTORED_ARN} --tag-keys {}", extra.join(" ")));
    }
    format!("re-apply the source's tags: {}", steps.join("; "))
}

fn protection_action(source: &bool, _: &bool) -> String {
    let flag = if *source { "--deletion-protection-enabled" } else { "--no-deletion-protection-enabled" };
    format!(
        "{} deletion protection: aws dynamodb update-table --table-name {RESTORED_TABLE} {flag}",
        if *source { "enable" } else { "disable" }
    )
}

fn show_policy(policy: &Option<String>) -> String {
    let Some(policy) = policy else { return "none".to_string() };
    let statements =
        serde_json::from_str::<Value>(policy).ok().and_then(|v| v.get("Statement").map(|s| s.as_array().map_or(1, Vec::len))).unwrap_or(0);
    format!("a policy of {statements} statement(s), {} bytes", policy.len())
}

fn policy_action(source_table: &str, source: &Option<String>) -> String {
    match source {
        Some(_) => format!(
            "copy the resource policy: aws dynamodb get-resource-policy --resource-arn <arn of {}> --query Policy --output text > policy.json; \
             replace the source table's ARN in it with {RESTORED_ARN}; \
             aws dynamodb put-resource-policy --resource-arn {RESTORED_ARN} --policy file://policy.json",
            shell_word(source_table)
        ),
        None => format!("remove the resource policy: aws dynamodb delete-resource-policy --resource-arn {RESTORED_ARN}"),
    }
}

/// `text` as one shell word: as it is when it holds only safe characters,
/// single-quoted otherwise (tag values and names come from the account).
fn shell_word(text: &str) -> String {
    let safe = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "_-.,:/=+@%".contains(c));
    if safe { text.to_string() } else { format!("'{}'", text.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table as a restore leaves it: none of the settings.
    fn bare() -> Settings {
        Settings {
            point_in_time_recovery: Ok(None),
            ttl: Ok(None),
            stream: None,
            auto_scaling: Ok(Vec::new()),
            tags: Ok(BTreeMap::new()),
            deletion_protection: false,
            resource_policy: Ok(None),
        }
    }

    fn read_capacity() -> ScalingTarget {
        ScalingTarget {
            scope: "table".into(),
            dimension: "dynamodb:table:ReadCapacityUnits".into(),
            min: 5,
            max: 100,
            policies: vec![ScalingPolicySummary {
                name: "reads".into(),
                kind: "target tracking".into(),
                target_tracking: Some(r#"{"TargetValue":70.0}"#.into()),
            }],
        }
    }

    /// A production table with every setting on.
    fn full() -> Settings {
        Settings {
            point_in_time_recovery: Ok(Some(35)),
            ttl: Ok(Some("expires".into())),
            stream: Some("NEW_AND_OLD_IMAGES".into()),
            auto_scaling: Ok(vec![read_capacity()]),
            tags: Ok(BTreeMap::from([("team".into(), "3d".into()), ("cost center".into(), "o'neil".into())])),
            deletion_protection: true,
            resource_policy: Ok(Some(r#"{"Statement":[{"Effect":"Allow","Resource":"${TableArn}"}]}"#.into())),
        }
    }

    fn gap<'a>(gaps: &'a [Gap], setting: &str) -> &'a Gap {
        gaps.iter().find(|g| g.setting == setting).unwrap_or_else(|| panic!("no {setting} gap in {gaps:?}"))
    }

    #[test]
    fn equal_settings_are_no_gaps() {
        assert_eq!(compare("T", &bare(), &bare()), vec![]);
        assert_eq!(compare("T", &full(), &full()), vec![]);
    }

    #[test]
    fn every_setting_a_restore_drops_is_a_gap_with_its_action() {
        let gaps = compare("Scans", &full(), &bare());
        let settings: Vec<&str> = gaps.iter().map(|g| g.setting.as_str()).collect();
        assert_eq!(
            settings,
            ["point_in_time_recovery", "ttl", "streams", "auto_scaling", "tags", "deletion_protection", "resource_policy"]
        );
        let pitr = gap(&gaps, "point_in_time_recovery");
        assert_eq!((pitr.source.as_str(), pitr.restored.as_str()), ("enabled (35 days)", "disabled"));
        assert!(
            pitr.action.starts_with("enable PITR: aws dynamodb update-continuous-backups --table-name <restored-table>"),
            "{}",
            pitr.action
        );
        assert!(pitr.action.contains("RecoveryPeriodInDays=35"), "{}", pitr.action);
        let ttl = gap(&gaps, "ttl");
        assert_eq!(ttl.source, "enabled on attribute expires");
        assert!(ttl.action.contains("update-time-to-live") && ttl.action.contains("AttributeName=expires"), "{}", ttl.action);
        let streams = gap(&gaps, "streams");
        assert_eq!(streams.source, "enabled (NEW_AND_OLD_IMAGES)");
        assert!(streams.action.contains("StreamViewType=NEW_AND_OLD_IMAGES"), "{}", streams.action);
        let scaling = gap(&gaps, "auto_scaling");
        assert_eq!(scaling.source, "table ReadCapacityUnits 5..100 [target tracking reads]");
        assert_eq!(scaling.restored, "none");
        assert!(scaling.action.contains("register-scalable-target") && scaling.action.contains("--min-capacity 5 --max-capacity 100"));
        assert!(scaling.action.contains(r#"--target-tracking-scaling-policy-configuration '{"TargetValue":70.0}'"#), "{}", scaling.action);
        let protection = gap(&gaps, "deletion_protection");
        assert_eq!((protection.source.as_str(), protection.restored.as_str()), ("enabled", "disabled"));
        assert!(protection.action.ends_with("--deletion-protection-enabled"), "{}", protection.action);
        let policy = gap(&gaps, "resource_policy");
        assert_eq!(policy.restored, "none");
        assert!(policy.source.starts_with("a policy of 1 statement(s)"), "{}", policy.source);
        assert!(policy.action.contains("put-resource-policy"), "{}", policy.action);
    }

    #[test]
    fn tag_actions_add_only_what_is_missing_and_quote_values() {
        let mut restored = bare();
        restored.tags = Ok(BTreeMap::from([("team".into(), "3d".into()), ("stray".into(), "x".into())]));
        let gaps = compare("T", &full(), &restored);
        let tags = gap(&gaps, "tags");
        assert_eq!(tags.source, "cost center=o'neil, team=3d");
        assert_eq!(
            tags.action,
            r"re-apply the source's tags: aws dynamodb tag-resource --resource-arn <restored-table-arn> --tags 'Key=cost center,Value=o'\''neil'; aws dynamodb untag-resource --resource-arn <restored-table-arn> --tag-keys stray"
        );
    }

    #[test]
    fn drctl_scratch_tags_are_not_a_setting_of_the_restore() {
        assert!(is_scratch_tag(SCRATCH_TAG) && is_scratch_tag(DRILL_ID_TAG) && is_scratch_tag(EXPIRES_TAG) && is_scratch_tag(POLICY_TAG));
        assert!(!is_scratch_tag("team"));
    }

    #[test]
    fn a_setting_that_could_not_be_read_is_an_unknown_gap_not_an_error() {
        let mut restored = bare();
        restored.resource_policy = Err("unknown: the endpoint does not implement GetResourcePolicy (UnknownOperationException)".into());
        restored.ttl = Err("DescribeTimeToLive T: throttled".into());
        let gaps = compare("T", &bare(), &restored);
        assert_eq!(gaps.len(), 2, "{gaps:?}");
        let policy = gap(&gaps, "resource_policy");
        assert_eq!(policy.source, "none");
        assert!(policy.restored.starts_with("unknown: the endpoint does not implement GetResourcePolicy"), "{}", policy.restored);
        assert!(policy.action.starts_with("could not compare resource_policy: check the source by hand"), "{}", policy.action);
        assert_eq!(gap(&gaps, "ttl").restored, "unknown: DescribeTimeToLive T: throttled");
    }

    #[test]
    fn a_setting_the_restore_has_and_the_source_lacks_is_undone() {
        let mut restored = bare();
        restored.deletion_protection = true;
        restored.stream = Some("KEYS_ONLY".into());
        let gaps = compare("T", &bare(), &restored);
        assert!(gap(&gaps, "deletion_protection").action.ends_with("--no-deletion-protection-enabled"));
        assert!(gap(&gaps, "streams").action.contains("StreamEnabled=false"));
    }

    #[test]
    fn a_changed_scaling_target_is_re_registered_and_a_stray_one_removed() {
        let mut restored = bare();
        let mut other = read_capacity();
        other.scope = "index/byOwner".into();
        restored.auto_scaling = Ok(vec![other]);
        let gaps = compare("T", &full(), &restored);
        let action = &gap(&gaps, "auto_scaling").action;
        assert!(
            action.contains("deregister-scalable-target --service-namespace dynamodb --resource-id table/<restored-table>/index/byOwner"),
            "{action}"
        );
        assert!(action.contains("register-scalable-target --service-namespace dynamodb --resource-id table/<restored-table> "), "{action}");
    }

    #[test]
    fn resource_policies_compare_without_their_own_table_arn() {
        let source = r#"{"Statement": [{"Resource": "arn:aws:dynamodb:us-east-1:1:table/A"}]}"#;
        let restored = r#"{"Statement":[{"Resource":"arn:aws:dynamodb:us-east-1:1:table/B"}]}"#;
        assert_eq!(
            normalize_policy(source, "arn:aws:dynamodb:us-east-1:1:table/A"),
            normalize_policy(restored, "arn:aws:dynamodb:us-east-1:1:table/B")
        );
        assert_eq!(normalize_policy("not json", "x"), "not json");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("Enabled=true,AttributeName=expires"), "Enabled=true,AttributeName=expires");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("$(rm -rf /)"), "'$(rm -rf /)'");
    }
}
