use super::*;
use crate::policy::{Checked, Input, Severity, check_on};

const SCANS: &str = include_str!("../../../desired/spatial-scans.yaml");
/// 2026-12-06.
const TODAY: Day = 20_793;

fn input(file: &str, text: &str) -> Input {
    Input { file: file.into(), content: Ok(text.as_bytes().to_vec()) }
}

fn guardrails(rules: &str, exceptions: &str) -> String {
    format!("apiVersion: drctl/v1\nkind: Guardrails\nrules:\n{rules}{exceptions}")
}

/// One rule over every prod policy, with `require` as given (YAML flow).
fn rule(require: &str) -> String {
    format!(
        "  - id: prod-dr\n    reason: customer data\n    owner: platform\n    select: {{ environments: [prod] }}\n    require: {require}\n"
    )
}

fn checked(policy: &str, guardrails: &str) -> Checked {
    check_on([input("desired/spatial-scans.yaml", policy), input("desired/_guardrails.yaml", guardrails)], TODAY)
}

fn guardrail_findings(checked: &Checked) -> Vec<&Finding> {
    checked.findings.iter().filter(|f| f.rule.starts_with("guardrail")).collect()
}

/// The line of the first occurrence of `needle` in the example policy.
fn line_of(needle: &str) -> usize {
    SCANS.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn today_is_the_date_the_tests_assume() {
    assert_eq!(parse_day("2026-12-06"), Some(TODAY));
    assert_eq!(parse_day("1970-01-01"), Some(0));
    for bad in ["2026-13-01", "2026-2-01", "26-12-06", "2026-12-06T00:00:00Z", "", "yesterday"] {
        assert_eq!(parse_day(bad), None, "{bad}");
    }
}

#[test]
fn each_requirement_fails_a_policy_below_it_at_its_value_and_passes_one_that_meets_it() {
    // (requirement met by the example, requirement it breaks, the policy line of the breach)
    let cases = [
        ("{ max_rpo: 8h }", "{ max_rpo: 1h }", line_of("rpo: 8h")),
        ("{ max_rto: 1h }", "{ max_rto: 30m }", line_of("rto: 1h")),
        ("{ min_retention: 35d }", "{ min_retention: 90d }", line_of("retention: 35d")),
        ("{ min_copy_retention: 90d }", "{ min_copy_retention: 180d }", line_of("retention: 90d")),
        ("{ vault_lock: { min_retention: 7d } }", "{ vault_lock: { min_retention: 30d } }", line_of("lock:")),
        ("{ max_verify_every: 7d }", "{ max_verify_every: 1d }", line_of("every: 7d")),
        ("{ checks: [canary, sample] }", "{ checks: [fingerprint] }", line_of("checks:")),
        ("{ drill_in_copy_region: true, copy_to_another_region: true, pitr: true }", "{ max_rpo: 6h }", line_of("rpo: 8h")),
    ];
    for (met, broken, line) in cases {
        let passing = checked(SCANS, &guardrails(&rule(met), ""));
        assert!(guardrail_findings(&passing).is_empty() && passing.valid().count() == 1, "{met}: {:#?}", passing.findings);

        let failing = checked(SCANS, &guardrails(&rule(broken), ""));
        let found = guardrail_findings(&failing);
        assert_eq!(found.len(), 1, "{broken}: {found:#?}");
        let finding = found[0];
        assert_eq!(
            (finding.file.as_str(), finding.severity, finding.position.line),
            ("desired/spatial-scans.yaml", Severity::Error, line),
            "{broken}: {finding}"
        );
        assert!(
            finding.message.starts_with("guardrail prod-dr (owner platform): ") && finding.message.ends_with("; customer data"),
            "{finding}"
        );
        assert!(finding.hint.contains("ask platform for an exception in desired/_guardrails.yaml"), "{finding}");
        assert_eq!(failing.valid().count(), 0, "a policy breaking a guardrail is not acted on");
    }
}

#[test]
fn missing_protections_are_breaches_pitr_lock_copies_and_copy_region_drills() {
    let bare = SCANS
        .replace("    point_in_time_recovery: true\n", "")
        .replace("      lock: { min_retention: 7d, max_retention: 400d }\n", "")
        .replace("    copies:\n      - region: us-west-2\n        retention: 90d\n", "")
        .replace("regions: [us-east-1, us-west-2]", "regions: [us-east-1]");
    let require = "{ pitr: true, vault_lock: {}, copy_to_another_region: true, drill_in_copy_region: true }";
    let found = guardrail_findings(&checked(&bare, &guardrails(&rule(require), "")))
        .into_iter()
        .map(|f| f.message.split(": ").nth(1).unwrap().split(';').next().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(found.len(), 4, "{found:#?}");
    for what in
        ["point-in-time recovery is not turned on", "the vault is not locked", "no copy in another region", "no drill proves a copy region"]
    {
        assert!(found.iter().any(|f| f == what), "{what}: {found:#?}");
    }
}

#[test]
fn a_rule_applies_only_to_the_policies_it_selects() {
    let select = |select: &str| {
        let rules = format!("  - id: r\n    reason: why\n    owner: platform\n    select: {select}\n    require: {{ max_rpo: 1h }}\n");
        !guardrail_findings(&checked(SCANS, &guardrails(&rules, ""))).is_empty()
    };
    assert!(select("{}"));
    assert!(select("{ environments: [prod, staging] }"));
    assert!(!select("{ environments: [dev] }"));
    assert!(select("{ names: [\"spatial-*\"] }") && select("{ names: [\"*scans\", other] }") && select("{ names: [\"*\"] }"));
    assert!(!select("{ names: [\"floor-*\"] }") && !select("{ names: [spatial] }"));
    assert!(select("{ owners: [team-3d] }") && !select("{ owners: [team-render] }"));
    assert!(!select("{ environments: [prod], owners: [team-render] }"), "every criterion must match");
}

#[test]
fn the_name_pattern_is_linear_on_hostile_input() {
    assert!(wildcard("a*b*c", "axxbyyc") && !wildcard("a*b*c", "axxbyy") && wildcard("**", "") && !wildcard("", "a"));
    let pattern = "*a".repeat(30);
    let started = std::time::Instant::now();
    assert!(!wildcard(&pattern, &"a".repeat(29)));
    assert!(wildcard(&pattern, &"a".repeat(40)));
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "no exponential backtracking");
}

#[test]
fn a_live_exception_turns_the_breach_into_a_warning_and_an_expired_one_is_an_error() {
    let exception = |expires: &str| {
        format!(
            "exceptions:\n  - rule: prod-dr\n    policy: spatial-scans\n    reason: migration to 1h RPO in Q1\n    approved_by: cto\n    expires: \"{expires}\"\n"
        )
    };
    let live = checked(SCANS, &guardrails(&rule("{ max_rpo: 1h }"), &exception("2026-12-06")));
    let found = guardrail_findings(&live);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(found[0].message.contains("excepted through 2026-12-06 (approved by cto: migration to 1h RPO in Q1)"), "{}", found[0]);
    assert_eq!(live.valid().count(), 1, "an excepted policy is acted on");

    let expired = checked(SCANS, &guardrails(&rule("{ max_rpo: 1h }"), &exception("2026-12-05")));
    let errors: Vec<&Finding> = guardrail_findings(&expired).into_iter().filter(|f| f.is_error()).collect();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    let on_file = errors.iter().find(|f| f.file == "desired/_guardrails.yaml").expect("the expiry is reported on the guardrails file");
    assert!(on_file.message.contains("expired on 2026-12-05"), "{on_file}");
    assert!(errors.iter().any(|f| f.file == "desired/spatial-scans.yaml"), "the breach is an error again");
    assert_eq!(expired.valid().count(), 0);
}

#[test]
fn the_guardrails_file_is_checked_itself() {
    let rules = format!("{}{}", rule("{ max_rpo: 8h }"), rule("{ max_rto: 1h }"));
    let exceptions = "exceptions:\n  - rule: nope\n    policy: ghost\n    reason: r\n    approved_by: a\n    expires: soon\n";
    let checked = checked(SCANS, &guardrails(&rules, exceptions));
    let messages: Vec<&str> =
        checked.findings.iter().filter(|f| f.file == "desired/_guardrails.yaml").map(|f| f.message.as_str()).collect();
    for expected in
        ["rule id `prod-dr` is used twice", "names rule `nope`, which is not defined", "names policy `ghost`", "`soon` is not a date"]
    {
        assert!(messages.iter().any(|m| m.contains(expected)), "{expected}: {messages:#?}");
    }
}

#[test]
fn rules_nobody_can_read_let_no_policy_through() {
    for broken in
        ["apiVersion: drctl/v1\nkind: Guardrails\nrules: []\ncolour: red\n", "kind: [", "apiVersion: drctl/v1\nkind: TablePolicy\n"]
    {
        let checked = checked(SCANS, broken);
        assert_eq!(checked.valid().count(), 0, "{broken}: {:#?}", checked.findings);
        assert!(checked.findings.iter().any(|f| f.file == "desired/_guardrails.yaml" && f.is_error()), "{broken}");
        assert!(
            checked.findings.iter().any(|f| f.file == "desired/spatial-scans.yaml" && f.message.contains("cannot be checked against it")),
            "{broken}"
        );
    }
}

#[test]
fn without_a_guardrails_file_nothing_changes() {
    let checked = check_on([input("desired/spatial-scans.yaml", SCANS)], TODAY);
    assert!(checked.guardrails.is_none() && guardrail_findings(&checked).is_empty() && checked.valid().count() == 1);
}

fn parsed(text: &str) -> Guardrails {
    load("desired/_guardrails.yaml", text.as_bytes()).unwrap().guardrails
}

#[test]
fn a_changed_guardrails_file_names_the_rules_it_changes_and_the_policies_it_newly_breaks() {
    let policies = checked(SCANS, &guardrails(&rule("{ max_rpo: 8h }"), "")).policies;
    let before = parsed(&guardrails(&rule("{ max_rpo: 8h }"), ""));
    // The rule tightened (RPO 8h → 1h) and a new rule the example meets.
    let stricter =
        rule("{ max_rpo: 1h }") + "  - id: monthly\n    reason: proof\n    owner: platform\n    require: { max_verify_every: 30d }\n";
    let after = parsed(&guardrails(&stricter, ""));
    let change = compare("abc123", Some(&before), Some(&after), &policies, TODAY).expect("a change");
    assert_eq!(change.base, "abc123");
    assert_eq!(change.rules_added, ["monthly"]);
    assert_eq!(change.rules_changed, ["prod-dr"]);
    assert!(change.rules_removed.is_empty());
    assert_eq!(change.newly_broken, [Broken { policy: "spatial-scans".into(), rule: "prod-dr".into() }]);
    assert!(change.no_longer_broken.is_empty());

    // Back again: the rule removed frees the policy.
    let undone = compare("def456", Some(&after), None, &policies, TODAY).expect("a change");
    assert_eq!(undone.rules_removed, ["monthly", "prod-dr"]);
    assert_eq!(undone.no_longer_broken, change.newly_broken);
    assert!(undone.newly_broken.is_empty());

    assert_eq!(compare("same", Some(&before), Some(&before), &policies, TODAY), None, "an unchanged file is no section");
}

#[test]
fn an_exception_added_with_the_rule_is_no_new_breach_but_is_named() {
    let policies = checked(SCANS, &guardrails(&rule("{ max_rpo: 8h }"), "")).policies;
    let before = parsed(&guardrails(&rule("{ max_rpo: 8h }"), ""));
    let excepted = "exceptions:\n  - { rule: prod-dr, policy: spatial-scans, reason: r, approved_by: cto, expires: \"2027-01-31\" }\n";
    let after = parsed(&guardrails(&rule("{ max_rpo: 1h }"), excepted));
    let change = compare("abc", Some(&before), Some(&after), &policies, TODAY).unwrap();
    assert!(change.newly_broken.is_empty(), "{change:?}");
    assert_eq!(change.exceptions_changed, ["prod-dr/spatial-scans"]);
    // Expired, it covers nothing: the breach is new.
    let expired = parsed(&guardrails(&rule("{ max_rpo: 1h }"), &excepted.replace("2027-01-31", "2026-12-05")));
    let change = compare("abc", Some(&before), Some(&expired), &policies, TODAY).unwrap();
    assert_eq!(change.newly_broken.len(), 1, "{change:?}");
}

#[test]
fn today_is_the_utc_day_of_the_clock() {
    let days = || (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400) as Day;
    let (before, day, after) = (days(), today(), days());
    assert!((before..=after).contains(&day), "{before} {day} {after}");
}

#[test]
fn a_day_is_exactly_yyyy_mm_dd() {
    assert_eq!(parse_day("1970-01-02"), Some(1));
    assert_eq!(parse_day("2026-12-01"), Some(20_788));
    for bad in ["2026-12-1", "2026-12-011", "2026/12/01", "2026-13-01", "26-12-01", ""] {
        assert_eq!(parse_day(bad), None, "{bad}");
    }
}

#[test]
fn the_guardrails_schema_describes_rules_and_exceptions() {
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
    let properties = &schema["properties"];
    assert!(properties["rules"].is_object() && properties["exceptions"].is_object(), "{schema:#}");
}

#[test]
fn a_rule_id_is_lowercase_digits_and_inner_hyphens_up_to_63() {
    for good in ["a", "prod-rpo", "r2-d2", &"x".repeat(63)] {
        assert!(is_rule_id(good), "{good}");
    }
    for bad in ["", "-prod", "prod-", "Prod", "prod_rpo", "prod rpo", &"x".repeat(64)] {
        assert!(!is_rule_id(bad), "{bad}");
    }
}
