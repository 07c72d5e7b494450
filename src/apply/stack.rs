//! One stack through CloudFormation: settle what is under way, refuse what
//! is not drctl's or would destroy recovery points, create and execute the
//! change set by its id, follow it to a terminal status, and gather the
//! reasons of a failure.

use super::*;

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
        None if stack.role.is_shared() => {
            expected.push((plan::deployed::ROLE_TAG, Some(stack.role.tag_value().to_string())));
            expected.push((render::POLICY_TAG, None));
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
            (Some(other), None) => Some(format!("tag {key} is {other} (a bootstrap or shared stack has none)")),
            _ => None,
        })
        .collect();
    (!wrong.is_empty()).then(|| {
        format!(
            "refused: stack {} in {} exists but is not drctl's for this {}: {}. Rename the policy, or delete or retag the stack if it is drctl's",
            stack.name,
            stack.region,
            match (&stack.policy, stack.role.is_shared()) {
                (Some(policy), _) => format!("policy ({policy})"),
                (None, true) => format!("shared {}", stack.role.tag_value()),
                (None, false) => "bootstrap".to_string(),
            },
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
pub(super) async fn describe_stack(
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

/// Whether `stack` is deployed, drctl's, healthy and from exactly this
/// template (its tags say so): another run applied it since the plan.
/// Anything unclear (a read that failed) is "not current": the deploy then
/// finds out.
pub(super) async fn is_current(aws: &Aws, stack: &Stack) -> bool {
    let Ok(Some(found)) = stack_found(aws, stack).await else { return false };
    let hash = plan::deployed::template_hash(stack);
    not_ours(stack, &found.tags).is_none()
        && found.tags.get(plan::deployed::TEMPLATE_HASH_TAG) == Some(&hash)
        && plan::deployed::is_stable_success(&found.status)
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

pub(super) async fn delete_stack(aws: &Aws, stack: &Stack, options: &Options, progress: &Progress) -> Result<(), String> {
    let client = aws.region(&stack.region).cloudformation;
    client.delete_stack().stack_name(&stack.name).send().await.map_err(|e| describe(&e))?;
    match follow(aws, stack, options, progress).await?.as_str() {
        "DELETE_COMPLETE" => Ok(()),
        other => Err(format!("deleting {} ended {other}", stack.name)),
    }
}
