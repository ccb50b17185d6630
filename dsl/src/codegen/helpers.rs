//! The module's helper functions: one loop each, called from the entry points with the
//! addresses and sizes of their operands (every address an `i32`, every count in elements
//! unless it says bytes). Each follows the rules of [`crate::ir`] to the bit.

use ganglion_plugin_abi::payload::DType;
use wasm_encoder::BlockType;

use super::wasm::{Builder, F64, Func, GLOBAL_HEAP, GLOBAL_RNG, Host, Sig, Ty, at, unaligned};
use crate::ir::{ArgOp, BinOp, Dist, ReduceOp, UnOp};
use crate::rng::{GOLDEN, MUL1, MUL2, UNIT};

/// `2 * pi` (`6.283185307179586`), as the normal distribution uses it.
const TAU: f64 = std::f64::consts::TAU;

/// A helper function of the generated module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Helper {
    /// `(len) -> ptr`: the bump allocator (also exported as `alloc`).
    Alloc,
    /// `(z: i64) -> i64`: SplitMix64's finalizer.
    Mix,
    /// `() -> f64`: the next uniform draw of the stream.
    Uniform,
    /// `(dst, src, n)`.
    Unary(UnOp),
    /// `(dst, a, a_step, b, b_step, n)`, steps in bytes (8, or 0 to repeat a scalar).
    Binary(BinOp),
    /// `(dst, c, c_step, a, a_step, b, b_step, n)`.
    Select,
    /// `(dst, src, outer, len, inner)`: folds the middle axis.
    Reduce(ReduceOp),
    /// `(dst, src, outer, len)`.
    Arg(ArgOp),
    /// `(dst, a, b, m, k, n)`.
    MatMul,
    /// `(dst, src, outer, len)`.
    Softmax,
    /// `(dst, src, outer, len)`.
    LogSoftmax,
    /// `(dst, src, outer, len)`.
    Cumsum,
    /// `(dst, src, outer, len)`.
    Sort,
    /// `(dst, src, outer, len, k)`.
    TopK,
    /// `(dst, src, desc, rank)`: a strided copy; `desc` holds `rank` entries of four i32,
    /// outermost first: length, source stride (bytes), destination stride (bytes), and a
    /// counter that is 0 before and after the call.
    CopyNd,
    /// `(dst, n, p0[, p1])`: `n` draws.
    Random(Dist),
    /// `(dst, src, rows, width)`: copy, then Fisher-Yates over rows of `width` elements.
    Shuffle,
    /// `(dst, src, rows, width, count)`: `count` rows picked with replacement.
    PickRows,
    /// `(x: f64, len) -> i32`: a dynamic position, trapping unless integral and in `0..len`.
    IndexCheck,
    /// `(dst, src, n)`: f64 values to payload elements.
    Encode(DType),
    /// `(dst, src, n)`: payload elements to f64 values.
    Decode(DType),
    /// `(src, n) -> i32`: 1 if every value is finite.
    AllFinite,
    /// `(a, b, len) -> i32`: 1 if the bytes are equal.
    MemEq,
    /// `(dst, src, n)`: u16 incentives to `v / 65535.0`.
    RewardIn,
    /// `(dst, y, y_step, n)`: clamp, normalize and quantize to u16.
    RewardOut,
}

/// A helper's signature.
pub(super) fn sig(h: Helper) -> Sig {
    use Ty::{F64 as F, I32 as I, I64 as L};
    let (params, results): (Vec<Ty>, Vec<Ty>) = match h {
        Helper::Alloc => (vec![I], vec![I]),
        Helper::Mix => (vec![L], vec![L]),
        Helper::Uniform => (vec![], vec![F]),
        Helper::Unary(_) | Helper::Encode(_) | Helper::Decode(_) | Helper::RewardIn => {
            (vec![I; 3], vec![])
        }
        Helper::Binary(_) => (vec![I; 6], vec![]),
        Helper::Select => (vec![I; 8], vec![]),
        Helper::MatMul => (vec![I; 6], vec![]),
        Helper::Reduce(_) | Helper::TopK | Helper::PickRows => (vec![I; 5], vec![]),
        Helper::Arg(_)
        | Helper::Softmax
        | Helper::LogSoftmax
        | Helper::Cumsum
        | Helper::Sort
        | Helper::CopyNd
        | Helper::Shuffle
        | Helper::RewardOut => (vec![I; 4], vec![]),
        Helper::Random(Dist::Bernoulli) => (vec![I, I, F], vec![]),
        Helper::Random(_) => (vec![I, I, F, F], vec![]),
        Helper::IndexCheck => (vec![F, I], vec![I]),
        Helper::AllFinite => (vec![I, I], vec![I]),
        Helper::MemEq => (vec![I, I, I], vec![I]),
    };
    Sig { params, results }
}

