//! What the chain stores, under which keys, and the state root that commits to all of it.
//!
//! Keys are built as FRAME builds them: `twox_128(module) ++ twox_128(item)`, then the map key
//! through its hasher. So `System.Account` of an account is
//! `twox_128("System") ++ twox_128("Account") ++ blake2_128(id) ++ id`, and tools that read
//! Substrate state by key find it where they expect.
//!
//! # The state root
//!
//! The state root is a homomorphic multiset hash (LtHash, as in Bellare–Micciancio's and
//! Facebook's "Securing update propagation with homomorphic hashing"): every `(key, value)` pair
//! maps, through blake3's extendable output, to 1,024 lanes of `u16`; the state's hash is the
//! lane-wise wrapping sum over all pairs, and the root is blake3 of those 2,048 bytes. Updating
//! a key subtracts its old element and adds its new one, so a block costs two hashes per key it
//! changes, whatever the size of the state. It commits to the whole state; it gives no
//! inclusion proofs (a Merkle trie would, at a cost per block that grows with the state).

use parity_scale_codec::{Decode, Encode};

use super::hashing::{H256, blake2_128_concat, storage_prefix, twox_64_concat};
use super::keys::AccountId;
use super::units::Balance;

/// FRAME's `ExtraFlags` "new logic" bit, set on every account as current FRAME does.
const NEW_LOGIC: u128 = 1 << 127;

/// `pallet_balances::AccountData` with `Balance = u64`, as subtensor stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct AccountData {
    /// Spendable balance, in rao.
    pub free: Balance,
    /// Reserved balance (not used yet).
    pub reserved: Balance,
    /// Frozen balance (not used yet).
    pub frozen: Balance,
    /// FRAME's flags.
    #[serde(skip)]
    pub flags: u128,
}

impl Default for AccountData {
    fn default() -> Self {
        AccountData {
            free: 0,
            reserved: 0,
            frozen: 0,
            flags: NEW_LOGIC,
        }
    }
}

/// `frame_system::AccountInfo`, as stored under `System.Account`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct AccountInfo {
    /// Transactions sent so far.
    pub nonce: u32,
    /// Modules that depend on the account existing.
    pub consumers: u32,
    /// Reasons the account exists (1 while it holds at least the existential deposit).
    pub providers: u32,
    /// Sufficient references (not used).
    pub sufficients: u32,
    /// Balances.
    pub data: AccountData,
}

/// A validator of blocks and its voting power.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize,
)]
pub struct Authority {
    /// Its key: it signs proposals and votes.
    pub id: AccountId,
    /// Its weight in the certificate's two-thirds quorum.
    pub power: u64,
}

/// Chain parameters, set at genesis and kept in state (so execution depends on state only).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize,
)]
#[serde(deny_unknown_fields, default)]
pub struct ChainParams {
    /// Accounts holding less are reaped (rao). subtensor uses 500.
    pub existential_deposit: Balance,
    /// Fee per extrinsic (rao).
    pub base_fee: Balance,
    /// Fee per byte of extrinsic (rao).
    pub byte_fee: Balance,
    /// Most bytes of extrinsics in one block.
    pub max_block_bytes: u32,
    /// Most extrinsics in one block.
    pub max_block_extrinsics: u32,
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            existential_deposit: 500,
            base_fee: 100_000,
            byte_fee: 100,
            max_block_bytes: 4 * 1024 * 1024,
            max_block_extrinsics: 20_000,
        }
    }
}

impl ChainParams {
    /// The fee for an extrinsic of `len` bytes with `tip`, or `None` on overflow.
    pub fn fee(&self, len: usize, tip: Balance) -> Option<Balance> {
        self.byte_fee
            .checked_mul(len as u64)?
            .checked_add(self.base_fee)?
            .checked_add(tip)
    }
}

