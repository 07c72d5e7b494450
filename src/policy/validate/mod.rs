//! The semantic rules of a policy and the AWS constraints that
//! would otherwise fail only at deploy time. Every finding points at the
//! value to change and says how.

#[cfg(test)]
mod tests;
mod verify;

use verify::check_verify;

use std::collections::{BTreeMap, HashSet};

use super::duration::Duration;
use super::finding::Finding;
use super::load::LoadedPolicy;
use super::model::{Check, QueryCheck, RecoveryPointChoice, Reference, TablePolicy};
use super::names;
use super::schedule::Schedule;

/// AWS Backup's own defaults, used when a policy leaves a window out.
pub const DEFAULT_START_WINDOW: Duration = Duration::from_hours(8);
pub const DEFAULT_COMPLETION_WINDOW: Duration = Duration::from_days(7);
/// Recovery points in cold storage are billed and kept for 90 days at least.
const COLD_STORAGE_MINIMUM: Duration = Duration::from_days(90);

/// Collects the findings of one file.
struct Findings<'a> {
    loaded: &'a LoadedPolicy,
    found: Vec<Finding>,
}

impl Findings<'_> {
    fn error(&mut self, path: &str, rule: &'static str, message: impl Into<String>, hint: impl Into<String>) {
        let position = self.loaded.spans.value(path);
        self.found.push(Finding::error(&self.loaded.file, position, rule, message, hint));
    }
    fn warning(&mut self, path: &str, rule: &'static str, message: impl Into<String>, hint: impl Into<String>) {
        let position = self.loaded.spans.value(path);
        self.found.push(Finding::warning(&self.loaded.file, position, rule, message, hint));
    }
}

/// The schedule a policy asks for, from `schedule` or the `every` sugar.
pub fn schedule_of(policy: &TablePolicy) -> Option<Result<Schedule, super::schedule::ScheduleError>> {
    let backup = &policy.spec.backup;
    match (&backup.schedule, backup.every) {
        (Some(expression), None) => Some(Schedule::parse(expression)),
        (None, Some(every)) => Some(Schedule::every(every)),
        _ => None,
    }
}

/// Every finding of one policy on its own.
pub fn validate(loaded: &LoadedPolicy) -> Vec<Finding> {
    let mut findings = Findings { loaded, found: Vec::new() };
    let policy = &loaded.policy;
    check_identity(&mut findings, policy);
    let schedule = check_schedule(&mut findings, policy);
    check_windows(&mut findings, policy, schedule.as_ref());
    check_retention(&mut findings, policy, schedule.as_ref());
    check_copies(&mut findings, policy);
    check_vault(&mut findings, policy);
    check_verify(&mut findings, policy);
    check_notify(&mut findings, policy);
    findings.found
}

fn check_identity(findings: &mut Findings, policy: &TablePolicy) {
    let name = &policy.metadata.name;
    if !names::is_policy_name(name) {
        findings.error(
            "metadata.name",
            "name",
            format!("`{name}` is not a valid policy name"),
            "use 1 to 40 of a-z, 0-9 and `-`, starting and ending with a letter or digit",
        );
    } else if let Some(why) = names::reserved_policy_name(name) {
        findings.error("metadata.name", "name-reserved", format!("the policy name `{name}` is reserved: {why}"), "choose another name");
    } else if let Some(stem) = file_stem(&findings.loaded.file)
        && stem != name
    {
        findings.warning(
            "metadata.name",
            "name-matches-file",
            format!("the policy `{name}` lives in `{stem}.yaml`"),
            format!("rename the file to desired/{name}.yaml"),
        );
    }
    if let Some(owner) = &policy.metadata.owner
        && (owner.is_empty() || owner.len() > 128 || owner.chars().any(char::is_control))
    {
        findings.error("metadata.owner", "owner", "the owner must be 1 to 128 printable characters", "name the team, like `team-3d`");
    }
    let table = &policy.spec.table;
    if !names::is_table_name(table) {
        findings.error(
            "spec.table",
            "table-name",
            format!("`{}` is not a DynamoDB table name", names::shown(table)),
            "use 3 to 255 of A-Z, a-z, 0-9, `_`, `-` and `.`",
        );
    }
    let region = &policy.spec.region;
    if !names::is_region(region) {
        findings.error("spec.region", "region", format!("`{}` is not an AWS region", names::shown(region)), names::region_hint(region));
    }
}

