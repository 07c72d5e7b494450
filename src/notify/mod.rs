//! The SNS announcement of a drill: every drill of a policy,
//! passed or failed, is published to the policy's topic as a subject a
//! person reads in a mail client, a JSON body a machine reads, and message
//! attributes that subscription filter policies match on.
//!
//! The message itself ([`subject`], [`body`], [`attributes`]) is pure and
//! lives in `message`; this module finds the topic and publishes.
//!
//! # Finding the topic
//! `spec.notify.sns_topic` is either a full ARN (used as is) or a name,
//! meaning the topic of that name that `drctl bootstrap` deployed in the
//! policy's primary region. drctl reads that ARN from the outputs of the
//! `drctl-bootstrap` stack (one `DescribeStacks`): it creates nothing, it
//! needs no STS call to learn the account or partition, and it only ever
//! publishes to a topic drctl's own bootstrap made, never to a stranger's
//! topic that happens to share the name. A missing bootstrap is an error
//! that says to run `drctl bootstrap`.
//!
//! # Guarantees
//! - Throttling and 5xx answers to `Publish` are retried by the SDK's
//!   standard retry (the `Aws` context's max attempts).
//! - A body over SNS's 256 KiB limit is shrunk (long strings cut) rather
//!   than refused; if it still does not fit, the error says so.
//!
//! # Caveats
//! - SNS standard topics may deliver a message more than once; the body's
//!   `drills[].drill_id` lets subscribers deduplicate.

mod message;

use std::collections::BTreeMap;

use aws_sdk_sns::types::MessageAttributeValue;

pub use message::{FORMAT_VERSION, MAX_SUBJECT_CHARS, attributes, body, subject, verdict};

use crate::aws::{Aws, describe, error_code};
use crate::drill::DrillResult;
use crate::policy::TablePolicy;
use crate::render::BOOTSTRAP_STACK;
use crate::state::{ChangeSetRecord, Outbox};

/// SNS's limit on a message, body and attributes together.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Bytes kept free for the message attributes (three short strings).
const ATTRIBUTES_ROOM: usize = 4 * 1024;

/// Everything one announcement tells: a policy's drill at a commit.
#[derive(Clone, Copy, Debug)]
pub struct Announcement<'a> {
    pub policy: &'a TablePolicy,
    pub commit: Option<&'a str>,
    pub content_hash: &'a str,
    /// Change sets executed for this commit (may be empty).
    pub change_sets: &'a [ChangeSetRecord],
    /// One per drill region, primary first.
    pub drills: &'a [DrillResult],
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("SNS topic `{topic}` in {region}: {why}")]
    TopicNotFound { topic: String, region: String, why: String },
    #[error("publishing to {topic_arn}: {why}")]
    Publish { topic_arn: String, why: String },
    #[error("the announcement of {policy} is {bytes} bytes even shortened, over SNS's {MAX_MESSAGE_BYTES}")]
    TooLarge { policy: String, bytes: usize },
}

/// Publishes the announcement to the policy's topic; returns the SNS
/// message id (for the evidence chain).
#[tracing::instrument(skip_all, fields(policy = %a.policy.metadata.name))]
pub async fn announce(aws: &Aws, a: &Announcement<'_>) -> Result<String, NotifyError> {
    // The attributes count against the same limit: leave them room.
    publish(aws, a.policy, &compose(a, MAX_MESSAGE_BYTES - ATTRIBUTES_ROOM)?).await
}

/// The most a message kept in the state's outbox may weigh: the record
/// holding it must stay under DynamoDB's 400 KB item limit with its
/// evidence.
pub const OUTBOX_BYTES: usize = 128 * 1024;

/// The message for `a`, its body shrunk to `max_body_bytes`, ready to
/// publish or to keep in the state's outbox until it is published. Pure.
pub fn compose(a: &Announcement<'_>, max_body_bytes: usize) -> Result<Outbox, NotifyError> {
    let body =
        message::fit(body(a), max_body_bytes).map_err(|bytes| NotifyError::TooLarge { policy: a.policy.metadata.name.clone(), bytes })?;
    Ok(Outbox { subject: subject(a), body, attributes: attributes(a) })
}

