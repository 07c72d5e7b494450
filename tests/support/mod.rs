//! Test support for integration tests that talk to the local AWS emulator
//! (moto server + drctl's extension, `scripts/emulator start`) over the wire,
//! through the real AWS SDK.
//!
//! - [`Emulator`]: where it listens (`DRCTL_EMULATOR_URL`); a test fails,
//!   never skips, when it does not answer.
//! - [`TestAccount`]: a fresh random 12-digit account per test (STS
//!   AssumeRole), so tests run in parallel without seeing each other, with a
//!   [`drctl::aws::Aws`] for it and the control API scoped to it (faults,
//!   call counters, job life cycles, job and resource failures).
//! - Fixtures: tables with items, sorted scans, stacks deployed and waited
//!   for, and one poll loop with backoff and a deadline for everything.
//!
//! Use with `mod support;` from a test binary; not every binary uses every
//! helper.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::types::{Capability, StackStatus};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType, TableStatus, WriteRequest,
};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use drctl::aws::{Aws, Clients};
use serde_json::{Value, json};

pub const REGION: &str = "us-east-1";
pub const DR_REGION: &str = "us-west-2";
const DEFAULT_URL: &str = "http://127.0.0.1:4599";
/// How long a stack, change set, job or table may take on the emulator.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The local AWS emulator.
#[derive(Clone, Debug)]
pub struct Emulator {
    pub url: String,
}

impl Emulator {
    /// The emulator at `DRCTL_EMULATOR_URL` (default `http://127.0.0.1:4599`);
    /// panics, with what to do, when it does not answer.
    pub fn connect() -> Self {
        let url = std::env::var("DRCTL_EMULATOR_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| DEFAULT_URL.to_string());
        Self::at(&url)
    }

    /// The emulator at `url`; panics, with what to do, when it does not answer.
    pub fn at(url: &str) -> Self {
        let emulator = Self { url: url.trim_end_matches('/').to_string() };
        match emulator.http("GET", "/_drctl/health", None) {
            Ok((200, body)) if body["ok"] == json!(true) => emulator,
            Ok((status, body)) => panic!(
                "{} answered /_drctl/health with {status} {body}: is another server on that port? Run `scripts/emulator start`",
                emulator.url
            ),
            Err(err) => panic!(
                "the AWS emulator does not answer at {} ({err}); run `scripts/emulator start` \
                 (or set DRCTL_EMULATOR_URL; `scripts/test` starts it for you)",
                emulator.url
            ),
        }
    }

    /// A fresh account of its own, with clients that make one attempt per call.
    pub async fn account(&self) -> TestAccount {
        let id = random_account_id();
        let base = Credentials::new("testing", "testing", None, None, "drctl-test-base");
        let sts = aws_sdk_sts::Client::new(&sdk_config(&self.url, base, 1).await);
        let assumed = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{id}:role/drctl-test"))
            .role_session_name("drctl-test")
            .send()
            .await
            .unwrap_or_else(|err| {
                panic!("STS AssumeRole into account {id}: {}", aws_smithy_types::error::display::DisplayErrorContext(err))
            });
        let creds = assumed.credentials().expect("AssumeRole returns credentials");
        let credentials = Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_string()),
            None,
            "drctl-test-assumed",
        );
        let aws = Aws::from_config(sdk_config(&self.url, credentials.clone(), 1).await);
        let account = TestAccount { id, aws, credentials, emulator: self.clone() };
        account.fast_point_in_time();
        account
    }

    /// A request to the control API: `(status, JSON body)`. Minimal
    /// HTTP/1.1 over loopback (one request per connection).
    pub fn http(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        let authority = self.url.strip_prefix("http://").ok_or("DRCTL_EMULATOR_URL must be an http:// URL")?;
        let authority = authority.split('/').next().unwrap_or(authority);
        let addr = authority.to_socket_addrs().map_err(|e| e.to_string())?.next().ok_or("no address")?;
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        let payload = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        );
        stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").ok_or("a response without headers")?;
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("a response without a status")?;
        let value = if body.trim().is_empty() { Value::Null } else { serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))? };
        Ok((status, value))
    }

    /// A control call that must succeed.
    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        match self.http(method, path, body) {
            Ok((200, value)) => value,
            Ok((status, value)) => panic!("emulator control {method} {path}: {status} {value}"),
            Err(err) => panic!("emulator control {method} {path}: {err}"),
        }
    }
}

