//! Guardrails: the organisation's rules over every policy's DR, in
//! `desired/_guardrails.yaml` (`kind: Guardrails`), so that a team cannot
//! lower its own bar in its own pull request. Each rule selects policies
//! (by environment, name pattern, owner) and requires bounds drctl
//! understands: RPO and RTO, retention, copies, vault lock, PITR, how often
//! a drill proves the table and with which checks. Exceptions are data:
//! a rule, a policy, a reason, who approved it, and the last day it holds.
//!
//! # Guarantees
//! - A breach is an error finding at the policy's offending value
//!   (`file:line:col`), naming the rule, its owner and its reason: the
//!   policy is invalid, so `reconcile` neither applies nor drills it (the
//!   others go on) and `--prune` is refused.
//! - A breach under a live exception is a warning naming the exception;
//!   an expired exception is an error on the guardrails file, and the
//!   breach is an error again.
//! - Fail closed: a guardrails file that cannot be read makes every policy
//!   invalid (nothing can be checked against rules nobody can read).
//!
//! # Caveats
//! - Days are UTC; an exception holds through its `expires` day.

pub mod model;

use std::collections::BTreeSet;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::Serialize;

pub use model::{CheckName, Exception, Guardrails, Require, Rule, Select};

use super::finding::{Finding, Position};
use super::load::{self, LoadedPolicy};
use super::model::{Check, TablePolicy};
use super::spans::Spans;

/// The guardrails file's name, directly inside `desired/`.
pub const FILE_NAME: &str = "_guardrails.yaml";

/// Whether `path` (repository-relative) is the guardrails file.
pub fn is_guardrails_file(path: &str) -> bool {
    path.rsplit('/').next() == Some(FILE_NAME)
}

/// The guardrails file that parsed, with the positions of its values.
#[derive(Debug, Clone)]
pub struct LoadedGuardrails {
    pub file: String,
    pub guardrails: Guardrails,
    pub spans: Spans,
}

/// Parses the guardrails file, under the same limits as a policy. Never
/// panics; the error is a finding.
pub fn load(file: &str, bytes: &[u8]) -> Result<LoadedGuardrails, Finding> {
    let (guardrails, spans) = load::parse::<Guardrails>(file, bytes)?;
    Ok(LoadedGuardrails { file: file.to_string(), guardrails, spans })
}

/// The JSON Schema of the guardrails file, pretty-printed.
pub fn json_schema() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(Guardrails)).unwrap_or_default()
}

/// A day as a count of days since 1970-01-01 (UTC).
pub type Day = i64;

/// Today (UTC).
pub fn today() -> Day {
    (crate::state::now() / 86_400) as Day
}

/// `YYYY-MM-DD` as a [`Day`].
pub fn parse_day(text: &str) -> Option<Day> {
    let well_formed =
        text.len() == 10 && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !well_formed {
        return None;
    }
    let midnight = DateTime::from_str(&format!("{text}T00:00:00Z"), Format::DateTime).ok()?;
    Some(midnight.secs().div_euclid(86_400))
}

