//! `drctl validate`: every finding of every policy, offline.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::args::QuotaArgs;
use super::{SourceArgs, TextOrJson, exit, inputs, read_policies};
use crate::policy::{self, Input, Severity};
use crate::render::quotas::{self, Limits, Usage};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
    #[command(flatten)]
    pub quotas: QuotaArgs,
    /// Validate these files from disk instead of `desired/` in the repository.
    pub files: Vec<PathBuf>,
}

pub fn run(args: &ValidateArgs) -> anyhow::Result<u8> {
    let limits = args.quotas.limits()?;
    let inputs =
        if args.files.is_empty() { inputs(&read_policies(&args.source)?) } else { args.files.iter().map(|f| read_file(f)).collect() };
    let mut checked = policy::check(inputs);
    // AWS Backup's quotas over the policies that are otherwise valid: what
    // the apply would create, per Region.
    let usage = quotas::judge(&mut checked, &limits, &Default::default());
    match args.format {
        TextOrJson::Text => print_text(&checked, &usage, &limits),
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&as_json(&checked, &usage, &limits))?),
    }
    Ok(if checked.has_errors() { exit::ERROR } else { exit::OK })
}

/// Reads at most one byte past the limit, so a huge file costs nothing.
fn read_file(path: &Path) -> Input {
    let file = path.display().to_string();
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(policy::MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes));
    let content = match read {
        Err(error) => Err(policy::Finding::error(
            &file,
            policy::Position::START,
            "read",
            format!("cannot read the file: {error}"),
            "check the path and its permissions",
        )),
        Ok(_) if bytes.len() > policy::MAX_FILE_BYTES => {
            Err(policy::load::too_large(&file, std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len())))
        }
        Ok(_) => Ok(bytes),
    };
    Input { file, content }
}

fn count(checked: &policy::Checked, severity: Severity) -> usize {
    checked.findings.iter().filter(|f| f.severity == severity).count()
}

fn print_text(checked: &policy::Checked, usage: &[Usage], limits: &Limits) {
    use crate::markup::plural;
    for finding in &checked.findings {
        println!("{finding}");
    }
    let (errors, warnings) = (count(checked, Severity::Error), count(checked, Severity::Warning));
    let files = checked
        .findings
        .iter()
        .map(|f| f.file.as_str())
        .chain(checked.policies.iter().map(|p| p.file.as_str()))
        .filter(|file| !policy::guardrails::is_guardrails_file(file) && !policy::accounts::is_accounts_file(file))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if !usage.is_empty() {
        println!("AWS Backup per Region (used/quota):");
    }
    for region in quotas::report(usage, limits) {
        println!("  {}", region.line());
    }
    if let Some(loaded) = &checked.guardrails {
        let (rules, exceptions) = (loaded.guardrails.rules.len(), loaded.guardrails.exceptions.len());
        println!("{}: {}, {}", loaded.file, plural(rules, "rule", "rules"), plural(exceptions, "exception", "exceptions"));
    }
    println!("{files} policy files: {}, {}", plural(errors, "error", "errors"), plural(warnings, "warning", "warnings"));
}

/// The JSON report: stable field names, documented in the README.
fn as_json(checked: &policy::Checked, usage: &[Usage], limits: &Limits) -> serde_json::Value {
    let valid: Vec<_> = checked
        .valid()
        .map(|p| json!({ "file": p.file, "name": p.policy.metadata.name, "table": p.policy.spec.table, "region": p.policy.spec.region, "content_hash": policy::content_hash(&p.policy) }))
        .collect();
    json!({
        "errors": count(checked, Severity::Error),
        "warnings": count(checked, Severity::Warning),
        "findings": checked.findings,
        "valid_policies": valid,
        "aws_backup_usage": quotas::report(usage, limits),
    })
}