/// The body of a helper (requesting the helpers and imports it calls from `b`).
pub(super) fn generate(b: &mut Builder, h: Helper) -> Func {
    let s = sig(h);
    let mut f = Func::new(&s.params, &s.results);
    match h {
        Helper::Alloc => alloc(&mut f),
        Helper::Mix => {
            f.ins().local_get(0);
            mix(&mut f);
        }
        Helper::Uniform => uniform(&mut f),
        Helper::Unary(op) => unary(b, &mut f, op),
        Helper::Binary(op) => binary(b, &mut f, op),
        Helper::Select => select(&mut f),
        Helper::Reduce(op) => reduce(&mut f, op),
        Helper::Arg(op) => arg(&mut f, op),
        Helper::MatMul => matmul(&mut f),
        Helper::Softmax => softmax(b, &mut f, false),
        Helper::LogSoftmax => softmax(b, &mut f, true),
        Helper::Cumsum => cumsum(&mut f),
        Helper::Sort => sort(&mut f),
        Helper::TopK => top_k(&mut f),
        Helper::CopyNd => copy_nd(&mut f),
        Helper::Random(d) => random(b, &mut f, d),
        Helper::Shuffle => shuffle(b, &mut f),
        Helper::PickRows => pick_rows(b, &mut f),
        Helper::IndexCheck => index_check(&mut f),
        Helper::Encode(d) => encode(&mut f, d),
        Helper::Decode(d) => decode(&mut f, d),
        Helper::AllFinite => all_finite(&mut f),
        Helper::MemEq => mem_eq(&mut f),
        Helper::RewardIn => reward_in(&mut f),
        Helper::RewardOut => reward_out(&mut f),
    }
    f
}

fn c64(x: u64) -> i64 {
    i64::from_ne_bytes(x.to_ne_bytes())
}

/// `local = local + step` (i32).
fn bump(f: &mut Func, local: u32, step: u32) {
    f.ins()
        .local_get(local)
        .local_get(step)
        .i32_add()
        .local_set(local);
}

/// `local = base + count * 8`.
fn end_of(f: &mut Func, local: u32, base: u32, count: u32) {
    elem(f, base, count);
    f.ins().local_set(local);
}

fn alloc(f: &mut Func) {
    let (p, end) = (f.local(Ty::I32), f.local(Ty::I64));
    f.ins()
        .global_get(GLOBAL_HEAP)
        .i32_const(7)
        .i32_add()
        .i32_const(-8)
        .i32_and()
        .local_tee(p)
        .i64_extend_i32_u()
        .local_get(0)
        .i64_extend_i32_u()
        .i64_add()
        .local_tee(end)
        .memory_size(0)
        .i64_extend_i32_u()
        .i64_const(16)
        .i64_shl()
        .i64_gt_u()
        .if_(BlockType::Empty)
        .local_get(end)
        .memory_size(0)
        .i64_extend_i32_u()
        .i64_const(16)
        .i64_shl()
        .i64_sub()
        .i64_const(65535)
        .i64_add()
        .i64_const(16)
        .i64_shr_u()
        .i32_wrap_i64()
        .memory_grow(0)
        .i32_const(-1)
        .i32_eq()
        .if_(BlockType::Empty)
        .unreachable()
        .end()
        .end()
        .local_get(end)
        .i32_wrap_i64()
        .global_set(GLOBAL_HEAP)
        .local_get(p);
}

/// SplitMix64's finalizer, applied to the i64 at the top of the stack (with a fresh i64
/// local as scratch).
fn mix(f: &mut Func) {
    let z = f.local(Ty::I64);
    f.ins().local_set(z);
    for (shift, mul) in [(30, MUL1), (27, MUL2)] {
        f.ins()
            .local_get(z)
            .local_get(z)
            .i64_const(shift)
            .i64_shr_u()
            .i64_xor()
            .i64_const(c64(mul))
            .i64_mul()
            .local_set(z);
    }
    f.ins()
        .local_get(z)
        .local_get(z)
        .i64_const(31)
        .i64_shr_u()
        .i64_xor();
}

fn uniform(f: &mut Func) {
    f.ins()
        .global_get(GLOBAL_RNG)
        .i64_const(c64(GOLDEN))
        .i64_add()
        .global_set(GLOBAL_RNG)
        .global_get(GLOBAL_RNG);
    mix(f);
    f.ins()
        .i64_const(11)
        .i64_shr_u()
        .f64_convert_i64_u()
        .f64_const(UNIT.into())
        .f64_mul();
}

/// Applies `op` to the f64 at the top of the stack.
fn unop(b: &mut Builder, f: &mut Func, op: UnOp) {
    let host = |b: &Builder, h| b.host(h);
    match op {
        UnOp::Neg => {
            f.ins().f64_neg();
        }
        UnOp::Not => {
            f.ins().f64_const(0.0.into()).f64_eq().f64_convert_i32_u();
        }
        UnOp::Abs => {
            f.ins().f64_abs();
        }
        UnOp::Sqrt => {
            f.ins().f64_sqrt();
        }
        UnOp::Floor => {
            f.ins().f64_floor();
        }
        UnOp::Ceil => {
            f.ins().f64_ceil();
        }
        UnOp::Trunc => {
            f.ins().f64_trunc();
        }
        UnOp::Round => {
            f.ins().f64_nearest();
        }
        UnOp::Exp => {
            f.ins().call(host(b, Host::Exp));
        }
        UnOp::Ln => {
            f.ins().call(host(b, Host::Ln));
        }
        UnOp::Sin => {
            f.ins().call(host(b, Host::Sin));
        }
        UnOp::Cos => {
            f.ins().call(host(b, Host::Cos));
        }
        UnOp::Tan => {
            f.ins().call(host(b, Host::Tan));
        }
        UnOp::Tanh => {
            f.ins().call(host(b, Host::Tanh));
        }
    }
}

