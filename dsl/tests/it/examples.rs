//! The example subnets in `subnets/`: each checks, and its tasks and scores make sense.

use std::path::PathBuf;

use ganglion_dsl::interp;
use ganglion_plugin_abi::payload;

pub(crate) fn spec_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../subnets")
        .join(name)
        .join(format!("{name}.subnet"))
}

pub(crate) const EXAMPLES: [&str; 4] = ["denoise", "forecast", "digits", "sort"];

#[test]
fn every_example_checks_and_generates_tasks() {
    for name in EXAMPLES {
        let spec = ganglion_dsl::load(&spec_path(name)).unwrap_or_else(|e| panic!("{e}"));
        for seed in 0..5 {
            let (public, private) = interp::task(&spec.program, seed, 0).unwrap();
            let public = payload::decode(&public).unwrap();
            let private = payload::decode(&private).unwrap();
            assert_eq!(public.len(), spec.program.task.send.len());
            assert_eq!(private.len(), spec.program.task.keep.len());
        }
    }
}

/// The mean score, over 200 seeds, of an answer computed from the task's decoded payloads.
fn mean_score(name: &str, answer: impl Fn(&[Vec<f64>], &[Vec<f64>]) -> Vec<f64>) -> f64 {
    let spec = ganglion_dsl::load(&spec_path(name)).unwrap();
    let expect = &spec.program.task.expect;
    let dims: Vec<u32> = expect.shape.iter().map(|&d| d as u32).collect();
    let mut total = 0.0;
    for seed in 0..200 {
        let (public, private) = interp::task(&spec.program, seed, 1).unwrap();
        let p: Vec<Vec<f64>> = payload::decode(&public)
            .unwrap()
            .iter()
            .map(|t| t.to_f64s())
            .collect();
        let k: Vec<Vec<f64>> = payload::decode(&private)
            .unwrap()
            .iter()
            .map(|t| t.to_f64s())
            .collect();
        let values: Vec<f32> = answer(&p, &k).iter().map(|&v| v as f32).collect();
        let response = payload::encode(&[payload::Tensor::f32(dims.clone(), &values)]);
        total += interp::score(&spec.program, &public, &private, &response).unwrap();
    }
    total / 200.0
}

#[test]
fn trivial_answers_score_low_and_informed_answers_high() {
    // denoise: zeros against a moving average of the noisy signal.
    let zeros = mean_score("denoise", |_, _| vec![0.0; 64]);
    let smoothed = mean_score("denoise", |p, _| {
        let x = &p[0];
        (0..64usize)
            .map(|i| {
                let (lo, hi) = (i.saturating_sub(2), (i + 3).min(64));
                x[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
            })
            .collect()
    });
    assert!(
        zeros < 0.02 && smoothed > 0.3,
        "denoise: zeros {zeros}, smoothed {smoothed}"
    );

    // forecast: zeros against repeating the last value (0.5 by construction) and a perfect
    // answer.
    let zeros = mean_score("forecast", |_, _| vec![0.0; 16]);
    let last = mean_score("forecast", |p, _| vec![p[0][63]; 16]);
    let perfect = mean_score("forecast", |_, k| k[0].clone());
    assert!(
        zeros < 0.2 && last > 0.45 && perfect > 0.99,
        "forecast: zeros {zeros}, last {last}, perfect {perfect}"
    );

    // digits: zeros against confident right and wrong answers.
    let zeros = mean_score("digits", |_, _| vec![0.0; 10]);
    let right = mean_score("digits", |_, k| {
        (0..10)
            .map(|c| if c as f64 == k[0][0] { 10.0 } else { 0.0 })
            .collect()
    });
    let wrong = mean_score("digits", |_, k| {
        (0..10)
            .map(|c| {
                if c as f64 == (k[0][0] + 1.0) % 10.0 {
                    10.0
                } else {
                    0.0
                }
            })
            .collect()
    });
    assert!(
        zeros < 0.15 && right > 0.99 && wrong < 0.01,
        "digits: zeros {zeros}, right {right}, wrong {wrong}"
    );

    // sort: echoing the input or answering the mean against the sorted input.
    let echo = mean_score("sort", |p, _| p[0].clone());
    let mean = mean_score("sort", |p, _| vec![p[0].iter().sum::<f64>() / 12.0; 12]);
    let sorted = mean_score("sort", |p, _| {
        let mut v = p[0].clone();
        v.sort_by(f64::total_cmp);
        v
    });
    assert!(
        echo < 0.05 && mean < 0.05 && sorted > 0.99,
        "sort: echo {echo}, mean {mean}, sorted {sorted}"
    );
}
