//! The canary: a marker item with a nonce, written into the source table
//! just before an on-demand backup, required byte-equal in the restore, and
//! removed afterwards. It is the only write drctl makes to a source table.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ScalarAttributeType};
use aws_smithy_types::Blob;

use super::DrillError;

pub type Item = HashMap<String, AttributeValue>;

/// The prefix of a canary's string (or binary) key values.
pub const CANARY_KEY_PREFIX: &str = "drctl-canary#";
/// The attribute holding the drill id; a canary is removed only when it
/// still carries it.
pub const CANARY_ATTRIBUTE: &str = "drctl:canary";

/// One written canary: where it is and exactly what was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Canary {
    pub table: String,
    pub key: Item,
    pub item: Item,
}

/// The canary's key for a table with `key_schema` (types from
/// `definitions`): `drctl-canary#<nonce hex>` for strings and binaries, the
/// nonce as a number for numbers, for the partition key and any sort key.
pub fn canary_key(key_schema: &[KeySchemaElement], definitions: &[AttributeDefinition], nonce: u64) -> Result<Item, String> {
    if !key_schema.iter().any(|k| k.key_type() == &KeyType::Hash) {
        return Err("the key schema has no partition key".to_string());
    }
    key_schema
        .iter()
        .map(|element| {
            let name = element.attribute_name();
            let kind = definitions
                .iter()
                .find(|d| d.attribute_name() == name)
                .map(AttributeDefinition::attribute_type)
                .ok_or_else(|| format!("key attribute {name} has no attribute definition"))?;
            Ok((name.to_string(), key_value(kind, nonce)?))
        })
        .collect()
}

fn key_value(kind: &ScalarAttributeType, nonce: u64) -> Result<AttributeValue, String> {
    let text = format!("{CANARY_KEY_PREFIX}{nonce:016x}");
    match kind {
        ScalarAttributeType::S => Ok(AttributeValue::S(text)),
        ScalarAttributeType::B => Ok(AttributeValue::B(Blob::new(text.into_bytes()))),
        ScalarAttributeType::N => Ok(AttributeValue::N(nonce.to_string())),
        other => Err(format!("key type {} is not S, N or B", other.as_str())),
    }
}

/// The whole canary item: its key plus the drill id.
pub fn canary_item(key: &Item, drill_id: &str) -> Item {
    let mut item = key.clone();
    item.insert(CANARY_ATTRIBUTE.to_string(), AttributeValue::S(drill_id.to_string()));
    item
}

/// Writes the canary; refuses (conditional put) to overwrite any item.
pub async fn write(dynamodb: &aws_sdk_dynamodb::Client, table: &str, key: Item, drill_id: &str) -> Result<Canary, DrillError> {
    let item = canary_item(&key, drill_id);
    let (first_key, _) = key.iter().next().ok_or_else(|| DrillError::Canary { table: table.into(), why: "an empty key".into() })?;
    dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(item.clone()))
        .condition_expression("attribute_not_exists(#k)")
        .expression_attribute_names("#k", first_key)
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("PutItem of the canary into {table}"), &e))?;
    Ok(Canary { table: table.to_string(), key, item })
}

/// The item with the canary's key in `table`, if any (strongly consistent):
/// how a resumed drill learns whether its canary is there.
pub async fn read(dynamodb: &aws_sdk_dynamodb::Client, table: &str, key: &Item) -> Result<Option<Item>, DrillError> {
    let found = dynamodb
        .get_item()
        .table_name(table)
        .set_key(Some(key.clone()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("GetItem of the canary from {table}"), &e))?;
    Ok(found.item().cloned())
}

