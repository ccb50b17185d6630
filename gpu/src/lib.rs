//! Miners' models: Burn networks picked from a subnet's tensor shapes, trained on the
//! subnet's own tasks and served with batched inference; CPU by default, GPU by Cargo feature.
//!
//! This crate is plain Burn 0.22: it knows shapes and numbers, not subnets, chains or
//! networks. The caller (the `ganglion` binary) turns a subnet's task generator into a
//! [`Source`] of [`Batch`]es and its score function into an evaluation hook.
//!
//! - [`TaskShape`]: the input and output shapes and the [`Target`] (regression or classes).
//! - [`ModelKind`] and [`ModelConfig`]: the zoo ([`Mlp`], [`Cnn1d`], [`Cnn2d`],
//!   [`Transformer`]), [`ModelKind::auto`] picking one from the shapes; [`Model`] wraps any
//!   of them behind one `forward` over `[batch, input_len] -> [batch, output_len]`.
//! - [`Trainer`]: Adam with autodiff, an [`Observer`] for progress, an evaluation hook,
//!   checkpoints in a directory and [`Trainer::resume`]; reproducible bit for bit on CPU.
//! - [`Predictor`]: a trained model for inference; [`BatchService`]: a worker thread that
//!   batches concurrent requests over one.
//! - [`Backend`], [`cpu`], `gpu`: where it runs.
//!
//! ```
//! use ganglion_gpu::{Batch, BoxError, ModelConfig, ModelKind, TaskShape, TrainConfig, Trainer};
//!
//! // Learn y = -x on 16 values with the model the shapes suggest (a 1-D CNN).
//! let task = TaskShape::regression(vec![16], vec![16]);
//! let model = ModelConfig::for_task(ModelKind::auto(&task.input, &task.output), &task)?;
//! let config = TrainConfig { steps: 5, batch_size: 4, ..TrainConfig::default() };
//! let mut trainer = Trainer::new(task, model, config, &ganglion_gpu::cpu())?;
//! let mut source = |step: u64, rows: usize| -> Result<Batch, BoxError> {
//!     let inputs: Vec<f32> = (0..rows * 16).map(|i| ((i as u64 + step) % 7) as f32).collect();
//!     Ok(Batch { targets: inputs.iter().map(|x| -x).collect(), inputs })
//! };
//! trainer.run(&mut source, &mut ())?;
//! let output = trainer.predictor().predict(&[1.0; 16], 1)?;
//! assert_eq!(output.len(), 16);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Determinism
//!
//! On the CPU backend, the same seed, configuration and batches give bit-identical weights,
//! and a run resumed from a checkpoint ends where an uninterrupted one would; see
//! [`Trainer`]. GPU backends make no such promise.
//!
//! # Feature flags
//!
//! - `wgpu`: Burn's wgpu backend ([`Backend::Wgpu`], `gpu()`).
//! - `cuda`: Burn's CUDA backend ([`Backend::Cuda`], `gpu()`; preferred over wgpu when both
//!   are on). Building it runs CubeCL's build script, which downloads an LLVM bundle into
//!   `~/.local/share/tracel/` unless one is there, so the first build needs the network; the
//!   CUDA driver is loaded at run time.
//!
//! Neither is on by default: the default build compiles no GPU code.

#![doc(test(attr(deny(warnings))))]
#![warn(unused_crate_dependencies)]

mod checkpoint;
mod device;
mod models;
mod norm;
mod predict;
mod service;
mod task;
mod train;

pub use burn;

pub use checkpoint::{CheckpointError, FORMAT as CHECKPOINT_FORMAT, STATE_FILE};
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub use device::gpu;
pub use device::{Backend, Device, DeviceError, cpu};
pub use models::{
    AUTO_IMAGE_MIN_SIDE, AUTO_SEQUENCE_MIN_LEN, Activation, Cnn1d, Cnn1dConfig, Cnn2d, Cnn2dConfig,
    Mlp, MlpConfig, Model, ModelConfig, ModelKind, Transformer, TransformerConfig,
    UnknownModelKind,
};
pub use norm::Normalizer;
pub use predict::{PREDICT_CHUNK, PredictError, Predictor};
pub use service::{
    BatchService, DEFAULT_MAX_BATCH, DEFAULT_QUEUE, DEFAULT_WINDOW, ServiceConfig, ServiceError,
    ServiceStats,
};
pub use task::{MAX_ELEMENTS, ShapeError, Target, TaskShape};
pub use train::{
    Batch, BatchError, BoxError, History, MAX_BATCH_SIZE, Observer, Source, TrainConfig,
    TrainError, TrainReport, Trainer,
};

#[cfg(test)]
use criterion as _;
#[cfg(test)]
use tempfile as _;