fn check_schedule(findings: &mut Findings, policy: &TablePolicy) -> Option<Schedule> {
    let backup = &policy.spec.backup;
    let path = if backup.every.is_some() { "spec.backup.every" } else { "spec.backup.schedule" };
    let schedule = match schedule_of(policy) {
        None if backup.schedule.is_some() => {
            findings.error(
                "spec.backup.every",
                "schedule",
                "both `schedule` and `every` are set",
                "keep one: `schedule: cron(...)` or `every: 6h`",
            );
            return None;
        }
        None => {
            findings.error("spec.backup", "schedule", "the backup has no schedule", "add `schedule: cron(0 */6 * * ? *)` or `every: 6h`");
            return None;
        }
        Some(Err(error)) => {
            findings.error(
                path,
                "schedule",
                error.to_string(),
                "see AWS Backup's cron format: six fields, UTC, one of the two day fields `?`",
            );
            return None;
        }
        Some(Ok(schedule)) => schedule,
    };
    let rpo = policy.spec.objectives.rpo;
    if schedule.min_gap() < Duration::from_hours(1) {
        findings.error(
            path,
            "schedule-frequency",
            format!("runs as often as every {}: AWS Backup needs at least 60 minutes between runs", schedule.min_gap()),
            "run at most hourly; point-in-time recovery covers finer RPOs",
        );
    }
    if schedule.max_gap() > rpo {
        findings.error(
            path,
            "schedule-rpo",
            format!("up to {} pass between two backups, longer than the RPO of {rpo}", schedule.max_gap()),
            format!("back up at least every {rpo}, or raise objectives.rpo to {}", schedule.max_gap()),
        );
    }
    Some(schedule)
}

fn check_windows(findings: &mut Findings, policy: &TablePolicy, schedule: Option<&Schedule>) {
    let backup = &policy.spec.backup;
    let start = backup.start_window.unwrap_or(DEFAULT_START_WINDOW);
    let completion = backup.completion_window.unwrap_or(DEFAULT_COMPLETION_WINDOW);
    if start < Duration::from_hours(1) {
        findings.error(
            "spec.backup.start_window",
            "start-window",
            format!("a start window of {start} is under AWS Backup's minimum of 60 minutes"),
            "set start_window to 1h or more",
        );
    }
    if completion <= start {
        let path = if backup.completion_window.is_some() { "spec.backup.completion_window" } else { "spec.backup.start_window" };
        findings.error(
            path,
            "completion-window",
            format!("the completion window ({completion}) must be longer than the start window ({start})"),
            "lengthen completion_window or shorten start_window",
        );
    }
    let rpo = policy.spec.objectives.rpo;
    if let Some(schedule) = schedule
        && schedule.max_gap() <= rpo
        && schedule.max_gap().minutes() + start.minutes() > rpo.minutes()
    {
        findings.warning(
            "spec.backup.start_window",
            "start-window-rpo",
            format!(
                "a job may start up to {start} late, so the newest recovery point can be {} old, past the RPO of {rpo}",
                Duration::from_minutes(schedule.max_gap().minutes() + start.minutes())
            ),
            "shorten start_window so that schedule gap + start window stays within the RPO",
        );
    }
}

fn check_retention(findings: &mut Findings, policy: &TablePolicy, schedule: Option<&Schedule>) {
    let backup = &policy.spec.backup;
    let retention = backup.retention;
    if let Some(schedule) = schedule
        && retention < schedule.max_gap()
    {
        findings.error(
            "spec.backup.retention",
            "retention-schedule",
            format!(
                "recovery points are kept {retention}, less than the {} between backups: there would be times with none",
                schedule.max_gap()
            ),
            format!("keep them at least {}", schedule.max_gap()),
        );
    }
    let every = policy.spec.verify.every;
    if retention < every {
        findings.error(
            "spec.backup.retention",
            "retention-verify",
            format!("recovery points are kept {retention}, less than the drill interval verify.every {every}"),
            format!("raise retention to at least {every} or drill more often"),
        );
    }
    check_cold_storage(findings, "spec.backup", retention, backup.cold_storage_after);
    if let Some(schedule) = schedule {
        check_cold_copy(findings, policy, schedule);
    }
    for (index, copy) in backup.copies.iter().enumerate() {
        check_cold_storage(findings, &format!("spec.backup.copies[{index}]"), copy.retention, copy.cold_storage_after);
    }
}

