//! The reference the data checks compare a restore with, when the source
//! takes writes: the source as it was around the recovery point.
//!
//! A DynamoDB backup is not a snapshot at one instant: a backup requested at
//! T holds every write committed before T − 60 s and none after T + 60 s;
//! writes in between may or may not be in it, and AWS Backup's jobs take
//! time and document no time marker. So the reference is two full
//! point-in-time exports of the source, at the edges of a window that must
//! hold the marker: the recovery point's creation minus the margin, and
//! its completion plus the margin (60 s by default, conservative by
//! design). An item identical at both edges must be restored exactly; an
//! item that changed within the window is reported as restored in one of
//! its edge states, absent as at an edge, or in a state between the edges
//! (written more than once in the window: not judged) ([`compare`]).
//!
//! # Guarantees
//! - One reference per drill, shared by every drill region (a DR region
//!   restores a copy of the same point).
//! - Fail closed: PITR off, a window PITR does not cover, no export bucket,
//!   a failed export, a data file shorter than its manifest, an export
//!   without its manifest: each is a failed data check naming why and the
//!   fix, never a reference with fewer items.
//! - The exports are written under `drctl/<policy>/<drill id>/` in the
//!   bootstrap's bucket, with the account as the bucket's expected owner,
//!   and deleted after the drill; `drctl gc` deletes those of killed drills,
//!   and the bucket's lifecycle expires anything left after two days.
//! - Exports carry client tokens derived from the drill id: a resumed drill
//!   gets its exports back instead of new ones.
//!
//! # Caveats
//! - DynamoDB serves a point in time only once it is older than
//!   `LatestRestorableDateTime` (typically about five minutes behind now),
//!   so a drill waits about that long after the backup completes.
//! - Each export costs a full export of the table (billed per GB); an
//!   incremental export would be cheaper for the second edge, but DynamoDB
//!   requires incremental windows of at least 15 minutes and the window is
//!   usually far shorter.

pub mod compare;
pub mod dynamodb_json;
pub mod export;

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::TableDescription;
use serde::Serialize;

use super::checks::fingerprint::item_digest;
use super::checks::items::{Item, key_bytes};
use super::{DrillError, RecoveryPoint};
use crate::aws::Clients;
use compare::{Edge, FirstPass, KeyDigest, key_digest};

/// How far the window reaches beyond the recovery point's creation and
/// completion: AWS's documented ±60 s of a DynamoDB backup.
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(60);

/// The window that must hold the backup's time marker.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Window {
    /// RFC 3339 instants of the two exports.
    pub start: String,
    pub end: String,
    pub seconds: u64,
    pub margin_seconds: u64,
    #[serde(skip)]
    pub start_at: SystemTime,
    #[serde(skip)]
    pub end_at: SystemTime,
}

/// The window of `point`: its creation − `margin` to its completion + `margin`.
pub fn window(point: &RecoveryPoint, margin: Duration) -> Result<Window, DrillError> {
    let completed = point.completed_at.ok_or_else(|| DrillError::Aws {
        action: format!("DescribeRecoveryPoint {}", point.arn),
        why: "the answer has no CompletionDate: the window the backup was taken in cannot be bounded".into(),
    })?;
    let start_at = point.created_at.checked_sub(margin).unwrap_or(SystemTime::UNIX_EPOCH);
    let end_at = completed.max(point.created_at) + margin;
    Ok(Window {
        start: export::rfc3339(start_at),
        end: export::rfc3339(end_at),
        seconds: end_at.duration_since(start_at).unwrap_or_default().as_secs(),
        margin_seconds: margin.as_secs(),
        start_at,
        end_at,
    })
}

/// One export of the reference, as the drill result names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// `start` or `end`.
    pub edge: &'static str,
    pub export_arn: String,
    pub items: u64,
    pub bytes: u64,
}

/// What a drill result says about the reference its data checks used.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReferenceReport {
    /// `point-in-time`.
    pub kind: &'static str,
    pub window: Window,
    pub bucket: String,
    pub exports: Vec<ExportReport>,
    /// Keys that changed within the window.
    pub changed_in_window: u64,
    /// What became of the exports after the drill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<String>,
}

/// The reference, built and ready for the restores.
pub struct Prepared {
    pub report: ReferenceReport,
    pub reference: compare::Reference,
    pub key_names: Vec<String>,
    bucket: String,
    owner: String,
    manifests: [String; 2],
}

/// Where one drill's exports live.
pub struct Place {
    pub bucket: String,
    pub owner: String,
    pub prefix: String,
}

