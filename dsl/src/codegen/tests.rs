//! Tests: hand-built programs, compiled and run in the plugin host, checked against concrete
//! values, against the documented formulas, and against the reference interpreter.

use ganglion_plugin_abi::limits::Limits;
use ganglion_plugin_abi::payload::{self, DType, Tensor};
use ganglion_plugins::{Plugin, PluginError};

use super::{CodegenError, compile};
use crate::interp;
use crate::ir::*;
use crate::rng::Rng;

// ---------------------------------------------------------------------------------------
// Building programs by hand.

fn sp() -> Span {
    Span::default()
}

fn ex(elem: Elem, shape: &[usize], kind: ExprKind) -> Expr {
    Expr {
        ty: Ty::new(elem, shape.to_vec()),
        kind,
        span: sp(),
    }
}

fn fl(shape: &[usize], kind: ExprKind) -> Expr {
    ex(Elem::Float, shape, kind)
}

fn konst(shape: &[usize], values: &[f64]) -> Expr {
    fl(shape, ExprKind::Const(values.to_vec()))
}

fn s(v: f64) -> Expr {
    konst(&[], &[v])
}

fn int(v: i64) -> Expr {
    ex(Elem::Int, &[], ExprKind::Const(vec![v as f64]))
}

fn broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|d| {
            let x = (d + a.len()).checked_sub(rank).map_or(1, |i| a[i]);
            let y = (d + b.len()).checked_sub(rank).map_or(1, |i| b[i]);
            if x == 1 { y } else { x }
        })
        .collect()
}

fn un(op: UnOp, x: Expr) -> Expr {
    let shape = x.ty.shape.clone();
    fl(&shape, ExprKind::Unary(op, Box::new(x)))
}

fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    let shape = broadcast(&a.ty.shape, &b.ty.shape);
    fl(&shape, ExprKind::Binary(op, Box::new(a), Box::new(b)))
}

fn add(a: Expr, b: Expr) -> Expr {
    bin(BinOp::Add, a, b)
}

fn mul(a: Expr, b: Expr) -> Expr {
    bin(BinOp::Mul, a, b)
}

fn sub(a: Expr, b: Expr) -> Expr {
    bin(BinOp::Sub, a, b)
}

fn select(c: Expr, a: Expr, b: Expr) -> Expr {
    let shape = broadcast(&broadcast(&c.ty.shape, &a.ty.shape), &b.ty.shape);
    fl(
        &shape,
        ExprKind::Select(Box::new(c), Box::new(a), Box::new(b)),
    )
}

fn reduce(op: ReduceOp, x: Expr, axis: Option<usize>) -> Expr {
    let mut shape = x.ty.shape.clone();
    match axis {
        Some(a) => {
            shape.remove(a);
        }
        None => shape.clear(),
    }
    fl(
        &shape,
        ExprKind::Reduce {
            op,
            arg: Box::new(x),
            axis,
        },
    )
}

fn sum(x: Expr) -> Expr {
    reduce(ReduceOp::Sum, x, None)
}

fn last_axis(kind: fn(Box<Expr>) -> ExprKind, x: Expr) -> Expr {
    let shape = x.ty.shape.clone();
    fl(&shape, kind(Box::new(x)))
}

fn matmul(a: Expr, b: Expr) -> Expr {
    let shape = match (a.ty.shape.as_slice(), b.ty.shape.as_slice()) {
        ([_], [_]) => vec![],
        ([m, _], [_, n]) => vec![*m, *n],
        ([_], [_, n]) => vec![*n],
        ([m, _], [_]) => vec![*m],
        _ => panic!("bad matmul"),
    };
    fl(&shape, ExprKind::MatMul(Box::new(a), Box::new(b)))
}

fn index(x: Expr, items: Vec<IndexItem>) -> Expr {
    let mut shape = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let IndexItem::Slice { start, stop, step } = item {
            let _ = i;
            shape.push((stop - start).div_ceil(*step));
        }
    }
    shape.extend_from_slice(&x.ty.shape[items.len()..]);
    fl(&shape, ExprKind::Index(Box::new(x), items))
}

fn slice(start: usize, stop: usize, step: usize) -> IndexItem {
    IndexItem::Slice { start, stop, step }
}

fn random(dist: Dist, shape: &[usize], params: Vec<Expr>) -> Expr {
    fl(shape, ExprKind::Random(dist, params))
}

/// A program under construction: variables, task lets and outputs.
#[derive(Default)]
struct Prog {
    vars: Vec<VarInfo>,
    lets: Vec<Let>,
    send: Vec<Output>,
    keep: Vec<Output>,
    data: Vec<DataTable>,
}

impl Prog {
    fn var(&mut self, name: &str, ty: Ty) -> VarId {
        self.vars.push(VarInfo {
            name: name.into(),
            ty,
        });
        VarId(self.vars.len() as u32 - 1)
    }

    fn get(&self, id: VarId) -> Expr {
        let ty = self.vars[id.0 as usize].ty.clone();
        Expr {
            ty,
            kind: ExprKind::Var(id),
            span: sp(),
        }
    }

    /// `let name = value`; returns the variable as an expression.
    fn bind(&mut self, name: &str, value: Expr) -> Expr {
        let id = self.var(name, value.ty.clone());
        self.lets.push(Let { var: id, value });
        self.get(id)
    }

    fn output(&self, x: &Expr, dtype: DType) -> Output {
        let ExprKind::Var(var) = x.kind else {
            panic!("outputs are variables")
        };
        Output {
            name: self.vars[var.0 as usize].name.clone(),
            var,
            dtype,
            shape: x.ty.shape.clone(),
            span: sp(),
        }
    }

    fn send(&mut self, x: &Expr, dtype: DType) {
        let o = self.output(x, dtype);
        self.send.push(o);
    }

    fn keep(&mut self, x: &Expr, dtype: DType) {
        let o = self.output(x, dtype);
        self.keep.push(o);
    }

    /// The program, with a score built by `item` from the public, private and response
    /// variables (as expressions).
    fn build(
        mut self,
        expect: TensorSpec,
        item: impl FnOnce(&mut Prog, &[Expr], &[Expr], Expr) -> (Vec<Let>, Expr),
    ) -> Program {
        let public: Vec<VarId> = (0..self.send.len())
            .map(|i| {
                let o = self.send[i].clone();
                self.var(&format!("pub_{}", o.name), Ty::new(Elem::Float, o.shape))
            })
            .collect();
        let private: Vec<VarId> = (0..self.keep.len())
            .map(|i| {
                let o = self.keep[i].clone();
                self.var(&format!("priv_{}", o.name), Ty::new(Elem::Float, o.shape))
            })
            .collect();
        let response = self.var("response", Ty::new(Elem::Float, expect.shape.clone()));
        let pubs: Vec<Expr> = public.iter().map(|&v| self.get(v)).collect();
        let privs: Vec<Expr> = private.iter().map(|&v| self.get(v)).collect();
        let resp = self.get(response);
        let (lets, item) = item(&mut self, &pubs, &privs, resp);
        Program {
            meta: Meta {
                name: "test".into(),
                version: "0.1.0".into(),
                summary: "a test".into(),
            },
            vars: self.vars,
            data: self.data,
            task: Task {
                lets: self.lets,
                send: self.send,
                keep: self.keep,
                expect,
                timeout_ms: 1000,
            },
            score: Score {
                public,
                private,
                response,
                lets,
                item,
                smooth: Smooth::Last,
            },
            params: vec![],
            reward: None,
        }
    }

    /// The program with a trivial score (a constant 1).
    fn simple(self) -> Program {
        let expect = TensorSpec {
            dtype: DType::F32,
            shape: vec![1],
        };
        self.build(expect, |_, _, _, _| (vec![], s(1.0)))
    }
}

// ---------------------------------------------------------------------------------------
// Running programs.

fn load(p: &Program) -> Plugin {
    let bytes = compile(p).expect("compiles");
    Plugin::load(&bytes, Limits::default()).expect("loads")
}

fn decode(bytes: &[u8]) -> Vec<Tensor> {
    payload::decode(bytes).expect("a payload")
}

