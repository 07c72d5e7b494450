//! The semantic rules of `drctl validate`: each with a failing and a
//! passing case, built from one valid policy by changing a field.

use drctl::policy::{self, Finding, Input, Severity};

const BASE: &str = r#"apiVersion: drctl/v1
kind: TablePolicy
metadata:
  name: scans
  owner: team-3d
  environment: prod
spec:
  table: SpatialScans
  region: us-east-1
  backup:
    schedule: "cron(0 */6 * * ? *)"
    start_window: 1h
    completion_window: 4h
    retention: 35d
    point_in_time_recovery: true
    copies:
      - region: us-west-2
        retention: 90d
    vault:
      kms_key: alias/dr-backups
      lock: { min_retention: 7d, max_retention: 400d }
  objectives:
    rpo: 8h
    rto: 1h
  verify:
    every: 7d
    regions: [us-east-1, us-west-2]
    recovery_point: on-demand
    checks:
      - schema: match-source
      - item_count: { tolerance: 1% }
      - sample: { items: 200 }
      - canary: true
      - query: { key: { pk: "HOME#1" }, expect: { min_items: 1 } }
      - fingerprint: match
  notify:
    sns_topic: dr-announcements
"#;

/// Sets `path` (dotted, `[i]` for list entries) to `value` in the base
/// policy, or removes it when `value` is `None`.
fn with(changes: &[(&str, Option<&str>)]) -> String {
    let mut doc: yaml_serde::Value = yaml_serde::from_str(BASE).unwrap();
    for (path, value) in changes {
        let parts: Vec<&str> = path.split('.').collect();
        let mut node = &mut doc;
        for part in &parts[..parts.len() - 1] {
            node = step(node, part);
        }
        let last = parts[parts.len() - 1];
        match value {
            Some(text) => {
                let new: yaml_serde::Value = yaml_serde::from_str(text).unwrap();
                *step(node, last) = new;
            }
            None => {
                node.as_mapping_mut().unwrap().remove(last);
            }
        }
    }
    yaml_serde::to_string(&doc).unwrap()
}

fn step<'a>(node: &'a mut yaml_serde::Value, part: &str) -> &'a mut yaml_serde::Value {
    match part.split_once('[') {
        Some((key, index)) => {
            let index: usize = index.trim_end_matches(']').parse().unwrap();
            &mut node[key][index]
        }
        None => {
            let mapping = node.as_mapping_mut().unwrap();
            if !mapping.contains_key(part) {
                mapping.insert(part.into(), yaml_serde::Value::Null);
            }
            &mut mapping[part]
        }
    }
}

fn check(text: &str) -> Vec<Finding> {
    policy::check([Input { file: "desired/scans.yaml".into(), content: Ok(text.as_bytes().to_vec()) }]).findings
}

fn rules(findings: &[Finding], severity: Severity) -> Vec<&'static str> {
    findings.iter().filter(|f| f.severity == severity).map(|f| f.rule).collect()
}

#[track_caller]
fn assert_error(changes: &[(&str, Option<&str>)], rule: &str) -> Finding {
    let findings = check(&with(changes));
    findings.iter().find(|f| f.rule == rule && f.is_error()).cloned().unwrap_or_else(|| panic!("expected error {rule}, got {findings:#?}"))
}

#[track_caller]
fn assert_clean(changes: &[(&str, Option<&str>)]) {
    let findings = check(&with(changes));
    assert!(rules(&findings, Severity::Error).is_empty(), "expected no errors, got {findings:#?}");
}

