//! The policy file, `apiVersion: drctl/v1`, `kind: TablePolicy`, as typed
//! data. Every struct refuses unknown fields: a typo in a DR policy must
//! fail review, not silently drop a protection.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::Duration;

/// One table's DR policy, as written in `desired/<name>.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "drctl TablePolicy (drctl/v1)")]
pub struct TablePolicy {
    /// Always `drctl/v1`.
    pub api_version: ApiVersion,
    /// Always `TablePolicy`.
    pub kind: Kind,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "drctl/v1")]
    V1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Kind {
    TablePolicy,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// `[a-z0-9-]{1,40}`, unique; stacks are named from it.
    #[schemars(regex(pattern = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"))]
    pub name: String,
    /// Shown in reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub environment: Environment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Prod,
    Staging,
    Dev,
    Qa,
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Prod => "prod",
            Self::Staging => "staging",
            Self::Dev => "dev",
            Self::Qa => "qa",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// An existing DynamoDB table (3-255 of `[A-Za-z0-9_.-]`).
    pub table: String,
    /// The table's AWS region, e.g. `us-east-1`.
    pub region: String,
    /// The table's AWS account (12 digits), declared in
    /// `desired/_accounts.yaml` with the role drctl assumes there. Absent:
    /// the account of drctl's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{12}$"))]
    pub account: Option<String>,
    pub backup: Backup,
    pub objectives: Objectives,
    pub verify: Verify,
    pub notify: Notify,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    /// AWS Backup schedule expression (UTC): `cron(M H DoM Mon DoW Y)` or `rate(N hours)`. Exactly one of `schedule` and `every`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Sugar for a regular schedule: a number of hours that divides 24, `1d` or `7d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Duration>,
    /// How long after the scheduled time a job may start (AWS default 8h; at least 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_window: Option<Duration>,
    /// How long a started job may run (AWS default 7d; longer than the start window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_window: Option<Duration>,
    /// How long recovery points are kept (DeleteAfterDays).
    pub retention: Duration,
    /// Move recovery points to cold storage after this long (needs AWS Backup's advanced DynamoDB backup); they are then kept at least 90 days more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_storage_after: Option<Duration>,
    /// DynamoDB point-in-time recovery on the table: `true` turns it on,
    /// `false` off; absent leaves the table's setting alone (drctl never
    /// turns off a protection nobody asked it to manage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time_recovery: Option<bool>,
    /// Cross-region copies of every recovery point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<Copy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<Vault>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Copy {
    /// The DR region the copy goes to; differs from the primary unless the
    /// copy goes to another account.
    pub region: String,
    /// Another account's vault to copy into (a central backup account,
    /// declared in `desired/_accounts.yaml`; the policy must name its own
    /// `spec.account`). Absent: the policy's own account, in a vault drctl
    /// creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{12}$"))]
    pub account: Option<String>,
    /// The vault in that account (`drctl bootstrap --backup-account` creates
    /// it); default `drctl-central`. Only with `account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<String>,
    /// How long the copies are kept there.
    pub retention: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_storage_after: Option<Duration>,
}

/// The vault `drctl bootstrap --backup-account` creates in a backup account.
pub const CENTRAL_VAULT: &str = "drctl-central";

impl Copy {
    /// Where the copy lands as `verify.regions` names it: its region, or
    /// `<account>/<region>` in another account.
    pub fn target(&self) -> String {
        match &self.account {
            Some(account) => format!("{account}/{}", self.region),
            None => self.region.clone(),
        }
    }

