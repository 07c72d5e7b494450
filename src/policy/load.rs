//! Turning the bytes of one untrusted policy file into a typed policy, or
//! into one finding that says where and why it could not be.

use super::finding::{Finding, Position};
use super::model::TablePolicy;
use super::spans::{self, Spans};

/// A policy is a few dozen lines; anything past this is refused unread.
pub const MAX_FILE_BYTES: usize = 64 * 1024;

/// A policy that parsed, with the positions of its values.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    pub file: String,
    pub policy: TablePolicy,
    pub spans: Spans,
}

/// Parses one policy file. Never panics; the error is a finding.
pub fn load(file: &str, bytes: &[u8]) -> Result<LoadedPolicy, Finding> {
    let (policy, spans) = parse::<TablePolicy>(file, bytes)?;
    Ok(LoadedPolicy { file: file.to_string(), policy, spans })
}

/// Parses one untrusted YAML document of `desired/` (a policy, the
/// guardrails) under the same limits: size, UTF-8, no aliases or tags, a
/// bounded depth and node count. Never panics; the error is a finding.
pub fn parse<T: serde::de::DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<(T, Spans), Finding> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(file, bytes.len() as u64));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| not_utf8(file, bytes, e.valid_up_to()))?;
    let spans = spans::index(text).map_err(|e| Finding::error(file, e.position, "yaml", e.message, e.hint))?;
    let value = yaml_serde::from_str::<T>(text).map_err(|e| schema_error(file, &e, &spans))?;
    Ok((value, spans))
}

/// A value refused by its own parser (a duration, a percentage) is
/// reported by yaml_serde at the mapping around it; its message names the
/// mapping's path and quotes the value, which finds the value's own line.
fn refused_value_position(message: &str, spans: &Spans) -> Option<Position> {
    let (path, rest) = message.split_once(": ")?;
    if path.contains(' ') || rest.starts_with("unknown field") || rest.starts_with("missing field") {
        return None;
    }
    let quoted = rest.split('`').nth(1)?;
    spans.scalar(path, quoted)
}

pub fn too_large(file: &str, size: u64) -> Finding {
    Finding::error(
        file,
        Position::START,
        "size",
        format!("the file has {size} bytes, more than the {MAX_FILE_BYTES} a policy may have"),
        "a policy is a few dozen lines: split or trim this file",
    )
}

fn not_utf8(file: &str, bytes: &[u8], valid_up_to: usize) -> Finding {
    let before = &bytes[..valid_up_to];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    Finding::error(
        file,
        Position { line, column },
        "encoding",
        "the file is not UTF-8 text",
        "save the policy as UTF-8 text; binary content is not a policy",
    )
}

fn schema_error(file: &str, error: &yaml_serde::Error, spans: &Spans) -> Finding {
    let message = error.to_string();
    // yaml_serde appends " at line L column C": the position is already in front.
    let message = message.split(" at line ").next().unwrap_or(&message).to_string();
    let position = refused_value_position(&message, spans)
        .or_else(|| error.location().map(|l| Position { line: l.line(), column: l.column() }))
        .unwrap_or(Position::START);
    let hint = if message.contains("unknown field") {
        "remove the field or fix its spelling; the fields allowed here are listed above"
    } else if message.contains("missing field") {
        "add the field; schema/drctl-v1.json lists every field"
    } else if message.contains("unknown variant") {
        "use one of the values listed above"
    } else if message.contains("invalid type") {
        "give the field a value of the type named above"
    } else {
        "see schema/drctl-v1.json for the policy format"
    };
    Finding::error(file, position, "schema", message, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCANS: &str = include_str!("../../desired/spatial-scans.yaml");

    #[test]
    fn a_file_of_exactly_the_limit_is_read_and_one_byte_more_is_refused() {
        let padded = format!("{SCANS}{}", "#".repeat(MAX_FILE_BYTES - SCANS.len()));
        assert_eq!(padded.len(), MAX_FILE_BYTES);
        assert!(load("desired/a.yaml", padded.as_bytes()).is_ok(), "a comment-padded policy at the limit");
        let over = format!("{padded}#");
        let finding = load("desired/a.yaml", over.as_bytes()).unwrap_err();
        assert_eq!((finding.rule, finding.position), ("size", Position::START));
        assert!(finding.message.contains(&format!("{} bytes", MAX_FILE_BYTES + 1)), "{}", finding.message);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_placed_at_their_line_and_character() {
        let bytes = b"apiVersion: drctl/v1\nkind: T\xc3\xa9\xffPolicy\n";
        let finding = load("desired/a.yaml", bytes).unwrap_err();
        assert_eq!((finding.rule, finding.position), ("encoding", Position { line: 2, column: 9 }), "{finding:?}");
        let first = load("desired/a.yaml", b"\xff").unwrap_err();
        assert_eq!(first.position, Position { line: 1, column: 1 });
    }

    /// A value its own parser refuses (a duration) is placed at the value,
    /// not at the mapping yaml_serde names; an unknown or missing field keeps
    /// yaml_serde's position.
    #[test]
    fn a_refused_value_is_placed_at_the_value_itself() {
        let bad = SCANS.replace("retention: 35d", "retention: 35x");
        let finding = load("desired/a.yaml", bad.as_bytes()).unwrap_err();
        let line = bad.lines().position(|l| l.contains("retention: 35x")).unwrap() + 1;
        let column = bad.lines().nth(line - 1).unwrap().find("35x").unwrap() + 1;
        assert_eq!(finding.position, Position { line, column }, "{finding:?}");
        let unknown = SCANS.replace("retention: 35d", "retention: 35d\n    retain: 1d");
        let finding = load("desired/a.yaml", unknown.as_bytes()).unwrap_err();
        assert!(finding.message.contains("unknown field `retain`"), "{finding:?}");
        let line = unknown.lines().position(|l| l.contains("retain: 1d")).unwrap() + 1;
        assert_eq!(finding.position.line, line, "{finding:?}");
    }
}
