//! A backup account's central vaults: the `drctl-central` stack, in each
//! region policies copy into that account (`copies: [{ region, account,
//! vault? }]`). It holds one vault per vault name, each admitting exactly
//! the source accounts of the policies that copy into it, and the role AWS
//! Backup assumes to restore there in drills. `drctl bootstrap
//! --backup-account ID` deploys it with the backup account's credentials.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::template::{self, Values, value};
use super::{RenderError, Stack, StackRole, fragment_resources, logical_id, managed_tag_list};
use crate::policy::TablePolicy;

const CENTRAL_TEMPLATE: &str = include_str!("../../templates/central.yaml");
const CENTRAL_VAULT_TEMPLATE: &str = include_str!("../../templates/central-vault.yaml");
const CENTRAL_RESTORE_ROLE_TEMPLATE: &str = include_str!("../../templates/central-restore-role.yaml");

/// The central stack's name (one per region of the backup account).
pub const CENTRAL_STACK: &str = "drctl-central";
/// The output naming the role drills restore central recovery points with.
pub const RESTORE_ROLE_OUTPUT: &str = "RestoreRoleArn";

/// One region's central vaults in a backup account: each vault's name with
/// the accounts that copy into it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Central {
    pub account: String,
    pub region: String,
    pub vaults: BTreeMap<String, BTreeSet<String>>,
    /// Admit every account of this AWS Organization (`o-…`) instead of the
    /// source accounts by id.
    pub organization: Option<String>,
    /// AWS Backup Vault Lock on every central vault (governance mode:
    /// minimum and maximum retention days).
    pub lock: Option<(u64, u64)>,
}

/// The central stacks of `account`, one per region `policies` copy into it.
pub fn centrals<'a>(policies: impl IntoIterator<Item = &'a TablePolicy>, account: &str) -> Vec<Central> {
    let mut by_region: BTreeMap<&str, Central> = BTreeMap::new();
    for policy in policies {
        let Some(source) = policy.spec.account.as_deref() else { continue };
        for copy in policy.spec.backup.copies.iter().filter(|c| c.account.as_deref() == Some(account)) {
            let central = by_region.entry(copy.region.as_str()).or_insert_with(|| Central {
                account: account.to_string(),
                region: copy.region.clone(),
                ..Central::default()
            });
            let vault = copy.central_vault().unwrap_or(crate::policy::model::CENTRAL_VAULT);
            central.vaults.entry(vault.to_string()).or_default().insert(source.to_string());
        }
    }
    by_region.into_values().collect()
}

/// The vault's access policy: `backup:CopyIntoBackupVault` for the source
/// accounts, or for any account of `organization`, and nothing else.
fn access_policy(sources: &BTreeSet<String>, organization: Option<&str>) -> serde_json::Value {
    let mut statement = json!({
        "Sid": "CopyFromDrctlSourceAccounts",
        "Effect": "Allow",
        "Action": "backup:CopyIntoBackupVault",
        "Resource": "*",
    });
    match organization {
        Some(organization) => {
            statement["Principal"] = json!("*");
            statement["Condition"] = json!({ "StringEquals": { "aws:PrincipalOrgID": organization } });
        }
        None => {
            let principals: Vec<String> = sources.iter().map(|account| format!("arn:aws:iam::{account}:root")).collect();
            statement["Principal"] = json!({ "AWS": principals });
        }
    }
    json!({ "Version": "2012-10-17", "Statement": [statement] })
}

/// The output of a central vault's ARN.
pub fn vault_output(vault: &str) -> String {
    format!("Vault{}Arn", logical_id(vault))
}

