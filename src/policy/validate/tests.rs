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

#[test]
fn names_owners_tables_and_regions_are_well_formed() {
    assert_eq!(errors("name: spatial-scans", "name: Spatial_Scans", "name"), ["`Spatial_Scans` is not a valid policy name"]);
    let misnamed = findings("name: spatial-scans", "name: scans");
    let (_, warnings) = of(&misnamed, "name-matches-file");
    assert_eq!(warnings, ["the policy `scans` lives in `spatial-scans.yaml`"]);
    for (owner, refused) in [("\"\"", true), (&"a".repeat(128), false), (&"a".repeat(129), true), ("\"team\\tx\"", true)] {
        let found = errors("owner: team-3d", &format!("owner: {owner}"), "owner");
        assert_eq!(!found.is_empty(), refused, "{owner}: {found:?}");
    }
    assert_eq!(errors("table: SpatialScans", "table: ab", "table-name"), ["`ab` is not a DynamoDB table name"]);
    assert_eq!(errors("  region: us-east-1", "  region: us-east-9x", "region").len(), 1);
}

#[test]
fn a_schedule_is_hourly_at_most_and_within_the_rpo() {
    let schedule = "schedule: \"cron(0 */6 * * ? *)\"";
    assert_eq!(
        errors(schedule, "schedule: \"cron(0/30 * * * ? *)\"", "schedule-frequency"),
        ["runs as often as every 30m: AWS Backup needs at least 60 minutes between runs"]
    );
    assert!(errors(schedule, "schedule: \"cron(0 * * * ? *)\"", "schedule-frequency").is_empty(), "hourly is the minimum");
    assert_eq!(errors(schedule, "schedule: \"cron(0 */8 * * ? *)\"", "schedule-rpo").len(), 0, "8h gaps within an 8h RPO");
    assert_eq!(
        errors(schedule, "schedule: \"cron(0 */9 * * ? *)\"", "schedule-rpo"),
        ["up to 9h pass between two backups, longer than the RPO of 8h"]
    );
    assert_eq!(errors(schedule, "every: 6h\n    schedule: \"cron(0 1 * * ? *)\"", "schedule"), ["both `schedule` and `every` are set"]);
    assert_eq!(errors(&format!("    {schedule}\n"), "", "schedule"), ["the backup has no schedule"]);
    assert_eq!(errors(schedule, "schedule: \"cron(0 */6 * * * *)\"", "schedule").len(), 1, "neither day field is ?");
}

#[test]
fn windows_meet_aws_backups_minimums_and_the_rpo() {
    assert_eq!(
        errors("start_window: 1h", "start_window: 59m", "start-window"),
        ["a start window of 59m is under AWS Backup's minimum of 60 minutes"]
    );
    assert_eq!(
        errors("completion_window: 4h", "completion_window: 1h", "completion-window"),
        ["the completion window (1h) must be longer than the start window (1h)"]
    );
    assert!(errors("completion_window: 4h", "completion_window: 61m", "completion-window").is_empty());
    // 6h gaps + a 2h start window = 8h: at the RPO, no warning; one more minute warns.
    let late = |start: &str| of(&findings("start_window: 1h", &format!("start_window: {start}")), "start-window-rpo").1;
    assert!(late("2h").is_empty());
    assert_eq!(late("121m"), ["a job may start up to 121m late, so the newest recovery point can be 481m old, past the RPO of 8h"]);
}

#[test]
fn retention_covers_the_gaps_and_the_drill_interval_and_cold_storage() {
    assert_eq!(errors("retention: 35d", "retention: 7d", "retention-verify"), vec![] as Vec<String>, "7d retention, 7d drills: enough");
    assert_eq!(
        errors("retention: 35d", "retention: 6d", "retention-verify"),
        ["recovery points are kept 6d, less than the drill interval verify.every 7d"]
    );
    let gaps = findings("retention: 35d", "retention: 5h");
    assert_eq!(
        of(&gaps, "retention-schedule").0,
        ["recovery points are kept 5h, less than the 6h between backups: there would be times with none"]
    );
    assert!(errors("retention: 35d", "retention: 6h", "retention-schedule").is_empty());
    let cold = |retention: &str| errors("retention: 35d", &format!("retention: {retention}\n    cold_storage_after: 10d"), "cold-storage");
    assert!(cold("100d").is_empty(), "10 days warm + 90 cold");
    assert_eq!(cold("99d").len(), 1);
    let copy_cold = errors("        retention: 90d", "        retention: 90d\n        cold_storage_after: 1d", "cold-storage");
    assert_eq!(copy_cold.len(), 1, "copies too: {copy_cold:?}");
}

