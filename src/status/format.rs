//! The three renderings of an [`Inventory`], with the conventions of the
//! plan's formats: [`text`] for a terminal (colour only when the caller
//! says: a TTY, and `NO_COLOR` unset), [`markdown`] with the summary table
//! first, [`json`] for machines (`format_version: 1`).
//!
//! One marker vocabulary in all three: `✓ compliant`, `✗ out of
//! compliance` with its reasons, `? invalid` and `- not desired (orphan
//! state)`.
//!
//! # Guarantees
//! - Text without colour holds no escape sequence, also when a state record
//!   hands us one: control characters are shown as `?`.
//! - Values from policies or state records cannot break the markdown: table
//!   cells escape HTML and markdown punctuation.

use std::fmt::Write as _;

use serde_json::{Value, json as j};

use super::{Inventory, Measured, NextDrill, PolicyStatus, Proven, Reason, human_seconds, relative, short};
use crate::markup::{BOLD, BOLD_RED, DIM, GREEN, Paint, RED, YELLOW, code, esc, html};
use crate::state::{PolicyState, rfc3339};

/// The orphan marker, the same in every format.
const ORPHAN: &str = "not desired (orphan state)";

// ---------------------------------------------------------------- shared

fn pitr_text(pitr: Option<bool>) -> &'static str {
    match pitr {
        Some(true) => "on",
        Some(false) => "off",
        None => "not managed",
    }
}

fn measured_text(measured: Option<&Measured>, target: crate::policy::Duration) -> String {
    match measured {
        Some(m) => format!("{} (target {}, in {})", human_seconds(m.seconds), target, m.region),
        None => format!("not measured (target {target})"),
    }
}

fn proven_text(proven: Option<&Proven>, now: u64) -> String {
    match proven {
        None => "never".to_string(),
        Some(p) => {
            let regions = if p.regions.is_empty() { String::new() } else { format!(" in {}", p.regions.join(", ")) };
            format!("{} ({}){regions}, commit {}", rfc3339(p.at), relative(p.at, now), short(&p.commit))
        }
    }
}

fn next_drill_text(policy: &PolicyStatus, now: u64) -> String {
    match (&policy.next_drill, overdue_since(policy)) {
        (NextDrill::Now(why), _) => format!("now ({why})"),
        (NextDrill::At(_), Some(due)) => format!("now: overdue since {} ({})", rfc3339(due), relative(due, now)),
        (NextDrill::At(at), None) if *at <= now => format!("now (its slot came {})", relative(*at, now)),
        (NextDrill::At(at), None) => format!("{} ({})", rfc3339(*at), relative(*at, now)),
    }
}

/// When the proof became older than `verify.every`, if it has.
fn overdue_since(policy: &PolicyStatus) -> Option<u64> {
    policy.reasons.iter().find_map(|r| match r {
        Reason::Overdue { due, .. } => Some(*due),
        _ => None,
    })
}

fn copies_text(policy: &PolicyStatus) -> String {
    if policy.copies.is_empty() {
        return "none".to_string();
    }
    let copies: Vec<String> = policy.copies.iter().map(|c| format!("{} (keeps {}, vault {})", c.region, c.retention, c.vault)).collect();
    copies.join("; ")
}

fn in_flight_text(state: &PolicyState, now: u64) -> Option<String> {
    let f = state.in_flight.as_ref()?;
    let step = match f.step {
        crate::state::Step::Apply => "apply",
        crate::state::Step::Drill => "drill",
    };
    let drill = f.drill_id.as_deref().map(|d| format!(", drill {d}")).unwrap_or_default();
    let canary = canary_text(state, now).map(|c| format!("; {c}")).unwrap_or_default();
    Some(format!("{step} of commit {} since {} ({}){drill}{canary}", short(&f.commit), rfc3339(f.started), relative(f.started, now)))
}

/// Where a drill in flight may have left drctl's canary item: in the
/// source table until its checks end, or, once the lease lapsed (a killed
/// run), until the next reconcile or `gc` removes it.
fn canary_text(state: &PolicyState, now: u64) -> Option<String> {
    let f = state.in_flight.as_ref()?;
    let source = f.source.as_ref().filter(|_| f.drill_id.is_some())?;
    let until = if state.lease.as_ref().is_some_and(|l| l.is_live(now)) {
        "until the drill's checks end"
    } else {
        "left by an interrupted run: `drctl gc` or the next reconcile removes it"
    };
    Some(format!("canary may be in {} ({}), {until}", source.table, source.region))
}

