//! The surface syntax: the pest grammar (`subnet.pest`), the untyped AST, and the parser that
//! builds it with spans. Parsing never panics and never recurses without bound: the input's
//! size and bracket nesting are checked first, and expressions deeper than [`MAX_DEPTH`] are
//! refused.

use pest::Parser as _;
use pest::iterators::Pair;

use crate::diag::Diagnostic;
use crate::ir::Span;

/// The largest spec accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;
/// The deepest bracket nesting accepted.
pub const MAX_NESTING: usize = 64;
/// The deepest expression tree accepted (operators and calls included).
pub const MAX_DEPTH: usize = 256;

/// The generated parser (private: its `Rule` enum is an implementation detail).
mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "subnet.pest"]
    pub(super) struct Grammar;
}
use grammar::{Grammar, Rule};

/// A name with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// A parsed spec.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// `subnet NAME { ... }`.
    pub name: Ident,
    /// Its items, in source order.
    pub items: Vec<Item>,
    /// The whole `subnet` item.
    pub span: Span,
    /// Every comment, in source order (for the formatter).
    pub comments: Vec<Comment>,
}

/// A `# ...` comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The text, `#` included, trailing spaces removed.
    pub text: String,
    /// Where.
    pub span: Span,
}

/// A top-level item of the subnet.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `name = value` (version, summary).
    Setting(Setting),
    /// `data NAME = csv("file")`.
    Data(Setting),
    /// `task { ... }`.
    Task(Block),
    /// `score { ... }`.
    Score(Block),
    /// `incentive { ... }`.
    Incentive(Block),
}

/// `name = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The name.
    pub name: Ident,
    /// The value.
    pub value: AExpr,
    /// The whole statement.
    pub span: Span,
}

/// A `{ ... }` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Its statements.
    pub stmts: Vec<Stmt>,
    /// The keyword.
    pub keyword: Span,
    /// The whole block.
    pub span: Span,
}

/// A statement in a block.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `let name = value`.
    Let(Setting),
    /// `send name [: type]`.
    Send(Io),
    /// `keep name [: type]`.
    Keep(Io),
    /// `expect type`.
    Expect(TypeAnn, Span),
    /// `name = value`.
    Setting(Setting),
}

impl Stmt {
    /// The statement's span.
    pub fn span(&self) -> Span {
        match self {
            Stmt::Let(s) | Stmt::Setting(s) => s.span,
            Stmt::Send(io) | Stmt::Keep(io) => io.span,
            Stmt::Expect(_, span) => *span,
        }
    }
}

/// `send`/`keep` a name, with an optional declared type.
#[derive(Debug, Clone, PartialEq)]
pub struct Io {
    /// The variable.
    pub name: Ident,
    /// The declared type.
    pub ty: Option<TypeAnn>,
    /// The whole statement.
    pub span: Span,
}

/// `f32[64, 3]`: a dtype and optional dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeAnn {
    /// The dtype name.
    pub dtype: Ident,
    /// The dimensions, when written (`f32[]` is a scalar; `f32` alone leaves it open).
    pub dims: Option<Vec<(u64, Span)>>,
    /// The whole annotation.
    pub span: Span,
}

/// An expression as written.
#[derive(Debug, Clone, PartialEq)]
pub struct AExpr {
    /// What it is.
    pub kind: AKind,
    /// Where.
    pub span: Span,
}

/// Binary operators as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `**`
    Pow,
}

impl AOp {
    /// The operator's text.
    pub fn text(self) -> &'static str {
        match self {
            AOp::Or => "or",
            AOp::And => "and",
            AOp::Eq => "==",
            AOp::Ne => "!=",
            AOp::Lt => "<",
            AOp::Le => "<=",
            AOp::Gt => ">",
            AOp::Ge => ">=",
            AOp::Add => "+",
            AOp::Sub => "-",
            AOp::Mul => "*",
            AOp::Div => "/",
            AOp::Rem => "%",
            AOp::Pow => "**",
        }
    }

    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            AOp::Or => 1,
            AOp::And => 2,
            AOp::Eq | AOp::Ne | AOp::Lt | AOp::Le | AOp::Gt | AOp::Ge => 4,
            AOp::Add | AOp::Sub => 5,
            AOp::Mul | AOp::Div | AOp::Rem => 6,
            AOp::Pow => 8,
        }
    }
}

