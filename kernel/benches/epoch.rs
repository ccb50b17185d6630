//! The Yuma epoch on the shapes of the spec's timing table (`docs/yuma.md`).
//!
//! `cargo bench -p ganglion-kernel --bench epoch`. Each case is a realistic subnet from
//! `yuma::synth::subnet`: every validator active and permitted, bonds from a previous epoch.
//! The `reference_*` cases time the step-by-step port of the chain's sparse epoch on the
//! same inputs, for comparison on the same machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ganglion_kernel::yuma::{self, synth};

fn shape(n: usize, validators: usize, per: usize, yuma3: bool, liquid_alpha: bool) -> synth::Shape {
    synth::Shape {
        n,
        validators,
        weights_per_validator: per,
        yuma3,
        liquid_alpha,
        seed: 2026,
    }
}

fn cases() -> Vec<(&'static str, synth::Shape)> {
    vec![
        ("epoch_n256_v64", shape(256, 64, 32, false, false)),
        ("epoch_n1024_v64", shape(1024, 64, 128, false, false)),
        ("epoch_n4096_v64", shape(4096, 64, 4096, false, false)),
        ("epoch_n4096_v256", shape(4096, 256, 4096, false, false)),
        (
            "epoch_n4096_v64_yuma3_liquid_alpha",
            shape(4096, 64, 4096, true, true),
        ),
    ]
}

fn epoch(c: &mut Criterion) {
    let mut group = c.benchmark_group("yuma");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    for (name, shape) in cases() {
        let input = synth::subnet(&shape);
        group.bench_function(name, |b| b.iter(|| yuma::epoch(black_box(&input)).unwrap()));
    }
    group.finish();
}

fn reference(c: &mut Criterion) {
    let mut group = c.benchmark_group("yuma");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    // The reference is quadratic; its Yuma3 liquid-alpha case takes seconds per run.
    for (name, shape) in cases().into_iter().take(4) {
        let input = synth::subnet(&shape);
        let name = name.replace("epoch_", "reference_");
        group.bench_function(name, |b| {
            b.iter(|| yuma::reference::epoch(black_box(&input)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, epoch, reference);
criterion_main!(benches);
