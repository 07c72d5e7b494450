//! Open findings: reproducers that fail until src/ is fixed.

use super::*;

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
