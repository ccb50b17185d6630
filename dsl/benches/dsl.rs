//! Benchmarks of the subnet language.
//!
//! - `compile/NAME`: parse, check and compile each example spec to its module.
//! - `task/NAME/{plugin,rust}` and `score/NAME/{plugin,rust}`: one task generated (and one
//!   response scored) by the compiled plugin in the wasmtime host, against a hand-written
//!   Rust version of the same example doing the same work (draws, arithmetic, payload
//!   encoding and decoding). The plugin's numbers include the host's per-call cost: a fresh
//!   instance, fuel metering and copying the payloads in and out.
//!
//! Run: `cargo bench -p ganglion-dsl --bench dsl`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use ganglion_dsl::check::DirFiles;
use ganglion_dsl::ir::Program;
use ganglion_dsl::rng::Rng;
use ganglion_plugin_abi::limits::Limits;
use ganglion_plugin_abi::payload::{self, Tensor};
use ganglion_plugins::Plugin;

const EXAMPLES: [&str; 4] = ["denoise", "forecast", "digits", "sort"];

fn spec_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../subnets")
        .join(name)
        .join(format!("{name}.subnet"))
}

/// The normal draw of the DSL (two uniforms, Box-Muller, cosine branch).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = rng.uniform();
    let u2 = rng.uniform();
    (-2.0 * libm::log(1.0 - u1)).sqrt() * libm::cos(std::f64::consts::TAU * u2)
}

fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.uniform()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len() as f64
}

/// denoise by hand.
fn denoise_task(seed: u64, round: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(seed, round);
    let t: Vec<f64> = (0..64)
        .map(|i| std::f64::consts::TAU * i as f64 / 63.0)
        .collect();
    let mut clean = vec![0.0; 64];
    for _ in 0..3 {
        let a = uniform(&mut rng, 0.2, 1.0);
        let f = uniform(&mut rng, 1.0, 8.0);
        let p = uniform(&mut rng, 0.0, std::f64::consts::TAU);
        for (c, &x) in clean.iter_mut().zip(&t) {
            *c += a * libm::sin(f * x + p);
        }
    }
    let level = uniform(&mut rng, 0.1, 0.5);
    let noisy: Vec<f64> = clean.iter().map(|c| c + level * normal(&mut rng)).collect();
    (
        payload::encode(&[Tensor::f32(vec![64], &f32s(&noisy))]),
        payload::encode(&[Tensor::f32(vec![64], &f32s(&clean))]),
    )
}

fn denoise_score(public: &[u8], private: &[u8], response: &[u8]) -> f64 {
    let noisy = payload::decode(public).unwrap()[0].to_f64s();
    let clean = payload::decode(private).unwrap()[0].to_f64s();
    let Ok(r) = payload::decode(response) else {
        return 0.0;
    };
    let r = r[0].to_f64s();
    if r.len() != 64 || r.iter().any(|v| !v.is_finite()) {
        return 0.0;
    }
    (1.0 - (mse(&r, &clean) / mse(&noisy, &clean)).clamp(0.0, 1.0)).clamp(0.0, 1.0)
}

/// forecast by hand.
fn forecast_task(seed: u64, round: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(seed, round);
    let t: Vec<f64> = (0..80).map(|i| i as f64 / 79.0).collect();
    let regime = (rng.uniform() * 3.0).floor() as u32;
    let level = normal(&mut rng);
    let slope = uniform(&mut rng, -3.0, 3.0);
    let amp = uniform(&mut rng, 0.5, 1.5);
    let freq = uniform(&mut rng, 8.0, 24.0);
    let phase = uniform(&mut rng, 0.0, std::f64::consts::TAU);
    let mut walk = 0.0;
    let mut series = Vec::with_capacity(80);
    for &x in &t {
        walk += 0.15 * normal(&mut rng);
        series.push(match regime {
            0 => level + slope * x,
            1 => level + amp * libm::sin(freq * x + phase),
            _ => level + walk,
        });
    }
    let observed: Vec<f64> = series.iter().map(|s| s + 0.05 * normal(&mut rng)).collect();
    (
        payload::encode(&[Tensor::f32(vec![64], &f32s(&observed[..64]))]),
        payload::encode(&[Tensor::f32(vec![16], &f32s(&series[64..]))]),
    )
}

