//! Plugin host costs: compiling a module, a call (fresh instance included) against the same
//! function in native Rust, and a hot swap.
//!
//! `cargo bench -p ganglion-plugins --bench plugin`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ganglion_plugin_abi::limits::Limits;
use ganglion_plugins::{Host, Plugin, PluginSlot, examples::TOY_WAT};

/// The toy plugin's `score`, in Rust: 1 / (1 + mean squared error) over four f32 values.
fn native_score(response: &[u8], private: &[u8]) -> f64 {
    if response.len() != 26 || response[..10] != private[..10] {
        return 0.0;
    }
    let value = |b: &[u8], k: usize| {
        let at = 10 + 4 * k;
        f64::from(f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
    };
    let err: f64 = (0..4)
        .map(|k| (value(response, k) - value(private, k)).powi(2))
        .sum();
    1.0 / (1.0 + err / 4.0)
}

fn plugin(c: &mut Criterion) {
    let wasm = wat::parse_str(TOY_WAT).unwrap();
    let mut group = c.benchmark_group("plugin");
    group.measurement_time(Duration::from_secs(3));

    group.bench_function("compile_toy_module", |b| {
        b.iter(|| {
            Host::new()
                .load(black_box(&wasm), Limits::default())
                .unwrap()
        })
    });

    let toy = Plugin::load(&wasm, Limits::default()).unwrap();
    let task = toy.task(42, 1).unwrap();
    group.bench_function("task_call", |b| {
        b.iter(|| toy.task(black_box(42), 1).unwrap())
    });
    group.bench_function("score_call", |b| {
        b.iter(|| {
            toy.score(&task.public, &task.private, black_box(&task.public))
                .unwrap()
        })
    });
    group.bench_function("score_native", |b| {
        b.iter(|| native_score(black_box(&task.public), &task.private))
    });
    assert_eq!(
        toy.score(&task.public, &task.private, &task.public)
            .unwrap(),
        native_score(&task.public, &task.private)
    );

    let slot = PluginSlot::new();
    let compiled = Arc::new(toy);
    let mut block = 0u64;
    group.bench_function("hot_swap_install", |b| {
        b.iter(|| {
            block += 1;
            slot.install(block, Arc::clone(&compiled));
            slot.prune(block);
        })
    });
    group.bench_function("slot_lookup", |b| {
        b.iter(|| slot.at(black_box(block)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, plugin);
criterion_main!(benches);
