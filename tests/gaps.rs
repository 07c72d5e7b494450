//! Post-restore gaps against the emulator: a source with every setting a
//! restore drops, compared with a table as a restore leaves it, lists each
//! with its action; two bare tables have none; a read the endpoint cannot
//! answer is an `unknown` gap, never an error.

mod support;

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types::{
    MetricType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_dynamodb::types::{
    PointInTimeRecoverySpecification, StreamSpecification, StreamViewType, TableDescription, Tag, TimeToLiveSpecification,
};
use drctl::aws::Clients;
use drctl::drill::{Gap, gaps};
use support::{Fault, TestAccount};

async fn describe(clients: &Clients, table: &str) -> TableDescription {
    clients.dynamodb.describe_table().table_name(table).send().await.expect("DescribeTable").table().cloned().expect("a table")
}

/// A bare table with a few items, as a restore leaves one, tagged as drctl
/// scratch (tags the comparison must ignore).
async fn restored_table(account: &TestAccount, name: &str) -> TableDescription {
    let clients = account.clients();
    let arn = support::create_table(&clients.dynamodb, name, 3).await;
    let scratch = [("drctl:scratch", "true"), ("drctl:policy", "scans"), ("drctl:drill-id", "0123456789abcdef")];
    let tags: Vec<Tag> = scratch.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap()).collect();
    clients.dynamodb.tag_resource().resource_arn(&arn).set_tags(Some(tags)).send().await.expect("TagResource");
    describe(&clients, name).await
}

/// A production table: PITR, TTL, a stream, tags, deletion protection, a
/// resource policy and auto scaling of its read capacity.
async fn configured_source(account: &TestAccount, name: &str) -> TableDescription {
    let clients = account.clients();
    let dynamodb = &clients.dynamodb;
    let arn = support::create_table(dynamodb, name, 3).await;
    dynamodb
        .update_continuous_backups()
        .table_name(name)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build().unwrap(),
        )
        .send()
        .await
        .expect("UpdateContinuousBackups");
    dynamodb
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(TimeToLiveSpecification::builder().enabled(true).attribute_name("expires").build().unwrap())
        .send()
        .await
        .expect("UpdateTimeToLive");
    dynamodb
        .update_table()
        .table_name(name)
        .stream_specification(
            StreamSpecification::builder().stream_enabled(true).stream_view_type(StreamViewType::NewAndOldImages).build().unwrap(),
        )
        .deletion_protection_enabled(true)
        .send()
        .await
        .expect("UpdateTable");
    let tags = [("team", "team-3d"), ("cost-center", "4711")];
    let tags: Vec<Tag> = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap()).collect();
    dynamodb.tag_resource().resource_arn(&arn).set_tags(Some(tags)).send().await.expect("TagResource");
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "AWS": format!("arn:aws:iam::{}:root", account.id) },
                        "Action": "dynamodb:GetItem", "Resource": arn }]
    });
    dynamodb.put_resource_policy().resource_arn(&arn).policy(policy.to_string()).send().await.expect("PutResourcePolicy");
    scale_reads(&clients, name).await;
    support::wait_table_active(dynamodb, name).await;
    describe(&clients, name).await
}

async fn scale_reads(clients: &Clients, table: &str) {
    let resource = format!("table/{table}");
    clients
        .autoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Dynamodb)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::DynamoDbTableReadCapacityUnits)
        .min_capacity(5)
        .max_capacity(100)
        .send()
        .await
        .expect("RegisterScalableTarget");
    let metric =
        PredefinedMetricSpecification::builder().predefined_metric_type(MetricType::DynamoDbReadCapacityUtilization).build().unwrap();
    clients
        .autoscaling
        .put_scaling_policy()
        .policy_name("reads")
        .service_namespace(ServiceNamespace::Dynamodb)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::DynamoDbTableReadCapacityUnits)
        .policy_type(aws_sdk_applicationautoscaling::types::PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(
            TargetTrackingScalingPolicyConfiguration::builder().target_value(70.0).predefined_metric_specification(metric).build().unwrap(),
        )
        .send()
        .await
        .expect("PutScalingPolicy");
}

fn by_setting(gaps: &[Gap]) -> BTreeMap<&str, &Gap> {
    gaps.iter().map(|g| (g.setting.as_str(), g)).collect()
}