fn lease_text(state: &PolicyState, now: u64) -> Option<String> {
    let lease = state.lease.as_ref()?;
    Some(if lease.is_live(now) {
        format!("held by {} until {}", lease.owner, rfc3339(lease.expires))
    } else {
        format!("free (the lease of {} expired {})", lease.owner, rfc3339(lease.expires))
    })
}

fn orphan_text(state: &PolicyState) -> String {
    let mut parts = Vec::new();
    if let Some(applied) = &state.applied {
        parts.push(format!("last applied commit {}", short(&applied.commit)));
    }
    if let Some(reconciled) = &state.reconciled {
        parts.push(format!("last proven {}", rfc3339(reconciled.at)));
    }
    if parts.is_empty() { String::new() } else { format!("; {}", parts.join(", ")) }
}

// ---------------------------------------------------------------- text

/// The inventory for a person at a terminal.
pub fn text(inventory: &Inventory, colour: bool) -> String {
    let p = Paint { colour };
    let now = inventory.now;
    let mut out = match &inventory.commit {
        Some(commit) => p.paint(BOLD, &format!("drctl status of commit {commit} at {}", rfc3339(now))),
        None => p.paint(BOLD, &format!("drctl status of the work tree at {}", rfc3339(now))),
    };
    out.push('\n');
    for policy in &inventory.policies {
        out.push('\n');
        text_policy(&mut out, p, policy, now);
    }
    for invalid in &inventory.invalid {
        let name = invalid.policy.as_deref().map(|n| format!(" (policy {n})")).unwrap_or_default();
        let line = match invalid.guardrails.is_empty() {
            true => format!("{}{name}: the file has errors; run `drctl validate`", invalid.file),
            false => format!(
                "{}{name}: breaks {}; neither applied nor re-proven until it complies or has an exception",
                invalid.file,
                invalid.guardrails.join("; and ")
            ),
        };
        let _ = write!(out, "\n{} {}\n", p.paint(BOLD_RED, "? invalid:"), p.paint("", &line));
    }
    if !inventory.exceptions.is_empty() {
        out.push('\n');
    }
    for exception in &inventory.exceptions {
        let state = if exception.expired { "EXPIRED" } else { "through" };
        let line = format!(
            "guardrail {} excepted for {} {state} {}, approved by {}: {}",
            exception.rule, exception.policy, exception.expires, exception.approved_by, exception.reason
        );
        let _ = writeln!(out, "{} {}", p.paint(if exception.expired { BOLD_RED } else { YELLOW }, "!"), p.paint("", &line));
    }
    if !inventory.orphans.is_empty() {
        out.push('\n');
    }
    for orphan in &inventory.orphans {
        let _ = writeln!(out, "{} {}", p.paint(YELLOW, "-"), p.paint("", &format!("{}: {ORPHAN}{}", orphan.policy, orphan_text(orphan))));
    }
    let summary = inventory.summary();
    let style = if inventory.out_of_compliance() { BOLD_RED } else { BOLD };
    let _ = write!(out, "\n{}\n", p.paint(style, &format!("Status: {}.", summary.sentence())));
    out
}

/// `<account>/` for a policy in another account, nothing for drctl's own.
fn account_prefix(policy: &PolicyStatus) -> String {
    policy.account.as_deref().map(|a| format!("{a}/")).unwrap_or_default()
}

