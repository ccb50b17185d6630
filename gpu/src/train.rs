//! Training: Adam with autodiff over batches the caller supplies, progress through an
//! [`Observer`], evaluation through a hook, checkpoints that resume bit-for-bit.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, Reduction};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointError, StateParts};
use crate::models::{Model, ModelConfig};
use crate::norm::Normalizer;
use crate::predict::Predictor;
use crate::task::{ShapeError, Target, TaskShape};

/// The largest batch a [`TrainConfig`] may ask for.
pub const MAX_BATCH_SIZE: usize = 1 << 16;

/// An error from outside this crate: what a [`Source`] returns when it cannot make a batch.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Burn's CPU backend keeps one random generator for the whole process. Everything here that
/// seeds it and then draws from it (initialization, dropout) holds this lock in between, so
/// concurrent trainers in one process stay reproducible.
static RNG: Mutex<()> = Mutex::new(());

fn rng_lock() -> MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// SplitMix64: spreads `(seed, step)` into the seed of one step's dropout draws.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One batch of examples, flat and row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// `rows * input_len` values.
    pub inputs: Vec<f32>,
    /// `rows * output_len` values for regression; `rows` class indices (as whole `f32`s) for
    /// classes.
    pub targets: Vec<f32>,
}

/// A batch that does not fit the task.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError {
    /// The inputs are empty or not a whole number of rows.
    #[error("{got} input values are not a positive whole number of rows of {row}")]
    Inputs {
        /// Values in one input row.
        row: usize,
        /// Values given.
        got: usize,
    },
    /// The targets do not match the number of input rows.
    #[error("{rows} rows need {expected} target values, got {got}")]
    Targets {
        /// Rows in the batch.
        rows: usize,
        /// Target values needed.
        expected: usize,
        /// Target values given.
        got: usize,
    },
    /// A batch of another size than the one asked for.
    #[error("asked for {asked} rows, got {got}")]
    Rows {
        /// Rows asked for.
        asked: usize,
        /// Rows given.
        got: usize,
    },
    /// An input or target is NaN or infinite.
    #[error("{0} holds a NaN or infinite value")]
    NonFinite(&'static str),
    /// A class target is not a whole number in `0..classes`.
    #[error("class target {value} is not one of 0..{classes}")]
    Class {
        /// The target given.
        value: f32,
        /// Classes of the task.
        classes: usize,
    },
}

impl Batch {
    /// Checks the batch against `task` and returns its number of rows.
    pub fn rows(&self, task: &TaskShape) -> Result<usize, BatchError> {
        let row = task.input_len();
        if self.inputs.is_empty() || !self.inputs.len().is_multiple_of(row) {
            return Err(BatchError::Inputs {
                row,
                got: self.inputs.len(),
            });
        }
        let rows = self.inputs.len() / row;
        let expected = rows * task.target_len();
        if self.targets.len() != expected {
            return Err(BatchError::Targets {
                rows,
                expected,
                got: self.targets.len(),
            });
        }
        if !self.inputs.iter().all(|v| v.is_finite()) {
            return Err(BatchError::NonFinite("inputs"));
        }
        if !self.targets.iter().all(|v| v.is_finite()) {
            return Err(BatchError::NonFinite("targets"));
        }
        if let Target::Classes(classes) = task.target
            && let Some(&value) = self
                .targets
                .iter()
                .find(|&&t| t < 0.0 || t.fract() != 0.0 || t >= classes as f32)
        {
            return Err(BatchError::Class { value, classes });
        }
        Ok(rows)
    }
}

/// Where training batches come from: the caller's task generator or data set.
///
/// `step` is the 0-based index of the training step the batch is for. For [`Trainer::resume`]
/// to continue exactly as an uninterrupted run would, the batch must depend only on `step`
/// (for instance a generator seeded with `(seed, step)`), not on how many batches came before
/// in this process.
///
/// Closures `FnMut(u64, usize) -> Result<Batch, BoxError>` are sources.
pub trait Source {
    /// The batch of `size` rows for training step `step`.
    fn batch(&mut self, step: u64, size: usize) -> Result<Batch, BoxError>;
}

impl<F> Source for F
where
    F: FnMut(u64, usize) -> Result<Batch, BoxError>,
{
    fn batch(&mut self, step: u64, size: usize) -> Result<Batch, BoxError> {
        self(step, size)
    }
}

