//! Expressions to code: every value lives in memory as `f64` elements, row-major; each
//! expression node writes its own buffer (static shapes get a fixed place in the entry point's
//! frame, reward vectors a place the allocator gives when the reward starts), and the code is
//! a straight sequence of helper calls with those addresses and sizes.

use wasm_encoder::{BlockType, InstructionSink};

use super::CodegenError;
use super::helpers::Helper;
use super::wasm::{Builder, F64, Func, MEMORY_LIMIT, Ty};
use crate::ir::{BinOp, Dist, Expr, ExprKind, Fold, IndexItem, N, Program, VarId};

/// A size: `c * n^k`, where `n` is the reward's run-time length (`k == 0` outside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sz {
    c: u64,
    k: u32,
}

impl Sz {
    /// One.
    pub(super) const ONE: Sz = Sz { c: 1, k: 0 };

    /// A constant.
    pub(super) fn lit(c: u64) -> Sz {
        Sz { c, k: 0 }
    }

    /// A dimension ([`N`] included).
    pub(super) fn dim(d: usize) -> Sz {
        if d == N {
            Sz { c: 1, k: 1 }
        } else {
            Sz::lit(d as u64)
        }
    }

    /// The product of a shape's dimensions.
    pub(super) fn of(shape: &[usize]) -> Sz {
        shape.iter().fold(Sz::ONE, |acc, &d| acc.mul(Sz::dim(d)))
    }

    /// The product (saturating: a huge size fails the memory check later).
    pub(super) fn mul(self, o: Sz) -> Sz {
        let c = self.c.saturating_mul(o.c);
        Sz {
            c,
            k: if c == 0 { 0 } else { self.k + o.k },
        }
    }

    /// The value, when it does not depend on `n`.
    pub(super) fn fixed(self) -> Option<u64> {
        (self.k == 0).then_some(self.c)
    }
}

/// Where a value's elements are: a fixed address or an `i32` local holding one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Addr {
    /// A fixed address.
    Const(u32),
    /// The address in this local.
    Local(u32),
}

/// A computed value: its elements' address and its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Val {
    /// Where the elements are.
    pub(super) addr: Addr,
    /// The shape ([`N`] in the reward).
    pub(super) shape: Vec<usize>,
}

/// An argument of a helper call.
#[derive(Debug, Clone, Copy)]
pub(super) enum Arg {
    /// An address.
    Addr(Addr),
    /// A size (elements or bytes, as the helper wants).
    Sz(Sz),
    /// A constant.
    I32(i32),
    /// The `f64` at an address.
    F64At(Addr),
    /// An `i32` local.
    Local(u32),
}

/// "A program the checker cannot produce".
pub(super) fn invalid(what: impl Into<String>) -> CodegenError {
    CodegenError::Invalid(what.into())
}

fn too_big(bytes: u64) -> CodegenError {
    CodegenError::TooMuchMemory {
        needed: bytes,
        limit: MEMORY_LIMIT,
    }
}

/// Row-major element strides.
fn strides(shape: &[usize]) -> Vec<Sz> {
    let mut out = vec![Sz::ONE; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        out[i] = out[i + 1].mul(Sz::dim(shape[i + 1]));
    }
    out
}

const EIGHT: Sz = Sz { c: 8, k: 0 };

/// The code of one entry point under construction.
pub(super) struct Gen<'a> {
    /// The module.
    pub(super) b: &'a mut Builder,
    p: &'a Program,
    /// The entry point's function.
    pub(super) f: Func,
    vars: Vec<Option<Val>>,
    /// The local holding the reward's `n`.
    n: Option<u32>,
    /// Allocations of run-time sized buffers, run once where the body starts.
    prologue: Vec<u8>,
    split: usize,
}

impl<'a> Gen<'a> {
    /// Starts generating into `f` (whose code so far runs before anything else); `n` is the
    /// local holding the reward's length.
    pub(super) fn new(b: &'a mut Builder, p: &'a Program, f: Func, n: Option<u32>) -> Self {
        let split = f.code.len();
        Gen {
            b,
            p,
            f,
            vars: vec![None; p.vars.len()],
            n,
            prologue: Vec::new(),
            split,
        }
    }

