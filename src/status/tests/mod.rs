//! The compliance rules one by one, then each format on one inventory that
//! shows every marker.

use super::*;
use crate::policy::load;
use crate::state::{Applied, CheckRecord, InFlight, Lease, Reconciled, RegionDrill, Step};

const DAY: u64 = 86_400;
/// 2026-01-31T00:00:00Z.
const NOW: u64 = 1_769_817_600;

fn example(name: &str) -> TablePolicy {
    let text = match name {
        "spatial-scans" => include_str!("../../../desired/spatial-scans.yaml"),
        "floor-plans" => include_str!("../../../desired/floor-plans.yaml"),
        "render-jobs" => include_str!("../../../desired/render-jobs.yaml"),
        other => panic!("no example {other}"),
    };
    load(&format!("desired/{name}.yaml"), text.as_bytes()).expect("the example loads").policy
}

fn region(name: &str, passed: bool, rto: f64, rpo: f64) -> RegionDrill {
    RegionDrill {
        region: name.into(),
        passed,
        rto_seconds: Some(rto),
        rto_objective_seconds: 3600,
        rpo_seconds: Some(rpo),
        rpo_objective_seconds: 8 * 3600,
        restore_job_id: Some(format!("restore-{name}")),
        checks: vec![CheckRecord { name: "status".into(), passed, reason: "ACTIVE".into() }],
        ..RegionDrill::default()
    }
}

fn drill(id: &str, hash: &str, passed: bool, finished: u64, regions: Vec<RegionDrill>) -> DrillRecord {
    DrillRecord {
        drill_id: id.into(),
        started: finished - 120,
        finished,
        content_hash: hash.into(),
        commit: format!("commit-of-{hash}-0123456789"),
        passed,
        inconclusive: false,
        regions,
        reasons: if passed { vec![] } else { vec!["us-west-2: item_count: 3 items restored, 301 in the source".into(), "second".into()] },
    }
}

/// spatial-scans applied and proven at `hash` a day before [`NOW`], in
/// both drill regions, well within its objectives (RTO 1h, RPO 8h).
fn proven(hash: &str) -> PolicyState {
    let at = NOW - DAY;
    let passed = drill("d-1", hash, true, at, vec![region("us-east-1", true, 42.5, 600.0), region("us-west-2", true, 300.0, 900.0)]);
    PolicyState {
        policy: "spatial-scans".into(),
        version: 7,
        desired_hash: Some(hash.into()),
        applied: Some(Applied { content_hash: hash.into(), commit: format!("commit-of-{hash}-0123456789"), at: at - 300, weakened: None }),
        last_drill: Some(passed.clone()),
        last_inconclusive: None,
        reconciled: Some(Reconciled { content_hash: hash.into(), commit: format!("commit-of-{hash}-0123456789"), at }),
        in_flight: None,
        lease: None,
        outbox: None,
        evidence: vec![Evidence {
            commit: format!("commit-of-{hash}-0123456789"),
            content_hash: hash.into(),
            at,
            change_sets: vec![crate::state::ChangeSetRecord {
                stack: "drctl-spatial-scans".into(),
                region: "us-east-1".into(),
                change_set_id: Some("arn:aws:cloudformation:us-east-1:123456789012:changeSet/drctl-x/1".into()),
            }],
            drill: Some(passed),
            sns_message_id: Some("sns-message-1".into()),
        }],
    }
}

fn status_of(state: Option<PolicyState>) -> PolicyStatus {
    let policy = example("spatial-scans");
    let states: Vec<PolicyState> = state.into_iter().collect();
    let mut inventory = inventory(&[(&policy, "h2")], &states, NOW);
    inventory.policies.remove(0)
}

/// When reconcile renews spatial-scans' proof made at `proven_at` (its
/// slot in the 7-day period).
fn renewal(proven_at: u64) -> u64 {
    crate::reconcile::reproof_at("spatial-scans", proven_at, std::time::Duration::from_secs(7 * DAY))
}

