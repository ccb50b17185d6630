//! What a plugin exports, with the signatures a host checks before running anything.
//!
//! Pointers and lengths are `i32` offsets into the exported memory. An entry point that
//! returns bytes returns them as one `i64`: the pointer in the high 32 bits and the length in
//! the low 32 (see [`pack`] and [`unpack`]).

/// A WebAssembly value type, as the ABI uses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValType {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f64`
    F64,
}

impl std::fmt::Display for ValType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F64 => "f64",
        })
    }
}

/// A function export the ABI knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncExport {
    /// Its export name.
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [ValType],
    /// Result types.
    pub results: &'static [ValType],
    /// Whether a plugin must export it.
    pub required: bool,
    /// What it does.
    pub doc: &'static str,
}

/// The exported linear memory (required) that every pointer refers to.
pub const MEMORY: &str = "memory";

/// `abi_version() -> i32`: returns [`crate::ABI_VERSION`].
pub const ABI_VERSION: FuncExport = FuncExport {
    name: "abi_version",
    params: &[],
    results: &[ValType::I32],
    required: true,
    doc: "returns the ABI version the plugin was written for",
};

/// `alloc(len: i32) -> i32`: reserves `len` bytes for the host to write inputs into.
pub const ALLOC: FuncExport = FuncExport {
    name: "alloc",
    params: &[ValType::I32],
    results: &[ValType::I32],
    required: true,
    doc: "returns a pointer to `len` writable bytes for the host's inputs",
};

/// `task(seed: i64, round: i64) -> i64`: generates one task from a seed.
///
/// Returns packed bytes: a u32 (little-endian) length `p`, then `p` bytes of the public
/// payload (sent to miners), then the private payload (kept by the validator) to the end.
pub const TASK: FuncExport = FuncExport {
    name: "task",
    params: &[ValType::I64, ValType::I64],
    results: &[ValType::I64],
    required: true,
    doc: "generates the task for (seed, round): u32 public length, public payload, private payload",
};

/// `score(pub_ptr, pub_len, priv_ptr, priv_len, resp_ptr, resp_len: i32) -> f64`: scores a
/// miner's response in `[0, 1]` (a malformed response must score 0).
pub const SCORE: FuncExport = FuncExport {
    name: "score",
    params: &[
        ValType::I32,
        ValType::I32,
        ValType::I32,
        ValType::I32,
        ValType::I32,
        ValType::I32,
    ],
    results: &[ValType::F64],
    required: true,
    doc: "scores a response against the task's public and private payloads, in [0, 1]",
};

/// `reward(ptr: i32, len: i32) -> i64` (optional): reshapes the epoch's incentive vector.
///
/// Input and output are `n` u16 values, little-endian (incentive as the chain stores it);
/// the output must have the same length.
pub const REWARD: FuncExport = FuncExport {
    name: "reward",
    params: &[ValType::I32, ValType::I32],
    results: &[ValType::I64],
    required: false,
    doc: "maps the incentive vector (n little-endian u16) to a new one of the same length",
};

/// Every function export, in the order hosts report them.
pub const FUNCTIONS: [FuncExport; 5] = [ABI_VERSION, ALLOC, TASK, SCORE, REWARD];

/// Packs a pointer and a length the way entry points return them.
pub fn pack(ptr: u32, len: u32) -> i64 {
    i64::from_ne_bytes(((u64::from(ptr) << 32) | u64::from(len)).to_ne_bytes())
}

/// Unpacks an entry point's result into (pointer, length).
pub fn unpack(packed: i64) -> (u32, u32) {
    let bits = u64::from_ne_bytes(packed.to_ne_bytes());
    ((bits >> 32) as u32, bits as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        for (p, l) in [(0, 0), (1, 2), (u32::MAX, u32::MAX), (65_536, 17)] {
            assert_eq!(unpack(pack(p, l)), (p, l));
        }
    }
}