pub fn render(central: &Central) -> Result<Stack, RenderError> {
    let mut resources = yaml_serde::Mapping::new();
    let mut outputs = yaml_serde::Mapping::new();
    let fragment = template::parse("central-vault.yaml", CENTRAL_VAULT_TEMPLATE)?;
    for (vault, sources) in &central.vaults {
        let id = format!("Vault{}", logical_id(vault));
        let values = Values::from([
            ("vault_name", value(vault)),
            ("access_policy", value(access_policy(sources, central.organization.as_deref()))),
            ("lock", central.lock.and_then(|(min, max)| value(json!({ "MinRetentionDays": min, "MaxRetentionDays": max })))),
            ("tags", value(json!({ super::MANAGED_BY_TAG: super::MANAGED_BY_VALUE }))),
        ]);
        let filled = template::fill("central-vault.yaml", &fragment, &values)?;
        resources.extend(fragment_resources("central-vault.yaml", super::rename_logical_ids(filled, &[("Vault", id.clone())], true))?);
        outputs.insert(
            yaml_serde::Value::String(vault_output(vault)),
            value(json!({ "Value": { "Fn::GetAtt": [id, "BackupVaultArn"] } })).unwrap_or(yaml_serde::Value::Null),
        );
    }
    let role = template::parse("central-restore-role.yaml", CENTRAL_RESTORE_ROLE_TEMPLATE)?;
    let values = Values::from([("tag_list", managed_tag_list())]);
    resources.extend(fragment_resources("central-restore-role.yaml", template::fill("central-restore-role.yaml", &role, &values)?)?);
    outputs.insert(
        yaml_serde::Value::String(RESTORE_ROLE_OUTPUT.into()),
        value(json!({ "Value": { "Fn::GetAtt": ["RestoreRole", "Arn"] } })).unwrap_or(yaml_serde::Value::Null),
    );
    let values = Values::from([
        ("metadata", value(json!({ "generator": "drctl/v1", "role": StackRole::Central }))),
        ("resources", Some(yaml_serde::Value::Mapping(resources))),
        ("outputs", Some(yaml_serde::Value::Mapping(outputs))),
    ]);
    let template = template::fill("central.yaml", &template::parse("central.yaml", CENTRAL_TEMPLATE)?, &values)?;
    Ok(Stack {
        name: CENTRAL_STACK.to_string(),
        region: central.region.clone(),
        role: StackRole::Central,
        policy: None,
        members: Vec::new(),
        template,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, account: &str, backup: &str) -> TablePolicy {
        let text = include_str!("../../desired/spatial-scans.yaml")
            .replace("name: spatial-scans", &format!("name: {name}"))
            .replace("  region: us-east-1\n", &format!("  region: us-east-1\n  account: \"{account}\"\n"))
            .replace("      - region: us-west-2\n", &format!("      - region: us-west-2\n        account: \"{backup}\"\n"));
        crate::policy::load("desired/x.yaml", text.as_bytes()).unwrap().policy
    }

    #[test]
    fn a_central_vault_admits_exactly_the_accounts_that_copy_into_it() {
        let policies = [
            policy("a", "111111111111", "444444444444"),
            policy("b", "222222222222", "444444444444"),
            policy("c", "333333333333", "555555555555"),
        ];
        let centrals = centrals(&policies, "444444444444");
        assert_eq!(centrals.len(), 1);
        assert_eq!(centrals[0].region, "us-west-2");
        let stack = render(&centrals[0]).unwrap();
        let vault = &stack.template["Resources"][format!("Vault{}", logical_id("drctl-central")).as_str()];
        assert_eq!(vault["DeletionPolicy"].as_str(), Some("Retain"));
        let statement = &vault["Properties"]["AccessPolicy"]["Statement"][0];
        assert_eq!(statement["Action"].as_str(), Some("backup:CopyIntoBackupVault"));
        let principals: Vec<&str> = statement["Principal"]["AWS"].as_sequence().unwrap().iter().filter_map(|v| v.as_str()).collect();
        assert_eq!(principals, ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root"]);
        assert!(stack.template["Outputs"][RESTORE_ROLE_OUTPUT].is_mapping());
        assert!(centrals_for_nobody(&policies));
        let organization = render(&Central { organization: Some("o-a1b2c3d4e5".into()), ..centrals[0].clone() }).unwrap();
        let statement = &organization.template["Resources"][format!("Vault{}", logical_id("drctl-central")).as_str()]["Properties"]["AccessPolicy"]
            ["Statement"][0];
        assert_eq!(statement["Principal"].as_str(), Some("*"));
        assert_eq!(statement["Condition"]["StringEquals"]["aws:PrincipalOrgID"].as_str(), Some("o-a1b2c3d4e5"));
        let locked = render(&Central { lock: Some((30, 3650)), ..centrals[0].clone() }).unwrap();
        let lock =
            &locked.template["Resources"][format!("Vault{}", logical_id("drctl-central")).as_str()]["Properties"]["LockConfiguration"];
        assert_eq!((lock["MinRetentionDays"].as_u64(), lock["MaxRetentionDays"].as_u64()), (Some(30), Some(3650)));
        assert!(vault["Properties"].get("LockConfiguration").is_none(), "no lock unless asked");
    }

    fn centrals_for_nobody(policies: &[TablePolicy]) -> bool {
        centrals(policies, "999999999999").is_empty()
    }
}