/// Watches a training run (progress bars, logs) and may stop it. Every method has a default
/// that does nothing; `()` is the observer that watches nothing.
pub trait Observer {
    /// After each step: `step` steps are done in all, the last one's loss was `loss` (mean
    /// squared error in the targets' raw units, or cross-entropy in nats).
    fn on_step(&mut self, _step: u64, _loss: f32) {}

    /// After each evaluation: the hook scored the model at `step` steps.
    fn on_eval(&mut self, _step: u64, _score: f64) {}

    /// After each checkpoint written to `dir` at `step` steps.
    fn on_checkpoint(&mut self, _step: u64, _dir: &Path) {}

    /// Asked before each step: `true` ends the run there (it still evaluates and checkpoints
    /// as at a normal end).
    fn should_stop(&mut self) -> bool {
        false
    }
}

impl Observer for () {}

/// An [`Observer`] that records every loss and score.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// `(step, loss)` after each step.
    pub losses: Vec<(u64, f32)>,
    /// `(step, score)` after each evaluation.
    pub scores: Vec<(u64, f64)>,
}

impl History {
    /// The mean loss of the `n` first recorded steps, or of all if fewer.
    pub fn mean_first(&self, n: usize) -> f32 {
        mean(self.losses.iter().take(n).map(|l| l.1))
    }

    /// The mean loss of the `n` last recorded steps, or of all if fewer.
    pub fn mean_last(&self, n: usize) -> f32 {
        mean(self.losses.iter().rev().take(n).map(|l| l.1))
    }
}

fn mean(values: impl Iterator<Item = f32>) -> f32 {
    let (n, sum) = values.fold((0u32, 0.0f64), |(n, s), v| (n + 1, s + f64::from(v)));
    if n == 0 {
        f32::NAN
    } else {
        (sum / f64::from(n)) as f32
    }
}

impl Observer for History {
    fn on_step(&mut self, step: u64, loss: f32) {
        self.losses.push((step, loss));
    }

    fn on_eval(&mut self, step: u64, score: f64) {
        self.scores.push((step, score));
    }
}

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Total training steps; a run stops when the trainer has done this many (default 1000).
    pub steps: u64,
    /// Rows per batch (default 32).
    pub batch_size: usize,
    /// Adam's learning rate (default 1e-3).
    pub learning_rate: f64,
    /// Seeds the initial weights and dropout (default 0).
    pub seed: u64,
    /// Evaluate every this many steps, and at the end of a run; 0: only at the end (default 0).
    pub eval_every: u64,
    /// Checkpoint every this many steps, and at the end of a run, when the trainer has a
    /// checkpoint directory; 0: only at the end (default 0).
    pub checkpoint_every: u64,
    /// Fit a [`Normalizer`] on the first batch (default true). Off, values go to the model as
    /// given.
    pub normalize: bool,
    /// Clip each parameter's gradient to this L2 norm (default none).
    pub grad_clip: Option<f32>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            steps: 1000,
            batch_size: 32,
            learning_rate: 1e-3,
            seed: 0,
            eval_every: 0,
            checkpoint_every: 0,
            normalize: true,
            grad_clip: None,
        }
    }
}

impl TrainConfig {
    /// Checks that the batch size is in `1..=`[`MAX_BATCH_SIZE`] and the learning rate and
    /// clip are positive and finite.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            return Err(format!(
                "batch size {} is not in 1..={MAX_BATCH_SIZE}",
                self.batch_size
            ));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!(
                "learning rate {} is not positive and finite",
                self.learning_rate
            ));
        }
        if let Some(c) = self.grad_clip
            && !(c.is_finite() && c > 0.0)
        {
            return Err(format!("gradient clip {c} is not positive and finite"));
        }
        Ok(())
    }

    fn optimizer(&self) -> ModuleOptimizer {
        AdamConfig::new()
            .with_grad_clipping(self.grad_clip.map(GradientClippingConfig::Norm))
            .init()
    }
}

