//! How each setting is shown, and the command that re-applies it to the
//! restored table.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;

pub(super) fn enabled(on: bool) -> String {
    if on { "enabled".to_string() } else { "disabled".to_string() }
}

pub(super) fn show_pitr(pitr: &Option<i32>) -> String {
    match pitr {
        Some(days) => format!("enabled ({days} days)"),
        None => "disabled".to_string(),
    }
}

pub(super) fn pitr_action(source: &Option<i32>, _: &Option<i32>) -> String {
    let specification = match source {
        Some(days) => format!("PointInTimeRecoveryEnabled=true,RecoveryPeriodInDays={days}"),
        None => "PointInTimeRecoveryEnabled=false".to_string(),
    };
    let verb = if source.is_some() { "enable" } else { "disable" };
    format!(
        "{verb} PITR: aws dynamodb update-continuous-backups --table-name {RESTORED_TABLE} --point-in-time-recovery-specification {specification}"
    )
}

pub(super) fn show_ttl(ttl: &Option<String>) -> String {
    match ttl {
        Some(attribute) => format!("enabled on attribute {attribute}"),
        None => "disabled".to_string(),
    }
}

pub(super) fn ttl_action(source: &Option<String>, restored: &Option<String>) -> String {
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

pub(super) fn show_stream(stream: &Option<String>) -> String {
    match stream {
        Some(view) => format!("enabled ({view})"),
        None => "disabled".to_string(),
    }
}

pub(super) fn stream_action(source: &Option<String>, _: &Option<String>) -> String {
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

pub(super) fn show_scaling(targets: &[ScalingTarget]) -> String {
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

pub(super) fn scaling_action(source: &[ScalingTarget], restored: &[ScalingTarget]) -> String {
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
pub(super) fn register_target(target: &ScalingTarget) -> Vec<String> {
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

pub(super) fn restored_resource(scope: &str) -> String {
    match scope {
        "table" => format!("table/{RESTORED_TABLE}"),
        index => format!("table/{RESTORED_TABLE}/{index}"),
    }
}

pub(super) fn show_tags(tags: &BTreeMap<String, String>) -> String {
    if tags.is_empty() {
        return "none".to_string();
    }
    tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

pub(super) fn tags_action(source: &BTreeMap<String, String>, restored: &BTreeMap<String, String>) -> String {
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

pub(super) fn protection_action(source: &bool, _: &bool) -> String {
    let flag = if *source { "--deletion-protection-enabled" } else { "--no-deletion-protection-enabled" };
    format!(
        "{} deletion protection: aws dynamodb update-table --table-name {RESTORED_TABLE} {flag}",
        if *source { "enable" } else { "disable" }
    )
}

pub(super) fn show_policy(policy: &Option<String>) -> String {
    let Some(policy) = policy else { return "none".to_string() };
    let statements =
        serde_json::from_str::<Value>(policy).ok().and_then(|v| v.get("Statement").map(|s| s.as_array().map_or(1, Vec::len))).unwrap_or(0);
    format!("a policy of {statements} statement(s), {} bytes", policy.len())
}

pub(super) fn policy_action(source_table: &str, source: &Option<String>) -> String {
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
pub(super) fn shell_word(text: &str) -> String {
    let safe = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "_-.,:/=+@%".contains(c));
    if safe { text.to_string() } else { format!("'{}'", text.replace('\'', r"'\''")) }
}
