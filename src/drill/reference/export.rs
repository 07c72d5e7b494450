//! The AWS side of the reference: the source's point-in-time window, its
//! exports into drctl's bucket, reading them back as items, and deleting
//! them.
//!
//! An export is DynamoDB's layout in S3: `manifest-summary.json` names
//! `manifest-files.json`, whose lines name the gzip'd data files, each a
//! line of DynamoDB JSON per item. Files are read one at a time, line by
//! line, so memory holds one line, not an export. Counts are checked
//! against both manifests: a short file is an error, never fewer items.

use std::time::{Duration, SystemTime};

use async_compression::tokio::bufread::GzipDecoder;
use aws_sdk_dynamodb::types::{ExportFormat, ExportStatus, ExportType, PointInTimeRecoveryStatus, S3SseAlgorithm};
use aws_smithy_types::DateTime;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::super::DrillError;
use super::super::checks::items::Item;
use super::super::poll::{self, Backoff};
use super::dynamodb_json;
use crate::aws::Clients;
use crate::render;

/// How the bootstrap names its export bucket: this, the account, the region.
pub const BUCKET_PREFIX: &str = "drctl-exports-";

/// The bucket of `region`'s bootstrap that exports go to.
pub async fn bucket(clients: &Clients) -> Result<String, DrillError> {
    let stack = render::BOOTSTRAP_STACK;
    let described =
        clients.cloudformation.describe_stacks().stack_name(stack).send().await.map_err(|e| match crate::aws::error_code(&e) {
            // CloudFormation answers a stack that does not exist with a
            // ValidationError: no bootstrap in this region.
            Some("ValidationError") => DrillError::Reference {
                why: format!(
                    "{stack} does not exist in {}: there is no bucket to export the source to; run `drctl bootstrap`",
                    clients.region
                ),
            },
            _ => DrillError::aws(format!("DescribeStacks {stack}"), &e),
        })?;
    described
        .stacks()
        .first()
        .and_then(|s| s.outputs().iter().find(|o| o.output_key() == Some(render::EXPORT_BUCKET_OUTPUT)))
        .and_then(|o| o.output_value())
        .filter(|name| name.starts_with(BUCKET_PREFIX))
        .map(str::to_string)
        .ok_or_else(|| DrillError::Reference {
            why: format!(
                "{stack} in {} has no {} output naming a {BUCKET_PREFIX}* bucket, so there is no bucket to export the source to; run `drctl bootstrap`",
                clients.region,
                render::EXPORT_BUCKET_OUTPUT
            ),
        })
}