    /// The finished function, with the prologue in place.
    pub(super) fn finish(mut self) -> Func {
        let tail = self.f.code.split_off(self.split);
        self.f.code.extend_from_slice(&self.prologue);
        self.f.code.extend_from_slice(&tail);
        self.f
    }

    /// Binds a variable to a value.
    pub(super) fn bind(&mut self, var: VarId, v: Val) -> Result<(), CodegenError> {
        let slot = self
            .vars
            .get_mut(var.0 as usize)
            .ok_or_else(|| invalid(format!("variable {} is not declared", var.0)))?;
        *slot = Some(v);
        Ok(())
    }

    fn unbind(&mut self, var: VarId) {
        if let Some(slot) = self.vars.get_mut(var.0 as usize) {
            *slot = None;
        }
    }

    /// A bound variable's value.
    pub(super) fn var(&self, var: VarId) -> Result<Val, CodegenError> {
        self.vars
            .get(var.0 as usize)
            .and_then(Option::clone)
            .ok_or_else(|| invalid(format!("variable {} is read before it is set", var.0)))
    }

    fn push_sz_into(code: &mut Vec<u8>, n: Option<u32>, s: Sz) -> Result<(), CodegenError> {
        let c = i32::try_from(s.c).map_err(|_| too_big(s.c.saturating_mul(8)))?;
        let mut ins = InstructionSink::new(code);
        if s.k == 0 {
            ins.i32_const(c);
            return Ok(());
        }
        let n = n.ok_or_else(|| invalid("the reward's length N outside the reward"))?;
        ins.local_get(n);
        for _ in 1..s.k {
            ins.local_get(n).i32_mul();
        }
        if c != 1 {
            ins.i32_const(c).i32_mul();
        }
        Ok(())
    }

    /// Pushes an argument.
    pub(super) fn push(&mut self, a: Arg) -> Result<(), CodegenError> {
        match a {
            Arg::Addr(Addr::Const(x)) => {
                self.f.ins().i32_const(x as i32);
            }
            Arg::Addr(Addr::Local(l)) | Arg::Local(l) => {
                self.f.ins().local_get(l);
            }
            Arg::Sz(s) => Self::push_sz_into(&mut self.f.code, self.n, s)?,
            Arg::I32(x) => {
                self.f.ins().i32_const(x);
            }
            Arg::F64At(addr) => {
                self.push(Arg::Addr(addr))?;
                self.f.ins().f64_load(F64);
            }
        }
        Ok(())
    }

    /// Calls a helper.
    pub(super) fn call(&mut self, h: Helper, args: &[Arg]) -> Result<(), CodegenError> {
        for &a in args {
            self.push(a)?;
        }
        let index = self.b.helper(h);
        self.f.ins().call(index);
        Ok(())
    }

    /// A fresh buffer of `shape`, filled by the helper `h` called with the buffer's address
    /// followed by `args`.
    fn produce(&mut self, h: Helper, shape: Vec<usize>, args: &[Arg]) -> Result<Val, CodegenError> {
        let dst = self.buffer(&shape)?;
        self.push(Arg::Addr(dst))?;
        self.call(h, args)?;
        Ok(Val { addr: dst, shape })
    }

    /// A fresh buffer for a value of `shape`.
    pub(super) fn buffer(&mut self, shape: &[usize]) -> Result<Addr, CodegenError> {
        let size = Sz::of(shape).mul(EIGHT);
        if let Some(bytes) = size.fixed() {
            return Ok(Addr::Const(self.b.frame(bytes)?));
        }
        let n = self
            .n
            .ok_or_else(|| invalid("the reward's length N outside the reward"))?;
        let c = i64::try_from(size.c).map_err(|_| too_big(size.c))?;
        let (local, t) = (self.f.local(Ty::I32), self.f.local(Ty::I64));
        let alloc = self.b.helper(Helper::Alloc);
        let mut ins = InstructionSink::new(&mut self.prologue);
        ins.i64_const(c);
        for _ in 0..size.k {
            ins.local_get(n).i64_extend_i32_u().i64_mul();
        }
        ins.local_tee(t)
            .i64_const(i64::from(i32::MAX))
            .i64_gt_u()
            .if_(BlockType::Empty)
            .unreachable()
            .end()
            .local_get(t)
            .i32_wrap_i64()
            .call(alloc)
            .local_set(local);
        Ok(Addr::Local(local))
    }