fn rules(status: &PolicyStatus) -> Vec<&'static str> {
    status.reasons.iter().map(Reason::rule).collect()
}

#[test]
fn a_policy_applied_and_freshly_proven_within_its_objectives_is_compliant() {
    let status = status_of(Some(proven("h2")));
    assert!(status.compliant(), "{:?}", status.reasons);
    assert_eq!(status.next_drill, NextDrill::At(renewal(NOW - DAY)));
    assert!(renewal(NOW - DAY) > NOW - DAY && renewal(NOW - DAY) <= NOW + 6 * DAY, "renewed before the proof is a week old");
    let last = status.last_proven.as_ref().unwrap();
    assert_eq!((last.at, last.drill_id.as_deref()), (NOW - DAY, Some("d-1")));
    assert_eq!(last.regions, ["us-east-1", "us-west-2"]);
    // The worst over regions.
    let rto = status.rto.as_ref().unwrap();
    assert_eq!((rto.seconds, rto.region.as_str(), rto.target_seconds), (300.0, "us-west-2", 3600));
    assert_eq!(status.rpo.as_ref().unwrap().seconds, 900.0);
    assert_eq!(status.rpo.as_ref().unwrap().target_seconds, 8 * 3600);
    assert_eq!(status.schedule, "cron(0 */6 * * ? *)");
    assert_eq!(status.vault, "drctl-spatial-scans");
    assert_eq!(status.copies[0].region, "us-west-2");
    assert_eq!(status.copies[0].retention.to_string(), "90d");
    assert_eq!(status.point_in_time_recovery, Some(true));
}

#[test]
fn no_state_at_all_is_the_one_reason_and_the_drill_is_due_now() {
    let status = status_of(None);
    assert_eq!(status.reasons, vec![Reason::NoState]);
    assert_eq!(status.next_drill, NextDrill::Now("never proven"));
    assert_eq!(status.last_proven, None);
    assert_eq!(status.rto, None);
}

#[test]
fn a_policy_applied_but_never_drilled_is_never_proven() {
    let mut state = proven("h2");
    state.last_drill = None;
    state.reconciled = None;
    state.evidence.clear();
    let status = status_of(Some(state));
    assert_eq!(rules(&status), ["never-proven"]);
    assert_eq!(status.next_drill, NextDrill::Now("never proven"));
}

#[test]
fn a_failed_last_drill_is_reported_with_its_first_reason_and_the_older_proof_stays() {
    let mut state = proven("h2");
    state.last_drill = Some(drill("d-2", "h2", false, NOW - 3600, vec![region("us-east-1", true, 40.0, 60.0)]));
    let status = status_of(Some(state));
    assert_eq!(rules(&status), ["last-drill-failed"]);
    let Reason::LastDrillFailed { drill_id, at, reason } = &status.reasons[0] else { unreachable!() };
    assert_eq!((drill_id.as_str(), *at), ("d-2", NOW - 3600));
    assert_eq!(reason, "us-west-2: item_count: 3 items restored, 301 in the source");
    assert!(status.reasons[0].message().starts_with("last drill failed (d-2, 2026-01-30T23:00:00Z): us-west-2: item_count"));
    // The proof of the day before is still the last proven restore.
    assert_eq!(status.last_proven.as_ref().unwrap().drill_id.as_deref(), Some("d-1"));
    // RTO and RPO are the last drill's.
    assert_eq!(status.rto.as_ref().unwrap().drill_id, "d-2");
}

