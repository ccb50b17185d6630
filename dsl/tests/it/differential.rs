//! The compiled plugin against the reference interpreter: for random seeds, the task
//! payloads are byte-identical and the scores of many responses bit-identical, on every
//! example spec.

use ganglion_dsl::interp;
use ganglion_plugin_abi::limits::Limits;
use ganglion_plugin_abi::payload::{self, DType, Tensor};
use ganglion_plugins::Plugin;

use crate::examples::{EXAMPLES, spec_path};

/// Responses to score: zeros, the kept values themselves when they fit, and noisy versions
/// of them drawn from a simple generator (so they differ per seed).
fn responses(
    program: &ganglion_dsl::ir::Program,
    private: &[u8],
    public: &[u8],
    seed: u64,
) -> Vec<Vec<u8>> {
    let expect = &program.task.expect;
    let dims: Vec<u32> = expect.shape.iter().map(|&d| d as u32).collect();
    let n: usize = expect.shape.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let make = |values: Vec<f64>| -> Vec<u8> {
        let t = match expect.dtype {
            DType::F32 => Tensor::f32(
                dims.clone(),
                &values.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            ),
            DType::F64 => Tensor::f64(dims.clone(), &values),
            DType::I32 => Tensor::i32(
                dims.clone(),
                &values.iter().map(|&v| v as i32).collect::<Vec<_>>(),
            ),
            DType::I64 => Tensor::i64(
                dims.clone(),
                &values.iter().map(|&v| v as i64).collect::<Vec<_>>(),
            ),
            DType::U8 => Tensor::u8(
                dims.clone(),
                &values.iter().map(|&v| v as u8).collect::<Vec<_>>(),
            ),
        };
        payload::encode(&[t])
    };
    let mut out = vec![make(vec![0.0; n])];
    let task_values: Vec<Vec<f64>> = payload::decode(private)
        .unwrap()
        .into_iter()
        .chain(payload::decode(public).unwrap())
        .filter(|t| t.len() == n)
        .map(|t| t.to_f64s())
        .collect();
    for base in &task_values {
        out.push(make(base.clone()));
        for scale in [0.01, 0.1, 1.0] {
            out.push(make(
                base.iter().map(|&v| v + scale * (next() - 0.5)).collect(),
            ));
        }
    }
    for _ in 0..4 {
        out.push(make((0..n).map(|_| 4.0 * next() - 2.0).collect()));
    }
    // Malformed: wrong length, and a NaN.
    out.push(make(vec![0.0; n])[..8].to_vec());
    if matches!(expect.dtype, DType::F32 | DType::F64) {
        let mut v = vec![0.5; n];
        v[n / 2] = f64::NAN;
        out.push(make(v));
    }
    out
}

/// The example specs, and `kitchen.subnet`: every function of the language in one spec.
fn specs() -> Vec<(String, std::path::PathBuf)> {
    let mut out: Vec<_> = EXAMPLES
        .iter()
        .map(|n| (n.to_string(), spec_path(n)))
        .collect();
    out.push((
        "kitchen".to_owned(),
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/kitchen.subnet"),
    ));
    out
}

#[test]
fn compiled_plugins_match_the_interpreter_bit_for_bit() {
    for (name, path) in specs() {
        let spec = ganglion_dsl::load(&path).unwrap();
        let module = ganglion_dsl::codegen::compile(&spec.program).unwrap();
        let plugin = Plugin::load(&module, Limits::default()).unwrap();
        for seed in 0..40u64 {
            let round = seed % 3;
            let (public, private) = interp::task(&spec.program, seed * 7919, round).unwrap();
            let task = plugin.task(seed * 7919, round).unwrap();
            assert_eq!(task.public, public, "{name}: public payload, seed {seed}");
            assert_eq!(
                task.private, private,
                "{name}: private payload, seed {seed}"
            );
            for (i, response) in responses(&spec.program, &private, &public, seed)
                .iter()
                .enumerate()
            {
                let want = interp::score(&spec.program, &public, &private, response).unwrap();
                let got = plugin.score(&public, &private, response).unwrap();
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{name}: score of response {i}, seed {seed}: {got} vs {want}"
                );
            }
        }
        if spec.program.reward.is_some() {
            for seed in 0..20u64 {
                let n = 1 + (seed as usize * 13) % 200;
                let incentive: Vec<u16> = (0..n)
                    .map(|i| ((i as u64 * 2_654_435_761 + seed) % 65_536) as u16)
                    .collect();
                let want = interp::reward(&spec.program, &incentive).unwrap();
                let got = plugin.reward(&incentive).unwrap();
                assert_eq!(got, want, "{name}: reward, seed {seed}");
            }
        }
    }
}

#[test]
fn a_dynamic_index_out_of_range_fails_in_both() {
    let source = r#"
subnet idx {
  version = "0.1.0"
  summary = "Indexes with a random position"
  task {
    let x = normal(0, 1, [8])
    let i = integer(0, 10)
    let y = x[i]
    send y: f32[]
    expect f32[]
  }
  score { item = 1 - clamp(abs(response - y), 0, 1) }
  incentive { tempo = 10 blocks }
}
"#;
    let spec = ganglion_dsl::check_source(
        "idx.subnet",
        source.as_bytes(),
        &ganglion_dsl::check::MapFiles::default(),
    )
    .unwrap();
    let module = ganglion_dsl::codegen::compile(&spec.program).unwrap();
    let plugin = Plugin::load(&module, Limits::default()).unwrap();
    let (mut ok, mut failed) = (0, 0);
    for seed in 0..60 {
        let want = interp::task(&spec.program, seed, 0);
        let got = plugin.task(seed, 0);
        match (want, got) {
            (Ok(w), Ok(g)) => {
                assert_eq!(g.public, w.0);
                ok += 1;
            }
            (Err(e), Err(_)) => {
                assert!(e.to_string().contains("out of range"), "{e}");
                failed += 1;
            }
            (w, g) => panic!("seed {seed}: interpreter {w:?}, plugin {g:?}"),
        }
    }
    assert!(
        ok > 10 && failed > 3,
        "{ok} in range, {failed} out of range"
    );
}
