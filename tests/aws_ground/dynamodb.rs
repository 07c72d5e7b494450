//! DynamoDB: tables and items, the scans and queries the checks read,
//! on-demand backups, PITR, tags and TTL.

use super::*;

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{
    ContinuousBackupsStatus, PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, Select, TableStatus, Tag,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use support::REGION;

#[tokio::test]
async fn dynamodb_tables_and_items_round_trip() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    let arn = support::create_table(&dynamodb, "Items", 0).await;
    let described = dynamodb.describe_table().table_name("Items").send().await.unwrap();
    let table = described.table().unwrap();
    assert_eq!(table.table_arn(), Some(arn.as_str()));
    assert_eq!(arn, account.table_arn(REGION, "Items"));
    assert_eq!(table.table_status(), Some(&TableStatus::Active));
    let keys: Vec<(&str, &str)> = table.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().as_str())).collect();
    assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);

    let marker = support::fixture_item(7);
    dynamodb.put_item().table_name("Items").set_item(Some(marker.clone())).send().await.unwrap();
    let got = dynamodb
        .get_item()
        .table_name("Items")
        .key("pk", s("HOME#2"))
        .key("sk", s("SCAN#0007"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(got.item(), Some(&marker));
    dynamodb.delete_item().table_name("Items").key("pk", s("HOME#2")).key("sk", s("SCAN#0007")).send().await.unwrap();
    let got = dynamodb.get_item().table_name("Items").key("pk", s("HOME#2")).key("sk", s("SCAN#0007")).send().await.unwrap();
    assert_eq!(got.item(), None);

    dynamodb.delete_table().table_name("Items").send().await.unwrap();
    let err = dynamodb.describe_table().table_name("Items").send().await.unwrap_err().into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
}

/// What the item-count and fingerprint checks read: a COUNT scan, and a
/// parallel scan whose segments cover every item exactly once; a Query by
/// partition key (the query check).
#[tokio::test]
async fn count_scan_parallel_segments_and_query_cover_every_item_exactly_once() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    support::create_table(&dynamodb, "Segments", 120).await;

    let mut counted = 0;
    let mut pages = dynamodb.scan().table_name("Segments").select(Select::Count).limit(50).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        assert!(page.items().is_empty(), "COUNT returns no items");
        counted += page.count();
    }
    assert_eq!(counted, 120);

    // Segments split by a hash of the partition key (5 keys here), so a
    // segment may be empty; together they hold every item exactly once.
    let mut seen = Vec::new();
    let mut non_empty = 0;
    for segment in 0..4 {
        let items: Vec<_> = dynamodb
            .scan()
            .table_name("Segments")
            .segment(segment)
            .total_segments(4)
            .limit(20)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap();
        non_empty += usize::from(!items.is_empty());
        seen.extend(items.iter().map(support::item_key));
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 120, "no item twice");
    assert_eq!(unique.len(), 120, "every item once");
    assert!(non_empty > 1, "the segments split the table");

    let home1: Vec<_> = dynamodb
        .query()
        .table_name("Segments")
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s("HOME#1"))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    let sks: Vec<String> = home1.iter().map(|item| support::item_key(item).1).collect();
    assert_eq!(sks.len(), 24);
    assert!(sks.windows(2).all(|w| w[0] < w[1]), "sorted by sort key: {sks:?}");
    assert!(home1.iter().all(|item| item.get("pk") == Some(&s("HOME#1"))));
}

#[tokio::test]
async fn on_demand_table_backups_are_created_described_and_listed() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    let table_arn = support::create_table(&dynamodb, "Backed", 5).await;
    let created = dynamodb.create_backup().table_name("Backed").backup_name("manual-1").send().await.unwrap();
    let details = created.backup_details().unwrap();
    let backup_arn = details.backup_arn().to_string();
    assert_eq!(details.backup_name(), "manual-1");
    assert_eq!(details.backup_status().as_str(), "AVAILABLE");

    let described = dynamodb.describe_backup().backup_arn(&backup_arn).send().await.unwrap();
    let description = described.backup_description().unwrap();
    assert_eq!(description.source_table_details().map(|s| s.table_name()), Some("Backed"));
    assert_eq!(description.source_table_details().and_then(|s| s.item_count()), Some(5));
    let listed = dynamodb.list_backups().table_name("Backed").send().await.unwrap();
    let summaries = listed.backup_summaries();
    assert_eq!(summaries.iter().filter_map(|b| b.backup_arn()).collect::<Vec<_>>(), [backup_arn.as_str()]);
    assert_eq!(summaries[0].table_arn(), Some(table_arn.as_str()));
}

#[tokio::test]
async fn point_in_time_recovery_turns_on_and_off() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    support::create_table(&dynamodb, "Recoverable", 0).await;
    let pitr = |out: &aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsOutput| {
        let description = out.continuous_backups_description().unwrap();
        assert_eq!(description.continuous_backups_status(), &ContinuousBackupsStatus::Enabled);
        description.point_in_time_recovery_description().and_then(|p| p.point_in_time_recovery_status()).cloned()
    };
    let before = dynamodb.describe_continuous_backups().table_name("Recoverable").send().await.unwrap();
    assert_eq!(pitr(&before), Some(PointInTimeRecoveryStatus::Disabled));

    for (enabled, expected) in [(true, PointInTimeRecoveryStatus::Enabled), (false, PointInTimeRecoveryStatus::Disabled)] {
        let spec = PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(enabled).build().unwrap();
        let updated =
            dynamodb.update_continuous_backups().table_name("Recoverable").point_in_time_recovery_specification(spec).send().await.unwrap();
        let status = updated
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status());
        assert_eq!(status, Some(&expected));
        let described = dynamodb.describe_continuous_backups().table_name("Recoverable").send().await.unwrap();
        assert_eq!(pitr(&described), Some(expected));
    }
}

/// Scratch tables are found by their tags; TTL is one of the settings a
/// restore does not carry over.
#[tokio::test]
async fn table_tags_and_time_to_live_are_readable() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    let arn = support::create_table(&dynamodb, "drctl-drill-x-1a2b", 0).await;
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    dynamodb
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag(drctl::render::MANAGED_BY_TAG, drctl::render::MANAGED_BY_VALUE))
        .tags(tag("drctl:scratch", "true"))
        .send()
        .await
        .unwrap();
    let tags = dynamodb.list_tags_of_resource().resource_arn(&arn).send().await.unwrap();
    let tags: HashMap<&str, &str> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, HashMap::from([("drctl:managed-by", "drctl"), ("drctl:scratch", "true")]));

    let ttl = dynamodb.describe_time_to_live().table_name("drctl-drill-x-1a2b").send().await.unwrap();
    assert_eq!(ttl.time_to_live_description().and_then(|t| t.time_to_live_status()), Some(&TimeToLiveStatus::Disabled));
    let spec = TimeToLiveSpecification::builder().enabled(true).attribute_name("expires").build().unwrap();
    dynamodb.update_time_to_live().table_name("drctl-drill-x-1a2b").time_to_live_specification(spec).send().await.unwrap();
    let ttl = dynamodb.describe_time_to_live().table_name("drctl-drill-x-1a2b").send().await.unwrap();
    let description = ttl.time_to_live_description().unwrap();
    assert_eq!(description.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(description.attribute_name(), Some("expires"));
}
