//! Policy → CloudFormation. Pure and deterministic: the same
//! policy renders to the same bytes, with no clock, randomness or AWS call.
//!
//! Each policy renders to `drctl-<name>` in its region (vault, plan,
//! selection, role) and one `drctl-<name>-dr-<region>` per copy region (the
//! vault copies land in). What policies share (SNS topics, the state table)
//! renders to `drctl-bootstrap`, one per region, owned by no policy.
//!
//! # Guarantees
//! - Vaults carry `DeletionPolicy: Retain` and `UpdateReplacePolicy: Retain`.
//! - Policy values enter templates as structured values (`Fn::Sub` variables,
//!   not string splicing).

pub mod central;
pub mod deployment;
pub mod quotas;
pub mod shared;
mod template;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use yaml_serde::Value;

use crate::policy::model::{Copy, Lock, TablePolicy};
use crate::policy::validate::schedule_of;
pub use template::Values;
use template::value;

/// Tag on everything drctl creates, so orphans and scratch tables can be
/// found by set difference, never guessed.
pub const MANAGED_BY_TAG: &str = "drctl:managed-by";
pub const MANAGED_BY_VALUE: &str = "drctl";
pub const POLICY_TAG: &str = "drctl:policy";
pub const BOOTSTRAP_STACK: &str = "drctl-bootstrap";

const POLICY_TEMPLATE: &str = include_str!("../../templates/policy.yaml");
const DR_VAULT_TEMPLATE: &str = include_str!("../../templates/dr-vault.yaml");
const BOOTSTRAP_TEMPLATE: &str = include_str!("../../templates/bootstrap.yaml");
const BOOTSTRAP_TOPIC_TEMPLATE: &str = include_str!("../../templates/bootstrap-topic.yaml");
const BOOTSTRAP_STATE_TABLE_TEMPLATE: &str = include_str!("../../templates/bootstrap-state-table.yaml");
const BOOTSTRAP_IAM_TEMPLATE: &str = include_str!("../../templates/bootstrap-iam.yaml");
const BOOTSTRAP_EXPORTS_TEMPLATE: &str = include_str!("../../templates/bootstrap-exports.yaml");
/// The bootstrap output naming the bucket drills export the source to.
pub const EXPORT_BUCKET_OUTPUT: &str = "ExportBucketName";
/// The bootstrap output with the ARN of the CloudFormation service role
/// every policy stack of its region is deployed with.
pub const SERVICE_ROLE_OUTPUT: &str = "CloudFormationRoleArn";
/// The export (per region) with the ARN of the permissions boundary every
/// AWS Backup role of a policy stack carries.
pub const BOUNDARY_EXPORT: &str = "drctl-backup-role-boundary";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {template}: {why}")]
    Template { template: &'static str, why: String },
    #[error("policy {policy}: {why} (run `drctl validate`)")]
    InvalidPolicy { policy: String, why: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StackRole {
    Primary,
    DrCopy,
    Bootstrap,
    /// A vault (and backup role) shared by policies (`render::shared`).
    Vault,
    /// A backup plan shared by policies, with their selections.
    Plan,
    /// A backup account's central vaults (`render::central`).
    Central,
}

impl StackRole {
    /// The value of the stack's `drctl:role` tag.
    pub fn tag_value(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::DrCopy => "dr-copy",
            Self::Bootstrap => "bootstrap",
            Self::Vault => "vault",
            Self::Plan => "plan",
            Self::Central => "central",
        }
    }

    /// Whether stacks of this role are shared by policies.
    pub fn is_shared(self) -> bool {
        matches!(self, Self::Vault | Self::Plan)
    }
}

/// One CloudFormation stack, ready to deploy.
#[derive(Clone, Debug, PartialEq)]
pub struct Stack {
    pub name: String,
    pub region: String,
    pub role: StackRole,
    /// The policy it belongs to; `None` for the bootstrap and shared stacks.
    pub policy: Option<String>,
    /// The policies a shared stack serves (their tables in a plan, their
    /// recovery points in a vault), by name; empty for any other stack.
    pub members: Vec<String>,
    pub template: Value,
}

impl Stack {
    pub fn to_yaml(&self) -> String {
        yaml_serde::to_string(&self.template).unwrap_or_default()
    }

    /// The template body drctl sends to CloudFormation and compares with
    /// the deployed one.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.template).unwrap_or_default()
    }
}

pub fn stack_name(policy: &str) -> String {
    format!("drctl-{policy}")
}

