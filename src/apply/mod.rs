//! Apply: the changed stacks of a plan deployed through
//! change sets, followed to a terminal state, with the destructive-change
//! guard in front.
//!
//! # Guarantees
//! - A change set that removes or replaces a backup vault is refused: a
//!   desired policy never loses its vault. The only way to remove drctl's
//!   stacks is `--prune` of orphans, and vaults and their recovery points
//!   are retained even then (`DeletionPolicy: Retain`).
//! - A stack is changed only when its tags say it is drctl's, for this
//!   policy (or the bootstrap): a stack that merely has the name is refused.
//! - Only the change set this run created is executed, by the id
//!   CloudFormation returned; its name carries a nonce, so nobody can
//!   prepare it in advance (see [`changeset`]).
//! - Change sets and executions carry client request tokens: a retried
//!   call never applies twice.
//! - One policy's failure is isolated and reported; the others apply.
//!
//! # Caveats
//! - A stack already being changed by someone else is waited for, never
//!   fought; if it does not settle before the deadline the policy fails.

pub mod progress;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;

use crate::aws::{Aws, describe, error_code};
use crate::plan::changeset::{self, Created};
use crate::plan::{self, Action, OrphanStack, Plan, PolicyPlan, StackStatus as PlanStatus};
use crate::policy::{Checked, LoadedPolicy};
use crate::render::{self, Stack};

mod bootstrap;

use bootstrap::BOOTSTRAP_FIX;
pub use bootstrap::{bootstrap, service_role};
pub use progress::{Counts, Progress};

/// How to apply.
#[derive(Clone, Debug)]
pub struct Options {
    pub commit: Option<String>,
    /// Delete the stacks of policies no longer desired (vaults are retained).
    pub prune: bool,
    pub concurrency: usize,
    /// How long one stack operation may take.
    pub stack_deadline: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { commit: None, prune: false, concurrency: 4, stack_deadline: Duration::from_secs(1800) }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum StackOutcome {
    Unchanged,
    NoChanges,
    /// Executed: the stack's status and the change set that did it.
    Applied {
        status: String,
        change_set_id: String,
    },
    Refused {
        why: String,
    },
    Failed {
        status: String,
        reasons: Vec<String>,
        fix: Option<String>,
    },
    Deleted {
        retained_vaults: Vec<String>,
    },
}

impl StackOutcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Refused { .. } | Self::Failed { .. })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StackReport {
    pub stack: String,
    pub region: String,
    #[serde(flatten)]
    pub outcome: StackOutcome,
}

#[derive(Clone, Debug, Serialize)]
pub struct PolicyReport {
    pub name: String,
    pub stacks: Vec<StackReport>,
    /// PITR set on the table (from → to), when it differed.
    pub pitr: Option<String>,
    pub error: Option<String>,
}

impl PolicyReport {
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.stacks.iter().any(|s| s.outcome.is_failure())
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub policies: Vec<PolicyReport>,
    pub pruned: Vec<StackReport>,
    /// Orphans left alone (no `--prune`).
    pub orphans_left: Vec<OrphanStack>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.policies.iter().any(PolicyReport::failed) || self.pruned.iter().any(|s| s.outcome.is_failure())
    }
}

/// Applies every changed policy of `plan`, concurrently within a bound.
pub async fn apply(aws: &Aws, checked: &Checked, plan: &Plan, options: &Options, progress: &Progress) -> Report {
    let valid: BTreeMap<&str, &LoadedPolicy> = checked.valid().map(|p| (p.policy.metadata.name.as_str(), p)).collect();
    let work =
        plan.policies.iter().filter(|p| p.has_changes() || p.error.is_some()).filter_map(|p| Some((p, *valid.get(p.name.as_str())?)));
    let mut policies: Vec<PolicyReport> =
        futures_util::stream::iter(work.map(|(planned, loaded)| apply_policy(aws, planned, loaded, options, progress)))
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    let (pruned, orphans_left) = prune_orphans(aws, plan, options, progress).await;
    progress.finish();
    Report { policies, pruned, orphans_left }
}

