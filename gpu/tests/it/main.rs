//! Integration tests of ganglion-gpu: training on synthetic tasks, determinism, checkpoints,
//! and the batched inference service.

mod common;
mod experiment;
mod service;
mod train;
