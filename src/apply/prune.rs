//! Stacks of policies no longer desired: deleted only with `--prune`,
//! their vaults retained and named.

use super::*;

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

/// [`prune_orphans`] in each account, with that account's [`Aws`]; an
/// account drctl cannot act in leaves its orphans.
pub async fn prune_in_accounts(
    accounts: &[(Option<&str>, Result<crate::aws::InAccount<'_>, String>)],
    plan: &Plan,
    options: &Options,
    progress: &Progress,
) -> (Vec<StackReport>, Vec<OrphanStack>) {
    let (mut pruned, mut left) = (Vec::new(), Vec::new());
    for (account, in_account) in accounts {
        let part = plan.stacks_in(*account);
        match in_account {
            Ok(in_account) => {
                let (done, kept) = prune_orphans(in_account, &part, options, progress).await;
                pruned.extend(done);
                left.extend(kept);
            }
            Err(_) => left.extend(part.orphans),
        }
    }
    (pruned, left)
}

/// Deletes an orphan's stack; its vaults are retained by their
/// DeletionPolicy, and the report names them.
async fn prune(aws: &Aws, orphan: &OrphanStack, options: &Options, progress: &Progress) -> StackReport {
    let stack = Stack {
        name: orphan.stack.clone(),
        region: orphan.region.clone(),
        role: render::StackRole::Primary,
        policy: Some(orphan.policy.clone()),
        members: Vec::new(),
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
