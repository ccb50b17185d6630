//! The model zoo on the CPU backend (`flex`, one thread):
//!
//! - `infer_<kind>_<shape>_b<batch>`: [`Predictor::predict`] of a batch of 1 or 64 rows
//!   (throughput in rows, so criterion's elements/s are samples/s);
//! - `train_<kind>_<shape>_b32`: one Adam step ([`Trainer::train_batch`]) on 32 rows
//!   (throughput in steps).
//!
//! Shapes: `64to64` is a sequence of 64 values to 64 (MLP, 1-D CNN, transformer), `8x8to10` an
//! 8x8 grid to 10 class logits (2-D CNN). Run with `cargo bench -p ganglion-gpu --bench models`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ganglion_gpu::{
    Batch, ModelConfig, ModelKind, Predictor, Target, TaskShape, TrainConfig, Trainer,
};

fn cases() -> Vec<(ModelKind, &'static str, TaskShape)> {
    let seq = TaskShape::regression(vec![64], vec![64]);
    let image = TaskShape::new(vec![8, 8], vec![10], Target::Classes(10));
    vec![
        (ModelKind::Mlp, "64to64", seq.clone()),
        (ModelKind::Cnn1d, "64to64", seq.clone()),
        (ModelKind::Cnn2d, "8x8to10", image),
        (ModelKind::Transformer, "64to64", seq),
    ]
}

/// Deterministic inputs in [-1, 1).
fn values(n: usize, salt: u64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let z = (i ^ salt).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
            z as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn batch(task: &TaskShape, rows: usize) -> Batch {
    let inputs = values(rows * task.input_len(), 1);
    let targets = match task.target {
        Target::Regression => values(rows * task.output_len(), 2),
        Target::Classes(c) => (0..rows).map(|i| (i % c) as f32).collect(),
    };
    Batch { inputs, targets }
}

fn trainer(kind: ModelKind, task: &TaskShape) -> Trainer {
    let model = ModelConfig::for_task(kind, task).expect("config");
    let config = TrainConfig {
        batch_size: 32,
        ..TrainConfig::default()
    };
    Trainer::new(task.clone(), model, config, &ganglion_gpu::cpu()).expect("trainer")
}

fn infer(c: &mut Criterion) {
    let mut group = c.benchmark_group("infer");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for (kind, shape, task) in cases() {
        let predictor: Predictor = trainer(kind, &task).predictor();
        for rows in [1usize, 64] {
            let x = values(rows * task.input_len(), 3);
            group.throughput(Throughput::Elements(rows as u64));
            group.bench_function(format!("{kind}_{shape}_b{rows}"), |b| {
                b.iter(|| predictor.predict(black_box(&x), rows).expect("predict"))
            });
        }
    }
    group.finish();
}

fn train(c: &mut Criterion) {
    let mut group = c.benchmark_group("train");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for (kind, shape, task) in cases() {
        let mut trainer = trainer(kind, &task);
        let batch = batch(&task, 32);
        group.bench_function(format!("{kind}_{shape}_b32"), |b| {
            b.iter(|| trainer.train_batch(batch.clone()).expect("step"))
        });
    }
    group.finish();
}

criterion_group!(benches, infer, train);
criterion_main!(benches);