/// An argument of a call: positional or `name = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// The name, for a named argument.
    pub name: Option<Ident>,
    /// The value.
    pub value: AExpr,
}

/// `for var in lo..hi`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comp {
    /// The loop variable.
    pub var: Ident,
    /// The first value.
    pub lo: Box<AExpr>,
    /// One past the last value.
    pub hi: Box<AExpr>,
}

/// One item of `x[...]`.
#[derive(Debug, Clone, PartialEq)]
pub enum AIndex {
    /// A position.
    At(AExpr),
    /// `start:stop[:step]`, each optional.
    Slice {
        /// First position.
        start: Option<Box<AExpr>>,
        /// End (exclusive).
        stop: Option<Box<AExpr>>,
        /// Stride.
        step: Option<Box<AExpr>>,
        /// Where.
        span: Span,
    },
}

/// Expression kinds as written.
#[derive(Debug, Clone, PartialEq)]
pub enum AKind {
    /// A number, as written.
    Number(String),
    /// A number with a unit (`2s`, `20 blocks`, `1 TAO`).
    Quantity(String, String),
    /// A string literal (escapes resolved).
    Str(String),
    /// A name.
    Name(String),
    /// `-x`.
    Neg(Box<AExpr>),
    /// `not x`.
    Not(Box<AExpr>),
    /// `a op b`.
    Binary(AOp, Box<AExpr>, Box<AExpr>),
    /// `f(args)` or `f(body for var in lo..hi)`.
    Call(Ident, Vec<Arg>, Option<Comp>),
    /// `[a, b]` or `[body for var in lo..hi]`.
    List(Vec<AExpr>, Option<Comp>),
    /// `x[items]`.
    Index(Box<AExpr>, Vec<AIndex>),
    /// `if c { a } else { b }`.
    If(Box<AExpr>, Box<AExpr>, Box<AExpr>),
    /// `(x)`.
    Paren(Box<AExpr>),
}

/// Parses a spec's bytes: refuses oversize, non-UTF-8 and too deeply nested input with a
/// diagnostic, then parses.
pub fn parse_bytes(bytes: &[u8]) -> Result<(String, File), Diagnostic> {
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(Diagnostic::new(
            Span::new(0, 0),
            format!(
                "the spec is {} bytes; the limit is {} bytes (1 MiB)",
                bytes.len(),
                MAX_SOURCE_BYTES
            ),
        )
        .help("a spec is source text; put large data in a `data` file (CSV, optionally gzipped)"));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(e) => {
            let at = e.valid_up_to();
            // Point at the bad byte within the valid prefix's text.
            let prefix = String::from_utf8_lossy(&bytes[..at]).into_owned();
            return Err(Diagnostic::new(
                Span::new(at, at + 1),
                format!("the spec is not UTF-8 text (invalid byte at offset {at})"),
            )
            .label("invalid UTF-8 here")
            .help(format!(
                "is this a spec? after {} valid bytes the file holds binary data",
                prefix.len()
            )));
        }
    };
    let file = parse(&text)?;
    Ok((text, file))
}

/// Parses spec source text.
pub fn parse(source: &str) -> Result<File, Diagnostic> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(Diagnostic::new(
            Span::new(0, 0),
            format!(
                "the spec is {} bytes; the limit is {MAX_SOURCE_BYTES} bytes (1 MiB)",
                source.len()
            ),
        ));
    }
    check_nesting(source)?;
    // Track the tokens expected at the furthest position, for precise messages.
    pest::set_error_detail(true);
    let mut pairs = Grammar::parse(Rule::file, source).map_err(|e| syntax_error(source, e))?;
    let file = pairs
        .next()
        .expect("the grammar's `file` rule produces one pair");
    let subnet = file.into_inner().next().expect("`file` holds a `subnet`");
    let span = span_of(&subnet);
    let mut inner = subnet.into_inner();
    inner.next(); // the keyword
    let name = ident(inner.next().expect("`subnet` has a name"));
    let mut items = Vec::new();
    for pair in inner {
        items.push(item(pair)?);
    }
    Ok(File {
        name,
        items,
        span,
        comments: comments(source),
    })
}

