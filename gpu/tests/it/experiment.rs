//! Which model learns sequence-to-sequence maps best in a short CPU budget: the measurement
//! behind `ModelKind::auto`. Ignored by default; run with
//! `cargo test -p ganglion-gpu --test it experiment -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use ganglion_gpu::{ModelConfig, ModelKind, Observer, TaskShape, TrainConfig, Trainer};

use crate::common::{local_max, mse, regression_source, reverse, shift3, smooth};

/// A map from a sequence to a sequence.
type Map = fn(&[f32]) -> Vec<f32>;

struct Budget(Instant, Duration);

impl Observer for Budget {
    fn should_stop(&mut self) -> bool {
        self.0.elapsed() >= self.1
    }
}

#[test]
#[allow(clippy::print_stdout, reason = "a measurement prints its table")]
#[ignore = "a measurement of a few minutes, not a check"]
fn experiment_seq2seq_kinds() {
    let budget: u64 = std::env::var("GPU_BUDGET_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8000);
    let lens: Vec<usize> = std::env::var("GPU_LENS")
        .ok()
        .map(|s| s.split(',').map(|x| x.parse().unwrap()).collect())
        .unwrap_or(vec![16, 64, 128]);
    let all: [(&str, Map); 4] = [
        ("reverse", reverse),
        ("smooth", smooth),
        ("shift3", shift3),
        ("localmax", local_max),
    ];
    let wanted = std::env::var("GPU_TASKS").unwrap_or_default();
    let tasks: Vec<_> = all
        .into_iter()
        .filter(|t| wanted.is_empty() || wanted.split(',').any(|w| w == t.0))
        .collect();
    let kinds: Vec<ModelKind> = std::env::var("GPU_KINDS")
        .ok()
        .map(|s| s.split(',').map(|x| x.parse().unwrap()).collect())
        .unwrap_or(vec![
            ModelKind::Mlp,
            ModelKind::Cnn1d,
            ModelKind::Transformer,
        ]);
    let lr: f64 = std::env::var("GPU_LR")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2e-3);
    for &len in &lens {
        for &(name, f) in &tasks {
            let task = TaskShape::regression(vec![len], vec![len]);
            let baseline = {
                let x = crate::common::inputs(0xe7a1, u64::MAX, 256, len);
                let y: Vec<f32> = x.chunks(len).flat_map(f).collect();
                let m = y.iter().sum::<f32>() / y.len() as f32;
                y.iter().map(|v| f64::from(v - m).powi(2)).sum::<f64>() / y.len() as f64
            };
            for &kind in &kinds {
                let model = ModelConfig::for_task(kind, &task).unwrap();
                let config = TrainConfig {
                    steps: 1_000_000,
                    batch_size: 32,
                    learning_rate: lr,
                    ..TrainConfig::default()
                };
                let mut trainer =
                    Trainer::new(task.clone(), model, config, &ganglion_gpu::cpu()).unwrap();
                let mut source = regression_source(len, 7, f);
                let mut budget = Budget(Instant::now(), Duration::from_millis(budget));
                trainer.run(&mut source, &mut budget).unwrap();
                let err = mse(&trainer.predictor(), f, 256);
                println!(
                    "len {len:4} {name:8} {kind:12} steps {:5}  r2 {:.3}",
                    trainer.step(),
                    1.0 - err / baseline
                );
            }
        }
    }
}