    /// `a + bytes`, as a fixed address when both are known.
    fn offset(&mut self, a: Addr, bytes: Sz) -> Result<Addr, CodegenError> {
        if bytes == Sz::lit(0) {
            return Ok(a);
        }
        if let (Addr::Const(x), Some(off)) = (a, bytes.fixed()) {
            let at = u64::from(x) + off;
            return u32::try_from(at).map(Addr::Const).map_err(|_| too_big(at));
        }
        let local = self.f.local(Ty::I32);
        self.push(Arg::Addr(a))?;
        self.push(Arg::Sz(bytes))?;
        self.f.ins().i32_add().local_set(local);
        Ok(Addr::Local(local))
    }

    /// Copies elements: `dims` are (length, source stride, destination stride), strides in
    /// bytes, outermost first.
    fn copy(&mut self, dst: Addr, src: Addr, dims: &[(Sz, Sz, Sz)]) -> Result<(), CodegenError> {
        let mut run: Vec<(Sz, Sz, Sz)> = Vec::with_capacity(dims.len());
        for &(len, ss, ds) in dims.iter().filter(|d| d.0 != Sz::ONE) {
            match run.last_mut() {
                Some(outer) if outer.1 == ss.mul(len) && outer.2 == ds.mul(len) => {
                    *outer = (outer.0.mul(len), ss, ds);
                }
                _ => run.push((len, ss, ds)),
            }
        }
        match run.as_slice() {
            [] => {
                self.push(Arg::Addr(dst))?;
                self.push(Arg::F64At(src))?;
                self.f.ins().f64_store(F64);
            }
            [(len, EIGHT, EIGHT)] => {
                self.push(Arg::Addr(dst))?;
                self.push(Arg::Addr(src))?;
                self.push(Arg::Sz(len.mul(EIGHT)))?;
                self.f.ins().memory_copy(0, 0);
            }
            _ => {
                let fixed: Option<Vec<u64>> = run
                    .iter()
                    .flat_map(|&(a, b, c)| [a.fixed(), b.fixed(), c.fixed(), Some(0)])
                    .collect();
                let desc = match fixed {
                    Some(values) => {
                        let mut bytes = Vec::with_capacity(values.len() * 4);
                        for v in values {
                            let v = u32::try_from(v).map_err(|_| too_big(v))?;
                            bytes.extend_from_slice(&v.to_le_bytes());
                        }
                        self.b.constant(&bytes, false)?
                    }
                    None => {
                        let desc = self.b.constant(&vec![0; run.len() * 16], false)?;
                        for (i, &(a, b, c)) in run.iter().enumerate() {
                            for (j, v) in [a, b, c].into_iter().enumerate() {
                                let at = desc + u32::try_from(i * 16 + j * 4).expect("small");
                                self.push(Arg::Addr(Addr::Const(at)))?;
                                self.push(Arg::Sz(v))?;
                                self.f.ins().i32_store(super::wasm::at(0, 2));
                            }
                        }
                        desc
                    }
                };
                let rank = i32::try_from(run.len()).map_err(|_| invalid("rank too large"))?;
                self.call(
                    Helper::CopyNd,
                    &[
                        Arg::Addr(dst),
                        Arg::Addr(src),
                        Arg::Addr(Addr::Const(desc)),
                        Arg::I32(rank),
                    ],
                )?;
            }
        }
        Ok(())
    }

