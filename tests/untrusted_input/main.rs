//! Untrusted policy files (issue 2, item 4): whatever bytes a pull request
//! puts in `desired/`, the loader answers with findings, never a panic or a
//! hang, and every finding says where (file, line, column), what and how to
//! fix it.
//!
//! Property tests feed `policy::check` arbitrary bytes and text, YAML token
//! soup, and mutations of the example policies (byte flips, truncations,
//! deleted and repeated lines, tabs, anchors and aliases, deep nesting, long
//! scalars, hostile numbers and wrong types in every field); and
//! `Schedule::parse` random AWS cron and rate expressions. The regression
//! tests pin the finding of each classic hostile file. `fuzz/` runs the same
//! entry points under libFuzzer.
//!
//! Every call runs on a watchdog thread: a call that panics, or does not
//! return within [`BUDGET`], fails the test with its input.

use std::fmt::Debug;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use drctl::policy::{self, Checked, Finding, Input, MAX_FILE_BYTES, Schedule, Severity};
use proptest::prelude::*;
use proptest::test_runner::Config;
use saphyr_parser::{Event, Parser};

const EXAMPLES: [(&str, &str); 3] = [
    ("desired/floor-plans.yaml", include_str!("../../desired/floor-plans.yaml")),
    ("desired/render-jobs.yaml", include_str!("../../desired/render-jobs.yaml")),
    ("desired/spatial-scans.yaml", include_str!("../../desired/spatial-scans.yaml")),
];

/// The most one call may take: 200 ms in release builds. A policy check
/// takes well under a millisecond, the worst 64 KiB file tens of
/// milliseconds; debug builds of the dependencies are many times slower
/// (a 60 KB region name, compared with every known region for a hint, takes
/// over a second), and tests share the cores with each other and with
/// builds, so debug builds get more room: there the budget catches hangs
/// and blow-ups, not milliseconds.
const BUDGET: Duration = if cfg!(debug_assertions) { Duration::from_millis(3000) } else { Duration::from_millis(200) };

/// The file name every generated input is checked under.
const FILE: &str = "desired/untrusted.yaml";

// ---------------------------------------------------------------------------
// Harness

/// Runs `work` on its own thread and returns its result: a panic, or a call
/// that takes longer than [`BUDGET`], fails with `input` in the message.
fn bounded<T: Send + 'static>(input: &dyn Debug, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = mpsc::channel();
    let worker = thread::spawn(move || {
        let start = Instant::now();
        let result = work();
        let _ = send.send((result, start.elapsed()));
    });
    // Generous wait, then the precise check on the time the call measured.
    match receive.recv_timeout(BUDGET * 5) {
        Ok((result, elapsed)) => {
            assert!(elapsed <= BUDGET, "took {elapsed:?}, more than {BUDGET:?}, on {}", abbreviated(input));
            result
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("no answer after {:?} (a hang?) on {}", BUDGET * 5, abbreviated(input)),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let why = worker.join().err().map(|payload| panic_message(&*payload)).unwrap_or_default();
            panic!("panicked ({why}) on {}", abbreviated(input))
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_default()
}

fn abbreviated(input: &dyn Debug) -> String {
    let text = format!("{input:?}");
    if text.chars().count() > 2000 {
        format!("{}… ({} characters)", text.chars().take(2000).collect::<String>(), text.len())
    } else {
        text
    }
}

/// Checks one file's bytes under the budget and asserts every property of
/// the answer that holds for any input. Returns the answer.
fn check_bytes(file: &str, bytes: &[u8]) -> Checked {
    let input = Input { file: file.to_string(), content: Ok(bytes.to_vec()) };
    let shown = String::from_utf8_lossy(bytes).into_owned();
    let checked = bounded(&shown, move || policy::check([input]));
    assert_sound(&checked, file, bytes);
    if let Some(loaded) = checked.policies.first() {
        assert_round_trips(&loaded.policy, &shown);
    }
    checked
}

fn check_text(text: &str) -> Checked {
    check_bytes(FILE, text.as_bytes())
}

/// Every finding names the file, a real position, a message and a hint; a
/// file that did not load has exactly one error finding saying why.
fn assert_sound(checked: &Checked, file: &str, bytes: &[u8]) {
    let lines = last_line(bytes);
    for finding in &checked.findings {
        let Finding { file: found_in, position, rule, message, hint, .. } = finding;
        let context = || format!("{finding:?} on {}", abbreviated(&String::from_utf8_lossy(bytes)));
        assert_eq!(found_in, file, "{}", context());
        assert!(position.line >= 1 && position.column >= 1, "position not 1-based: {}", context());
        assert!(position.line <= lines, "line past the end of the input (line {lines}): {}", context());
        assert!(!rule.is_empty(), "no rule: {}", context());
        assert!(!message.trim().is_empty(), "no message: {}", context());
        assert!(!hint.trim().is_empty(), "no hint: {}", context());
    }
    if checked.policies.is_empty() {
        assert_eq!(checked.findings.len(), 1, "a file that does not load has one finding: {:?}", checked.findings);
        assert_eq!(checked.findings[0].severity, Severity::Error);
    } else {
        assert_eq!(checked.policies.len(), 1);
        assert_eq!(checked.policies[0].file, file);
    }
}

/// The line a finding may point at last: the last line, or the line after
/// it when the file does not end with a line break (the YAML parsers put
/// the end of the input there). `\r\n`, `\r` and `\n` each end a line.
fn last_line(bytes: &[u8]) -> usize {
    let breaks = bytes.iter().enumerate().filter(|(i, b)| **b == b'\n' || (**b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))).count();
    let open_end = !bytes.is_empty() && !bytes.ends_with(b"\n") && !bytes.ends_with(b"\r");
    breaks + 1 + usize::from(open_end)
}