#[test]
fn copies_go_to_another_real_region_once_and_prod_wants_one() {
    let copy = "      - region: us-west-2";
    assert_eq!(
        errors(copy, "      - region: us-east-1", "copy-region"),
        ["the copy goes to us-east-1, the primary region: it survives no regional outage"]
    );
    assert_eq!(errors(copy, "      - region: nowhere-1", "region"), ["`nowhere-1` is not an AWS region"]);
    let twice =
        errors("        retention: 90d\n", "        retention: 90d\n      - region: us-west-2\n        retention: 90d\n", "copy-region");
    assert_eq!(twice, ["a second copy to us-west-2"]);
    let without = SCANS
        .replace("    copies:\n      - region: us-west-2\n        retention: 90d\n", "")
        .replace("[us-east-1, us-west-2]", "[us-east-1]");
    let found = validate(&crate::policy::load("desired/spatial-scans.yaml", without.as_bytes()).unwrap());
    assert_eq!(of(&found, "prod-copy").1, ["a prod table without a cross-region copy is lost with its region"]);
    let staging = without.replace("environment: prod", "environment: staging");
    assert!(validate(&crate::policy::load("desired/spatial-scans.yaml", staging.as_bytes()).unwrap()).is_empty());
}

#[test]
fn a_vault_lock_holds_every_retention_within_aws_bounds() {
    let lock = "lock: { min_retention: 7d, max_retention: 400d }";
    assert_eq!(
        errors(lock, "lock: { min_retention: 500d, max_retention: 400d }", "lock"),
        ["the lock's minimum 500d is above its maximum 400d"]
    );
    assert!(errors(lock, "lock: { min_retention: 90d, max_retention: 90d }", "lock").is_empty(), "min = max is a fixed retention");
    // A duration is at most 100 years (36500 days), AWS Backup Vault
    // Lock's own maximum: the policy format cannot say more.
    assert!(errors(lock, "lock: { min_retention: 7d, max_retention: 36500d }", "lock").is_empty());
    assert_eq!(
        errors(lock, "lock: { min_retention: 7d, max_retention: 400d, changeable_for: 2d }", "lock"),
        ["a grace time of 2d is under AWS's minimum of 3 days"]
    );
    assert!(errors(lock, "lock: { min_retention: 7d, max_retention: 400d, changeable_for: 3d }", "lock").is_empty());
    assert_eq!(errors(lock, "lock: { min_retention: 36d, max_retention: 400d }", "lock-retention").len(), 1, "35d primary below");
    assert!(errors(lock, "lock: { min_retention: 35d, max_retention: 90d }", "lock-retention").is_empty(), "both ends included");
    assert_eq!(errors(lock, "lock: { min_retention: 35d, max_retention: 89d }", "lock-retention").len(), 1, "the 90d copy above");
    assert_eq!(errors("kms_key: alias/dr-backups", "kms_key: not a key", "kms-key").len(), 1);
}

#[test]
fn the_topic_is_a_name_or_an_arn() {
    assert!(errors("sns_topic: dr-announcements", "sns_topic: arn:aws:sns:us-east-1:123456789012:dr", "sns-topic").is_empty());
    assert_eq!(errors("sns_topic: dr-announcements", "sns_topic: \"no spaces\"", "sns-topic").len(), 1);
}

#[test]
fn every_is_sugar_for_a_regular_schedule() {
    let schedule = "schedule: \"cron(0 */6 * * ? *)\"";
    assert!(findings(schedule, "every: 6h").is_empty());
    // 5h does not divide a day: no cron expression runs exactly every 5h.
    let uneven = findings(schedule, "every: 5h");
    let finding = uneven.iter().find(|f| f.rule == "schedule").expect("5h is not expressible");
    assert_eq!(finding.position.line, 13, "at the `every` line");
    assert_eq!(errors(schedule, "every: 12h", "schedule-rpo"), ["up to 12h pass between two backups, longer than the RPO of 8h"]);
}

#[test]
fn names_and_tables_are_one_policy_each_across_the_set() {
    let load = |file: &str, text: &str| crate::policy::load(file, text.as_bytes()).unwrap();
    let first = load("desired/spatial-scans.yaml", SCANS);
    let same_name = load("desired/other.yaml", &SCANS.replace("table: SpatialScans", "table: Other"));
    let same_table = load("desired/twin.yaml", &SCANS.replace("name: spatial-scans", "name: twin"));
    let found = validate_set(&[first, same_name, same_table]);
    let rules: Vec<(&str, &str)> = found.iter().map(|f| (f.file.as_str(), f.rule)).collect();
    assert_eq!(rules, [("desired/other.yaml", "name-unique"), ("desired/twin.yaml", "table-owner")]);
    assert!(found[0].message.contains("also used by desired/spatial-scans.yaml"), "{}", found[0].message);
    assert!(found[1].message.contains("table SpatialScans in us-east-1 is also governed by desired/spatial-scans.yaml"));
}