    /// An operand broadcast to `out`: its address and its step in bytes (8, or 0 for a
    /// single element), expanding it into a fresh buffer when it needs stretching.
    fn operand(&mut self, v: &Val, out: &[usize]) -> Result<(Addr, i32), CodegenError> {
        let (vs, os) = (Sz::of(&v.shape), Sz::of(out));
        if vs == os {
            return Ok((v.addr, 8));
        }
        if vs == Sz::ONE {
            return Ok((v.addr, 0));
        }
        let shift = out
            .len()
            .checked_sub(v.shape.len())
            .ok_or_else(|| invalid("an operand has more dimensions than the result"))?;
        let src = strides(&v.shape);
        let dst = strides(out);
        let mut dims = Vec::with_capacity(out.len());
        for (i, &d) in out.iter().enumerate() {
            let ss = match i.checked_sub(shift) {
                Some(j) if v.shape[j] == d => src[j].mul(EIGHT),
                Some(j) if v.shape[j] == 1 => Sz::lit(0),
                Some(_) => return Err(invalid("operand shapes do not broadcast")),
                None => Sz::lit(0),
            };
            dims.push((Sz::dim(d), ss, dst[i].mul(EIGHT)));
        }
        let tmp = self.buffer(out)?;
        self.copy(tmp, v.addr, &dims)?;
        Ok((tmp, 8))
    }

    /// Splits a shape at its last axis: (rows, row length).
    fn rows(shape: &[usize]) -> (Sz, Sz) {
        match shape.split_last() {
            Some((&last, rest)) => (Sz::of(rest), Sz::dim(last)),
            None => (Sz::ONE, Sz::ONE),
        }
    }