fn forecast_score(public: &[u8], private: &[u8], response: &[u8]) -> f64 {
    let history = payload::decode(public).unwrap()[0].to_f64s();
    let future = payload::decode(private).unwrap()[0].to_f64s();
    let Ok(r) = payload::decode(response) else {
        return 0.0;
    };
    let r = r[0].to_f64s();
    if r.len() != 16 || r.iter().any(|v| !v.is_finite()) {
        return 0.0;
    }
    let last = history[63];
    let naive = future.iter().map(|f| (f - last) * (f - last)).sum::<f64>() / 16.0;
    (1.0 - mse(&r, &future) / naive.max(0.001) / 2.0).clamp(0.0, 1.0)
}

/// digits by hand.
fn digits_task(table: &[f64], rows: usize, seed: u64, round: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(seed, round);
    let row = &table[(rng.uniform() * rows as f64) as usize * 65..][..65];
    let shift = (rng.uniform() * 6.0) as usize;
    let (dx, dy): (isize, isize) = [(0, 0), (0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)][shift];
    let contrast = uniform(&mut rng, 0.8, 1.2);
    let mut pixels = vec![0.0; 64];
    for y in 0..8isize {
        for x in 0..8isize {
            let (sx, sy) = (x - dx, y - dy);
            let v = if (0..8).contains(&sx) && (0..8).contains(&sy) {
                row[(sy * 8 + sx) as usize] / 16.0
            } else {
                0.0
            };
            pixels[(y * 8 + x) as usize] = (v * contrast + 0.1 * normal(&mut rng)).clamp(0.0, 1.5);
        }
    }
    (
        payload::encode(&[Tensor::f32(vec![8, 8], &f32s(&pixels))]),
        payload::encode(&[Tensor::i32(vec![], &[row[64] as i32])]),
    )
}

fn digits_score(_public: &[u8], private: &[u8], response: &[u8]) -> f64 {
    let label = payload::decode(private).unwrap()[0].to_f64s()[0] as usize;
    let Ok(r) = payload::decode(response) else {
        return 0.0;
    };
    let r = r[0].to_f64s();
    if r.len() != 10 || r.iter().any(|v| !v.is_finite()) {
        return 0.0;
    }
    let m = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = r.iter().map(|v| libm::exp(v - m)).collect();
    let s: f64 = e.iter().sum();
    let p = (e[label] / s).clamp(1e-12, 1.0);
    let best = (0..10).fold(0, |b, i| if r[i] > r[b] { i } else { b });
    0.5 * f64::from(u8::from(best == label)) + 0.5 * libm::exp(libm::log(p))
}

/// sort by hand.
fn sort_task(seed: u64, round: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(seed, round);
    let raw: Vec<f64> = (0..12).map(|_| normal(&mut rng)).collect();
    let scale = uniform(&mut rng, 0.5, 2.0);
    let offset = normal(&mut rng);
    let values: Vec<f64> = raw.iter().map(|v| v * scale + offset).collect();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    (
        payload::encode(&[Tensor::f32(vec![12], &f32s(&values))]),
        payload::encode(&[Tensor::f32(vec![12], &f32s(&sorted))]),
    )
}

fn sort_score(_public: &[u8], private: &[u8], response: &[u8]) -> f64 {
    let sorted = payload::decode(private).unwrap()[0].to_f64s();
    let Ok(r) = payload::decode(response) else {
        return 0.0;
    };
    let r = r[0].to_f64s();
    if r.len() != 12 || r.iter().any(|v| !v.is_finite()) {
        return 0.0;
    }
    let mean = sorted.iter().sum::<f64>() / 12.0;
    let var = sorted.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 12.0;
    1.0 - (mse(&r, &sorted) / var.max(1e-6)).clamp(0.0, 1.0)
}