#[tokio::test]
async fn a_restore_of_a_configured_table_lists_every_dropped_setting_with_its_action() {
    let account = support::account().await;
    let source = configured_source(&account, "SpatialScans").await;
    let restored = restored_table(&account, "drctl-drill-scans-01234567").await;

    let gaps = gaps::find(&account.clients(), &source, &restored).await;

    let settings: Vec<&str> = gaps.iter().map(|g| g.setting.as_str()).collect();
    assert_eq!(
        settings,
        ["point_in_time_recovery", "ttl", "streams", "auto_scaling", "tags", "deletion_protection", "resource_policy"],
        "{gaps:#?}"
    );
    let gaps = by_setting(&gaps);
    let pitr = gaps["point_in_time_recovery"];
    assert_eq!((pitr.source.as_str(), pitr.restored.as_str()), ("enabled (35 days)", "disabled"));
    assert!(
        pitr.action.starts_with("enable PITR: aws dynamodb update-continuous-backups --table-name <restored-table>"),
        "{}",
        pitr.action
    );
    let ttl = gaps["ttl"];
    assert_eq!((ttl.source.as_str(), ttl.restored.as_str()), ("enabled on attribute expires", "disabled"));
    assert!(ttl.action.contains("--time-to-live-specification Enabled=true,AttributeName=expires"), "{}", ttl.action);
    let streams = gaps["streams"];
    assert_eq!((streams.source.as_str(), streams.restored.as_str()), ("enabled (NEW_AND_OLD_IMAGES)", "disabled"));
    assert!(streams.action.contains("StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES"), "{}", streams.action);
    let scaling = gaps["auto_scaling"];
    assert_eq!((scaling.source.as_str(), scaling.restored.as_str()), ("table ReadCapacityUnits 5..100 [target tracking reads]", "none"));
    assert!(
        scaling.action.contains("register-scalable-target --service-namespace dynamodb --resource-id table/<restored-table>"),
        "{}",
        scaling.action
    );
    assert!(scaling.action.contains(r#""PredefinedMetricType":"DynamoDBReadCapacityUtilization""#), "{}", scaling.action);
    let tags = gaps["tags"];
    assert_eq!((tags.source.as_str(), tags.restored.as_str()), ("cost-center=4711, team=team-3d", "none"), "scratch tags are ignored");
    assert!(tags.action.ends_with("--tags Key=cost-center,Value=4711 Key=team,Value=team-3d"), "{}", tags.action);
    let protection = gaps["deletion_protection"];
    assert_eq!((protection.source.as_str(), protection.restored.as_str()), ("enabled", "disabled"));
    assert!(protection.action.ends_with("--deletion-protection-enabled"), "{}", protection.action);
    let policy = gaps["resource_policy"];
    assert!(policy.source.starts_with("a policy of 1 statement(s)"), "{}", policy.source);
    assert_eq!(policy.restored, "none");
    assert!(policy.action.contains("put-resource-policy --resource-arn <restored-table-arn>"), "{}", policy.action);
}

#[tokio::test]
async fn a_table_with_none_of_the_settings_has_no_gaps() {
    let account = support::account().await;
    let clients = account.clients();
    support::create_table(&clients.dynamodb, "Plain", 3).await;
    let source = describe(&clients, "Plain").await;
    let restored = restored_table(&account, "drctl-drill-plain-01234567").await;
    assert_eq!(gaps::find(&clients, &source, &restored).await, Vec::<Gap>::new());
}

#[tokio::test]
async fn a_setting_the_endpoint_cannot_read_is_an_unknown_gap_not_a_failure() {
    let account = support::account().await;
    let clients = account.clients();
    support::create_table(&clients.dynamodb, "Plain", 3).await;
    let source = describe(&clients, "Plain").await;
    let restored = restored_table(&account, "drctl-drill-plain-89abcdef").await;
    account.inject_fault(Fault::internal("dynamodb", "GetResourcePolicy").code("UnknownOperationException"));
    account.inject_fault(Fault::throttle("dynamodb", "DescribeTimeToLive").times(1));

    let gaps = gaps::find(&clients, &source, &restored).await;

    let found = by_setting(&gaps);
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), ["resource_policy", "ttl"], "{gaps:#?}");
    let policy = found["resource_policy"];
    assert!(policy.source.starts_with("unknown: the endpoint does not implement GetResourcePolicy"), "{}", policy.source);
    assert!(policy.restored.starts_with("unknown: the endpoint does not implement GetResourcePolicy"), "{}", policy.restored);
    assert!(policy.action.starts_with("could not compare resource_policy: check the source by hand"), "{}", policy.action);
    let ttl = found["ttl"];
    let unknown = [&ttl.source, &ttl.restored].into_iter().filter(|v| v.starts_with("unknown: DescribeTimeToLive")).count();
    assert_eq!(unknown, 1, "one of the two reads was throttled: {ttl:?}");
}