#[test]
fn a_proof_older_than_verify_every_is_overdue() {
    let mut state = proven("h2");
    state.reconciled.as_mut().unwrap().at = NOW - 8 * DAY;
    let status = status_of(Some(state));
    assert_eq!(status.next_drill, NextDrill::At(renewal(NOW - 8 * DAY)));
    assert_eq!(status.reasons, vec![Reason::Overdue { proven_at: NOW - 8 * DAY, due: NOW - DAY }]);
    // Due exactly now is overdue too; a second earlier is not.
    let mut state = proven("h2");
    state.reconciled.as_mut().unwrap().at = NOW - 7 * DAY;
    assert_eq!(rules(&status_of(Some(state))), ["overdue"]);
    let mut state = proven("h2");
    state.reconciled.as_mut().unwrap().at = NOW - 7 * DAY + 1;
    assert!(status_of(Some(state)).compliant());
}

#[test]
fn measured_rto_and_rpo_above_their_targets_are_each_a_reason() {
    let mut state = proven("h2");
    let regions = vec![region("us-east-1", true, 3601.0, 100.0), region("us-west-2", true, 20.0, 9.0 * 3600.0)];
    state.last_drill = Some(drill("d-3", "h2", true, NOW - DAY, regions));
    let status = status_of(Some(state));
    assert_eq!(rules(&status), ["rto-above-target", "rpo-above-target"]);
    assert_eq!(status.reasons[0].message(), "RTO 1h (3601s) above the target 1h (in us-east-1)");
    assert_eq!(status.reasons[1].message(), "RPO 9h (32400s) above the target 8h (in us-west-2)");
    // Exactly on target meets it.
    let mut state = proven("h2");
    state.last_drill = Some(drill("d-4", "h2", true, NOW - DAY, vec![region("us-east-1", true, 3600.0, 8.0 * 3600.0)]));
    assert!(status_of(Some(state)).compliant());
}

#[test]
fn a_region_that_measured_nothing_does_not_hide_the_others() {
    let mut state = proven("h2");
    let mut silent = region("us-east-1", false, 0.0, 0.0);
    silent.rto_seconds = None;
    silent.rpo_seconds = Some(f64::NAN);
    state.last_drill = Some(drill("d-5", "h2", true, NOW - DAY, vec![silent, region("us-west-2", true, 7200.0, 60.0)]));
    let status = status_of(Some(state));
    assert_eq!(status.rto.as_ref().unwrap().region, "us-west-2");
    assert_eq!(status.rpo.as_ref().unwrap().seconds, 60.0);
    assert_eq!(rules(&status), ["rto-above-target"]);
}

#[test]
fn a_desired_change_applied_but_not_yet_proven_is_due_now() {
    let mut state = proven("h1");
    state.applied.as_mut().unwrap().content_hash = "h2".into();
    let status = status_of(Some(state));
    assert_eq!(status.reasons, vec![Reason::ChangeNotProven { proven_hash: "h1".into() }]);
    assert_eq!(status.next_drill, NextDrill::Now("changed since the last proof"));
}

#[test]
fn a_desired_change_not_applied_is_two_reasons() {
    let status = status_of(Some(proven("h1")));
    assert_eq!(
        status.reasons,
        vec![Reason::NotApplied { applied_hash: Some("h1".into()) }, Reason::ChangeNotProven { proven_hash: "h1".into() }]
    );
    let mut state = proven("h2");
    state.applied = None;
    let status = status_of(Some(state));
    assert_eq!(status.reasons, vec![Reason::NotApplied { applied_hash: None }]);
    assert_eq!(status.reasons[0].message(), "not applied: no stacks deployed by drctl");
}

#[test]
fn the_last_proven_restore_survives_a_record_with_only_the_reconciled_mark() {
    let mut state = proven("h2");
    state.last_drill = None;
    state.evidence.clear();
    let status = status_of(Some(state));
    assert!(status.compliant(), "{:?}", status.reasons);
    let last = status.last_proven.unwrap();
    assert_eq!((last.at, last.drill_id, last.regions.len()), (NOW - DAY, None, 0));
}

