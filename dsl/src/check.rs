//! The checker: from the parsed spec to the typed program ([`crate::ir`]), with every
//! problem reported as a [`Diagnostic`] (several per run where they are independent).
//!
//! It resolves names, infers and checks element kinds and shapes (broadcasting, axes,
//! indices, declared types), checks units and hyperparameter bounds, loads data files, and
//! expands library functions (`mean`, `mse`, `cross_entropy`, `one_hot`, ...) into the core
//! operations, exactly as `docs/dsl.md` documents them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ganglion_plugin_abi::payload::DType;

use crate::diag::Diagnostic;
use crate::ir::{
    ArgOp, BinOp, DataId, DataTable, Dist, Elem, Expr, ExprKind, Fold, IndexItem, Let, Meta, N,
    Output, ParamValue, Program, ReduceOp, Reward, Score, Smooth, Span, Task, TensorSpec, Ty, UnOp,
    VarId, VarInfo,
};
use crate::params::{self, Written};
use crate::syntax::{AExpr, AIndex, AKind, AOp, Arg, Comp, File, Ident, Item, Setting, Stmt};

/// The most elements one tensor may have.
pub const MAX_ELEMENTS: usize = 1 << 22;
/// The most iterations of one comprehension.
pub const MAX_ITERATIONS: i64 = 1 << 16;

/// Where a spec's data files come from.
pub trait Files {
    /// The bytes of `path` (relative to the spec), or why not.
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;
}

/// Data files from a directory (the spec's own).
#[derive(Debug, Clone)]
pub struct DirFiles(pub PathBuf);

impl Files for DirFiles {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        let full = self.0.join(path);
        std::fs::read(&full).map_err(|e| format!("cannot read {}: {e}", full.display()))
    }
}

/// Data files from memory (a bundle's).
#[derive(Debug, Clone, Default)]
pub struct MapFiles(pub BTreeMap<String, Vec<u8>>);

impl Files for MapFiles {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| format!("the bundle holds no data file `{path}`"))
    }
}

/// Checks a parsed spec; data files are read through `files`.
pub fn check(file: &File, files: &dyn Files) -> Result<Program, Vec<Diagnostic>> {
    let mut c = Checker {
        diags: Vec::new(),
        vars: Vec::new(),
        data: Vec::new(),
    };
    let program = c.file(file, files);
    match program {
        Some(p) if c.diags.is_empty() => Ok(p),
        _ => {
            let mut diags = c.diags;
            diags.sort_by_key(|d| (d.span.start, d.span.end));
            diags.dedup();
            Err(diags)
        }
    }
}

type R<T> = Result<T, ()>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Task,
    Score,
    Reward,
}

#[derive(Debug, Clone)]
enum Binding {
    Var {
        id: VarId,
        konst: Option<Expr>,
    },
    Table(DataId),
    /// A task value the score cannot see.
    TaskOnly,
    /// A name whose definition had an error (already reported): uses of it are not
    /// reported again.
    Poisoned,
}

/// What checking the task block gives the rest of the checker, even when it failed.
struct TaskOut {
    task: Option<Task>,
    env: Env,
    send: Vec<Output>,
    keep: Vec<Output>,
    expect: Option<TensorSpec>,
    /// Names given to `send`/`keep` that failed (the score must not report them again).
    poisoned: Vec<String>,
}

#[derive(Debug, Default)]
struct Env {
    names: BTreeMap<String, Binding>,
}

struct Checker {
    diags: Vec<Diagnostic>,
    vars: Vec<VarInfo>,
    data: Vec<DataTable>,
}

fn shape_str(shape: &[usize]) -> String {
    if shape.is_empty() {
        return "a scalar".to_owned();
    }
    let dims: Vec<String> = shape
        .iter()
        .map(|&d| {
            if d == N {
                "n".to_owned()
            } else {
                d.to_string()
            }
        })
        .collect();
    format!("[{}]", dims.join(", "))
}

fn ty_str(ty: &Ty) -> String {
    if ty.shape.is_empty() {
        format!("{} scalar", ty.elem.name())
    } else {
        format!("{}{}", ty.elem.name(), shape_str(&ty.shape))
    }
}

fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out.push(if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        });
    }
    Some(out)
}

/// Scalar semantics of the binary operators (the same as the interpreter's), for constant
/// folding.
fn apply_bin(op: BinOp, a: f64, b: f64) -> f64 {
    let t = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Pow => libm::pow(a, b),
        BinOp::Rem => a - b * (a / b).floor(),
        BinOp::Min => {
            if b < a {
                b
            } else {
                a
            }
        }
        BinOp::Max => {
            if b > a {
                b
            } else {
                a
            }
        }
        BinOp::Eq => t(a == b),
        BinOp::Ne => t(a != b),
        BinOp::Lt => t(a < b),
        BinOp::Le => t(a <= b),
        BinOp::Gt => t(a > b),
        BinOp::Ge => t(a >= b),
        BinOp::And => t(a != 0.0 && b != 0.0),
        BinOp::Or => t(a != 0.0 || b != 0.0),
    }
}

fn const_of(e: &Expr) -> Option<&[f64]> {
    match &e.kind {
        ExprKind::Const(v) => Some(v),
        _ => None,
    }
}

fn mk(ty: Ty, kind: ExprKind, span: Span) -> Expr {
    Expr { ty, kind, span }
}

fn konst(elem: Elem, shape: Vec<usize>, values: Vec<f64>, span: Span) -> Expr {
    mk(Ty::new(elem, shape), ExprKind::Const(values), span)
}

fn float(v: f64, span: Span) -> Expr {
    konst(Elem::Float, Vec::new(), vec![v], span)
}

fn retype(mut e: Expr, elem: Elem) -> Expr {
    e.ty.elem = elem;
    e
}

const RANDOM: &[&str] = &[
    "uniform",
    "normal",
    "integer",
    "bernoulli",
    "choice",
    "shuffle",
    "sample",
];

/// Functions available in `reward`.
const REWARD_FUNCS: &[&str] = &[
    "abs",
    "clamp",
    "exp",
    "float",
    "ln",
    "max",
    "min",
    "normalize",
    "pow",
    "power",
    "relu",
    "sigmoid",
    "softmax",
    "sqrt",
    "sum",
    "tanh",
    "top_k",
    "where",
];

/// Every function name, for suggestions.
const FUNCS: &[&str] = &[
    "abs",
    "accuracy",
    "arange",
    "argmax",
    "argmin",
    "bernoulli",
    "ceil",
    "choice",
    "clamp",
    "concat",
    "cos",
    "cosine",
    "cross_entropy",
    "cumsum",
    "dot",
    "exp",
    "flatten",
    "float",
    "floor",
    "full",
    "int",
    "integer",
    "linspace",
    "ln",
    "log_softmax",
    "mae",
    "matmul",
    "max",
    "mean",
    "min",
    "mse",
    "normal",
    "normalize",
    "one_hot",
    "ones",
    "pow",
    "power",
    "prod",
    "r2",
    "relu",
    "reshape",
    "rmse",
    "round",
    "sample",
    "shuffle",
    "sigmoid",
    "sin",
    "softmax",
    "sort",
    "sqrt",
    "stack",
    "std",
    "sum",
    "tan",
    "tanh",
    "top_k",
    "top_k_accuracy",
    "transpose",
    "trunc",
    "uniform",
    "var",
    "where",
    "zeros",
];

impl Checker {
    fn err<T>(&mut self, d: Diagnostic) -> R<T> {
        self.diags.push(d);
        Err(())
    }

    fn new_var(&mut self, name: &str, ty: Ty) -> VarId {
        let id = VarId(u32::try_from(self.vars.len()).expect("fewer than 2^32 variables"));
        self.vars.push(VarInfo {
            name: name.to_owned(),
            ty,
        });
        id
    }

    fn var_expr(&self, id: VarId, span: Span) -> Expr {
        mk(self.vars[id.0 as usize].ty.clone(), ExprKind::Var(id), span)
    }

    // ----- the file -----

    fn file(&mut self, file: &File, files: &dyn Files) -> Option<Program> {
        let mut version = None;
        let mut summary = None;
        let mut task_block = None;
        let mut score_block = None;
        let mut incentive_block = None;
        let mut data_env = Env::default();
        if file.name.name.len() > 64 {
            self.diags.push(
                Diagnostic::new(file.name.span, "the subnet's name is longer than 64 bytes")
                    .label("too long")
                    .help("the chain keeps names of 1 to 64 bytes"),
            );
        }
        for item in &file.items {
            match item {
                Item::Setting(s) => match s.name.name.as_str() {
                    "version" => {
                        if version.is_some() {
                            self.duplicate(&s.name);
                        }
                        version = self.meta_string(s, "version").ok();
                        if let Some(v) = &version
                            && !is_semver(v)
                        {
                            self.diags.push(
                                Diagnostic::new(s.value.span, format!("`{v}` is not a version"))
                                    .label("expected MAJOR.MINOR.PATCH")
                                    .help("write a semantic version, like `version = \"1.0.0\"`"),
                            );
                        }
                    }
                    "summary" => {
                        if summary.is_some() {
                            self.duplicate(&s.name);
                        }
                        summary = self.meta_string(s, "summary").ok();
                    }
                    other => {
                        self.diags.push(
                            Diagnostic::new(
                                s.name.span,
                                format!("unknown subnet setting `{other}`"),
                            )
                            .label("not a subnet setting")
                            .suggest_or(
                                other,
                                ["version", "summary"],
                                "a subnet has `version`, `summary`, `data`, and the `task`, `score` and `incentive` blocks",
                            ),
                        );
                    }
                },
                Item::Data(s) => self.data_decl(s, files, &mut data_env),
                Item::Task(b) => {
                    if task_block.is_some() {
                        self.duplicate_block("task", b.keyword);
                    } else {
                        task_block = Some(b);
                    }
                }
                Item::Score(b) => {
                    if score_block.is_some() {
                        self.duplicate_block("score", b.keyword);
                    } else {
                        score_block = Some(b);
                    }
                }
                Item::Incentive(b) => {
                    if incentive_block.is_some() {
                        self.duplicate_block("incentive", b.keyword);
                    } else {
                        incentive_block = Some(b);
                    }
                }
            }
        }
        let at = file.name.span;
        if version.is_none() && !self.diags.iter().any(|d| d.message.contains("version")) {
            self.diags.push(
                Diagnostic::new(at, "the subnet has no `version`")
                    .label("missing `version`")
                    .help("add `version = \"0.1.0\"` inside the subnet"),
            );
        }
        if summary.is_none() && !self.diags.iter().any(|d| d.message.contains("summary")) {
            self.diags.push(
                Diagnostic::new(at, "the subnet has no `summary`")
                    .label("missing `summary`")
                    .help("add `summary = \"what miners must do\"` inside the subnet"),
            );
        }
        for (block, name, example) in [
            (
                task_block.is_some(),
                "task",
                "task { let x = normal(0, 1, [8])  send x  keep x  expect f32[8] }",
            ),
            (
                score_block.is_some(),
                "score",
                "score { item = 1 - clamp(mse(response, x), 0, 1) }",
            ),
            (
                incentive_block.is_some(),
                "incentive",
                "incentive { tempo = 100 blocks }",
            ),
        ] {
            if !block {
                self.diags.push(
                    Diagnostic::new(at, format!("the subnet has no `{name}` block"))
                        .label(format!("missing `{name}`"))
                        .help(format!("add one, for example `{example}`")),
                );
            }
        }
        let task = task_block.map(|b| self.task(&b.stmts, b.keyword, &mut data_env));
        let score = match (&task, score_block) {
            (Some(out), Some(b)) => self.score(&b.stmts, b.keyword, out).ok(),
            _ => None,
        };
        let incentive = incentive_block.and_then(|b| self.incentive(&b.stmts).ok());
        let task = task?.task?;
        let (params, reward) = incentive?;
        Some(Program {
            meta: Meta {
                name: file.name.name.clone(),
                version: version?,
                summary: summary?,
            },
            vars: std::mem::take(&mut self.vars),
            data: std::mem::take(&mut self.data),
            task,
            score: score?,
            params,
            reward,
        })
    }

    fn duplicate(&mut self, name: &Ident) {
        self.diags.push(
            Diagnostic::new(name.span, format!("`{}` is set twice", name.name))
                .label("set again here")
                .help("keep one of them"),
        );
    }

