//! The checks of a restored table, each a pass or fail with a reason and
//! its numbers. `status` always comes first; the policy's checks follow in
//! the order the policy lists them.
//!
//! # Guarantees
//! - Read-only: checks never write to either table.
//! - A check that cannot reach a verdict (an AWS error after the SDK's
//!   retries) is a failed check with the error as its reason; the other
//!   checks still run.
//! - Counts are exact (Scan `Select=COUNT`, every page), never DescribeTable's
//!   approximate ItemCount; `item_count` and `fingerprint` scan the source and
//!   the restore at the same time, each in parallel segments, one page per
//!   segment in memory.
//!
//! # Caveats
//! - Every full-table check reads the whole source table (strongly
//!   consistent scans): it costs read capacity on the production table.
//! - `item_count`, `sample` and `fingerprint` compare with the reference
//!   the policy asks for: the source at the edges of the backup's window
//!   ([`point_in_time`]) or the source as it is (a static table).

pub mod changed_since;
pub mod fingerprint;
pub mod items;
pub mod point_in_time;
pub mod sample;
pub mod scan;
pub mod schema;

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, Select, TableDescription};
use serde::Serialize;

use super::DrillError;
use super::canary::Canary;
use crate::aws::Clients;
use crate::policy::model::{Check, ItemCountCheck, KeyValue, QueryCheck, SampleCheck};

/// One check's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    pub reason: String,
    pub numbers: BTreeMap<String, u64>,
    /// The check could not reach a verdict because drctl or AWS could not
    /// answer (a throttled scan past retries): it says nothing against the
    /// restore, and makes the drill inconclusive rather than failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inconclusive: bool,
}

impl CheckResult {
    fn new(name: &str, passed: bool, reason: String, numbers: &[(&str, u64)]) -> Self {
        let numbers = numbers.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Self { name: name.to_string(), passed, reason, numbers, inconclusive: false }
    }

    /// A check that could not run to a verdict: a failure, with why.
    pub fn errored(name: &str, error: &DrillError) -> Self {
        Self { inconclusive: error.is_inconclusive(), ..Self::new(name, false, error.to_string(), &[]) }
    }
}

/// The `status` check: the restored table reached ACTIVE.
pub fn status(outcome: Result<std::time::Duration, &DrillError>) -> CheckResult {
    match outcome {
        Ok(took) => CheckResult::new(
            "status",
            true,
            format!("ACTIVE {}s after the restore started", took.as_secs()),
            &[("seconds", took.as_secs())],
        ),
        Err(error) => CheckResult::errored("status", error),
    }
}

/// What the checks compare: the source and the restored scratch table,
/// each through the clients of its own region (a DR-region drill reads the
/// source in the primary region).
pub struct Tables<'a> {
    pub source_clients: &'a Clients,
    pub restored_clients: &'a Clients,
    pub source: &'a TableDescription,
    pub restored: &'a TableDescription,
    pub canary: Option<&'a Canary>,
    /// Parallel scan segments for counts and fingerprints.
    pub segments: u32,
    /// Seeds the sample's draw (the drill id's bits): a failing sample can
    /// be drawn again.
    pub seed: u64,
    /// What the data checks compare the restore with.
    pub basis: Basis<'a>,
    /// The point-in-time comparison, made once for `item_count` and
    /// `fingerprint`.
    pub outcome: tokio::sync::OnceCell<Result<crate::drill::reference::compare::Outcome, DrillError>>,
    /// The source and the restore leaving out changed keys (`changed_since`),
    /// read once for `item_count` and `fingerprint`.
    pub filtered: tokio::sync::OnceCell<Result<(changed_since::Filtered, changed_since::Filtered), DrillError>>,
}

/// What the data checks compare a restore with.
pub enum Basis<'a> {
    /// The source table as it is now (a static table), leaving out the
    /// items changed since the recovery point when the policy names an
    /// attribute that says so.
    Source(Option<changed_since::ChangedSince>),
    /// The source at the edges of the backup's window, or why it could not
    /// be had.
    PointInTime(Result<&'a crate::drill::reference::Prepared, &'a DrillError>),
}

impl Tables<'_> {
    fn source_name(&self) -> &str {
        self.source.table_name().unwrap_or_default()
    }
    fn restored_name(&self) -> &str {
        self.restored.table_name().unwrap_or_default()
    }
    fn key_names(&self) -> Vec<String> {
        self.source.key_schema().iter().map(|k| k.attribute_name().to_string()).collect()
    }
}