fn text_policy(out: &mut String, p: Paint, policy: &PolicyStatus, now: u64) {
    let marker = if policy.compliant() { p.paint(GREEN, "✓ compliant") } else { p.paint(BOLD_RED, "✗ OUT OF COMPLIANCE") };
    let _ = writeln!(out, "{} {marker}", p.paint(BOLD, &format!("{}:", policy.name)));
    let owner = policy.owner.as_deref().map(|o| format!(", owner {o}")).unwrap_or_default();
    let mut rows = vec![
        ("table", format!("{} in {}{} ({}){owner}", policy.table, account_prefix(policy), policy.region, policy.environment)),
        (
            "backup",
            format!(
                "{}, keeps {}, vault {}, PITR {}",
                policy.schedule,
                policy.retention,
                policy.vault,
                pitr_text(policy.point_in_time_recovery)
            ),
        ),
        ("copies", copies_text(policy)),
        ("proven", proven_text(policy.last_proven.as_ref(), now)),
        ("RTO", measured_text(policy.rto.as_ref(), policy.rto_target)),
        ("RPO", measured_text(policy.rpo.as_ref(), policy.rpo_target)),
        ("next drill", next_drill_text(policy, now)),
    ];
    let state = policy.state.as_ref();
    let reconciled = state.and_then(|s| s.reconciled.as_ref()).map_or("never".to_string(), |r| format!("commit {}", short(&r.commit)));
    rows.push(("reconciled", reconciled));
    if let Some(weakened) = state.and_then(|s| s.applied.as_ref()).and_then(|a| a.weakened.as_ref()) {
        let by = weakened.approved_by.as_deref().map_or("no approval asked".to_string(), |who| format!("approved by {who}"));
        rows.push(("weakened", format!("{} ({by})", weakened.changes.join("; "))));
    }
    if let Some(flight) = state.and_then(|s| in_flight_text(s, now)) {
        rows.push(("in flight", flight));
    }
    if let Some(lease) = state.and_then(|s| lease_text(s, now)) {
        rows.push(("lease", lease));
    }
    if let Some(attempt) = state.and_then(|s| s.last_inconclusive.as_ref()) {
        let why = attempt.reasons.first().map_or("no reason recorded", String::as_str);
        rows.push((
            "inconclusive",
            format!("drill {} {} ({}): {why}; retried soon", attempt.drill_id, rfc3339(attempt.finished), relative(attempt.finished, now)),
        ));
    }
    for (label, value) in rows {
        let _ = writeln!(out, "  {} {}", p.paint(DIM, &format!("{label:<11}")), p.paint("", &value));
    }
    for reason in &policy.reasons {
        let _ = writeln!(out, "  {} {}", p.paint(BOLD_RED, "✗"), p.paint(RED, &reason.message()));
    }
}

// ---------------------------------------------------------------- markdown

/// The inventory as a markdown document: the summary table first, then one
/// collapsible section per policy.
pub fn markdown(inventory: &Inventory) -> String {
    let now = inventory.now;
    let summary = inventory.summary();
    let mut out = String::from("### drctl status\n\n");
    match &inventory.commit {
        Some(commit) => {
            let _ = write!(out, "Commit {}, {}. ", code(&short(commit)), rfc3339(now));
        }
        None => {
            let _ = write!(out, "Work tree, {}. ", rfc3339(now));
        }
    }
    let _ = writeln!(out, "**{}.**\n", esc(&summary.sentence()));
    let failing: Vec<String> = inventory
        .policies
        .iter()
        .filter(|p| !p.compliant())
        .map(|p| code(&p.name))
        .chain(inventory.invalid.iter().map(|i| code(&i.file)))
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(out, "> [!CAUTION]\n> Out of compliance: {}.\n", failing.join(", "));
    }
    if inventory.policies.is_empty() && inventory.orphans.is_empty() && inventory.invalid.is_empty() {
        out += "No policies.\n";
        return out;
    }
    out += "| policy | table | env | last proven restore | RTO (target) | RPO (target) | next drill due | reconciled | compliance |\n";
    out += "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
    for policy in &inventory.policies {
        md_row(&mut out, policy, now);
    }
    for invalid in &inventory.invalid {
        let name = invalid.policy.as_deref().map(code).unwrap_or_else(|| "—".to_string());
        let why = match invalid.guardrails.is_empty() {
            true => format!("{} has errors", code(&invalid.file)),
            false => format!("breaks {}", esc(&invalid.guardrails.join("; and "))),
        };
        let _ = writeln!(out, "| {name} | — | | | | | | | ❌ **invalid**: {why} |");
    }
    for orphan in &inventory.orphans {
        let reconciled = orphan.reconciled.as_ref().map(|r| code(&short(&r.commit))).unwrap_or_else(|| "—".to_string());
        let _ = writeln!(out, "| {} | — | | | | | | {reconciled} | ⚠️ {ORPHAN} |", code(&orphan.policy));
    }
    out.push('\n');
    for policy in &inventory.policies {
        md_details(&mut out, policy, now);
    }
    out
}

