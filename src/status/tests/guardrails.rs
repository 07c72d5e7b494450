//! Status of policies under guardrails: a deployed policy that breaks a
//! guardrail added later, and the exceptions with their expiry.

use super::*;

#[test]
fn a_deployed_policy_breaking_a_later_guardrail_is_invalid_with_the_rule_and_exceptions_are_listed() {
    let plans = example("floor-plans");
    let breach = "guardrail prod-recovery (owner team-platform): RPO 2d is above the 1d maximum; production data";
    let exceptions = vec![
        ExceptionStatus {
            rule: "prod-full-content-check".into(),
            policy: "floor-plans".into(),
            reason: "too large".into(),
            approved_by: "cto".into(),
            expires: "2027-06-30".into(),
            expired: false,
        },
        ExceptionStatus {
            rule: "proven-monthly".into(),
            policy: "spatial-scans".into(),
            reason: "migration".into(),
            approved_by: "cto".into(),
            expires: "2026-01-31".into(),
            expired: true,
        },
    ];
    let inventory = inventory(&[(&plans, "p1")], &[proven("h2")], NOW)
        .with_invalid([("desired/spatial-scans.yaml".to_string(), Some("spatial-scans".to_string()))])
        .with_guardrails(
            [("desired/spatial-scans.yaml".to_string(), breach.to_string()), ("desired/ghost.yaml".into(), "x".into())],
            exceptions,
        );

    let invalid = &inventory.invalid[0];
    assert_eq!(invalid.guardrails, [breach], "a breach of a file that is not invalid is ignored");
    assert!(invalid.state.is_some(), "the deployed policy's record stays its own, not an orphan");
    assert!(inventory.out_of_compliance());

    let text = text(&inventory, false);
    assert!(
        text.contains(&format!(
            "? invalid: desired/spatial-scans.yaml (policy spatial-scans): breaks {breach}; neither applied nor re-proven"
        )),
        "{text}"
    );
    assert!(
        text.contains("! guardrail prod-full-content-check excepted for floor-plans through 2027-06-30, approved by cto: too large"),
        "{text}"
    );
    assert!(text.contains("! guardrail proven-monthly excepted for spatial-scans EXPIRED 2026-01-31"), "{text}");

    let markdown = markdown(&inventory);
    assert!(markdown.contains("❌ **invalid**: breaks guardrail prod-recovery"), "{markdown}");

    let json = json(&inventory);
    assert_eq!(json["invalid"][0]["guardrails"][0], breach);
    assert_eq!(json["exceptions"][1]["expired"], true);
    assert_eq!(json["exceptions"][0]["approved_by"], "cto");
}
