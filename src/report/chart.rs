//! Inline SVG charts, drawn by hand: a line per drill region of a measured
//! duration over time with its target as a dashed line, and a timeline of
//! drill verdicts. No charting crate: the page must load nothing, and these
//! two shapes are a few dozen lines of SVG.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{DrillPoint, Verdict};
use crate::markup::html;
use crate::status::human_seconds;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
/// Room for the axis labels.
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 30.0;
/// One colour per drill region, in order (print-safe, colour-blind-safe).
const COLOURS: [&str; 4] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"];

/// A line chart of `measure` (seconds) per region over the drills' times,
/// with `target` as a dashed line; `None` when no drill measured anything.
pub fn measured(title: &str, drills: &[DrillPoint], target: u64, measure: impl Fn(&super::RegionPoint) -> Option<f64>) -> Option<String> {
    let mut series: BTreeMap<&str, Vec<(u64, f64)>> = BTreeMap::new();
    for drill in drills {
        for region in &drill.regions {
            if let Some(value) = measure(region).filter(|v| v.is_finite() && *v >= 0.0) {
                series.entry(region.region.as_str()).or_default().push((drill.at, value));
            }
        }
    }
    if series.is_empty() {
        return None;
    }
    let (first, last) = time_span(drills);
    let top = series.values().flatten().map(|(_, v)| *v).fold(target as f64, f64::max).max(1.0) * 1.15;
    let x = |at: u64| LEFT + (WIDTH - LEFT - RIGHT) * if last > first { (at - first) as f64 / (last - first) as f64 } else { 0.5 };
    let y = |value: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - value / top);
    let mut svg = open(title);
    axes(&mut svg, first, last, &human_seconds(top));
    let target_y = y(target as f64);
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{target_y:.1}" x2="{:.1}" y2="{target_y:.1}" stroke="#d62728" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" fill="#d62728" text-anchor="end">target {}</text>"##,
        WIDTH - RIGHT,
        WIDTH - RIGHT,
        target_y - 4.0,
        html(&human_seconds(target as f64))
    );
    for (index, (region, points)) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let path: Vec<String> = points.iter().map(|(at, v)| format!("{:.0},{:.0}", x(*at), y(*v))).collect();
        let _ = write!(svg, r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#, path.join(" "));
        // A mark with its value on the newest point only: a year of weekly
        // drills of hundreds of tables must stay a page, not megabytes.
        if let Some((at, value)) = points.last() {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{} {}: {}</title></circle>"#,
                x(*at),
                y(*value),
                html(region),
                html(&crate::state::rfc3339(*at)),
                html(&human_seconds(*value))
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" fill="{colour}">{}</text>"#,
            LEFT + 6.0 + 110.0 * index as f64,
            TOP + 10.0,
            html(region)
        );
    }
    svg.push_str("</svg>");
    Some(svg)
}

/// A timeline of the drills' verdicts: one mark per drill, green passed,
/// red failed, grey inconclusive.
pub fn verdicts(title: &str, drills: &[DrillPoint]) -> Option<String> {
    if drills.is_empty() {
        return None;
    }
    let (first, last) = time_span(drills);
    let x = |at: u64| LEFT + (WIDTH - LEFT - RIGHT) * if last > first { (at - first) as f64 / (last - first) as f64 } else { 0.5 };
    let height = 60.0;
    let mut svg =
        format!(r#"<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{}">"#, html(title));
    let _ = write!(svg, r##"<line x1="{LEFT}" y1="25" x2="{:.1}" y2="25" stroke="#999"/>"##, WIDTH - RIGHT);
    let _ = write!(svg, r##"<text x="{LEFT}" y="52">{}</text>"##, html(&day(first)));
    let _ = write!(svg, r##"<text x="{:.1}" y="52" text-anchor="end">{}</text>"##, WIDTH - RIGHT, html(&day(last)));
    // Passed drills as ticks of one path; the others as marks a reader can
    // hover for their id (few, and the ones that matter).
    let ticks: String = drills.iter().filter(|d| d.verdict == Verdict::Passed).map(|d| format!("M{:.0} 19v12", x(d.at))).collect();
    if !ticks.is_empty() {
        let _ = write!(svg, r##"<path d="{ticks}" stroke="#2ca02c" stroke-width="2"/>"##);
    }
    for drill in drills.iter().filter(|d| d.verdict != Verdict::Passed) {
        let colour = if drill.verdict == Verdict::Failed { "#d62728" } else { "#7f7f7f" };
        let _ = write!(
            svg,
            r#"<circle cx="{:.1}" cy="25" r="6" fill="{colour}"><title>{} {}: {}</title></circle>"#,
            x(drill.at),
            html(&drill.drill_id),
            html(&drill.at_text),
            drill.verdict.word()
        );
    }
    svg.push_str("</svg>");
    Some(svg)
}

fn time_span(drills: &[DrillPoint]) -> (u64, u64) {
    let first = drills.iter().map(|d| d.at).min().unwrap_or(0);
    let last = drills.iter().map(|d| d.at).max().unwrap_or(first);
    (first, last)
}

fn open(title: &str) -> String {
    format!(r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}">"#, html(title))
}

/// The axes, the period's first and last day below, the scale's top left.
fn axes(svg: &mut String, first: u64, last: u64, top: &str) {
    let bottom = HEIGHT - BOTTOM;
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#999"/><line x1="{LEFT}" y1="{bottom}" x2="{:.1}" y2="{bottom}" stroke="#999"/>"##,
        WIDTH - RIGHT
    );
    let _ = write!(svg, r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##, LEFT - 6.0, TOP + 8.0, html(top));
    let _ = write!(svg, r##"<text x="{:.1}" y="{bottom}" text-anchor="end">0</text>"##, LEFT - 6.0);
    let _ = write!(svg, r##"<text x="{LEFT}" y="{:.1}">{}</text>"##, HEIGHT - 10.0, html(&day(first)));
    let _ = write!(svg, r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##, WIDTH - RIGHT, HEIGHT - 10.0, html(&day(last)));
}

/// `YYYY-MM-DD` of a Unix time.
fn day(at: u64) -> String {
    crate::state::rfc3339(at).chars().take(10).collect()
}
