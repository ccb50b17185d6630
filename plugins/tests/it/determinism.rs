//! The same module and inputs give identical bytes across runs, threads and instances,
//! including float code that produces NaNs.

use std::sync::Arc;

use ganglion_plugin_abi::limits::Limits;

use super::{load_wat, toy, with_task};

#[test]
fn same_inputs_same_bytes_across_runs_and_threads() {
    let plugin = Arc::new(toy());
    let expected: Vec<_> = (0..20).map(|s| plugin.task(s, s * 3).unwrap()).collect();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let plugin = Arc::clone(&plugin);
            std::thread::spawn(move || {
                (0..20)
                    .map(|s| plugin.task(s, s * 3).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), expected);
    }
    // A plugin loaded again (another instance pool, the cached module) agrees too.
    let again = toy();
    for (s, task) in (0..20).zip(&expected) {
        assert_eq!(&again.task(s, s * 3).unwrap(), task);
    }
}

#[test]
fn nan_producing_float_code_gives_canonical_bits() {
    // 0/0 and sqrt(-1) as f32 and f64, stored raw into the task output: with NaN
    // canonicalization every run and machine writes the same bits.
    let body = r#"
    (i32.store (i32.const 0) (i32.const 26))
    (i32.store (i32.const 4) (i32.const 1))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store8 (i32.const 9) (i32.const 1))
    (i32.store (i32.const 10) (i32.const 4))
    (f32.store (i32.const 14) (f32.div (f32.const 0) (f32.const 0)))
    (f32.store (i32.const 18) (f32.sqrt (f32.const -1)))
    (f32.store (i32.const 22) (f32.demote_f64 (f64.div (f64.const 0) (f64.const 0))))
    (f32.store (i32.const 26) (f32.add (f32.const nan:0x200000) (f32.const 1)))
    (i32.store (i32.const 30) (i32.const 0))
    (i64.const 34)"#;
    let plugin = load_wat(&with_task(body), Limits::default()).unwrap();
    let first = plugin.task(0, 0).unwrap();
    let values = &first.public[10..26];
    for chunk in values.chunks(4) {
        let bits = u32::from_le_bytes(chunk.try_into().unwrap());
        assert!(f32::from_bits(bits).is_nan());
        assert_eq!(bits, 0x7fc0_0000, "canonical f32 NaN");
    }
    for _ in 0..10 {
        assert_eq!(plugin.task(0, 0).unwrap(), first);
    }
}

#[test]
fn calls_do_not_leak_state_between_instances() {
    // A task that counts its calls in a global: a fresh instance per call always sees 0.
    let body = r#"
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store (i32.const 0) (i32.const 4))
    (i32.store (i32.const 4) (i32.const 0))
    (i32.store (i32.const 8) (i32.sub (global.get $calls) (i32.const 1)))
    (i64.const 12)"#;
    let wat = with_task(body).replace(
        "(global $heap (mut i32) (i32.const 1024))",
        "(global $heap (mut i32) (i32.const 1024)) (global $calls (mut i32) (i32.const 0))",
    );
    let plugin = load_wat(&wat, Limits::default());
    // The output is "public length 4, public = no tensors, private = calls - 1 tensors": it
    // decodes only while the count is 0, that is, only if every call starts afresh.
    let plugin = plugin.unwrap();
    for _ in 0..5 {
        let err_or_task = plugin.task(0, 0);
        assert!(err_or_task.is_ok(), "{:?}", err_or_task.err());
    }
}

#[test]
fn many_threads_calling_at_once_all_get_the_same_answer() {
    let plugin = Arc::new(toy());
    let expected = Arc::new(plugin.task(9, 9).unwrap());
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (plugin, expected) = (Arc::clone(&plugin), Arc::clone(&expected));
            std::thread::spawn(move || {
                (0..50).all(|_| plugin.task(9, 9).ok().as_ref() == Some(&*expected))
            })
        })
        .collect();
    let expected_ok = handles.into_iter().all(|h| h.join().unwrap());
    assert!(expected_ok);
}