impl Place {
    fn location(&self) -> export::Location<'_> {
        export::Location { bucket: &self.bucket, owner: &self.owner }
    }
}

/// The prefix of one drill's exports in the bucket.
pub fn drill_prefix(policy: &str, drill_id: &str) -> String {
    format!("{EXPORT_ROOT}{policy}/{drill_id}/")
}

/// Where drctl writes exports in its bucket.
pub const EXPORT_ROOT: &str = "drctl/";

/// What [`prepare`] needs of the drill.
pub struct Request<'a> {
    pub source: &'a TableDescription,
    /// The instants to export the source at ([`window`] of the recovery point).
    pub window: Window,
    pub policy: &'a str,
    pub drill_id: &'a str,
    /// The drill resumes an interrupted one, whose exports may be gone.
    pub resumed: bool,
    pub backoff: super::Backoff,
    pub deadline: Duration,
}

impl Window {
    /// A window between two given instants (`drctl compare`).
    pub fn between(start_at: SystemTime, end_at: SystemTime) -> Self {
        Window {
            start: export::rfc3339(start_at),
            end: export::rfc3339(end_at),
            seconds: end_at.duration_since(start_at).unwrap_or_default().as_secs(),
            margin_seconds: 0,
            start_at,
            end_at,
        }
    }
}

/// Where a drill's exports go: the bootstrap's bucket of the source's
/// region, owned by the source's account.
pub async fn place(clients: &Clients, source: &TableDescription, policy: &str, drill_id: &str) -> Result<Place, DrillError> {
    let owner = export::account_of(source.table_arn().unwrap_or_default())?;
    let bucket = export::bucket(clients).await?;
    Ok(Place { bucket, owner, prefix: drill_prefix(policy, drill_id) })
}

/// Exports the source at both edges of the window and reads both exports
/// into a [`compare::Reference`].
pub async fn prepare(clients: &Clients, request: &Request<'_>) -> Result<Prepared, DrillError> {
    let table = request.source.table_name().unwrap_or_default();
    let table_arn = request.source.table_arn().unwrap_or_default();
    let window = request.window.clone();
    let place = place(clients, request.source, request.policy, request.drill_id).await?;
    tracing::info!(table, start = %window.start, end = %window.end, "waiting for point-in-time recovery to cover the backup's window");
    export::wait_restorable(clients, table, window.start_at, window.end_at, request.backoff, request.deadline).await?;
    let mut exports = export_edges(clients, request, &place, table_arn, "").await?;
    // A resumed drill whose first run deleted its exports after the checks
    // (and died before recording them) gets the same exports back for the
    // same tokens, without their files: export again, under new tokens.
    let at = place.location();
    let mut present = true;
    if request.resumed {
        for (_, completed) in &exports {
            present &= export::exists(clients, &at, &completed.manifest).await?;
        }
    }
    if !present {
        tracing::warn!(
            drill_id = request.drill_id,
            "the interrupted drill's exports were deleted before its result was recorded: exporting again"
        );
        exports = export_edges(clients, request, &place, table_arn, "again-").await?;
    }
    let key_names: Vec<String> = request.source.key_schema().iter().map(|k| k.attribute_name().to_string()).collect();
    let manifests = [exports[0].1.manifest.clone(), exports[1].1.manifest.clone()];
    let reference = read(clients, &place, &manifests, &key_names).await?;
    let report = ReferenceReport {
        kind: "point-in-time",
        window,
        bucket: place.bucket.clone(),
        exports: exports.iter().map(|(edge, c)| ExportReport { edge, export_arn: c.arn.clone(), items: c.items, bytes: c.bytes }).collect(),
        changed_in_window: reference.changed(),
        cleanup: None,
    };
    Ok(Prepared { report, reference, key_names, bucket: place.bucket, owner: place.owner, manifests })
}

/// Starts the exports at both edges of the window and waits for them;
/// `generation` prefixes their tokens and object prefixes (empty the first
/// time).
async fn export_edges(
    clients: &Clients,
    request: &Request<'_>,
    place: &Place,
    table_arn: &str,
    generation: &str,
) -> Result<Vec<(&'static str, export::Completed)>, DrillError> {
    let window = &request.window;
    let mut started = Vec::with_capacity(2);
    for (edge, time) in [("start", window.start_at), ("end", window.end_at)] {
        let prefix = format!("{}{generation}{edge}", place.prefix);
        let token = format!("drctl-drill-{}-export-{generation}{edge}", request.drill_id);
        let export =
            export::ExportRequest { table_arn, time, bucket: &place.bucket, owner: &place.owner, prefix: &prefix, client_token: &token };
        let arn = export::start(clients, &export).await?;
        tracing::info!(export_arn = %arn, edge, "export started");
        started.push((edge, arn));
    }
    let mut exports = Vec::with_capacity(2);
    for (edge, arn) in started {
        exports.push((edge, export::wait(clients, &arn, request.backoff, request.deadline).await?));
    }
    Ok(exports)
}

