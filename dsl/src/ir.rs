//! The checked program: what the checker produces from a spec, and what both the reference
//! interpreter ([`crate::interp`]) and the code generator ([`crate::codegen`]) consume.
//!
//! Every expression carries its static type: an element kind and a shape. Shapes are known
//! at compile time (every dimension at least 1, row-major layout), except in the `reward`
//! expression, whose vector has the run-time length [`N`].
//!
//! # Semantics
//!
//! These rules are the contract between the interpreter and the generated code; both must
//! follow them to the bit.
//!
//! - Every value is a tensor of `f64` elements, whatever its [`Elem`]: an `Int` holds an
//!   integral value, a `Bool` holds `0.0` or `1.0`.
//! - Sub-expressions are evaluated left to right, depth first, each exactly once (both arms of
//!   a [`ExprKind::Select`] are evaluated). Random draws therefore happen in source order.
//! - Arithmetic is IEEE 754 binary64 with round-to-nearest-even, one operation at a time (no
//!   fused multiply-add). `exp`, `ln`, `sin`, `cos`, `tan`, `tanh`, `pow` are the `libm`
//!   functions the plugin host imports; `sqrt`, `abs`, `floor`, `ceil`, `trunc`, `round`
//!   (ties to even) are exact IEEE operations.
//! - A NaN's sign and payload are never observable: comparisons are false on NaN, and
//!   encoding writes the canonical NaN (`0x7fc00000` for f32, `0x7ff8000000000000` for f64).
//! - Reductions fold from index 0 upwards, starting at `0.0` (sum) or `1.0` (product); max and
//!   min start at element 0 and use the compare-and-select rules of [`BinOp::Max`] and
//!   [`BinOp::Min`].

use ganglion_plugin_abi::payload::DType;

/// A byte range in the source, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// The smallest span that covers both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// The length of the `reward` expression's vector, known only when the epoch runs. It
/// appears as a dimension only inside [`Program::reward`].
pub const N: usize = usize::MAX;

/// What the elements of a tensor mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Elem {
    /// Any real number.
    Float,
    /// An integral value (exact up to 2^53).
    Int,
    /// `0.0` (false) or `1.0` (true).
    Bool,
}

impl Elem {
    /// The name used in messages and docs.
    pub fn name(self) -> &'static str {
        match self {
            Elem::Float => "float",
            Elem::Int => "int",
            Elem::Bool => "bool",
        }
    }
}

/// A static type: element kind and shape (empty for a scalar).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ty {
    /// The element kind.
    pub elem: Elem,
    /// The dimensions, outermost first; each at least 1, or [`N`] in the reward expression.
    pub shape: Vec<usize>,
}

impl Ty {
    /// A scalar of `elem`.
    pub fn scalar(elem: Elem) -> Self {
        Ty {
            elem,
            shape: Vec::new(),
        }
    }

    /// A tensor of `elem` with `shape`.
    pub fn new(elem: Elem, shape: Vec<usize>) -> Self {
        Ty { elem, shape }
    }

    /// The number of elements, or `None` when a dimension is [`N`].
    pub fn size(&self) -> Option<usize> {
        self.shape.iter().try_fold(
            1usize,
            |acc, &d| {
                if d == N { None } else { acc.checked_mul(d) }
            },
        )
    }
}

/// A variable: a `let`, a decoded input, or a comprehension's loop variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VarId(pub u32);

/// One variable's name and type.
#[derive(Debug, Clone, PartialEq)]
pub struct VarInfo {
    /// Its name in the source.
    pub name: String,
    /// Its type.
    pub ty: Ty,
}

/// A bundled data table (a CSV file): `rows` x `cols` numbers, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct DataTable {
    /// The name the spec gives it.
    pub name: String,
    /// The file, relative to the spec.
    pub file: String,
    /// Number of rows (at least 1).
    pub rows: usize,
    /// Number of columns (at least 1).
    pub cols: usize,
    /// `rows * cols` values.
    pub values: Vec<f64>,
}

/// Index of a table in [`Program::data`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataId(pub u32);

/// A checked, typed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// Its static type.
    pub ty: Ty,
    /// What it computes.
    pub kind: ExprKind,
    /// Where it is in the source.
    pub span: Span,
}

