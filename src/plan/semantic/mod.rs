//! The semantic DR diff: what a template change means for the table's
//! protection, in the policy's own terms ("retention 35d → 7d", "copy to
//! us-west-2 removed"), read from the two templates of one stack.
//!
//! Pure: two template values in, lines out. A template is first reduced to a
//! [`DrSummary`] (what it protects, how often, for how long, where to), and
//! two summaries are compared field by field. Both the primary stack
//! (vault, plan, selection) and a DR stack (vault only) reduce; a template
//! written by hand, or an older drctl, reduces as far as it can be read.
//!
//! # Guarantees
//! - Every change that lowers protection is marked `weakens`: shorter
//!   retention, a longer backup interval or start window, a copy removed or
//!   kept shorter, a vault lock removed or loosened, the KMS key removed, the
//!   table deselected or another table selected.
//! - Lines come in a fixed order (table, schedule, windows, retention, cold
//!   storage, copies, lock, key, topic, vault), so the same change always
//!   reads the same.

use std::collections::BTreeMap;
use std::fmt;

use yaml_serde::Value;

use super::model::DrChange;
use crate::policy::{Duration, Schedule};

/// AWS Backup's start window when a rule names none.
pub const DEFAULT_START_WINDOW: Duration = Duration::from_hours(8);
/// AWS Backup's completion window when a rule names none.
pub const DEFAULT_COMPLETION_WINDOW: Duration = Duration::from_days(7);

/// What one stack's template does for the table, as far as it can be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrSummary {
    /// The table the metadata names (also on DR stacks, which select none).
    pub metadata_table: Option<String>,
    pub vault: Option<String>,
    /// The vault's KMS key, as the policy names it (`alias/dr-backups`) when
    /// drctl rendered it, else the ARN or the raw value.
    pub kms_key: Option<String>,
    pub lock: Option<LockSummary>,
    /// The SNS topic of the vault's notifications (a name or an ARN).
    pub topic: Option<String>,
    /// The backup rule; `None` for a DR stack, which only holds a vault.
    pub rule: Option<RuleSummary>,
    /// The tables the backup selection selects.
    pub tables: Vec<String>,
}

/// The first rule of the backup plan (drctl renders exactly one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSummary {
    pub schedule: Option<String>,
    /// The schedule's longest gap between two runs: the RPO it can meet.
    pub interval: Option<Duration>,
    pub start_window: Option<Duration>,
    pub completion_window: Option<Duration>,
    pub lifecycle: Lifecycle,
    /// Copy destinations by region.
    pub copies: BTreeMap<String, Lifecycle>,
}

/// A recovery point lifecycle. No `delete_after` means kept forever.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub delete_after: Option<Duration>,
    pub cold_after: Option<Duration>,
}

/// AWS Backup Vault Lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockSummary {
    pub min: Option<Duration>,
    pub max: Option<Duration>,
    /// Compliance mode's grace period; `None` is governance mode.
    pub changeable_for: Option<Duration>,
}

impl fmt::Display for LockSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            [self.min.map(|d| format!("min {d}")), self.max.map(|d| format!("max {d}"))].into_iter().flatten().collect();
        if parts.is_empty() {
            f.write_str("no limits")?
        } else {
            f.write_str(&parts.join(" / "))?
        }
        if let Some(grace) = self.changeable_for {
            write!(f, ", compliance after {grace}")?;
        }
        Ok(())
    }
}

/// The change between the deployed and the rendered template of one stack,
/// in DR terms. A new stack (`deployed` is `None`) gets one summary line.
pub fn dr_changes(deployed: Option<&Value>, rendered: &Value) -> Vec<DrChange> {
    let new = DrSummary::of(rendered);
    match deployed {
        None => vec![change(new_summary(&new), false)],
        Some(deployed) => diff(&DrSummary::of(deployed), &new),
    }
}

