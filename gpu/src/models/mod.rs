//! The model zoo: an MLP, 1-D and 2-D CNNs and a small transformer, each a Burn module with a
//! `#[derive(Config)]` configuration, and [`Model`], the one type that wraps them.
//!
//! Every model takes a batch of flat `f32` inputs, `[batch, input_len]`, and returns
//! `[batch, output_len]`; it reshapes inside to the layout it needs (row-major, as
//! [`TaskShape`] describes).

mod cnn1d;
mod cnn2d;
mod mlp;
mod transformer;

use std::fmt;
use std::str::FromStr;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use cnn1d::{Cnn1d, Cnn1dConfig};
pub use cnn2d::{Cnn2d, Cnn2dConfig};
pub use mlp::{Mlp, MlpConfig};
pub use transformer::{Transformer, TransformerConfig};

use crate::task::{ShapeError, TaskShape};

/// The shortest sequence [`ModelKind::auto`] treats as a sequence (rather than a vector for
/// an [`Mlp`]).
pub const AUTO_SEQUENCE_MIN_LEN: usize = 16;

/// The smallest side [`ModelKind::auto`] treats as an image (rather than a vector for an
/// [`Mlp`]).
pub const AUTO_IMAGE_MIN_SIDE: usize = 4;

/// An activation function for the [`Mlp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// Gaussian error linear unit.
    Gelu,
    /// Hyperbolic tangent.
    Tanh,
}

impl Activation {
    fn init(self, device: &Device) -> burn::nn::activation::Activation {
        match self {
            Activation::Relu => burn::nn::activation::ActivationConfig::Relu,
            Activation::Gelu => burn::nn::activation::ActivationConfig::Gelu,
            Activation::Tanh => burn::nn::activation::ActivationConfig::Tanh,
        }
        .init(device)
    }
}

/// The four kinds of model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// [`Mlp`].
    Mlp,
    /// [`Cnn1d`].
    Cnn1d,
    /// [`Cnn2d`].
    Cnn2d,
    /// [`Transformer`].
    Transformer,
}

impl ModelKind {
    /// All kinds, in a fixed order.
    pub const ALL: [ModelKind; 4] = [
        ModelKind::Mlp,
        ModelKind::Cnn1d,
        ModelKind::Cnn2d,
        ModelKind::Transformer,
    ];

    /// The kind of model that suits these shapes:
    ///
    /// - an image: a rank-2 input `[h, w]`, or rank-3 `[c, h, w]`, with `h` and `w` at least
    ///   [`AUTO_IMAGE_MIN_SIDE`] -> [`Cnn2d`];
    /// - a sequence to a sequence: a rank-1 input of length `n >= `[`AUTO_SEQUENCE_MIN_LEN`]
    ///   whose output holds `n` values too -> [`Cnn1d`];
    /// - anything else -> [`Mlp`].
    ///
    /// The sequence rule is measured (5 s of training on one CPU core, batches of 32, on
    /// reversal, shift, smoothing and local maximum of `n` values): at `n = 16` the CNN, the
    /// MLP and a transformer (at a learning rate of 5e-3) all fit every map; at `n = 64` the
    /// CNN fits all four (R^2 >= 0.997) while the transformer, at a quarter of the CNN's
    /// steps, fits none (R^2 <= 0.27) and the MLP misses the local maximum (0.93). So auto
    /// never picks the [`Transformer`] on its own; ask for it by name.
    ///
    /// ```
    /// use ganglion_gpu::ModelKind;
    ///
    /// assert_eq!(ModelKind::auto(&[8, 8], &[10]), ModelKind::Cnn2d);
    /// assert_eq!(ModelKind::auto(&[64], &[64]), ModelKind::Cnn1d);
    /// assert_eq!(ModelKind::auto(&[64], &[3]), ModelKind::Mlp);
    /// ```
    pub fn auto(input_shape: &[usize], output_shape: &[usize]) -> ModelKind {
        let output_len: usize = output_shape.iter().product();
        match *input_shape {
            [h, w] | [_, h, w] if h >= AUTO_IMAGE_MIN_SIDE && w >= AUTO_IMAGE_MIN_SIDE => {
                ModelKind::Cnn2d
            }
            [n] if n >= AUTO_SEQUENCE_MIN_LEN && output_len == n => ModelKind::Cnn1d,
            _ => ModelKind::Mlp,
        }
    }