/// Training that could not go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The task or the model configuration is unusable.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// The training configuration is unusable.
    #[error("bad training configuration: {0}")]
    Config(String),
    /// The source could not make the batch of a step.
    #[error("source failed at step {step}: {source}")]
    Source {
        /// The step the batch was for.
        step: u64,
        /// What failed.
        source: BoxError,
    },
    /// A batch does not fit the task.
    #[error("bad batch at step {step}: {source}")]
    Batch {
        /// The step the batch was for.
        step: u64,
        /// What is wrong with it.
        source: BatchError,
    },
    /// The loss became NaN or infinite: lower the learning rate or clip gradients.
    #[error("training diverged at step {step} (loss {loss})")]
    Diverged {
        /// The step whose loss was not finite.
        step: u64,
        /// The loss.
        loss: f32,
    },
    /// The backend failed.
    #[error("backend failed: {0}")]
    Backend(String),
    /// A checkpoint could not be written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// What a [`Trainer::run`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// Steps done when the run began.
    pub start_step: u64,
    /// Steps done when it ended.
    pub end_step: u64,
    /// The last step's loss, if a step ran.
    pub last_loss: Option<f32>,
    /// The last evaluation's score, if there was an evaluation hook.
    pub last_score: Option<f64>,
    /// Whether the observer stopped the run before [`TrainConfig::steps`].
    pub stopped: bool,
}

/// Trains one model on one task with Adam.
///
/// Reproducible on the CPU backend: the same task, model and training configuration and the
/// same batches give bit-identical weights, whether in one run or resumed from checkpoints
/// ([`Trainer::resume`]). Initialization draws from Burn's random generator seeded with
/// [`TrainConfig::seed`]; a model with dropout reseeds it at every step from `(seed, step)`.
/// Both hold a process-wide lock while they seed and draw, so concurrent trainers do not
/// disturb each other (code outside this crate that draws from Burn's generator meanwhile
/// could).
///
/// ```
/// use ganglion_gpu::{
///     Batch, BoxError, History, ModelConfig, ModelKind, TaskShape, TrainConfig, Trainer,
/// };
///
/// let task = TaskShape::regression(vec![4], vec![1]);
/// let model = ModelConfig::for_task(ModelKind::Mlp, &task)?;
/// let config = TrainConfig { steps: 20, batch_size: 8, ..TrainConfig::default() };
/// let mut trainer = Trainer::new(task, model, config, &ganglion_gpu::cpu())?;
/// // y = sum(x), on a fixed stream of batches.
/// let mut source = |step: u64, size: usize| -> Result<Batch, BoxError> {
///     let inputs: Vec<f32> = (0..size * 4).map(|i| ((i as u64 * 7 + step) % 5) as f32).collect();
///     let targets = inputs.chunks(4).map(|r| r.iter().sum()).collect();
///     Ok(Batch { inputs, targets })
/// };
/// let mut history = History::default();
/// let report = trainer.run(&mut source, &mut history)?;
/// assert_eq!((report.end_step, history.losses.len()), (20, 20));
/// let predictor = trainer.predictor();
/// assert_eq!(predictor.predict(&[1.0, 2.0, 3.0, 4.0], 1)?.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Trainer {
    task: TaskShape,
    model_config: ModelConfig,
    config: TrainConfig,
    /// The autodiff device.
    device: Device,
    model: Model,
    optim: ModuleOptimizer,
    step: u64,
    normalizer: Option<Normalizer>,
    checkpoint_dir: Option<PathBuf>,
    last_loss: Option<f32>,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("task", &self.task)
            .field("model_config", &self.model_config)
            .field("config", &self.config)
            .field("step", &self.step)
            .field("normalizer", &self.normalizer)
            .field("checkpoint_dir", &self.checkpoint_dir)
            .finish_non_exhaustive()
    }
}

impl Trainer {
    /// A fresh model for `task`, its weights drawn with [`TrainConfig::seed`], trained on
    /// `device` (with autodiff).
    pub fn new(
        task: TaskShape,
        model: ModelConfig,
        config: TrainConfig,
        device: &Device,
    ) -> Result<Trainer, TrainError> {
        model.check_fits(&task)?;
        config.validate().map_err(TrainError::Config)?;
        let device = device.clone().autodiff();
        let net = {
            let _rng = rng_lock();
            device.seed(config.seed);
            let net = model.init(&device);
            net.materialize_params();
            net
        };
        tracing::debug!(
            target: "ganglion::gpu",
            kind = %model.kind(),
            params = net.num_params(),
            seed = config.seed,
            "trainer ready"
        );
        Ok(Trainer {
            task,
            model_config: model,
            optim: config.optimizer(),
            config,
            device,
            model: net,
            step: 0,
            normalizer: None,
            checkpoint_dir: None,
            last_loss: None,
        })
    }

