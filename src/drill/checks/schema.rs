//! The schema check: key schema, attribute definitions, GSIs and LSIs with
//! their projections, and SSE, as one set of normalised lines per table so
//! that a difference reads as the lines on one side only.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{KeySchemaElement, Projection, SseStatus, TableDescription};

/// The normalised schema lines of a table.
pub fn shape(table: &TableDescription) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    lines.insert(format!("key {}", keys(table.key_schema())));
    for definition in table.attribute_definitions() {
        lines.insert(format!("attribute {} {}", definition.attribute_name(), definition.attribute_type().as_str()));
    }
    for gsi in table.global_secondary_indexes() {
        lines.insert(format!("gsi {} key {} {}", gsi.index_name().unwrap_or("?"), keys(gsi.key_schema()), projection(gsi.projection())));
    }
    for lsi in table.local_secondary_indexes() {
        lines.insert(format!("lsi {} key {} {}", lsi.index_name().unwrap_or("?"), keys(lsi.key_schema()), projection(lsi.projection())));
    }
    lines.insert(sse(table));
    lines
}

fn keys(schema: &[KeySchemaElement]) -> String {
    schema.iter().map(|k| format!("{} {}", k.attribute_name(), k.key_type().as_str())).collect::<Vec<_>>().join(", ")
}

fn projection(projection: Option<&Projection>) -> String {
    let kind = projection.and_then(Projection::projection_type).map_or("ALL", |p| p.as_str());
    let mut attributes: Vec<&str> = projection.map(|p| p.non_key_attributes().iter().map(String::as_str).collect()).unwrap_or_default();
    attributes.sort_unstable();
    match attributes.is_empty() {
        true => format!("projection {kind}"),
        false => format!("projection {kind} [{}]", attributes.join(", ")),
    }
}

/// A table without an SSE description, or with SSE disabled, is encrypted
/// with an AWS owned key: the same line for both.
fn sse(table: &TableDescription) -> String {
    match table.sse_description() {
        Some(sse) if matches!(sse.status(), Some(SseStatus::Enabled | SseStatus::Enabling)) => {
            format!("sse {} {}", sse.sse_type().map_or("KMS", |t| t.as_str()), sse.kms_master_key_arn().unwrap_or("aws-managed"))
        }
        _ => "sse aws-owned".to_string(),
    }
}

/// The lines only in the source and only in the restore.
pub fn differences(source: &TableDescription, restored: &TableDescription) -> (Vec<String>, Vec<String>) {
    let (source, restored) = (shape(source), shape(restored));
    (source.difference(&restored).cloned().collect(), restored.difference(&source).cloned().collect())
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::{AttributeDefinition, GlobalSecondaryIndexDescription, KeyType, ProjectionType, ScalarAttributeType};

    use super::*;

    fn table(projection_type: ProjectionType) -> TableDescription {
        let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().unwrap();
        TableDescription::builder()
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .attribute_definitions(
                AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
            )
            .global_secondary_indexes(
                GlobalSecondaryIndexDescription::builder()
                    .index_name("by-sk")
                    .key_schema(key("sk", KeyType::Hash))
                    .projection(
                        Projection::builder().projection_type(projection_type).non_key_attributes("b").non_key_attributes("a").build(),
                    )
                    .build(),
            )
            .build()
    }

    #[test]
    fn equal_schemas_have_no_differences() {
        assert_eq!(differences(&table(ProjectionType::Include), &table(ProjectionType::Include)), (vec![], vec![]));
        assert!(shape(&table(ProjectionType::Include)).contains("gsi by-sk key sk HASH projection INCLUDE [a, b]"));
    }

    /// SSE: a customer key and its ARN are part of the schema; no SSE
    /// description and SSE disabled are both AWS's owned key.
    #[test]
    fn encryption_is_compared_by_type_and_key() {
        use aws_sdk_dynamodb::types::{SseDescription, SseType};
        let with = |status: SseStatus| {
            let mut table = table(ProjectionType::All);
            table.sse_description = Some(
                SseDescription::builder().status(status).sse_type(SseType::Kms).kms_master_key_arn("arn:aws:kms:us-east-1:1:key/k").build(),
            );
            table
        };
        assert_eq!(sse(&with(SseStatus::Enabled)), "sse KMS arn:aws:kms:us-east-1:1:key/k");
        assert_eq!(sse(&with(SseStatus::Enabling)), "sse KMS arn:aws:kms:us-east-1:1:key/k");
        assert_eq!(sse(&with(SseStatus::Disabled)), "sse aws-owned");
        assert_eq!(sse(&table(ProjectionType::All)), "sse aws-owned");
        let (only_source, only_restore) = differences(&with(SseStatus::Enabled), &table(ProjectionType::All));
        assert_eq!(
            (only_source, only_restore),
            (vec!["sse KMS arn:aws:kms:us-east-1:1:key/k".to_string()], vec!["sse aws-owned".to_string()])
        );
    }

    #[test]
    fn a_changed_projection_is_a_difference_on_both_sides() {
        let (only_source, only_restore) = differences(&table(ProjectionType::Include), &table(ProjectionType::KeysOnly));
        assert_eq!(only_source, vec!["gsi by-sk key sk HASH projection INCLUDE [a, b]".to_string()]);
        assert_eq!(only_restore, vec!["gsi by-sk key sk HASH projection KEYS_ONLY [a, b]".to_string()]);
    }
}
