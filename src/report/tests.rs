use super::*;
use crate::state::{ChangeSetRecord, CheckRecord, Evidence, PolicyState, Reconciled, RegionDrill};
use crate::status::ExceptionStatus;

const DAY: u64 = 86_400;
/// 2026-12-01T00:00:00Z.
const NOW: u64 = 1_796_083_200;

fn scans() -> crate::policy::TablePolicy {
    crate::policy::load::load("desired/spatial-scans.yaml", include_bytes!("../../desired/spatial-scans.yaml")).unwrap().policy
}

fn entry(id: &str, at: u64, passed: bool, inconclusive: bool, reason: &str) -> History {
    let region = |name: &str, rto: f64| RegionDrill {
        region: name.into(),
        passed,
        rto_seconds: Some(rto),
        rto_objective_seconds: 3600,
        rpo_seconds: Some(rto * 2.0),
        rpo_objective_seconds: 8 * 3600,
        backup_job_id: Some(format!("backup-{id}")),
        restore_job_id: Some(format!("restore-{id}-{name}")),
        checks: vec![CheckRecord { name: "item_count".into(), passed, reason: reason.into() }],
        ..RegionDrill::default()
    };
    History {
        policy: "spatial-scans".into(),
        evidence: Evidence {
            commit: "c0ffee".into(),
            content_hash: "h".into(),
            at,
            change_sets: vec![ChangeSetRecord {
                stack: "drctl-spatial-scans".into(),
                region: "us-east-1".into(),
                change_set_id: Some(format!("cs-{id}")),
            }],
            drill: Some(DrillRecord {
                drill_id: id.into(),
                started: at - 300,
                finished: at,
                content_hash: "h".into(),
                commit: "c0ffee".into(),
                passed,
                inconclusive,
                regions: vec![region("us-east-1", 40.0), region("us-west-2", 90.0)],
                reasons: if passed { vec![] } else { vec![reason.into()] },
            }),
            sns_message_id: Some(format!("message-{id}")),
        },
    }
}

fn report(period: Period) -> Report {
    let policy = scans();
    let hash = crate::policy::content_hash(&policy);
    let mut state = PolicyState::new("spatial-scans");
    state.reconciled = Some(Reconciled { content_hash: hash.clone(), commit: "c0ffee".into(), at: NOW - DAY });
    let history = vec![
        entry("d3", NOW - DAY, true, false, "21 of 21"),
        entry("d1", NOW - 20 * DAY, true, false, "21 of 21"),
        entry("d2", NOW - 10 * DAY, false, false, "3 items restored, 301 in the source <script>alert(1)</script>"),
        entry("d9", NOW - 9 * DAY, false, true, "throttled"),
        entry("d0", NOW - 400 * DAY, true, false, "before the period"),
    ];
    let exception = ExceptionStatus {
        rule: "prod-full-content-check".into(),
        policy: "spatial-scans".into(),
        reason: "cost <b>".into(),
        approved_by: "head-of-platform".into(),
        expires: "2027-06-30".into(),
        expired: false,
    };
    let inventory = crate::status::inventory(&[(&policy, hash.as_str())], &[state], NOW).with_guardrails([], vec![exception]);
    build(&inventory, &history, period)
}

fn last_month() -> Period {
    Period { since: NOW - 30 * DAY, until: NOW }
}

#[test]
fn the_period_holds_its_drills_oldest_first_with_each_verdict_counted() {
    let report = report(last_month());
    let drills: Vec<(&str, Verdict)> = report.policies[0].drills.iter().map(|d| (d.drill_id.as_str(), d.verdict)).collect();
    assert_eq!(drills, [("d1", Verdict::Passed), ("d2", Verdict::Failed), ("d9", Verdict::Inconclusive), ("d3", Verdict::Passed)]);
    let s = &report.summary;
    assert_eq!((s.drills, s.drills_passed, s.drills_failed, s.drills_inconclusive), (4, 2, 1, 1));
    assert_eq!(report.exceptions.len(), 1);
    let shorter = super::tests::report(Period { since: NOW - 15 * DAY, until: NOW - 5 * DAY });
    let ids: Vec<&str> = shorter.policies[0].drills.iter().map(|d| d.drill_id.as_str()).collect();
    assert_eq!(ids, ["d2", "d9"], "--since and --until bound the drills");
}

