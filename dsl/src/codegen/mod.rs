//! Code generation: the checked program ([`crate::ir`]) to a plugin module.
//!
//! [`compile`] writes one core WebAssembly module for plugin ABI version 1 (see
//! `docs/plugin-abi.md`): it exports `memory`, `abi_version`, `alloc`, `task`, `score` and,
//! when the program has a reward rule, `reward`, and imports only the `ganglion` math
//! functions the program uses. For every input it computes exactly what the reference
//! interpreter ([`crate::interp`]) computes, bit for bit, or traps where the interpreter
//! returns an error (a dynamic index out of range).
//!
//! # Memory map
//!
//! ```text
//! 0 .. 16            unused
//! 16 .. C            frame: the variables and intermediate values of one entry point, each
//!                    at a fixed place (entry points share it: every call is a fresh instance)
//! C .. T             small constants (a data segment): constant tensors, payload headers and
//!                    copy descriptors, f64 / u32 little-endian, 8-byte aligned
//! T .. H             data tables (a data segment, page-aligned: only ever read), f64
//! H ..               heap: `alloc` hands out 8-byte aligned blocks here, growing memory as
//!                    needed (the host's inputs, and the reward's run-time sized vectors)
//! ```
//!
//! Every value is a tensor of `f64` elements, row-major. Each expression node writes its own
//! buffer, so a value stays valid until the node runs again (only inside a comprehension's
//! loop, after its consumers have read it); variables, reshapes and `with` bindings alias
//! the buffers they name. Entry points are straight sequences of calls to helper functions
//! (one loop each: elementwise, reductions, matrix products, strided copies, random draws,
//! payload encoding), with the addresses and sizes as constants.

mod entry;
mod expr;
mod helpers;
mod wasm;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use crate::ir::{BinOp, Dist, Expr, ExprKind, IndexItem, Program, UnOp};
use wasm::{Builder, FRAME_BASE, Host, Layout};

/// Why a program cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodegenError {
    /// The program needs more linear memory than a plugin may have.
    #[error(
        "the program needs {needed} bytes of memory; a plugin may use at most {limit}: use smaller tensors or fewer samples"
    )]
    TooMuchMemory {
        /// Bytes needed (at least).
        needed: u64,
        /// Bytes a plugin may use.
        limit: u64,
    },
    /// The program breaks an invariant the checker guarantees (a variable read before it is
    /// set, shapes that do not fit, ...): a bug in whatever built it.
    #[error("the program is not a checked program: {0}")]
    Invalid(String),
}

/// Compiles a checked program to a plugin module (deterministic: same program, same bytes).
///
/// ```
/// # use ganglion_dsl::ir::*;
/// # use ganglion_plugin_abi::payload::DType;
/// let x = VarId(0);
/// let scalar = Ty::scalar(Elem::Float);
/// let constant = |v: f64| Expr { ty: scalar.clone(), kind: ExprKind::Const(vec![v]), span: Span::default() };
/// let out = |name: &str, var| Output { name: name.into(), var, dtype: DType::F32, shape: vec![], span: Span::default() };
/// let program = Program {
///     meta: Meta { name: "demo".into(), version: "0.1.0".into(), summary: String::new() },
///     vars: vec![
///         VarInfo { name: "x".into(), ty: scalar.clone() },
///         VarInfo { name: "response".into(), ty: scalar.clone() },
///     ],
///     data: vec![],
///     task: Task {
///         lets: vec![Let { var: x, value: constant(2.5) }],
///         send: vec![out("x", x)],
///         keep: vec![],
///         expect: TensorSpec { dtype: DType::F32, shape: vec![] },
///         timeout_ms: 1000,
///     },
///     score: Score {
///         public: vec![x],
///         private: vec![],
///         response: VarId(1),
///         lets: vec![],
///         item: constant(1.0),
///         smooth: Smooth::Last,
///     },
///     params: vec![],
///     reward: None,
/// };
/// let wasm = ganglion_dsl::codegen::compile(&program)?;
/// assert_eq!(&wasm[..4], b"\0asm");
/// # Ok::<(), ganglion_dsl::codegen::CodegenError>(())
/// ```
pub fn compile(program: &Program) -> Result<Vec<u8>, CodegenError> {
    let hosts = host_functions(program);
    // Pass 1 measures the frame and the constants; pass 2 places the constants after the
    // frame. Both passes emit the same code, so the sizes agree.
    let guess = Layout {
        const_base: FRAME_BASE,
        table_base: FRAME_BASE,
    };
    let first = build(program, &hosts, guess)?;
    let layout = Layout::after(&first)?;
    build(program, &hosts, layout)?.finish()
}

