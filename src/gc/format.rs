//! How `drctl gc` reports: one line per thing drctl might own, or JSON.

use serde_json::json;

use super::{Found, GcReport, Kind, Mode, Outcome};

pub fn json(report: &GcReport, mode: Mode) -> serde_json::Value {
    json!({
        "format_version": 1,
        "mode": mode,
        "regions": report.regions,
        "found": report.found,
        "errors": report.errors,
        "summary": {
            "deleted": report.count(Outcome::Deleted),
            "would_delete": report.count(Outcome::WouldDelete),
            "kept": report.count(Outcome::Kept),
            "failed": report.count(Outcome::Failed),
        },
    })
}

/// One line per thing drctl might own; tables that are not are counted per
/// region, not listed (an account may hold hundreds).
pub fn text(report: &GcReport, mode: Mode) -> String {
    let heading = if mode == Mode::DryRun { "drctl gc (dry run)" } else { "drctl gc" };
    let mut out = format!("{heading} in {}\n", report.regions.join(", "));
    for found in report.found.iter().filter(|f| f.kind != Kind::OtherTable) {
        out.push_str(&line(found));
    }
    for region in &report.regions {
        let others = report.found.iter().filter(|f| f.kind == Kind::OtherTable && &f.region == region).count();
        if others > 0 {
            out.push_str(&format!("  {region}: {others} other tables left alone (not named drctl-drill-*)\n"));
        }
    }
    for error in &report.errors {
        out.push_str(&format!("  error: {error}\n"));
    }
    let summary = match mode {
        Mode::DryRun => format!("{} would be deleted", report.count(Outcome::WouldDelete)),
        Mode::Delete => format!("{} deleted", report.count(Outcome::Deleted)),
    };
    let kept = report.found.iter().filter(|f| f.outcome == Outcome::Kept && f.kind != Kind::OtherTable).count();
    out.push_str(&format!("{summary}, {kept} kept, {} failed\n", report.count(Outcome::Failed) + report.errors.len()));
    out
}

fn line(found: &Found) -> String {
    let outcome = match found.outcome {
        Outcome::Deleted => "deleted",
        Outcome::WouldDelete => "would delete",
        Outcome::Kept => "kept",
        Outcome::Failed => "FAILED",
    };
    let what = match found.kind {
        Kind::PreviewChangeSet => format!("preview change set {} of {}", found.name, found.stack.as_deref().unwrap_or("?")),
        Kind::ReviewStack => format!("review stack {}", found.name),
        Kind::ScratchTable | Kind::OtherTable => format!("table {}", found.name),
        Kind::Export => format!("exports {}", found.name),
        Kind::Canary => found.name.clone(),
    };
    let place = match &found.account {
        Some(account) => format!("{account}/{}", found.region),
        None => found.region.clone(),
    };
    format!("  {outcome:<12} {what} ({place}): {}\n", found.why)
}
