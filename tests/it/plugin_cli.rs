//! `ganglion plugin check`, `run` and `watch`, as a plugin author uses them.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A home of its own for each test process, so the plugin cache lands in a temp dir.
fn home() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ganglion-plugin-cli-home-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ganglion(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .env("HOME", home())
        .args(args)
        .output()
        .unwrap()
}

fn work_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ganglion-plugin-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The docs' first `wat` block, as a plugin author would save it.
fn docs_example(dir: &std::path::Path) -> PathBuf {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/plugin-abi.md"))
        .unwrap();
    let start = doc.find("```wat\n").unwrap() + 7;
    let end = start + doc[start..].find("```").unwrap();
    let path = dir.join("toy.wat");
    std::fs::write(&path, &doc[start..end]).unwrap();
    path
}

#[test]
fn check_accepts_the_docs_example_and_names_every_problem() {
    let dir = work_dir("check");
    let toy = docs_example(&dir);
    let out = ganglion(&["plugin", "check", toy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("abi version  1") && text.contains("imports      ganglion::sin"),
        "{text}"
    );
    let out = ganglion(&["plugin", "check", "--json", toy.to_str().unwrap()]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], Value::Bool(true));
    assert_eq!(report["limits"]["fuel"], Value::from(500_000_000u64));
    // The compiled module is cached under the data directory.
    let cache = home().join(".ganglion/plugin-cache");
    let cached = std::fs::read_dir(&cache).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "cwasm")
    });
    assert!(cached.count() >= 1, "nothing cached in {}", cache.display());

    let bad = dir.join("bad.wat");
    std::fs::write(
        &bad,
        r#"(module (import "env" "now" (func (result i64))) (memory (export "memory") 1)
           (func (export "task") (param i32) (result i64) (i64.const 0)))"#,
    )
    .unwrap();
    let out = ganglion(&["plugin", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for problem in [
        "imports `env::now`",
        "does not export `abi_version`",
        "does not export `alloc`",
        "exports `task` as func(i32) -> (i64)",
        "does not export `score`",
    ] {
        assert!(err.contains(problem), "{problem}: {err}");
    }
    let out = ganglion(&["plugin", "check", "--json", bad.to_str().unwrap()]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"].as_array().unwrap().len(), 5);
    let out = ganglion(&[
        "plugin",
        "check",
        dir.join("missing.wasm").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn run_task_then_score_the_private_payload() {
    let dir = work_dir("run");
    let toy = docs_example(&dir);
    let out = ganglion(&[
        "plugin",
        "run",
        toy.to_str().unwrap(),
        "task",
        "--seed",
        "7",
        "--round",
        "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let task: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(task["public"][0]["dtype"], "f32");
    assert_eq!(task["public"][0]["dims"], serde_json::json!([4]));
    let task_file = dir.join("task.json");
    std::fs::write(&task_file, &out.stdout).unwrap();
    let response = dir.join("response.json");
    // Scores `answer` (written to the response file) against the task.
    let score = |answer: &[u8], json: bool| {
        std::fs::write(&response, answer).unwrap();
        let mut args = vec![
            "plugin",
            "run",
            toy.to_str().unwrap(),
            "score",
            "--task",
            task_file.to_str().unwrap(),
            "--response",
            response.to_str().unwrap(),
        ];
        if json {
            args.push("--json");
        }
        ganglion(&args)
    };
    let out = score(&serde_json::to_vec(&task["private"]).unwrap(), true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scored: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(scored["score"], Value::from(1.0));
    // A response of the wrong shape scores 0.
    let out = score(br#"[{"dtype": "u8", "dims": [2], "data": [1, 2]}]"#, false);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    // A malformed response file names the field.
    let out = score(br#"[{"dtype": "f16", "dims": [1], "data": [1]}]"#, false);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[0].dtype: unknown dtype `f16`"));
    let out = ganglion(&[
        "plugin",
        "run",
        toy.to_str().unwrap(),
        "reward",
        "--incentive",
        "3,2,1",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3,2,1");
}

#[test]
fn run_reports_limits_as_typed_errors() {
    let dir = work_dir("limits");
    let spin = dir.join("spin.wat");
    std::fs::write(
        &spin,
        r#"(module (memory (export "memory") 1)
  (func (export "abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 0))
  (func (export "task") (param i64 i64) (result i64) (loop $l (br $l)) (i64.const 0))
  (func (export "score") (param i32 i32 i32 i32 i32 i32) (result f64) (f64.const 0)))"#,
    )
    .unwrap();
    let out = ganglion(&[
        "plugin",
        "run",
        spin.to_str().unwrap(),
        "--fuel",
        "100000",
        "task",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ran out of fuel (limit 100000 units)"));
    let out = ganglion(&[
        "plugin",
        "run",
        spin.to_str().unwrap(),
        "--fuel",
        "100000000000000",
        "--timeout",
        "100",
        "task",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[local fault]"));
}

#[test]
fn watch_swaps_in_each_new_version() {
    let dir = work_dir("watch");
    let toy = docs_example(&dir);
    /// Kills the watcher however the test ends.
    struct Watcher(std::process::Child);
    impl Drop for Watcher {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Watcher(
        Command::new(env!("CARGO_BIN_EXE_ganglion"))
            .env("HOME", home())
            .args([
                "plugin",
                "watch",
                "--json",
                "--interval",
                "50",
                toy.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut next_event = || -> Value {
        let line = lines.next().expect("watch prints events").unwrap();
        serde_json::from_str(&line).unwrap()
    };
    let first = next_event();
    assert_eq!(first["event"], "loaded", "{first}");
    // A broken edit is rejected and the previous version kept.
    std::fs::write(&toy, "(module").unwrap();
    let rejected = next_event();
    assert_eq!(rejected["event"], "rejected", "{rejected}");
    // A good edit (less noise: another module) is loaded with a new hash.
    let started = Instant::now();
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/plugins/src/examples/toy.wat"
    ))
    .unwrap();
    assert!(doc.contains("(f64.const 0.05)"));
    std::fs::write(&toy, doc.replace("(f64.const 0.05)", "(f64.const 0.01)")).unwrap();
    let second = next_event();
    assert_eq!(second["event"], "loaded", "{second}");
    assert_ne!(second["hash"], first["hash"]);
    assert!(started.elapsed() < Duration::from_secs(10));
}
