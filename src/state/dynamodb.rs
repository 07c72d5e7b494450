//! The DynamoDB state table (`--state dynamodb://TABLE`), for CI and several
//! controller replicas: the table `drctl bootstrap --state-table` creates
//! (partition key `pk`, a string).
//!
//! One item per policy:
//!
//! | attribute | type | what |
//! |---|---|---|
//! | `pk` | S | `policy#<name>` |
//! | `version` | N | the compare-and-swap token |
//! | `state` | S | the record as JSON ([`PolicyState`]) |
//! | `lease_owner`, `lease_expires` | S, N | the lease, mirrored for people reading the table (absent when free) |
//!
//! # Guarantees
//! - `put` is one conditional PutItem (`attribute_not_exists(pk)` for a new
//!   record, `version = :expected` otherwise), so writers on any number of
//!   machines never lose an update; a failed condition is
//!   [`StateError::Conflict`].
//! - Reads are strongly consistent: a record read right after a write is
//!   that write.
//!
//! # Caveats
//! - The `version` attribute is authoritative; the `version` inside `state`
//!   is overwritten with it on read.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Evidence, History, PolicyState, StateError, StateStore};

/// Items of policy records have a `pk` that starts with this.
pub const KEY_PREFIX: &str = "policy#";

/// The drill history's table beside the state table `table`
/// (`drctl bootstrap --state-table` creates both): one item per entry,
/// `pk` = `history#<policy>#<at>#<drill id>`, the entry as JSON in `entry`,
/// and `expires_at` (Unix seconds) for DynamoDB's TTL. A table of its own,
/// so that listing the state never reads the history.
pub fn history_table(table: &str) -> String {
    format!("{table}-history")
}

type Item = HashMap<String, AttributeValue>;

/// State in a DynamoDB table with a string partition key `pk`.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStore {
    /// A store in `table`, reached through `client` (whose region is the
    /// table's). Nothing is called until the first read or write.
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self { client, table: table.to_string() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// An SDK error as a [`StateError::Table`], with the fix for a missing
    /// table.
    fn table_error<E, R>(&self, operation: &str, err: &SdkError<E, R>) -> StateError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let why = match crate::aws::error_code(err) {
            Some("ResourceNotFoundException") => {
                "does not exist in this account and region; create it with `drctl bootstrap --state-table REGION:TABLE`, \
                 or point --state-region at its region"
                    .to_string()
            }
            _ => format!("{operation}: {}", crate::aws::describe(err)),
        };
        StateError::Table { table: self.table.clone(), why }
    }
}

/// `policy#<name>`.
fn key(policy: &str) -> AttributeValue {
    AttributeValue::S(format!("{KEY_PREFIX}{policy}"))
}

/// The item a record is stored as.
fn to_item(state: &PolicyState) -> Result<Item, StateError> {
    let json = serde_json::to_string(state).map_err(|err| StateError::Corrupt { policy: state.policy.clone(), why: err.to_string() })?;
    let mut item = HashMap::from([
        ("pk".to_string(), key(&state.policy)),
        ("version".to_string(), AttributeValue::N(state.version.to_string())),
        ("state".to_string(), AttributeValue::S(json)),
    ]);
    if let Some(lease) = &state.lease {
        item.insert("lease_owner".to_string(), AttributeValue::S(lease.owner.clone()));
        item.insert("lease_expires".to_string(), AttributeValue::N(lease.expires.to_string()));
    }
    Ok(item)
}

/// The record an item holds; `name` is what its key says it is.
fn from_item(name: &str, item: &Item) -> Result<PolicyState, StateError> {
    let corrupt = |why: String| StateError::Corrupt { policy: name.to_string(), why };
    let version = match item.get("version") {
        Some(AttributeValue::N(n)) => n.parse::<u64>().map_err(|_| corrupt(format!("its version `{n}` is not a whole number")))?,
        _ => return Err(corrupt("the item has no numeric `version`".to_string())),
    };
    let Some(AttributeValue::S(json)) = item.get("state") else {
        return Err(corrupt("the item has no string `state`".to_string()));
    };
    super::check_size(name, json.len())?;
    let mut state: PolicyState = serde_json::from_str(json).map_err(|err| corrupt(format!("its `state` is not a drctl record ({err})")))?;
    if state.policy != name {
        return Err(corrupt(format!("its `state` is of policy `{}`", state.policy)));
    }
    state.version = version;
    Ok(state)
}

/// The policy name an item's key names, if it is a policy record.
fn policy_of(item: &Item) -> Option<&str> {
    match item.get("pk") {
        Some(AttributeValue::S(pk)) => pk.strip_prefix(KEY_PREFIX),
        _ => None,
    }
}