/// With `--prune` and every policy valid, deletes the orphaned stacks
/// (vaults retained); otherwise leaves them. Returns (pruned, left).
pub async fn prune_orphans(aws: &Aws, plan: &Plan, options: &Options, progress: &Progress) -> (Vec<StackReport>, Vec<OrphanStack>) {
    if !(options.prune && plan.invalid.is_empty()) {
        return (Vec::new(), plan.orphans.clone());
    }
    let mut pruned = Vec::new();
    for orphan in &plan.orphans {
        pruned.push(prune(aws, orphan, options, progress).await);
    }
    (pruned, Vec::new())
}

/// Applies one policy's planned stacks (DR vaults first) and its PITR.
pub async fn apply_policy(aws: &Aws, planned: &PolicyPlan, loaded: &LoadedPolicy, options: &Options, progress: &Progress) -> PolicyReport {
    let mut report = PolicyReport { name: planned.name.clone(), stacks: Vec::new(), pitr: None, error: planned.error.clone() };
    if report.error.is_some() {
        return report;
    }
    let stacks = match render::render(&loaded.policy) {
        Ok(stacks) => stacks,
        Err(error) => {
            report.error = Some(error.to_string());
            return report;
        }
    };
    // DR vaults first: the plan's copy actions point at them.
    for stack in &stacks {
        let Some(stack_plan) = planned.stacks.iter().find(|s| s.stack == stack.name && s.region == stack.region) else { continue };
        let outcome = if stack_plan.status == PlanStatus::Unchanged {
            StackOutcome::Unchanged
        } else {
            let tags = plan::stack_tags(stack, &planned.content_hash, options.commit.as_deref(), &plan::policy_regions(&loaded.policy));
            match service_role(aws, &stack.region).await {
                Ok(role) => deploy_stack(aws, stack, tags, Some(&role), options, progress).await,
                Err(why) => StackOutcome::Failed { status: "NONE".into(), reasons: vec![why], fix: Some(BOOTSTRAP_FIX.into()) },
            }
        };
        let failed = outcome.is_failure();
        report.stacks.push(StackReport { stack: stack.name.clone(), region: stack.region.clone(), outcome });
        if failed {
            return report;
        }
    }
    if let Some(change) = &planned.pitr {
        match set_pitr(aws, &change.table, &change.region, change.to).await {
            Ok(()) => report.pitr = Some(format!("{} → {}", on_off(change.from), on_off(Some(change.to)))),
            Err(error) => report.error = Some(error),
        }
    }
    report
}

fn on_off(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "on",
        Some(false) => "off",
        None => "no table",
    }
}

/// Deploys one stack through a change set: waits out an operation in
/// progress, replaces a stack that died on create, refuses to touch a
/// vault, executes and follows it. `role_arn` is the CloudFormation service
/// role the stack runs with (`None` only for the bootstrap, which creates it).
pub async fn deploy_stack(
    aws: &Aws,
    stack: &Stack,
    tags: Vec<(String, String)>,
    role_arn: Option<&str>,
    options: &Options,
    progress: &Progress,
) -> StackOutcome {
    let current = match settle(aws, stack, options, progress).await {
        Ok(current) => current,
        Err(outcome) => return outcome,
    };
    if let Some(why) = current.as_ref().and_then(|found| not_ours(stack, &found.tags)) {
        return StackOutcome::Refused { why };
    }
    let current = current.map(|found| found.status);
    let exists = match current.as_deref() {
        None => false,
        Some("ROLLBACK_COMPLETE" | "REVIEW_IN_PROGRESS") => {
            // Died on create (or an abandoned preview): holds no resources; delete and create anew.
            progress.note(&stack.name, "deleting the stack left by a failed create");
            if let Err(why) = delete_stack(aws, stack, options, progress).await {
                return StackOutcome::Failed { status: current.unwrap_or_default(), reasons: vec![why], fix: None };
            }
            false
        }
        Some("UPDATE_ROLLBACK_FAILED") => {
            return StackOutcome::Failed {
                status: "UPDATE_ROLLBACK_FAILED".into(),
                reasons: vec!["a previous update could not be rolled back".into()],
                fix: Some(format!("aws cloudformation continue-update-rollback --stack-name {} --region {}", stack.name, stack.region)),
            };
        }
        Some(_) => true,
    };
    let template_hash = plan::deployed::template_hash(stack);
    let request = changeset::Request {
        stack,
        exists,
        name: changeset::run_name(changeset::APPLY_PREFIX, &template_hash),
        role_arn: role_arn.map(str::to_string),
        tags,
    };
    let (id, changes) = match changeset::create(aws, &request).await {
        Ok(Created::NoChanges) => return StackOutcome::NoChanges,
        Ok(Created::Ready { id, changes }) => (id, changes),
        Err(error) => {
            return StackOutcome::Failed { status: current.unwrap_or_else(|| "NONE".into()), reasons: vec![error.to_string()], fix: None };
        }
    };
    if let Some(why) = destructive(&changes) {
        let _ = changeset::delete(aws, stack, &id).await;
        if !exists {
            let _ = changeset::delete_review_stack(aws, stack).await;
        }
        return StackOutcome::Refused { why };
    }
    execute(aws, stack, &id, &request.name, options, progress).await
}

