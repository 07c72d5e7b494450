//! The HTML report as a person sees it: `drctl report` over a state with
//! many drills, opened in headless Chromium (tests/browser/read_report.py
//! reads back what the browser parsed). The page logs nothing and loads
//! nothing, every policy is on it, and every chart's points are the state's
//! drills: one per drill, at its time and value. A screenshot of the page
//! is saved for review beside the page (`target/artifacts/report-page.png`
//! and `.html`; CI keeps them).
//!
//! Needs Debian's Chromium (scripts/chromium installs it) and the venv
//! (Playwright's Python client). Without Chromium the test says so and
//! passes, unless `DRCTL_REQUIRE_BROWSER` is set, as CI sets it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use drctl::state::{
    Applied, ChangeSetRecord, CheckRecord, DrillRecord, Evidence, FileStore, PolicyState, Reconciled, RegionDrill, StateStore,
};
use serde_json::Value;

mod support;

const DAY: u64 = 86_400;
const DRILLS: u64 = 30;
const REGIONS: [&str; 2] = ["us-east-1", "us-west-2"];

/// Drill `i` of a policy: weekly, one in nine failed, one in eleven
/// inconclusive (measured in the first region only: the second never
/// finished), with RTO and RPO that vary from drill to drill.
fn drill(policy: &str, hash: &str, i: u64, at: u64, fail_newest: bool) -> DrillRecord {
    let newest = i == DRILLS - 1;
    let failed = i % 9 == 4 || (newest && fail_newest);
    let inconclusive = !failed && i % 11 == 6;
    let region = |index: usize, name: &str| {
        let measured = !(inconclusive && index == 1);
        // Minutes to most of an hour, and hours: spread over many pixels
        // of axes that reach the targets (1 h to 4 d).
        let rto = 300.0 + 60.0 * ((i * 37 + index as u64 * 13) % 45) as f64 + 7.5 * index as f64;
        RegionDrill {
            region: name.into(),
            passed: !failed && !inconclusive,
            rto_seconds: measured.then_some(rto),
            rto_objective_seconds: 3600,
            rpo_seconds: measured.then_some(3600.0 + 600.0 * ((i * 53 + index as u64 * 29) % 37) as f64),
            rpo_objective_seconds: 8 * 3600,
            recovery_point_arn: Some(format!("arn:aws:backup:{name}:123456789012:recovery-point:{policy}-{i}")),
            backup_job_id: Some(format!("backup-{policy}-{i}")),
            restore_job_id: measured.then(|| format!("restore-{policy}-{i}-{name}")),
            scratch_table: Some(format!("drctl-drill-{policy}-{i:08x}")),
            checks: vec![CheckRecord {
                name: "item_count".into(),
                passed: !failed,
                reason: if failed { "3 items restored, 301 in the source".into() } else { "301 of 301".into() },
            }],
            ..RegionDrill::default()
        }
    };
    DrillRecord {
        drill_id: format!("{policy}-drill-{i:02}"),
        started: at - 600,
        finished: at,
        content_hash: hash.into(),
        commit: "c0ffee".into(),
        passed: !failed && !inconclusive,
        inconclusive,
        regions: REGIONS.iter().enumerate().map(|(index, name)| region(index, name)).collect(),
        reasons: if failed {
            vec!["us-west-2: item_count: 3 items restored, 301 in the source".into()]
        } else if inconclusive {
            vec!["throttled past retries".into()]
        } else {
            vec![]
        },
    }
}

