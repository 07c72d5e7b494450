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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Deployment {
    Lambda,
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
    /// With --bootstrap: also the state table, as `REGION:TABLE`. With
    /// --deployment: the state table the deployment uses.
    #[arg(long)]
    pub state_table: Option<String>,
    /// Render where drctl itself runs instead: `lambda` is the scheduled
    /// function, its role (drctl's rights for these policies), schedule and
    /// log group, one stack in the state table's region.
    #[arg(long, value_enum, conflicts_with_all = ["bootstrap", "name"], requires = "state_table")]
    pub deployment: Option<Deployment>,
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
    anyhow::ensure!(
        args.state_table.is_none() || args.bootstrap || args.deployment.is_some(),
        "--state-table goes with --bootstrap or --deployment"
    );
    if let Some(Deployment::Lambda) = args.deployment {
        // A deployment with the rights of only some policies would fail on the others.
        anyhow::ensure!(!checked.has_errors(), "the policies must be valid to render the rights of the function that applies them");
        let stack = lambda_stack(&valid, args.state_table.as_deref().unwrap_or_default())?;
        match &args.out {
            Some(dir) => write_files(dir, std::slice::from_ref(&stack), args.format)?,
            None => print!("{}", body(&stack, args.format)),
        }
        return Ok(exit::OK);
    }
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
    // The shared stacks (of every sharing policy: a plan lists its members).
    let shared = render::shared::render(policies.iter().copied())?;
    stacks.extend(shared.into_iter().filter(|s| name.is_none_or(|n| s.members.iter().any(|m| m == n))));
    Ok(stacks)
}

/// The Lambda deployment, with the apply policy of `iam-policy --state
/// dynamodb://TABLE` for these policies as the function's rights.
fn lambda_stack(policies: &[&policy::TablePolicy], state_table: &str) -> anyhow::Result<Stack> {
    let (region, table) = state_table.split_once(':').context("--state-table takes REGION:TABLE, like us-east-1:drctl-state")?;
    let scope = crate::iam::Scope::of(policies.iter().copied(), Some(table))?;
    let template = render::deployment::lambda(&crate::iam::apply_policy(&scope), table, region)?;
    Ok(Stack {
        name: "drctl-lambda".into(),
        region: region.into(),
        role: render::StackRole::Bootstrap,
        policy: None,
        members: Vec::new(),
        template,
    })
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
