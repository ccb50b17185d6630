//! Diagnostics: what is wrong, where, and how to fix it, rendered like rustc's.
//!
//! ```text
//! error: unknown name `nosy`
//!   --> denoise.subnet:12:10
//!    |
//! 12 |     send nosy: f32[64]
//!    |          ^^^^ not defined in the task
//!    |
//!    = help: did you mean `noisy`?
//! ```

use std::fmt::Write as _;

use crate::ir::Span;

/// One problem in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, in one line.
    pub message: String,
    /// Where (a byte range of the source).
    pub span: Span,
    /// A short note under the caret.
    pub label: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem at `span`.
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            span,
            label: String::new(),
            help: None,
        }
    }

    /// Adds the note under the caret.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Adds the hint.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds "did you mean `X`?" when one of `candidates` is close to `name` (see
    /// [`suggest`]), and the hint `otherwise` when none is.
    pub fn suggest_or<'a>(
        self,
        name: &str,
        candidates: impl IntoIterator<Item = &'a str>,
        otherwise: impl Into<String>,
    ) -> Self {
        match suggest(name, candidates) {
            Some(s) => self.help(format!("did you mean `{s}`?")),
            None => self.help(otherwise),
        }
    }

    /// The 1-based line and column (in characters) of the span's start.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        line_col(source, self.span.start as usize)
    }

    /// Renders the diagnostic against `source`, read from `path`.
    pub fn render(&self, path: &str, source: &str) -> String {
        let start = (self.span.start as usize).min(source.len());
        let end = (self.span.end as usize).clamp(start, source.len());
        let (line, col) = line_col(source, start);
        let line_start = source[..floor_char(source, start)]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let line_end = source[line_start..]
            .find('\n')
            .map_or(source.len(), |i| line_start + i);
        let text = source[line_start..line_end].trim_end_matches('\r');
        // Show at most 160 characters of a long line, around the span.
        let (shown, skipped) = window(text, col - 1);
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        let caret_col = col - 1 - skipped;
        let span_chars = source[floor_char(source, start)..floor_char(source, end.min(line_end))]
            .chars()
            .count()
            .max(1);
        let span_chars = span_chars.min(shown.chars().count().saturating_sub(caret_col).max(1));
        let mut out = String::new();
        let _ = writeln!(out, "error: {}", self.message);
        let _ = writeln!(out, "{pad}--> {path}:{line}:{col}");
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{line} | {}", printable(&shown));
        let mut marker = format!(
            "{pad} | {}{}",
            " ".repeat(caret_col),
            "^".repeat(span_chars)
        );
        if !self.label.is_empty() {
            marker.push(' ');
            marker.push_str(&self.label);
        }
        let _ = writeln!(out, "{marker}");
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }
}

/// Renders every diagnostic, then a count line, as `ganglion subnet check` prints them.
pub fn render_all(diagnostics: &[Diagnostic], path: &str, source: &str) -> String {
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&d.render(path, source));
        out.push('\n');
    }
    let n = diagnostics.len();
    let _ = writeln!(
        out,
        "error: {path} has {n} error{}",
        if n == 1 { "" } else { "s" }
    );
    out
}

/// The 1-based line and character column of byte `offset`.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..offset].chars().count() + 1;
    (line, col)
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// At most 160 characters of `line` around character `col`: (text, characters skipped).
fn window(line: &str, col: usize) -> (String, usize) {
    const WIDTH: usize = 160;
    let count = line.chars().count();
    if count <= WIDTH {
        return (line.to_owned(), 0);
    }
    let skip = col.saturating_sub(WIDTH / 2).min(count - WIDTH);
    (line.chars().skip(skip).take(WIDTH).collect(), skip)
}

/// Control characters would garble a terminal: show them as `?`.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect()
}

/// The closest of `candidates` to `name` (edit distance at most a third of its length), for
/// "did you mean" hints.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = distance(name, c);
        if d <= limit && best.is_none_or(|(bd, bc)| d < bd || (d == bd && c < bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_col_source_and_caret() {
        let src = "subnet x {\n  send nosy\n}\n";
        let start = src.find("nosy").unwrap();
        let d = Diagnostic::new(Span::new(start, start + 4), "unknown name `nosy`")
            .label("not defined in the task")
            .help("did you mean `noisy`?");
        let text = d.render("x.subnet", src);
        assert_eq!(
            text,
            "error: unknown name `nosy`\n --> x.subnet:2:8\n  |\n2 |   send nosy\n  |        ^^^^ not defined in the task\n  |\n  = help: did you mean `noisy`?\n"
        );
    }

    #[test]
    fn columns_count_characters_and_spans_past_the_end_are_clamped() {
        let src = "ü = 1";
        assert_eq!(line_col(src, 3), (1, 3));
        let d = Diagnostic::new(Span::new(100, 200), "past the end");
        assert!(d.render("f", src).contains("1:6"));
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("nosy", ["noisy", "clean"]), Some("noisy"));
        assert_eq!(suggest("xyz", ["noisy", "clean"]), None);
        assert_eq!(suggest("temp", ["tempo", "kappa"]), Some("tempo"));
    }
}