    fn duplicate_block(&mut self, name: &str, span: Span) {
        self.diags.push(
            Diagnostic::new(span, format!("a second `{name}` block"))
                .label("already given above")
                .help(format!("a subnet has one `{name}` block: merge them")),
        );
    }

    fn meta_string(&mut self, s: &Setting, what: &str) -> R<String> {
        match &s.value.kind {
            AKind::Str(v) if v.trim().is_empty() => self.err(
                Diagnostic::new(s.value.span, format!("the `{what}` is empty"))
                    .label("empty")
                    .help(format!("give the subnet a {what}")),
            ),
            AKind::Str(v) if v.contains('\n') || v.len() > 200 => self.err(
                Diagnostic::new(
                    s.value.span,
                    format!("the `{what}` must be one line of at most 200 bytes"),
                )
                .label("too long"),
            ),
            AKind::Str(v) => Ok(v.clone()),
            _ => self.err(
                Diagnostic::new(s.value.span, format!("the `{what}` must be a string"))
                    .label("not a string")
                    .help(format!("quote it: `{what} = \"...\"`")),
            ),
        }
    }

    fn data_decl(&mut self, s: &Setting, files: &dyn Files, env: &mut Env) {
        let AKind::Call(f, args, None) = &s.value.kind else {
            self.diags.push(
                Diagnostic::new(s.value.span, "a data table is read with `csv(\"FILE\")`")
                    .label("expected csv(\"...\")")
                    .help(format!(
                        "write `data {} = csv(\"{}.csv\")`",
                        s.name.name, s.name.name
                    )),
            );
            return;
        };
        let path = match (f.name.as_str(), args.as_slice()) {
            ("csv", [Arg { name: None, value }]) => match &value.kind {
                AKind::Str(p) => (p.clone(), value.span),
                _ => {
                    self.diags.push(
                        Diagnostic::new(value.span, "the file name must be a string")
                            .label("not a string"),
                    );
                    return;
                }
            },
            _ => {
                self.diags.push(
                    Diagnostic::new(s.value.span, "a data table is read with `csv(\"FILE\")`")
                        .label("expected one file name")
                        .help("CSV files, optionally gzipped (`.csv.gz`), beside the spec"),
                );
                return;
            }
        };
        if let Err(why) = check_data_path(&path.0) {
            self.diags.push(
                Diagnostic::new(path.1, format!("`{}` cannot be bundled: {why}", path.0))
                    .label("bad path")
                    .help("name a file beside the spec or below its directory, like \"data/table.csv.gz\""),
            );
            return;
        }
        if env.names.contains_key(&s.name.name) {
            self.diags.push(
                Diagnostic::new(s.name.span, format!("`{}` is already defined", s.name.name))
                    .label("defined again")
                    .help("give each table its own name"),
            );
            return;
        }
        let bytes = match files.read(&path.0) {
            Ok(b) => b,
            Err(why) => {
                self.diags.push(
                    Diagnostic::new(path.1, format!("cannot read data file `{}`", path.0))
                        .label(why)
                        .help("data files are read relative to the spec's directory"),
                );
                return;
            }
        };
        match crate::data::parse_table(&s.name.name, &path.0, &bytes) {
            Ok(table) => {
                let id = DataId(u32::try_from(self.data.len()).expect("few tables"));
                self.data.push(table);
                env.names.insert(s.name.name.clone(), Binding::Table(id));
            }
            Err(e) => self.diags.push(
                Diagnostic::new(path.1, format!("data file `{}` is not usable", path.0))
                    .label(e.to_string())
                    .help("a table is rows of comma-separated numbers, all rows the same length"),
            ),
        }
    }

    // ----- task -----

    fn task(&mut self, stmts: &[Stmt], keyword: Span, data_env: &mut Env) -> TaskOut {
        let mut env = Env {
            names: std::mem::take(&mut data_env.names),
        };
        let mut lets = Vec::new();
        let mut failed = false;
        let mut timeout = None;
        for stmt in stmts {
            match stmt {
                Stmt::Let(s) => match self.let_stmt(s, &mut env, Ctx::Task) {
                    Ok(l) => lets.push(l),
                    Err(()) => failed = true,
                },
                Stmt::Setting(s) if s.name.name == "timeout" => {
                    if timeout.is_some() {
                        self.duplicate(&s.name);
                    }
                    timeout = self.timeout(s).ok();
                    failed |= timeout.is_none();
                }
                Stmt::Setting(s) => {
                    self.diags.push(
                        Diagnostic::new(
                            s.name.span,
                            format!("unknown task setting `{}`", s.name.name),
                        )
                        .label("not a task setting")
                        .suggest_or(
                            &s.name.name,
                            ["timeout"],
                            "bind values with `let NAME = ...`; the task's one setting is `timeout`",
                        ),
                    );
                    failed = true;
                }
                _ => {}
            }
        }
        let mut send = Vec::new();
        let mut keep = Vec::new();
        let mut expect = None;
        let mut io_names: BTreeMap<String, Span> = BTreeMap::new();
        let mut poisoned = Vec::new();
        for stmt in stmts {
            match stmt {
                Stmt::Send(io) | Stmt::Keep(io) => {
                    let is_send = matches!(stmt, Stmt::Send(_));
                    if let Some(prev) = io_names.get(&io.name.name) {
                        let _ = prev;
                        self.diags.push(
                            Diagnostic::new(
                                io.name.span,
                                format!("`{}` is already sent or kept", io.name.name),
                            )
                            .label("again here")
                            .help("each value is sent or kept once"),
                        );
                        failed = true;
                        continue;
                    }
                    io_names.insert(io.name.name.clone(), io.span);
                    match self.output(io, &env, is_send) {
                        Ok(o) if is_send => send.push(o),
                        Ok(o) => keep.push(o),
                        Err(()) => {
                            poisoned.push(io.name.name.clone());
                            failed = true;
                        }
                    }
                }
                Stmt::Expect(ty, span) => {
                    if expect.is_some() {
                        self.diags.push(
                            Diagnostic::new(*span, "a second `expect`")
                                .label("already given")
                                .help("a task expects one response tensor"),
                        );
                        failed = true;
                        continue;
                    }
                    match self.expect(ty) {
                        Ok(spec) => expect = Some(spec),
                        Err(()) => failed = true,
                    }
                }
                _ => {}
            }
        }
        if send.is_empty() && !failed {
            let at = keyword;
            self.diags.push(
                Diagnostic::new(at, "the task sends nothing to miners")
                    .label("no `send`")
                    .help("add `send NAME` for the value miners answer"),
            );
            failed = true;
        }
        if expect.is_none() && !failed {
            let at = keyword;
            self.diags.push(
                Diagnostic::new(at, "the task does not say what miners answer")
                    .label("no `expect`")
                    .help("add `expect f32[SHAPE]`, the response's dtype and shape"),
            );
            failed = true;
        }
        let task = (!failed).then(|| Task {
            lets,
            send: send.clone(),
            keep: keep.clone(),
            expect: expect.clone().expect("checked above"),
            timeout_ms: timeout.unwrap_or(2_000),
        });
        TaskOut {
            task,
            env,
            send,
            keep,
            expect,
            poisoned,
        }
    }

    fn let_stmt(&mut self, s: &Setting, env: &mut Env, ctx: Ctx) -> R<Let> {
        if let Some(b) = env.names.get(&s.name.name)
            && !matches!(b, Binding::TaskOnly)
        {
            if matches!(b, Binding::Poisoned) {
                return Err(());
            }
            return self.err(
                Diagnostic::new(s.name.span, format!("`{}` is already defined", s.name.name))
                    .label("defined again")
                    .help("names cannot be rebound: pick a new name"),
            );
        }
        let value = match self.expr(&s.value, env, ctx) {
            Ok(v) => v,
            Err(()) => {
                env.names.insert(s.name.name.clone(), Binding::Poisoned);
                return Err(());
            }
        };
        let id = self.new_var(&s.name.name, value.ty.clone());
        let konst = match &value.kind {
            ExprKind::Const(v) if v.len() == 1 => Some(Expr {
                span: s.name.span,
                ..value.clone()
            }),
            _ => None,
        };
        env.names
            .insert(s.name.name.clone(), Binding::Var { id, konst });
        Ok(Let { var: id, value })
    }

    fn timeout(&mut self, s: &Setting) -> R<u64> {
        let bad = |span| {
            Diagnostic::new(span, "`timeout` takes a duration")
                .label("expected seconds or milliseconds")
                .help("write `timeout = 2s` or `timeout = 500ms`")
        };
        let AKind::Quantity(num, unit) = &s.value.kind else {
            return self.err(bad(s.value.span));
        };
        let per = match unit.as_str() {
            "s" => 1000,
            "ms" => 1,
            _ => return self.err(bad(s.value.span)),
        };
        let d = params::Decimal::parse(num);
        match d {
            Some(d) if d.times_is_whole(per) => {
                let ms = d.times_floor(per).unwrap_or(u128::MAX);
                if !(10..=60_000).contains(&ms) {
                    return self.err(
                        Diagnostic::new(
                            s.value.span,
                            format!("a timeout of {ms} ms is out of range"),
                        )
                        .label("out of range")
                        .help("a timeout is 10ms to 60s"),
                    );
                }
                Ok(u64::try_from(ms).unwrap_or(u64::MAX))
            }
            _ => self.err(bad(s.value.span)),
        }
    }

    fn dtype(&mut self, name: &Ident) -> R<DType> {
        match DType::from_name(&name.name) {
            Some(d) => Ok(d),
            None => self.err(
                Diagnostic::new(name.span, format!("unknown dtype `{}`", name.name))
                    .label("not a dtype")
                    .suggest_or(
                        &name.name,
                        DType::ALL.map(DType::name),
                        "the dtypes are f32, f64, i32, i64 and u8",
                    ),
            ),
        }
    }

    fn output(&mut self, io: &crate::syntax::Io, env: &Env, send: bool) -> R<Output> {
        let what = if send { "send" } else { "keep" };
        if io.name.name == "response" {
            return self.err(
                Diagnostic::new(
                    io.name.span,
                    format!("cannot {what} a value called `response`"),
                )
                .label("a reserved name")
                .help("in the score, `response` is the miner's answer: rename this value"),
            );
        }
        let (id, ty) = match env.names.get(&io.name.name) {
            Some(Binding::Var { id, .. }) => (*id, self.vars[id.0 as usize].ty.clone()),
            Some(Binding::Poisoned) => return Err(()),
            Some(Binding::Table(..)) => {
                return self.err(
                    Diagnostic::new(
                        io.name.span,
                        format!("`{}` is a data table, not a value", io.name.name),
                    )
                    .label("a table")
                    .help(format!(
                        "draw rows first: `let row = sample({})`",
                        io.name.name
                    )),
                );
            }
            _ => {
                let names: Vec<&str> = env.names.keys().map(String::as_str).collect();
                return self.err(
                    Diagnostic::new(io.name.span, format!("unknown name `{}`", io.name.name))
                        .label("not defined in the task")
                        .suggest_or(
                            &io.name.name,
                            names,
                            format!(
                                "define it with `let {} = ...` before you {what} it",
                                io.name.name
                            ),
                        ),
                );
            }
        };
        let default = match (ty.elem, send) {
            (Elem::Float, true) => DType::F32,
            (Elem::Float, false) => DType::F64,
            (Elem::Int, _) => DType::I32,
            (Elem::Bool, _) => DType::U8,
        };
        let dtype = match &io.ty {
            Some(ann) => {
                let dtype = self.dtype(&ann.dtype)?;
                if let Some(dims) = &ann.dims {
                    let declared: Vec<usize> = dims.iter().map(|d| d.0 as usize).collect();
                    if declared != ty.shape {
                        return self.err(
                            Diagnostic::new(ann.span, format!(
                                "`{}` has shape {} but is declared {}",
                                io.name.name,
                                shape_str(&ty.shape),
                                shape_str(&declared)
                            ))
                            .label(format!("the value is {}", ty_str(&ty)))
                            .help("fix the declared shape, or reshape the value with `reshape(x, [...])`"),
                        );
                    }
                }
                if ty.elem == Elem::Float && !matches!(dtype, DType::F32 | DType::F64) {
                    return self.err(
                        Diagnostic::new(
                            ann.dtype.span,
                            format!(
                                "`{}` holds floats, which {} would truncate",
                                io.name.name,
                                dtype.name()
                            ),
                        )
                        .label("an integer dtype")
                        .help(format!(
                            "{what} it as f32 or f64, or convert it first with `int(...)`"
                        )),
                    );
                }
                dtype
            }
            None => default,
        };
        Ok(Output {
            name: io.name.name.clone(),
            var: id,
            dtype,
            shape: ty.shape,
            span: io.span,
        })
    }