fn md_measured(measured: Option<&Measured>, target: crate::policy::Duration) -> String {
    match measured {
        Some(m) if m.met() => format!("{} ({target})", human_seconds(m.seconds)),
        Some(m) => format!("**{}** ({target}) ❌", human_seconds(m.seconds)),
        None => format!("— ({target})"),
    }
}

fn md_row(out: &mut String, policy: &PolicyStatus, now: u64) {
    let proven = match &policy.last_proven {
        None => "never".to_string(),
        Some(p) if p.regions.is_empty() => esc(&rfc3339(p.at)),
        Some(p) => format!("{} ({})", esc(&rfc3339(p.at)), esc(&p.regions.join(", "))),
    };
    let next = match (&policy.next_drill, overdue_since(policy)) {
        (NextDrill::Now(_), _) => "now".to_string(),
        (NextDrill::At(_), Some(due)) => format!("**overdue** since {}", esc(&rfc3339(due))),
        (NextDrill::At(at), None) if *at <= now => "now".to_string(),
        (NextDrill::At(at), None) => esc(&rfc3339(*at)),
    };
    let reconciled = policy.state.as_ref().and_then(|s| s.reconciled.as_ref()).map_or("—".to_string(), |r| code(&short(&r.commit)));
    let compliance = if policy.compliant() {
        "✅ compliant".to_string()
    } else {
        let reasons: Vec<String> = policy.reasons.iter().map(|r| esc(&r.message())).collect();
        format!("❌ **out of compliance**: {}", reasons.join("; "))
    };
    let _ = writeln!(
        out,
        "| {} | {} ({}) | {} | {proven} | {} | {} | {next} | {reconciled} | {compliance} |",
        code(&policy.name),
        code(&policy.table),
        esc(&policy.region),
        policy.environment,
        md_measured(policy.rto.as_ref(), policy.rto_target),
        md_measured(policy.rpo.as_ref(), policy.rpo_target),
    );
}

fn md_details(out: &mut String, policy: &PolicyStatus, now: u64) {
    let verdict = if policy.compliant() { "compliant" } else { "out of compliance" };
    let _ = writeln!(out, "<details><summary><code>{}</code>: {verdict}</summary>\n", html(&policy.name));
    let mut items = vec![
        format!("owner: {}", policy.owner.as_deref().map_or("—".to_string(), esc)),
        format!("schedule: {}", code(&policy.schedule)),
        format!("retention: {}", policy.retention),
        format!("vault: {}", code(&policy.vault)),
        format!("copies: {}", esc(&copies_text(policy))),
        format!("point-in-time recovery: {}", pitr_text(policy.point_in_time_recovery)),
        format!("last proven restore: {}", esc(&proven_text(policy.last_proven.as_ref(), now))),
        format!("RTO: {}", esc(&measured_text(policy.rto.as_ref(), policy.rto_target))),
        format!("RPO: {}", esc(&measured_text(policy.rpo.as_ref(), policy.rpo_target))),
        format!("next drill due: {}", esc(&next_drill_text(policy, now))),
        format!("content hash: {}", code(&short(&policy.content_hash))),
    ];
    if let Some(state) = &policy.state {
        items.extend(in_flight_text(state, now).map(|t| format!("in flight: {}", esc(&t))));
        items.extend(lease_text(state, now).map(|t| format!("lease: {}", esc(&t))));
        let evidence = state.evidence.len();
        if evidence > 0 {
            items.push(format!("evidence: {evidence} entries (`drctl status --format json` has the chain)"));
        }
    }
    for item in items {
        let _ = writeln!(out, "- {item}");
    }
    for reason in &policy.reasons {
        let _ = writeln!(out, "- ❌ {}", esc(&reason.message()));
    }
    out.push_str("\n</details>\n\n");
}

// ---------------------------------------------------------------- json

/// A time for machines and people at once.
fn time(unix: u64) -> Value {
    j!({ "unix": unix, "rfc3339": rfc3339(unix) })
}

