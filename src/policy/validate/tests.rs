//! The rules of the `verify` section, each at its edges, on the scans
//! example changed one line at a time.

use super::*;
use crate::policy::Severity;

const SCANS: &str = include_str!("../../../desired/spatial-scans.yaml");

/// The findings of the scans example with `from` replaced by `to`.
fn findings(from: &str, to: &str) -> Vec<Finding> {
    assert!(SCANS.contains(from), "the example holds {from:?}");
    let text = SCANS.replace(from, to);
    validate(&crate::policy::load("desired/spatial-scans.yaml", text.as_bytes()).unwrap())
}

/// The messages of `rule` among `findings`, errors and warnings apart.
fn of(findings: &[Finding], rule: &str) -> (Vec<String>, Vec<String>) {
    let pick = |severity: Severity| {
        findings.iter().filter(|f| f.rule == rule && f.severity == severity).map(|f| f.message.clone()).collect::<Vec<_>>()
    };
    (pick(Severity::Error), pick(Severity::Warning))
}

fn errors(from: &str, to: &str, rule: &str) -> Vec<String> {
    of(&findings(from, to), rule).0
}

const CHECKS: &str = "      - query: { key: { pk: \"HOME#1\" }, expect: { min_items: 1 } }";
const QUERY: &str = "key: { pk: \"HOME#1\" }, expect: { min_items: 1 }";

#[test]
fn the_example_is_clean() {
    assert_eq!(findings("", ""), vec![]);
}

#[test]
fn drill_regions_are_the_primary_or_a_copy_region_once_each() {
    let regions = "regions: [us-east-1, us-west-2]";
    assert_eq!(errors(regions, "regions: []", "drill-region"), ["no region to drill in"]);
    assert_eq!(
        errors(regions, "regions: [us-east-1, eu-west-1]", "drill-region"),
        ["eu-west-1 is neither the primary region nor a copy region"]
    );
    assert_eq!(errors(regions, "regions: [us-west-2, us-west-2]", "drill-region"), ["us-west-2 is listed twice"]);
    let unknown = findings(regions, "regions: [us-east-1, eu-west-1]");
    let finding = unknown.iter().find(|f| f.rule == "drill-region").unwrap();
    assert_eq!((finding.position.line, finding.hint.as_str()), (29, "drill in one of: us-east-1, us-west-2"));
}

#[test]
fn a_drill_at_most_hourly() {
    assert_eq!(errors("every: 7d", "every: 59m", "verify-every"), ["a drill every 59m would never finish before the next"]);
    assert!(errors("every: 7d", "every: 1h", "verify-every").is_empty());
}

#[test]
fn the_point_in_time_reference_needs_pitr_and_no_changed_since() {
    let pitr = "    point_in_time_recovery: true\n";
    let asked = "    reference: point-in-time\n    regions: [";
    assert!(errors("    regions: [", asked, "verify-reference").is_empty(), "PITR on: point-in-time is fine");
    let text = SCANS.replace(pitr, "").replace("    regions: [", asked);
    let without_pitr = of(&validate(&crate::policy::load("x.yaml", text.as_bytes()).unwrap()), "verify-reference").0;
    assert_eq!(without_pitr.len(), 1, "{without_pitr:?}");
    assert!(without_pitr[0].contains("needs point-in-time recovery on the table"));
    let both = errors("    regions: [", "    changed_since: { attribute: updated_at }\n    regions: [", "verify-reference");
    assert_eq!(both.len(), 1, "{both:?}");
    assert!(both[0].contains("`changed_since` applies to `reference: source`"));
}

