use super::*;
use crate::ir::{
    ArgOp, BinOp, Elem, Meta, ReduceOp, Reward, Score, Smooth, Task, Ty, UnOp, VarInfo,
};
use crate::rng::Rng;
use proptest::prelude::*;

// ---- building expressions ----

fn at(start: usize) -> Span {
    Span::new(start, start + 1)
}

fn ex(elem: Elem, shape: &[usize], kind: ExprKind) -> Expr {
    Expr {
        ty: Ty::new(elem, shape.to_vec()),
        kind,
        span: Span::default(),
    }
}

/// A float constant.
fn cf(shape: &[usize], data: &[f64]) -> Expr {
    ex(Elem::Float, shape, ExprKind::Const(data.to_vec()))
}

/// A float scalar.
fn sf(x: f64) -> Expr {
    cf(&[], &[x])
}

/// An int scalar.
fn si(x: i64) -> Expr {
    ex(Elem::Int, &[], ExprKind::Const(vec![x as f64]))
}

fn var(id: VarId, elem: Elem, shape: &[usize]) -> Expr {
    ex(elem, shape, ExprKind::Var(id))
}

fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    let shape = ops::broadcast_shape(&a.ty.shape, &b.ty.shape).unwrap();
    ex(
        Elem::Float,
        &shape,
        ExprKind::Binary(op, Box::new(a), Box::new(b)),
    )
}

fn un(op: UnOp, a: Expr) -> Expr {
    let shape = a.ty.shape.clone();
    ex(Elem::Float, &shape, ExprKind::Unary(op, Box::new(a)))
}

fn reduce(op: ReduceOp, a: Expr, axis: Option<usize>) -> Expr {
    let mut shape = a.ty.shape.clone();
    match axis {
        Some(k) => {
            shape.remove(k);
        }
        None => shape.clear(),
    }
    let arg = Box::new(a);
    ex(Elem::Float, &shape, ExprKind::Reduce { op, arg, axis })
}

/// An expression that keeps its argument's shape.
fn same(a: Expr, f: impl FnOnce(Box<Expr>) -> ExprKind) -> Expr {
    let shape = a.ty.shape.clone();
    ex(Elem::Float, &shape, f(Box::new(a)))
}

fn random(dist: Dist, params: Vec<Expr>, shape: &[usize]) -> Expr {
    ex(Elem::Float, shape, ExprKind::Random(dist, params))
}

// ---- building programs ----

fn empty_program() -> Program {
    program(vec![], &[], &[], (DType::F64, &[]), |_, _, _| sf(0.5))
}

/// A program whose task binds `lets` to variables 0.., sends and keeps some of them, and
/// whose score item is built from the public, private and response variables.
fn program(
    lets: Vec<Expr>,
    send: &[(usize, DType)],
    keep: &[(usize, DType)],
    expect: (DType, &[usize]),
    item: impl FnOnce(&[Expr], &[Expr], Expr) -> Expr,
) -> Program {
    let mut vars = Vec::new();
    let mut add = |name: String, ty: Ty| {
        vars.push(VarInfo { name, ty });
        VarId(vars.len() as u32 - 1)
    };
    let task_vars: Vec<(VarId, Ty)> = lets
        .iter()
        .enumerate()
        .map(|(i, e)| (add(format!("t{i}"), e.ty.clone()), e.ty.clone()))
        .collect();
    let outputs = |list: &[(usize, DType)]| -> Vec<Output> {
        list.iter()
            .map(|&(i, dtype)| Output {
                name: format!("t{i}"),
                var: task_vars[i].0,
                dtype,
                shape: task_vars[i].1.shape.clone(),
                span: at(i),
            })
            .collect()
    };
    let (send, keep) = (outputs(send), outputs(keep));
    let mut inputs = |list: &[Output], prefix: &str| -> (Vec<VarId>, Vec<Expr>) {
        list.iter()
            .map(|o| {
                let ty = task_vars
                    .iter()
                    .find(|(v, _)| *v == o.var)
                    .unwrap()
                    .1
                    .clone();
                let id = add(format!("{prefix}{}", o.name), ty.clone());
                (id, var(id, ty.elem, &ty.shape))
            })
            .unzip()
    };
    let (public, public_exprs) = inputs(&send, "public.");
    let (private, private_exprs) = inputs(&keep, "private.");
    let response = add("response".into(), Ty::new(Elem::Float, expect.1.to_vec()));
    let item = item(
        &public_exprs,
        &private_exprs,
        var(response, Elem::Float, expect.1),
    );
    let lets = task_vars
        .iter()
        .zip(lets)
        .map(|(&(var, _), value)| Let { var, value })
        .collect();
    Program {
        meta: Meta {
            name: "test".into(),
            version: "0.1.0".into(),
            summary: "a test".into(),
        },
        vars,
        data: vec![],
        task: Task {
            lets,
            send,
            keep,
            expect: TensorSpec {
                dtype: expect.0,
                shape: expect.1.to_vec(),
            },
            timeout_ms: 1000,
        },
        score: Score {
            public,
            private,
            response,
            lets: vec![],
            item,
            smooth: Smooth::Last,
        },
        params: vec![],
        reward: None,
    }
}

