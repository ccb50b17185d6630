//! The canonical layout of a spec, like rustfmt's for Rust: two-space indents, one statement
//! per line, canonical spacing inside expressions, at most one blank line in a row, comments
//! kept (trailing comments of neighbouring lines aligned). Formatting formatted text changes
//! nothing.

use crate::ir::Span;
use crate::syntax::{AExpr, AIndex, AKind, Arg, Comment, Comp, File, Item, Setting, Stmt, TypeAnn};

/// Formats a parsed spec. `source` is the text it was parsed from (for comments and blank
/// lines).
pub fn format(file: &File, source: &str) -> String {
    let mut p = Printer {
        source,
        comments: &file.comments,
        next_comment: 0,
        out: String::new(),
    };
    p.leading(file.span.start, 0, false);
    p.line(0, &format!("subnet {} {{", file.name.name));
    let mut prev_kind = None;
    for (i, item) in file.items.iter().enumerate() {
        let (start, kind) = match item {
            Item::Setting(s) => (s.span.start, 0),
            Item::Data(s) => (s.span.start, 1),
            Item::Task(b) | Item::Score(b) | Item::Incentive(b) => (b.span.start, 2),
        };
        // Blocks and groups are separated by a blank line; statements keep the author's.
        let blank = i > 0 && (kind == 2 || prev_kind != Some(kind));
        p.leading(start, 1, blank);
        match item {
            Item::Setting(s) => p.setting(s, 1, ""),
            Item::Data(s) => p.setting(s, 1, "data "),
            Item::Task(b) | Item::Score(b) | Item::Incentive(b) => {
                let kw = match item {
                    Item::Task(_) => "task",
                    Item::Score(_) => "score",
                    _ => "incentive",
                };
                p.line(1, &format!("{kw} {{"));
                for stmt in &b.stmts {
                    p.leading(stmt.span().start, 2, false);
                    p.stmt(stmt, 2);
                }
                p.closing(b.span.end.saturating_sub(1), 2);
                p.line(1, "}");
            }
        }
        prev_kind = Some(kind);
    }
    p.closing(file.span.end.saturating_sub(1), 1);
    p.line(0, "}");
    p.leading(u32::MAX, 0, true);
    align_trailing_comments(&p.out)
}

struct Printer<'a> {
    source: &'a str,
    comments: &'a [Comment],
    next_comment: usize,
    out: String,
}

/// Marks a trailing comment inside a line until the final alignment pass.
const TRAIL: char = '\u{1}';

impl Printer<'_> {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// Whether the line just above the one holding `pos` is blank.
    fn blank_before(&self, pos: u32) -> bool {
        let pos = (pos as usize).min(self.source.len());
        let Some(line_start) = self.source[..pos].rfind('\n') else {
            return false;
        };
        let above = &self.source[..line_start];
        above.contains('\n')
            && above
                .rsplit('\n')
                .next()
                .is_some_and(|l| l.trim().is_empty())
    }

    fn maybe_blank(&mut self, blank: bool) {
        if blank
            && !self.out.is_empty()
            && !self.out.ends_with("{\n")
            && !self.out.ends_with("\n\n")
        {
            self.out.push('\n');
        }
    }

    /// Emits the comments that start before `pos` as their own lines, then the blank line
    /// the node at `pos` needs (`force`: one is due whatever the source says).
    fn leading(&mut self, pos: u32, indent: usize, force: bool) {
        self.leading_inner(pos, indent, force, true);
    }

    /// Like [`Printer::leading`] before a closing brace, which never gets a blank line.
    fn closing(&mut self, pos: u32, indent: usize) {
        self.leading_inner(pos, indent, false, false);
    }

    fn leading_inner(&mut self, pos: u32, indent: usize, force: bool, node_blank: bool) {
        let mut first = true;
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start >= pos {
                break;
            }
            let blank = (first && force) || self.blank_before(c.span.start);
            self.maybe_blank(blank);
            self.line(indent, &c.text.clone());
            self.next_comment += 1;
            first = false;
        }
        if node_blank && pos != u32::MAX {
            let blank = (first && force) || self.blank_before(pos);
            self.maybe_blank(blank);
        }
    }

    /// The trailing comment on the line where `span` ends, if any.
    fn trailing(&mut self, span: Span) -> Option<String> {
        let c = self.comments.get(self.next_comment)?;
        let between = self.source.get(span.end as usize..c.span.start as usize)?;
        if between.contains('\n') || !between.trim().is_empty() {
            return None;
        }
        self.next_comment += 1;
        Some(c.text.clone())
    }

    fn emit(&mut self, indent: usize, text: String, span: Span) {
        // Comments inside a statement spanning lines move above it.
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start >= span.end {
                break;
            }
            self.line(indent, &c.text.clone());
            self.next_comment += 1;
        }
        match self.trailing(span) {
            Some(c) => self.line(indent, &format!("{text}{TRAIL}{c}")),
            None => self.line(indent, &text),
        }
    }

    fn setting(&mut self, s: &Setting, indent: usize, prefix: &str) {
        let text = format!("{prefix}{} = {}", s.name.name, expr(&s.value));
        self.emit(indent, text, s.span);
    }

    fn stmt(&mut self, stmt: &Stmt, indent: usize) {
        let text = match stmt {
            Stmt::Let(s) => format!("let {} = {}", s.name.name, expr(&s.value)),
            Stmt::Setting(s) => format!("{} = {}", s.name.name, expr(&s.value)),
            Stmt::Send(io) | Stmt::Keep(io) => {
                let kw = if matches!(stmt, Stmt::Send(_)) {
                    "send"
                } else {
                    "keep"
                };
                match &io.ty {
                    Some(t) => format!("{kw} {}: {}", io.name.name, type_ann(t)),
                    None => format!("{kw} {}", io.name.name),
                }
            }
            Stmt::Expect(t, _) => format!("expect {}", type_ann(t)),
        };
        self.emit(indent, text, stmt.span());
    }
}