    /// The vault the copy lands in, in another account.
    pub fn central_vault(&self) -> Option<&str> {
        self.account.as_ref().map(|_| self.vault.as_deref().unwrap_or(CENTRAL_VAULT))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vault {
    /// A KMS key id, ARN or `alias/...` that encrypts the vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    /// AWS Backup Vault Lock: recovery points cannot be deleted before `min_retention` nor kept past `max_retention`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<Lock>,
    /// `false`: share the vault with the policies whose vault settings match, and the backup plan with those whose backup settings match (what lets thousands of tables fit AWS Backup's quotas). Absent or `true`: this policy's own vault and plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedicated: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub min_retention: Duration,
    pub max_retention: Duration,
    /// Compliance mode: after this grace period (at least 3d) the lock can no longer be removed. Absent: governance mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changeable_for: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    /// Recovery point objective: the most data, in time, that may be lost.
    pub rpo: Duration,
    /// Recovery time objective: the longest a restore may take.
    pub rto: Duration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// Re-prove the policy with a restore drill at least this often.
    pub every: Duration,
    /// Where drills run: the primary region and/or copy regions; a copy in
    /// another account as `<account>/<region>` (restored there).
    pub regions: Vec<String>,
    #[serde(default)]
    pub recovery_point: RecoveryPointChoice,
    /// Checks after `status: ACTIVE`, which always runs first.
    // Each check is a one-key map (`- sample: { items: 200 }`), not a YAML tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "yaml_serde::with::singleton_map_recursive")]
    #[schemars(with = "Vec<Check>")]
    pub checks: Vec<Check>,
    /// What `item_count`, `sample` and `fingerprint` compare the restore
    /// with: `point-in-time` (exports of the source at the edges of the
    /// backup's consistency window; needs PITR) or `source` (the table as it
    /// is when the checks run). Default: `point-in-time` when the policy
    /// turns PITR on, else `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    /// The table takes no writes, so comparing with it as it is proves the
    /// restore (silences the warning for data checks against `source`).
    #[serde(default, rename = "static", skip_serializing_if = "std::ops::Not::not")]
    pub static_table: bool,
    /// Without PITR: skip items whose attribute says they changed since the
    /// recovery point (compared against the live source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_since: Option<ChangedSince>,
}

impl Verify {
    /// The reference the data checks use, the default resolved.
    pub fn reference_for(&self, backup: &Backup) -> Reference {
        self.reference.unwrap_or(match backup.point_in_time_recovery {
            Some(true) => Reference::PointInTime,
            _ => Reference::Source,
        })
    }

    /// Whether any check compares data with a reference.
    pub fn has_data_checks(&self) -> bool {
        self.checks.iter().any(|c| matches!(c, Check::ItemCount(_) | Check::Sample(_) | Check::Fingerprint(_)))
    }
}

/// What data checks compare a restore with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Reference {
    /// Point-in-time exports of the source at both edges of the backup's
    /// consistency window.
    PointInTime,
    /// The source table as it is when the checks run.
    Source,
}

impl Reference {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PointInTime => "point-in-time",
            Self::Source => "source",
        }
    }
}

/// An attribute holding when an item last changed: a number of seconds
/// since the Unix epoch, or an RFC 3339 string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangedSince {
    pub attribute: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RecoveryPointChoice {
    /// Take a backup now and restore it.
    #[default]
    OnDemand,
    /// Restore the newest existing recovery point.
    Latest,
}

/// One check of a restored table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// Keys, attribute types, GSIs, LSIs and SSE equal the source's.
    Schema(SchemaCheck),
    /// Exact item count within a tolerance of the source's.
    ItemCount(ItemCountCheck),
    /// Items of the restored table equal, byte for byte, the source's.
    Sample(SampleCheck),
    /// A marker item written before the backup must be in the restore.
    Canary(bool),
    /// A key lookup with expectations.
    Query(QueryCheck),
    /// A full, order-independent content hash equal to the source's.
    Fingerprint(FingerprintCheck),
}

