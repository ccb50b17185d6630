//! `ganglion subnet new|check|build|fmt|inspect|try`, as a subnet author uses them: a
//! starter spec, a mistake and its message, a bundle and its hash, formatting, trying a task.

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
        std::env::temp_dir().join(format!("ganglion-subnet-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("subnets")
        .join(name)
        .join(format!("{name}.subnet"))
}

#[test]
fn new_check_try_build_inspect_a_starter_subnet() {
    let dir = work_dir("starter");
    let out = ganglion(&dir, &["subnet", "new", "curves"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spec = dir.join("curves/curves.subnet");
    assert!(spec.exists());
    // Refuses to overwrite.
    let again = ganglion(&dir, &["subnet", "new", "curves"]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("already exists"));

    let out = ganglion(&dir, &["subnet", "check", "curves/curves.subnet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("ok: curves 0.1.0"),
        "{}",
        stdout(&out)
    );

    let out = ganglion(
        &dir,
        &[
            "subnet",
            "try",
            "curves/curves.subnet",
            "--seed",
            "4",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["seed"], 4);
    assert_eq!(v["public"][0]["dims"], serde_json::json!([32]));
    let zeros = v["scores"]["zeros"].as_f64().unwrap();
    let perfect = v["scores"]["curve (kept)"].as_f64().unwrap();
    assert!(zeros < 0.05, "answering zeros scores {zeros}");
    assert!(perfect > 0.999, "the kept target scores {perfect}");

    let out = ganglion(
        &dir,
        &[
            "subnet",
            "build",
            "curves/curves.subnet",
            "-o",
            "curves.bundle",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let built: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let hash = built["blake3"].as_str().unwrap().to_owned();
    assert_eq!(hash.len(), 64);
    let bytes = std::fs::read(dir.join("curves.bundle")).unwrap();
    assert_eq!(blake3::hash(&bytes).to_hex().as_str(), hash);

    let out = ganglion(&dir, &["subnet", "inspect", "curves.bundle"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&hash), "{text}");
    assert!(text.contains("send     observed f32[32]"), "{text}");
    assert!(text.contains("param    tempo = 100"), "{text}");
    assert!(text.contains("rebuilt byte for byte"), "{text}");

    // `try` runs a bundle as well as a spec, with the same task.
    let from_bundle = ganglion(
        &dir,
        &["subnet", "try", "curves.bundle", "--seed", "4", "--json"],
    );
    let b: Value = serde_json::from_str(&stdout(&from_bundle)).unwrap();
    assert_eq!(b["public"], v["public"]);

    // A damaged bundle is refused with a clear error and exit status 2.
    let mut damaged = bytes.clone();
    let n = damaged.len();
    damaged[n / 2] ^= 1;
    std::fs::write(dir.join("damaged.bundle"), &damaged).unwrap();
    let out = ganglion(&dir, &["subnet", "inspect", "damaged.bundle"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("damaged.bundle"), "{}", stderr(&out));
}

#[test]
fn check_reports_errors_with_place_and_hint() {
    let dir = work_dir("errors");
    let source = std::fs::read_to_string(example("denoise"))
        .unwrap()
        .replace("send noisy", "send nosy");
    std::fs::write(dir.join("bad.subnet"), source).unwrap();
    let out = ganglion(&dir, &["subnet", "check", "bad.subnet"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("error: unknown name `nosy`"), "{err}");
    assert!(err.contains("--> bad.subnet:"), "{err}");
    assert!(err.contains("help: did you mean `noisy`?"), "{err}");

    let out = ganglion(&dir, &["subnet", "check", "bad.subnet", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"][0]["message"], "unknown name `nosy`");
    assert!(v["errors"][0]["line"].as_u64().unwrap() > 1);

    // Junk, an empty file and a missing file: errors, never a crash.
    std::fs::write(dir.join("junk.subnet"), [0xff, 0x00, 0x13, 0x37]).unwrap();
    std::fs::write(dir.join("empty.subnet"), "").unwrap();
    for (file, code) in [
        ("junk.subnet", 1),
        ("empty.subnet", 1),
        ("missing.subnet", 2),
    ] {
        let out = ganglion(&dir, &["subnet", "check", file]);
        assert_eq!(out.status.code(), Some(code), "{file}: {}", stderr(&out));
        assert!(stderr(&out).contains("error"), "{file}: {}", stderr(&out));
    }
}

#[test]
fn fmt_rewrites_in_place_and_check_mode_only_reports() {
    let dir = work_dir("fmt");
    let source = std::fs::read_to_string(example("sort")).unwrap();
    let messy = source.replace("  let", "let").replace(" = ", "=");
    let path = dir.join("sort.subnet");
    std::fs::write(&path, &messy).unwrap();
    let out = ganglion(&dir, &["subnet", "fmt", "--check", "sort.subnet"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("sort.subnet is not formatted"));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        messy,
        "--check changed the file"
    );
    let out = ganglion(&dir, &["subnet", "fmt", "sort.subnet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), source);
    let out = ganglion(&dir, &["subnet", "fmt", "--check", "sort.subnet"]);
    assert!(out.status.success());
}

#[test]
fn every_example_builds_to_the_same_hash_twice_and_separates_trivial_from_perfect() {
    let dir = work_dir("examples");
    for name in ["denoise", "forecast", "digits", "sort"] {
        let spec = example(name);
        let spec = spec.to_str().unwrap();
        let mut hashes = Vec::new();
        for out_file in ["a.bundle", "b.bundle"] {
            let out = ganglion(&dir, &["subnet", "build", spec, "-o", out_file, "--json"]);
            assert!(out.status.success(), "{name}: {}", stderr(&out));
            let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
            hashes.push(v["blake3"].as_str().unwrap().to_owned());
        }
        assert_eq!(hashes[0], hashes[1], "{name}: two builds differ");
        let out = ganglion(&dir, &["subnet", "try", spec, "--seed", "11"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert!(stdout(&out).contains("zeros"), "{name}: {}", stdout(&out));
    }
}

#[test]
fn a_spec_too_large_to_compile_is_reported_like_any_error() {
    let dir = work_dir("big");
    let source = r#"subnet big {
  version = "0.1.0"
  summary = "Three 4-Mi-value tensors: more memory than a plugin may have"
  task {
    let a = normal(0, 1, [2048, 2048])
    let b = a * 2
    let c = b + a
    send c: f32[2048, 2048]
    expect f32[]
  }
  score { item = 1 }
  incentive { tempo = 10 blocks }
}
"#;
    std::fs::write(dir.join("big.subnet"), source).unwrap();
    for args in [
        &["subnet", "check", "big.subnet"][..],
        &["subnet", "build", "big.subnet", "-o", "big.bundle"],
    ] {
        let out = ganglion(&dir, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains("--> big.subnet:1:8"), "{err}");
        assert!(err.contains("bytes of memory"), "{err}");
    }
    assert!(!dir.join("big.bundle").exists());
}
