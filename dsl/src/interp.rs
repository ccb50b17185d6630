//! The reference interpreter of the checked program ([`crate::ir`]).
//!
//! It evaluates a [`Program`] directly, in plain Rust, following the semantics written in
//! [`crate::ir`] to the bit: every fold runs from index 0 upwards, one IEEE operation at a time
//! (no fused multiply-add), with the `libm` functions the plugin host imports. The code
//! generator ([`crate::codegen`]) is tested against it: for any seed, both give the same task
//! payload bytes and the same score and reward bits.
//!
//! The three entry points mirror a plugin's exports: [`task`], [`score`] and [`reward`].
//! Only the task has a random stream ([`Rng::new`] of its seed and round). The checker keeps
//! random expressions out of the score and the reward; should one appear anyway, it draws
//! from the stream of seed 0, round 0.

mod ops;
#[cfg(test)]
mod tests;

use ganglion_plugin_abi::payload::{self, DType, Tensor};

use crate::ir::{
    DataTable, Dist, Expr, ExprKind, Fold, IndexItem, Let, N, Output, Program, Span, TensorSpec,
    VarId,
};
use crate::rng::Rng;

/// A run-time failure of a program (the generated code traps in the same cases).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A dynamic index outside its dimension (or not an integer), or a slice that does not
    /// fit its dimension (possible only in the reward, where the vector length is known at
    /// run time).
    #[error(
        "index {index} is out of range for a dimension of {len} (at bytes {}..{} of the spec)",
        span.start,
        span.end
    )]
    IndexOutOfRange {
        /// The position asked for.
        index: f64,
        /// The length of the dimension.
        len: usize,
        /// The index expression.
        span: Span,
    },
    /// The program has no reward rule.
    #[error("the spec has no reward rule")]
    NoReward,
    /// Operands whose shapes do not fit together at run time. The checker rules this out
    /// everywhere except in the reward, whose vector length `N` is known only when it runs
    /// (a program that was not checked can also meet it: a variable read before it is set,
    /// a missing table or parameter).
    #[error("the shapes do not fit (at bytes {}..{} of the spec)", span.start, span.end)]
    ShapeMismatch {
        /// The expression whose operands do not fit.
        span: Span,
    },
}

/// A tensor value: `f64` elements in row-major order, whatever the static element kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The dimensions, outermost first (empty for a scalar).
    pub shape: Vec<usize>,
    /// `product(shape)` elements, row-major.
    pub data: Vec<f64>,
}

impl Value {
    fn scalar(x: f64) -> Self {
        Value {
            shape: Vec::new(),
            data: vec![x],
        }
    }

    fn zeros(shape: Vec<usize>) -> Self {
        let data = vec![0.0; product(&shape)];
        Value { shape, data }
    }
}

