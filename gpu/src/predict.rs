//! Inference with a trained model.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use crate::checkpoint::{self, CheckpointError};
use crate::models::{Model, ModelConfig};
use crate::norm::Normalizer;
use crate::task::{ShapeError, TaskShape};

/// Rows one forward pass of [`Predictor::predict`] takes at most; longer inputs run in chunks
/// of this many, which bounds the memory a single call needs.
pub const PREDICT_CHUNK: usize = 1024;

/// An inference call that could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PredictError {
    /// The input does not hold `batch` rows of the task's input length.
    #[error("expected {expected} input values ({batch} rows), got {got}")]
    BadInput {
        /// Rows asked for.
        batch: usize,
        /// `batch * input_len`.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// The backend failed to run the model or to read its output back.
    #[error("backend failed: {0}")]
    Backend(String),
}

/// A trained model ready for inference: no autodiff, no dropout, outputs mapped back to raw
/// values. Cloning is cheap (the weights are shared).
///
/// ```
/// use ganglion_gpu::{ModelConfig, ModelKind, Normalizer, Predictor, TaskShape};
///
/// let device = ganglion_gpu::cpu();
/// let task = TaskShape::regression(vec![4], vec![2]);
/// let config = ModelConfig::for_task(ModelKind::Mlp, &task)?;
/// let model = config.init(&device);
/// let predictor = Predictor::new(model, &config, task, Normalizer::IDENTITY, &device)?;
/// let out = predictor.predict(&[0.0; 12], 3)?; // 3 rows of 4 values in, 3 rows of 2 out
/// assert_eq!(out.len(), 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Predictor {
    model: Model,
    task: TaskShape,
    normalizer: Normalizer,
    device: Device,
}

impl Predictor {
    /// Wraps a model for inference on `device` (the weights move there and leave autodiff).
    /// `config` must be the one the model was built from, and fit `task`.
    pub fn new(
        model: Model,
        config: &ModelConfig,
        task: TaskShape,
        normalizer: Normalizer,
        device: &Device,
    ) -> Result<Predictor, ShapeError> {
        config.check_fits(&task)?;
        if config.kind() != model.kind() {
            return Err(ShapeError::Model(format!(
                "config is for a {} model, the model is a {}",
                config.kind(),
                model.kind()
            )));
        }
        let device = device.clone().without_autodiff();
        let model = model.valid().to_device(&device);
        Ok(Predictor {
            model,
            task,
            normalizer,
            device,
        })
    }

    /// Loads the model a [`Trainer`](crate::Trainer) saved in `dir`, onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Predictor, CheckpointError> {
        let device = device.clone().without_autodiff();
        let (state, model) = checkpoint::load_model(dir, &device)?;
        Predictor::new(
            model,
            &state.model,
            state.task,
            state.normalizer.unwrap_or_default(),
            &device,
        )
        .map_err(|e| CheckpointError::Corrupt(format!("{}: {e}", dir.display())))
    }

    /// The task the model was trained for.
    pub fn task(&self) -> &TaskShape {
        &self.task
    }

    /// Values in one input row.
    pub fn input_len(&self) -> usize {
        self.task.input_len()
    }

    /// Values in one output row.
    pub fn output_len(&self) -> usize {
        self.task.output_len()
    }

    /// The scaling applied around the model.
    pub fn normalizer(&self) -> Normalizer {
        self.normalizer
    }

    /// The model (in inference mode).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs `batch` rows (`inputs.len() == batch * input_len`, row-major) and returns
    /// `batch * output_len` values: raw regression values, or logits for classes. Each row's
    /// output depends only on that row (up to float rounding between batch sizes).
    pub fn predict(&self, inputs: &[f32], batch: usize) -> Result<Vec<f32>, PredictError> {
        let in_len = self.input_len();
        let expected = batch.saturating_mul(in_len);
        if inputs.len() != expected {
            return Err(PredictError::BadInput {
                batch,
                expected,
                got: inputs.len(),
            });
        }
        let mut out = Vec::with_capacity(batch * self.output_len());
        for chunk in inputs.chunks(PREDICT_CHUNK * in_len) {
            let rows = chunk.len() / in_len;
            let mut x = chunk.to_vec();
            self.normalizer.scale_inputs(&mut x);
            let x = Tensor::<2>::from_data(TensorData::new(x, [rows, in_len]), &self.device);
            let y = self
                .model
                .forward(x)
                .try_into_data()
                .map_err(|e| PredictError::Backend(e.to_string()))?
                .try_into_vec::<f32>()
                .map_err(|e| PredictError::Backend(format!("{e:?}")))?;
            out.extend_from_slice(&y);
        }
        if matches!(self.task.target, crate::Target::Regression) {
            self.normalizer.unscale_outputs(&mut out);
        }
        Ok(out)
    }

    /// For a classification task, the most likely class of each row (the first on ties);
    /// for regression, the index of each row's largest output.
    pub fn predict_classes(
        &self,
        inputs: &[f32],
        batch: usize,
    ) -> Result<Vec<usize>, PredictError> {
        let out = self.predict(inputs, batch)?;
        Ok(out
            .chunks(self.output_len())
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                        if v > best.1 { (i, v) } else { best }
                    })
                    .0
            })
            .collect())
    }
}