/// Why an existing stack of this name is not this stack's to change: an
/// ownership tag missing or naming someone else. drctl finds stacks by
/// name, and a name is no proof of ownership.
pub fn not_ours(stack: &Stack, found: &BTreeMap<String, String>) -> Option<String> {
    let mut expected = vec![(render::MANAGED_BY_TAG, Some(render::MANAGED_BY_VALUE.to_string()))];
    match &stack.policy {
        Some(policy) => {
            expected.push((plan::deployed::ROLE_TAG, Some(stack.role.tag_value().to_string())));
            expected.push((render::POLICY_TAG, Some(policy.clone())));
        }
        // Bootstrap stacks of early releases carry no role tag; no policy
        // tag is what tells them from a policy's stack.
        None => expected.push((render::POLICY_TAG, None)),
    }
    let wrong: Vec<String> = expected
        .iter()
        .filter_map(|(key, value)| match (found.get(*key), value) {
            (None, Some(value)) => Some(format!("tag {key} is missing (expected {value})")),
            (Some(other), Some(value)) if other != value => Some(format!("tag {key} is {other} (expected {value})")),
            (Some(other), None) => Some(format!("tag {key} is {other} (a bootstrap stack has none)")),
            _ => None,
        })
        .collect();
    (!wrong.is_empty()).then(|| {
        format!(
            "refused: stack {} in {} exists but is not drctl's for this {}: {}. Rename the policy, or delete or retag the stack if it is drctl's",
            stack.name,
            stack.region,
            stack.policy.as_deref().map_or("bootstrap".to_string(), |p| format!("policy ({p})")),
            wrong.join("; ")
        )
    })
}

/// Why a change set must not run: it would remove or replace a vault.
fn destructive(changes: &[crate::plan::ResourceChange]) -> Option<String> {
    let vault_changes: Vec<String> = changes
        .iter()
        .filter(|c| c.resource_type == "AWS::Backup::BackupVault" && (c.action == Action::Remove || c.replaces()))
        .map(|c| format!("{} {} ({})", c.action.symbol(), c.logical_id, if c.action == Action::Remove { "remove" } else { "replace" }))
        .collect();
    (!vault_changes.is_empty()).then(|| {
        format!(
            "refused: the change would {} a backup vault holding recovery points: {}. Keep the vault settings (name, KMS key) as they are, or delete the policy and run with --prune",
            if vault_changes.iter().any(|c| c.ends_with("(remove)")) { "remove" } else { "replace" },
            vault_changes.join(", ")
        )
    })
}

/// What drctl reads of an existing stack before it changes it.
struct Found {
    status: String,
    tags: BTreeMap<String, String>,
}