    fn expect(&mut self, ann: &crate::syntax::TypeAnn) -> R<TensorSpec> {
        let dtype = self.dtype(&ann.dtype)?;
        let Some(dims) = &ann.dims else {
            return self.err(
                Diagnostic::new(ann.span, "`expect` needs a shape")
                    .label("no shape")
                    .help(format!("write the response's shape, like `expect {}[10]` (`[]` for a single number)", ann.dtype.name)),
            );
        };
        let mut shape = Vec::new();
        for &(d, span) in dims {
            if d == 0 || d > MAX_ELEMENTS as u64 {
                return self.err(
                    Diagnostic::new(span, format!("a dimension of {d} is out of range"))
                        .label("bad dimension")
                        .help(format!("dimensions are 1 to {MAX_ELEMENTS}")),
                );
            }
            shape.push(d as usize);
        }
        if shape.len() > 8 {
            return self.err(
                Diagnostic::new(ann.span, "a response has at most 8 dimensions")
                    .label("too many dimensions"),
            );
        }
        self.size_ok(&shape, ann.span)?;
        Ok(TensorSpec { dtype, shape })
    }

    // ----- score -----

    fn score(&mut self, stmts: &[Stmt], keyword: Span, task: &TaskOut) -> R<Score> {
        let mut env = Env::default();
        for (name, b) in &task.env.names {
            match b {
                Binding::Var { .. } => {
                    env.names.insert(name.clone(), Binding::TaskOnly);
                }
                Binding::Poisoned => {
                    env.names.insert(name.clone(), Binding::Poisoned);
                }
                _ => {}
            }
        }
        for name in &task.poisoned {
            env.names.insert(name.clone(), Binding::Poisoned);
        }
        let elem_of = |d: DType| match d {
            DType::F32 | DType::F64 => Elem::Float,
            _ => Elem::Int,
        };
        let mut bind = |c: &mut Checker, o: &Output| {
            let id = c.new_var(&o.name, Ty::new(elem_of(o.dtype), o.shape.clone()));
            env.names
                .insert(o.name.clone(), Binding::Var { id, konst: None });
            id
        };
        let public: Vec<VarId> = task.send.iter().map(|o| bind(self, o)).collect();
        let private: Vec<VarId> = task.keep.iter().map(|o| bind(self, o)).collect();
        let expect = task.expect.clone().unwrap_or(TensorSpec {
            dtype: DType::F32,
            shape: Vec::new(),
        });
        let response = self.new_var("response", Ty::new(elem_of(expect.dtype), expect.shape));
        env.names.insert(
            "response".to_owned(),
            if task.expect.is_some() {
                Binding::Var {
                    id: response,
                    konst: None,
                }
            } else {
                Binding::Poisoned
            },
        );
        let mut lets = Vec::new();
        let mut item = None;
        let mut smooth = None;
        let mut failed = false;
        for stmt in stmts {
            match stmt {
                Stmt::Let(s) => match self.let_stmt(s, &mut env, Ctx::Score) {
                    Ok(l) => lets.push(l),
                    Err(()) => failed = true,
                },
                Stmt::Setting(s) if s.name.name == "item" => {
                    if item.is_some() {
                        self.duplicate(&s.name);
                    }
                    match self.expr(&s.value, &mut env, Ctx::Score) {
                        Ok(e) if e.ty.shape.is_empty() => item = Some(retype(e, Elem::Float)),
                        Ok(e) => {
                            self.diags.push(
                                Diagnostic::new(
                                    s.value.span,
                                    format!(
                                        "the score of a response must be one number; this is {}",
                                        ty_str(&e.ty)
                                    ),
                                )
                                .label("not a scalar")
                                .help("reduce it, for example with `mean(...)`"),
                            );
                            failed = true;
                        }
                        Err(()) => failed = true,
                    }
                }
                Stmt::Setting(s) if s.name.name == "smooth" => {
                    if smooth.is_some() {
                        self.duplicate(&s.name);
                    }
                    match self.smooth(&s.value) {
                        Ok(v) => smooth = Some(v),
                        Err(()) => failed = true,
                    }
                }
                Stmt::Setting(s) => {
                    self.diags.push(
                        Diagnostic::new(
                            s.name.span,
                            format!("unknown score setting `{}`", s.name.name),
                        )
                        .label("not a score setting")
                        .suggest_or(
                            &s.name.name,
                            ["item", "smooth"],
                            "a score block has `let` bindings, `item = ...` and `smooth = ...`",
                        ),
                    );
                    failed = true;
                }
                Stmt::Send(io) | Stmt::Keep(io) => {
                    self.diags.push(
                        Diagnostic::new(io.span, "`send` and `keep` belong in the task")
                            .label("not in a score block")
                            .help("move it into the `task` block"),
                    );
                    failed = true;
                }
                Stmt::Expect(_, span) => {
                    self.diags.push(
                        Diagnostic::new(*span, "`expect` belongs in the task")
                            .label("not in a score block")
                            .help("move it into the `task` block"),
                    );
                    failed = true;
                }
            }
        }
        if item.is_none() && !failed {
            self.diags.push(
                Diagnostic::new(keyword, "the score block has no `item`")
                    .label("no `item`")
                    .help("add `item = ...`, the score of one response in [0, 1], e.g. `item = 1 - clamp(mse(response, target), 0, 1)`"),
            );
            failed = true;
        }
        if failed {
            return Err(());
        }
        Ok(Score {
            public,
            private,
            response,
            lets,
            item: item.expect("checked above"),
            smooth: smooth.unwrap_or(Smooth::Ema(0.1)),
        })
    }

    fn smooth(&mut self, e: &AExpr) -> R<Smooth> {
        let bad = |span| {
            Diagnostic::new(span, "unknown smoothing rule")
                .label("expected ema(ALPHA), window(N) or last")
                .help("for example `smooth = ema(0.1)`")
        };
        match &e.kind {
            AKind::Name(n) if n == "last" => Ok(Smooth::Last),
            AKind::Call(f, args, None) if args.len() == 1 && args[0].name.is_none() => {
                let arg = &args[0].value;
                let AKind::Number(text) = &arg.kind else {
                    return self.err(bad(arg.span));
                };
                match f.name.as_str() {
                    "ema" => match text.replace('_', "").parse::<f64>() {
                        Ok(a) if a > 0.0 && a <= 1.0 => Ok(Smooth::Ema(a)),
                        _ => self.err(
                            Diagnostic::new(
                                arg.span,
                                format!("ema's weight must be in (0, 1], not {text}"),
                            )
                            .label("out of range")
                            .help("the weight of the newest score, like `ema(0.1)`"),
                        ),
                    },
                    "window" => match text.replace('_', "").parse::<u32>() {
                        Ok(n) if (1..=10_000).contains(&n) => Ok(Smooth::Window(n)),
                        _ => self.err(
                            Diagnostic::new(
                                arg.span,
                                format!("a window of `{text}` scores is out of range"),
                            )
                            .label("out of range")
                            .help("a whole number of rounds from 1 to 10000"),
                        ),
                    },
                    _ => self.err(bad(e.span)),
                }
            }
            _ => self.err(bad(e.span)),
        }
    }

    // ----- incentive -----

