//! DynamoDB JSON, as a table export writes it: one `{"Item": {...}}` per
//! line, each attribute a one-key object naming its type (`{"S": "a"}`,
//! `{"N": "1"}`, `{"B": "<base64>"}`, sets, lists and maps nested).

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::super::checks::items::Item;

/// DynamoDB nests documents at most 32 levels deep.
const MAX_DEPTH: usize = 32;

/// Parses one line of an export's data file into its item.
pub fn parse_line(line: &str) -> Result<Item, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut line) = value else { return Err("a line is not a JSON object".into()) };
    match line.remove("Item") {
        Some(Value::Object(map)) => map.into_iter().map(|(name, value)| Ok((name, attribute(value, 0)?))).collect(),
        _ => Err("a line has no \"Item\" object".into()),
    }
}

fn attribute(value: Value, depth: usize) -> Result<AttributeValue, String> {
    if depth > MAX_DEPTH {
        return Err(format!("an attribute nested deeper than {MAX_DEPTH} levels"));
    }
    let Value::Object(map) = value else { return Err("an attribute value is not a typed object".into()) };
    let mut entries = map.into_iter();
    let (Some((kind, inner)), None) = (entries.next(), entries.next()) else {
        return Err("an attribute value must name exactly one type".into());
    };
    Ok(match (kind.as_str(), inner) {
        ("S", Value::String(s)) => AttributeValue::S(s),
        ("N", Value::String(n)) => AttributeValue::N(n),
        ("B", Value::String(b)) => AttributeValue::B(blob(&b)?),
        ("BOOL", Value::Bool(b)) => AttributeValue::Bool(b),
        ("NULL", Value::Bool(true)) => AttributeValue::Null(true),
        ("SS", Value::Array(items)) => AttributeValue::Ss(strings(items)?),
        ("NS", Value::Array(items)) => AttributeValue::Ns(strings(items)?),
        ("BS", Value::Array(items)) => AttributeValue::Bs(strings(items)?.iter().map(|b| blob(b)).collect::<Result<_, _>>()?),
        ("L", Value::Array(items)) => AttributeValue::L(items.into_iter().map(|v| attribute(v, depth + 1)).collect::<Result<_, _>>()?),
        ("M", Value::Object(map)) => {
            AttributeValue::M(map.into_iter().map(|(k, v)| Ok((k, attribute(v, depth + 1)?))).collect::<Result<_, String>>()?)
        }
        (kind, _) => return Err(format!("an attribute of type {kind:?} with a value of the wrong shape")),
    })
}

fn strings(items: Vec<Value>) -> Result<Vec<String>, String> {
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) => Ok(s),
            _ => Err("a set member is not a string".to_string()),
        })
        .collect()
}

fn blob(encoded: &str) -> Result<Blob, String> {
    aws_smithy_types::base64::decode(encoded).map(Blob::new).map_err(|e| format!("binary value is not base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses() {
        let line = r#"{"Item":{"pk":{"S":"HOME#1"},"n":{"N":"1.5"},"b":{"B":"AAEC"},"t":{"BOOL":true},"z":{"NULL":true},
            "ss":{"SS":["a","b"]},"ns":{"NS":["1","2"]},"bs":{"BS":["AA=="]},"l":{"L":[{"S":"x"},{"N":"2"}]},"m":{"M":{"k":{"S":"v"}}}}}"#;
        let item = parse_line(&line.replace('\n', "")).unwrap();
        assert_eq!(item["pk"], AttributeValue::S("HOME#1".into()));
        assert_eq!(item["n"], AttributeValue::N("1.5".into()));
        assert_eq!(item["b"], AttributeValue::B(Blob::new(vec![0, 1, 2])));
        assert_eq!(item["z"], AttributeValue::Null(true));
        assert_eq!(item["bs"], AttributeValue::Bs(vec![Blob::new(vec![0])]));
        assert_eq!(item["l"], AttributeValue::L(vec![AttributeValue::S("x".into()), AttributeValue::N("2".into())]));
        assert_eq!(item["m"], AttributeValue::M([("k".to_string(), AttributeValue::S("v".into()))].into()));
    }

    #[test]
    fn malformed_lines_are_errors_not_items() {
        for bad in [
            "",
            "[]",
            r#"{"Keys":{}}"#,
            r#"{"Item":{"pk":"raw"}}"#,
            r#"{"Item":{"pk":{"S":"a","N":"1"}}}"#,
            r#"{"Item":{"pk":{"N":1}}}"#,
            r#"{"Item":{"pk":{"B":"***"}}}"#,
            r#"{"Item":{"pk":{"Q":"a"}}}"#,
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
        let deep = format!(r#"{{"Item":{{"pk":{}{{"S":"x"}}{}}}}}"#, r#"{"L":["#.repeat(40), "]}".repeat(40));
        assert!(parse_line(&deep).unwrap_err().contains("deeper"), "a nesting bomb is refused");
    }
}
