//! `drctl compare SOURCE RESTORED --from T1 --to T2 --region R`: a
//! restored table against its source as it was between two instants, item
//! for item, the way a drill's point-in-time reference judges it. For the
//! restore an SRE made by hand during an incident ("is this restore the
//! table as of 14:02?"), and for the benchmark of that comparison.
//!
//! The source needs PITR covering both instants; the exports go to the
//! region's bootstrap bucket under `drctl/compare/<id>/` and are deleted
//! afterwards. Read-only on both tables.

use std::time::SystemTime;

use anyhow::Context;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use clap::Args;
use serde::Serialize;

use super::{AwsArgs, TextOrJson, exit};
use crate::drill::checks::{self, CheckResult};
use crate::drill::reference::{self, ReferenceReport, Window};
use crate::drill::{Backoff, scratch};
use crate::policy::model::{Check, FingerprintCheck, ItemCountCheck, Percent};
use crate::policy::names;

#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The source table (PITR on).
    pub source: String,
    /// The restored table to judge.
    pub restored: String,
    /// The earliest instant the restore may hold (RFC 3339).
    #[arg(long)]
    pub from: String,
    /// The latest instant the restore may hold (RFC 3339); `--from` when left out.
    #[arg(long)]
    pub to: Option<String>,
    /// The region of both tables.
    #[arg(long, env = "AWS_REGION")]
    pub region: String,
    /// Parallel scan segments of the restored table.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub segments: u32,
    /// How long the exports may take.
    #[arg(long, default_value = "6h", value_parser = super::parse_duration)]
    pub deadline: crate::policy::Duration,
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

/// What the command prints.
#[derive(Debug, Serialize)]
struct Report {
    source: String,
    restored: String,
    region: String,
    passed: bool,
    checks: Vec<CheckResult>,
    reference: ReferenceReport,
}

fn instant(text: &str, flag: &str) -> anyhow::Result<SystemTime> {
    DateTime::from_str(text, Format::DateTime)
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
        .with_context(|| format!("{flag} `{}` is not an RFC 3339 instant like 2026-12-06T14:02:00Z", names::shown(text)))
}

fn window(args: &CompareArgs) -> anyhow::Result<Window> {
    let from = instant(&args.from, "--from")?;
    let to = args.to.as_deref().map(|t| instant(t, "--to")).transpose()?.unwrap_or(from);
    anyhow::ensure!(from <= to, "--from {} is after --to {}", args.from, args.to.as_deref().unwrap_or_default());
    anyhow::ensure!(to <= SystemTime::now(), "--to lies in the future");
    Ok(Window::between(from, to))
}

pub fn run(args: &CompareArgs) -> anyhow::Result<u8> {
    for table in [&args.source, &args.restored] {
        anyhow::ensure!(names::is_table_name(table), "`{}` is not a DynamoDB table name", names::shown(table));
    }
    anyhow::ensure!(names::is_region(&args.region), "--region `{}`: {}", names::shown(&args.region), names::region_hint(&args.region));
    let window = window(args)?;
    let runtime = super::runtime()?;
    let report = runtime.block_on(async {
        let aws = args.aws.connect().await;
        let clients = aws.region(&args.region);
        let describe = |name: &str| {
            let clients = clients.clone();
            let name = name.to_string();
            async move {
                scratch::describe(&clients, &name).await?.with_context(|| format!("table {name} does not exist in {}", clients.region))
            }
        };
        let (source, restored) = (describe(&args.source).await?, describe(&args.restored).await?);
        let id = crate::drill::new_drill_id();
        let request = reference::Request {
            source: &source,
            window,
            policy: "compare",
            drill_id: &id,
            resumed: false,
            backoff: Backoff::default(),
            deadline: args.deadline.to_std(),
        };
        let prepared = reference::prepare(&clients, &request).await;
        let place = reference::place(&clients, &source, "compare", &id).await;
        let outcome = async {
            let prepared = prepared?;
            let tables = checks::Tables {
                source_clients: &clients,
                restored_clients: &clients,
                source: &source,
                restored: &restored,
                canary: None,
                segments: args.segments,
                seed: u64::from_str_radix(&id, 16).unwrap_or_default(),
                basis: checks::Basis::PointInTime(Ok(&prepared)),
                outcome: tokio::sync::OnceCell::new(),
                filtered: tokio::sync::OnceCell::new(),
            };
            let exact = Check::ItemCount(ItemCountCheck { tolerance: Percent::default() });
            let results =
                vec![checks::run(&exact, &tables).await, checks::run(&Check::Fingerprint(FingerprintCheck::Match), &tables).await];
            anyhow::Ok((results, prepared.report.clone()))
        }
        .await;
        let cleanup = match &place {
            Ok(place) => reference::clean_up(&clients, place).await,
            Err(error) => format!("not deleted: {error}"),
        };
        let (checks, mut reference) = outcome?;
        reference.cleanup = Some(cleanup);
        anyhow::Ok(Report {
            source: args.source.clone(),
            restored: args.restored.clone(),
            region: args.region.clone(),
            passed: checks.iter().all(|c| c.passed),
            checks,
            reference,
        })
    })?;
    match args.format {
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        TextOrJson::Text => {
            let verdict = if report.passed { "EQUAL" } else { "DIFFERENT" };
            println!(
                "{} against {} between {} and {}: {verdict}",
                report.restored, report.source, report.reference.window.start, report.reference.window.end
            );
            for check in &report.checks {
                println!("  {} {}: {}", if check.passed { "✓" } else { "✗" }, check.name, check.reason);
            }
            println!("  exports {}", report.reference.cleanup.as_deref().unwrap_or("kept"));
        }
    }
    Ok(if report.passed {
        exit::OK
    } else if report.checks.iter().any(|c| c.inconclusive) {
        exit::ERROR
    } else {
        exit::DRILL_FAILED
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(from: &str, to: Option<&str>) -> CompareArgs {
        CompareArgs {
            aws: AwsArgs { endpoint_url: None, profile: None, max_attempts: 5 },
            source: "Scans".into(),
            restored: "Scans-restored".into(),
            from: from.into(),
            to: to.map(str::to_string),
            region: "us-east-1".into(),
            segments: 8,
            deadline: "1h".parse().unwrap(),
            format: TextOrJson::Text,
        }
    }

    #[test]
    fn the_window_is_two_rfc3339_instants_in_order_and_in_the_past() {
        let two = window(&args("2026-12-01T10:00:00Z", Some("2026-12-01T10:02:00Z"))).unwrap();
        assert_eq!((two.seconds, two.margin_seconds), (120, 0));
        assert_eq!(window(&args("2026-12-01T10:00:00Z", None)).unwrap().seconds, 0, "one instant");
        let error = |a: CompareArgs| window(&a).unwrap_err().to_string();
        assert!(error(args("yesterday", None)).contains("--from `yesterday` is not an RFC 3339 instant"));
        assert!(error(args("2026-12-01T10:02:00Z", Some("2026-12-01T10:00:00Z"))).contains("is after --to"));
        assert!(error(args("2026-12-01T10:00:00Z", Some("2999-01-01T00:00:00Z"))).contains("future"));
    }
}
