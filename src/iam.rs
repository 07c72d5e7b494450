//! The IAM policies of drctl's own identities, scoped to the current
//! policies: what `drctl iam-policy` prints.
//!
//! Three identities take part (docs/security.md):
//! - whoever runs `drctl bootstrap` once per region (an administrator): it
//!   creates the CloudFormation service role and the boundary of the
//!   backup roles, so no other identity needs an IAM write right;
//! - the apply identity (`drctl reconcile`, `verify`, `watch`, `status`,
//!   `gc`): it executes only the change sets it named `drctl-apply-*`, with
//!   the service role, and holds no right to create or change a role;
//! - the plan identity of pull requests (`reconcile --dry-run`): it may
//!   create, read and delete `drctl-preview-*` change sets and nothing that
//!   changes a resource.
//!
//! Every ARN is written in the partition of the policies' regions, so the
//! policy matches in China and GovCloud regions too.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::plan::changeset::{APPLY_PREFIX, PREVIEW_PREFIX};
use crate::policy::model::{Check, Reference};
use crate::policy::{Checked, TablePolicy};
use crate::render::{BOOTSTRAP_STACK, MANAGED_BY_TAG, MANAGED_BY_VALUE};

/// The IAM path of the CloudFormation service role `drctl bootstrap` creates.
pub const SERVICE_ROLE_PATH: &str = "/drctl/cloudformation/";
/// The IAM path of every AWS Backup role a policy stack creates.
pub const BACKUP_ROLE_PATH: &str = "/drctl/backup/";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IamError {
    #[error("account {0} is not declared in desired/_accounts.yaml")]
    UndeclaredAccount(String),
    #[error("account {0} has no role: drctl acts there as itself (ask without an account)")]
    AccountWithoutRole(String),
    #[error(
        "the policies span AWS partitions ({found}): one IAM policy cannot name resources in several; keep each partition's policies (and drctl identity) apart"
    )]
    MixedPartitions { found: String },
}

/// The AWS partition of `region`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// What the printed policy is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub partition: &'static str,
    /// ARNs of the source tables (account left as `*`).
    pub tables: Vec<String>,
    /// ARNs of the source tables whose drills write a canary item.
    pub canary_tables: Vec<String>,
    /// Those of `canary_tables` whose canary right is limited to drctl's
    /// own keys (string partition keys, read from the tables).
    pub canary_keyed_tables: Vec<String>,
    /// ARNs of the source tables whose data checks compare with
    /// point-in-time exports.
    pub exported_tables: Vec<String>,
    /// ARNs of the topics drctl announces on.
    pub topics: Vec<String>,
    /// The DynamoDB state table, when the state lives there.
    pub state_table: Option<String>,
}

impl Scope {
    /// The scope of `policies` (all in one partition); `state_table` names the
    /// DynamoDB state store's table.
    pub fn of<'a>(policies: impl IntoIterator<Item = &'a TablePolicy>, state_table: Option<&str>) -> Result<Scope, IamError> {
        let policies: Vec<&TablePolicy> = policies.into_iter().collect();
        let partitions: BTreeSet<&str> =
            policies.iter().flat_map(|p| crate::plan::policy_regions(p)).map(|region| partition(&region)).collect();
        if partitions.len() > 1 {
            return Err(IamError::MixedPartitions { found: partitions.into_iter().collect::<Vec<_>>().join(", ") });
        }
        let partition = partitions.into_iter().next().unwrap_or("aws");
        let table = |p: &TablePolicy| table_arn(partition, p);
        let sorted = |items: Vec<String>| items.into_iter().collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>();
        let canary = |p: &&&TablePolicy| p.spec.verify.checks.iter().any(|c| matches!(c, Check::Canary(true)));
        let exported = |p: &&&TablePolicy| {
            let verify = &p.spec.verify;
            verify.has_data_checks() && verify.reference_for(&p.spec.backup) == Reference::PointInTime
        };
        let topic = |p: &TablePolicy| {
            let topic = &p.spec.notify.sns_topic;
            if topic.starts_with("arn:") { topic.clone() } else { format!("arn:{partition}:sns:*:*:{topic}") }
        };
        Ok(Scope {
            partition,
            tables: sorted(policies.iter().map(|p| table(p)).collect()),
            canary_tables: sorted(policies.iter().filter(canary).map(|p| table(p)).collect()),
            canary_keyed_tables: Vec::new(),
            exported_tables: sorted(policies.iter().filter(exported).map(|p| table(p)).collect()),
            topics: sorted(policies.iter().map(|p| topic(p)).collect()),
            state_table: state_table.map(|t| format!("arn:{partition}:dynamodb:*:*:table/{t}")),
        })
    }

    /// Limits the canary's write right on the tables of `policies` to items
    /// whose partition key is drctl's (`drctl-canary#…`): for tables whose
    /// partition key is a string, which only the table itself can tell.
    pub fn with_canary_keys<'a>(mut self, policies: impl IntoIterator<Item = &'a TablePolicy>) -> Scope {
        let keyed: BTreeSet<String> = policies.into_iter().map(|p| table_arn(self.partition, p)).collect();
        self.canary_keyed_tables = self.canary_tables.iter().filter(|t| keyed.contains(*t)).cloned().collect();
        self
    }

    fn stacks(&self) -> String {
        format!("arn:{}:cloudformation:*:*:stack/drctl-*/*", self.partition)
    }

    fn bootstrap_stack(&self) -> String {
        format!("arn:{}:cloudformation:*:*:stack/{BOOTSTRAP_STACK}/*", self.partition)
    }

    fn role(&self, path: &str) -> String {
        format!("arn:{}:iam::*:role{path}*", self.partition)
    }

    fn scratch_tables(&self) -> String {
        format!("arn:{}:dynamodb:*:*:table/{}*", self.partition, crate::drill::scratch::SCRATCH_PREFIX)
    }
}