/// A drill of a copy region (or another account) copies the recovery point
/// it proves, and "backups in cold storage or archive tiers cannot be
/// copied" (AWS Backup Developer Guide, "Backup and tag copy"): with
/// `recovery_point: latest`, the newest point may be as old as the longest
/// gap between backups, so it must not be in cold storage by then.
fn check_cold_copy(findings: &mut Findings, policy: &TablePolicy, schedule: &Schedule) {
    let backup = &policy.spec.backup;
    let Some(cold) = backup.cold_storage_after else { return };
    let copies_drilled = policy.spec.verify.regions.iter().any(|region| *region != policy.spec.region);
    if policy.spec.verify.recovery_point == RecoveryPointChoice::Latest && copies_drilled && cold < schedule.max_gap() {
        findings.error(
            "spec.backup.cold_storage_after",
            "cold-storage-copy",
            format!(
                "recovery points move to cold storage after {cold}, sooner than the {} between backups: a drill of a copy would find the newest point in cold storage, which AWS Backup cannot copy",
                schedule.max_gap()
            ),
            format!("move them to cold storage after at least {}, or drill with recovery_point: on-demand", schedule.max_gap()),
        );
    }
}

fn check_cold_storage(findings: &mut Findings, path: &str, retention: Duration, cold_after: Option<Duration>) {
    let Some(cold) = cold_after else { return };
    if retention.days_ceil() < cold.days_ceil() + COLD_STORAGE_MINIMUM.days_ceil() {
        findings.error(
            &format!("{path}.retention"),
            "cold-storage",
            format!("recovery points move to cold storage after {cold} and must then stay 90 days: retention {retention} is too short"),
            format!("set retention to at least {}d or drop cold_storage_after", cold.days_ceil() + 90),
        );
    }
}

fn check_copies(findings: &mut Findings, policy: &TablePolicy) {
    let mut seen = HashSet::new();
    for (index, copy) in policy.spec.backup.copies.iter().enumerate() {
        let path = format!("spec.backup.copies[{index}].region");
        check_copy_account(findings, policy, index, copy);
        if !names::is_region(&copy.region) {
            findings.error(
                &path,
                "region",
                format!("`{}` is not an AWS region", names::shown(&copy.region)),
                names::region_hint(&copy.region),
            );
        } else if !seen.insert(copy.target()) {
            findings.error(&path, "copy-region", format!("a second copy to {}", copy.target()), "keep one copy per region and account");
        } else if copy.region == policy.spec.region && copy.account.is_none() {
            findings.error(
                &path,
                "copy-region",
                format!("the copy goes to {}, the primary region: it survives no regional outage", copy.region),
                "copy to another region, like us-west-2",
            );
        }
    }
    if policy.metadata.environment == super::model::Environment::Prod && policy.spec.backup.copies.is_empty() {
        findings.warning(
            "spec.backup",
            "prod-copy",
            "a prod table without a cross-region copy is lost with its region",
            "add `copies: [{ region: us-west-2, retention: 35d }]`",
        );
    }
}

/// A copy to another account: the source account named (the backup
/// account's vault admits source accounts by id), another account than the
/// policy's, a vault name AWS accepts, and a vault only with an account.
fn check_copy_account(findings: &mut Findings, policy: &TablePolicy, index: usize, copy: &super::model::Copy) {
    let at = |field: &str| format!("spec.backup.copies[{index}].{field}");
    let Some(account) = &copy.account else {
        if copy.vault.is_some() {
            findings.error(&at("vault"), "copy-account", "a vault without an account", "name the account the vault is in, or remove vault");
        }
        return;
    };
    if !crate::policy::accounts::is_account_id(account) {
        findings.error(
            &at("account"),
            "copy-account",
            format!("`{}` is not an AWS account id", names::shown(account)),
            "write its 12 digits",
        );
    } else if policy.spec.account.is_none() {
        findings.error(
            &at("account"),
            "copy-account",
            "a copy to another account needs the policy's own spec.account",
            "name the table's account in spec.account (the backup account's vault admits source accounts by id)",
        );
    } else if policy.spec.account.as_ref() == Some(account) {
        findings.error(
            &at("account"),
            "copy-account",
            "the copy goes to the policy's own account",
            "remove account, or name the backup account",
        );
    }
    let well_formed =
        |vault: &str| (2..=50).contains(&vault.len()) && vault.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if let Some(vault) = copy.vault.as_deref().filter(|v| !well_formed(v)) {
        findings.error(
            &at("vault"),
            "copy-account",
            format!("`{}` is not a vault name AWS accepts", names::shown(vault)),
            "use 2 to 50 of [A-Za-z0-9_-]",
        );
    }
}