/// The guardrails file's own findings: rule ids used twice, exceptions
/// naming a rule or a policy that does not exist (`policies`: the names of
/// the policies and of every policy file, loaded or not), dates that are no
/// dates, and exceptions that expired before `today`.
pub fn check_file(loaded: &LoadedGuardrails, policies: &BTreeSet<String>, today: Day) -> Vec<Finding> {
    let mut found = Vec::new();
    let error = |path: &str, rule: &'static str, message: String, hint: &str| {
        Finding::error(&loaded.file, loaded.spans.value(path), rule, message, hint.to_string())
    };
    let mut ids = BTreeSet::new();
    for (index, rule) in loaded.guardrails.rules.iter().enumerate() {
        if !is_rule_id(&rule.id) {
            found.push(error(
                &format!("rules[{index}].id"),
                "guardrail-id",
                format!("`{}` is not a rule id", shown(&rule.id)),
                "use [a-z0-9-], 1 to 63 characters",
            ));
        }
        if !ids.insert(rule.id.as_str()) {
            found.push(error(
                &format!("rules[{index}].id"),
                "guardrail-id",
                format!("rule id `{}` is used twice", shown(&rule.id)),
                "give every rule its own id",
            ));
        }
    }
    for (index, exception) in loaded.guardrails.exceptions.iter().enumerate() {
        let at = |field: &str| format!("exceptions[{index}].{field}");
        if !ids.contains(exception.rule.as_str()) {
            found.push(error(
                &at("rule"),
                "guardrail-exception",
                format!("the exception names rule `{}`, which is not defined", shown(&exception.rule)),
                "name a rule of this file, or remove the exception",
            ));
        }
        if !policies.contains(&exception.policy) {
            found.push(error(
                &at("policy"),
                "guardrail-exception",
                format!("the exception names policy `{}`, which is not in desired/", shown(&exception.policy)),
                "name a policy of this repository, or remove the exception",
            ));
        }
        match parse_day(&exception.expires) {
            None => found.push(error(
                &at("expires"),
                "guardrail-exception",
                format!("`{}` is not a date", shown(&exception.expires)),
                "write the last day the exception holds as YYYY-MM-DD",
            )),
            Some(day) if day < today => found.push(error(
                &at("expires"),
                "guardrail-exception",
                format!(
                    "the exception of {} from rule {} expired on {}",
                    shown(&exception.policy),
                    shown(&exception.rule),
                    exception.expires
                ),
                "meet the rule, or renew the exception with a new approval and date",
            )),
            Some(_) => {}
        }
    }
    found
}

fn is_rule_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

fn shown(text: &str) -> String {
    crate::policy::names::shown(text)
}

/// Every breach of every rule by `loaded`: an error at the offending value,
/// or a warning when a live exception covers it.
pub fn check_policy(guardrails: &Guardrails, loaded: &LoadedPolicy, today: Day) -> Vec<Finding> {
    let policy = &loaded.policy;
    let mut found = Vec::new();
    for rule in guardrails.rules.iter().filter(|rule| selects(&rule.select, policy)) {
        let exception = live_exception(guardrails, rule, policy, today);
        for breach in breaches(&rule.require, policy) {
            let position = if breach.missing { loaded.spans.key(&breach.path) } else { loaded.spans.value(&breach.path) };
            found.push(match exception {
                None => Finding::error(
                    &loaded.file,
                    position,
                    "guardrail",
                    format!("guardrail {} (owner {}): {}; {}", rule.id, rule.owner, breach.what, rule.reason),
                    format!(
                        "{}, or ask {} for an exception in desired/{FILE_NAME} (rule {}, policy {}, reason, approved_by, expires)",
                        breach.fix, rule.owner, rule.id, policy.metadata.name
                    ),
                ),
                Some(exception) => Finding::warning(
                    &loaded.file,
                    position,
                    "guardrail-exception",
                    format!(
                        "guardrail {} excepted through {} (approved by {}: {}): {}",
                        rule.id, exception.expires, exception.approved_by, exception.reason, breach.what
                    ),
                    format!("{} before the exception expires", breach.fix),
                ),
            });
        }
    }
    found
}

/// The exception that lets `policy` break `rule` on `today`, if one does.
fn live_exception<'a>(guardrails: &'a Guardrails, rule: &Rule, policy: &TablePolicy, today: Day) -> Option<&'a Exception> {
    guardrails
        .exceptions
        .iter()
        .find(|e| e.rule == rule.id && e.policy == policy.metadata.name && parse_day(&e.expires).is_some_and(|last| last >= today))
}

/// One policy breaking one rule (with no exception that holds).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Broken {
    pub policy: String,
    pub rule: String,
}

/// Every rule of `guardrails` each of `policies` breaks on `today`.
fn broken(guardrails: Option<&Guardrails>, policies: &[LoadedPolicy], today: Day) -> BTreeSet<Broken> {
    let Some(guardrails) = guardrails else { return BTreeSet::new() };
    let mut found = BTreeSet::new();
    for loaded in policies {
        let policy = &loaded.policy;
        for rule in guardrails.rules.iter().filter(|rule| selects(&rule.select, policy)) {
            if live_exception(guardrails, rule, policy, today).is_none() && !breaches(&rule.require, policy).is_empty() {
                found.insert(Broken { policy: policy.metadata.name.clone(), rule: rule.id.clone() });
            }
        }
    }
    found
}

