//! Synthetic tasks, a seeded generator and model fingerprints shared by the tests.

use ganglion_gpu::burn::module::{Module, ModuleVisitor, Param};
use ganglion_gpu::burn::tensor::Tensor;
use ganglion_gpu::{Batch, BoxError, Model, Predictor};

/// SplitMix64: a small deterministic generator.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub(crate) fn signed(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// y = x reversed.
pub(crate) fn reverse(x: &[f32]) -> Vec<f32> {
    x.iter().rev().copied().collect()
}

/// y_i = mean of x over i-2..=i+2 (clamped to the ends).
pub(crate) fn smooth(x: &[f32]) -> Vec<f32> {
    let n = x.len() as isize;
    (0..n)
        .map(|i| {
            let (lo, hi) = ((i - 2).max(0), (i + 2).min(n - 1));
            x[lo as usize..=hi as usize].iter().sum::<f32>() / (hi - lo + 1) as f32
        })
        .collect()
}

/// y = x rotated right by 3.
pub(crate) fn shift3(x: &[f32]) -> Vec<f32> {
    let n = x.len();
    (0..n).map(|i| x[(i + n - 3) % n]).collect()
}

/// y_i = max(x_{i-1}, x_i, x_{i+1}) (clamped to the ends).
pub(crate) fn local_max(x: &[f32]) -> Vec<f32> {
    let n = x.len();
    (0..n)
        .map(|i| {
            x[i.saturating_sub(1)..=(i + 1).min(n - 1)]
                .iter()
                .fold(f32::MIN, |a, &b| a.max(b))
        })
        .collect()
}

/// The class of x: which of `classes` equal segments has the largest sum.
pub(crate) fn argmax_segment(x: &[f32], classes: usize) -> usize {
    let seg = x.len() / classes;
    (0..classes)
        .map(|c| x[c * seg..(c + 1) * seg].iter().sum::<f32>())
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, s)| if s > b.1 { (i, s) } else { b },
        )
        .0
}

/// `rows` random inputs of `len` values, seeded by `(seed, step)`.
pub(crate) fn inputs(seed: u64, step: u64, rows: usize, len: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed ^ step.wrapping_mul(0x2545_f491_4f6c_dd1d));
    (0..rows * len).map(|_| rng.signed()).collect()
}

/// A regression source: batch `step` depends only on `(seed, step)`.
pub(crate) fn regression_source(
    len: usize,
    seed: u64,
    f: fn(&[f32]) -> Vec<f32>,
) -> impl FnMut(u64, usize) -> Result<Batch, BoxError> {
    move |step, rows| {
        let inputs = inputs(seed, step, rows, len);
        let targets = inputs.chunks(len).flat_map(f).collect();
        Ok(Batch { inputs, targets })
    }
}

/// A classification source over [`argmax_segment`].
pub(crate) fn class_source(
    len: usize,
    classes: usize,
    seed: u64,
) -> impl FnMut(u64, usize) -> Result<Batch, BoxError> {
    move |step, rows| {
        let inputs = inputs(seed, step, rows, len);
        let targets = inputs
            .chunks(len)
            .map(|x| argmax_segment(x, classes) as f32)
            .collect();
        Ok(Batch { inputs, targets })
    }
}

/// Mean squared error of the predictor against `f` on `rows` held-out inputs.
pub(crate) fn mse(p: &Predictor, f: fn(&[f32]) -> Vec<f32>, rows: usize) -> f64 {
    let len = p.input_len();
    let x = inputs(0xe7a1, u64::MAX, rows, len);
    let y: Vec<f32> = x.chunks(len).flat_map(f).collect();
    let out = p.predict(&x, rows).unwrap();
    out.iter()
        .zip(&y)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum::<f64>()
        / y.len() as f64
}

/// Accuracy of the predictor on `rows` held-out inputs of [`argmax_segment`].
pub(crate) fn accuracy(p: &Predictor, classes: usize, rows: usize) -> f64 {
    let len = p.input_len();
    let x = inputs(0xe7a1, u64::MAX, rows, len);
    let want: Vec<usize> = x.chunks(len).map(|r| argmax_segment(r, classes)).collect();
    let got = p.predict_classes(&x, rows).unwrap();
    got.iter().zip(&want).filter(|(a, b)| a == b).count() as f64 / rows as f64
}

/// Every float parameter of the model, as bits, in traversal order.
pub(crate) fn weights(model: &Model) -> Vec<u32> {
    struct Collect(Vec<u32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let data = param.val().into_data().try_into_vec::<f32>().unwrap();
            self.0.extend(data.iter().map(|v| v.to_bits()));
        }
    }
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    c.0
}
