//! What can go wrong loading or calling a plugin.

use std::time::Duration;

/// One way a module fails the ABI, found before anything runs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AbiProblem {
    /// An import the host does not provide.
    #[error(
        "imports `{module}::{name}`, which the host does not provide (allowed: the `ganglion` math functions)"
    )]
    UnknownImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// A host function imported with the wrong signature.
    #[error("imports `ganglion::{name}` as {found}; it is {expected}")]
    ImportSignature {
        /// The function.
        name: String,
        /// The signature found.
        found: String,
        /// The signature it has.
        expected: String,
    },
    /// A required export that is missing.
    #[error("does not export `{name}` ({doc})")]
    MissingExport {
        /// The export.
        name: &'static str,
        /// What it is for.
        doc: &'static str,
    },
    /// An export of the wrong kind or signature.
    #[error("exports `{name}` as {found}; the ABI needs {expected}")]
    ExportSignature {
        /// The export.
        name: &'static str,
        /// What was found.
        found: String,
        /// What the ABI needs.
        expected: String,
    },
    /// A memory or table whose declared minimum is beyond the limits.
    #[error("declares {what} of at least {declared}, beyond the limit of {limit}")]
    DeclaredTooLarge {
        /// `memory` or `table`.
        what: &'static str,
        /// The declared minimum.
        declared: u64,
        /// The limit.
        limit: u64,
    },
    /// `abi_version` returned another version.
    #[error("`abi_version` returned {found}; this host speaks ABI version {expected}")]
    Version {
        /// What the plugin returned.
        found: i32,
        /// What the host speaks.
        expected: i32,
    },
}

/// Why a plugin could not be loaded or a call failed. A plugin can never crash the host: every
/// failure of its code ends up here.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The module is larger than the module size limit (checked before parsing).
    #[error("the module is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a valid WebAssembly module.
    #[error("not a valid WebAssembly module: {0}")]
    Invalid(String),
    /// A valid module that does not meet the ABI; every problem is listed.
    #[error("the module does not meet plugin ABI version {version}:{}", list(.problems))]
    Abi {
        /// The ABI version checked against.
        version: i32,
        /// Every problem found.
        problems: Vec<AbiProblem>,
    },
    /// The call used all its fuel: the same on every machine.
    #[error("`{call}` ran out of fuel (limit {limit} units)")]
    OutOfFuel {
        /// The entry point.
        call: &'static str,
        /// The fuel limit.
        limit: u64,
    },
    /// The wall-clock deadline fired. A local fault of this node (slow or overloaded), never
    /// a result: do not score or record it.
    #[error("`{call}` passed its wall-clock deadline of {limit:?} (a local fault, not a result)")]
    Timeout {
        /// The entry point.
        call: &'static str,
        /// The deadline.
        limit: Duration,
    },
    /// The call exhausted its stack.
    #[error("`{call}` overflowed its stack (limit {limit} bytes)")]
    StackOverflow {
        /// The entry point.
        call: &'static str,
        /// The stack limit.
        limit: usize,
    },
    /// The call tried to grow memory or a table beyond the limits.
    #[error("`{call}` tried to grow memory or a table beyond its limit ({limit} bytes of memory)")]
    ResourceLimit {
        /// The entry point.
        call: &'static str,
        /// The memory limit.
        limit: usize,
    },
    /// The plugin trapped.
    #[error("`{call}` trapped: {message}")]
    Trap {
        /// The entry point (or `start`).
        call: &'static str,
        /// What happened.
        message: String,
    },
    /// The plugin returned more bytes than allowed.
    #[error("`{call}` returned {len} bytes, more than the limit of {limit}")]
    OutputTooLarge {
        /// The entry point.
        call: &'static str,
        /// The length returned.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// The plugin returned bytes outside its memory.
    #[error("`{call}` returned bytes {ptr}..{end} outside its {memory}-byte memory")]
    OutputOutOfBounds {
        /// The entry point.
        call: &'static str,
        /// Start.
        ptr: u64,
        /// End.
        end: u64,
        /// Memory size.
        memory: usize,
    },
    /// The plugin returned something the ABI does not allow.
    #[error("`{call}` returned a malformed result: {reason}")]
    MalformedOutput {
        /// The entry point.
        call: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The plugin does not export the optional entry point called.
    #[error("the plugin does not export `{0}`")]
    NotExported(&'static str),
    /// The host itself failed (engine setup, a cache file): not the plugin's doing.
    #[error("plugin host: {0}")]
    Host(String),
}

impl PluginError {
    /// Whether the failure is this node's (a wall-clock timeout or a host problem), so it must
    /// not be turned into a score or a consensus result. Every other error is the plugin's
    /// own, the same on every machine.
    pub fn is_local_fault(&self) -> bool {
        matches!(self, PluginError::Timeout { .. } | PluginError::Host(_))
    }
}

fn list(problems: &[AbiProblem]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}
