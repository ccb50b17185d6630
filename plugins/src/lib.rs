//! The plugin host: runs subnet plugins (WebAssembly modules that meet the ABI of
//! `ganglion-plugin-abi`) sandboxed, metered and deterministic, and swaps them at an
//! activation block while the network runs.
//!
//! A plugin is written by someone the node operator has never met, so:
//!
//! - [`Plugin::load`] checks the module before running anything: its size, that it is valid
//!   WebAssembly, that it imports only the ABI's host functions and exports everything the
//!   ABI requires with the right signatures, and its declared memory and tables. Every
//!   problem is named.
//! - Every call runs in a fresh instance with fuel metering, a memory cap, a table cap, a
//!   stack cap, an output cap and a wall-clock deadline, all from
//!   [`Limits`]. Fuel decides the outcome, identically on
//!   every machine; the deadline only protects the node, and its error
//!   ([`PluginError::Timeout`]) is a local fault ([`PluginError::is_local_fault`]).
//! - NaNs are canonical, relaxed SIMD and threads are off, and host math comes from a
//!   pure-software libm: the same module and inputs give the same bytes everywhere.
//! - A trap, a limit or a malformed output is a typed [`PluginError`]; nothing a plugin does
//!   can panic or abort the host.
//!
//! Compiled modules are cached by content hash in memory, and on disk with
//! [`Host::with_cache_dir`]. [`PluginSlot`] holds a subnet's versions by activation block.
//!
//! ```
//! use ganglion_plugin_abi::{limits::Limits, payload};
//! use ganglion_plugins::Plugin;
//!
//! # let wasm = &wat::parse_str(ganglion_plugins::examples::TOY_WAT)?;
//! let plugin = Plugin::load(wasm, Limits::default())?;
//! let task = plugin.task(7, 0)?;
//! let tensors = payload::decode(&task.public)?;
//! assert_eq!(tensors.len(), 1);
//! let score = plugin.score(&task.public, &task.private, &task.private)?;
//! assert_eq!(score, 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! None.

#![doc(test(attr(deny(warnings))))]
#![warn(unused_crate_dependencies)]

use std::collections::BTreeMap;
use std::hash::Hasher as _;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use ganglion_plugin_abi::limits::Limits;
use wasmtime::{Engine, Module};

mod cache;
mod engine;
mod error;
pub mod examples;
mod plugin;
mod slot;

pub use engine::MAX_CONCURRENT_CALLS;
pub use error::{AbiProblem, PluginError};
pub use plugin::{Plugin, PluginInfo, SharedPlugin, Task};
pub use slot::PluginSlot;

#[cfg(test)]
use criterion as _;
#[cfg(test)]
use proptest as _;
#[cfg(test)]
use wat as _;

/// Compiled modules kept in memory, at most.
const MEMORY_CACHE_ENTRIES: usize = 256;

/// Loads plugins, caching compiled modules in memory and (optionally) on disk.
pub struct Host {
    disk: Option<cache::DiskCache>,
    modules: Mutex<BTreeMap<[u8; 32], Module>>,
}

impl Default for Host {
    fn default() -> Self {
        Self::new()
    }
}

impl Host {
    /// A host with an in-memory cache only.
    pub fn new() -> Self {
        Self {
            disk: None,
            modules: Mutex::new(BTreeMap::new()),
        }
    }

