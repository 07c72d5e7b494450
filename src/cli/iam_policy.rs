//! `drctl iam-policy`: the least-privilege IAM policy a mode of drctl needs,
//! scoped to the stacks, tables and topics of the current policies (built
//! by `crate::iam`). The apply policy covers everything but `--dry-run`:
//! reconcile (apply, drill, record, announce), verify, watch, status and gc.

use clap::Args;

use super::{SourceArgs, exit, inputs, read_policies};
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
    let scope = iam::Scope::of(checked.valid().map(|p| &p.policy), state_table.as_deref())?;
    let policy = if args.dry_run { iam::dry_run_policy(&scope) } else { iam::apply_policy(&scope) };
    println!("{}", serde_json::to_string_pretty(&policy)?);
    Ok(exit::OK)
}
