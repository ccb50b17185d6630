//! What a host allows one plugin call, with the defaults every host uses.
//!
//! Fuel decides a plugin's outcome: it counts WebAssembly instructions, so the same call
//! runs out at the same place on every machine. The wall-clock timeout only protects the node
//! running it: when it fires, the result is a local fault, never a score.

use std::time::Duration;

/// Largest module accepted, in bytes (checked before parsing). Hit: the module is refused.
pub const DEFAULT_MODULE_BYTES: usize = 16 << 20;
/// Fuel per call (about one unit per instruction). Hit: the call fails with "out of fuel",
/// the same on every machine.
pub const DEFAULT_FUEL: u64 = 500_000_000;
/// Linear memory per instance, in bytes. Hit: `memory.grow` traps and the call fails.
pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;
/// Table elements per instance. Hit: `table.grow` traps and the call fails.
pub const DEFAULT_TABLE_ELEMENTS: usize = 10_000;
/// Native stack for WebAssembly frames, in bytes. Hit: the call fails with a stack overflow.
pub const DEFAULT_STACK_BYTES: usize = 512 << 10;
/// Bytes an entry point may return. Hit: the call fails before the bytes are read.
pub const DEFAULT_OUTPUT_BYTES: usize = 16 << 20;
/// Wall-clock time per call. Hit: the call is interrupted and reported as a local fault.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The limits of one plugin's calls. `Default` gives the `DEFAULT_*` values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// See [`DEFAULT_MODULE_BYTES`].
    pub module_bytes: usize,
    /// See [`DEFAULT_FUEL`].
    pub fuel: u64,
    /// See [`DEFAULT_MEMORY_BYTES`].
    pub memory_bytes: usize,
    /// See [`DEFAULT_TABLE_ELEMENTS`].
    pub table_elements: usize,
    /// See [`DEFAULT_STACK_BYTES`].
    pub stack_bytes: usize,
    /// See [`DEFAULT_OUTPUT_BYTES`].
    pub output_bytes: usize,
    /// See [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            module_bytes: DEFAULT_MODULE_BYTES,
            fuel: DEFAULT_FUEL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            stack_bytes: DEFAULT_STACK_BYTES,
            output_bytes: DEFAULT_OUTPUT_BYTES,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}
