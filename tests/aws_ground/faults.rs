//! Faults injected by the emulator arrive as the SDK's errors, and its
//! standard retry rides out as many throttles as it has attempts.

use super::*;

use serde_json::json;
use support::{Fault, REGION};

#[tokio::test]
async fn throttling_on_cloudformation_reaches_the_client_as_throttling() {
    let account = support::account().await;
    let cfn = account.clients().cloudformation;
    account.inject_fault(Fault::throttle("cloudformation", "ListStacks").times(1));
    let err = cfn.list_stacks().send().await.unwrap_err();
    assert_eq!(drctl::aws::error_code(&err), Some("Throttling"));
    assert_eq!(err.into_service_error().meta().code(), Some("Throttling"));
    // Fired once: the next call goes through.
    cfn.list_stacks().send().await.unwrap();
    assert_eq!(account.calls().of("cloudformation/ListStacks"), 2);
}

#[tokio::test]
async fn throttling_on_dynamodb_reaches_the_client_as_throttling_exception() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    support::create_table(&dynamodb, "Hot", 1).await;
    account.inject_fault(Fault::throttle("dynamodb", "Scan"));
    let err = dynamodb.scan().table_name("Hot").send().await.unwrap_err().into_service_error();
    assert_eq!(err.meta().code(), Some("ThrottlingException"), "{err:?}");
    assert!(err.is_throttling_exception(), "the modelled variant: {err:?}");
    // Other operations and other accounts are not affected.
    dynamodb.describe_table().table_name("Hot").send().await.unwrap();
    let neighbour = support::account().await;
    let neighbour_db = neighbour.clients().dynamodb;
    support::create_table(&neighbour_db, "Hot", 1).await;
    neighbour_db.scan().table_name("Hot").send().await.unwrap();
    account.clear_faults();
    dynamodb.scan().table_name("Hot").send().await.unwrap();
}

/// The SDK's standard retry rides out two throttles in three attempts; the
/// emulator counted all three calls.
#[tokio::test]
async fn two_throttles_are_retried_to_success_within_three_attempts() {
    let account = support::account().await;
    let retrying = account.aws_with_attempts(3).await;
    let cfn = retrying.region(REGION).cloudformation;
    let dynamodb = retrying.region(REGION).dynamodb;
    support::create_table(&dynamodb, "Retried", 1).await;
    account.reset_calls();

    account.inject_fault(Fault::throttle("cloudformation", "DescribeStacks").times(2));
    account.inject_fault(Fault::throttle("dynamodb", "DescribeTable").times(2));
    let stacks = cfn.describe_stacks().send().await.unwrap();
    assert!(stacks.stacks().is_empty());
    let table = dynamodb.describe_table().table_name("Retried").send().await.unwrap();
    assert_eq!(table.table().and_then(|t| t.table_name()), Some("Retried"));

    let calls = account.calls();
    assert_eq!(calls.of("cloudformation/DescribeStacks"), 3, "{calls:?}");
    assert_eq!(calls.of("dynamodb/DescribeTable"), 3, "{calls:?}");
    assert_eq!(calls.total, 6, "{calls:?}");
    assert!(account.faults().iter().all(|f| f["fired"] == json!(2)), "{:?}", account.faults());

    // Three throttles exhaust three attempts.
    account.inject_fault(Fault::throttle("cloudformation", "DescribeStacks").times(3));
    let err = cfn.describe_stacks().send().await.unwrap_err();
    assert_eq!(drctl::aws::error_code(&err), Some("Throttling"));
    assert_eq!(account.calls().of("cloudformation/DescribeStacks"), 6);
}
