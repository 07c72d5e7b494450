//! The fingerprint: an order-independent hash of every item. Each item's
//! canonical encoding is hashed with SHA-256 and the hashes are added
//! modulo 2^256, so any scan order, page size or segmentation gives the
//! same value, and (unlike XOR) an item counted twice does not cancel out.

use sha2::{Digest, Sha256};

use super::items::{Item, encode_item};
use super::scan::fold_segments;
use crate::drill::DrillError;

/// The SHA-256 of an item's canonical encoding (`buffer` is reused).
pub fn item_digest(item: &Item, buffer: &mut Vec<u8>) -> [u8; 32] {
    buffer.clear();
    encode_item(item, buffer);
    Sha256::digest(buffer.as_slice()).into()
}

/// A table's fingerprint: its item count and the sum of its item hashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    pub items: u64,
    pub sum: [u8; 32],
}

impl Fingerprint {
    /// Adds one item.
    pub fn add(&mut self, item: &Item, buffer: &mut Vec<u8>) {
        self.add_item_digest(&item_digest(item, buffer));
    }

    /// Adds one item by its [`item_digest`].
    pub fn add_item_digest(&mut self, digest: &[u8; 32]) {
        self.add_digest(digest);
        self.items += 1;
    }

    /// Combines two fingerprints of disjoint item sets.
    pub fn merge(mut self, other: &Fingerprint) -> Self {
        self.add_digest(&other.sum);
        self.items += other.items;
        self
    }

    /// Big-endian addition modulo 2^256.
    fn add_digest(&mut self, digest: &[u8; 32]) {
        let mut carry = 0u16;
        for (sum, byte) in self.sum.iter_mut().zip(digest).rev() {
            let total = u16::from(*sum) + u16::from(*byte) + carry;
            *sum = total as u8;
            carry = total >> 8;
        }
    }

    pub fn hex(&self) -> String {
        hex::encode(self.sum)
    }
}

/// One segment's running state: the fingerprint and a reused buffer.
#[derive(Default)]
struct Segment {
    fingerprint: Fingerprint,
    buffer: Vec<u8>,
}

/// The fingerprint of `table` by a parallel segmented scan, page by page.
pub async fn of_table(dynamodb: &aws_sdk_dynamodb::Client, table: &str, segments: u32) -> Result<Fingerprint, DrillError> {
    let parts = fold_segments(dynamodb, table, segments, None, |segment: &mut Segment, page| {
        for item in page.items() {
            segment.fingerprint.add(item, &mut segment.buffer);
        }
    })
    .await?;
    Ok(parts.iter().fold(Fingerprint::default(), |acc, part| acc.merge(&part.fingerprint)))
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;

    fn item(i: usize) -> Item {
        Item::from([
            ("pk".to_string(), AttributeValue::S(format!("HOME#{}", i % 3))),
            ("sk".to_string(), AttributeValue::S(format!("SCAN#{i}"))),
            ("size".to_string(), AttributeValue::N((i * 7).to_string())),
        ])
    }

    fn of(items: &[Item]) -> Fingerprint {
        let mut buffer = Vec::new();
        let mut fingerprint = Fingerprint::default();
        items.iter().for_each(|i| fingerprint.add(i, &mut buffer));
        fingerprint
    }

    #[test]
    fn the_fingerprint_does_not_depend_on_order_or_segmentation() {
        let items: Vec<Item> = (0..50).map(item).collect();
        let mut reversed = items.clone();
        reversed.reverse();
        assert_eq!(of(&items), of(&reversed));
        let (left, right) = items.split_at(17);
        assert_eq!(of(right).merge(&of(left)), of(&items));
    }

    #[test]
    fn one_changed_missing_or_duplicated_item_changes_it() {
        let items: Vec<Item> = (0..20).map(item).collect();
        let whole = of(&items);
        let mut changed = items.clone();
        changed[5].insert("size".into(), AttributeValue::N("1".into()));
        assert_ne!(of(&changed).sum, whole.sum);
        assert_ne!(of(&items[1..]).sum, whole.sum);
        let mut doubled = items.clone();
        doubled.push(items[0].clone());
        doubled.push(items[0].clone());
        assert_ne!(of(&doubled).sum, of(&items).sum, "a pair of duplicates does not cancel as with XOR");
    }

    #[test]
    fn addition_carries_across_bytes() {
        let mut fingerprint = Fingerprint { items: 0, sum: [0xff; 32] };
        let mut one = [0u8; 32];
        one[31] = 1;
        fingerprint.add_digest(&one);
        assert_eq!(fingerprint.sum, [0; 32], "wraps modulo 2^256");
    }
}
