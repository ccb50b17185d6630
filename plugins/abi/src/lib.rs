//! The plugin ABI contract: the exports a subnet plugin provides, the host functions it may
//! import, the default limits, and the self-describing tensor payload shared by plugins,
//! miners and the p2p layer. It has no wasmtime in it, so the DSL and the network can use it
//! cheaply.
//!
//! Not built yet: this crate holds no code.
