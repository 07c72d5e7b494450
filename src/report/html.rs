//! The report as one self-contained, printable HTML page.

use std::fmt::Write as _;

use super::{DrillPoint, PolicyReport, Report, chart};
use crate::markup::html as esc;
use crate::status::human_seconds;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}\
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ccc}h3{margin-top:1.5rem}\
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.ok{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:600}.grey{color:#666}\
code{font-size:.85em;word-break:break-all}section{page-break-inside:avoid}details{margin:.25rem 0}\
svg text{font-size:11px}@media print{body{margin:0}details{display:block}}";

/// Drills whose whole evidence a policy's section shows: the newest ...
const NEWEST_SHOWN: usize = 2;
/// ... and the newest that did not pass, up to this many rows in all (a
/// page of 500 tables with a year of weekly drills stays under 5 MB).
const MOST_SHOWN: usize = 3;
/// Failed checks named on a drill's row; the rest are counted.
const FAILED_CHECKS_SHOWN: usize = 3;

/// The page.
pub fn html(report: &Report) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        out,
        "<title>drctl DR report {} to {}</title><style>{STYLE}</style></head><body>",
        esc(&report.period.since),
        esc(&report.period.until)
    );
    out.push_str("<h1>Disaster-recovery report</h1>");
    let commit = report.commit.as_deref().map_or("the work tree".to_string(), |c| format!("commit <code>{}</code>", esc(c)));
    let _ = write!(
        out,
        "<p>Policies at {commit}; drills from {} to {}; generated {}.</p>",
        esc(&report.period.since),
        esc(&report.period.until),
        esc(&report.generated_at)
    );
    summary(&mut out, report);
    exceptions(&mut out, report);
    out.push_str("<h2>Policies</h2>");
    for policy in &report.policies {
        policy_section(&mut out, policy);
    }
    out.push_str("</body></html>\n");
    out
}

fn summary(out: &mut String, report: &Report) {
    let s = &report.summary;
    let _ = write!(
        out,
        "<h2>Compliance</h2><p><strong>{} of {} policies compliant</strong>, {} out of compliance. \
         {} drills in the period: {} passed, {} failed, {} inconclusive.</p>",
        s.compliant, s.policies, s.out_of_compliance, s.drills, s.drills_passed, s.drills_failed, s.drills_inconclusive
    );
    out.push_str("<table><tr><th>policy</th><th>table</th><th>environment</th><th>owner</th><th>status</th><th>last proven restore</th><th>why not compliant</th></tr>");
    for p in &report.policies {
        let status = if p.compliant { "<span class=\"ok\">compliant</span>" } else { "<span class=\"bad\">out of compliance</span>" };
        let proven = match (&p.last_proven, p.proof_age_seconds) {
            (Some(at), Some(age)) => format!("{} ({} ago)", esc(at), esc(&human_seconds(age as f64))),
            _ => "never".to_string(),
        };
        let why: Vec<String> = p.reasons.iter().map(|r| esc(r)).collect();
        let _ = write!(
            out,
            "<tr><td><a href=\"#policy-{}\">{}</a></td><td>{} ({})</td><td>{}</td><td>{}</td><td>{status}</td><td>{proven}</td><td>{}</td></tr>",
            esc(&p.name),
            esc(&p.name),
            esc(&p.table),
            esc(&p.region),
            esc(&p.environment),
            esc(p.owner.as_deref().unwrap_or("—")),
            why.join("<br>")
        );
    }
    out.push_str("</table>");
}

fn exceptions(out: &mut String, report: &Report) {
    if report.exceptions.is_empty() {
        return;
    }
    out.push_str("<h2>Guardrail exceptions</h2><table><tr><th>rule</th><th>policy</th><th>approved by</th><th>reason</th><th>holds through</th></tr>");
    for e in &report.exceptions {
        let expires = if e.expired { format!("<span class=\"bad\">{} (expired)</span>", esc(&e.expires)) } else { esc(&e.expires) };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{expires}</td></tr>",
            esc(&e.rule),
            esc(&e.policy),
            esc(&e.approved_by),
            esc(&e.reason)
        );
    }
    out.push_str("</table>");
}

