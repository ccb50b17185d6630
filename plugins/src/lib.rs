//! The plugin host: runs subnet plugins (WebAssembly modules that meet the ABI of
//! `ganglion-plugin-abi`) sandboxed, metered and deterministic, and swaps them at an
//! activation block while the network runs.
//!
//! Not built yet: this crate holds no code.
