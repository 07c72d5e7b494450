//! What others already took of AWS Backup's quotas in the Regions the
//! policies deploy to: the vaults and plans of the account that are not
//! drctl's, counted by name (drctl names its own `drctl-…`), two paged
//! list calls per Region whatever the fleet's size. The dry run adds them
//! to what the policies' stacks would create (`render::quotas`).
//!
//! The limits are the account's own: Service Quotas' ListServiceQuotas
//! "lists the applied quota values for the specified AWS service" (Service
//! Quotas API Reference), one paged call per Region; a quota it does not
//! list has no applied value and keeps AWS's default. drctl matches the
//! quotas by AWS's names (`render::quotas::QUOTAS`).

use std::collections::BTreeMap;

use crate::aws::Aws;
use crate::render::quotas::{Limits, QUOTAS, Usage};

/// Service Quotas' code of AWS Backup.
const BACKUP_SERVICE_CODE: &str = "backup";

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

/// Reads the values the account applied to AWS Backup's quotas in each of
/// `regions` into `limits`. A quota Service Quotas does not list keeps
/// AWS's default; a call that fails is an error (the dry run, the apply and
/// the watch pass stop rather than judge against values they did not read).
pub async fn read_applied(aws: &Aws, regions: impl IntoIterator<Item = &str>, limits: &mut Limits) -> Result<(), CountError> {
    for region in regions {
        let client = aws_sdk_servicequotas::Client::from_conf(
            aws_sdk_servicequotas::config::Builder::from(aws.config())
                .region(aws_sdk_servicequotas::config::Region::new(region.to_string()))
                .build(),
        );
        let applied: Vec<_> = client
            .list_service_quotas()
            .service_code(BACKUP_SERVICE_CODE)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| CountError {
                region: region.to_string(),
                what: "applied quotas (ListServiceQuotas)",
                why: crate::aws::describe(&e),
            })?;
        for quota in &QUOTAS {
            let Some(found) = applied.iter().find(|q| q.quota_name() == Some(quota.name)) else { continue };
            let value = found.value().filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(|| CountError {
                region: region.to_string(),
                what: "applied quotas (ListServiceQuotas)",
                why: format!("the quota \"{}\" came without a value", quota.name),
            })?;
            limits.set_applied(region, quota, value as usize);
        }
    }
    Ok(())
}