#[test]
fn a_changed_since_attribute_is_1_to_255_bytes() {
    let with = |attribute: &str| {
        let text = SCANS
            .replace("    point_in_time_recovery: true\n", "")
            .replace("    regions: [", &format!("    changed_since: {{ attribute: \"{attribute}\" }}\n    regions: ["));
        of(&validate(&crate::policy::load("x.yaml", text.as_bytes()).unwrap()), "verify-reference")
    };
    assert_eq!(with("").0, ["an attribute name is 1 to 255 bytes"]);
    assert_eq!(with(&"a".repeat(256)).0, ["an attribute name is 1 to 255 bytes"]);
    assert_eq!(with(&"a".repeat(255)), (vec![], vec![]), "255 bytes, and the live source is covered");
}

#[test]
fn data_checks_against_a_live_source_warn_unless_static_or_changed_since() {
    let live = SCANS.replace("    point_in_time_recovery: true\n", "");
    let warnings = |text: &str| of(&validate(&crate::policy::load("x.yaml", text.as_bytes()).unwrap()), "verify-reference").1;
    assert_eq!(warnings(&live).len(), 1);
    assert!(warnings(&live.replace("    regions: [", "    static: true\n    regions: [")).is_empty());
    let no_data_checks = live
        .replace("      - item_count: { tolerance: 1% }\n", "")
        .replace("      - sample: { items: 200 }\n", "")
        .replace(&format!("{CHECKS}\n"), "");
    assert!(warnings(&no_data_checks).is_empty(), "schema and canary only");
}

#[test]
fn one_check_of_each_kind() {
    let twice = errors("      - canary: true\n", "      - canary: true\n      - sample: { items: 5 }\n", "check-duplicate");
    assert_eq!(twice, ["a second `sample` check (the first is checks[2])"]);
}

#[test]
fn a_sample_is_1_to_10000_items() {
    let sample = "sample: { items: 200 }";
    for (items, refused) in [(0, true), (1, false), (10_000, false), (10_001, true)] {
        let found = errors(sample, &format!("sample: {{ items: {items} }}"), "check-sample");
        assert_eq!(!found.is_empty(), refused, "{items}: {found:?}");
    }
}

#[test]
fn the_canary_needs_an_on_demand_recovery_point() {
    assert_eq!(
        errors("recovery_point: on-demand", "recovery_point: latest", "check-canary"),
        ["the canary needs a backup taken after it is written, but recovery_point is `latest`"]
    );
    let latest_without_canary = SCANS.replace("recovery_point: on-demand", "recovery_point: latest").replace("      - canary: true\n", "");
    let found = validate(&crate::policy::load("x.yaml", latest_without_canary.as_bytes()).unwrap());
    assert!(of(&found, "check-canary").0.is_empty(), "{found:?}");
}

#[test]
fn a_query_names_one_or_two_keys_and_expects_something() {
    let query = |body: &str| errors(QUERY, body, "check-query");
    assert!(query(QUERY).is_empty());
    assert!(query("key: { pk: \"HOME#1\", sk: 3 }, expect: { min_items: 1, max_items: 1 }").is_empty(), "two keys, min = max");
    assert_eq!(query("key: {}, expect: { min_items: 1 }"), ["a query names the partition key and at most the sort key"]);
    assert_eq!(query("key: { a: 1, b: 2, c: 3 }, expect: { min_items: 1 }"), ["a query names the partition key and at most the sort key"]);
    let long = "a".repeat(256);
    assert_eq!(query(&format!("key: {{ {long}: 1 }}, expect: {{ min_items: 1 }}")), ["an attribute name must be 1 to 255 characters"]);
    assert!(query(&format!("key: {{ {}: 1 }}, expect: {{ min_items: 1 }}", "a".repeat(255))).is_empty());
    assert_eq!(query("key: { pk: \"HOME#1\" }, expect: {}"), ["the query expects nothing"]);
    assert_eq!(query("key: { pk: \"HOME#1\" }, expect: { min_items: 3, max_items: 2 }"), ["min_items 3 is above max_items 2"]);
    assert!(query("key: { pk: \"HOME#1\" }, expect: { max_items: 0 }").is_empty());
}