/// What a character of spec text belongs to, for the scans that run before or beside the
/// grammar (bracket nesting, comments for the formatter, spans without trailing comments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    Code,
    Str,
    Comment,
}

/// Every character of `text` with what it belongs to: a string literal (quotes included; an
/// unterminated one ends at the line's end), a comment (from `#` to the line's end, the
/// newline excluded), or code.
fn lex(text: &str) -> impl Iterator<Item = (usize, char, Lex)> + '_ {
    let mut state = Lex::Code;
    let mut escaped = false;
    text.char_indices().map(move |(i, c)| {
        let class = match state {
            Lex::Comment if c == '\n' => {
                state = Lex::Code;
                Lex::Code
            }
            Lex::Comment => Lex::Comment,
            Lex::Str if escaped => {
                escaped = false;
                Lex::Str
            }
            Lex::Str => match c {
                '\n' => {
                    state = Lex::Code;
                    Lex::Code
                }
                '"' => {
                    state = Lex::Code;
                    Lex::Str
                }
                _ => {
                    escaped = c == '\\';
                    Lex::Str
                }
            },
            Lex::Code => match c {
                '#' => {
                    state = Lex::Comment;
                    Lex::Comment
                }
                '"' => {
                    state = Lex::Str;
                    Lex::Str
                }
                _ => Lex::Code,
            },
        };
        (i, c, class)
    })
}