pub fn dr_stack_name(policy: &str, region: &str) -> String {
    format!("drctl-{policy}-dr-{region}")
}

/// The vault name in every region: the policy's own, so it survives stack
/// renames and is recognisable in the AWS console.
pub fn vault_name(policy: &str) -> String {
    format!("drctl-{policy}")
}

/// The stack whose `BackupRoleArn` output is the role AWS Backup assumes
/// for `policy`'s backups and restores.
pub fn role_stack(policy: &TablePolicy) -> String {
    if shared::is_shared(policy) { shared::vault_stack_name(policy, &policy.spec.region) } else { stack_name(&policy.metadata.name) }
}

/// The vault holding `policy`'s recovery points in `region` (its own, or
/// the shared one).
pub fn vault_in(policy: &TablePolicy, region: &str) -> String {
    if shared::is_shared(policy) { shared::vault_stack_name(policy, region) } else { vault_name(&policy.metadata.name) }
}

/// Renders every stack of one policy of its own: DR stacks first, in region
/// order, so that applying in this order creates copy destinations before
/// the plan that copies to them. A policy that shares (`render::shared`)
/// has none.
pub fn render(policy: &TablePolicy) -> Result<Vec<Stack>, RenderError> {
    let mut stacks = Vec::new();
    if shared::is_shared(policy) {
        return Ok(stacks);
    }
    for copy in own_copies(policy) {
        stacks.push(render_dr_vault(policy, copy)?);
    }
    stacks.sort_by(|a, b| a.region.cmp(&b.region));
    stacks.push(render_primary(policy)?);
    Ok(stacks)
}

/// Every stack of `policies`: each policy's own, then the shared ones.
pub fn render_all<'a>(policies: impl IntoIterator<Item = &'a TablePolicy> + Clone) -> Result<Vec<Stack>, RenderError> {
    let mut stacks = Vec::new();
    for policy in policies.clone() {
        stacks.extend(render(policy)?);
    }
    stacks.extend(shared::render(policies)?);
    Ok(stacks)
}

fn render_primary(policy: &TablePolicy) -> Result<Stack, RenderError> {
    let name = &policy.metadata.name;
    let backup = &policy.spec.backup;
    let schedule = match schedule_of(policy) {
        Some(Ok(schedule)) => schedule,
        _ => return Err(RenderError::InvalidPolicy { policy: name.clone(), why: "no valid backup schedule".into() }),
    };
    let copies: Vec<_> = backup.copies.iter().map(|copy| copy_action(name, copy)).collect();
    let values = Values::from([
        ("metadata", metadata(policy, StackRole::Primary)),
        ("vault_name", value(vault_name(name))),
        ("kms_key_arn", backup.vault.as_ref().and_then(|v| v.kms_key.as_deref()).map(kms_key_arn)),
        ("lock", lock(policy)),
        ("topic_arn", value(topic_arn(&policy.spec.notify.sns_topic))),
        ("tags", value(tags_map(name))),
        ("tag_list", value(tag_list(name))),
        ("plan_name", value(format!("drctl-{name}"))),
        ("rule_name", value(format!("drctl_{}", name.replace('-', "_")))),
        ("schedule", value(schedule.expression())),
        ("start_window_minutes", backup.start_window.and_then(|d| value(d.minutes()))),
        ("completion_window_minutes", backup.completion_window.and_then(|d| value(d.minutes()))),
        ("lifecycle", value(lifecycle(backup.retention, backup.cold_storage_after))),
        ("copy_actions", if copies.is_empty() { None } else { value(copies) }),
        ("selection_name", value(selection_name(name, &policy.spec.table))),
        (
            "table_arn",
            value(sub(
                "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${Table}",
                json!({ "Table": policy.spec.table }),
            )),
        ),
    ]);
    let template = template::fill("policy.yaml", &template::parse("policy.yaml", POLICY_TEMPLATE)?, &values)?;
    Ok(Stack {
        name: stack_name(name),
        region: policy.spec.region.clone(),
        role: StackRole::Primary,
        policy: Some(name.clone()),
        members: Vec::new(),
        template,
    })
}

