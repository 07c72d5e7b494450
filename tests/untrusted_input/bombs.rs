//! Alias bombs, anchors and aliases, deep flow and block nesting, long
//! scalars and wide documents: refused or findings within the budget.

use super::*;

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