/// The public tensors' values (and checks the bytes against the interpreter's).
fn public_values(p: &Program, seed: u64, round: u64) -> Vec<Vec<f64>> {
    let plugin = load(p);
    let task = plugin.task(seed, round).expect("task runs");
    let (public, private) = interp::task(p, seed, round).expect("the interpreter runs");
    assert_eq!(
        task.public, public,
        "public payload differs from the interpreter"
    );
    assert_eq!(
        task.private, private,
        "private payload differs from the interpreter"
    );
    decode(&task.public).iter().map(Tensor::to_f64s).collect()
}

/// Runs the task with every seed in `seeds` and compares with the interpreter.
fn agree_on_tasks(p: &Program, seeds: std::ops::Range<u64>) {
    let plugin = load(p);
    for seed in seeds {
        let round = seed.wrapping_mul(0x9E37_79B9) ^ 5;
        let task = plugin.task(seed, round).expect("task runs");
        let (public, private) = interp::task(p, seed, round).expect("the interpreter runs");
        assert_eq!(task.public, public, "seed {seed}: public payloads differ");
        assert_eq!(
            task.private, private,
            "seed {seed}: private payloads differ"
        );
    }
}

fn one(values: Vec<Vec<f64>>) -> Vec<f64> {
    assert_eq!(values.len(), 1);
    values.into_iter().next().unwrap()
}

/// A program that sends one expression as f64.
fn sends(value: Expr) -> Program {
    let mut p = Prog::default();
    let x = p.bind("x", value);
    p.send(&x, DType::F64);
    p.simple()
}

fn eval(value: Expr) -> Vec<f64> {
    one(public_values(&sends(value), 1, 2))
}

fn m23() -> Expr {
    konst(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
}

// ---------------------------------------------------------------------------------------
// Values.

#[test]
fn constants_and_arithmetic_with_broadcasting() {
    assert_eq!(eval(s(2.5)), vec![2.5]);
    assert_eq!(
        eval(add(m23(), konst(&[3], &[10.0, 20.0, 30.0]))),
        vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]
    );
    assert_eq!(
        eval(mul(
            konst(&[2, 1], &[2.0, 3.0]),
            konst(&[3], &[1.0, 2.0, 3.0])
        )),
        vec![2.0, 4.0, 6.0, 3.0, 6.0, 9.0]
    );
    assert_eq!(
        eval(sub(s(10.0), m23())),
        vec![9.0, 8.0, 7.0, 6.0, 5.0, 4.0]
    );
    assert_eq!(
        eval(bin(
            BinOp::Rem,
            konst(&[4], &[7.0, -7.0, 7.0, -7.0]),
            konst(&[4], &[3.0, 3.0, -3.0, -3.0])
        )),
        vec![1.0, 2.0, -2.0, -1.0]
    );
    let nan = f64::NAN;
    let mx = eval(bin(
        BinOp::Max,
        konst(&[3], &[1.0, nan, 3.0]),
        konst(&[3], &[nan, 2.0, 4.0]),
    ));
    assert_eq!(mx[0], 1.0);
    assert!(mx[1].is_nan());
    assert_eq!(mx[2], 4.0);
    let mn = eval(bin(
        BinOp::Min,
        konst(&[3], &[1.0, nan, 3.0]),
        konst(&[3], &[nan, 2.0, 4.0]),
    ));
    assert_eq!(mn[0], 1.0);
    assert!(mn[1].is_nan());
    assert_eq!(mn[2], 3.0);
    let a = konst(&[4], &[1.0, 2.0, nan, 0.0]);
    let b = konst(&[4], &[2.0, 2.0, 1.0, 0.0]);
    assert_eq!(
        eval(bin(BinOp::Lt, a.clone(), b.clone())),
        vec![1.0, 0.0, 0.0, 0.0]
    );
    assert_eq!(
        eval(bin(BinOp::Ne, a.clone(), b.clone())),
        vec![1.0, 0.0, 1.0, 0.0]
    );
    assert_eq!(
        eval(bin(BinOp::Ge, a.clone(), b.clone())),
        vec![0.0, 1.0, 0.0, 1.0]
    );
    assert_eq!(
        eval(bin(BinOp::And, a.clone(), b.clone())),
        vec![1.0, 1.0, 1.0, 0.0]
    );
    assert_eq!(eval(bin(BinOp::Or, a.clone(), b)), vec![1.0, 1.0, 1.0, 0.0]);
    assert_eq!(eval(un(UnOp::Not, a)), vec![0.0, 0.0, 0.0, 1.0]);
    assert_eq!(
        eval(un(UnOp::Round, konst(&[4], &[0.5, 1.5, 2.5, -0.5]))),
        vec![0.0, 2.0, 2.0, -0.0]
    );
    assert_eq!(
        eval(select(
            konst(&[3], &[1.0, 0.0, nan]),
            s(1.0),
            konst(&[3], &[7.0, 8.0, 9.0])
        )),
        vec![1.0, 8.0, 1.0]
    );
    let x = konst(&[3], &[0.3, -1.2, 2.0]);
    assert_eq!(
        eval(un(UnOp::Exp, x.clone())),
        vec![libm::exp(0.3), libm::exp(-1.2), libm::exp(2.0)]
    );
    assert_eq!(
        eval(bin(BinOp::Pow, x.clone(), s(1.5)))[2],
        libm::pow(2.0, 1.5)
    );
    assert_eq!(eval(un(UnOp::Tanh, x))[1], libm::tanh(-1.2));
}

#[test]
fn reductions_fold_in_index_order() {
    assert_eq!(eval(sum(m23())), vec![21.0]);
    assert_eq!(
        eval(reduce(ReduceOp::Sum, m23(), Some(0))),
        vec![5.0, 7.0, 9.0]
    );
    assert_eq!(eval(reduce(ReduceOp::Sum, m23(), Some(1))), vec![6.0, 15.0]);
    assert_eq!(
        eval(reduce(ReduceOp::Prod, m23(), Some(1))),
        vec![6.0, 120.0]
    );
    assert_eq!(
        eval(reduce(ReduceOp::Max, m23(), Some(0))),
        vec![4.0, 5.0, 6.0]
    );
    assert_eq!(eval(reduce(ReduceOp::Min, m23(), None)), vec![1.0]);
    // Max from element 0 with `if b > a`: a NaN first stays; a NaN later is skipped.
    let nan = f64::NAN;
    assert!(eval(reduce(ReduceOp::Max, konst(&[3], &[nan, 1.0, 2.0]), None))[0].is_nan());
    assert_eq!(
        eval(reduce(ReduceOp::Max, konst(&[3], &[0.0, nan, 2.0]), None)),
        vec![2.0]
    );
    let x = konst(&[2, 4], &[3.0, 9.0, 9.0, 1.0, 5.0, 2.0, 0.0, 2.0]);
    let arg = |op, x: Expr| ex(Elem::Int, &[2], ExprKind::ArgReduce(op, Box::new(x)));
    assert_eq!(eval(arg(ArgOp::ArgMax, x.clone())), vec![1.0, 0.0]);
    assert_eq!(eval(arg(ArgOp::ArgMin, x)), vec![3.0, 2.0]);
}

