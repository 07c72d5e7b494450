//! Shared backup infrastructure: what the policies with
//! `backup.vault.dedicated: false` deploy instead of stacks of their own.
//!
//! AWS Backup allows 300 vaults and 300 plans per account and Region (both
//! adjustable) and 100 resource assignments per plan (fixed). A stack per
//! policy stops near 300 tables a Region; sharing lifts that:
//!
//! - **Vaults** are shared per *vault key*: Region, KMS key, vault lock,
//!   notification topic and environment. A vault stack,
//!   `drctl-vault-<hash>`, holds the vault and the role AWS Backup assumes.
//!   Its content follows from the key alone, never from its users.
//! - **Plans** are shared per *group key*: the vault key plus schedule,
//!   windows, retention, cold storage and copies. A plan stack,
//!   `drctl-plan-<hash>`, holds the plan and one selection per member
//!   policy. A group above 100 members (or above CloudFormation's template
//!   body limit) is split into shards, `drctl-plan-<hash>-<k>`, by a stable
//!   hash of each policy's name: a member moves only when its shard splits.
//!
//! A change to one policy's backup settings therefore changes only the
//! plan stacks it leaves and joins; its recovery points stay where they are
//! (vaults are retained and never change with membership).

use std::collections::BTreeMap;

use serde_json::json;
use sha2::Digest;

use super::template::{self, Values, value};
use super::{MANAGED_BY_TAG, MANAGED_BY_VALUE, RenderError, Stack, StackRole};
use crate::policy::model::TablePolicy;
use crate::policy::validate::schedule_of;

const VAULT_TEMPLATE: &str = include_str!("../../templates/shared-vault.yaml");
const PLAN_TEMPLATE: &str = include_str!("../../templates/shared-plan.yaml");
const PLAN_RULE_TEMPLATE: &str = include_str!("../../templates/shared-plan-rule.yaml");
const SELECTION_TEMPLATE: &str = include_str!("../../templates/shared-plan-selection.yaml");

/// The tag on shared stacks and their vaults and plans naming the key they
/// were rendered for (drctl's own, like `drctl:policy` on a policy's).
pub const SHARED_TAG: &str = "drctl:shared";

/// AWS Backup's "Resource assignments per backup plan" (not adjustable).
pub const SELECTIONS_PER_PLAN: usize = 100;

/// CloudFormation's limit on a template body passed in the request (bytes).
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;

/// Whether `policy` shares its vault and plan.
pub fn is_shared(policy: &TablePolicy) -> bool {
    policy.spec.backup.vault.as_ref().and_then(|v| v.dedicated) == Some(false)
}

/// What makes two policies' vaults in `region` the same vault.
/// Policies of different accounts never share: each account's stacks are
/// its own (a policy without `spec.account` keeps the key, and the names,
/// it had before accounts).
fn vault_key(policy: &TablePolicy, region: &str) -> serde_json::Value {
    let primary = region == policy.spec.region;
    let mut key = json!({
        "region": region,
        "kms_key": kms_key(policy, primary),
        "lock": super::lock(policy),
        "topic": notification_topic(policy, primary),
        "environment": policy.metadata.environment,
    });
    if let Some(account) = &policy.spec.account {
        key["account"] = json!(account);
    }
    key
}

/// A KMS key id names a key of the primary Region only; an alias can exist
/// in every Region (as for a dedicated policy's copy vaults).
fn kms_key(policy: &TablePolicy, primary: bool) -> Option<&str> {
    policy.spec.backup.vault.as_ref().and_then(|v| v.kms_key.as_deref()).filter(|key| primary || key.starts_with("alias/"))
}

/// A topic given by name exists (in drctl-bootstrap) in every Region; an
/// ARN names one topic, of the primary Region.
fn notification_topic(policy: &TablePolicy, primary: bool) -> Option<&str> {
    let topic = policy.spec.notify.sns_topic.as_str();
    (primary || !topic.starts_with("arn:")).then_some(topic)
}

/// What makes two policies share a plan: the vault key and every backup
/// setting.
fn group_key(policy: &TablePolicy) -> serde_json::Value {
    let backup = &policy.spec.backup;
    json!({
        "vault": vault_key(policy, &policy.spec.region),
        "schedule": schedule_of(policy).and_then(Result::ok).map(|s| s.expression().to_string()),
        "start_window_minutes": backup.start_window.map(|d| d.minutes()),
        "completion_window_minutes": backup.completion_window.map(|d| d.minutes()),
        "lifecycle": super::lifecycle(backup.retention, backup.cold_storage_after),
        "copies": backup.copies.iter().map(|c| json!({
            "region": c.region,
            "vault": match (&c.account, c.central_vault()) {
                (Some(account), Some(vault)) => format!("{account}/{vault}"),
                _ => vault_stack_name(policy, &c.region),
            },
            "lifecycle": super::lifecycle(c.retention, c.cold_storage_after),
        })).collect::<Vec<_>>(),
    })
}

