//! The accounts file, `desired/_accounts.yaml` (`kind: Accounts`): the AWS
//! accounts policies may name in `spec.account`, and the role drctl
//! assumes in each. drctl's own credentials (the standard chain) are the
//! first hop; each account's role is assumed from them.
//!
//! # Guarantees
//! - A policy naming an account this file does not declare is invalid: it
//!   is neither applied nor drilled, and `--prune` is refused.
//! - A role ARN must be in the account it is declared for: drctl never acts
//!   in one account on the strength of a line about another.
//! - Fail closed: an accounts file that cannot be read makes every policy
//!   that names an account invalid.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::finding::Finding;
use super::load::{self, LoadedPolicy};
use super::model::ApiVersion;
use super::names::shown;
use super::spans::Spans;

/// The accounts file's name, directly inside `desired/`.
pub const FILE_NAME: &str = "_accounts.yaml";

/// Whether `path` (repository-relative) is the accounts file.
pub fn is_accounts_file(path: &str) -> bool {
    path.rsplit('/').next() == Some(FILE_NAME)
}

/// The accounts drctl works in, and how it gets there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "drctl Accounts (drctl/v1)")]
pub struct Accounts {
    /// Always `drctl/v1`.
    pub api_version: ApiVersion,
    /// Always `Accounts`.
    pub kind: AccountsKind,
    pub accounts: Vec<Account>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AccountsKind {
    Accounts,
}

/// One AWS account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Account {
    /// The 12-digit account id.
    #[schemars(regex(pattern = r"^[0-9]{12}$"))]
    pub id: String,
    /// A short name shown in plans, reports and announcements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The IAM role drctl assumes in this account
    /// (`arn:aws:iam::<id>:role/<name>`). Absent: the account of drctl's own
    /// credentials (at most one account may leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The role `drctl reconcile --dry-run` assumes in this account (a pull
    /// request's plan: it reads, and creates preview change sets), so the
    /// identity of pull requests need not be trusted by `role`. Absent:
    /// `role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_role: Option<String>,
    /// The external id the roles' trust policies require (`sts:ExternalId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl Account {
    /// This account as a dry run reaches it: by `planRole` where declared.
    pub fn for_plan(&self) -> Account {
        Account { role: self.plan_role.clone().or_else(|| self.role.clone()), ..self.clone() }
    }
}

/// The accounts file that parsed, with the positions of its values.
#[derive(Clone, Debug)]
pub struct LoadedAccounts {
    pub file: String,
    pub accounts: Accounts,
    pub spans: Spans,
}

impl LoadedAccounts {
    pub fn get(&self, id: &str) -> Option<&Account> {
        self.accounts.accounts.iter().find(|a| a.id == id)
    }
}

/// Parses the accounts file, under the same limits as a policy.
pub fn load(file: &str, bytes: &[u8]) -> Result<LoadedAccounts, Finding> {
    let (accounts, spans) = load::parse::<Accounts>(file, bytes)?;
    Ok(LoadedAccounts { file: file.to_string(), accounts, spans })
}

/// The JSON Schema of the accounts file, pretty-printed.
pub fn json_schema() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(Accounts)).unwrap_or_default()
}

/// Whether `text` is a 12-digit AWS account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The account of an IAM role ARN `arn:<partition>:iam::<account>:role/<path><name>`,
/// or `None` when `arn` is not one.
pub fn role_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_word, partition, service, region, account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    let name_ok = !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    let well_formed = arn_word == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && is_account_id(account)
        && name_ok
        && resource.len() <= 512;
    well_formed.then_some(account)
}

/// AWS's pattern for an external id: 2 to 1,224 of `[\w+=,.@:/-]`.
fn is_external_id(text: &str) -> bool {
    (2..=1224).contains(&text.len()) && text.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c))
}

