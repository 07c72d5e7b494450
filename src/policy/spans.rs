//! Where each value of a policy file sits, and the first line of defence
//! against hostile YAML.
//!
//! A streaming pass over the parser's events, before any deserialisation:
//! it refuses anchors and aliases (the stuff of alias bombs), tags, several
//! documents, duplicate keys, non-scalar keys, deep nesting and very many
//! nodes, each at its position; and it records the position of every key and
//! value by path (`spec.verify.checks[2].sample.items`) so that semantic
//! findings can point at the line a reviewer must change.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScanError, Span};

use super::finding::Position;

/// Deeper than any policy needs (the deepest real path has 6 levels).
const MAX_DEPTH: usize = 16;
/// Far more nodes than any policy needs; bounds the work on hostile input.
const MAX_NODES: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanError {
    pub position: Position,
    pub message: String,
    pub hint: &'static str,
}

/// Positions of keys and values by path.
#[derive(Debug, Default, Clone)]
pub struct Spans {
    values: HashMap<String, Position>,
    keys: HashMap<String, Position>,
    /// Every scalar value with its path and text, in document order.
    scalars: Vec<(String, String, Position)>,
}

impl Spans {
    /// The position of the value at `path`, or of its nearest ancestor that
    /// exists (a missing field is reported at the mapping that lacks it).
    pub fn value(&self, path: &str) -> Position {
        self.lookup(&self.values, path)
    }

    /// The position of the key of `path`, falling back like [`Spans::value`].
    pub fn key(&self, path: &str) -> Position {
        self.lookup(&self.keys, path)
    }

    /// The first scalar at or below `under` whose text is `text`: where a
    /// value refused during deserialisation really is, when the
    /// deserialiser only knows the mapping around it.
    pub fn scalar(&self, under: &str, text: &str) -> Option<Position> {
        let below =
            |path: &str| under.is_empty() || path == under || path.strip_prefix(under).is_some_and(|rest| rest.starts_with(['.', '[']));
        self.scalars.iter().find(|(path, value, _)| value == text && below(path)).map(|(_, _, position)| *position)
    }

    fn lookup(&self, table: &HashMap<String, Position>, path: &str) -> Position {
        let mut path = path;
        loop {
            if let Some(position) = table.get(path).or_else(|| self.keys.get(path)) {
                return *position;
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => return Position::START,
            }
        }
    }
}

enum Frame {
    Map { path: String, seen: HashSet<String>, pending_key: Option<String> },
    Seq { path: String, next: usize },
}

fn position(span: &Span) -> Position {
    Position { line: span.start.line(), column: span.start.col() + 1 }
}

fn refuse(span: &Span, message: impl Into<String>, hint: &'static str) -> SpanError {
    SpanError { position: position(span), message: message.into(), hint }
}

fn scan_error(text: &str, error: &ScanError) -> SpanError {
    let marker = error.marker();
    let mut position = Position { line: marker.line(), column: marker.col() + 1 };
    let tabs = error.info().contains("tab");
    if tabs && let Some(tab) = first_indenting_tab(text, marker.line()) {
        position = tab;
    }
    let hint = if tabs { "indent with spaces: YAML does not allow tabs for indentation" } else { "fix the YAML syntax at this position" };
    SpanError { position, message: format!("invalid YAML: {}", error.info()), hint }
}

/// The scanner may notice a tab at the end of the line before it: point at
/// the tab itself, the first one in the indentation of a line from `line` on.
fn first_indenting_tab(text: &str, line: usize) -> Option<Position> {
    text.lines().enumerate().skip(line.saturating_sub(1)).find_map(|(index, content)| {
        let indent: String = content.chars().take_while(|c| c.is_whitespace()).collect();
        indent.chars().position(|c| c == '\t').map(|column| Position { line: index + 1, column: column + 1 })
    })
}