/// Elementwise functions of one argument. The result has the argument's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// `-x` (sign flip).
    Neg,
    /// `1.0` if `x == 0.0`, else `0.0`.
    Not,
    /// `|x|` (clears the sign bit).
    Abs,
    /// IEEE square root.
    Sqrt,
    /// Round down.
    Floor,
    /// Round up.
    Ceil,
    /// Round toward zero.
    Trunc,
    /// Round to nearest, ties to even.
    Round,
    /// `libm::exp`.
    Exp,
    /// `libm::log` (natural logarithm).
    Ln,
    /// `libm::sin`.
    Sin,
    /// `libm::cos`.
    Cos,
    /// `libm::tan`.
    Tan,
    /// `libm::tanh`.
    Tanh,
}

/// Elementwise functions of two arguments, with NumPy broadcasting: shapes are aligned at
/// their last dimension, and a dimension of 1 (or a missing one) stretches to the other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
    /// `libm::pow(a, b)`.
    Pow,
    /// `a - b * floor(a / b)` (the sign of `b`; used on integers).
    Rem,
    /// `if b < a { b } else { a }`.
    Min,
    /// `if b > a { b } else { a }`.
    Max,
    /// `a == b` as `1.0`/`0.0`.
    Eq,
    /// `a != b` (true when either is NaN).
    Ne,
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
    /// `1.0` if `a != 0.0` and `b != 0.0`, else `0.0`.
    And,
    /// `1.0` if `a != 0.0` or `b != 0.0`, else `0.0`.
    Or,
}

/// Folds over elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// `acc = 0.0; acc = acc + x` in index order.
    Sum,
    /// `acc = 1.0; acc = acc * x` in index order.
    Prod,
    /// `acc = x[0]; acc = max(acc, x[i])` for `i >= 1` ([`BinOp::Max`]).
    Max,
    /// `acc = x[0]; acc = min(acc, x[i])` for `i >= 1` ([`BinOp::Min`]).
    Min,
}

/// Index of the best element along the last axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgOp {
    /// `best = x[0], at = 0; for i >= 1: if x[i] > best { best = x[i]; at = i }`.
    ArgMax,
    /// The same with `<`.
    ArgMin,
}

/// A random distribution. Every draw takes uniforms `u` from the program's [`crate::rng::Rng`]
/// in order; parameters are scalars, evaluated once, in order, before the first draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dist {
    /// Params `(lo, hi)`: `lo + (hi - lo) * u`.
    Uniform,
    /// Params `(mu, sigma)`: two uniforms `u1` then `u2`;
    /// `mu + sigma * (sqrt(-2 * ln(1 - u1)) * cos(TAU * u2))`.
    Normal,
    /// Params `(lo, hi)` (integers, `lo < hi`): `lo + min(floor(u * (hi - lo)), hi - lo - 1)`.
    Integer,
    /// Param `(p)`: `1.0` if `u < p`, else `0.0`.
    Bernoulli,
}

/// One item of an index expression `x[...]`, applied to the dimension at its position.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexItem {
    /// A single position (an `Int` scalar): removes the dimension. A position outside
    /// `0..dim` at run time is an error ([`crate::interp::EvalError::IndexOutOfRange`]; the
    /// generated code traps). Constant negative positions were already resolved by the checker.
    At(Expr),
    /// Positions `start, start + step, ...` below `stop`; `0 <= start < stop <= dim`,
    /// `step >= 1`. Keeps the dimension, with length `ceil((stop - start) / step)`.
    Slice {
        /// First position.
        start: usize,
        /// One past the last position considered.
        stop: usize,
        /// Stride, at least 1.
        step: usize,
    },
}

/// How a comprehension combines its iterations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fold {
    /// Elementwise sum: `acc = zeros(body); acc = acc + body` per iteration, in order.
    Sum,
    /// Stacks the bodies along a new leading axis of length `end - start`.
    Stack,
}

