//! Scratch tables: named `drctl-drill-<policy>-<short-id>`, restored by an
//! AWS Backup restore job, tagged as drctl scratch, and deleted only when
//! both the name prefix and the scratch tag say drctl made them.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_backup::types::RestoreJobStatus;
use aws_sdk_dynamodb::types::{TableDescription, TableStatus, Tag};

use super::DrillError;
use super::jobs::{self, Seen};
use super::poll::{self, Backoff};
use crate::aws::Clients;
use crate::render::POLICY_TAG;

/// Every scratch table's name starts with this.
pub const SCRATCH_PREFIX: &str = "drctl-drill-";
/// `drctl:scratch=true` marks a table drctl restored for a drill.
pub const SCRATCH_TAG: &str = "drctl:scratch";
pub const DRILL_ID_TAG: &str = "drctl:drill-id";
/// `drctl:expires=<RFC 3339 time>`: until when a drill uses the table. The
/// drill renews it while it works, so `gc` can tell a table in use from a
/// leftover from the table itself, whatever state store it reads.
pub const EXPIRES_TAG: &str = "drctl:expires";
/// How far ahead a drill claims its scratch table; renewed every quarter
/// of it while checks run.
pub const SCRATCH_HOLD: Duration = Duration::from_secs(30 * 60);

/// The scratch table name of a drill of `policy`.
pub fn scratch_name(policy: &str, short_id: &str) -> String {
    format!("{SCRATCH_PREFIX}{policy}-{short_id}")
}

/// The tags a scratch table carries.
pub fn scratch_tags(policy: &str, drill_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (SCRATCH_TAG.to_string(), "true".to_string()),
        (POLICY_TAG.to_string(), policy.to_string()),
        (DRILL_ID_TAG.to_string(), drill_id.to_string()),
    ])
}

/// The expiry tag claiming a scratch table until `until`.
pub fn expires_tag(until: SystemTime) -> (String, String) {
    let value = aws_smithy_types::DateTime::from(until)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| "9999-12-31T23:59:59Z".to_string());
    (EXPIRES_TAG.to_string(), value)
}

/// Until when the table with `tags` is claimed by a drill: `None` without
/// an expiry tag, an error when the tag holds no time (drctl then cannot
/// tell that the table is free).
pub fn claimed_until(tags: &BTreeMap<String, String>) -> Option<Result<SystemTime, String>> {
    let value = tags.get(EXPIRES_TAG)?;
    Some(
        aws_smithy_types::DateTime::from_str(value, aws_smithy_types::date_time::Format::DateTime)
            .ok()
            .and_then(|t| SystemTime::try_from(t).ok())
            .ok_or_else(|| format!("its {EXPIRES_TAG} tag {value:?} is not an RFC 3339 time")),
    )
}

/// Whether drctl may delete table `name` with `tags`: only a table whose
/// name has the scratch prefix and that carries `drctl:scratch=true`.
pub fn deletable(name: &str, tags: &BTreeMap<String, String>) -> Result<(), String> {
    if !name.starts_with(SCRATCH_PREFIX) {
        return Err(format!("{name} does not start with {SCRATCH_PREFIX}"));
    }
    match tags.get(SCRATCH_TAG).map(String::as_str) {
        Some("true") => Ok(()),
        _ => Err(format!("{name} is not tagged {SCRATCH_TAG}=true")),
    }
}

/// The scratch table of a drill in one region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScratchPlan {
    pub table: String,
    /// Named in the record of the interrupted drill this one resumes: it
    /// may exist already, created by that drill's restore.
    pub resumed: bool,
    /// The restore job the interrupted drill started into it, if recorded.
    pub job_id: Option<String>,
}

/// Which scratch table a drill of `policy` with `drill_id` restores into:
/// the name the drill id gives, or, when resuming, the table the record
/// names, which is accepted only when it is that very name. A record naming
/// any other table is refused, so no record can make drctl adopt (and later
/// delete) a table it did not create.
pub fn plan(policy: &str, drill_id: &str, recorded: Option<&(String, Option<String>)>) -> Result<ScratchPlan, DrillError> {
    let table = scratch_name(policy, drill_id.get(..8).unwrap_or(drill_id));
    match recorded {
        None => Ok(ScratchPlan { table, resumed: false, job_id: None }),
        Some((named, job_id)) if *named == table || Some(named) == second_name(policy, drill_id).as_ref() => {
            Ok(ScratchPlan { table: named.clone(), resumed: true, job_id: job_id.clone() })
        }
        Some((named, _)) => Err(DrillError::BadResume {
            why: format!("the record names scratch table {named}, but drill {drill_id} of {policy} restores into {table}"),
        }),
    }
}

/// The scratch table of a drill's second restore in a region: the drill was
/// resumed after its first scratch table had been deleted (after its
/// checks, whose results died with the run), so it restores again. Named
/// from the other half of the drill id; `None` for a drill id too short.
pub fn second_name(policy: &str, drill_id: &str) -> Option<String> {
    drill_id.get(8..16).map(|half| scratch_name(policy, half))
}

