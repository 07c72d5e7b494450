//! `drctl schema [--kind policy|guardrails|accounts]`: the JSON Schema of a
//! policy file, the guardrails file or the accounts file, for editors' YAML
//! language servers (committed as schema/drctl-v1.json,
//! schema/drctl-guardrails-v1.json and schema/drctl-accounts-v1.json).

use clap::{Args, ValueEnum};

use super::exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// `desired/<name>.yaml` (`kind: TablePolicy`).
    Policy,
    /// `desired/_guardrails.yaml` (`kind: Guardrails`).
    Guardrails,
    /// `desired/_accounts.yaml` (`kind: Accounts`).
    Accounts,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[arg(long, value_enum, default_value = "policy")]
    pub kind: SchemaKind,
}

pub fn run(args: &SchemaArgs) -> anyhow::Result<u8> {
    println!(
        "{}",
        match args.kind {
            SchemaKind::Policy => crate::policy::json_schema(),
            SchemaKind::Guardrails => crate::policy::guardrails::json_schema(),
            SchemaKind::Accounts => crate::policy::accounts::json_schema(),
        }
    );
    Ok(exit::OK)
}
