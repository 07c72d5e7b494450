//! The `verify` section's rules: drill regions, the reference a drill's
//! data checks compare with, and each check's own settings.

use super::*;

pub(super) fn check_verify(findings: &mut Findings, policy: &TablePolicy) {
    let verify = &policy.spec.verify;
    if verify.regions.is_empty() {
        findings.error(
            "spec.verify.regions",
            "drill-region",
            "no region to drill in",
            format!("list at least the primary: regions: [{}]", policy.spec.region),
        );
    }
    let allowed: Vec<String> =
        std::iter::once(policy.spec.region.clone()).chain(policy.spec.backup.copies.iter().map(|c| c.target())).collect();
    let mut seen = HashSet::new();
    for (index, region) in verify.regions.iter().enumerate() {
        let path = format!("spec.verify.regions[{index}]");
        if !allowed.contains(region) {
            findings.error(
                &path,
                "drill-region",
                format!("{} is neither the primary region nor a copy region", names::shown(region)),
                format!("drill in one of: {}", allowed.join(", ")),
            );
        } else if !seen.insert(region) {
            findings.error(&path, "drill-region", format!("{region} is listed twice"), "list each region once");
        }
    }
    if verify.every < Duration::from_hours(1) {
        findings.error(
            "spec.verify.every",
            "verify-every",
            format!("a drill every {} would never finish before the next", verify.every),
            "drill at most hourly; daily or weekly is usual",
        );
    }
    check_checks(findings, policy);
    check_reference(findings, policy);
}

/// The reference of the data checks must exist (PITR for `point-in-time`)
/// and suit the table (a live table needs `point-in-time` or a declared
/// change attribute).
fn check_reference(findings: &mut Findings, policy: &TablePolicy) {
    let verify = &policy.spec.verify;
    let reference = verify.reference_for(&policy.spec.backup);
    let pitr = policy.spec.backup.point_in_time_recovery == Some(true);
    if reference == Reference::PointInTime && !pitr {
        findings.error(
            "spec.verify.reference",
            "verify-reference",
            "`reference: point-in-time` exports the source at past instants, which needs point-in-time recovery on the table",
            "set spec.backup.point_in_time_recovery: true, or reference: source",
        );
    }
    if let Some(changed) = &verify.changed_since {
        if reference == Reference::PointInTime {
            findings.error(
                "spec.verify.changed_since",
                "verify-reference",
                "`changed_since` applies to `reference: source`; the point-in-time reference already sees every change",
                "drop changed_since, or set reference: source",
            );
        }
        if changed.attribute.is_empty() || changed.attribute.len() > 255 {
            findings.error(
                "spec.verify.changed_since.attribute",
                "verify-reference",
                "an attribute name is 1 to 255 bytes",
                "name the attribute that holds when an item last changed, e.g. updated_at",
            );
        }
    }
    if reference == Reference::Source && verify.has_data_checks() && !verify.static_table && verify.changed_since.is_none() {
        findings.warning(
            "spec.verify.checks",
            "verify-reference",
            "data checks compare the restore with the source as it is when they run: a correct restore of a table taking writes fails them",
            "turn PITR on (reference: point-in-time), declare `static: true`, or set changed_since: { attribute: <updated-at attribute> }",
        );
    }
}

fn check_checks(findings: &mut Findings, policy: &TablePolicy) {
    let verify = &policy.spec.verify;
    let mut kinds = BTreeMap::new();
    for (index, check) in verify.checks.iter().enumerate() {
        let path = format!("spec.verify.checks[{index}]");
        if let Some(first) = kinds.insert(check.name(), index) {
            findings.error(
                &path,
                "check-duplicate",
                format!("a second `{}` check (the first is checks[{first}])", check.name()),
                "keep one check of each kind",
            );
        }
        match check {
            Check::Sample(sample) if !(1..=10_000).contains(&sample.items) => {
                findings.error(
                    &format!("{path}.sample.items"),
                    "check-sample",
                    format!("a sample of {} items", sample.items),
                    "sample 1 to 10000 items",
                );
            }
            Check::Canary(true) if verify.recovery_point == RecoveryPointChoice::Latest => {
                findings.error(
                    &path,
                    "check-canary",
                    "the canary needs a backup taken after it is written, but recovery_point is `latest`",
                    "set recovery_point: on-demand, or drop the canary",
                );
            }
            Check::Query(query) => check_query(findings, &format!("{path}.query"), query),
            _ => {}
        }
    }
}

fn check_query(findings: &mut Findings, path: &str, query: &QueryCheck) {
    if query.key.is_empty() || query.key.len() > 2 {
        findings.error(
            &format!("{path}.key"),
            "check-query",
            "a query names the partition key and at most the sort key",
            "write `key: { pk: \"HOME#1\" }`",
        );
    }
    for name in query.key.keys() {
        if name.is_empty() || name.len() > 255 {
            findings.error(
                &format!("{path}.key"),
                "check-query",
                "an attribute name must be 1 to 255 characters",
                "use the table's key attribute names",
            );
        }
    }
    let expect = &query.expect;
    match (expect.min_items, expect.max_items) {
        (None, None) => {
            findings.error(&format!("{path}.expect"), "check-query", "the query expects nothing", "add `min_items: 1` or `max_items`")
        }
        (Some(min), Some(max)) if min > max => findings.error(
            &format!("{path}.expect"),
            "check-query",
            format!("min_items {min} is above max_items {max}"),
            "correct the bounds",
        ),
        _ => {}
    }
}