/// Runs one policy check; an AWS failure is that check's failure.
pub async fn run(check: &Check, tables: &Tables<'_>) -> CheckResult {
    if let (Basis::PointInTime(reference), true) = (&tables.basis, is_data_check(check)) {
        return match reference {
            Ok(prepared) => against_point_in_time(check, tables, prepared).await,
            Err(error) => Err((*error).clone()),
        }
        .unwrap_or_else(|error| CheckResult::errored(check.name(), &error));
    }
    let outcome = match check {
        Check::Schema(_) => Ok(schema_check(tables.source, tables.restored)),
        Check::ItemCount(spec) => item_count(tables, spec).await,
        Check::Sample(spec) => sample_check(tables, spec).await,
        Check::Canary(enabled) => canary_check(tables, *enabled).await,
        Check::Query(spec) => query_check(tables, spec).await,
        Check::Fingerprint(_) => fingerprint_check(tables).await,
    };
    outcome.unwrap_or_else(|error| CheckResult::errored(check.name(), &error))
}

fn is_data_check(check: &Check) -> bool {
    matches!(check, Check::ItemCount(_) | Check::Sample(_) | Check::Fingerprint(_))
}

async fn against_point_in_time(
    check: &Check,
    tables: &Tables<'_>,
    prepared: &crate::drill::reference::Prepared,
) -> Result<CheckResult, DrillError> {
    let outcome = || async { tables.outcome.get_or_init(|| point_in_time::scan_restore(tables, prepared)).await.clone() };
    match check {
        Check::ItemCount(spec) => Ok(point_in_time::item_count(prepared, &outcome().await?, spec)),
        Check::Fingerprint(_) => point_in_time::fingerprint(tables, prepared, &outcome().await?).await,
        Check::Sample(spec) => point_in_time::sample(tables, prepared, spec).await,
        _ => unreachable!("only data checks compare with a reference"),
    }
}

fn schema_check(source: &TableDescription, restored: &TableDescription) -> CheckResult {
    let (only_source, only_restore) = schema::differences(source, restored);
    let lines = schema::shape(source).len() as u64;
    let numbers = [("compared", lines), ("differences", (only_source.len() + only_restore.len()) as u64)];
    if only_source.is_empty() && only_restore.is_empty() {
        return CheckResult::new(
            "schema",
            true,
            format!("keys, attributes, indexes and SSE match the source ({lines} items compared)"),
            &numbers,
        );
    }
    let reason = format!("source only: [{}]; restore only: [{}]", only_source.join("; "), only_restore.join("; "));
    CheckResult::new("schema", false, reason, &numbers)
}

/// Whether `restored` is within `basis_points` hundredths of a percent of `source`.
pub fn within_tolerance(source: u64, restored: u64, basis_points: u32) -> bool {
    u128::from(source.abs_diff(restored)) * 10_000 <= u128::from(source) * u128::from(basis_points)
}

/// The source and restore fingerprints leaving out the keys changed in the
/// source since the cutoff (one scan of each, the source first).
async fn filtered<'t>(
    tables: &'t Tables<'_>,
    since: &changed_since::ChangedSince,
) -> Result<&'t (changed_since::Filtered, changed_since::Filtered), DrillError> {
    let read = || async {
        let keys = tables.key_names();
        let source = tables.source_clients.dynamodb.clone();
        let (source, changed) = changed_since::source(&source, tables.source_name(), tables.segments, &keys, since).await?;
        let restored =
            changed_since::restore(&tables.restored_clients.dynamodb, tables.restored_name(), tables.segments, &keys, &changed).await?;
        Ok((source, restored))
    };
    tables.filtered.get_or_init(read).await.as_ref().map_err(Clone::clone)
}

fn skipped_phrase(source: &changed_since::Filtered, since: &changed_since::ChangedSince) -> String {
    format!("{} items changed since the recovery point (by {}), skipped", source.skipped, since.attribute)
}