/// What a change to the guardrails file does, judged on the policies of the
/// newer revision: the rules it adds, removes or changes, and the policies
/// it newly breaks (or frees), so that a pull request changing the rules
/// shows whom they catch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// The revision the file is compared with.
    pub base: String,
    pub rules_added: Vec<String>,
    pub rules_removed: Vec<String>,
    pub rules_changed: Vec<String>,
    /// Exceptions added, removed or changed, as `rule/policy`.
    pub exceptions_changed: Vec<String>,
    pub newly_broken: Vec<Broken>,
    pub no_longer_broken: Vec<Broken>,
}

/// The change from `before` (the file at `base`; `None` where it had none)
/// to `after` (this revision's), for `policies` (this revision's); `None`
/// when the file did not change.
pub fn compare(
    base: &str,
    before: Option<&Guardrails>,
    after: Option<&Guardrails>,
    policies: &[LoadedPolicy],
    today: Day,
) -> Option<FileChange> {
    if before == after {
        return None;
    }
    let rules = |g: Option<&Guardrails>| -> std::collections::BTreeMap<String, Rule> {
        g.map(|g| g.rules.iter().map(|r| (r.id.clone(), r.clone())).collect()).unwrap_or_default()
    };
    let (old_rules, new_rules) = (rules(before), rules(after));
    let exceptions = |g: Option<&Guardrails>| -> BTreeSet<String> {
        g.map(|g| g.exceptions.iter().map(|e| serde_json::to_string(e).unwrap_or_default()).collect()).unwrap_or_default()
    };
    let (old_exceptions, new_exceptions) = (exceptions(before), exceptions(after));
    let named = |g: Option<&Guardrails>, text: &String| {
        g.and_then(|g| g.exceptions.iter().find(|e| serde_json::to_string(e).ok().as_ref() == Some(text)))
            .map(|e| format!("{}/{}", e.rule, e.policy))
    };
    let exceptions_changed: BTreeSet<String> = old_exceptions
        .symmetric_difference(&new_exceptions)
        .filter_map(|text| named(after, text).or_else(|| named(before, text)))
        .collect();
    let (was, is) = (broken(before, policies, today), broken(after, policies, today));
    Some(FileChange {
        base: base.to_string(),
        rules_added: new_rules.keys().filter(|id| !old_rules.contains_key(*id)).cloned().collect(),
        rules_removed: old_rules.keys().filter(|id| !new_rules.contains_key(*id)).cloned().collect(),
        rules_changed: new_rules
            .iter()
            .filter(|(id, rule)| old_rules.get(*id).is_some_and(|old| old != *rule))
            .map(|(id, _)| id.clone())
            .collect(),
        exceptions_changed: exceptions_changed.into_iter().collect(),
        newly_broken: is.difference(&was).cloned().collect(),
        no_longer_broken: was.difference(&is).cloned().collect(),
    })
}

/// The finding every policy gets when the guardrails file cannot be read.
pub fn unreadable(loaded: &LoadedPolicy, guardrails_file: &str) -> Finding {
    Finding::error(
        &loaded.file,
        Position::START,
        "guardrail",
        format!("the guardrails file {guardrails_file} cannot be read, so this policy cannot be checked against it"),
        format!("fix {guardrails_file} (its own error says how)"),
    )
}

/// Whether `select` takes `policy`: every criterion given matches.
pub fn selects(select: &Select, policy: &TablePolicy) -> bool {
    let metadata = &policy.metadata;
    (select.environments.is_empty() || select.environments.contains(&metadata.environment))
        && (select.names.is_empty() || select.names.iter().any(|pattern| wildcard(pattern, &metadata.name)))
        && (select.owners.is_empty() || metadata.owner.as_ref().is_some_and(|owner| select.owners.contains(owner)))
}

/// `*` matches any run of characters; everything else itself. Linear in
/// the lengths (no backtracking blow-up on hostile patterns).
fn wildcard(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] != b'*' && pattern[p] == text[t] {
            (p, t) = (p + 1, t + 1);
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            (p, t) = (star_p + 1, star_t + 1);
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|b| *b == b'*')
}

