//! The policy loader on arbitrary bytes: `policy::check` on the input as a
//! policy file, `Schedule::parse` on the input as text.
//!
//! Beyond "no panic, no hang" (libFuzzer's `-timeout`), it asserts what
//! `tests/untrusted_input/` asserts: every finding names the file, a
//! 1-based position, a message and a hint; a file that did not load has one
//! error finding; a loaded policy written back out loads to the same
//! content hash; a parsed schedule has sane gaps.

#![no_main]

use drctl::policy::{self, Input, MAX_FILE_BYTES, Schedule, Severity};
use libfuzzer_sys::fuzz_target;

const FILE: &str = "desired/fuzz.yaml";

fuzz_target!(|data: &[u8]| {
    let checked = policy::check([Input { file: FILE.to_string(), content: Ok(data.to_vec()) }]);
    for finding in &checked.findings {
        assert_eq!(finding.file, FILE, "{finding:?}");
        assert!(finding.position.line >= 1 && finding.position.column >= 1, "{finding:?}");
        assert!(!finding.message.trim().is_empty() && !finding.hint.trim().is_empty(), "{finding:?}");
    }
    match checked.policies.first() {
        None => {
            assert_eq!(checked.findings.len(), 1, "{:?}", checked.findings);
            assert_eq!(checked.findings[0].severity, Severity::Error);
        }
        Some(loaded) => {
            let text = yaml_serde::to_string(&loaded.policy).expect("a loaded policy serialises");
            if text.len() <= MAX_FILE_BYTES {
                let again = policy::load("desired/round-trip.yaml", text.as_bytes())
                    .unwrap_or_else(|finding| panic!("re-serialised policy does not load: {finding}\n{text}"));
                assert_eq!(policy::content_hash(&again.policy), policy::content_hash(&loaded.policy), "{text}");
            }
        }
    }

    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(schedule) = Schedule::parse(text)
    {
        assert!(schedule.min_gap().minutes() >= 1, "{text:?}");
        assert!(schedule.min_gap() <= schedule.max_gap(), "{text:?}");
        assert_eq!(schedule.expression(), text.trim());
    }
});
