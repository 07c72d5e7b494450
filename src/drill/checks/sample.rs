//! The sample check: N items of the restore drawn across its key space
//! ([`Draw`]), each compared, whole attribute map, with the reference's item
//! of the same key: the source's (read with BatchGetItem, strongly
//! consistent), or the source's at the edges of the backup's window.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::items::{Comparison, Item, compare, key_bytes, key_of};
use crate::drill::DrillError;

/// How a sample came out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleOutcome {
    pub compared: u64,
    pub equal: u64,
    /// Keys gone from the source since the recovery point: skipped.
    pub missing_from_source: u64,
    /// A description of each differing item (key and attributes).
    pub mismatches: Vec<String>,
}

/// Tallies the comparisons of restored items with the source items found
/// by key (`source` keyed by [`key_bytes`]). A differing item is named by
/// its key when `show_keys`, else by [`key_hash`].
pub fn tally(restored: &[Item], source: &HashMap<Vec<u8>, Item>, key_names: &[String], show_keys: bool) -> SampleOutcome {
    let mut outcome = SampleOutcome::default();
    for item in restored {
        outcome.compared += 1;
        let key = key_bytes(item, key_names);
        match compare(item, source.get(&key)) {
            Comparison::Equal => outcome.equal += 1,
            Comparison::MissingFromSource => outcome.missing_from_source += 1,
            Comparison::Differs(attributes) => {
                let named = if show_keys { format!("{:?}", key_of(item, key_names)) } else { key_hash(&key) };
                outcome.mismatches.push(format!("{named} differs in {}", attributes.join(", ")))
            }
        }
    }
    outcome
}

/// An item's key as this run names it in reports: `key hmac:<16 hex>`, an
/// HMAC-SHA256 under a key drawn at random once per run. Equal keys read
/// alike within a run's report; the value behind one cannot be recovered
/// or guessed from it (the secret is never written anywhere).
pub fn key_hash(key: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    static SECRET: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let secret = SECRET.get_or_init(crate::nonce::secret::<32>);
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else { return "key (hidden)".to_string() };
    mac.update(key);
    format!("key hmac:{}", hex::encode(&mac.finalize().into_bytes()[..8]))
}

/// How a sample is drawn: from `segments` parallel-scan segments of the
/// table, visited in an order the seed gives, a share of the sample from
/// each, so that samples cover the whole key space and a failing sample can
/// be drawn again with its seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draw {
    pub seed: u64,
    pub segments: u32,
}

/// Items per segment the draw aims at: enough segments to spread the
/// sample, few enough that a small table is not asked for empty ones.
const ITEMS_PER_SEGMENT: u64 = 50;
const MAX_SEGMENTS: u32 = 64;
/// Segments a sample is taken from at first (more when they run short).
const SAMPLED_SEGMENTS: usize = 16;

impl Draw {
    /// The draw for a table of about `approximate_items` items.
    pub fn new(seed: u64, approximate_items: u64) -> Self {
        let segments = (approximate_items / ITEMS_PER_SEGMENT).clamp(1, u64::from(MAX_SEGMENTS)) as u32;
        Self { seed, segments }
    }

    /// The segments in the order this draw visits them.
    pub fn order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.segments).collect();
        let mut state = self.seed;
        // Fisher-Yates with splitmix64: the same seed, the same order.
        for i in (1..order.len()).rev() {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            order.swap(i, (z % (i as u64 + 1)) as usize);
        }
        order
    }
}

/// `n` items of `table`, drawn as `draw` says.
pub async fn draw_items(dynamodb: &aws_sdk_dynamodb::Client, table: &str, n: usize, draw: Draw) -> Result<Vec<Item>, DrillError> {
    let order = draw.order();
    let share = n.div_ceil(SAMPLED_SEGMENTS.min(order.len()).max(1)).max(1);
    let mut items = Vec::with_capacity(n.min(10_000));
    for segment in order {
        if items.len() >= n {
            break;
        }
        let wanted = share.min(n - items.len());
        let limit = i32::try_from(wanted.clamp(1, 1000)).unwrap_or(1000);
        let mut request = dynamodb.scan().table_name(table).limit(limit);
        if draw.segments > 1 {
            request = request.segment(segment as i32).total_segments(draw.segments as i32);
        }
        let mut pages = request.into_paginator().send();
        let mut taken = 0;
        while taken < wanted {
            let Some(page) = pages.next().await else { break };
            let page = page.map_err(|e| DrillError::aws(format!("Scan {table} (segment {segment} of {})", draw.segments), &e))?;
            let page: Vec<Item> = page.items().iter().take(wanted - taken).cloned().collect();
            taken += page.len();
            items.extend(page);
        }
    }
    Ok(items)
}

