//! `ganglion localnet` end to end: the trained miner earns the most and the noise miner the
//! least, emission adds up, both validators earn dividends; and a spec changed while it runs
//! (`--watch`) is hot-loaded by the validators and turns the ordering around.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const DENOISE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/subnets/denoise/denoise.subnet"
);

fn incentive(summary: &Value, kind: &str) -> f64 {
    summary["miners"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["kind"] == kind))
        .and_then(|m| m["incentive"].as_f64())
        .unwrap_or_else(|| panic!("no {kind} miner in {summary}"))
}

/// Incentive of the miner of `kind` in one epoch record.
fn epoch_incentive(summary: &Value, record: &Value, kind: &str) -> f64 {
    let uid = summary["miners"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["kind"] == kind))
        .and_then(|m| m["uid"].as_u64())
        .expect("uid");
    record["incentive"]
        .as_array()
        .and_then(|pairs| pairs.iter().find(|p| p[0].as_u64() == Some(uid)))
        .and_then(|p| p[1].as_f64())
        .unwrap_or(0.0)
}

#[test]
fn localnet_pays_the_trained_miner_most_and_the_noise_miner_least() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("out.json");
    let plot = dir.path().join("out.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        // The README's quick start, as it is, saving its summary and plot.
        .arg("localnet")
        .arg("--json")
        .arg(&json)
        .arg("--plot")
        .arg(&plot)
        .arg("--base-path")
        .arg(dir.path().join("net"))
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("epoch 5"), "{stdout}");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("json");
    assert_eq!(summary["epochs"], 5, "{summary}");
    let blocks = summary["blocks"].as_u64().expect("blocks");
    let reward = summary["block_reward_rao"].as_u64().expect("reward");
    assert_eq!(
        summary["total_emission_rao"].as_u64(),
        Some(blocks * reward)
    );
    let kinds = ["untrained", "brief", "trained", "noise"];
    let trained = incentive(&summary, "trained");
    let noise = incentive(&summary, "noise");
    for kind in kinds {
        assert!(
            trained >= incentive(&summary, kind),
            "{kind} beat trained: {summary}"
        );
        assert!(
            noise <= incentive(&summary, kind),
            "{kind} below noise: {summary}"
        );
    }
    assert!(trained > noise, "{summary}");
    let validators = summary["validators"].as_array().expect("validators");
    assert_eq!(validators.len(), 2);
    for v in validators {
        assert!(
            v["dividends"].as_f64().expect("dividends") > 0.0,
            "{summary}"
        );
    }
    let svg = std::fs::read_to_string(&plot).expect("plot written");
    assert!(svg.contains("trained"), "the plot has a trained series");
}

#[test]
fn a_spec_changed_while_localnet_runs_turns_the_ordering_around() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("denoise.subnet");
    let original = std::fs::read_to_string(DENOISE).expect("spec");
    std::fs::write(&spec, &original).expect("write");
    let json = dir.path().join("out.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args([
            "localnet",
            "--epochs",
            "8",
            "--tempo",
            "10",
            "--train-secs",
            "4",
            "--watch",
        ])
        .arg("--subnet")
        .arg(&spec)
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut changed_at = None;
    let mut reloaded = false;
    let mut seen = Vec::new();
    for line in lines {
        let line = line.expect("line");
        assert!(
            Instant::now() < deadline,
            "localnet took too long:\n{}",
            seen.join("\n")
        );
        if line.contains("reloaded") {
            reloaded = true;
        }
        if changed_at.is_none() && line.starts_with("epoch 3") {
            // Reward the opposite: the worse the answer, the higher the score.
            let inverted = original.replace(
                "item = 1 - clamp(mse(response, clean) / baseline, 0, 1)",
                "item = clamp(mse(response, clean) / baseline, 0, 1)",
            );
            assert_ne!(inverted, original, "the scoring line changed in the spec");
            std::fs::write(&spec, inverted).expect("rewrite");
            changed_at = Some(3);
        }
        seen.push(line);
    }
    let status = child.wait().expect("exits");
    assert!(status.success(), "{}", seen.join("\n"));
    assert!(reloaded, "no reload reported:\n{}", seen.join("\n"));
    let summary: Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("json");
    let history = summary["history"].as_array().expect("history");
    let before = &history[2];
    let after = history.last().expect("epochs");
    assert!(
        epoch_incentive(&summary, before, "trained") > epoch_incentive(&summary, before, "noise"),
        "before the change the trained miner leads: {summary}"
    );
    assert!(
        epoch_incentive(&summary, after, "noise") > epoch_incentive(&summary, after, "trained"),
        "after the change the noise miner leads: {summary}"
    );
}
