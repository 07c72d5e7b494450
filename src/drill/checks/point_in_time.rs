//! `item_count`, `fingerprint` and `sample` against the point-in-time
//! reference: the source at the edges of the backup's consistency window
//! ([`crate::drill::reference`]). `item_count` and `fingerprint` share one
//! parallel scan of the restore; differences are named by key (a keyed
//! hash of it, see [`sample::key_hash`]).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::fingerprint::item_digest;
use super::items::{Comparison, Item, compare, key_bytes, key_of};
use super::scan::fold_segments;
use super::{CheckResult, Tables, sample, within_tolerance};
use crate::drill::DrillError;
use crate::drill::reference::Prepared;
use crate::drill::reference::compare::{KeyDigest, Outcome, key_digest};
use crate::policy::model::{ItemCountCheck, SampleCheck};

/// How many differences a failed check names.
const NAMED: usize = 5;
/// How many differing buckets are searched for the keys to name.
const SEARCHED_BUCKETS: usize = 10;

/// Reads the whole restore once and judges it against the reference.
pub async fn scan_restore(tables: &Tables<'_>, prepared: &Prepared) -> Result<Outcome, DrillError> {
    let tally = Mutex::new(prepared.reference.tally());
    let names = &prepared.key_names;
    let reference = &prepared.reference;
    let tally_ref = &tally;
    fold_segments(&tables.restored_clients.dynamodb, tables.restored_name(), tables.segments, None, move |_: &mut (), page| {
        let mut buffer = Vec::new();
        let digested: Vec<(KeyDigest, [u8; 32])> =
            page.items().iter().map(|item| (key_digest(&key_bytes(item, names)), item_digest(item, &mut buffer))).collect();
        let mut tally = tally_ref.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (key, digest) in digested {
            reference.observe(&mut tally, key, &digest);
        }
    })
    .await?;
    let tally = tally.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    Ok(reference.judge(&tally))
}

fn window_phrase(prepared: &Prepared) -> String {
    let window = &prepared.report.window;
    format!("the source between {} and {} ({} s window)", window.start, window.end, window.seconds)
}

fn changed_phrase(outcome: &Outcome) -> String {
    format!(
        "{} items changed within the backup's window ({} restored as at an edge, {} absent as at an edge, {} in a state between \
         the edges: written more than once in the window, not judged)",
        outcome.changed_in_window, outcome.changed_found, outcome.changed_absent, outcome.changed_between
    )
}

pub fn item_count(prepared: &Prepared, outcome: &Outcome, spec: &ItemCountCheck) -> CheckResult {
    let basis_points = spec.tolerance.basis_points();
    let expected = outcome.stable_expected;
    let passed = within_tolerance(expected, expected + outcome.count_difference, basis_points);
    let reason = match passed {
        true => format!(
            "{} items restored: {} of {} items unchanged across the window are there (within the {} tolerance), and {}; against {}",
            outcome.restored,
            outcome.stable_restored,
            outcome.stable_expected,
            spec.tolerance,
            changed_phrase(outcome),
            window_phrase(prepared)
        ),
        false => format!(
            "{} items restored; {} unchanged items missing or extra against {} ({} of {} restored): outside the {} tolerance",
            outcome.restored,
            outcome.count_difference,
            window_phrase(prepared),
            outcome.stable_restored,
            outcome.stable_expected,
            spec.tolerance
        ),
    };
    let numbers = [
        ("restored", outcome.restored),
        ("unchanged_expected", outcome.stable_expected),
        ("unchanged_restored", outcome.stable_restored),
        ("changed_in_window", outcome.changed_in_window),
        ("difference", outcome.count_difference),
        ("tolerance_basis_points", u64::from(basis_points)),
    ];
    CheckResult::new("item_count", passed, reason, &numbers)
}

pub async fn fingerprint(tables: &Tables<'_>, prepared: &Prepared, outcome: &Outcome) -> Result<CheckResult, DrillError> {
    let numbers = [
        ("restored", outcome.restored),
        ("unchanged", outcome.stable_expected),
        ("changed_in_window", outcome.changed_in_window),
        ("differing_buckets", outcome.content_buckets.len() as u64),
    ];
    if outcome.content_matches() {
        let reason = format!(
            "every item of the restore equals {}: {} unchanged items identical, {}",
            window_phrase(prepared),
            outcome.stable_expected,
            changed_phrase(outcome)
        );
        return Ok(CheckResult::new("fingerprint", true, reason, &numbers));
    }
    let named = name_differences(tables, prepared, outcome).await?;
    let reason = format!("the restore differs from {}: {}", window_phrase(prepared), named.join("; "));
    Ok(CheckResult::new("fingerprint", false, reason, &numbers))
}