#[async_trait::async_trait]
impl StateStore for DynamoStore {
    async fn get(&self, policy: &str) -> Result<Option<PolicyState>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", key(policy))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.table_error("GetItem", &err))?;
        out.item().map(|item| from_item(policy, item)).transpose()
    }

    async fn list(&self) -> Result<Vec<PolicyState>, StateError> {
        let items: Vec<Item> = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .filter_expression("begins_with(#pk, :prefix)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":prefix", AttributeValue::S(KEY_PREFIX.to_string()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|err| self.table_error("Scan", &err))?;
        let mut states = items
            .iter()
            .filter_map(|item| policy_of(item).filter(|name| !super::slots::is_reserved(name)).map(|name| from_item(name, item)))
            .collect::<Result<Vec<_>, _>>()?;
        states.sort_by(|a, b| a.policy.cmp(&b.policy));
        Ok(states)
    }

    #[tracing::instrument(skip_all, fields(policy = %state.policy, version = state.version, table = %self.table))]
    async fn put(&self, state: &PolicyState) -> Result<PolicyState, StateError> {
        super::check_record(state)?;
        let expected = state.version;
        let next = expected.checked_add(1).ok_or_else(|| StateError::Corrupt {
            policy: state.policy.clone(),
            why: format!("version {expected} cannot be incremented"),
        })?;
        let written = PolicyState { version: next, ..state.clone() };
        let request = self.client.put_item().table_name(&self.table).set_item(Some(to_item(&written)?));
        let request = if expected == 0 {
            request.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", "pk")
        } else {
            request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
        };
        match request.send().await {
            Ok(_) => {
                tracing::debug!(version = next, "state written");
                Ok(written)
            }
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(StateError::Conflict { policy: state.policy.clone(), expected })
            }
            Err(err) => Err(self.table_error("PutItem", &err)),
        }
    }

    async fn append_history(&self, policy: &str, entry: &Evidence) -> Result<(), StateError> {
        let table = history_table(&self.table);
        let drill = entry.drill.as_ref().map_or("none", |d| d.drill_id.as_str());
        let json = serde_json::to_string(&History { policy: policy.to_string(), evidence: entry.clone() })
            .map_err(|err| StateError::Table { table: table.clone(), why: format!("entry not serialisable: {err}") })?;
        let expires = entry.at.saturating_add(super::HISTORY_KEPT.as_secs());
        self.client
            .put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S(format!("history#{policy}#{:020}#{drill}", entry.at)))
            .item("entry", AttributeValue::S(json))
            .item("expires_at", AttributeValue::N(expires.to_string()))
            .send()
            .await
            .map_err(|err| StateError::Table { table: table.clone(), why: format!("PutItem: {}", crate::aws::describe(&err)) })?;
        Ok(())
    }

    async fn history(&self, since: u64) -> Result<Vec<History>, StateError> {
        let table = history_table(&self.table);
        let items: Vec<Item> = self
            .client
            .scan()
            .table_name(&table)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|err| StateError::Table { table: table.clone(), why: format!("Scan: {}", crate::aws::describe(&err)) })?;
        let entries = items
            .iter()
            .map(|item| {
                let text = match item.get("entry") {
                    Some(AttributeValue::S(text)) => text,
                    _ => return Err(StateError::Table { table: table.clone(), why: "an item without its `entry`".into() }),
                };
                serde_json::from_str(text)
                    .map_err(|err| StateError::Table { table: table.clone(), why: format!("an entry that is not one: {err}") })
            })
            .collect::<Result<Vec<History>, _>>()?;
        Ok(super::in_window(entries, since, super::now()))
    }

    fn describe(&self) -> String {
        format!("dynamodb://{}", self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Lease;

    #[test]
    fn an_item_round_trips_and_mirrors_the_lease() {
        let state = PolicyState {
            version: 7,
            desired_hash: Some("h".into()),
            lease: Some(Lease { owner: "host:1:ab".into(), expires: 99 }),
            ..PolicyState::new("spatial-scans")
        };
        let item = to_item(&state).unwrap();
        assert_eq!(item["pk"], AttributeValue::S("policy#spatial-scans".into()));
        assert_eq!(item["version"], AttributeValue::N("7".into()));
        assert_eq!(item["lease_owner"], AttributeValue::S("host:1:ab".into()));
        assert_eq!(item["lease_expires"], AttributeValue::N("99".into()));
        assert_eq!(policy_of(&item), Some("spatial-scans"));
        assert_eq!(from_item("spatial-scans", &item).unwrap(), state);

        let free = to_item(&PolicyState::new("p")).unwrap();
        assert!(!free.contains_key("lease_owner") && !free.contains_key("lease_expires"));
    }

    #[test]
    fn a_broken_item_is_corrupt_not_a_panic() {
        let good = to_item(&PolicyState::new("p")).unwrap();
        let with = |name: &str, value: Option<AttributeValue>| {
            let mut item = good.clone();
            match value {
                Some(value) => item.insert(name.to_string(), value),
                None => item.remove(name),
            };
            item
        };
        for item in [
            with("version", None),
            with("version", Some(AttributeValue::N("-1".into()))),
            with("version", Some(AttributeValue::S("1".into()))),
            with("state", None),
            with("state", Some(AttributeValue::S("{".into()))),
            with("state", Some(AttributeValue::S("{\"policy\":\"q\"}".into()))),
        ] {
            let err = from_item("p", &item).unwrap_err();
            assert!(matches!(err, StateError::Corrupt { ref policy, .. } if policy == "p"), "{err}");
        }
        assert_eq!(policy_of(&with("pk", Some(AttributeValue::S("lock#x".into())))), None);
    }
}
