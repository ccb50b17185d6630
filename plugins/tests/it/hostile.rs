//! Hand-written hostile modules: each is contained with a clear error within a bounded time,
//! and the host keeps serving a good plugin after each.

use std::time::{Duration, Instant};

use ganglion_plugin_abi::limits::Limits;
use ganglion_plugins::{AbiProblem, Plugin, PluginError};

use super::{load_wat, module_with, toy, with_task};

fn small_limits() -> Limits {
    Limits {
        fuel: 20_000_000,
        timeout: Duration::from_secs(5),
        ..Limits::default()
    }
}

/// After any hostile module, a good plugin still works.
fn good_still_works() {
    let plugin = toy();
    let task = plugin.task(1, 1).unwrap();
    assert_eq!(
        plugin
            .score(&task.public, &task.private, &task.private)
            .unwrap(),
        1.0
    );
}

fn contained(err: PluginError, check: impl Fn(&PluginError) -> bool, started: Instant) {
    assert!(check(&err), "unexpected error: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(!err.to_string().is_empty());
    good_still_works();
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let started = Instant::now();
    let plugin = load_wat(
        &with_task("(loop $l (br $l)) (i64.const 0)"),
        small_limits(),
    )
    .unwrap();
    let err = plugin.task(0, 0).unwrap_err();
    contained(
        err,
        |e| matches!(e, PluginError::OutOfFuel { call: "task", .. }),
        started,
    );
}

#[test]
fn a_slow_loop_hits_the_wall_clock_deadline_as_a_local_fault() {
    let started = Instant::now();
    let limits = Limits {
        fuel: u64::MAX / 2,
        timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let plugin = load_wat(&with_task("(loop $l (br $l)) (i64.const 0)"), limits).unwrap();
    let err = plugin.task(0, 0).unwrap_err();
    assert!(err.is_local_fault());
    contained(err, |e| matches!(e, PluginError::Timeout { .. }), started);
}

#[test]
fn a_loop_in_the_start_function_is_stopped() {
    let started = Instant::now();
    let wat = module_with(
        r#"(func $spin (loop $l (br $l)))
  (start $spin)
  (func (export "task") (param i64 i64) (result i64) (i64.const 0))
  (func (export "score") (param i32 i32 i32 i32 i32 i32) (result f64) (f64.const 0))"#,
    );
    // Loading calls `abi_version`, which instantiates: the start function runs out of fuel.
    let err = load_wat(&wat, small_limits()).err().unwrap();
    contained(err, |e| matches!(e, PluginError::OutOfFuel { .. }), started);
}

#[test]
fn memory_grow_to_the_maximum_hits_the_memory_limit() {
    let started = Instant::now();
    let plugin = load_wat(
        &with_task("(drop (memory.grow (i32.const 65535))) (i64.const 0)"),
        small_limits(),
    )
    .unwrap();
    let err = plugin.task(0, 0).unwrap_err();
    contained(
        err,
        |e| matches!(e, PluginError::ResourceLimit { .. }),
        started,
    );
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let started = Instant::now();
    let wat = module_with(
        r#"(func $down (param i64) (result i64) (call $down (i64.add (local.get 0) (i64.const 1))))
  (func (export "task") (param i64 i64) (result i64) (call $down (i64.const 0)))
  (func (export "score") (param i32 i32 i32 i32 i32 i32) (result f64) (f64.const 0))"#,
    );
    let plugin = load_wat(
        &wat,
        Limits {
            fuel: u64::MAX / 2,
            ..small_limits()
        },
    )
    .unwrap();
    let err = plugin.task(0, 0).unwrap_err();
    contained(
        err,
        |e| matches!(e, PluginError::StackOverflow { .. }),
        started,
    );
}

#[test]
fn a_huge_output_length_is_refused() {
    let started = Instant::now();
    let plugin = load_wat(&with_task("(i64.const 0xffffffff)"), small_limits()).unwrap();
    let err = plugin.task(0, 0).unwrap_err();
    contained(
        err,
        |e| matches!(e, PluginError::OutputTooLarge { .. }),
        started,
    );
}

#[test]
fn an_output_pointer_out_of_bounds_is_refused() {
    let started = Instant::now();
    // Pointer 60000 + 10000 bytes in a 65536-byte memory.
    let packed = (60_000u64 << 32) | 10_000;
    let plugin = load_wat(&with_task(&format!("(i64.const {packed})")), small_limits()).unwrap();
    let err = plugin.task(0, 0).unwrap_err();
    contained(
        err,
        |e| matches!(e, PluginError::OutputOutOfBounds { .. }),
        started,
    );
}

#[test]
fn an_alloc_pointer_out_of_bounds_is_refused() {
    let started = Instant::now();
    let wat = r#"(module
  (memory (export "memory") 1)
  (func (export "abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 65530))
  (func (export "task") (param i64 i64) (result i64) (i64.const 0))
  (func (export "score") (param i32 i32 i32 i32 i32 i32) (result f64) (f64.const 0)))"#;
    let plugin = load_wat(wat, small_limits()).unwrap();
    let err = plugin.score(&[0; 10], &[0; 10], &[0; 10]).unwrap_err();
    contained(
        err,
        |e| matches!(e, PluginError::OutputOutOfBounds { call: "alloc", .. }),
        started,
    );
}

#[test]
fn a_trap_is_reported() {
    let started = Instant::now();
    let plugin = load_wat(&with_task("unreachable"), small_limits()).unwrap();
    let err = plugin.task(0, 0).unwrap_err();
    contained(
        err,
        |e| matches!(e, PluginError::Trap { call: "task", message } if message.contains("unreachable")),
        started,
    );
}

#[test]
fn a_malformed_task_output_is_refused() {
    let started = Instant::now();
    // Four bytes claiming a public payload of 0xffffffff bytes.
    let wat = module_with(
        r#"(data (i32.const 0) "\ff\ff\ff\ff")
  (func (export "task") (param i64 i64) (result i64) (i64.const 4))
  (func (export "score") (param i32 i32 i32 i32 i32 i32) (result f64) (f64.const 2))"#,
    );
    let plugin = load_wat(&wat, small_limits()).unwrap();
    let err = plugin.task(0, 0).unwrap_err();
    contained(
        err,
        |e| matches!(e, PluginError::MalformedOutput { call: "task", .. }),
        started,
    );
    let err = plugin.score(&[], &[], &[]).unwrap_err();
    assert!(
        err.to_string().contains("score 2 is not in [0, 1]"),
        "{err}"
    );
}

#[test]
fn an_unknown_import_is_refused_before_running() {
    let wat = format!(
        "(module (import \"env\" \"clock\" (func (result i64))) {}",
        &module_with("")["(module".len()..]
    );
    let err = load_wat(&wat, small_limits()).err().unwrap();
    let PluginError::Abi { problems, .. } = &err else {
        panic!("{err}")
    };
    assert!(problems.contains(&AbiProblem::UnknownImport {
        module: "env".into(),
        name: "clock".into()
    }));
    assert!(err.to_string().contains("imports `env::clock`"), "{err}");
    good_still_works();
}

#[test]
fn missing_and_mistyped_exports_are_all_named() {
    let wat = r#"(module
  (memory (export "memory") 1)
  (func (export "abi_version") (result i64) (i64.const 1))
  (func (export "task") (param i32) (result i64) (i64.const 0)))"#;
    let err = load_wat(wat, small_limits()).err().unwrap();
    let text = err.to_string();
    assert!(
        text.contains("exports `abi_version` as func() -> (i64)"),
        "{text}"
    );
    assert!(text.contains("does not export `alloc`"), "{text}");
    assert!(
        text.contains("exports `task` as func(i32) -> (i64)"),
        "{text}"
    );
    assert!(text.contains("does not export `score`"), "{text}");
    good_still_works();
}

#[test]
fn a_wrong_abi_version_is_refused() {
    let wat = with_task("(i64.const 0)")
        .replace("(result i32) (i32.const 1)", "(result i32) (i32.const 7)");
    let err = load_wat(&wat, small_limits()).err().unwrap();
    assert!(
        err.to_string().contains("`abi_version` returned 7"),
        "{err}"
    );
    good_still_works();
}

#[test]
fn not_wasm_at_all() {
    let err = Plugin::load(b"this is not a WebAssembly module", small_limits())
        .err()
        .unwrap();
    assert!(matches!(err, PluginError::Invalid(_)), "{err}");
    good_still_works();
}

#[test]
fn a_100_mb_file_is_refused_before_parsing() {
    let started = Instant::now();
    let huge = vec![0u8; 100 << 20];
    let err = Plugin::load(&huge, Limits::default()).err().unwrap();
    contained(err, |e| matches!(e, PluginError::TooLarge { .. }), started);
}

#[test]
fn declared_memory_beyond_the_limit_is_refused() {
    let wat = with_task("(i64.const 0)").replace(
        "(memory (export \"memory\") 1)",
        "(memory (export \"memory\") 2000)",
    );
    let err = load_wat(&wat, small_limits()).err().unwrap();
    assert!(
        err.to_string().contains("declares memory of at least"),
        "{err}"
    );
    good_still_works();
}
