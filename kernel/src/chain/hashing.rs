//! The hash functions FRAME uses, and the 32-byte [`Hash`] type.
//!
//! - blake2b-256 hashes blocks, extrinsics and long signing payloads;
//! - `twox_128` hashes module and item names in storage keys, `blake2_128_concat` and
//!   `twox_64_concat` hash map keys (the hash, then the key itself, so keys can be listed).

use std::fmt;
use std::str::FromStr;

use blake2::digest::consts::{U16, U32};
use blake2::{Blake2b, Digest};
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use twox_hash::XxHash64;

/// A 32-byte hash: block hashes, extrinsic hashes, state and extrinsics roots.
///
/// Printed and parsed as `0x` followed by 64 lowercase hex digits, as Substrate's RPC does.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, MaxEncodedLen,
)]
pub struct H256(pub [u8; 32]);

impl H256 {
    /// The all-zero hash (the parent of the genesis block).
    pub const ZERO: H256 = H256([0; 32]);

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for H256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for H256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a 32-byte hash: expected 0x followed by 64 hex digits")]
pub struct BadHash(pub String);

impl FromStr for H256 {
    type Err = BadHash;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("0x").ok_or_else(|| BadHash(s.to_owned()))?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(digits, &mut out).map_err(|_| BadHash(s.to_owned()))?;
        Ok(H256(out))
    }
}

impl serde::Serialize for H256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for H256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// blake2b with a 256-bit output.
pub fn blake2_256(data: &[u8]) -> [u8; 32] {
    Blake2b::<U32>::digest(data).into()
}

/// blake2b with a 128-bit output.
pub fn blake2_128(data: &[u8]) -> [u8; 16] {
    Blake2b::<U16>::digest(data).into()
}

/// xxHash64 with seeds 0 and 1, little-endian, concatenated (FRAME's `twox_128`).
pub fn twox_128(data: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&XxHash64::oneshot(0, data).to_le_bytes());
    out[8..].copy_from_slice(&XxHash64::oneshot(1, data).to_le_bytes());
    out
}

/// xxHash64 with seed 0, little-endian (FRAME's `twox_64`).
pub fn twox_64(data: &[u8]) -> [u8; 8] {
    XxHash64::oneshot(0, data).to_le_bytes()
}

/// FRAME's `Blake2_128Concat` map-key hasher: `blake2_128(key) ++ key`.
pub fn blake2_128_concat(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + key.len());
    out.extend_from_slice(&blake2_128(key));
    out.extend_from_slice(key);
    out
}

/// FRAME's `Twox64Concat` map-key hasher: `twox_64(key) ++ key`.
pub fn twox_64_concat(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&twox_64(key));
    out.extend_from_slice(key);
    out
}

/// The prefix of a FRAME storage item: `twox_128(module) ++ twox_128(item)`.
pub fn storage_prefix(module: &str, item: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&twox_128(module.as_bytes()));
    out[16..].copy_from_slice(&twox_128(item.as_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_prefixes_match_frame() {
        // Well-known keys: System.Account and System.Number, as every Substrate chain builds
        // them (seen in polkadot.js and subxt documentation).
        assert_eq!(
            hex::encode(storage_prefix("System", "Account")),
            "26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9"
        );
        assert_eq!(
            hex::encode(storage_prefix("System", "Number")),
            "26aa394eea5630e07c48ae0c9558cef702a5c1b19ab7a04f536c519aca4983ac"
        );
    }

    #[test]
    fn hashes_print_and_parse() {
        let h = H256(blake2_256(b"ganglion"));
        let text = h.to_string();
        assert_eq!(text.len(), 66);
        assert_eq!(text.parse::<H256>(), Ok(h));
        assert!("0x12".parse::<H256>().is_err());
        assert!(text[2..].parse::<H256>().is_err());
    }

    #[test]
    fn blake2_256_of_empty_input() {
        assert_eq!(
            hex::encode(blake2_256(b"")),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        );
    }
}