impl DrSummary {
    /// Reads a CloudFormation template. Resources are found by type, not by
    /// logical id; what is missing or unreadable stays `None`.
    pub fn of(template: &Value) -> Self {
        let mut summary = Self {
            metadata_table: template.get("Metadata").and_then(|m| m.get("drctl")).and_then(|d| d.get("table")).and_then(text),
            ..Self::default()
        };
        let Some(resources) = template.get("Resources").and_then(Value::as_mapping) else { return summary };
        let of_type = |wanted: &str| {
            resources.values().find(|r| r.get("Type").and_then(Value::as_str) == Some(wanted)).and_then(|r| r.get("Properties"))
        };
        if let Some(vault) = of_type("AWS::Backup::BackupVault") {
            summary.vault = vault.get("BackupVaultName").and_then(text);
            summary.kms_key = vault.get("EncryptionKeyArn").map(|v| sub_var(v, &["Alias", "KeyId"]).unwrap_or_else(|| display(v)));
            summary.lock = vault.get("LockConfiguration").map(|lock| LockSummary {
                min: days(lock.get("MinRetentionDays")),
                max: days(lock.get("MaxRetentionDays")),
                changeable_for: days(lock.get("ChangeableForDays")),
            });
            summary.topic =
                vault.get("Notifications").and_then(|n| n.get("SNSTopicArn")).map(|v| sub_var(v, &["Topic"]).unwrap_or_else(|| display(v)));
        }
        if let Some(plan) = of_type("AWS::Backup::BackupPlan") {
            let rule = plan.get("BackupPlan").and_then(|p| p.get("BackupPlanRule")).and_then(|r| r.get(0));
            summary.rule = Some(rule.map(RuleSummary::of).unwrap_or_default());
        }
        if let Some(selection) = of_type("AWS::Backup::BackupSelection") {
            let resources = selection.get("BackupSelection").and_then(|s| s.get("Resources")).and_then(Value::as_sequence);
            summary.tables = resources.into_iter().flatten().map(table_of).collect();
        }
        summary
    }
}

impl RuleSummary {
    fn of(rule: &Value) -> Self {
        let schedule = rule.get("ScheduleExpression").and_then(text);
        let mut copies = BTreeMap::new();
        for copy in rule.get("CopyActions").and_then(Value::as_sequence).into_iter().flatten() {
            let region = copy.get("DestinationBackupVaultArn").map(region_of).unwrap_or_else(|| "?".to_string());
            copies.insert(region, Lifecycle::of(copy.get("Lifecycle")));
        }
        Self {
            interval: schedule.as_deref().and_then(|s| Schedule::parse(s).ok()).map(|s| s.max_gap()),
            schedule,
            start_window: number(rule.get("StartWindowMinutes")).map(Duration::from_minutes),
            completion_window: number(rule.get("CompletionWindowMinutes")).map(Duration::from_minutes),
            lifecycle: Lifecycle::of(rule.get("Lifecycle")),
            copies,
        }
    }
}

impl Lifecycle {
    fn of(lifecycle: Option<&Value>) -> Self {
        Self {
            delete_after: days(lifecycle.and_then(|l| l.get("DeleteAfterDays"))),
            cold_after: days(lifecycle.and_then(|l| l.get("MoveToColdStorageAfterDays"))),
        }
    }
}

/// The line a new stack gets: what it will protect, in one breath.
fn new_summary(new: &DrSummary) -> String {
    let mut parts = Vec::new();
    if let Some(rule) = &new.rule {
        let table =
            if new.tables.is_empty() { new.metadata_table.clone().unwrap_or_else(|| "nothing".into()) } else { new.tables.join(", ") };
        let regular = rule.schedule.as_deref().and_then(|s| Schedule::parse(s).ok()).is_some_and(|s| s.min_gap() == s.max_gap());
        let when = match (rule.interval, &rule.schedule) {
            (Some(interval), _) if regular => format!("every {interval}"),
            (Some(interval), Some(schedule)) => format!("on {schedule}, at most {interval} apart"),
            (Some(interval), None) => format!("at most {interval} apart"),
            (None, Some(schedule)) => format!("on {schedule}"),
            (None, None) => "on no schedule".to_string(),
        };
        parts.push(format!("backs up {table} {when}"));
        parts.push(format!("keeps {}", keep(rule.lifecycle.delete_after)));
        if let Some(cold) = rule.lifecycle.cold_after {
            parts.push(format!("cold storage after {cold}"));
        }
        if !rule.copies.is_empty() {
            let copies: Vec<String> = rule.copies.iter().map(|(region, l)| format!("{region} ({})", keep(l.delete_after))).collect();
            parts.push(format!("copies to {}", copies.join(", ")));
        }
    } else if let Some(vault) = &new.vault {
        let of = new.metadata_table.as_ref().map(|t| format!(" for {t}")).unwrap_or_default();
        parts.push(format!("copy vault {vault}{of}"));
    }
    if let Some(lock) = &new.lock {
        parts.push(format!("vault lock {lock}"));
    }
    if let Some(key) = &new.kms_key {
        parts.push(format!("KMS key {key}"));
    }
    if parts.is_empty() { "new stack".to_string() } else { format!("new: {}", parts.join(", ")) }
}