/// The ARN of `policy`'s table, any account.
fn table_arn(partition: &str, policy: &TablePolicy) -> String {
    format!("arn:{partition}:dynamodb:{}:*:table/{}", policy.spec.region, policy.spec.table)
}

/// The policy of the pull-request plan identity: reads, and change sets
/// named `drctl-preview-*` it may create, read and delete but never run.
pub fn dry_run_policy(scope: &Scope) -> Value {
    document(dry_run_statements(scope))
}

/// The policy of the apply identity: the dry run's rights, plus executing
/// its own `drctl-apply-*` change sets with the service role, drills, state,
/// announcements and garbage collection.
pub fn apply_policy(scope: &Scope) -> Value {
    let mut statements = dry_run_statements(scope);
    statements.extend(apply_statements(scope));
    statements.extend(drill_statements(scope));
    statements.extend(gap_statements(scope));
    document(statements)
}

/// The valid policies whose calls one identity makes: drctl's own
/// (`account` `None`: the policies without `spec.account`, or naming an
/// account declared without a role), or the role drctl assumes in
/// `account`.
pub fn policies_of<'a>(checked: &'a Checked, account: Option<&str>) -> Result<Vec<&'a TablePolicy>, IamError> {
    if let Some(id) = account {
        let declared = checked.account(id).ok_or_else(|| IamError::UndeclaredAccount(id.to_string()))?;
        if declared.role.is_none() {
            return Err(IamError::AccountWithoutRole(id.to_string()));
        }
    }
    Ok(checked.valid().map(|p| &p.policy).filter(|p| checked.reached_by_role(p.spec.account.as_deref()) == account).collect())
}

/// The roles drctl's own identity assumes: every declared account's role,
/// or for a dry run its plan role.
pub fn assumed_roles(checked: &Checked, dry_run: bool) -> Vec<String> {
    let accounts = checked.accounts.iter().flat_map(|a| &a.accounts.accounts);
    accounts.filter_map(|a| if dry_run { a.for_plan().role } else { a.role.clone() }).collect()
}

/// `policy` with the right to assume `roles` (drctl's first hop into the
/// accounts of `desired/_accounts.yaml`); unchanged when there are none.
pub fn with_assume_roles(mut policy: Value, roles: &[String]) -> Value {
    if let (Some(statements), Some(statement)) =
        (policy["Statement"].as_array_mut(), allow_on("AssumeAccountRoles", &["sts:AssumeRole"], roles))
    {
        statements.push(statement);
    }
    policy
}

/// An Allow statement on `resources`, or none when there are none (IAM
/// refuses a statement without a resource).
fn allow_on(sid: &str, actions: &[&str], resources: &[String]) -> Option<Value> {
    (!resources.is_empty()).then(|| json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources }))
}

fn document(statements: Vec<Value>) -> Value {
    json!({ "Version": "2012-10-17", "Statement": statements })
}

