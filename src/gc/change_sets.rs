//! Leftover preview change sets, and the empty review stacks an aborted
//! CREATE preview leaves.

use super::*;

impl Context<'_> {
    pub(super) async fn change_sets(&self, region: &str) -> Result<Vec<Found>, GcError> {
        let stacks = deployed::list(self.aws, region).await?;
        let mut found = Vec::new();
        for stack in stacks.values() {
            found.extend(self.stack(stack).await);
        }
        Ok(found)
    }

    async fn stack(&self, stack: &DeployedStack) -> Vec<Found> {
        let entry = |kind, name: &str, outcome, why: String| Found {
            kind,
            region: stack.region.clone(),
            name: name.to_string(),
            stack: Some(stack.name.clone()),
            policy: stack.policy().map(str::to_string),
            outcome,
            why,
            account: None,
        };
        let summaries = match list_change_sets(self.aws, stack).await {
            Ok(summaries) => summaries,
            Err(error) => return vec![entry(Kind::PreviewChangeSet, "*", Outcome::Failed, error.to_string())],
        };
        let handle = handle(stack);
        let mut found = Vec::new();
        let previews: Vec<&ChangeSetSummary> =
            summaries.iter().filter(|s| s.change_set_name().is_some_and(|n| n.starts_with(PREVIEW_PREFIX))).collect();
        for preview in &previews {
            let name = preview.change_set_name().unwrap_or_default();
            let (outcome, why) = match self.young(preview) {
                Some(age) => (Outcome::Kept, format!("a preview {age}s old: a running plan may still read it")),
                None if self.mode == Mode::DryRun => (Outcome::WouldDelete, PREVIEW_WHY.to_string()),
                None => match changeset::delete(self.aws, &handle, name).await {
                    Ok(()) => (Outcome::Deleted, PREVIEW_WHY.to_string()),
                    Err(error) => (Outcome::Failed, error.to_string()),
                },
            };
            found.push(entry(Kind::PreviewChangeSet, name, outcome, why));
        }
        if stack.status == "REVIEW_IN_PROGRESS" {
            let (outcome, why) = self.review_stack(stack, &summaries).await;
            found.push(entry(Kind::ReviewStack, &stack.name, outcome, why));
        }
        found
    }

    async fn review_stack(&self, stack: &DeployedStack, summaries: &[ChangeSetSummary]) -> (Outcome, String) {
        let pending = summaries.iter().filter_map(|s| s.change_set_name()).find(|n| !n.starts_with(PREVIEW_PREFIX));
        if let Some(name) = pending {
            return (Outcome::Kept, format!("change set {name} is pending on it: a reconcile may be creating this stack"));
        }
        if let Some(holder) = stack.policy().and_then(|p| self.states.iter().find(|s| s.policy == p)).filter(|s| live(s, self.now)) {
            return (Outcome::Kept, in_use(holder));
        }
        if let Some(age) = summaries.iter().filter_map(|s| self.young(s)).min() {
            return (Outcome::Kept, format!("a preview {age}s old is on it: a running plan may still use it"));
        }
        match self.mode {
            Mode::DryRun => (Outcome::WouldDelete, REVIEW_WHY.to_string()),
            Mode::Delete => match changeset::delete_review_stack(self.aws, &handle(stack)).await {
                Ok(()) => (Outcome::Deleted, REVIEW_WHY.to_string()),
                Err(error) => (Outcome::Failed, error.to_string()),
            },
        }
    }

    /// The change set's age in seconds when it is within the grace.
    fn young(&self, summary: &ChangeSetSummary) -> Option<u64> {
        let created = u64::try_from(summary.creation_time()?.secs()).ok()?;
        let age = self.now.saturating_sub(created);
        (age < self.options.preview_grace.as_secs()).then_some(age)
    }
}
const PREVIEW_WHY: &str = "a preview change set a plan did not clean up (previews are deleted once read)";

const REVIEW_WHY: &str = "an empty stack in REVIEW_IN_PROGRESS left by an aborted CREATE preview";

/// The stack's change sets, every page. Only summaries of this stack are
/// kept: the answer is filtered, not trusted.
async fn list_change_sets(aws: &Aws, stack: &DeployedStack) -> Result<Vec<ChangeSetSummary>, GcError> {
    let client = aws.region(&stack.region).cloudformation;
    let mut summaries = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client.list_change_sets().stack_name(&stack.name).set_next_token(token.take()).send().await.map_err(|e| {
            GcError::Call { region: stack.region.clone(), action: format!("ListChangeSets {}", stack.name), why: describe(&e) }
        })?;
        summaries.extend(page.summaries().iter().filter(|s| s.stack_name().is_none_or(|name| name == stack.name)).cloned());
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(summaries),
        }
    }
}

/// A deployed stack as the change-set functions take it: they read only
/// its name and region, so the template is left empty.
fn handle(stack: &DeployedStack) -> render::Stack {
    render::Stack {
        name: stack.name.clone(),
        region: stack.region.clone(),
        role: StackRole::Primary,
        policy: stack.policy().map(str::to_string),
        members: Vec::new(),
        template: yaml_serde::Value::Null,
    }
}