/// A policy that loaded, written back out by the YAML serialiser, loads
/// again to the same content.
fn assert_round_trips(policy: &policy::TablePolicy, source: &str) {
    let text = yaml_serde::to_string(policy).unwrap_or_else(|e| panic!("cannot serialise {policy:?}: {e}"));
    if text.len() > MAX_FILE_BYTES {
        // Escaping can lengthen a file near the limit past it, and the
        // reload would then only be refused by size.
        return;
    }
    let again = policy::load("desired/round-trip.yaml", text.as_bytes())
        .unwrap_or_else(|finding| panic!("re-serialised policy does not load: {finding}\n--- serialised:\n{text}\n--- from:\n{source}"));
    assert_eq!(policy::content_hash(&again.policy), policy::content_hash(policy), "serialised:\n{text}\nfrom:\n{source}");
}

/// The one finding of a file that did not load.
fn refusal(checked: &Checked) -> &Finding {
    assert!(checked.policies.is_empty(), "expected the file to be refused, it loaded; findings: {:?}", checked.findings);
    &checked.findings[0]
}

fn config(cases: u32) -> Config {
    // Failures are pinned as explicit regression tests below, not in a
    // regressions file.
    Config { cases, max_shrink_iters: 2000, failure_persistence: None, ..Config::default() }
}

// ---------------------------------------------------------------------------
// Example policies and their scalars

/// The byte range of every scalar (keys and values) of a YAML text.
fn scalar_spans(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte_at = |index: usize| chars.get(index).map_or(text.len(), |(byte, _)| *byte);
    Parser::new_from_str(text)
        .map(|event| event.expect("the examples are valid YAML"))
        .filter(|(event, _)| matches!(event, Event::Scalar(..)))
        .map(|(_, span)| (byte_at(span.start.index()), byte_at(span.end.index())))
        .collect()
}

/// The examples, each with the byte ranges of its value scalars (the
/// scalars that follow a key; keys themselves are listed apart).
struct Example {
    text: &'static str,
    keys: Vec<(usize, usize)>,
    values: Vec<(usize, usize)>,
}

fn examples() -> Vec<Example> {
    EXAMPLES
        .iter()
        .map(|(_, text)| {
            let (mut keys, mut values) = (Vec::new(), Vec::new());
            for span in scalar_spans(text) {
                // A key is followed by `:`.
                if text[span.1..].starts_with(':') { keys.push(span) } else { values.push(span) }
            }
            Example { text, keys, values }
        })
        .collect()
}

fn splice(text: &str, (start, end): (usize, usize), with: &str) -> String {
    format!("{}{with}{}", &text[..start], &text[end..])
}

/// Literals that replace a value: huge and negative numbers, floats, other
/// YAML types, collections, and strings that look like durations or numbers.
const HOSTILE_VALUES: &[&str] = &[
    "99999999999999999999999",
    "-99999999999999999999999",
    "18446744073709551616",
    "9223372036854775808",
    "-9223372036854775809",
    "4294967296",
    "-1",
    "0",
    "1e400",
    "-1e400",
    ".inf",
    "-.inf",
    ".nan",
    "0x7fffffffffffffffffffffff",
    "0o777777777777777777777777",
    "1.5",
    "true",
    "null",
    "~",
    "\"\"",
    "''",
    "[]",
    "{}",
    "[1, [2, {a: 3}]]",
    "{a: 1, b: [2]}",
    "2001-12-14t21:59:43.10-05:00",
    "\"99999999999999999999999d\"",
    "99999999999999999999999d",
    "999999999999d",
    "0d",
    "100%",
    "99999999999999999999999%",
    "\"cron(0 0 1 * ? *)\"",
    "\"cron(* * * * ? *)\"",
    "\"rate(1 minute)\"",
    "\"rate(999999 days)\"",
    "\"\\0\\x1b[2J\\u202e\"",
    "\"\\uD800\"",
];

// ---------------------------------------------------------------------------
// Arbitrary input

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_are_findings(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        check_bytes(FILE, &bytes);
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_text_is_findings(text in any::<String>()) {
        check_text(&text);
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn yaml_token_soup_is_findings(tokens in prop::collection::vec(yaml_token(), 0..60)) {
        check_text(&tokens.concat());
    }
}

fn yaml_token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "\n", "\n  ", "\n    ", "\n- ", "\n  - ", ": ", ":", "- ", "? ", ", ", "[", "]", "{", "}", "&a ", "*a", "&b ", "*b ",
            "!!str ", "!t ", "---\n", "...\n", "|\n  ", ">\n  ", "\"", "'", "#", "%YAML 1.2\n", "%TAG ! tag:x,2000:\n", "\t",
            "\r\n", "\u{feff}", "\\", "@", "`", " ",
        ]).prop_map(String::from),
        3 => prop::sample::select(vec![
            "apiVersion", "drctl/v1", "kind", "TablePolicy", "metadata", "name", "environment", "prod", "spec", "table", "region",
            "us-east-1", "backup", "schedule", "every", "retention", "copies", "vault", "lock", "objectives", "rpo", "rto",
            "verify", "regions", "checks", "sample", "items", "query", "key", "expect", "notify", "sns_topic", "6h", "35d",
        ]).prop_map(String::from),
        1 => "[a-zA-Z0-9]{1,8}",
        1 => "[0-9]{1,30}",
    ]
}