/// The number of elements of a shape (1 for a scalar).
fn product(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// A task's payloads: (public, private), each in the ABI payload format
/// ([`payload::encode`]).
///
/// Evaluates `task.lets` in order with the random stream [`Rng::new`]`(seed, round)`, then
/// encodes `task.send` (public) and `task.keep` (private) with their dtypes: `f32` rounds to
/// nearest, `f64` is exact, and both write the canonical NaN; `i32`, `i64` and `u8` truncate
/// toward zero and saturate (NaN gives 0).
pub fn task(program: &Program, seed: u64, round: u64) -> Result<(Vec<u8>, Vec<u8>), EvalError> {
    let mut m = Machine::new(program, Rng::new(seed, round), None);
    m.run(&program.task.lets)?;
    let public = m.encode(&program.task.send)?;
    let private = m.encode(&program.task.keep)?;
    Ok((public, private))
}

/// Scores a response (payload bytes) against a task's public and private payloads; in
/// `[0, 1]`.
///
/// A response that is not exactly one tensor of `task.expect`'s dtype and shape with every
/// value finite scores `0.0`, and so do public or private payloads that do not match
/// `task.send` / `task.keep`. Otherwise it binds the decoded values, evaluates `score.lets`
/// then `score.item`, and clamps the item to `[0, 1]` (NaN gives `0.0`).
pub fn score(
    program: &Program,
    public: &[u8],
    private: &[u8],
    response: &[u8],
) -> Result<f64, EvalError> {
    let s = &program.score;
    let expect = &program.task.expect;
    let Some(response) = decode(response, std::slice::from_ref(expect)) else {
        return Ok(0.0);
    };
    if response
        .iter()
        .any(|v| v.data.iter().any(|x| !x.is_finite()))
    {
        return Ok(0.0);
    }
    let (Some(public), Some(private)) = (
        decode_outputs(public, &program.task.send),
        decode_outputs(private, &program.task.keep),
    ) else {
        return Ok(0.0);
    };
    let span = s.item.span;
    if s.public.len() != public.len() || s.private.len() != private.len() {
        return Err(EvalError::ShapeMismatch { span });
    }
    let mut m = Machine::new(program, Rng::new(0, 0), None);
    let inputs = (s.public.iter().zip(public))
        .chain(s.private.iter().zip(private))
        .chain(std::iter::once(&s.response).zip(response));
    for (&var, value) in inputs {
        m.set(var, value, span)?;
    }
    m.run(&s.lets)?;
    let r = m.scalar(&s.item)?;
    Ok(if r.is_nan() || r < 0.0 {
        0.0
    } else if r > 1.0 {
        1.0
    } else {
        r
    })
}

/// The reward rule over the epoch's u16 incentive vector.
///
/// Binds the rule's input to `v / 65535.0` for each incentive `v`, evaluates its expression
/// (a vector of the same length, or a scalar broadcast to it), replaces every value that is
/// not above `0.0` (NaN included) with `0.0`, and sums them in index order into `total`. If
/// `total > 0.0`, output `i` is `trunc(y[i] / total * 65535.0)` saturated to u16; otherwise
/// every output is 0.
pub fn reward(program: &Program, incentive: &[u16]) -> Result<Vec<u16>, EvalError> {
    let rule = program.reward.as_ref().ok_or(EvalError::NoReward)?;
    let n = incentive.len();
    let span = rule.expr.span;
    let mut m = Machine::new(program, Rng::new(0, 0), Some(n));
    let input = Value {
        shape: vec![n],
        data: incentive.iter().map(|&v| f64::from(v) / 65535.0).collect(),
    };
    m.set(rule.incentive, input, span)?;
    let y = m.eval(&rule.expr)?;
    let y = ops::broadcast_to(&y, &[n]).ok_or(EvalError::ShapeMismatch { span })?;
    let y: Vec<f64> = y
        .into_iter()
        .map(|x| if x > 0.0 { x } else { 0.0 })
        .collect();
    let mut total = 0.0;
    for &x in &y {
        total += x;
    }
    if total > 0.0 {
        Ok(y.iter()
            .map(|&x| {
                let share = x / total;
                // `as` truncates toward zero and saturates, which is the rule.
                (share * 65535.0).trunc() as u16
            })
            .collect())
    } else {
        Ok(vec![0; n])
    }
}

/// Decodes a payload that must hold exactly the tensors `specs` describes (dtype and shape).
fn decode(bytes: &[u8], specs: &[TensorSpec]) -> Option<Vec<Value>> {
    let shapes: Vec<(DType, &[usize])> = specs.iter().map(|s| (s.dtype, &s.shape[..])).collect();
    decode_as(bytes, &shapes)
}

/// Decodes a payload that must hold exactly the tensors of `outputs`.
fn decode_outputs(bytes: &[u8], outputs: &[Output]) -> Option<Vec<Value>> {
    let shapes: Vec<(DType, &[usize])> = outputs.iter().map(|o| (o.dtype, &o.shape[..])).collect();
    decode_as(bytes, &shapes)
}

fn decode_as(bytes: &[u8], expected: &[(DType, &[usize])]) -> Option<Vec<Value>> {
    let tensors = payload::decode(bytes).ok()?;
    if tensors.len() != expected.len() {
        return None;
    }
    let mut values = Vec::with_capacity(tensors.len());
    for (t, &(dtype, shape)) in tensors.iter().zip(expected) {
        let dims_match = t.dims().len() == shape.len()
            && t.dims()
                .iter()
                .zip(shape)
                .all(|(&d, &s)| usize::try_from(d) == Ok(s));
        if t.dtype() != dtype || !dims_match {
            return None;
        }
        values.push(Value {
            shape: shape.to_vec(),
            data: t.to_f64s(),
        });
    }
    Some(values)
}

/// Encodes one value's elements as `dtype`, little-endian.
fn encode_data(dtype: DType, data: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * dtype.size());
    for &x in data {
        match dtype {
            DType::F32 => {
                let v = if x.is_nan() {
                    f32::from_bits(0x7fc0_0000)
                } else {
                    x as f32
                };
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            DType::F64 => {
                let v = if x.is_nan() {
                    0x7ff8_0000_0000_0000
                } else {
                    x.to_bits()
                };
                out.extend_from_slice(&v.to_le_bytes());
            }
            DType::I32 => out.extend_from_slice(&(x as i32).to_le_bytes()),
            DType::I64 => out.extend_from_slice(&(x as i64).to_le_bytes()),
            DType::U8 => out.push(x as u8),
        }
    }
    out
}

/// The evaluation state: the variables, the random stream and, in the reward, the length
/// that [`N`] stands for.
struct Machine<'p> {
    data: &'p [DataTable],
    env: Vec<Option<Value>>,
    rng: Rng,
    n: Option<usize>,
}