    /// Compiles an expression: its code runs here, and its value is where the result says.
    pub(super) fn expr(&mut self, e: &Expr) -> Result<Val, CodegenError> {
        let shape = e.ty.shape.clone();
        match &e.kind {
            ExprKind::Const(values) => {
                let size = Sz::of(&shape)
                    .fixed()
                    .ok_or_else(|| invalid("a constant of run-time length"))?;
                if values.len() as u64 != size {
                    return Err(invalid("a constant with the wrong number of values"));
                }
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                let at = self.b.constant(&bytes, true)?;
                Ok(Val {
                    addr: Addr::Const(at),
                    shape,
                })
            }
            ExprKind::Var(var) => self.var(*var),
            ExprKind::With { var, value, body } => {
                let v = self.expr(value)?;
                self.bind(*var, v)?;
                let r = self.expr(body)?;
                self.unbind(*var);
                Ok(r)
            }
            ExprKind::Unary(op, x) => {
                let v = self.expr(x)?;
                let n = Sz::of(&v.shape);
                self.produce(
                    Helper::Unary(*op),
                    v.shape,
                    &[Arg::Addr(v.addr), Arg::Sz(n)],
                )
            }
            ExprKind::Binary(op, a, b) => {
                let a = self.expr(a)?;
                let b = self.expr(b)?;
                let (pa, sa) = self.operand(&a, &shape)?;
                let (pb, sb) = self.operand(&b, &shape)?;
                let n = Sz::of(&shape);
                self.produce(
                    Helper::Binary(*op),
                    shape,
                    &[
                        Arg::Addr(pa),
                        Arg::I32(sa),
                        Arg::Addr(pb),
                        Arg::I32(sb),
                        Arg::Sz(n),
                    ],
                )
            }
            ExprKind::Select(c, a, b) => {
                let c = self.expr(c)?;
                let a = self.expr(a)?;
                let b = self.expr(b)?;
                let (pc, sc) = self.operand(&c, &shape)?;
                let (pa, sa) = self.operand(&a, &shape)?;
                let (pb, sb) = self.operand(&b, &shape)?;
                let n = Sz::of(&shape);
                self.produce(
                    Helper::Select,
                    shape,
                    &[
                        Arg::Addr(pc),
                        Arg::I32(sc),
                        Arg::Addr(pa),
                        Arg::I32(sa),
                        Arg::Addr(pb),
                        Arg::I32(sb),
                        Arg::Sz(n),
                    ],
                )
            }
            ExprKind::Reduce { op, arg, axis } => {
                let v = self.expr(arg)?;
                let (outer, len, inner, out) = match *axis {
                    None => (Sz::ONE, Sz::of(&v.shape), Sz::ONE, Vec::new()),
                    Some(ax) if ax < v.shape.len() => {
                        let mut out = v.shape.clone();
                        out.remove(ax);
                        (
                            Sz::of(&v.shape[..ax]),
                            Sz::dim(v.shape[ax]),
                            Sz::of(&v.shape[ax + 1..]),
                            out,
                        )
                    }
                    Some(_) => return Err(invalid("a reduction axis beyond the rank")),
                };
                self.produce(
                    Helper::Reduce(*op),
                    out,
                    &[
                        Arg::Addr(v.addr),
                        Arg::Sz(outer),
                        Arg::Sz(len),
                        Arg::Sz(inner),
                    ],
                )
            }
            ExprKind::ArgReduce(op, x) => {
                let v = self.expr(x)?;
                let (outer, len) = Self::rows(&v.shape);
                let out = v.shape[..v.shape.len().saturating_sub(1)].to_vec();
                self.produce(
                    Helper::Arg(*op),
                    out,
                    &[Arg::Addr(v.addr), Arg::Sz(outer), Arg::Sz(len)],
                )
            }
            ExprKind::MatMul(a, b) => {
                let a = self.expr(a)?;
                let b = self.expr(b)?;
                let (m, k, k2, n, out) = match (a.shape.as_slice(), b.shape.as_slice()) {
                    (&[k], &[k2]) => (Sz::ONE, k, k2, Sz::ONE, vec![]),
                    (&[m, k], &[k2, n]) => (Sz::dim(m), k, k2, Sz::dim(n), vec![m, n]),
                    (&[k], &[k2, n]) => (Sz::ONE, k, k2, Sz::dim(n), vec![n]),
                    (&[m, k], &[k2]) => (Sz::dim(m), k, k2, Sz::ONE, vec![m]),
                    _ => return Err(invalid("a matrix product of unsupported ranks")),
                };
                if k != k2 {
                    return Err(invalid("a matrix product whose inner dimensions differ"));
                }
                self.produce(
                    Helper::MatMul,
                    out,
                    &[
                        Arg::Addr(a.addr),
                        Arg::Addr(b.addr),
                        Arg::Sz(m),
                        Arg::Sz(Sz::dim(k)),
                        Arg::Sz(n),
                    ],
                )
            }
            ExprKind::Softmax(x)
            | ExprKind::LogSoftmax(x)
            | ExprKind::Cumsum(x)
            | ExprKind::Sort(x) => {
                let h = match &e.kind {
                    ExprKind::Softmax(_) => Helper::Softmax,
                    ExprKind::LogSoftmax(_) => Helper::LogSoftmax,
                    ExprKind::Cumsum(_) => Helper::Cumsum,
                    _ => Helper::Sort,
                };
                let v = self.expr(x)?;
                let (outer, len) = Self::rows(&v.shape);
                self.produce(
                    h,
                    v.shape,
                    &[Arg::Addr(v.addr), Arg::Sz(outer), Arg::Sz(len)],
                )
            }
            ExprKind::TopK(x, k) => {
                let v = self.expr(x)?;
                let (outer, len) = Self::rows(&v.shape);
                let limit = len.fixed().unwrap_or(i32::MAX as u64);
                let k = i32::try_from((*k as u64).min(limit)).unwrap_or(i32::MAX);
                self.produce(
                    Helper::TopK,
                    v.shape,
                    &[Arg::Addr(v.addr), Arg::Sz(outer), Arg::Sz(len), Arg::I32(k)],
                )
            }
            ExprKind::Index(x, items) => self.index(x, items, &shape),
            ExprKind::Reshape(x) => {
                let v = self.expr(x)?;
                if Sz::of(&v.shape) != Sz::of(&shape) {
                    return Err(invalid("a reshape that changes the number of elements"));
                }
                Ok(Val {
                    addr: v.addr,
                    shape,
                })
            }
            ExprKind::Concat(parts, axis) => self.concat(parts, *axis, &shape),
            ExprKind::Stack(parts) => {
                let vals = parts
                    .iter()
                    .map(|p| self.expr(p))
                    .collect::<Result<Vec<_>, _>>()?;
                let dst = self.buffer(&shape)?;
                let mut cursor = dst;
                for v in &vals {
                    let size = Sz::of(&v.shape);
                    if shape.get(1..) != Some(&v.shape[..]) {
                        return Err(invalid("stacked tensors of different shapes"));
                    }
                    self.copy(cursor, v.addr, &[(size, EIGHT, EIGHT)])?;
                    cursor = self.offset(cursor, size.mul(EIGHT))?;
                }
                Ok(Val { addr: dst, shape })
            }
            ExprKind::Random(dist, params) => {
                let vals = params
                    .iter()
                    .map(|p| self.expr(p))
                    .collect::<Result<Vec<_>, _>>()?;
                let want = if *dist == Dist::Bernoulli { 1 } else { 2 };
                if vals.len() != want || vals.iter().any(|v| Sz::of(&v.shape) != Sz::ONE) {
                    return Err(invalid("a distribution with the wrong parameters"));
                }
                let mut args = vec![Arg::Sz(Sz::of(&shape))];
                args.extend(vals.iter().map(|v| Arg::F64At(v.addr)));
                self.produce(Helper::Random(*dist), shape, &args)
            }
            ExprKind::Shuffle(x) => {
                let v = self.expr(x)?;
                let (rows, width) = match v.shape.split_first() {
                    Some((&rows, rest)) => (Sz::dim(rows), Sz::of(rest)),
                    None => (Sz::ONE, Sz::ONE),
                };
                self.produce(
                    Helper::Shuffle,
                    v.shape,
                    &[Arg::Addr(v.addr), Arg::Sz(rows), Arg::Sz(width)],
                )
            }
            ExprKind::Choice(x) => {
                let v = self.expr(x)?;
                let Some((&rows, rest)) = v.shape.split_first() else {
                    return Err(invalid("a choice from a scalar"));
                };
                let width = Sz::of(rest);
                self.produce(
                    Helper::PickRows,
                    rest.to_vec(),
                    &[
                        Arg::Addr(v.addr),
                        Arg::Sz(Sz::dim(rows)),
                        Arg::Sz(width),
                        Arg::I32(1),
                    ],
                )
            }
            ExprKind::Sample { data, count } => {
                let (table, &at) = self
                    .p
                    .data
                    .get(data.0 as usize)
                    .zip(self.b.tables.get(data.0 as usize))
                    .ok_or_else(|| invalid("a sample from a missing table"))?;
                let out = match count {
                    None => vec![table.cols],
                    Some(c) => vec![*c, table.cols],
                };
                let args = [
                    Arg::Addr(Addr::Const(at)),
                    Arg::Sz(Sz::dim(table.rows)),
                    Arg::Sz(Sz::dim(table.cols)),
                    Arg::Sz(Sz::dim(count.unwrap_or(1))),
                ];
                self.produce(Helper::PickRows, out, &args)
            }
            ExprKind::Loop {
                var,
                start,
                end,
                body,
                fold,
            } => self.comprehension(*var, *start, *end, body, *fold, &shape),
        }
    }