/// What an interrupted drill's restore job left, as a resumed drill finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// The job completed and its table is gone since: the first run deleted
    /// the scratch table after its checks and died before recording them.
    Gone,
    /// The job (or its table) is still there to wait for; created then
    /// (for the RTO).
    Waiting { created: SystemTime },
}

/// One DescribeRestoreJob (and, once it completed, one DescribeTable of
/// `table`) tells a resumed drill what its restore job `job_id` left.
/// A completed job that made any other table is refused
/// ([`DrillError::BadResume`]): the record named a job its drill did not
/// start.
pub async fn interrupted_restore(clients: &Clients, job_id: &str, table: &str) -> Result<Interrupted, DrillError> {
    let job = describe_restore(clients, job_id).await?;
    if job.status() == Some(&RestoreJobStatus::Completed) {
        jobs::require("restore", job_id, "restored into", made_table(&job), table)?;
        if describe(clients, table).await?.is_none() {
            return Ok(Interrupted::Gone);
        }
    }
    // "now" in place of a missing time would hide the restore's duration
    // so far from the RTO.
    let created = job.creation_date().and_then(|d| SystemTime::try_from(*d).ok()).ok_or_else(|| DrillError::Aws {
        action: format!("DescribeRestoreJob {job_id}"),
        why: "the answer has no CreationDate: the resumed restore's RTO cannot be measured".into(),
    })?;
    Ok(Interrupted::Waiting { created })
}

/// The name of the table a restore job made, from its CreatedResourceArn.
fn made_table(job: &aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput) -> Option<&str> {
    job.created_resource_arn().map(|arn| arn.rsplit_once(":table/").map_or(arn, |(_, name)| name))
}

async fn describe_restore(
    clients: &Clients,
    job_id: &str,
) -> Result<aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput, DrillError> {
    clients
        .backup
        .describe_restore_job()
        .restore_job_id(job_id)
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("DescribeRestoreJob {job_id}"), &e))
}

/// The table's description, `None` when it does not exist.
pub async fn describe(clients: &Clients, table: &str) -> Result<Option<TableDescription>, DrillError> {
    match clients.dynamodb.describe_table().table_name(table).send().await {
        Ok(out) => Ok(out.table().cloned()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
        Err(e) => Err(DrillError::aws(format!("DescribeTable {table}"), &e)),
    }
}

/// Refuses a scratch name that an existing table already has.
pub async fn ensure_absent(clients: &Clients, table: &str) -> Result<(), DrillError> {
    match describe(clients, table).await? {
        Some(_) => Err(DrillError::ScratchNameTaken { table: table.to_string() }),
        None => Ok(()),
    }
}

/// What a restore needs.
pub struct RestoreRequest<'a> {
    pub recovery_point_arn: &'a str,
    pub role_arn: &'a str,
    pub table: &'a str,
    pub idempotency_token: &'a str,
}

/// Starts the restore job into the scratch table; returns its id.
pub async fn start_restore(clients: &Clients, request: &RestoreRequest<'_>) -> Result<String, DrillError> {
    let started = clients
        .backup
        .start_restore_job()
        .recovery_point_arn(request.recovery_point_arn)
        .iam_role_arn(request.role_arn)
        .resource_type("DynamoDB")
        .metadata("targetTableName", request.table)
        .idempotency_token(request.idempotency_token)
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("StartRestoreJob of {} into {}", request.recovery_point_arn, request.table), &e))?;
    jobs::started_id(started.restore_job_id(), format!("StartRestoreJob of {} into {}", request.recovery_point_arn, request.table))
}

/// Polls a restore job until COMPLETED or FAILED/ABORTED (an error with the
/// job's status message). A completed job that made any table but `table`
/// is refused ([`DrillError::BadResume`]).
pub async fn wait_restore(clients: &Clients, job_id: &str, table: &str, backoff: Backoff, deadline: Duration) -> Result<(), DrillError> {
    jobs::wait("restore", job_id, backoff, deadline, || async {
        let job = describe_restore(clients, job_id).await?;
        Ok(match job.status() {
            Some(RestoreJobStatus::Completed) => {
                // The table a completed restore made must be this drill's
                // scratch table: a job of anyone else's is not waited on.
                jobs::require("restore", job_id, "restored into", made_table(&job), table)?;
                Seen::Completed(job.created_resource_arn().map(str::to_string))
            }
            Some(status @ (RestoreJobStatus::Failed | RestoreJobStatus::Aborted)) => {
                Seen::Ended { state: status.as_str().to_string(), message: job.status_message().map(str::to_string) }
            }
            _ => Seen::Running,
        })
    })
    .await
    .map(|_| ())
}