fn render_dr_vault(policy: &TablePolicy, copy: &Copy) -> Result<Stack, RenderError> {
    let name = &policy.metadata.name;
    let topic = &policy.spec.notify.sns_topic;
    // A vault notifies a topic of its own region: only a topic given by name
    // exists (in drctl-bootstrap) in every region.
    let notifications = (!topic.starts_with("arn:")).then(|| {
        json!({ "BackupVaultEvents": ["RESTORE_JOB_STARTED", "RESTORE_JOB_COMPLETED", "RECOVERY_POINT_MODIFIED"], "SNSTopicArn": topic_arn(topic) })
    });
    // KMS keys are regional: an alias can exist in every region, a key id cannot.
    let kms_alias = policy.spec.backup.vault.as_ref().and_then(|v| v.kms_key.as_deref()).filter(|k| k.starts_with("alias/"));
    let values = Values::from([
        ("metadata", metadata(policy, StackRole::DrCopy)),
        ("vault_name", value(vault_name(name))),
        ("kms_key_arn", kms_alias.map(kms_key_arn)),
        ("lock", lock(policy)),
        ("notifications", notifications.and_then(value)),
        ("tags", value(tags_map(name))),
    ]);
    let template = template::fill("dr-vault.yaml", &template::parse("dr-vault.yaml", DR_VAULT_TEMPLATE)?, &values)?;
    Ok(Stack {
        name: dr_stack_name(name, &copy.region),
        region: copy.region.clone(),
        role: StackRole::DrCopy,
        policy: Some(name.clone()),
        members: Vec::new(),
        template,
    })
}

fn metadata(policy: &TablePolicy, role: StackRole) -> Option<Value> {
    value(json!({
        "generator": "drctl/v1",
        "policy": policy.metadata.name,
        "table": policy.spec.table,
        "region": policy.spec.region,
        "role": role,
    }))
}

/// `Fn::Sub` with variables: how a policy value reaches a string in a
/// template without being spliced into it.
fn sub(pattern: &str, variables: serde_json::Value) -> serde_json::Value {
    json!({ "Fn::Sub": [pattern, variables] })
}

fn topic_arn(topic: &str) -> serde_json::Value {
    if topic.starts_with("arn:") {
        json!(topic)
    } else {
        sub("arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${Topic}", json!({ "Topic": topic }))
    }
}

fn kms_key_arn(key: &str) -> Value {
    let arn = if key.starts_with("arn:") {
        json!(key)
    } else if key.starts_with("alias/") {
        sub("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:${Alias}", json!({ "Alias": key }))
    } else {
        sub("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${KeyId}", json!({ "KeyId": key }))
    };
    value(arn).unwrap_or(Value::Null)
}

fn lock(policy: &TablePolicy) -> Option<Value> {
    let Lock { min_retention, max_retention, changeable_for } = policy.spec.backup.vault.as_ref()?.lock.as_ref()?;
    let mut config = json!({ "MinRetentionDays": min_retention.days_ceil(), "MaxRetentionDays": max_retention.minutes() / (24 * 60) });
    if let Some(grace) = changeable_for {
        config["ChangeableForDays"] = json!(grace.days_ceil());
    }
    value(config)
}

fn lifecycle(retention: crate::policy::Duration, cold_after: Option<crate::policy::Duration>) -> serde_json::Value {
    let mut lifecycle = json!({ "DeleteAfterDays": retention.days_ceil() });
    if let Some(cold) = cold_after {
        lifecycle["MoveToColdStorageAfterDays"] = json!(cold.days_ceil());
    }
    lifecycle
}

fn copy_action(policy: &str, copy: &Copy) -> serde_json::Value {
    json!({
        "DestinationBackupVaultArn": central_vault_arn(copy).unwrap_or_else(|| sub(
            "arn:${AWS::Partition}:backup:${Region}:${AWS::AccountId}:backup-vault:${Vault}",
            json!({ "Region": copy.region, "Vault": vault_name(policy) }),
        )),
        "Lifecycle": lifecycle(copy.retention, copy.cold_storage_after),
    })
}

/// The copies that land in the policy's own account, each in a vault drctl
/// creates for it (the others land in a backup account's central vault).
pub fn own_copies(policy: &TablePolicy) -> impl Iterator<Item = &Copy> {
    policy.spec.backup.copies.iter().filter(|c| c.account.is_none())
}

/// The ARN of the central vault a copy to another account lands in.
fn central_vault_arn(copy: &Copy) -> Option<serde_json::Value> {
    let (account, vault) = (copy.account.as_ref()?, copy.central_vault()?);
    Some(sub(
        "arn:${AWS::Partition}:backup:${Region}:${Account}:backup-vault:${Vault}",
        json!({ "Region": copy.region, "Account": account, "Vault": vault }),
    ))
}

