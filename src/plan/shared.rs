//! Planning the stacks policies share: each once for the whole run, and
//! for each member policy what the change means for its own table.

use std::collections::BTreeMap;

use yaml_serde::Value;

use super::{Deployed, Options, PolicyPlan, SharedStackPlan, StackPlan, StackStatus, plan_stack, semantic};
use crate::aws::Aws;
use crate::policy::LoadedPolicy;
use crate::render::{self, Stack, StackRole};

/// Plans every shared stack of `policies` and adds to each member's plan
/// its view of the stacks it uses. A shared stack that cannot be planned
/// fails the plan of each of its members.
pub(super) async fn plan(
    aws: &Aws,
    policies: &[&LoadedPolicy],
    deployed: &Deployed,
    options: &Options,
    planned: &mut [PolicyPlan],
) -> Vec<SharedStackPlan> {
    let stacks = match render::shared::render(policies.iter().map(|p| &p.policy)) {
        Ok(stacks) => stacks,
        Err(error) => {
            for policy in planned.iter_mut().filter(|p| is_shared(policies, &p.name)) {
                policy.error = Some(format!("shared stacks: {error}"));
            }
            return Vec::new();
        }
    };
    let mut shared = Vec::new();
    let mut deployed_templates: BTreeMap<(String, String), Value> = BTreeMap::new();
    for stack in &stacks {
        let hash = super::deployed::template_hash(stack);
        let regions = regions(stack, policies);
        match plan_stack(aws, stack, &hash, &regions, deployed, options).await {
            Ok((plan, template)) => {
                if let Some(template) = template {
                    deployed_templates.insert((stack.region.clone(), stack.name.clone()), template);
                }
                shared.push((stack, SharedStackPlan { plan, members: stack.members.clone(), account: None }));
            }
            Err(error) => {
                for policy in planned.iter_mut().filter(|p| stack.members.contains(&p.name)) {
                    policy.error.get_or_insert_with(|| format!("shared stack {} in {}: {error}", stack.name, stack.region));
                }
            }
        }
    }
    // A member that left a plan stack nobody else uses any more: that stack
    // is not rendered, so its template was not read above.
    // Read only when some shared stack changes: an idle plan reads nothing.
    let rendered: Vec<(&str, &str)> = stacks.iter().map(|s| (s.region.as_str(), s.name.as_str())).collect();
    let changing = shared.iter().any(|(_, s)| s.plan.status != StackStatus::Unchanged);
    let listings = deployed.iter().filter(|_| changing).filter_map(|(region, listing)| Some((region, listing.as_ref().ok()?)));
    for (region, listing) in listings {
        for stack in listing.values().filter(|s| s.policy().is_none() && s.tag(super::deployed::ROLE_TAG) == Some("plan")) {
            if rendered.contains(&(region.as_str(), stack.name.as_str())) {
                continue;
            }
            if let Ok(template) = super::deployed::template(aws, stack).await {
                deployed_templates.insert((region.clone(), stack.name.clone()), template);
            }
        }
    }
    // Each member's stacks, found once: a fleet of thousands shares a vault.
    let mut uses: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, (stack, _)) in shared.iter().enumerate() {
        for member in &stack.members {
            uses.entry(member.as_str()).or_default().push(index);
        }
    }
    for policy in planned.iter_mut().filter(|p| p.error.is_none()) {
        for &index in uses.get(policy.name.as_str()).map(Vec::as_slice).unwrap_or_default() {
            let (stack, shared) = &shared[index];
            policy.stacks.push(member_view(stack, &shared.plan, &policy.name, &deployed_templates));
        }
    }
    shared.into_iter().map(|(_, plan)| plan).collect()
}

fn is_shared(policies: &[&LoadedPolicy], name: &str) -> bool {
    policies.iter().any(|p| p.policy.metadata.name == name && render::shared::is_shared(&p.policy))
}

/// The Regions a shared stack's tag records: a plan's copy Regions too, so
/// that a copy Region all members dropped is still searched for orphans.
fn regions(stack: &Stack, policies: &[&LoadedPolicy]) -> Vec<String> {
    let first = stack.members.first().and_then(|name| policies.iter().find(|p| &p.policy.metadata.name == name));
    crate::render::shared::tag_regions(stack, first.map(|p| &p.policy))
}

/// What `stack`'s plan means for `member`: a plan stack changed for its
/// other members is unchanged for this one, and the change is told in the
/// member's terms (its own selection and the plan's rule), compared with
/// the plan stack that held its selection before, if any.
fn member_view(stack: &Stack, plan: &StackPlan, member: &str, deployed: &BTreeMap<(String, String), Value>) -> StackPlan {
    let mut view = StackPlan { template_diff: None, changes: Vec::new(), previewed: false, ..plan.clone() };
    if plan.status == StackStatus::Unchanged || stack.role != StackRole::Plan {
        return view;
    }
    let rendered = selection_of(&stack.template, member);
    let before = deployed
        .get(&(stack.region.clone(), stack.name.clone()))
        .map(|t| selection_of(t, member))
        .filter(has_selection)
        .or_else(|| deployed.values().map(|t| selection_of(t, member)).find(has_selection));
    view.status = match &before {
        Some(before) if *before == rendered => StackStatus::Unchanged,
        Some(_) if deployed.contains_key(&(stack.region.clone(), stack.name.clone())) => StackStatus::Changed,
        _ => StackStatus::New,
    };
    view.semantic = match view.status {
        StackStatus::Unchanged => Vec::new(),
        _ => semantic::dr_changes(before.as_ref(), &rendered),
    };
    view
}

/// A plan stack's template reduced to the plan and `member`'s selection.
fn selection_of(template: &Value, member: &str) -> Value {
    let mut reduced = template.clone();
    let wanted = crate::render::shared::selection_id(member);
    if let Some(resources) = reduced.get_mut("Resources").and_then(Value::as_mapping_mut) {
        resources.retain(|id, resource| {
            let is_selection = resource.get("Type").and_then(Value::as_str) == Some("AWS::Backup::BackupSelection");
            !is_selection || id.as_str() == Some(wanted.as_str())
        });
    }
    reduced
}

fn has_selection(template: &Value) -> bool {
    template
        .get("Resources")
        .and_then(Value::as_mapping)
        .is_some_and(|r| r.values().any(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::Backup::BackupSelection")))
}
