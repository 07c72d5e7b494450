//! DynamoDB fixtures: tables with items, the state table, sorted scans.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType, TableStatus, WriteRequest,
};

use super::{DEADLINE, poll};

pub type Item = HashMap<String, AttributeValue>;

/// The item `i` of a fixture table: `pk` `HOME#<i mod 5>`, `sk`
/// `SCAN#<i, 4 digits>`, a `payload` string and a `size` number.
pub fn fixture_item(i: usize) -> Item {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(format!("HOME#{}", i % 5))),
        ("sk".to_string(), AttributeValue::S(format!("SCAN#{i:04}"))),
        ("payload".to_string(), AttributeValue::S(format!("point cloud {i}: {}", "x".repeat(i % 17)))),
        ("size".to_string(), AttributeValue::N((i * 1024).to_string())),
    ])
}

/// Creates table `name` (`pk` hash, `sk` range, strings, on demand), writes
/// `items` fixture items (0..items) and waits until it is ACTIVE. Returns
/// its ARN.
pub async fn create_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str, items: usize) -> String {
    let key = |attr: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(attr).key_type(kind).build().unwrap();
    let attr = |attr: &str| AttributeDefinition::builder().attribute_name(attr).attribute_type(ScalarAttributeType::S).build().unwrap();
    let created = dynamodb
        .create_table()
        .table_name(name)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|err| panic!("CreateTable {name}: {}", aws_smithy_types::error::display::DisplayErrorContext(err)));
    let arn = created.table_description().and_then(|t| t.table_arn()).expect("CreateTable returns the table ARN").to_string();
    wait_table_active(dynamodb, name).await;
    put_items(dynamodb, name, (0..items).map(fixture_item)).await;
    arn
}

/// Writes items with BatchWriteItem, 25 at a time.
pub async fn put_items(dynamodb: &aws_sdk_dynamodb::Client, table: &str, items: impl IntoIterator<Item = Item>) {
    let requests: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build().unwrap()).build())
        .collect();
    for chunk in requests.chunks(25) {
        let mut pending = HashMap::from([(table.to_string(), chunk.to_vec())]);
        while !pending.is_empty() {
            let out = dynamodb
                .batch_write_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .unwrap_or_else(|err| panic!("BatchWriteItem {table}: {}", aws_smithy_types::error::display::DisplayErrorContext(err)));
            pending = out.unprocessed_items().cloned().unwrap_or_default();
            pending.retain(|_, requests| !requests.is_empty());
        }
    }
}

/// Turns on AWS Backup's advanced DynamoDB features (cross-region copies
/// need them), as an operator does once per account and region.
pub async fn enable_advanced_backup(backup: &aws_sdk_backup::Client) {
    backup.update_region_settings().resource_type_management_preference("DynamoDB", true).send().await.unwrap();
}

/// The state table and the drill history's table beside it, shaped as
/// `drctl bootstrap --state-table` creates them (`pk` (S) hash key, on
/// demand).
pub async fn create_state_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
    create_pk_table(dynamodb, name).await;
    create_pk_table(dynamodb, &drctl::state::dynamodb::history_table(name)).await;
}

async fn create_pk_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap())
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name}: {}", aws_smithy_types::error::display::DisplayErrorContext(e)));
    wait_table_active(dynamodb, name).await;
}

/// Waits until table `name` exists and is ACTIVE.
pub async fn wait_table_active(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
    poll(&format!("table {name} ACTIVE"), DEADLINE, || async {
        let out = dynamodb.describe_table().table_name(name).send().await.ok()?;
        (out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active)).then_some(())
    })
    .await
}

/// Every item of `table`, sorted by (`pk`, `sk`).
pub async fn scan_sorted(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Vec<Item> {
    let mut items: Vec<Item> = dynamodb
        .scan()
        .table_name(table)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(|err| panic!("Scan {table}: {}", aws_smithy_types::error::display::DisplayErrorContext(err)));
    items.sort_by_key(item_key);
    items
}

/// An item's (`pk`, `sk`) as strings, for sorting and comparing.
pub fn item_key(item: &Item) -> (String, String) {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    (text("pk"), text("sk"))
}