/// What happened to an extrinsic, recorded in `System.Events`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// The call succeeded.
    ExtrinsicSuccess {
        /// Fee (with tip) paid.
        fee: Balance,
    },
    /// The call failed; its fee was still paid and its nonce used.
    ExtrinsicFailed {
        /// Fee (with tip) paid.
        fee: Balance,
        /// Why.
        error: DispatchError,
    },
    /// TAO moved.
    Transfer {
        /// Sender.
        from: AccountId,
        /// Recipient.
        to: AccountId,
        /// Amount in rao.
        amount: Balance,
    },
    /// A new account came into existence.
    NewAccount {
        /// The account.
        account: AccountId,
    },
    /// An account fell below the existential deposit and was removed; its dust was burned.
    KilledAccount {
        /// The account.
        account: AccountId,
        /// Rao burned.
        dust: Balance,
    },
    /// A subnet was created.
    SubnetCreated {
        /// Its netuid.
        netuid: u16,
        /// The owner's coldkey.
        owner: AccountId,
        /// Rao locked.
        locked: Balance,
    },
    /// A subnet's owner or the root changed a parameter.
    ParameterSet {
        /// The subnet (`None` for a global parameter).
        netuid: Option<u16>,
        /// The parameter's name.
        name: String,
    },
    /// A subnet's bundle was set.
    BundleSet {
        /// The subnet.
        netuid: u16,
        /// The bundle hash.
        hash: [u8; 32],
        /// From this block.
        activation_block: u32,
    },
    /// A hotkey took a UID.
    NeuronRegistered {
        /// The subnet.
        netuid: u16,
        /// The UID.
        uid: u16,
        /// The hotkey.
        hotkey: AccountId,
        /// Rao burned for it (0 for proof of work).
        burned: Balance,
        /// The hotkey it replaced, when the subnet was full.
        replaced: Option<AccountId>,
    },
    /// A hotkey announced where it serves.
    Served {
        /// The subnet.
        netuid: u16,
        /// The hotkey.
        hotkey: AccountId,
    },
    /// Stake moved from a coldkey's balance to a hotkey.
    StakeAdded {
        /// The coldkey.
        coldkey: AccountId,
        /// The hotkey.
        hotkey: AccountId,
        /// Rao.
        amount: Balance,
    },
    /// Stake moved back to a coldkey's balance.
    StakeRemoved {
        /// The coldkey.
        coldkey: AccountId,
        /// The hotkey.
        hotkey: AccountId,
        /// Rao.
        amount: Balance,
    },
    /// A hotkey's take changed.
    TakeSet {
        /// The hotkey.
        hotkey: AccountId,
        /// Out of 65535.
        take: u16,
    },
    /// A validator set weights.
    WeightsSet {
        /// The subnet.
        netuid: u16,
        /// The validator's UID.
        uid: u16,
    },
    /// A validator committed to weights.
    WeightsCommitted {
        /// The subnet.
        netuid: u16,
        /// The hotkey.
        hotkey: AccountId,
        /// The commitment.
        hash: H256,
    },
    /// A commitment was never revealed and expired.
    WeightsCommitExpired {
        /// The subnet.
        netuid: u16,
        /// The hotkey.
        hotkey: AccountId,
        /// The commitment.
        hash: H256,
    },
    /// A subnet's epoch ran and its emission was paid.
    EpochRun {
        /// The subnet.
        netuid: u16,
        /// Rao paid to miners (incentive) and validators (dividends).
        paid: Balance,
        /// Rao paid to the owner.
        owner_cut: Balance,
    },
}

/// One event and the index of the extrinsic that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct EventRecord {
    /// Index of the extrinsic in its block; `None` for the block's own steps (emission, epochs).
    pub extrinsic: Option<u32>,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// Why a call failed after its fee was paid.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Encode,
    Decode,
    serde::Serialize,
    serde::Deserialize,
    thiserror::Error,
)]
#[serde(rename_all = "snake_case")]
pub enum DispatchError {
    /// The sender's free balance is smaller than the amount.
    #[error("insufficient balance: {free} rao free, {needed} rao needed")]
    InsufficientBalance {
        /// Free balance after the fee.
        free: Balance,
        /// The amount.
        needed: Balance,
    },
    /// `transfer_keep_alive` would leave the sender below the existential deposit.
    #[error(
        "transfer_keep_alive would leave the sender below the existential deposit; send less or use transfer_allow_death"
    )]
    KeepAlive,
    /// The recipient would be created with less than the existential deposit.
    #[error("the recipient does not exist and the amount is below the existential deposit")]
    ExistentialDeposit,
    /// The recipient's balance would overflow.
    #[error("the recipient's balance would overflow")]
    Overflow,
    /// An economy rule refused the call.
    #[error(transparent)]
    Economy(#[from] super::economy::EconomyError),
}

/// Storage keys.
pub mod keys {
    use super::*;

    /// `System.Account(id)`: [`AccountInfo`].
    pub fn account(id: &AccountId) -> Vec<u8> {
        map_key("System", "Account", &blake2_128_concat(id.as_bytes()))
    }

    /// The prefix of every `System.Account` key.
    pub fn account_prefix() -> Vec<u8> {
        storage_prefix("System", "Account").to_vec()
    }

    /// `System.BlockHash(number)`: the hash of a recent block.
    pub fn block_hash(number: u32) -> Vec<u8> {
        map_key("System", "BlockHash", &twox_64_concat(&number.encode()))
    }

    /// `System.Number`: the number of the last executed block.
    pub fn number() -> Vec<u8> {
        storage_prefix("System", "Number").to_vec()
    }

    /// `System.ParentHash`: the parent of the last executed block.
    pub fn parent_hash() -> Vec<u8> {
        storage_prefix("System", "ParentHash").to_vec()
    }

    /// `System.Events`: the last block's events.
    pub fn events() -> Vec<u8> {
        storage_prefix("System", "Events").to_vec()
    }

    /// `Balances.TotalIssuance`: every rao in existence.
    pub fn total_issuance() -> Vec<u8> {
        storage_prefix("Balances", "TotalIssuance").to_vec()
    }

    /// `Ganglion.ChainParams`: [`ChainParams`].
    pub fn chain_params() -> Vec<u8> {
        storage_prefix("Ganglion", "ChainParams").to_vec()
    }

    /// `Ganglion.Authorities`: the [`Authority`] set.
    pub fn authorities() -> Vec<u8> {
        storage_prefix("Ganglion", "Authorities").to_vec()
    }

