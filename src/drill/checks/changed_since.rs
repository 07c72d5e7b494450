//! The fallback for a live table without PITR: the policy names an
//! attribute holding when each item last changed (`verify.changed_since`),
//! and the data checks compare with the live source leaving out every key
//! whose source item changed since the window's start (the recovery
//! point's creation minus the margin).
//!
//! # Caveats
//! - A hard delete since the recovery point leaves no item to read the
//!   attribute from: the restore then holds an item the source lacks, and
//!   the checks fail. Tables that delete need PITR (`reference:
//!   point-in-time`) or soft deletes.
//! - The attribute must be written by every write, in seconds since the
//!   Unix epoch (a number) or RFC 3339 (a string); an item without it is
//!   compared as unchanged.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::SystemTime;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use super::fingerprint::{Fingerprint, item_digest};
use super::items::{Item, key_bytes};
use super::scan::fold_segments;
use crate::drill::DrillError;
use crate::drill::reference::compare::{KeyDigest, key_digest};

/// The attribute and the instant after which an item counts as changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedSince {
    pub attribute: String,
    pub cutoff: SystemTime,
}

impl ChangedSince {
    /// Whether `item` says it changed at or after the cutoff.
    pub fn changed(&self, item: &Item) -> bool {
        let when = match item.get(&self.attribute) {
            Some(AttributeValue::N(n)) => {
                n.parse::<f64>().ok().and_then(|s| DateTime::from_fractional_secs(s.trunc() as i64, s.fract()).into())
            }
            Some(AttributeValue::S(s)) => DateTime::from_str(s, Format::DateTime).ok(),
            _ => None,
        };
        when.and_then(|w| SystemTime::try_from(w).ok()).is_some_and(|w| w >= self.cutoff)
    }
}

/// A table's fingerprint leaving out some keys.
#[derive(Default)]
pub struct Filtered {
    pub fingerprint: Fingerprint,
    pub skipped: u64,
}

/// The source's fingerprint over the items unchanged since the cutoff, and
/// the keys of those that changed.
pub async fn source(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    segments: u32,
    key_names: &[String],
    since: &ChangedSince,
) -> Result<(Filtered, HashSet<KeyDigest>), DrillError> {
    let changed = Mutex::new(HashSet::new());
    let changed_ref = &changed;
    let parts = fold_segments(dynamodb, table, segments, None, |part: &mut Filtered, page| {
        let mut buffer = Vec::new();
        for item in page.items() {
            if since.changed(item) {
                part.skipped += 1;
                changed_ref.lock().unwrap_or_else(|p| p.into_inner()).insert(key_digest(&key_bytes(item, key_names)));
            } else {
                part.fingerprint.add_item_digest(&item_digest(item, &mut buffer));
            }
        }
    })
    .await?;
    Ok((merge(parts), changed.into_inner().unwrap_or_else(|p| p.into_inner())))
}

/// The restore's fingerprint leaving out the keys changed in the source.
pub async fn restore(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    segments: u32,
    key_names: &[String],
    changed: &HashSet<KeyDigest>,
) -> Result<Filtered, DrillError> {
    let parts = fold_segments(dynamodb, table, segments, None, |part: &mut Filtered, page| {
        let mut buffer = Vec::new();
        for item in page.items() {
            if changed.contains(&key_digest(&key_bytes(item, key_names))) {
                part.skipped += 1;
            } else {
                part.fingerprint.add_item_digest(&item_digest(item, &mut buffer));
            }
        }
    })
    .await?;
    Ok(merge(parts))
}

fn merge(parts: Vec<Filtered>) -> Filtered {
    parts.into_iter().fold(Filtered::default(), |acc, part| Filtered {
        fingerprint: acc.fingerprint.merge(&part.fingerprint),
        skipped: acc.skipped + part.skipped,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(attribute: AttributeValue) -> Item {
        Item::from([("pk".to_string(), AttributeValue::S("a".into())), ("updated_at".to_string(), attribute)])
    }

    #[test]
    fn an_item_changed_at_or_after_the_cutoff_is_told_by_its_attribute() {
        let since = ChangedSince { attribute: "updated_at".into(), cutoff: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000) };
        assert!(since.changed(&at(AttributeValue::N("1000".into()))));
        assert!(since.changed(&at(AttributeValue::N("1000.5".into()))));
        assert!(!since.changed(&at(AttributeValue::N("999.9".into()))));
        assert!(since.changed(&at(AttributeValue::S("1970-01-01T00:16:40Z".into()))));
        assert!(!since.changed(&at(AttributeValue::S("1970-01-01T00:16:39Z".into()))));
        assert!(!since.changed(&at(AttributeValue::S("yesterday".into()))), "unreadable: compared as unchanged");
        assert!(!since.changed(&Item::new()), "no attribute: compared as unchanged");
    }

    #[test]
    fn parts_merge_into_one_fingerprint_and_one_count_of_skipped_items() {
        let mut buffer = Vec::new();
        let part = |pk: &str, skipped: u64| {
            let mut fingerprint = Fingerprint::default();
            fingerprint.add(&Item::from([("pk".to_string(), AttributeValue::S(pk.into()))]), &mut buffer.clone());
            Filtered { fingerprint, skipped }
        };
        let merged = merge(vec![part("a", 2), part("b", 3)]);
        assert_eq!(merged.skipped, 5);
        assert_eq!(merged.fingerprint.items, 2);
        let mut whole = Fingerprint::default();
        for pk in ["b", "a"] {
            whole.add(&Item::from([("pk".to_string(), AttributeValue::S(pk.into()))]), &mut buffer);
        }
        assert_eq!(merged.fingerprint, whole, "the same as one pass over both parts");
        let empty = merge(Vec::new());
        assert_eq!((empty.fingerprint, empty.skipped), (Fingerprint::default(), 0));
    }
}
