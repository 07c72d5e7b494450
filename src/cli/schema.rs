//! `drctl schema [--kind policy|guardrails]`: the JSON Schema of a policy
//! file or of the guardrails file, for editors' YAML language servers
//! (committed as schema/drctl-v1.json and schema/drctl-guardrails-v1.json).

use clap::{Args, ValueEnum};

use super::exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// `desired/<name>.yaml` (`kind: TablePolicy`).
    Policy,
    /// `desired/_guardrails.yaml` (`kind: Guardrails`).
    Guardrails,
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
        }
    );
    Ok(exit::OK)
}