/// drctl's ownership tags of `policy`'s objects (vaults, plans, recovery
/// points): what drctl's IAM conditions and gc recognise as its own.
pub fn tags_map(policy: &str) -> BTreeMap<&'static str, &str> {
    BTreeMap::from([(MANAGED_BY_TAG, MANAGED_BY_VALUE), (POLICY_TAG, policy)])
}

fn tag_list(policy: &str) -> serde_json::Value {
    json!([{ "Key": MANAGED_BY_TAG, "Value": MANAGED_BY_VALUE }, { "Key": POLICY_TAG, "Value": policy }])
}

/// drctl's ownership tag as a CloudFormation tag list (shared resources
/// name no policy).
fn managed_tag_list() -> Option<Value> {
    value(json!([{ "Key": MANAGED_BY_TAG, "Value": MANAGED_BY_VALUE }]))
}

/// The resources a filled fragment template holds; a fragment that is not
/// a mapping is a broken template, never silently left out.
fn fragment_resources(template: &'static str, filled: Value) -> Result<yaml_serde::Mapping, RenderError> {
    match filled {
        Value::Mapping(resources) => Ok(resources),
        _ => Err(RenderError::Template { template, why: "a resource fragment must be a mapping of logical ids".into() }),
    }
}

/// What the bootstrap stack of one region holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bootstrap {
    pub region: String,
    /// Topic names (not ARNs) that policies in or copying to this region name.
    pub topics: BTreeSet<String>,
    pub state_table: Option<String>,
}

/// One bootstrap per region any policy touches, with the topics it needs.
pub fn bootstraps<'a>(policies: impl IntoIterator<Item = &'a TablePolicy>, state_table: Option<(&str, &str)>) -> Vec<Bootstrap> {
    let mut by_region: BTreeMap<String, Bootstrap> = BTreeMap::new();
    for policy in policies {
        let topic = &policy.spec.notify.sns_topic;
        let regions = std::iter::once(&policy.spec.region).chain(own_copies(policy).map(|c| &c.region));
        for region in regions {
            let entry = by_region.entry(region.clone()).or_insert_with(|| Bootstrap { region: region.clone(), ..Bootstrap::default() });
            if !topic.starts_with("arn:") {
                entry.topics.insert(topic.clone());
            }
        }
    }
    if let Some((region, table)) = state_table {
        let entry = by_region.entry(region.to_string()).or_insert_with(|| Bootstrap { region: region.to_string(), ..Bootstrap::default() });
        entry.state_table = Some(table.to_string());
    }
    by_region.into_values().collect()
}

