//! Desired against deployed: what `drctl reconcile --dry-run`
//! shows a reviewer before anything changes.
//!
//! # Guarantees
//! - A dry run changes nothing but its own preview change sets, which it
//!   deletes (and the empty REVIEW_IN_PROGRESS stack a CREATE preview leaves).
//! - An unchanged stack is recognised from its tags alone: no template is
//!   fetched and no change set is created for it.
//! - One policy's failure is reported in its plan and hides no other's.

pub mod changeset;
pub mod deployed;
pub mod format;
pub mod model;
pub mod quotas;
pub mod semantic;
mod shared;

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;

pub use model::*;

use crate::aws::{Aws, describe};
use crate::policy::{self, Checked, LoadedPolicy};
use crate::render::{self, MANAGED_BY_TAG, MANAGED_BY_VALUE, POLICY_TAG, Stack};
use deployed::{COMMIT_TAG, CONTENT_HASH_TAG, DeployedStack, REGIONS_TAG, ROLE_TAG, TEMPLATE_HASH_TAG};

/// What the planner needs to know besides the policies.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The commit the policies come from, recorded in stack tags.
    pub commit: Option<String>,
    /// Regions to search for orphans besides those the policies use.
    pub extra_regions: Vec<String>,
    /// Policies planned at once.
    pub concurrency: usize,
    /// Ask CloudFormation for a preview change set of every changed stack
    /// (a dry run); an apply creates its own change sets instead.
    pub preview: bool,
}

/// The deployed stacks of every region, or why a region could not be read.
type Deployed = BTreeMap<String, Result<BTreeMap<String, DeployedStack>, String>>;

/// Plans every valid policy against what is deployed, each in its account.
pub async fn plan(aws: &Aws, checked: &Checked, options: &Options) -> Plan {
    let policies: Vec<&LoadedPolicy> = checked.valid().collect();
    // Orphans are looked for in every account, in every region any policy
    // uses: a policy moved to another account leaves its stacks behind.
    let regions: BTreeSet<String> =
        policies.iter().flat_map(|p| policy_regions(&p.policy)).chain(options.extra_regions.iter().cloned()).collect();
    let mut plan =
        Plan { commit: options.commit.clone(), invalid: invalid(checked), guardrails: guardrail_notes(checked), ..Plan::default() };
    // A file that does not even parse is known by its name only.
    let mut protected: BTreeSet<&str> = checked
        .policies
        .iter()
        .filter(|p| !policies.iter().any(|v| v.file == p.file))
        .map(|p| p.policy.metadata.name.as_str())
        .chain(checked.findings.iter().filter(|f| f.is_error()).filter_map(|f| file_stem(&f.file)))
        .collect();
    let mut reached = Vec::new();
    for (account, members) in by_account(checked, &policies) {
        // A dry run (a pull request's plan) reaches each account by its plan role.
        let declared = account.and_then(|id| checked.account(id)).map(|a| if options.preview { a.for_plan() } else { a.clone() });
        match Box::pin(aws.in_account(declared.as_ref())).await {
            Ok(in_account) => reached.push((account, in_account, members)),
            Err(error) => {
                tracing::warn!(%error, "account not reached; its policies are not planned");
                // Nothing of theirs is an orphan anywhere: where they are
                // is not known.
                protected.extend(members.iter().map(|p| p.policy.metadata.name.as_str()));
                plan.policies.extend(members.iter().map(|p| PolicyPlan { error: Some(error.to_string()), ..policy_plan(p) }));
                plan.unreached.push(error.to_string());
            }
        }
    }
    for (account, in_account, members) in reached {
        let part = Box::pin(plan_account(&in_account, &members, &regions, &protected, options)).await;
        let account = account.map(str::to_string);
        plan.policies.extend(part.policies);
        plan.shared.extend(part.shared.into_iter().map(|s| SharedStackPlan { account: account.clone(), ..s }));
        plan.orphans.extend(part.orphans.into_iter().map(|o| OrphanStack { account: account.clone(), ..o }));
    }
    plan.policies.sort_by(|a, b| a.name.cmp(&b.name));
    plan
}

