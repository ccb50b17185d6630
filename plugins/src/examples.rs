//! Example plugins, as WebAssembly text (parse them with the `wat` crate).

/// The toy denoising plugin that `docs/plugin-abi.md` walks through (its first `wat` block is
/// this text): a sine-wave task, a mean-squared-error score, and an identity `reward`.
pub const TOY_WAT: &str = include_str!("examples/toy.wat");