// ---------------------------------------------------------------------------
// Mutations of the examples

#[derive(Debug, Clone)]
enum Mutation {
    FlipByte { at: usize, mask: u8 },
    InsertByte { at: usize, byte: u8 },
    InsertText { at: usize, text: String },
    DeleteRange { at: usize, len: usize },
    DuplicateLine { line: usize },
    DeleteLine { line: usize },
    SwapLines { a: usize, b: usize },
    TabIndent { line: usize },
    ReplaceValue { value: usize, with: String },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>();
    prop_oneof![
        (any::<prop::sample::Index>(), 1..=255_u8).prop_map(|(at, mask)| Mutation::FlipByte { at: at.index(usize::MAX), mask }),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::InsertByte { at: at.index(usize::MAX), byte }),
        (at, yaml_token()).prop_map(|(at, text)| Mutation::InsertText { at: at.index(usize::MAX), text }),
        (any::<prop::sample::Index>(), 1..40_usize).prop_map(|(at, len)| Mutation::DeleteRange { at: at.index(usize::MAX), len }),
        any::<prop::sample::Index>().prop_map(|i| Mutation::DuplicateLine { line: i.index(usize::MAX) }),
        any::<prop::sample::Index>().prop_map(|i| Mutation::DeleteLine { line: i.index(usize::MAX) }),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| Mutation::SwapLines { a: a.index(usize::MAX), b: b.index(usize::MAX) }),
        any::<prop::sample::Index>().prop_map(|i| Mutation::TabIndent { line: i.index(usize::MAX) }),
        (any::<prop::sample::Index>(), prop::sample::select(HOSTILE_VALUES))
            .prop_map(|(i, with)| Mutation::ReplaceValue { value: i.index(usize::MAX), with: with.to_string() }),
    ]
}

/// Applies `mutation` to `bytes`; positions are taken modulo the length.
fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    let mut lines: Vec<Vec<u8>> = bytes.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let line_count = lines.len().max(1);
    match mutation {
        Mutation::FlipByte { at, mask } => {
            if !bytes.is_empty() {
                bytes[at % len] ^= mask;
            }
        }
        Mutation::InsertByte { at, byte } => bytes.insert(at % (bytes.len() + 1), *byte),
        Mutation::InsertText { at, text } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, text.bytes());
        }
        Mutation::DeleteRange { at, len: count } => {
            let at = at % (bytes.len() + 1);
            bytes.drain(at..(at + count).min(bytes.len()));
        }
        Mutation::DuplicateLine { line } if !lines.is_empty() => {
            let copy = lines[line % line_count].clone();
            lines.insert(line % line_count, copy);
            *bytes = lines.concat();
        }
        Mutation::DeleteLine { line } if !lines.is_empty() => {
            lines.remove(line % line_count);
            *bytes = lines.concat();
        }
        Mutation::SwapLines { a, b } if !lines.is_empty() => {
            lines.swap(a % line_count, b % line_count);
            *bytes = lines.concat();
        }
        Mutation::TabIndent { line } if !lines.is_empty() => {
            let line = &mut lines[line % line_count];
            let indent = line.iter().take_while(|b| **b == b' ').count();
            line.splice(..indent.min(2), [b'\t']);
            *bytes = lines.concat();
        }
        Mutation::ReplaceValue { value, with } => {
            if let Ok(text) = std::str::from_utf8(bytes)
                && let Ok(spans) = std::panic::catch_unwind(|| scalar_spans(text))
                && !spans.is_empty()
            {
                *bytes = splice(text, spans[value % spans.len()], with).into_bytes();
            }
        }
        Mutation::DuplicateLine { .. } | Mutation::DeleteLine { .. } | Mutation::SwapLines { .. } | Mutation::TabIndent { .. } => {}
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mutated_examples_are_findings(
        example in 0..EXAMPLES.len(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = EXAMPLES[example].1.as_bytes().to_vec();
        for mutation in &mutations {
            mutate(&mut bytes, mutation);
        }
        check_bytes(EXAMPLES[example].0, &bytes);
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// A mutated file among the valid examples: the set rules (unique names
    /// and tables) see hostile input too.
    #[test]
    fn mutated_example_among_others_is_findings(
        example in 0..EXAMPLES.len(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = EXAMPLES[example].1.as_bytes().to_vec();
        for mutation in &mutations {
            mutate(&mut bytes, mutation);
        }
        let inputs: Vec<Input> = EXAMPLES
            .iter()
            .map(|(file, text)| (file.to_string(), text.as_bytes().to_vec()))
            .chain([(FILE.to_string(), bytes.clone())])
            .map(|(file, content)| Input { file, content: Ok(content) })
            .collect();
        let checked = bounded(&String::from_utf8_lossy(&bytes), move || policy::check(inputs));
        for finding in &checked.findings {
            prop_assert!(finding.file == FILE || EXAMPLES.iter().any(|(file, _)| *file == finding.file), "{finding:?}");
            prop_assert!(finding.position.line >= 1 && finding.position.column >= 1, "{finding:?}");
            prop_assert!(!finding.message.is_empty() && !finding.hint.is_empty(), "{finding:?}");
        }
    }
}

#[test]
fn examples_load_clean_and_round_trip() {
    let checked =
        policy::check(EXAMPLES.iter().map(|(file, text)| Input { file: file.to_string(), content: Ok(text.as_bytes().to_vec()) }));
    assert!(!checked.has_errors(), "{:?}", checked.findings);
    assert_eq!(checked.policies.len(), EXAMPLES.len());
    for (file, text) in EXAMPLES {
        check_bytes(file, text.as_bytes());
    }
}

#[test]
fn every_truncation_of_the_examples_is_findings() {
    for (file, text) in EXAMPLES {
        for end in 0..text.len() {
            let checked = check_bytes(file, &text.as_bytes()[..end]);
            if end == 0 {
                assert!(refusal(&checked).message.contains("empty"), "{:?}", checked.findings);
            }
        }
    }
}

#[test]
fn every_deleted_duplicated_or_tabbed_line_is_findings() {
    for (file, text) in EXAMPLES {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for index in 0..lines.len() {
            let without: String = lines.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, l)| *l).collect();
            check_bytes(file, without.as_bytes());
            let twice: String = lines.iter().enumerate().flat_map(|(i, l)| if i == index { vec![*l, *l] } else { vec![*l] }).collect();
            let checked = check_bytes(file, twice.as_bytes());
            let line = lines[index].trim();
            if !line.is_empty() && !line.starts_with('#') && !line.starts_with('-') {
                // A repeated `key: value` line is a duplicate key.
                let finding = refusal(&checked);
                assert!(finding.message.contains("duplicate key"), "{finding:?}");
                assert_eq!(finding.position.line, index + 2, "{finding:?}");
            }
            let indent = lines[index].len() - lines[index].trim_start_matches(' ').len();
            if indent > 0 {
                let tabbed: String =
                    lines.iter().enumerate().map(|(i, l)| if i == index { format!("\t{}", &l[indent..]) } else { l.to_string() }).collect();
                let finding = refusal(&check_bytes(file, tabbed.as_bytes())).clone();
                // The line: see `a_tab_after_a_value_is_reported_on_its_own_line`.
                assert_tab_finding(&finding, None);
            }
        }
    }
}

