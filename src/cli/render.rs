//! `drctl render`: the CloudFormation templates of valid policies.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::{SourceArgs, exit, inputs, read_policies};
use crate::policy;
use crate::render::{self, Stack};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplateFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Render only this policy.
    pub name: Option<String>,
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: TemplateFormat,
    /// Render the drctl-bootstrap stacks (shared SNS topics) instead.
    #[arg(long)]
    pub bootstrap: bool,
    /// With --bootstrap: also the state table, as `REGION:TABLE`.
    #[arg(long, requires = "bootstrap")]
    pub state_table: Option<String>,
    /// Write one file per stack into this directory instead of printing.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: &RenderArgs) -> anyhow::Result<u8> {
    let checked = policy::check(inputs(&read_policies(&args.source)?));
    for finding in checked.findings.iter().filter(|f| f.is_error()) {
        eprintln!("{finding}");
    }
    let valid: Vec<&policy::TablePolicy> = checked.valid().map(|p| &p.policy).collect();
    let stacks =
        if args.bootstrap { bootstrap_stacks(&valid, args.state_table.as_deref())? } else { policy_stacks(&valid, args.name.as_deref())? };
    match &args.out {
        Some(dir) => write_files(dir, &stacks, args.format)?,
        None => print!("{}", concatenated(&stacks, args.format)),
    }
    Ok(if checked.has_errors() { exit::ERROR } else { exit::OK })
}

fn policy_stacks(policies: &[&policy::TablePolicy], name: Option<&str>) -> anyhow::Result<Vec<Stack>> {
    if let Some(name) = name
        && !policies.iter().any(|p| p.metadata.name == name)
    {
        anyhow::bail!("no valid policy named `{name}` (run `drctl validate` to see why)");
    }
    let mut stacks = Vec::new();
    for policy in policies.iter().filter(|p| name.is_none_or(|n| p.metadata.name == n)) {
        stacks.extend(render::render(policy)?);
    }
    Ok(stacks)
}

fn bootstrap_stacks(policies: &[&policy::TablePolicy], state_table: Option<&str>) -> anyhow::Result<Vec<Stack>> {
    let state_table = match state_table {
        Some(text) => Some(text.split_once(':').context("--state-table takes REGION:TABLE, like us-east-1:drctl-state")?),
        None => None,
    };
    render::bootstraps(policies.iter().copied(), state_table).iter().map(|b| render::render_bootstrap(b).map_err(Into::into)).collect()
}

fn body(stack: &Stack, format: TemplateFormat) -> String {
    match format {
        TemplateFormat::Yaml => stack.to_yaml(),
        TemplateFormat::Json => stack.to_json() + "\n",
    }
}

fn concatenated(stacks: &[Stack], format: TemplateFormat) -> String {
    match format {
        TemplateFormat::Yaml => {
            stacks.iter().map(|s| format!("---\n# stack: {} region: {}\n{}", s.name, s.region, body(s, format))).collect()
        }
        TemplateFormat::Json => {
            let all: Vec<_> =
                stacks.iter().map(|s| serde_json::json!({ "stack": s.name, "region": s.region, "template": s.template })).collect();
            serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
        }
    }
}

/// One file per stack, named `<stack>.<region>.<ext>` (bootstrap stacks
/// share a name across regions).
fn write_files(dir: &std::path::Path, stacks: &[Stack], format: TemplateFormat) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let extension = match format {
        TemplateFormat::Yaml => "yaml",
        TemplateFormat::Json => "json",
    };
    for stack in stacks {
        let path = dir.join(format!("{}.{}.{extension}", stack.name, stack.region));
        std::fs::write(&path, body(stack, format)).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
