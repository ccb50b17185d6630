//! A small transformer encoder: for sequences where any position may depend on any other.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// Configuration of a [`Transformer`]: `tokens x features` in; each token projected to
/// `d_model`, plus a learned position embedding, through a pre-norm encoder; then either a
/// per-position head (`per_position` outputs for each token, in token order) or a head over
/// the mean of the tokens (`outputs` values).
#[derive(Config, Debug)]
pub struct TransformerConfig {
    /// Sequence length.
    pub tokens: usize,
    /// Features of each token (1 for a rank-1 input).
    pub features: usize,
    /// Output features in all.
    pub outputs: usize,
    /// Outputs per token for a per-position head (then `outputs == tokens * per_position`);
    /// 0 for a pooled head (default 0).
    #[config(default = 0)]
    pub per_position: usize,
    /// Width of the encoder (default 32).
    #[config(default = 32)]
    pub d_model: usize,
    /// Attention heads; divides `d_model` (default 4).
    #[config(default = 4)]
    pub n_heads: usize,
    /// Encoder layers (default 2).
    #[config(default = 2)]
    pub n_layers: usize,
    /// Width of the feed-forward blocks (default 64).
    #[config(default = 64)]
    pub d_ff: usize,
    /// Dropout probability inside the encoder during training (default 0: none).
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// A small transformer encoder. Build it with [`TransformerConfig::init`].
#[derive(Module, Debug)]
pub struct Transformer {
    embed: Linear,
    /// `[tokens, d_model]`
    position: Param<Tensor<2>>,
    encoder: TransformerEncoder,
    head: Linear,
    tokens: usize,
    features: usize,
    per_position: usize,
}

impl TransformerConfig {
    /// The model, its parameters on `device` (drawn lazily from the device's generator).
    pub fn init(&self, device: &Device) -> Transformer {
        let head_out = if self.per_position > 0 {
            self.per_position
        } else {
            self.outputs
        };
        Transformer {
            embed: LinearConfig::new(self.features, self.d_model).init(device),
            position: Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init([self.tokens, self.d_model], device),
            encoder: TransformerEncoderConfig::new(
                self.d_model,
                self.d_ff,
                self.n_heads,
                self.n_layers,
            )
            .with_dropout(self.dropout)
            .with_norm_first(true)
            .init(device),
            head: LinearConfig::new(self.d_model, head_out).init(device),
            tokens: self.tokens,
            features: self.features,
            per_position: self.per_position,
        }
    }
}

impl Transformer {
    /// `[batch, tokens * features] -> [batch, outputs]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        // [batch, tokens, features] -> [batch, tokens, d_model]
        let x: Tensor<3> = x.reshape([batch, self.tokens, self.features]);
        let x = self.embed.forward(x) + self.position.val().unsqueeze::<3>();
        let x = self.encoder.forward(TransformerEncoderInput::new(x));
        if self.per_position > 0 {
            // [batch, tokens, per_position] -> [batch, tokens * per_position]
            self.head.forward(x).flatten::<2>(1, 2)
        } else {
            // mean over tokens: [batch, 1, d_model] -> [batch, d_model]
            let pooled: Tensor<2> = x.mean_dim(1).flatten::<2>(1, 2);
            self.head.forward(pooled)
        }
    }
}