#[test]
fn matrix_products_of_every_rank() {
    let v2 = konst(&[2], &[1.0, 10.0]);
    let v3 = konst(&[3], &[1.0, 2.0, 3.0]);
    let m32 = konst(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(eval(matmul(v3.clone(), v3.clone())), vec![14.0]);
    assert_eq!(
        eval(matmul(m23(), m32.clone())),
        vec![22.0, 28.0, 49.0, 64.0]
    );
    assert_eq!(eval(matmul(v3.clone(), m32)), vec![22.0, 28.0]);
    assert_eq!(eval(matmul(m23(), v3)), vec![14.0, 32.0]);
    assert_eq!(eval(matmul(v2, m23())), vec![41.0, 52.0, 63.0]);
}

#[test]
fn index_slice_reshape_concat_stack() {
    assert_eq!(
        eval(index(m23(), vec![IndexItem::At(int(1))])),
        vec![4.0, 5.0, 6.0]
    );
    assert_eq!(
        eval(index(m23(), vec![slice(0, 2, 1), slice(0, 3, 2)])),
        vec![1.0, 3.0, 4.0, 6.0]
    );
    assert_eq!(
        eval(index(m23(), vec![slice(1, 2, 1), IndexItem::At(int(2))])),
        vec![6.0]
    );
    assert_eq!(
        eval(index(m23(), vec![IndexItem::At(int(0)), slice(1, 3, 1)])),
        vec![2.0, 3.0]
    );
    // A computed position.
    let pos = ex(
        Elem::Int,
        &[],
        ExprKind::Binary(BinOp::Add, Box::new(int(1)), Box::new(int(1))),
    );
    assert_eq!(
        eval(index(
            konst(&[4], &[5.0, 6.0, 7.0, 8.0]),
            vec![IndexItem::At(pos)]
        )),
        vec![7.0]
    );
    let reshaped = fl(&[3, 2], ExprKind::Reshape(Box::new(m23())));
    assert_eq!(
        eval(index(reshaped, vec![slice(0, 3, 1), IndexItem::At(int(1))])),
        vec![2.0, 4.0, 6.0]
    );
    let cat = fl(
        &[2, 5],
        ExprKind::Concat(vec![m23(), konst(&[2, 2], &[7.0, 8.0, 9.0, 10.0])], 1),
    );
    assert_eq!(
        eval(cat),
        vec![1.0, 2.0, 3.0, 7.0, 8.0, 4.0, 5.0, 6.0, 9.0, 10.0]
    );
    let cat0 = fl(
        &[3, 3],
        ExprKind::Concat(vec![m23(), konst(&[1, 3], &[7.0, 8.0, 9.0])], 0),
    );
    assert_eq!(eval(cat0)[6..], [7.0, 8.0, 9.0]);
    let stacked = fl(
        &[2, 2],
        ExprKind::Stack(vec![konst(&[2], &[1.0, 2.0]), konst(&[2], &[3.0, 4.0])]),
    );
    assert_eq!(eval(stacked), vec![1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn comprehensions_sum_and_stack() {
    let mut p = Prog::default();
    let i = p.var("i", Ty::scalar(Elem::Int));
    let j = p.var("j", Ty::scalar(Elem::Int));
    // sum(i * i for i in 1..5) = 30
    let squares = fl(
        &[],
        ExprKind::Loop {
            var: i,
            start: 1,
            end: 5,
            body: Box::new(mul(p.get(i), p.get(i))),
            fold: Fold::Sum,
        },
    );
    // [[i * 10 + j for j in 0..3] for i in 0..2]
    let inner = fl(
        &[3],
        ExprKind::Loop {
            var: j,
            start: 0,
            end: 3,
            body: Box::new(add(mul(p.get(i), s(10.0)), p.get(j))),
            fold: Fold::Stack,
        },
    );
    let grid = fl(
        &[2, 3],
        ExprKind::Loop {
            var: i,
            start: 0,
            end: 2,
            body: Box::new(inner),
            fold: Fold::Stack,
        },
    );
    // sum(x[i] for i in 0..3) with a dynamic index.
    let x = p.bind("x", konst(&[3], &[0.5, 0.25, 4.0]));
    let picked = fl(
        &[],
        ExprKind::Loop {
            var: i,
            start: 0,
            end: 3,
            body: Box::new(index(x, vec![IndexItem::At(p.get(i))])),
            fold: Fold::Sum,
        },
    );
    let a = p.bind("a", squares);
    let b = p.bind("b", grid);
    let c = p.bind("c", picked);
    p.send(&a, DType::F64);
    p.send(&b, DType::I32);
    p.send(&c, DType::F64);
    let values = public_values(&p.simple(), 0, 0);
    assert_eq!(values[0], vec![30.0]);
    assert_eq!(values[1], vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
    assert_eq!(values[2], vec![4.75]);
}

#[test]
fn with_binds_once() {
    let mut p = Prog::default();
    let t = p.var("t", Ty::new(Elem::Float, vec![3]));
    let draws = random(Dist::Uniform, &[3], vec![s(0.0), s(1.0)]);
    let body = sub(fl(&[3], ExprKind::Var(t)), fl(&[3], ExprKind::Var(t)));
    let with = fl(
        &[3],
        ExprKind::With {
            var: t,
            value: Box::new(draws),
            body: Box::new(body),
        },
    );
    let x = p.bind("x", with);
    p.send(&x, DType::F64);
    assert_eq!(one(public_values(&p.simple(), 3, 4)), vec![0.0; 3]);
}

#[test]
fn softmax_sort_cumsum_topk() {
    let x = konst(&[2, 3], &[1.0, 2.0, 3.0, -1.0, 0.5, 0.5]);
    let sm = eval(last_axis(ExprKind::Softmax, x.clone()));
    let row = [1.0f64, 2.0, 3.0];
    let e: Vec<f64> = row.iter().map(|v| libm::exp(v - 3.0)).collect();
    let total = 0.0 + e[0] + e[1] + e[2];
    assert_eq!(sm[..3], [e[0] / total, e[1] / total, e[2] / total]);
    let lsm = eval(last_axis(ExprKind::LogSoftmax, x.clone()));
    assert_eq!(lsm[0], (1.0 - 3.0) - libm::log(total));
    assert_eq!(
        eval(last_axis(ExprKind::Cumsum, x.clone())),
        vec![1.0, 3.0, 6.0, -1.0, -0.5, 0.0]
    );
    assert_eq!(
        eval(last_axis(
            ExprKind::Sort,
            konst(&[6], &[3.0, -1.0, 2.0, -1.0, 0.0, 9.0])
        )),
        vec![-1.0, -1.0, 0.0, 2.0, 3.0, 9.0]
    );
    let top = |k| {
        fl(
            &[6],
            ExprKind::TopK(Box::new(konst(&[6], &[3.0, 5.0, 3.0, 1.0, 5.0, 0.0])), k),
        )
    };
    assert_eq!(eval(top(2)), vec![0.0, 5.0, 0.0, 0.0, 5.0, 0.0]);
    assert_eq!(eval(top(3)), vec![3.0, 5.0, 0.0, 0.0, 5.0, 0.0]);
    assert_eq!(eval(top(10)), vec![3.0, 5.0, 3.0, 1.0, 5.0, 0.0]);
    agree_on_tasks(&sends(last_axis(ExprKind::Softmax, x)), 0..3);
}

#[test]
fn encodings_round_and_saturate() {
    let nan = f64::NAN;
    let values = [1.5, -2.7, 300.0, nan, f64::INFINITY, -1e30, 0.1];
    let mut p = Prog::default();
    let x = p.bind("x", konst(&[7], &values));
    for d in DType::ALL {
        p.send(&x, d);
    }
    p.keep(&x, DType::F32);
    let program = p.simple();
    let task = load(&program).task(0, 0).unwrap();
    let (public, private) = interp::task(&program, 0, 0).unwrap();
    assert_eq!((&task.public, &task.private), (&public, &private));
    let t = decode(&task.public);
    let f32s: Vec<u32> = t[0]
        .data()
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(f32s[3], 0x7fc0_0000);
    assert_eq!(f32s[6], 0.1f32.to_bits());
    let f64s: Vec<u64> = t[1]
        .data()
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(f64s[3], 0x7ff8_0000_0000_0000);
    assert_eq!(
        t[2].to_f64s(),
        vec![1.0, -2.0, 300.0, 0.0, i32::MAX as f64, i32::MIN as f64, 0.0]
    );
    assert_eq!(t[3].to_f64s()[4], i64::MAX as f64);
    assert_eq!(t[4].data(), &[1, 0, 255, 0, 255, 0, 0]);
    assert_eq!(decode(&task.private)[0].dtype(), DType::F32);
}

// ---------------------------------------------------------------------------------------
// Random draws.

#[test]
fn random_draws_follow_the_stream() {
    let mut p = Prog::default();
    let u = p.bind("u", random(Dist::Uniform, &[5], vec![s(-1.0), s(3.0)]));
    let n = p.bind("n", random(Dist::Normal, &[2, 2], vec![s(1.0), s(0.5)]));
    let i = p.bind("i", random(Dist::Integer, &[4], vec![s(2.0), s(7.0)]));
    let b = p.bind("b", random(Dist::Bernoulli, &[3], vec![s(0.3)]));
    for x in [&u, &n, &i, &b] {
        p.send(x, DType::F64);
    }
    let program = p.simple();
    for seed in [0u64, 1, 42, u64::MAX] {
        let values = public_values(&program, seed, 9);
        let mut rng = Rng::new(seed, 9);
        let us: Vec<f64> = (0..5)
            .map(|_| -1.0 + (3.0 - -1.0) * rng.uniform())
            .collect();
        assert_eq!(values[0], us);
        let ns: Vec<f64> = (0..4)
            .map(|_| {
                let u1 = rng.uniform();
                let u2 = rng.uniform();
                let r = (-2.0 * libm::log(1.0 - u1)).sqrt();
                let z = r * libm::cos(std::f64::consts::TAU * u2);
                1.0 + 0.5 * z
            })
            .collect();
        assert_eq!(values[1], ns);
        let is: Vec<f64> = (0..4)
            .map(|_| {
                let a = (rng.uniform() * 5.0).floor();
                let b = 4.0;
                2.0 + if b < a { b } else { a }
            })
            .collect();
        assert_eq!(values[2], is);
        let bs: Vec<f64> = (0..3)
            .map(|_| if rng.uniform() < 0.3 { 1.0 } else { 0.0 })
            .collect();
        assert_eq!(values[3], bs);
    }
    agree_on_tasks(&program, 0..50);
}

#[test]
fn shuffle_choice_and_sample() {
    let mut p = Prog::default();
    p.data.push(DataTable {
        name: "t".into(),
        file: "t.csv".into(),
        rows: 4,
        cols: 2,
        values: vec![0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 31.0],
    });
    let rows = konst(&[4, 2], &[0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 31.0]);
    let sh = p.bind("sh", fl(&[4, 2], ExprKind::Shuffle(Box::new(rows.clone()))));
    let ch = p.bind("ch", fl(&[2], ExprKind::Choice(Box::new(rows))));
    let one_row = p.bind(
        "one",
        fl(
            &[2],
            ExprKind::Sample {
                data: DataId(0),
                count: None,
            },
        ),
    );
    let many = p.bind(
        "many",
        fl(
            &[3, 2],
            ExprKind::Sample {
                data: DataId(0),
                count: Some(3),
            },
        ),
    );
    for x in [&sh, &ch, &one_row, &many] {
        p.send(x, DType::F64);
    }
    let program = p.simple();
    for seed in 0..20u64 {
        let values = public_values(&program, seed, 0);
        let mut rng = Rng::new(seed, 0);
        let mut order = [0usize, 1, 2, 3];
        for i in (1..4).rev() {
            let a = (rng.uniform() * (i + 1) as f64).floor();
            let j = if (i as f64) < a { i } else { a as usize };
            order.swap(i, j);
        }
        let expect: Vec<f64> = order
            .iter()
            .flat_map(|&r| [r as f64 * 10.0, r as f64 * 10.0 + 1.0])
            .collect();
        assert_eq!(values[0], expect);
        let mut pick = || {
            let a = (rng.uniform() * 4.0).floor();
            (if 3.0 < a { 3.0 } else { a }) * 10.0
        };
        let c = pick();
        assert_eq!(values[1], vec![c, c + 1.0]);
        let r = pick();
        assert_eq!(values[2], vec![r, r + 1.0]);
        let rs: Vec<f64> = (0..3)
            .flat_map(|_| {
                let r = pick();
                [r, r + 1.0]
            })
            .collect();
        assert_eq!(values[3], rs);
    }
}

// ---------------------------------------------------------------------------------------
// Score.

/// A denoising task: public noisy f32[8], private clean f32[8]; the score is
/// `1 / (1 + mse(response, clean))`.
fn denoise(len: usize) -> Program {
    let mut p = Prog::default();
    let t = p.var("t", Ty::scalar(Elem::Int));
    let phase = p.bind("phase", random(Dist::Uniform, &[], vec![s(0.0), s(6.0)]));
    let grid = fl(
        &[len],
        ExprKind::Loop {
            var: t,
            start: 0,
            end: len as i64,
            body: Box::new(mul(p.get(t), s(0.1))),
            fold: Fold::Stack,
        },
    );
    let clean = p.bind("clean", un(UnOp::Sin, add(grid, phase)));
    let noise = random(Dist::Normal, &[len], vec![s(0.0), s(0.1)]);
    let noisy = p.bind("noisy", add(clean.clone(), noise));
    p.send(&noisy, DType::F32);
    p.keep(&clean, DType::F32);
    let expect = TensorSpec {
        dtype: DType::F32,
        shape: vec![len],
    };
    p.build(expect, |p, _, privs, resp| {
        let d = sub(resp, privs[0].clone());
        let mse_var = p.var("mse", Ty::scalar(Elem::Float));
        let mse = bin(BinOp::Div, sum(mul(d.clone(), d)), s(len as f64));
        let lets = vec![Let {
            var: mse_var,
            value: mse,
        }];
        let item = bin(BinOp::Div, s(1.0), add(s(1.0), p.get(mse_var)));
        (lets, item)
    })
}

fn both_scores(p: &Program, plugin: &Plugin, public: &[u8], private: &[u8], resp: &[u8]) -> f64 {
    let ours = plugin.score(public, private, resp).expect("score runs");
    let theirs = interp::score(p, public, private, resp).expect("the interpreter scores");
    assert_eq!(
        ours.to_bits(),
        theirs.to_bits(),
        "score differs from the interpreter"
    );
    ours
}

#[test]
fn score_checks_the_response_and_the_payloads() {
    let p = denoise(8);
    let plugin = load(&p);
    let task = plugin.task(5, 6).unwrap();
    let clean = decode(&task.private)[0].clone();
    let good = payload::encode(std::slice::from_ref(&clean));
    assert_eq!(
        both_scores(&p, &plugin, &task.public, &task.private, &good),
        1.0
    );
    let noisy = decode(&task.public)[0].clone();
    let partial = both_scores(
        &p,
        &plugin,
        &task.public,
        &task.private,
        &payload::encode(&[noisy]),
    );
    assert!(partial > 0.5 && partial < 1.0, "{partial}");
    let values = clean.to_f64s();
    let bad: Vec<Vec<u8>> = vec![
        // Wrong dtype, shape, count; trailing bytes; truncated; empty.
        payload::encode(&[Tensor::f64(vec![8], &values)]),
        payload::encode(&[Tensor::f32(vec![4], &[0.0; 4])]),
        payload::encode(&[Tensor::f32(vec![2, 4], &[0.0; 8])]),
        payload::encode(&[clean.clone(), clean.clone()]),
        [good.clone(), vec![0]].concat(),
        good[..good.len() - 1].to_vec(),
        vec![],
        // A NaN, an infinity.
        payload::encode(&[Tensor::f32(
            vec![8],
            &[0.0, 0.0, f32::NAN, 0.0, 0.0, 0.0, 0.0, 0.0],
        )]),
        payload::encode(&[Tensor::f32(
            vec![8],
            &[f32::INFINITY, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        )]),
    ];
    for (i, resp) in bad.iter().enumerate() {
        assert_eq!(
            both_scores(&p, &plugin, &task.public, &task.private, resp),
            0.0,
            "bad response {i}"
        );
    }
    // Payloads that do not match the task's layout.
    let other = payload::encode(&[Tensor::f32(vec![7], &[0.0; 7])]);
    assert_eq!(both_scores(&p, &plugin, &other, &task.private, &good), 0.0);
    assert_eq!(both_scores(&p, &plugin, &task.public, &other, &good), 0.0);
    assert_eq!(both_scores(&p, &plugin, &task.public, &[], &good), 0.0);
}

#[test]
fn score_is_clamped() {
    for (item, expect) in [
        (s(2.0), 1.0),
        (s(-1.0), 0.0),
        (s(f64::NAN), 0.0),
        (s(0.25), 0.25),
        (s(f64::NEG_INFINITY), 0.0),
    ] {
        let mut p = Prog::default();
        let x = p.bind("x", s(1.0));
        p.send(&x, DType::U8);
        let spec = TensorSpec {
            dtype: DType::I64,
            shape: vec![],
        };
        let program = p.build(spec, |_, _, _, _| (vec![], item));
        let plugin = load(&program);
        let task = plugin.task(0, 0).unwrap();
        let resp = payload::encode(&[Tensor::i64(vec![], &[3])]);
        assert_eq!(
            both_scores(&program, &plugin, &task.public, &task.private, &resp),
            expect
        );
    }
}

#[test]
fn score_decodes_every_dtype() {
    for dtype in DType::ALL {
        let mut p = Prog::default();
        let x = p.bind("x", konst(&[3], &[1.0, 2.0, 250.0]));
        p.send(&x, dtype);
        p.keep(&x, DType::U8);
        let spec = TensorSpec {
            dtype,
            shape: vec![3],
        };
        // score = sum(response * public) / 1e6 + private[2] / 1e3
        let program = p.build(spec, |_, pubs, privs, resp| {
            let a = bin(BinOp::Div, sum(mul(resp, pubs[0].clone())), s(1e6));
            let b = bin(
                BinOp::Div,
                index(privs[0].clone(), vec![IndexItem::At(int(2))]),
                s(1e3),
            );
            (vec![], add(a, b))
        });
        let plugin = load(&program);
        let task = plugin.task(0, 0).unwrap();
        let resp = payload::encode(&[Tensor::from_bytes(
            dtype,
            vec![3],
            match dtype {
                DType::F32 => [3.0f32, 4.0, 5.0]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
                DType::F64 => [3.0f64, 4.0, 5.0]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
                DType::I32 => [3i32, -4, 5].iter().flat_map(|v| v.to_le_bytes()).collect(),
                DType::I64 => [3i64, -4, 5].iter().flat_map(|v| v.to_le_bytes()).collect(),
                DType::U8 => vec![3, 4, 5],
            },
        )
        .unwrap()]);
        let got = both_scores(&program, &plugin, &task.public, &task.private, &resp);
        assert!(got > 0.25 && got < 0.252, "{dtype}: {got}");
    }
}

// ---------------------------------------------------------------------------------------
// Reward.

fn with_reward(expr: impl FnOnce(Expr) -> Expr) -> Program {
    let mut program = sends(s(0.0));
    let incentive = VarId(program.vars.len() as u32);
    program.vars.push(VarInfo {
        name: "incentive".into(),
        ty: Ty::new(Elem::Float, vec![N]),
    });
    let v = fl(&[N], ExprKind::Var(incentive));
    program.reward = Some(Reward {
        incentive,
        expr: expr(v),
    });
    program
}

fn both_rewards(p: &Program, input: &[u16]) -> Vec<u16> {
    let ours = load(p).reward(input).expect("reward runs");
    let theirs = interp::reward(p, input).expect("the interpreter runs");
    assert_eq!(
        ours, theirs,
        "reward differs from the interpreter for {input:?}"
    );
    ours
}

#[test]
fn reward_normalizes() {
    let identity = with_reward(|v| v);
    assert_eq!(
        both_rewards(&identity, &[1, 1, 2]),
        vec![16383, 16383, 32767]
    );
    assert_eq!(both_rewards(&identity, &[0, 0]), vec![0, 0]);
    assert_eq!(both_rewards(&identity, &[]), Vec::<u16>::new());
    assert_eq!(both_rewards(&identity, &[7]), vec![65535]);
    let squared = with_reward(|v| sub(mul(v.clone(), v), s(0.01)));
    both_rewards(&squared, &[100, 20000, 65535, 0, 5]);
    let flat = with_reward(|_| s(3.0));
    assert_eq!(both_rewards(&flat, &[9, 9, 9, 9]), vec![16383; 4]);
    let top = with_reward(|v| {
        let m = reduce(ReduceOp::Max, v.clone(), None);
        let shifted = sub(v, m);
        last_axis(ExprKind::Softmax, shifted)
    });
    let big: Vec<u16> = (0..4096u32).map(|i| (i * 7919 % 65536) as u16).collect();
    both_rewards(&top, &big);
    both_rewards(&top, &[1, 2, 3]);
    let sorted = with_reward(|v| {
        let first = index(v.clone(), vec![slice(0, 2, 1)]);
        let head = sum(first);
        add(last_axis(ExprKind::Sort, v), head)
    });
    both_rewards(&sorted, &[5, 1, 4, 3]);
    assert!(
        load(&sorted).reward(&[5]).is_err(),
        "a slice beyond N traps"
    );
    assert!(interp::reward(&sorted, &[5]).is_err());
    assert!(!load(&sends(s(0.0))).info().has_reward);
    assert!(load(&identity).info().has_reward);
}

// ---------------------------------------------------------------------------------------
// Traps, determinism, limits, imports.

#[test]
fn out_of_range_dynamic_index_traps() {
    for pos in [3.0, -1.0, 0.5, f64::NAN] {
        let mut p = Prog::default();
        let i = p.bind("i", ex(Elem::Int, &[], ExprKind::Const(vec![pos])));
        let x = p.bind(
            "x",
            index(konst(&[3], &[1.0, 2.0, 3.0]), vec![IndexItem::At(i)]),
        );
        p.send(&x, DType::F64);
        let program = p.simple();
        let err = load(&program).task(0, 0).unwrap_err();
        assert!(matches!(err, PluginError::Trap { .. }), "{pos}: {err}");
        assert!(interp::task(&program, 0, 0).is_err());
    }
}

#[test]
fn compiling_twice_gives_the_same_bytes() {
    let p = denoise(16);
    assert_eq!(compile(&p).unwrap(), compile(&p).unwrap());
    let r = with_reward(|v| last_axis(ExprKind::Cumsum, v));
    assert_eq!(compile(&r).unwrap(), compile(&r).unwrap());
}

#[test]
fn memory_cap() {
    let big = fl(
        &[4096, 4096],
        ExprKind::Random(Dist::Uniform, vec![s(0.0), s(1.0)]),
    );
    let err = compile(&sends(big)).unwrap_err();
    assert!(
        matches!(err, CodegenError::TooMuchMemory { limit, .. } if limit == 64 << 20),
        "{err}"
    );
    let fits = fl(
        &[1024, 512],
        ExprKind::Random(Dist::Uniform, vec![s(0.0), s(1.0)]),
    );
    agree_on_tasks(&sends(fits), 0..1);
}

#[test]
fn imports_only_what_is_used() {
    let plain = load(&sends(add(s(1.0), s(2.0))));
    assert!(plain.info().imports.is_empty());
    let normal = load(&sends(random(Dist::Normal, &[2], vec![s(0.0), s(1.0)])));
    assert_eq!(normal.info().imports, vec!["ganglion::cos", "ganglion::ln"]);
    let p = denoise(8);
    assert_eq!(
        load(&p).info().imports,
        vec!["ganglion::sin", "ganglion::cos", "ganglion::ln"]
    );
}

// ---------------------------------------------------------------------------------------
// Differential: the module against the reference interpreter over many seeds.

#[test]
fn agrees_with_the_interpreter() {
    let p = denoise(64);
    agree_on_tasks(&p, 0..200);
    let plugin = load(&p);
    for seed in 0..50u64 {
        let task = plugin.task(seed, 1).unwrap();
        let noisy = decode(&task.public)[0].to_f64s();
        let guess: Vec<f32> = noisy.iter().map(|&v| (v * 0.9) as f32).collect();
        let resp = payload::encode(&[Tensor::f32(vec![64], &guess)]);
        both_scores(&p, &plugin, &task.public, &task.private, &resp);
    }
    let mut q = Prog::default();
    let a = q.bind("a", random(Dist::Normal, &[3, 4], vec![s(0.0), s(2.0)]));
    let b = q.bind("b", random(Dist::Integer, &[4, 2], vec![s(-3.0), s(4.0)]));
    let c = q.bind("c", matmul(a.clone(), b.clone()));
    let k = q.bind("k", random(Dist::Integer, &[], vec![s(0.0), s(3.0)]));
    let row = q.bind("row", index(a.clone(), vec![IndexItem::At(k.clone())]));
    let sorted = q.bind("sorted", last_axis(ExprKind::Sort, c.clone()));
    let top = q.bind("top", fl(&[3, 2], ExprKind::TopK(Box::new(c.clone()), 1)));
    let lsm = q.bind("lsm", last_axis(ExprKind::LogSoftmax, a.clone()));
    let shuffled = q.bind(
        "shuffled",
        fl(&[4, 2], ExprKind::Shuffle(Box::new(b.clone()))),
    );
    let pick = q.bind(
        "pick",
        select(
            bin(BinOp::Gt, a.clone(), s(0.0)),
            un(UnOp::Sqrt, a.clone()),
            bin(BinOp::Pow, a, s(2.0)),
        ),
    );
    let stats = q.bind(
        "stats",
        fl(
            &[3],
            ExprKind::Stack(vec![
                reduce(ReduceOp::Max, c.clone(), None),
                reduce(ReduceOp::Prod, row, None),
                bin(BinOp::Rem, k, s(2.0)),
            ]),
        ),
    );
    for (x, d) in [
        (&c, DType::F64),
        (&sorted, DType::F32),
        (&top, DType::I64),
        (&lsm, DType::F64),
        (&shuffled, DType::I32),
        (&pick, DType::F64),
        (&stats, DType::F64),
    ] {
        q.send(x, d);
    }
    q.keep(&b, DType::U8);
    agree_on_tasks(&q.simple(), 0..200);
}

#[test]
fn a_small_task_is_fast() {
    let p = denoise(64);
    let plugin = load(&p);
    plugin.task(0, 0).unwrap();
    let start = std::time::Instant::now();
    let runs = 200;
    for seed in 0..runs {
        plugin.task(seed, 0).unwrap();
    }
    let per = start.elapsed() / runs as u32;
    // Generous (debug builds, shared machines): the wasm itself takes microseconds.
    assert!(
        per < std::time::Duration::from_millis(5),
        "{per:?} per task"
    );
}

#[test]
fn reward_vectors_of_run_time_length() {
    // stacked = [v, v * v] : [2, N]; folded = sum over axis 0 : [N];
    // head = stacked[:, 0:2] : [2, 2]; best = v[argmax(v)]; looped = sum(v * i for i in 0..3).
    let p = with_reward(|v| {
        let stacked = fl(
            &[2, N],
            ExprKind::Stack(vec![v.clone(), mul(v.clone(), v.clone())]),
        );
        let folded = reduce(ReduceOp::Sum, stacked.clone(), Some(0));
        let head = index(stacked, vec![slice(0, 2, 1), slice(0, 2, 1)]);
        let at = ex(
            Elem::Int,
            &[],
            ExprKind::ArgReduce(ArgOp::ArgMax, Box::new(v.clone())),
        );
        let best = index(v.clone(), vec![IndexItem::At(at)]);
        let i = VarId(1000);
        let looped = fl(
            &[N],
            ExprKind::Loop {
                var: i,
                start: 0,
                end: 3,
                body: Box::new(mul(v.clone(), fl(&[], ExprKind::Var(i)))),
                fold: Fold::Sum,
            },
        );
        let dot = matmul(v.clone(), v.clone());
        let c = add(add(folded, looped), add(sum(head), mul(best, dot)));
        last_axis(ExprKind::Cumsum, bin(BinOp::Div, c, s(100.0)))
    });
    let mut p = p;
    while p.vars.len() <= 1000 {
        p.vars.push(VarInfo {
            name: format!("v{}", p.vars.len()),
            ty: Ty::scalar(Elem::Int),
        });
    }
    for input in [
        vec![3u16, 1, 4, 1, 5, 9, 2, 6],
        vec![65535, 0],
        vec![0, 0, 0, 7],
        (0..300u32).map(|i| (i * 31337 % 65536) as u16).collect(),
    ] {
        both_rewards(&p, &input);
    }
    // A slice of [2, N] needs N >= 2: one uid (or none) traps, as the interpreter errs.
    for input in [&[5u16][..], &[]] {
        assert!(load(&p).reward(input).is_err());
        assert!(interp::reward(&p, input).is_err());
    }
}

#[test]
fn reward_of_no_uids() {
    let folds = with_reward(|v| {
        let m = reduce(ReduceOp::Max, v.clone(), None);
        let at = ex(
            Elem::Int,
            &[],
            ExprKind::ArgReduce(ArgOp::ArgMin, Box::new(v.clone())),
        );
        let soft = last_axis(ExprKind::LogSoftmax, v.clone());
        let spread = fl(
            &[N],
            ExprKind::Binary(BinOp::Add, Box::new(s(1.0)), Box::new(v.clone())),
        );
        add(add(soft, spread), add(m, at))
    });
    assert_eq!(both_rewards(&folds, &[]), Vec::<u16>::new());
    both_rewards(&folds, &[4, 400, 40000]);
    let picked = with_reward(|v| {
        let at = ex(
            Elem::Int,
            &[],
            ExprKind::ArgReduce(ArgOp::ArgMax, Box::new(v.clone())),
        );
        mul(v.clone(), index(v, vec![IndexItem::At(at)]))
    });
    both_rewards(&picked, &[4, 400, 40000]);
    assert!(load(&picked).reward(&[]).is_err());
    assert!(interp::reward(&picked, &[]).is_err());
    let chosen = with_reward(|v| add(v.clone(), fl(&[], ExprKind::Choice(Box::new(v)))));
    both_rewards(&chosen, &[4, 400, 40000]);
    assert!(load(&chosen).reward(&[]).is_err());
    assert!(interp::reward(&chosen, &[]).is_err());
}

// ---------------------------------------------------------------------------------------
// The specs in `subnets/`: parsed, checked, compiled and run against the interpreter.

/// A few responses for a task: the public tensors cast to the expected dtype and shape where
/// they fit, the private ones likewise, and pseudo-random values.
fn responses(p: &Program, task: &ganglion_plugins::Task, seed: u64) -> Vec<Vec<u8>> {
    let spec = &p.task.expect;
    let count: usize = spec.shape.iter().product();
    let dims: Vec<u32> = spec.shape.iter().map(|&d| d as u32).collect();
    let make = |values: &[f64]| -> Vec<u8> {
        let data: Vec<u8> = match spec.dtype {
            DType::F32 => values
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes())
                .collect(),
            DType::F64 => values.iter().flat_map(|&v| v.to_le_bytes()).collect(),
            DType::I32 => values
                .iter()
                .flat_map(|&v| (v as i32).to_le_bytes())
                .collect(),
            DType::I64 => values
                .iter()
                .flat_map(|&v| (v as i64).to_le_bytes())
                .collect(),
            DType::U8 => values.iter().map(|&v| v as u8).collect(),
        };
        payload::encode(&[Tensor::from_bytes(spec.dtype, dims.clone(), data).unwrap()])
    };
    let mut out = Vec::new();
    for bytes in [&task.public, &task.private] {
        for t in decode(bytes) {
            let v = t.to_f64s();
            if v.len() == count {
                out.push(make(&v));
                let nudged: Vec<f64> = v.iter().map(|x| x * 0.97 + 0.01).collect();
                out.push(make(&nudged));
            }
        }
    }
    let mut rng = Rng::new(seed, 77);
    let noise: Vec<f64> = (0..count).map(|_| rng.uniform() * 4.0 - 2.0).collect();
    out.push(make(&noise));
    out
}

#[test]
fn subnet_specs_agree_with_the_interpreter() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../subnets");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut specs: Vec<_> = entries
        .flatten()
        .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "subnet"))
        .collect();
    specs.sort();
    for path in specs {
        // Specs that do not check (the checker is tested elsewhere) are not this test's.
        let Ok(spec) = crate::load(&path) else {
            continue;
        };
        let p = &spec.program;
        let name = path.display();
        let bytes = compile(p).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(bytes, compile(p).unwrap(), "{name}: not deterministic");
        let plugin =
            Plugin::load(&bytes, Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        for seed in 0..40u64 {
            let task = plugin
                .task(seed, seed / 3)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let (public, private) = interp::task(p, seed, seed / 3).unwrap();
            assert_eq!(
                task.public, public,
                "{name} seed {seed}: public payloads differ"
            );
            assert_eq!(
                task.private, private,
                "{name} seed {seed}: private payloads differ"
            );
            for resp in responses(p, &task, seed) {
                let ours = plugin.score(&task.public, &task.private, &resp).unwrap();
                let theirs = interp::score(p, &task.public, &task.private, &resp).unwrap();
                assert_eq!(
                    ours.to_bits(),
                    theirs.to_bits(),
                    "{name} seed {seed}: scores differ"
                );
            }
        }
        if p.reward.is_some() {
            let mut rng = Rng::new(1, 2);
            for n in [0usize, 1, 2, 5, 64, 256, 4096] {
                let input: Vec<u16> = (0..n).map(|_| (rng.uniform() * 65536.0) as u16).collect();
                let ours = plugin.reward(&input);
                let theirs = interp::reward(p, &input);
                match (ours, theirs) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{name} n {n}: rewards differ"),
                    (Err(_), Err(_)) => {}
                    (a, b) => panic!("{name} n {n}: {a:?} vs {b:?}"),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Random programs: every kind of expression over assorted shapes, module against
// interpreter.

/// A generator of random well-typed task programs (deterministic per seed).
struct Gen {
    rng: Rng,
    p: Prog,
    pool: Vec<Expr>,
}

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        ((self.rng.uniform() * n as f64) as usize).min(n - 1)
    }

    fn pick(&mut self) -> Expr {
        let i = self.below(self.pool.len());
        self.pool[i].clone()
    }

    fn pick_where(&mut self, ok: impl Fn(&[usize]) -> bool) -> Option<Expr> {
        let fits: Vec<Expr> = self
            .pool
            .iter()
            .filter(|e| ok(&e.ty.shape))
            .cloned()
            .collect();
        if fits.is_empty() {
            return None;
        }
        let i = self.below(fits.len());
        Some(fits[i].clone())
    }

    fn shape(&mut self) -> Vec<usize> {
        const SHAPES: [&[usize]; 8] =
            [&[], &[1], &[3], &[4], &[2, 3], &[3, 1], &[1, 4], &[2, 1, 3]];
        SHAPES[self.below(SHAPES.len())].to_vec()
    }

    fn constant(&mut self, shape: &[usize]) -> Expr {
        let n: usize = shape.iter().product();
        let values: Vec<f64> = (0..n)
            .map(|_| match self.below(10) {
                0 => 0.0,
                1 => -1.5,
                2 => 2.0,
                _ => ((self.rng.uniform() * 8.0 - 4.0) * 4.0).round() / 4.0,
            })
            .collect();
        konst(shape, &values)
    }

    fn broadcastable(a: &[usize], b: &[usize]) -> bool {
        a.iter()
            .rev()
            .zip(b.iter().rev())
            .all(|(&x, &y)| x == y || x == 1 || y == 1)
    }

    /// One new expression from the pool.
    fn expr(&mut self) -> Expr {
        loop {
            if let Some(e) = self.try_expr() {
                return e;
            }
        }
    }

    fn try_expr(&mut self) -> Option<Expr> {
        const UNARY: [UnOp; 14] = [
            UnOp::Neg,
            UnOp::Not,
            UnOp::Abs,
            UnOp::Sqrt,
            UnOp::Floor,
            UnOp::Ceil,
            UnOp::Trunc,
            UnOp::Round,
            UnOp::Exp,
            UnOp::Ln,
            UnOp::Sin,
            UnOp::Cos,
            UnOp::Tan,
            UnOp::Tanh,
        ];
        const BINARY: [BinOp; 16] = [
            BinOp::Add,
            BinOp::Sub,
            BinOp::Mul,
            BinOp::Div,
            BinOp::Pow,
            BinOp::Rem,
            BinOp::Min,
            BinOp::Max,
            BinOp::Eq,
            BinOp::Ne,
            BinOp::Lt,
            BinOp::Le,
            BinOp::Gt,
            BinOp::Ge,
            BinOp::And,
            BinOp::Or,
        ];
        const REDUCE: [ReduceOp; 4] = [ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min];
        let e = match self.below(19) {
            0 => {
                let s = self.shape();
                self.constant(&s)
            }
            1 => {
                let op = UNARY[self.below(UNARY.len())];
                un(op, self.pick())
            }
            2 | 3 => {
                let a = self.pick();
                let b = self.pick_where(|s| Self::broadcastable(&a.ty.shape, s))?;
                let op = BINARY[self.below(BINARY.len())];
                if self.below(2) == 0 {
                    bin(op, a, b)
                } else {
                    bin(op, b, a)
                }
            }
            4 => {
                let c = self.pick();
                let a = self.pick_where(|s| Self::broadcastable(&c.ty.shape, s))?;
                let both = broadcast(&c.ty.shape, &a.ty.shape);
                let b = self.pick_where(|s| Self::broadcastable(&both, s))?;
                select(c, a, b)
            }
            5 => {
                let x = self.pick();
                let op = REDUCE[self.below(4)];
                let rank = x.ty.shape.len();
                let axis = match self.below(rank + 1) {
                    0 => None,
                    a => Some(a - 1),
                };
                reduce(op, x, axis)
            }
            6 => {
                let x = self.pick_where(|s| !s.is_empty())?;
                let op = if self.below(2) == 0 {
                    ArgOp::ArgMax
                } else {
                    ArgOp::ArgMin
                };
                let shape = x.ty.shape[..x.ty.shape.len() - 1].to_vec();
                ex(Elem::Int, &shape, ExprKind::ArgReduce(op, Box::new(x)))
            }
            7 => {
                let a = self.pick_where(|s| s.len() == 1 || s.len() == 2)?;
                let k = *a.ty.shape.last().unwrap();
                let b = self.pick_where(|s| (s.len() == 1 || s.len() == 2) && s[0] == k)?;
                matmul(a, b)
            }
            8 => {
                let kinds: [fn(Box<Expr>) -> ExprKind; 4] = [
                    ExprKind::Softmax,
                    ExprKind::LogSoftmax,
                    ExprKind::Cumsum,
                    ExprKind::Sort,
                ];
                let kind = kinds[self.below(4)];
                last_axis(kind, self.pick())
            }
            9 => {
                let x = self.pick();
                let k = self.below(6);
                let shape = x.ty.shape.clone();
                fl(&shape, ExprKind::TopK(Box::new(x), k))
            }
            10 | 11 => {
                let x = self.pick_where(|s| !s.is_empty())?;
                let count = 1 + self.below(x.ty.shape.len());
                let mut items = Vec::new();
                for d in 0..count {
                    let dim = x.ty.shape[d];
                    items.push(match self.below(3) {
                        0 => IndexItem::At(int(self.below(dim) as i64)),
                        1 => IndexItem::At(ex(
                            Elem::Int,
                            &[],
                            ExprKind::Random(Dist::Integer, vec![s(0.0), s(dim as f64)]),
                        )),
                        _ => {
                            let start = self.below(dim);
                            let stop = start + 1 + self.below(dim - start);
                            slice(start, stop, 1 + self.below(2))
                        }
                    });
                }
                index(x, items)
            }
            12 => {
                let x = self.pick();
                let n: usize = x.ty.shape.iter().product();
                let shape = match (n, self.below(2)) {
                    (6, 0) => vec![3, 2],
                    (6, _) => vec![6, 1],
                    (4, _) => vec![2, 2],
                    (3, _) => vec![1, 3],
                    _ => vec![n],
                };
                fl(&shape, ExprKind::Reshape(Box::new(x)))
            }
            13 => {
                let a = self.pick_where(|s| !s.is_empty())?;
                let axis = self.below(a.ty.shape.len());
                let sa = a.ty.shape.clone();
                let b = self.pick_where(|s| {
                    s.len() == sa.len() && (0..s.len()).all(|d| d == axis || s[d] == sa[d])
                })?;
                let mut shape = sa.clone();
                shape[axis] += 2 * b.ty.shape[axis];
                fl(&shape, ExprKind::Concat(vec![a, b.clone(), b], axis))
            }
            14 => {
                let a = self.pick();
                let sa = a.ty.shape.clone();
                let b = self.pick_where(|s| s == sa.as_slice())?;
                let mut shape = vec![3];
                shape.extend_from_slice(&sa);
                fl(&shape, ExprKind::Stack(vec![a.clone(), b, a]))
            }
            15 => {
                let shape = self.shape();
                match self.below(4) {
                    0 => random(Dist::Uniform, &shape, vec![s(-2.0), s(3.0)]),
                    1 => random(
                        Dist::Normal,
                        &shape,
                        vec![self.pick_where(|s| s.is_empty())?, s(0.5)],
                    ),
                    2 => random(Dist::Integer, &shape, vec![s(-3.0), s(5.0)]),
                    _ => random(Dist::Bernoulli, &shape, vec![s(0.4)]),
                }
            }
            16 => {
                let x = self.pick_where(|s| !s.is_empty())?;
                let shape = x.ty.shape.clone();
                if self.below(2) == 0 {
                    fl(&shape, ExprKind::Shuffle(Box::new(x)))
                } else {
                    fl(&shape[1..], ExprKind::Choice(Box::new(x)))
                }
            }
            17 => {
                let i = self.p.var("i", Ty::scalar(Elem::Int));
                let x = self.pick_where(|s| !s.is_empty())?;
                let len = x.ty.shape[0];
                let iv = fl(&[], ExprKind::Var(i));
                let body = add(
                    index(x.clone(), vec![IndexItem::At(iv.clone())]),
                    mul(iv, s(0.5)),
                );
                let body_shape = body.ty.shape.clone();
                let fold = if self.below(2) == 0 {
                    Fold::Sum
                } else {
                    Fold::Stack
                };
                let shape = match fold {
                    Fold::Sum => body_shape,
                    Fold::Stack => [vec![len], body_shape].concat(),
                };
                fl(
                    &shape,
                    ExprKind::Loop {
                        var: i,
                        start: 0,
                        end: len as i64,
                        body: Box::new(body),
                        fold,
                    },
                )
            }
            _ => {
                let x = self.pick();
                let shape = x.ty.shape.clone();
                let t = self.p.var("t", Ty::new(Elem::Float, shape.clone()));
                let tv = fl(&shape, ExprKind::Var(t));
                fl(
                    &shape,
                    ExprKind::With {
                        var: t,
                        value: Box::new(un(UnOp::Neg, x)),
                        body: Box::new(mul(tv.clone(), tv)),
                    },
                )
            }
        };
        Some(e)
    }
}

#[test]
fn random_programs_agree_with_the_interpreter() {
    for case in 0..150u64 {
        let mut g = Gen {
            rng: Rng::new(case, 0xC0DE),
            p: Prog::default(),
            pool: Vec::new(),
        };
        for _ in 0..2 {
            let shape = g.shape();
            let c = g.constant(&shape);
            let v = g.p.bind("c", c);
            g.pool.push(v);
        }
        let s0 = g.p.bind("s", s(0.75));
        g.pool.push(s0);
        for _ in 0..12 {
            let e = g.expr();
            let v = g.p.bind("x", e);
            g.pool.push(v);
        }
        let outputs: Vec<Expr> = g.pool.clone();
        for (i, x) in outputs.iter().enumerate() {
            let dtype = DType::ALL[(case as usize + i) % 5];
            if i % 2 == 0 {
                g.p.send(x, dtype);
            } else {
                g.p.keep(x, dtype);
            }
        }
        let program = g.p.simple();
        let bytes = compile(&program).unwrap_or_else(|e| panic!("case {case}: {e}"));
        let plugin = Plugin::load(&bytes, Limits::default()).unwrap();
        for seed in 0..4u64 {
            let ours = plugin.task(seed, case);
            let theirs = interp::task(&program, seed, case);
            match (ours, theirs) {
                (Ok(t), Ok((public, private))) => {
                    assert_eq!(t.public, public, "case {case} seed {seed}: public differs");
                    assert_eq!(
                        t.private, private,
                        "case {case} seed {seed}: private differs"
                    );
                }
                (Err(_), Err(_)) => {}
                (a, b) => panic!("case {case} seed {seed}: {a:?} vs {b:?}"),
            }
        }
    }
}

#[test]
fn random_rewards_agree_with_the_interpreter() {
    for case in 0..100u64 {
        let mut rng = Rng::new(case, 0xBEEF);
        let mut below = move |n: usize| ((rng.uniform() * n as f64) as usize).min(n - 1);
        let mut extra_vars = Vec::new();
        let program = with_reward(|v| {
            let mut pool = vec![v, s(0.5), konst(&[1], &[2.0])];
            for _ in 0..8 {
                let a = pool[below(pool.len())].clone();
                let vector = |e: &Expr| e.ty.shape == [N];
                let e = match below(9) {
                    0 => un([UnOp::Exp, UnOp::Sqrt, UnOp::Neg, UnOp::Tanh][below(4)], a),
                    1 | 2 => {
                        let b = pool[below(pool.len())].clone();
                        let op =
                            [BinOp::Add, BinOp::Mul, BinOp::Sub, BinOp::Max, BinOp::Pow][below(5)];
                        let shape = if vector(&a) || vector(&b) {
                            vec![N]
                        } else {
                            broadcast(&a.ty.shape, &b.ty.shape)
                        };
                        fl(&shape, ExprKind::Binary(op, Box::new(a), Box::new(b)))
                    }
                    3 => reduce(
                        [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min][below(3)],
                        a,
                        None,
                    ),
                    4 if vector(&a) => {
                        let kinds: [fn(Box<Expr>) -> ExprKind; 4] = [
                            ExprKind::Softmax,
                            ExprKind::LogSoftmax,
                            ExprKind::Cumsum,
                            ExprKind::Sort,
                        ];
                        last_axis(kinds[below(4)], a)
                    }
                    5 if vector(&a) => fl(&[N], ExprKind::TopK(Box::new(a), below(4))),
                    6 if vector(&a) => {
                        let stacked = fl(&[2, N], ExprKind::Stack(vec![a.clone(), mul(a, s(2.0))]));
                        match below(3) {
                            0 => reduce(ReduceOp::Sum, stacked, Some(0)),
                            1 => index(stacked, vec![IndexItem::At(int(1))]),
                            _ => reduce(
                                ReduceOp::Max,
                                index(stacked, vec![slice(0, 2, 1), slice(0, 1, 1)]),
                                None,
                            ),
                        }
                    }
                    7 if vector(&a) => {
                        let at = ex(
                            Elem::Int,
                            &[],
                            ExprKind::ArgReduce(ArgOp::ArgMax, Box::new(a.clone())),
                        );
                        add(
                            matmul(a.clone(), a.clone()),
                            index(a, vec![IndexItem::At(at)]),
                        )
                    }
                    8 if vector(&a) => {
                        let i = VarId(2000 + extra_vars.len() as u32);
                        extra_vars.push(i);
                        fl(
                            &[N],
                            ExprKind::Loop {
                                var: i,
                                start: 1,
                                end: 4,
                                body: Box::new(fl(
                                    &[N],
                                    ExprKind::Binary(
                                        BinOp::Div,
                                        Box::new(a),
                                        Box::new(fl(&[], ExprKind::Var(i))),
                                    ),
                                )),
                                fold: Fold::Sum,
                            },
                        )
                    }
                    _ => a,
                };
                pool.push(e);
            }
            let last = pool
                .iter()
                .rev()
                .find(|e| e.ty.shape == [N] || e.ty.shape.is_empty());
            last.cloned().unwrap_or_else(|| pool[0].clone())
        });
        let mut program = program;
        while program.vars.len() < 2100 {
            program.vars.push(VarInfo {
                name: "i".into(),
                ty: Ty::scalar(Elem::Int),
            });
        }
        let plugin = load(&program);
        let mut rng = Rng::new(case, 1);
        for n in [0usize, 1, 3, 17, 64] {
            let input: Vec<u16> = (0..n).map(|_| (rng.uniform() * 65536.0) as u16).collect();
            match (plugin.reward(&input), interp::reward(&program, &input)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "case {case} n {n}"),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("case {case} n {n}: {a:?} vs {b:?}"),
            }
        }
    }
}
