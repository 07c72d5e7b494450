//! The SNS announcement against the emulator: the topic `drctl bootstrap`
//! deploys, an SQS queue subscribed to it, and what arrives there for a
//! passed and a failed drill (subject, JSON body, message attributes),
//! also through throttled `Publish` calls.

mod support;

use std::time::SystemTime;

use drctl::drill::{CheckResult, Cleanup, DrillResult, Gap, RecoveryPoint, Rpo, Rto, Verdict};
use drctl::notify::{self, Announcement, NotifyError};
use drctl::policy::{self, Input, TablePolicy};
use drctl::state::ChangeSetRecord;
use serde_json::Value;
use support::{Fault, TestAccount};

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn spatial_scans() -> TablePolicy {
    let checked = policy::check([Input { file: "desired/spatial-scans.yaml".into(), content: Ok(SCANS.as_bytes().to_vec()) }]);
    assert!(!checked.has_errors(), "{:#?}", checked.findings);
    checked.policies[0].policy.clone()
}

/// `drctl bootstrap` of the policy's regions: the topic it names.
async fn bootstrap(account: &TestAccount, policy: &TablePolicy) {
    support::bootstrap(account, [policy]).await;
}

/// An SQS queue subscribed to the topic; returns its URL.
async fn subscribed_queue(account: &TestAccount, topic_arn: &str) -> String {
    let sqs = account.sqs(support::REGION);
    let url = sqs.create_queue().queue_name("dr-inbox").send().await.unwrap().queue_url().unwrap().to_string();
    let attributes =
        sqs.get_queue_attributes().queue_url(&url).attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn).send().await.unwrap();
    let queue_arn = attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    account.region(support::REGION).sns.subscribe().topic_arn(topic_arn).protocol("sqs").endpoint(queue_arn).send().await.unwrap();
    url
}

/// The SNS envelopes in the queue, `count` of them, in arrival order.
async fn receive(account: &TestAccount, url: &str, count: usize) -> Vec<Value> {
    let sqs = account.sqs(support::REGION);
    let started = std::time::Instant::now();
    let mut envelopes = Vec::new();
    while envelopes.len() < count {
        assert!(started.elapsed() < support::DEADLINE, "only {} of {count} messages arrived: {envelopes:#?}", envelopes.len());
        let received = sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send().await.unwrap();
        for message in received.messages() {
            envelopes.push(serde_json::from_str::<Value>(message.body().unwrap()).unwrap());
            sqs.delete_message().queue_url(url).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    envelopes
}

fn check(name: &str, passed: bool, reason: &str, numbers: &[(&str, u64)]) -> CheckResult {
    CheckResult {
        name: name.into(),
        passed,
        reason: reason.into(),
        numbers: numbers.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        inconclusive: false,
    }
}

/// A drill of spatial-scans in `region`, as `drill::prove` reports it.
fn drill(account: &TestAccount, region: &str, passed: bool) -> DrillResult {
    let item_count = if passed {
        check("item_count", true, "61 items restored, 61 in the source", &[("restored", 61), ("source", 61)])
    } else {
        check("item_count", false, "50 items restored, 61 in the source: outside the 1% tolerance", &[("restored", 50), ("source", 61)])
    };
    DrillResult {
        policy: "spatial-scans".into(),
        region: region.into(),
        drill_id: format!("d{}", if passed { "0a0a0a0a0a0a0a0" } else { "0f0f0f0f0f0f0f0" }),
        source_table: "SpatialScans".into(),
        recovery_point: Some(RecoveryPoint {
            arn: format!("arn:aws:backup:{region}:{}:recovery-point:3C1E0D5A", account.id),
            vault: "drctl-spatial-scans".into(),
            created: "2026-11-23T22:00:00Z".into(),
            backup_job_id: Some("4A7B1C2D-BACKUP".into()),
            created_at: SystemTime::now(),
            completed_at: None,
        }),
        copy_job_id: (region != support::REGION).then(|| "9E8D7C6B-COPY".to_string()),
        restore_job_id: Some(format!("RESTORE-{region}")),
        scratch_table: Some(format!("drctl-drill-spatial-scans-{region}")),
        checks: vec![check("status", true, "ACTIVE 3s after the restore started", &[("seconds_to_active", 3)]), item_count],
        rto: Some(Rto { restore_to_active_seconds: 3.0, measured_seconds: 12.0, objective_seconds: 3600, met: true }),
        rpo: Some(Rpo { measured_seconds: 1.0, objective_seconds: 8 * 3600, met: true }),
        gaps: vec![Gap {
            setting: "point_in_time_recovery".into(),
            source: "enabled".into(),
            restored: "disabled".into(),
            action: "aws dynamodb update-continuous-backups --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true".into(),
        }],
        reference: None,
        scratch_cleanup: Cleanup::Deleted,
        canary_cleanup: Some("removed".into()),
        error: None,
        no_recovery_point: false,
        interrupted: false,
        verdict: if passed { Verdict::Passed } else { Verdict::Failed },
        reasons: if passed { Vec::new() } else { vec!["item_count: 50 items restored, 61 in the source".into()] },
    }
}

fn attribute<'a>(envelope: &'a Value, name: &str) -> &'a Value {
    assert_eq!(envelope["MessageAttributes"][name]["Type"], "String", "{envelope}");
    &envelope["MessageAttributes"][name]["Value"]
}