/// `program` with a reward rule built from the incentive vector.
fn with_reward(mut p: Program, rule: impl FnOnce(Expr) -> Expr) -> Program {
    p.vars.push(VarInfo {
        name: "incentive".into(),
        ty: Ty::new(Elem::Float, vec![N]),
    });
    let incentive = VarId(p.vars.len() as u32 - 1);
    let expr = rule(var(incentive, Elem::Float, &[N]));
    p.reward = Some(Reward { incentive, expr });
    p
}

/// Evaluates one expression (random draws from seed 1, round 2).
fn eval(e: &Expr) -> Result<Value, EvalError> {
    let p = empty_program();
    Machine::new(&p, Rng::new(1, 2), None).eval(e)
}

fn value(e: &Expr) -> Value {
    eval(e).unwrap()
}

fn vals(e: &Expr) -> Vec<f64> {
    value(e).data
}

/// The single tensor of a one-tensor payload, as f64s.
fn one_tensor(bytes: &[u8]) -> Tensor {
    let mut ts = payload::decode(bytes).unwrap();
    assert_eq!(ts.len(), 1);
    ts.pop().unwrap()
}

// ---- elementwise ----

#[test]
fn binary_ops_broadcast() {
    let m = cf(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let row = cf(&[3], &[10.0, 20.0, 30.0]);
    let v = value(&bin(BinOp::Add, m.clone(), row));
    assert_eq!(v.shape, vec![2, 3]);
    assert_eq!(v.data, vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);

    let col = cf(&[2, 1], &[1.0, 2.0]);
    let line = cf(&[1, 3], &[1.0, 10.0, 100.0]);
    let v = value(&bin(BinOp::Mul, col, line));
    assert_eq!(v.shape, vec![2, 3]);
    assert_eq!(v.data, vec![1.0, 10.0, 100.0, 2.0, 20.0, 200.0]);

    let v = value(&bin(BinOp::Sub, sf(1.0), cf(&[2], &[0.5, 4.0])));
    assert_eq!(v.data, vec![0.5, -3.0]);
    assert_eq!(vals(&bin(BinOp::Div, m, sf(2.0)))[..2], [0.5, 1.0]);
}

#[test]
fn rem_min_max_comparisons_and_logic() {
    let a = cf(&[4], &[-7.0, 7.0, 7.5, f64::NAN]);
    let b = cf(&[4], &[3.0, -3.0, 2.0, 1.0]);
    let r = vals(&bin(BinOp::Rem, a.clone(), b.clone()));
    assert_eq!(r[..3], [2.0, -2.0, 1.5]);
    assert!(r[3].is_nan());

    // Compare-and-select: the first operand wins unless the second compares strictly.
    let min = vals(&bin(BinOp::Min, a.clone(), b.clone()));
    assert_eq!(min[..3], [-7.0, -3.0, 2.0]);
    assert!(min[3].is_nan());
    let max = vals(&bin(BinOp::Max, b.clone(), a.clone()));
    assert_eq!(max[..3], [3.0, 7.0, 7.5]);
    assert_eq!(max[3], 1.0);
    let zeros = vals(&bin(BinOp::Max, cf(&[1], &[0.0]), cf(&[1], &[-0.0])));
    assert_eq!(zeros[0].to_bits(), 0.0f64.to_bits());

    let x = cf(&[3], &[1.0, 2.0, f64::NAN]);
    let y = cf(&[3], &[2.0, 2.0, f64::NAN]);
    let cmp = |op| vals(&bin(op, x.clone(), y.clone()));
    assert_eq!(cmp(BinOp::Eq), [0.0, 1.0, 0.0]);
    assert_eq!(cmp(BinOp::Ne), [1.0, 0.0, 1.0]);
    assert_eq!(cmp(BinOp::Lt), [1.0, 0.0, 0.0]);
    assert_eq!(cmp(BinOp::Le), [1.0, 1.0, 0.0]);
    assert_eq!(cmp(BinOp::Gt), [0.0, 0.0, 0.0]);
    assert_eq!(cmp(BinOp::Ge), [0.0, 1.0, 0.0]);

    let p = cf(&[4], &[0.0, 0.0, 1.0, 5.0]);
    let q = cf(&[4], &[0.0, -2.0, 0.0, f64::NAN]);
    assert_eq!(
        vals(&bin(BinOp::And, p.clone(), q.clone())),
        [0.0, 0.0, 0.0, 1.0]
    );
    assert_eq!(vals(&bin(BinOp::Or, p.clone(), q)), [0.0, 1.0, 1.0, 1.0]);
    assert_eq!(vals(&un(UnOp::Not, p)), [1.0, 1.0, 0.0, 0.0]);
}

#[test]
fn unary_ops() {
    let x = cf(&[4], &[-1.5, 2.5, 0.5, -0.5]);
    assert_eq!(vals(&un(UnOp::Round, x.clone())), [-2.0, 2.0, 0.0, -0.0]);
    assert_eq!(vals(&un(UnOp::Floor, x.clone())), [-2.0, 2.0, 0.0, -1.0]);
    assert_eq!(vals(&un(UnOp::Ceil, x.clone())), [-1.0, 3.0, 1.0, -0.0]);
    assert_eq!(vals(&un(UnOp::Trunc, x.clone())), [-1.0, 2.0, 0.0, -0.0]);
    assert_eq!(vals(&un(UnOp::Abs, x.clone())), [1.5, 2.5, 0.5, 0.5]);
    assert_eq!(vals(&un(UnOp::Neg, x)), [1.5, -2.5, -0.5, 0.5]);
    let y = cf(&[2], &[0.25, 4.0]);
    assert_eq!(vals(&un(UnOp::Sqrt, y.clone())), [0.5, 2.0]);
    assert_eq!(
        vals(&un(UnOp::Exp, y.clone())),
        [libm::exp(0.25), libm::exp(4.0)]
    );
    assert_eq!(
        vals(&un(UnOp::Ln, y.clone())),
        [libm::log(0.25), libm::log(4.0)]
    );
    assert_eq!(vals(&un(UnOp::Tanh, y.clone()))[1], libm::tanh(4.0));
    assert_eq!(vals(&bin(BinOp::Pow, y, sf(0.5))), [0.5, 2.0]);
}

#[test]
fn select_broadcasts_all_three() {
    let c = cf(&[2, 1], &[1.0, 0.0]);
    let a = cf(&[3], &[1.0, 2.0, 3.0]);
    let e = ex(
        Elem::Float,
        &[2, 3],
        ExprKind::Select(Box::new(c), Box::new(a), Box::new(sf(-1.0))),
    );
    assert_eq!(vals(&e), [1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
}

// ---- folds ----

#[test]
fn reductions_with_and_without_axis() {
    let m = cf(&[2, 3], &[1.0, 5.0, 3.0, 4.0, 2.0, 6.0]);
    let v = value(&reduce(ReduceOp::Sum, m.clone(), Some(0)));
    assert_eq!((v.shape, v.data), (vec![3], vec![5.0, 7.0, 9.0]));
    let v = value(&reduce(ReduceOp::Max, m.clone(), Some(1)));
    assert_eq!((v.shape, v.data), (vec![2], vec![5.0, 6.0]));
    assert_eq!(
        vals(&reduce(ReduceOp::Min, m.clone(), Some(0))),
        [1.0, 2.0, 3.0]
    );
    assert_eq!(vals(&reduce(ReduceOp::Prod, m.clone(), None)), [720.0]);
    assert_eq!(vals(&reduce(ReduceOp::Sum, m.clone(), None)), [21.0]);
    let t = cf(&[2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let v = value(&reduce(ReduceOp::Sum, t, Some(1)));
    assert_eq!((v.shape, v.data), (vec![2, 2], vec![4.0, 6.0, 12.0, 14.0]));

    // Max starts at element 0 and keeps it against a NaN; a NaN first sticks.
    let late = cf(&[3], &[1.0, f64::NAN, 0.5]);
    assert_eq!(vals(&reduce(ReduceOp::Max, late, None)), [1.0]);
    let first = cf(&[2], &[f64::NAN, 3.0]);
    assert!(vals(&reduce(ReduceOp::Max, first, None))[0].is_nan());
    // A sum starts at +0.0: the sum of -0.0 is +0.0.
    let neg = vals(&reduce(ReduceOp::Sum, cf(&[1], &[-0.0]), None));
    assert_eq!(neg[0].to_bits(), 0.0f64.to_bits());

    let ties = cf(&[2, 3], &[1.0, 3.0, 3.0, 2.0, 0.0, 0.0]);
    let arg = |op| {
        let e = ex(
            Elem::Int,
            &[2],
            ExprKind::ArgReduce(op, Box::new(ties.clone())),
        );
        vals(&e)
    };
    assert_eq!(arg(ArgOp::ArgMax), [1.0, 0.0]);
    assert_eq!(arg(ArgOp::ArgMin), [0.0, 1.0]);
}

#[test]
fn matmul_shapes() {
    let mm = |a: Expr, b: Expr, shape: &[usize]| {
        let v = value(&ex(
            Elem::Float,
            shape,
            ExprKind::MatMul(Box::new(a), Box::new(b)),
        ));
        assert_eq!(v.shape, shape);
        v.data
    };
    let a = cf(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = cf(&[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
    let k = cf(&[3], &[1.0, 0.0, -1.0]);
    assert_eq!(
        mm(a.clone(), b.clone(), &[2, 2]),
        [58.0, 64.0, 139.0, 154.0]
    );
    assert_eq!(mm(k.clone(), k.clone(), &[]), [2.0]);
    assert_eq!(mm(k.clone(), b, &[2]), [-4.0, -4.0]);
    assert_eq!(mm(a, k.clone(), &[2]), [-2.0, -2.0]);
    let bad = ex(
        Elem::Float,
        &[],
        ExprKind::MatMul(Box::new(k), Box::new(cf(&[2], &[1.0, 2.0]))),
    );
    assert!(matches!(eval(&bad), Err(EvalError::ShapeMismatch { .. })));
}

#[test]
fn softmax_by_hand() {
    let x = cf(&[2, 3], &[1.0, 2.0, 3.0, -1.0, -1.0, 1000.0]);
    let v = value(&same(x.clone(), ExprKind::Softmax));
    assert_eq!(v.shape, vec![2, 3]);
    for row in v.data.chunks(3) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    let e = [libm::exp(-2.0), libm::exp(-1.0), libm::exp(0.0)];
    let s = 0.0 + e[0] + e[1] + e[2];
    assert_eq!(v.data[..3], [e[0] / s, e[1] / s, e[2] / s]);
    assert_eq!(v.data[3..], [0.0, 0.0, 1.0]);

    let l = value(&same(x, ExprKind::LogSoftmax));
    let ln_s = libm::log(s);
    assert_eq!(
        l.data[..3],
        [(1.0 - 3.0) - ln_s, (2.0 - 3.0) - ln_s, (3.0 - 3.0) - ln_s]
    );
    assert_eq!(l.data[5], 0.0);
}

#[test]
fn sort_cumsum_topk() {
    let x = cf(&[2, 4], &[3.0, 1.0, 2.0, 1.0, -1.0, 5.0, -3.0, 0.0]);
    assert_eq!(
        vals(&same(x.clone(), ExprKind::Sort)),
        [1.0, 1.0, 2.0, 3.0, -3.0, -1.0, 0.0, 5.0]
    );
    assert_eq!(
        vals(&same(x, ExprKind::Cumsum)),
        [3.0, 4.0, 6.0, 7.0, -1.0, 4.0, 1.0, 1.0]
    );
    // The insertion sort never moves a value past a NaN (comparisons with it are false).
    let nan = vals(&same(cf(&[4], &[2.0, f64::NAN, 1.0, 0.5]), ExprKind::Sort));
    assert_eq!(nan[0], 2.0);
    assert!(nan[1].is_nan());
    assert_eq!(nan[2..], [0.5, 1.0]);

    let topk =
        |data: &[f64], k: usize| vals(&same(cf(&[data.len()], data), |b| ExprKind::TopK(b, k)));
    assert_eq!(topk(&[1.0, 3.0, 3.0, 2.0], 2), [0.0, 3.0, 3.0, 0.0]);
    assert_eq!(topk(&[1.0, 3.0, 3.0, 2.0], 1), [0.0, 3.0, 0.0, 0.0]);
    assert_eq!(topk(&[5.0, 5.0, 5.0], 2), [5.0, 5.0, 0.0]);
    assert_eq!(topk(&[-1.0, -2.0], 5), [-1.0, -2.0]);
}

// ---- structure ----

#[test]
fn index_at_and_slice() {
    let x = cf(&[3, 4], &(0..12).map(f64::from).collect::<Vec<_>>());
    let row = ex(
        Elem::Float,
        &[4],
        ExprKind::Index(Box::new(x.clone()), vec![IndexItem::At(si(1))]),
    );
    assert_eq!(vals(&row), [4.0, 5.0, 6.0, 7.0]);
    let items = vec![
        IndexItem::Slice {
            start: 0,
            stop: 3,
            step: 2,
        },
        IndexItem::Slice {
            start: 1,
            stop: 4,
            step: 2,
        },
    ];
    let v = value(&ex(
        Elem::Float,
        &[2, 2],
        ExprKind::Index(Box::new(x.clone()), items),
    ));
    assert_eq!((v.shape, v.data), (vec![2, 2], vec![1.0, 3.0, 9.0, 11.0]));
    let items = vec![
        IndexItem::Slice {
            start: 1,
            stop: 3,
            step: 1,
        },
        IndexItem::At(si(3)),
    ];
    assert_eq!(
        vals(&ex(
            Elem::Float,
            &[2],
            ExprKind::Index(Box::new(x.clone()), items)
        )),
        [7.0, 11.0]
    );

    let mut bad = si(3);
    bad.span = Span::new(10, 12);
    let e = ex(
        Elem::Float,
        &[4],
        ExprKind::Index(Box::new(x.clone()), vec![IndexItem::At(bad)]),
    );
    assert_eq!(
        eval(&e),
        Err(EvalError::IndexOutOfRange {
            index: 3.0,
            len: 3,
            span: Span::new(10, 12)
        })
    );
    for p in [-1.0, 0.5, f64::NAN, f64::INFINITY] {
        let pos = ex(Elem::Int, &[], ExprKind::Const(vec![p]));
        let e = ex(
            Elem::Float,
            &[4],
            ExprKind::Index(Box::new(x.clone()), vec![IndexItem::At(pos)]),
        );
        assert!(matches!(
            eval(&e),
            Err(EvalError::IndexOutOfRange { len: 3, .. })
        ));
    }
}

#[test]
fn reshape_concat_stack() {
    let x = cf(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let r = value(&ex(
        Elem::Float,
        &[3, 2],
        ExprKind::Reshape(Box::new(x.clone())),
    ));
    assert_eq!(
        (r.shape, r.data),
        (vec![3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    let y = cf(&[2, 1], &[7.0, 8.0]);
    let c = value(&ex(
        Elem::Float,
        &[2, 4],
        ExprKind::Concat(vec![x.clone(), y], 1),
    ));
    assert_eq!(c.shape, vec![2, 4]);
    assert_eq!(c.data, [1.0, 2.0, 3.0, 7.0, 4.0, 5.0, 6.0, 8.0]);
    let c = value(&ex(
        Elem::Float,
        &[4, 3],
        ExprKind::Concat(vec![x.clone(), x.clone()], 0),
    ));
    assert_eq!(c.shape, vec![4, 3]);
    assert_eq!(c.data[6..], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let s = value(&ex(
        Elem::Float,
        &[2, 2, 3],
        ExprKind::Stack(vec![x.clone(), x]),
    ));
    assert_eq!(s.shape, vec![2, 2, 3]);
    assert_eq!(s.data.len(), 12);
}

#[test]
fn loops_sum_and_stack() {
    let p = empty_program();
    let mut m = Machine::new(&p, Rng::new(0, 0), None);
    m.env.push(None);
    let i = VarId(m.env.len() as u32 - 1);
    // sum over i in 0..4 of [i, i * i]
    let body = ex(
        Elem::Float,
        &[2],
        ExprKind::Stack(vec![
            var(i, Elem::Int, &[]),
            bin(BinOp::Mul, var(i, Elem::Int, &[]), var(i, Elem::Int, &[])),
        ]),
    );
    let looped = |fold, shape: &[usize]| {
        let kind = ExprKind::Loop {
            var: i,
            start: 0,
            end: 4,
            body: Box::new(body.clone()),
            fold,
        };
        ex(Elem::Float, shape, kind)
    };
    let v = m.eval(&looped(Fold::Sum, &[2])).unwrap();
    assert_eq!((v.shape, v.data), (vec![2], vec![6.0, 14.0]));
    let v = m.eval(&looped(Fold::Stack, &[4, 2])).unwrap();
    assert_eq!(v.shape, vec![4, 2]);
    assert_eq!(v.data, [0.0, 0.0, 1.0, 1.0, 2.0, 4.0, 3.0, 9.0]);

    // The sum starts from +0.0, so summing -0.0 gives +0.0.
    let kind = ExprKind::Loop {
        var: i,
        start: -2,
        end: -1,
        body: Box::new(sf(-0.0)),
        fold: Fold::Sum,
    };
    let v = m.eval(&ex(Elem::Float, &[], kind)).unwrap();
    assert_eq!(v.data[0].to_bits(), 0.0f64.to_bits());
}

// ---- randomness ----

fn draws(e: Expr, seed: u64) -> Vec<u8> {
    let p = program(
        vec![e],
        &[(0, DType::F64)],
        &[],
        (DType::F64, &[]),
        |_, _, _| sf(1.0),
    );
    task(&p, seed, 0).unwrap().0
}

#[test]
fn random_is_deterministic_per_seed() {
    let uniform = random(Dist::Uniform, vec![sf(-1.0), sf(1.0)], &[8]);
    let normal = random(Dist::Normal, vec![sf(0.0), sf(1.0)], &[2, 4]);
    for e in [uniform, normal] {
        assert_eq!(draws(e.clone(), 5), draws(e.clone(), 5));
        assert_ne!(draws(e.clone(), 5), draws(e.clone(), 6));
    }
}

#[test]
fn draws_follow_the_documented_formulas() {
    let mut rng = Rng::new(1, 2);
    let (u1, u2, u3) = (rng.uniform(), rng.uniform(), rng.uniform());
    let normal = vals(&random(Dist::Normal, vec![sf(1.0), sf(2.0)], &[]))[0];
    let r = (-2.0 * libm::log(1.0 - u1)).sqrt();
    assert_eq!(std::f64::consts::TAU.to_bits(), 0x4019_21FB_5444_2D18);
    let z = r * libm::cos(std::f64::consts::TAU * u2);
    assert_eq!(normal, 1.0 + 2.0 * z);
    let uniform = vals(&random(Dist::Uniform, vec![sf(2.0), sf(5.0)], &[3]));
    let mut rng = Rng::new(1, 2);
    let expect: Vec<f64> = (0..3).map(|_| 2.0 + 3.0 * rng.uniform()).collect();
    assert_eq!(uniform, expect);
    let _ = u3;
}

#[test]
fn integer_and_bernoulli_draws_stay_in_range() {
    let int = ex(
        Elem::Int,
        &[64],
        ExprKind::Random(Dist::Integer, vec![si(-3), si(4)]),
    );
    let coin = ex(
        Elem::Bool,
        &[64],
        ExprKind::Random(Dist::Bernoulli, vec![sf(0.25)]),
    );
    let mut seen = [false; 7];
    let mut heads = 0;
    for seed in 0..50 {
        let p = program(
            vec![int.clone(), coin.clone()],
            &[(0, DType::I32)],
            &[(1, DType::U8)],
            (DType::F64, &[]),
            |_, _, _| sf(1.0),
        );
        let (public, private) = task(&p, seed, 3).unwrap();
        for x in one_tensor(&public).to_f64s() {
            assert!((-3.0..4.0).contains(&x) && x.fract() == 0.0, "{x}");
            seen[(x + 3.0) as usize] = true;
        }
        for b in one_tensor(&private).to_f64s() {
            assert!(b == 0.0 || b == 1.0);
            heads += b as usize;
        }
    }
    assert!(seen.iter().all(|&s| s), "every integer in -3..4 appears");
    // 3200 fair-ish flips at p = 0.25.
    assert!((600..1000).contains(&heads), "{heads}");
}

#[test]
fn shuffle_choice_sample() {
    let x = cf(&[5, 2], &(0..10).map(f64::from).collect::<Vec<_>>());
    let s = vals(&same(x.clone(), ExprKind::Shuffle));
    let mut rows: Vec<(f64, f64)> = s.chunks(2).map(|r| (r[0], r[1])).collect();
    assert!(rows.iter().all(|&(a, b)| b == a + 1.0 && a % 2.0 == 0.0));
    rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(
        rows,
        [(0.0, 1.0), (2.0, 3.0), (4.0, 5.0), (6.0, 7.0), (8.0, 9.0)]
    );

    let c = value(&ex(Elem::Float, &[2], ExprKind::Choice(Box::new(x))));
    assert_eq!(c.shape, vec![2]);
    assert_eq!(c.data[1], c.data[0] + 1.0);
    let mut rng = Rng::new(1, 2);
    let i = (rng.uniform() * 5.0).floor();
    assert_eq!(c.data[0], 2.0 * i);

    let mut p = empty_program();
    p.data.push(DataTable {
        name: "t".into(),
        file: "t.csv".into(),
        rows: 3,
        cols: 2,
        values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    });
    let sample = ex(
        Elem::Float,
        &[4, 2],
        ExprKind::Sample {
            data: crate::ir::DataId(0),
            count: Some(4),
        },
    );
    let v = Machine::new(&p, Rng::new(9, 9), None)
        .eval(&sample)
        .unwrap();
    assert_eq!(v.shape, vec![4, 2]);
    let mut rng = Rng::new(9, 9);
    for row in v.data.chunks(2) {
        let i = (rng.uniform() * 3.0).floor();
        assert_eq!(row, [2.0 * i + 1.0, 2.0 * i + 2.0]);
    }
}

// ---- task encoding ----

#[test]
fn encoding_canonicalizes_and_saturates() {
    let x = cf(&[5], &[f64::NAN, -f64::NAN, 1e300, -3.7, 300.0]);
    let p = program(
        vec![x],
        &[(0, DType::F32), (0, DType::F64), (0, DType::I32)],
        &[(0, DType::U8), (0, DType::I64)],
        (DType::F64, &[]),
        |_, _, _| sf(1.0),
    );
    let (public, private) = task(&p, 0, 0).unwrap();
    let public = payload::decode(&public).unwrap();
    let private = payload::decode(&private).unwrap();
    assert_eq!(public[0].dims(), [5]);
    let f32s: Vec<u32> = public[0]
        .data()
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(f32s[..2], [0x7fc0_0000, 0x7fc0_0000]);
    assert_eq!(f32::from_bits(f32s[2]), f32::INFINITY);
    assert_eq!(f32::from_bits(f32s[3]), -3.7f32);
    let f64s: Vec<u64> = public[1]
        .data()
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(f64s[..2], [0x7ff8_0000_0000_0000; 2]);
    assert_eq!(
        public[2].to_f64s(),
        [0.0, 0.0, f64::from(i32::MAX), -3.0, 300.0]
    );
    assert_eq!(private[0].to_f64s(), [0.0, 0.0, 255.0, 0.0, 255.0]);
    assert_eq!(
        private[1].to_f64s(),
        [0.0, 0.0, i64::MAX as f64, -3.0, 300.0]
    );
}

#[test]
fn a_task_error_carries_the_span() {
    let x = cf(&[2], &[1.0, 2.0]);
    let mut pos = random(Dist::Integer, vec![si(5), si(6)], &[]);
    pos.ty.elem = Elem::Int;
    pos.span = Span::new(3, 9);
    let e = ex(
        Elem::Float,
        &[],
        ExprKind::Index(Box::new(x), vec![IndexItem::At(pos)]),
    );
    let p = program(
        vec![e],
        &[(0, DType::F32)],
        &[],
        (DType::F64, &[]),
        |_, _, _| sf(1.0),
    );
    let err = task(&p, 0, 0).unwrap_err();
    assert_eq!(
        err,
        EvalError::IndexOutOfRange {
            index: 5.0,
            len: 2,
            span: Span::new(3, 9)
        }
    );
    assert_eq!(
        err.to_string(),
        "index 5 is out of range for a dimension of 2 (at bytes 3..9 of the spec)"
    );
}

// ---- score ----

/// A task with a public f32[3] and a private f64[3]; the score is `1 - mean |r - private|`
/// (written as a sum times a third).
fn regression() -> Program {
    let x = cf(&[3], &[0.25, 0.5, 0.75]);
    program(
        vec![x.clone(), x],
        &[(0, DType::F32)],
        &[(1, DType::F64)],
        (DType::F32, &[3]),
        |_, private, response| {
            let err = un(UnOp::Abs, bin(BinOp::Sub, response, private[0].clone()));
            let mean = bin(BinOp::Mul, reduce(ReduceOp::Sum, err, None), sf(1.0 / 3.0));
            bin(BinOp::Sub, sf(1.0), mean)
        },
    )
}

fn f32s(dims: Vec<u32>, v: &[f32]) -> Vec<u8> {
    payload::encode(&[Tensor::f32(dims, v)])
}

#[test]
fn score_checks_the_response() {
    let p = regression();
    let (public, private) = task(&p, 1, 1).unwrap();
    let s = |r: &[u8]| score(&p, &public, &private, r).unwrap();
    assert_eq!(s(&f32s(vec![3], &[0.25, 0.5, 0.75])), 1.0);
    let half = s(&f32s(vec![3], &[0.75, 0.0, 1.25]));
    assert_eq!(half, 1.0 - (0.5 + 0.5 + 0.5) * (1.0 / 3.0));
    // Malformed responses score 0.
    assert_eq!(
        s(&payload::encode(&[Tensor::f64(
            vec![3],
            &[0.25, 0.5, 0.75]
        )])),
        0.0
    );
    assert_eq!(s(&f32s(vec![1, 3], &[0.25, 0.5, 0.75])), 0.0);
    assert_eq!(s(&f32s(vec![4], &[0.25, 0.5, 0.75, 1.0])), 0.0);
    assert_eq!(s(&f32s(vec![3], &[0.25, f32::NAN, 0.75])), 0.0);
    assert_eq!(s(&f32s(vec![3], &[0.25, f32::INFINITY, 0.75])), 0.0);
    let mut trailing = f32s(vec![3], &[0.25, 0.5, 0.75]);
    trailing.push(0);
    assert_eq!(s(&trailing), 0.0);
    let two = payload::encode(&[
        Tensor::f32(vec![3], &[0.0; 3]),
        Tensor::f32(vec![3], &[0.0; 3]),
    ]);
    assert_eq!(s(&two), 0.0);
    assert_eq!(s(&[]), 0.0);
    assert_eq!(s(&payload::encode(&[])), 0.0);
    // So do payloads that do not match the task.
    let good = f32s(vec![3], &[0.25, 0.5, 0.75]);
    assert_eq!(score(&p, &private, &private, &good).unwrap(), 0.0);
    assert_eq!(score(&p, &public, &public, &good).unwrap(), 0.0);
    assert_eq!(score(&p, &[1, 2], &private, &good).unwrap(), 0.0);
}

#[test]
fn score_clamps() {
    for (item, want) in [
        (2.0f64, 1.0f64),
        (-1.0, 0.0),
        (f64::NAN, 0.0),
        (0.25, 0.25),
        (-0.0, -0.0),
    ] {
        let p = program(vec![], &[], &[], (DType::U8, &[]), |_, _, _| sf(item));
        let (public, private) = task(&p, 0, 0).unwrap();
        let r = payload::encode(&[Tensor::u8(vec![], &[7])]);
        let got = score(&p, &public, &private, &r).unwrap();
        assert_eq!(got.to_bits(), want.to_bits(), "{item}");
    }
    // The response's value reaches the item (u8 decodes exactly).
    let p = program(vec![], &[], &[], (DType::U8, &[]), |_, _, r| {
        bin(BinOp::Div, r, sf(255.0))
    });
    let r = payload::encode(&[Tensor::u8(vec![], &[51])]);
    assert_eq!(
        score(&p, &payload::encode(&[]), &payload::encode(&[]), &r).unwrap(),
        0.2
    );
}

// ---- reward ----

#[test]
fn reward_rules() {
    assert_eq!(reward(&empty_program(), &[1, 2]), Err(EvalError::NoReward));
    let squared = with_reward(empty_program(), |x| bin(BinOp::Pow, x, sf(2.0)));
    assert_eq!(reward(&squared, &[0, 0, 0]).unwrap(), [0, 0, 0]);
    assert_eq!(reward(&squared, &[]).unwrap(), Vec::<u16>::new());
    assert_eq!(
        reward(&squared, &[0, 65535, 65535]).unwrap(),
        [0, 32767, 32767]
    );
    assert_eq!(reward(&squared, &[65535, 0]).unwrap(), [65535, 0]);
    // 1^2 : (1/2)^2 = 4 : 1 (32768 / 65535 is a little above a half).
    let y = [1.0, libm::pow(32768.0 / 65535.0, 2.0)];
    let total = 0.0 + y[0] + y[1];
    let want: Vec<u16> = y
        .iter()
        .map(|v| (v / total * 65535.0).trunc() as u16)
        .collect();
    assert_eq!(reward(&squared, &[65535, 32768]).unwrap(), want);
    assert_eq!(want, [52427, 13107]);

    // Negative values count as zero; a scalar broadcasts.
    let shifted = with_reward(empty_program(), |x| bin(BinOp::Sub, x, sf(0.5)));
    assert_eq!(reward(&shifted, &[65535, 0, 13107]).unwrap(), [65535, 0, 0]);
    let flat = with_reward(empty_program(), |_| sf(3.0));
    assert_eq!(reward(&flat, &[9, 9, 9, 9]).unwrap(), [16383; 4]);
    let nan = with_reward(empty_program(), |x| bin(BinOp::Div, x, sf(0.0)));
    assert_eq!(reward(&nan, &[0, 1]).unwrap(), [0, 0]);

    // A rule that reads the vector's shape at run time: x / max(x), and x[0] (an error on
    // an empty vector).
    let norm = with_reward(empty_program(), |x| {
        bin(BinOp::Div, x.clone(), reduce(ReduceOp::Max, x, None))
    });
    assert_eq!(reward(&norm, &[1, 3]).unwrap(), [16383, 49151]);
    let first = with_reward(empty_program(), |x| {
        ex(
            Elem::Float,
            &[],
            ExprKind::Index(Box::new(x), vec![IndexItem::At(si(0))]),
        )
    });
    assert_eq!(reward(&first, &[5, 6]).unwrap(), [32767, 32767]);
    assert!(matches!(
        reward(&first, &[]),
        Err(EvalError::IndexOutOfRange { len: 0, .. })
    ));
}

// ---- properties ----

/// Two shapes that broadcast together: both drop some leading dimensions of one shape and
/// replace some others with 1.
fn broadcast_case() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    proptest::collection::vec(1usize..4, 0..4).prop_flat_map(|out| {
        let rank = out.len();
        let operand = (0..=rank, proptest::collection::vec(any::<bool>(), rank)).prop_map(
            move |(drop, ones)| {
                (drop..rank)
                    .map(|d| if ones[d] { 1 } else { out[d] })
                    .collect::<Vec<_>>()
            },
        );
        (operand.clone(), operand)
    })
}

fn naive_get(shape: &[usize], data: &[f64], out_shape: &[usize], pos: &[usize]) -> f64 {
    let skip = out_shape.len() - shape.len();
    let mut flat = 0;
    for (d, &n) in shape.iter().enumerate() {
        let p = if n == 1 { 0 } else { pos[skip + d] };
        flat = flat * n + p;
    }
    data[flat]
}

proptest! {
    #[test]
    fn broadcast_add_matches_a_naive_loop(
        (sa, sb) in broadcast_case(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed, 0);
        let mut fill = |shape: &[usize]| -> Vec<f64> {
            (0..product(shape)).map(|_| (rng.uniform() * 100.0).floor()).collect()
        };
        let (da, db) = (fill(&sa), fill(&sb));
        let v = value(&bin(BinOp::Add, cf(&sa, &da), cf(&sb, &db)));
        // By construction the operands fit: each result dimension is the larger of the two
        // (a missing one counts as 1).
        let rank = sa.len().max(sb.len());
        let dim = |s: &[usize], d: usize| (d + s.len()).checked_sub(rank).map_or(1, |i| s[i]);
        let out: Vec<usize> = (0..rank).map(|d| dim(&sa, d).max(dim(&sb, d))).collect();
        prop_assert_eq!(&v.shape, &out);
        let mut pos = vec![0; out.len()];
        for k in 0..product(&out) {
            let mut rest = k;
            for d in (0..out.len()).rev() {
                pos[d] = rest % out[d];
                rest /= out[d];
            }
            let want = naive_get(&sa, &da, &out, &pos) + naive_get(&sb, &db, &out, &pos);
            prop_assert_eq!(v.data[k], want);
        }
    }

    #[test]
    fn sort_is_a_sorted_permutation(
        rows in 1usize..4,
        row in proptest::collection::vec(-1e6f64..1e6, 1..12),
    ) {
        let data: Vec<f64> = (0..rows).flat_map(|r| row.iter().map(move |x| x - r as f64)).collect();
        let x = cf(&[rows, row.len()], &data);
        let sorted = vals(&same(x, ExprKind::Sort));
        for (s, d) in sorted.chunks(row.len()).zip(data.chunks(row.len())) {
            prop_assert!(s.windows(2).all(|w| w[0] <= w[1]));
            let mut want = d.to_vec();
            want.sort_by(|a, b| a.partial_cmp(b).unwrap());
            prop_assert_eq!(s, &want[..]);
        }
    }

    #[test]
    fn topk_keeps_exactly_k(row in proptest::collection::vec(0u8..4, 1..10), k in 1usize..12) {
        let data: Vec<f64> = row.iter().map(|&x| f64::from(x) + 1.0).collect();
        let kept = vals(&same(cf(&[data.len()], &data), |b| ExprKind::TopK(b, k)));
        let count = kept.iter().filter(|&&x| x != 0.0).count();
        prop_assert_eq!(count, k.min(data.len()));
        // Whatever is kept is at least as large as whatever is dropped.
        let low = kept.iter().copied().filter(|&x| x != 0.0).fold(f64::INFINITY, f64::min);
        for (x, y) in data.iter().zip(&kept) {
            if *y == 0.0 {
                prop_assert!(*x <= low);
            }
        }
    }
}
