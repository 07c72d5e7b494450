//! The AWS ground drctl stands on: every AWS operation drctl calls, round
//! tripped over the wire through the real AWS SDK against the local
//! emulator (`scripts/emulator start`), each test in an account of its own.
//!
//! These tests pin the behaviour drctl relies on (change-set semantics,
//! job life cycles, restores holding the data as of the backup, faults
//! arriving as the SDK's errors), so a change of the emulator or the SDK
//! that breaks an assumption fails here, not deep inside a reconcile.

#[path = "../support/mod.rs"]
mod support;

mod backup;
mod cloudformation;
mod dynamodb;
mod faults;
mod sns;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

// ---------------------------------------------------------------------------
// Helpers for this binary

async fn list_vault_names(backup: &aws_sdk_backup::Client) -> Vec<String> {
    let vaults: Vec<_> = backup.list_backup_vaults().into_paginator().items().send().try_collect().await.unwrap();
    vaults.iter().filter_map(|v| v.backup_vault_name().map(str::to_string)).collect()
}

async fn create_vault(backup: &aws_sdk_backup::Client, name: &str) -> String {
    let out = backup.create_backup_vault().backup_vault_name(name).send().await.unwrap();
    out.backup_vault_arn().unwrap().to_string()
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    let attributes = sqs.get_queue_attributes().queue_url(queue_url).attribute_names(QueueAttributeName::QueueArn).send().await.unwrap();
    attributes.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).unwrap().clone()
}

/// Every message waiting on the queue, as the SNS envelopes (JSON) they are.
async fn receive_all(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<Value> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs.receive_message().queue_url(queue_url).max_number_of_messages(10).wait_time_seconds(0).send().await.unwrap();
        if out.messages().is_empty() {
            return bodies;
        }
        for message in out.messages() {
            bodies.push(serde_json::from_str(message.body().unwrap()).unwrap());
            sqs.delete_message().queue_url(queue_url).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
}

// ---------------------------------------------------------------------------
// The ground itself

/// A test without the emulator fails and says how to start it; it never
/// passes by skipping.
#[test]
#[should_panic(expected = "run `scripts/emulator start`")]
fn missing_emulator_fails_the_test_with_how_to_start_it() {
    // Port 1 (tcpmux) is closed on loopback: the connection is refused.
    support::Emulator::at("http://127.0.0.1:1");
}

/// Accounts are random and apart: what one creates, another does not see.
#[tokio::test]
async fn each_test_account_is_a_separate_aws_account() {
    let (first, second) = (support::account().await, support::account().await);
    assert_ne!(first.id, second.id);
    assert!(first.id.len() == 12 && first.id.bytes().all(|b| b.is_ascii_digit()), "{}", first.id);
    let sts = aws_sdk_sts::Client::new(first.aws.config());
    let identity = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(identity.account(), Some(first.id.as_str()));
    create_vault(&first.clients().backup, "mine").await;
    assert!(list_vault_names(&second.clients().backup).await.is_empty());
}
