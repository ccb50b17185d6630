//! The subnet language: one declarative file per subnet (task, scoring, incentive), checked
//! with precise errors and compiled to a WebAssembly plugin inside a content-addressed bundle.
//!
//! Not built yet: this crate holds no code.