    /// `Ganglion.TotalBurned`: every rao burned since genesis (fees, registrations, dust).
    pub fn total_burned() -> Vec<u8> {
        storage_prefix("Ganglion", "TotalBurned").to_vec()
    }

    /// `Ganglion.Root`: the account that may set root parameters.
    pub fn root() -> Vec<u8> {
        storage_prefix("Ganglion", "Root").to_vec()
    }

    /// `Ganglion.LastSlot`: the slot of the last executed block.
    pub fn last_slot() -> Vec<u8> {
        storage_prefix("Ganglion", "LastSlot").to_vec()
    }

    fn map_key(module: &str, item: &str, hashed: &[u8]) -> Vec<u8> {
        let mut key = storage_prefix(module, item).to_vec();
        key.extend_from_slice(hashed);
        key
    }
}

/// Number of `u16` lanes in an [`LtHash`].
const LANES: usize = 1024;

/// The lattice hash of a set of `(key, value)` pairs (see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash(Box<[u16; LANES]>);

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash({})", self.root())
    }
}

impl Default for LtHash {
    fn default() -> Self {
        LtHash(Box::new([0; LANES]))
    }
}

impl LtHash {
    /// Size of [`LtHash::to_bytes`].
    pub const BYTES: usize = LANES * 2;

    fn element(key: &[u8], value: &[u8]) -> [u16; LANES] {
        let mut hasher = blake3::Hasher::new_derive_key("ganglion state lthash v1");
        hasher.update(&(key.len() as u64).to_le_bytes());
        hasher.update(key);
        hasher.update(value);
        let mut bytes = [0u8; LANES * 2];
        hasher.finalize_xof().fill(&mut bytes);
        let mut lanes = [0u16; LANES];
        for (lane, pair) in lanes.iter_mut().zip(bytes.chunks_exact(2)) {
            *lane = u16::from_le_bytes([pair[0], pair[1]]);
        }
        lanes
    }

    /// Adds a pair to the set.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) {
        let e = Self::element(key, value);
        for (a, b) in self.0.iter_mut().zip(e) {
            *a = a.wrapping_add(b);
        }
    }

    /// Removes a pair from the set (it must have been inserted).
    pub fn remove(&mut self, key: &[u8], value: &[u8]) {
        let e = Self::element(key, value);
        for (a, b) in self.0.iter_mut().zip(e) {
            *a = a.wrapping_sub(b);
        }
    }

    /// Adds every pair of `other`.
    pub fn add(&mut self, other: &LtHash) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_add(*b);
        }
    }

    /// Removes every pair of `other`.
    pub fn sub(&mut self, other: &LtHash) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_sub(*b);
        }
    }

    /// The state root: blake3 of the lanes.
    pub fn root(&self) -> H256 {
        H256(*blake3::hash(&self.to_bytes()).as_bytes())
    }

    /// The lanes, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|l| l.to_le_bytes()).collect()
    }

    /// Reads [`LtHash::to_bytes`] back.
    pub fn from_bytes(bytes: &[u8]) -> Option<LtHash> {
        if bytes.len() != Self::BYTES {
            return None;
        }
        let mut lanes = Box::new([0u16; LANES]);
        for (lane, pair) in lanes.iter_mut().zip(bytes.chunks_exact(2)) {
            *lane = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Some(LtHash(lanes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn account_key_matches_frame_layout() {
        let alice = AccountId([0xd4; 32]);
        let key = keys::account(&alice);
        assert_eq!(
            hex::encode(&key[..32]),
            "26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9"
        );
        assert_eq!(key.len(), 32 + 16 + 32);
        assert_eq!(&key[48..], alice.as_bytes());
    }

    #[test]
    fn account_info_encoding_is_frame_sized() {
        // 4 x u32 + 3 x u64 + u128, as polkadot.js decodes subtensor's AccountInfo.
        assert_eq!(AccountInfo::default().encode().len(), 16 + 24 + 16);
    }

    proptest! {
        #[test]
        fn lthash_is_order_independent_and_updatable(
            pairs in proptest::collection::btree_map(any::<[u8; 4]>(), any::<Vec<u8>>(), 0..20),
            new_value in any::<Vec<u8>>(),
        ) {
            let mut forward = LtHash::default();
            for (k, v) in &pairs {
                forward.insert(k, v);
            }
            let mut backward = LtHash::default();
            for (k, v) in pairs.iter().rev() {
                backward.insert(k, v);
            }
            prop_assert_eq!(forward.root(), backward.root());
            if let Some((k, v)) = pairs.iter().next() {
                // Update one key incrementally, then compare with a rebuild.
                let mut updated = forward.clone();
                updated.remove(k, v);
                updated.insert(k, &new_value);
                let mut rebuilt = LtHash::default();
                for (k2, v2) in &pairs {
                    rebuilt.insert(k2, if k2 == k { &new_value } else { v2 });
                }
                prop_assert_eq!(updated.root(), rebuilt.root());
                prop_assert_eq!(LtHash::from_bytes(&updated.to_bytes()), Some(updated));
            }
        }
    }
}