pub fn render_bootstrap(bootstrap: &Bootstrap) -> Result<Stack, RenderError> {
    let mut resources = yaml_serde::Mapping::new();
    let mut outputs = yaml_serde::Mapping::new();
    let topic_fragment = template::parse("bootstrap-topic.yaml", BOOTSTRAP_TOPIC_TEMPLATE)?;
    for topic in &bootstrap.topics {
        let id = logical_id(topic);
        let values = Values::from([("topic_name", value(topic)), ("tag_list", managed_tag_list())]);
        let filled = template::fill("bootstrap-topic.yaml", &topic_fragment, &values)?;
        let renamed = rename_logical_ids(filled, &[("Topic", format!("Topic{id}")), ("TopicPolicy", format!("TopicPolicy{id}"))], true);
        resources.extend(fragment_resources("bootstrap-topic.yaml", renamed)?);
        outputs.insert(
            Value::String(format!("Topic{id}Arn")),
            value(json!({ "Value": { "Ref": format!("Topic{id}") } })).unwrap_or(Value::Null),
        );
    }
    if let Some(table) = &bootstrap.state_table {
        let fragment = template::parse("bootstrap-state-table.yaml", BOOTSTRAP_STATE_TABLE_TEMPLATE)?;
        let values = Values::from([
            ("state_table", value(table)),
            ("history_table", value(crate::state::dynamodb::history_table(table))),
            ("tag_list", managed_tag_list()),
        ]);
        resources
            .extend(fragment_resources("bootstrap-state-table.yaml", template::fill("bootstrap-state-table.yaml", &fragment, &values)?)?);
        outputs.insert(Value::String("StateTableName".into()), value(json!({ "Value": { "Ref": "StateTable" } })).unwrap_or(Value::Null));
    }
    let iam = template::parse("bootstrap-iam.yaml", BOOTSTRAP_IAM_TEMPLATE)?;
    let values = Values::from([("tag_list", managed_tag_list())]);
    resources.extend(fragment_resources("bootstrap-iam.yaml", template::fill("bootstrap-iam.yaml", &iam, &values)?)?);
    let exports = template::parse("bootstrap-exports.yaml", BOOTSTRAP_EXPORTS_TEMPLATE)?;
    resources.extend(fragment_resources("bootstrap-exports.yaml", template::fill("bootstrap-exports.yaml", &exports, &values)?)?);
    outputs.insert(Value::String(EXPORT_BUCKET_OUTPUT.into()), value(json!({ "Value": { "Ref": "ExportBucket" } })).unwrap_or(Value::Null));
    outputs.insert(
        Value::String(SERVICE_ROLE_OUTPUT.into()),
        value(json!({ "Value": { "Fn::GetAtt": ["CloudFormationRole", "Arn"] } })).unwrap_or(Value::Null),
    );
    outputs.insert(
        Value::String("BackupRoleBoundaryArn".into()),
        value(json!({ "Value": { "Ref": "BackupRoleBoundary" }, "Export": { "Name": BOUNDARY_EXPORT } })).unwrap_or(Value::Null),
    );
    let values = Values::from([
        ("metadata", value(json!({ "generator": "drctl/v1", "role": StackRole::Bootstrap }))),
        ("resources", Some(Value::Mapping(resources))),
        ("outputs", Some(Value::Mapping(outputs))),
    ]);
    let template = template::fill("bootstrap.yaml", &template::parse("bootstrap.yaml", BOOTSTRAP_TEMPLATE)?, &values)?;
    Ok(Stack {
        name: BOOTSTRAP_STACK.to_string(),
        region: bootstrap.region.clone(),
        role: StackRole::Bootstrap,
        policy: None,
        members: Vec::new(),
        template,
    })
}

/// AWS Backup's longest selection name (1-50 of `[A-Za-z0-9_.-]`).
const SELECTION_NAME_MAX: usize = 50;

/// The name of `policy`'s selection of `table`: `drctl-<policy>-<h>`, `h` a
/// hash of the table (3 to 8 base-36 characters, as many as fit).
///
/// The table is in the name because a selection cannot be updated: a new
/// table means a new selection, which CloudFormation creates before it
/// deletes the old one, and AWS Backup refuses two selections of one name
/// in a plan. The policy name comes whole before the last `-`, so two
/// policies never share a name.
pub fn selection_name(policy: &str, table: &str) -> String {
    use sha2::Digest;
    let prefix = format!("drctl-{policy}-");
    let room = SELECTION_NAME_MAX.saturating_sub(prefix.len()).clamp(3, 8);
    let digest = sha2::Sha256::digest(table.as_bytes());
    let mut number = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default());
    let mut hash = String::with_capacity(room);
    for _ in 0..room {
        hash.push(char::from_digit((number % 36) as u32, 36).unwrap_or('0'));
        number /= 36;
    }
    prefix + &hash
}

/// A CloudFormation logical id for a topic name: its letters and digits in
/// CamelCase, plus a short hash so that `a-b` and `a_b` stay distinct.
fn logical_id(topic: &str) -> String {
    use sha2::Digest;
    let camel: String = topic
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    let digest = sha2::Sha256::digest(topic.as_bytes());
    format!("{}{}", camel.chars().take(200).collect::<String>(), &hex::encode(digest)[..6])
}

/// Renames logical ids: the fragment's top-level keys and every `Ref`.
fn rename_logical_ids(node: Value, renames: &[(&str, String)], top: bool) -> Value {
    let rename = |text: &str| renames.iter().find(|(from, _)| *from == text).map(|(_, to)| to.clone());
    match node {
        Value::Mapping(mapping) => Value::Mapping(
            mapping
                .into_iter()
                .map(|(key, value)| {
                    let is_ref = key.as_str() == Some("Ref");
                    let value = match (&value, is_ref) {
                        (Value::String(target), true) => rename(target).map(Value::String).unwrap_or(value),
                        _ => rename_logical_ids(value, renames, false),
                    };
                    let key = if top { key.as_str().and_then(rename).map(Value::String).unwrap_or(key) } else { key };
                    (key, value)
                })
                .collect(),
        ),
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(|item| rename_logical_ids(item, renames, false)).collect()),
        other => other,
    }
}