impl<'p> Machine<'p> {
    fn new(program: &'p Program, rng: Rng, n: Option<usize>) -> Self {
        Machine {
            data: &program.data,
            env: vec![None; program.vars.len()],
            rng,
            n,
        }
    }

    fn set(&mut self, var: VarId, value: Value, span: Span) -> Result<(), EvalError> {
        let slot = self
            .env
            .get_mut(var.0 as usize)
            .ok_or(EvalError::ShapeMismatch { span })?;
        *slot = Some(value);
        Ok(())
    }

    fn get(&self, var: VarId, span: Span) -> Result<Value, EvalError> {
        self.env
            .get(var.0 as usize)
            .and_then(Option::clone)
            .ok_or(EvalError::ShapeMismatch { span })
    }

    /// Evaluates `lets` in order.
    fn run(&mut self, lets: &[Let]) -> Result<(), EvalError> {
        for l in lets {
            let v = self.eval(&l.value)?;
            self.set(l.var, v, l.value.span)?;
        }
        Ok(())
    }

    /// Encodes `outputs` as one payload.
    fn encode(&self, outputs: &[Output]) -> Result<Vec<u8>, EvalError> {
        let mut tensors = Vec::with_capacity(outputs.len());
        for o in outputs {
            let mismatch = EvalError::ShapeMismatch { span: o.span };
            let v = self.get(o.var, o.span)?;
            if v.shape != o.shape {
                return Err(mismatch);
            }
            let dims = v
                .shape
                .iter()
                .map(|&d| u32::try_from(d))
                .collect::<Result<Vec<u32>, _>>()
                .map_err(|_| mismatch.clone())?;
            let t = Tensor::from_bytes(o.dtype, dims, encode_data(o.dtype, &v.data))
                .map_err(|_| mismatch)?;
            tensors.push(t);
        }
        Ok(payload::encode(&tensors))
    }

    /// A static shape with [`N`] replaced by the reward's run-time length.
    fn resolve(&self, shape: &[usize], span: Span) -> Result<Vec<usize>, EvalError> {
        shape
            .iter()
            .map(|&d| {
                if d == N {
                    self.n.ok_or(EvalError::ShapeMismatch { span })
                } else {
                    Ok(d)
                }
            })
            .collect()
    }

    /// Evaluates a scalar expression to its one element.
    fn scalar(&mut self, e: &Expr) -> Result<f64, EvalError> {
        let v = self.eval(e)?;
        match *v.data.as_slice() {
            [x] if v.shape.is_empty() => Ok(x),
            _ => Err(EvalError::ShapeMismatch { span: e.span }),
        }
    }