/// The SDK configuration tests use: the emulator's endpoint, `us-east-1`,
/// fixed credentials, `attempts` attempts per call with a short backoff,
/// and timeouts so a stuck emulator fails the test instead of hanging it.
pub async fn sdk_config(url: &str, credentials: Credentials, attempts: u32) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts.max(1))
                .with_initial_backoff(Duration::from_millis(20))
                .with_max_backoff(Duration::from_millis(200)),
        )
        .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(2)).operation_timeout(Duration::from_secs(60)).build())
        .load()
        .await
}

/// A random 12-digit account id, different for every call in the process
/// and (with overwhelming odds) across processes.
fn random_account_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    (100_000_000_000 + hasher.finish() % 900_000_000_000).to_string()
}

/// One test's own AWS account on the emulator.
pub struct TestAccount {
    pub id: String,
    /// Clients that make one attempt per call (emulator errors fail fast).
    pub aws: Aws,
    credentials: Credentials,
    pub emulator: Emulator,
}

/// What a job kind means to the control API.
#[derive(Clone, Copy, Debug)]
pub enum JobKind {
    Backup,
    Restore,
    Copy,
    /// A DynamoDB export to S3 (the point-in-time reference's).
    Export,
    All,
}

impl JobKind {
    fn as_str(self) -> &'static str {
        match self {
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
            JobKind::Copy => "copy",
            JobKind::Export => "export",
            JobKind::All => "all",
        }
    }
}

/// How jobs move through their states.
#[derive(Clone, Copy, Debug)]
pub enum Progression {
    /// A job has ended by the time its Start call answers (the default).
    Immediate,
    /// Every `steps` Describe calls move a job one state on.
    Manual { steps: u32 },
    /// One state per `seconds`.
    Time { seconds: f64 },
}

/// Which job a failure rule dooms.
#[derive(Clone, Debug)]
pub enum JobTarget {
    /// A backup or copy job of this resource (a table ARN).
    ResourceArn(String),
    /// A restore job into this table name.
    TargetTable(String),
    /// The next job of the kind, whatever it is.
    Next,
}

/// Which resource operation a CloudFormation failure rule fails.
#[derive(Clone, Copy, Debug)]
pub enum CfnAction {
    Create,
    Update,
    Any,
}

/// A CloudFormation resource failure rule (`POST /_drctl/cfn/fail`).
#[derive(Clone, Debug)]
pub struct CfnFailure {
    spec: serde_json::Map<String, Value>,
}

impl CfnFailure {
    /// Resources whose physical name or logical id matches `pattern` (shell
    /// glob, or `re:REGEX`) fail with `message` when created.
    pub fn new(pattern: &str, message: &str) -> Self {
        let mut spec = serde_json::Map::new();
        spec.insert("pattern".into(), json!(pattern));
        spec.insert("message".into(), json!(message));
        spec.insert("action".into(), json!("create"));
        Self { spec }
    }

    /// Only resources of this type (e.g. `AWS::Backup::BackupVault`).
    pub fn resource_type(mut self, resource_type: &str) -> Self {
        self.spec.insert("resource_type".into(), json!(resource_type));
        self
    }

    /// Fail on create, update or either.
    pub fn on(mut self, action: CfnAction) -> Self {
        let action = match action {
            CfnAction::Create => "create",
            CfnAction::Update => "update",
            CfnAction::Any => "any",
        };
        self.spec.insert("action".into(), json!(action));
        self
    }

    /// Fail only the next `n` matching operations (a roll-back's update of
    /// the same resource counts as one).
    pub fn times(mut self, n: u32) -> Self {
        self.spec.insert("times".into(), json!(n));
        self
    }
}

/// A fault rule for the control API (`POST /_drctl/faults`).
#[derive(Clone, Debug)]
pub struct Fault {
    spec: serde_json::Map<String, Value>,
}

impl Fault {
    /// Throttling on `service` (signing name) / `operation` (glob).
    pub fn throttle(service: &str, operation: &str) -> Self {
        Self::new(service, operation, "throttle")
    }

    /// A 500 `InternalFailure`.
    pub fn internal(service: &str, operation: &str) -> Self {
        Self::new(service, operation, "internal")
    }

