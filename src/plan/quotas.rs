//! What others already took of AWS Backup's quotas in the Regions the
//! policies deploy to: the vaults and plans of the account that are not
//! drctl's, counted by name (drctl names its own `drctl-…`), two paged
//! list calls per Region whatever the fleet's size. The dry run adds them
//! to what the policies' stacks would create (`render::quotas`).

use std::collections::BTreeMap;

use crate::aws::Aws;
use crate::render::quotas::Usage;

/// Names drctl gives its vaults and plans (`render::vault_name`, the plan
/// name `drctl-<policy>`).
const OWN_PREFIX: &str = "drctl-";

/// A Region whose vaults or plans could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("counting AWS Backup's {what} in {region} against its quota: {why}")]
pub struct CountError {
    pub region: String,
    pub what: &'static str,
    pub why: String,
}

/// Per Region of `regions`, the vaults and plans that are not drctl's.
pub async fn others_use(aws: &Aws, regions: impl IntoIterator<Item = &str>) -> Result<BTreeMap<String, Usage>, CountError> {
    let mut found = BTreeMap::new();
    for region in regions {
        let backup = aws.region(region).backup;
        let error = |what: &'static str, why: String| CountError { region: region.to_string(), what, why };
        let vaults: Vec<_> = backup
            .list_backup_vaults()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| error("vaults", crate::aws::describe(&e)))?;
        let plans: Vec<_> = backup
            .list_backup_plans()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| error("plans", crate::aws::describe(&e)))?;
        let others = |name: Option<&str>| !name.unwrap_or_default().starts_with(OWN_PREFIX);
        found.insert(
            region.to_string(),
            Usage {
                region: region.to_string(),
                backup_vaults: vaults.iter().filter(|v| others(v.backup_vault_name())).count(),
                backup_plans: plans.iter().filter(|p| others(p.backup_plan_name())).count(),
                most_selections_per_plan: 0,
            },
        );
    }
    Ok(found)
}