/// The account of an ARN (its fifth field), for S3's expected owner.
pub fn account_of(arn: &str) -> Result<String, DrillError> {
    arn.split(':')
        .nth(4)
        .filter(|account| account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .ok_or_else(|| DrillError::Aws { action: "DescribeTable".into(), why: format!("the table ARN {arn:?} names no account") })
}

/// The table's PITR window `(earliest, latest)` restorable instants, or
/// `None` when PITR is off. An answer with PITR on but without either time
/// is an error, never a window made up.
pub async fn restorable_window(clients: &Clients, table: &str) -> Result<Option<(SystemTime, SystemTime)>, DrillError> {
    let action = format!("DescribeContinuousBackups {table}");
    let out =
        clients.dynamodb.describe_continuous_backups().table_name(table).send().await.map_err(|e| DrillError::aws(action.clone(), &e))?;
    let pitr = out.continuous_backups_description().and_then(|d| d.point_in_time_recovery_description());
    if pitr.and_then(|p| p.point_in_time_recovery_status()) != Some(&PointInTimeRecoveryStatus::Enabled) {
        return Ok(None);
    }
    let time = |t: Option<&DateTime>, name: &str| {
        t.and_then(|t| SystemTime::try_from(*t).ok())
            .ok_or_else(|| DrillError::Aws { action: action.clone(), why: format!("PITR is on but the answer has no {name}") })
    };
    let earliest = time(pitr.and_then(|p| p.earliest_restorable_date_time()), "EarliestRestorableDateTime")?;
    let latest = time(pitr.and_then(|p| p.latest_restorable_date_time()), "LatestRestorableDateTime")?;
    Ok(Some((earliest, latest)))
}

/// Waits until point-in-time recovery of `table` can restore (and so
/// export) `until`: PITR must be on and its window must reach back to
/// `from`.
pub async fn wait_restorable(
    clients: &Clients,
    table: &str,
    from: SystemTime,
    until: SystemTime,
    backoff: Backoff,
    deadline: Duration,
) -> Result<(), DrillError> {
    let what = format!("point-in-time recovery of {table} reaching {}", rfc3339(until));
    poll::until(&what, backoff, deadline, || async {
        let Some((earliest, latest)) = restorable_window(clients, table).await? else {
            return Err(DrillError::Reference {
                why: format!(
                    "point-in-time recovery is off on {table}, so the source cannot be exported as it was at the recovery point; \
                     run `drctl reconcile` (the policy turns it on), or set verify.reference: source"
                ),
            });
        };
        if earliest > from {
            return Err(DrillError::ReferenceNotYet {
                why: format!(
                    "point-in-time recovery of {table} reaches back to {} only, after the window's start {}: it was turned on \
                     after the backup was taken, so this recovery point cannot be compared item for item; a recovery point \
                     taken from now on can",
                    rfc3339(earliest),
                    rfc3339(from)
                ),
            });
        }
        Ok((latest >= until).then_some(()))
    })
    .await
}

/// One export to start.
pub struct ExportRequest<'a> {
    pub table_arn: &'a str,
    pub time: SystemTime,
    pub bucket: &'a str,
    pub owner: &'a str,
    pub prefix: &'a str,
    /// DynamoDB answers a repeated token (within 8 hours) with the same
    /// export: a resumed drill gets its exports back, not new ones.
    pub client_token: &'a str,
}

/// Starts a full export of the table as of `time`; returns its ARN.
pub async fn start(clients: &Clients, request: &ExportRequest<'_>) -> Result<String, DrillError> {
    let action = format!("ExportTableToPointInTime of {} at {}", request.table_arn, rfc3339(request.time));
    let out = clients
        .dynamodb
        .export_table_to_point_in_time()
        .table_arn(request.table_arn)
        .export_time(DateTime::from(request.time))
        .s3_bucket(request.bucket)
        .s3_bucket_owner(request.owner)
        .s3_prefix(request.prefix)
        .s3_sse_algorithm(S3SseAlgorithm::Aes256)
        .export_format(ExportFormat::DynamodbJson)
        .export_type(ExportType::FullExport)
        .client_token(request.client_token)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(s) if s.is_invalid_export_time_exception() || s.is_point_in_time_recovery_unavailable_exception() => {
                DrillError::Reference { why: format!("{action}: {}", crate::aws::describe(&e)) }
            }
            _ => DrillError::aws(action.clone(), &e),
        })?;
    out.export_description()
        .and_then(|d| d.export_arn())
        .filter(|arn| !arn.is_empty())
        .map(str::to_string)
        .ok_or(DrillError::Aws { action, why: "the answer has no ExportArn".into() })
}

/// A completed export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed {
    pub arn: String,
    /// The key of its `manifest-summary.json`.
    pub manifest: String,
    pub items: u64,
    pub bytes: u64,
}