fn type_ann(t: &TypeAnn) -> String {
    match &t.dims {
        None => t.dtype.name.clone(),
        Some(dims) => {
            let d: Vec<String> = dims.iter().map(|(v, _)| v.to_string()).collect();
            format!("{}[{}]", t.dtype.name, d.join(", "))
        }
    }
}

/// An expression in canonical spacing.
pub fn expr(e: &AExpr) -> String {
    let mut out = String::new();
    write_expr(&mut out, e);
    out
}

fn write_expr(out: &mut String, e: &AExpr) {
    match &e.kind {
        AKind::Number(n) => out.push_str(n),
        AKind::Quantity(n, u) => {
            out.push_str(n);
            if !matches!(u.as_str(), "s" | "ms") {
                out.push(' ');
            }
            out.push_str(u);
        }
        AKind::Str(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        AKind::Name(n) => out.push_str(n),
        AKind::Neg(x) => {
            out.push('-');
            write_expr(out, x);
        }
        AKind::Not(x) => {
            out.push_str("not ");
            write_expr(out, x);
        }
        AKind::Binary(op, a, b) => {
            write_expr(out, a);
            out.push(' ');
            out.push_str(op.text());
            out.push(' ');
            write_expr(out, b);
        }
        AKind::Call(f, args, comp) => {
            out.push_str(&f.name);
            out.push('(');
            write_args(out, args);
            if let Some(c) = comp {
                write_comp(out, c);
            }
            out.push(')');
        }
        AKind::List(items, comp) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, it);
            }
            if let Some(c) = comp {
                write_comp(out, c);
            }
            out.push(']');
        }
        AKind::Index(base, items) => {
            write_expr(out, base);
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match it {
                    AIndex::At(x) => write_expr(out, x),
                    AIndex::Slice {
                        start, stop, step, ..
                    } => {
                        if let Some(x) = start {
                            write_expr(out, x);
                        }
                        out.push(':');
                        if let Some(x) = stop {
                            write_expr(out, x);
                        }
                        if let Some(x) = step {
                            out.push(':');
                            write_expr(out, x);
                        }
                    }
                }
            }
            out.push(']');
        }
        AKind::If(c, a, b) => {
            out.push_str("if ");
            write_expr(out, c);
            out.push_str(" { ");
            write_expr(out, a);
            out.push_str(" } else ");
            if matches!(b.kind, AKind::If(..)) {
                write_expr(out, b);
            } else {
                out.push_str("{ ");
                write_expr(out, b);
                out.push_str(" }");
            }
        }
        AKind::Paren(x) => {
            out.push('(');
            write_expr(out, x);
            out.push(')');
        }
    }
}

fn write_args(out: &mut String, args: &[Arg]) {
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if let Some(n) = &a.name {
            out.push_str(&n.name);
            out.push_str(" = ");
        }
        write_expr(out, &a.value);
    }
}

fn write_comp(out: &mut String, c: &Comp) {
    out.push_str(" for ");
    out.push_str(&c.var.name);
    out.push_str(" in ");
    write_expr(out, &c.lo);
    out.push_str("..");
    write_expr(out, &c.hi);
}

/// Replaces the trailing-comment markers with spaces, aligning the comments of neighbouring
/// lines at the same indent.
fn align_trailing_comments(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].contains(TRAIL) {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
            continue;
        }
        let indent = |l: &str| l.len() - l.trim_start().len();
        let mut j = i;
        while j < lines.len() && lines[j].contains(TRAIL) && indent(lines[j]) == indent(lines[i]) {
            j += 1;
        }
        let width = lines[i..j]
            .iter()
            .map(|l| l.split(TRAIL).next().unwrap_or("").chars().count())
            .max()
            .unwrap_or(0);
        for l in &lines[i..j] {
            let (code, comment) = l.split_once(TRAIL).unwrap_or((l, ""));
            out.push_str(code);
            let pad = width - code.chars().count() + if j - i > 1 { 2 } else { 1 };
            out.push_str(&" ".repeat(pad.max(1)));
            out.push_str(comment);
            out.push('\n');
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse;

    fn fmt(src: &str) -> String {
        format(&parse(src).unwrap(), src)
    }

    #[test]
    fn lays_out_canonically_and_keeps_comments() {
        let src = "# head\nsubnet  x{version=\"1.0.0\"  # v\n summary = \"s\"\n task{let a=-2**2+f( b ,c=1)[0,1:3,::2]\n\n\n # about b\n let b=sum(a*k for k in 0..3)\n send a:f32[4] # sent\n expect f32[ 4 ]\n timeout=2 s}\n}\n";
        let out = fmt(src);
        assert_eq!(
            out,
            "# head\nsubnet x {\n  version = \"1.0.0\" # v\n  summary = \"s\"\n\n  task {\n    let a = -2 ** 2 + f(b, c = 1)[0, 1:3, ::2]\n\n    # about b\n    let b = sum(a * k for k in 0..3)\n    send a: f32[4] # sent\n    expect f32[4]\n    timeout = 2s\n  }\n}\n"
        );
        assert_eq!(fmt(&out), out, "formatting is idempotent");
    }

    #[test]
    fn aligns_neighbouring_trailing_comments() {
        let src = "subnet x {\n  task {\n    send a # one\n    keep bb # two\n  }\n}\n";
        let out = fmt(src);
        assert!(
            out.contains("    send a   # one\n    keep bb  # two\n"),
            "{out}"
        );
        assert_eq!(fmt(&out), out);
    }
}
