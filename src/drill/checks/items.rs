//! Items as bytes: a canonical encoding of an item (attribute names sorted,
//! sets sorted, every value typed and length-prefixed), so that two items
//! encode the same exactly when they hold the same data, whatever order the
//! SDK hands their maps and sets in.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

pub type Item = HashMap<String, AttributeValue>;

/// Appends the canonical encoding of `item` to `out`.
pub fn encode_item(item: &Item, out: &mut Vec<u8>) {
    let mut names: Vec<&String> = item.keys().collect();
    names.sort();
    put_len(out, names.len());
    for name in names {
        put_bytes(out, name.as_bytes());
        encode_value(&item[name], out);
    }
}

/// Appends the canonical encoding of one attribute value to `out`.
pub fn encode_value(value: &AttributeValue, out: &mut Vec<u8>) {
    match value {
        AttributeValue::S(s) => tagged(out, b'S', s.as_bytes()),
        AttributeValue::N(n) => tagged(out, b'N', n.as_bytes()),
        AttributeValue::B(b) => tagged(out, b'B', b.as_ref()),
        AttributeValue::Bool(b) => tagged(out, b'b', &[u8::from(*b)]),
        AttributeValue::Null(_) => tagged(out, b'0', &[]),
        AttributeValue::Ss(set) => sorted_set(out, b's', set.iter().map(|s| s.as_bytes())),
        AttributeValue::Ns(set) => sorted_set(out, b'n', set.iter().map(|n| n.as_bytes())),
        AttributeValue::Bs(set) => sorted_set(out, b'x', set.iter().map(|b| b.as_ref())),
        AttributeValue::L(list) => {
            out.push(b'L');
            put_len(out, list.len());
            list.iter().for_each(|v| encode_value(v, out));
        }
        AttributeValue::M(map) => {
            out.push(b'M');
            encode_item(map, out);
        }
        // A type this SDK does not know: its debug form, so it still counts.
        other => tagged(out, b'?', format!("{other:?}").as_bytes()),
    }
}

fn tagged(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    put_bytes(out, bytes);
}

fn sorted_set<'a>(out: &mut Vec<u8>, tag: u8, members: impl Iterator<Item = &'a [u8]>) {
    let mut members: Vec<&[u8]> = members.collect();
    members.sort_unstable();
    out.push(tag);
    put_len(out, members.len());
    members.into_iter().for_each(|m| put_bytes(out, m));
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&(len as u64).to_be_bytes());
}

fn value_bytes(value: &AttributeValue) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(value, &mut out);
    out
}

/// How a restored item compares with the source's item of the same key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    /// The source no longer has the key (deleted since the recovery point).
    MissingFromSource,
    /// These attributes differ (present on one side only, or other bytes).
    Differs(Vec<String>),
}

/// Compares the whole attribute map of a restored item with the source's.
pub fn compare(restored: &Item, source: Option<&Item>) -> Comparison {
    let Some(source) = source else { return Comparison::MissingFromSource };
    let mut names: Vec<&String> = restored.keys().chain(source.keys()).collect();
    names.sort();
    names.dedup();
    let differing: Vec<String> =
        names.into_iter().filter(|name| restored.get(*name).map(value_bytes) != source.get(*name).map(value_bytes)).cloned().collect();
    if differing.is_empty() { Comparison::Equal } else { Comparison::Differs(differing) }
}

/// The canonical bytes of the key attributes `key_names` of `item`.
pub fn key_bytes(item: &Item, key_names: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for name in key_names {
        put_bytes(&mut out, name.as_bytes());
        match item.get(name) {
            Some(value) => encode_value(value, &mut out),
            None => out.push(b'-'),
        }
    }
    out
}

/// The key attributes `key_names` of `item`.
pub fn key_of(item: &Item, key_names: &[String]) -> Item {
    key_names.iter().filter_map(|name| item.get(name).map(|v| (name.clone(), v.clone()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }
    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_string())
    }

    #[test]
    fn equal_items_compare_equal_whatever_their_set_order() {
        let a = item(&[("pk", s("a")), ("tags", AttributeValue::Ss(vec!["x".into(), "y".into()]))]);
        let b = item(&[("pk", s("a")), ("tags", AttributeValue::Ss(vec!["y".into(), "x".into()]))]);
        assert_eq!(compare(&a, Some(&b)), Comparison::Equal);
    }

    #[test]
    fn a_changed_value_an_extra_and_a_missing_attribute_are_named() {
        let restored = item(&[("pk", s("a")), ("size", AttributeValue::N("1".into())), ("old", s("o"))]);
        let source = item(&[("pk", s("a")), ("size", AttributeValue::N("2".into())), ("new", s("n"))]);
        assert_eq!(compare(&restored, Some(&source)), Comparison::Differs(vec!["new".into(), "old".into(), "size".into()]));
    }

    #[test]
    fn a_type_change_with_the_same_text_differs() {
        let restored = item(&[("pk", s("a")), ("v", s("1"))]);
        let source = item(&[("pk", s("a")), ("v", AttributeValue::N("1".into()))]);
        assert_eq!(compare(&restored, Some(&source)), Comparison::Differs(vec!["v".into()]));
    }

    #[test]
    fn an_item_gone_from_the_source_is_missing_not_different() {
        assert_eq!(compare(&item(&[("pk", s("a"))]), None), Comparison::MissingFromSource);
    }

    #[test]
    fn encodings_do_not_collide_across_boundaries() {
        let mut one = Vec::new();
        let mut two = Vec::new();
        encode_item(&item(&[("ab", s("c"))]), &mut one);
        encode_item(&item(&[("a", s("bc"))]), &mut two);
        assert_ne!(one, two);
    }

    /// Sets are compared as sets (member order does not count) but their
    /// members and sizes do: the encoding is unambiguous.
    #[test]
    fn sets_encode_by_members_whatever_their_order_and_lengths_delimit() {
        let encoded = |value: AttributeValue| {
            let mut out = Vec::new();
            encode_value(&value, &mut out);
            out
        };
        let ss = |members: &[&str]| AttributeValue::Ss(members.iter().map(|m| m.to_string()).collect());
        assert_eq!(encoded(ss(&["b", "a"])), encoded(ss(&["a", "b"])));
        assert_ne!(encoded(ss(&["a", "b"])), encoded(ss(&["ab"])));
        assert_ne!(encoded(ss(&["a"])), encoded(ss(&["a", "a2"])));
        assert_ne!(encoded(s("ab")), encoded(s("a")), "a string's length is part of it");
    }
}