/// What an expression computes. The result type is the enclosing [`Expr::ty`].
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A constant tensor, row-major, `ty.size()` values.
    Const(Vec<f64>),
    /// A variable's current value.
    Var(VarId),
    /// Elementwise function.
    Unary(UnOp, Box<Expr>),
    /// Elementwise function with broadcasting to `ty.shape`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `if c != 0.0 { a } else { b }` elementwise, all three broadcast to `ty.shape`.
    Select(Box<Expr>, Box<Expr>, Box<Expr>),
    /// A fold over all elements (`axis: None`, scalar result) or along one axis (removed).
    Reduce {
        /// The fold.
        op: ReduceOp,
        /// The folded tensor.
        arg: Box<Expr>,
        /// The axis, or all.
        axis: Option<usize>,
    },
    /// Index of the best element along the last axis; the result drops that axis (`Int`).
    ArgReduce(ArgOp, Box<Expr>),
    /// Matrix product: `[k]x[k] -> []`, `[m,k]x[k,n] -> [m,n]`, `[k]x[k,n] -> [n]`,
    /// `[m,k]x[k] -> [m]`; each output is `acc = 0.0; acc = acc + a * b` over `k` in order.
    MatMul(Box<Expr>, Box<Expr>),
    /// Along the last axis: `m = max(row)`, `e = exp(x - m)`, `s = sum(e)`, `e / s`.
    Softmax(Box<Expr>),
    /// Along the last axis: `m = max(row)`, `s = sum(exp(x - m))`, `(x - m) - ln(s)`.
    LogSoftmax(Box<Expr>),
    /// Running sum along the last axis (`acc = 0.0; acc = acc + x; out = acc`).
    Cumsum(Box<Expr>),
    /// Ascending sort along the last axis: insertion sort, `for i in 1..n { v = y[i]; j = i;
    /// while j > 0 && v < y[j - 1] { y[j] = y[j - 1]; j -= 1 } y[j] = v }`.
    Sort(Box<Expr>),
    /// Along the last axis, keeps the `k` largest values and sets the rest to `0.0`: element
    /// `i` is kept when fewer than `k` elements `j` have `x[j] > x[i]`, or `x[j] == x[i]`
    /// with `j < i`.
    TopK(Box<Expr>, usize),
    /// Indexing: one item per leading dimension (the rest are kept whole).
    Index(Box<Expr>, Vec<IndexItem>),
    /// The same elements in row-major order, with shape `ty.shape`.
    Reshape(Box<Expr>),
    /// Joins tensors along `axis` (all other dimensions equal).
    Concat(Vec<Expr>, usize),
    /// Stacks same-shaped tensors along a new leading axis.
    Stack(Vec<Expr>),
    /// `ty.size()` draws, row-major, from a distribution with scalar parameters.
    Random(Dist, Vec<Expr>),
    /// Permutes along axis 0 (Fisher-Yates): copy, then for `i` from `rows - 1` down to 1,
    /// `j = min(floor(u * (i + 1)), i)`, swap rows `i` and `j`.
    Shuffle(Box<Expr>),
    /// One row along axis 0: `i = min(floor(u * rows), rows - 1)`; the result drops axis 0.
    Choice(Box<Expr>),
    /// Rows drawn from a data table, with replacement: each row `i = min(floor(u * rows),
    /// rows - 1)`. `count: None` gives one row (`[cols]`), `Some(c)` gives `[c, cols]`.
    Sample {
        /// The table.
        data: DataId,
        /// How many rows.
        count: Option<usize>,
    },
    /// Evaluates `value` once, binds it to `var`, then evaluates `body` (the result). The
    /// checker uses it to expand library functions that use an argument twice (`cosine`,
    /// `std`, ...) without evaluating it twice.
    With {
        /// The bound variable (its type is `value.ty`).
        var: VarId,
        /// Evaluated first.
        value: Box<Expr>,
        /// Evaluated with `var` bound; its value is the result.
        body: Box<Expr>,
    },
    /// A comprehension: `var` takes `start..end` (an `Int` scalar) and `body` is evaluated
    /// once per value, combined by `fold`.
    Loop {
        /// The loop variable.
        var: VarId,
        /// First value.
        start: i64,
        /// One past the last value (`end > start`).
        end: i64,
        /// Evaluated per iteration.
        body: Box<Expr>,
        /// How iterations combine.
        fold: Fold,
    },
}