/// Waits for export `arn` to complete.
pub async fn wait(clients: &Clients, arn: &str, backoff: Backoff, deadline: Duration) -> Result<Completed, DrillError> {
    poll::until(&format!("export {arn}"), backoff, deadline, || async {
        let out = clients
            .dynamodb
            .describe_export()
            .export_arn(arn)
            .send()
            .await
            .map_err(|e| DrillError::aws(format!("DescribeExport {arn}"), &e))?;
        let export = out.export_description().ok_or_else(|| DrillError::Aws {
            action: format!("DescribeExport {arn}"),
            why: "the answer has no ExportDescription".into(),
        })?;
        match export.export_status() {
            Some(ExportStatus::Completed) => {
                let manifest = export.export_manifest().filter(|m| !m.is_empty()).ok_or_else(|| DrillError::Aws {
                    action: format!("DescribeExport {arn}"),
                    why: "the export is COMPLETED but names no ExportManifest".into(),
                })?;
                let count = |n: Option<i64>| n.map_or(0, |n| n.max(0) as u64);
                Ok(Some(Completed {
                    arn: arn.to_string(),
                    manifest: manifest.to_string(),
                    items: count(export.item_count()),
                    bytes: count(export.billed_size_bytes()),
                }))
            }
            Some(ExportStatus::Failed) => Err(DrillError::Reference {
                why: format!(
                    "export {arn} FAILED ({}: {}); check that drctl's export bucket exists (`drctl bootstrap`) and that drctl may write to it",
                    export.failure_code().unwrap_or("no failure code"),
                    export.failure_message().unwrap_or("no failure message")
                ),
            }),
            _ => Ok(None),
        }
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestSummary {
    manifest_files_s3_key: String,
    item_count: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestFile {
    data_file_s3_key: String,
    item_count: u64,
}

/// Where an export lies.
pub struct Location<'a> {
    pub bucket: &'a str,
    pub owner: &'a str,
}

/// Calls `each` with every item of the export whose summary is `manifest`,
/// one data file at a time; returns the number of items.
pub async fn for_each_item(clients: &Clients, at: &Location<'_>, manifest: &str, mut each: impl FnMut(Item)) -> Result<u64, DrillError> {
    let summary: ManifestSummary = serde_json::from_slice(&get(clients, at, manifest).await?)
        .map_err(|e| corrupt(at, manifest, format!("not a manifest summary: {e}")))?;
    let files = get(clients, at, &summary.manifest_files_s3_key).await?;
    let mut total = 0u64;
    for line in files.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
        let file: ManifestFile = serde_json::from_slice(line)
            .map_err(|e| corrupt(at, &summary.manifest_files_s3_key, format!("a line is not a manifest entry: {e}")))?;
        let read = read_data_file(clients, at, &file.data_file_s3_key, &mut each).await?;
        if read != file.item_count {
            let why = format!("holds {read} items, its manifest says {}", file.item_count);
            return Err(corrupt(at, &file.data_file_s3_key, why));
        }
        total += read;
    }
    if total != summary.item_count {
        return Err(corrupt(at, manifest, format!("the data files hold {total} items, the summary says {}", summary.item_count)));
    }
    Ok(total)
}

async fn read_data_file(clients: &Clients, at: &Location<'_>, key: &str, each: &mut impl FnMut(Item)) -> Result<u64, DrillError> {
    let object = clients
        .s3
        .get_object()
        .bucket(at.bucket)
        .key(key)
        .expected_bucket_owner(at.owner)
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("GetObject s3://{}/{key}", at.bucket), &e))?;
    let mut lines = BufReader::new(GzipDecoder::new(BufReader::new(object.body.into_async_read()))).lines();
    let mut read = 0u64;
    loop {
        let line = lines
            .next_line()
            .await
            .map_err(|e| DrillError::Transient { action: format!("reading s3://{}/{key}", at.bucket), why: e.to_string() })?;
        let Some(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        each(dynamodb_json::parse_line(&line).map_err(|why| corrupt(at, key, format!("line {}: {why}", read + 1)))?);
        read += 1;
    }
    Ok(read)
}

async fn get(clients: &Clients, at: &Location<'_>, key: &str) -> Result<Vec<u8>, DrillError> {
    let object = clients
        .s3
        .get_object()
        .bucket(at.bucket)
        .key(key)
        .expected_bucket_owner(at.owner)
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("GetObject s3://{}/{key}", at.bucket), &e))?;
    let body = object
        .body
        .collect()
        .await
        .map_err(|e| DrillError::Transient { action: format!("reading s3://{}/{key}", at.bucket), why: e.to_string() })?;
    Ok(body.into_bytes().to_vec())
}