    /// A host that also caches compiled modules in `dir` (created if needed), each file
    /// verified before use: a tampered, truncated or stale file is recompiled, never trusted.
    ///
    /// ```
    /// use ganglion_plugin_abi::limits::Limits;
    /// use ganglion_plugins::{Host, examples::TOY_WAT};
    ///
    /// let dir = std::env::temp_dir().join(format!("ganglion-doc-cache-{}", std::process::id()));
    /// let wasm = wat::parse_str(TOY_WAT)?;
    /// let first = Host::with_cache_dir(&dir)?.load(&wasm, Limits::default())?;
    /// // A new host (a restarted node) loads the compiled module from disk.
    /// let again = Host::with_cache_dir(&dir)?.load(&wasm, Limits::default())?;
    /// assert_eq!(first.task(3, 4)?, again.task(3, 4)?);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_cache_dir(dir: impl AsRef<Path>) -> Result<Self, PluginError> {
        Ok(Self {
            disk: Some(cache::DiskCache::open(dir.as_ref())?),
            modules: Mutex::new(BTreeMap::new()),
        })
    }

    /// The process-wide host used by [`Plugin::load`] (in-memory cache only).
    pub fn global() -> &'static Host {
        static HOST: OnceLock<Host> = OnceLock::new();
        HOST.get_or_init(Host::new)
    }

    /// Checks and compiles `bytes` (a WebAssembly binary) into a [`Plugin`]; see
    /// [`Plugin::load`] for what is checked.
    pub fn load(&self, bytes: &[u8], limits: Limits) -> Result<Plugin, PluginError> {
        if bytes.len() > limits.module_bytes {
            return Err(PluginError::TooLarge {
                size: bytes.len(),
                limit: limits.module_bytes,
            });
        }
        declared_sizes(bytes, &limits)?;
        let hash = *blake3::hash(bytes).as_bytes();
        let engine = engine::engine(limits.stack_bytes, limits.memory_bytes)?;
        let key = cache_key(&engine, &limits, &hash);
        let module = self.module(&engine, &key, bytes)?;
        Plugin::from_module(&engine, &module, limits, hash, bytes.len())
    }

    fn module(&self, engine: &Engine, key: &[u8; 32], bytes: &[u8]) -> Result<Module, PluginError> {
        if let Some(module) = self.modules.lock().ok().and_then(|m| m.get(key).cloned()) {
            return Ok(module);
        }
        let cached = self.disk.as_ref().and_then(|disk| disk.get(engine, key));
        let module = match cached {
            Some(module) => module,
            None => {
                let module = Module::from_binary(engine, bytes)
                    .map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
                if let Some(disk) = &self.disk {
                    disk.put(key, &module);
                }
                module
            }
        };
        if let Ok(mut modules) = self.modules.lock() {
            if modules.len() >= MEMORY_CACHE_ENTRIES {
                modules.pop_first();
            }
            modules.insert(*key, module.clone());
        }
        Ok(module)
    }
}

/// Refuses, before compiling, a module that declares more memory or table than the limits
/// allow (the compiler would refuse it too, with a less useful message).
fn declared_sizes(bytes: &[u8], limits: &Limits) -> Result<(), PluginError> {
    use wasmparser::{Parser, Payload};
    let mut problems = Vec::new();
    let memory_limit = u64::try_from(limits.memory_bytes).unwrap_or(u64::MAX);
    let table_limit = u64::try_from(limits.table_elements).unwrap_or(u64::MAX);
    for payload in Parser::new(0).parse_all(bytes) {
        // Malformed modules are reported by the compiler, with its own message.
        let Ok(payload) = payload else { return Ok(()) };
        match payload {
            Payload::MemorySection(reader) => {
                for memory in reader.into_iter().flatten() {
                    let declared = memory.initial.saturating_mul(64 * 1024);
                    if declared > memory_limit {
                        problems.push(AbiProblem::DeclaredTooLarge {
                            what: "memory",
                            declared,
                            limit: memory_limit,
                        });
                    }
                }
            }
            Payload::TableSection(reader) => {
                for table in reader.into_iter().flatten() {
                    if table.ty.initial > table_limit {
                        problems.push(AbiProblem::DeclaredTooLarge {
                            what: "table",
                            declared: table.ty.initial,
                            limit: table_limit,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PluginError::Abi {
            version: ganglion_plugin_abi::ABI_VERSION,
            problems,
        })
    }
}

/// The cache key: the module's hash under this engine's configuration and the limits that
/// shape compilation.
fn cache_key(engine: &Engine, limits: &Limits, hash: &[u8; 32]) -> [u8; 32] {
    struct Blake(blake3::Hasher);
    impl std::hash::Hasher for Blake {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = Blake(blake3::Hasher::new());
    hasher.write(b"ganglion plugin cache v1");
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
    hasher.write(&limits.stack_bytes.to_le_bytes());
    hasher.write(&limits.memory_bytes.to_le_bytes());
    hasher.write(hash);
    *hasher.0.finalize().as_bytes()
}