/// One requirement a policy does not meet: where, what, and how to fix it.
struct Breach {
    /// The value that breaks the rule, or (for something missing) the key
    /// of the section it belongs in.
    path: String,
    missing: bool,
    what: String,
    fix: String,
}

/// A value that breaks the rule.
fn breach(path: impl Into<String>, what: String, fix: String) -> Breach {
    Breach { path: path.into(), missing: false, what, fix }
}

/// Something the rule requires and the section at `path` lacks.
fn missing(path: impl Into<String>, what: String, fix: String) -> Breach {
    Breach { path: path.into(), missing: true, what, fix }
}

/// Every requirement of `require` that `policy` does not meet.
fn breaches(require: &Require, policy: &TablePolicy) -> Vec<Breach> {
    let spec = &policy.spec;
    let backup = &spec.backup;
    let mut found = Vec::new();
    if let Some(max) = require.max_rpo.filter(|max| spec.objectives.rpo.seconds() > max.seconds()) {
        found.push(breach(
            "spec.objectives.rpo",
            format!("RPO {} is above the {max} maximum", spec.objectives.rpo),
            format!("lower objectives.rpo to {max} or less"),
        ));
    }
    if let Some(max) = require.max_rto.filter(|max| spec.objectives.rto.seconds() > max.seconds()) {
        found.push(breach(
            "spec.objectives.rto",
            format!("RTO {} is above the {max} maximum", spec.objectives.rto),
            format!("lower objectives.rto to {max} or less"),
        ));
    }
    if let Some(min) = require.min_retention.filter(|min| backup.retention.seconds() < min.seconds()) {
        found.push(breach(
            "spec.backup.retention",
            format!("retention {} is below the {min} minimum", backup.retention),
            format!("keep recovery points {min} or longer"),
        ));
    }
    if let Some(min) = require.min_copy_retention {
        for (index, copy) in backup.copies.iter().enumerate().filter(|(_, c)| c.retention.seconds() < min.seconds()) {
            found.push(breach(
                format!("spec.backup.copies[{index}].retention"),
                format!("the copy to {} is kept {}, below the {min} minimum", copy.region, copy.retention),
                format!("keep the copy {min} or longer"),
            ));
        }
    }
    if require.copy_to_another_region && !backup.copies.iter().any(|c| c.region != spec.region) {
        found.push(missing(
            "spec.backup",
            "no copy in another region".into(),
            "add backup.copies with a region other than the table's".into(),
        ));
    }
    if let Some(lock) = &require.vault_lock {
        match backup.vault.as_ref().and_then(|v| v.lock.as_ref()) {
            None => found.push(missing("spec.backup", "the vault is not locked".into(), "add backup.vault.lock".into())),
            Some(have) => {
                if let Some(min) = lock.min_retention.filter(|min| have.min_retention.seconds() < min.seconds()) {
                    found.push(breach(
                        "spec.backup.vault.lock.min_retention",
                        format!("the vault lock's min_retention {} is below {min}", have.min_retention),
                        format!("raise the lock's min_retention to {min}"),
                    ));
                }
            }
        }
    }
    if require.pitr && backup.point_in_time_recovery != Some(true) {
        found.push(missing(
            "spec.backup",
            "point-in-time recovery is not turned on".into(),
            "set backup.point_in_time_recovery: true".into(),
        ));
    }
    let verify = &spec.verify;
    if let Some(max) = require.max_verify_every.filter(|max| verify.every.seconds() > max.seconds()) {
        found.push(breach(
            "spec.verify.every",
            format!("proven every {}, less often than every {max}", verify.every),
            format!("set verify.every to {max} or less"),
        ));
    }
    let has: BTreeSet<&str> = verify.checks.iter().map(Check::name).collect();
    for check in require.checks.iter().filter(|c| !has.contains(c.as_str())) {
        found.push(missing(
            "spec.verify.checks",
            format!("the drill does not run the {} check", check.as_str()),
            format!("add `{}` to verify.checks", check.as_str()),
        ));
    }
    if require.drill_in_copy_region && !verify.regions.iter().any(|r| backup.copies.iter().any(|c| &c.region == r)) {
        found.push(missing("spec.verify.regions", "no drill proves a copy region".into(), "add a copy region to verify.regions".into()));
    }
    found
}

#[cfg(test)]
mod tests;