/// The repository's example policies, with a state holding 30 weekly drills
/// of each (written through drctl's own store); `render-jobs`' newest drill
/// failed, so it is out of compliance. Returns the drills per policy.
async fn estate(dir: &Path) -> BTreeMap<String, Vec<DrillRecord>> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("desired");
    let mut files = Vec::new();
    for name in ["spatial-scans", "floor-plans", "render-jobs"] {
        let text = std::fs::read_to_string(examples.join(format!("{name}.yaml"))).unwrap();
        files.push((format!("desired/{name}.yaml"), text));
    }
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    support::commit_files(dir, &borrowed);

    let store = FileStore::open(dir.join(".drctl/state.json"));
    let now = drctl::state::now();
    let mut all = BTreeMap::new();
    for (path, text) in &files {
        let policy = drctl::policy::load::load(path, text.as_bytes()).unwrap().policy;
        let name = policy.metadata.name.clone();
        let hash = drctl::policy::content_hash(&policy);
        let drills: Vec<DrillRecord> = (0..DRILLS)
            .map(|i| drill(&name, &hash, i, now - (DRILLS - 1 - i) * 7 * DAY - DAY - 3600 * all.len() as u64, name == "render-jobs"))
            .collect();
        for d in &drills {
            let evidence = Evidence {
                commit: d.commit.clone(),
                content_hash: hash.clone(),
                at: d.finished,
                change_sets: vec![ChangeSetRecord {
                    stack: format!("drctl-{name}"),
                    region: "us-east-1".into(),
                    change_set_id: Some(format!("cs-{}", d.drill_id)),
                }],
                drill: Some(d.clone()),
                sns_message_id: Some(format!("message-{}", d.drill_id)),
            };
            store.append_history(&name, &evidence).await.unwrap();
        }
        // The record as drctl keeps it: the newest drill that decided
        // something, and an inconclusive one after it apart.
        let proven = drills.iter().rev().find(|d| d.passed).unwrap();
        let mut state = PolicyState::new(&name);
        state.desired_hash = Some(hash.clone());
        state.applied = Some(Applied { content_hash: hash.clone(), commit: "c0ffee".into(), at: drills[0].started, weakened: None });
        state.last_drill = drills.iter().rev().find(|d| !d.inconclusive).cloned();
        state.last_inconclusive = drills.last().filter(|d| d.inconclusive).cloned();
        state.reconciled = Some(Reconciled { content_hash: hash.clone(), commit: "c0ffee".into(), at: proven.finished });
        store.put(&state).await.unwrap();
        all.insert(name, drills);
    }
    all
}