    /// The name `FromStr` reads: `mlp`, `cnn1d`, `cnn2d` or `transformer`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn1d => "cnn1d",
            ModelKind::Cnn2d => "cnn2d",
            ModelKind::Transformer => "transformer",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a [`ModelKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown model kind {0:?} (expected mlp, cnn1d, cnn2d or transformer)")]
pub struct UnknownModelKind(pub String);

impl FromStr for ModelKind {
    type Err = UnknownModelKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownModelKind(s.to_string()))
    }
}

/// The configuration of one model of any kind; it is what a checkpoint records.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "config", rename_all = "lowercase")]
pub enum ModelConfig {
    /// An [`Mlp`].
    Mlp(MlpConfig),
    /// A [`Cnn1d`].
    Cnn1d(Cnn1dConfig),
    /// A [`Cnn2d`].
    Cnn2d(Cnn2dConfig),
    /// A [`Transformer`].
    Transformer(TransformerConfig),
}

impl ModelConfig {
    /// The default configuration of `kind` for `task`'s shapes.
    ///
    /// How the input's shape maps onto each kind (row-major throughout):
    /// - `Mlp`: all values as features;
    /// - `Cnn1d`: `[n]` is one channel of `n`; `[c, n]` is `c` channels; `[c, a, b]` is `c`
    ///   channels of `a * b`;
    /// - `Cnn2d`: `[h, w]` is one channel; `[c, h, w]` is `c` channels; `[n]` is a `1 x n`
    ///   image;
    /// - `Transformer`: `[n]` is `n` tokens of one feature; `[n, f]` is `n` tokens of `f`;
    ///   `[n, a, b]` is `n` tokens of `a * b`. The head is per-position when the output's
    ///   first dimension is the token count (`[n]` or `[n, k]`), pooled otherwise.
    ///
    /// ```
    /// use ganglion_gpu::{ModelConfig, ModelKind, TaskShape};
    ///
    /// let task = TaskShape::regression(vec![32], vec![32]);
    /// let config = ModelConfig::for_task(ModelKind::auto(&task.input, &task.output), &task)?;
    /// assert_eq!(config.kind(), ModelKind::Cnn1d);
    /// # Ok::<(), ganglion_gpu::ShapeError>(())
    /// ```
    pub fn for_task(kind: ModelKind, task: &TaskShape) -> Result<ModelConfig, ShapeError> {
        task.validate()?;
        let inputs = task.input_len();
        let outputs = task.output_len();
        let config = match kind {
            ModelKind::Mlp => ModelConfig::Mlp(MlpConfig::new(inputs, outputs)),
            ModelKind::Cnn1d => {
                let (c, n) = match task.input[..] {
                    [n] => (1, n),
                    [c, n] => (c, n),
                    [c, a, b] => (c, a * b),
                    _ => bad_input(&task.input)?,
                };
                ModelConfig::Cnn1d(Cnn1dConfig::new(c, n, outputs))
            }
            ModelKind::Cnn2d => {
                let (c, h, w) = match task.input[..] {
                    [n] => (1, 1, n),
                    [h, w] => (1, h, w),
                    [c, h, w] => (c, h, w),
                    _ => bad_input(&task.input)?,
                };
                ModelConfig::Cnn2d(Cnn2dConfig::new(c, h, w, outputs))
            }
            ModelKind::Transformer => {
                let (tokens, features) = match task.input[..] {
                    [n] => (n, 1),
                    [n, f] => (n, f),
                    [n, a, b] => (n, a * b),
                    _ => bad_input(&task.input)?,
                };
                let per_position = match task.output[..] {
                    [n] if n == tokens => 1,
                    [n, k] if n == tokens => k,
                    _ => 0,
                };
                ModelConfig::Transformer(
                    TransformerConfig::new(tokens, features, outputs)
                        .with_per_position(per_position),
                )
            }
        };
        config.validate()?;
        Ok(config)
    }

    /// Which kind of model this configures.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelConfig::Mlp(_) => ModelKind::Mlp,
            ModelConfig::Cnn1d(_) => ModelKind::Cnn1d,
            ModelConfig::Cnn2d(_) => ModelKind::Cnn2d,
            ModelConfig::Transformer(_) => ModelKind::Transformer,
        }
    }

    /// Values in one input.
    pub fn input_len(&self) -> usize {
        match self {
            ModelConfig::Mlp(c) => c.inputs,
            ModelConfig::Cnn1d(c) => c.channels_in * c.length,
            ModelConfig::Cnn2d(c) => c.channels_in * c.height * c.width,
            ModelConfig::Transformer(c) => c.tokens * c.features,
        }
    }

    /// Values in one output.
    pub fn output_len(&self) -> usize {
        match self {
            ModelConfig::Mlp(c) => c.outputs,
            ModelConfig::Cnn1d(c) => c.outputs,
            ModelConfig::Cnn2d(c) => c.outputs,
            ModelConfig::Transformer(c) => c.outputs,
        }
    }

    /// Whether training draws random numbers after initialization (dropout).
    pub fn uses_dropout(&self) -> bool {
        match self {
            ModelConfig::Mlp(c) => c.dropout > 0.0,
            ModelConfig::Transformer(c) => c.dropout > 0.0,
            ModelConfig::Cnn1d(_) | ModelConfig::Cnn2d(_) => false,
        }
    }

    /// Checks that the configuration is consistent: no zero sizes, odd kernels, heads that
    /// divide the width, a per-position head that matches the output, dropout in `[0, 1)`.
    pub fn validate(&self) -> Result<(), ShapeError> {
        let bad = |msg: String| Err(ShapeError::Model(msg));
        let dropout_ok = |p: f64| p.is_finite() && (0.0..1.0).contains(&p);
        match self {
            ModelConfig::Mlp(c) => {
                if c.inputs == 0 || c.outputs == 0 || c.hidden.contains(&0) {
                    return bad(format!("mlp sizes must be positive: {c:?}"));
                }
                if !dropout_ok(c.dropout) {
                    return bad(format!("dropout {} is not in [0, 1)", c.dropout));
                }
            }
            ModelConfig::Cnn1d(c) => {
                if c.channels_in == 0 || c.length == 0 || c.outputs == 0 || c.channels.contains(&0)
                {
                    return bad(format!("cnn1d sizes must be positive: {c:?}"));
                }
                if c.kernel_size % 2 == 0 {
                    return bad(format!("cnn1d kernel size {} must be odd", c.kernel_size));
                }
            }
            ModelConfig::Cnn2d(c) => {
                if c.channels_in == 0
                    || c.height == 0
                    || c.width == 0
                    || c.outputs == 0
                    || c.channels.contains(&0)
                {
                    return bad(format!("cnn2d sizes must be positive: {c:?}"));
                }
                if c.kernel_size % 2 == 0 {
                    return bad(format!("cnn2d kernel size {} must be odd", c.kernel_size));
                }
            }
            ModelConfig::Transformer(c) => {
                if c.tokens == 0
                    || c.features == 0
                    || c.outputs == 0
                    || c.d_model == 0
                    || c.n_heads == 0
                    || c.n_layers == 0
                    || c.d_ff == 0
                {
                    return bad(format!("transformer sizes must be positive: {c:?}"));
                }
                if c.d_model % c.n_heads != 0 {
                    return bad(format!(
                        "{} heads do not divide d_model {}",
                        c.n_heads, c.d_model
                    ));
                }
                if c.per_position > 0 && c.tokens * c.per_position != c.outputs {
                    return bad(format!(
                        "a per-position head of {} for {} tokens gives {} outputs, not {}",
                        c.per_position,
                        c.tokens,
                        c.tokens * c.per_position,
                        c.outputs
                    ));
                }
                if !dropout_ok(c.dropout) {
                    return bad(format!("dropout {} is not in [0, 1)", c.dropout));
                }
            }
        }
        Ok(())
    }

    /// Checks the configuration and that it reads `task`'s input and writes its output.
    pub fn check_fits(&self, task: &TaskShape) -> Result<(), ShapeError> {
        task.validate()?;
        self.validate()?;
        if self.input_len() != task.input_len() || self.output_len() != task.output_len() {
            return Err(ShapeError::Model(format!(
                "{} model maps {} values to {}, the task {} to {}",
                self.kind(),
                self.input_len(),
                self.output_len(),
                task.input_len(),
                task.output_len()
            )));
        }
        Ok(())
    }

    /// The model, its parameters on `device`. Parameters are drawn lazily, when first used,
    /// from the device's random generator; [`Model::materialize_params`] draws them now.
    pub fn init(&self, device: &Device) -> Model {
        match self {
            ModelConfig::Mlp(c) => Model::Mlp(c.init(device)),
            ModelConfig::Cnn1d(c) => Model::Cnn1d(c.init(device)),
            ModelConfig::Cnn2d(c) => Model::Cnn2d(c.init(device)),
            ModelConfig::Transformer(c) => Model::Transformer(c.init(device)),
        }
    }
}

