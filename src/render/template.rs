//! Filling a template from `templates/`: every `!drctl key` node is replaced
//! by a structured value. Values are never spliced into text, so nothing a
//! policy says can change the shape of the document around it.

use std::collections::BTreeMap;

use yaml_serde::Value;

use super::RenderError;

/// The values of one template's `!drctl` keys. `None` drops the key (or list
/// entry) that holds the placeholder: how optional settings stay out.
pub type Values = BTreeMap<&'static str, Option<Value>>;

/// Parses one of the templates compiled into the binary.
pub fn parse(name: &'static str, text: &str) -> Result<Value, RenderError> {
    yaml_serde::from_str(text).map_err(|e| RenderError::Template { template: name, why: e.to_string() })
}

/// Replaces every placeholder of `template` from `values`. A placeholder
/// without a value, or a value nobody asked for, is a bug in drctl and an
/// error, never a silently odd template.
pub fn fill(name: &'static str, template: &Value, values: &Values) -> Result<Value, RenderError> {
    let mut used = Vec::new();
    let filled = fill_node(name, template, values, &mut used)?.unwrap_or(Value::Null);
    if let Some(unused) = values.keys().find(|k| !used.contains(*k)) {
        return Err(RenderError::Template { template: name, why: format!("value `{unused}` has no placeholder") });
    }
    Ok(filled)
}

fn fill_node(name: &'static str, node: &Value, values: &Values, used: &mut Vec<&'static str>) -> Result<Option<Value>, RenderError> {
    Ok(match node {
        Value::Tagged(tagged) if tagged.tag == "drctl" => {
            let Value::String(key) = &tagged.value else {
                return Err(RenderError::Template { template: name, why: "`!drctl` takes a key name".into() });
            };
            let (found, value) = values
                .get_key_value(key.as_str())
                .ok_or_else(|| RenderError::Template { template: name, why: format!("no value for `!drctl {key}`") })?;
            used.push(found);
            value.clone()
        }
        Value::Tagged(tagged) => {
            return Err(RenderError::Template {
                template: name,
                why: format!("unexpected tag {}: write intrinsics in long form", tagged.tag),
            });
        }
        Value::Mapping(mapping) => {
            let mut filled = yaml_serde::Mapping::new();
            for (key, value) in mapping {
                if let Some(value) = fill_node(name, value, values, used)? {
                    filled.insert(key.clone(), value);
                }
            }
            Some(Value::Mapping(filled))
        }
        Value::Sequence(items) => {
            let mut filled = Vec::with_capacity(items.len());
            for item in items {
                filled.extend(fill_node(name, item, values, used)?);
            }
            Some(Value::Sequence(filled))
        }
        other => Some(other.clone()),
    })
}

/// A structured value for a template, from anything serialisable.
pub fn value(data: impl serde::Serialize) -> Option<Value> {
    // Serialising plain data (strings, numbers, maps built here) cannot fail.
    yaml_serde::to_value(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_drops_and_refuses() {
        let template = parse("t", "a: !drctl x\nb: !drctl gone\nc: [1, !drctl gone, 2]\n").unwrap();
        let values = Values::from([("x", value(serde_json::json!({ "k": "a: b\n- c" }))), ("gone", None)]);
        let filled = fill("t", &template, &values).unwrap();
        assert_eq!(yaml_serde::to_string(&filled).unwrap(), "a:\n  k: |-\n    a: b\n    - c\nc:\n- 1\n- 2\n");
        let missing = Values::from([("x", None)]);
        assert!(fill("t", &template, &missing).is_err());
        let extra = Values::from([("x", None), ("gone", None), ("other", None)]);
        assert!(fill("t", &template, &extra).is_err());
    }
}