/// Pushes `op(x, y)` for the f64 locals `x` and `y`.
fn binop(b: &mut Builder, f: &mut Func, op: BinOp, x: u32, y: u32) {
    let cmp = |f: &mut Func, emit: fn(&mut wasm_encoder::InstructionSink<'_>)| {
        let mut s = f.ins();
        s.local_get(x).local_get(y);
        emit(&mut s);
        s.f64_convert_i32_u();
    };
    match op {
        BinOp::Add => {
            f.ins().local_get(x).local_get(y).f64_add();
        }
        BinOp::Sub => {
            f.ins().local_get(x).local_get(y).f64_sub();
        }
        BinOp::Mul => {
            f.ins().local_get(x).local_get(y).f64_mul();
        }
        BinOp::Div => {
            f.ins().local_get(x).local_get(y).f64_div();
        }
        BinOp::Pow => {
            let pow = b.host(Host::Pow);
            f.ins().local_get(x).local_get(y).call(pow);
        }
        BinOp::Rem => {
            f.ins()
                .local_get(x)
                .local_get(y)
                .local_get(x)
                .local_get(y)
                .f64_div()
                .f64_floor()
                .f64_mul()
                .f64_sub();
        }
        BinOp::Min => {
            f.ins()
                .local_get(y)
                .local_get(x)
                .local_get(y)
                .local_get(x)
                .f64_lt()
                .select();
        }
        BinOp::Max => {
            f.ins()
                .local_get(y)
                .local_get(x)
                .local_get(y)
                .local_get(x)
                .f64_gt()
                .select();
        }
        BinOp::Eq => cmp(f, |s| {
            s.f64_eq();
        }),
        BinOp::Ne => cmp(f, |s| {
            s.f64_ne();
        }),
        BinOp::Lt => cmp(f, |s| {
            s.f64_lt();
        }),
        BinOp::Le => cmp(f, |s| {
            s.f64_le();
        }),
        BinOp::Gt => cmp(f, |s| {
            s.f64_gt();
        }),
        BinOp::Ge => cmp(f, |s| {
            s.f64_ge();
        }),
        BinOp::And | BinOp::Or => {
            let mut s = f.ins();
            s.local_get(x)
                .f64_const(0.0.into())
                .f64_ne()
                .local_get(y)
                .f64_const(0.0.into())
                .f64_ne();
            if op == BinOp::And {
                s.i32_and();
            } else {
                s.i32_or();
            }
            s.f64_convert_i32_u();
        }
    }
}

/// `acc = max(acc, x)` or `min(acc, x)` with the compare-and-select rules of
/// [`BinOp::Max`] and [`BinOp::Min`] (the new element is `b`).
fn fold_extreme(f: &mut Func, acc: u32, x: u32, max: bool) {
    let mut s = f.ins();
    s.local_get(x).local_get(acc).local_get(x).local_get(acc);
    if max {
        s.f64_gt();
    } else {
        s.f64_lt();
    }
    s.select().local_set(acc);
}

fn unary(b: &mut Builder, f: &mut Func, op: UnOp) {
    let (dst, src, n) = (0, 1, 2);
    let end = f.local(Ty::I32);
    end_of(f, end, dst, n);
    f.for_ptr(dst, end, 8, |f| {
        f.ins().local_get(dst).local_get(src).f64_load(F64);
        unop(b, f, op);
        f.ins()
            .f64_store(F64)
            .local_get(src)
            .i32_const(8)
            .i32_add()
            .local_set(src);
    });
}

fn binary(b: &mut Builder, f: &mut Func, op: BinOp) {
    let (dst, a, a_step, bb, b_step, n) = (0, 1, 2, 3, 4, 5);
    let end = f.local(Ty::I32);
    let (x, y) = (f.local(Ty::F64), f.local(Ty::F64));
    end_of(f, end, dst, n);
    f.for_ptr(dst, end, 8, |f| {
        f.ins()
            .local_get(a)
            .f64_load(F64)
            .local_set(x)
            .local_get(bb)
            .f64_load(F64)
            .local_set(y)
            .local_get(dst);
        binop(b, f, op, x, y);
        f.ins().f64_store(F64);
        bump(f, a, a_step);
        bump(f, bb, b_step);
    });
}

fn select(f: &mut Func) {
    let (dst, c, c_step, a, a_step, bb, b_step, n) = (0, 1, 2, 3, 4, 5, 6, 7);
    let end = f.local(Ty::I32);
    end_of(f, end, dst, n);
    f.for_ptr(dst, end, 8, |f| {
        f.ins()
            .local_get(dst)
            .local_get(a)
            .f64_load(F64)
            .local_get(bb)
            .f64_load(F64)
            .local_get(c)
            .f64_load(F64)
            .f64_const(0.0.into())
            .f64_ne()
            .select()
            .f64_store(F64);
        bump(f, c, c_step);
        bump(f, a, a_step);
        bump(f, bb, b_step);
    });
}