/// Walks `text` once and returns the positions of its keys and values.
pub fn index(text: &str) -> Result<Spans, SpanError> {
    // A tab in a line's indentation, even before a comment that the event
    // parser skips, is refused by the deserializer later with a message
    // that does not say "tab": say it here, at the tab.
    let starts_with_tab = text.lines().position(|line| line.starts_with('\t') && !line.trim().is_empty());
    if let Some(tab) = starts_with_tab.map(|index| Position { line: index + 1, column: 1 }) {
        let message = "invalid YAML: tabs are not allowed in indentation";
        return Err(SpanError {
            position: tab,
            message: message.into(),
            hint: "indent with spaces: YAML does not allow tabs for indentation",
        });
    }
    let mut spans = Spans::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut documents = 0;
    let mut nodes = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| scan_error(text, &e))?;
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(refuse(&span, "more than one YAML document in the file", "put each policy in its own file"));
                }
            }
            Event::Alias(_) => {
                return Err(refuse(&span, "YAML aliases are not allowed in policies", "write the value out in full instead of `*alias`"));
            }
            Event::Scalar(value, _, anchor, tag) => {
                nodes += 1;
                refuse_decorations(&span, anchor, tag.is_some())?;
                if let Some(path) = enter_node(&mut stack, &mut spans, &span, Some(&value), nodes)? {
                    spans.values.insert(path.clone(), position(&span));
                    spans.scalars.push((path, value.to_string(), position(&span)));
                }
            }
            Event::MappingStart(anchor, ref tag) | Event::SequenceStart(anchor, ref tag) => {
                nodes += 1;
                refuse_decorations(&span, anchor, tag.is_some())?;
                let is_map = matches!(event, Event::MappingStart(..));
                let path = match enter_node(&mut stack, &mut spans, &span, None, nodes)? {
                    Some(path) => path,
                    None => return Err(refuse(&span, "a mapping or list cannot be a key", "use plain text keys")),
                };
                if stack.is_empty() && !is_map {
                    return Err(refuse(
                        &span,
                        "a policy file must be a mapping at the top level",
                        "start the file with `apiVersion: drctl/v1`",
                    ));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(refuse(
                        &span,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                        "policies are shallow: remove the extra nesting",
                    ));
                }
                spans.values.insert(path.clone(), position(&span));
                stack.push(if is_map {
                    Frame::Map { path, seen: HashSet::new(), pending_key: None }
                } else {
                    Frame::Seq { path, next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
        }
    }
    if documents == 0 {
        return Err(SpanError {
            position: Position::START,
            message: "the policy file is empty".into(),
            hint: "start the file with `apiVersion: drctl/v1`",
        });
    }
    Ok(spans)
}

fn refuse_decorations(span: &Span, anchor: usize, tagged: bool) -> Result<(), SpanError> {
    if anchor != 0 {
        return Err(refuse(span, "YAML anchors are not allowed in policies", "remove the `&anchor` and write values out in full"));
    }
    if tagged {
        return Err(refuse(span, "YAML tags are not allowed in policies", "remove the `!tag`"));
    }
    Ok(())
}

/// Places a node in its parent. Returns its path when it is a value, `None`
/// when it was consumed as a mapping key.
fn enter_node(
    stack: &mut [Frame],
    spans: &mut Spans,
    span: &Span,
    scalar: Option<&str>,
    nodes: usize,
) -> Result<Option<String>, SpanError> {
    if nodes > MAX_NODES {
        return Err(refuse(span, format!("more than {MAX_NODES} YAML nodes"), "a policy is a few dozen lines: this file is not one"));
    }
    match stack.last_mut() {
        None => {
            if scalar.is_some() {
                return Err(refuse(span, "a policy file must be a mapping at the top level", "start the file with `apiVersion: drctl/v1`"));
            }
            Ok(Some(String::new()))
        }
        Some(Frame::Seq { path, next }) => {
            let child = format!("{path}[{next}]");
            *next += 1;
            Ok(Some(child))
        }
        Some(Frame::Map { path, seen, pending_key }) => match pending_key.take() {
            Some(key) => Ok(Some(key)),
            None => {
                let Some(key) = scalar else { return Ok(None) };
                let child = if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
                if !seen.insert(key.to_string()) {
                    return Err(refuse(span, format!("duplicate key `{key}`"), "keep one of the two entries"));
                }
                spans.keys.insert(child.clone(), position(span));
                *pending_key = Some(child);
                Ok(None)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_value_and_key_positions() {
        let spans = index("a: 1\nb:\n  c: [x, y]\n  d:\n    - e: 2\n").unwrap();
        assert_eq!(spans.value("a"), Position { line: 1, column: 4 });
        assert_eq!(spans.key("b.c"), Position { line: 3, column: 3 });
        assert_eq!(spans.value("b.c[1]"), Position { line: 3, column: 10 });
        assert_eq!(spans.value("b.d[0].e"), Position { line: 5, column: 10 });
        // Missing paths fall back to the nearest ancestor.
        assert_eq!(spans.value("b.d[0].missing"), Position { line: 5, column: 7 });
    }

    #[test]
    fn refuses_hostile_yaml() {
        let cases = [
            ("a: &x [1]\nb: *x\n", "anchors"),
            ("a: !!binary aGk=\n", "tags"),
            ("a: 1\n---\nb: 2\n", "more than one"),
            ("a: 1\na: 2\n", "duplicate key"),
            ("? [a]\n: 1\n", "cannot be a key"),
            ("- a\n", "top level"),
            ("just text\n", "top level"),
            ("a:\n\tb: 1\n", "invalid YAML"),
            ("", "empty"),
        ];
        for (text, expected) in cases {
            let error = index(text).unwrap_err();
            assert!(error.message.contains(expected), "{text:?}: {}", error.message);
        }
    }

    #[test]
    fn a_scalar_is_found_by_its_text_under_a_path_and_not_under_a_longer_name() {
        let spans = index("b:\n  c: x\n  cx: x\n  d: [y, x]\n").unwrap();
        assert_eq!(spans.scalar("", "x"), Some(Position { line: 2, column: 6 }));
        assert_eq!(spans.scalar("b.cx", "x"), Some(Position { line: 3, column: 7 }), "b.c is not under b.cx");
        assert_eq!(spans.scalar("b.d", "x"), Some(Position { line: 4, column: 10 }), "b.d[1] is under b.d");
        assert_eq!(spans.scalar("b.c", "y"), None);
        assert_eq!(spans.scalar("b", "nothing"), None);
    }

    #[test]
    fn a_tab_in_an_indentation_is_pointed_at_and_a_blank_line_of_tabs_is_no_error() {
        // After spaces: the scanner's error is moved to the tab itself.
        let error = index("a:\n  b: 1\n \tc: 2\n").unwrap_err();
        assert_eq!(error.position, Position { line: 3, column: 2 }, "{}", error.message);
        assert!(error.hint.contains("tabs"), "{}", error.hint);
        // At the start of a line.
        let error = index("a: 1\nb:\n\tc: 2\n").unwrap_err();
        assert_eq!(error.position, Position { line: 3, column: 1 });
        assert!(index("a: 1\n\t\nb: 2\n").is_ok(), "a line of whitespace only is blank");
    }

    #[test]
    fn each_refusal_points_at_the_node_at_fault() {
        let at = |text: &str| {
            let error = index(text).unwrap_err();
            (error.position.line, error.position.column)
        };
        assert_eq!(at("a: 1\nb: &x [1]\n"), (2, 4), "the anchored node");
        assert_eq!(at("a: 1\nb: *x\n"), (2, 4), "the alias");
        assert_eq!(at("a: 1\nb: !t 2\n"), (2, 4), "the tagged node");
        assert_eq!(at("a: 1\nb: 2\na: 3\n"), (3, 1), "the second key");
        assert_eq!(at("a: 1\n---\nb: 2\n"), (2, 1), "the second document");
        assert_eq!(at("a: [1,\n"), (2, 1), "where the scanner stopped");
        let syntax = index("a: [1,\n").unwrap_err();
        assert_eq!(syntax.hint, "fix the YAML syntax at this position");
    }

    #[test]
    fn sixteen_levels_of_nesting_are_the_most() {
        // The top-level mapping is one level, each `[` another.
        let nested = |levels: usize| format!("a: {}{}\n", "[".repeat(levels - 1), "]".repeat(levels - 1));
        assert!(index(&nested(MAX_DEPTH)).is_ok());
        let error = index(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(error.message.contains("deeper than 16 levels"), "{}", error.message);
        assert_eq!(error.position, Position { line: 1, column: 4 + MAX_DEPTH - 1 }, "the first bracket too deep");
    }

    #[test]
    fn a_mapping_value_sits_where_it_starts_and_its_key_where_the_key_is() {
        let spans = index("top:\n  inner:\n    leaf: 1\nlist:\n- x\n").unwrap();
        assert_eq!(spans.key("top.inner"), Position { line: 2, column: 3 });
        assert_eq!(spans.value("top.inner"), Position { line: 3, column: 5 });
        assert_eq!(spans.key("top.inner.leaf"), Position { line: 3, column: 5 });
        assert_eq!(spans.key("top.inner.missing"), Position { line: 2, column: 3 }, "a missing key falls back to its parent's");
        assert_eq!(spans.value("list[0]"), Position { line: 5, column: 3 });
        assert_eq!(spans.key("nothing.at.all"), Position::START);
    }

    #[test]
    fn exactly_the_node_limit_is_accepted() {
        // The mapping, its key and the sequence are three nodes.
        let at_limit = format!("a: [{}]\n", vec!["1"; MAX_NODES - 3].join(","));
        assert!(index(&at_limit).is_ok());
        let over = format!("a: [{}]\n", vec!["1"; MAX_NODES - 2].join(","));
        assert!(index(&over).unwrap_err().message.contains("nodes"));
    }

    #[test]
    fn refuses_deep_nesting_and_node_floods_quickly() {
        let deep = format!("a: {}", "[".repeat(MAX_DEPTH + 1));
        assert!(index(&deep).unwrap_err().message.contains("nesting"));
        // The parser's own recursion limit stops far deeper input first.
        let deeper = format!("a: {}", "[".repeat(100_000));
        assert!(index(&deeper).is_err());
        let flood = format!("a: [{}]\n", "1,".repeat(MAX_NODES + 10));
        assert!(index(&flood).unwrap_err().message.contains("nodes"));
    }
}