fn assert_tab_finding(finding: &Finding, line: Option<usize>) {
    assert_eq!(finding.rule, "yaml", "{finding:?}");
    assert!(finding.message.contains("tab"), "{finding:?}");
    assert!(finding.hint.contains("indent with spaces"), "{finding:?}");
    if let Some(line) = line {
        assert_eq!(finding.position.line, line, "{finding:?}");
    }
}

/// The hostile literals that stand for the others in the exhaustive pass
/// (every one of them goes anywhere in `mutated_examples_are_findings`).
const EVERY_FIELD_VALUES: &[&str] = &[
    "99999999999999999999999",
    "-99999999999999999999999",
    "18446744073709551616",
    "1e400",
    ".nan",
    "true",
    "null",
    "\"\"",
    "[]",
    "{a: [1]}",
    "99999999999999999999999d",
    "\"\\0\\x1b[2J\"",
];
const EVERY_KEY_VALUES: &[&str] = &["99999999999999999999999", "\"\"", "[]", "{a: 1}", "apiVersion"];

/// Hostile literals in place of every scalar of every example: huge
/// numbers in the numeric fields, wrong types everywhere, keys included.
#[test]
fn hostile_values_in_every_field_are_findings() {
    for (example, (file, _)) in examples().iter().zip(EXAMPLES) {
        for (spans, literals) in [(&example.values, EVERY_FIELD_VALUES), (&example.keys, EVERY_KEY_VALUES)] {
            for span in spans {
                for literal in literals {
                    check_bytes(file, splice(example.text, *span, literal).as_bytes());
                }
            }
        }
    }
}

/// A hostile literal in place of a schedule is refused, and the finding
/// points at the schedule's line (not merely a well-formed answer: an
/// accepted hostile schedule fails this test).
#[test]
fn every_hostile_schedule_is_an_error_on_the_schedules_line() {
    let mut checked_schedules = 0;
    for (example, (file, _)) in examples().iter().zip(EXAMPLES) {
        let Some(span) = example.values.iter().find(|(start, _)| example.text[..*start].ends_with("schedule: ")) else { continue };
        let line = example.text[..span.0].lines().count();
        for literal in HOSTILE_VALUES {
            let checked = check_bytes(file, splice(example.text, *span, literal).as_bytes());
            let errors: Vec<&Finding> = checked.findings.iter().filter(|f| f.severity == Severity::Error).collect();
            assert!(!errors.is_empty(), "schedule {literal} was accepted in {file}");
            assert!(errors.iter().any(|f| f.position.line == line), "schedule {literal} in {file}: not on line {line}: {errors:#?}");
        }
        checked_schedules += 1;
    }
    assert_eq!(checked_schedules, 2, "both examples with a schedule");
}