fn policy_section(out: &mut String, p: &PolicyReport) {
    let _ = write!(out, "<section id=\"policy-{}\"><h3>{}</h3>", esc(&p.name), esc(&p.name));
    let _ = write!(
        out,
        "<p>{} in {} · RTO target {} · RPO target {} · proven at least every {}</p>",
        esc(&p.table),
        esc(&p.region),
        esc(&human_seconds(p.rto_target_seconds as f64)),
        esc(&human_seconds(p.rpo_target_seconds as f64)),
        esc(&human_seconds(p.verify_every_seconds as f64))
    );
    if p.drills.is_empty() {
        out.push_str("<p class=\"grey\">No drill in the period.</p></section>");
        return;
    }
    let charts = [
        chart::verdicts(&format!("{}: drill verdicts", p.name), &p.drills),
        chart::measured(&format!("{}: RTO measured", p.name), &p.drills, p.rto_target_seconds, |r| r.rto_seconds),
        chart::measured(&format!("{}: RPO measured", p.name), &p.drills, p.rpo_target_seconds, |r| r.rpo_seconds),
    ];
    for (caption, svg) in ["Verdicts", "RTO measured against the target", "RPO measured against the target"].iter().zip(charts) {
        if let Some(svg) = svg {
            let _ = write!(out, "<figure><figcaption>{caption}</figcaption>{svg}</figure>");
        }
    }
    if let Some(newest) = p.drills.last() {
        gaps(out, newest);
    }
    // The evidence of the newest drills and of every drill that did not
    // pass (up to a bound): the page stays readable and printable for a
    // year of weekly drills; the JSON report has every one.
    let shown: Vec<&DrillPoint> = p
        .drills
        .iter()
        .rev()
        .enumerate()
        .filter(|(index, d)| *index < NEWEST_SHOWN || d.verdict != super::Verdict::Passed)
        .map(|(_, d)| d)
        .take(MOST_SHOWN)
        .collect();
    out.push_str("<table><tr><th>drill</th><th>verdict</th><th>RTO / RPO per region</th><th>evidence</th></tr>");
    for drill in &shown {
        drill_row(out, drill);
    }
    out.push_str("</table>");
    if shown.len() < p.drills.len() {
        let _ = write!(
            out,
            "<p class=\"grey\">{} more drills in the period: their evidence is in <code>drctl report --format json</code>.</p>",
            p.drills.len() - shown.len()
        );
    }
    out.push_str("</section>");
}

/// The settings the newest drill's restores lacked: what a real recovery
/// must re-apply by hand, today.
fn gaps(out: &mut String, newest: &DrillPoint) {
    let rows: Vec<(&str, &crate::state::GapRecord)> =
        newest.regions.iter().flat_map(|r| r.gaps.iter().map(move |g| (r.region.as_str(), g))).collect();
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<p>Post-restore gaps of the newest drill (<code>{}</code>): settings the restored table lacked, for a real recovery to re-apply.</p>\
         <table><tr><th>region</th><th>setting</th><th>source</th><th>restored</th><th>after a real restore</th></tr>",
        esc(&newest.drill_id)
    );
    for (region, gap) in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(region),
            esc(&gap.setting),
            esc(&gap.source),
            esc(&gap.restored),
            esc(&gap.action)
        );
    }
    out.push_str("</table>");
}

fn drill_row(out: &mut String, d: &DrillPoint) {
    let verdict = match d.verdict {
        super::Verdict::Passed => "<span class=\"ok\">passed</span>".to_string(),
        super::Verdict::Failed => "<span class=\"bad\">failed</span>".to_string(),
        super::Verdict::Inconclusive => "<span class=\"grey\">inconclusive</span>".to_string(),
    };
    let measured: Vec<String> = d
        .regions
        .iter()
        .map(|r| {
            let value = |v: Option<f64>| v.map_or("—".to_string(), human_seconds);
            format!("{}: {} / {}", esc(&r.region), esc(&value(r.rto_seconds)), esc(&value(r.rpo_seconds)))
        })
        .collect();
    let mut evidence = format!("commit <code>{}</code>", esc(&d.commit));
    for change_set in &d.change_sets {
        let _ = write!(evidence, "<br>change set <code>{}</code>", esc(change_set));
    }
    for r in &d.regions {
        for (what, id) in [
            ("backup job", &r.backup_job_id),
            ("copy job", &r.copy_job_id),
            ("restore job", &r.restore_job_id),
            ("recovery point", &r.recovery_point_arn),
        ] {
            if let Some(id) = id {
                let _ = write!(evidence, "<br>{} {what} <code>{}</code>", esc(&r.region), esc(id));
            }
        }
    }
    let _ = write!(evidence, "<br>SNS message <code>{}</code>", esc(d.sns_message_id.as_deref().unwrap_or("none recorded")));
    // The checks that failed, each with its reason; the passed ones counted
    // (their reasons are in the JSON report).
    let all = d.regions.iter().map(|r| r.checks.len()).sum::<usize>();
    let failed: Vec<String> = d
        .regions
        .iter()
        .flat_map(|r| r.checks.iter().filter(|c| !c.passed).map(move |c| format!("{}: {}", esc(&r.region), esc(&c.text))))
        .collect();
    let _ = write!(evidence, "<br>{} of {all} checks passed", all - failed.len());
    for line in failed.iter().take(FAILED_CHECKS_SHOWN) {
        let _ = write!(evidence, "<br><span class=\"bad\">{line}</span>");
    }
    if failed.len() > FAILED_CHECKS_SHOWN {
        let _ = write!(evidence, "<br>and {} more failed checks", failed.len() - FAILED_CHECKS_SHOWN);
    }
    for reason in &d.reasons {
        let _ = write!(evidence, "<br><span class=\"bad\">{}</span>", esc(reason));
    }
    let _ = write!(
        out,
        "<tr><td>{}<br><code>{}</code></td><td>{verdict}</td><td>{}</td><td>{evidence}</td></tr>",
        esc(&d.at_text),
        esc(&d.drill_id),
        measured.join("<br>")
    );
}
