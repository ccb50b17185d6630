//! End-to-end tests of the `ganglion` binary: real processes, real files.

mod yuma_cli;