fn reduce(f: &mut Func, op: ReduceOp) {
    let (dst, src, outer, len, inner) = (0, 1, 2, 3, 4);
    let step = f.local(Ty::I32);
    let row = f.local(Ty::I32);
    let (o, i, l, p, col) = (
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
    );
    let (acc, x) = (f.local(Ty::F64), f.local(Ty::F64));
    f.ins()
        .local_get(inner)
        .i32_const(3)
        .i32_shl()
        .local_tee(step)
        .local_get(len)
        .i32_mul()
        .local_set(row);
    f.for_range(o, 0, outer, |f| {
        f.ins().local_get(src).local_set(col);
        f.for_range(i, 0, inner, |f| {
            f.ins().local_get(col).local_set(p);
            let first = match op {
                ReduceOp::Sum | ReduceOp::Prod => {
                    let init = if op == ReduceOp::Sum { 0.0 } else { 1.0 };
                    f.ins().f64_const(init.into()).local_set(acc);
                    0
                }
                ReduceOp::Max | ReduceOp::Min => {
                    load_first(f, p, len, acc);
                    bump(f, p, step);
                    1
                }
            };
            f.for_range(l, first, len, |f| {
                f.ins().local_get(p).f64_load(F64).local_set(x);
                match op {
                    ReduceOp::Sum => {
                        f.ins().local_get(acc).local_get(x).f64_add().local_set(acc);
                    }
                    ReduceOp::Prod => {
                        f.ins().local_get(acc).local_get(x).f64_mul().local_set(acc);
                    }
                    ReduceOp::Max => fold_extreme(f, acc, x, true),
                    ReduceOp::Min => fold_extreme(f, acc, x, false),
                }
                bump(f, p, step);
            });
            f.ins()
                .local_get(dst)
                .local_get(acc)
                .f64_store(F64)
                .local_get(dst)
                .i32_const(8)
                .i32_add()
                .local_set(dst)
                .local_get(col)
                .i32_const(8)
                .i32_add()
                .local_set(col);
        });
        bump(f, src, row);
    });
}

/// `dst += 8`-style increments of an i32 local by a constant.
fn add_const(f: &mut Func, local: u32, k: i32) {
    f.ins()
        .local_get(local)
        .i32_const(k)
        .i32_add()
        .local_set(local);
}

/// Pushes the address `base + i * 8`.
fn elem(f: &mut Func, base: u32, i: u32) {
    f.ins()
        .local_get(base)
        .local_get(i)
        .i32_const(3)
        .i32_shl()
        .i32_add();
}

/// `local = *at`, or NaN when `len` is 0 (an empty fold has no element 0; only a reward
/// vector of length 0 gets here, and nothing reads the NaN but a fold's empty result).
fn load_first(f: &mut Func, at: u32, len: u32, local: u32) {
    f.ins()
        .local_get(len)
        .i32_eqz()
        .if_(BlockType::Result(wasm_encoder::ValType::F64))
        .f64_const(f64::NAN.into())
        .else_()
        .local_get(at)
        .f64_load(F64)
        .end()
        .local_set(local);
}

/// `mx = max(row)` from element 0 with the [`BinOp::Max`] rule.
fn row_max(f: &mut Func, src: u32, len: u32, i: u32, mx: u32, x: u32) {
    load_first(f, src, len, mx);
    f.for_range(i, 1, len, |f| {
        elem(f, src, i);
        f.ins().f64_load(F64).local_set(x);
        fold_extreme(f, mx, x, true);
    });
}

fn arg(f: &mut Func, op: ArgOp) {
    let (dst, src, outer, len) = (0, 1, 2, 3);
    let (o, i, at_) = (f.local(Ty::I32), f.local(Ty::I32), f.local(Ty::I32));
    let (best, x) = (f.local(Ty::F64), f.local(Ty::F64));
    f.for_range(o, 0, outer, |f| {
        load_first(f, src, len, best);
        f.ins().i32_const(0).local_set(at_);
        f.for_range(i, 1, len, |f| {
            elem(f, src, i);
            let mut s = f.ins();
            s.f64_load(F64).local_tee(x).local_get(best);
            match op {
                ArgOp::ArgMax => s.f64_gt(),
                ArgOp::ArgMin => s.f64_lt(),
            };
            s.if_(BlockType::Empty)
                .local_get(x)
                .local_set(best)
                .local_get(i)
                .local_set(at_)
                .end();
        });
        f.ins()
            .local_get(dst)
            .local_get(at_)
            .f64_convert_i32_u()
            .f64_store(F64);
        add_const(f, dst, 8);
        end_of(f, src, src, len);
    });
}

fn matmul(f: &mut Func) {
    let (dst, a, bb, m, k, n) = (0, 1, 2, 3, 4, 5);
    let (i, j, t, pa, pb, nb) = (
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
    );
    let acc = f.local(Ty::F64);
    f.ins().local_get(n).i32_const(3).i32_shl().local_set(nb);
    f.for_range(i, 0, m, |f| {
        f.for_range(j, 0, n, |f| {
            f.ins().f64_const(0.0.into()).local_set(acc);
            f.ins()
                .local_get(a)
                .local_get(i)
                .local_get(k)
                .i32_mul()
                .i32_const(3)
                .i32_shl()
                .i32_add()
                .local_set(pa);
            elem(f, bb, j);
            f.ins().local_set(pb);
            f.for_range(t, 0, k, |f| {
                f.ins()
                    .local_get(acc)
                    .local_get(pa)
                    .f64_load(F64)
                    .local_get(pb)
                    .f64_load(F64)
                    .f64_mul()
                    .f64_add()
                    .local_set(acc);
                add_const(f, pa, 8);
                bump(f, pb, nb);
            });
            f.ins().local_get(dst).local_get(acc).f64_store(F64);
            add_const(f, dst, 8);
        });
    });
}