fn short_hash(key: &serde_json::Value) -> String {
    hex::encode(sha2::Sha256::digest(key.to_string().as_bytes()))[..10].to_string()
}

/// The shared vault stack (and vault) of `policy` in `region`.
pub fn vault_stack_name(policy: &TablePolicy, region: &str) -> String {
    format!("drctl-vault-{}", short_hash(&vault_key(policy, region)))
}

/// The regions a shared stack records in its `drctl:regions` tag (orphans
/// are looked for there): a plan stack's are its members' (the primary and
/// the copy regions, `first` being any member), a vault stack's its own.
pub fn tag_regions(stack: &Stack, first: Option<&TablePolicy>) -> Vec<String> {
    match (stack.role, first) {
        (StackRole::Plan, Some(first)) => crate::plan::policy_regions(first),
        _ => vec![stack.region.clone()],
    }
}

/// The export through which selections name the role of a vault stack.
fn role_export(vault_stack: &str) -> String {
    format!("{vault_stack}-role")
}

/// The group of `policy`: the hash its plan stacks are named by.
pub fn group(policy: &TablePolicy) -> String {
    short_hash(&group_key(policy))
}

/// The plan stack of shard `shard` of `group`.
pub fn plan_stack_name(group: &str, shard: usize) -> String {
    if shard == 0 { format!("drctl-plan-{group}") } else { format!("drctl-plan-{group}-{shard}") }
}

/// Every shared stack the shared policies among `policies` need: vault
/// stacks first (plans name their vaults and roles), each list ordered by
/// Region and name.
pub fn render<'a>(policies: impl IntoIterator<Item = &'a TablePolicy>) -> Result<Vec<Stack>, RenderError> {
    let shared: Vec<&TablePolicy> = policies.into_iter().filter(|p| is_shared(p)).collect();
    let mut vaults: BTreeMap<(String, String), (&TablePolicy, Vec<String>)> = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<&TablePolicy>> = BTreeMap::new();
    for policy in &shared {
        let regions = std::iter::once(&policy.spec.region).chain(super::own_copies(policy).map(|c| &c.region));
        for region in regions {
            let entry = vaults.entry((region.clone(), vault_stack_name(policy, region))).or_insert_with(|| (policy, Vec::new()));
            entry.1.push(policy.metadata.name.clone());
        }
        groups.entry(group(policy)).or_default().push(policy);
    }
    let mut stacks = Vec::new();
    for ((region, name), (first, mut members)) in vaults {
        members.sort();
        stacks.push(Stack { members, ..render_vault(first, &region, &name)? });
    }
    let mut plans = Vec::new();
    for (group, members) in groups {
        plans.extend(render_group(&group, members)?);
    }
    plans.sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
    stacks.extend(plans);
    Ok(stacks)
}

fn render_vault(policy: &TablePolicy, region: &str, name: &str) -> Result<Stack, RenderError> {
    let primary = region == policy.spec.region;
    let notifications = notification_topic(policy, primary).map(|topic| {
        json!({
            "BackupVaultEvents": [
                "BACKUP_JOB_STARTED", "BACKUP_JOB_COMPLETED", "COPY_JOB_STARTED", "COPY_JOB_SUCCESSFUL", "COPY_JOB_FAILED",
                "RESTORE_JOB_STARTED", "RESTORE_JOB_COMPLETED", "RECOVERY_POINT_MODIFIED",
            ],
            "SNSTopicArn": super::topic_arn(topic),
        })
    });
    let values = Values::from([
        ("metadata", metadata(StackRole::Vault, name)),
        ("vault_name", value(name)),
        ("kms_key_arn", kms_key(policy, primary).map(super::kms_key_arn)),
        ("lock", super::lock(policy)),
        ("notifications", notifications.and_then(value)),
        ("tags", value(tags(name))),
        ("tag_list", value(tag_list(name))),
        ("role_export", value(role_export(name))),
    ]);
    let template = template::fill("shared-vault.yaml", &template::parse("shared-vault.yaml", VAULT_TEMPLATE)?, &values)?;
    Ok(Stack { name: name.to_string(), region: region.to_string(), role: StackRole::Vault, policy: None, members: Vec::new(), template })
}

/// The plan stacks of one group: as few shards as keep every shard within
/// AWS's selections per plan and CloudFormation's template body limit.
fn render_group(group: &str, mut members: Vec<&TablePolicy>) -> Result<Vec<Stack>, RenderError> {
    members.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut shards = 1;
    loop {
        let mut buckets: Vec<Vec<&TablePolicy>> = vec![Vec::new(); shards];
        for policy in &members {
            buckets[shard_of(&policy.metadata.name, shards)].push(policy);
        }
        let mut stacks = Vec::new();
        for (shard, bucket) in buckets.into_iter().enumerate().filter(|(_, b)| !b.is_empty()) {
            stacks.push(render_plan(group, shard, &bucket)?);
        }
        let fits = |s: &Stack| s.members.len() <= SELECTIONS_PER_PLAN && s.to_json().len() <= TEMPLATE_BODY_LIMIT;
        // One table per shard always fits (a selection is far below the limit).
        if stacks.iter().all(fits) || shards >= members.len() {
            return Ok(stacks);
        }
        shards *= 2;
    }
}

