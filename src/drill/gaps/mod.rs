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

mod actions;
mod read;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::TableDescription;

use super::{DrillError, Gap};
use crate::aws::Clients;

use actions::*;
pub use read::read;
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