fn softmax(b: &mut Builder, f: &mut Func, log: bool) {
    let (dst, src, outer, len) = (0, 1, 2, 3);
    let (o, i) = (f.local(Ty::I32), f.local(Ty::I32));
    let (mx, s, x, e) = (
        f.local(Ty::F64),
        f.local(Ty::F64),
        f.local(Ty::F64),
        f.local(Ty::F64),
    );
    let exp = b.host(Host::Exp);
    let ln = if log { Some(b.host(Host::Ln)) } else { None };
    f.for_range(o, 0, outer, |f| {
        row_max(f, src, len, i, mx, x);
        f.ins().f64_const(0.0.into()).local_set(s);
        f.for_range(i, 0, len, |f| {
            elem(f, src, i);
            f.ins()
                .f64_load(F64)
                .local_get(mx)
                .f64_sub()
                .call(exp)
                .local_set(e);
            if !log {
                elem(f, dst, i);
                f.ins().local_get(e).f64_store(F64);
            }
            f.ins().local_get(s).local_get(e).f64_add().local_set(s);
        });
        match ln {
            Some(ln) => {
                f.ins().local_get(s).call(ln).local_set(s);
                f.for_range(i, 0, len, |f| {
                    elem(f, dst, i);
                    elem(f, src, i);
                    f.ins()
                        .f64_load(F64)
                        .local_get(mx)
                        .f64_sub()
                        .local_get(s)
                        .f64_sub()
                        .f64_store(F64);
                });
            }
            None => {
                f.for_range(i, 0, len, |f| {
                    elem(f, dst, i);
                    elem(f, dst, i);
                    f.ins().f64_load(F64).local_get(s).f64_div().f64_store(F64);
                });
            }
        }
        end_of(f, src, src, len);
        end_of(f, dst, dst, len);
    });
}

fn cumsum(f: &mut Func) {
    let (dst, src, outer, len) = (0, 1, 2, 3);
    let (o, i) = (f.local(Ty::I32), f.local(Ty::I32));
    let acc = f.local(Ty::F64);
    f.for_range(o, 0, outer, |f| {
        f.ins().f64_const(0.0.into()).local_set(acc);
        f.for_range(i, 0, len, |f| {
            f.ins()
                .local_get(acc)
                .local_get(src)
                .f64_load(F64)
                .f64_add()
                .local_set(acc)
                .local_get(dst)
                .local_get(acc)
                .f64_store(F64);
            add_const(f, src, 8);
            add_const(f, dst, 8);
        });
    });
}

fn sort(f: &mut Func) {
    let (dst, src, outer, len) = (0, 1, 2, 3);
    let (o, i, j) = (f.local(Ty::I32), f.local(Ty::I32), f.local(Ty::I32));
    let (v, t) = (f.local(Ty::F64), f.local(Ty::F64));
    f.ins()
        .local_get(dst)
        .local_get(src)
        .local_get(outer)
        .local_get(len)
        .i32_mul()
        .i32_const(3)
        .i32_shl()
        .memory_copy(0, 0);
    // `dst` walks the rows; `y[j]` is `dst + j * 8`.
    f.for_range(o, 0, outer, |f| {
        f.for_range(i, 1, len, |f| {
            elem(f, dst, i);
            f.ins()
                .f64_load(F64)
                .local_set(v)
                .local_get(i)
                .local_set(j)
                .block(BlockType::Empty)
                .loop_(BlockType::Empty)
                .local_get(j)
                .i32_eqz()
                .br_if(1)
                // t = y[j - 1]; stop unless v < t (`t > v`, false on NaN alike).
                .local_get(dst)
                .local_get(j)
                .i32_const(1)
                .i32_sub()
                .i32_const(3)
                .i32_shl()
                .i32_add()
                .f64_load(F64)
                .local_tee(t)
                .local_get(v)
                .f64_gt()
                .i32_eqz()
                .br_if(1);
            elem(f, dst, j);
            f.ins()
                .local_get(t)
                .f64_store(F64)
                .local_get(j)
                .i32_const(1)
                .i32_sub()
                .local_set(j)
                .br(0)
                .end()
                .end();
            elem(f, dst, j);
            f.ins().local_get(v).f64_store(F64);
        });
        end_of(f, dst, dst, len);
    });
}

fn top_k(f: &mut Func) {
    let (dst, src, outer, len, k) = (0, 1, 2, 3, 4);
    let (o, i, j, cnt) = (
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
    );
    let (xi, xj) = (f.local(Ty::F64), f.local(Ty::F64));
    f.for_range(o, 0, outer, |f| {
        f.for_range(i, 0, len, |f| {
            elem(f, src, i);
            f.ins()
                .f64_load(F64)
                .local_set(xi)
                .i32_const(0)
                .local_set(cnt);
            f.for_range(j, 0, len, |f| {
                elem(f, src, j);
                f.ins()
                    .f64_load(F64)
                    .local_tee(xj)
                    .local_get(xi)
                    .f64_gt()
                    .local_get(xj)
                    .local_get(xi)
                    .f64_eq()
                    .local_get(j)
                    .local_get(i)
                    .i32_lt_u()
                    .i32_and()
                    .i32_or()
                    .local_get(cnt)
                    .i32_add()
                    .local_set(cnt);
            });
            elem(f, dst, i);
            f.ins()
                .local_get(xi)
                .f64_const(0.0.into())
                .local_get(cnt)
                .local_get(k)
                .i32_lt_u()
                .select()
                .f64_store(F64);
        });
        end_of(f, src, src, len);
        end_of(f, dst, dst, len);
    });
}