/// A value a task emits: its variable, its payload dtype, in a fixed order.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The name (also the variable's name).
    pub name: String,
    /// The variable holding the value.
    pub var: VarId,
    /// How it is encoded.
    pub dtype: DType,
    /// Its shape (the variable's).
    pub shape: Vec<usize>,
    /// Where it is declared.
    pub span: Span,
}

/// A `let` binding: evaluated once, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    /// The variable.
    pub var: VarId,
    /// Its value.
    pub value: Expr,
}

/// The task generator.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Evaluated in order (every one, used or not, so the random stream is fixed).
    pub lets: Vec<Let>,
    /// The public payload, in order.
    pub send: Vec<Output>,
    /// The private payload, in order.
    pub keep: Vec<Output>,
    /// The response miners must give.
    pub expect: TensorSpec,
    /// How long a validator waits for a response, milliseconds.
    pub timeout_ms: u64,
}

/// A payload tensor's dtype and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Its dtype.
    pub dtype: DType,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// How a validator combines a miner's scores across rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Smooth {
    /// The latest score only.
    Last,
    /// Exponential moving average: `s = alpha * score + (1 - alpha) * s`, starting at the
    /// first score.
    Ema(f64),
    /// Mean of the last `n` scores.
    Window(u32),
}

/// The scoring function.
///
/// The generated `score` entry point (and [`crate::interp::score`]) first checks the
/// response: exactly one tensor, of `task.expect`'s dtype and shape, every value finite;
/// anything else scores `0.0`. It decodes the public and private payloads (a payload that does
/// not match `task.send` / `task.keep` also scores `0.0`), binds `public[i]` to
/// `task.send[i]`, `private[i]` to `task.keep[i]` and the response to `response`, evaluates
/// `lets` then `item`, and returns `item` clamped to `[0, 1]` (NaN gives `0.0`).
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The variables the public payload's tensors are decoded into, one per `task.send`.
    pub public: Vec<VarId>,
    /// The variables the private payload's tensors are decoded into, one per `task.keep`.
    pub private: Vec<VarId>,
    /// The response variable: `task.expect`'s shape, values as decoded; a `Float` for float
    /// dtypes and an `Int` for integer ones.
    pub response: VarId,
    /// Evaluated in order.
    pub lets: Vec<Let>,
    /// The score of one response: a `Float` scalar.
    pub item: Expr,
    /// The smoothing rule across rounds (applied by validators, not by the plugin).
    pub smooth: Smooth,
}

/// The on-chain reward rule.
///
/// The generated `reward` entry point (and [`crate::interp::reward`]) takes `n` u16
/// incentives, binds `incentive` to `Float[N]` with values `v / 65535.0`, evaluates `expr`
/// (a `Float` of shape `[N]` or a scalar, broadcast to `n`), then: `y = if y > 0.0 { y } else
/// { 0.0 }` (NaN gives `0.0`), `total` = the sum in index order, and if `total > 0.0` each
/// output is `trunc(y / total * 65535.0)` saturated to u16, otherwise every output is 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Reward {
    /// The input vector.
    pub incentive: VarId,
    /// The reshaped vector.
    pub expr: Expr,
}

/// A chain hyperparameter's value, in the chain's own unit (blocks, rao, parts per million,
/// ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamValue {
    /// An integer.
    Int(u64),
    /// A signed integer.
    Signed(i64),
    /// On or off.
    Bool(bool),
}

/// Name, version and summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The subnet's name.
    pub name: String,
    /// Its version (semver).
    pub version: String,
    /// One line on what it does.
    pub summary: String,
}

/// A checked spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// Name, version, summary.
    pub meta: Meta,
    /// Every variable, indexed by [`VarId`].
    pub vars: Vec<VarInfo>,
    /// Bundled data, indexed by [`DataId`].
    pub data: Vec<DataTable>,
    /// The task generator.
    pub task: Task,
    /// The scoring function.
    pub score: Score,
    /// Chain hyperparameters the spec sets, by the chain's name, sorted.
    pub params: Vec<(String, ParamValue)>,
    /// The optional reward rule.
    pub reward: Option<Reward>,
}

impl Program {
    /// A variable's name and type.
    pub fn var(&self, id: VarId) -> &VarInfo {
        &self.vars[id.0 as usize]
    }
}