/// The file's own findings: ids, roles and external ids well formed, each
/// account once, at most one account reached without a role.
pub fn check_file(loaded: &LoadedAccounts) -> Vec<Finding> {
    let mut found = Vec::new();
    let error = |path: &str, message: String, hint: &str| {
        Finding::error(&loaded.file, loaded.spans.value(path), "accounts", message, hint.to_string())
    };
    let mut ids = BTreeSet::new();
    let mut without_role = Vec::new();
    for (index, account) in loaded.accounts.accounts.iter().enumerate() {
        let at = |field: &str| format!("accounts[{index}].{field}");
        if !is_account_id(&account.id) {
            found.push(error(&at("id"), format!("`{}` is not an AWS account id", shown(&account.id)), "write its 12 digits"));
        } else if !ids.insert(account.id.as_str()) {
            found.push(error(&at("id"), format!("account {} is declared twice", account.id), "declare each account once"));
        }
        if account.role.is_none() {
            without_role.push(index);
            if account.plan_role.is_some() {
                found.push(error(&at("planRole"), "a plan role without a role".into(), "add the role reconcile assumes, or remove it"));
            }
        }
        for (field, role) in [("role", &account.role), ("planRole", &account.plan_role)] {
            let Some(role) = role else { continue };
            match role_account(role) {
                None => found.push(error(
                    &at(field),
                    format!("`{}` is not an IAM role ARN", shown(role)),
                    "write arn:aws:iam::<account id>:role/<role name>",
                )),
                Some(other) if other != account.id => found.push(error(
                    &at(field),
                    format!("the role is in account {other}, not in account {}", shown(&account.id)),
                    "name a role of this account",
                )),
                Some(_) => {}
            }
        }
        if let Some(external_id) = &account.external_id {
            if !is_external_id(external_id) {
                found.push(error(
                    &at("externalId"),
                    "the external id is not one AWS accepts".into(),
                    "use 2 to 1,224 of [A-Za-z0-9_+=,.@:/-]",
                ));
            }
            if account.role.is_none() {
                found.push(error(&at("externalId"), "an external id without a role".into(), "add the role it is for, or remove it"));
            }
        }
    }
    if let [_, extra, ..] = without_role[..] {
        found.push(error(
            &format!("accounts[{extra}].role"),
            "more than one account has no role, but drctl's own credentials are in one account".into(),
            "give every account but drctl's own a role to assume",
        ));
    }
    found
}

/// A policy's accounts (`spec.account` and its copies') against the
/// accounts file: declared, and the file readable.
pub fn check_policy(accounts: Result<Option<&LoadedAccounts>, &str>, policy: &LoadedPolicy) -> Vec<Finding> {
    let spec = &policy.policy.spec;
    let named = std::iter::once(("spec.account".to_string(), spec.account.as_deref()))
        .chain(spec.backup.copies.iter().enumerate().map(|(i, c)| (format!("spec.backup.copies[{i}].account"), c.account.as_deref())));
    named
        .filter_map(|(path, account)| Some((path, account?)))
        .filter_map(|(path, account)| undeclared(accounts, policy, &path, account))
        .collect()
}

fn undeclared(accounts: Result<Option<&LoadedAccounts>, &str>, policy: &LoadedPolicy, path: &str, account: &str) -> Option<Finding> {
    let at = policy.spans.value(path);
    match accounts {
        Err(file) => Some(Finding::error(
            &policy.file,
            at,
            "account",
            format!("the accounts file {file} cannot be read, so account {} cannot be reached", shown(account)),
            format!("fix {file} (its own error says how)"),
        )),
        Ok(Some(loaded)) if loaded.get(account).is_some() => None,
        Ok(_) => Some(Finding::error(
            &policy.file,
            at,
            "account",
            format!("account {} is not declared in desired/{FILE_NAME}", shown(account)),
            "declare it there with the role drctl assumes in it, or remove the account",
        )),
    }
}

#[cfg(test)]
mod tests;