fn copy_nd(f: &mut Func) {
    let (dst, src, desc, rank) = (0, 1, 2, 3);
    let (n, ss, ds, s, d, e, last, cnt) = (
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
    );
    let m = |o| at(o, 2);
    // Nothing to copy when a dimension is 0 (a reward vector of length 0).
    f.ins().local_get(desc).local_set(e);
    f.ins()
        .block(BlockType::Empty)
        .loop_(BlockType::Empty)
        .local_get(e)
        .local_get(desc)
        .local_get(rank)
        .i32_const(4)
        .i32_shl()
        .i32_add()
        .i32_ge_u()
        .br_if(1)
        .local_get(e)
        .i32_load(m(0))
        .i32_eqz()
        .if_(BlockType::Empty)
        .return_()
        .end()
        .local_get(e)
        .i32_const(16)
        .i32_add()
        .local_set(e)
        .br(0)
        .end()
        .end();
    f.ins()
        .local_get(rank)
        .i32_eqz()
        .if_(BlockType::Empty)
        .local_get(dst)
        .local_get(src)
        .f64_load(F64)
        .f64_store(F64)
        .return_()
        .end();
    f.ins()
        .local_get(desc)
        .local_get(rank)
        .i32_const(1)
        .i32_sub()
        .i32_const(4)
        .i32_shl()
        .i32_add()
        .local_tee(last)
        .i32_load(m(0))
        .local_set(n)
        .local_get(last)
        .i32_load(m(4))
        .local_set(ss)
        .local_get(last)
        .i32_load(m(8))
        .local_set(ds);
    f.ins()
        .block(BlockType::Empty) // $exit
        .loop_(BlockType::Empty) // $outer
        // The innermost run.
        .local_get(src)
        .local_set(s)
        .local_get(dst)
        .local_set(d)
        .local_get(n)
        .local_set(cnt)
        .block(BlockType::Empty)
        .loop_(BlockType::Empty)
        .local_get(cnt)
        .i32_eqz()
        .br_if(1)
        .local_get(d)
        .local_get(s)
        .f64_load(F64)
        .f64_store(F64)
        .local_get(s)
        .local_get(ss)
        .i32_add()
        .local_set(s)
        .local_get(d)
        .local_get(ds)
        .i32_add()
        .local_set(d)
        .local_get(cnt)
        .i32_const(1)
        .i32_sub()
        .local_set(cnt)
        .br(0)
        .end()
        .end()
        // The odometer over the outer dimensions.
        .local_get(last)
        .local_set(e)
        .loop_(BlockType::Empty) // $odo
        .local_get(e)
        .local_get(desc)
        .i32_eq()
        .br_if(2)
        .local_get(e)
        .i32_const(16)
        .i32_sub()
        .local_tee(e)
        .i32_load(m(12))
        .i32_const(1)
        .i32_add()
        .local_set(cnt)
        .local_get(src)
        .local_get(e)
        .i32_load(m(4))
        .i32_add()
        .local_set(src)
        .local_get(dst)
        .local_get(e)
        .i32_load(m(8))
        .i32_add()
        .local_set(dst)
        .local_get(cnt)
        .local_get(e)
        .i32_load(m(0))
        .i32_lt_u()
        .if_(BlockType::Empty)
        .local_get(e)
        .local_get(cnt)
        .i32_store(m(12))
        .br(2) // $outer
        .end()
        // This dimension wraps: back to its start, and carry into the next one out.
        .local_get(e)
        .i32_const(0)
        .i32_store(m(12))
        .local_get(src)
        .local_get(e)
        .i32_load(m(4))
        .local_get(e)
        .i32_load(m(0))
        .i32_mul()
        .i32_sub()
        .local_set(src)
        .local_get(dst)
        .local_get(e)
        .i32_load(m(8))
        .local_get(e)
        .i32_load(m(0))
        .i32_mul()
        .i32_sub()
        .local_set(dst)
        .br(0) // $odo
        .end()
        .end()
        .end();
}

/// Pushes the next uniform draw.
fn draw(b: &mut Builder, f: &mut Func) {
    let u = b.helper(Helper::Uniform);
    f.ins().call(u);
}

fn random(b: &mut Builder, f: &mut Func, d: Dist) {
    let (dst, n, p0, p1) = (0, 1, 2, 3);
    let end = f.local(Ty::I32);
    let (u, w, a) = (f.local(Ty::F64), f.local(Ty::F64), f.local(Ty::F64));
    end_of(f, end, dst, n);
    f.for_ptr(dst, end, 8, |f| {
        f.ins().local_get(dst);
        match d {
            Dist::Uniform => {
                draw(b, f);
                f.ins()
                    .local_set(u)
                    .local_get(p1)
                    .local_get(p0)
                    .f64_sub()
                    .local_set(w)
                    .local_get(p0)
                    .local_get(w)
                    .local_get(u)
                    .f64_mul()
                    .f64_add();
            }
            Dist::Normal => {
                let (ln, cos) = (b.host(Host::Ln), b.host(Host::Cos));
                draw(b, f);
                f.ins().local_set(u);
                draw(b, f);
                f.ins()
                    .local_set(w)
                    // r = sqrt(-2 * ln(1 - u1))
                    .f64_const((-2.0).into())
                    .f64_const(1.0.into())
                    .local_get(u)
                    .f64_sub()
                    .call(ln)
                    .f64_mul()
                    .f64_sqrt()
                    // z = r * cos(TAU * u2)
                    .f64_const(TAU.into())
                    .local_get(w)
                    .f64_mul()
                    .call(cos)
                    .f64_mul()
                    .local_set(a)
                    .local_get(p0)
                    .local_get(p1)
                    .local_get(a)
                    .f64_mul()
                    .f64_add();
            }
            Dist::Integer => {
                draw(b, f);
                f.ins()
                    .local_set(u)
                    .local_get(p1)
                    .local_get(p0)
                    .f64_sub()
                    .local_set(w)
                    // a = floor(u * w); i = min(a, w - 1)
                    .local_get(u)
                    .local_get(w)
                    .f64_mul()
                    .f64_floor()
                    .local_set(a)
                    .local_get(w)
                    .f64_const(1.0.into())
                    .f64_sub()
                    .local_set(u);
                fold_extreme(f, a, u, false);
                f.ins().local_get(p0).local_get(a).f64_add();
            }
            Dist::Bernoulli => {
                f.ins().f64_const(1.0.into()).f64_const(0.0.into());
                draw(b, f);
                f.ins().local_get(p0).f64_lt().select();
            }
        }
        f.ins().f64_store(F64);
    });
}

