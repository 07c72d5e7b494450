//! SNS → SQS: drctl's announcement reaches a subscribed queue through its
//! filter policy.

use super::*;

use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::json;
use support::REGION;

/// drctl's announcement: Subject, JSON body and attributes reach a
/// subscribed queue; a subscription's filter policy keeps other messages out.
#[tokio::test]
async fn announcement_reaches_a_subscribed_queue_through_its_filter_policy() {
    let account = support::account().await;
    let sns = account.clients().sns;
    let sqs = account.sqs(REGION);
    let topic_arn = sns.create_topic().name("dr-announcements").send().await.unwrap().topic_arn.unwrap();
    let queue_url = sqs.create_queue().queue_name("failures").send().await.unwrap().queue_url.unwrap();
    let queue_arn = queue_arn(&sqs, &queue_url).await;
    let subscribed = sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("FilterPolicy", json!({ "verdict": ["failed"] }).to_string())
        .return_subscription_arn(true)
        .send()
        .await
        .unwrap();
    assert!(subscribed.subscription_arn().is_some_and(|arn| arn.starts_with(&topic_arn)));

    let attribute = |v: &str| MessageAttributeValue::builder().data_type("String").string_value(v).build().unwrap();
    let body = |verdict: &str| json!({ "policy": "spatial-scans", "verdict": verdict, "rto": { "measured_s": 42, "target_s": 3600 } });
    sns.publish()
        .topic_arn(&topic_arn)
        .subject("drctl: spatial-scans proven")
        .message(body("passed").to_string())
        .message_attributes("verdict", attribute("passed"))
        .send()
        .await
        .unwrap();
    let published = sns
        .publish()
        .topic_arn(&topic_arn)
        .subject("drctl: spatial-scans drill FAILED")
        .message(body("failed").to_string())
        .message_attributes("verdict", attribute("failed"))
        .message_attributes("policy", attribute("spatial-scans"))
        .send()
        .await
        .unwrap();

    let messages = receive_all(&sqs, &queue_url).await;
    assert_eq!(messages.len(), 1, "the passed announcement is filtered out: {messages:?}");
    let envelope = &messages[0];
    assert_eq!(envelope["Type"], json!("Notification"));
    assert_eq!(envelope["MessageId"], json!(published.message_id().unwrap()));
    assert_eq!(envelope["Subject"], json!("drctl: spatial-scans drill FAILED"));
    let delivered: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(delivered, body("failed"));
    assert_eq!(envelope["MessageAttributes"]["verdict"], json!({ "Type": "String", "Value": "failed" }));
    assert_eq!(envelope["MessageAttributes"]["policy"]["Value"], json!("spatial-scans"));
}