    /// `x[items]`: the base, each `At` position in order (checked), then one strided copy.
    fn index(&mut self, x: &Expr, items: &[IndexItem], ty: &[usize]) -> Result<Val, CodegenError> {
        let v = self.expr(x)?;
        if items.len() > v.shape.len() {
            return Err(invalid("more indices than dimensions"));
        }
        let st = strides(&v.shape);
        let mut fixed_off = 0u64;
        let mut dyn_off: Option<u32> = None;
        let mut dims = Vec::with_capacity(v.shape.len());
        for (i, item) in items.iter().enumerate() {
            let dim = v.shape[i];
            let stride = st[i].mul(EIGHT);
            match item {
                IndexItem::At(e) => {
                    let pos = self.expr(e)?;
                    if Sz::of(&pos.shape) != Sz::ONE {
                        return Err(invalid("an index that is not a scalar"));
                    }
                    self.call(
                        Helper::IndexCheck,
                        &[Arg::F64At(pos.addr), Arg::Sz(Sz::dim(dim))],
                    )?;
                    self.push(Arg::Sz(stride))?;
                    self.f.ins().i32_mul();
                    match dyn_off {
                        Some(l) => {
                            self.f.ins().local_get(l).i32_add().local_set(l);
                        }
                        None => {
                            let l = self.f.local(Ty::I32);
                            self.f.ins().local_set(l);
                            dyn_off = Some(l);
                        }
                    }
                }
                &IndexItem::Slice { start, stop, step } => {
                    if step == 0 || start >= stop {
                        return Err(invalid("an empty slice"));
                    }
                    if dim == N {
                        let n = self.n.ok_or_else(|| invalid("N outside the reward"))?;
                        let stop = i32::try_from(stop).map_err(|_| invalid("a slice too long"))?;
                        self.f
                            .ins()
                            .local_get(n)
                            .i32_const(stop)
                            .i32_lt_u()
                            .if_(BlockType::Empty)
                            .unreachable()
                            .end();
                    } else if stop > dim {
                        return Err(invalid("a slice beyond its dimension"));
                    }
                    let len = (stop - start).div_ceil(step);
                    let off = stride.mul(Sz::dim(start));
                    match off.fixed() {
                        Some(o) => fixed_off += o,
                        None => {
                            self.push(Arg::Sz(off))?;
                            match dyn_off {
                                Some(l) => {
                                    self.f.ins().local_get(l).i32_add().local_set(l);
                                }
                                None => {
                                    let l = self.f.local(Ty::I32);
                                    self.f.ins().local_set(l);
                                    dyn_off = Some(l);
                                }
                            }
                        }
                    }
                    dims.push((Sz::dim(len), stride.mul(Sz::dim(step))));
                }
            }
        }
        for (&d, &stride) in v.shape.iter().zip(&st).skip(items.len()) {
            dims.push((Sz::dim(d), stride.mul(EIGHT)));
        }
        if dims.len() != ty.len() || dims.iter().zip(ty).any(|(d, &t)| d.0 != Sz::dim(t)) {
            return Err(invalid("an index whose result shape is not its type"));
        }
        let mut src = self.offset(v.addr, Sz::lit(fixed_off))?;
        if let Some(l) = dyn_off {
            let a = self.f.local(Ty::I32);
            self.push(Arg::Addr(src))?;
            self.f.ins().local_get(l).i32_add().local_set(a);
            src = Addr::Local(a);
        }
        let out = ty.to_vec();
        let ds = strides(&out);
        let dims: Vec<(Sz, Sz, Sz)> = dims
            .iter()
            .zip(&ds)
            .map(|(&(len, ss), &d)| (len, ss, d.mul(EIGHT)))
            .collect();
        let dst = self.buffer(&out)?;
        self.copy(dst, src, &dims)?;
        Ok(Val {
            addr: dst,
            shape: out,
        })
    }