    /// A 503 `ServiceUnavailable`.
    pub fn unavailable(service: &str, operation: &str) -> Self {
        Self::new(service, operation, "unavailable")
    }

    /// `latency_ms` added, then the call goes on.
    pub fn latency(service: &str, operation: &str, latency_ms: u64) -> Self {
        Self::new(service, operation, "latency").with("latency_ms", json!(latency_ms))
    }

    /// The call goes through; `field` is dropped from its JSON answer.
    pub fn omit(service: &str, operation: &str, field: &str) -> Self {
        Self::new(service, operation, "omit").with("field", json!(field))
    }

    fn new(service: &str, operation: &str, kind: &str) -> Self {
        let mut spec = serde_json::Map::new();
        spec.insert("service".into(), json!(service));
        spec.insert("operation".into(), json!(operation));
        spec.insert("kind".into(), json!(kind));
        Self { spec }
    }

    /// Fire on the next `n` matching calls only.
    pub fn times(self, n: u32) -> Self {
        self.with("times", json!(n))
    }

    /// Fire on a repeatable fraction of matching calls.
    pub fn probability(self, probability: f64, seed: u64) -> Self {
        self.with("probability", json!(probability)).with("seed", json!(seed))
    }

    /// The error code to answer with (e.g. `ProvisionedThroughputExceededException`).
    pub fn code(self, code: &str) -> Self {
        self.with("code", json!(code))
    }

    fn with(mut self, key: &str, value: Value) -> Self {
        self.spec.insert(key.into(), value);
        self
    }
}

/// The emulator's call counters for one account.
#[derive(Clone, Debug, Default)]
pub struct Calls {
    pub total: u64,
    /// By `service/Operation`, e.g. `cloudformation/DescribeStacks`.
    pub by_operation: HashMap<String, u64>,
}

impl Calls {
    pub fn of(&self, service_operation: &str) -> u64 {
        self.by_operation.get(service_operation).copied().unwrap_or(0)
    }
}

impl TestAccount {
    /// The clients of `region` (one attempt per call).
    pub fn region(&self, region: &str) -> Clients {
        self.aws.region(region)
    }

    /// The clients of the primary region, `us-east-1`.
    pub fn clients(&self) -> Clients {
        self.aws.region(REGION)
    }

    /// Another context for this account whose clients make `attempts`
    /// attempts per call (for retry tests).
    pub async fn aws_with_attempts(&self, attempts: u32) -> Aws {
        Aws::from_config(sdk_config(&self.emulator.url, self.credentials.clone(), attempts).await)
    }

    /// An SQS client of this account (drctl itself does not use SQS; tests
    /// read SNS deliveries through it).
    pub fn sqs(&self, region: &str) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(self.aws.config()).region(Region::new(region.to_string())).build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    fn scoped(&self, mut body: Value) -> Value {
        body["account"] = json!(self.id);
        body
    }

    /// Adds a fault rule for this account; returns the rule as stored.
    pub fn inject_fault(&self, fault: Fault) -> Value {
        let body = self.scoped(Value::Object(fault.spec));
        self.emulator.control("POST", "/_drctl/faults", Some(&body))["faults"][0].clone()
    }

    /// The fault rules of this account, with how often each fired.
    pub fn faults(&self) -> Vec<Value> {
        let listed = self.emulator.control("GET", &format!("/_drctl/faults?account={}", self.id), None);
        listed["faults"].as_array().cloned().unwrap_or_default()
    }

    pub fn clear_faults(&self) {
        self.emulator.control("DELETE", &format!("/_drctl/faults?account={}", self.id), None);
    }

    /// Calls this account made, per `service/Operation`.
    pub fn calls(&self) -> Calls {
        let report = self.emulator.control("GET", &format!("/_drctl/calls?account={}", self.id), None);
        let by_operation = report["calls"]
            .as_object()
            .map(|calls| calls.iter().map(|(op, n)| (op.clone(), n.as_u64().unwrap_or(0))).collect())
            .unwrap_or_default();
        Calls { total: report["total"].as_u64().unwrap_or(0), by_operation }
    }

    pub fn reset_calls(&self) {
        self.emulator.control("DELETE", &format!("/_drctl/calls?account={}", self.id), None);
    }