/// Compares two summaries of the same stack.
pub fn diff(old: &DrSummary, new: &DrSummary) -> Vec<DrChange> {
    let mut changes = Vec::new();
    tables(&mut changes, &old.tables, &new.tables);
    match (&old.rule, &new.rule) {
        (Some(old_rule), Some(new_rule)) => rule(&mut changes, old_rule, new_rule, [old.lock, new.lock]),
        (Some(_), None) => changes.push(change("backup plan removed".into(), true)),
        (None, Some(_)) => {
            let summary = new_summary(&DrSummary { lock: None, kms_key: None, ..new.clone() });
            changes.push(change(format!("backup plan added: {}", summary.trim_start_matches("new: ")), false));
        }
        (None, None) => {}
    }
    lock(&mut changes, old.lock, new.lock);
    match (&old.kms_key, &new.kms_key) {
        (None, Some(key)) => changes.push(change(format!("KMS key {key} added"), false)),
        (Some(key), None) => changes.push(change(format!("KMS key {key} removed"), true)),
        (Some(a), Some(b)) if a != b => changes.push(change(format!("KMS key changed: {a} → {b}"), false)),
        _ => {}
    }
    match (&old.topic, &new.topic) {
        (None, Some(topic)) => changes.push(change(format!("notifications to {topic} added"), false)),
        (Some(topic), None) => changes.push(change(format!("notifications to {topic} removed"), false)),
        (Some(a), Some(b)) if a != b => changes.push(change(format!("notifications topic changed: {a} → {b}"), false)),
        _ => {}
    }
    if let (Some(a), Some(b)) = (&old.vault, &new.vault)
        && a != b
    {
        changes.push(change(format!("vault {a} → {b}"), false));
    }
    changes
}

fn tables(changes: &mut Vec<DrChange>, old: &[String], new: &[String]) {
    if old == new {
        return;
    }
    let line = match (old.is_empty(), new.is_empty()) {
        (true, _) => format!("table {} selected", new.join(", ")),
        (false, true) => format!("table {} no longer backed up", old.join(", ")),
        (false, false) => format!("table {} → {}", old.join(", "), new.join(", ")),
    };
    // Any table that was selected and no longer is loses its backups.
    let weakens = old.iter().any(|t| !new.contains(t));
    changes.push(change(line, weakens));
}

fn rule(changes: &mut Vec<DrChange>, old: &RuleSummary, new: &RuleSummary, locks: [Option<LockSummary>; 2]) {
    if old.interval != new.interval
        && let (Some(a), Some(b)) = (old.interval, new.interval)
    {
        changes.push(change(format!("backup interval (RPO) {a} → {b}"), b > a));
    }
    if old.schedule != new.schedule {
        let show = |s: &Option<String>| s.clone().unwrap_or_else(|| "none".into());
        // Unreadable on either side: the interval cannot be compared, so the
        // schedule line alone must carry the warning.
        let unknown = old.interval.is_some() && new.interval.is_none();
        changes.push(change(format!("schedule {} → {}", show(&old.schedule), show(&new.schedule)), unknown));
    }
    let start = (old.start_window.unwrap_or(DEFAULT_START_WINDOW), new.start_window.unwrap_or(DEFAULT_START_WINDOW));
    if old.start_window != new.start_window {
        changes.push(change(
            format!("start window {} → {}", window(old.start_window, start.0), window(new.start_window, start.1)),
            start.1 > start.0,
        ));
    }
    if old.completion_window != new.completion_window {
        let (a, b) =
            (old.completion_window.unwrap_or(DEFAULT_COMPLETION_WINDOW), new.completion_window.unwrap_or(DEFAULT_COMPLETION_WINDOW));
        changes
            .push(change(format!("completion window {} → {}", window(old.completion_window, a), window(new.completion_window, b)), false));
    }
    let (a, b) = (old.lifecycle.delete_after, new.lifecycle.delete_after);
    if a != b {
        let mut line = format!("retention {} → {}", keep(a), keep(b));
        let floor = locks.iter().flatten().filter_map(|l| l.min).filter(|min| b.is_some_and(|b| b < *min)).max();
        if let Some(min) = floor {
            line.push_str(&format!(" (below the vault lock minimum {min})"));
        }
        changes.push(change(line, shorter(a, b) || floor.is_some()));
    }
    cold(changes, "", old.lifecycle.cold_after, new.lifecycle.cold_after);
    for region in old.copies.keys().filter(|r| !new.copies.contains_key(*r)) {
        changes.push(change(format!("copy to {region} removed"), true));
    }
    for (region, lifecycle) in &new.copies {
        match old.copies.get(region) {
            None => changes.push(change(format!("copy to {region} added (keeps {})", keep(lifecycle.delete_after)), false)),
            Some(before) => {
                let (a, b) = (before.delete_after, lifecycle.delete_after);
                if a != b {
                    changes.push(change(format!("copy to {region} retention {} → {}", keep(a), keep(b)), shorter(a, b)));
                }
                cold(changes, &format!("copy to {region} "), before.cold_after, lifecycle.cold_after);
            }
        }
    }
}