/// Publishes a composed message to `policy`'s topic; returns the SNS
/// message id.
pub async fn publish(aws: &Aws, policy: &TablePolicy, message: &Outbox) -> Result<String, NotifyError> {
    let region = &policy.spec.region;
    let topic_arn = topic_arn(aws, region, &policy.spec.notify.sns_topic).await?;
    let sns = aws.region(region_of_arn(&topic_arn).unwrap_or(region)).sns;
    let attributes = message
        .attributes
        .clone()
        .into_iter()
        .map(|(name, value)| {
            let value = MessageAttributeValue::builder().data_type("String").string_value(value).build();
            value.map(|value| (name, value))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()
        .map_err(|e| NotifyError::Publish { topic_arn: topic_arn.clone(), why: e.to_string() })?;
    let published = sns
        .publish()
        .topic_arn(&topic_arn)
        .subject(&message.subject)
        .message(&message.body)
        .set_message_attributes(Some(attributes.into_iter().collect()))
        .send()
        .await
        .map_err(|e| NotifyError::Publish { topic_arn: topic_arn.clone(), why: describe(&e) })?;
    let id = published.message_id().unwrap_or_default().to_string();
    tracing::info!(topic = %topic_arn, message_id = %id, "announced");
    Ok(id)
}

/// The topic's ARN: `topic` itself when it is an ARN, else the output of
/// `drctl-bootstrap` in `region` that names a topic called `topic`.
pub async fn topic_arn(aws: &Aws, region: &str, topic: &str) -> Result<String, NotifyError> {
    if topic.starts_with("arn:") {
        return Ok(topic.to_string());
    }
    let not_found = |why: String| NotifyError::TopicNotFound { topic: topic.to_string(), region: region.to_string(), why };
    let described = match aws.region(region).cloudformation.describe_stacks().stack_name(BOOTSTRAP_STACK).send().await {
        Ok(described) => described,
        Err(e) if error_code(&e) == Some("ValidationError") => {
            return Err(not_found(format!("no {BOOTSTRAP_STACK} stack there: run `drctl bootstrap`")));
        }
        Err(e) => return Err(not_found(format!("reading {BOOTSTRAP_STACK}: {}", describe(&e)))),
    };
    let outputs = described.stacks().iter().flat_map(|s| s.outputs()).filter_map(|o| o.output_value());
    let found = outputs.into_iter().find(|arn| is_topic_named(arn, topic));
    found
        .map(str::to_string)
        .ok_or_else(|| not_found(format!("{BOOTSTRAP_STACK} holds no topic of that name: run `drctl bootstrap` after adding the policy")))
}

/// `arn:<partition>:sns:<region>:<account>:<name>` with this name.
fn is_topic_named(arn: &str, name: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 6 && parts[0] == "arn" && parts[2] == "sns" && parts[5] == name
}

/// The region an SNS topic ARN names (a full ARN may be in any region).
fn region_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|region| !region.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_arn_is_recognised_by_service_and_name() {
        assert!(is_topic_named("arn:aws:sns:us-east-1:123456789012:dr-announcements", "dr-announcements"));
        assert!(!is_topic_named("arn:aws:sns:us-east-1:123456789012:dr-announcements-2", "dr-announcements"));
        assert!(!is_topic_named("arn:aws:sqs:us-east-1:123456789012:dr-announcements", "dr-announcements"));
        assert!(!is_topic_named("dr-announcements", "dr-announcements"));
    }

    #[test]
    fn a_full_arn_publishes_in_its_own_region() {
        assert_eq!(region_of_arn("arn:aws:sns:eu-west-1:123456789012:t"), Some("eu-west-1"));
        assert_eq!(region_of_arn("arn:aws:sns::123456789012:t"), None);
    }
}