#[tokio::test]
async fn a_passed_and_a_failed_drill_reach_a_subscribed_queue_with_body_and_attributes() {
    let account = support::account().await;
    let policy = spatial_scans();
    bootstrap(&account, &policy).await;
    let topic_arn = notify::topic_arn(&account.aws, support::REGION, "dr-announcements").await.unwrap();
    assert_eq!(topic_arn, format!("arn:aws:sns:us-east-1:{}:dr-announcements", account.id));
    let queue = subscribed_queue(&account, &topic_arn).await;

    let change_sets = [ChangeSetRecord {
        stack: "drctl-spatial-scans".into(),
        region: support::REGION.into(),
        change_set_id: Some("arn:aws:cloudformation:us-east-1:1:changeSet/drctl-apply-0123/abc".into()),
    }];
    let passed = [drill(&account, support::REGION, true), drill(&account, support::DR_REGION, true)];
    let failed = [drill(&account, support::REGION, true), drill(&account, support::DR_REGION, false)];
    let announce =
        |drills| Announcement { policy: &policy, commit: Some(COMMIT), content_hash: "c0ffee", change_sets: &change_sets, drills };
    let first = notify::announce(&account.aws, &announce(&passed)).await.unwrap();
    let second = notify::announce(&account.aws, &announce(&failed)).await.unwrap();

    let envelopes = receive(&account, &queue, 2).await;
    let by_id = |id: &str| envelopes.iter().find(|e| e["MessageId"] == id).unwrap_or_else(|| panic!("{id} not in {envelopes:#?}"));
    let (ok, bad) = (by_id(&first), by_id(&second));

    assert_eq!(ok["TopicArn"], topic_arn.as_str());
    assert_eq!(ok["Subject"], "drctl PASSED spatial-scans: RTO 12s / 1h target (us-east-1, us-west-2)");
    assert_eq!(
        (attribute(ok, "verdict"), attribute(ok, "policy"), attribute(ok, "environment")),
        (&"passed".into(), &"spatial-scans".into(), &"prod".into())
    );
    let body: Value = serde_json::from_str(ok["Message"].as_str().unwrap()).unwrap();
    assert_eq!(body["format_version"], 1);
    assert_eq!(
        (&body["verdict"], &body["policy"], &body["owner"], &body["table"]),
        (&"passed".into(), &"spatial-scans".into(), &"team-3d".into(), &"SpatialScans".into())
    );
    assert_eq!((&body["commit"], &body["content_hash"]), (&COMMIT.into(), &"c0ffee".into()));
    let stacks: Vec<(&str, &Value)> =
        body["stacks"].as_array().unwrap().iter().map(|s| (s["stack"].as_str().unwrap(), &s["change_set_id"])).collect();
    assert_eq!(
        stacks,
        [("drctl-spatial-scans-dr-us-west-2", &Value::Null), ("drctl-spatial-scans", &change_sets[0].change_set_id.clone().into())]
    );
    assert_eq!(body["rto"]["objective_seconds"], 3600);
    assert_eq!(body["rto"]["measured_seconds"], 12.0);
    let dr = &body["drills"][1];
    assert_eq!(
        (&dr["region"], &dr["copy_job_id"], &dr["restore_job_id"]),
        (&"us-west-2".into(), &"9E8D7C6B-COPY".into(), &"RESTORE-us-west-2".into())
    );
    assert_eq!(dr["backup_job_id"], "4A7B1C2D-BACKUP");
    assert_eq!(dr["scratch_table"], "drctl-drill-spatial-scans-us-west-2");
    assert_eq!(dr["checks"][1]["numbers"]["restored"], 61);
    assert_eq!(dr["post_restore_gaps"][0]["setting"], "point_in_time_recovery");
    assert_eq!(dr["cleanup"]["scratch_table"]["outcome"], "deleted");

    assert_eq!(bad["Subject"], "drctl FAILED spatial-scans: RTO 12s / 1h target (us-east-1, us-west-2)");
    assert_eq!(attribute(bad, "verdict"), "failed");
    let body: Value = serde_json::from_str(bad["Message"].as_str().unwrap()).unwrap();
    assert_eq!(body["verdict"], "failed");
    assert_eq!(body["reasons"], serde_json::json!(["us-west-2: item_count: 50 items restored, 61 in the source"]));
    assert_eq!((&body["drills"][0]["verdict"], &body["drills"][1]["verdict"]), (&"passed".into(), &"failed".into()));
    assert_eq!(body["drills"][1]["checks"][1]["passed"], false);
}