fn build(program: &Program, hosts: &[Host], layout: Layout) -> Result<Builder, CodegenError> {
    let mut b = Builder::new(hosts.to_vec(), layout);
    for table in &program.data {
        if table.rows == 0 || table.cols == 0 || table.values.len() != table.rows * table.cols {
            return Err(expr::invalid(format!(
                "data table `{}` does not have rows x cols values",
                table.name
            )));
        }
        let bytes: Vec<u8> = table.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        b.table(&bytes)?;
    }
    entry::abi_version(&mut b);
    entry::alloc(&mut b);
    entry::task(&mut b, program)?;
    entry::score(&mut b, program)?;
    if let Some(rule) = &program.reward {
        entry::reward(&mut b, program, rule)?;
    }
    Ok(b)
}

/// The host functions the program's code calls, in import order.
fn host_functions(program: &Program) -> Vec<Host> {
    let mut used = BTreeSet::new();
    let lets = program.task.lets.iter().chain(&program.score.lets);
    let mut roots: Vec<&Expr> = lets.map(|l| &l.value).collect();
    roots.push(&program.score.item);
    if let Some(rule) = &program.reward {
        roots.push(&rule.expr);
    }
    while let Some(e) = roots.pop() {
        match &e.kind {
            ExprKind::Unary(op, _) => {
                let host = match op {
                    UnOp::Exp => Some(Host::Exp),
                    UnOp::Ln => Some(Host::Ln),
                    UnOp::Sin => Some(Host::Sin),
                    UnOp::Cos => Some(Host::Cos),
                    UnOp::Tan => Some(Host::Tan),
                    UnOp::Tanh => Some(Host::Tanh),
                    _ => None,
                };
                used.extend(host);
            }
            ExprKind::Binary(BinOp::Pow, ..) => {
                used.insert(Host::Pow);
            }
            ExprKind::Random(Dist::Normal, _) => {
                used.extend([Host::Ln, Host::Cos]);
            }
            ExprKind::Softmax(_) => {
                used.insert(Host::Exp);
            }
            ExprKind::LogSoftmax(_) => {
                used.extend([Host::Exp, Host::Ln]);
            }
            _ => {}
        }
        roots.extend(children(e));
    }
    Host::ALL.into_iter().filter(|h| used.contains(h)).collect()
}

/// An expression's direct sub-expressions.
fn children(e: &Expr) -> Vec<&Expr> {
    match &e.kind {
        ExprKind::Const(_) | ExprKind::Var(_) | ExprKind::Sample { .. } => Vec::new(),
        ExprKind::Unary(_, x)
        | ExprKind::Reduce { arg: x, .. }
        | ExprKind::ArgReduce(_, x)
        | ExprKind::Softmax(x)
        | ExprKind::LogSoftmax(x)
        | ExprKind::Cumsum(x)
        | ExprKind::Sort(x)
        | ExprKind::TopK(x, _)
        | ExprKind::Reshape(x)
        | ExprKind::Shuffle(x)
        | ExprKind::Choice(x)
        | ExprKind::Loop { body: x, .. } => vec![x],
        ExprKind::Binary(_, a, b) | ExprKind::MatMul(a, b) => vec![a, b],
        ExprKind::With { value, body, .. } => vec![value, body],
        ExprKind::Select(c, a, b) => vec![c, a, b],
        ExprKind::Index(x, items) => std::iter::once(&**x)
            .chain(items.iter().filter_map(|i| match i {
                IndexItem::At(e) => Some(e),
                IndexItem::Slice { .. } => None,
            }))
            .collect(),
        ExprKind::Concat(parts, _) | ExprKind::Stack(parts) | ExprKind::Random(_, parts) => {
            parts.iter().collect()
        }
    }
}
