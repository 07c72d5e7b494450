//! The plan for a terminal: coloured on a TTY, plain otherwise.

use std::fmt::Write as _;

use super::*;
use crate::markup::{BOLD, BOLD_RED, BOLD_YELLOW, CYAN, DIM, GREEN, Paint, RED, YELLOW, plural};
use crate::plan::model::{Action, Plan, PolicyPlan, StackPlan, StackStatus};

fn action_style(action: Action) -> &'static str {
    match action {
        Action::Add | Action::Import => GREEN,
        Action::Modify | Action::Dynamic => YELLOW,
        Action::Remove => RED,
    }
}

/// The plan for a person at a terminal. `colour` adds ANSI colours (the
/// caller decides: a TTY, and `NO_COLOR` unset).
pub fn text(plan: &Plan, colour: bool) -> String {
    let p = Paint { colour };
    let mut out = String::new();
    match &plan.commit {
        Some(commit) => out += &p.paint(BOLD, &format!("drctl plan for commit {commit}")),
        None => out += &p.paint(BOLD, "drctl plan for the work tree"),
    }
    out.push('\n');
    if !plan.guardrails.is_empty() {
        let _ = writeln!(out, "\n{}", p.paint(BOLD, "guardrails:"));
        for note in &plan.guardrails {
            let (mark, colour) = if note.breach { ("✗", BOLD_RED) } else { ("!", YELLOW) };
            let _ = writeln!(out, "  {} {}", p.paint(colour, mark), p.paint("", &format!("{}:{}: {}", note.file, note.line, note.message)));
        }
    }
    if let Some(change) = &plan.guardrails_change {
        let _ = writeln!(out, "\n{}", p.paint(BOLD, &format!("guardrails file changed (since {}):", short(&change.base))));
        for line in guardrails_change_lines(change) {
            let colour = if line.starts_with("newly breaks") { BOLD_RED } else { "" };
            let _ = writeln!(out, "  {}", p.paint(colour, &line));
        }
    }
    if !plan.unreached.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            p.paint(BOLD_RED, "accounts not reached (their policies are not planned, no orphan is looked for there):")
        );
        for why in &plan.unreached {
            let _ = writeln!(out, "  {}", p.paint("", why));
        }
    }
    for policy in &plan.policies {
        out.push('\n');
        text_policy(&mut out, p, policy, &plan.shared);
    }
    if !plan.aws_backup_usage.is_empty() {
        let _ = writeln!(out, "\n{}", p.paint(BOLD, "AWS Backup per Region (used/quota, vaults and plans of others included):"));
        for region in &plan.aws_backup_usage {
            let _ = writeln!(out, "  {}", region.line());
        }
    }
    if !plan.orphans.is_empty() {
        out.push('\n');
        for orphan in &plan.orphans {
            let _ = writeln!(out, "{} {}", p.paint(RED, "-"), p.paint("", &orphan_line(orphan)));
        }
    }
    for invalid in &plan.invalid {
        out.push('\n');
        let _ =
            writeln!(out, "{} {} (not planned; its stacks are left alone)", p.paint(BOLD_RED, "invalid:"), p.paint(BOLD, &invalid.file));
        for finding in &invalid.findings {
            for line in finding.lines() {
                let _ = writeln!(out, "    {}", p.paint("", line));
            }
        }
    }
    let summary = Summary::of(plan);
    out.push('\n');
    out += &p.paint(BOLD, &format!("Plan: {}.", summary.sentence()));
    out.push('\n');
    if summary.weakening > 0 || summary.replacements > 0 {
        let mut warn = Vec::new();
        if summary.weakening > 0 {
            warn.push(format!("{} weakening protection", plural(summary.weakening, "change", "changes")));
        }
        if summary.replacements > 0 {
            warn.push(format!("{} replaced", plural(summary.replacements, "resource", "resources")));
        }
        out += &p.paint(BOLD_YELLOW, &format!("! review: {}.", warn.join(", ")));
        out.push('\n');
    }
    out
}