/// Tags the restored table as this drill's scratch table.
pub async fn tag(clients: &Clients, table: &str, tags: &BTreeMap<String, String>) -> Result<(), DrillError> {
    let arn = describe(clients, table)
        .await?
        .and_then(|t| t.table_arn().map(str::to_string))
        .ok_or_else(|| DrillError::Aws { action: format!("DescribeTable {table}"), why: "the restored table does not exist".into() })?;
    let tags: Vec<Tag> = tags.iter().filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok()).collect();
    clients
        .dynamodb
        .tag_resource()
        .resource_arn(&arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("TagResource {table}"), &e))?;
    Ok(())
}

/// Waits until `table` is ACTIVE; returns its description.
pub async fn wait_active(clients: &Clients, table: &str, backoff: Backoff, deadline: Duration) -> Result<TableDescription, DrillError> {
    poll::until(&format!("table {table} ACTIVE"), backoff, deadline, || async {
        let found = describe(clients, table).await?;
        Ok(found.filter(|t| t.table_status() == Some(&TableStatus::Active)))
    })
    .await
}

/// What became of the scratch table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "why")]
pub enum Cleanup {
    /// No restore was started, so there is nothing to delete.
    NotCreated,
    /// The restore left no table.
    Absent,
    Deleted,
    /// The table is not provably drctl's scratch: left alone.
    Refused(String),
    Failed(String),
}

impl Cleanup {
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::NotCreated | Self::Absent | Self::Deleted)
    }
}

/// Deletes `table` if it is drctl scratch ([`deletable`]) and waits until
/// it is gone.
pub async fn delete(clients: &Clients, table: &str, backoff: Backoff, deadline: Duration) -> Cleanup {
    match delete_checked(clients, table, backoff, deadline).await {
        Ok(cleanup) => cleanup,
        Err(error) => Cleanup::Failed(error.to_string()),
    }
}

async fn delete_checked(clients: &Clients, table: &str, backoff: Backoff, deadline: Duration) -> Result<Cleanup, DrillError> {
    let Some(description) = describe(clients, table).await? else { return Ok(Cleanup::Absent) };
    let tags = match description.table_arn() {
        Some(arn) => tags_of(clients, arn).await?,
        None => BTreeMap::new(),
    };
    if let Err(why) = deletable(table, &tags) {
        return Ok(Cleanup::Refused(why));
    }
    if description.table_status() != Some(&TableStatus::Deleting) {
        clients.dynamodb.delete_table().table_name(table).send().await.map_err(|e| DrillError::aws(format!("DeleteTable {table}"), &e))?;
    }
    poll::until(&format!("table {table} deleted"), backoff, deadline, || async {
        Ok(describe(clients, table).await?.is_none().then_some(()))
    })
    .await?;
    Ok(Cleanup::Deleted)
}

/// Claims `table` for `hold` more from now (renewing its expiry tag).
pub async fn claim(clients: &Clients, table: &str, hold: Duration) -> Result<(), DrillError> {
    let (key, value) = expires_tag(SystemTime::now() + hold);
    tag(clients, table, &BTreeMap::from([(key, value)])).await
}

/// Every tag of the resource `arn` (paginated).
pub async fn tags_of(clients: &Clients, arn: &str) -> Result<BTreeMap<String, String>, DrillError> {
    let mut tags = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| DrillError::aws(format!("ListTagsOfResource {arn}"), &e))?;
        tags.extend(page.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())));
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(tags),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_prefixed_and_tagged_table_is_deletable() {
        let tags = scratch_tags("scans", "d1");
        assert_eq!(deletable("drctl-drill-scans-ab12cd34", &tags), Ok(()));
        assert!(deletable("SpatialScans", &tags).unwrap_err().contains("does not start with"));
        assert!(deletable("drctl-drill-scans-ab12cd34", &BTreeMap::new()).unwrap_err().contains("not tagged"));
        let wrong = BTreeMap::from([(SCRATCH_TAG.to_string(), "false".to_string())]);
        assert!(deletable("drctl-drill-scans-ab12cd34", &wrong).is_err());
    }

    #[test]
    fn a_resumed_drill_accepts_only_the_scratch_table_its_id_names() {
        let fresh = plan("scans", "ab12cd34ef567890", None).unwrap();
        assert_eq!(fresh, ScratchPlan { table: "drctl-drill-scans-ab12cd34".into(), resumed: false, job_id: None });
        let recorded = ("drctl-drill-scans-ab12cd34".to_string(), Some("R".to_string()));
        let resumed = plan("scans", "ab12cd34ef567890", Some(&recorded)).unwrap();
        assert!(resumed.resumed && resumed.job_id.as_deref() == Some("R"), "{resumed:?}");
        for other in ["SpatialScans", "drctl-drill-scans-00000000", "drctl-drill-other-ab12cd34"] {
            let error = plan("scans", "ab12cd34ef567890", Some(&(other.to_string(), None))).unwrap_err();
            assert!(matches!(error, DrillError::BadResume { .. }), "{other}: {error}");
        }
    }

    #[test]
    fn the_scratch_name_carries_the_policy_and_short_id() {
        assert_eq!(scratch_name("spatial-scans", "ab12cd34"), "drctl-drill-spatial-scans-ab12cd34");
    }
}
