//! Progress a person can follow: one line per stack change of state,
//! redrawn in place on a terminal, plain timestamped lines in CI logs.

use std::io::Write;
use std::sync::Mutex;

/// Where progress goes.
pub enum Progress {
    /// A terminal: the line of the stack that moves is redrawn in place.
    Live(Mutex<Option<String>>),
    /// CI logs: one timestamped line per update.
    Lines,
    /// Tests and machine formats: nothing.
    Quiet,
}

impl Progress {
    pub fn for_terminal(is_terminal: bool) -> Self {
        if is_terminal { Self::Live(Mutex::new(None)) } else { Self::Lines }
    }

    /// `drctl-scans: UPDATE_IN_PROGRESS — 2 pending, 1 in progress`.
    pub fn stack(&self, stack: &str, status: &str, counts: Counts) {
        let line = format!("{stack}: {status} — {} pending, {} in progress, {} done", counts.pending, counts.in_progress, counts.done);
        self.emit(stack, &line);
    }

    pub fn note(&self, stack: &str, text: &str) {
        self.emit(stack, &format!("{stack}: {text}"));
    }

    fn emit(&self, stack: &str, line: &str) {
        let mut err = std::io::stderr().lock();
        match self {
            Self::Quiet => {}
            Self::Lines => {
                let _ = writeln!(err, "{} {line}", timestamp());
            }
            Self::Live(last) => {
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                // Redraw in place while the same stack moves; start a new
                // line when another stack speaks.
                if last.as_deref() == Some(stack) {
                    let _ = write!(err, "\r\x1b[2K{line}");
                } else {
                    let _ = write!(err, "{}{line}", if last.is_some() { "\n" } else { "" });
                }
                let _ = err.flush();
                *last = Some(stack.to_string());
            }
        }
    }

    /// Ends a live line so that what follows starts on its own.
    pub fn finish(&self) {
        if let Self::Live(last) = self
            && last.lock().unwrap_or_else(|p| p.into_inner()).take().is_some()
        {
            eprintln!();
        }
    }
}

/// Resources of a stack operation by where they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: usize,
    pub in_progress: usize,
    pub done: usize,
}

fn timestamp() -> String {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    now.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_default()
}
