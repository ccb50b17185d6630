//! Integration tests of the subnet language: the example specs, error messages, bundles, and
//! the compiled plugins against the reference interpreter.

mod bundles;
mod differential;
mod docs;
mod errors;
mod examples;
mod robustness;