fn drctl(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_drctl")).args(args).current_dir(dir).output().unwrap();
    assert!(output.status.success(), "drctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Debian's Chromium, or `None` (and why) where it is not installed.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("DRCTL_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    let why = format!("{} not found: scripts/chromium installs Debian's chromium", path.display());
    assert!(std::env::var_os("DRCTL_REQUIRE_BROWSER").is_none(), "{why} (DRCTL_REQUIRE_BROWSER is set)");
    eprintln!("SKIPPED: the report was not opened in a browser: {why}");
    None
}

/// What Chromium made of `page` (see tests/browser/read_report.py).
fn open_in_browser(chromium: &Path, page: &Path, screenshot: &Path) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    let output = Command::new(&python)
        .arg(root.join("tests/browser/read_report.py"))
        .args([page, screenshot, chromium])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/venv installs it)", python.display()));
    assert!(output.status.success(), "the browser could not open {}: {}", page.display(), String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn numbers(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

/// `points` lie on one line through `values` (an affine map, as an axis is):
/// each within `tolerance` pixels of the line through the first and last.
fn on_one_axis(what: &str, values: &[f64], pixels: &[f64], tolerance: f64) {
    assert_eq!(values.len(), pixels.len(), "{what}: one point per drill");
    let (lo, hi) = (
        (0..values.len()).min_by(|a, b| values[*a].total_cmp(&values[*b])).unwrap(),
        (0..values.len()).max_by(|a, b| values[*a].total_cmp(&values[*b])).unwrap(),
    );
    if values[hi] == values[lo] {
        return;
    }
    let slope = (pixels[hi] - pixels[lo]) / (values[hi] - values[lo]);
    for (value, pixel) in values.iter().zip(pixels) {
        let expected = pixels[lo] + slope * (value - values[lo]);
        assert!((pixel - expected).abs() <= tolerance, "{what}: {value} drawn at {pixel}, the axis puts it at {expected:.1}");
    }
}

/// The chart of `policy` whose caption starts with `caption`.
fn chart<'a>(section: &'a Value, caption: &str) -> &'a Value {
    section["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["caption"].as_str().unwrap().starts_with(caption))
        .unwrap_or_else(|| panic!("no chart {caption:?} in {section:#}"))
}

/// The RTO or RPO chart: one line per region, named by the legend in the
/// line's colour, through every drill that measured it, at the drill's
/// time and value; its newest point marked with the value.
fn check_measured(name: &str, section: &Value, caption: &str, drills: &[DrillRecord], measure: fn(&RegionDrill) -> Option<f64>) {
    let chart = chart(section, caption);
    let legend: BTreeMap<&str, &str> = chart["texts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| Some((t["fill"].as_str()?, t["text"].as_str()?)))
        .filter(|(_, text)| REGIONS.contains(text))
        .collect();
    let lines = chart["polylines"].as_array().unwrap();
    assert_eq!(lines.len(), REGIONS.len(), "{name} {caption}: a line per region");
    let mut xs_of_drills = BTreeMap::new();
    let mut all_values = Vec::new();
    let mut all_ys = Vec::new();
    for line in lines {
        let region = legend[line["stroke"].as_str().unwrap()];
        let measured: Vec<(u64, f64)> =
            drills.iter().filter_map(|d| Some((d.finished, measure(d.regions.iter().find(|r| r.region == region)?)?))).collect();
        let points = line["points"].as_array().unwrap();
        assert_eq!(points.len(), measured.len(), "{name} {caption} {region}: one point per drill that measured it");
        let xs: Vec<f64> = points.iter().map(|p| p[0].as_f64().unwrap()).collect();
        let ys: Vec<f64> = points.iter().map(|p| p[1].as_f64().unwrap()).collect();
        let times: Vec<f64> = measured.iter().map(|(at, _)| *at as f64).collect();
        let values: Vec<f64> = measured.iter().map(|(_, v)| *v).collect();
        assert!(xs.windows(2).all(|w| w[0] < w[1]), "{name} {caption} {region}: oldest drill first, left to right: {xs:?}");
        on_one_axis(&format!("{name} {caption} {region} time"), &times, &xs, 1.5);
        for ((at, _), x) in measured.iter().zip(&xs) {
            xs_of_drills.insert(*at, *x);
        }
        all_values.extend(&values);
        all_ys.extend(&ys);
        // The newest point carries its value for a reader who hovers it.
        let (newest_at, newest) = measured.last().unwrap();
        let mark = chart["circles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["fill"] == line["stroke"])
            .unwrap_or_else(|| panic!("{name} {caption} {region}: no mark on the newest point"));
        let title = mark["title"].as_str().unwrap();
        assert!(
            title.starts_with(region)
                && title.contains(&drctl::state::rfc3339(*newest_at))
                && title.ends_with(&drctl::status::human_seconds(*newest)),
            "{name} {caption} {region}: {title}"
        );
    }
    // Both regions on the same scales: one time axis, one value axis, up
    // is more.
    let mut times: Vec<f64> = Vec::new();
    let mut xs = Vec::new();
    for (at, x) in &xs_of_drills {
        times.push(*at as f64);
        xs.push(*x);
    }
    on_one_axis(&format!("{name} {caption} time"), &times, &xs, 1.5);
    on_one_axis(&format!("{name} {caption} value"), &all_values, &all_ys, 1.5);
    let (lo, hi) = (all_values.iter().cloned().fold(f64::MAX, f64::min), all_values.iter().cloned().fold(0.0, f64::max));
    let y_of = |v: f64| all_ys[all_values.iter().position(|x| *x == v).unwrap()];
    assert!(y_of(hi) < y_of(lo), "{name} {caption}: a longer duration is drawn higher");
}

/// The verdict timeline: a green tick per passed drill, a mark per drill
/// that did not pass (red failed, grey inconclusive) titled with its id.
fn check_verdicts(name: &str, section: &Value, drills: &[DrillRecord]) {
    let chart = chart(section, "Verdicts");
    let ticks: Vec<f64> = chart["paths"].as_array().unwrap().iter().flat_map(|p| numbers(&p["ticks"])).collect();
    let passed: Vec<&DrillRecord> = drills.iter().filter(|d| d.passed).collect();
    assert_eq!(ticks.len(), passed.len(), "{name}: a tick per passed drill");
    let marks = chart["circles"].as_array().unwrap();
    let others: Vec<&DrillRecord> = drills.iter().filter(|d| !d.passed).collect();
    assert_eq!(marks.len(), others.len(), "{name}: a mark per drill that did not pass");
    for (drill, mark) in others.iter().zip(marks) {
        let title = mark["title"].as_str().unwrap();
        let (word, colour) = if drill.inconclusive { ("inconclusive", "#7f7f7f") } else { ("failed", "#d62728") };
        assert!(title.starts_with(&drill.drill_id) && title.ends_with(word), "{name}: {title} for {}", drill.drill_id);
        assert_eq!(mark["fill"], colour, "{name}: {title}");
    }
    // One time axis for the whole timeline.
    let mut times: Vec<f64> = passed.iter().map(|d| d.finished as f64).collect();
    let mut xs = ticks.clone();
    times.extend(others.iter().map(|d| d.finished as f64));
    xs.extend(marks.iter().map(|m| m["cx"].as_f64().unwrap()));
    on_one_axis(&format!("{name} verdicts time"), &times, &xs, 1.5);
}

#[tokio::test]
async fn report_page_opens_in_chromium_with_every_policy_and_the_states_drills_on_its_charts() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let drills = estate(dir.path()).await;
    drctl(dir.path(), &["report", "--format", "html", "--out", "report.html"]);
    let json: Value = serde_json::from_str(&drctl(dir.path(), &["report", "--format", "json"])).unwrap();

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("report-page.png");
    let page = open_in_browser(&chromium, &dir.path().join("report.html"), &screenshot);
    std::fs::copy(dir.path().join("report.html"), artifacts.join("report-page.html")).unwrap();

    for quiet in ["console", "page_errors", "requests", "failed_requests"] {
        assert_eq!(page[quiet], serde_json::json!([]), "the page must log and load nothing: {quiet}");
    }
    let summary: Vec<&str> = page["summary"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(summary, drills.keys().map(String::as_str).collect::<Vec<_>>(), "every policy in the compliance summary");
    let compliant: BTreeMap<&str, bool> =
        json["policies"].as_array().unwrap().iter().map(|p| (p["name"].as_str().unwrap(), p["compliant"].as_bool().unwrap())).collect();
    let reasons: Vec<(&Value, &Value)> = json["policies"].as_array().unwrap().iter().map(|p| (&p["name"], &p["reasons"])).collect();
    assert!(!compliant["render-jobs"], "its newest drill failed: {reasons:?}");
    assert!(compliant["spatial-scans"] && compliant["floor-plans"], "{reasons:?}");

    let sections: BTreeMap<&str, &Value> =
        page["policies"].as_array().unwrap().iter().map(|s| (s["heading"].as_str().unwrap(), s)).collect();
    assert_eq!(sections.keys().copied().collect::<Vec<_>>(), drills.keys().map(String::as_str).collect::<Vec<_>>());
    for (name, drills) in &drills {
        let section = sections[name.as_str()];
        assert_eq!(section["id"], format!("policy-{name}"), "the summary links to the section");
        check_verdicts(name, section, drills);
        check_measured(name, section, "RTO", drills, |r| r.rto_seconds);
        check_measured(name, section, "RPO", drills, |r| r.rpo_seconds);
    }

    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "a screenshot of the page: {} bytes", png.len());
    eprintln!("screenshot of the report: {}", screenshot.display());
}

/// The reader is the judge above, so it must see what it is meant to catch:
/// a console error and a request for something outside the page.
#[tokio::test]
async fn the_browser_reader_reports_console_errors_and_requests() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><title>t</title></head><body><img src=\"http://127.0.0.1:9/x.png\"><script>console.error('boom')</script></body></html>",
    )
    .unwrap();
    let read = open_in_browser(&chromium, &page, &dir.path().join("shot.png"));
    let console: Vec<&str> = read["console"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(console.contains(&"boom"), "{read:#}");
    assert_eq!(read["requests"], serde_json::json!(["http://127.0.0.1:9/x.png"]), "{read:#}");
}