#[tokio::test]
async fn a_throttled_publish_is_retried_and_delivered() {
    let account = support::account().await;
    let policy = spatial_scans();
    bootstrap(&account, &policy).await;
    let topic_arn = notify::topic_arn(&account.aws, support::REGION, "dr-announcements").await.unwrap();
    let queue = subscribed_queue(&account, &topic_arn).await;
    account.inject_fault(Fault::throttle("sns", "Publish").times(2));
    let aws = account.aws_with_attempts(4).await;
    let drills = [drill(&account, support::REGION, true)];

    let announcement = Announcement { policy: &policy, commit: None, content_hash: "c0ffee", change_sets: &[], drills: &drills };
    let id = notify::announce(&aws, &announcement).await.unwrap();

    let fired: u64 = account.faults().iter().map(|f| f["fired"].as_u64().unwrap_or(0)).sum();
    assert_eq!(fired, 2, "{:#?}", account.faults());
    assert_eq!(account.calls().of("sns/Publish"), 3);
    let envelopes = receive(&account, &queue, 1).await;
    assert_eq!(envelopes[0]["MessageId"], id.as_str());
    assert_eq!(envelopes[0]["Subject"], "drctl PASSED spatial-scans: RTO 12s / 1h target (us-east-1)");
    let body: Value = serde_json::from_str(envelopes[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(body["commit"], Value::Null);
}

#[tokio::test]
async fn a_topic_name_without_a_bootstrap_is_an_error_saying_to_run_it() {
    let account = support::account().await;
    let error = notify::topic_arn(&account.aws, support::REGION, "dr-announcements").await.unwrap_err();
    assert!(matches!(error, NotifyError::TopicNotFound { .. }), "{error:?}");
    assert!(error.to_string().contains("run `drctl bootstrap`"), "{error}");
    let arn = "arn:aws:sns:eu-west-1:111122223333:elsewhere";
    assert_eq!(notify::topic_arn(&account.aws, support::REGION, arn).await.unwrap(), arn, "a full ARN is taken as is");
}
