//! The ganglion kernel: the parts every node runs, whatever its subnets.
//!
//! ganglion keeps Bittensor's economy in a small kernel and moves each subnet's rules into
//! sandboxed plugins. This crate is that kernel:
//!
//! - [`yuma`]: the Yuma Consensus epoch, bit-exact with subtensor's, as pure functions over
//!   plain inputs.
//! - [`chain`]: keys and wallets, Substrate-format extrinsics, the state and the one function
//!   that changes it, the economy (subnets, registration, staking, weights, emission and the
//!   epochs that run [`yuma`]), blocks, the transaction pool, sled storage and the consensus
//!   seam.
//! - [`node`]: the running service: the chain, its authoring loop and the JSON-RPC server, and
//!   a client for it.
//!
//! The p2p layer (libp2p) is not built yet.
//!
//! ```
//! use ganglion_kernel::yuma::case::Case;
//!
//! let json = r#"{"input": {"n": 2, "current_block": 10000, "tempo": 360,
//!   "last_mechanism_step_block": 0, "activity_cutoff": 5000,
//!   "stake": [10000000000000, 0], "stake_threshold": 0, "owner_uid": null,
//!   "weights": [[[1, 65535]], []], "bonds": [[], []], "last_update": [9990, 9990],
//!   "block_at_registration": [100, 100], "validator_permit": [true, false],
//!   "max_allowed_validators": 64, "kappa": 32767, "bonds_penalty": 65535,
//!   "bonds_moving_average": 900000, "liquid_alpha_enabled": false, "alpha_low": 45875,
//!   "alpha_high": 58982, "alpha_sigmoid_steepness": 1000, "yuma3_enabled": false,
//!   "rao_emission": 1000000000}}"#;
//! let case = Case::from_json(json.as_bytes())?;
//! let out = ganglion_kernel::yuma::epoch(&case.input)?;
//! assert_eq!(out.server_emission, [0, 500_000_000]);
//! assert_eq!(out.validator_emission, [500_000_000, 0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! None yet.

#![doc(test(attr(deny(warnings))))]
#![warn(unused_crate_dependencies)]

pub mod chain;
pub mod node;
pub mod p2p;
pub mod yuma;

#[cfg(test)]
use criterion as _;
#[cfg(test)]
use proptest as _;
