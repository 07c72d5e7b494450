//! `drctl fingerprint TABLE --region R [--segments N]`: the item count and
//! order-independent content hash of one table, as the drill's
//! `fingerprint` check computes it. SREs compare two tables by hand with it
//! (a source and its restore, a table before and after a migration), and
//! the fingerprint benchmark runs the check alone through it.
//!
//! Read-only: strongly consistent parallel Scans, nothing else. It reads
//! the whole table, so it costs read capacity like the check does.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::{AwsArgs, TextOrJson, exit};
use crate::drill::checks::fingerprint;
use crate::policy::names;

/// DynamoDB's bound on `TotalSegments`.
const MAX_SEGMENTS: u32 = 1_000_000;

#[derive(Debug, Args)]
pub struct FingerprintArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The table to hash.
    pub table: String,
    /// The table's region.
    #[arg(long, env = "AWS_REGION")]
    pub region: String,
    /// Parallel scan segments (DynamoDB allows 1 to 1,000,000).
    #[arg(long, default_value_t = 8)]
    pub segments: u32,
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

/// The arguments checked before any AWS call.
#[derive(Debug)]
struct Settings {
    table: String,
    region: String,
    segments: u32,
}

impl Settings {
    fn from_args(args: &FingerprintArgs) -> anyhow::Result<Self> {
        if !names::is_table_name(&args.table) {
            anyhow::bail!("`{}` is not a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -)", names::shown(&args.table));
        }
        if !names::is_region(&args.region) {
            anyhow::bail!("--region `{}` is not an AWS region: {}", names::shown(&args.region), names::region_hint(&args.region));
        }
        if !(1..=MAX_SEGMENTS).contains(&args.segments) {
            anyhow::bail!("--segments {} is out of range: DynamoDB allows 1 to {MAX_SEGMENTS}", args.segments);
        }
        Ok(Self { table: args.table.clone(), region: args.region.clone(), segments: args.segments })
    }
}

/// What the command prints.
#[derive(Debug, Serialize)]
struct Report {
    table: String,
    region: String,
    items: u64,
    /// The SHA-256 sum of the items' canonical encodings, modulo 2^256 (hex).
    fingerprint: String,
    segments: u32,
    seconds: f64,
}

pub fn run(args: &FingerprintArgs) -> anyhow::Result<u8> {
    let settings = Settings::from_args(args)?;
    let runtime = super::runtime()?;
    let report = runtime.block_on(async {
        let aws = args.aws.connect().await;
        let clients = aws.region(&settings.region);
        let started = Instant::now();
        let hashed = fingerprint::of_table(&clients.dynamodb, &settings.table, settings.segments)
            .await
            .with_context(|| format!("fingerprint of {} in {}", settings.table, settings.region))?;
        anyhow::Ok(Report {
            table: settings.table.clone(),
            region: settings.region.clone(),
            items: hashed.items,
            fingerprint: hashed.hex(),
            segments: settings.segments,
            seconds: started.elapsed().as_secs_f64(),
        })
    })?;
    match args.format {
        TextOrJson::Text => println!("{} ({}): {} items, fingerprint {}", report.table, report.region, report.items, report.fingerprint),
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(table: &str, region: &str, segments: u32) -> FingerprintArgs {
        FingerprintArgs {
            aws: AwsArgs { endpoint_url: None, profile: None, max_attempts: 5 },
            table: table.into(),
            region: region.into(),
            segments,
            format: TextOrJson::Text,
        }
    }

    #[test]
    fn bad_arguments_are_refused_before_any_aws_call() {
        let error = |a: FingerprintArgs| Settings::from_args(&a).unwrap_err().to_string();
        assert!(error(args("a b", "us-east-1", 8)).contains("is not a DynamoDB table name"));
        assert!(error(args("Scans", "us-est-1", 8)).contains("did you mean us-east-1?"));
        assert!(error(args("Scans", "us-east-1", 0)).contains("--segments 0 is out of range"));
        assert!(error(args("Scans", "us-east-1", MAX_SEGMENTS + 1)).contains("out of range"));
        let settings = Settings::from_args(&args("Scans", "eu-west-1", 4)).unwrap();
        assert_eq!((settings.table.as_str(), settings.region.as_str(), settings.segments), ("Scans", "eu-west-1", 4));
    }
}
