//! The plan as a pull-request comment, within [`MARKDOWN_BUDGET`].

use std::fmt::Write as _;

use super::*;
use crate::markup::{code, esc, html, plural};
use crate::plan::model::{Action, Plan, PolicyPlan, ResourceChange, StackStatus};

/// A fenced code block whose fence no line of `body` can close.
fn fence(info: &str, body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest.max(2) + 1);
    let body = body.strip_suffix('\n').unwrap_or(body);
    format!("{ticks}{info}\n{body}\n{ticks}\n")
}

/// How much of one section is shown.
#[derive(Clone, Debug)]
struct Shown {
    /// Per stack: whether its template diff is shown.
    diff: Vec<bool>,
    /// Per stack: whether its change-set details are shown.
    details: Vec<bool>,
    /// The whole section is cut down to its summary line.
    omitted: bool,
}

impl Shown {
    fn full(stacks: usize) -> Self {
        Self { diff: vec![true; stacks], details: vec![true; stacks], omitted: false }
    }
    fn shortened(&self) -> bool {
        self.omitted || self.diff.iter().chain(&self.details).any(|shown| !shown)
    }
}

enum Section<'a> {
    Policy(&'a PolicyPlan),
    Invalid(&'a crate::plan::model::InvalidPolicy),
}

/// The plan as a pull-request comment: a summary table, then one
/// collapsible section per policy that changes, within [`MARKDOWN_BUDGET`].
pub fn markdown(plan: &Plan) -> String {
    let summary = Summary::of(plan);
    let sections: Vec<Section> = plan
        .policies
        .iter()
        .filter(|p| p.has_changes() || p.error.is_some())
        .map(Section::Policy)
        .chain(plan.invalid.iter().map(Section::Invalid))
        .collect();
    let mut shown: Vec<Shown> = sections.iter().map(|s| Shown::full(if let Section::Policy(p) = s { p.stacks.len() } else { 0 })).collect();
    let mut rendered: Vec<String> = sections.iter().zip(&shown).map(|(s, w)| md_section(s, w)).collect();
    let rows = table_rows(plan);
    let head = |rows: &[String], hidden: usize, note: Option<&str>| md_head(plan, &summary, rows, hidden, note);
    // Reserve room for the note from the start, so adding it never tips
    // the comment over.
    const NOTE_ROOM: usize = 400;
    let fixed = head(&rows, 0, None).len() + NOTE_ROOM;
    let mut sections_len: usize = rendered.iter().map(String::len).sum();

    if fixed - NOTE_ROOM + sections_len > MARKDOWN_BUDGET {
        // 1. Template diffs, largest first.
        let mut diffs: Vec<(usize, usize, usize)> = sections
            .iter()
            .enumerate()
            .filter_map(|(i, s)| if let Section::Policy(p) = s { Some((i, p)) } else { None })
            .flat_map(|(i, p)| p.stacks.iter().enumerate().map(move |(j, s)| (i, j, s.template_diff.as_ref().map_or(0, String::len))))
            .filter(|d| d.2 > 0)
            .collect();
        diffs.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        for (i, j, _) in diffs {
            if fixed + sections_len <= MARKDOWN_BUDGET {
                break;
            }
            shown[i].diff[j] = false;
            let again = md_section(&sections[i], &shown[i]);
            sections_len = sections_len + again.len() - rendered[i].len();
            rendered[i] = again;
        }
        // 2. Change-set details, largest first.
        let mut details: Vec<(usize, usize, usize)> = sections
            .iter()
            .enumerate()
            .filter_map(|(i, s)| if let Section::Policy(p) = s { Some((i, p)) } else { None })
            .flat_map(|(i, p)| {
                p.stacks.iter().enumerate().map(move |(j, s)| (i, j, s.changes.iter().flat_map(|c| &c.details).map(String::len).sum()))
            })
            .filter(|d| d.2 > 0)
            .collect();
        details.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        for (i, j, _) in details {
            if fixed + sections_len <= MARKDOWN_BUDGET {
                break;
            }
            shown[i].details[j] = false;
            let again = md_section(&sections[i], &shown[i]);
            sections_len = sections_len + again.len() - rendered[i].len();
            rendered[i] = again;
        }
        // 3. Whole sections, largest first.
        let mut order: Vec<usize> = (0..sections.len()).collect();
        order.sort_by(|a, b| rendered[*b].len().cmp(&rendered[*a].len()).then(a.cmp(b)));
        for i in order {
            if fixed + sections_len <= MARKDOWN_BUDGET {
                break;
            }
            shown[i].omitted = true;
            let again = md_section(&sections[i], &shown[i]);
            sections_len = sections_len + again.len() - rendered[i].len();
            rendered[i] = again;
        }
    }
    let shortened = shown.iter().filter(|s| s.shortened()).count();
    let note = (shortened > 0).then(|| {
        format!(
            "{} shortened to fit GitHub's comment limit; run `drctl reconcile --dry-run` locally for the full plan.",
            if shortened == 1 { "1 section was".to_string() } else { format!("{shortened} sections were") }
        )
    });
    let mut out = head(&rows, 0, note.as_deref());
    if out.len() + rendered.iter().map(String::len).sum::<usize>() > MARKDOWN_BUDGET {
        // 4. Even the one-line sections do not fit next to the table: drop
        // them, and if the table alone is too long, its last rows.
        rendered.clear();
        let mut kept = rows.len();
        let note = Some(format!(
            "The plan is too large for a comment: only the summary is shown. Run `drctl reconcile --dry-run` locally for the full plan ({} sections not shown).",
            sections.len()
        ));
        out = head(&rows, 0, note.as_deref());
        while out.len() > MARKDOWN_BUDGET && kept > 0 {
            kept = kept.saturating_sub((kept / 10).max(1));
            out = head(&rows[..kept], rows.len() - kept, note.as_deref());
        }
    }
    for section in rendered {
        out += &section;
    }
    out
}

/// The most guardrail lines the comment shows; `drctl validate` lists all.
const GUARDRAIL_LINES: usize = 20;

/// The guardrails section: each breach and each exception, before the
/// table, so a reviewer sees which rule a change breaks first.
fn md_guardrails(out: &mut String, plan: &Plan) {
    if plan.guardrails.is_empty() {
        return;
    }
    let breaches = plan.guardrails.iter().filter(|n| n.breach).count();
    let excepted = plan.guardrails.len() - breaches;
    let _ = writeln!(
        out,
        "**Guardrails**: {}, {}.\n",
        plural(breaches, "breach", "breaches"),
        plural(excepted, "breach under an exception", "breaches under exceptions")
    );
    for note in plan.guardrails.iter().take(GUARDRAIL_LINES) {
        let mark = if note.breach { "❌" } else { "⚠️" };
        let _ = writeln!(out, "- {mark} {}: {}", code(&format!("{}:{}", note.file, note.line)), esc(&note.message));
    }
    if plan.guardrails.len() > GUARDRAIL_LINES {
        let _ = writeln!(out, "- … {} more: `drctl validate` lists them all", plan.guardrails.len() - GUARDRAIL_LINES);
    }
    out.push('\n');
}

/// The guardrails file's own section: whom its change newly catches.
fn md_guardrails_change(out: &mut String, plan: &Plan) {
    let Some(change) = &plan.guardrails_change else { return };
    let _ = writeln!(out, "**Guardrails file changed** since {}:\n", code(&short(&change.base)));
    for line in guardrails_change_lines(change) {
        let mark = if line.starts_with("newly breaks") { "❌ " } else { "" };
        let _ = writeln!(out, "- {mark}{}", esc(&line));
    }
    out.push('\n');
}

fn md_head(plan: &Plan, summary: &Summary, rows: &[String], hidden: usize, note: Option<&str>) -> String {
    let mut out = String::from("### drctl plan\n\n");
    match &plan.commit {
        Some(commit) => {
            let short: String = commit.chars().take(12).collect();
            let _ = write!(out, "Commit {}. ", code(&short));
        }
        None => out += "Work tree. ",
    }
    let _ = writeln!(out, "**Plan: {}.**\n", summary.sentence());
    if summary.weakening > 0 || summary.replacements > 0 || summary.failed > 0 || summary.invalid > 0 {
        let mut parts = Vec::new();
        if summary.weakening > 0 {
            parts.push(format!("{} weaken protection", plural(summary.weakening, "change would", "changes would")));
        }
        if summary.replacements > 0 {
            parts.push(format!("{} replaced", plural(summary.replacements, "resource is", "resources are")));
        }
        if summary.failed > 0 {
            parts.push(format!("{} could not be planned", plural(summary.failed, "policy", "policies")));
        }
        if summary.invalid > 0 {
            parts.push(format!("{} invalid", plural(summary.invalid, "policy file is", "policy files are")));
        }
        let _ = writeln!(out, "> [!CAUTION]\n> {}.\n", parts.join("; "));
    }
    if let Some(note) = note {
        let _ = writeln!(out, "> [!NOTE]\n> {note}\n");
    }
    md_guardrails(&mut out, plan);
    md_guardrails_change(&mut out, plan);
    if rows.is_empty() && hidden == 0 {
        out += "No policies.\n\n";
        return out;
    }
    out += "| policy | stacks | change | weakens protection? | replacements |\n| --- | --- | --- | --- | --- |\n";
    for row in rows {
        out += row;
    }
    if hidden > 0 {
        let _ = writeln!(out, "| … | {hidden} more rows not shown | | | |");
    }
    out.push('\n');
    out
}

fn table_rows(plan: &Plan) -> Vec<String> {
    let mut rows = Vec::new();
    for policy in &plan.policies {
        let stacks: Vec<String> = policy.stacks.iter().map(|s| format!("{} {}", status_word(s.status).0, code(&s.stack))).collect();
        let mut change = Vec::new();
        for status in [StackStatus::New, StackStatus::Changed] {
            let n = policy.stacks.iter().filter(|s| s.status == status).count();
            if n > 0 {
                change.push(format!("{n} {}", status_word(status).1));
            }
        }
        if let Some(pitr) = &policy.pitr {
            change.push(format!("PITR {} → {}", on_off(pitr.from), on_off(Some(pitr.to))));
        }
        if policy.error.is_some() {
            change.push("**failed to plan**".into());
        }
        if change.is_empty() {
            change.push("unchanged".into());
        }
        let weakening: Vec<&str> = policy
            .stacks
            .iter()
            .flat_map(|s| &s.semantic)
            .filter(|c| c.weakens)
            .map(|c| c.text.as_str())
            .chain(pitr_weakens(policy).then_some("point-in-time recovery turned off"))
            .collect();
        let weakens = if weakening.is_empty() {
            if policy.error.is_some() { "?".to_string() } else { "no".to_string() }
        } else {
            let mut listed: Vec<String> = weakening.iter().take(3).map(|t| esc(t)).collect();
            if weakening.len() > 3 {
                listed.push(format!("and {} more", weakening.len() - 3));
            }
            format!("**yes**: {}", listed.join("; "))
        };
        let replaced: Vec<String> = policy
            .stacks
            .iter()
            .flat_map(|s| &s.changes)
            .filter(|c| c.replaces())
            .map(|c| match replacement_marker(c) {
                Some("(replace)") | None => format!("{} **(replace)**", code(&c.logical_id)),
                Some(marker) => format!("{} {}", code(&c.logical_id), esc(marker)),
            })
            .collect();
        let replaced = if replaced.is_empty() { "none".to_string() } else { replaced.join("<br>") };
        rows.push(format!(
            "| {} | {} | {} | {} | {} |\n",
            code(&policy.name),
            if stacks.is_empty() { "—".to_string() } else { stacks.join("<br>") },
            change.join(", "),
            weakens,
            replaced
        ));
    }
    for orphan in &plan.orphans {
        rows.push(format!(
            "| {} | - {} ({}) | orphan: no longer desired; left alone (use `--prune`) | no | none |\n",
            if orphan.shared { "(shared)".to_string() } else { code(&orphan.policy) },
            code(&orphan.stack),
            esc(&orphan.region)
        ));
    }
    for invalid in &plan.invalid {
        rows.push(format!(
            "| {} | — | **invalid**: {}; not planned, its stacks are left alone | ? | none |\n",
            code(&invalid.file),
            plural(invalid.findings.len(), "finding", "findings")
        ));
    }
    rows
}

fn md_section(section: &Section, shown: &Shown) -> String {
    match section {
        Section::Policy(policy) => md_policy(policy, shown),
        Section::Invalid(invalid) => {
            let mut out = format!("<details><summary><code>{}</code>: invalid</summary>\n\n", html(&invalid.file));
            if shown.omitted {
                out += "_Findings omitted to fit the comment limit._\n\n";
            } else {
                out += &fence("text", &invalid.findings.join("\n"));
                out.push('\n');
            }
            out += "</details>\n\n";
            out
        }
    }
}

fn md_policy(policy: &PolicyPlan, shown: &Shown) -> String {
    let mut headline = Vec::new();
    for status in [StackStatus::New, StackStatus::Changed] {
        let n = policy.stacks.iter().filter(|s| s.status == status).count();
        if n > 0 {
            headline.push(format!("{} {n} {}", status_word(status).0, status_word(status).1));
        }
    }
    if policy.pitr.is_some() {
        headline.push("~ PITR".to_string());
    }
    if policy.stacks.iter().flat_map(|s| &s.semantic).any(|c| c.weakens) || pitr_weakens(policy) {
        headline.push("! weakens protection".to_string());
    }
    if policy.stacks.iter().flat_map(|s| &s.changes).any(ResourceChange::replaces) {
        headline.push("(replace)".to_string());
    }
    if policy.error.is_some() {
        headline.push("failed to plan".to_string());
    }
    let mut out = format!(
        "<details><summary><code>{}</code> ({} in {}): {}</summary>\n\n",
        html(&policy.name),
        html(&policy.table),
        html(&policy.region),
        html(&headline.join(", "))
    );
    if shown.omitted {
        out += "_Details omitted to fit the comment limit._\n\n</details>\n\n";
        return out;
    }
    if let Some(error) = &policy.error {
        let _ = writeln!(out, "**Error:** {}\n", esc(error));
    }
    for warning in &policy.warnings {
        let _ = writeln!(out, "**Warning:** {}\n", esc(warning));
    }
    for (j, stack) in policy.stacks.iter().enumerate() {
        if stack.status == StackStatus::Unchanged {
            let _ = writeln!(out, "= {} ({}): unchanged\n", code(&stack.stack), esc(&stack.region));
            continue;
        }
        let (symbol, word) = status_word(stack.status);
        let deployed = unusual_status(stack).map(|s| format!(" (deployed: {})", esc(s))).unwrap_or_default();
        let _ = writeln!(out, "**{symbol} {} ({}): {word}**{deployed}\n", code(&stack.stack), esc(&stack.region));
        for change in &stack.semantic {
            if change.weakens {
                let _ = writeln!(out, "- ⚠️ **{}** (weakens protection)", esc(&change.text));
            } else {
                let _ = writeln!(out, "- {}", esc(&change.text));
            }
        }
        if !stack.semantic.is_empty() {
            out.push('\n');
        }
        for change in stack.changes.iter().filter(|c| c.replaces()) {
            let _ = writeln!(out, "> [!WARNING]\n> {}\n", esc(&replacement_warning(change)));
        }
        if !stack.changes.is_empty() {
            let details = shown.details[j] && stack.changes.iter().any(|c| !c.details.is_empty());
            out += if details {
                "| | logical id | type | replacement | details |\n| --- | --- | --- | --- | --- |\n"
            } else {
                "| | logical id | type | replacement |\n| --- | --- | --- | --- |\n"
            };
            for change in &stack.changes {
                let replacement = match replacement_marker(change) {
                    Some(marker) => format!("**{}**", esc(marker)),
                    None if change.action == Action::Modify => "no".to_string(),
                    None => String::new(),
                };
                let _ = write!(
                    out,
                    "| {} | {} | {} | {} |",
                    change.action.symbol(),
                    code(&change.logical_id),
                    code(&change.resource_type),
                    replacement
                );
                if details {
                    let cells: Vec<String> = change.details.iter().map(|d| esc(d)).collect();
                    let _ = write!(out, " {} |", cells.join("<br>"));
                }
                out.push('\n');
            }
            out.push('\n');
            if !shown.details[j] && stack.changes.iter().any(|c| !c.details.is_empty()) {
                out += "_Change details omitted to fit the comment limit._\n\n";
            }
        } else if stack.status == StackStatus::Changed {
            out += "No resource changes.\n\n";
        }
        if let Some(diff) = &stack.template_diff {
            if shown.diff[j] {
                let _ = writeln!(out, "<details><summary>template diff</summary>\n\n{}\n</details>\n", fence("diff", diff));
            } else {
                let _ = writeln!(out, "_Template diff ({} lines) omitted to fit the comment limit._\n", diff.lines().count());
            }
        }
    }
    if let Some(pitr) = &policy.pitr {
        let mark = if pitr_weakens(policy) { "⚠️ " } else { "" };
        let _ = writeln!(
            out,
            "{mark}~ point-in-time recovery of {} ({}): {} → {}\n",
            code(&pitr.table),
            esc(&pitr.region),
            on_off(pitr.from),
            on_off(Some(pitr.to))
        );
    }
    out += "</details>\n\n";
    out
}
