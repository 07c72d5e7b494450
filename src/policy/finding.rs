//! A finding: one problem in one policy file, at a line and column, with a
//! one-line hint that says how to fix it.

use std::fmt;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// A 1-based line and column in a policy file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    pub const START: Position = Position { line: 1, column: 1 };
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub file: String,
    #[serde(flatten)]
    pub position: Position,
    pub severity: Severity,
    /// A stable identifier of the rule, for suppressions and tests.
    pub rule: &'static str,
    pub message: String,
    pub hint: String,
}

impl Finding {
    pub fn error(file: &str, position: Position, rule: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            file: printable(file),
            position,
            severity: Severity::Error,
            rule,
            message: printable(&message.into()),
            hint: printable(&hint.into()),
        }
    }

    pub fn warning(file: &str, position: Position, rule: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(file, position, rule, message, hint) }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}\n  hint: {}",
            self.file, self.position.line, self.position.column, self.severity, self.message, self.hint
        )
    }
}

/// Text from an untrusted file reaches findings (an unknown key, a bad
/// value): control characters are shown as `?` so that a policy cannot
/// forge lines or drive the reviewer's terminal.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// Files in path order, then positions, errors before warnings: the order a
/// reader walks a pull request in.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| (&a.file, a.position, a.severity, a.rule).cmp(&(&b.file, b.position, b.severity, b.rule)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_reads_as_a_compiler_message_with_its_hint() {
        let at = Position { line: 12, column: 19 };
        let error = Finding::error("desired/a.yaml", at, "start-window", "too short", "set 1h");
        assert_eq!(error.to_string(), "desired/a.yaml:12:19: error: too short\n  hint: set 1h");
        let warning = Finding::warning("desired/a.yaml", at, "live-source", "live\u{1b}[2J", "pin it");
        assert_eq!(warning.to_string(), "desired/a.yaml:12:19: warning: live?[2J\n  hint: pin it", "control characters shown as ?");
    }

    #[test]
    fn findings_sort_by_file_then_position_errors_first() {
        let at = |line| Position { line, column: 1 };
        let mut findings = vec![
            Finding::warning("b.yaml", at(1), "r", "w", "h"),
            Finding::warning("a.yaml", at(2), "r", "w", "h"),
            Finding::error("a.yaml", at(2), "r", "e", "h"),
            Finding::error("a.yaml", at(1), "r", "e", "h"),
        ];
        sort(&mut findings);
        let order: Vec<String> = findings.iter().map(|f| format!("{}:{}:{}", f.file, f.position.line, f.severity)).collect();
        assert_eq!(order, ["a.yaml:1:error", "a.yaml:2:error", "a.yaml:2:warning", "b.yaml:1:warning"]);
    }
}