#[test]
fn a_copy_to_another_account_names_the_source_account_and_is_drilled_there_by_its_target() {
    let copy = "      - region: us-west-2\n        retention: 90d\n";
    let central = "      - region: us-west-2\n        account: \"444444444444\"\n        retention: 90d\n";
    assert_eq!(
        errors(copy, central, "copy-account"),
        ["a copy to another account needs the policy's own spec.account"],
        "the backup account's vault admits source accounts by id"
    );
    let with_account = |text: &str| text.replace("  region: us-east-1\n", "  region: us-east-1\n  account: \"111111111111\"\n");
    let found = |copies: &str, regions: &str| {
        let text = with_account(&SCANS.replace(copy, copies).replace("regions: [us-east-1, us-west-2]", regions));
        validate(&crate::policy::load("desired/spatial-scans.yaml", text.as_bytes()).unwrap())
    };
    let clean = found(central, "regions: [us-east-1, \"444444444444/us-west-2\"]");
    assert!(clean.iter().all(|f| !f.is_error()), "{clean:#?}");
    let by_region = found(central, "regions: [us-east-1, us-west-2]");
    assert_eq!(of(&by_region, "drill-region").0, ["us-west-2 is neither the primary region nor a copy region"]);
    let own = found("      - region: us-west-2\n        account: \"111111111111\"\n        retention: 90d\n", "regions: [us-east-1]");
    assert_eq!(of(&own, "copy-account").0, ["the copy goes to the policy's own account"]);
    let vault_alone = found("      - region: us-west-2\n        vault: central\n        retention: 90d\n", "regions: [us-east-1]");
    assert_eq!(of(&vault_alone, "copy-account").0, ["a vault without an account"]);
    let bad_vault = found(
        "      - region: us-west-2\n        account: \"444444444444\"\n        vault: \"no spaces\"\n        retention: 90d\n",
        "regions: [us-east-1]",
    );
    assert_eq!(of(&bad_vault, "copy-account").0, ["`no spaces` is not a vault name AWS accepts"]);
    // Another account may take a copy in the primary region too.
    let same_region =
        found("      - region: us-east-1\n        account: \"444444444444\"\n        retention: 90d\n", "regions: [us-east-1]");
    assert!(of(&same_region, "copy-region").0.is_empty(), "{same_region:#?}");
}

/// "Backups in cold storage or archive tiers cannot be copied" (AWS Backup
/// Developer Guide, "Backup and tag copy"): a drill of a copy proving the
/// latest point must not find it in cold storage.
#[test]
fn a_drilled_copy_of_the_latest_point_must_not_find_it_in_cold_storage() {
    const FLOOR_PLANS: &str = include_str!("../../../desired/floor-plans.yaml");
    let check = |from: &str, to: &str| {
        let text = FLOOR_PLANS.replacen(from, to, 1);
        let found = validate(&crate::policy::load("desired/floor-plans.yaml", text.as_bytes()).unwrap());
        of(&found, "cold-storage-copy").0
    };
    assert_eq!(check("", ""), Vec::<String>::new(), "cold after 30d, backups every 12h");
    let weekly_cold_daily = check(
        "    every: 12h\n    retention: 400d\n    cold_storage_after: 30d\n",
        "    every: 7d\n    retention: 400d\n    cold_storage_after: 1d\n",
    );
    assert_eq!(
        weekly_cold_daily,
        [
            "recovery points move to cold storage after 1d, sooner than the 7d between backups: a drill of a copy would find the newest point in cold storage, which AWS Backup cannot copy"
        ]
    );
    let on_demand = FLOOR_PLANS
        .replacen(
            "    every: 12h\n    retention: 400d\n    cold_storage_after: 30d\n",
            "    every: 7d\n    retention: 400d\n    cold_storage_after: 1d\n",
            1,
        )
        .replace("recovery_point: latest", "recovery_point: on-demand");
    let found = validate(&crate::policy::load("desired/floor-plans.yaml", on_demand.as_bytes()).unwrap());
    assert!(of(&found, "cold-storage-copy").0.is_empty(), "an on-demand point is fresh: {found:#?}");
}