fn cold(changes: &mut Vec<DrChange>, prefix: &str, old: Option<Duration>, new: Option<Duration>) {
    let line = match (old, new) {
        (None, Some(d)) => format!("{prefix}cold storage after {d} added"),
        (Some(d), None) => format!("{prefix}cold storage after {d} removed"),
        (Some(a), Some(b)) if a != b => format!("{prefix}cold storage after {a} → {b}"),
        _ => return,
    };
    changes.push(change(line, false));
}

fn lock(changes: &mut Vec<DrChange>, old: Option<LockSummary>, new: Option<LockSummary>) {
    match (old, new) {
        (None, Some(lock)) => changes.push(change(format!("vault lock added: {lock}"), false)),
        (Some(_), None) => changes.push(change("vault lock removed".into(), true)),
        (Some(a), Some(b)) if a != b => {
            let min = |l: LockSummary| l.min.unwrap_or(Duration::from_minutes(0));
            let loosened = min(b) < min(a) || (a.changeable_for.is_some() && b.changeable_for.is_none());
            changes.push(change(format!("vault lock {a} → {b}"), loosened));
        }
        _ => {}
    }
}

/// Whether retention `b` keeps recovery points for less time than `a`
/// (`None` is forever).
fn shorter(a: Option<Duration>, b: Option<Duration>) -> bool {
    match (a, b) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => b < a,
        _ => false,
    }
}

fn keep(retention: Option<Duration>) -> String {
    retention.map_or_else(|| "forever".to_string(), |d| d.to_string())
}

fn window(set: Option<Duration>, effective: Duration) -> String {
    if set.is_some() { effective.to_string() } else { format!("{effective} (AWS default)") }
}

fn change(text: String, weakens: bool) -> DrChange {
    DrChange { text, weakens }
}

fn number(value: Option<&Value>) -> Option<u64> {
    let value = value?;
    value.as_u64().or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

fn days(value: Option<&Value>) -> Option<Duration> {
    number(value).map(Duration::from_days)
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

/// The `Fn::Sub` of a value: the pattern and its variables, from the long
/// form or the `!Sub` short form.
fn sub(value: &Value) -> Option<(&str, Option<&yaml_serde::Mapping>)> {
    let body = match value {
        Value::Tagged(tagged) if tagged.tag == "Sub" => &tagged.value,
        _ => value.get("Fn::Sub")?,
    };
    match body {
        Value::String(pattern) => Some((pattern, None)),
        Value::Sequence(items) => Some((items.first()?.as_str()?, items.get(1).and_then(Value::as_mapping))),
        _ => None,
    }
}

/// The first of `names` that is a string variable of the value's `Fn::Sub`.
fn sub_var(value: &Value, names: &[&str]) -> Option<String> {
    let (_, variables) = sub(value)?;
    names.iter().find_map(|name| variables?.get(*name).and_then(text))
}

/// A value as a person would read it: a string as is, an `Fn::Sub` with its
/// variables filled in, anything else as compact JSON.
fn display(value: &Value) -> String {
    if let Some(text) = value.as_str() {
        return text.to_string();
    }
    if let Some((pattern, variables)) = sub(value) {
        let mut out = pattern.to_string();
        for (name, value) in variables.into_iter().flatten() {
            if let (Some(name), Some(value)) = (name.as_str(), value.as_str()) {
                out = out.replace(&format!("${{{name}}}"), value);
            }
        }
        return out;
    }
    serde_json::to_string(value).unwrap_or_default()
}

fn table_of(resource: &Value) -> String {
    if let Some(table) = sub_var(resource, &["Table"]) {
        return table;
    }
    let arn = display(resource);
    match arn.split_once(":table/") {
        Some((_, table)) => table.to_string(),
        None => arn,
    }
}

/// Where a copy goes, as `verify.regions` names it: its region, or
/// `<account>/<region>` for another account's vault.
fn region_of(destination: &Value) -> String {
    if let Some(region) = sub_var(destination, &["Region"]) {
        return match sub_var(destination, &["Account"]) {
            Some(account) => format!("{account}/{region}"),
            None => region,
        };
    }
    let arn = display(destination);
    match arn.split(':').nth(3) {
        Some(region) if arn.starts_with("arn:") && !region.is_empty() => region.to_string(),
        _ => arn,
    }
}

#[cfg(test)]
mod tests;