    /// Evaluates an expression: sub-expressions left to right, depth first, each once.
    fn eval(&mut self, e: &Expr) -> Result<Value, EvalError> {
        let span = e.span;
        let mismatch = EvalError::ShapeMismatch { span };
        Ok(match &e.kind {
            ExprKind::Const(values) => {
                let shape = self.resolve(&e.ty.shape, span)?;
                if values.len() != product(&shape) {
                    return Err(mismatch);
                }
                Value {
                    shape,
                    data: values.clone(),
                }
            }
            ExprKind::Var(var) => self.get(*var, span)?,
            ExprKind::Unary(op, x) => {
                let mut v = self.eval(x)?;
                for x in &mut v.data {
                    *x = ops::unary(*op, *x);
                }
                v
            }
            ExprKind::Binary(op, a, b) => {
                let a = self.eval(a)?;
                let b = self.eval(b)?;
                let shape = ops::broadcast_shape(&a.shape, &b.shape).ok_or(mismatch.clone())?;
                let xs = ops::broadcast_to(&a, &shape).ok_or(mismatch.clone())?;
                let ys = ops::broadcast_to(&b, &shape).ok_or(mismatch)?;
                let data = xs
                    .iter()
                    .zip(&ys)
                    .map(|(&x, &y)| ops::binary(*op, x, y))
                    .collect();
                Value { shape, data }
            }
            ExprKind::Select(c, a, b) => {
                let c = self.eval(c)?;
                let a = self.eval(a)?;
                let b = self.eval(b)?;
                let shape = ops::broadcast_shape(&c.shape, &a.shape)
                    .and_then(|s| ops::broadcast_shape(&s, &b.shape))
                    .ok_or(mismatch.clone())?;
                let cs = ops::broadcast_to(&c, &shape).ok_or(mismatch.clone())?;
                let xs = ops::broadcast_to(&a, &shape).ok_or(mismatch.clone())?;
                let ys = ops::broadcast_to(&b, &shape).ok_or(mismatch)?;
                let data = (0..cs.len())
                    .map(|i| if cs[i] != 0.0 { xs[i] } else { ys[i] })
                    .collect();
                Value { shape, data }
            }
            ExprKind::Reduce { op, arg, axis } => {
                let v = self.eval(arg)?;
                ops::reduce(*op, &v, *axis).ok_or(mismatch)?
            }
            ExprKind::ArgReduce(op, x) => ops::arg_reduce(*op, &self.eval(x)?),
            ExprKind::MatMul(a, b) => {
                let a = self.eval(a)?;
                let b = self.eval(b)?;
                ops::matmul(&a, &b).ok_or(mismatch)?
            }
            ExprKind::Softmax(x) => ops::softmax(&self.eval(x)?, false),
            ExprKind::LogSoftmax(x) => ops::softmax(&self.eval(x)?, true),
            ExprKind::Cumsum(x) => ops::cumsum(&self.eval(x)?),
            ExprKind::Sort(x) => ops::sort(&self.eval(x)?),
            ExprKind::TopK(x, k) => ops::top_k(&self.eval(x)?, *k),
            ExprKind::Index(x, items) => self.index(x, items, span)?,
            ExprKind::Reshape(x) => {
                let mut v = self.eval(x)?;
                let shape = self.resolve(&e.ty.shape, span)?;
                if product(&shape) != v.data.len() {
                    return Err(mismatch);
                }
                v.shape = shape;
                v
            }
            ExprKind::Concat(parts, axis) => {
                let parts = self.eval_all(parts)?;
                ops::concat(&parts, *axis).ok_or(mismatch)?
            }
            ExprKind::Stack(parts) => {
                let parts = self.eval_all(parts)?;
                ops::stack(&parts).ok_or(mismatch)?
            }
            ExprKind::Random(dist, params) => {
                let params = params
                    .iter()
                    .map(|p| self.scalar(p))
                    .collect::<Result<Vec<f64>, _>>()?;
                let shape = self.resolve(&e.ty.shape, span)?;
                let data = self.draw(*dist, &params, product(&shape), span)?;
                Value { shape, data }
            }
            ExprKind::Shuffle(x) => {
                let mut v = self.eval(x)?;
                let rows = v.shape.first().copied().unwrap_or(1);
                let width = product(v.shape.get(1..).unwrap_or(&[]));
                for i in (1..rows).rev() {
                    let j = self.pick(i + 1);
                    for c in 0..width {
                        v.data.swap(i * width + c, j * width + c);
                    }
                }
                v
            }
            ExprKind::Choice(x) => {
                let v = self.eval(x)?;
                let (&rows, rest) = v.shape.split_first().ok_or(mismatch)?;
                let width = product(rest);
                let i = self.pick(rows);
                let data = v
                    .data
                    .get(i * width..(i + 1) * width)
                    .ok_or(EvalError::IndexOutOfRange {
                        index: -1.0,
                        len: rows,
                        span,
                    })?
                    .to_vec();
                Value {
                    shape: rest.to_vec(),
                    data,
                }
            }
            ExprKind::Sample { data, count } => {
                let table = self.data.get(data.0 as usize).ok_or(mismatch.clone())?;
                let (rows, cols) = (table.rows, table.cols);
                if table.values.len() != rows * cols || rows == 0 {
                    return Err(mismatch);
                }
                let mut out = Vec::with_capacity(count.unwrap_or(1) * cols);
                for _ in 0..count.unwrap_or(1) {
                    let i = self.pick(rows);
                    out.extend_from_slice(&table.values[i * cols..(i + 1) * cols]);
                }
                let shape = match count {
                    None => vec![cols],
                    Some(c) => vec![*c, cols],
                };
                Value { shape, data: out }
            }
            ExprKind::With { var, value, body } => {
                let v = self.eval(value)?;
                self.set(*var, v, span)?;
                self.eval(body)?
            }
            ExprKind::Loop {
                var,
                start,
                end,
                body,
                fold,
            } => self.comprehension(e, *var, *start..*end, body, *fold)?,
        })
    }