    /// Continues from the checkpoint in `dir` on `device`: the same weights, optimizer state,
    /// step, configurations and normalizer, and further checkpoints go to `dir`. Training on
    /// from here with the same batches gives the weights an uninterrupted run would have.
    ///
    /// Burn restores optimizer state on its default device and moves it to `device` at the
    /// next step: in a build with a GPU feature that default is the GPU (or the backend the
    /// `BURN_DEVICE` environment variable names), so on a machine without one set
    /// `BURN_DEVICE=flex`.
    pub fn resume(dir: &Path, device: &Device) -> Result<Trainer, CheckpointError> {
        let device = device.clone().autodiff();
        let (state, model) = checkpoint::load_model(dir, &device)?;
        let optim = checkpoint::load_optim(dir, &state, state.train.optimizer())?;
        tracing::debug!(
            target: "ganglion::gpu",
            step = state.step,
            dir = %dir.display(),
            "resumed"
        );
        Ok(Trainer {
            task: state.task,
            model_config: state.model,
            config: state.train,
            device,
            model,
            optim,
            step: state.step,
            normalizer: state.normalizer,
            checkpoint_dir: Some(dir.to_path_buf()),
            last_loss: None,
        })
    }

    /// Checkpoints go to `dir` (see [`TrainConfig::checkpoint_every`]).
    pub fn with_checkpoint_dir(mut self, dir: impl Into<PathBuf>) -> Trainer {
        self.checkpoint_dir = Some(dir.into());
        self
    }

    /// Steps done so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The task.
    pub fn task(&self) -> &TaskShape {
        &self.task
    }

    /// The model's configuration.
    pub fn model_config(&self) -> &ModelConfig {
        &self.model_config
    }

    /// The training configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Sets the total number of steps (to train a resumed run further, say).
    pub fn set_steps(&mut self, steps: u64) {
        self.config.steps = steps;
    }

    /// The scaling fitted on the first batch (`None` before the first step).
    pub fn normalizer(&self) -> Option<Normalizer> {
        self.normalizer
    }

    /// The model being trained (on the autodiff device).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model as it is now, ready for inference on the training device without autodiff.
    pub fn predictor(&self) -> Predictor {
        self.predictor_on(&self.device)
    }

    /// The model as it is now, ready for inference on `device`.
    pub fn predictor_on(&self, device: &Device) -> Predictor {
        match Predictor::new(
            self.model.clone(),
            &self.model_config,
            self.task.clone(),
            self.normalizer.unwrap_or_default(),
            device,
        ) {
            Ok(p) => p,
            // `new` checked the configuration against the task and built the model from it.
            Err(e) => unreachable!("trainer holds a model that does not fit its task: {e}"),
        }
    }

