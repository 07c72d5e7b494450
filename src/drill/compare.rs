//! `drctl compare`: a restored table against its source as it was between
//! two instants, item for item, the way a drill's point-in-time reference
//! judges it. For the restore an SRE made by hand during an incident ("is
//! this restore the table as of 14:02?"), and for the benchmark of that
//! comparison.
//!
//! The source needs PITR covering both instants; the exports go to the
//! region's bootstrap bucket under `drctl/compare/<id>/` and are deleted
//! afterwards. Read-only on both tables.

use std::time::Duration;

use serde::Serialize;

use super::checks::{self, CheckResult};
use super::reference::{self, ReferenceReport, Window};
use super::{Backoff, DrillError, scratch};
use crate::aws::{Aws, Clients};
use crate::policy::model::{Check, FingerprintCheck, ItemCountCheck, Percent};

/// What to compare.
pub struct Request<'a> {
    pub source: &'a str,
    pub restored: &'a str,
    /// The region of both tables.
    pub region: &'a str,
    /// The instants the restore may hold.
    pub window: Window,
    /// Parallel scan segments of the restored table.
    pub segments: u32,
    /// How long the exports may take.
    pub deadline: Duration,
}

/// The verdict, the checks behind it and the reference they used.
#[derive(Debug, Serialize)]
pub struct Report {
    pub source: String,
    pub restored: String,
    pub region: String,
    pub passed: bool,
    pub checks: Vec<CheckResult>,
    pub reference: ReferenceReport,
}

impl Report {
    /// No check found a difference, but one could not finish.
    pub fn inconclusive(&self) -> bool {
        !self.passed && self.checks.iter().any(|c| c.inconclusive)
    }
}

/// Exports the source at both edges of the window, runs the exact item
/// count and the fingerprint against the restored table, and deletes the
/// exports whatever the checks said.
pub async fn compare(aws: &Aws, request: &Request<'_>) -> Result<Report, DrillError> {
    let clients = aws.region(request.region);
    let source = existing(&clients, request.source).await?;
    let restored = existing(&clients, request.restored).await?;
    let id = super::new_drill_id();
    let reference_request = reference::Request {
        source: &source,
        window: request.window.clone(),
        policy: "compare",
        drill_id: &id,
        resumed: false,
        backoff: Backoff::default(),
        deadline: request.deadline,
    };
    let prepared = reference::prepare(&clients, &reference_request).await;
    let place = reference::place(&clients, &source, "compare", &id).await;
    let outcome = async {
        let prepared = prepared?;
        let tables = checks::Tables {
            source_clients: &clients,
            restored_clients: &clients,
            source: &source,
            restored: &restored,
            canary: None,
            segments: request.segments,
            seed: u64::from_str_radix(&id, 16).unwrap_or_default(),
            basis: checks::Basis::PointInTime(Ok(&prepared)),
            outcome: tokio::sync::OnceCell::new(),
            filtered: tokio::sync::OnceCell::new(),
        };
        let exact = Check::ItemCount(ItemCountCheck { tolerance: Percent::default() });
        let results = vec![checks::run(&exact, &tables).await, checks::run(&Check::Fingerprint(FingerprintCheck::Match), &tables).await];
        Ok::<_, DrillError>((results, prepared.report.clone()))
    }
    .await;
    let cleanup = match &place {
        Ok(place) => reference::clean_up(&clients, place).await,
        Err(error) => format!("not deleted: {error}"),
    };
    let (checks, mut reference) = outcome?;
    reference.cleanup = Some(cleanup);
    Ok(Report {
        source: request.source.to_string(),
        restored: request.restored.to_string(),
        region: request.region.to_string(),
        passed: checks.iter().all(|c| c.passed),
        checks,
        reference,
    })
}

async fn existing(clients: &Clients, table: &str) -> Result<aws_sdk_dynamodb::types::TableDescription, DrillError> {
    scratch::describe(clients, table).await?.ok_or_else(|| DrillError::Aws {
        action: format!("DescribeTable {table}"),
        why: format!("the table does not exist in {}", clients.region),
    })
}