/// The shard of `policy` among `shards`: a stable hash of its name, so that
/// doubling the shards moves about half of a shard's members and no other.
fn shard_of(policy: &str, shards: usize) -> usize {
    let digest = sha2::Sha256::digest(policy.as_bytes());
    let number = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default());
    (number % shards as u64) as usize
}

fn render_plan(group: &str, shard: usize, members: &[&TablePolicy]) -> Result<Stack, RenderError> {
    let name = plan_stack_name(group, shard);
    // Members share every setting of the group key: the first speaks for all.
    let first =
        members.first().ok_or_else(|| RenderError::Template { template: "shared-plan.yaml", why: "a plan with no member".into() })?;
    let backup = &first.spec.backup;
    let schedule = match schedule_of(first) {
        Some(Ok(schedule)) => schedule,
        _ => return Err(RenderError::InvalidPolicy { policy: first.metadata.name.clone(), why: "no valid backup schedule".into() }),
    };
    let region = &first.spec.region;
    let vault_stack = vault_stack_name(first, region);
    let copies: Vec<_> = backup
        .copies
        .iter()
        .map(|copy| {
            json!({
                "DestinationBackupVaultArn": super::central_vault_arn(copy).unwrap_or_else(|| super::sub(
                    "arn:${AWS::Partition}:backup:${Region}:${AWS::AccountId}:backup-vault:${Vault}",
                    json!({ "Region": copy.region, "Vault": vault_stack_name(first, &copy.region) }),
                )),
                "Lifecycle": super::lifecycle(copy.retention, copy.cold_storage_after),
            })
        })
        .collect();
    let rule = Values::from([
        ("plan_name", value(&name)),
        ("rule_name", value(name.replace('-', "_"))),
        ("vault_name", value(&vault_stack)),
        ("schedule", value(schedule.expression())),
        ("start_window_minutes", backup.start_window.and_then(|d| value(d.minutes()))),
        ("completion_window_minutes", backup.completion_window.and_then(|d| value(d.minutes()))),
        ("lifecycle", value(super::lifecycle(backup.retention, backup.cold_storage_after))),
        ("copy_actions", if copies.is_empty() { None } else { value(copies) }),
        ("tags", value(tags(&name))),
    ]);
    let mut resources = super::fragment_resources(
        "shared-plan-rule.yaml",
        template::fill("shared-plan-rule.yaml", &template::parse("shared-plan-rule.yaml", PLAN_RULE_TEMPLATE)?, &rule)?,
    )?;
    let selection = template::parse("shared-plan-selection.yaml", SELECTION_TEMPLATE)?;
    for policy in members {
        let member = &policy.metadata.name;
        let values = Values::from([
            ("selection_name", value(super::selection_name(member, &policy.spec.table))),
            ("role_export", value(role_export(&vault_stack))),
            (
                "table_arn",
                value(super::sub(
                    "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${Table}",
                    json!({ "Table": policy.spec.table }),
                )),
            ),
        ]);
        let filled = template::fill("shared-plan-selection.yaml", &selection, &values)?;
        let id = selection_id(member);
        let renamed = super::rename_logical_ids(filled, &[("Selection", id)], true);
        resources.extend(super::fragment_resources("shared-plan-selection.yaml", renamed)?);
    }
    let values = Values::from([("metadata", metadata(StackRole::Plan, &name)), ("resources", Some(yaml_serde::Value::Mapping(resources)))]);
    let template = template::fill("shared-plan.yaml", &template::parse("shared-plan.yaml", PLAN_TEMPLATE)?, &values)?;
    let members = members.iter().map(|p| p.metadata.name.clone()).collect();
    Ok(Stack { name, region: region.clone(), role: StackRole::Plan, policy: None, members, template })
}

/// The logical id of `member`'s selection in a plan stack: the policy's
/// alone, so the plan finds a member's selection whatever its table.
pub fn selection_id(member: &str) -> String {
    format!("Selection{}", super::logical_id(member))
}

fn metadata(role: StackRole, name: &str) -> Option<yaml_serde::Value> {
    value(json!({ "generator": "drctl/v1", "role": role, "shared": name }))
}

fn tags(name: &str) -> BTreeMap<&'static str, &str> {
    BTreeMap::from([(MANAGED_BY_TAG, MANAGED_BY_VALUE), (SHARED_TAG, name)])
}

fn tag_list(name: &str) -> serde_json::Value {
    json!([{ "Key": MANAGED_BY_TAG, "Value": MANAGED_BY_VALUE }, { "Key": SHARED_TAG, "Value": name }])
}

#[cfg(test)]
mod tests;
