//! The chain: keys, extrinsics, blocks, state, storage, the pool and the consensus seam.
//!
//! - [`keys`], [`wallet`]: sr25519 keys, SS58 addresses, secret URIs, wallets on disk.
//! - [`extrinsic`], [`era`]: transactions in Substrate's v4 signed format.
//! - [`state`], [`execute`]: what the chain stores and the one function that changes it.
//! - [`block`], [`ledger`], [`store`]: blocks, the chain on disk ([`Chain`]), the store trait
//!   and sled.
//! - [`pool`]: the transaction pool; [`consensus`]: the seam consensus engines drive.
//! - [`economy`]: subnets, neurons, staking, weights, emission and epochs.
//! - [`genesis`]: the genesis config; [`units`]: TAO and rao; [`hashing`]: FRAME's hashers.

pub mod block;
pub mod consensus;
pub mod economy;
pub mod era;
pub mod execute;
pub mod extrinsic;
pub mod genesis;
pub mod hashing;
pub mod keys;
pub mod ledger;
pub mod pool;
pub mod service;
pub mod state;
pub mod store;
pub mod units;
pub mod wallet;

pub use ledger::{Chain, ChainError};