/// Both passes over both exports.
async fn read(clients: &Clients, place: &Place, manifests: &[String; 2], key_names: &[String]) -> Result<compare::Reference, DrillError> {
    let at = place.location();
    let mut first = FirstPass::default();
    let mut buffer = Vec::new();
    for (edge, manifest) in [(Edge::Start, &manifests[0]), (Edge::End, &manifests[1])] {
        export::for_each_item(clients, &at, manifest, |item| {
            let key = key_digest(&key_bytes(&item, key_names));
            first.add(edge, key, &item_digest(&item, &mut buffer));
        })
        .await?;
    }
    let mut second = first.finish();
    for (edge, manifest) in [(Edge::Start, &manifests[0]), (Edge::End, &manifests[1])] {
        export::for_each_item(clients, &at, manifest, |item| {
            let key = key_digest(&key_bytes(&item, key_names));
            if second.wants(key) {
                second.add(edge, key, &item_digest(&item, &mut buffer));
            }
        })
        .await?;
    }
    Ok(second.finish())
}

impl Prepared {
    fn location(&self) -> export::Location<'_> {
        export::Location { bucket: &self.bucket, owner: &self.owner }
    }

    /// The reference's items with these keys, at each edge (absent keys
    /// left out): what `sample` and the naming of differences compare with.
    pub async fn items_with_keys(&self, clients: &Clients, keys: &HashSet<KeyDigest>) -> Result<[Vec<Item>; 2], DrillError> {
        let mut found: [Vec<Item>; 2] = [Vec::new(), Vec::new()];
        for (index, manifest) in self.manifests.iter().enumerate() {
            let names = &self.key_names;
            export::for_each_item(clients, &self.location(), manifest, |item| {
                if keys.contains(&key_digest(&key_bytes(&item, names))) {
                    found[index].push(item);
                }
            })
            .await?;
        }
        Ok(found)
    }

    /// The stable items (the same at both edges) of these buckets, at most
    /// `limit`: the items a differing bucket should have held.
    pub async fn stable_items_in(&self, clients: &Clients, buckets: &[usize], limit: usize) -> Result<Vec<Item>, DrillError> {
        let mut items = Vec::new();
        let names = &self.key_names;
        export::for_each_item(clients, &self.location(), &self.manifests[0], |item| {
            let key = key_digest(&key_bytes(&item, names));
            if items.len() < limit && compare::Reference::in_bucket(key, buckets) && !self.reference.is_changed(key) {
                items.push(item);
            }
        })
        .await?;
        Ok(items)
    }
}

/// Deletes one drill's exports; what became of them.
pub async fn clean_up(clients: &Clients, place: &Place) -> String {
    match export::delete_prefix(clients, &place.location(), &place.prefix).await {
        Ok(count) => format!("deleted ({count} objects)"),
        Err(error) => format!("not deleted: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(created: u64, completed: Option<u64>) -> RecoveryPoint {
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        RecoveryPoint {
            arn: "arn:aws:backup:us-east-1:123456789012:recovery-point:x".into(),
            vault: "v".into(),
            created: String::new(),
            backup_job_id: None,
            created_at: at(created),
            completed_at: completed.map(at),
        }
    }

    #[test]
    fn the_window_reaches_a_margin_beyond_creation_and_completion() {
        let window = window(&point(1_000, Some(1_030)), DEFAULT_MARGIN).unwrap();
        assert_eq!(window.start_at, SystemTime::UNIX_EPOCH + Duration::from_secs(940));
        assert_eq!(window.end_at, SystemTime::UNIX_EPOCH + Duration::from_secs(1_090));
        assert_eq!((window.seconds, window.margin_seconds), (150, 60));
        assert_eq!(window.start, "1970-01-01T00:15:40Z");
    }

    #[test]
    fn a_point_without_its_completion_has_no_window() {
        let error = window(&point(1_000, None), DEFAULT_MARGIN).unwrap_err();
        assert!(error.to_string().contains("CompletionDate"), "{error}");
    }

    #[test]
    fn each_drill_exports_under_its_own_prefix() {
        assert_eq!(drill_prefix("spatial-scans", "0123456789abcdef"), "drctl/spatial-scans/0123456789abcdef/");
    }
}