fn dry_run_statements(scope: &Scope) -> Vec<Value> {
    let mut statements = vec![
        // gc and status find drctl's stacks by listing: DescribeStacks
        // without a stack name authorizes on `*`.
        json!({ "Sid": "ListStacks", "Effect": "Allow", "Action": ["cloudformation:DescribeStacks"], "Resource": "*" }),
        json!({
            "Sid": "ReadDrctlStacks",
            "Effect": "Allow",
            "Action": ["cloudformation:GetTemplate", "cloudformation:DescribeChangeSet", "cloudformation:ListChangeSets"],
            "Resource": scope.stacks()
        }),
        json!({
            "Sid": "PreviewChangeSets",
            "Effect": "Allow",
            "Action": ["cloudformation:CreateChangeSet", "cloudformation:DeleteChangeSet"],
            "Resource": scope.stacks(),
            "Condition": { "StringLike": { "cloudformation:ChangeSetName": format!("{PREVIEW_PREFIX}*") } }
        }),
        // Copies need AWS Backup's advanced DynamoDB features: the plan checks them.
        json!({ "Sid": "ReadBackupSettings", "Effect": "Allow", "Action": ["backup:DescribeRegionSettings"], "Resource": "*" }),
        // The dry run counts the account's vaults and plans against AWS
        // Backup's quotas; both list actions take no resource.
        json!({
            "Sid": "CountBackupQuotaUse",
            "Effect": "Allow",
            "Action": ["backup:ListBackupPlans", "backup:ListBackupVaults"],
            "Resource": "*"
        }),
        // ... and reads the limits the account applied to them (Service
        // Quotas' list takes no resource).
        json!({ "Sid": "ReadAppliedBackupQuotas", "Effect": "Allow", "Action": ["servicequotas:ListServiceQuotas"], "Resource": "*" }),
    ];
    statements.extend(allow_on("ReadPointInTimeRecovery", &["dynamodb:DescribeContinuousBackups"], &scope.tables));
    statements
}