/// The source items with the keys of `restored`, keyed by [`key_bytes`].
pub async fn source_items(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    restored: &[Item],
    key_names: &[String],
) -> Result<HashMap<Vec<u8>, Item>, DrillError> {
    let mut found = HashMap::new();
    for chunk in restored.chunks(100) {
        let mut pending: Vec<Item> = chunk.iter().map(|item| key_of(item, key_names)).collect();
        while !pending.is_empty() {
            let keys = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| DrillError::Aws { action: "BatchGetItem".into(), why: e.to_string() })?;
            let out = dynamodb
                .batch_get_item()
                .request_items(table, keys)
                .send()
                .await
                .map_err(|e| DrillError::aws(format!("BatchGetItem from {table}"), &e))?;
            for item in out.responses().and_then(|r| r.get(table)).into_iter().flatten() {
                found.insert(key_bytes(item, key_names), item.clone());
            }
            pending = out.unprocessed_keys().and_then(|u| u.get(table)).map(|k| k.keys().to_vec()).unwrap_or_default();
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;

    fn item(pk: &str, payload: &str) -> Item {
        Item::from([("pk".to_string(), AttributeValue::S(pk.into())), ("payload".to_string(), AttributeValue::S(payload.into()))])
    }

    #[test]
    fn a_draw_visits_every_segment_once_in_an_order_its_seed_gives() {
        let draw = Draw::new(42, 10_000);
        assert_eq!(draw.segments, 64);
        let order = draw.order();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..64).collect::<Vec<_>>());
        assert_eq!(order, Draw::new(42, 10_000).order(), "replayable");
        assert_ne!(order, Draw::new(43, 10_000).order(), "another drill, another order");
        assert_eq!(Draw::new(1, 10).segments, 1, "a small table is one segment");
    }

    #[test]
    fn a_sample_counts_equal_missing_and_differing_items() {
        let keys = vec!["pk".to_string()];
        let restored = vec![item("a", "1"), item("b", "2"), item("c", "3")];
        let source: HashMap<Vec<u8>, Item> =
            [item("a", "1"), item("b", "changed")].into_iter().map(|i| (key_bytes(&i, &keys), i)).collect();
        let outcome = tally(&restored, &source, &keys, true);
        assert_eq!((outcome.compared, outcome.equal, outcome.missing_from_source), (3, 1, 1));
        assert_eq!(outcome.mismatches.len(), 1);
        assert!(outcome.mismatches[0].contains("differs in payload"), "{:?}", outcome.mismatches);
        assert!(outcome.mismatches[0].contains("\"b\""), "shown when asked: {:?}", outcome.mismatches);
    }

    /// Keys are often personal data (a customer's email as partition key):
    /// unless the policy asks, a differing item is named by a keyed hash,
    /// the same for the same key within a run, never the value.
    #[test]
    fn a_differing_items_key_is_a_keyed_hash_unless_asked() {
        let keys = vec!["pk".to_string()];
        let email = "jane.doe@example.com";
        let restored = vec![item(email, "1"), item(email, "1")];
        let source: HashMap<Vec<u8>, Item> = [item(email, "2")].into_iter().map(|i| (key_bytes(&i, &keys), i)).collect();
        let outcome = tally(&restored, &source, &keys, false);
        assert_eq!(outcome.mismatches.len(), 2);
        assert!(outcome.mismatches.iter().all(|m| !m.contains("jane") && m.starts_with("key hmac:")), "{:?}", outcome.mismatches);
        assert_eq!(outcome.mismatches[0], outcome.mismatches[1], "the same key reads alike");
        assert_ne!(key_hash(b"a"), key_hash(b"b"));
    }

    /// The order is pinned: a sample reported with its seed can be drawn
    /// again, by this drctl or the next, item for item.
    #[test]
    fn a_seed_gives_one_pinned_order_of_every_segment() {
        let order = |seed: u64, segments: u32| Draw { seed, segments }.order();
        assert_eq!(order(42, 8), [3, 1, 6, 2, 4, 0, 7, 5]);
        assert_eq!(order(42, 8), order(42, 8));
        assert_ne!(order(42, 8), order(43, 8));
        let mut sorted = order(7, 100);
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>(), "every segment once");
        assert_eq!(order(1, 1), [0]);
        assert!(order(1, 0).is_empty());
    }
}