#[test]
fn records_of_policies_no_longer_desired_are_orphans_unless_their_file_is_invalid() {
    let scans = example("spatial-scans");
    let plans = example("floor-plans");
    let states = vec![proven("h2"), PolicyState::new("deleted-policy"), PolicyState::new("broken")];
    let inventory = inventory(&[(&scans, "h2"), (&plans, "p1")], &states, NOW)
        .with_invalid([("desired/broken.yaml".to_string(), Some("broken".to_string())), ("desired/zz.yaml".to_string(), None)]);
    let names: Vec<&str> = inventory.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["floor-plans", "spatial-scans"], "sorted by name");
    let orphans: Vec<&str> = inventory.orphans.iter().map(|o| o.policy.as_str()).collect();
    assert_eq!(orphans, ["deleted-policy"]);
    assert_eq!(inventory.invalid[0].state.as_ref().map(|s| s.policy.as_str()), Some("broken"));
    assert_eq!(inventory.invalid[1].state, None);
    assert_eq!(inventory.summary(), Summary { policies: 2, compliant: 1, out_of_compliance: 1, orphans: 1, invalid: 2 });
    assert!(inventory.out_of_compliance());
    assert_eq!(inventory.summary().sentence(), "2 policies: 1 compliant, 1 out of compliance, 1 orphan state record, 2 invalid");
}

#[test]
fn an_inventory_of_compliant_policies_alone_is_in_compliance() {
    let scans = example("spatial-scans");
    let inventory = inventory(&[(&scans, "h2")], &[proven("h2"), PolicyState::new("deleted")], NOW);
    assert!(!inventory.out_of_compliance(), "an orphan record is no desired policy out of compliance");
    let broken = inventory.with_invalid([("desired/x.yaml".to_string(), None)]);
    assert!(broken.out_of_compliance(), "an unreadable policy file is");
}

#[test]
fn spans_and_times_read_at_a_glance() {
    assert_eq!(human_seconds(0.5), "0.5s");
    assert_eq!(human_seconds(42.54), "42.5s");
    assert_eq!(human_seconds(60.0), "1m");
    assert_eq!(human_seconds(303.0), "5m 3s");
    assert_eq!(human_seconds(7500.0), "2h 5m");
    assert_eq!(human_seconds(3.0 * 86_400.0 + 4.0 * 3600.0 + 59.0), "3d 4h");
    assert_eq!(human_seconds(86_400.0 + 59.0), "1d");
    assert_eq!(human_seconds(59.94), "59.9s");
    assert_eq!(human_seconds(59.96), "1m");
    assert_eq!(human_seconds(3569.0), "59m 29s");
    assert_eq!(human_seconds(3570.0), "1h");
    assert_eq!(human_seconds(84_599.0), "23h 30m");
    assert_eq!(human_seconds(84_600.0), "1d");
    assert_eq!(human_seconds(7.0 * 86_400.0 - 3600.0 - 2.0), "6d 23h");
    assert_eq!(human_seconds(f64::INFINITY), "infs");
    assert_eq!(relative(NOW - DAY, NOW), "1d ago");
    assert_eq!(relative(NOW + 3600, NOW), "in 1h");
    assert_eq!(relative(NOW, NOW), "now");
}

// ---------------------------------------------------------------- formats

/// One inventory with every marker: spatial-scans compliant and busy (a
/// drill in flight under a live lease), floor-plans with no state,
/// render-jobs whose last drill failed, an invalid file and an orphan.
fn sample() -> Inventory {
    let scans = example("spatial-scans");
    let plans = example("floor-plans");
    let jobs = example("render-jobs");
    let mut busy = proven("h2");
    busy.in_flight = Some(InFlight {
        step: Step::Drill,
        content_hash: "h2".into(),
        commit: "c0ffee0123456789".into(),
        drill_id: Some("d-9".into()),
        backup_job_id: Some("backup-1".into()),
        copy_jobs: Default::default(),
        restores: Default::default(),
        started: NOW - 600,
        source: Some(crate::state::SourceTable { table: "SpatialScans".into(), region: "us-east-1".into() }),
    });
    busy.lease = Some(Lease { owner: "ci-runner:42:abcd0123".into(), expires: NOW + 300 });
    let mut failing = proven("j1");
    failing.policy = "render-jobs".into();
    failing.last_drill = Some(drill("d-7", "j1", false, NOW - 3600, vec![region("us-west-2", false, 12.0, 30.0)]));
    let mut orphan = proven("o1");
    orphan.policy = "old-scans".into();
    let states = vec![busy, failing, orphan];
    inventory(&[(&scans, "h2"), (&plans, "p1"), (&jobs, "j1")], &states, NOW)
        .with_commit(Some("0123456789abcdef0123456789abcdef01234567".into()))
        .with_invalid([("desired/broken.yaml".to_string(), None)])
}