fn text_policy(out: &mut String, p: Paint, policy: &PolicyPlan, shared: &[crate::plan::SharedStackPlan]) {
    let _ = writeln!(
        out,
        "{} {}",
        p.paint(BOLD, &format!("{}:", policy.name)),
        p.paint("", &format!("{} in {} ({})", policy.table, policy.region, policy.file))
    );
    for stack in &policy.stacks {
        text_stack(out, p, stack);
        let members = shared.iter().find(|s| s.plan.stack == stack.stack && s.plan.region == stack.region).map(|s| s.members.len());
        if let Some(members) = members {
            let _ = writeln!(out, "      · shares {} {} with {}", stack.role.tag_value(), stack.stack, plural(members, "table", "tables"));
        }
    }
    if let Some(pitr) = &policy.pitr {
        let (symbol, style) = if pitr_weakens(policy) { ("!", BOLD_YELLOW) } else { ("~", YELLOW) };
        let line = format!("point-in-time recovery of {} ({}): {} → {}", pitr.table, pitr.region, on_off(pitr.from), on_off(Some(pitr.to)));
        let _ = writeln!(out, "  {} {}", p.paint(style, symbol), p.paint(if symbol == "!" { YELLOW } else { "" }, &line));
    }
    for warning in &policy.warnings {
        let _ = writeln!(out, "  {} {}", p.paint(BOLD_YELLOW, "warning:"), p.paint("", warning));
    }
    if let Some(error) = &policy.error {
        for (i, line) in error.lines().enumerate() {
            let label = if i == 0 { "error:" } else { "      " };
            let _ = writeln!(out, "  {} {}", p.paint(BOLD_RED, label), p.paint("", line));
        }
    }
}

fn text_stack(out: &mut String, p: Paint, stack: &StackPlan) {
    let (symbol, word) = status_word(stack.status);
    let style = match stack.status {
        StackStatus::New => GREEN,
        StackStatus::Changed => YELLOW,
        StackStatus::Unchanged => DIM,
    };
    let deployed = unusual_status(stack).map(|s| format!(" (deployed: {s})")).unwrap_or_default();
    let _ = writeln!(out, "  {} {}", p.paint(style, symbol), p.paint("", &format!("{} ({}) {word}{deployed}", stack.stack, stack.region)));
    for change in &stack.semantic {
        if change.weakens {
            let _ = writeln!(out, "      {} {}", p.paint(BOLD_YELLOW, "!"), p.paint(YELLOW, &change.text));
        } else {
            let _ = writeln!(out, "      · {}", p.paint("", &change.text));
        }
    }
    for change in &stack.changes {
        let marker = replacement_marker(change).map(|m| format!(" {}", p.paint(BOLD_RED, &m.to_uppercase()))).unwrap_or_default();
        let _ = writeln!(
            out,
            "      {} {}{marker}",
            p.paint(action_style(change.action), change.action.symbol()),
            p.paint("", &format!("{} {}", change.logical_id, change.resource_type))
        );
        for detail in &change.details {
            let _ = writeln!(out, "          {}", p.paint(DIM, detail));
        }
    }
    for change in stack.changes.iter().filter(|c| c.replaces()) {
        let _ = writeln!(out, "      {} {}", p.paint(BOLD_RED, "!"), p.paint(BOLD_RED, &replacement_warning(change)));
    }
    if stack.status == StackStatus::Changed && stack.previewed && stack.changes.is_empty() {
        let _ = writeln!(out, "      {}", p.paint(DIM, "no resource changes"));
    }
    if let Some(diff) = &stack.template_diff {
        for line in diff.lines() {
            let style = if line.starts_with("+++") || line.starts_with("---") {
                BOLD
            } else if line.starts_with('+') {
                GREEN
            } else if line.starts_with('-') {
                RED
            } else if line.starts_with("@@") {
                CYAN
            } else {
                ""
            };
            let _ = writeln!(out, "      {}", p.paint(style, line));
        }
    }
}