/// Refuses bracket nesting deeper than [`MAX_NESTING`], before the recursive parser sees it.
fn check_nesting(source: &str) -> Result<(), Diagnostic> {
    let mut depth = 0usize;
    for (i, c, class) in lex(source) {
        if class != Lex::Code {
            continue;
        }
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Diagnostic::new(
                        Span::new(i, i + 1),
                        format!("brackets nest more than {MAX_NESTING} deep"),
                    )
                    .label("too deep")
                    .help("split the expression with `let` bindings"));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Every comment's text and span (`#` inside strings is not a comment).
fn comments(source: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut start = None;
    // A code character past the end closes a comment on the last line.
    let end = std::iter::once((source.len(), '\n', Lex::Code));
    for (i, _, class) in lex(source).chain(end) {
        match (class, start) {
            (Lex::Comment, None) => start = Some(i),
            (Lex::Comment, Some(_)) | (_, None) => {}
            (_, Some(s)) => {
                out.push(Comment {
                    text: source[s..i].trim_end().to_owned(),
                    span: Span::new(s, i),
                });
                start = None;
            }
        }
    }
    out
}

/// Turns pest's error into a diagnostic that names what was expected in words, at the
/// furthest position any rule reached (where the author's intent broke down).
fn syntax_error(source: &str, e: pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let mut at = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut words: Vec<String> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &e.variant {
        words.extend(
            positives
                .iter()
                .filter_map(|r| rule_words(*r))
                .map(str::to_owned),
        );
    }
    if let Some(attempts) = e.parse_attempts()
        && attempts.max_position >= at
    {
        let mut further: Vec<String> = Vec::new();
        for token in attempts.expected_tokens() {
            let token = token.to_string();
            if !token.trim().is_empty()
                && !matches!(token.as_str(), "#" | "_")
                && !token.contains("..")
            {
                further.push(format!("`{token}`"));
            }
        }
        for stack in attempts.call_stacks() {
            if let Some(w) = stack.parent.and_then(rule_words) {
                further.push(w.to_owned());
            }
        }
        // Only move to the furthest position when something was expected there (a failed
        // lookahead, like a keyword where a name was wanted, expects nothing).
        if !further.is_empty() {
            if attempts.max_position > at {
                words.clear();
            }
            at = attempts.max_position;
            words.extend(further);
        }
    }
    words.sort_unstable();
    words.dedup();
    let at = at.min(source.len());
    let found = describe_found(source, at);
    let expected = match words.len() {
        0 => "something else".to_owned(),
        1 => words[0].clone(),
        n => format!("{} or {}", words[..n - 1].join(", "), words[n - 1]),
    };
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let help = hint_for(source, at, &refs);
    let message = format!("expected {expected}, found {found}");
    let end = source[at..]
        .char_indices()
        .nth(1)
        .map_or(source.len(), |(i, _)| at + i);
    let mut d = Diagnostic::new(Span::new(at, end.max(at)), message).label("here");
    if source.trim().is_empty() {
        d = Diagnostic::new(Span::new(0, 0), "the spec is empty")
            .label("expected `subnet NAME { ... }`")
            .help("start from a template: `ganglion subnet new NAME`");
    } else if let Some(help) = help {
        d = d.help(help);
    }
    d
}

fn describe_found(source: &str, at: usize) -> String {
    let rest = &source[at.min(source.len())..];
    match rest.chars().next() {
        None => "the end of the file".to_owned(),
        Some(c) if c.is_alphanumeric() || c == '_' => {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .take(32)
                .collect();
            format!("`{word}`")
        }
        Some(c) if c.is_control() => format!("the control character U+{:04X}", c as u32),
        Some(c) => format!("`{c}`"),
    }
}

fn hint_for(source: &str, at: usize, expected: &[&str]) -> Option<String> {
    let before = source[..at.min(source.len())].trim_end();
    let rest = &source[at.min(source.len())..];
    if rest.is_empty() && expected.contains(&"`}`") {
        return Some("a block is not closed: add the missing `}`".to_owned());
    }
    if rest.starts_with('=') && before.ends_with(|c: char| c.is_alphanumeric()) {
        return Some("inside a block, bind a value with `let NAME = ...`".to_owned());
    }
    if !source.trim_start().starts_with("subnet") && at == source.len() - source.trim_start().len()
    {
        return Some("a spec starts with `subnet NAME {`".to_owned());
    }
    if rest.starts_with("if ") || rest.starts_with("if(") {
        return Some(
            "an `if` inside a larger expression needs parentheses: `1 + (if c { a } else { b })`, or use `where(c, a, b)`"
                .to_owned(),
        );
    }
    if rest.starts_with(',') {
        return Some("remove the extra `,` or add the missing value".to_owned());
    }
    None
}

/// Words for the grammar rules pest reports as expected; `None` hides internal rules.
fn rule_words(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::subnet | Rule::kw_subnet => "`subnet`",
        Rule::ident | Rule::name => "a name",
        Rule::expr
        | Rule::if_expr
        | Rule::or_expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::cmp_expr
        | Rule::add_expr
        | Rule::mul_expr
        | Rule::neg_expr
        | Rule::pow_expr
        | Rule::postfix
        | Rule::number
        | Rule::quantity
        | Rule::string
        | Rule::call
        | Rule::list
        | Rule::paren => "an expression",
        Rule::op_or | Rule::op_and | Rule::op_cmp | Rule::op_add | Rule::op_mul | Rule::op_pow => {
            "an operator"
        }
        Rule::index => "`[`",
        Rule::unit => "a unit",
        Rule::integer | Rule::dims => "a dimension",
        Rule::tensor_type => "a type like `f32[64]`",
        Rule::data_decl | Rule::kw_data => "`data`",
        Rule::task_block | Rule::kw_task => "`task`",
        Rule::score_block | Rule::kw_score => "`score`",
        Rule::incentive_block | Rule::kw_incentive => "`incentive`",
        Rule::let_stmt | Rule::kw_let => "`let`",
        Rule::send_stmt | Rule::kw_send => "`send`",
        Rule::keep_stmt | Rule::kw_keep => "`keep`",
        Rule::expect_stmt | Rule::kw_expect => "`expect`",
        Rule::setting => "a setting (`name = value`)",
        Rule::comp_tail | Rule::kw_for => "`for`",
        Rule::kw_in => "`in`",
        Rule::kw_else => "`else`",
        Rule::EOI => "the end of the file",
        _ => return None,
    })
}

/// A pair's span without the whitespace and comments pest may have skipped at its end.
fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    let end = lex(s.as_str())
        .filter(|&(_, c, class)| class == Lex::Str || (class == Lex::Code && !c.is_whitespace()))
        .last()
        .map_or(0, |(i, c, _)| i + c.len_utf8());
    Span::new(s.start(), s.start() + end)
}

fn ident(pair: Pair<'_, Rule>) -> Ident {
    Ident {
        name: pair.as_str().to_owned(),
        span: span_of(&pair),
    }
}