#[test]
fn text_without_colour_marks_each_policy_and_lists_its_reasons() {
    let text = text(&sample(), false);
    assert!(!text.contains('\x1b'), "{text}");
    for expected in [
        "drctl status of commit 0123456789abcdef0123456789abcdef01234567 at 2026-01-31T00:00:00Z\n",
        "\nfloor-plans: ✗ OUT OF COMPLIANCE\n",
        "\n  table       FloorPlans in us-east-1 (prod), owner team-plans\n",
        "\n  backup      every: 12h, keeps 400d, vault drctl-floor-plans, PITR on\n",
        "\n  copies      eu-west-1 (keeps 400d, vault drctl-floor-plans)\n",
        "\n  proven      never\n",
        "\n  next drill  now (never proven)\n",
        "\n  ✗ no state: drctl has never reconciled this policy\n",
        "\nrender-jobs: ✗ OUT OF COMPLIANCE\n",
        "\n  backup      cron(30 2 ? * MON-FRI *), keeps 14d, vault drctl-render-jobs, PITR not managed\n",
        "\n  copies      none\n",
        "\n  ✗ last drill failed (d-7, 2026-01-30T23:00:00Z): us-west-2: item_count: 3 items restored, 301 in the source\n",
        "\nspatial-scans: ✓ compliant\n",
        "\n  proven      2026-01-30T00:00:00Z (1d ago) in us-east-1, us-west-2, commit commit-of-h2\n",
        "\n  RTO         5m (target 1h, in us-west-2)\n",
        "\n  RPO         15m (target 8h, in us-west-2)\n",
        &format!("\n  next drill  {} (in ", crate::state::rfc3339(renewal(NOW - DAY))),
        "\n  reconciled  commit commit-of-h2\n",
        "\n  in flight   drill of commit c0ffee012345 since 2026-01-30T23:50:00Z (10m ago), drill d-9; canary may be in SpatialScans (us-east-1), until the drill's checks end\n",
        "\n  lease       held by ci-runner:42:abcd0123 until 2026-01-31T00:05:00Z\n",
        "\n? invalid: desired/broken.yaml: the file has errors; run `drctl validate`\n",
        "\n- old-scans: not desired (orphan state); last applied commit commit-of-o1, last proven 2026-01-30T00:00:00Z\n",
        "\nStatus: 3 policies: 1 compliant, 2 out of compliance, 1 orphan state record, 1 invalid.\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let order: Vec<usize> = ["floor-plans:", "render-jobs:", "spatial-scans:", "? invalid", "- old-scans"]
        .iter()
        .map(|needle| text.find(needle).unwrap())
        .collect();
    assert!(order.is_sorted(), "{order:?}");
}

#[test]
fn text_in_colour_paints_markers_and_never_passes_control_characters_through() {
    let mut inventory = sample();
    inventory.policies[0].owner = Some("team\x1b[2Jevil".into());
    let coloured = text(&inventory, true);
    assert!(coloured.contains("\x1b[1;31m✗ OUT OF COMPLIANCE\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[32m✓ compliant\x1b[0m"), "{coloured}");
    assert!(!coloured.contains("\x1b[2J"), "{coloured}");
    let plain = text(&inventory, false);
    assert!(plain.contains("owner team?[2Jevil"), "{plain}");
}

#[test]
fn markdown_starts_with_the_summary_table_and_marks_every_row() {
    let md = markdown(&sample());
    assert!(md.starts_with("### drctl status\n\nCommit `0123456789ab`, 2026-01-31T00:00:00Z. **3 policies: 1 compliant, 2 out of compliance, 1 orphan state record, 1 invalid.**\n\n> [!CAUTION]\n> Out of compliance: `floor-plans`, `render-jobs`, `desired/broken.yaml`.\n\n| policy | table | env | last proven restore |"), "{md}");
    let table = md.find("| policy |").unwrap();
    assert!(md.find("<details>").unwrap() > table, "the table comes first");
    for expected in [
        &format!(
            "\n| `spatial-scans` | `SpatialScans` (us-east-1) | prod | 2026-01-30T00:00:00Z (us-east-1, us-west-2) | 5m (1h) | 15m (8h) | {} | `commit-of-h2` | ✅ compliant |\n",
            crate::state::rfc3339(renewal(NOW - DAY))
        ),
        "\n| `floor-plans` | `FloorPlans` (us-east-1) | prod | never | — (4h) | — (1d) | now | — | ❌ **out of compliance**: no state: drctl has never reconciled this policy |\n",
        "| ❌ **out of compliance**: last drill failed (d-7, 2026-01-30T23:00:00Z): us-west-2: item\\_count: 3 items restored, 301 in the source |\n",
        "\n| — | — | | | | | | | ❌ **invalid**: `desired/broken.yaml` has errors |\n",
        "\n| `old-scans` | — | | | | | | `commit-of-o1` | ⚠️ not desired (orphan state) |\n",
        "\n<details><summary><code>spatial-scans</code>: compliant</summary>\n\n- owner: team-3d\n- schedule: `cron(0 */6 * * ? *)`\n",
        "\n- lease: held by ci-runner:42:abcd0123 until 2026-01-31T00:05:00Z\n",
        "\n<details><summary><code>render-jobs</code>: out of compliance</summary>\n",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
}

#[test]
fn markdown_cells_cannot_be_broken_by_values_from_state() {
    let mut inventory = sample();
    inventory.policies[1].reasons = vec![Reason::LastDrillFailed { drill_id: "x".into(), at: NOW, reason: "a | b <script> `c`".into() }];
    let md = markdown(&inventory);
    assert!(md.contains("a \\| b &lt;script&gt; \\`c\\`"), "{md}");
    assert!(!md.contains("<script>"), "{md}");
    let over = sample();
    let empty = Inventory { policies: vec![], orphans: vec![], invalid: vec![], ..over };
    assert!(markdown(&empty).ends_with("No policies.\n"));
}

#[test]
fn markdown_flags_a_missed_objective_and_an_overdue_drill() {
    let scans = example("spatial-scans");
    let mut state = proven("h2");
    state.reconciled.as_mut().unwrap().at = NOW - 8 * DAY;
    state.last_drill = Some(drill("d-3", "h2", true, NOW - 8 * DAY, vec![region("us-east-1", true, 5400.0, 60.0)]));
    let md = markdown(&inventory(&[(&scans, "h2")], &[state], NOW));
    assert!(md.contains("| **1h 30m** (1h) ❌ | 1m (8h) | **overdue** since 2026-01-30T00:00:00Z |"), "{md}");
    assert!(md.contains("RTO 1h 30m (5400s) above the target 1h (in us-east-1)"), "{md}");
}

#[test]
fn json_carries_every_field_with_both_time_forms_and_the_evidence_chain() {
    let value = json(&sample());
    assert_eq!(value["format_version"], 1);
    assert_eq!(value["generated_at"], serde_json::json!({ "unix": NOW, "rfc3339": "2026-01-31T00:00:00Z" }));
    assert_eq!(value["commit"], "0123456789abcdef0123456789abcdef01234567");
    assert_eq!(value["compliant"], false);
    assert_eq!(value["summary"], serde_json::json!({ "policies": 3, "compliant": 1, "out_of_compliance": 2, "orphans": 1, "invalid": 1 }));
    let policies = value["policies"].as_array().unwrap();
    let names: Vec<&str> = policies.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["floor-plans", "render-jobs", "spatial-scans"]);

    let plans = &policies[0];
    assert_eq!(plans["compliant"], false);
    assert_eq!(
        plans["compliance"],
        serde_json::json!([{ "rule": "no-state", "message": "no state: drctl has never reconciled this policy" }])
    );
    assert_eq!(plans["state"], serde_json::Value::Null);
    assert_eq!(plans["evidence"], serde_json::json!([]));
    assert_eq!(plans["next_drill_due"], serde_json::json!({ "now": true, "why": "never proven", "at": null, "overdue": false }));
    assert_eq!(plans["schedule"], "every: 12h");
    assert_eq!(plans["copies"], serde_json::json!([{ "region": "eu-west-1", "retention": "400d", "vault": "drctl-floor-plans" }]));

    let jobs = &policies[1];
    assert_eq!(jobs["compliance"][0]["rule"], "last-drill-failed");
    assert_eq!(jobs["compliance"][0]["drill_id"], "d-7");
    assert_eq!(jobs["compliance"][0]["at"]["unix"], NOW - 3600);
    assert_eq!(jobs["point_in_time_recovery"], serde_json::Value::Null);
    assert_eq!(jobs["state"]["last_drill"]["passed"], false);

    let scans = &policies[2];
    assert_eq!(scans["compliant"], true);
    assert_eq!(scans["compliance"], serde_json::json!([]));
    assert_eq!(scans["table"], "SpatialScans");
    assert_eq!(scans["environment"], "prod");
    assert_eq!(scans["owner"], "team-3d");
    assert_eq!(scans["retention"], "35d");
    assert_eq!(scans["point_in_time_recovery"], true);
    assert_eq!(scans["objectives"], serde_json::json!({ "rto": "1h", "rto_seconds": 3600, "rpo": "8h", "rpo_seconds": 28800 }));
    assert_eq!(
        scans["rto"],
        serde_json::json!({ "seconds": 300.0, "region": "us-west-2", "target_seconds": 3600, "met": true, "drill_id": "d-1" })
    );
    assert_eq!(scans["last_proven_restore"]["at"]["rfc3339"], "2026-01-30T00:00:00Z");
    assert_eq!(scans["last_proven_restore"]["regions"], serde_json::json!(["us-east-1", "us-west-2"]));
    assert_eq!(scans["next_drill_due"]["at"]["unix"], renewal(NOW - DAY));
    assert_eq!(scans["reconciled_commit"], "commit-of-h2-0123456789");
    assert_eq!(scans["state"]["applied"]["at"]["unix"], NOW - DAY - 300);
    assert_eq!(scans["state"]["in_flight"]["step"], "drill");
    assert_eq!(scans["state"]["in_flight"]["started"]["rfc3339"], "2026-01-30T23:50:00Z");
    assert_eq!(
        scans["state"]["in_flight"]["canary"],
        serde_json::json!({"table": "SpatialScans", "region": "us-east-1", "interrupted": false})
    );
    assert_eq!(
        scans["state"]["lease"],
        serde_json::json!({ "owner": "ci-runner:42:abcd0123", "expires": { "unix": NOW + 300, "rfc3339": "2026-01-31T00:05:00Z" }, "expired": false })
    );
    // The evidence chain as stored: commit → change sets → jobs → checks → SNS message.
    let stored = serde_json::to_value(&proven("h2").evidence).unwrap();
    assert_eq!(scans["evidence"], stored);
    assert_eq!(scans["evidence"][0]["sns_message_id"], "sns-message-1");
    assert_eq!(scans["evidence"][0]["drill"]["regions"][0]["restore_job_id"], "restore-us-east-1");

    assert_eq!(value["invalid"], serde_json::json!([{ "file": "desired/broken.yaml", "policy": null, "state": null, "guardrails": [] }]));
    let orphan = &value["orphans"][0];
    assert_eq!(orphan["policy"], "old-scans");
    assert_eq!(orphan["marker"], "not desired (orphan state)");
    assert_eq!(orphan["state"]["reconciled"]["commit"], "commit-of-o1-0123456789");
    assert_eq!(orphan["evidence"][0]["content_hash"], "o1");
}

#[test]
fn json_reasons_carry_their_numbers() {
    let scans = example("spatial-scans");
    let mut state = proven("h2");
    state.reconciled.as_mut().unwrap().at = NOW - 8 * DAY;
    state.last_drill = Some(drill("d-3", "h2", true, NOW - 8 * DAY, vec![region("us-east-1", true, 5400.0, 60.0)]));
    let value = json(&inventory(&[(&scans, "h2")], &[state], NOW));
    let reasons = &value["policies"][0]["compliance"];
    assert_eq!(reasons[0]["rule"], "overdue");
    assert_eq!(reasons[0]["due"]["unix"], NOW - DAY);
    assert_eq!(reasons[0]["proven_at"]["rfc3339"], "2026-01-23T00:00:00Z");
    assert_eq!(reasons[1]["rule"], "rto-above-target");
    assert_eq!(reasons[1]["seconds"], 5400.0);
    assert_eq!(reasons[1]["target_seconds"], 3600);
    assert_eq!(value["policies"][0]["next_drill_due"]["overdue"], true);
    assert_eq!(value["policies"][0]["next_drill_due"]["now"], true);
}

/// An inconclusive drill is shown, but the policy stays compliant on its
/// standing proof.
#[test]
fn an_inconclusive_drill_is_shown_and_leaves_the_policy_compliant() {
    let scans = example("spatial-scans");
    let mut state = proven("h2");
    let mut attempt = drill("d-8", "h2", false, NOW - 120, vec![]);
    attempt.inconclusive = true;
    attempt.reasons = vec!["us-east-1: StartBackupJob: ThrottlingException: Rate exceeded".into()];
    state.last_inconclusive = Some(attempt);
    let inventory = inventory(&[(&scans, "h2")], &[state], NOW);
    assert!(inventory.policies[0].compliant(), "{:?}", inventory.policies[0].reasons);
    let shown = text(&inventory, false);
    assert!(shown.contains("inconclusive drill d-8") && shown.contains("ThrottlingException") && shown.contains("retried soon"), "{shown}");
}

/// A drill killed after its canary went in: status says where the canary
/// may still be and what removes it, so nothing of drctl's sits unseen in
/// a source table.
#[test]
fn an_interrupted_drill_shows_where_its_canary_may_be_left() {
    let scans = example("spatial-scans");
    let mut killed = proven("h2");
    killed.in_flight = Some(InFlight {
        step: Step::Drill,
        content_hash: "h2".into(),
        commit: "c0ffee0123456789".into(),
        drill_id: Some("d-9".into()),
        backup_job_id: None,
        copy_jobs: Default::default(),
        restores: Default::default(),
        started: NOW - 3600,
        source: Some(crate::state::SourceTable { table: "SpatialScans".into(), region: "us-east-1".into() }),
    });
    killed.lease = Some(Lease { owner: "ci-runner:42:abcd0123".into(), expires: NOW - 60 });
    let inventory = inventory(&[(&scans, "h2")], &[killed], NOW);

    let text = text(&inventory, false);

    assert!(
        text.contains("canary may be in SpatialScans (us-east-1), left by an interrupted run: `drctl gc` or the next reconcile removes it"),
        "{text}"
    );
}
mod guardrails;