fn check_vault(findings: &mut Findings, policy: &TablePolicy) {
    let Some(vault) = &policy.spec.backup.vault else { return };
    if let Some(key) = &vault.kms_key
        && !names::is_kms_key(key)
    {
        findings.error(
            "spec.backup.vault.kms_key",
            "kms-key",
            format!("`{}` is not a KMS key id, key ARN or alias", names::shown(key)),
            "write `alias/name`, a key id, or `arn:aws:kms:REGION:ACCOUNT:key/ID`",
        );
    }
    let Some(lock) = &vault.lock else { return };
    if lock.min_retention > lock.max_retention {
        findings.error(
            "spec.backup.vault.lock.min_retention",
            "lock",
            format!("the lock's minimum {} is above its maximum {}", lock.min_retention, lock.max_retention),
            "swap or correct the two values",
        );
        return;
    }
    if let Some(grace) = lock.changeable_for
        && grace < Duration::from_days(3)
    {
        findings.error(
            "spec.backup.vault.lock.changeable_for",
            "lock",
            format!("a grace time of {grace} is under AWS's minimum of 3 days"),
            "set changeable_for to 3d or more",
        );
    }
    let retentions = std::iter::once(("spec.backup.retention".to_string(), policy.spec.backup.retention))
        .chain(policy.spec.backup.copies.iter().enumerate().map(|(i, c)| (format!("spec.backup.copies[{i}].retention"), c.retention)));
    for (path, retention) in retentions {
        if retention < lock.min_retention || retention > lock.max_retention {
            findings.error(
                &path,
                "lock-retention",
                format!(
                    "retention {retention} is outside the vault lock's {}..{}: AWS Backup would refuse every job",
                    lock.min_retention, lock.max_retention
                ),
                "keep retention between lock.min_retention and lock.max_retention",
            );
        }
    }
}

fn check_notify(findings: &mut Findings, policy: &TablePolicy) {
    let topic = &policy.spec.notify.sns_topic;
    if !names::is_topic_name(topic) && !names::is_topic_arn(topic) {
        findings.error(
            "spec.notify.sns_topic",
            "sns-topic",
            format!("`{}` is neither an SNS topic name nor a topic ARN", names::shown(topic)),
            "write a name like `dr-announcements` or `arn:aws:sns:us-east-1:123456789012:dr-announcements`",
        );
    }
}

/// Findings across policies: names and tables owned twice.
pub fn validate_set(policies: &[LoadedPolicy]) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut names: BTreeMap<&str, &LoadedPolicy> = BTreeMap::new();
    let mut tables: BTreeMap<(&str, &str, Option<&str>), &LoadedPolicy> = BTreeMap::new();
    for loaded in policies {
        let spec = &loaded.policy.spec;
        if let Some(first) = names.insert(&loaded.policy.metadata.name, loaded) {
            found.push(Finding::error(
                &loaded.file,
                loaded.spans.value("metadata.name"),
                "name-unique",
                format!("the name `{}` is also used by {}", loaded.policy.metadata.name, first.file),
                "give each policy its own name",
            ));
        }
        if let Some(first) = tables.insert((&spec.table, &spec.region, spec.account.as_deref()), loaded) {
            found.push(Finding::error(
                &loaded.file,
                loaded.spans.value("spec.table"),
                "table-owner",
                format!("table {} in {} is also governed by {}", spec.table, spec.region, first.file),
                "one policy per table and region: merge the two",
            ));
        }
    }
    found
}

fn file_stem(file: &str) -> Option<&str> {
    let name = file.rsplit('/').next()?;
    name.strip_suffix(".yaml").or_else(|| name.strip_suffix(".yml"))
}