fn item(pair: Pair<'_, Rule>) -> Result<Item, Diagnostic> {
    let span = span_of(&pair);
    Ok(match pair.as_rule() {
        Rule::setting => Item::Setting(setting(pair)?),
        Rule::data_decl => {
            let mut inner = pair.into_inner();
            inner.next();
            let name = ident(inner.next().expect("data has a name"));
            let value = expr(inner.next().expect("data has a value"))?;
            Item::Data(Setting { name, value, span })
        }
        Rule::task_block => Item::Task(block(pair)?),
        Rule::score_block => Item::Score(block(pair)?),
        Rule::incentive_block => Item::Incentive(block(pair)?),
        other => unreachable!("the grammar allows no {other:?} among items"),
    })
}

fn setting(pair: Pair<'_, Rule>) -> Result<Setting, Diagnostic> {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let first = inner.next().expect("a setting has a name");
    let first = if first.as_rule() == Rule::kw_let {
        inner.next().expect("a let has a name")
    } else {
        first
    };
    let name = ident(first);
    let value = expr(inner.next().expect("a setting has a value"))?;
    Ok(Setting { name, value, span })
}

fn block(pair: Pair<'_, Rule>) -> Result<Block, Diagnostic> {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let keyword = span_of(&inner.next().expect("a block has a keyword"));
    let mut stmts = Vec::new();
    for p in inner {
        let s = span_of(&p);
        stmts.push(match p.as_rule() {
            Rule::let_stmt => Stmt::Let(setting(p)?),
            Rule::setting => Stmt::Setting(setting(p)?),
            Rule::send_stmt | Rule::keep_stmt => {
                let send = p.as_rule() == Rule::send_stmt;
                let mut it = p.into_inner();
                it.next();
                let name = ident(it.next().expect("send/keep has a name"));
                let ty = it.next().map(type_ann);
                let io = Io { name, ty, span: s };
                if send { Stmt::Send(io) } else { Stmt::Keep(io) }
            }
            Rule::expect_stmt => {
                let mut it = p.into_inner();
                it.next();
                Stmt::Expect(type_ann(it.next().expect("expect has a type")), s)
            }
            other => unreachable!("the grammar allows no {other:?} in a block"),
        });
    }
    Ok(Block {
        stmts,
        keyword,
        span,
    })
}

fn type_ann(pair: Pair<'_, Rule>) -> TypeAnn {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let dtype = ident(inner.next().expect("a type has a dtype"));
    let dims = inner.next().map(|d| {
        d.into_inner()
            .map(|i| {
                let v = i.as_str().parse::<u64>().unwrap_or(u64::MAX);
                (v, span_of(&i))
            })
            .collect()
    });
    TypeAnn { dtype, dims, span }
}

fn too_deep(span: Span) -> Diagnostic {
    Diagnostic::new(
        span,
        format!("the expression nests more than {MAX_DEPTH} operations deep"),
    )
    .label("too deep")
    .help("split it into steps with `let` bindings")
}

/// Builds an expression, tracking depth so that later passes can recurse safely.
fn expr(pair: Pair<'_, Rule>) -> Result<AExpr, Diagnostic> {
    let (e, _) = expr_depth(pair)?;
    Ok(e)
}

fn mk(kind: AKind, span: Span) -> AExpr {
    AExpr { kind, span }
}

