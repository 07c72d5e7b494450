//! The three renderings of a [`Plan`]: [`text`] for a terminal, [`markdown`]
//! for a pull-request comment, [`json`] for machines. Pure: a plan in, a
//! string out; whether to colour is the caller's decision (a TTY, and
//! `NO_COLOR` unset).
//!
//! All three speak one change vocabulary: `+` add, `~` modify, `-` remove,
//! `=` unchanged, a loud `(replace)` on a resource CloudFormation replaces,
//! and `!` on a change that weakens protection.
//!
//! # Guarantees
//! - Text without colour holds no escape sequence, also when AWS or a
//!   template hands us one: control characters from the plan are shown as
//!   `?`.
//! - Markdown stays under GitHub's comment limit ([`MARKDOWN_BUDGET`]): the
//!   summary table is always whole; template diffs go first (largest
//!   first), then change-set details, then whole sections, and a note says
//!   how many sections were shortened.
//! - Values from AWS or templates cannot break the markdown: table cells
//!   escape `|`, `<`, `>`, `&` and markdown punctuation; code fences are
//!   longer than any run of backticks they hold.

mod json;
mod markdown;
mod text;

#[cfg(test)]
mod tests;

use serde::Serialize;

use super::model::{OrphanStack, Plan, PolicyPlan, ResourceChange, StackPlan, StackStatus};
use crate::markup::plural;
use crate::policy::guardrails::{Broken, FileChange};

pub use json::json;
pub use markdown::markdown;
pub use text::text;

/// The largest markdown [`markdown`] returns, in bytes: GitHub refuses a
/// comment over 65,536 characters, and the CI step that posts it may add a
/// line or two of its own.
pub const MARKDOWN_BUDGET: usize = 64_000;

/// The counts every format ends with (and JSON's `summary` object).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Stacks to create.
    pub create: usize,
    /// Stacks to update.
    pub change: usize,
    /// Stacks already as desired.
    pub unchanged: usize,
    /// drctl stacks no desired policy renders (left alone).
    pub orphans: usize,
    /// Policy files that could not be planned.
    pub invalid: usize,
    /// Policies whose planning failed (an AWS error).
    pub failed: usize,
    /// Tables whose point-in-time recovery setting changes.
    pub pitr_changes: usize,
    /// Semantic changes that lower protection.
    pub weakening: usize,
    /// Resources CloudFormation replaces (or may replace).
    pub replacements: usize,
}

impl Summary {
    pub fn of(plan: &Plan) -> Self {
        let stacks = || plan.policies.iter().flat_map(|p| &p.stacks);
        let count = |status| stacks().filter(|s| s.status == status).count();
        Self {
            create: count(StackStatus::New),
            change: count(StackStatus::Changed),
            unchanged: count(StackStatus::Unchanged),
            orphans: plan.orphans.len(),
            invalid: plan.invalid.len(),
            failed: plan.policies.iter().filter(|p| p.error.is_some()).count(),
            pitr_changes: plan.policies.iter().filter(|p| p.pitr.is_some()).count(),
            weakening: stacks().flat_map(|s| &s.semantic).filter(|c| c.weakens).count()
                + plan.policies.iter().filter(|p| pitr_weakens(p)).count(),
            replacements: stacks().flat_map(|s| &s.changes).filter(|c| c.replaces()).count(),
        }
    }

    /// "2 to create, 1 to change, 3 unchanged, 1 orphan, 1 invalid".
    pub fn sentence(&self) -> String {
        let mut out = format!(
            "{} to create, {} to change, {} unchanged, {}, {} invalid",
            self.create,
            self.change,
            self.unchanged,
            plural(self.orphans, "orphan", "orphans"),
            self.invalid
        );
        if self.pitr_changes > 0 {
            out += &format!(", {}", plural(self.pitr_changes, "PITR change", "PITR changes"));
        }
        if self.failed > 0 {
            out += &format!(", {} failed", self.failed);
        }
        out
    }
}

fn pitr_weakens(policy: &PolicyPlan) -> bool {
    policy.pitr.as_ref().is_some_and(|p| !p.to && p.from == Some(true))
}

fn on_off(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "on",
        Some(false) => "off",
        None => "table not found",
    }
}

fn status_word(status: StackStatus) -> (&'static str, &'static str) {
    match status {
        StackStatus::New => ("+", "new"),
        StackStatus::Changed => ("~", "changed"),
        StackStatus::Unchanged => ("=", "unchanged"),
    }
}

/// A deployed status worth showing: anything but a settled success.
fn unusual_status(stack: &StackPlan) -> Option<&str> {
    stack.deployed_status.as_deref().filter(|s| !matches!(*s, "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE"))
}

fn replacement_marker(change: &ResourceChange) -> Option<&'static str> {
    match change.replacement {
        Some(super::model::Replacement::True) => Some("(replace)"),
        Some(super::model::Replacement::Conditional) => Some("(conditional replace)"),
        _ => None,
    }
}

/// What replacing a resource means, said plainly.
fn replacement_warning(change: &ResourceChange) -> String {
    let id = &change.logical_id;
    let what = if change.resource_type == "AWS::Backup::BackupVault" {
        "the new vault starts empty; the old one keeps its recovery points (DeletionPolicy: Retain) but is no longer managed"
    } else {
        "CloudFormation creates a new one, then deletes the old one"
    };
    match change.replacement {
        Some(super::model::Replacement::Conditional) => format!("{id} may be replaced (depends on values resolved at apply): {what}"),
        _ => format!("{id} is replaced: {what}"),
    }
}

/// A commit id cut to 12 characters (a branch name stays whole).
fn short(revision: &str) -> String {
    if revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()) { revision[..12].to_string() } else { revision.to_string() }
}

/// The lines of the guardrails-file section: what the file's change does
/// to the rules and to the policies of this revision.
fn guardrails_change_lines(change: &FileChange) -> Vec<String> {
    let list = |items: &[String]| items.join(", ");
    let pairs = |items: &[Broken]| items.iter().map(|b| format!("{} (rule {})", b.policy, b.rule)).collect::<Vec<_>>().join(", ");
    let mut lines = Vec::new();
    let mut push = |label: &str, text: String| {
        if !text.is_empty() {
            lines.push(format!("{label}: {text}"));
        }
    };
    push("rules added", list(&change.rules_added));
    push("rules removed", list(&change.rules_removed));
    push("rules changed", list(&change.rules_changed));
    push("exceptions changed", list(&change.exceptions_changed));
    push("newly breaks", pairs(&change.newly_broken));
    push("no longer breaks", pairs(&change.no_longer_broken));
    if change.newly_broken.is_empty() {
        lines.push("no policy newly breaks a rule".to_string());
    }
    lines
}

fn orphan_line(orphan: &OrphanStack) -> String {
    format!("{} ({}) orphan: {} no longer desired; left alone (use --prune)", orphan.stack, orphan.region, orphan.owner())
}
