//! The region's bootstrap as apply sees it: deploying it (with the
//! caller's own, administrator, credentials), and reading from it the
//! CloudFormation service role every policy stack is deployed with.

use super::{Options, Progress, StackOutcome, deploy_stack, describe_stack, not_ours};
use crate::aws::{Aws, describe, error_code};
use crate::plan;
use crate::render::{self, Stack};

pub(super) const BOOTSTRAP_FIX: &str = "run `drctl bootstrap` once per region, with credentials that may create IAM roles";

/// The CloudFormation service role policy stacks of `region` are deployed
/// with: an output of that region's bootstrap stack. No bootstrap, no
/// deploy: drctl's own credentials hold no right to create the roles a
/// policy stack needs, and a stack without the role would run with them.
pub async fn service_role(aws: &Aws, region: &str) -> Result<String, String> {
    let bootstrap = Stack {
        name: render::BOOTSTRAP_STACK.to_string(),
        region: region.to_string(),
        role: render::StackRole::Bootstrap,
        policy: None,
        members: Vec::new(),
        template: Default::default(),
    };
    let client = aws.region(region).cloudformation;
    let missing = || {
        format!(
            "{} in {region} has no {} output: drctl's CloudFormation service role is not set up",
            bootstrap.name,
            render::SERVICE_ROLE_OUTPUT
        )
    };
    let output = match describe_stack(&client, &bootstrap.name).await {
        Ok(output) => output,
        Err(error) if error_code(&error) == Some("ValidationError") => return Err(missing()),
        Err(error) => return Err(format!("{} in {region}: {}", bootstrap.name, describe(&error))),
    };
    let found = output.stacks().first().ok_or_else(missing)?;
    let tags = found.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
    if let Some(why) = not_ours(&bootstrap, &tags) {
        return Err(why);
    }
    found
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some(render::SERVICE_ROLE_OUTPUT))
        .and_then(|o| o.output_value())
        .filter(|arn| !arn.is_empty())
        .map(str::to_string)
        .ok_or_else(missing)
}

/// Deploys one region's bootstrap stack, with drctl's tags and the
/// caller's own credentials (it creates the service role the policy stacks
/// then run with).
pub async fn bootstrap(
    aws: &Aws,
    bootstrap: &render::Bootstrap,
    progress: &Progress,
) -> Result<(Stack, StackOutcome), render::RenderError> {
    let stack = render::render_bootstrap(bootstrap)?;
    let tags = vec![
        (render::MANAGED_BY_TAG.to_string(), render::MANAGED_BY_VALUE.to_string()),
        (plan::deployed::ROLE_TAG.to_string(), stack.role.tag_value().to_string()),
        (plan::deployed::TEMPLATE_HASH_TAG.to_string(), plan::deployed::template_hash(&stack)),
    ];
    let outcome = deploy_stack(aws, &stack, tags, None, &Options::default(), progress).await;
    Ok((stack, outcome))
}

/// Deploys one region's central vaults in a backup account, like the
/// bootstrap: drctl's tags, the caller's own (administrator) credentials.
pub async fn bootstrap_central(
    aws: &Aws,
    central: &render::central::Central,
    progress: &Progress,
) -> Result<StackOutcome, render::RenderError> {
    let stack = render::central::render(central)?;
    let tags = vec![
        (render::MANAGED_BY_TAG.to_string(), render::MANAGED_BY_VALUE.to_string()),
        (plan::deployed::ROLE_TAG.to_string(), stack.role.tag_value().to_string()),
        (plan::deployed::TEMPLATE_HASH_TAG.to_string(), plan::deployed::template_hash(&stack)),
    ];
    Ok(deploy_stack(aws, &stack, tags, None, &Options::default(), progress).await)
}

/// One region's bootstrap and what became of it.
pub struct Bootstrapped {
    pub bootstrap: render::Bootstrap,
    /// What the deploy did, or the render error that kept it from deploying.
    pub outcome: Result<StackOutcome, render::RenderError>,
}

impl Bootstrapped {
    pub fn failed(&self) -> bool {
        self.outcome.as_ref().is_ok_and(StackOutcome::is_failure) || self.outcome.is_err()
    }
}

/// `drctl bootstrap`: the bootstrap stack of every region `policies` use
/// (their topics there, and the state table in its region when asked),
/// region by region; one region's failure does not stop the others.
pub async fn bootstrap_regions<'a>(
    aws: &Aws,
    policies: impl IntoIterator<Item = &'a crate::policy::TablePolicy>,
    state_table: Option<(&str, &str)>,
    progress: &Progress,
) -> Vec<Bootstrapped> {
    let mut done = Vec::new();
    for bootstrap in render::bootstraps(policies, state_table) {
        let outcome = self::bootstrap(aws, &bootstrap, progress).await.map(|(_, outcome)| outcome);
        progress.finish();
        done.push(Bootstrapped { bootstrap, outcome });
    }
    done
}
