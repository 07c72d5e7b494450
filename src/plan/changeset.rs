//! CloudFormation change sets: an explicit `ChangeSetType`, both "no
//! changes" answers taken as no change, paginated descriptions, previews
//! always deleted.
//!
//! # Guarantees
//! - A change set's name carries a per-run nonce, so no other principal
//!   (the pull-request plan role included) can prepare it in advance; a
//!   name that already exists is refused, never adopted.
//! - Everything after `CreateChangeSet` (describe, execute, delete) goes by
//!   the id CloudFormation returned to this run, never by name.
//!
//! # Caveats
//! - A CREATE preview leaves an empty stack in REVIEW_IN_PROGRESS: the plan
//!   role has no right to delete stacks, so `drctl gc` (or the apply that
//!   creates the stack) removes it.

use std::time::Duration;

use aws_sdk_cloudformation::types::{
    Capability, Change, ChangeAction, ChangeSetStatus, ChangeSetType, Replacement as CfnReplacement, ResourceChangeDetail, Tag,
};

use super::model::{Action, Replacement, ResourceChange};
use crate::aws::{Aws, describe, error_code};
use crate::render::Stack;

/// Every preview change set drctl creates starts with this, so `drctl gc`
/// can find one a crashed run left behind, and IAM can confine the plan
/// role to it (`cloudformation:ChangeSetName`).
pub const PREVIEW_PREFIX: &str = "drctl-preview-";
/// Every change set `reconcile` executes starts with this.
pub const APPLY_PREFIX: &str = "drctl-apply-";

/// A change set name of this run: the prefix, the template it deploys (so a
/// person can tell change sets apart) and a nonce nobody can predict.
pub fn run_name(prefix: &str, template_hash: &str) -> String {
    format!("{prefix}{}-{}", &template_hash[..12.min(template_hash.len())], crate::nonce::hex(8))
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeSetError {
    #[error("{stack} ({region}): creating change set {name}: {why}")]
    Create { stack: String, region: String, name: String, why: String },
    #[error("{stack} ({region}): change set {name} failed: {why}")]
    Failed { stack: String, region: String, name: String, why: String },
    #[error("{stack} ({region}): change set {name} still not ready after {waited:?}")]
    Timeout { stack: String, region: String, name: String, waited: Duration },
    #[error("{stack} ({region}): {action}: {why}")]
    Call { stack: String, region: String, action: &'static str, why: String },
    #[error(
        "{stack} ({region}): a change set named {name} already exists and this run did not create it: refused. \
         Its name carries this run's nonce, so someone prepared it deliberately; inspect it \
         (aws cloudformation describe-change-set --stack-name {stack} --change-set-name {name} --region {region}) and delete it"
    )]
    NotOurs { stack: String, region: String, name: String },
    #[error("{stack} ({region}): CreateChangeSet answered without the change set's id: refusing to go on by name")]
    NoId { stack: String, region: String },
}

/// The outcome of creating a change set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    /// CloudFormation found nothing to change (either of its two wordings).
    NoChanges,
    Ready {
        id: String,
        changes: Vec<ResourceChange>,
    },
}

/// What to create: the rendered stack, whether it exists, the stack tags.
pub struct Request<'a> {
    pub stack: &'a Stack,
    pub exists: bool,
    pub tags: Vec<(String, String)>,
    /// This run's own name (see [`run_name`]); doubles as the client token,
    /// so the SDK's retry of a lost answer is the same request, not a second.
    pub name: String,
    /// The CloudFormation service role the stack operates with; `None`
    /// leaves the stack's own (a preview never changes it).
    pub role_arn: Option<String>,
}

const DEADLINE: Duration = Duration::from_secs(300);

/// True for CloudFormation's two ways of saying an update changes nothing.
pub fn is_no_change(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// Creates a change set and waits until it is ready, failed or empty.
pub async fn create(aws: &Aws, request: &Request<'_>) -> Result<Created, ChangeSetError> {
    let stack = request.stack;
    let client = aws.region(&stack.region).cloudformation;
    let kind = if request.exists { ChangeSetType::Update } else { ChangeSetType::Create };
    let tags: Vec<Tag> = request.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    let sent = client
        .create_change_set()
        .stack_name(&stack.name)
        .change_set_name(&request.name)
        .change_set_type(kind)
        .template_body(stack.to_json())
        .capabilities(Capability::CapabilityIam)
        .set_tags(Some(tags))
        .set_role_arn(request.role_arn.clone())
        .client_token(&request.name)
        .description("drctl")
        .send()
        .await;
    let id = match sent {
        Ok(output) => match output.id() {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => return Err(ChangeSetError::NoId { stack: stack.name.clone(), region: stack.region.clone() }),
        },
        Err(error) if error_code(&error) == Some("AlreadyExistsException") => {
            return Err(ChangeSetError::NotOurs { stack: stack.name.clone(), region: stack.region.clone(), name: request.name.clone() });
        }
        Err(error) => {
            let why = describe(&error);
            if is_no_change(&why) {
                return Ok(Created::NoChanges);
            }
            return Err(ChangeSetError::Create {
                stack: stack.name.clone(),
                region: stack.region.clone(),
                name: request.name.clone(),
                why,
            });
        }
    };
    match wait_ready(aws, stack, &id).await {
        Ok(Some(changes)) => Ok(Created::Ready { id, changes }),
        Ok(None) => {
            // An empty change set is still ours to remove.
            delete(aws, stack, &id).await?;
            Ok(Created::NoChanges)
        }
        Err(error) => {
            // A failed change set can never run; removing it is tidiness, and
            // a failure to do so must not hide why it failed.
            let _ = delete(aws, stack, &id).await;
            Err(error)
        }
    }
}

/// Polls the change set `id` until it leaves CREATE_PENDING /
/// CREATE_IN_PROGRESS; `None` when it failed for having no changes.
async fn wait_ready(aws: &Aws, stack: &Stack, id: &str) -> Result<Option<Vec<ResourceChange>>, ChangeSetError> {
    let client = aws.region(&stack.region).cloudformation;
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        let output = client
            .describe_change_set()
            .stack_name(&stack.name)
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| call_error(stack, "describing the change set", describe(&e)))?;
        match output.status() {
            Some(ChangeSetStatus::CreateComplete) => return describe_changes(aws, stack, id).await.map(Some),
            Some(ChangeSetStatus::Failed) => {
                let reason = output.status_reason().unwrap_or("no reason given");
                if is_no_change(reason) {
                    return Ok(None);
                }
                return Err(ChangeSetError::Failed {
                    stack: stack.name.clone(),
                    region: stack.region.clone(),
                    name: id.to_string(),
                    why: reason.to_string(),
                });
            }
            _ if started.elapsed() > DEADLINE => {
                return Err(ChangeSetError::Timeout {
                    stack: stack.name.clone(),
                    region: stack.region.clone(),
                    name: id.to_string(),
                    waited: DEADLINE,
                });
            }
            _ => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(3));
            }
        }
    }
}