    /// Joins `parts` along `axis`: each part's rows land at its column offset.
    fn concat(&mut self, parts: &[Expr], axis: usize, out: &[usize]) -> Result<Val, CodegenError> {
        let vals = parts
            .iter()
            .map(|p| self.expr(p))
            .collect::<Result<Vec<_>, _>>()?;
        if axis >= out.len() {
            return Err(invalid("a concatenation axis beyond the rank"));
        }
        let mut total = 0u64;
        let mut fixed = true;
        for v in &vals {
            let same_rank = v.shape.len() == out.len();
            let others = same_rank && (0..out.len()).all(|d| d == axis || v.shape[d] == out[d]);
            if !others {
                return Err(invalid(
                    "concatenated tensors whose other dimensions differ",
                ));
            }
            match Sz::dim(v.shape[axis]).fixed() {
                Some(d) => total += d,
                None => fixed = false,
            }
        }
        if fixed && Sz::lit(total) != Sz::dim(out[axis]) {
            return Err(invalid("a concatenation whose length is not its type"));
        }
        let outer = Sz::of(&out[..axis]);
        let inner = Sz::of(&out[axis + 1..]);
        let ds = Sz::dim(out[axis]).mul(inner).mul(EIGHT);
        let dst = self.buffer(out)?;
        let mut cursor = dst;
        for v in &vals {
            let run = Sz::dim(v.shape[axis]).mul(inner);
            self.copy(
                cursor,
                v.addr,
                &[(outer, run.mul(EIGHT), ds), (run, EIGHT, EIGHT)],
            )?;
            cursor = self.offset(cursor, run.mul(EIGHT))?;
        }
        Ok(Val {
            addr: dst,
            shape: out.to_vec(),
        })
    }

