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

use std::fmt::Write as _;

use serde::Serialize;

use super::model::{Action, OrphanStack, Plan, PolicyPlan, ResourceChange, StackPlan, StackStatus};
use crate::markup::{BOLD, BOLD_RED, BOLD_YELLOW, CYAN, DIM, GREEN, Paint, RED, YELLOW, code, esc, html, plural};

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

fn orphan_line(orphan: &OrphanStack) -> String {
    format!("{} ({}) orphan: policy `{}` no longer desired; left alone (use --prune)", orphan.stack, orphan.region, orphan.policy)
}

// ---------------------------------------------------------------- text

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
    for policy in &plan.policies {
        out.push('\n');
        text_policy(&mut out, p, policy);
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

fn text_policy(out: &mut String, p: Paint, policy: &PolicyPlan) {
    let _ = writeln!(
        out,
        "{} {}",
        p.paint(BOLD, &format!("{}:", policy.name)),
        p.paint("", &format!("{} in {} ({})", policy.table, policy.region, policy.file))
    );
    for stack in &policy.stacks {
        text_stack(out, p, stack);
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

// ---------------------------------------------------------------- markdown

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
    Invalid(&'a super::model::InvalidPolicy),
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
            code(&orphan.policy),
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

// ---------------------------------------------------------------- json

/// The JSON document [`json`] prints.
#[derive(Serialize)]
struct Document<'a> {
    format_version: u32,
    summary: Summary,
    #[serde(flatten)]
    plan: &'a Plan,
}

/// The plan for machines: pretty-printed JSON, stable field names.
///
/// Schema (`format_version` 1; fields are only ever added under the same
/// version):
///
/// ```text
/// {
///   "format_version": 1,
///   "summary": { "create", "change", "unchanged", "orphans", "invalid",
///                "failed", "pitr_changes", "weakening", "replacements" },   // counts
///   "commit": string | null,              // the desired state's commit; null for a work tree
///   "policies": [{
///     "name", "file", "content_hash", "table", "region": string,
///     "stacks": [{
///       "stack", "region": string,
///       "role": "primary" | "dr-copy" | "bootstrap",
///       "status": "new" | "changed" | "unchanged",
///       "deployed_status": string | null,  // CloudFormation's status of the deployed stack
///       "semantic": [{ "text": string, "weakens": bool }],   // "retention 35d → 7d"
///       "template_diff": string | null,    // unified diff, deployed → rendered
///       "changes": [{                      // the change-set preview
///         "action": "Add" | "Modify" | "Remove" | "Import" | "Dynamic",
///         "logical_id", "resource_type": string,
///         "replacement": "True" | "False" | "Conditional" | null,
///         "scope": [string], "details": [string]
///       }]
///     }],
///     "pitr": { "table", "region": string, "from": bool | null, "to": bool } | null,
///     "error": string | null               // why the policy could not be planned
///   }],
///   "orphans": [{ "stack", "region", "policy", "status": string }],
///   "invalid": [{ "file": string, "findings": [string] }]
/// }
/// ```
pub fn json(plan: &Plan) -> String {
    let document = Document { format_version: 1, summary: Summary::of(plan), plan };
    let mut out = serde_json::to_string_pretty(&document).unwrap_or_else(|e| format!("{{\"format_version\": 1, \"error\": \"{e}\"}}"));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::{DrChange, InvalidPolicy, PitrChange, Replacement};
    use crate::plan::semantic::dr_changes;
    use crate::policy::{Duration, TablePolicy, load};
    use crate::render::{StackRole, render};

    const SCANS: &str = include_str!("../../desired/spatial-scans.yaml");

    fn scans() -> TablePolicy {
        load("desired/spatial-scans.yaml", SCANS.as_bytes()).expect("the example policy loads").policy
    }

    fn resource(action: Action, id: &str, kind: &str, replacement: Option<Replacement>, details: &[&str]) -> ResourceChange {
        ResourceChange {
            action,
            logical_id: id.into(),
            resource_type: kind.into(),
            replacement,
            scope: vec!["Properties".into()],
            details: details.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// The plan of spatial-scans whose deployed state is `deployed` (the
    /// DR stack is new, the primary changed) plus the given extra pieces.
    fn policy_plan(name: &str, deployed: &TablePolicy, desired: &TablePolicy) -> PolicyPlan {
        let old = render(deployed).unwrap();
        let new = render(desired).unwrap();
        let stacks = new
            .iter()
            .map(|stack| {
                let before = old.iter().find(|o| o.name == stack.name && stack.role == StackRole::Primary);
                let diff = before.map(|b| {
                    similar::TextDiff::from_lines(&(b.to_json() + "\n"), &(stack.to_json() + "\n"))
                        .unified_diff()
                        .header("deployed", "rendered")
                        .to_string()
                });
                let changes = match before {
                    Some(_) => vec![
                        resource(
                            Action::Modify,
                            "BackupPlan",
                            "AWS::Backup::BackupPlan",
                            Some(Replacement::False),
                            &["Properties.BackupPlan"],
                        ),
                        resource(
                            Action::Modify,
                            "BackupSelection",
                            "AWS::Backup::BackupSelection",
                            Some(Replacement::True),
                            &["Properties.BackupSelection (requires recreation: Always)"],
                        ),
                    ],
                    None => vec![resource(Action::Add, "BackupVault", "AWS::Backup::BackupVault", None, &[])],
                };
                StackPlan {
                    stack: stack.name.replace("spatial-scans", name),
                    region: stack.region.clone(),
                    role: stack.role,
                    status: if before.is_some() { StackStatus::Changed } else { StackStatus::New },
                    deployed_status: before.map(|_| "UPDATE_COMPLETE".to_string()),
                    semantic: dr_changes(before.map(|b| &b.template), &stack.template),
                    template_diff: diff,
                    changes,
                    previewed: true,
                }
            })
            .collect();
        PolicyPlan {
            name: name.into(),
            file: format!("desired/{name}.yaml"),
            content_hash: "0".repeat(64),
            table: desired.spec.table.clone(),
            region: desired.spec.region.clone(),
            stacks,
            pitr: None,
            error: None,
            warnings: Vec::new(),
        }
    }

    fn unchanged(name: &str) -> PolicyPlan {
        PolicyPlan {
            name: name.into(),
            file: format!("desired/{name}.yaml"),
            content_hash: "1".repeat(64),
            table: "FloorPlans".into(),
            region: "us-east-1".into(),
            stacks: vec![StackPlan {
                stack: format!("drctl-{name}"),
                region: "us-east-1".into(),
                role: StackRole::Primary,
                status: StackStatus::Unchanged,
                deployed_status: Some("UPDATE_COMPLETE".into()),
                semantic: vec![],
                template_diff: None,
                changes: vec![],
                previewed: true,
            }],
            pitr: None,
            error: None,
            warnings: Vec::new(),
        }
    }

    /// spatial-scans with a shorter retention and another table (so the
    /// selection is replaced), its copy stack new; plus an unchanged
    /// policy, an orphan and an invalid file.
    fn sample() -> Plan {
        let old = {
            let mut p = scans();
            p.spec.backup.copies.clear();
            p
        };
        let mut new = scans();
        new.spec.backup.retention = Duration::from_days(7);
        new.spec.table = "Scans2".into();
        let mut changed = policy_plan("spatial-scans", &old, &new);
        changed.pitr = Some(PitrChange { table: "Scans2".into(), region: "us-east-1".into(), from: Some(false), to: true });
        Plan {
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            policies: vec![unchanged("floor-plans"), changed],
            orphans: vec![OrphanStack {
                stack: "drctl-old".into(),
                region: "us-east-1".into(),
                policy: "old".into(),
                status: "CREATE_COMPLETE".into(),
            }],
            invalid: vec![InvalidPolicy {
                file: "desired/broken.yaml".into(),
                findings: vec!["desired/broken.yaml:12:16: error: `35 days` is not a duration\n  hint: write 35d".into()],
            }],
        }
    }

    /// 100 changed policies, each with a template diff of some 20 kB and
    /// 20 details per resource change.
    fn hundred_policies() -> Plan {
        let old = scans();
        let mut new = scans();
        new.spec.backup.retention = Duration::from_days(7);
        new.spec.backup.schedule = Some("cron(0 0 * * ? *)".into());
        let padding: String = (0..400).map(|i| format!("-  \"Old{i}\": \"{}\"\n", "x".repeat(40))).collect();
        let policies: Vec<PolicyPlan> = (0..100)
            .map(|i| {
                let mut plan = policy_plan(&format!("policy-{i:03}"), &old, &new);
                for stack in &mut plan.stacks {
                    if let Some(diff) = &mut stack.template_diff {
                        diff.push_str(&padding);
                    }
                    for change in &mut stack.changes {
                        change.details.extend((0..20).map(|d| format!("Properties.Something{d} (requires recreation: Never)")));
                    }
                }
                plan
            })
            .collect();
        Plan { commit: None, policies, orphans: vec![], invalid: vec![] }
    }

    #[test]
    fn summary_counts_stacks_orphans_and_invalid_files() {
        let summary = Summary::of(&sample());
        assert_eq!(
            summary,
            Summary {
                create: 1,
                change: 1,
                unchanged: 1,
                orphans: 1,
                invalid: 1,
                failed: 0,
                pitr_changes: 1,
                weakening: 2,
                replacements: 1
            }
        );
        assert_eq!(summary.sentence(), "1 to create, 1 to change, 1 unchanged, 1 orphan, 1 invalid, 1 PITR change");
        assert_eq!(Summary::default().sentence(), "0 to create, 0 to change, 0 unchanged, 0 orphans, 0 invalid");
    }

    #[test]
    fn text_without_colour_speaks_the_change_vocabulary() {
        let text = text(&sample(), false);
        assert!(!text.contains('\x1b'), "{text}");
        for expected in [
            "drctl plan for commit 0123456789abcdef0123456789abcdef01234567\n",
            "\nspatial-scans: Scans2 in us-east-1 (desired/spatial-scans.yaml)\n",
            "\n  = drctl-floor-plans (us-east-1) unchanged\n",
            "\n  + drctl-spatial-scans-dr-us-west-2 (us-west-2) new\n",
            "\n      · new: copy vault drctl-spatial-scans for Scans2, vault lock min 7d / max 400d, KMS key alias/dr-backups\n",
            "\n      + BackupVault AWS::Backup::BackupVault\n",
            "\n  ~ drctl-spatial-scans (us-east-1) changed\n",
            "\n      ! table SpatialScans → Scans2\n",
            "\n      ! retention 35d → 7d\n",
            "\n      · copy to us-west-2 added (keeps 90d)\n",
            "\n      ~ BackupPlan AWS::Backup::BackupPlan\n          Properties.BackupPlan\n",
            "\n      ~ BackupSelection AWS::Backup::BackupSelection (REPLACE)\n          Properties.BackupSelection (requires recreation: Always)\n",
            "\n      ! BackupSelection is replaced: CloudFormation creates a new one, then deletes the old one\n",
            "\n      --- deployed\n      +++ rendered\n      @@ ",
            "\n      -                \"DeleteAfterDays\": 35\n",
            "\n  ~ point-in-time recovery of Scans2 (us-east-1): off → on\n",
            "\n- drctl-old (us-east-1) orphan: policy `old` no longer desired; left alone (use --prune)\n",
            "\ninvalid: desired/broken.yaml (not planned; its stacks are left alone)\n    desired/broken.yaml:12:16: error: `35 days` is not a duration\n      hint: write 35d\n",
            "\nPlan: 1 to create, 1 to change, 1 unchanged, 1 orphan, 1 invalid, 1 PITR change.\n! review: 2 changes weakening protection, 1 resource replaced.\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn text_with_colour_paints_and_stays_readable() {
        let plain = text(&sample(), false);
        let coloured = text(&sample(), true);
        assert!(coloured.contains("\x1b[1;31m(REPLACE)\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[1;33m!\x1b[0m \x1b[33mretention 35d → 7d\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[32m+\x1b[0m drctl-spatial-scans-dr-us-west-2"), "{coloured}");
        assert!(coloured.contains("\x1b[36m@@ "), "{coloured}");
        assert!(coloured.contains("\x1b[31m-                \"DeleteAfterDays\": 35\x1b[0m"), "{coloured}");
        let stripped = strip_ansi(&coloured);
        assert_eq!(stripped, plain);
    }

    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn text_cleans_escape_sequences_from_aws() {
        let mut plan = sample();
        plan.policies[1].error = Some("boom \x1b[2J\x1b]0;owned\x07 done".into());
        let text = text(&plan, false);
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
        assert!(text.contains("  error: boom ?[2J?]0;owned? done\n"), "{text}");
    }

    #[test]
    fn markdown_of_a_small_plan_is_whole() {
        let md = markdown(&sample());
        assert!(!md.contains("shortened"), "{md}");
        for expected in [
            "### drctl plan\n\nCommit `0123456789ab`. **Plan: 1 to create, 1 to change, 1 unchanged, 1 orphan, 1 invalid, 1 PITR change.**\n",
            "> [!CAUTION]\n> 2 changes would weaken protection; 1 resource is replaced; 1 policy file is invalid.\n",
            "| policy | stacks | change | weakens protection? | replacements |\n| --- | --- | --- | --- | --- |\n",
            "| `floor-plans` | = `drctl-floor-plans` | unchanged | no | none |\n",
            "| `spatial-scans` | + `drctl-spatial-scans-dr-us-west-2`<br>~ `drctl-spatial-scans` | 1 new, 1 changed, PITR off → on | **yes**: table SpatialScans → Scans2; retention 35d → 7d | `BackupSelection` **(replace)** |\n",
            "| `old` | - `drctl-old` (us-east-1) | orphan: no longer desired; left alone (use `--prune`) | no | none |\n",
            "| `desired/broken.yaml` | — | **invalid**: 1 finding; not planned, its stacks are left alone | ? | none |\n",
            "<details><summary><code>spatial-scans</code> (Scans2 in us-east-1): + 1 new, ~ 1 changed, ~ PITR, ! weakens protection, (replace)</summary>\n\n",
            "- ⚠️ **retention 35d → 7d** (weakens protection)\n",
            "- copy to us-west-2 added (keeps 90d)\n",
            "| ~ | `BackupSelection` | `AWS::Backup::BackupSelection` | **(replace)** | Properties.BackupSelection (requires recreation: Always) |\n",
            "| + | `BackupVault` | `AWS::Backup::BackupVault` |  |\n",
            "> [!WARNING]\n> BackupSelection is replaced: CloudFormation creates a new one, then deletes the old one\n",
            "```diff\n--- deployed\n+++ rendered\n@@ ",
            "~ point-in-time recovery of `Scans2` (us-east-1): off → on\n",
            "<details><summary><code>desired/broken.yaml</code>: invalid</summary>\n\n```text\ndesired/broken.yaml:12:16",
        ] {
            assert!(md.contains(expected), "missing {expected:?} in\n{md}");
        }
        assert!(!md.contains("floor-plans</code>"), "an unchanged policy gets no section: {md}");
    }

    #[test]
    fn markdown_of_a_hundred_policies_with_large_diffs_fits_github() {
        let plan = hundred_policies();
        let md = markdown(&plan);
        assert!(md.chars().count() < 65_536 && md.len() <= MARKDOWN_BUDGET, "{} bytes", md.len());
        assert!(
            md.contains(
                "sections were shortened to fit GitHub's comment limit; run `drctl reconcile --dry-run` locally for the full plan."
            ),
            "{md}"
        );
        for i in 0..100 {
            let row = format!("| `policy-{i:03}` | ~ `drctl-policy-{i:03}`<br>+ `drctl-policy-{i:03}-dr-us-west-2` |");
            let row_dr_first = format!("| `policy-{i:03}` | + `drctl-policy-{i:03}-dr-us-west-2`<br>~ `drctl-policy-{i:03}` |");
            assert!(md.contains(&row) || md.contains(&row_dr_first), "row of policy-{i:03} missing");
        }
        assert!(md.contains("_Template diff ("), "diffs go first");
    }

    #[test]
    fn markdown_of_a_huge_plan_keeps_the_summary_within_the_limit() {
        let one = hundred_policies().policies.swap_remove(0);
        let many = |n: usize| Plan {
            commit: None,
            policies: (0..n)
                .map(|i| {
                    let mut policy = one.clone();
                    policy.name = format!("policy-{i:04}");
                    policy
                })
                .collect(),
            orphans: vec![],
            invalid: vec![],
        };
        // Every section is cut to nothing, the table stays whole.
        let md = markdown(&many(250));
        assert!(md.len() <= MARKDOWN_BUDGET, "{} bytes", md.len());
        assert!(md.contains("only the summary is shown") && !md.contains("<details>"), "{md}");
        assert!((0..250).all(|i| md.contains(&format!("| `policy-{i:04}` |"))));
        // A table longer than the limit loses its last rows, and says so.
        let mut lean = many(1500);
        lean.policies.iter_mut().flat_map(|p| &mut p.stacks).for_each(|s| s.template_diff = None);
        let md = markdown(&lean);
        assert!(md.len() <= MARKDOWN_BUDGET, "{} bytes", md.len());
        assert!(md.contains("| `policy-0000` |") && !md.contains("| `policy-1499` |"));
        assert!(md.contains(" more rows not shown |"), "{md}");
    }

    #[test]
    fn markdown_keeps_diffs_when_only_details_must_go() {
        // Shortening drops the largest diff first and stops as soon as it fits.
        let old = scans();
        let mut new = scans();
        new.spec.backup.retention = Duration::from_days(7);
        let mut big = policy_plan("big", &old, &new);
        let huge: String = (0..6000).map(|i| format!("+ line {i}\n")).collect();
        big.stacks.iter_mut().filter_map(|s| s.template_diff.as_mut()).for_each(|d| d.push_str(&huge));
        let small = policy_plan("small", &old, &new);
        let md = markdown(&Plan { commit: None, policies: vec![big, small], orphans: vec![], invalid: vec![] });
        assert!(md.contains("1 section was shortened"), "{md}");
        assert!(md.contains("_Template diff (60"), "{md}");
        assert_eq!(md.matches("```diff").count(), 1, "the small policy keeps its diff");
    }

    #[test]
    fn markdown_escapes_what_comes_from_aws() {
        let mut plan = sample();
        let stack = &mut plan.policies[1].stacks[1];
        stack.changes[0].details = vec!["a|b <script> `tick` *bold* @someone".into()];
        stack.semantic.push(DrChange { text: "table A|B → <C>".into(), weakens: false });
        stack.template_diff = Some("--- deployed\n+++ rendered\n@@ -1 +1 @@\n-```\n+````\n".into());
        let md = markdown(&plan);
        assert!(md.contains("| a\\|b &lt;script&gt; \\`tick\\` \\*bold\\* \\@someone |"), "{md}");
        assert!(md.contains("- table A\\|B → &lt;C&gt;\n"), "{md}");
        assert!(md.contains("`````diff\n--- deployed\n+++ rendered\n@@ -1 +1 @@\n-```\n+````\n`````\n"), "{md}");
        assert!(!md.contains("<script>"), "{md}");
    }

    #[test]
    fn json_has_a_version_a_summary_and_the_plan() {
        let plan = sample();
        let value: serde_json::Value = serde_json::from_str(&json(&plan)).expect("valid JSON");
        assert_eq!(value["format_version"], 1);
        assert_eq!(value["summary"]["create"], 1);
        assert_eq!(value["summary"]["orphans"], 1);
        assert_eq!(value["summary"]["weakening"], 2);
        assert_eq!(value["commit"], "0123456789abcdef0123456789abcdef01234567");
        let primary = &value["policies"][1]["stacks"][1];
        assert_eq!(primary["status"], "changed");
        assert_eq!(primary["role"], "primary");
        assert_eq!(primary["semantic"][1], serde_json::json!({ "text": "retention 35d → 7d", "weakens": true }));
        assert_eq!(primary["changes"][1]["replacement"], "True");
        assert_eq!(value["orphans"][0]["stack"], "drctl-old");
        assert_eq!(value["invalid"][0]["file"], "desired/broken.yaml");
        assert!(json(&plan).starts_with("{\n  \"format_version\": 1,\n  \"summary\": {\n"), "{}", json(&plan));
        assert!(json(&Plan::default()).ends_with("}\n"));
    }
}
