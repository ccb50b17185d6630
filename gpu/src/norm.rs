//! Input and target scaling fitted on the first training batch.

use serde::{Deserialize, Serialize};

/// A standard deviation below this counts as zero: that side is only centred, not scaled.
const MIN_STD: f64 = 1e-6;

/// Affine scaling of inputs and regression targets: one mean and one standard deviation for
/// all input values, and one pair for all target values, fitted on the first training batch
/// ([`TrainConfig::normalize`](crate::TrainConfig::normalize)).
///
/// One scalar pair per side (rather than one per feature) keeps spatial structure intact for
/// the convolutional and attention models and needs no more than a batch to estimate. The
/// model trains on `(x - input_mean) / input_std` against `(y - output_mean) / output_std`, and
/// the [`Predictor`](crate::Predictor) maps its outputs back, so callers only ever see raw
/// values. Class logits are never scaled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// Subtracted from every input value.
    pub input_mean: f32,
    /// Every centred input value is divided by it (positive).
    pub input_std: f32,
    /// Subtracted from every regression target value.
    pub output_mean: f32,
    /// Every centred target value is divided by it (positive).
    pub output_std: f32,
}

impl Default for Normalizer {
    fn default() -> Self {
        Normalizer::IDENTITY
    }
}

impl Normalizer {
    /// Leaves values as they are.
    pub const IDENTITY: Normalizer = Normalizer {
        input_mean: 0.0,
        input_std: 1.0,
        output_mean: 0.0,
        output_std: 1.0,
    };

    /// Fits the scaling to a batch: inputs, and regression targets if given (for classes,
    /// pass `None`: the output side stays the identity). Non-finite values are ignored.
    pub fn fit(inputs: &[f32], targets: Option<&[f32]>) -> Normalizer {
        let (input_mean, input_std) = mean_std(inputs);
        let (output_mean, output_std) = targets.map_or((0.0, 1.0), mean_std);
        Normalizer {
            input_mean,
            input_std,
            output_mean,
            output_std,
        }
    }

    /// Scales inputs in place.
    pub fn scale_inputs(&self, values: &mut [f32]) {
        scale(values, self.input_mean, self.input_std);
    }

    /// Scales regression targets in place.
    pub fn scale_targets(&self, values: &mut [f32]) {
        scale(values, self.output_mean, self.output_std);
    }

    /// Maps scaled model outputs back to raw values in place.
    pub fn unscale_outputs(&self, values: &mut [f32]) {
        if self.output_mean == 0.0 && self.output_std == 1.0 {
            return;
        }
        for v in values {
            *v = *v * self.output_std + self.output_mean;
        }
    }

    /// Whether every field is finite and both deviations are positive.
    pub fn is_valid(&self) -> bool {
        [
            self.input_mean,
            self.input_std,
            self.output_mean,
            self.output_std,
        ]
        .iter()
        .all(|v| v.is_finite())
            && self.input_std > 0.0
            && self.output_std > 0.0
    }
}

fn scale(values: &mut [f32], mean: f32, std: f32) {
    if mean == 0.0 && std == 1.0 {
        return;
    }
    for v in values {
        *v = (*v - mean) / std;
    }
}

/// Mean and standard deviation in f64 over the finite values; `(0, 1)` for none, std 1 for
/// (nearly) constant values.
fn mean_std(values: &[f32]) -> (f32, f32) {
    let finite = values
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v));
    let (n, sum) = finite
        .clone()
        .fold((0usize, 0.0f64), |(n, s), v| (n + 1, s + v));
    if n == 0 {
        return (0.0, 1.0);
    }
    let mean = sum / n as f64;
    let var = finite.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    let std = var.sqrt();
    let std = if std < MIN_STD { 1.0 } else { std };
    (mean as f32, std as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_and_round_trip() {
        let xs = [1.0f32, 3.0, 5.0, 7.0];
        let n = Normalizer::fit(&xs, Some(&[10.0, 30.0]));
        assert_eq!(n.input_mean, 4.0);
        assert!((n.input_std - 5.0f32.sqrt()).abs() < 1e-6);
        assert_eq!((n.output_mean, n.output_std), (20.0, 10.0));
        let mut ys = [10.0f32, 30.0];
        n.scale_targets(&mut ys);
        assert_eq!(ys, [-1.0, 1.0]);
        n.unscale_outputs(&mut ys);
        assert_eq!(ys, [10.0, 30.0]);
        assert!(n.is_valid());
    }

    #[test]
    fn constant_and_empty_values_keep_unit_scale() {
        let n = Normalizer::fit(&[2.0, 2.0, f32::NAN], None);
        assert_eq!((n.input_mean, n.input_std), (2.0, 1.0));
        assert_eq!((n.output_mean, n.output_std), (0.0, 1.0));
        assert_eq!(Normalizer::fit(&[], None), Normalizer::IDENTITY);
    }
}
