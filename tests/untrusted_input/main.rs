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

mod arbitrary;
mod bombs;
mod mutations;
mod open_findings;
mod regressions;
mod schedules;

use std::fmt::Debug;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use drctl::policy::{self, Checked, Finding, Input, MAX_FILE_BYTES, Severity};
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
// Inputs and assertions several topics share

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

fn assert_tab_finding(finding: &Finding, line: Option<usize>) {
    assert_eq!(finding.rule, "yaml", "{finding:?}");
    assert!(finding.message.contains("tab"), "{finding:?}");
    assert!(finding.hint.contains("indent with spaces"), "{finding:?}");
    if let Some(line) = line {
        assert_eq!(finding.position.line, line, "{finding:?}");
    }
}

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
