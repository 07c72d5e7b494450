//! `drctl iam-policy`: the least-privilege IAM policy a mode of drctl needs,
//! scoped to the stacks, tables and topics of the current policies. The
//! apply policy covers everything but `--dry-run`: reconcile (apply, drill,
//! record, announce), verify, watch, status and gc.

use clap::Args;
use serde_json::json;

use super::{SourceArgs, exit, inputs, read_policies};
use crate::policy;

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The policy for `drctl reconcile --dry-run` (read-only but for preview change sets).
    #[arg(long)]
    pub dry_run: bool,
    /// The state store the controller uses: a dynamodb://TABLE adds its table's rights.
    #[arg(long = "state", env = "DRCTL_STATE")]
    pub state: Option<String>,
}

/// What applying adds to a dry run. CloudFormation acts with the caller's
/// credentials, so the caller needs the rights on what the stacks hold:
/// vaults, plans and selections, the role AWS Backup assumes (named
/// `drctl-*` by CloudFormation from the stack name), the bootstrap topics.
fn apply_statements(tables: &[String], topics: &[String], state_table: Option<&str>) -> Vec<serde_json::Value> {
    let mut statements = vec![
        json!({
            "Sid": "ApplyChangeSets",
            "Effect": "Allow",
            "Action": ["cloudformation:ExecuteChangeSet", "cloudformation:DescribeStackEvents", "cloudformation:DescribeStackResources"],
            "Resource": "arn:aws:cloudformation:*:*:stack/drctl-*/*"
        }),
        json!({
            "Sid": "BackupObjects",
            "Effect": "Allow",
            "Action": [
                "backup:CreateBackupVault", "backup:DescribeBackupVault", "backup:PutBackupVaultNotifications",
                "backup:DeleteBackupVaultNotifications", "backup:PutBackupVaultLockConfiguration", "backup:TagResource",
                "backup:UntagResource", "backup:ListTags", "backup:CreateBackupPlan", "backup:UpdateBackupPlan",
                "backup:DeleteBackupPlan", "backup:GetBackupPlan", "backup:CreateBackupSelection",
                "backup:DeleteBackupSelection", "backup:GetBackupSelection", "backup-storage:MountCapsule"
            ],
            "Resource": "*"
        }),
        json!({
            "Sid": "VaultEncryption",
            "Effect": "Allow",
            "Action": ["kms:DescribeKey", "kms:CreateGrant"],
            "Resource": "*",
            "Condition": { "StringLike": { "kms:ViaService": "backup.*.amazonaws.com" } }
        }),
        json!({
            "Sid": "BackupRole",
            "Effect": "Allow",
            "Action": [
                "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRoleDescription", "iam:AttachRolePolicy",
                "iam:DetachRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:PassRole"
            ],
            "Resource": "arn:aws:iam::*:role/drctl-*"
        }),
    ];
    if !tables.is_empty() {
        statements.push(
            json!({ "Sid": "PointInTimeRecovery", "Effect": "Allow", "Action": ["dynamodb:UpdateContinuousBackups"], "Resource": tables }),
        );
        statements.extend(gap_statements(tables));
        statements.extend(drill_statements(tables));
    }
    if !topics.is_empty() {
        statements.push(json!({
            "Sid": "BootstrapTopicsAndAnnouncements",
            "Effect": "Allow",
            "Action": [
                "sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:TagResource", "sns:ListTagsForResource",
                "sns:Publish"
            ],
            "Resource": topics
        }));
    }
    statements.push(json!({
        "Sid": "GarbageCollection",
        "Effect": "Allow",
        "Action": ["cloudformation:ListChangeSets", "cloudformation:DeleteChangeSet", "cloudformation:DeleteStack"],
        "Resource": "arn:aws:cloudformation:*:*:stack/drctl-*/*"
    }));
    if let Some(table) = state_table {
        statements.push(json!({
            "Sid": "StateTable",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:DescribeTable"],
            "Resource": format!("arn:aws:dynamodb:*:*:table/{table}")
        }));
    }
    statements
}