fn expr_depth(pair: Pair<'_, Rule>) -> Result<(AExpr, usize), Diagnostic> {
    let span = span_of(&pair);
    let rule = pair.as_rule();
    match rule {
        Rule::expr => expr_depth(pair.into_inner().next().expect("expr has one child")),
        Rule::if_expr => {
            let mut inner = pair.into_inner();
            inner.next();
            let (c, dc) = expr_depth(inner.next().expect("if has a condition"))?;
            let (a, da) = expr_depth(inner.next().expect("if has a then arm"))?;
            inner.next(); // else
            let (b, db) = expr_depth(inner.next().expect("if has an else arm"))?;
            let depth = 1 + dc.max(da).max(db);
            if depth > MAX_DEPTH {
                return Err(too_deep(span));
            }
            Ok((
                mk(AKind::If(Box::new(c), Box::new(a), Box::new(b)), span),
                depth,
            ))
        }
        Rule::or_expr | Rule::and_expr | Rule::add_expr | Rule::mul_expr | Rule::cmp_expr => {
            let mut inner = pair.into_inner();
            let (mut acc, mut depth) = expr_depth(inner.next().expect("operand"))?;
            while let Some(op) = inner.next() {
                let op = binop(&op);
                let (rhs, d) = expr_depth(inner.next().expect("operand after operator"))?;
                depth = 1 + depth.max(d);
                if depth > MAX_DEPTH {
                    return Err(too_deep(span));
                }
                let s = acc.span.to(rhs.span);
                acc = mk(AKind::Binary(op, Box::new(acc), Box::new(rhs)), s);
            }
            Ok((acc, depth))
        }
        Rule::not_expr | Rule::neg_expr => {
            let mut ops = Vec::new();
            let mut operand = None;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::op_not | Rule::op_neg => ops.push(span_of(&p)),
                    _ => operand = Some(expr_depth(p)?),
                }
            }
            let (mut e, mut depth) = operand.expect("prefix operators have an operand");
            for op_span in ops.into_iter().rev() {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep(span));
                }
                let s = op_span.to(e.span);
                e = if rule == Rule::not_expr {
                    mk(AKind::Not(Box::new(e)), s)
                } else {
                    mk(AKind::Neg(Box::new(e)), s)
                };
            }
            Ok((e, depth))
        }
        Rule::pow_expr => {
            // Right-associative: a ** b ** c = a ** (b ** c); each exponent may carry signs.
            let mut operands: Vec<(Vec<Span>, AExpr, usize)> = Vec::new();
            let mut signs = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::op_pow => {}
                    Rule::op_neg => signs.push(span_of(&p)),
                    _ => {
                        let (e, d) = expr_depth(p)?;
                        operands.push((std::mem::take(&mut signs), e, d));
                    }
                }
            }
            let (signs, mut acc, mut depth) = operands.pop().expect("pow has an operand");
            acc = apply_signs(signs, acc, &mut depth, span)?;
            while let Some((signs, base, d)) = operands.pop() {
                depth = 1 + depth.max(d);
                if depth > MAX_DEPTH {
                    return Err(too_deep(span));
                }
                let s = base.span.to(acc.span);
                acc = mk(AKind::Binary(AOp::Pow, Box::new(base), Box::new(acc)), s);
                acc = apply_signs(signs, acc, &mut depth, span)?;
            }
            Ok((acc, depth))
        }
        Rule::postfix => {
            let mut inner = pair.into_inner();
            let (mut acc, mut depth) = expr_depth(inner.next().expect("postfix has an atom"))?;
            for idx in inner {
                let close = span_of(&idx);
                let mut items = Vec::new();
                for it in idx.into_inner() {
                    let (item, d) = index_item(it)?;
                    depth = depth.max(d);
                    items.push(item);
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep(span));
                }
                let s = acc.span.to(close);
                acc = mk(AKind::Index(Box::new(acc), items), s);
            }
            Ok((acc, depth))
        }
        Rule::quantity => {
            let mut inner = pair.into_inner();
            let n = inner.next().expect("quantity has a number").as_str();
            let u = inner.next().expect("quantity has a unit").as_str();
            Ok((mk(AKind::Quantity(n.to_owned(), u.to_owned()), span), 1))
        }
        Rule::number => Ok((mk(AKind::Number(pair.as_str().to_owned()), span), 1)),
        Rule::string => {
            let body = pair.into_inner().next().map_or("", |p| p.as_str());
            Ok((mk(AKind::Str(unescape(body)), span), 1))
        }
        Rule::name => {
            let id = ident(pair.into_inner().next().expect("a name has an ident"));
            Ok((mk(AKind::Name(id.name), span), 1))
        }
        Rule::paren => {
            let (e, d) = expr_depth(pair.into_inner().next().expect("parens hold an expr"))?;
            Ok((mk(AKind::Paren(Box::new(e)), span), d + 1))
        }
        Rule::call => {
            let mut inner = pair.into_inner();
            let name = ident(inner.next().expect("a call has a name"));
            let mut args = Vec::new();
            let mut comp = None;
            let mut depth = 0;
            for p in inner {
                match p.as_rule() {
                    Rule::arg => {
                        let mut it = p.into_inner();
                        let first = it.next().expect("an arg has a value");
                        let (name, value) = if first.as_rule() == Rule::ident {
                            let v = it.next().expect("a named arg has a value");
                            (Some(ident(first)), v)
                        } else {
                            (None, first)
                        };
                        let (value, d) = expr_depth(value)?;
                        depth = depth.max(d);
                        args.push(Arg { name, value });
                    }
                    Rule::comp_tail => {
                        let (c, d) = comp_tail(p)?;
                        depth = depth.max(d);
                        comp = Some(c);
                    }
                    other => unreachable!("the grammar allows no {other:?} in a call"),
                }
            }
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(too_deep(span));
            }
            Ok((mk(AKind::Call(name, args, comp), span), depth))
        }
        Rule::list => {
            let mut items = Vec::new();
            let mut comp = None;
            let mut depth = 0;
            for p in pair.into_inner() {
                if p.as_rule() == Rule::comp_tail {
                    let (c, d) = comp_tail(p)?;
                    depth = depth.max(d);
                    comp = Some(c);
                } else {
                    let (e, d) = expr_depth(p)?;
                    depth = depth.max(d);
                    items.push(e);
                }
            }
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(too_deep(span));
            }
            Ok((mk(AKind::List(items, comp), span), depth))
        }
        other => unreachable!("the grammar allows no {other:?} in an expression"),
    }
}

