//! A multi-layer perceptron: the model for inputs with no structure to exploit.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::Activation;

/// Configuration of an [`Mlp`]: `inputs -> hidden[0] -> ... -> outputs`, each hidden layer
/// followed by the activation and dropout.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// Widths of the hidden layers (default `[128, 128]`).
    #[config(default = "vec![128, 128]")]
    pub hidden: Vec<usize>,
    /// The activation after each hidden layer (default ReLU).
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Dropout probability after each hidden layer during training (default 0: none).
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// A multi-layer perceptron. Build it with [`MlpConfig::init`].
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    activation: burn::nn::activation::Activation,
    dropout: Dropout,
    head: Linear,
}

impl MlpConfig {
    /// The model, its parameters on `device` (drawn lazily from the device's generator).
    pub fn init(&self, device: &Device) -> Mlp {
        let mut hidden = Vec::with_capacity(self.hidden.len());
        let mut width = self.inputs;
        for &h in &self.hidden {
            hidden.push(LinearConfig::new(width, h).init(device));
            width = h;
        }
        Mlp {
            hidden,
            activation: self.activation.init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            head: LinearConfig::new(width, self.outputs).init(device),
        }
    }
}

impl Mlp {
    /// `[batch, inputs] -> [batch, outputs]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut x = x;
        for layer in &self.hidden {
            x = self
                .dropout
                .forward(self.activation.forward(layer.forward(x)));
        }
        self.head.forward(x)
    }
}