impl Check {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Schema(_) => "schema",
            Self::ItemCount(_) => "item_count",
            Self::Sample(_) => "sample",
            Self::Canary(_) => "canary",
            Self::Query(_) => "query",
            Self::Fingerprint(_) => "fingerprint",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SchemaCheck {
    MatchSource,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FingerprintCheck {
    Match,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemCountCheck {
    /// Allowed difference, as a percentage like `1%` (default `0%`).
    #[serde(default)]
    pub tolerance: Percent,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleCheck {
    /// How many items to compare (1 to 10000).
    pub items: u32,
    /// Report the primary keys of differing items as they are. Off by
    /// default: keys are often personal data and the report goes to SNS,
    /// the state and pull requests, so each key is shown as a keyed hash.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub show_keys: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryCheck {
    /// Key attribute values: the partition key, and optionally the sort key.
    pub key: BTreeMap<String, KeyValue>,
    /// Query a global or local secondary index instead of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    pub expect: QueryExpect,
}

/// A key attribute value: a string (`S`) or a number (`N`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum KeyValue {
    String(String),
    Number(i64),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryExpect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// A topic name (a topic of the `drctl-bootstrap` stack) or a full SNS topic ARN.
    pub sns_topic: String,
}

/// A percentage written `1%` or `0.5%`, kept in hundredths of a percent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Percent {
    basis_points: u32,
}

impl Percent {
    pub fn basis_points(self) -> u32 {
        self.basis_points
    }
    pub fn as_fraction(self) -> f64 {
        f64::from(self.basis_points) / 10_000.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, hundredths) = (self.basis_points / 100, self.basis_points % 100);
        match hundredths {
            0 => write!(f, "{whole}%"),
            h if h % 10 == 0 => write!(f, "{whole}.{}%", h / 10),
            h => write!(f, "{whole}.{h:02}%"),
        }
    }
}

impl std::str::FromStr for Percent {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || format!("`{text}` is not a percentage: write one like `1%` or `0.5%`, from 0% to 100%");
        let number = text.strip_suffix('%').ok_or_else(error)?;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() || whole.len() > 3 || fraction.len() > 2 || !(whole.chars().chain(fraction.chars()).all(|c| c.is_ascii_digit()))
        {
            return Err(error());
        }
        let whole: u32 = whole.parse().map_err(|_| error())?;
        let fraction: u32 = if fraction.is_empty() { 0 } else { format!("{fraction:0<2}").parse().map_err(|_| error())? };
        let basis_points = whole * 100 + fraction;
        if basis_points > 10_000 {
            return Err(error());
        }
        Ok(Self { basis_points })
    }
}

impl Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": r"^[0-9]{1,3}(\.[0-9]{1,2})?%$" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trips() {
        for text in ["0%", "1%", "0.5%", "12.25%", "100%"] {
            assert_eq!(text.parse::<Percent>().unwrap().to_string(), text);
        }
        assert_eq!("0.5%".parse::<Percent>().unwrap().as_fraction(), 0.005);
        for bad in ["1", "%", "-1%", "101%", "1.234%", "1e3%", ".5%", "1.%x"] {
            assert!(bad.parse::<Percent>().is_err(), "{bad}");
        }
        // The item-count check compares in basis points.
        let points: Vec<u32> =
            ["0%", "0.5%", "1%", "12.25%", "100%"].iter().map(|t| t.parse::<Percent>().unwrap().basis_points()).collect();
        assert_eq!(points, [0, 50, 100, 1225, 10_000]);
    }

    /// Editors check a percentage against the schema's pattern, the same
    /// the parser accepts.
    #[test]
    fn the_schema_of_a_percentage_is_the_pattern_the_parser_accepts() {
        let schema = serde_json::to_value(schemars::schema_for!(Percent)).unwrap();
        assert_eq!(schema["type"], "string");
        let pattern = schema["pattern"].as_str().unwrap();
        assert_eq!(pattern, r"^[0-9]{1,3}(\.[0-9]{1,2})?%$");
    }

    /// A drill result names its reference as the policy file writes it.
    #[test]
    fn a_reference_is_named_as_the_policy_file_writes_it() {
        for reference in [Reference::PointInTime, Reference::Source] {
            assert_eq!(serde_json::to_value(reference).unwrap(), reference.as_str());
        }
        assert_eq!((Reference::PointInTime.as_str(), Reference::Source.as_str()), ("point-in-time", "source"));
    }
}