#[test]
fn the_base_policy_is_clean() {
    let findings = check(BASE);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn every_example_policy_is_valid() {
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir("desired").unwrap() {
        let path = entry.unwrap().path();
        inputs.push(Input { file: path.display().to_string(), content: Ok(std::fs::read(&path).unwrap()) });
    }
    assert!(inputs.len() >= 4);
    let checked = policy::check(inputs);
    assert!(checked.guardrails.is_some(), "the examples come with guardrails");
    // They meet every guardrail; the one departure is an approved exception.
    let rules: Vec<&str> = checked.findings.iter().map(|f| f.rule).collect();
    assert_eq!(rules, ["guardrail-exception"], "{:#?}", checked.findings);
    assert_eq!(checked.valid().count(), 3);
}

#[test]
fn schedule_interval_must_fit_the_rpo() {
    let finding = assert_error(&[("spec.backup.schedule", Some("'cron(0 0 * * ? *)'"))], "schedule-rpo");
    assert!(finding.message.contains("1d") && finding.message.contains("8h"), "{}", finding.message);
    assert_eq!(finding.position.line, 11, "points at the schedule line");
    assert_clean(&[("spec.backup.schedule", Some("'cron(0 0 * * ? *)'")), ("spec.objectives.rpo", Some("2d"))]);
}

#[test]
fn weekday_only_schedule_is_judged_by_its_weekend_gap() {
    assert_error(
        &[
            ("spec.backup.schedule", Some("'cron(0 2 ? * MON-FRI *)'")),
            ("spec.objectives.rpo", Some("1d")),
            ("spec.backup.start_window", None),
            ("spec.backup.completion_window", None),
        ],
        "schedule-rpo",
    );
    assert_clean(&[("spec.backup.schedule", Some("'cron(0 2 ? * MON-FRI *)'")), ("spec.objectives.rpo", Some("3d"))]);
}

#[test]
fn every_sugar_and_schedule_are_exclusive() {
    assert_error(&[("spec.backup.every", Some("6h"))], "schedule");
    assert_error(&[("spec.backup.schedule", None)], "schedule");
    assert_clean(&[("spec.backup.schedule", None), ("spec.backup.every", Some("6h"))]);
    assert_error(&[("spec.backup.schedule", None), ("spec.backup.every", Some("5h"))], "schedule");
}

#[test]
fn schedule_more_often_than_hourly_is_refused() {
    assert_error(&[("spec.backup.schedule", Some("'cron(0/30 * * * ? *)'"))], "schedule-frequency");
    assert_clean(&[("spec.backup.schedule", Some("'cron(0 * * * ? *)'"))]);
}

#[test]
fn malformed_schedule_is_refused() {
    let finding = assert_error(&[("spec.backup.schedule", Some("'cron(0 */6 * * * *)'"))], "schedule");
    assert!(finding.message.contains('?'), "{}", finding.message);
}

#[test]
fn retention_must_cover_the_schedule_interval() {
    assert_error(
        &[
            ("spec.backup.schedule", Some("'cron(0 0 ? * 1 *)'")),
            ("spec.objectives.rpo", Some("7d")),
            ("spec.backup.retention", Some("3d")),
            ("spec.verify.every", Some("1d")),
            ("spec.backup.vault", None),
        ],
        "retention-schedule",
    );
    assert_clean(&[
        ("spec.backup.schedule", Some("'cron(0 0 ? * 1 *)'")),
        ("spec.objectives.rpo", Some("7d")),
        ("spec.backup.retention", Some("7d")),
    ]);
}

#[test]
fn retention_must_cover_the_drill_interval() {
    assert_error(&[("spec.verify.every", Some("40d"))], "retention-verify");
    assert_clean(&[("spec.verify.every", Some("35d"))]);
}

#[test]
fn start_window_at_least_an_hour() {
    assert_error(&[("spec.backup.start_window", Some("30m"))], "start-window");
    assert_clean(&[("spec.backup.start_window", Some("60m"))]);
}

#[test]
fn completion_window_longer_than_start_window() {
    assert_error(&[("spec.backup.completion_window", Some("1h"))], "completion-window");
    assert_error(
        &[
            ("spec.backup.completion_window", None),
            ("spec.backup.start_window", Some("8d")),
            ("spec.objectives.rpo", Some("9d")),
            ("spec.backup.schedule", Some("'cron(0 0 * * ? *)'")),
        ],
        "completion-window",
    );
    assert_clean(&[("spec.backup.completion_window", Some("2h"))]);
}

#[test]
fn start_window_that_can_break_the_rpo_warns() {
    let findings = check(&with(&[("spec.backup.start_window", Some("3h"))]));
    assert_eq!(rules(&findings, Severity::Warning), ["start-window-rpo"]);
    assert!(rules(&findings, Severity::Error).is_empty());
}

#[test]
fn cold_storage_needs_ninety_more_days() {
    let finding = assert_error(&[("spec.backup.cold_storage_after", Some("30d")), ("spec.backup.retention", Some("100d"))], "cold-storage");
    assert!(finding.hint.contains("120d"), "{}", finding.hint);
    assert_clean(&[("spec.backup.cold_storage_after", Some("30d")), ("spec.backup.retention", Some("120d"))]);
    assert_error(&[("spec.backup.copies[0].cold_storage_after", Some("1d"))], "cold-storage");
}

#[test]
fn vault_lock_bounds_retention() {
    assert_error(&[("spec.backup.vault.lock.min_retention", Some("40d"))], "lock-retention");
    assert_error(&[("spec.backup.vault.lock.max_retention", Some("60d"))], "lock-retention");
    assert_error(&[("spec.backup.vault.lock.min_retention", Some("500d"))], "lock");
    assert_error(&[("spec.backup.vault.lock.changeable_for", Some("1d"))], "lock");
    assert_clean(&[("spec.backup.vault.lock.max_retention", Some("90d"))]);
    assert_clean(&[("spec.backup.vault.lock.changeable_for", Some("3d"))]);
}

#[test]
fn copy_regions_differ_from_primary_and_exist() {
    assert_error(&[("spec.backup.copies[0].region", Some("us-east-1")), ("spec.verify.regions", Some("[us-east-1]"))], "copy-region");
    let finding =
        assert_error(&[("spec.backup.copies[0].region", Some("us-wset-2")), ("spec.verify.regions", Some("[us-east-1]"))], "region");
    assert_eq!(finding.hint, "did you mean us-west-2?");
    assert_error(
        &[("spec.backup.copies", Some("[{region: us-west-2, retention: 90d}, {region: us-west-2, retention: 90d}]"))],
        "copy-region",
    );
    assert_clean(&[("spec.backup.copies[0].region", Some("eu-west-1")), ("spec.verify.regions", Some("[us-east-1, eu-west-1]"))]);
}

#[test]
fn drill_regions_are_primary_or_copy_regions() {
    assert_error(&[("spec.verify.regions", Some("[eu-west-1]"))], "drill-region");
    assert_error(&[("spec.verify.regions", Some("[]"))], "drill-region");
    assert_error(&[("spec.verify.regions", Some("[us-east-1, us-east-1]"))], "drill-region");
    assert_clean(&[("spec.verify.regions", Some("[us-west-2]"))]);
}

#[test]
fn names_tables_regions_topics_and_keys_are_well_formed() {
    assert_error(&[("metadata.name", Some("Spatial_Scans"))], "name");
    assert_error(&[("spec.table", Some("ab"))], "table-name");
    assert_error(&[("spec.region", Some("us-east-9")), ("spec.verify.regions", Some("[us-west-2]"))], "region");
    assert_error(&[("spec.notify.sns_topic", Some("'arn:aws:sns:us-east-1:12:x'"))], "sns-topic");
    assert_error(&[("spec.backup.vault.kms_key", Some("dr-backups"))], "kms-key");
    assert_clean(&[("spec.notify.sns_topic", Some("'arn:aws:sns:us-east-1:123456789012:dr'"))]);
    assert_clean(&[("spec.backup.vault.kms_key", Some("'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'"))]);
}

/// A policy's stack is `drctl-<name>` and its copy stacks
/// `drctl-<name>-dr-<region>`: a name that renders another stack's name
/// would update that stack in its place, so it is refused where it is
/// written.
#[test]
fn names_that_render_a_stack_drctl_derives_for_something_else_are_refused() {
    let beside =
        BASE.replace("name: scans", "name: scans-dr-us-west-2").replace("region: us-east-1\n  backup", "region: us-west-2\n  backup");
    let findings = policy::check([
        Input { file: "desired/scans.yaml".into(), content: Ok(BASE.as_bytes().to_vec()) },
        Input { file: "desired/scans-dr-us-west-2.yaml".into(), content: Ok(beside.into_bytes()) },
        Input { file: "desired/bootstrap.yaml".into(), content: Ok(BASE.replace("name: scans", "name: bootstrap").into_bytes()) },
    ])
    .findings;
    let reserved: Vec<(&str, usize, &str)> =
        findings.iter().filter(|f| f.rule == "name-reserved").map(|f| (f.file.as_str(), f.position.line, f.message.as_str())).collect();
    assert_eq!(reserved.len(), 2, "{findings:#?}");
    assert_eq!((reserved[0].0, reserved[0].1), ("desired/bootstrap.yaml", 4));
    assert!(reserved[0].2.contains("drctl bootstrap"), "{}", reserved[0].2);
    assert_eq!((reserved[1].0, reserved[1].1), ("desired/scans-dr-us-west-2.yaml", 4));
    assert!(reserved[1].2.contains("copy stack in us-west-2 of a policy named `scans`"), "{}", reserved[1].2);
    assert!(findings.iter().all(|f| f.file != "desired/scans.yaml" || !f.is_error()), "{findings:#?}");
    assert_clean(&[("metadata.name", Some("bootstrap-scans"))]);
}

#[test]
fn checks_are_consistent() {
    assert_error(&[("spec.verify.recovery_point", Some("latest"))], "check-canary");
    assert_clean(&[("spec.verify.recovery_point", Some("latest")), ("spec.verify.checks[3].canary", Some("false"))]);
    assert_error(&[("spec.verify.checks[2].sample.items", Some("0"))], "check-sample");
    assert_error(&[("spec.verify.checks[4].query.expect", Some("{min_items: 5, max_items: 1}"))], "check-query");
    assert_error(&[("spec.verify.checks[4].query.expect", Some("{}"))], "check-query");
    assert_error(&[("spec.verify.checks[5]", Some("{schema: match-source}"))], "check-duplicate");
}

#[test]
fn prod_without_copy_warns() {
    let findings = check(&with(&[("spec.backup.copies", None), ("spec.verify.regions", Some("[us-east-1]"))]));
    assert_eq!(rules(&findings, Severity::Warning), ["prod-copy"]);
    let findings =
        check(&with(&[("spec.backup.copies", None), ("spec.verify.regions", Some("[us-east-1]")), ("metadata.environment", Some("dev"))]));
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn two_policies_cannot_own_one_table() {
    let other = with(&[("metadata.name", Some("scans-copy"))]);
    let checked = policy::check([
        Input { file: "desired/scans.yaml".into(), content: Ok(BASE.as_bytes().to_vec()) },
        Input { file: "desired/scans-copy.yaml".into(), content: Ok(other.into_bytes()) },
    ]);
    let owners: Vec<_> = checked.findings.iter().filter(|f| f.rule == "table-owner").collect();
    assert_eq!(owners.len(), 1, "{:#?}", checked.findings);
    assert!(owners[0].message.contains("desired/scans.yaml"));
    let elsewhere =
        with(&[("metadata.name", Some("scans-eu")), ("spec.region", Some("eu-west-1")), ("spec.verify.regions", Some("[eu-west-1]"))]);
    let checked = policy::check([
        Input { file: "desired/scans.yaml".into(), content: Ok(BASE.as_bytes().to_vec()) },
        Input { file: "desired/scans-eu.yaml".into(), content: Ok(elsewhere.into_bytes()) },
    ]);
    assert!(!checked.findings.iter().any(|f| f.rule == "table-owner"));
}

#[test]
fn duplicate_names_are_refused() {
    let other = with(&[("spec.table", Some("Other"))]);
    let checked = policy::check([
        Input { file: "desired/scans.yaml".into(), content: Ok(BASE.as_bytes().to_vec()) },
        Input { file: "desired/scans2.yaml".into(), content: Ok(other.into_bytes()) },
    ]);
    assert!(checked.findings.iter().any(|f| f.rule == "name-unique" && f.file == "desired/scans2.yaml"));
}

#[test]
fn every_finding_of_every_file_is_reported() {
    let broken = with(&[
        ("spec.backup.start_window", Some("10m")),
        ("spec.verify.regions", Some("[eu-west-1]")),
        ("spec.notify.sns_topic", Some("'bad topic'")),
    ]);
    let checked = policy::check([
        Input { file: "desired/a.yaml".into(), content: Ok(broken.clone().into_bytes()) },
        Input {
            file: "desired/b.yaml".into(),
            content: Ok(b"apiVersion: drctl/v1\nkind: TablePolicy\nmetadata: {name: b, environment: prod, colour: red}\n".to_vec()),
        },
        Input {
            file: "desired/c.yaml".into(),
            content: Ok(
                with(&[("metadata.name", Some("c")), ("spec.table", Some("CTable")), ("spec.verify.every", Some("90d"))]).into_bytes()
            ),
        },
    ]);
    let by_file = |file: &str| checked.findings.iter().filter(|f| f.file == file && f.is_error()).count();
    assert!(by_file("desired/a.yaml") >= 3, "{:#?}", checked.findings);
    assert_eq!(by_file("desired/b.yaml"), 1);
    assert_eq!(by_file("desired/c.yaml"), 1);
}

#[test]
fn finding_prints_as_file_line_col_with_hint() {
    let finding = assert_error(&[("spec.backup.start_window", Some("30m"))], "start-window");
    let text = finding.to_string();
    assert!(text.starts_with("desired/scans.yaml:12:19: error: "), "{text}");
    assert!(text.contains("\n  hint: "), "{text}");
}

#[test]
fn the_point_in_time_reference_needs_pitr() {
    let finding = assert_error(
        &[("spec.backup.point_in_time_recovery", Some("false")), ("spec.verify.reference", Some("point-in-time"))],
        "verify-reference",
    );
    assert!(finding.hint.contains("point_in_time_recovery: true"), "{finding:?}");
    let text = with(&[("spec.backup.point_in_time_recovery", Some("false")), ("spec.verify.reference", Some("point-in-time"))]);
    let line = text.lines().nth(finding.position.line - 1).unwrap_or_default();
    assert!(line.contains("reference: point-in-time"), "points at the reference: line {} is {line:?}", finding.position.line);
    assert_clean(&[("spec.verify.reference", Some("point-in-time"))]);
}

#[test]
fn data_checks_against_a_live_source_are_warned_about_unless_the_table_is_static_or_says_what_changed() {
    let without_pitr = [("spec.backup.point_in_time_recovery", None)];
    let findings = check(&with(&without_pitr));
    assert_eq!(rules(&findings, Severity::Warning), ["verify-reference"], "{findings:#?}");
    for declared in [("spec.verify.static", Some("true")), ("spec.verify.changed_since", Some("{ attribute: updated_at }"))] {
        let findings = check(&with(&[without_pitr[0], declared]));
        assert!(findings.is_empty(), "{declared:?}: {findings:#?}");
    }
    let findings = check(&with(&[("spec.verify.reference", Some("source"))]));
    assert_eq!(rules(&findings, Severity::Warning), ["verify-reference"], "PITR on but the live source asked for: {findings:#?}");
}

#[test]
fn changed_since_is_for_the_live_source_only() {
    assert_error(&[("spec.verify.changed_since", Some("{ attribute: updated_at }"))], "verify-reference");
    assert_error(
        &[("spec.backup.point_in_time_recovery", None), ("spec.verify.changed_since", Some("{ attribute: \"\" }"))],
        "verify-reference",
    );
}