/// The fields that hold numbers refuse numbers they cannot hold. (Where:
/// see `a_bad_duration_is_reported_on_its_own_line`.)
#[test]
fn huge_numbers_in_numeric_fields_are_refused() {
    let example = &examples()[2]; // spatial-scans: every kind of field
    let numeric = ["200", "1", "1%", "35d", "8h", "1h", "4h", "90d", "7d", "400d"];
    for span in &example.values {
        let value = &example.text[span.0..span.1];
        if !numeric.contains(&value) {
            continue;
        }
        for huge in ["99999999999999999999999", "-1", "1e400", "99999999999999999999999d", "99999999999999999999999%"] {
            let text = splice(example.text, *span, huge);
            let checked = check_text(&text);
            let error = checked.findings.iter().find(|f| f.is_error());
            let error = error.unwrap_or_else(|| panic!("`{value}` → `{huge}` was accepted"));
            assert!(matches!(error.rule, "schema" | "check-sample"), "`{value}` → `{huge}`: {error:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Alias bombs, nesting, long scalars

/// The billion laughs: nine levels of nine aliases of the level below.
fn billion_laughs(levels: usize, width: usize) -> String {
    let mut text = String::from("apiVersion: drctl/v1\nkind: TablePolicy\na0: &a0 [\"lol\"]\n");
    for level in 1..levels {
        let refs = vec![format!("*a{}", level - 1); width].join(", ");
        text += &format!("a{level}: &a{level} [{refs}]\n");
    }
    text += &format!("metadata: *a{}\n", levels - 1);
    text
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn alias_bombs_are_refused(levels in 2..30_usize, width in 1..30_usize) {
        let finding = refusal(&check_text(&billion_laughs(levels, width))).clone();
        prop_assert!(finding.message.contains("anchors are not allowed"), "{finding:?}");
        prop_assert_eq!(finding.position.line, 3);
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// An anchor on one value of an example and an alias in place of
    /// another: refused at the first of the two.
    #[test]
    fn anchors_and_aliases_in_the_examples_are_refused(
        example in 0..EXAMPLES.len(),
        anchored in any::<prop::sample::Index>(),
        aliased in any::<prop::sample::Index>(),
        name in "[a-z]{1,8}",
    ) {
        let examples = examples();
        let example = &examples[example];
        let (a, b) = (anchored.index(example.values.len()), aliased.index(example.values.len()));
        let (first, second) = (a.min(b), a.max(b));
        // Edit from the end so the earlier span stays valid.
        let mut text = example.text.to_string();
        if first != second {
            text = splice(&text, example.values[second], &format!("*{name}"));
        }
        let (start, end) = example.values[first];
        text = splice(&text, example.values[first], &format!("&{name} {}", &example.text[start..end]));
        let finding = refusal(&check_text(&text)).clone();
        prop_assert!(finding.message.contains("anchors are not allowed"), "{finding:?}\n{text}");
        prop_assert_eq!(finding.position.line, example.text[..start].matches('\n').count() + 1);
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn deep_nesting_is_refused(openers in prop::collection::vec(prop::bool::ANY, 1..400), inner in "[a-z0-9]{1,5}") {
        let open: String = openers.iter().map(|is_map| if *is_map { "{k: " } else { "[" }).collect();
        let close: String = openers.iter().rev().map(|is_map| if *is_map { "}" } else { "]" }).collect();
        let text = EXAMPLES[1].1.replace("retention: 14d", &format!("retention: {open}{inner}{close}"));
        let checked = check_text(&text);
        // spec.backup.retention is three levels down: root, spec, backup.
        if openers.len() + 3 > 16 {
            let finding = refusal(&checked);
            // Past 255 flow levels the scanner, which reads a flow
            // collection ahead to find its keys, stops first.
            prop_assert!(
                finding.message == "nesting deeper than 16 levels"
                    || (openers.len() > 250 && finding.message == "invalid YAML: recursion limit exceeded"),
                "{finding:?}"
            );
        } else {
            prop_assert!(checked.has_errors());
        }
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// Nested block sequences and mappings, one level per line.
    #[test]
    fn deep_block_nesting_is_refused(depth in 1..200_usize, maps in prop::bool::ANY) {
        let mut text = String::from("apiVersion: drctl/v1\nspec:\n");
        for level in 1..=depth {
            let indent = "  ".repeat(level);
            text += &if maps { format!("{indent}k{level}:\n") } else { format!("{indent}-\n") };
        }
        text += &format!("{}x\n", "  ".repeat(depth + 1));
        let checked = check_text(&text);
        // The root mapping and `depth` more: the 16th starts on line 18.
        let finding = refusal(&checked);
        if depth + 1 > 16 {
            prop_assert_eq!(&finding.message, "nesting deeper than 16 levels");
            prop_assert_eq!(finding.position.line, 18);
        } else {
            prop_assert_eq!(finding.rule, "schema");
        }
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// A value, or a key, thousands of characters long.
    #[test]
    fn long_scalars_are_findings(
        example in 0..EXAMPLES.len(),
        target in any::<prop::sample::Index>(),
        key in prop::bool::ANY,
        unit in prop::sample::select(vec!["a", "é", "🦀", "9", "# ", "\\u0041", "\\\"", "x y", "\u{202e}"]),
        quoted in prop::bool::ANY,
        len in 1000..80_000_usize,
    ) {
        let examples = examples();
        let example = &examples[example];
        let spans = if key { &example.keys } else { &example.values };
        let span = spans[target.index(spans.len())];
        let long = unit.repeat(len / unit.len().max(1));
        let long = if quoted { format!("\"{long}\"") } else { long };
        let text = splice(example.text, span, &long);
        let checked = check_text(&text);
        if text.len() > MAX_FILE_BYTES {
            prop_assert_eq!(refusal(&checked).rule, "size");
        }
    }
}

proptest! {
    #![proptest_config(config(24))]

    /// Many keys, many list entries, long flow lists: the node limit and
    /// the size limit hold the work down.
    #[test]
    fn wide_documents_are_findings(magnitude in 0..5_u32, entries in 1..10_usize, flow in prop::bool::ANY) {
        let entries = entries * 3_usize.pow(magnitude * 2); // 1 to 59049
        let list = if flow {
            format!("[{}]", vec!["us-east-1"; entries].join(","))
        } else {
            (0..entries).map(|_| "\n      - us-east-1").collect::<String>()
        };
        let text = EXAMPLES[2].1.replace("[us-east-1, us-west-2]", &list);
        let checked = check_text(&text);
        if text.len() > MAX_FILE_BYTES {
            prop_assert_eq!(refusal(&checked).rule, "size");
        } else if entries > 1 {
            prop_assert!(checked.has_errors());
        }
    }
}

// ---------------------------------------------------------------------------
// Schedules

const NAMES: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT",
    "jan", "Dec", "sun", "sAt", "JANUARY", "MONDAY",
];

fn cron_number() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0..64_u32).prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec![
            "", "00", "007", "-1", "+1", "1.5", "64", "65535", "65536", "99999", "1970", "2199", "2200", "0x10", "99999999999999999999999",
            "١", "５",
        ]).prop_map(String::from),
        2 => prop::sample::select(NAMES).prop_map(String::from),
    ]
}

fn cron_atom() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["*", "?", "L", "LW", "W", "#", "/", "-", ",", "L-2", "*/", "?/2"]).prop_map(String::from),
        5 => cron_number(),
        3 => (cron_number(), cron_number()).prop_map(|(a, b)| format!("{a}-{b}")),
        2 => (cron_number(), cron_number()).prop_map(|(a, s)| format!("{a}/{s}")),
        2 => cron_number().prop_map(|s| format!("*/{s}")),
        2 => (cron_number(), cron_number(), cron_number()).prop_map(|(a, b, s)| format!("{a}-{b}/{s}")),
        1 => cron_number().prop_map(|n| format!("{n}W")),
        1 => cron_number().prop_map(|n| format!("{n}L")),
        1 => (cron_number(), cron_number()).prop_map(|(d, n)| format!("{d}#{n}")),
    ]
}