/// Applying: CloudFormation runs the change sets with the service role, so
/// the caller needs no right on vaults, plans or roles, only to hand that
/// one role to CloudFormation.
fn apply_statements(scope: &Scope) -> Vec<Value> {
    let mut statements = vec![
        json!({
            "Sid": "CreateOwnChangeSetsWithTheServiceRole",
            "Effect": "Allow",
            "Action": ["cloudformation:CreateChangeSet"],
            "Resource": scope.stacks(),
            "Condition": {
                "StringLike": { "cloudformation:ChangeSetName": format!("{APPLY_PREFIX}*") },
                "ArnLike": { "cloudformation:RoleArn": scope.role(SERVICE_ROLE_PATH) }
            }
        }),
        // ExecuteChangeSet has no RoleArn condition key: the change set it
        // runs was created under the condition above.
        json!({
            "Sid": "ExecuteOwnChangeSets",
            "Effect": "Allow",
            "Action": ["cloudformation:ExecuteChangeSet"],
            "Resource": scope.stacks(),
            "Condition": { "StringLike": { "cloudformation:ChangeSetName": format!("{APPLY_PREFIX}*") } }
        }),
        json!({
            "Sid": "FollowAndCollectStacks",
            "Effect": "Allow",
            "Action": [
                "cloudformation:DescribeStackEvents",
                "cloudformation:DescribeStackResources",
                "cloudformation:DeleteChangeSet",
                "cloudformation:DeleteStack"
            ],
            "Resource": scope.stacks()
        }),
        // The bootstrap stack holds the service role itself: only whoever
        // runs `drctl bootstrap` changes it.
        json!({
            "Sid": "NeverChangeTheBootstrap",
            "Effect": "Deny",
            "Action": [
                "cloudformation:ExecuteChangeSet",
                "cloudformation:DeleteStack",
                "cloudformation:UpdateStack",
                "cloudformation:CreateStack",
                "cloudformation:SetStackPolicy",
                "cloudformation:UpdateTerminationProtection"
            ],
            "Resource": scope.bootstrap_stack()
        }),
        json!({
            "Sid": "PassTheServiceRoleToCloudFormation",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": scope.role(SERVICE_ROLE_PATH),
            "Condition": { "StringEquals": { "iam:PassedToService": "cloudformation.amazonaws.com" } }
        }),
        json!({
            "Sid": "PassBackupRolesToAwsBackup",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": scope.role(BACKUP_ROLE_PATH),
            "Condition": { "StringEquals": { "iam:PassedToService": "backup.amazonaws.com" } }
        }),
    ];
    statements.extend(allow_on("PointInTimeRecovery", &["dynamodb:UpdateContinuousBackups"], &scope.tables));
    statements.extend(allow_on("Announcements", &["sns:Publish", "sns:GetTopicAttributes"], &scope.topics));
    // The state table and the drill history's table beside it.
    let state: Vec<String> = scope.state_table.iter().flat_map(|t| [t.clone(), crate::state::dynamodb::history_table(t)]).collect();
    statements.extend(allow_on("StateTable", &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:DescribeTable"], &state));
    statements
}

/// A restore drill: jobs in drctl's vaults on recovery points tagged as
/// drctl's (so the holder cannot restore, and then read, another team's
/// backup), reads of the source tables, the canary item where a policy
/// asks for one, and the scratch tables drctl restores into.
fn drill_statements(scope: &Scope) -> Vec<Value> {
    let p = scope.partition;
    let scratch = scope.scratch_tables();
    let mut statements = vec![
        json!({
            "Sid": "DrillBackupsIntoDrctlVaults",
            "Effect": "Allow",
            "Action": ["backup:StartBackupJob"],
            "Resource": format!("arn:{p}:backup:*:*:backup-vault:drctl-*")
        }),
        json!({
            "Sid": "DrillCopiesAndRestoresOfDrctlRecoveryPoints",
            "Effect": "Allow",
            // DescribeRecoveryPoint is authorized on the recovery point,
            // not the vault (the Service Authorization Reference for AWS Backup).
            "Action": ["backup:StartCopyJob", "backup:StartRestoreJob", "backup:DescribeRecoveryPoint"],
            "Resource": format!("arn:{p}:backup:*:*:recovery-point:*"),
            "Condition": { "StringEquals": { format!("aws:ResourceTag/{MANAGED_BY_TAG}"): MANAGED_BY_VALUE } }
        }),
        json!({
            "Sid": "DrillReadDrctlVaults",
            "Effect": "Allow",
            "Action": ["backup:DescribeBackupVault", "backup:ListRecoveryPointsByBackupVault"],
            "Resource": format!("arn:{p}:backup:*:*:backup-vault:drctl-*")
        }),
        // These job and listing calls take no resource-level permissions
        // in AWS Backup: `*` is the only resource they accept.
        json!({
            "Sid": "DrillJobReads",
            "Effect": "Allow",
            "Action": [
                "backup:DescribeBackupJob",
                "backup:DescribeCopyJob",
                "backup:DescribeRestoreJob",
                "backup:ListCopyJobs",
                "backup:ListRecoveryPointsByResource"
            ],
            "Resource": "*"
        }),
        json!({
            "Sid": "DrillScratchTables",
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeTable",
                "dynamodb:Scan",
                "dynamodb:Query",
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:TagResource",
                "dynamodb:ListTagsOfResource"
            ],
            "Resource": [scratch.clone(), format!("{scratch}/index/*")]
        }),
        json!({
            "Sid": "DeleteOnlyTaggedScratchTables",
            "Effect": "Allow",
            "Action": ["dynamodb:DeleteTable"],
            "Resource": scratch,
            "Condition": { "StringEquals": { format!("aws:ResourceTag/{}", crate::drill::scratch::SCRATCH_TAG): "true" } }
        }),
        json!({ "Sid": "FindScratchTables", "Effect": "Allow", "Action": ["dynamodb:ListTables"], "Resource": "*" }),
    ];
    let with_indexes: Vec<String> = scope.tables.iter().flat_map(|t| [t.clone(), format!("{t}/index/*")]).collect();
    let reads = ["dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem"];
    statements.extend(allow_on("DrillSourceReads", &reads, &with_indexes));
    // The canary is the only write to a source table. Its partition key is
    // drctl's (`drctl-canary#…`): where the key is a string (read from the
    // table, `--read-key-schemas`) dynamodb:LeadingKeys limits the right to
    // those items; number and binary keys cannot be told apart that way, so
    // there the right is limited by table.
    let canary = ["dynamodb:PutItem", "dynamodb:DeleteItem"];
    let by_table: Vec<String> = scope.canary_tables.iter().filter(|t| !scope.canary_keyed_tables.contains(t)).cloned().collect();
    statements.extend(allow_on("DrillCanaryItem", &canary, &by_table));
    if !scope.canary_keyed_tables.is_empty() {
        statements.push(json!({
            "Sid": "DrillCanaryItemByKey",
            "Effect": "Allow",
            "Action": canary,
            "Resource": scope.canary_keyed_tables,
            "Condition": {
                "ForAllValues:StringLike": {
                    "dynamodb:LeadingKeys": [format!("{}*", crate::drill::canary::CANARY_KEY_PREFIX)]
                }
            }
        }));
    }
    statements.extend(reference_statements(scope));
    statements
}

/// The point-in-time reference: exports of the tables that use it, into
/// drctl's bucket of each region (named by account and region), under
/// `drctl/` only, and only in a bucket of drctl's own account. The export
/// writes with the caller's rights (DynamoDB's documented S3 actions).
fn reference_statements(scope: &Scope) -> Vec<Value> {
    if scope.exported_tables.is_empty() {
        return Vec::new();
    }
    let p = scope.partition;
    let bucket = format!("arn:{p}:s3:::{}*", crate::drill::reference::export::BUCKET_PREFIX);
    let own_account = json!({ "StringEquals": { "aws:ResourceAccount": "${aws:PrincipalAccount}" } });
    let exports: Vec<String> = scope.exported_tables.iter().map(|t| format!("{t}/export/*")).collect();
    let mut statements = Vec::new();
    statements.extend(allow_on("DrillReferenceExports", &["dynamodb:ExportTableToPointInTime"], &scope.exported_tables));
    statements.extend(allow_on("DrillReferenceExportStatus", &["dynamodb:DescribeExport"], &exports));
    statements.push(json!({
        "Sid": "DrillReferenceObjects",
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectAcl", "s3:GetObject", "s3:DeleteObject"],
        "Resource": format!("{bucket}/{}*", crate::drill::reference::EXPORT_ROOT),
        "Condition": own_account
    }));
    statements.push(json!({
        "Sid": "DrillReferenceListing",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": bucket,
        "Condition": {
            "StringEquals": { "aws:ResourceAccount": "${aws:PrincipalAccount}" },
            "StringLike": { "s3:prefix": format!("{}*", crate::drill::reference::EXPORT_ROOT) }
        }
    }));
    statements
}

/// The reads a drill's post-restore gaps make, on the source tables and on
/// drctl's scratch tables. The sources' point-in-time recovery is read by
/// the plan already (`ReadPointInTimeRecovery`), so it is granted here for
/// the scratch tables alone: no statement is made redundant by another, and
/// every one is needed. Application Auto Scaling's Describe calls take no
/// resource-level permissions, hence `*`.
fn gap_statements(scope: &Scope) -> Vec<Value> {
    let scratch = scope.scratch_tables();
    let mut both = scope.tables.clone();
    both.push(scratch.clone());
    vec![
        json!({
            "Sid": "PostRestoreGaps",
            "Effect": "Allow",
            "Action": ["dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource", "dynamodb:GetResourcePolicy"],
            "Resource": both
        }),
        json!({
            "Sid": "PostRestoreGapsOfScratchBackups",
            "Effect": "Allow",
            "Action": ["dynamodb:DescribeContinuousBackups"],
            "Resource": scratch
        }),
        json!({
            "Sid": "PostRestoreGapsAutoScaling",
            "Effect": "Allow",
            "Action": ["application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies"],
            "Resource": "*"
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, table: &str) -> TablePolicy {
        let text = include_str!("../desired/spatial-scans.yaml").replace("spatial-scans", name).replace("SpatialScans", table);
        crate::policy::load::load("desired/x.yaml", text.as_bytes()).unwrap().policy
    }

    #[test]
    fn the_canary_right_is_limited_to_drctls_keys_on_the_tables_read_as_string_keyed() {
        let (scans, numbers) = (policy("scans", "Scans"), policy("numbers", "Numbers"));
        let scope = Scope::of([&scans, &numbers], None).unwrap().with_canary_keys([&scans]);
        let policy = apply_policy(&scope);
        let statement = |sid: &str| policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).cloned().unwrap();
        let keyed = statement("DrillCanaryItemByKey");
        assert_eq!(keyed["Resource"], json!(["arn:aws:dynamodb:us-east-1:*:table/Scans"]));
        assert_eq!(keyed["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"], json!(["drctl-canary#*"]));
        assert_eq!(statement("DrillCanaryItem")["Resource"], json!(["arn:aws:dynamodb:us-east-1:*:table/Numbers"]));
        let unread = apply_policy(&Scope::of([&scans], None).unwrap());
        assert!(unread["Statement"].as_array().unwrap().iter().all(|s| s["Sid"] != "DrillCanaryItemByKey"), "without reading, by table");
    }

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
    }
}