/// Waits out an operation already in progress on the stack; returns its
/// settled status and tags (`None` when it does not exist).
async fn settle(aws: &Aws, stack: &Stack, options: &Options, progress: &Progress) -> Result<Option<Found>, StackOutcome> {
    let found =
        stack_found(aws, stack).await.map_err(|why| StackOutcome::Failed { status: "UNKNOWN".into(), reasons: vec![why], fix: None })?;
    match found {
        Some(found) if found.status.ends_with("_IN_PROGRESS") && found.status != "REVIEW_IN_PROGRESS" => {
            progress.note(&stack.name, &format!("{}: another operation is running, waiting for it", found.status));
            match follow(aws, stack, options, progress).await {
                Ok(status) => Ok(Some(Found { status, tags: found.tags })),
                Err(why) => Err(StackOutcome::Failed { status: found.status, reasons: vec![why], fix: None }),
            }
        }
        other => Ok(other),
    }
}

/// How long a stack read that AWS throttles or fails on its side is tried
/// again: a throttled read is not a failed stack.
const READ_PATIENCE: Duration = Duration::from_secs(120);

/// DescribeStacks of `name`, asked again with backoff while the answer is
/// transient (a throttle, a server error, a timeout) for [`READ_PATIENCE`].
async fn describe_stack(
    client: &aws_sdk_cloudformation::Client,
    name: &str,
) -> Result<
    aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput,
    aws_sdk_cloudformation::error::SdkError<aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksError>,
> {
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        match client.describe_stacks().stack_name(name).send().await {
            Err(error) if crate::aws::is_transient(&error) && started.elapsed() < READ_PATIENCE => {
                tracing::warn!(stack = name, why = %describe(&error), "reading the stack failed; reading it again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            answer => return answer,
        }
    }
}

async fn stack_found(aws: &Aws, stack: &Stack) -> Result<Option<Found>, String> {
    let client = aws.region(&stack.region).cloudformation;
    match describe_stack(&client, &stack.name).await {
        Ok(output) => {
            let Some(found) = output.stacks().first() else { return Ok(None) };
            let status = found
                .stack_status()
                .map(|s| s.as_str().to_string())
                .ok_or_else(|| format!("{}: DescribeStacks gave no status", stack.name))?;
            let tags = found.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
            Ok(Some(Found { status, tags }))
        }
        Err(error) if error_code(&error) == Some("ValidationError") => Ok(None),
        Err(error) => Err(describe(&error)),
    }
}

async fn stack_status(aws: &Aws, stack: &Stack) -> Result<Option<String>, String> {
    Ok(stack_found(aws, stack).await?.map(|found| found.status))
}

async fn execute(aws: &Aws, stack: &Stack, change_set: &str, token: &str, options: &Options, progress: &Progress) -> StackOutcome {
    let client = aws.region(&stack.region).cloudformation;
    let started = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    crate::failpoint::hit("apply/change-set-created");
    if let Err(error) =
        client.execute_change_set().change_set_name(change_set).stack_name(&stack.name).client_request_token(token).send().await
    {
        return StackOutcome::Failed { status: "NONE".into(), reasons: vec![describe(&error)], fix: None };
    }
    crate::failpoint::hit("apply/change-set-executing");
    let status = match follow(aws, stack, options, progress).await {
        Ok(status) => status,
        Err(why) => return StackOutcome::Failed { status: "UNKNOWN".into(), reasons: vec![why], fix: None },
    };
    crate::failpoint::hit("apply/stack-done");
    match status.as_str() {
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE" => {
            StackOutcome::Applied { status, change_set_id: change_set.to_string() }
        }
        _ => {
            let reasons = failure_reasons(aws, stack, started).await;
            let fix = fix_for(stack, &status, &reasons);
            StackOutcome::Failed { status, reasons, fix }
        }
    }
}