/// Every change of a ready change set, across pages.
async fn describe_changes(aws: &Aws, stack: &Stack, id: &str) -> Result<Vec<ResourceChange>, ChangeSetError> {
    let client = aws.region(&stack.region).cloudformation;
    let mut changes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let output = client
            .describe_change_set()
            .stack_name(&stack.name)
            .change_set_name(id)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| call_error(stack, "describing the change set", describe(&e)))?;
        changes.extend(output.changes().iter().filter_map(resource_change));
        match output.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(changes),
        }
    }
}

fn resource_change(change: &Change) -> Option<ResourceChange> {
    let resource = change.resource_change()?;
    let action = match resource.action()? {
        ChangeAction::Add => Action::Add,
        ChangeAction::Modify => Action::Modify,
        ChangeAction::Remove => Action::Remove,
        ChangeAction::Import => Action::Import,
        _ => Action::Dynamic,
    };
    let replacement = resource.replacement().map(|r| match r {
        CfnReplacement::True => Replacement::True,
        CfnReplacement::Conditional => Replacement::Conditional,
        _ => Replacement::False,
    });
    Some(ResourceChange {
        action,
        logical_id: resource.logical_resource_id().unwrap_or_default().to_string(),
        resource_type: resource.resource_type().unwrap_or_default().to_string(),
        replacement,
        scope: resource.scope().iter().map(|s| s.as_str().to_string()).collect(),
        details: resource.details().iter().filter_map(detail_text).collect(),
    })
}

fn detail_text(detail: &ResourceChangeDetail) -> Option<String> {
    let target = detail.target()?;
    let attribute = target.attribute().map(|a| a.as_str()).unwrap_or("Properties");
    let name = target.name().unwrap_or_default();
    let recreation = target.requires_recreation().map(|r| r.as_str()).unwrap_or("Never");
    let place = if name.is_empty() { attribute.to_string() } else { format!("{attribute}.{name}") };
    Some(format!("{place} (requires recreation: {recreation})"))
}

/// Deletes a change set (by the id this run was given, or by the name `gc`
/// listed); a missing one is already gone.
pub async fn delete(aws: &Aws, stack: &Stack, name: &str) -> Result<(), ChangeSetError> {
    let client = aws.region(&stack.region).cloudformation;
    match client.delete_change_set().stack_name(&stack.name).change_set_name(name).send().await {
        Ok(_) => Ok(()),
        Err(error) if error_code(&error) == Some("ChangeSetNotFound") => Ok(()),
        Err(error) => Err(call_error(stack, "deleting the change set", describe(&error))),
    }
}

/// Removes the empty stack a CREATE change set leaves behind, but only
/// while it is still in REVIEW_IN_PROGRESS: it holds no resources then.
pub async fn delete_review_stack(aws: &Aws, stack: &Stack) -> Result<(), ChangeSetError> {
    let client = aws.region(&stack.region).cloudformation;
    let status = match client.describe_stacks().stack_name(&stack.name).send().await {
        Ok(output) => output.stacks().first().and_then(|s| s.stack_status()).map(|s| s.as_str().to_string()),
        Err(error) if error_code(&error) == Some("ValidationError") => None,
        Err(error) => return Err(call_error(stack, "reading the stack", describe(&error))),
    };
    if status.as_deref() == Some("REVIEW_IN_PROGRESS") {
        client
            .delete_stack()
            .stack_name(&stack.name)
            .send()
            .await
            .map_err(|e| call_error(stack, "deleting the review stack", describe(&e)))?;
    }
    Ok(())
}

/// A preview: create, describe, delete. The empty stack a CREATE preview
/// leaves is not the plan's to delete (see the module's caveats).
pub async fn preview(aws: &Aws, request: &Request<'_>) -> Result<Vec<ResourceChange>, ChangeSetError> {
    match create(aws, request).await? {
        Created::NoChanges => Ok(Vec::new()),
        Created::Ready { id, changes } => {
            delete(aws, request.stack, &id).await?;
            Ok(changes)
        }
    }
}

fn call_error(stack: &Stack, action: &'static str, why: String) -> ChangeSetError {
    ChangeSetError::Call { stack: stack.name.clone(), region: stack.region.clone(), action, why }
}