    /// A comprehension: a wasm loop around the body's code, the loop variable in its own slot.
    fn comprehension(
        &mut self,
        var: VarId,
        start: i64,
        end: i64,
        body: &Expr,
        fold: Fold,
        out: &[usize],
    ) -> Result<Val, CodegenError> {
        let count = end.saturating_sub(start).max(0);
        let slot = self.b.frame(8)?;
        self.bind(
            var,
            Val {
                addr: Addr::Const(slot),
                shape: Vec::new(),
            },
        )?;
        let dst = self.buffer(out)?;
        let body_shape: Vec<usize> = match fold {
            Fold::Sum => out.to_vec(),
            Fold::Stack => {
                if out.first().map(|&d| d as u64) != Some(count as u64) {
                    return Err(invalid(
                        "a stacked comprehension whose length is not its type",
                    ));
                }
                out[1..].to_vec()
            }
        };
        let body_bytes = Sz::of(&body_shape).mul(EIGHT);
        let cursor = self.f.local(Ty::I32);
        let k = self.f.local(Ty::I64);
        match fold {
            Fold::Sum => {
                self.push(Arg::Addr(dst))?;
                self.f.ins().i32_const(0);
                self.push(Arg::Sz(Sz::of(out).mul(EIGHT)))?;
                self.f.ins().memory_fill(0);
            }
            Fold::Stack => {
                self.push(Arg::Addr(dst))?;
                self.f.ins().local_set(cursor);
            }
        }
        self.f
            .ins()
            .i64_const(0)
            .local_set(k)
            .block(BlockType::Empty)
            .loop_(BlockType::Empty)
            .local_get(k)
            .i64_const(count)
            .i64_ge_s()
            .br_if(1)
            .i32_const(slot as i32)
            .i64_const(start)
            .local_get(k)
            .i64_add()
            .f64_convert_i64_s()
            .f64_store(F64);
        let v = self.expr(body)?;
        match fold {
            Fold::Sum => {
                let (pv, sv) = self.operand(&v, out)?;
                self.call(
                    Helper::Binary(BinOp::Add),
                    &[
                        Arg::Addr(dst),
                        Arg::Addr(dst),
                        Arg::I32(8),
                        Arg::Addr(pv),
                        Arg::I32(sv),
                        Arg::Sz(Sz::of(out)),
                    ],
                )?;
            }
            Fold::Stack => {
                if Sz::of(&v.shape) != Sz::of(&body_shape) {
                    return Err(invalid("a comprehension body whose shape is not its type"));
                }
                self.copy(
                    Addr::Local(cursor),
                    v.addr,
                    &[(Sz::of(&body_shape), EIGHT, EIGHT)],
                )?;
                self.f.ins().local_get(cursor);
                self.push(Arg::Sz(body_bytes))?;
                self.f.ins().i32_add().local_set(cursor);
            }
        }
        self.f
            .ins()
            .local_get(k)
            .i64_const(1)
            .i64_add()
            .local_set(k)
            .br(0)
            .end()
            .end();
        self.unbind(var);
        Ok(Val {
            addr: dst,
            shape: out.to_vec(),
        })
    }
}