    fn eval_all(&mut self, es: &[Expr]) -> Result<Vec<Value>, EvalError> {
        es.iter().map(|e| self.eval(e)).collect()
    }

    /// One uniform draw turned into a position below `len`: `min(floor(u * len), len - 1)`
    /// (with `len == 0` this saturates to 0, and the caller finds nothing there).
    fn pick(&mut self, len: usize) -> usize {
        let u = self.rng.uniform();
        let len = len as f64;
        let i = ops::min((u * len).floor(), len - 1.0);
        // `i` is integral and in `0..len` for `len >= 1`.
        i as usize
    }

    /// `count` draws from `dist` with its scalar parameters.
    fn draw(
        &mut self,
        dist: Dist,
        params: &[f64],
        count: usize,
        span: Span,
    ) -> Result<Vec<f64>, EvalError> {
        let want = match dist {
            Dist::Uniform | Dist::Normal | Dist::Integer => 2,
            Dist::Bernoulli => 1,
        };
        if params.len() != want {
            return Err(EvalError::ShapeMismatch { span });
        }
        let (a, b) = (params[0], params.get(1).copied().unwrap_or(0.0));
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let x = match dist {
                Dist::Uniform => {
                    let u = self.rng.uniform();
                    let width = b - a;
                    a + width * u
                }
                Dist::Normal => {
                    // `TAU` is 6.283185307179586 (0x401921FB54442D18), the value the
                    // generated code uses.
                    use std::f64::consts::TAU;
                    let u1 = self.rng.uniform();
                    let u2 = self.rng.uniform();
                    let r = (-2.0 * libm::log(1.0 - u1)).sqrt();
                    let z = r * libm::cos(TAU * u2);
                    a + b * z
                }
                Dist::Integer => {
                    let u = self.rng.uniform();
                    let width = b - a;
                    let i = ops::min((u * width).floor(), width - 1.0);
                    a + i
                }
                Dist::Bernoulli => {
                    let u = self.rng.uniform();
                    if u < a { 1.0 } else { 0.0 }
                }
            };
            out.push(x);
        }
        Ok(out)
    }

    /// `x[items]`: the base, then every `At` position left to right, then the gather.
    fn index(&mut self, base: &Expr, items: &[IndexItem], span: Span) -> Result<Value, EvalError> {
        let x = self.eval(base)?;
        if items.len() > x.shape.len() {
            return Err(EvalError::ShapeMismatch { span });
        }
        let mut at = Vec::with_capacity(items.len());
        for item in items {
            at.push(match item {
                IndexItem::At(e) => self.scalar(e)?,
                IndexItem::Slice { .. } => 0.0,
            });
        }
        // The positions taken along each indexed dimension, and the result's shape.
        let mut picks: Vec<Vec<usize>> = Vec::with_capacity(items.len());
        let mut shape = Vec::with_capacity(x.shape.len());
        for ((item, &p), &len) in items.iter().zip(&at).zip(&x.shape) {
            match item {
                IndexItem::At(e) => {
                    let integral = p >= 0.0 && p < len as f64 && p == p.floor();
                    if !integral {
                        return Err(EvalError::IndexOutOfRange {
                            index: p,
                            len,
                            span: e.span,
                        });
                    }
                    picks.push(vec![p as usize]);
                }
                &IndexItem::Slice { start, stop, step } => {
                    if stop > len || start >= stop || step == 0 {
                        let index = if stop > len { stop } else { start };
                        return Err(EvalError::IndexOutOfRange {
                            index: index as f64,
                            len,
                            span,
                        });
                    }
                    let positions: Vec<usize> = (start..stop).step_by(step).collect();
                    shape.push(positions.len());
                    picks.push(positions);
                }
            }
        }
        let rest = &x.shape[items.len()..];
        shape.extend_from_slice(rest);
        let inner = product(rest);
        // The stride of each indexed dimension in `x`.
        let mut strides = vec![inner; items.len()];
        for d in (0..items.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * x.shape[d + 1];
        }
        let total: usize = picks.iter().map(Vec::len).product();
        let mut data = Vec::with_capacity(total * inner);
        let mut counter = vec![0; picks.len()];
        for _ in 0..total {
            let mut offset = 0;
            for d in 0..picks.len() {
                offset += picks[d][counter[d]] * strides[d];
            }
            data.extend_from_slice(&x.data[offset..offset + inner]);
            for d in (0..counter.len()).rev() {
                counter[d] += 1;
                if counter[d] < picks[d].len() {
                    break;
                }
                counter[d] = 0;
            }
        }
        Ok(Value { shape, data })
    }

    /// A comprehension: `var` takes each value of `range`, and the bodies are summed
    /// (`acc = zeros; acc = acc + body`) or stacked along a new leading axis.
    fn comprehension(
        &mut self,
        e: &Expr,
        var: VarId,
        range: std::ops::Range<i64>,
        body: &Expr,
        fold: Fold,
    ) -> Result<Value, EvalError> {
        let span = e.span;
        let mismatch = EvalError::ShapeMismatch { span };
        match fold {
            Fold::Sum => {
                let mut acc: Option<Value> = None;
                for i in range {
                    self.set(var, Value::scalar(i as f64), span)?;
                    let v = self.eval(body)?;
                    let a = acc.get_or_insert_with(|| Value::zeros(v.shape.clone()));
                    if a.shape != v.shape {
                        return Err(mismatch);
                    }
                    for (a, x) in a.data.iter_mut().zip(&v.data) {
                        *a += x;
                    }
                }
                match acc {
                    Some(a) => Ok(a),
                    None => Ok(Value::zeros(self.resolve(&e.ty.shape, span)?)),
                }
            }
            Fold::Stack => {
                let mut parts = Vec::new();
                for i in range {
                    self.set(var, Value::scalar(i as f64), span)?;
                    parts.push(self.eval(body)?);
                }
                if parts.is_empty() {
                    return Ok(Value::zeros(self.resolve(&e.ty.shape, span)?));
                }
                ops::stack(&parts).ok_or(mismatch)
            }
        }
    }
}