/// The action that gets a failed stack going again, where one is known.
fn fix_for(stack: &Stack, status: &str, reasons: &[String]) -> Option<String> {
    if status == "UPDATE_ROLLBACK_FAILED" {
        return Some(format!("aws cloudformation continue-update-rollback --stack-name {} --region {}", stack.name, stack.region));
    }
    // A vault outlives a failed create (DeletionPolicy: Retain), and its
    // name is fixed: the next create finds it in the way.
    let vault = reasons.iter().find(|r| r.starts_with("BackupVault") && r.contains("already exists"))?;
    let name = vault.rsplit(": ").next().unwrap_or_default();
    Some(format!(
        "vault {name} in {region} survived an earlier failed create (vaults are retained). If it holds no recovery points, delete it: \
         aws backup delete-backup-vault --backup-vault-name {name} --region {region}; otherwise adopt it into {stack} with a CloudFormation resource import",
        region = stack.region,
        stack = stack.name
    ))
}

/// Follows the stack to a terminal status with backoff and a deadline,
/// reporting progress from its resource events.
async fn follow(aws: &Aws, stack: &Stack, options: &Options, progress: &Progress) -> Result<String, String> {
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(200);
    let mut last = String::new();
    loop {
        let status = stack_status(aws, stack).await?.unwrap_or_else(|| "DELETE_COMPLETE".into());
        if status != last {
            progress.stack(&stack.name, &status, counts(aws, stack).await);
            last.clone_from(&status);
        }
        if !status.ends_with("_IN_PROGRESS") {
            return Ok(status);
        }
        if started.elapsed() > options.stack_deadline {
            return Err(format!("still {status} after {:?}", options.stack_deadline));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Resources of the stack by state, from DescribeStackResources.
async fn counts(aws: &Aws, stack: &Stack) -> Counts {
    let total = stack.template["Resources"].as_mapping().map_or(0, |r| r.len());
    let client = aws.region(&stack.region).cloudformation;
    let Ok(output) = client.describe_stack_resources().stack_name(&stack.name).send().await else {
        return Counts { pending: total, ..Counts::default() };
    };
    let mut counts = Counts::default();
    for resource in output.stack_resources() {
        let status = resource.resource_status().map(|s| s.as_str()).unwrap_or_default();
        if status.ends_with("_IN_PROGRESS") {
            counts.in_progress += 1;
        } else {
            counts.done += 1;
        }
    }
    counts.pending = total.saturating_sub(counts.in_progress + counts.done);
    counts
}

/// The reasons of the resource failures since `since`, oldest first.
async fn failure_reasons(aws: &Aws, stack: &Stack, since: aws_smithy_types::DateTime) -> Vec<String> {
    let client = aws.region(&stack.region).cloudformation;
    let mut reasons = Vec::new();
    let mut pages = client.describe_stack_events().stack_name(&stack.name).into_paginator().send();
    'pages: while let Some(Ok(page)) = pages.next().await {
        for event in page.stack_events() {
            if event.timestamp().is_some_and(|t| t.secs() < since.secs() - 1) {
                break 'pages;
            }
            let status = event.resource_status().map(|s| s.as_str()).unwrap_or_default();
            if let (true, Some(reason)) = (status.ends_with("_FAILED"), event.resource_status_reason()) {
                reasons.push(format!("{} {}: {reason}", event.logical_resource_id().unwrap_or_default(), status));
            }
        }
    }
    reasons.reverse();
    if reasons.is_empty() {
        reasons.push("no resource reported a reason; see the stack's events".into());
    }
    reasons
}

async fn delete_stack(aws: &Aws, stack: &Stack, options: &Options, progress: &Progress) -> Result<(), String> {
    let client = aws.region(&stack.region).cloudformation;
    client.delete_stack().stack_name(&stack.name).send().await.map_err(|e| describe(&e))?;
    match follow(aws, stack, options, progress).await?.as_str() {
        "DELETE_COMPLETE" => Ok(()),
        other => Err(format!("deleting {} ended {other}", stack.name)),
    }
}

/// Deletes an orphan's stack; its vaults are retained by their
/// DeletionPolicy, and the report names them.
async fn prune(aws: &Aws, orphan: &OrphanStack, options: &Options, progress: &Progress) -> StackReport {
    let stack = Stack {
        name: orphan.stack.clone(),
        region: orphan.region.clone(),
        role: render::StackRole::Primary,
        policy: Some(orphan.policy.clone()),
        template: yaml_serde::Value::Null,
    };
    let report = |outcome| StackReport { stack: orphan.stack.clone(), region: orphan.region.clone(), outcome };
    let client = aws.region(&orphan.region).cloudformation;
    let vaults: Vec<String> = match client.describe_stack_resources().stack_name(&orphan.stack).send().await {
        Ok(output) => output
            .stack_resources()
            .iter()
            .filter(|r| r.resource_type() == Some("AWS::Backup::BackupVault"))
            .filter_map(|r| r.physical_resource_id().map(|id| format!("{id} ({})", orphan.region)))
            .collect(),
        Err(error) => return report(StackOutcome::Failed { status: orphan.status.clone(), reasons: vec![describe(&error)], fix: None }),
    };
    match delete_stack(aws, &stack, options, progress).await {
        Ok(()) => report(StackOutcome::Deleted { retained_vaults: vaults }),
        Err(why) => report(StackOutcome::Failed { status: orphan.status.clone(), reasons: vec![why], fix: None }),
    }
}

async fn set_pitr(aws: &Aws, table: &str, region: &str, enabled: bool) -> Result<(), String> {
    let spec = aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(enabled)
        .build()
        .map_err(|e| e.to_string())?;
    aws.region(region)
        .dynamodb
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(spec)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("setting point-in-time recovery of {table} in {region}: {}", describe(&e)))
}

/// One line for an outcome, in the change vocabulary.
pub fn outcome_text(outcome: &StackOutcome) -> String {
    match outcome {
        StackOutcome::Unchanged => "unchanged".into(),
        StackOutcome::NoChanges => "no changes".into(),
        StackOutcome::Applied { status, .. } => format!("applied ({status})"),
        StackOutcome::Refused { why } => why.clone(),
        StackOutcome::Failed { status, reasons, fix } => {
            let mut text = format!("FAILED ({status}): {}", reasons.join("; "));
            if let Some(fix) = fix {
                text.push_str(&format!("\n      fix: {fix}"));
            }
            text
        }
        StackOutcome::Deleted { retained_vaults } if retained_vaults.is_empty() => "deleted".into(),
        StackOutcome::Deleted { retained_vaults } => {
            format!("deleted; retained vaults and their recovery points: {}", retained_vaults.join(", "))
        }
    }
}

/// The apply report for a terminal: every stack touched, failures with
/// their reasons at the end where a reader looks first.
pub fn report_text(report: &Report) -> String {
    let mut out = String::from("\nApply:\n");
    for policy in &report.policies {
        for stack in &policy.stacks {
            out.push_str(&format!("  {} ({}): {}\n", stack.stack, stack.region, outcome_text(&stack.outcome)));
        }
        if let Some(pitr) = &policy.pitr {
            out.push_str(&format!("  {}: point-in-time recovery {pitr}\n", policy.name));
        }
        if let Some(error) = &policy.error {
            out.push_str(&format!("  {}: FAILED: {error}\n", policy.name));
        }
    }
    for stack in &report.pruned {
        out.push_str(&format!("  - {} ({}): {}\n", stack.stack, stack.region, outcome_text(&stack.outcome)));
    }
    for orphan in &report.orphans_left {
        out.push_str(&format!("  {} ({}): orphan of policy `{}`, left alone (use --prune)\n", orphan.stack, orphan.region, orphan.policy));
    }
    let failed: Vec<&str> = report.policies.iter().filter(|p| p.failed()).map(|p| p.name.as_str()).collect();
    if failed.is_empty() && !report.pruned.iter().any(|s| s.outcome.is_failure()) {
        out.push_str("Apply complete.\n");
    } else {
        out.push_str(&format!("Apply FAILED for: {}\n", failed.join(", ")));
    }
    out
}
