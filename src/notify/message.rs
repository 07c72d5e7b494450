//! The announcement as SNS carries it, built purely from the drill results:
//! the subject line, the JSON body and the message attributes.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Announcement;
use crate::drill::{DrillResult, Verdict};
use crate::render;

/// The body's `format_version`: bumped on any incompatible change, so
/// subscribers parsing the JSON can tell.
pub const FORMAT_VERSION: u64 = 1;

/// SNS refuses a subject over 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 100;

/// Longest string kept in a body that had to be shrunk to fit SNS.
const SHRUNK_STRING_CHARS: usize = 1000;

/// Passed only when at least one drill ran and every drill passed: an
/// announcement with no drill proves nothing. Inconclusive when no drill
/// failed but one could not be completed: a pager filtering on `failed`
/// stays quiet for a throttle.
pub fn verdict(a: &Announcement) -> Verdict {
    if !a.drills.is_empty() && a.drills.iter().all(DrillResult::passed) {
        Verdict::Passed
    } else if !a.drills.is_empty() && a.drills.iter().all(|d| d.passed() || d.inconclusive()) {
        Verdict::Inconclusive
    } else {
        Verdict::Failed
    }
}

/// `drctl PASSED spatial-scans: RTO 12s / 1h target (us-east-1, us-west-2)`:
/// the verdict first, then the policy, the worst RTO measured against the
/// target, and the drill regions. At most [`MAX_SUBJECT_CHARS`] printable
/// ASCII characters and no newline, as SNS requires: the region list is
/// shortened first, then the policy name is cut with `...`.
pub fn subject(a: &Announcement) -> String {
    let head = match verdict(a) {
        Verdict::Passed => "drctl PASSED ",
        Verdict::Failed => "drctl FAILED ",
        Verdict::Inconclusive => "drctl INCONCLUSIVE ",
    };
    let name = printable(&a.policy.metadata.name);
    let target = a.policy.spec.objectives.rto;
    let rto = match worst(a.drills.iter().filter_map(|d| d.rto.as_ref().map(|r| r.measured_seconds))) {
        Some(seconds) => format!(": RTO {} / {target} target", human_seconds(seconds)),
        None => format!(": RTO not measured / {target} target"),
    };
    let regions: Vec<String> = a.drills.iter().map(|d| printable(&d.region)).collect();
    let tails = [
        if regions.is_empty() { " (no drill ran)".to_string() } else { format!(" ({})", regions.join(", ")) },
        format!(" ({} regions)", regions.len()),
        String::new(),
    ];
    for tail in &tails {
        let line = format!("{head}{name}{rto}{tail}");
        if line.len() <= MAX_SUBJECT_CHARS {
            return line;
        }
    }
    let room = MAX_SUBJECT_CHARS.saturating_sub(head.len() + rto.len() + "...".len());
    let cut: String = name.chars().take(room).collect();
    let mut line = format!("{head}{cut}...{rto}");
    line.truncate(MAX_SUBJECT_CHARS);
    line
}

/// The JSON body: who, what was applied, and per region every job, check
/// and measurement, with the overall verdict and its reasons.
pub fn body(a: &Announcement) -> Value {
    let policy = a.policy;
    let objectives = &policy.spec.objectives;
    let rto_worst = worst(a.drills.iter().filter_map(|d| d.rto.as_ref().map(|r| r.measured_seconds)));
    let rpo_worst = worst(a.drills.iter().filter_map(|d| d.rpo.as_ref().map(|r| r.measured_seconds)));
    json!({
        "format_version": FORMAT_VERSION,
        "verdict": verdict(a),
        "reasons": reasons(a),
        "policy": policy.metadata.name,
        "environment": policy.metadata.environment.to_string(),
        "owner": policy.metadata.owner,
        "table": policy.spec.table,
        "region": policy.spec.region,
        // The table's account; null for the account of drctl's own credentials.
        "account": policy.spec.account,
        "commit": a.commit,
        "content_hash": a.content_hash,
        "stacks": stacks(a),
        "objectives": { "rto_seconds": objectives.rto.seconds(), "rpo_seconds": objectives.rpo.seconds() },
        "rto": measured(rto_worst, objectives.rto.seconds()),
        "rpo": measured(rpo_worst, objectives.rpo.seconds()),
        "drills": a.drills.iter().map(drill).collect::<Vec<_>>(),
    })
}