fn load(name: &str) -> (Program, Plugin) {
    let spec = ganglion_dsl::load(&spec_path(name)).unwrap();
    let module = ganglion_dsl::codegen::compile(&spec.program).unwrap();
    let plugin = Plugin::load(&module, Limits::default()).unwrap();
    (spec.program, plugin)
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    for name in EXAMPLES {
        let path = spec_path(name);
        let source = std::fs::read(&path).unwrap();
        let files = DirFiles(path.parent().unwrap().to_path_buf());
        group.bench_function(name, |b| {
            b.iter(|| {
                let spec = ganglion_dsl::check_source(name, black_box(&source), &files).unwrap();
                ganglion_dsl::codegen::compile(&spec.program).unwrap()
            });
        });
    }
    group.finish();
}

type TaskFn = Box<dyn Fn(u64, u64) -> (Vec<u8>, Vec<u8>)>;
type ScoreFn = fn(&[u8], &[u8], &[u8]) -> f64;

fn plugin_vs_rust(c: &mut Criterion) {
    for name in EXAMPLES {
        let (program, plugin) = load(name);
        let (task, score): (TaskFn, ScoreFn) = match name {
            "denoise" => (Box::new(denoise_task), denoise_score),
            "forecast" => (Box::new(forecast_task), forecast_score),
            "digits" => {
                let table = program.data[0].values.clone();
                let rows = program.data[0].rows;
                (
                    Box::new(move |s, r| digits_task(&table, rows, s, r)),
                    digits_score,
                )
            }
            _ => (Box::new(sort_task), sort_score),
        };
        let t = plugin.task(1, 2).unwrap();
        let expect = &program.task.expect;
        let n: usize = expect.shape.iter().product();
        let dims: Vec<u32> = expect.shape.iter().map(|&d| d as u32).collect();
        let response = payload::encode(&[Tensor::f32(
            dims,
            &(0..n).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<_>>(),
        )]);
        let mut group = c.benchmark_group(format!("task/{name}"));
        let mut seed = 0u64;
        group.bench_function("plugin", |b| {
            b.iter(|| {
                seed += 1;
                plugin.task(black_box(seed), 0).unwrap()
            });
        });
        group.bench_function("rust", |b| {
            b.iter(|| {
                seed += 1;
                task(black_box(seed), 0)
            });
        });
        group.finish();
        let mut group = c.benchmark_group(format!("score/{name}"));
        group.bench_function("plugin", |b| {
            b.iter(|| {
                plugin
                    .score(&t.public, &t.private, black_box(&response))
                    .unwrap()
            });
        });
        group.bench_function("rust", |b| {
            b.iter(|| score(&t.public, &t.private, black_box(&response)));
        });
        group.finish();
    }
}

/// Checks that the hand-written versions compute what the plugins compute (same payloads
/// where the algorithm is the same draw for draw), so the comparison is fair.
fn sanity() {
    let (_, plugin) = load("denoise");
    let t = plugin.task(5, 1).unwrap();
    let (public, private) = denoise_task(5, 1);
    assert_eq!(
        t.public, public,
        "the hand-written denoise draws differ from the plugin's"
    );
    assert_eq!(t.private, private);
    let resp = payload::encode(&[Tensor::f32(vec![64], &[0.25; 64])]);
    let a = plugin.score(&t.public, &t.private, &resp).unwrap();
    let b = denoise_score(&t.public, &t.private, &resp);
    assert!((a - b).abs() < 1e-12, "denoise scores differ: {a} vs {b}");
    let (_, plugin) = load("sort");
    let t = plugin.task(9, 0).unwrap();
    let (public, private) = sort_task(9, 0);
    assert_eq!(
        t.public, public,
        "the hand-written sort draws differ from the plugin's"
    );
    assert_eq!(t.private, private);
}

fn benches(c: &mut Criterion) {
    sanity();
    compile(c);
    plugin_vs_rust(c);
}

criterion_group!(dsl, benches);
criterion_main!(dsl);
