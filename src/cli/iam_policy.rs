//! `drctl iam-policy`: the least-privilege IAM policy a mode of drctl needs,
//! scoped to the stacks, tables and topics of the current policies (built
//! by `crate::iam`). The apply policy covers everything but `--dry-run`:
//! reconcile (apply, drill, record, announce), verify, watch, status and gc.
//!
//! With accounts (`desired/_accounts.yaml`), one policy per identity:
//! without `--account`, drctl's own (its account's policies, the state
//! store, and `sts:AssumeRole` on the roles it assumes); with
//! `--account ID`, the role drctl assumes in that account (its policies
//! only; the state store is reached by the first hop, not by the role).

use clap::Args;

use anyhow::Context;

use super::{AwsArgs, SourceArgs, exit, inputs, read_policies};
use crate::policy::TablePolicy;
use crate::{iam, policy};

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
    /// Read the key schema of each table whose drill writes a canary
    /// (DynamoDB DescribeTable) and, where its partition key is a string,
    /// limit the canary's write right to drctl's own keys
    /// (dynamodb:LeadingKeys). Without it the right is limited by table.
    #[arg(long)]
    pub read_key_schemas: bool,
    /// The policy of the role drctl assumes in this account (its `role`,
    /// or with `--dry-run` its `planRole`), scoped to its policies.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

pub fn run(args: &IamPolicyArgs) -> anyhow::Result<u8> {
    let checked = policy::check(inputs(&read_policies(&args.source)?));
    let state_table = match &args.state {
        Some(location) => match crate::state::Location::parse(location)? {
            crate::state::Location::DynamoDb { table } => Some(table),
            crate::state::Location::File(_) => None,
        },
        None => None,
    };
    let wanted = args.account.as_deref();
    let policies = iam::policies_of(&checked, wanted)?;
    let state_table = if wanted.is_some() { None } else { state_table };
    let mut scope = iam::Scope::of(policies.iter().copied(), state_table.as_deref())?;
    if args.read_key_schemas && !args.dry_run {
        anyhow::ensure!(wanted.is_none(), "--read-key-schemas reads the tables of drctl's own account only");
        let runtime = super::runtime()?;
        let keyed = runtime.block_on(string_keyed(&args.aws, policies.iter().copied()))?;
        scope = scope.with_canary_keys(keyed);
    }
    let mut policy = if args.dry_run { iam::dry_run_policy(&scope) } else { iam::apply_policy(&scope) };
    if wanted.is_none() {
        policy = iam::with_assume_roles(policy, &iam::assumed_roles(&checked, args.dry_run));
    }
    println!("{}", serde_json::to_string_pretty(&policy)?);
    Ok(exit::OK)
}

/// The policies whose table's partition key is a string, read from each
/// table; any table that cannot be read is an error (the policy would
/// otherwise be printed wider than asked).
async fn string_keyed<'a>(aws: &AwsArgs, policies: impl Iterator<Item = &'a TablePolicy>) -> anyhow::Result<Vec<&'a TablePolicy>> {
    let aws = aws.connect().await;
    let mut keyed = Vec::new();
    let writes_a_canary = |p: &&TablePolicy| p.spec.verify.checks.iter().any(|c| matches!(c, crate::policy::model::Check::Canary(true)));
    for policy in policies.filter(writes_a_canary) {
        let (table, region) = (&policy.spec.table, &policy.spec.region);
        let is_string = crate::drill::canary::partition_key_is_string(&aws.region(region).dynamodb, table)
            .await
            .with_context(|| format!("reading the key schema of {table} in {region} (policy {})", policy.metadata.name))?;
        if is_string {
            keyed.push(policy);
        }
    }
    Ok(keyed)
}
