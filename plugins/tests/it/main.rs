//! Integration tests of the plugin host: a good plugin, hostile ones, determinism, the disk
//! cache and hot loading.

mod cache;
mod determinism;
mod good;
mod hostile;
mod slot;

use ganglion_plugin_abi::limits::Limits;
use ganglion_plugins::{Plugin, examples::TOY_WAT};

/// The toy plugin from the docs, compiled.
pub fn toy() -> Plugin {
    Plugin::load(&wat::parse_str(TOY_WAT).unwrap(), Limits::default()).unwrap()
}

/// A plugin from WAT text.
pub fn load_wat(wat: &str, limits: Limits) -> Result<Plugin, ganglion_plugins::PluginError> {
    Plugin::load(&wat::parse_str(wat).unwrap(), limits)
}

/// The ABI boilerplate a hostile test module needs around its one bad function.
pub fn module_with(body: &str) -> String {
    format!(
        r#"(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param $len i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len))) (local.get $p))
  {body})"#
    )
}

/// A `score` that returns 0.5 and a `task` from `task_body`.
pub fn with_task(task_body: &str) -> String {
    module_with(&format!(
        r#"(func (export "task") (param i64 i64) (result i64) {task_body})
  (func (export "score") (param i32 i32 i32 i32 i32 i32) (result f64) (f64.const 0.5))"#
    ))
}
