//! Every `cargo run --release -- ...` line of the README, run in order in one directory with
//! the test build of the binary: the quick start, the tutorial (a new subnet checked, tried,
//! run on a local network, built, published on a node and fetched back by its hash) and the
//! other examples. Lines that would run for long are shortened (fewer epochs, less training);
//! client commands go to the test's node.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::node_support::{free_port, start_dev_node};

fn run(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs")
}

/// Commands that talk to a node (they take `--url`).
const CLIENTS: [&str; 10] = [
    "transfer",
    "balance",
    "subnet create",
    "subnet set ",
    "register",
    "stake",
    "metagraph",
    "subnet publish",
    "subnet fetch",
    "subnet set-bundle",
];

#[test]
fn every_readme_command_runs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README");
    let dir = tempfile::tempdir().expect("tempdir");
    let lines: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("cargo run --release -- "))
        .collect();
    assert!(lines.len() >= 20, "the README shows its commands");
    assert!(
        lines.contains(&"localnet"),
        "the quick start runs the local network"
    );
    let mut node = None;
    let mut url = String::new();
    let mut published = String::new();
    for line in lines {
        let mut args: Vec<String> = line
            .split_whitespace()
            .map(|a| {
                let local = ["subnets/", "kernel/", "plugins/"];
                if local.iter().any(|p| a.starts_with(p)) {
                    format!("{root}/{a}")
                } else if a == "HASH" {
                    published.clone()
                } else {
                    a.to_owned()
                }
            })
            .collect();
        if line == "node --dev" {
            if node.is_some() {
                continue; // The README's node is already running.
            }
            let port = free_port();
            node = Some(start_dev_node(&dir.path().join("node"), port, &[]));
            url = format!("ws://127.0.0.1:{port}");
            continue;
        }
        if line.starts_with("localnet") {
            // A short run: the e2e tests run the default one.
            if let Some(i) = args.iter().position(|a| a == "--epochs") {
                args[i + 1] = "1".into();
            } else {
                args.extend(["--epochs", "1"].map(String::from));
            }
            if !args.iter().any(|a| a == "--tempo") {
                args.extend(["--tempo", "10"].map(String::from));
            }
            args.extend(["--train-secs", "2"].map(String::from));
        }
        if line.starts_with("miner train") {
            args.extend(["--time-limit", "3", "--eval-rounds", "16"].map(String::from));
        }
        if line.starts_with("miner eval") {
            args.extend(["--rounds", "16"].map(String::from));
        }
        let client = CLIENTS.iter().any(|c| line.starts_with(c));
        if client {
            assert!(node.is_some(), "`{line}` needs the README's node first");
            args.extend(["--url".to_owned(), url.clone()]);
        }
        if line.starts_with("subnet publish") {
            args.push("--json".into());
        }
        let out = run(dir.path(), &args);
        assert!(
            out.status.success(),
            "`{line}` failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if line.starts_with("subnet publish") {
            let v: Value = serde_json::from_slice(&out.stdout).expect("json");
            published = v["blake3"].as_str().expect("hash").to_owned();
        }
    }
    assert!(!published.is_empty(), "the tutorial publishes a bundle");
    assert_eq!(
        std::fs::read(dir.path().join("copy.gnglb")).expect("fetched"),
        std::fs::read(dir.path().join("mynet.gnglb")).expect("built"),
        "the fetched bundle is the published one"
    );
    if let Some(mut child) = node {
        let _ = child.kill();
        let _ = child.wait();
    }
}