/// `i = min(floor(u * len), len - 1)` for a fresh draw `u`, as an i32 into `out`; `len` is
/// the f64 local `lenf`.
fn pick(b: &mut Builder, f: &mut Func, lenf: u32, a: u32, c: u32, out: u32) {
    draw(b, f);
    f.ins()
        .local_get(lenf)
        .f64_mul()
        .f64_floor()
        .local_set(a)
        .local_get(lenf)
        .f64_const(1.0.into())
        .f64_sub()
        .local_set(c);
    fold_extreme(f, a, c, false);
    f.ins().local_get(a).i32_trunc_sat_f64_u().local_set(out);
}

fn shuffle(b: &mut Builder, f: &mut Func) {
    let (dst, src, rows, width) = (0, 1, 2, 3);
    let (i, j, pa, pb, end, rb) = (
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
        f.local(Ty::I32),
    );
    let (lenf, a, c, t) = (
        f.local(Ty::F64),
        f.local(Ty::F64),
        f.local(Ty::F64),
        f.local(Ty::F64),
    );
    f.ins()
        .local_get(width)
        .i32_const(3)
        .i32_shl()
        .local_set(rb)
        .local_get(dst)
        .local_get(src)
        .local_get(rows)
        .local_get(rb)
        .i32_mul()
        .memory_copy(0, 0)
        .local_get(rows)
        .i32_const(1)
        .i32_sub()
        .local_set(i)
        .block(BlockType::Empty)
        .loop_(BlockType::Empty)
        .local_get(i)
        .i32_const(1)
        .i32_lt_s()
        .br_if(1)
        .local_get(i)
        .i32_const(1)
        .i32_add()
        .f64_convert_i32_u()
        .local_set(lenf);
    pick(b, f, lenf, a, c, j);
    f.ins()
        .local_get(dst)
        .local_get(i)
        .local_get(rb)
        .i32_mul()
        .i32_add()
        .local_tee(pa)
        .local_get(rb)
        .i32_add()
        .local_set(end)
        .local_get(dst)
        .local_get(j)
        .local_get(rb)
        .i32_mul()
        .i32_add()
        .local_set(pb);
    f.for_ptr(pa, end, 8, |f| {
        f.ins()
            .local_get(pa)
            .f64_load(F64)
            .local_set(t)
            .local_get(pa)
            .local_get(pb)
            .f64_load(F64)
            .f64_store(F64)
            .local_get(pb)
            .local_get(t)
            .f64_store(F64);
        add_const(f, pb, 8);
    });
    f.ins()
        .local_get(i)
        .i32_const(1)
        .i32_sub()
        .local_set(i)
        .br(0)
        .end()
        .end();
}

fn pick_rows(b: &mut Builder, f: &mut Func) {
    let (dst, src, rows, width, count) = (0, 1, 2, 3, 4);
    let (k, j, rb) = (f.local(Ty::I32), f.local(Ty::I32), f.local(Ty::I32));
    let (lenf, a, c) = (f.local(Ty::F64), f.local(Ty::F64), f.local(Ty::F64));
    f.ins()
        .local_get(width)
        .i32_const(3)
        .i32_shl()
        .local_set(rb)
        .local_get(rows)
        .f64_convert_i32_u()
        .local_set(lenf)
        // No row to pick from (a reward vector of length 0): an error, as in the interpreter.
        .local_get(rows)
        .i32_eqz()
        .local_get(count)
        .i32_const(0)
        .i32_ne()
        .i32_and()
        .if_(BlockType::Empty)
        .unreachable()
        .end();
    f.for_range(k, 0, count, |f| {
        pick(b, f, lenf, a, c, j);
        f.ins()
            .local_get(dst)
            .local_get(src)
            .local_get(j)
            .local_get(rb)
            .i32_mul()
            .i32_add()
            .local_get(rb)
            .memory_copy(0, 0);
        bump(f, dst, rb);
    });
}

fn index_check(f: &mut Func) {
    let (x, len) = (0, 1);
    f.ins()
        .local_get(x)
        .f64_const(0.0.into())
        .f64_ge()
        .local_get(x)
        .local_get(len)
        .f64_convert_i32_u()
        .f64_lt()
        .i32_and()
        .local_get(x)
        .f64_floor()
        .local_get(x)
        .f64_eq()
        .i32_and()
        .i32_eqz()
        .if_(BlockType::Empty)
        .unreachable()
        .end()
        .local_get(x)
        .i32_trunc_f64_u();
}

