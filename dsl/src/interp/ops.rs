//! The interpreter's tensor kernels, each written as the literal loop that [`crate::ir`]
//! documents: folds run from index 0 upwards, one IEEE operation at a time.
//!
//! Every kernel takes and returns [`Value`]s whose `data` has exactly `product(shape)`
//! elements. A kernel that can meet operands that do not fit returns `None`; the evaluator
//! turns that into [`super::EvalError::ShapeMismatch`] with the expression's span.

use super::{Value, product};
use crate::ir::{ArgOp, BinOp, ReduceOp, UnOp};

/// [`BinOp::Max`]: `if b > a { b } else { a }` (not `f64::max`, which treats NaN differently).
pub(super) fn max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// [`BinOp::Min`]: `if b < a { b } else { a }`.
pub(super) fn min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

fn truth(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// An elementwise function of one argument.
pub(super) fn unary(op: UnOp, x: f64) -> f64 {
    match op {
        UnOp::Neg => -x,
        UnOp::Not => truth(x == 0.0),
        UnOp::Abs => x.abs(),
        UnOp::Sqrt => x.sqrt(),
        UnOp::Floor => x.floor(),
        UnOp::Ceil => x.ceil(),
        UnOp::Trunc => x.trunc(),
        UnOp::Round => x.round_ties_even(),
        UnOp::Exp => libm::exp(x),
        UnOp::Ln => libm::log(x),
        UnOp::Sin => libm::sin(x),
        UnOp::Cos => libm::cos(x),
        UnOp::Tan => libm::tan(x),
        UnOp::Tanh => libm::tanh(x),
    }
}

/// An elementwise function of two arguments.
pub(super) fn binary(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Pow => libm::pow(a, b),
        BinOp::Rem => {
            let q = (a / b).floor();
            let p = b * q;
            a - p
        }
        BinOp::Min => min(a, b),
        BinOp::Max => max(a, b),
        BinOp::Eq => truth(a == b),
        BinOp::Ne => truth(a != b),
        BinOp::Lt => truth(a < b),
        BinOp::Le => truth(a <= b),
        BinOp::Gt => truth(a > b),
        BinOp::Ge => truth(a >= b),
        BinOp::And => truth(a != 0.0 && b != 0.0),
        BinOp::Or => truth(a != 0.0 || b != 0.0),
    }
}

/// The NumPy broadcast of two shapes: aligned at the last dimension, a 1 (or a missing
/// dimension) stretches to the other's; `None` when two dimensions differ and neither is 1.
pub(super) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (d, slot) in out.iter_mut().enumerate() {
        // Dimension `d` of the result, counted from the left; operands align at the right.
        let x = (d + a.len()).checked_sub(rank).map_or(1, |i| a[i]);
        let y = (d + b.len()).checked_sub(rank).map_or(1, |i| b[i]);
        *slot = if x == y || y == 1 {
            x
        } else if x == 1 {
            y
        } else {
            return None;
        };
    }
    Some(out)
}

/// `v`'s elements stretched to `shape` (row-major); `None` when `v` does not broadcast to it.
pub(super) fn broadcast_to(v: &Value, shape: &[usize]) -> Option<Vec<f64>> {
    if v.shape == shape {
        return Some(v.data.clone());
    }
    if broadcast_shape(&v.shape, shape)?.as_slice() != shape {
        return None;
    }
    // The input stride of each output dimension: 0 where the input stretches.
    let rank = shape.len();
    let mut strides = vec![0; rank];
    let mut stride = 1;
    for i in (0..v.shape.len()).rev() {
        let d = i + rank - v.shape.len();
        if v.shape[i] != 1 {
            strides[d] = stride;
        }
        stride *= v.shape[i];
    }
    let size = product(shape);
    let mut out = Vec::with_capacity(size);
    let mut counter = vec![0; rank];
    let mut offset = 0;
    for _ in 0..size {
        out.push(v.data[offset]);
        // Advance the output position like an odometer, keeping the input offset in step.
        for d in (0..rank).rev() {
            counter[d] += 1;
            offset += strides[d];
            if counter[d] < shape[d] {
                break;
            }
            offset -= strides[d] * counter[d];
            counter[d] = 0;
        }
    }
    Some(out)
}

