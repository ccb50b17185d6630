//! The `ganglion` command line.
fn main() {}