/// The inventory for machines.
///
/// Schema (`format_version` 1; fields are only ever added under the same
/// version; every time is `{ "unix": seconds, "rfc3339": string }`):
///
/// ```text
/// {
///   "format_version": 1,
///   "generated_at": time,
///   "commit": string | null,                 // null for a work tree
///   "compliant": bool,                       // no policy out of compliance, none invalid
///   "summary": { "policies", "compliant", "out_of_compliance", "orphans", "invalid" },
///   "policies": [{
///     "name", "table", "region", "account" (null: drctl's own), "environment", "schedule", "retention", "vault": string,
///     "owner": string | null,
///     "copies": [{ "region", "retention", "vault": string }],
///     "point_in_time_recovery": bool | null,   // null: left alone
///     "objectives": { "rto", "rpo": string, "rto_seconds", "rpo_seconds": number },
///     "verify": { "every": string, "every_seconds": number, "regions": [string] },
///     "content_hash": string,                  // desired now
///     "compliant": bool,
///     "compliance": [{ "rule": string, "message": string, ... }],  // empty when compliant
///     "last_proven_restore": { "at": time, "commit", "content_hash": string,
///                              "drill_id": string | null, "regions": [string] } | null,
///     "rto", "rpo": { "seconds": number, "region": string, "target_seconds": number,
///                     "met": bool, "drill_id": string } | null,
///     "next_drill_due": { "now": bool, "why": string | null, "at": time | null, "overdue": bool },
///     "reconciled_commit": string | null,
///     "state": null | { "version", "desired_hash",
///                       "applied": {..., "at": time, "weakened"?: { "changes": [string],
///                                   "approved_by": string | null }} | null,
///                       "reconciled": {..., "at": time} | null, "last_drill": {...} | null,
///                       "in_flight": {..., "started": time} | null,
///                       "lease": { "owner", "expires": time, "expired": bool } | null },
///     "evidence": [ ... ]                      // the state's evidence chain as stored, newest last
///   }],
///   "invalid": [{ "file": string, "policy": string | null, "state": {...} | null }],
///   "orphans": [{ "policy": string, "marker": "not desired (orphan state)",
///                 "state": {...}, "evidence": [...] }]
/// }
/// ```
pub fn json(inventory: &Inventory) -> Value {
    let now = inventory.now;
    j!({
        "format_version": 1,
        "generated_at": time(now),
        "commit": inventory.commit,
        "compliant": !inventory.out_of_compliance(),
        "summary": inventory.summary(),
        "policies": inventory.policies.iter().map(|p| json_policy(p, now)).collect::<Vec<_>>(),
        "invalid": inventory.invalid.iter().map(|i| j!({
            "file": i.file,
            "policy": i.policy,
            "state": i.state.as_ref().map(|s| json_state(s, now)),
            "guardrails": i.guardrails,
        })).collect::<Vec<_>>(),
        "exceptions": inventory.exceptions,
        "orphans": inventory.orphans.iter().map(|o| j!({
            "policy": o.policy,
            "marker": ORPHAN,
            "state": json_state(o, now),
            "evidence": o.evidence,
        })).collect::<Vec<_>>(),
    })
}

