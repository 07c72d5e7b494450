//! `drctl status [--format text|json|markdown] [--detailed-exitcode]`: the
//! DR inventory of the policies at `--ref` against the state store.

use std::collections::BTreeSet;
use std::io::IsTerminal;

use clap::{Args, ValueEnum};

use super::{AwsArgs, SourceArgs, StateArgs, exit, inputs, read_policies};
use crate::policy::{self, Checked};
use crate::status;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub format: StatusFormat,
    /// Exit 2 when any policy is out of compliance (or its file is
    /// invalid); without it, status exits 0 whatever it reports.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

pub fn run(args: &StatusArgs) -> anyhow::Result<u8> {
    let runtime = super::runtime()?;
    let (inventory, _) = inventory_of(&runtime, &args.source, &args.aws, &args.state)?;
    match args.format {
        StatusFormat::Text => {
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            print!("{}", status::text(&inventory, colour));
        }
        StatusFormat::Markdown => print!("{}", status::markdown(&inventory)),
        StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&status::json(&inventory))?),
    }
    Ok(if args.detailed_exitcode && inventory.out_of_compliance() { exit::OUT_OF_COMPLIANCE } else { exit::OK })
}

/// The inventory of the policies `source` reads against the state store
/// (what `status` prints and `report` builds on), and the store.
pub(super) fn inventory_of(
    runtime: &tokio::runtime::Runtime,
    source: &SourceArgs,
    aws: &AwsArgs,
    state: &StateArgs,
) -> anyhow::Result<(status::Inventory, std::sync::Arc<dyn crate::state::StateStore>)> {
    let set = read_policies(source)?;
    let checked = policy::check(inputs(&set));
    let store = if uses_aws(state) {
        let aws = runtime.block_on(aws.connect());
        state.open(&aws)?
    } else {
        // A state file needs no AWS configuration: none is loaded.
        state.open(&crate::aws::Aws::from_config(aws_config::SdkConfig::builder().build()))?
    };
    let states = runtime.block_on(store.list())?;
    let inventory = status::inventory_of(&checked, &states, crate::state::now())
        .with_commit(set.commit())
        .with_invalid(invalid_files(&checked))
        .with_guardrails(guardrail_breaches(&checked), exceptions(&checked));
    Ok((inventory, store))
}

/// Only a DynamoDB state table needs the AWS configuration.
fn uses_aws(state: &StateArgs) -> bool {
    state.location.starts_with("dynamodb://")
}

/// Each policy file's guardrail breaches (errors only: an excepted breach
/// is no breach).
fn guardrail_breaches(checked: &Checked) -> Vec<(String, String)> {
    checked.findings.iter().filter(|f| f.is_error() && f.rule == "guardrail").map(|f| (f.file.clone(), f.message.clone())).collect()
}

/// The guardrail exceptions, each judged on today's date.
fn exceptions(checked: &Checked) -> Vec<status::ExceptionStatus> {
    let Some(loaded) = &checked.guardrails else { return Vec::new() };
    let today = policy::guardrails::today();
    loaded
        .guardrails
        .exceptions
        .iter()
        .map(|e| status::ExceptionStatus {
            rule: e.rule.clone(),
            policy: e.policy.clone(),
            reason: e.reason.clone(),
            approved_by: e.approved_by.clone(),
            expires: e.expires.clone(),
            expired: policy::guardrails::parse_day(&e.expires).is_none_or(|last| last < today),
        })
        .collect()
}

/// Every file with an error finding, with its policy's name when the file
/// parsed far enough to have one.
fn invalid_files(checked: &Checked) -> Vec<(String, Option<String>)> {
    let files: BTreeSet<&str> = checked.findings.iter().filter(|f| f.is_error()).map(|f| f.file.as_str()).collect();
    files
        .into_iter()
        .map(|file| {
            let name = checked.policies.iter().find(|p| p.file == file).map(|p| p.policy.metadata.name.clone());
            (file.to_string(), name)
        })
        .collect()
}