/// The valid policies by the account drctl reaches them through: `None`
/// for its own (no `spec.account`, or an account declared without a role),
/// else the account's id. Every account the accounts file declares is
/// there, with or without policies, so its orphans are found.
fn by_account<'a>(checked: &'a Checked, policies: &[&'a LoadedPolicy]) -> BTreeMap<Option<&'a str>, Vec<&'a LoadedPolicy>> {
    let mut groups: BTreeMap<Option<&str>, Vec<&LoadedPolicy>> = BTreeMap::from([(None, Vec::new())]);
    for declared in checked.accounts.iter().flat_map(|a| &a.accounts.accounts) {
        groups.entry(checked.reached_by_role(Some(declared.id.as_str()))).or_default();
    }
    for policy in policies {
        groups.entry(checked.reached_by_role(policy.policy.spec.account.as_deref())).or_default().push(policy);
    }
    groups
}

/// The plan of one account's policies (its shared stacks and orphans
/// included), `protected` naming the policies whose stacks are never
/// orphans.
async fn plan_account(
    aws: &Aws,
    policies: &[&LoadedPolicy],
    regions: &BTreeSet<String>,
    protected: &BTreeSet<&str>,
    options: &Options,
) -> Plan {
    let mut deployed = list_regions(aws, regions).await;
    // A policy's stacks record every region it deploys to, so the stacks of a
    // dropped copy region or a deleted policy are found even where no
    // desired policy looks any more.
    let recorded: BTreeSet<String> = deployed
        .values()
        .filter_map(|listing| listing.as_ref().ok())
        .flat_map(BTreeMap::values)
        .filter_map(|stack| stack.tag(REGIONS_TAG))
        .flat_map(|regions| regions.split(' ').map(str::to_string))
        .filter(|region| !regions.contains(region) && crate::policy::names::is_region(region))
        .collect();
    deployed.extend(list_regions(aws, &recorded).await);
    let copy_warnings = copy_warnings(aws, policies).await;
    let concurrency = options.concurrency.max(1);
    let mut planned: Vec<PolicyPlan> = futures_util::stream::iter(policies.iter().map(|p| plan_policy(aws, p, &deployed, options)))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let shared = shared::plan(aws, policies, &deployed, options, &mut planned).await;
    for policy in &mut planned {
        let copies_from =
            policies.iter().find(|p| p.policy.metadata.name == policy.name).filter(|p| !p.policy.spec.backup.copies.is_empty());
        if let Some(warning) = copies_from.and_then(|p| copy_warnings.get(&p.policy.spec.region)) {
            policy.warnings.push(warning.clone());
        }
    }
    // Orphans by set difference of stacks, not of policies: a copy region
    // dropped from a policy leaves its DR stack behind too.
    let desired: BTreeSet<(&str, &str)> = planned
        .iter()
        .flat_map(|p| p.stacks.iter().map(|s| (s.stack.as_str(), s.region.as_str())))
        .chain(shared.iter().map(|s| (s.plan.stack.as_str(), s.plan.region.as_str())))
        .collect();
    let orphans = orphans(&deployed, &desired, protected, &planned);
    Plan { orphans, policies: planned, shared, ..Plan::default() }
}

async fn list_regions(aws: &Aws, regions: &BTreeSet<String>) -> Deployed {
    let listings = futures_util::future::join_all(regions.iter().map(|region| deployed::list(aws, region))).await;
    regions.iter().cloned().zip(listings.into_iter().map(|l| l.map_err(|e| e.to_string()))).collect()
}

/// The stack tags an apply records: ownership, the policy's content hash,
/// the template's hash and the commit.
pub fn stack_tags(stack: &Stack, content_hash: &str, commit: Option<&str>, regions: &[String]) -> Vec<(String, String)> {
    let mut tags = vec![
        (MANAGED_BY_TAG.to_string(), MANAGED_BY_VALUE.to_string()),
        (ROLE_TAG.to_string(), stack.role.tag_value().to_string()),
        (CONTENT_HASH_TAG.to_string(), content_hash.to_string()),
        (TEMPLATE_HASH_TAG.to_string(), deployed::template_hash(stack)),
    ];
    if let Some(policy) = &stack.policy {
        tags.push((POLICY_TAG.to_string(), policy.clone()));
    }
    if stack.policy.is_some() || stack.role.is_shared() {
        tags.push((REGIONS_TAG.to_string(), regions.join(" ")));
    }
    if let Some(commit) = commit {
        tags.push((COMMIT_TAG.to_string(), commit.to_string()));
    }
    tags
}