    /// How this account's jobs of `kind` move through their states.
    pub fn set_job_progression(&self, kind: JobKind, progression: Progression) {
        let mut body = json!({ "kind": kind.as_str() });
        match progression {
            Progression::Immediate => body["mode"] = json!("immediate"),
            Progression::Manual { steps } => {
                body["mode"] = json!("manual");
                body["steps"] = json!(steps);
            }
            Progression::Time { seconds } => {
                body["mode"] = json!("time");
                body["seconds"] = json!(seconds);
            }
        }
        self.emulator.control("POST", "/_drctl/jobs/progression", Some(&self.scoped(body)));
    }

    /// Makes a job of `kind` end FAILED with `StatusMessage` = `message`
    /// (also one already under way).
    pub fn fail_job(&self, kind: JobKind, target: JobTarget, message: &str) -> Value {
        let mut body = json!({ "kind": kind.as_str(), "message": message });
        match target {
            JobTarget::ResourceArn(arn) => body["resource_arn"] = json!(arn),
            JobTarget::TargetTable(table) => body["target_table"] = json!(table),
            JobTarget::Next => body["next"] = json!(true),
        }
        self.emulator.control("POST", "/_drctl/jobs/fail", Some(&self.scoped(body)))
    }

    /// Makes CloudFormation resources fail (see [`CfnFailure`]), so their
    /// stack rolls back.
    pub fn fail_cfn_resource(&self, failure: CfnFailure) -> Value {
        let body = self.scoped(Value::Object(failure.spec));
        self.emulator.control("POST", "/_drctl/cfn/fail", Some(&body))
    }

    /// Where the emulator cuts the contents of this account's next backups
    /// of `table` within their window: `start` (creation − margin),
    /// `middle` or `end` (completion + margin).
    pub fn cut_backups(&self, table: &str, at: &str, margin: Duration) {
        let body = json!({ "table": table, "at": at, "margin_seconds": margin.as_secs_f64() });
        self.emulator.control("POST", "/_drctl/backups/cut", Some(&self.scoped(body)));
    }

    /// Makes the next restore into `table` drop one item (`drop_item`) or
    /// change one attribute of one item (`flip_attribute`), chosen among
    /// the items whose partition key starts with `prefix`.
    pub fn corrupt_restore(&self, table: &str, kind: &str, prefix: &str) {
        let body = json!({ "table": table, "kind": kind, "times": 1, "hash_key_prefix": prefix });
        self.emulator.control("POST", "/_drctl/restores/corrupt", Some(&self.scoped(body)));
    }

    /// The corruptions the emulator applied, each naming its table and the
    /// key of the item it dropped or changed (DynamoDB JSON).
    pub fn corruptions(&self) -> Value {
        self.emulator.control("GET", &format!("/_drctl/restores/corrupt?account={}", self.id), None)
    }

    /// The most restore jobs of this account that ran at once since the last
    /// [`TestAccount::reset_restore_overlap`], counted by the emulator from
    /// each StartRestoreJob until it first reported the job ended.
    pub fn restore_overlap_peak(&self) -> u64 {
        let answer = self.emulator.control("GET", &format!("/_drctl/restores/overlap?account={}", self.id), None);
        answer["peak"].as_u64().expect("the emulator's overlap count")
    }

    /// Starts counting the restore overlap afresh (from what runs now).
    pub fn reset_restore_overlap(&self) {
        self.emulator.control("DELETE", &format!("/_drctl/restores/overlap?account={}", self.id), None);
    }

    /// Clears this account's faults, failures, counters and progressions.
    pub fn reset(&self) {
        self.emulator.control("POST", "/_drctl/reset", Some(&self.scoped(json!({}))));
        self.fast_point_in_time();
    }

    /// PITR serves any instant up to now in this account. AWS's
    /// `LatestRestorableDateTime` is "typically 5 minutes before the
    /// current time" (the emulator's default); a drill of a live table
    /// waits for it, which tests need not.
    fn fast_point_in_time(&self) {
        self.emulator.control("POST", "/_drctl/pitr", Some(&self.scoped(json!({ "lag_seconds": 0 }))));
    }

