//! The deployed side: drctl's stacks as CloudFormation has them, listed with
//! one paginated `DescribeStacks` per region (not one call per stack), and
//! recognised by their tags.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::{Stack as CfnStack, Tag};

use crate::aws::{Aws, describe};
use crate::render::{MANAGED_BY_TAG, MANAGED_BY_VALUE, POLICY_TAG, Stack};

/// Tags drctl puts on every stack it deploys.
pub const CONTENT_HASH_TAG: &str = "drctl:content-hash";
pub const TEMPLATE_HASH_TAG: &str = "drctl:template-hash";
pub const COMMIT_TAG: &str = "drctl:commit";
pub const ROLE_TAG: &str = "drctl:role";
/// Every region the policy deploys to, space separated: where to look for
/// its stacks when the policy or one of its copy regions is gone.
pub const REGIONS_TAG: &str = "drctl:regions";

#[derive(Debug, thiserror::Error)]
pub enum DeployedError {
    #[error("listing stacks in {region}: {why}")]
    List { region: String, why: String },
    #[error("reading the template of {stack} in {region}: {why}")]
    Template { stack: String, region: String, why: String },
}

/// One deployed drctl stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployedStack {
    pub name: String,
    pub region: String,
    pub status: String,
    pub tags: BTreeMap<String, String>,
}

impl DeployedStack {
    pub fn policy(&self) -> Option<&str> {
        self.tags.get(POLICY_TAG).map(String::as_str)
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    /// Deployed from exactly this template, and healthy: nothing to do, no
    /// change set needed. The template hash decides, not the policy's: a
    /// policy change that renders the same template (a drill setting, say)
    /// has nothing for CloudFormation to do.
    pub fn is_current(&self, template_hash: &str) -> bool {
        self.tag(TEMPLATE_HASH_TAG) == Some(template_hash) && is_stable_success(&self.status)
    }
}

/// A stack whose last operation succeeded and that nothing is changing.
pub fn is_stable_success(status: &str) -> bool {
    matches!(status, "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE")
}

/// The SHA-256 of the template body drctl deploys.
pub fn template_hash(stack: &Stack) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(stack.to_json().as_bytes()))
}

/// drctl's stacks in `region` (deleted ones excluded), by name.
pub async fn list(aws: &Aws, region: &str) -> Result<BTreeMap<String, DeployedStack>, DeployedError> {
    let client = aws.region(region).cloudformation;
    let mut pages = client.describe_stacks().into_paginator().send();
    let mut stacks = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| DeployedError::List { region: region.to_string(), why: describe(&e) })?;
        for stack in page.stacks() {
            if let Some(deployed) = as_drctl_stack(stack, region) {
                stacks.insert(deployed.name.clone(), deployed);
            }
        }
    }
    Ok(stacks)
}

fn as_drctl_stack(stack: &CfnStack, region: &str) -> Option<DeployedStack> {
    let tags: BTreeMap<String, String> =
        stack.tags().iter().filter_map(|t: &Tag| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect();
    let status = stack.stack_status().map(|s| s.as_str().to_string()).unwrap_or_default();
    if tags.get(MANAGED_BY_TAG).map(String::as_str) != Some(MANAGED_BY_VALUE) || status == "DELETE_COMPLETE" {
        return None;
    }
    Some(DeployedStack { name: stack.stack_name()?.to_string(), region: region.to_string(), status, tags })
}

/// The deployed template body, as CloudFormation keeps the original.
pub async fn template(aws: &Aws, stack: &DeployedStack) -> Result<yaml_serde::Value, DeployedError> {
    let error = |why: String| DeployedError::Template { stack: stack.name.clone(), region: stack.region.clone(), why };
    let output = aws
        .region(&stack.region)
        .cloudformation
        .get_template()
        .stack_name(&stack.name)
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
        .send()
        .await
        .map_err(|e| error(describe(&e)))?;
    let body = output.template_body().unwrap_or_default();
    // JSON is YAML: one parser reads both forms of a template.
    yaml_serde::from_str(body).map_err(|e| error(format!("the template is not YAML or JSON: {e}")))
}