/// Whether the object `key` exists: a listing of `key` as a prefix, not a
/// HeadObject. S3 answers a HeadObject of a missing key with 403, not 404,
/// unless the caller holds `s3:ListBucket` on the bucket (S3 API
/// reference, HeadObject), and drctl's holds it only for listings under
/// `drctl/` (an `s3:prefix` condition a HeadObject does not carry); a
/// listing is allowed and tells "missing" from "refused".
pub async fn exists(clients: &Clients, at: &Location<'_>, key: &str) -> Result<bool, DrillError> {
    let listed = clients
        .s3
        .list_objects_v2()
        .bucket(at.bucket)
        .prefix(key)
        .max_keys(1)
        .expected_bucket_owner(at.owner)
        .send()
        .await
        .map_err(|error| DrillError::aws(format!("ListObjectsV2 s3://{}/{key}", at.bucket), &error))?;
    Ok(listed.contents().iter().any(|object| object.key() == Some(key)))
}

fn corrupt(at: &Location<'_>, key: &str, why: String) -> DrillError {
    DrillError::Reference { why: format!("s3://{}/{key} {why}", at.bucket) }
}

/// Deletes every object under `prefix`; returns how many.
pub async fn delete_prefix(clients: &Clients, at: &Location<'_>, prefix: &str) -> Result<u64, DrillError> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let mut deleted = 0u64;
    loop {
        let listed = clients
            .s3
            .list_objects_v2()
            .bucket(at.bucket)
            .prefix(prefix)
            .expected_bucket_owner(at.owner)
            .send()
            .await
            .map_err(|e| DrillError::aws(format!("ListObjectsV2 s3://{}/{prefix}", at.bucket), &e))?;
        let keys: Vec<ObjectIdentifier> =
            listed.contents().iter().filter_map(|o| o.key()).filter_map(|k| ObjectIdentifier::builder().key(k).build().ok()).collect();
        if keys.is_empty() {
            return Ok(deleted);
        }
        let count = keys.len() as u64;
        let delete = Delete::builder()
            .set_objects(Some(keys))
            .quiet(true)
            .build()
            .map_err(|e| DrillError::Aws { action: "DeleteObjects".into(), why: e.to_string() })?;
        let out = clients
            .s3
            .delete_objects()
            .bucket(at.bucket)
            .delete(delete)
            .expected_bucket_owner(at.owner)
            .send()
            .await
            .map_err(|e| DrillError::aws(format!("DeleteObjects s3://{}/{prefix}", at.bucket), &e))?;
        if let Some(error) = out.errors().first() {
            return Err(DrillError::Aws {
                action: format!("DeleteObjects s3://{}/{prefix}", at.bucket),
                why: format!("{}: {}", error.key().unwrap_or("?"), error.message().unwrap_or("no message")),
            });
        }
        deleted += count;
    }
}

/// The drills with exports under [`super::EXPORT_ROOT`]: `(policy, drill
/// id)` and when their newest object was written (seconds).
pub async fn list_drills(clients: &Clients, at: &Location<'_>) -> Result<std::collections::BTreeMap<(String, String), u64>, DrillError> {
    let mut drills = std::collections::BTreeMap::new();
    let mut pages =
        clients.s3.list_objects_v2().bucket(at.bucket).prefix(super::EXPORT_ROOT).expected_bucket_owner(at.owner).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| DrillError::aws(format!("ListObjectsV2 s3://{}/{}", at.bucket, super::EXPORT_ROOT), &e))?;
        for object in page.contents() {
            let Some(rest) = object.key().and_then(|k| k.strip_prefix(super::EXPORT_ROOT)) else { continue };
            let mut parts = rest.splitn(3, '/');
            let (Some(policy), Some(drill_id), Some(_)) = (parts.next(), parts.next(), parts.next()) else { continue };
            let written = object.last_modified().map_or(0, |t| t.secs().max(0) as u64);
            let newest = drills.entry((policy.to_string(), drill_id.to_string())).or_insert(0);
            *newest = (*newest).max(written);
        }
    }
    Ok(drills)
}

pub fn rfc3339(time: SystemTime) -> String {
    DateTime::from(time).fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_default()
}