/// A [`ReduceOp`] over `n` elements, `at(0)` first.
fn fold(op: ReduceOp, n: usize, at: impl Fn(usize) -> f64) -> f64 {
    match op {
        ReduceOp::Sum => {
            let mut acc = 0.0;
            for j in 0..n {
                acc += at(j);
            }
            acc
        }
        ReduceOp::Prod => {
            let mut acc = 1.0;
            for j in 0..n {
                acc *= at(j);
            }
            acc
        }
        ReduceOp::Max | ReduceOp::Min => {
            // An empty fold has no element 0: it gives NaN (only a zero-length reward vector
            // can reach this).
            if n == 0 {
                return f64::NAN;
            }
            let pick = if op == ReduceOp::Max { max } else { min };
            let mut acc = at(0);
            for j in 1..n {
                acc = pick(acc, at(j));
            }
            acc
        }
    }
}

/// A fold over every element (`axis: None`) or along one axis, which the result drops.
pub(super) fn reduce(op: ReduceOp, v: &Value, axis: Option<usize>) -> Option<Value> {
    let Some(axis) = axis else {
        return Some(Value::scalar(fold(op, v.data.len(), |j| v.data[j])));
    };
    let len = *v.shape.get(axis)?;
    let outer = product(&v.shape[..axis]);
    let inner = product(&v.shape[axis + 1..]);
    let mut data = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            data.push(fold(op, len, |j| v.data[(o * len + j) * inner + i]));
        }
    }
    let mut shape = v.shape.clone();
    shape.remove(axis);
    Some(Value { shape, data })
}

/// The last axis's length and the number of rows along it. A scalar is one row of one.
fn rows(v: &Value) -> (usize, usize) {
    match v.shape.split_last() {
        Some((&len, outer)) => (product(outer), len),
        None => (1, 1),
    }
}

/// [`ArgOp`] along the last axis, which the result drops (an empty row gives 0).
pub(super) fn arg_reduce(op: ArgOp, v: &Value) -> Value {
    let (count, len) = rows(v);
    let mut data = Vec::with_capacity(count);
    for r in 0..count {
        let row = &v.data[r * len..(r + 1) * len];
        let mut at = 0;
        if let Some(&first) = row.first() {
            let mut best = first;
            for (i, &x) in row.iter().enumerate().skip(1) {
                let better = match op {
                    ArgOp::ArgMax => x > best,
                    ArgOp::ArgMin => x < best,
                };
                if better {
                    best = x;
                    at = i;
                }
            }
        }
        data.push(at as f64);
    }
    let mut shape = v.shape.clone();
    shape.pop();
    Value { shape, data }
}

/// `[k]x[k] -> []`, `[m,k]x[k,n] -> [m,n]`, `[k]x[k,n] -> [n]`, `[m,k]x[k] -> [m]`; each
/// output folds `acc = acc + a * b` over `k` from 0.
pub(super) fn matmul(a: &Value, b: &Value) -> Option<Value> {
    let (m, k, mut shape) = match *a.shape.as_slice() {
        [k] => (1, k, vec![]),
        [m, k] => (m, k, vec![m]),
        _ => return None,
    };
    let n = match *b.shape.as_slice() {
        [kb] if kb == k => 1,
        [kb, n] if kb == k => {
            shape.push(n);
            n
        }
        _ => return None,
    };
    let mut data = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0;
            for p in 0..k {
                let t = a.data[i * k + p] * b.data[p * n + j];
                acc += t;
            }
            data.push(acc);
        }
    }
    Some(Value { shape, data })
}

