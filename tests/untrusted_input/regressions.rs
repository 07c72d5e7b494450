//! Regressions: the classic hostile files, each with its own finding.

use super::*;

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