fn cron_field() -> impl Strategy<Value = String> {
    prop::collection::vec(cron_atom(), 1..4).prop_map(|atoms| atoms.join(","))
}

/// Mostly well-shaped: six fields, one day field `?`, year `*`; sometimes
/// any number of random fields.
fn cron_expression() -> impl Strategy<Value = String> {
    let shaped = (cron_field(), cron_field(), cron_field(), cron_field(), cron_field(), 0..3_u8).prop_map(
        |(minutes, hours, day, month, weekday, which)| match which {
            0 => format!("cron({minutes} {hours} {day} {month} ? *)"),
            1 => format!("cron({minutes} {hours} ? {month} {weekday} *)"),
            _ => format!("cron({minutes} {hours} {day} {month} {weekday} *)"),
        },
    );
    let loose = (prop::collection::vec(cron_field(), 0..9), prop::sample::select(vec![" ", "  ", "\t", "\n", " \u{a0}"]))
        .prop_map(|(fields, space)| format!("cron({})", fields.join(space)));
    let rate = (cron_number(), prop::sample::select(vec!["minute", "minutes", "hour", "hours", "day", "days", "week", "", " hours"]))
        .prop_map(|(n, unit)| format!("rate({n} {unit})"));
    prop_oneof![6 => shaped, 2 => loose, 1 => rate, 1 => ".{0,40}"]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn random_schedules_parse_or_explain(expression in cron_expression()) {
        let text = expression.clone();
        let parsed = bounded(&expression, move || Schedule::parse(&text));
        match parsed {
            Ok(schedule) => {
                prop_assert!(schedule.min_gap().minutes() >= 1, "{expression}: min gap {}", schedule.min_gap());
                prop_assert!(schedule.min_gap() <= schedule.max_gap(), "{expression}");
                // The calendar walk covers 28 years; no gap can be longer.
                prop_assert!(schedule.max_gap().minutes() <= 28 * 366 * 24 * 60 || expression.starts_with("rate("), "{expression}");
                prop_assert_eq!(schedule.expression(), expression.trim());
                prop_assert_eq!(Schedule::parse(schedule.expression()), Ok(schedule.clone()));
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// The same expressions inside a policy: a finding at the schedule line.
    #[test]
    fn random_schedules_in_a_policy_are_findings(expression in cron_expression()) {
        let quoted = format!("\"{}\"", expression.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\t', "\\t"));
        let text = EXAMPLES[1].1.replace("\"cron(30 2 ? * MON-FRI *)\"", &quoted);
        check_text(&text);
    }
}

#[test]
fn schedule_fields_with_hostile_numbers_are_errors() {
    for huge in ["99999999999999999999999", "18446744073709551616", "65536", "4294967296", "-1", "1e400"] {
        for expression in [
            format!("cron({huge} 0 * * ? *)"),
            format!("cron(0 {huge} * * ? *)"),
            format!("cron(0 0 {huge} * ? *)"),
            format!("cron(0 0 {huge}W * ? *)"),
            format!("cron(0 0 * {huge} ? *)"),
            format!("cron(0 0 ? * {huge} *)"),
            format!("cron(0 0 ? * {huge}#1 *)"),
            format!("cron(0 0 ? * 1#{huge} *)"),
            format!("cron(0 0 ? * {huge}L *)"),
            format!("cron(0 0 * * ? {huge})"),
            format!("cron(0/{huge} 0 * * ? *)"),
            format!("cron(0-{huge} 0 * * ? *)"),
        ] {
            let text = expression.clone();
            let parsed = bounded(&expression, move || Schedule::parse(&text));
            assert!(parsed.is_err(), "{expression} parsed: {parsed:?}");
        }
    }
    // `rate(65536 hours)` is a (long) rate; the RPO rules judge it.
    for huge in ["99999999999999999999999", "18446744073709551616", "4294967296", "1000000", "-1", "1e400", "0"] {
        assert!(Schedule::parse(&format!("rate({huge} hours)")).is_err(), "{huge}");
    }
}

// ---------------------------------------------------------------------------
// Regressions: the classic hostile files, each with its own finding

#[test]
fn billion_laughs_is_refused_at_its_first_anchor() {
    let text = billion_laughs(10, 10);
    let started = Instant::now();
    let finding = refusal(&check_text(&text)).clone();
    assert!(started.elapsed() < BUDGET);
    assert_eq!(finding.rule, "yaml");
    assert_eq!(finding.message, "YAML anchors are not allowed in policies");
    assert!(finding.hint.contains("write values out in full"), "{finding:?}");
    assert_eq!((finding.position.line, finding.position.column), (3, 5));
}

#[test]
fn a_lone_alias_is_refused() {
    // No anchor to trip on first: the alias itself, or the parser's
    // unknown-anchor error, is the finding.
    let text = EXAMPLES[1].1.replace("retention: 14d", "retention: *lol");
    let finding = refusal(&check_text(&text)).clone();
    assert_eq!(finding.rule, "yaml");
    assert!(finding.message.contains("alias") || finding.message.contains("anchor"), "{finding:?}");
    assert_eq!(finding.position.line, 13, "{finding:?}");
}

#[test]
fn a_ten_megabyte_file_is_refused_by_size() {
    let mut text = EXAMPLES[2].1.to_string();
    text += &format!("# {}\n", "x".repeat(10 * 1024 * 1024));
    let finding = refusal(&check_text(&text)).clone();
    assert_eq!(finding.rule, "size");
    assert_eq!(finding.message, format!("the file has {} bytes, more than the 65536 a policy may have", text.len()));
    assert!(finding.hint.contains("split or trim"), "{finding:?}");
    assert_eq!((finding.position.line, finding.position.column), (1, 1));
}

#[test]
fn the_size_limit_is_exact() {
    let padded = |len: usize| {
        let mut text = EXAMPLES[2].1.to_string();
        let comment = len - text.len() - 3;
        text += &format!("#{}\n", "x".repeat(comment));
        text += "\n";
        assert_eq!(text.len(), len);
        text
    };
    let at_limit = check_text(&padded(MAX_FILE_BYTES));
    assert_eq!(at_limit.policies.len(), 1, "{:?}", at_limit.findings);
    assert_eq!(refusal(&check_text(&padded(MAX_FILE_BYTES + 1))).rule, "size");
}

#[test]
fn an_empty_file_is_refused_as_empty() {
    for text in ["", "\n\n", "   \n", "# only a comment\n", "\u{feff}"] {
        let finding = refusal(&check_text(text)).clone();
        assert_eq!(finding.rule, "yaml", "{text:?}");
        assert_eq!(finding.message, "the policy file is empty", "{text:?}");
        assert!(finding.hint.contains("apiVersion: drctl/v1"), "{finding:?}");
    }
}

#[test]
fn a_file_of_nul_bytes_is_refused() {
    let finding = refusal(&check_bytes(FILE, &[0; 4096])).clone();
    assert_eq!(finding.rule, "yaml");
    assert!(finding.message.starts_with("invalid YAML: "), "{finding:?}");
    assert_eq!((finding.position.line, finding.position.column), (1, 1));
}

#[test]
fn a_utf16_file_is_refused_as_not_utf8() {
    let utf16 = |big_endian: bool| -> Vec<u8> {
        let bom: u16 = 0xfeff;
        std::iter::once(bom)
            .chain(EXAMPLES[1].1.encode_utf16())
            .flat_map(|unit| if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() })
            .collect()
    };
    for big_endian in [false, true] {
        let finding = refusal(&check_bytes(FILE, &utf16(big_endian))).clone();
        assert_eq!(finding.rule, "encoding");
        assert_eq!(finding.message, "the file is not UTF-8 text");
        assert!(finding.hint.contains("save the policy as UTF-8"), "{finding:?}");
        assert_eq!((finding.position.line, finding.position.column), (1, 1));
    }
}

#[test]
fn utf16_without_a_byte_order_mark_is_refused() {
    // UTF-16 of ASCII text without a BOM is valid UTF-8, full of NULs.
    let bytes: Vec<u8> = EXAMPLES[1].1.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let finding = refusal(&check_bytes(FILE, &bytes)).clone();
    assert_eq!(finding.rule, "yaml");
    assert!(finding.message.starts_with("invalid YAML: "), "{finding:?}");
}

#[test]
fn binary_garbage_is_refused_as_not_utf8_where_it_starts() {
    let mut bytes = EXAMPLES[1].1.as_bytes().to_vec();
    let at = EXAMPLES[1].1.find("retention").unwrap();
    bytes.splice(at..at, [0xff, 0xfe, 0x00, 0x89, b'P', b'N', b'G']);
    let finding = refusal(&check_bytes(FILE, &bytes)).clone();
    assert_eq!(finding.rule, "encoding");
    assert_eq!((finding.position.line, finding.position.column), (13, 5));
}

#[test]
fn a_tab_indented_file_is_refused_with_the_tab_hint() {
    let text = EXAMPLES[1].1.replace("\n  table:", "\n\ttable:");
    let finding = refusal(&check_text(&text)).clone();
    assert_tab_finding(&finding, Some(9));
}

#[test]
fn a_multi_document_file_is_refused() {
    for text in [format!("{}---\n{}", EXAMPLES[0].1, EXAMPLES[1].1), format!("---\n{}---\n", EXAMPLES[0].1)] {
        let finding = refusal(&check_text(&text)).clone();
        assert_eq!(finding.rule, "yaml");
        assert_eq!(finding.message, "more than one YAML document in the file");
        assert!(finding.hint.contains("its own file"), "{finding:?}");
    }
}

#[test]
fn a_utf8_byte_order_mark_and_crlf_line_ends_are_accepted() {
    let text = format!("\u{feff}{}", EXAMPLES[2].1.replace('\n', "\r\n"));
    let checked = check_text(&text);
    assert!(!checked.has_errors(), "{:?}", checked.findings);
    let plain = check_text(EXAMPLES[2].1);
    assert_eq!(policy::content_hash(&checked.policies[0].policy), policy::content_hash(&plain.policies[0].policy));
}

#[test]
fn a_scalar_document_is_refused_as_not_a_mapping() {
    for text in ["just text\n", "42\n", "- a\n- b\n", "[apiVersion, drctl/v1]\n", "\"apiVersion: drctl/v1\"\n"] {
        let finding = refusal(&check_text(text)).clone();
        assert_eq!(finding.message, "a policy file must be a mapping at the top level", "{text:?}");
    }
}

// ---------------------------------------------------------------------------
// Open findings: reproducers that fail until src/ is fixed

/// A duration (or percentage) that its own parser refuses, in a block
/// mapping, is reported at the first key of that mapping, not at its own
/// line: the error is raised after the scalar was read, so yaml_serde puts
/// it at the enclosing mapping (`spec.backup: `0d` ...` at `schedule:`).
#[test]
fn a_bad_duration_is_reported_on_its_own_line() {
    // spatial-scans: (field as written, its line, the column of its value)
    let fields = [
        ("start_window: 1h", 14, 19),
        ("completion_window: 4h", 15, 24),
        ("retention: 35d", 16, 16),
        ("retention: 90d", 20, 20),
        ("rto: 1h", 26, 10),
    ];
    let mut wrong = Vec::new();
    for (field, line, column) in fields {
        let key = field.split_once(": ").unwrap().0;
        for bad in ["0d", "99999999999999999999999d", "99999999999999999999999", "6 h"] {
            let text = EXAMPLES[2].1.replacen(field, &format!("{key}: {bad}"), 1);
            let finding = refusal(&check_text(&text)).clone();
            assert_eq!(finding.rule, "schema", "{finding:?}");
            if (finding.position.line, finding.position.column) != (line, column) {
                wrong.push(format!(
                    "`{key}: {bad}` on {line}:{column} reported at {}:{}: {}",
                    finding.position.line, finding.position.column, finding.message
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {} reported elsewhere:\n{}", wrong.len(), fields.len() * 4, wrong.join("\n"));
}

/// The smallest file that shows it.
#[test]
fn a_bad_duration_is_reported_on_its_own_line_minimal() {
    let text = "apiVersion: drctl/v1\nkind: TablePolicy\nmetadata: {name: x, environment: dev}\nspec:\n  table: Tab\n  region: us-east-1\n  backup:\n    every: 6h\n    retention: 0d\n";
    let finding = refusal(&check_text(text)).clone();
    assert_eq!(finding.message, "spec.backup: a duration must be longer than zero, not `0d`");
    assert_eq!((finding.position.line, finding.position.column), (9, 16), "{finding:?}");
}

/// A tab that indents the line after a `key: value` line is reported at
/// the value on the line before ("while scanning a plain scalar, found a
/// tab"), where the reviewer finds no tab.
#[test]
fn a_tab_after_a_value_is_reported_on_its_own_line() {
    let text = "apiVersion: drctl/v1\nkind: TablePolicy\nmetadata:\n  name: x\n\tenvironment: dev\n";
    let finding = refusal(&check_text(text)).clone();
    assert_tab_finding(&finding, None);
    assert_eq!((finding.position.line, finding.position.column), (5, 1), "{finding:?}");
}

/// Text from the file reaches finding messages raw: an unknown key or
/// variant, a duration, a percentage or a schedule carrying escape
/// sequences or line breaks is echoed as is, and `drctl validate` prints
/// findings to the reviewer's terminal and the CI log unfiltered (elsewhere
/// `names::shown` strips control characters for exactly this reason).
#[test]
fn hostile_text_in_findings_is_shown_without_control_characters() {
    let cases = [
        ("  table: SpatialScans", "  \"tab\\e[2Jle\": SpatialScans"),
        ("environment: prod", "environment: \"pr\\e[2Jod\""),
        ("retention: 35d", "retention: \"3\\e[2J5d\""),
        ("tolerance: 1%", "tolerance: \"\\e[2J%\""),
        ("schema: match-source", "\"sch\\e[2Jema\": match-source"),
        ("schedule: \"cron(0 */6 * * ? *)\"", "schedule: \"\\e]0;pwned\\a\""),
        ("schedule: \"cron(0 */6 * * ? *)\"", "schedule: \"cron(\\e]0;pwned\\a0 */6 * * ? *)\""),
        ("environment: prod", "environment: \"x\\ndesired/other.yaml:1:1: error: forged\""),
    ];
    let mut raw = Vec::new();
    for (from, to) in cases {
        let text = EXAMPLES[2].1.replacen(from, to, 1);
        for finding in check_text(&text).findings {
            if finding.message.chars().chain(finding.hint.chars()).any(char::is_control) {
                raw.push(format!("{to}\n    → {:?}", finding.message));
            }
        }
    }
    assert!(raw.is_empty(), "{} of {} findings carry control characters:\n{}", raw.len(), cases.len(), raw.join("\n"));
}
