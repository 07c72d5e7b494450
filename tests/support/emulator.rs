//! The emulator, where it listens and its control API, and one test's own
//! AWS account on it.

use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use drctl::aws::{Aws, Clients};
use serde_json::{Value, json};

use super::{Calls, CfnFailure, Fault, JobKind, JobTarget, Progression, REGION};

const DEFAULT_URL: &str = "http://127.0.0.1:4599";

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

    /// Sets this account's AWS Backup quotas in the emulator (`backup_vaults`,
    /// `backup_plans`, ...): what it enforces and what Service Quotas
    /// reports as applied.
    pub fn set_quotas(&self, quotas: Value) -> Value {
        self.emulator.control("POST", "/_drctl/quotas", Some(&self.scoped(quotas)))
    }

    /// Adds a fault rule for this account; returns the rule as stored.
    pub fn inject_fault(&self, fault: Fault) -> Value {
        let body = self.scoped(Value::Object(fault.spec));
        self.emulator.control("POST", "/_drctl/faults", Some(&body))["faults"][0].clone()
    }

    /// Makes the emulator answer AssumeRole into this account's roles as
    /// AWS does: the role must exist and its trust policy admit the caller.
    pub fn require_role_trust(&self) {
        self.emulator.control("POST", "/_drctl/sts/trust", Some(&json!({ "account": self.id })));
    }

    /// Creates the IAM role `name` in this account (through CloudFormation)
    /// whose trust policy admits the account `trusted`; its ARN.
    pub async fn role_trusting(&self, name: &str, trusted: &str) -> String {
        let template = json!({ "Resources": { "Role": { "Type": "AWS::IAM::Role", "Properties": {
            "RoleName": name,
            "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:aws:iam::{trusted}:root") },
                "Action": "sts:AssumeRole",
            }]},
        }}}});
        let cfn = self.clients().cloudformation;
        let stack = format!("test-role-{name}");
        cfn.create_stack().stack_name(&stack).template_body(template.to_string()).send().await.unwrap();
        for _ in 0..100 {
            let described = cfn.describe_stacks().stack_name(&stack).send().await.unwrap();
            match described.stacks()[0].stack_status().map(|s| s.as_str()) {
                Some("CREATE_COMPLETE") => return format!("arn:aws:iam::{}:role/{name}", self.id),
                Some("CREATE_IN_PROGRESS") => tokio::time::sleep(Duration::from_millis(50)).await,
                other => panic!("the role stack {stack}: {other:?}"),
            }
        }
        panic!("the role stack {stack} was not created in time")
    }

    /// Turns on the emulator's IAM enforcement (resources and conditions)
    /// for this account's requests by principals matching `principal` (a
    /// glob on the user's, role's or session's ARN).
    pub fn enforce_iam(&self, principal: &str) {
        let body = serde_json::json!({ "account": self.id, "principal": principal });
        self.emulator.control("POST", "/_drctl/iam/enforce", Some(&body));
    }

    /// The requests of this account the enforcement denied, each with its
    /// principal, operation and the authorization that failed.
    pub fn iam_denials(&self) -> Vec<Value> {
        let listed = self.emulator.control("GET", &format!("/_drctl/iam/decisions?account={}&denied=1", self.id), None);
        listed["decisions"].as_array().cloned().unwrap_or_default()
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