#[test]
fn each_drill_carries_its_evidence_chain() {
    let report = report(last_month());
    let d2 = report.policies[0].drills.iter().find(|d| d.drill_id == "d2").unwrap();
    assert_eq!(d2.commit, "c0ffee");
    assert_eq!(d2.change_sets, ["drctl-spatial-scans (us-east-1): cs-d2"]);
    assert_eq!(d2.sns_message_id.as_deref(), Some("message-d2"));
    assert_eq!(d2.regions[1].restore_job_id.as_deref(), Some("restore-d2-us-west-2"));
    assert_eq!(d2.regions[0].rto_seconds, Some(40.0));
    assert!(d2.regions[0].checks[0].text.starts_with("item_count: failed — 3 items restored"), "{:?}", d2.regions[0].checks);
    assert!(!d2.regions[0].checks[0].passed);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["policies"][0]["drills"][1]["verdict"], "failed");
    assert_eq!(json["policies"][0]["rto_target_seconds"], 3600);
}

#[test]
fn the_page_is_self_contained_escaped_and_charts_rto_and_rpo_against_their_targets() {
    let page = html(&report(last_month()));
    assert!(page.starts_with("<!DOCTYPE html>"));
    for loads_something in ["<script", "<link", " src=", "url(", "@import", "<img", "<iframe"] {
        assert!(!page.contains(loads_something), "the page loads nothing: found {loads_something}");
    }
    for href in page.match_indices("href=\"").map(|(i, _)| &page[i + 6..i + 7]) {
        assert_eq!(href, "#", "links stay within the page");
    }
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "state values are escaped");
    assert!(page.contains("cost &lt;b&gt;"), "exception reasons are escaped");
    assert_eq!(page.matches("<svg").count(), 3, "verdicts, RTO and RPO");
    assert!(page.contains("target 1h") && page.contains("target 8h"), "each chart draws its target");
    assert!(page.contains("1 of 1 policies compliant") || page.contains("0 of 1 policies compliant"));
    assert!(page.contains("message-d3") && page.contains("restore-d3-us-east-1"), "the evidence chain is on the page");
    assert!(page.contains("prod-full-content-check"), "exceptions are listed");
}

#[test]
fn the_newest_drills_post_restore_gaps_are_listed_for_a_real_recovery() {
    let gap = |setting: &str, source: &str| crate::state::GapRecord {
        setting: setting.into(),
        source: source.into(),
        restored: "disabled".into(),
        action: format!("re-enable {setting} <now>"),
    };
    let mut report = report(last_month());
    let drills = &mut report.policies[0].drills;
    drills[0].regions[0].gaps = vec![gap("streams", "an older drill's gap")];
    let newest = drills.last_mut().unwrap();
    newest.regions[0].gaps = vec![gap("point_in_time_recovery", "enabled"), gap("ttl", "expires_at")];
    newest.regions[1].gaps = vec![gap("point_in_time_recovery", "enabled")];
    let page = html(&report);
    assert!(page.contains("Post-restore gaps of the newest drill (<code>d3</code>)"), "{page}");
    assert_eq!(page.matches("re-enable point_in_time_recovery &lt;now&gt;").count(), 2, "one row per region, escaped");
    assert!(page.contains("<td>us-west-2</td><td>point_in_time_recovery</td><td>enabled</td><td>disabled</td>"), "{page}");
    assert!(page.contains("expires_at") && !page.contains("an older drill's gap"), "the newest drill's gaps only");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["policies"][0]["drills"][0]["regions"][0]["gaps"][0]["setting"], "streams", "every drill's gaps in the JSON");
}

#[test]
fn a_policy_without_drills_in_the_period_says_so_and_draws_nothing() {
    let page = html(&report(Period { since: NOW + DAY, until: NOW + 2 * DAY }));
    assert!(page.contains("No drill in the period."));
    assert!(!page.contains("<svg"));
}

#[test]
fn days_bound_the_period_in_utc() {
    assert_eq!(parse_day("2026-12-01", false), Some(NOW));
    assert_eq!(parse_day("2026-12-01", true), Some(NOW + DAY - 1));
    assert_eq!(parse_day("2026-13-01", false), None);
}

#[test]
fn a_year_of_drills_shows_the_newest_and_every_failure_and_points_to_the_json_for_the_rest() {
    let policy = scans();
    let hash = crate::policy::content_hash(&policy);
    let mut history: Vec<History> = (0..50).map(|i| entry(&format!("w{i:02}"), NOW - (50 - i) * 7 * DAY / 10, true, false, "ok")).collect();
    history[10] = entry("w10", history[10].evidence.at, false, false, "a failure long ago");
    let inventory = crate::status::inventory(&[(&policy, hash.as_str())], &[], NOW);
    let page = html(&build(&inventory, &history, Period { since: 0, until: NOW }));
    let rows = page.matches("<tr><td>20").count();
    assert_eq!(rows, 3, "the two newest and the failure");
    assert!(page.contains("a failure long ago") && page.contains("w49") && !page.contains(">w30<"), "{page}");
    assert!(page.contains("47 more drills in the period"));
    // One mark for the failure; on the RTO and RPO charts, one per region on its newest point.
    assert_eq!(page.matches("<circle").count(), 1 + 2 * 2);
}
