//! A 2-D convolutional network: for images and other grids.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Configuration of a [`Cnn2d`]: `channels_in x height x width` in, `conv(k x k) + ReLU`
/// layers keeping the size, an average pool down to at most `pooled x pooled`, then a linear
/// head over the flattened features to `outputs`.
#[derive(Config, Debug)]
pub struct Cnn2dConfig {
    /// Input channels (1 for a rank-2 input; the first dimension of a rank-3 one).
    pub channels_in: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Output features.
    pub outputs: usize,
    /// Channels of each convolution layer (default `[16, 32]`).
    #[config(default = "vec![16, 32]")]
    pub channels: Vec<usize>,
    /// Kernel size of each convolution, odd (default 3; padding keeps the size).
    #[config(default = 3)]
    pub kernel_size: usize,
    /// The largest side the head sees: bigger grids are average-pooled down to it
    /// (default 8).
    #[config(default = 8)]
    pub pooled: usize,
}

/// A 2-D convolutional network. Build it with [`Cnn2dConfig::init`].
#[derive(Module, Debug)]
pub struct Cnn2d {
    convs: Vec<Conv2d>,
    pool: AdaptiveAvgPool2d,
    head: Linear,
    channels_in: usize,
    height: usize,
    width: usize,
}

impl Cnn2dConfig {
    /// The model, its parameters on `device` (drawn lazily from the device's generator).
    pub fn init(&self, device: &Device) -> Cnn2d {
        let mut convs = Vec::with_capacity(self.channels.len());
        let mut c = self.channels_in;
        let k = self.kernel_size;
        for &out in &self.channels {
            convs.push(
                Conv2dConfig::new([c, out], [k, k])
                    .with_padding(PaddingConfig2d::Same)
                    .init(device),
            );
            c = out;
        }
        let side = self.pooled.max(1);
        let (ph, pw) = (self.height.min(side), self.width.min(side));
        Cnn2d {
            convs,
            pool: AdaptiveAvgPool2dConfig::new([ph, pw]).init(),
            head: LinearConfig::new(c * ph * pw, self.outputs).init(device),
            channels_in: self.channels_in,
            height: self.height,
            width: self.width,
        }
    }
}

impl Cnn2d {
    /// `[batch, channels_in * height * width] -> [batch, outputs]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        // [batch, channels_in, height, width]
        let mut x: Tensor<4> = x.reshape([batch, self.channels_in, self.height, self.width]);
        for conv in &self.convs {
            x = relu(conv.forward(x));
        }
        // [batch, channels, ph, pw] -> [batch, channels * ph * pw]
        let x = self.pool.forward(x);
        self.head.forward(x.flatten::<2>(1, 3))
    }
}
