//! The host functions a plugin may import: deterministic math, and nothing else.
//!
//! All live in the import module [`MODULE`] and take and return `f64`. They are computed by a
//! pure-software libm on every host, so they give the same bits on every machine (the
//! WebAssembly instructions cover `sqrt`, `abs`, `min`, `max`, `floor` and the like already).

use crate::exports::ValType;

/// The import module name.
pub const MODULE: &str = "ganglion";

/// A host function: its name and arity (all parameters and the result are `f64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFunc {
    /// Import name within [`MODULE`].
    pub name: &'static str,
    /// Number of `f64` parameters.
    pub arity: usize,
}

impl HostFunc {
    /// Parameter types.
    pub fn params(&self) -> &'static [ValType] {
        const F: [ValType; 2] = [ValType::F64, ValType::F64];
        F.get(..self.arity).unwrap_or(&F)
    }
}

/// Every host function: `sin`, `cos`, `tan`, `exp`, `ln`, `log2`, `tanh`, `atan`, `pow`,
/// `atan2`.
pub const FUNCTIONS: [HostFunc; 10] = [
    HostFunc {
        name: "sin",
        arity: 1,
    },
    HostFunc {
        name: "cos",
        arity: 1,
    },
    HostFunc {
        name: "tan",
        arity: 1,
    },
    HostFunc {
        name: "exp",
        arity: 1,
    },
    HostFunc {
        name: "ln",
        arity: 1,
    },
    HostFunc {
        name: "log2",
        arity: 1,
    },
    HostFunc {
        name: "tanh",
        arity: 1,
    },
    HostFunc {
        name: "atan",
        arity: 1,
    },
    HostFunc {
        name: "pow",
        arity: 2,
    },
    HostFunc {
        name: "atan2",
        arity: 2,
    },
];

/// The host function with this name, if there is one.
pub fn find(name: &str) -> Option<HostFunc> {
    FUNCTIONS.iter().copied().find(|f| f.name == name)
}