/// `verdict`, `policy`, `environment` and `account` (when the policy names
/// one), for subscription filter policies.
pub fn attributes(a: &Announcement) -> BTreeMap<String, String> {
    let verdict = match verdict(a) {
        Verdict::Passed => "passed",
        Verdict::Failed => "failed",
        Verdict::Inconclusive => "inconclusive",
    };
    let mut attributes = BTreeMap::from([
        ("verdict".to_string(), verdict.to_string()),
        ("policy".to_string(), a.policy.metadata.name.clone()),
        ("environment".to_string(), a.policy.metadata.environment.to_string()),
    ]);
    if let Some(account) = &a.policy.spec.account {
        attributes.insert("account".to_string(), account.clone());
    }
    attributes
}

/// Why the announcement is a failure, each reason prefixed by its region.
fn reasons(a: &Announcement) -> Vec<String> {
    if a.drills.is_empty() {
        return vec!["no drill ran".to_string()];
    }
    let mut reasons = Vec::new();
    for drill in a.drills.iter().filter(|d| !d.passed()) {
        if drill.reasons.is_empty() {
            reasons.push(format!("{}: the drill failed", drill.region));
        }
        reasons.extend(drill.reasons.iter().map(|reason| format!("{}: {reason}", drill.region)));
    }
    reasons
}

/// Every stack of the policy with the change set executed for this commit
/// (`null` when none was), plus any recorded change set of another stack.
fn stacks(a: &Announcement) -> Vec<Value> {
    let name = &a.policy.metadata.name;
    let rendered: Vec<(String, String)> = if render::shared::is_shared(a.policy) {
        // Its vault stacks; the plan stack it shares is among the change sets when this commit changed it.
        crate::plan::policy_regions(a.policy)
            .into_iter()
            .map(|region| (render::shared::vault_stack_name(a.policy, &region), region))
            .collect()
    } else {
        let copies = render::own_copies(a.policy).map(|c| (render::dr_stack_name(name, &c.region), c.region.clone()));
        copies.chain([(render::stack_name(name), a.policy.spec.region.clone())]).collect()
    };
    let change_set = |stack: &str, region: &str| {
        a.change_sets.iter().find(|c| c.stack == stack && c.region == region).and_then(|c| c.change_set_id.clone())
    };
    let mut stacks: Vec<Value> = rendered
        .iter()
        .map(|(stack, region)| json!({ "stack": stack, "region": region, "change_set_id": change_set(stack, region) }))
        .collect();
    for record in a.change_sets.iter().filter(|c| !rendered.iter().any(|(s, r)| *s == c.stack && *r == c.region)) {
        stacks.push(json!({ "stack": record.stack, "region": record.region, "change_set_id": record.change_set_id }));
    }
    stacks
}

fn drill(result: &DrillResult) -> Value {
    let point = result.recovery_point.as_ref();
    json!({
        "region": result.region,
        "drill_id": result.drill_id,
        "verdict": result.verdict,
        "source_table": result.source_table,
        "backup_job_id": point.and_then(|p| p.backup_job_id.clone()),
        "copy_job_id": result.copy_job_id,
        "restore_job_id": result.restore_job_id,
        "recovery_point": point.map(|p| json!({ "arn": p.arn, "vault": p.vault, "created": p.created })),
        "scratch_table": result.scratch_table,
        "checks": result.checks,
        "rto": result.rto,
        "rpo": result.rpo,
        "post_restore_gaps": result.gaps,
        // What the data checks compared with: the window, the exports, how
        // many keys changed within it (absent: the live source).
        "reference": result.reference,
        "cleanup": { "scratch_table": result.scratch_cleanup, "canary": result.canary_cleanup },
        "error": result.error,
        "reasons": result.reasons,
    })
}

fn measured(worst: Option<f64>, objective_seconds: u64) -> Value {
    json!({
        "measured_seconds": worst,
        "objective_seconds": objective_seconds,
        "met": worst.map(|seconds| seconds <= objective_seconds as f64),
    })
}

/// The largest of the values (the worst region), if any.
fn worst(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.fold(None, |worst: Option<f64>, value| Some(worst.map_or(value, |w| w.max(value))))
}

/// `0.4s`, `12s`, `14m05s`, `1h23m`: short enough for a subject line.
fn human_seconds(seconds: f64) -> String {
    let seconds = if seconds.is_finite() { seconds.max(0.0) } else { 0.0 };
    if seconds < 10.0 {
        return format!("{seconds:.1}s");
    }
    let whole = seconds.round() as u64;
    match whole {
        0..120 => format!("{whole}s"),
        120..3600 => format!("{}m{:02}s", whole / 60, whole % 60),
        _ => format!("{}h{:02}m", whole / 3600, whole % 3600 / 60),
    }
}