/// Softmax (or, with `log`, log-softmax) along the last axis: `m = max(row)`, `e = exp(x -
/// m)`, `s = sum(e)`, then `e / s` (or `(x - m) - ln(s)`).
pub(super) fn softmax(v: &Value, log: bool) -> Value {
    let (count, len) = rows(v);
    let mut data = Vec::with_capacity(v.data.len());
    for r in 0..count {
        let row = &v.data[r * len..(r + 1) * len];
        let m = fold(ReduceOp::Max, len, |j| row[j]);
        let mut e = Vec::with_capacity(len);
        for &x in row {
            e.push(libm::exp(x - m));
        }
        let s = fold(ReduceOp::Sum, len, |j| e[j]);
        if log {
            let ln_s = libm::log(s);
            for &x in row {
                data.push((x - m) - ln_s);
            }
        } else {
            for &ej in &e {
                data.push(ej / s);
            }
        }
    }
    Value {
        shape: v.shape.clone(),
        data,
    }
}

/// The running sum along the last axis.
pub(super) fn cumsum(v: &Value) -> Value {
    let (count, len) = rows(v);
    let mut data = Vec::with_capacity(v.data.len());
    for r in 0..count {
        let mut acc = 0.0;
        for &x in &v.data[r * len..(r + 1) * len] {
            acc += x;
            data.push(acc);
        }
    }
    Value {
        shape: v.shape.clone(),
        data,
    }
}

/// Ascending insertion sort along the last axis, exactly the loop of
/// [`crate::ir::ExprKind::Sort`] (so NaNs land where that loop puts them).
pub(super) fn sort(v: &Value) -> Value {
    let (_, len) = rows(v);
    let mut data = v.data.clone();
    if len == 0 {
        return Value {
            shape: v.shape.clone(),
            data,
        };
    }
    for y in data.chunks_exact_mut(len) {
        for i in 1..len {
            let x = y[i];
            let mut j = i;
            while j > 0 && x < y[j - 1] {
                y[j] = y[j - 1];
                j -= 1;
            }
            y[j] = x;
        }
    }
    Value {
        shape: v.shape.clone(),
        data,
    }
}

/// Along the last axis, keeps element `i` when fewer than `k` elements `j` have
/// `x[j] > x[i]`, or `x[j] == x[i]` with `j < i`; the others become `0.0`.
pub(super) fn top_k(v: &Value, k: usize) -> Value {
    let (count, len) = rows(v);
    let mut data = Vec::with_capacity(v.data.len());
    for r in 0..count {
        let row = &v.data[r * len..(r + 1) * len];
        for (i, &x) in row.iter().enumerate() {
            let mut above = 0;
            for (j, &y) in row.iter().enumerate() {
                if y > x || (y == x && j < i) {
                    above += 1;
                }
            }
            data.push(if above < k { x } else { 0.0 });
        }
    }
    Value {
        shape: v.shape.clone(),
        data,
    }
}

/// Joins tensors along `axis`; every other dimension must agree.
pub(super) fn concat(parts: &[Value], axis: usize) -> Option<Value> {
    let first = parts.first()?;
    if axis >= first.shape.len() {
        return None;
    }
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for p in parts {
        let fits = p.shape.len() == shape.len()
            && p.shape
                .iter()
                .enumerate()
                .all(|(d, &n)| d == axis || n == shape[d]);
        if !fits {
            return None;
        }
        shape[axis] += p.shape[axis];
    }
    let outer = product(&shape[..axis]);
    let inner = product(&shape[axis + 1..]);
    let mut data = Vec::with_capacity(product(&shape));
    for o in 0..outer {
        for p in parts {
            let block = p.shape[axis] * inner;
            data.extend_from_slice(&p.data[o * block..(o + 1) * block]);
        }
    }
    Some(Value { shape, data })
}

/// Stacks same-shaped tensors along a new leading axis.
pub(super) fn stack(parts: &[Value]) -> Option<Value> {
    let first = parts.first()?;
    let mut data = Vec::with_capacity(first.data.len() * parts.len());
    for p in parts {
        if p.shape != first.shape {
            return None;
        }
        data.extend_from_slice(&p.data);
    }
    let mut shape = vec![parts.len()];
    shape.extend_from_slice(&first.shape);
    Some(Value { shape, data })
}
