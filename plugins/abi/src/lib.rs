//! The ganglion plugin ABI: the contract between a subnet plugin (a WebAssembly module) and
//! every host that runs it, with no wasmtime in it, so the DSL and the network can use it
//! cheaply.
//!
//! It fixes three things, all documented for plugin authors in `docs/plugin-abi.md`:
//!
//! - the exports a plugin provides ([`exports`]) and the host functions it may import
//!   ([`imports`]), with their signatures, under [`ABI_VERSION`];
//! - the payload format ([`payload`]): a self-describing list of little-endian tensors, the
//!   bytes that go from a plugin to miners over the network and back;
//! - the [`limits`] a host applies to each call, with their defaults.
//!
//! ```
//! use ganglion_plugin_abi::payload::{self, Tensor};
//!
//! let noisy = Tensor::f32(vec![4], &[0.5, -1.0, 2.0, 0.25]);
//! let bytes = payload::encode(&[noisy.clone()]);
//! assert_eq!(payload::decode(&bytes)?, vec![noisy]);
//! # Ok::<(), payload::PayloadError>(())
//! ```
//!
//! # Feature flags
//!
//! None.

#![doc(test(attr(deny(warnings))))]
#![warn(unused_crate_dependencies)]

pub mod exports;
pub mod imports;
pub mod limits;
pub mod payload;

#[cfg(test)]
use proptest as _;

/// The version of this ABI. A plugin's `abi_version` export must return it.
pub const ABI_VERSION: i32 = 1;
