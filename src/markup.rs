//! Output for people from untrusted text: ANSI colour only when asked,
//! control characters never passed to a terminal, markdown and HTML
//! escaping for pull-request comments. Shared by the plan and the status.

pub const RESET: &str = "\x1b[0m";
pub const BOLD: &str = "\x1b[1m";
pub const DIM: &str = "\x1b[2m";
pub const RED: &str = "\x1b[31m";
pub const GREEN: &str = "\x1b[32m";
pub const YELLOW: &str = "\x1b[33m";
pub const CYAN: &str = "\x1b[36m";
pub const BOLD_RED: &str = "\x1b[1;31m";
pub const BOLD_YELLOW: &str = "\x1b[1;33m";

/// Paints text when colour is on; cleans it of control characters always.
#[derive(Clone, Copy)]
pub struct Paint {
    pub colour: bool,
}

impl Paint {
    pub fn paint(self, style: &str, text: &str) -> String {
        let text = clean(text);
        if self.colour && !style.is_empty() && !text.is_empty() { format!("{style}{text}{RESET}") } else { text }
    }
}

/// One line of untrusted text, safe for a terminal: control characters
/// (escape sequences, carriage returns, newlines) become `?`, format
/// characters show as `<U+202E>`.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if c.is_control() && c != '\t' => out.push('?'),
            c if is_format(c) => out += &visible(c),
            c => out.push(c),
        }
    }
    out
}

/// Unicode format characters: bidi embeddings, overrides and isolates,
/// zero-width characters, the byte-order mark. Invisible, they can make a
/// name read other than it is (a reversed extension, two names that look
/// alike), so output never passes them on.
pub fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// How a format character is shown: `<U+202E>`.
fn visible(c: char) -> String {
    format!("<U+{:04X}>", u32::from(c))
}

/// Escapes text for markdown prose and table cells: HTML-significant
/// characters become entities, markdown punctuation is backslash-escaped,
/// line breaks become spaces, format characters show as `<U+202E>`. What
/// GitHub would autolink is broken up too (`www\.`, `https\://`, `\@`): a
/// table named `www.example.com` or an owner `https://…` is not a link to
/// follow from a pull request.
pub fn esc(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' | '!' | '@' => {
                out.push('\\');
                out.push(c);
            }
            '.' if i >= 3 && chars[i - 3..i].iter().collect::<String>().eq_ignore_ascii_case("www") => out += "\\.",
            ':' if chars.get(i + 1..i + 3) == Some(&['/', '/']) => out += "\\:",
            c if c.is_control() => out.push(' '),
            c if is_format(c) => out += &html(&visible(c)),
            c => out.push(c),
        }
    }
    out
}

/// A code span in a table cell (`|` escaped, as GFM tables need even in
/// code); text holding a backtick falls back to escaped prose.
pub fn code(text: &str) -> String {
    if text.contains('`') || text.chars().any(|c| c.is_control() || is_format(c)) || text.is_empty() {
        return esc(text);
    }
    format!("`{}`", text.replace('|', "\\|"))
}

/// Text for raw HTML (`<summary>`).
pub fn html(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            c if c.is_control() => " ".to_string(),
            c if is_format(c) => format!("&lt;U+{:04X}&gt;", u32::from(c)),
            c => c.to_string(),
        })
        .collect()
}

/// `1 stack`, `2 stacks`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
