//! What a test asks of the emulator's control API: how jobs progress and
//! which fail, CloudFormation resource failures, fault rules, and the
//! call counters it answers with.

use std::collections::HashMap;

use serde_json::{Value, json};

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
    pub(super) fn as_str(self) -> &'static str {
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
    pub(super) spec: serde_json::Map<String, Value>,
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
    pub(super) spec: serde_json::Map<String, Value>,
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
