//! Arbitrary bytes, arbitrary text and YAML token soup: findings, never
//! a panic or a hang.

use super::*;

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