/// Whether `table`'s partition key is a string. Only then can IAM tell the
/// canary's items from the table's own (`dynamodb:LeadingKeys` matched
/// against [`CANARY_KEY_PREFIX`]); `drctl iam-policy --read-key-schemas`
/// asks, to limit the canary's write right to drctl's keys.
pub async fn partition_key_is_string(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<bool, DrillError> {
    let described =
        dynamodb.describe_table().table_name(table).send().await.map_err(|e| DrillError::aws(format!("DescribeTable {table}"), &e))?;
    let description =
        described.table().ok_or_else(|| DrillError::Canary { table: table.into(), why: "DescribeTable answered no table".into() })?;
    let partition_key = description
        .key_schema()
        .iter()
        .find(|k| k.key_type() == &KeyType::Hash)
        .map(KeySchemaElement::attribute_name)
        .ok_or_else(|| DrillError::Canary { table: table.into(), why: "DescribeTable answered no partition key".into() })?;
    let kind = description
        .attribute_definitions()
        .iter()
        .find(|d| d.attribute_name() == partition_key)
        .map(AttributeDefinition::attribute_type)
        .ok_or_else(|| DrillError::Canary {
            table: table.into(),
            why: format!("key attribute {partition_key} has no attribute definition"),
        })?;
    Ok(kind == &ScalarAttributeType::S)
}

/// The canary drill `drill_id` left in `table`, if it is there: the item at
/// the key the drill id gives, equal to what that drill writes. An item at
/// that key that is anything else is not drctl's: `None`.
pub async fn left_by(dynamodb: &aws_sdk_dynamodb::Client, table: &str, drill_id: &str) -> Result<Option<Canary>, DrillError> {
    let described =
        dynamodb.describe_table().table_name(table).send().await.map_err(|e| DrillError::aws(format!("DescribeTable {table}"), &e))?;
    let Some(description) = described.table() else { return Ok(None) };
    let nonce = u64::from_str_radix(drill_id, 16)
        .map_err(|_| DrillError::Canary { table: table.into(), why: format!("{drill_id:?} is not a drill id") })?;
    let key = canary_key(description.key_schema(), description.attribute_definitions(), nonce)
        .map_err(|why| DrillError::Canary { table: table.into(), why })?;
    let item = canary_item(&key, drill_id);
    Ok(match read(dynamodb, table, &key).await? {
        Some(found) if found == item => Some(Canary { table: table.to_string(), key, item }),
        _ => None,
    })
}

/// Removes the canary, but only while it still carries this drill's id.
pub async fn remove(dynamodb: &aws_sdk_dynamodb::Client, canary: &Canary) -> Result<(), DrillError> {
    let drill_id = canary.item.get(CANARY_ATTRIBUTE).cloned().unwrap_or(AttributeValue::Null(true));
    dynamodb
        .delete_item()
        .table_name(&canary.table)
        .set_key(Some(canary.key.clone()))
        .condition_expression("#c = :id")
        .expression_attribute_names("#c", CANARY_ATTRIBUTE)
        .expression_attribute_values(":id", drill_id)
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("DeleteItem of the canary from {}", canary.table), &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, kind: KeyType) -> KeySchemaElement {
        KeySchemaElement::builder().attribute_name(name).key_type(kind).build().unwrap()
    }
    fn def(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
        AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().unwrap()
    }

    #[test]
    fn a_canary_key_fits_a_string_partition_and_sort_key() {
        let schema = [key("pk", KeyType::Hash), key("sk", KeyType::Range)];
        let defs = [def("pk", ScalarAttributeType::S), def("sk", ScalarAttributeType::S)];
        let built = canary_key(&schema, &defs, 0xabc).unwrap();
        let expected = AttributeValue::S("drctl-canary#0000000000000abc".into());
        assert_eq!(built, Item::from([("pk".into(), expected.clone()), ("sk".into(), expected)]));
    }

    #[test]
    fn a_canary_key_fits_number_and_binary_keys() {
        let schema = [key("id", KeyType::Hash), key("at", KeyType::Range)];
        let defs = [def("id", ScalarAttributeType::B), def("at", ScalarAttributeType::N)];
        let built = canary_key(&schema, &defs, 42).unwrap();
        assert_eq!(built["at"], AttributeValue::N("42".into()));
        assert_eq!(built["id"], AttributeValue::B(Blob::new(b"drctl-canary#000000000000002a".to_vec())));
    }

    #[test]
    fn a_partition_key_alone_gives_a_one_attribute_key() {
        let built = canary_key(&[key("pk", KeyType::Hash)], &[def("pk", ScalarAttributeType::S)], 1).unwrap();
        assert_eq!(built.len(), 1);
    }

    #[test]
    fn a_key_without_a_definition_or_partition_is_refused() {
        assert!(canary_key(&[key("pk", KeyType::Hash)], &[], 1).unwrap_err().contains("no attribute definition"));
        assert!(canary_key(&[], &[], 1).unwrap_err().contains("no partition key"));
    }

    #[test]
    fn the_canary_item_is_its_key_plus_the_drill_id() {
        let key = Item::from([("pk".into(), AttributeValue::S("drctl-canary#1".into()))]);
        let item = canary_item(&key, "d1");
        assert_eq!(item.len(), 2);
        assert_eq!(item[CANARY_ATTRIBUTE], AttributeValue::S("d1".into()));
    }
}
