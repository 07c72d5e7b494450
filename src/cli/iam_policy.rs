//! `drctl iam-policy`: the least-privilege IAM policy a mode of drctl needs,
//! scoped to the stacks and tables of the current policies.

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
}

/// What applying adds to a dry run. CloudFormation acts with the caller's
/// credentials, so the caller needs the rights on what the stacks hold:
/// vaults, plans and selections, the role AWS Backup assumes (named
/// `drctl-*` by CloudFormation from the stack name), the bootstrap topics.
fn apply_statements(tables: &[String], topics: &[String]) -> Vec<serde_json::Value> {
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
    }
    if !topics.is_empty() {
        statements.push(json!({
            "Sid": "BootstrapTopics",
            "Effect": "Allow",
            "Action": ["sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:TagResource", "sns:ListTagsForResource"],
            "Resource": topics
        }));
    }
    statements
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
        .filter(|p| !p.policy.spec.notify.sns_topic.starts_with("arn:"))
        .map(|p| format!("arn:aws:sns:*:*:{}", p.policy.spec.notify.sns_topic))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut policy = dry_run_policy(&tables);
    if !args.dry_run
        && let Some(statements) = policy["Statement"].as_array_mut()
    {
        statements.extend(apply_statements(&tables, &topics));
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
    json!({ "Version": "2012-10-17", "Statement": statements })
}
