//! `drctl compare SOURCE RESTORED --from T1 --to T2 --region R`: parses the
//! window and prints the verdict of [`crate::drill::compare`].

use std::time::SystemTime;

use anyhow::Context;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use clap::Args;

use super::{AwsArgs, TextOrJson, exit};
use crate::drill::compare;
use crate::drill::reference::Window;
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
    let request = compare::Request {
        source: &args.source,
        restored: &args.restored,
        region: &args.region,
        window: window(args)?,
        segments: args.segments,
        deadline: args.deadline.to_std(),
    };
    let runtime = super::runtime()?;
    let report = runtime.block_on(async { compare::compare(&args.aws.connect().await, &request).await })?;
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
    } else if report.inconclusive() {
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
