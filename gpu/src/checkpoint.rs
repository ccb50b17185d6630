//! Checkpoints: a directory with the model's and the optimizer's burnpack records and a
//! `state.json` that names them.
//!
//! ```text
//! dir/state.json          {"format": 1, "step": 200, "task": ..., "model": ..., "train": ...,
//!                          "normalizer": ..., "model_file": "model-200.bpk",
//!                          "optim_file": "optim-200.bpk"}
//! dir/model-200.bpk       the model's parameters (Burn's burnpack format)
//! dir/optim-200.bpk       Adam's state (moments and step counts)
//! ```
//!
//! A save writes the records under new names, then replaces `state.json` by renaming a
//! temporary file over it, then deletes the records of earlier saves: a process killed at any
//! point leaves the previous or the new checkpoint whole.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::{ModuleRecord, RecordError};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::models::{Model, ModelConfig};
use crate::norm::Normalizer;
use crate::task::TaskShape;
use crate::train::TrainConfig;

/// The `format` this version writes and reads.
pub const FORMAT: u32 = 1;

/// The file in a checkpoint directory that names the rest.
pub const STATE_FILE: &str = "state.json";

/// A checkpoint that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file could not be read, written, renamed or removed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// `state.json` is not valid JSON of the expected form.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: serde_json::Error,
    },
    /// Burn could not write or read a record, or it does not fit the model.
    #[error("{}: {source}", path.display())]
    Record {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: RecordError,
    },
    /// The files parse but do not make a consistent checkpoint.
    #[error("corrupt checkpoint: {0}")]
    Corrupt(String),
    /// Written by a version of this crate with another format.
    #[error("checkpoint format {found} is not {FORMAT}, the one this version reads")]
    Format {
        /// The format found.
        found: u32,
    },
}

/// What `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) format: u32,
    pub(crate) step: u64,
    pub(crate) task: TaskShape,
    pub(crate) model: ModelConfig,
    pub(crate) train: TrainConfig,
    pub(crate) normalizer: Option<Normalizer>,
    pub(crate) model_file: String,
    pub(crate) optim_file: String,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn record_err(path: &Path) -> impl FnOnce(RecordError) -> CheckpointError + '_ {
    move |source| CheckpointError::Record {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a checkpoint of `step` into `dir` (created if missing).
pub(crate) fn save(
    dir: &Path,
    state: StateParts<'_>,
    model: &Model,
    optim: &ModuleOptimizer,
) -> Result<(), CheckpointError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let model_file = format!("model-{}.bpk", state.step);
    let optim_file = format!("optim-{}.bpk", state.step);

    let path = dir.join(&model_file);
    model
        .clone()
        .into_record()
        .save(&path)
        .map_err(record_err(&path))?;
    let path = dir.join(&optim_file);
    optim.save(&path).map_err(record_err(&path))?;

    let state = State {
        format: FORMAT,
        step: state.step,
        task: state.task.clone(),
        model: state.model.clone(),
        train: state.train.clone(),
        normalizer: state.normalizer,
        model_file,
        optim_file,
    };
    let json = serde_json::to_vec_pretty(&state).map_err(|source| CheckpointError::Json {
        path: dir.join(STATE_FILE),
        source,
    })?;
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    fs::write(&tmp, json).map_err(io_err(&tmp))?;
    let path = dir.join(STATE_FILE);
    fs::rename(&tmp, &path).map_err(io_err(&path))?;

    tracing::debug!(
        target: "ganglion::gpu",
        step = state.step,
        dir = %dir.display(),
        "checkpoint written"
    );

    // Earlier records are garbage now; failing to delete them loses nothing.
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours = (name.starts_with("model-") || name.starts_with("optim-"))
                && name.ends_with(".bpk");
            if ours && name != state.model_file && name != state.optim_file {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// The parts of [`State`] the trainer provides.
pub(crate) struct StateParts<'a> {
    pub(crate) step: u64,
    pub(crate) task: &'a TaskShape,
    pub(crate) model: &'a ModelConfig,
    pub(crate) train: &'a TrainConfig,
    pub(crate) normalizer: Option<Normalizer>,
}

/// Reads and checks `dir/state.json`.
pub(crate) fn load_state(dir: &Path) -> Result<State, CheckpointError> {
    let path = dir.join(STATE_FILE);
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    let state: State =
        serde_json::from_slice(&bytes).map_err(|source| CheckpointError::Json { path, source })?;
    if state.format != FORMAT {
        return Err(CheckpointError::Format {
            found: state.format,
        });
    }
    let corrupt = |msg: String| {
        Err(CheckpointError::Corrupt(format!(
            "{}: {msg}",
            dir.display()
        )))
    };
    if let Err(e) = state.model.check_fits(&state.task) {
        return corrupt(e.to_string());
    }
    if let Err(e) = state.train.validate() {
        return corrupt(e);
    }
    if state.normalizer.is_some_and(|n| !n.is_valid()) {
        return corrupt(format!("invalid normalizer {:?}", state.normalizer));
    }
    for (file, prefix) in [(&state.model_file, "model-"), (&state.optim_file, "optim-")] {
        let plain = file
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(".bpk"))
            .is_some_and(|step| step == state.step.to_string());
        if !plain {
            return corrupt(format!("unexpected record file name {file:?}"));
        }
    }
    Ok(state)
}

/// Reads the checkpoint's state and its model, built on `device`.
pub(crate) fn load_model(dir: &Path, device: &Device) -> Result<(State, Model), CheckpointError> {
    let state = load_state(dir)?;
    let path = dir.join(&state.model_file);
    let record = ModuleRecord::load(&path).map_err(record_err(&path))?;
    let model = state
        .model
        .init(device)
        .try_load_record(record)
        .map_err(record_err(&path))?;
    Ok((state, model))
}

/// Loads the checkpoint's optimizer state into `optim`.
pub(crate) fn load_optim(
    dir: &Path,
    state: &State,
    optim: ModuleOptimizer,
) -> Result<ModuleOptimizer, CheckpointError> {
    let path = dir.join(&state.optim_file);
    optim.load(&path).map_err(record_err(&path))
}