/// The first few differences, each by its key.
async fn name_differences(tables: &Tables<'_>, prepared: &Prepared, outcome: &Outcome) -> Result<Vec<String>, DrillError> {
    let names = &prepared.key_names;
    let hidden = |item: &Item| sample::key_hash(&key_bytes(item, names));
    let mut named: Vec<String> = Vec::new();
    if !outcome.content_buckets.is_empty() {
        let buckets: Vec<usize> = outcome.content_buckets.iter().take(SEARCHED_BUCKETS).copied().collect();
        let expected = prepared.stable_items_in(tables.restored_clients, &buckets, 1000).await?;
        let restored = sample::source_items(&tables.restored_clients.dynamodb, tables.restored_name(), &expected, names).await?;
        for item in &expected {
            match compare(item, restored.get(&key_bytes(item, names))) {
                Comparison::Equal => {}
                Comparison::MissingFromSource => named.push(format!("{} is missing from the restore", hidden(item))),
                Comparison::Differs(attributes) => named.push(format!("{} differs in {}", hidden(item), attributes.join(", "))),
            }
        }
        if named.is_empty() {
            named.push(format!(
                "the restore holds items the source had at neither edge ({} items restored against {} expected)",
                outcome.restored, outcome.stable_expected
            ));
        }
    }
    let more = named.len().saturating_sub(NAMED);
    named.truncate(NAMED);
    if more > 0 {
        named.push(format!("and {more} more"));
    }
    Ok(named)
}

pub async fn sample(tables: &Tables<'_>, prepared: &Prepared, spec: &SampleCheck) -> Result<CheckResult, DrillError> {
    let names = &prepared.key_names;
    let draw = sample::Draw::new(tables.seed, tables.restored.item_count().unwrap_or_default().max(0) as u64);
    let restored = sample::draw_items(&tables.restored_clients.dynamodb, tables.restored_name(), spec.items as usize, draw).await?;
    let keys: HashSet<KeyDigest> = restored.iter().map(|item| key_digest(&key_bytes(item, names))).collect();
    let [at_start, at_end] = prepared.items_with_keys(tables.source_clients, &keys).await?;
    let by_key = |items: Vec<Item>| items.into_iter().map(|i| (key_bytes(&i, names), i)).collect::<HashMap<_, _>>();
    let (at_start, at_end) = (by_key(at_start), by_key(at_end));
    let (mut equal, mut changed, mut between, mut mismatches) = (0u64, 0u64, 0u64, Vec::new());
    for item in &restored {
        let key = key_bytes(item, names);
        let (start, end) = (at_start.get(&key), at_end.get(&key));
        let changed_in_window = start.map(|s| compare(s, end)) != Some(Comparison::Equal);
        changed += u64::from(changed_in_window);
        let matches = |edge: Option<&Item>| edge.is_some_and(|e| compare(item, Some(e)) == Comparison::Equal);
        if matches(start) || matches(end) {
            equal += 1;
            continue;
        }
        if changed_in_window && (start.is_some() || end.is_some()) {
            // Written more than once within the window: a state between the edges.
            between += 1;
            continue;
        }
        let shown = if spec.show_keys { format!("{:?}", key_of(item, names)) } else { sample::key_hash(&key) };
        mismatches.push(match compare(item, end.or(start)) {
            Comparison::Differs(attributes) => format!("{shown} differs in {}", attributes.join(", ")),
            _ => format!("{shown} was in the source at neither edge"),
        });
    }
    let compared = restored.len() as u64;
    let passed = mismatches.is_empty();
    let reason = match mismatches.first() {
        None if compared == 0 => "the restore has no items to sample".to_string(),
        None => {
            format!(
                "{equal} of {compared} sampled items equal {} at an edge ({changed} changed within the window; {between} in a state between the edges, not judged)",
                window_phrase(prepared)
            )
        }
        Some(first) => format!("{} of {compared} sampled items differ from {}; first: {first}", mismatches.len(), window_phrase(prepared)),
    };
    let numbers = [
        ("requested", u64::from(spec.items)),
        ("compared", compared),
        ("equal", equal),
        ("changed_in_window", changed),
        ("between_edges", between),
        ("mismatched", mismatches.len() as u64),
        ("seed", draw.seed),
        ("segments", u64::from(draw.segments)),
    ];
    Ok(CheckResult::new("sample", passed, reason, &numbers))
}