/// Printable ASCII only (SNS subjects allow nothing else): anything else
/// becomes `?`.
fn printable(text: &str) -> String {
    text.chars().map(|c| if (' '..='~').contains(&c) { c } else { '?' }).collect()
}

/// The body as text within `limit` bytes: as is when it fits, else with
/// every long string cut to [`SHRUNK_STRING_CHARS`]; `Err(bytes)` when even
/// that is too large.
pub(super) fn fit(mut body: Value, limit: usize) -> Result<String, usize> {
    let text = body.to_string();
    if text.len() <= limit {
        return Ok(text);
    }
    shrink(&mut body);
    let text = body.to_string();
    if text.len() <= limit { Ok(text) } else { Err(text.len()) }
}

fn shrink(value: &mut Value) {
    match value {
        Value::String(text) if text.chars().count() > SHRUNK_STRING_CHARS => {
            *text = text.chars().take(SHRUNK_STRING_CHARS).chain("... (cut to fit SNS)".chars()).collect();
        }
        Value::Array(items) => items.iter_mut().for_each(shrink),
        Value::Object(fields) => fields.values_mut().for_each(shrink),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::drill::{CheckResult, Cleanup, Gap, RecoveryPoint, Rpo, Rto};
    use crate::policy::{self, Input, TablePolicy};
    use crate::state::ChangeSetRecord;

    const SCANS: &str = include_str!("../../desired/spatial-scans.yaml");

    fn policy(name: &str) -> TablePolicy {
        let yaml = SCANS.replace("name: spatial-scans", &format!("name: {name}"));
        let checked = policy::check([Input { file: format!("desired/{name}.yaml"), content: Ok(yaml.into_bytes()) }]);
        assert!(!checked.has_errors(), "{:#?}", checked.findings);
        checked.policies[0].policy.clone()
    }

    fn check(name: &str, passed: bool, reason: &str) -> CheckResult {
        CheckResult {
            name: name.into(),
            passed,
            reason: reason.into(),
            numbers: BTreeMap::from([("items".to_string(), 60)]),
            inconclusive: false,
        }
    }

    fn drill_in(region: &str, rto_seconds: f64, passed: bool) -> DrillResult {
        DrillResult {
            policy: "spatial-scans".into(),
            region: region.into(),
            drill_id: format!("{region}-0123456789ab"),
            source_table: "SpatialScans".into(),
            recovery_point: Some(RecoveryPoint {
                arn: format!("arn:aws:backup:{region}:123456789012:recovery-point:RP"),
                vault: "drctl-spatial-scans".into(),
                created: "2026-11-23T22:00:00Z".into(),
                backup_job_id: Some("BACKUP-1".into()),
                created_at: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1),
                completed_at: None,
            }),
            copy_job_id: (region != "us-east-1").then(|| "COPY-1".to_string()),
            restore_job_id: Some(format!("RESTORE-{region}")),
            scratch_table: Some(format!("drctl-drill-spatial-scans-{region}")),
            checks: vec![check("status", true, "ACTIVE after 3s"), check("item_count", passed, "60 items")],
            rto: Some(Rto {
                restore_to_active_seconds: 3.0,
                measured_seconds: rto_seconds,
                objective_seconds: 3600,
                met: rto_seconds <= 3600.0,
            }),
            rpo: Some(Rpo { measured_seconds: 2.0, objective_seconds: 8 * 3600, met: true }),
            gaps: vec![Gap {
                setting: "point_in_time_recovery".into(),
                source: "enabled".into(),
                restored: "disabled".into(),
                action: "enable PITR".into(),
            }],
            reference: None,
            scratch_cleanup: Cleanup::Deleted,
            canary_cleanup: Some("removed".into()),
            error: None,
            no_recovery_point: false,
            interrupted: false,
            verdict: if passed { Verdict::Passed } else { Verdict::Failed },
            reasons: if passed { vec![] } else { vec!["item_count: 50 restored, 60 in the source".into()] },
        }
    }

    fn announcement<'a>(policy: &'a TablePolicy, drills: &'a [DrillResult], change_sets: &'a [ChangeSetRecord]) -> Announcement<'a> {
        Announcement { policy, commit: Some("0123456789abcdef0123456789abcdef01234567"), content_hash: "c0ffee", change_sets, drills }
    }

    fn assert_sns_subject(subject: &str) {
        assert!(subject.len() <= MAX_SUBJECT_CHARS, "{} chars: {subject}", subject.len());
        assert!(subject.chars().all(|c| (' '..='~').contains(&c)), "not printable ASCII: {subject:?}");
    }

    #[test]
    fn a_passed_subject_names_verdict_policy_rto_and_regions() {
        let policy = policy("spatial-scans");
        let drills = [drill_in("us-east-1", 12.2, true), drill_in("us-west-2", 7.0, true)];
        let subject = subject(&announcement(&policy, &drills, &[]));
        assert_eq!(subject, "drctl PASSED spatial-scans: RTO 12s / 1h target (us-east-1, us-west-2)");
    }

    #[test]
    fn a_failed_subject_with_a_forty_character_name_fits_sns() {
        let name = "a-very-long-policy-name-of-forty-chars-x";
        assert_eq!(name.len(), 40);
        let policy = policy(name);
        let drills = [drill_in("ap-southeast-2", 4000.0, false), drill_in("us-west-2", 5000.0, false)];
        let subject = subject(&announcement(&policy, &drills, &[]));
        assert_sns_subject(&subject);
        assert!(subject.starts_with("drctl FAILED a-very-long-policy-name-of-forty-chars-x: RTO 1h23m / 1h target"), "{subject}");
        let more: Vec<DrillResult> = ["us-east-1", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"]
            .into_iter()
            .map(|r| drill_in(r, 9.0, false))
            .collect();
        let many = super::subject(&announcement(&policy, &more, &[]));
        assert_sns_subject(&many);
        assert!(many.starts_with("drctl FAILED ") && many.contains(name), "{many}");
    }

    #[test]
    fn a_name_that_cannot_fit_is_cut_not_the_verdict_or_the_rto() {
        let mut policy = policy("spatial-scans");
        policy.metadata.name = format!("{}\u{e9}\n", "n".repeat(120));
        let subject = subject(&announcement(&policy, &[], &[]));
        assert_sns_subject(&subject);
        assert!(subject.starts_with("drctl FAILED nnn") && subject.ends_with("...: RTO not measured / 1h target"), "{subject}");
        assert_eq!(subject.len(), MAX_SUBJECT_CHARS);
    }

    #[test]
    fn no_drill_is_not_a_pass() {
        let policy = policy("spatial-scans");
        let a = announcement(&policy, &[], &[]);
        assert_eq!(verdict(&a), Verdict::Failed);
        assert_eq!(body(&a)["reasons"], json!(["no drill ran"]));
        assert_eq!(subject(&a), "drctl FAILED spatial-scans: RTO not measured / 1h target (no drill ran)");
    }

    /// An inconclusive region makes the announcement inconclusive, unless
    /// another region failed: a failure is never softened.
    #[test]
    fn an_inconclusive_region_is_announced_as_inconclusive_and_a_failure_still_wins() {
        let policy = policy("spatial-scans");
        let mut unfinished = drill_in("us-west-2", 5.0, false);
        unfinished.verdict = Verdict::Inconclusive;
        let drills = [drill_in("us-east-1", 5.0, true), unfinished.clone()];
        let a = announcement(&policy, &drills, &[]);
        assert_eq!(verdict(&a), Verdict::Inconclusive);
        assert_eq!(attributes(&a)["verdict"], "inconclusive");
        assert!(subject(&a).starts_with("drctl INCONCLUSIVE spatial-scans"), "{}", subject(&a));
        let failed = [drill_in("us-east-1", 5.0, false), unfinished];
        let worse = announcement(&policy, &failed, &[]);
        assert_eq!(verdict(&worse), Verdict::Failed);
    }

    #[test]
    fn one_failed_region_fails_the_announcement() {
        let policy = policy("spatial-scans");
        let drills = [drill_in("us-east-1", 5.0, true), drill_in("us-west-2", 5.0, false)];
        let a = announcement(&policy, &drills, &[]);
        assert_eq!(verdict(&a), Verdict::Failed);
        assert!(subject(&a).starts_with("drctl FAILED spatial-scans"));
        assert_eq!(body(&a)["reasons"], json!(["us-west-2: item_count: 50 restored, 60 in the source"]));
    }

    #[test]
    fn a_policy_in_another_account_is_announced_with_it() {
        let mut policy = policy("spatial-scans");
        policy.spec.account = Some("222222222222".into());
        let drills = [drill_in("us-east-1", 5.0, true)];
        let a = announcement(&policy, &drills, &[]);
        assert_eq!(body(&a)["account"], "222222222222");
        assert_eq!(attributes(&a).get("account").map(String::as_str), Some("222222222222"));
    }

    #[test]
    fn the_body_carries_every_field() {
        let policy = policy("spatial-scans");
        let drills = [drill_in("us-east-1", 12.0, true), drill_in("us-west-2", 20.0, true)];
        let change_sets = [ChangeSetRecord {
            stack: "drctl-spatial-scans".into(),
            region: "us-east-1".into(),
            change_set_id: Some("arn:aws:cloudformation:us-east-1:123456789012:changeSet/drctl-apply-1/x".into()),
        }];
        let body = body(&announcement(&policy, &drills, &change_sets));
        assert_eq!(body["format_version"], 1);
        assert_eq!(body["verdict"], "passed");
        assert_eq!(body["reasons"], json!([]));
        assert_eq!((&body["policy"], &body["environment"], &body["owner"]), (&json!("spatial-scans"), &json!("prod"), &json!("team-3d")));
        assert_eq!((&body["table"], &body["region"]), (&json!("SpatialScans"), &json!("us-east-1")));
        assert_eq!(body["account"], json!(null), "drctl's own account");
        assert_eq!(body["commit"], "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(body["content_hash"], "c0ffee");
        assert_eq!(
            body["stacks"],
            json!([
                { "stack": "drctl-spatial-scans-dr-us-west-2", "region": "us-west-2", "change_set_id": null },
                { "stack": "drctl-spatial-scans", "region": "us-east-1", "change_set_id": change_sets[0].change_set_id },
            ])
        );
        assert_eq!(body["objectives"], json!({ "rto_seconds": 3600, "rpo_seconds": 8 * 3600 }));
        assert_eq!(body["rto"], json!({ "measured_seconds": 20.0, "objective_seconds": 3600, "met": true }));
        assert_eq!(body["rpo"], json!({ "measured_seconds": 2.0, "objective_seconds": 8 * 3600, "met": true }));
        let dr = &body["drills"][1];
        assert_eq!(body["drills"][0]["region"], "us-east-1");
        assert_eq!(dr["region"], "us-west-2");
        assert_eq!(dr["drill_id"], "us-west-2-0123456789ab");
        assert_eq!(dr["verdict"], "passed");
        assert_eq!(
            (&dr["backup_job_id"], &dr["copy_job_id"], &dr["restore_job_id"]),
            (&json!("BACKUP-1"), &json!("COPY-1"), &json!("RESTORE-us-west-2"))
        );
        assert_eq!(dr["recovery_point"]["arn"], "arn:aws:backup:us-west-2:123456789012:recovery-point:RP");
        assert_eq!(dr["recovery_point"]["vault"], "drctl-spatial-scans");
        assert_eq!(dr["scratch_table"], "drctl-drill-spatial-scans-us-west-2");
        assert_eq!(dr["checks"][1], json!({ "name": "item_count", "passed": true, "reason": "60 items", "numbers": { "items": 60 } }));
        assert_eq!(dr["rto"]["measured_seconds"], 20.0);
        assert_eq!(dr["rto"]["restore_to_active_seconds"], 3.0);
        assert_eq!(dr["rpo"]["objective_seconds"], 8 * 3600);
        assert_eq!(dr["post_restore_gaps"][0]["setting"], "point_in_time_recovery");
        assert_eq!(dr["post_restore_gaps"][0]["action"], "enable PITR");
        assert_eq!(dr["cleanup"], json!({ "scratch_table": { "outcome": "deleted" }, "canary": "removed" }));
        assert_eq!((&dr["error"], &dr["reasons"]), (&Value::Null, &json!([])));
    }

    #[test]
    fn attributes_are_verdict_policy_and_environment() {
        let policy = policy("spatial-scans");
        let drills = [drill_in("us-east-1", 12.0, false)];
        let attributes = attributes(&announcement(&policy, &drills, &[]));
        let expected = [("environment", "prod"), ("policy", "spatial-scans"), ("verdict", "failed")];
        assert_eq!(attributes, expected.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(
            [0.44, 12.4, 119.6, 845.0, 5000.0, 7300.0, f64::NAN].map(human_seconds),
            ["0.4s", "12s", "2m00s", "14m05s", "1h23m", "2h01m", "0.0s"]
        );
    }

    #[test]
    fn an_oversized_body_is_shrunk_to_fit_or_refused() {
        let body = json!({ "reason": "x".repeat(5000), "small": "y" });
        assert_eq!(fit(body.clone(), 100_000).unwrap(), body.to_string());
        let shrunk: Value = serde_json::from_str(&fit(body.clone(), 2000).unwrap()).unwrap();
        assert!(shrunk["reason"].as_str().unwrap().ends_with("(cut to fit SNS)"));
        assert_eq!(shrunk["small"], "y");
        assert!(fit(body, 100).is_err());
    }
}