fn json_policy(policy: &PolicyStatus, now: u64) -> Value {
    let measured = |m: &Option<Measured>| {
        m.as_ref().map(|m| {
            j!({ "seconds": m.seconds, "region": m.region, "target_seconds": m.target_seconds, "met": m.met(), "drill_id": m.drill_id })
        })
    };
    let next = match &policy.next_drill {
        NextDrill::Now(why) => j!({ "now": true, "why": why, "at": null, "overdue": false }),
        NextDrill::At(at) => j!({ "now": *at <= now, "why": null, "at": time(*at), "overdue": overdue_since(policy).is_some() }),
    };
    j!({
        "name": policy.name,
        "owner": policy.owner,
        "table": policy.table,
        "region": policy.region,
        "account": policy.account,
        "environment": policy.environment.to_string(),
        "schedule": policy.schedule,
        "retention": policy.retention.to_string(),
        "vault": policy.vault,
        "copies": policy.copies.iter().map(|c| j!({ "region": c.region, "retention": c.retention.to_string(), "vault": c.vault })).collect::<Vec<_>>(),
        "point_in_time_recovery": policy.point_in_time_recovery,
        "objectives": {
            "rto": policy.rto_target.to_string(),
            "rto_seconds": policy.rto_target.seconds(),
            "rpo": policy.rpo_target.to_string(),
            "rpo_seconds": policy.rpo_target.seconds(),
        },
        "verify": { "every": policy.verify_every.to_string(), "every_seconds": policy.verify_every.seconds(), "regions": policy.drill_regions },
        "content_hash": policy.content_hash,
        "compliant": policy.compliant(),
        "compliance": policy.reasons.iter().map(json_reason).collect::<Vec<_>>(),
        "last_proven_restore": policy.last_proven.as_ref().map(|p| j!({
            "at": time(p.at),
            "commit": p.commit,
            "content_hash": p.content_hash,
            "drill_id": p.drill_id,
            "regions": p.regions,
        })),
        "rto": measured(&policy.rto),
        "rpo": measured(&policy.rpo),
        "next_drill_due": next,
        "reconciled_commit": policy.state.as_ref().and_then(|s| s.reconciled.as_ref()).map(|r| r.commit.clone()),
        "state": policy.state.as_ref().map(|s| json_state(s, now)),
        "evidence": policy.evidence(),
    })
}

fn json_reason(reason: &Reason) -> Value {
    let mut value = j!({ "rule": reason.rule(), "message": reason.message() });
    let details = match reason {
        Reason::NoState | Reason::NeverProven => j!({}),
        Reason::LastDrillFailed { drill_id, at, reason } => j!({ "drill_id": drill_id, "at": time(*at), "reason": reason }),
        Reason::Overdue { proven_at, due } => j!({ "proven_at": time(*proven_at), "due": time(*due) }),
        Reason::RtoAboveTarget(m) | Reason::RpoAboveTarget(m) => {
            j!({ "seconds": m.seconds, "target_seconds": m.target_seconds, "region": m.region, "drill_id": m.drill_id })
        }
        Reason::ChangeNotProven { proven_hash } => j!({ "proven_hash": proven_hash }),
        Reason::NotApplied { applied_hash } => j!({ "applied_hash": applied_hash }),
    };
    if let (Some(target), Value::Object(extra)) = (value.as_object_mut(), details) {
        target.extend(extra);
    }
    value
}

/// A state record with every time shown both ways; the evidence chain is
/// carried next to it, as stored.
fn json_state(state: &PolicyState, now: u64) -> Value {
    let drill = |d: &crate::state::DrillRecord| {
        j!({
            "drill_id": d.drill_id,
            "passed": d.passed,
            "started": time(d.started),
            "finished": time(d.finished),
            "commit": d.commit,
            "content_hash": d.content_hash,
            "regions": d.regions,
            "reasons": d.reasons,
        })
    };
    j!({
        "version": state.version,
        "desired_hash": state.desired_hash,
        "applied": state.applied.as_ref().map(|a| {
            let mut applied = j!({ "content_hash": a.content_hash, "commit": a.commit, "at": time(a.at) });
            if let Some(weakened) = &a.weakened {
                applied["weakened"] = j!({ "changes": weakened.changes, "approved_by": weakened.approved_by });
            }
            applied
        }),
        "reconciled": state.reconciled.as_ref().map(|r| j!({ "content_hash": r.content_hash, "commit": r.commit, "at": time(r.at) })),
        "last_drill": state.last_drill.as_ref().map(drill),
        "in_flight": state.in_flight.as_ref().map(|f| j!({
            "step": f.step,
            "content_hash": f.content_hash,
            "commit": f.commit,
            "drill_id": f.drill_id,
            "backup_job_id": f.backup_job_id,
            "copy_jobs": f.copy_jobs,
            "restores": f.restores,
            "started": time(f.started),
            "canary": f.source.as_ref().filter(|_| f.drill_id.is_some()).map(|source| j!({
                "table": source.table,
                "region": source.region,
                "interrupted": !state.lease.as_ref().is_some_and(|l| l.is_live(now)),
            })),
        })),
        "lease": state.lease.as_ref().map(|l| j!({ "owner": l.owner, "expires": time(l.expires), "expired": !l.is_live(now) })),
    })
}
