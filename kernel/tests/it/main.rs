//! Integration tests of the kernel: the public Yuma vectors and property tests.

mod props;
mod vectors;