async fn item_count(tables: &Tables<'_>, spec: &ItemCountCheck) -> Result<CheckResult, DrillError> {
    if let Basis::Source(Some(since)) = &tables.basis {
        let (source, restored) = filtered(tables, since).await?;
        let (expected, found) = (source.fingerprint.items, restored.fingerprint.items);
        let basis_points = spec.tolerance.basis_points();
        let passed = within_tolerance(expected, found, basis_points);
        let reason = format!(
            "{found} items restored, {expected} in the source ({}): {} the {} tolerance",
            skipped_phrase(source, since),
            if passed { "within" } else { "outside" },
            spec.tolerance
        );
        let numbers = [
            ("source", expected),
            ("restored", found),
            ("difference", expected.abs_diff(found)),
            ("changed_since_skipped", source.skipped),
            ("tolerance_basis_points", u64::from(basis_points)),
        ];
        return Ok(CheckResult::new("item_count", passed, reason, &numbers));
    }
    let (source, restored) = tokio::try_join!(
        scan::count(&tables.source_clients.dynamodb, tables.source_name(), tables.segments),
        scan::count(&tables.restored_clients.dynamodb, tables.restored_name(), tables.segments)
    )?;
    let basis_points = spec.tolerance.basis_points();
    let passed = within_tolerance(source, restored, basis_points);
    let reason = format!(
        "{restored} items restored, {source} in the source: {} the {} tolerance",
        if passed { "within" } else { "outside" },
        spec.tolerance
    );
    let numbers = [
        ("source", source),
        ("restored", restored),
        ("difference", source.abs_diff(restored)),
        ("tolerance_basis_points", u64::from(basis_points)),
    ];
    Ok(CheckResult::new("item_count", passed, reason, &numbers))
}

async fn sample_check(tables: &Tables<'_>, spec: &SampleCheck) -> Result<CheckResult, DrillError> {
    let keys = tables.key_names();
    let draw = sample::Draw::new(tables.seed, tables.restored.item_count().unwrap_or_default().max(0) as u64);
    let restored = sample::draw_items(&tables.restored_clients.dynamodb, tables.restored_name(), spec.items as usize, draw).await?;
    let source = sample::source_items(&tables.source_clients.dynamodb, tables.source_name(), &restored, &keys).await?;
    let mut restored = restored;
    let before = restored.len();
    if let Basis::Source(Some(since)) = &tables.basis {
        restored.retain(|item| source.get(&items::key_bytes(item, &keys)).is_none_or(|now| !since.changed(now)));
    }
    let changed_since_skipped = (before - restored.len()) as u64;
    let outcome = sample::tally(&restored, &source, &keys, spec.show_keys);
    let mismatched = outcome.mismatches.len() as u64;
    // An empty restore has nothing to sample (item_count judges emptiness);
    // a sample whose every key is gone from the source proves nothing.
    let nothing_proven = outcome.compared > 0 && outcome.equal == 0;
    let passed = mismatched == 0 && !nothing_proven;
    let reason = match (passed, outcome.mismatches.first()) {
        (true, _) if outcome.compared == 0 => "the restore has no items to sample".to_string(),
        (true, _) => format!(
            "{} of {} sampled items equal the source ({} gone from the source, {changed_since_skipped} changed since the recovery point, skipped)",
            outcome.equal, outcome.compared, outcome.missing_from_source
        ),
        (false, Some(first)) => format!("{mismatched} of {} sampled items differ from the source; first: {first}", outcome.compared),
        (false, None) => format!("none of the {} sampled items is still in the source: nothing could be compared", outcome.compared),
    };
    let numbers = [
        ("requested", u64::from(spec.items)),
        ("compared", outcome.compared),
        ("equal", outcome.equal),
        ("missing_from_source", outcome.missing_from_source),
        ("changed_since_skipped", changed_since_skipped),
        ("mismatched", mismatched),
        ("seed", draw.seed),
        ("segments", u64::from(draw.segments)),
    ];
    Ok(CheckResult::new("sample", passed, reason, &numbers))
}

