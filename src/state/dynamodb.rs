//! The DynamoDB state table (`--state dynamodb://TABLE`).

/// State in a DynamoDB table with a string partition key `pk`.
#[derive(Debug)]
pub struct DynamoStore {}