async fn plan_policy(aws: &Aws, loaded: &LoadedPolicy, deployed: &Deployed, options: &Options) -> PolicyPlan {
    let policy = &loaded.policy;
    let mut plan = policy_plan(loaded);
    let content_hash = plan.content_hash.clone();
    let stacks = match render::render(policy) {
        Ok(stacks) => stacks,
        Err(error) => {
            plan.error = Some(error.to_string());
            return plan;
        }
    };
    let regions = policy_regions(policy);
    for stack in &stacks {
        match plan_stack(aws, stack, &content_hash, &regions, deployed, options).await {
            Ok((stack_plan, _)) => plan.stacks.push(stack_plan),
            Err(error) => {
                plan.error = Some(error);
                return plan;
            }
        }
    }
    match pitr_change(aws, policy).await {
        Ok(change) => plan.pitr = change,
        Err(error) => plan.error = Some(error),
    }
    plan
}

/// A policy's plan with nothing in it yet.
fn policy_plan(loaded: &LoadedPolicy) -> PolicyPlan {
    let policy = &loaded.policy;
    PolicyPlan {
        name: policy.metadata.name.clone(),
        file: loaded.file.clone(),
        account: policy.spec.account.clone(),
        content_hash: policy::content_hash(policy),
        table: policy.spec.table.clone(),
        region: policy.spec.region.clone(),
        stacks: Vec::new(),
        pitr: None,
        error: None,
        warnings: Vec::new(),
    }
}

/// DynamoDB recovery points are copied to another region only with AWS
/// Backup's advanced DynamoDB features on in the source region: without
/// them the plan's copy actions (and DR drills) fail after the apply. One
/// check per region that policies copy from; the warning (with its fix) by
/// region.
async fn copy_warnings(aws: &Aws, policies: &[&LoadedPolicy]) -> BTreeMap<String, String> {
    let regions: BTreeSet<&str> =
        policies.iter().filter(|p| !p.policy.spec.backup.copies.is_empty()).map(|p| p.policy.spec.region.as_str()).collect();
    let checks = regions.iter().map(|region| async move {
        let warning = crate::drill::copy::ensure_advanced_backup(&aws.region(region)).await.err().map(|e| e.to_string());
        warning.map(|w| (region.to_string(), w))
    });
    futures_util::future::join_all(checks).await.into_iter().flatten().collect()
}

/// One stack against what is deployed, with the deployed template when it
/// was read (a changed stack's).
async fn plan_stack(
    aws: &Aws,
    stack: &Stack,
    content_hash: &str,
    regions: &[String],
    deployed: &Deployed,
    options: &Options,
) -> Result<(StackPlan, Option<yaml_serde::Value>), String> {
    let in_region = deployed.get(&stack.region).ok_or_else(|| format!("region {} was not listed", stack.region))?;
    let current = in_region.as_ref().map_err(Clone::clone)?.get(&stack.name);
    let template_hash = deployed::template_hash(stack);
    let mut plan = StackPlan {
        stack: stack.name.clone(),
        region: stack.region.clone(),
        role: stack.role,
        status: StackStatus::New,
        deployed_status: current.map(|c| c.status.clone()),
        semantic: Vec::new(),
        template_diff: None,
        changes: Vec::new(),
        previewed: false,
    };
    if let Some(current) = current
        && current.is_current(&template_hash)
    {
        plan.status = StackStatus::Unchanged;
        return Ok((plan, None));
    }
    // A stack that died on create, or an abandoned preview, is replaced by a
    // fresh create: compare against nothing.
    let updatable = current.filter(|c| !matches!(c.status.as_str(), "ROLLBACK_COMPLETE" | "REVIEW_IN_PROGRESS"));
    let deployed_template = match updatable {
        Some(current) => Some(deployed::template(aws, current).await.map_err(|e| e.to_string())?),
        None => None,
    };
    if updatable.is_some() {
        plan.status = StackStatus::Changed;
        plan.template_diff = deployed_template.as_ref().map(|old| template_diff(old, stack));
    }
    plan.semantic = semantic::dr_changes(deployed_template.as_ref(), &stack.template);
    let tags = stack_tags(stack, content_hash, options.commit.as_deref(), regions);
    let request = changeset::Request {
        stack,
        exists: updatable.is_some(),
        tags,
        name: changeset::run_name(changeset::PREVIEW_PREFIX, &template_hash),
        role_arn: None,
    };
    if options.preview {
        plan.changes = changeset::preview(aws, &request).await.map_err(|e| e.to_string())?;
        plan.previewed = true;
    }
    Ok((plan, deployed_template))
}