fn apply_signs(
    signs: Vec<Span>,
    mut e: AExpr,
    depth: &mut usize,
    span: Span,
) -> Result<AExpr, Diagnostic> {
    for s in signs.into_iter().rev() {
        *depth += 1;
        if *depth > MAX_DEPTH {
            return Err(too_deep(span));
        }
        let sp = s.to(e.span);
        e = mk(AKind::Neg(Box::new(e)), sp);
    }
    Ok(e)
}

fn comp_tail(pair: Pair<'_, Rule>) -> Result<(Comp, usize), Diagnostic> {
    let mut inner = pair.into_inner();
    inner.next(); // for
    let var = ident(inner.next().expect("a comprehension has a variable"));
    inner.next(); // in
    let (lo, d1) = expr_depth(inner.next().expect("a range has a start"))?;
    let (hi, d2) = expr_depth(inner.next().expect("a range has an end"))?;
    Ok((
        Comp {
            var,
            lo: Box::new(lo),
            hi: Box::new(hi),
        },
        d1.max(d2),
    ))
}

fn index_item(pair: Pair<'_, Rule>) -> Result<(AIndex, usize), Diagnostic> {
    let span = span_of(&pair);
    let mut parts: [Option<AExpr>; 3] = [None, None, None];
    let mut slot = 0;
    let mut colons = 0;
    let mut depth = 0;
    for p in pair.into_inner() {
        if p.as_rule() == Rule::colon {
            colons += 1;
            slot = colons;
        } else {
            let (e, d) = expr_depth(p)?;
            depth = depth.max(d);
            parts[slot] = Some(e);
        }
    }
    let [start, stop, step] = parts.map(|p| p.map(Box::new));
    if colons == 0 {
        return match start {
            Some(e) => Ok((AIndex::At(*e), depth)),
            None => Err(Diagnostic::new(span, "an empty index")
                .label("nothing here")
                .help("write a position (`x[0]`), a slice (`x[2:5]`) or `:` for the whole axis")),
        };
    }
    Ok((
        AIndex::Slice {
            start,
            stop,
            step,
            span,
        },
        depth,
    ))
}

