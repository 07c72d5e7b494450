//! Mutations of the example policies (byte flips, truncations, deleted,
//! repeated and tabbed lines, hostile values in every field): findings,
//! and a hostile schedule or number is refused where it stands.

use super::*;

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
