//! SQS queues subscribed to SNS topics, and the envelopes they received.

use serde_json::Value;

use super::{REGION, TestAccount};

/// An SQS queue `name` in this account, subscribed to each SNS topic of
/// `topics` with the subscription filter policy `filter` (on message
/// attributes); returns the queue URL.
pub async fn queue_on_topics(account: &TestAccount, name: &str, topics: &[String], filter: &str) -> String {
    let sqs = account.sqs(REGION);
    let queue = sqs.create_queue().queue_name(name).send().await.unwrap().queue_url().unwrap().to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    for topic_arn in topics {
        let region = topic_arn.split(':').nth(3).unwrap();
        let subscribe = account.region(region).sns.subscribe().topic_arn(topic_arn).protocol("sqs").endpoint(&arn);
        subscribe.attributes("FilterPolicy", filter).send().await.unwrap();
    }
    queue
}

/// Every SNS envelope waiting in `queue`, each received and deleted.
pub async fn drain_queue(account: &TestAccount, queue: &str) -> Vec<Value> {
    let sqs = account.sqs(REGION);
    let mut found = Vec::new();
    loop {
        let received = sqs.receive_message().queue_url(queue).max_number_of_messages(10).send().await.unwrap();
        if received.messages().is_empty() {
            return found;
        }
        for message in received.messages() {
            found.push(serde_json::from_str(message.body().unwrap()).unwrap());
            sqs.delete_message().queue_url(queue).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
}