    /// The environment that points the `drctl` binary at this account on
    /// the emulator (no profile, no other credentials).
    pub fn cli_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.credentials.access_key_id().to_string()),
            ("AWS_SECRET_ACCESS_KEY", self.credentials.secret_access_key().to_string()),
            ("AWS_SESSION_TOKEN", self.credentials.session_token().unwrap_or_default().to_string()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ENDPOINT_URL", self.emulator.url.clone()),
            ("NO_COLOR", "1".to_string()),
            // The emulator cuts a backup at its job's start: a short margin
            // around the backup's window covers it (tests/live_tables.rs).
            ("DRCTL_CONSISTENCY_MARGIN_SECONDS", "1".to_string()),
        ]
    }

    /// A role ARN in this account for AWS Backup jobs (the emulator does not
    /// check it).
    pub fn backup_role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/drctl-backup", self.id)
    }

    pub fn table_arn(&self, region: &str, table: &str) -> String {
        format!("arn:aws:dynamodb:{region}:{}:table/{table}", self.id)
    }

    pub fn vault_arn(&self, region: &str, vault: &str) -> String {
        format!("arn:aws:backup:{region}:{}:backup-vault:{vault}", self.id)
    }
}

/// A fresh account on the emulator (the usual first line of a test).
pub async fn account() -> TestAccount {
    Emulator::connect().account().await
}

// ---------------------------------------------------------------------------
// Polling

/// Calls `probe` until it returns `Some`, with a short backoff (25 ms
/// doubling to 400 ms); panics naming `what` at the deadline.
pub async fn poll<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(25);
    loop {
        if let Some(done) = probe().await {
            return done;
        }
        if started.elapsed() >= deadline {
            panic!("{what}: not done after {deadline:?}");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(400));
    }
}

// ---------------------------------------------------------------------------
// DynamoDB fixtures

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

/// Waits until table `name` exists and is ACTIVE.
/// Turns on AWS Backup's advanced DynamoDB features (cross-region copies
/// need them), as an operator does once per account and region.
pub async fn enable_advanced_backup(backup: &aws_sdk_backup::Client) {
    backup.update_region_settings().resource_type_management_preference("DynamoDB", true).send().await.unwrap();
}

/// `drctl bootstrap` of every region the policies use, through the library:
/// the shared topics and the CloudFormation service role policy stacks are
/// deployed with.
pub async fn bootstrap<'a>(account: &TestAccount, policies: impl IntoIterator<Item = &'a drctl::policy::TablePolicy>) {
    for bootstrap in drctl::render::bootstraps(policies, None) {
        let (stack, outcome) = drctl::apply::bootstrap(&account.aws, &bootstrap, &drctl::apply::Progress::Quiet).await.unwrap();
        assert!(!outcome.is_failure(), "{} ({}): {outcome:?}", stack.name, stack.region);
    }
}

/// A table shaped like the state table `drctl bootstrap` creates.
pub async fn create_state_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
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

// ---------------------------------------------------------------------------
// CloudFormation fixtures

/// Whether a stack status is final (nothing `*_IN_PROGRESS`).
pub fn is_terminal(status: &StackStatus) -> bool {
    !status.as_str().ends_with("_IN_PROGRESS")
}

/// Polls DescribeStacks until `stack` reaches a terminal status; returns it.
pub async fn wait_stack(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> aws_sdk_cloudformation::types::Stack {
    poll(&format!("stack {stack} in a terminal status"), DEADLINE, || async {
        let out = cfn.describe_stacks().stack_name(stack).send().await.ok()?;
        let found = out.stacks().first()?.clone();
        found.stack_status().filter(|status| is_terminal(status)).map(|_| found.clone())
    })
    .await
}

/// Creates `stack` from `template_body` (CreateStack, IAM capabilities) and
/// waits for a terminal status, which it returns with the stack.
pub async fn deploy_stack(cfn: &aws_sdk_cloudformation::Client, stack: &str, template_body: &str) -> aws_sdk_cloudformation::types::Stack {
    cfn.create_stack()
        .stack_name(stack)
        .template_body(template_body)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap_or_else(|err| panic!("CreateStack {stack}: {}", aws_smithy_types::error::display::DisplayErrorContext(err)));
    wait_stack(cfn, stack).await
}

/// A stack output's value.
pub fn output<'a>(stack: &'a aws_sdk_cloudformation::types::Stack, key: &str) -> Option<&'a str> {
    stack.outputs().iter().find(|o| o.output_key() == Some(key)).and_then(|o| o.output_value())
}

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