/// Every region a policy deploys to in its account: the table's, then its
/// copies' (those in its own account).
pub fn policy_regions(policy: &policy::TablePolicy) -> Vec<String> {
    std::iter::once(policy.spec.region.clone()).chain(render::own_copies(policy).map(|c| c.region.clone())).collect()
}

/// Unified diff of the deployed template against the rendered one, both as
/// pretty JSON so that formatting differences do not show.
fn template_diff(deployed: &yaml_serde::Value, stack: &Stack) -> String {
    let old = serde_json::to_string_pretty(deployed).unwrap_or_default() + "\n";
    let new = stack.to_json() + "\n";
    similar::TextDiff::from_lines(&old, &new).unified_diff().context_radius(3).header("deployed", "rendered").to_string()
}

async fn pitr_change(aws: &Aws, policy: &policy::TablePolicy) -> Result<Option<PitrChange>, String> {
    let Some(wanted) = policy.spec.backup.point_in_time_recovery else { return Ok(None) };
    let table = &policy.spec.table;
    let region = &policy.spec.region;
    let current = match aws.region(region).dynamodb.describe_continuous_backups().table_name(table).send().await {
        Ok(output) => output
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .map(|s| s.as_str() == "ENABLED"),
        Err(error) if error.as_service_error().is_some_and(|e| e.is_table_not_found_exception()) => {
            return Err(format!("table {table} does not exist in {region}: create it first, or correct spec.table"));
        }
        Err(error) => return Err(format!("reading point-in-time recovery of {table} in {region}: {}", describe(&error))),
    };
    Ok((current != Some(wanted)).then(|| PitrChange { table: table.clone(), region: region.clone(), from: current, to: wanted }))
}

/// drctl's policy stacks that no desired policy renders. The stacks of a
/// policy that is merely invalid, or failed to plan, are not orphans: a
/// typo must never look like a deletion.
fn orphans(deployed: &Deployed, desired: &BTreeSet<(&str, &str)>, invalid: &BTreeSet<&str>, planned: &[PolicyPlan]) -> Vec<OrphanStack> {
    let failed: BTreeSet<&str> = planned.iter().filter(|p| p.error.is_some()).map(|p| p.name.as_str()).collect();
    // While any policy is invalid or failed, a shared stack it may have
    // used is kept: which one it used is not known.
    let keep_shared = !invalid.is_empty() || !failed.is_empty();
    let mut found: Vec<OrphanStack> = deployed
        .values()
        .filter_map(|listing| listing.as_ref().ok())
        .flat_map(BTreeMap::values)
        .filter_map(|stack| {
            let shared = stack.policy().is_none() && matches!(stack.tag(ROLE_TAG), Some("vault" | "plan"));
            if shared {
                let kept = keep_shared || desired.contains(&(stack.name.as_str(), stack.region.as_str()));
                return (!kept).then(|| OrphanStack {
                    stack: stack.name.clone(),
                    region: stack.region.clone(),
                    policy: String::new(),
                    status: stack.status.clone(),
                    shared: true,
                    account: None,
                });
            }
            let policy = stack.policy()?;
            let kept =
                desired.contains(&(stack.name.as_str(), stack.region.as_str())) || invalid.contains(policy) || failed.contains(policy);
            (!kept).then(|| OrphanStack {
                stack: stack.name.clone(),
                region: stack.region.clone(),
                policy: policy.to_string(),
                status: stack.status.clone(),
                shared: false,
                account: None,
            })
        })
        .collect();
    // Plans before the vault stacks whose role export their selections import.
    found.sort_by_key(|o| !(o.shared && o.stack.starts_with("drctl-plan-")));
    found
}

fn file_stem(file: &str) -> Option<&str> {
    let name = file.rsplit('/').next()?;
    name.strip_suffix(".yaml").or_else(|| name.strip_suffix(".yml"))
}

/// The guardrail findings of `checked`, for the plan's own section.
fn guardrail_notes(checked: &Checked) -> Vec<GuardrailNote> {
    checked
        .findings
        .iter()
        .filter(|f| f.rule.starts_with("guardrail"))
        .map(|f| GuardrailNote { file: f.file.clone(), line: f.position.line, breach: f.is_error(), message: f.message.clone() })
        .collect()
}

fn invalid(checked: &Checked) -> Vec<InvalidPolicy> {
    let mut by_file: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for finding in checked.findings.iter().filter(|f| f.is_error()) {
        by_file.entry(&finding.file).or_default().push(finding.to_string());
    }
    by_file.into_iter().map(|(file, findings)| InvalidPolicy { file: file.to_string(), findings }).collect()
}