fn encode(f: &mut Func, d: DType) {
    let (dst, src, n) = (0, 1, 2);
    let (end, t) = (f.local(Ty::I32), f.local(Ty::I32));
    let v = f.local(Ty::F64);
    end_of(f, end, src, n);
    f.for_ptr(src, end, 8, |f| {
        f.ins()
            .local_get(src)
            .f64_load(F64)
            .local_set(v)
            .local_get(dst);
        let mut s = f.ins();
        match d {
            DType::F32 => {
                s.i32_const(0x7fc0_0000)
                    .local_get(v)
                    .f32_demote_f64()
                    .i32_reinterpret_f32()
                    .local_get(v)
                    .local_get(v)
                    .f64_ne()
                    .select()
                    .i32_store(unaligned(0));
            }
            DType::F64 => {
                s.i64_const(0x7ff8_0000_0000_0000)
                    .local_get(v)
                    .i64_reinterpret_f64()
                    .local_get(v)
                    .local_get(v)
                    .f64_ne()
                    .select()
                    .i64_store(unaligned(0));
            }
            DType::I32 => {
                s.local_get(v).i32_trunc_sat_f64_s().i32_store(unaligned(0));
            }
            DType::I64 => {
                s.local_get(v).i64_trunc_sat_f64_s().i64_store(unaligned(0));
            }
            DType::U8 => {
                s.local_get(v)
                    .i32_trunc_sat_f64_u()
                    .local_tee(t)
                    .i32_const(255)
                    .local_get(t)
                    .i32_const(255)
                    .i32_le_u()
                    .select()
                    .i32_store8(unaligned(0));
            }
        }
        add_const(f, dst, i32::try_from(d.size()).expect("at most 8"));
    });
}

fn decode(f: &mut Func, d: DType) {
    let (dst, src, n) = (0, 1, 2);
    let end = f.local(Ty::I32);
    end_of(f, end, dst, n);
    f.for_ptr(dst, end, 8, |f| {
        f.ins().local_get(dst).local_get(src);
        let mut s = f.ins();
        match d {
            DType::F32 => s.f32_load(unaligned(0)).f64_promote_f32(),
            DType::F64 => s.f64_load(unaligned(0)),
            DType::I32 => s.i32_load(unaligned(0)).f64_convert_i32_s(),
            DType::I64 => s.i64_load(unaligned(0)).f64_convert_i64_s(),
            DType::U8 => s.i32_load8_u(unaligned(0)).f64_convert_i32_u(),
        };
        s.f64_store(F64);
        add_const(f, src, i32::try_from(d.size()).expect("at most 8"));
    });
}

fn all_finite(f: &mut Func) {
    let (src, n) = (0, 1);
    let end = f.local(Ty::I32);
    end_of(f, end, src, n);
    f.for_ptr(src, end, 8, |f| {
        f.ins()
            .local_get(src)
            .f64_load(F64)
            .f64_abs()
            .f64_const(f64::INFINITY.into())
            .f64_lt()
            .i32_eqz()
            .if_(BlockType::Empty)
            .i32_const(0)
            .return_()
            .end();
    });
    f.ins().i32_const(1);
}

fn mem_eq(f: &mut Func) {
    let (a, bb, len) = (0, 1, 2);
    let end = f.local(Ty::I32);
    f.ins().local_get(a).local_get(len).i32_add().local_set(end);
    f.for_ptr(a, end, 1, |f| {
        f.ins()
            .local_get(a)
            .i32_load8_u(unaligned(0))
            .local_get(bb)
            .i32_load8_u(unaligned(0))
            .i32_ne()
            .if_(BlockType::Empty)
            .i32_const(0)
            .return_()
            .end();
        add_const(f, bb, 1);
    });
    f.ins().i32_const(1);
}

fn reward_in(f: &mut Func) {
    let (dst, src, n) = (0, 1, 2);
    let end = f.local(Ty::I32);
    end_of(f, end, dst, n);
    f.for_ptr(dst, end, 8, |f| {
        f.ins()
            .local_get(dst)
            .local_get(src)
            .i32_load16_u(unaligned(0))
            .f64_convert_i32_u()
            .f64_const(65535.0.into())
            .f64_div()
            .f64_store(F64);
        add_const(f, src, 2);
    });
}

fn reward_out(f: &mut Func) {
    let (dst, y, y_step, n) = (0, 1, 2, 3);
    let (i, p, q) = (f.local(Ty::I32), f.local(Ty::I32), f.local(Ty::I32));
    let (total, v) = (f.local(Ty::F64), f.local(Ty::F64));
    // Pushes `y[i]` clamped below at 0.0 (NaN gives 0.0) and advances `p`.
    let clamped = |f: &mut Func| {
        f.ins()
            .local_get(p)
            .f64_load(F64)
            .local_tee(v)
            .f64_const(0.0.into())
            .local_get(v)
            .f64_const(0.0.into())
            .f64_gt()
            .select();
        bump(f, p, y_step);
    };
    f.ins()
        .f64_const(0.0.into())
        .local_set(total)
        .local_get(y)
        .local_set(p);
    f.for_range(i, 0, n, |f| {
        f.ins().local_get(total);
        clamped(f);
        f.ins().f64_add().local_set(total);
    });
    f.ins()
        .local_get(y)
        .local_set(p)
        .local_get(total)
        .f64_const(0.0.into())
        .f64_gt()
        .if_(BlockType::Empty);
    f.for_range(i, 0, n, |f| {
        f.ins()
            .local_get(dst)
            .local_get(i)
            .i32_const(1)
            .i32_shl()
            .i32_add();
        clamped(f);
        f.ins()
            .local_get(total)
            .f64_div()
            .f64_const(65535.0.into())
            .f64_mul()
            .i32_trunc_sat_f64_u()
            .local_tee(q)
            .i32_const(65535)
            .local_get(q)
            .i32_const(65535)
            .i32_le_u()
            .select()
            .i32_store16(unaligned(0));
    });
    f.ins()
        .else_()
        .local_get(dst)
        .i32_const(0)
        .local_get(n)
        .i32_const(1)
        .i32_shl()
        .memory_fill(0)
        .end();
}