/// What a restore drill does: jobs in drctl's vaults (Describe and List
/// calls of AWS Backup take no resource-level permissions), full reads of
/// the source tables, the canary item (the only write to a source table),
/// and the scratch tables it tags, reads and deletes.
fn drill_statements(tables: &[String]) -> Vec<serde_json::Value> {
    let scratch = format!("arn:aws:dynamodb:*:*:table/{}*", crate::drill::scratch::SCRATCH_PREFIX);
    vec![
        json!({
            "Sid": "DrillJobs",
            "Effect": "Allow",
            "Action": ["backup:StartBackupJob", "backup:StartCopyJob", "backup:StartRestoreJob"],
            "Resource": ["arn:aws:backup:*:*:backup-vault:drctl-*", "arn:aws:backup:*:*:recovery-point:*"]
        }),
        json!({
            "Sid": "DrillJobReads",
            "Effect": "Allow",
            "Action": [
                "backup:DescribeBackupJob", "backup:DescribeCopyJob", "backup:DescribeRestoreJob", "backup:ListCopyJobs",
                "backup:DescribeRecoveryPoint", "backup:ListRecoveryPointsByBackupVault", "backup:ListRecoveryPointsByResource",
                "backup:DescribeRegionSettings"
            ],
            "Resource": "*"
        }),
        json!({
            "Sid": "DrillSourceReadsAndCanary",
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem",
                "dynamodb:DeleteItem"
            ],
            "Resource": tables
        }),
        json!({
            "Sid": "DrillScratchTables",
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:TagResource",
                "dynamodb:ListTagsOfResource", "dynamodb:DeleteTable"
            ],
            "Resource": [scratch.clone(), format!("{scratch}/index/*")]
        }),
        json!({ "Sid": "FindScratchTables", "Effect": "Allow", "Action": ["dynamodb:ListTables"], "Resource": "*" }),
    ]
}

/// The reads a drill's post-restore gaps make, on the source tables and on
/// drctl's scratch tables. Application Auto Scaling's Describe calls take
/// no resource-level permissions, hence `*`.
fn gap_statements(tables: &[String]) -> Vec<serde_json::Value> {
    let mut resources: Vec<String> = tables.to_vec();
    resources.push(format!("arn:aws:dynamodb:*:*:table/{}*", crate::drill::scratch::SCRATCH_PREFIX));
    vec![
        json!({
            "Sid": "PostRestoreGaps",
            "Effect": "Allow",
            "Action": ["dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource", "dynamodb:GetResourcePolicy"],
            "Resource": resources
        }),
        json!({
            "Sid": "PostRestoreGapsAutoScaling",
            "Effect": "Allow",
            "Action": ["application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies"],
            "Resource": "*"
        }),
    ]
}

pub fn run(args: &IamPolicyArgs) -> anyhow::Result<u8> {
    let checked = policy::check(inputs(&read_policies(&args.source)?));
    let tables: Vec<String> = checked
        .valid()
        .map(|p| format!("arn:aws:dynamodb:{}:*:table/{}", p.policy.spec.region, p.policy.spec.table))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let topics: Vec<String> = checked
        .valid()
        .map(|p| &p.policy.spec.notify.sns_topic)
        .map(|topic| if topic.starts_with("arn:") { topic.clone() } else { format!("arn:aws:sns:*:*:{topic}") })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut policy = dry_run_policy(&tables);
    if !args.dry_run
        && let Some(statements) = policy["Statement"].as_array_mut()
    {
        let state_table = match &args.state {
            Some(location) => match crate::state::Location::parse(location)? {
                crate::state::Location::DynamoDb { table } => Some(table),
                crate::state::Location::File(_) => None,
            },
            None => None,
        };
        statements.extend(apply_statements(&tables, &topics, state_table.as_deref()));
    }
    println!("{}", serde_json::to_string_pretty(&policy)?);
    Ok(exit::OK)
}

/// Listing stacks needs `*`; everything that names a stack is limited to
/// drctl's own (`drctl-*`). DeleteStack is there only to remove the empty
/// REVIEW_IN_PROGRESS stack a CREATE preview leaves behind.
fn dry_run_policy(tables: &[String]) -> serde_json::Value {
    let mut statements = vec![
        json!({ "Sid": "ListStacks", "Effect": "Allow", "Action": ["cloudformation:DescribeStacks"], "Resource": "*" }),
        json!({
            "Sid": "PreviewChangeSets",
            "Effect": "Allow",
            "Action": [
                "cloudformation:GetTemplate",
                "cloudformation:CreateChangeSet",
                "cloudformation:DescribeChangeSet",
                "cloudformation:DeleteChangeSet",
                "cloudformation:DeleteStack"
            ],
            "Resource": "arn:aws:cloudformation:*:*:stack/drctl-*/*"
        }),
    ];
    if !tables.is_empty() {
        statements.push(json!({ "Sid": "ReadPointInTimeRecovery", "Effect": "Allow", "Action": ["dynamodb:DescribeContinuousBackups"], "Resource": tables }));
    }
    // Copies need AWS Backup's advanced DynamoDB features: the plan checks them.
    statements
        .push(json!({ "Sid": "ReadBackupSettings", "Effect": "Allow", "Action": ["backup:DescribeRegionSettings"], "Resource": "*" }));
    json!({ "Version": "2012-10-17", "Statement": statements })
}
