//! A 1-D convolutional network: for sequences and signals.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::pool::{AdaptiveAvgPool1d, AdaptiveAvgPool1dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig1d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Configuration of a [`Cnn1d`]: `channels_in x length` in, `conv(k) + ReLU` layers keeping the
/// length, an average pool down to at most `pooled` positions, then a linear head over the
/// flattened features to `outputs`.
#[derive(Config, Debug)]
pub struct Cnn1dConfig {
    /// Input channels (1 for a rank-1 input; the first dimension of a rank-2 one).
    pub channels_in: usize,
    /// Input length (positions per channel).
    pub length: usize,
    /// Output features.
    pub outputs: usize,
    /// Channels of each convolution layer (default `[32, 32, 32]`).
    #[config(default = "vec![32, 32, 32]")]
    pub channels: Vec<usize>,
    /// Kernel size of each convolution, odd (default 5; padding keeps the length).
    #[config(default = 5)]
    pub kernel_size: usize,
    /// The most positions the head sees: longer inputs are average-pooled down to it
    /// (default 64).
    #[config(default = 64)]
    pub pooled: usize,
}

/// A 1-D convolutional network. Build it with [`Cnn1dConfig::init`].
#[derive(Module, Debug)]
pub struct Cnn1d {
    convs: Vec<Conv1d>,
    pool: AdaptiveAvgPool1d,
    head: Linear,
    channels_in: usize,
    length: usize,
}

impl Cnn1dConfig {
    /// The model, its parameters on `device` (drawn lazily from the device's generator).
    pub fn init(&self, device: &Device) -> Cnn1d {
        let mut convs = Vec::with_capacity(self.channels.len());
        let mut c = self.channels_in;
        for &out in &self.channels {
            convs.push(
                Conv1dConfig::new(c, out, self.kernel_size)
                    .with_padding(PaddingConfig1d::Same)
                    .init(device),
            );
            c = out;
        }
        let pooled = self.length.min(self.pooled.max(1));
        Cnn1d {
            convs,
            pool: AdaptiveAvgPool1dConfig::new(pooled).init(),
            head: LinearConfig::new(c * pooled, self.outputs).init(device),
            channels_in: self.channels_in,
            length: self.length,
        }
    }
}

impl Cnn1d {
    /// `[batch, channels_in * length] -> [batch, outputs]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        // [batch, channels_in, length]
        let mut x: Tensor<3> = x.reshape([batch, self.channels_in, self.length]);
        for conv in &self.convs {
            x = relu(conv.forward(x));
        }
        // [batch, channels, pooled] -> [batch, channels * pooled]
        let x = self.pool.forward(x);
        self.head.forward(x.flatten::<2>(1, 2))
    }
}
