//! `drctl iam-policy`: the least-privilege IAM policy a mode of drctl needs,
//! scoped to the stacks, tables and topics of the current policies (built
//! by `crate::iam`). The apply policy covers everything but `--dry-run`:
//! reconcile (apply, drill, record, announce), verify, watch, status and gc.

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
    let mut scope = iam::Scope::of(checked.valid().map(|p| &p.policy), state_table.as_deref())?;
    if args.read_key_schemas && !args.dry_run {
        let runtime = super::runtime()?;
        let keyed = runtime.block_on(string_keyed(&args.aws, checked.valid().map(|p| &p.policy)))?;
        scope = scope.with_canary_keys(keyed);
    }
    let policy = if args.dry_run { iam::dry_run_policy(&scope) } else { iam::apply_policy(&scope) };
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