fn bad_input<T>(shape: &[usize]) -> Result<T, ShapeError> {
    Err(ShapeError::BadShape {
        what: "input",
        shape: shape.to_vec(),
    })
}

/// One model of any kind, so callers handle a single type.
#[derive(Module, Debug)]
pub enum Model {
    /// An [`Mlp`].
    Mlp(Mlp),
    /// A [`Cnn1d`].
    Cnn1d(Cnn1d),
    /// A [`Cnn2d`].
    Cnn2d(Cnn2d),
    /// A [`Transformer`].
    Transformer(Transformer),
}

impl Model {
    /// `[batch, input_len] -> [batch, output_len]`.
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        match self {
            Model::Mlp(m) => m.forward(input),
            Model::Cnn1d(m) => m.forward(input),
            Model::Cnn2d(m) => m.forward(input),
            Model::Transformer(m) => m.forward(input),
        }
    }

    /// Which kind of model this is.
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Mlp(_) => ModelKind::Mlp,
            Model::Cnn1d(_) => ModelKind::Cnn1d,
            Model::Cnn2d(_) => ModelKind::Cnn2d,
            Model::Transformer(_) => ModelKind::Transformer,
        }
    }

    /// Draws every lazily initialized parameter now, in the module's fixed traversal order,
    /// so that which random numbers each parameter gets does not depend on when it is first
    /// used.
    pub fn materialize_params(&self) {
        struct Touch;
        impl ModuleVisitor for Touch {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let _ = param.val();
            }
        }
        self.visit(&mut Touch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Target;

    #[test]
    fn kind_names_round_trip() {
        for kind in ModelKind::ALL {
            assert_eq!(kind.to_string().parse::<ModelKind>().unwrap(), kind);
        }
        assert_eq!("CNN2D".parse::<ModelKind>().unwrap(), ModelKind::Cnn2d);
        assert!("rnn".parse::<ModelKind>().is_err());
    }

    #[test]
    fn auto_rule() {
        assert_eq!(ModelKind::auto(&[8, 8], &[10]), ModelKind::Cnn2d);
        assert_eq!(ModelKind::auto(&[3, 8, 8], &[10]), ModelKind::Cnn2d);
        assert_eq!(ModelKind::auto(&[3, 8], &[10]), ModelKind::Mlp);
        assert_eq!(ModelKind::auto(&[16], &[16]), ModelKind::Cnn1d);
        assert_eq!(ModelKind::auto(&[1024], &[1024]), ModelKind::Cnn1d);
        assert_eq!(ModelKind::auto(&[15], &[15]), ModelKind::Mlp);
        assert_eq!(ModelKind::auto(&[64], &[8, 8]), ModelKind::Cnn1d);
        assert_eq!(ModelKind::auto(&[64], &[10]), ModelKind::Mlp);
    }

    #[test]
    fn every_kind_fits_every_rank_and_maps_shapes() {
        let device = Device::flex();
        let tasks = [
            TaskShape::regression(vec![12], vec![12]),
            TaskShape::regression(vec![4, 6], vec![3]),
            TaskShape::new(vec![2, 4, 5], vec![3], Target::Classes(3)),
            TaskShape::regression(vec![6, 2], vec![6, 2]),
        ];
        for task in &tasks {
            for kind in ModelKind::ALL {
                let config = ModelConfig::for_task(kind, task).unwrap();
                config.check_fits(task).unwrap();
                let model = config.init(&device);
                let x = Tensor::<2>::zeros([3, task.input_len()], &device);
                assert_eq!(
                    model.forward(x).dims(),
                    [3, task.output_len()],
                    "{kind} {task:?}"
                );
            }
        }
    }

    #[test]
    fn per_position_head_when_output_follows_tokens() {
        let task = TaskShape::regression(vec![16, 2], vec![16, 3]);
        match ModelConfig::for_task(ModelKind::Transformer, &task).unwrap() {
            ModelConfig::Transformer(c) => assert_eq!(c.per_position, 3),
            other => panic!("{other:?}"),
        }
        let pooled = TaskShape::regression(vec![16], vec![5]);
        match ModelConfig::for_task(ModelKind::Transformer, &pooled).unwrap() {
            ModelConfig::Transformer(c) => assert_eq!(c.per_position, 0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn validate_catches_inconsistent_configs() {
        let c = ModelConfig::Transformer(TransformerConfig::new(8, 1, 8).with_n_heads(3));
        assert!(c.validate().is_err());
        let c = ModelConfig::Cnn1d(Cnn1dConfig::new(1, 8, 8).with_kernel_size(4));
        assert!(c.validate().is_err());
        let c = ModelConfig::Mlp(MlpConfig::new(4, 2).with_dropout(1.0));
        assert!(c.validate().is_err());
        let task = TaskShape::regression(vec![4], vec![2]);
        assert!(
            ModelConfig::Mlp(MlpConfig::new(5, 2))
                .check_fits(&task)
                .is_err()
        );
    }

    #[test]
    fn config_json_round_trip() {
        let task = TaskShape::regression(vec![8, 8], vec![8, 8]);
        for kind in ModelKind::ALL {
            let config = ModelConfig::for_task(kind, &task).unwrap();
            let json = serde_json::to_string(&config).unwrap();
            let back: ModelConfig = serde_json::from_str(&json).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
            assert_eq!(back.kind(), kind);
        }
    }
}