    #[expect(
        clippy::type_complexity,
        reason = "a private pair of the block's two results"
    )]
    fn incentive(&mut self, stmts: &[Stmt]) -> R<(Vec<(String, ParamValue)>, Option<Reward>)> {
        let mut params: BTreeMap<String, (ParamValue, Span)> = BTreeMap::new();
        let mut reward = None;
        let mut failed = false;
        for stmt in stmts {
            let s = match stmt {
                Stmt::Setting(s) => s,
                other => {
                    self.diags.push(
                        Diagnostic::new(other.span(), "the incentive block holds settings only")
                            .label("not a setting")
                            .help("write `NAME = VALUE` (hyperparameters) or `reward = ...`"),
                    );
                    failed = true;
                    continue;
                }
            };
            if s.name.name == "reward" {
                if reward.is_some() {
                    self.duplicate(&s.name);
                }
                match self.reward(&s.value) {
                    Ok(r) => reward = Some(r),
                    Err(()) => failed = true,
                }
                continue;
            }
            let Some(spec) = params::find(&s.name.name) else {
                let names = params::PARAMS.iter().map(|p| p.name).chain(["reward"]);
                self.diags.push(
                    Diagnostic::new(
                        s.name.span,
                        format!("unknown hyperparameter `{}`", s.name.name),
                    )
                    .label("the chain has no such parameter")
                    .suggest_or(
                        &s.name.name,
                        names,
                        "see docs/dsl.md for the chain's hyperparameters",
                    ),
                );
                failed = true;
                continue;
            };
            if params.contains_key(spec.name) {
                self.duplicate(&s.name);
                failed = true;
                continue;
            }
            let written = match &s.value.kind {
                AKind::Number(n) => Written::Number(n, None),
                AKind::Quantity(n, u) => Written::Number(n, Some(u)),
                AKind::Name(n) => Written::Name(n),
                _ => Written::Other,
            };
            match params::convert(spec, &written) {
                Ok(v) => {
                    params.insert(spec.name.to_owned(), (v, s.value.span));
                }
                Err((message, help)) => {
                    self.diags.push(
                        Diagnostic::new(s.value.span, message)
                            .label(format!("`{}`: {}", spec.name, spec.doc))
                            .help(help),
                    );
                    failed = true;
                }
            }
        }
        // Constraints between parameters.
        let int = |p: &BTreeMap<String, (ParamValue, Span)>, name: &str| match p.get(name) {
            Some((ParamValue::Int(v), span)) => Some((*v, *span)),
            _ => None,
        };
        for (lo, hi) in [
            ("min_burn", "max_burn"),
            ("alpha_low", "alpha_high"),
            ("min_allowed_weights", "max_uids"),
            ("max_validators", "max_uids"),
        ] {
            if let (Some((a, _)), Some((b, span))) = (int(&params, lo), int(&params, hi))
                && a > b
            {
                self.diags.push(
                    Diagnostic::new(span, format!("`{hi}` is below `{lo}`"))
                        .label(format!("must be at least `{lo}`"))
                        .help(format!("raise `{hi}` or lower `{lo}`")),
                );
                failed = true;
            }
        }
        if failed {
            return Err(());
        }
        Ok((
            params.into_iter().map(|(k, (v, _))| (k, v)).collect(),
            reward,
        ))
    }

    fn reward(&mut self, e: &AExpr) -> R<Reward> {
        let mut env = Env::default();
        let incentive = self.new_var("incentive", Ty::new(Elem::Float, vec![N]));
        env.names.insert(
            "incentive".to_owned(),
            Binding::Var {
                id: incentive,
                konst: None,
            },
        );
        let expr = self.expr(e, &mut env, Ctx::Reward)?;
        if !(expr.ty.shape.is_empty() || expr.ty.shape == [N]) || expr.ty.elem == Elem::Bool {
            return self.err(
                Diagnostic::new(
                    e.span,
                    format!(
                        "the reward must be a number per miner; this is {}",
                        ty_str(&expr.ty)
                    ),
                )
                .label("not a vector of numbers")
                .help("compute one value per entry of `incentive`, e.g. `power(incentive, 2)`"),
            );
        }
        Ok(Reward {
            incentive,
            expr: retype(expr, Elem::Float),
        })
    }

    // ----- expressions -----

    fn expr(&mut self, e: &AExpr, env: &mut Env, ctx: Ctx) -> R<Expr> {
        let span = e.span;
        match &e.kind {
            AKind::Number(text) => self.number(text, span),
            AKind::Quantity(n, u) => self.err(
                Diagnostic::new(
                    span,
                    format!("`{n} {u}` has a unit, which only settings take"),
                )
                .label("a quantity")
                .help(
                    "units belong in `timeout` and the incentive block; write a plain number here",
                ),
            ),
            AKind::Str(_) => self.err(
                Diagnostic::new(span, "a string is not a value")
                    .label("a string")
                    .help("strings only name files (`csv(\"...\")`) and describe the subnet"),
            ),
            AKind::Name(n) => self.name(n, span, env, ctx),
            AKind::Neg(x) => {
                let x = self.expr(x, env, ctx)?;
                if x.ty.elem == Elem::Bool {
                    return self.err(
                        Diagnostic::new(span, "cannot negate a bool")
                            .label("a bool")
                            .help("use `not x`, or convert with `float(x)`"),
                    );
                }
                Ok(self.unary(UnOp::Neg, x, span))
            }
            AKind::Not(x) => {
                let x = self.expr(x, env, ctx)?;
                if x.ty.elem != Elem::Bool {
                    return self.err(
                        Diagnostic::new(
                            span,
                            format!("`not` needs a bool; this is {}", ty_str(&x.ty)),
                        )
                        .label("not a bool")
                        .help("compare first, e.g. `not (x > 0)`"),
                    );
                }
                Ok(self.unary(UnOp::Not, x, span))
            }
            AKind::Binary(op, a, b) => {
                let lhs = self.expr(a, env, ctx);
                let rhs = self.expr(b, env, ctx);
                let (lhs, rhs) = (lhs?, rhs?);
                let op = match op {
                    AOp::Or => BinOp::Or,
                    AOp::And => BinOp::And,
                    AOp::Eq => BinOp::Eq,
                    AOp::Ne => BinOp::Ne,
                    AOp::Lt => BinOp::Lt,
                    AOp::Le => BinOp::Le,
                    AOp::Gt => BinOp::Gt,
                    AOp::Ge => BinOp::Ge,
                    AOp::Add => BinOp::Add,
                    AOp::Sub => BinOp::Sub,
                    AOp::Mul => BinOp::Mul,
                    AOp::Div => BinOp::Div,
                    AOp::Rem => BinOp::Rem,
                    AOp::Pow => BinOp::Pow,
                };
                self.binary(op, lhs, rhs, span)
            }
            AKind::Call(f, args, comp) => self.call(f, args, comp.as_ref(), span, env, ctx),
            AKind::List(items, None) => {
                if ctx == Ctx::Reward {
                    return self.not_in_reward(span, "a list");
                }
                self.list(items, span, env, ctx)
            }
            AKind::List(items, Some(comp)) => {
                if ctx == Ctx::Reward {
                    return self.not_in_reward(span, "a comprehension");
                }
                self.comprehension(&items[0], comp, Fold::Stack, span, env, ctx)
            }
            AKind::Index(base, items) => {
                if ctx == Ctx::Reward {
                    return self.not_in_reward(span, "indexing");
                }
                let base = self.expr(base, env, ctx)?;
                self.index(base, items, span, env, ctx)
            }
            AKind::If(c, a, b) => {
                let c = self.expr(c, env, ctx);
                let a = self.expr(a, env, ctx);
                let b = self.expr(b, env, ctx);
                self.select(c?, a?, b?, span)
            }
            AKind::Paren(x) => self.expr(x, env, ctx),
        }
    }

    fn not_in_reward<T>(&mut self, span: Span, what: &str) -> R<T> {
        self.err(
            Diagnostic::new(span, format!("{what} is not available in `reward`"))
                .label("not in reward")
                .help("the reward works on the whole incentive vector, whose length is only known in the epoch"),
        )
    }

    fn number(&mut self, text: &str, span: Span) -> R<Expr> {
        let clean = text.replace('_', "");
        if !clean.contains(['.', 'e', 'E']) {
            return match clean.parse::<u64>() {
                Ok(v) if v <= 1 << 53 => Ok(konst(Elem::Int, Vec::new(), vec![v as f64], span)),
                _ => self.err(
                    Diagnostic::new(span, format!("the integer {text} is too large"))
                        .label("above 2^53")
                        .help("integers are exact up to 9007199254740992; write a float (`1e18`) for larger values"),
                ),
            };
        }
        match clean.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(float(v, span)),
            _ => self.err(
                Diagnostic::new(span, format!("the number {text} is out of range"))
                    .label("not a finite float"),
            ),
        }
    }

    fn name(&mut self, n: &str, span: Span, env: &Env, ctx: Ctx) -> R<Expr> {
        match env.names.get(n) {
            Some(Binding::Var { id, konst, .. }) => Ok(match konst {
                Some(k) => Expr { span, ..k.clone() },
                None => self.var_expr(*id, span),
            }),
            Some(Binding::Table(..)) => self.err(
                Diagnostic::new(span, format!("`{n}` is a data table, not a value"))
                    .label("a table")
                    .help(format!(
                        "draw rows with `sample({n})` or `sample({n}, COUNT)`"
                    )),
            ),
            Some(Binding::Poisoned) => Err(()),
            Some(Binding::TaskOnly) => self.err(
                Diagnostic::new(
                    span,
                    format!("`{n}` is a task value that the score cannot see"),
                )
                .label("neither sent nor kept")
                .help(format!("add `keep {n}` to the task to score against it")),
            ),
            None => match n {
                "pi" => Ok(float(std::f64::consts::PI, span)),
                "tau" => Ok(float(std::f64::consts::TAU, span)),
                "true" => Ok(konst(Elem::Bool, Vec::new(), vec![1.0], span)),
                "false" => Ok(konst(Elem::Bool, Vec::new(), vec![0.0], span)),
                _ => {
                    let names: Vec<&str> = env
                        .names
                        .keys()
                        .map(String::as_str)
                        .chain(["pi", "tau", "true", "false"])
                        .collect();
                    let place = match ctx {
                        Ctx::Task => "in the task",
                        Ctx::Score => "in the score",
                        Ctx::Reward => "in `reward` (only `incentive` is)",
                    };
                    let otherwise = if FUNCS.contains(&n) {
                        format!("`{n}` is a function: call it, `{n}(...)`")
                    } else {
                        format!("define it first with `let {n} = ...`")
                    };
                    self.err(
                        Diagnostic::new(span, format!("unknown name `{n}`"))
                            .label(format!("not defined {place}"))
                            .suggest_or(n, names, otherwise),
                    )
                }
            },
        }
    }

    fn unary(&mut self, op: UnOp, x: Expr, span: Span) -> Expr {
        let elem = match op {
            UnOp::Not => Elem::Bool,
            UnOp::Neg | UnOp::Abs | UnOp::Floor | UnOp::Ceil | UnOp::Trunc | UnOp::Round
                if x.ty.elem == Elem::Int =>
            {
                Elem::Int
            }
            UnOp::Trunc => Elem::Int,
            _ => Elem::Float,
        };
        if op == UnOp::Neg
            && let ExprKind::Const(v) = &x.kind
        {
            return konst(
                elem,
                x.ty.shape.clone(),
                v.iter().map(|a| -a).collect(),
                span,
            );
        }
        mk(
            Ty::new(elem, x.ty.shape.clone()),
            ExprKind::Unary(op, Box::new(x)),
            span,
        )
    }

    fn math(&mut self, op: UnOp, x: Expr, span: Span, fname: &str) -> R<Expr> {
        if x.ty.elem == Elem::Bool {
            return self.err(
                Diagnostic::new(
                    span,
                    format!("`{fname}` needs numbers; this is {}", ty_str(&x.ty)),
                )
                .label("a bool")
                .help("convert it with `float(...)`"),
            );
        }
        Ok(self.unary(op, x, span))
    }

    fn binary(&mut self, op: BinOp, a: Expr, b: Expr, span: Span) -> R<Expr> {
        let Some(shape) = broadcast(&a.ty.shape, &b.ty.shape) else {
            return self.err(
                Diagnostic::new(span, format!(
                    "shapes {} and {} do not broadcast",
                    shape_str(&a.ty.shape),
                    shape_str(&b.ty.shape)
                ))
                .label(format!("{} and {}", ty_str(&a.ty), ty_str(&b.ty)))
                .help("aligned from the last axis, each pair of dimensions must be equal or 1; reshape one side"),
            );
        };
        let (ea, eb) = (a.ty.elem, b.ty.elem);
        let numeric = |c: &mut Checker, what: &str| -> R<()> {
            if ea == Elem::Bool || eb == Elem::Bool {
                return c.err(
                    Diagnostic::new(span, format!("{what} on a bool"))
                        .label(format!("{} and {}", ty_str(&a.ty), ty_str(&b.ty)))
                        .help("convert bools with `float(...)` first"),
                );
            }
            Ok(())
        };
        let elem = match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Rem | BinOp::Min | BinOp::Max => {
                numeric(self, "arithmetic")?;
                if ea == Elem::Int && eb == Elem::Int {
                    Elem::Int
                } else {
                    Elem::Float
                }
            }
            BinOp::Div | BinOp::Pow => {
                numeric(self, "arithmetic")?;
                Elem::Float
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                numeric(self, "an ordering comparison")?;
                Elem::Bool
            }
            BinOp::Eq | BinOp::Ne => Elem::Bool,
            BinOp::And | BinOp::Or => {
                if ea != Elem::Bool || eb != Elem::Bool {
                    return self.err(
                        Diagnostic::new(
                            span,
                            format!(
                                "`{}` needs bools; these are {} and {}",
                                if op == BinOp::And { "and" } else { "or" },
                                ty_str(&a.ty),
                                ty_str(&b.ty)
                            ),
                        )
                        .label("not bools")
                        .help("compare first, e.g. `(x > 0) and (x < 1)`"),
                    );
                }
                Elem::Bool
            }
        };
        self.size_ok(&shape, span)?;
        if let (Some([x]), Some([y])) = (const_of(&a), const_of(&b)) {
            return Ok(konst(elem, shape, vec![apply_bin(op, *x, *y)], span));
        }
        Ok(mk(
            Ty::new(elem, shape),
            ExprKind::Binary(op, Box::new(a), Box::new(b)),
            span,
        ))
    }

    fn select(&mut self, c: Expr, a: Expr, b: Expr, span: Span) -> R<Expr> {
        if c.ty.elem != Elem::Bool {
            return self.err(
                Diagnostic::new(
                    c.span,
                    format!("a condition must be a bool; this is {}", ty_str(&c.ty)),
                )
                .label("not a bool")
                .help("compare, e.g. `x > 0`"),
            );
        }
        let elem = match (a.ty.elem, b.ty.elem) {
            (x, y) if x == y => x,
            (Elem::Int | Elem::Float, Elem::Int | Elem::Float) => Elem::Float,
            _ => {
                return self.err(
                    Diagnostic::new(
                        span,
                        format!(
                            "the two branches differ: {} and {}",
                            ty_str(&a.ty),
                            ty_str(&b.ty)
                        ),
                    )
                    .label("a bool and a number")
                    .help("convert the bool with `float(...)`"),
                );
            }
        };
        let shape = broadcast(&a.ty.shape, &b.ty.shape).and_then(|s| broadcast(&c.ty.shape, &s));
        let Some(shape) = shape.filter(|s| {
            s.iter()
                .try_fold(1usize, |acc, &d| {
                    if d == N {
                        Some(acc)
                    } else {
                        acc.checked_mul(d)
                    }
                })
                .is_some_and(|n| n <= MAX_ELEMENTS)
        }) else {
            return self.err(
                Diagnostic::new(span, format!(
                    "shapes {}, {} and {} do not broadcast (or make more than {MAX_ELEMENTS} elements)",
                    shape_str(&c.ty.shape),
                    shape_str(&a.ty.shape),
                    shape_str(&b.ty.shape)
                ))
                .label("condition, then, else")
                .help("aligned from the last axis, each dimension must be equal or 1"),
            );
        };
        Ok(mk(
            Ty::new(elem, shape),
            ExprKind::Select(Box::new(c), Box::new(a), Box::new(b)),
            span,
        ))
    }

    fn list(&mut self, items: &[AExpr], span: Span, env: &mut Env, ctx: Ctx) -> R<Expr> {
        if items.is_empty() {
            return self.err(
                Diagnostic::new(span, "an empty list")
                    .label("no elements")
                    .help("tensors have at least one element; use `zeros([...])`"),
            );
        }
        let mut parts = Vec::new();
        let mut failed = false;
        for it in items {
            match self.expr(it, env, ctx) {
                Ok(e) => parts.push(e),
                Err(()) => failed = true,
            }
        }
        if failed {
            return Err(());
        }
        let shape = parts[0].ty.shape.clone();
        let mut elem = parts[0].ty.elem;
        for p in &parts[1..] {
            if p.ty.shape != shape {
                return self.err(
                    Diagnostic::new(p.span, format!(
                        "list elements differ in shape: {} and {}",
                        shape_str(&shape),
                        shape_str(&p.ty.shape)
                    ))
                    .label("another shape")
                    .help("every element of a list has the same shape; use `concat` to join tensors of different lengths"),
                );
            }
            elem = match (elem, p.ty.elem) {
                (x, y) if x == y => x,
                (Elem::Int | Elem::Float, Elem::Int | Elem::Float) => Elem::Float,
                _ => {
                    return self.err(
                        Diagnostic::new(p.span, "a list mixes bools and numbers")
                            .label("another kind")
                            .help("convert the bools with `float(...)`"),
                    );
                }
            };
        }
        let mut out_shape = vec![parts.len()];
        out_shape.extend(&shape);
        self.size_ok(&out_shape, span)?;
        if parts.iter().all(|p| const_of(p).is_some()) {
            let values = parts
                .iter()
                .flat_map(|p| const_of(p).expect("all constant").iter().copied())
                .collect();
            return Ok(konst(elem, out_shape, values, span));
        }
        Ok(mk(Ty::new(elem, out_shape), ExprKind::Stack(parts), span))
    }

    fn comprehension(
        &mut self,
        body: &AExpr,
        comp: &Comp,
        fold: Fold,
        span: Span,
        env: &mut Env,
        ctx: Ctx,
    ) -> R<Expr> {
        if ctx == Ctx::Reward {
            return self.not_in_reward(span, "a comprehension");
        }
        let lo = self.const_int(&comp.lo, env, ctx, "a range's start");
        let hi = self.const_int(&comp.hi, env, ctx, "a range's end");
        let (lo, hi) = (lo?, hi?);
        if hi <= lo || hi - lo > MAX_ITERATIONS {
            return self.err(
                Diagnostic::new(
                    comp.lo.span.to(comp.hi.span),
                    format!("the range {lo}..{hi} is empty or too long"),
                )
                .label(match (hi - lo).max(0) {
                    1 => "1 iteration".to_owned(),
                    n => format!("{n} iterations"),
                })
                .help(format!(
                    "a comprehension runs 1 to {MAX_ITERATIONS} times (the end is exclusive)"
                )),
            );
        }
        let name = &comp.var.name;
        if env.names.contains_key(name) {
            return self.err(
                Diagnostic::new(comp.var.span, format!("`{name}` is already defined"))
                    .label("the loop variable shadows it")
                    .help("pick another name for the loop variable"),
            );
        }
        let var = self.new_var(name, Ty::scalar(Elem::Int));
        env.names.insert(
            name.clone(),
            Binding::Var {
                id: var,
                konst: None,
            },
        );
        let body = self.expr(body, env, ctx);
        env.names.remove(name);
        let body = body?;
        let n = usize::try_from(hi - lo).expect("positive");
        let ty = match fold {
            Fold::Sum => {
                if body.ty.elem == Elem::Bool {
                    Ty::new(Elem::Int, body.ty.shape.clone())
                } else {
                    body.ty.clone()
                }
            }
            Fold::Stack => {
                let mut shape = vec![n];
                shape.extend(&body.ty.shape);
                self.size_ok(&shape, span)?;
                Ty::new(body.ty.elem, shape)
            }
        };
        Ok(mk(
            ty,
            ExprKind::Loop {
                var,
                start: lo,
                end: hi,
                body: Box::new(body),
                fold,
            },
            span,
        ))
    }

    fn size_ok(&mut self, shape: &[usize], span: Span) -> R<()> {
        let size = shape.iter().try_fold(1usize, |acc, &d| {
            if d == N {
                Some(acc)
            } else {
                acc.checked_mul(d)
            }
        });
        match size {
            Some(s) if s <= MAX_ELEMENTS => Ok(()),
            _ => self.err(
                Diagnostic::new(
                    span,
                    format!("a tensor of shape {} is too large", shape_str(shape)),
                )
                .label("too many elements")
                .help(format!("a tensor has at most {MAX_ELEMENTS} elements")),
            ),
        }
    }

    fn index(
        &mut self,
        base: Expr,
        items: &[AIndex],
        span: Span,
        env: &mut Env,
        ctx: Ctx,
    ) -> R<Expr> {
        let shape = base.ty.shape.clone();
        if items.len() > shape.len() {
            return self.err(
                Diagnostic::new(
                    span,
                    format!(
                        "{} index positions for a value with {} axes",
                        items.len(),
                        shape.len()
                    ),
                )
                .label(format!("the value is {}", ty_str(&base.ty)))
                .help("give at most one position or slice per axis"),
            );
        }
        let mut out_items = Vec::new();
        let mut out_shape = Vec::new();
        for (axis, item) in items.iter().enumerate() {
            let dim = shape[axis];
            match item {
                AIndex::At(e) => {
                    let pos = self.expr(e, env, ctx)?;
                    if pos.ty.elem != Elem::Int || !pos.ty.shape.is_empty() {
                        return self.err(
                            Diagnostic::new(
                                e.span,
                                format!(
                                    "a position must be an int scalar; this is {}",
                                    ty_str(&pos.ty)
                                ),
                            )
                            .label("not a position")
                            .help("use an integer, a loop variable, or `int(...)`"),
                        );
                    }
                    let pos = match const_of(&pos) {
                        Some(&[v]) => {
                            let i = if v < 0.0 { v + dim as f64 } else { v };
                            if i < 0.0 || i >= dim as f64 {
                                return self.err(
                                    Diagnostic::new(e.span, format!("index {v} is out of range for axis {axis} of length {dim}"))
                                        .label("out of range")
                                        .help(format!("positions go from 0 to {} (or -{dim} to -1 from the end)", dim - 1)),
                                );
                            }
                            konst(Elem::Int, Vec::new(), vec![i], e.span)
                        }
                        _ => pos,
                    };
                    out_items.push(IndexItem::At(pos));
                }
                AIndex::Slice {
                    start,
                    stop,
                    step,
                    span: s_span,
                } => {
                    let mut get =
                        |c: &mut Checker, e: &Option<Box<AExpr>>, what: &str| -> R<Option<i64>> {
                            e.as_ref()
                                .map(|e| c.const_int(e, env, ctx, what))
                                .transpose()
                        };
                    let a = get(self, start, "a slice's start");
                    let b = get(self, stop, "a slice's end");
                    let st = get(self, step, "a slice's step");
                    let (a, b, st) = (a?, b?, st?);
                    let d = dim as i64;
                    let norm = |v: i64| if v < 0 { (v + d).max(0) } else { v.min(d) };
                    let a = a.map_or(0, norm);
                    let b = b.map_or(d, norm);
                    let st = st.unwrap_or(1);
                    if st < 1 {
                        return self.err(
                            Diagnostic::new(*s_span, format!("a slice step of {st}"))
                                .label("must be at least 1")
                                .help("reverse with `sort` or index positions instead"),
                        );
                    }
                    if a >= b {
                        return self.err(
                            Diagnostic::new(
                                *s_span,
                                format!("the slice {a}:{b} of axis {axis} (length {dim}) is empty"),
                            )
                            .label("empty")
                            .help("the end is exclusive and must be after the start"),
                        );
                    }
                    let len = ((b - a) + st - 1) / st;
                    out_shape.push(len as usize);
                    out_items.push(IndexItem::Slice {
                        start: a as usize,
                        stop: b as usize,
                        step: st as usize,
                    });
                }
            }
        }
        out_shape.extend(&shape[items.len()..]);
        Ok(mk(
            Ty::new(base.ty.elem, out_shape),
            ExprKind::Index(Box::new(base), out_items),
            span,
        ))
    }

    fn const_int(&mut self, e: &AExpr, env: &mut Env, ctx: Ctx, what: &str) -> R<i64> {
        let x = self.expr(e, env, ctx)?;
        match (const_of(&x), x.ty.elem) {
            (Some(&[v]), Elem::Int) if x.ty.shape.is_empty() => Ok(v as i64),
            _ => self.err(
                Diagnostic::new(e.span, format!("{what} must be a constant whole number"))
                    .label(format!("this is {}{}", if const_of(&x).is_some() { "a constant " } else { "computed: " }, ty_str(&x.ty)))
                    .help("shapes, axes, ranges and counts are fixed when the spec is compiled: write an integer"),
            ),
        }
    }

    fn const_num(&mut self, e: &AExpr, env: &mut Env, ctx: Ctx, what: &str) -> R<f64> {
        let x = self.expr(e, env, ctx)?;
        match const_of(&x) {
            Some(&[v]) if x.ty.elem != Elem::Bool => Ok(v),
            _ => self.err(
                Diagnostic::new(e.span, format!("{what} must be a constant number"))
                    .label(format!("this is {}", ty_str(&x.ty)))
                    .help("write a number"),
            ),
        }
    }

    fn shape_arg(&mut self, e: &AExpr, env: &mut Env, ctx: Ctx) -> R<Vec<usize>> {
        let dims: Vec<&AExpr> = match &e.kind {
            AKind::List(items, None) => items.iter().collect(),
            _ => vec![e],
        };
        let mut shape = Vec::new();
        for d in dims {
            let v = self.const_int(d, env, ctx, "a dimension")?;
            if v < 1 {
                return self.err(
                    Diagnostic::new(d.span, format!("a dimension of {v}"))
                        .label("must be at least 1")
                        .help("every axis has at least one element"),
                );
            }
            shape.push(usize::try_from(v).unwrap_or(usize::MAX));
        }
        if shape.len() > 8 {
            return self
                .err(Diagnostic::new(e.span, "at most 8 dimensions").label("too many axes"));
        }
        self.size_ok(&shape, e.span)?;
        Ok(shape)
    }

    fn axis_arg(&mut self, e: &AExpr, rank: usize, env: &mut Env, ctx: Ctx) -> R<usize> {
        let v = self.const_int(e, env, ctx, "an axis")?;
        let r = rank as i64;
        let a = if v < 0 { v + r } else { v };
        if a < 0 || a >= r {
            return self.err(
                Diagnostic::new(
                    e.span,
                    format!("axis {v} is out of range for a value with {rank} axes"),
                )
                .label("no such axis")
                .help(if rank == 0 {
                    "a scalar has no axes".to_owned()
                } else {
                    format!("axes go from 0 to {} (or -{rank} to -1)", rank - 1)
                }),
            );
        }
        Ok(a as usize)
    }

    fn with_var(
        &mut self,
        value: Expr,
        body: impl FnOnce(&mut Checker, Expr) -> R<Expr>,
    ) -> R<Expr> {
        let span = value.span;
        if matches!(value.kind, ExprKind::Var(_) | ExprKind::Const(_)) {
            return body(self, value);
        }
        let var = self.new_var("%tmp", value.ty.clone());
        let r = body(self, self.var_expr(var, span))?;
        Ok(mk(
            r.ty.clone(),
            ExprKind::With {
                var,
                value: Box::new(value),
                body: Box::new(r),
            },
            span,
        ))
    }

    fn reduce(&mut self, op: ReduceOp, x: Expr, axis: Option<usize>, span: Span) -> Expr {
        let mut shape = x.ty.shape.clone();
        match axis {
            Some(a) => {
                shape.remove(a);
            }
            None => shape.clear(),
        }
        let elem = match (op, x.ty.elem) {
            (ReduceOp::Sum | ReduceOp::Prod, Elem::Bool) => Elem::Int,
            (_, e) => e,
        };
        mk(
            Ty::new(elem, shape),
            ExprKind::Reduce {
                op,
                arg: Box::new(x),
                axis,
            },
            span,
        )
    }

    fn mean(&mut self, x: Expr, axis: Option<usize>, span: Span) -> R<Expr> {
        let count = match axis {
            Some(a) => x.ty.shape[a],
            None => x.ty.size().unwrap_or(1),
        };
        let s = self.reduce(ReduceOp::Sum, x, axis, span);
        let s = retype(s, Elem::Float);
        self.binary(BinOp::Div, s, float(count as f64, span), span)
    }

    fn square(&mut self, x: Expr, span: Span) -> R<Expr> {
        self.with_var(x, |c, v| c.binary(BinOp::Mul, v.clone(), v, span))
    }

    fn same_shape(&mut self, fname: &str, a: &Expr, b: &Expr, span: Span) -> R<()> {
        if a.ty.shape != b.ty.shape {
            return self.err(
                Diagnostic::new(
                    span,
                    format!(
                        "`{fname}` compares two tensors of the same shape: got {} and {}",
                        shape_str(&a.ty.shape),
                        shape_str(&b.ty.shape)
                    ),
                )
                .label("shapes differ")
                .help("reshape or slice one side so that the shapes match"),
            );
        }
        Ok(())
    }

    fn need_rank(&mut self, fname: &str, x: &Expr, min: usize, span: Span) -> R<()> {
        if x.ty.shape.len() < min {
            return self.err(
                Diagnostic::new(
                    span,
                    format!(
                        "`{fname}` needs at least {min} axis; this is {}",
                        ty_str(&x.ty)
                    ),
                )
                .label("too few axes")
                .help("it works along the last axis"),
            );
        }
        Ok(())
    }

    fn numeric(&mut self, fname: &str, x: &Expr, span: Span) -> R<()> {
        if x.ty.elem == Elem::Bool {
            return self.err(
                Diagnostic::new(
                    span,
                    format!("`{fname}` needs numbers; this is {}", ty_str(&x.ty)),
                )
                .label("a bool")
                .help("convert it with `float(...)`"),
            );
        }
        Ok(())
    }

    fn one_hot(&mut self, label: Expr, classes: usize, span: Span) -> R<Expr> {
        if label.ty.elem != Elem::Int {
            return self.err(
                Diagnostic::new(
                    label.span,
                    format!("class labels must be ints; this is {}", ty_str(&label.ty)),
                )
                .label("not an int")
                .help("convert with `int(...)`"),
            );
        }
        let mut full = label.ty.shape.clone();
        full.push(classes);
        self.size_ok(&full, span)?;
        let mut shape = label.ty.shape.clone();
        shape.push(1);
        let reshaped = mk(
            Ty::new(Elem::Int, shape),
            ExprKind::Reshape(Box::new(label)),
            span,
        );
        let classes_c = konst(
            Elem::Int,
            vec![classes],
            (0..classes).map(|i| i as f64).collect(),
            span,
        );
        let eq = self.binary(BinOp::Eq, reshaped, classes_c, span)?;
        Ok(retype(eq, Elem::Float))
    }

    /// `sum(onehot(label) * x, last axis)`: the entry of `x` at each label.
    fn take_label(&mut self, x: Expr, label: Expr, span: Span) -> R<Expr> {
        let classes = *x.ty.shape.last().expect("rank checked");
        let oh = self.one_hot(label, classes, span)?;
        let prod = self.binary(BinOp::Mul, oh, x, span)?;
        let last = prod.ty.shape.len() - 1;
        Ok(self.reduce(ReduceOp::Sum, prod, Some(last), span))
    }

    fn label_shapes(&mut self, fname: &str, pred: &Expr, label: &Expr, span: Span) -> R<()> {
        let ok = pred.ty.shape.len() == label.ty.shape.len() + 1
            && pred.ty.shape[..label.ty.shape.len()] == label.ty.shape[..];
        if !ok || label.ty.elem != Elem::Int {
            return self.err(
                Diagnostic::new(span, format!(
                    "`{fname}` takes class scores [..., classes] and int labels [...]; got {} and {}",
                    ty_str(&pred.ty),
                    ty_str(&label.ty)
                ))
                .label("mismatched arguments")
                .help("scores have one more axis than labels: the classes"),
            );
        }
        Ok(())
    }

    /// Parses a call's arguments against parameter names; returns one slot per parameter.
    fn bind_args<'a>(
        &mut self,
        f: &Ident,
        args: &'a [Arg],
        params: &[&str],
        required: usize,
        span: Span,
    ) -> R<Vec<Option<&'a AExpr>>> {
        let mut slots: Vec<Option<&AExpr>> = vec![None; params.len()];
        let sig = || {
            let ps: Vec<String> = params
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    if i < required {
                        (*p).to_owned()
                    } else {
                        format!("{p}?")
                    }
                })
                .collect();
            format!("{}({})", f.name, ps.join(", "))
        };
        let mut positional = 0;
        for a in args {
            match &a.name {
                None => {
                    if positional >= params.len() {
                        return self.err(
                            Diagnostic::new(
                                a.value.span,
                                format!("`{}` takes at most {} arguments", f.name, params.len()),
                            )
                            .label("one too many")
                            .help(format!("the signature is `{}`", sig())),
                        );
                    }
                    slots[positional] = Some(&a.value);
                    positional += 1;
                }
                Some(n) => match params.iter().position(|p| *p == n.name) {
                    Some(i) if slots[i].is_none() => slots[i] = Some(&a.value),
                    Some(_) => {
                        return self.err(
                            Diagnostic::new(n.span, format!("`{}` is given twice", n.name))
                                .label("again")
                                .help(format!("the signature is `{}`", sig())),
                        );
                    }
                    None => {
                        let mut d = Diagnostic::new(
                            n.span,
                            format!("`{}` has no argument `{}`", f.name, n.name),
                        )
                        .label("unknown argument");
                        d = d.help(format!("the signature is `{}`", sig()));
                        return self.err(d);
                    }
                },
            }
        }
        if let Some(missing) = (0..required).find(|&i| slots[i].is_none()) {
            return self.err(
                Diagnostic::new(
                    span,
                    format!("`{}` is missing its `{}` argument", f.name, params[missing]),
                )
                .label("missing argument")
                .help(format!("the signature is `{}`", sig())),
            );
        }
        Ok(slots)
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one arm per library function reads best as a table"
    )]
    fn call(
        &mut self,
        f: &Ident,
        args: &[Arg],
        comp: Option<&Comp>,
        span: Span,
        env: &mut Env,
        ctx: Ctx,
    ) -> R<Expr> {
        let name = f.name.as_str();
        if !FUNCS.contains(&name) {
            let d = Diagnostic::new(f.span, format!("unknown function `{name}`"))
                .label("not a function");
            return self.err(if name == "log" {
                d.help("the natural logarithm is `ln`")
            } else {
                d.suggest_or(
                    name,
                    FUNCS.iter().copied(),
                    "docs/dsl.md lists every function",
                )
            });
        }
        if ctx == Ctx::Reward && !REWARD_FUNCS.contains(&name) {
            return self.err(
                Diagnostic::new(f.span, format!("`{name}` is not available in `reward`"))
                    .label("not in reward")
                    .help(format!("`reward` can use {}", REWARD_FUNCS.join(", "))),
            );
        }
        if ctx != Ctx::Task && RANDOM.contains(&name) {
            return self.err(
                Diagnostic::new(f.span, format!("`{name}` draws random values, which only the task may do"))
                    .label("randomness outside the task")
                    .help("scores and rewards must be the same for every validator: draw in the task and `keep` the value"),
            );
        }
        if let Some(comp) = comp {
            let [
                Arg {
                    name: None,
                    value: body,
                },
            ] = args
            else {
                return self.err(
                    Diagnostic::new(span, "a comprehension takes one expression").label("here"),
                );
            };
            return match name {
                "sum" => self.comprehension(body, comp, Fold::Sum, span, env, ctx),
                "mean" => {
                    let n = {
                        let s = self.comprehension(body, comp, Fold::Sum, span, env, ctx)?;
                        let ExprKind::Loop { start, end, .. } = &s.kind else {
                            unreachable!("a comprehension is a loop")
                        };
                        let n = (end - start) as f64;
                        (s, n)
                    };
                    let s = retype(n.0, Elem::Float);
                    self.binary(BinOp::Div, s, float(n.1, span), span)
                }
                "stack" => self.comprehension(body, comp, Fold::Stack, span, env, ctx),
                _ => self.err(
                    Diagnostic::new(f.span, format!("`{name}` does not take a comprehension"))
                        .label("no `for` here")
                        .help("comprehensions work with `sum`, `mean` and `[... for k in a..b]`; stack first for others: `max([... for k in 0..n])`"),
                ),
            };
        }
        macro_rules! bind {
            ($params:expr, $req:expr) => {
                self.bind_args(f, args, &$params, $req, span)?
            };
        }
        macro_rules! val {
            ($e:expr) => {
                self.expr($e.expect("required argument"), env, ctx)?
            };
        }
        let unary_math = |name: &str| -> Option<UnOp> {
            Some(match name {
                "sin" => UnOp::Sin,
                "cos" => UnOp::Cos,
                "tan" => UnOp::Tan,
                "exp" => UnOp::Exp,
                "ln" => UnOp::Ln,
                "tanh" => UnOp::Tanh,
                "sqrt" => UnOp::Sqrt,
                "abs" => UnOp::Abs,
                "floor" => UnOp::Floor,
                "ceil" => UnOp::Ceil,
                "round" => UnOp::Round,
                "trunc" => UnOp::Trunc,
                _ => return None,
            })
        };
        if let Some(op) = unary_math(name) {
            let a = bind!(["x"], 1);
            let x = val!(a[0]);
            return self.math(op, x, span, name);
        }
        match name {
            // ----- randomness -----
            "uniform" | "normal" | "integer" => {
                let names = match name {
                    "normal" => ["mean", "std", "shape"],
                    _ => ["low", "high", "shape"],
                };
                let a = bind!(names, 2);
                let shape = match a[2] {
                    Some(s) => self.shape_arg(s, env, ctx)?,
                    None => Vec::new(),
                };
                let (dist, elem, params) = if name == "integer" {
                    let lo =
                        self.const_int(a[0].expect("required"), env, ctx, "`integer`'s low")?;
                    let hi =
                        self.const_int(a[1].expect("required"), env, ctx, "`integer`'s high")?;
                    if hi <= lo {
                        return self.err(
                            Diagnostic::new(span, format!("`integer({lo}, {hi})` has no values"))
                                .label("high must be above low")
                                .help("integers are drawn from low up to, not including, high"),
                        );
                    }
                    (
                        Dist::Integer,
                        Elem::Int,
                        vec![
                            konst(Elem::Int, vec![], vec![lo as f64], span),
                            konst(Elem::Int, vec![], vec![hi as f64], span),
                        ],
                    )
                } else {
                    let p0 = val!(a[0]);
                    let p1 = val!(a[1]);
                    for p in [&p0, &p1] {
                        if !p.ty.shape.is_empty() || p.ty.elem == Elem::Bool {
                            return self.err(
                                Diagnostic::new(p.span, format!("a distribution's parameters are numbers; this is {}", ty_str(&p.ty)))
                                    .label("not a scalar")
                                    .help("draw with scalar parameters, then combine tensors with arithmetic"),
                            );
                        }
                    }
                    let dist = if name == "normal" {
                        Dist::Normal
                    } else {
                        Dist::Uniform
                    };
                    (
                        dist,
                        Elem::Float,
                        vec![retype(p0, Elem::Float), retype(p1, Elem::Float)],
                    )
                };
                Ok(mk(
                    Ty::new(elem, shape),
                    ExprKind::Random(dist, params),
                    span,
                ))
            }
            "bernoulli" => {
                let a = bind!(["p", "shape"], 1);
                let p = val!(a[0]);
                if !p.ty.shape.is_empty() || p.ty.elem == Elem::Bool {
                    return self.err(
                        Diagnostic::new(p.span, "`bernoulli`'s probability is a number")
                            .label(format!("this is {}", ty_str(&p.ty))),
                    );
                }
                let shape = match a[1] {
                    Some(s) => self.shape_arg(s, env, ctx)?,
                    None => Vec::new(),
                };
                Ok(mk(
                    Ty::new(Elem::Bool, shape),
                    ExprKind::Random(Dist::Bernoulli, vec![retype(p, Elem::Float)]),
                    span,
                ))
            }
            "choice" | "shuffle" => {
                let a = bind!(["x"], 1);
                let x = val!(a[0]);
                self.need_rank(name, &x, 1, span)?;
                let ty = if name == "choice" {
                    Ty::new(x.ty.elem, x.ty.shape[1..].to_vec())
                } else {
                    x.ty.clone()
                };
                let kind = if name == "choice" {
                    ExprKind::Choice(Box::new(x))
                } else {
                    ExprKind::Shuffle(Box::new(x))
                };
                Ok(mk(ty, kind, span))
            }
            "sample" => {
                let a = bind!(["table", "count"], 1);
                let t = a[0].expect("required");
                let id = match &t.kind {
                    AKind::Name(n) => match env.names.get(n) {
                        Some(Binding::Table(id)) => Some(*id),
                        _ => None,
                    },
                    _ => None,
                };
                let Some(id) = id else {
                    return self.err(
                        Diagnostic::new(t.span, "`sample` draws rows from a data table")
                            .label("not a table")
                            .help("declare one with `data NAME = csv(\"FILE\")` and write `sample(NAME)`"),
                    );
                };
                let cols = self.data[id.0 as usize].cols;
                let (count, shape) = match a[1] {
                    Some(c) => {
                        let n = self.const_int(c, env, ctx, "a row count")?;
                        if n < 1 {
                            return self.err(
                                Diagnostic::new(c.span, "draw at least one row").label("too few"),
                            );
                        }
                        (Some(n as usize), vec![n as usize, cols])
                    }
                    None => (None, vec![cols]),
                };
                self.size_ok(&shape, span)?;
                Ok(mk(
                    Ty::new(Elem::Float, shape),
                    ExprKind::Sample { data: id, count },
                    span,
                ))
            }
            // ----- construction -----
            "linspace" => {
                let a = bind!(["start", "stop", "count"], 3);
                let s = self.const_num(a[0].expect("required"), env, ctx, "`linspace`'s start")?;
                let e = self.const_num(a[1].expect("required"), env, ctx, "`linspace`'s stop")?;
                let n = self.const_int(a[2].expect("required"), env, ctx, "`linspace`'s count")?;
                if n < 1 || n as usize > MAX_ELEMENTS {
                    return self.err(
                        Diagnostic::new(span, format!("`linspace` of {n} points"))
                            .label("count out of range"),
                    );
                }
                let values = (0..n)
                    .map(|i| {
                        if n == 1 {
                            s
                        } else {
                            s + (e - s) * (i as f64 / (n - 1) as f64)
                        }
                    })
                    .collect();
                Ok(konst(Elem::Float, vec![n as usize], values, span))
            }
            "arange" => {
                let mut a = bind!(["start", "stop", "step"], 0);
                // `arange(n)` is `arange(0, n)`; a lone named `stop` means the same.
                if a[1].is_none() {
                    if a[2].is_some() || a[0].is_none() {
                        return self.err(
                            Diagnostic::new(span, "`arange` needs at least its `stop`")
                                .label("no stop")
                                .help("write `arange(stop)`, `arange(start, stop)` or `arange(start, stop, step)`"),
                        );
                    }
                    a.swap(0, 1);
                }
                let mut nums = Vec::new();
                let mut all_int = true;
                if a[0].is_none() {
                    nums.push(0.0);
                }
                for e in a.iter().flatten() {
                    let x = self.expr(e, env, ctx)?;
                    match const_of(&x) {
                        Some(&[v]) if x.ty.elem != Elem::Bool => {
                            all_int &= x.ty.elem == Elem::Int;
                            nums.push(v);
                        }
                        _ => {
                            return self.err(
                                Diagnostic::new(e.span, "`arange` takes constant numbers")
                                    .label("not a constant"),
                            );
                        }
                    }
                }
                let (start, stop, step) = match nums.as_slice() {
                    [start, stop] => (*start, *stop, 1.0),
                    [start, stop, step] => (*start, *stop, *step),
                    _ => unreachable!("a start (given or 0), a stop, and maybe a step"),
                };
                let n = ((stop - start) / step).ceil();
                if step.is_nan() || step <= 0.0 || n.is_nan() || n < 1.0 || n > MAX_ELEMENTS as f64
                {
                    return self.err(
                        Diagnostic::new(span, "`arange` gives no values or too many")
                            .label("empty or huge")
                            .help("the step must be positive and stop must be above start"),
                    );
                }
                let values = (0..n as usize).map(|i| start + step * i as f64).collect();
                let elem = if all_int { Elem::Int } else { Elem::Float };
                Ok(konst(elem, vec![n as usize], values, span))
            }
            "zeros" | "ones" | "full" => {
                let (shape, v) = if name == "full" {
                    let a = bind!(["shape", "value"], 2);
                    let shape = self.shape_arg(a[0].expect("required"), env, ctx)?;
                    (
                        shape,
                        self.const_num(a[1].expect("required"), env, ctx, "the fill value")?,
                    )
                } else {
                    let a = bind!(["shape"], 1);
                    (
                        self.shape_arg(a[0].expect("required"), env, ctx)?,
                        if name == "ones" { 1.0 } else { 0.0 },
                    )
                };
                let size = shape.iter().product();
                Ok(konst(Elem::Float, shape, vec![v; size], span))
            }
            "one_hot" => {
                let a = bind!(["label", "classes"], 2);
                let label = val!(a[0]);
                let c =
                    self.const_int(a[1].expect("required"), env, ctx, "the number of classes")?;
                if c < 1 {
                    return self
                        .err(Diagnostic::new(span, "at least one class").label("too few classes"));
                }
                self.one_hot(label, c as usize, span)
            }
            "float" => {
                let a = bind!(["x"], 1);
                let x = val!(a[0]);
                Ok(retype(x, Elem::Float))
            }
            "int" => {
                let a = bind!(["x"], 1);
                let x = val!(a[0]);
                if x.ty.elem == Elem::Float {
                    Ok(self.unary(UnOp::Trunc, x, span))
                } else {
                    Ok(retype(x, Elem::Int))
                }
            }
            // ----- shape -----
            "reshape" => {
                let a = bind!(["x", "shape"], 2);
                let x = val!(a[0]);
                let shape = self.shape_arg(a[1].expect("required"), env, ctx)?;
                let size: usize = shape.iter().product();
                if Some(size) != x.ty.size() {
                    return self.err(
                        Diagnostic::new(
                            span,
                            format!(
                                "cannot reshape {} ({} elements) to {} ({size} elements)",
                                shape_str(&x.ty.shape),
                                x.ty.size().unwrap_or(0),
                                shape_str(&shape)
                            ),
                        )
                        .label("sizes differ")
                        .help(
                            "a reshape keeps every element: the products of the shapes must match",
                        ),
                    );
                }
                Ok(mk(
                    Ty::new(x.ty.elem, shape),
                    ExprKind::Reshape(Box::new(x)),
                    span,
                ))
            }
            "flatten" => {
                let a = bind!(["x"], 1);
                let x = val!(a[0]);
                let size = x.ty.size().unwrap_or(1);
                Ok(mk(
                    Ty::new(x.ty.elem, vec![size]),
                    ExprKind::Reshape(Box::new(x)),
                    span,
                ))
            }
            "transpose" => {
                let a = bind!(["x"], 1);
                let x = val!(a[0]);
                if x.ty.shape.len() != 2 {
                    return self.err(
                        Diagnostic::new(
                            span,
                            format!("`transpose` takes a matrix; this is {}", ty_str(&x.ty)),
                        )
                        .label("not 2-D"),
                    );
                }
                let (m, n) = (x.ty.shape[0], x.ty.shape[1]);
                let elem = x.ty.elem;
                self.with_var(x, |c, v| {
                    let j = c.new_var("%col", Ty::scalar(Elem::Int));
                    let col = mk(
                        Ty::new(elem, vec![m]),
                        ExprKind::Index(
                            Box::new(v),
                            vec![
                                IndexItem::Slice {
                                    start: 0,
                                    stop: m,
                                    step: 1,
                                },
                                IndexItem::At(c.var_expr(j, span)),
                            ],
                        ),
                        span,
                    );
                    Ok(mk(
                        Ty::new(elem, vec![n, m]),
                        ExprKind::Loop {
                            var: j,
                            start: 0,
                            end: n as i64,
                            body: Box::new(col),
                            fold: Fold::Stack,
                        },
                        span,
                    ))
                })
            }
            "concat" => {
                let mut parts = Vec::new();
                let mut axis_e = None;
                for a in args {
                    match &a.name {
                        Some(n) if n.name == "axis" => axis_e = Some(&a.value),
                        Some(n) => {
                            return self.err(
                                Diagnostic::new(
                                    n.span,
                                    format!("`concat` has no argument `{}`", n.name),
                                )
                                .label("unknown argument")
                                .help("the signature is `concat(x, y, ..., axis?)`"),
                            );
                        }
                        None => parts.push(self.expr(&a.value, env, ctx)?),
                    }
                }
                if parts.len() < 2 {
                    return self.err(
                        Diagnostic::new(span, "`concat` joins at least two tensors")
                            .label("too few"),
                    );
                }
                let rank = parts[0].ty.shape.len();
                let axis = match axis_e {
                    Some(e) => self.axis_arg(e, rank, env, ctx)?,
                    None => {
                        self.need_rank("concat", &parts[0], 1, span)?;
                        0
                    }
                };
                let mut shape = parts[0].ty.shape.clone();
                let mut elem = parts[0].ty.elem;
                for p in &parts[1..] {
                    let ok = p.ty.shape.len() == rank
                        && p.ty
                            .shape
                            .iter()
                            .enumerate()
                            .all(|(i, &d)| i == axis || d == shape[i]);
                    if !ok {
                        return self.err(
                            Diagnostic::new(
                                p.span,
                                format!(
                                    "cannot join {} to {} along axis {axis}",
                                    shape_str(&p.ty.shape),
                                    shape_str(&parts[0].ty.shape)
                                ),
                            )
                            .label("shapes differ off the axis")
                            .help("all dimensions but the joined one must match"),
                        );
                    }
                    shape[axis] += p.ty.shape[axis];
                    if p.ty.elem != elem {
                        elem = Elem::Float;
                    }
                }
                self.size_ok(&shape, span)?;
                Ok(mk(
                    Ty::new(elem, shape),
                    ExprKind::Concat(parts, axis),
                    span,
                ))
            }
            "stack" => {
                if let Some(n) = args.iter().find_map(|a| a.name.as_ref()) {
                    return self.err(
                        Diagnostic::new(n.span, format!("`stack` has no argument `{}`", n.name))
                            .label("unknown argument")
                            .help("the signature is `stack(x, y, ...)`: tensors of one shape"),
                    );
                }
                let items: Vec<AExpr> = args.iter().map(|a| a.value.clone()).collect();
                self.list(&items, span, env, ctx)
            }
            // ----- reductions -----
            "sum" | "mean" | "prod" | "max" | "min" | "std" | "var" => {
                if matches!(name, "max" | "min")
                    && args.len() == 2
                    && args.iter().all(|a| a.name.is_none())
                {
                    let a = val!(Some(&args[0].value));
                    let b = val!(Some(&args[1].value));
                    let op = if name == "max" {
                        BinOp::Max
                    } else {
                        BinOp::Min
                    };
                    return self.binary(op, a, b, span);
                }
                let a = bind!(["x", "axis"], 1);
                let x = val!(a[0]);
                self.numeric(name, &x, span).or_else(|()| {
                    if matches!(name, "sum" | "max" | "min") {
                        self.diags.pop();
                        Ok(())
                    } else {
                        Err(())
                    }
                })?;
                let axis = match a[1] {
                    Some(e) => {
                        if ctx == Ctx::Reward {
                            return self.not_in_reward(e.span, "an axis");
                        }
                        Some(self.axis_arg(e, x.ty.shape.len(), env, ctx)?)
                    }
                    None => None,
                };
                match name {
                    "sum" => Ok(self.reduce(ReduceOp::Sum, x, axis, span)),
                    "prod" => Ok(self.reduce(ReduceOp::Prod, x, axis, span)),
                    "max" => Ok(self.reduce(ReduceOp::Max, x, axis, span)),
                    "min" => Ok(self.reduce(ReduceOp::Min, x, axis, span)),
                    "mean" => self.mean(x, axis, span),
                    _ => {
                        // var = mean((x - mean(x))^2); std = sqrt(var); along the axis if given.
                        let is_std = name == "std";
                        let v = self.with_var(x, |c, t| {
                            let m = c.mean(t.clone(), axis, span)?;
                            let m = match axis {
                                Some(ax) => {
                                    let mut s = t.ty.shape.clone();
                                    s[ax] = 1;
                                    mk(
                                        Ty::new(Elem::Float, s),
                                        ExprKind::Reshape(Box::new(m)),
                                        span,
                                    )
                                }
                                None => m,
                            };
                            let d = c.binary(BinOp::Sub, t, m, span)?;
                            let sq = c.square(d, span)?;
                            c.mean(sq, axis, span)
                        })?;
                        Ok(if is_std {
                            self.unary(UnOp::Sqrt, v, span)
                        } else {
                            v
                        })
                    }
                }
            }
            "argmax" | "argmin" => {
                let a = bind!(["x"], 1);
                let x = val!(a[0]);
                self.need_rank(name, &x, 1, span)?;
                let shape = x.ty.shape[..x.ty.shape.len() - 1].to_vec();
                let op = if name == "argmax" {
                    ArgOp::ArgMax
                } else {
                    ArgOp::ArgMin
                };
                Ok(mk(
                    Ty::new(Elem::Int, shape),
                    ExprKind::ArgReduce(op, Box::new(x)),
                    span,
                ))
            }
            "dot" | "matmul" => {
                let a = bind!(["a", "b"], 2);
                let x = val!(a[0]);
                let y = val!(a[1]);
                self.numeric(name, &x, span)?;
                self.numeric(name, &y, span)?;
                let (sa, sb) = (&x.ty.shape, &y.ty.shape);
                let shape = match (sa.as_slice(), sb.as_slice()) {
                    ([k1], [k2]) if k1 == k2 => Some(vec![]),
                    ([m, k1], [k2, n]) if k1 == k2 && name == "matmul" => Some(vec![*m, *n]),
                    ([k1], [k2, n]) if k1 == k2 && name == "matmul" => Some(vec![*n]),
                    ([m, k1], [k2]) if k1 == k2 && name == "matmul" => Some(vec![*m]),
                    _ => None,
                };
                let Some(shape) = shape else {
                    return self.err(
                        Diagnostic::new(span, format!(
                            "`{name}` cannot multiply {} by {}",
                            shape_str(sa),
                            shape_str(sb)
                        ))
                        .label("inner dimensions differ")
                        .help(if name == "dot" {
                            "`dot` takes two vectors of the same length; use `matmul` for matrices"
                        } else {
                            "`matmul` takes [m, k] x [k, n] (or vectors on either side); the k must match"
                        }),
                    );
                };
                self.size_ok(&shape, span)?;
                Ok(mk(
                    Ty::new(Elem::Float, shape),
                    ExprKind::MatMul(Box::new(x), Box::new(y)),
                    span,
                ))
            }
            "softmax" | "log_softmax" => {
                let a = bind!(["x", "temperature"], 1);
                let mut x = val!(a[0]);
                self.numeric(name, &x, span)?;
                self.need_rank(name, &x, 1, span)?;
                if let Some(t) = a[1] {
                    let t = self.expr(t, env, ctx)?;
                    if !t.ty.shape.is_empty() {
                        return self.err(
                            Diagnostic::new(t.span, "a temperature is one number")
                                .label("not a scalar"),
                        );
                    }
                    x = self.binary(BinOp::Div, x, t, span)?;
                }
                let ty = Ty::new(Elem::Float, x.ty.shape.clone());
                let kind = if name == "softmax" {
                    ExprKind::Softmax(Box::new(x))
                } else {
                    ExprKind::LogSoftmax(Box::new(x))
                };
                Ok(mk(ty, kind, span))
            }
            "cumsum" | "sort" => {
                let a = bind!(["x"], 1);
                let x = val!(a[0]);
                self.numeric(name, &x, span)?;
                self.need_rank(name, &x, 1, span)?;
                let ty = x.ty.clone();
                let kind = if name == "cumsum" {
                    ExprKind::Cumsum(Box::new(x))
                } else {
                    ExprKind::Sort(Box::new(x))
                };
                Ok(mk(ty, kind, span))
            }
            "top_k" => {
                let a = bind!(["x", "k"], 2);
                let x = val!(a[0]);
                self.numeric(name, &x, span)?;
                self.need_rank(name, &x, 1, span)?;
                let k = self.const_int(a[1].expect("required"), env, ctx, "`top_k`'s k")?;
                if k < 1 {
                    return self.err(
                        Diagnostic::new(span, "`top_k` keeps at least one value")
                            .label("k below 1"),
                    );
                }
                let ty = Ty::new(Elem::Float, x.ty.shape.clone());
                Ok(mk(ty, ExprKind::TopK(Box::new(x), k as usize), span))
            }
            "normalize" => {
                let a = bind!(["x"], 1);
                let x = val!(a[0]);
                self.numeric(name, &x, span)?;
                self.need_rank(name, &x, 1, span)?;
                self.with_var(x, |c, v| {
                    let rank = v.ty.shape.len();
                    let s = c.reduce(
                        ReduceOp::Sum,
                        v.clone(),
                        if rank == 1 { None } else { Some(rank - 1) },
                        span,
                    );
                    let s = if rank == 1 {
                        s
                    } else {
                        let mut sh = v.ty.shape.clone();
                        sh[rank - 1] = 1;
                        mk(Ty::new(s.ty.elem, sh), ExprKind::Reshape(Box::new(s)), span)
                    };
                    c.binary(BinOp::Div, v, s, span)
                })
            }
            "power" | "pow" => {
                let a = bind!(["x", "p"], 2);
                let x = val!(a[0]);
                let p = val!(a[1]);
                self.binary(BinOp::Pow, x, p, span)
            }
            "sigmoid" => {
                let a = bind!(["x"], 1);
                let x = val!(a[0]);
                self.numeric(name, &x, span)?;
                let neg = self.unary(UnOp::Neg, x, span);
                let e = self.unary(UnOp::Exp, neg, span);
                let d = self.binary(BinOp::Add, float(1.0, span), e, span)?;
                self.binary(BinOp::Div, float(1.0, span), d, span)
            }
            "relu" => {
                let a = bind!(["x"], 1);
                let x = val!(a[0]);
                self.binary(BinOp::Max, x, float(0.0, span), span)
            }
            "clamp" => {
                let a = bind!(["x", "low", "high"], 3);
                let x = val!(a[0]);
                let lo = val!(a[1]);
                let hi = val!(a[2]);
                let m = self.binary(BinOp::Max, x, lo, span)?;
                self.binary(BinOp::Min, m, hi, span)
            }
            "where" => {
                let a = bind!(["condition", "then", "otherwise"], 3);
                let c = val!(a[0]);
                let x = val!(a[1]);
                let y = val!(a[2]);
                self.select(c, x, y, span)
            }
            // ----- metrics -----
            "mse" | "mae" | "rmse" => {
                let a = bind!(["prediction", "target"], 2);
                let p = val!(a[0]);
                let t = val!(a[1]);
                self.same_shape(name, &p, &t, span)?;
                let d = self.binary(BinOp::Sub, p, t, span)?;
                let e = if name == "mae" {
                    self.unary(UnOp::Abs, d, span)
                } else {
                    self.square(d, span)?
                };
                let m = self.mean(e, None, span)?;
                Ok(if name == "rmse" {
                    self.unary(UnOp::Sqrt, m, span)
                } else {
                    m
                })
            }
            "cosine" => {
                let a = bind!(["a", "b"], 2);
                let x = val!(a[0]);
                let y = val!(a[1]);
                self.same_shape(name, &x, &y, span)?;
                self.with_var(x, |c, x| {
                    c.with_var(y, |c, y| {
                        let xy = c.binary(BinOp::Mul, x.clone(), y.clone(), span)?;
                        let dot = c.reduce(ReduceOp::Sum, xy, None, span);
                        let xx = c.binary(BinOp::Mul, x.clone(), x, span)?;
                        let nx = c.reduce(ReduceOp::Sum, xx, None, span);
                        let nx = c.unary(UnOp::Sqrt, nx, span);
                        let yy = c.binary(BinOp::Mul, y.clone(), y, span)?;
                        let ny = c.reduce(ReduceOp::Sum, yy, None, span);
                        let ny = c.unary(UnOp::Sqrt, ny, span);
                        let n = c.binary(BinOp::Mul, nx, ny, span)?;
                        let n = c.binary(BinOp::Max, n, float(1e-12, span), span)?;
                        c.binary(BinOp::Div, dot, n, span)
                    })
                })
            }
            "r2" => {
                let a = bind!(["prediction", "target"], 2);
                let p = val!(a[0]);
                let t = val!(a[1]);
                self.same_shape(name, &p, &t, span)?;
                self.with_var(t, |c, t| {
                    let d = c.binary(BinOp::Sub, t.clone(), p, span)?;
                    let sq = c.square(d, span)?;
                    let ss_res = c.reduce(ReduceOp::Sum, sq, None, span);
                    let m = c.mean(t.clone(), None, span)?;
                    let dt = c.binary(BinOp::Sub, t, m, span)?;
                    let sq = c.square(dt, span)?;
                    let ss_tot = c.reduce(ReduceOp::Sum, sq, None, span);
                    let ss_tot = c.binary(BinOp::Max, ss_tot, float(1e-12, span), span)?;
                    let frac = c.binary(BinOp::Div, ss_res, ss_tot, span)?;
                    c.binary(BinOp::Sub, float(1.0, span), frac, span)
                })
            }
            "accuracy" => {
                let a = bind!(["prediction", "label"], 2);
                let p = val!(a[0]);
                let l = val!(a[1]);
                let hits = if p.ty.shape.len() == l.ty.shape.len() + 1 {
                    self.label_shapes(name, &p, &l, span)?;
                    let am = mk(
                        Ty::new(Elem::Int, p.ty.shape[..p.ty.shape.len() - 1].to_vec()),
                        ExprKind::ArgReduce(ArgOp::ArgMax, Box::new(p)),
                        span,
                    );
                    self.binary(BinOp::Eq, am, l, span)?
                } else {
                    self.same_shape(name, &p, &l, span)?;
                    self.binary(BinOp::Eq, p, l, span)?
                };
                self.mean(hits, None, span)
            }
            "cross_entropy" => {
                let a = bind!(["probabilities", "label"], 2);
                let p = val!(a[0]);
                let l = val!(a[1]);
                self.label_shapes(name, &p, &l, span)?;
                let lo = self.binary(BinOp::Max, p, float(1e-12, span), span)?;
                let c = self.binary(BinOp::Min, lo, float(1.0, span), span)?;
                let ln = self.unary(UnOp::Ln, c, span);
                let picked = self.take_label(ln, l, span)?;
                let m = self.mean(picked, None, span)?;
                Ok(self.unary(UnOp::Neg, m, span))
            }
            "top_k_accuracy" => {
                let a = bind!(["prediction", "label", "k"], 3);
                let p = val!(a[0]);
                let l = val!(a[1]);
                let k =
                    self.const_int(a[2].expect("required"), env, ctx, "`top_k_accuracy`'s k")?;
                self.label_shapes(name, &p, &l, span)?;
                if k < 1 {
                    return self.err(Diagnostic::new(span, "k is at least 1").label("k below 1"));
                }
                self.with_var(p, |c, p| {
                    let truth = c.take_label(p.clone(), l, span)?;
                    let mut sh = truth.ty.shape.clone();
                    sh.push(1);
                    let truth = mk(
                        Ty::new(Elem::Float, sh),
                        ExprKind::Reshape(Box::new(truth)),
                        span,
                    );
                    let better = c.binary(BinOp::Gt, p, truth, span)?;
                    let last = better.ty.shape.len() - 1;
                    let count = c.reduce(ReduceOp::Sum, better, Some(last), span);
                    let hit = c.binary(
                        BinOp::Lt,
                        count,
                        konst(Elem::Int, vec![], vec![k as f64], span),
                        span,
                    )?;
                    c.mean(hit, None, span)
                })
            }
            other => unreachable!("`{other}` is listed in FUNCS but not handled"),
        }
    }
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A data file's path must stay inside the spec's directory and be portable.
pub fn check_data_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.len() > 128 {
        return Err("a file name is 1 to 128 bytes");
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
    {
        return Err("use letters, digits, `.`, `_`, `-` and `/` only");
    }
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(
            "the path must be relative, stay below the spec's directory, and name each directory once (no `.`, `..` or `//`)",
        );
    }
    Ok(())
}
