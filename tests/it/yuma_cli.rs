//! `ganglion yuma run` and `ganglion yuma synth`, as a user runs them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn ganglion(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(args)
        .output()
        .expect("the ganglion binary runs")
}

fn vectors() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernel/tests/data/yuma-vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ganglion-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn run_prints_each_vectors_expected_outputs() {
    for path in vectors() {
        let out = ganglion(&["yuma", "run", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        let case: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(printed, case["expected"], "{}", path.display());
    }
}

#[test]
fn check_passes_on_vectors_and_fails_on_a_changed_expectation() {
    for path in vectors() {
        let out = ganglion(&["yuma", "run", "--check", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains("matches `expected`"));
    }
    let path = &vectors()[0];
    let mut case: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    case["expected"]["incentive"][1] = Value::from(1);
    let changed = temp_file("changed.json", &serde_json::to_vec(&case).unwrap());
    let out = ganglion(&["yuma", "run", "--check", changed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("mismatch: incentive[1]: expected 1, got 65535"),
        "{}",
        stderr(&out)
    );
    let out = ganglion(&[
        "yuma",
        "run",
        "--check",
        "--json",
        changed.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["matches"], Value::Bool(false));
    assert_eq!(report["differences"].as_array().unwrap().len(), 1);
}

#[test]
fn reference_and_threads_give_the_same_output() {
    let path = vectors()
        .into_iter()
        .find(|p| p.to_str().unwrap().contains("yuma3"))
        .unwrap();
    let p = path.to_str().unwrap();
    let fast = ganglion(&["yuma", "run", p]);
    let reference = ganglion(&["yuma", "run", "--reference", p]);
    let one = ganglion(&["yuma", "run", "--threads", "1", p]);
    assert!(fast.status.success());
    assert_eq!(fast.stdout, reference.stdout);
    assert_eq!(fast.stdout, one.stdout);
}

#[test]
fn reads_standard_input() {
    let path = &vectors()[0];
    let mut child = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(["yuma", "run", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(path).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        out.stdout,
        ganglion(&["yuma", "run", path.to_str().unwrap()]).stdout
    );
}

/// Bad input exits 2 with a message naming the field and the problem, never a panic.
#[test]
fn bad_input_exits_2_naming_the_field() {
    let path = &vectors()[0];
    let case: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut c = case.clone();
        f(&mut c);
        serde_json::to_vec(&c).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "missing",
            edit(&|c| {
                c["input"].as_object_mut().unwrap().remove("stake");
            }),
            "input: missing field `stake`",
        ),
        (
            "length",
            edit(&|c| c["input"]["last_update"] = serde_json::json!([1])),
            "input.last_update: has 1 entries, expected n = 2",
        ),
        (
            "uid",
            edit(&|c| c["input"]["weights"][0] = serde_json::json!([[7, 65535]])),
            "input.weights[0]: names uid 7, but uids run from 0 to n - 1 = 1",
        ),
        (
            "u16",
            edit(&|c| c["input"]["weights"][0] = serde_json::json!([[1, 65536]])),
            "input.weights[0][0][1]: 65536 is out of range for u16",
        ),
        (
            "kappa",
            edit(&|c| c["input"]["kappa"] = serde_json::json!(70000)),
            "input.kappa: 70000 is out of range for u16",
        ),
        (
            "type",
            edit(&|c| c["input"]["stake"][0] = serde_json::json!("lots")),
            "input.stake[0]: invalid type: string \"lots\", expected u64",
        ),
        (
            "duplicate",
            edit(&|c| c["input"]["weights"][0] = serde_json::json!([[1, 1], [1, 2]])),
            "input.weights[0]: names uid 1 twice",
        ),
        ("not json", b"{\"input\": [".to_vec(), "input: "),
    ];
    for (label, contents, message) in cases {
        let file = temp_file(&format!("bad-{}.json", label.replace(' ', "-")), &contents);
        let out = ganglion(&["yuma", "run", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{label}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(message), "{label}: {err}");
        assert!(!err.contains("panicked"), "{label}: {err}");
        assert!(out.stdout.is_empty(), "{label}: nothing on stdout");
    }
    let out = ganglion(&["yuma", "run", "/nonexistent/case.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/case.json: cannot read the case file"));
}

#[test]
fn synth_cases_run_and_check() {
    let dir = std::env::temp_dir().join(format!("ganglion-synth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for flags in [&[][..], &["--yuma3"], &["--liquid-alpha"]] {
        let file = dir.join(format!("synth{}.json", flags.len()));
        let mut args = vec![
            "yuma",
            "synth",
            "--n",
            "300",
            "--validators",
            "20",
            "--expected",
            "-o",
        ];
        args.push(file.to_str().unwrap());
        args.extend_from_slice(flags);
        let out = ganglion(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = ganglion(&[
            "yuma",
            "run",
            "--check",
            "--reference",
            file.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let out = ganglion(&["yuma", "synth", "--n", "10", "--validators", "20"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--validators 20 is more than --n 10"));
}