fn binop(pair: &Pair<'_, Rule>) -> AOp {
    match pair.as_str() {
        "or" => AOp::Or,
        "and" => AOp::And,
        "==" => AOp::Eq,
        "!=" => AOp::Ne,
        "<" => AOp::Lt,
        "<=" => AOp::Le,
        ">" => AOp::Gt,
        ">=" => AOp::Ge,
        "+" => AOp::Add,
        "-" => AOp::Sub,
        "*" => AOp::Mul,
        "/" => AOp::Div,
        "%" => AOp::Rem,
        other => unreachable!("the grammar has no operator {other:?}"),
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
# A comment
subnet tiny {
  version = "0.1.0"   # trailing
  task {
    let x = -2 ** 2 + f(a, b = 1)[0, 1:3, ::2]
    let y = sum(x * k for k in 0..3)
    send x: f32[4]
    expect f32[4]
    timeout = 2s
  }
}
"#;

    #[test]
    fn parses_items_statements_and_expressions() {
        let f = parse(SMALL).unwrap();
        assert_eq!(f.name.name, "tiny");
        assert_eq!(f.items.len(), 2);
        assert_eq!(f.comments.len(), 2);
        assert_eq!(f.comments[1].text, "# trailing");
        let Item::Task(task) = &f.items[1] else {
            panic!("expected the task")
        };
        assert_eq!(task.stmts.len(), 5);
        let Stmt::Let(x) = &task.stmts[0] else {
            panic!("expected a let")
        };
        // -2 ** 2 is -(2 ** 2); the sum's left operand is that negation.
        let AKind::Binary(AOp::Add, lhs, rhs) = &x.value.kind else {
            panic!("expected +, got {:?}", x.value.kind)
        };
        assert!(
            matches!(&lhs.kind, AKind::Neg(inner) if matches!(inner.kind, AKind::Binary(AOp::Pow, _, _)))
        );
        let AKind::Index(_, items) = &rhs.kind else {
            panic!("expected an index")
        };
        assert_eq!(items.len(), 3);
        assert!(matches!(
            items[2],
            AIndex::Slice {
                start: None,
                stop: None,
                step: Some(_),
                ..
            }
        ));
        let Stmt::Let(y) = &task.stmts[1] else {
            panic!("expected a let")
        };
        assert!(
            matches!(&y.value.kind, AKind::Call(n, args, Some(_)) if n.name == "sum" && args.len() == 1)
        );
        let Stmt::Setting(t) = &task.stmts[4] else {
            panic!("expected a setting")
        };
        assert_eq!(t.value.kind, AKind::Quantity("2".into(), "s".into()));
    }

    #[test]
    fn strings_hide_comment_marks_and_brackets() {
        let src = "subnet a { summary = \"not # a (comment \\\" [\" # one\n} # two";
        let found: Vec<String> = comments(src).into_iter().map(|c| c.text).collect();
        assert_eq!(found, ["# one", "# two"]);
        let f = parse(src).unwrap();
        let Item::Setting(s) = &f.items[0] else {
            panic!()
        };
        // The span ends at the closing quote, not at the trailing comment.
        assert!(src[..s.span.end as usize].ends_with("[\""));
    }

    #[test]
    fn power_is_right_associative() {
        let f = parse("subnet a { task { let x = 2 ** 3 ** 2 } }").unwrap();
        let Item::Task(t) = &f.items[0] else { panic!() };
        let Stmt::Let(x) = &t.stmts[0] else { panic!() };
        let AKind::Binary(AOp::Pow, base, exp) = &x.value.kind else {
            panic!()
        };
        assert_eq!(base.kind, AKind::Number("2".into()));
        assert!(matches!(exp.kind, AKind::Binary(AOp::Pow, _, _)));
    }

    #[test]
    fn hostile_inputs_give_errors_not_panics() {
        let deep = format!(
            "subnet a {{ task {{ let x = {}1{} }} }}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        assert!(parse(&deep).unwrap_err().message.contains("nest"));
        let long_chain = format!(
            "subnet a {{ task {{ let x = 1{} }} }}",
            " + 1".repeat(5_000)
        );
        assert!(parse(&long_chain).unwrap_err().message.contains("deep"));
        let minus = format!("subnet a {{ task {{ let x = {}1 }} }}", "-".repeat(50_000));
        assert!(parse(&minus).is_err());
        assert!(parse("").unwrap_err().message.contains("empty"));
        assert!(
            parse_bytes(&[0xff, 0xfe, 0x00])
                .unwrap_err()
                .message
                .contains("UTF-8")
        );
        assert!(
            parse_bytes(&vec![b' '; 50 << 20])
                .unwrap_err()
                .message
                .contains("limit")
        );
        let e = parse("subnet a { task { x } }").unwrap_err();
        assert!(e.message.starts_with("expected"), "{}", e.message);
    }
}
