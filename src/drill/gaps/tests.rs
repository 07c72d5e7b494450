use super::read::*;
use super::*;
use crate::drill::scratch::{DRILL_ID_TAG, EXPIRES_TAG, SCRATCH_TAG};
use crate::render::POLICY_TAG;

/// A table as a restore leaves it: none of the settings.
fn bare() -> Settings {
    Settings {
        point_in_time_recovery: Ok(None),
        ttl: Ok(None),
        stream: None,
        auto_scaling: Ok(Vec::new()),
        tags: Ok(BTreeMap::new()),
        deletion_protection: false,
        resource_policy: Ok(None),
    }
}

fn read_capacity() -> ScalingTarget {
    ScalingTarget {
        scope: "table".into(),
        dimension: "dynamodb:table:ReadCapacityUnits".into(),
        min: 5,
        max: 100,
        policies: vec![ScalingPolicySummary {
            name: "reads".into(),
            kind: "target tracking".into(),
            target_tracking: Some(r#"{"TargetValue":70.0}"#.into()),
        }],
    }
}

/// A production table with every setting on.
fn full() -> Settings {
    Settings {
        point_in_time_recovery: Ok(Some(35)),
        ttl: Ok(Some("expires".into())),
        stream: Some("NEW_AND_OLD_IMAGES".into()),
        auto_scaling: Ok(vec![read_capacity()]),
        tags: Ok(BTreeMap::from([("team".into(), "3d".into()), ("cost center".into(), "o'neil".into())])),
        deletion_protection: true,
        resource_policy: Ok(Some(r#"{"Statement":[{"Effect":"Allow","Resource":"${TableArn}"}]}"#.into())),
    }
}

fn gap<'a>(gaps: &'a [Gap], setting: &str) -> &'a Gap {
    gaps.iter().find(|g| g.setting == setting).unwrap_or_else(|| panic!("no {setting} gap in {gaps:?}"))
}

#[test]
fn equal_settings_are_no_gaps() {
    assert_eq!(compare("T", &bare(), &bare()), vec![]);
    assert_eq!(compare("T", &full(), &full()), vec![]);
}

#[test]
fn every_setting_a_restore_drops_is_a_gap_with_its_action() {
    let gaps = compare("Scans", &full(), &bare());
    let settings: Vec<&str> = gaps.iter().map(|g| g.setting.as_str()).collect();
    assert_eq!(settings, ["point_in_time_recovery", "ttl", "streams", "auto_scaling", "tags", "deletion_protection", "resource_policy"]);
    let pitr = gap(&gaps, "point_in_time_recovery");
    assert_eq!((pitr.source.as_str(), pitr.restored.as_str()), ("enabled (35 days)", "disabled"));
    assert!(
        pitr.action.starts_with("enable PITR: aws dynamodb update-continuous-backups --table-name <restored-table>"),
        "{}",
        pitr.action
    );
    assert!(pitr.action.contains("RecoveryPeriodInDays=35"), "{}", pitr.action);
    let ttl = gap(&gaps, "ttl");
    assert_eq!(ttl.source, "enabled on attribute expires");
    assert!(ttl.action.contains("update-time-to-live") && ttl.action.contains("AttributeName=expires"), "{}", ttl.action);
    let streams = gap(&gaps, "streams");
    assert_eq!(streams.source, "enabled (NEW_AND_OLD_IMAGES)");
    assert!(streams.action.contains("StreamViewType=NEW_AND_OLD_IMAGES"), "{}", streams.action);
    let scaling = gap(&gaps, "auto_scaling");
    assert_eq!(scaling.source, "table ReadCapacityUnits 5..100 [target tracking reads]");
    assert_eq!(scaling.restored, "none");
    assert!(scaling.action.contains("register-scalable-target") && scaling.action.contains("--min-capacity 5 --max-capacity 100"));
    assert!(scaling.action.contains(r#"--target-tracking-scaling-policy-configuration '{"TargetValue":70.0}'"#), "{}", scaling.action);
    let protection = gap(&gaps, "deletion_protection");
    assert_eq!((protection.source.as_str(), protection.restored.as_str()), ("enabled", "disabled"));
    assert!(protection.action.ends_with("--deletion-protection-enabled"), "{}", protection.action);
    let policy = gap(&gaps, "resource_policy");
    assert_eq!(policy.restored, "none");
    assert!(policy.source.starts_with("a policy of 1 statement(s)"), "{}", policy.source);
    assert!(policy.action.contains("put-resource-policy"), "{}", policy.action);
}

#[test]
fn tag_actions_add_only_what_is_missing_and_quote_values() {
    let mut restored = bare();
    restored.tags = Ok(BTreeMap::from([("team".into(), "3d".into()), ("stray".into(), "x".into())]));
    let gaps = compare("T", &full(), &restored);
    let tags = gap(&gaps, "tags");
    assert_eq!(tags.source, "cost center=o'neil, team=3d");
    assert_eq!(
        tags.action,
        r"re-apply the source's tags: aws dynamodb tag-resource --resource-arn <restored-table-arn> --tags 'Key=cost center,Value=o'\''neil'; aws dynamodb untag-resource --resource-arn <restored-table-arn> --tag-keys stray"
    );
}

#[test]
fn drctl_scratch_tags_are_not_a_setting_of_the_restore() {
    assert!(is_scratch_tag(SCRATCH_TAG) && is_scratch_tag(DRILL_ID_TAG) && is_scratch_tag(EXPIRES_TAG) && is_scratch_tag(POLICY_TAG));
    assert!(!is_scratch_tag("team"));
}

#[test]
fn a_setting_that_could_not_be_read_is_an_unknown_gap_not_an_error() {
    let mut restored = bare();
    restored.resource_policy = Err("unknown: the endpoint does not implement GetResourcePolicy (UnknownOperationException)".into());
    restored.ttl = Err("DescribeTimeToLive T: throttled".into());
    let gaps = compare("T", &bare(), &restored);
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    let policy = gap(&gaps, "resource_policy");
    assert_eq!(policy.source, "none");
    assert!(policy.restored.starts_with("unknown: the endpoint does not implement GetResourcePolicy"), "{}", policy.restored);
    assert!(policy.action.starts_with("could not compare resource_policy: check the source by hand"), "{}", policy.action);
    assert_eq!(gap(&gaps, "ttl").restored, "unknown: DescribeTimeToLive T: throttled");
}

#[test]
fn a_setting_the_restore_has_and_the_source_lacks_is_undone() {
    let mut restored = bare();
    restored.deletion_protection = true;
    restored.stream = Some("KEYS_ONLY".into());
    let gaps = compare("T", &bare(), &restored);
    assert!(gap(&gaps, "deletion_protection").action.ends_with("--no-deletion-protection-enabled"));
    assert!(gap(&gaps, "streams").action.contains("StreamEnabled=false"));
}

#[test]
fn a_changed_scaling_target_is_re_registered_and_a_stray_one_removed() {
    let mut restored = bare();
    let mut other = read_capacity();
    other.scope = "index/byOwner".into();
    restored.auto_scaling = Ok(vec![other]);
    let gaps = compare("T", &full(), &restored);
    let action = &gap(&gaps, "auto_scaling").action;
    assert!(
        action.contains("deregister-scalable-target --service-namespace dynamodb --resource-id table/<restored-table>/index/byOwner"),
        "{action}"
    );
    assert!(action.contains("register-scalable-target --service-namespace dynamodb --resource-id table/<restored-table> "), "{action}");
}

#[test]
fn resource_policies_compare_without_their_own_table_arn() {
    let source = r#"{"Statement": [{"Resource": "arn:aws:dynamodb:us-east-1:1:table/A"}]}"#;
    let restored = r#"{"Statement":[{"Resource":"arn:aws:dynamodb:us-east-1:1:table/B"}]}"#;
    assert_eq!(
        normalize_policy(source, "arn:aws:dynamodb:us-east-1:1:table/A"),
        normalize_policy(restored, "arn:aws:dynamodb:us-east-1:1:table/B")
    );
    assert_eq!(normalize_policy("not json", "x"), "not json");
}

#[test]
fn shell_words_are_quoted_only_when_needed() {
    assert_eq!(shell_word("Enabled=true,AttributeName=expires"), "Enabled=true,AttributeName=expires");
    assert_eq!(shell_word("a b"), "'a b'");
    assert_eq!(shell_word("it's"), r"'it'\''s'");
    assert_eq!(shell_word(""), "''");
    assert_eq!(shell_word("$(rm -rf /)"), "'$(rm -rf /)'");
}

#[test]
fn a_setting_that_could_not_be_read_is_unknown_with_the_reason() {
    let error = crate::drill::DrillError::Aws { action: "DescribeTimeToLive".into(), why: "AccessDenied".into() };
    assert_eq!(unknown(error), "unknown: DescribeTimeToLive: AccessDenied");
}

/// A restored table scaled on another dimension of the same scope than the
/// source: that target is deregistered, the source's registered.
#[test]
fn a_restored_target_on_another_dimension_is_deregistered() {
    let source = read_capacity();
    let restored = ScalingTarget { dimension: "dynamodb:table:WriteCapacityUnits".into(), ..read_capacity() };
    let action = super::actions::scaling_action(std::slice::from_ref(&source), std::slice::from_ref(&restored));
    assert!(
        action.contains("deregister-scalable-target") && action.contains("--scalable-dimension dynamodb:table:WriteCapacityUnits"),
        "{action}"
    );
    assert!(action.contains("register-scalable-target --service-namespace dynamodb"), "{action}");
    let same = super::actions::scaling_action(std::slice::from_ref(&source), std::slice::from_ref(&source));
    assert!(!same.contains("deregister"), "{same}");
}