    /// Writes a checkpoint of the current state into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), CheckpointError> {
        checkpoint::save(
            dir,
            StateParts {
                step: self.step,
                task: &self.task,
                model: &self.model_config,
                train: &self.config,
                normalizer: self.normalizer,
            },
            &self.model,
            &self.optim,
        )
    }

    /// One Adam step on `batch` (any positive number of rows). Returns the loss before the
    /// update: mean squared error in the targets' raw units, or cross-entropy in nats. The
    /// first batch fits the [`Normalizer`] if [`TrainConfig::normalize`] is on.
    pub fn train_batch(&mut self, batch: Batch) -> Result<f32, TrainError> {
        let step = self.step;
        let rows = batch
            .rows(&self.task)
            .map_err(|source| TrainError::Batch { step, source })?;
        let Batch {
            mut inputs,
            mut targets,
        } = batch;
        let regression = matches!(self.task.target, Target::Regression);
        let norm = *self.normalizer.get_or_insert_with(|| {
            if self.config.normalize {
                Normalizer::fit(&inputs, regression.then_some(&targets[..]))
            } else {
                Normalizer::IDENTITY
            }
        });
        norm.scale_inputs(&mut inputs);
        let x = Tensor::<2>::from_data(
            TensorData::new(inputs, [rows, self.task.input_len()]),
            &self.device,
        );
        let output = if self.model_config.uses_dropout() {
            let _rng = rng_lock();
            self.device.seed(mix(self.config.seed ^ mix(step)));
            self.model.forward(x)
        } else {
            self.model.forward(x)
        };
        let (loss, unit) = match self.task.target {
            Target::Regression => {
                norm.scale_targets(&mut targets);
                let y = Tensor::<2>::from_data(
                    TensorData::new(targets, [rows, self.task.output_len()]),
                    &self.device,
                );
                let unit = norm.output_std * norm.output_std;
                (MseLoss::new().forward(output, y, Reduction::Mean), unit)
            }
            Target::Classes(_) => {
                let classes: Vec<i64> = targets.iter().map(|&t| t as i64).collect();
                let y = Tensor::<1, Int>::from_data(TensorData::new(classes, [rows]), &self.device);
                let ce = CrossEntropyLossConfig::new().init(&self.device);
                (ce.forward(output, y), 1.0)
            }
        };
        let value = loss
            .clone()
            .try_into_scalar::<f32>()
            .map_err(|e| TrainError::Backend(format!("{e:?}")))?;
        if !value.is_finite() {
            return Err(TrainError::Diverged { step, loss: value });
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self
            .optim
            .step(self.config.learning_rate, self.model.clone(), grads);
        self.step += 1;
        let value = value * unit;
        self.last_loss = Some(value);
        Ok(value)
    }

    /// Trains until [`TrainConfig::steps`] steps are done (or the observer stops it), taking
    /// batches of [`TrainConfig::batch_size`] rows from `source`, checkpointing as configured.
    pub fn run(
        &mut self,
        source: &mut dyn Source,
        observer: &mut dyn Observer,
    ) -> Result<TrainReport, TrainError> {
        self.run_inner(source, observer, None)
    }

    /// [`run`](Trainer::run), scoring the model with `eval` every
    /// [`TrainConfig::eval_every`] steps and at the end. The hook gets a [`Predictor`] and
    /// returns a score (the subnet's own score function, say; higher is better).
    pub fn run_with_eval(
        &mut self,
        source: &mut dyn Source,
        observer: &mut dyn Observer,
        eval: &mut dyn FnMut(&Predictor) -> f64,
    ) -> Result<TrainReport, TrainError> {
        self.run_inner(source, observer, Some(eval))
    }

    fn run_inner(
        &mut self,
        source: &mut dyn Source,
        observer: &mut dyn Observer,
        mut eval: Option<&mut dyn FnMut(&Predictor) -> f64>,
    ) -> Result<TrainReport, TrainError> {
        let start_step = self.step;
        let size = self.config.batch_size;
        let mut last_score = None;
        let mut evaluated_at = None;
        let mut saved_at = None;
        let mut stopped = false;
        while self.step < self.config.steps {
            if observer.should_stop() {
                stopped = true;
                break;
            }
            let step = self.step;
            let batch = source
                .batch(step, size)
                .map_err(|source| TrainError::Source { step, source })?;
            let rows = batch
                .rows(&self.task)
                .map_err(|source| TrainError::Batch { step, source })?;
            if rows != size {
                let source = BatchError::Rows {
                    asked: size,
                    got: rows,
                };
                return Err(TrainError::Batch { step, source });
            }
            let loss = self.train_batch(batch)?;
            observer.on_step(self.step, loss);
            if let Some(eval) = eval.as_deref_mut()
                && self.config.eval_every > 0
                && self.step.is_multiple_of(self.config.eval_every)
            {
                let score = eval(&self.predictor());
                observer.on_eval(self.step, score);
                last_score = Some(score);
                evaluated_at = Some(self.step);
            }
            if let Some(dir) = &self.checkpoint_dir
                && self.config.checkpoint_every > 0
                && self.step.is_multiple_of(self.config.checkpoint_every)
            {
                self.save(dir)?;
                observer.on_checkpoint(self.step, dir);
                saved_at = Some(self.step);
            }
        }
        if let Some(eval) = eval
            && evaluated_at != Some(self.step)
        {
            let score = eval(&self.predictor());
            observer.on_eval(self.step, score);
            last_score = Some(score);
        }
        if let Some(dir) = &self.checkpoint_dir
            && saved_at != Some(self.step)
        {
            self.save(dir)?;
            observer.on_checkpoint(self.step, dir);
        }
        Ok(TrainReport {
            start_step,
            end_step: self.step,
            last_loss: self.last_loss,
            last_score,
            stopped,
        })
    }
}
