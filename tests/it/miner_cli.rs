//! `ganglion miner train`, `eval` and `bench`: a small model learns a subnet from its own
//! task generator and beats the trivial answer, scored as a validator scores it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn ganglion(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn work_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ganglion-miner-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn example(name: &str) -> String {
    format!(
        "{}/subnets/{name}/{name}.subnet",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_small_model_learns_denoise_and_beats_the_trivial_answer() {
    let dir = work_dir("denoise");
    let spec = example("denoise");
    let trained = json(&ganglion(
        &dir,
        &[
            "miner",
            "train",
            "--bundle",
            &spec,
            "--model",
            "mlp",
            "--steps",
            "300",
            "--eval-every",
            "100",
            "--eval-rounds",
            "64",
            "--out",
            "m",
            "--json",
        ],
    ));
    let scores: Vec<f64> = trained["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[1].as_f64().unwrap())
        .collect();
    let baseline = trained["baseline"].as_f64().unwrap();
    let score = trained["score"].as_f64().unwrap();
    assert!(baseline < 0.05, "answering zeros scores {baseline}");
    assert!(
        score > baseline + 0.2,
        "after 300 steps the model scores {score} (zeros {baseline})"
    );
    assert!(scores.len() >= 3, "{scores:?}");

    // Scored again on fresh tasks, as a validator would.
    let eval = json(&ganglion(
        &dir,
        &[
            "miner",
            "eval",
            "--bundle",
            &spec,
            "--checkpoint",
            "m",
            "--rounds",
            "64",
            "--json",
        ],
    ));
    assert!(
        eval["score"].as_f64().unwrap() > eval["baseline"].as_f64().unwrap() + 0.2,
        "{eval}"
    );

    // Training on from the checkpoint continues the same run.
    let resumed = json(&ganglion(
        &dir,
        &[
            "miner",
            "train",
            "--bundle",
            &spec,
            "--steps",
            "400",
            "--resume",
            "--out",
            "m",
            "--eval-every",
            "100",
            "--eval-rounds",
            "64",
            "--json",
        ],
    ));
    assert_eq!(resumed["steps"], 400);
    assert_eq!(resumed["model"], "mlp");

    // A second run into the same directory is refused rather than overwriting the model.
    let again = ganglion(
        &dir,
        &[
            "miner", "train", "--bundle", &spec, "--steps", "10", "--out", "m",
        ],
    );
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn a_classifier_learns_digits() {
    let dir = work_dir("digits");
    let trained = json(&ganglion(
        &dir,
        &[
            "miner",
            "train",
            "--bundle",
            &example("digits"),
            "--steps",
            "300",
            "--eval-every",
            "0",
            "--eval-rounds",
            "128",
            "--learning-rate",
            "0.003",
            "--out",
            "m",
            "--json",
        ],
    ));
    let (score, baseline) = (
        trained["score"].as_f64().unwrap(),
        trained["baseline"].as_f64().unwrap(),
    );
    assert!(
        score > baseline + 0.2,
        "digits: {score} against zeros {baseline}"
    );
}

#[test]
fn eval_refuses_a_model_for_other_shapes_and_bench_prints_a_table() {
    let dir = work_dir("mismatch");
    json(&ganglion(
        &dir,
        &[
            "miner",
            "train",
            "--bundle",
            &example("sort"),
            "--model",
            "mlp",
            "--steps",
            "5",
            "--eval-every",
            "0",
            "--eval-rounds",
            "4",
            "--out",
            "m",
            "--json",
        ],
    ));
    let out = ganglion(
        &dir,
        &[
            "miner",
            "eval",
            "--bundle",
            &example("denoise"),
            "--checkpoint",
            "m",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds a model for"));

    let table = json(&ganglion(
        &dir,
        &["miner", "bench", "--seconds", "0.05", "--json"],
    ));
    let rows = table.as_array().unwrap();
    assert!(rows.len() >= 6, "{table}");
    assert!(
        rows.iter()
            .all(|r| r["samples_per_second"].as_f64().unwrap() > 0.0)
    );
}

#[test]
fn the_same_seed_trains_the_same_model() {
    let dir = work_dir("seed");
    let run = |out: &str, seed: &str| {
        json(&ganglion(
            &dir,
            &[
                "miner",
                "train",
                "--bundle",
                &example("sort"),
                "--model",
                "mlp",
                "--steps",
                "60",
                "--eval-every",
                "0",
                "--eval-rounds",
                "32",
                "--seed",
                seed,
                "--out",
                out,
                "--json",
            ],
        ))
    };
    let a = run("a", "5");
    let b = run("b", "5");
    let c = run("c", "6");
    assert_eq!(a["score"], b["score"], "same seed, same model");
    assert_ne!(a["score"], c["score"], "another seed trains another model");
}
