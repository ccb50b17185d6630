//! End-to-end tests of the `ganglion` binary: real processes, real files.

mod plugin_cli;
mod yuma_cli;
