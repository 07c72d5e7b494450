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

pub fn run(args: &IamPolicyArgs) -> anyhow::Result<u8> {
    if !args.dry_run {
        anyhow::bail!("only `drctl iam-policy --dry-run` is available in this version: applying is not built yet");
    }
    let checked = policy::check(inputs(&read_policies(&args.source)?));
    let tables: Vec<String> = checked
        .valid()
        .map(|p| format!("arn:aws:dynamodb:{}:*:table/{}", p.policy.spec.region, p.policy.spec.table))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    println!("{}", serde_json::to_string_pretty(&dry_run_policy(&tables))?);
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