async fn canary_check(tables: &Tables<'_>, enabled: bool) -> Result<CheckResult, DrillError> {
    if !enabled {
        return Ok(CheckResult::new("canary", true, "canary: false; not checked".into(), &[]));
    }
    let Some(canary) = tables.canary else {
        return Ok(CheckResult::new("canary", false, "no canary was written before the backup (recovery_point: latest)".into(), &[]));
    };
    let name = tables.restored_name();
    let found = tables
        .restored_clients
        .dynamodb
        .get_item()
        .table_name(name)
        .set_key(Some(canary.key.clone()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| DrillError::aws(format!("GetItem of the canary from {name}"), &e))?;
    let (passed, reason) = match found.item().map(|item| items::compare(item, Some(&canary.item))) {
        None => (false, "the canary written before the backup is not in the restore: the recovery point is older than claimed".to_string()),
        Some(items::Comparison::Equal) => (true, "the canary written before the backup is in the restore, byte-equal".to_string()),
        Some(other) => (false, format!("the canary in the restore differs from what was written: {other:?}")),
    };
    Ok(CheckResult::new("canary", passed, reason, &[("found", u64::from(found.item().is_some()))]))
}

/// A query's key condition expression with its placeholders.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyCondition {
    pub expression: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

/// Equality on every key attribute given (the partition key, and the sort
/// key when the policy names it).
pub fn key_condition(key: &BTreeMap<String, KeyValue>) -> KeyCondition {
    let mut condition = KeyCondition { expression: String::new(), names: HashMap::new(), values: HashMap::new() };
    let mut clauses = Vec::new();
    for (index, (name, value)) in key.iter().enumerate() {
        clauses.push(format!("#k{index} = :v{index}"));
        condition.names.insert(format!("#k{index}"), name.clone());
        let value = match value {
            KeyValue::String(s) => AttributeValue::S(s.clone()),
            KeyValue::Number(n) => AttributeValue::N(n.to_string()),
        };
        condition.values.insert(format!(":v{index}"), value);
    }
    condition.expression = clauses.join(" AND ");
    condition
}

async fn query_check(tables: &Tables<'_>, spec: &QueryCheck) -> Result<CheckResult, DrillError> {
    let name = tables.restored_name();
    let KeyCondition { expression: condition, names, values } = key_condition(&spec.key);
    let mut pages = tables
        .restored_clients
        .dynamodb
        .query()
        .table_name(name)
        .set_index_name(spec.index.clone())
        .key_condition_expression(&condition)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .select(Select::Count)
        .into_paginator()
        .send();
    let mut count = 0u64;
    while let Some(page) = pages.next().await {
        count += page.map_err(|e| DrillError::aws(format!("Query {name}"), &e))?.count().max(0) as u64;
    }
    let (min, max) = (spec.expect.min_items, spec.expect.max_items);
    let passed = min.is_none_or(|m| count >= u64::from(m)) && max.is_none_or(|m| count <= u64::from(m));
    let bounds = match (min, max) {
        (Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
        (Some(lo), None) => format!("at least {lo}"),
        (None, Some(hi)) => format!("at most {hi}"),
        (None, None) => "any number".to_string(),
    };
    let on = spec.index.as_deref().map(|i| format!(" on index {i}")).unwrap_or_default();
    let reason = format!("{count} items for {condition}{on}; expected {bounds}");
    let mut numbers = vec![("items", count)];
    numbers.extend(min.map(|m| ("min_items", u64::from(m))));
    numbers.extend(max.map(|m| ("max_items", u64::from(m))));
    Ok(CheckResult::new("query", passed, reason, &numbers))
}

async fn fingerprint_check(tables: &Tables<'_>) -> Result<CheckResult, DrillError> {
    if let Basis::Source(Some(since)) = &tables.basis {
        let (source, restored) = filtered(tables, since).await?;
        let (source_print, restored_print) = (&source.fingerprint, &restored.fingerprint);
        let passed = source_print == restored_print;
        let reason = match passed {
            true => format!(
                "{} items hash to {} in both tables ({})",
                restored_print.items,
                restored_print.hex(),
                skipped_phrase(source, since)
            ),
            false => format!(
                "restore {} ({} items) differs from source {} ({} items), {}",
                restored_print.hex(),
                restored_print.items,
                source_print.hex(),
                source_print.items,
                skipped_phrase(source, since)
            ),
        };
        let numbers =
            [("source_items", source_print.items), ("restored_items", restored_print.items), ("changed_since_skipped", source.skipped)];
        return Ok(CheckResult::new("fingerprint", passed, reason, &numbers));
    }
    let (source, restored) = tokio::try_join!(
        fingerprint::of_table(&tables.source_clients.dynamodb, tables.source_name(), tables.segments),
        fingerprint::of_table(&tables.restored_clients.dynamodb, tables.restored_name(), tables.segments)
    )?;
    let passed = source == restored;
    let reason = match passed {
        true => format!("{} items hash to {} in both tables", restored.items, restored.hex()),
        false => {
            format!("restore {} ({} items) differs from source {} ({} items)", restored.hex(), restored.items, source.hex(), source.items)
        }
    };
    Ok(CheckResult::new("fingerprint", passed, reason, &[("source_items", source.items), ("restored_items", restored.items)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skipped_items_are_counted_with_the_attribute_that_decided() {
        let source = changed_since::Filtered { fingerprint: Default::default(), skipped: 47 };
        let since = changed_since::ChangedSince { attribute: "updated_at".into(), cutoff: std::time::SystemTime::UNIX_EPOCH };
        assert_eq!(skipped_phrase(&source, &since), "47 items changed since the recovery point (by updated_at), skipped");
    }

    #[test]
    fn tolerance_is_a_share_of_the_source_count() {
        assert!(within_tolerance(1000, 1000, 0));
        assert!(!within_tolerance(1000, 999, 0));
        assert!(within_tolerance(1000, 990, 100));
        assert!(!within_tolerance(1000, 989, 100));
        assert!(within_tolerance(0, 0, 0));
        assert!(!within_tolerance(0, 1, 10_000));
    }

    #[test]
    fn a_key_condition_is_equality_on_each_given_key() {
        let key = BTreeMap::from([("pk".to_string(), KeyValue::String("HOME#1".into())), ("sk".to_string(), KeyValue::Number(3))]);
        let condition = key_condition(&key);
        assert_eq!(condition.expression, "#k0 = :v0 AND #k1 = :v1");
        assert_eq!(condition.names["#k1"], "sk");
        assert_eq!(condition.values[":v1"], AttributeValue::N("3".into()));
    }

    #[test]
    fn the_schema_check_passes_on_equal_shapes_and_names_every_difference() {
        use aws_sdk_dynamodb::types::{AttributeDefinition, KeySchemaElement, KeyType, ScalarAttributeType};
        let key = KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap();
        let attribute = AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap();
        let source = TableDescription::builder().key_schema(key.clone()).attribute_definitions(attribute).build();
        let lines = schema::shape(&source).len() as u64;

        let same = schema_check(&source, &source.clone());
        assert!(same.passed, "{same:?}");
        assert_eq!(same.numbers["compared"], lines);
        assert_eq!(same.numbers["differences"], 0);
        assert!(same.reason.contains(&format!("({lines} items compared)")), "{}", same.reason);

        // The same key, one attribute definition fewer: one line differs.
        let other = TableDescription::builder().key_schema(key).build();
        for (a, b, only_source, only_restore) in [(&source, &other, 1, 0), (&other, &source, 0, 1)] {
            let (left, right) = schema::differences(a, b);
            assert_eq!((left.len(), right.len()), (only_source, only_restore));
            let differs = schema_check(a, b);
            assert!(!differs.passed, "{differs:?}");
            assert_eq!(differs.numbers["differences"], 1);
            assert!(differs.reason.starts_with("source only: [") && differs.reason.contains("]; restore only: ["), "{}", differs.reason);
        }
    }

    #[test]
    fn a_check_that_errored_is_inconclusive_only_when_its_error_is() {
        let transient = DrillError::Transient { action: "Scan".into(), why: "throttled".into() };
        let broken = DrillError::Aws { action: "Scan".into(), why: "no such table".into() };
        assert!(CheckResult::errored("fingerprint", &transient).inconclusive);
        let failed = CheckResult::errored("fingerprint", &broken);
        assert!(!failed.inconclusive && !failed.passed && failed.reason.contains("no such table"), "{failed:?}");
    }

    #[test]
    fn only_item_count_sample_and_fingerprint_compare_with_a_reference() {
        use crate::policy::model::{FingerprintCheck, Percent, SchemaCheck};
        assert!(is_data_check(&Check::ItemCount(ItemCountCheck { tolerance: Percent::default() })));
        assert!(is_data_check(&Check::Fingerprint(FingerprintCheck::Match)));
        assert!(!is_data_check(&Check::Canary(true)));
        assert!(!is_data_check(&Check::Schema(SchemaCheck::MatchSource)));
    }
}
