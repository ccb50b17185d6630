//! The economy's records, parameters, errors and storage keys.

use parity_scale_codec::{Decode, Encode};

use crate::chain::hashing::{H256, blake2_128_concat, storage_prefix, twox_64_concat};
use crate::chain::keys::AccountId;
use crate::chain::units::{Balance, RAO_PER_TAO};

/// Names and messages an [`EconomyError`] refers to, stored as an index into [`TEXTS`] so
/// that errors stay fixed-size in events.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize,
)]
pub struct Text(pub u8);

/// Every [`Text`].
pub const TEXTS: &[&str] = &[
    "tempo",
    "bonds_moving_average",
    "max_uids",
    "min_allowed_weights",
    "max_weight_limit",
    "weights_rate_limit",
    "activity_cutoff_factor_milli",
    "min_burn",
    "max_burn",
    "burn_half_life",
    "burn_increase_mult_milli",
    "reveal_period_epochs",
    "alpha_low",
    "alpha_high",
    "alpha_sigmoid_steepness",
    "target_registrations_per_interval",
    "max_validators",
    "subnet_limit",
    "min_lock_cost",
    "peer id",
    "multiaddr",
    "max_uids cannot be below min_allowed_weights",
    "alpha_sigmoid_steepness must not be negative",
];

impl Text {
    /// The index of `text` in [`TEXTS`].
    pub fn of(text: &str) -> Text {
        Text(
            TEXTS
                .iter()
                .position(|t| *t == text)
                .unwrap_or(usize::from(u8::MAX)) as u8,
        )
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(TEXTS.get(usize::from(self.0)).copied().unwrap_or("?"))
    }
}

/// Why an economy call was refused. The call changed nothing; its fee was paid.
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
pub enum EconomyError {
    /// No such subnet.
    #[error("subnet {0} does not exist; `ganglion subnet list` shows the subnets")]
    NoSuchSubnet(u16),
    /// The signer does not own the subnet.
    #[error("only the owner of subnet {0} may do this")]
    NotOwner(u16),
    /// The signer is not the chain's root.
    #[error("only the chain's root account may set this parameter")]
    NotRoot,
    /// The subnet limit is reached.
    #[error("the chain already has its limit of {0} subnets")]
    SubnetLimit(u16),
    /// A subnet name is empty, too long or not UTF-8.
    #[error("a subnet name must be 1 to 64 bytes of UTF-8")]
    BadName,
    /// A hyperparameter value is out of its bounds.
    #[error("{name} = {value} is out of bounds: allowed {min}..={max}")]
    OutOfBounds {
        /// The parameter.
        name: Text,
        /// The value given.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// Two parameters contradict each other.
    #[error("{0}")]
    Inconsistent(Text),
    /// The activation block is in the past.
    #[error("the activation block {block} is not after the current block {now}")]
    ActivationInPast {
        /// Given.
        block: u32,
        /// Now.
        now: u32,
    },
    /// The hotkey belongs to another coldkey.
    #[error("hotkey {hotkey} belongs to coldkey {owner}, not to the signer")]
    HotkeyNotYours {
        /// The hotkey.
        hotkey: AccountId,
        /// Its owner.
        owner: AccountId,
    },
    /// The hotkey already has a UID on this subnet.
    #[error("hotkey {hotkey} is already registered on subnet {netuid} (uid {uid})")]
    AlreadyRegistered {
        /// The subnet.
        netuid: u16,
        /// The hotkey.
        hotkey: AccountId,
        /// Its UID.
        uid: u16,
    },
    /// The hotkey has no UID on this subnet.
    #[error("hotkey {hotkey} is not registered on subnet {netuid}; register it first")]
    NotRegistered {
        /// The subnet.
        netuid: u16,
        /// The hotkey.
        hotkey: AccountId,
    },
    /// The registration price exceeds the balance.
    #[error(
        "registration on subnet {netuid} costs {price} rao, but the coldkey can spend {free} rao"
    )]
    CannotAffordRegistration {
        /// The subnet.
        netuid: u16,
        /// The price.
        price: Balance,
        /// Spendable.
        free: Balance,
    },
    /// The lock cost exceeds the balance.
    #[error("creating a subnet locks {cost} rao, but the coldkey can spend {free} rao")]
    CannotAffordLock {
        /// The cost.
        cost: Balance,
        /// Spendable.
        free: Balance,
    },
    /// Proof-of-work registration is off on this subnet.
    #[error("subnet {0} does not allow proof-of-work registration")]
    PowDisabled(u16),
    /// The work's block is not recent.
    #[error("the work names block {block}, but it must be one of the last 3 blocks (now {now})")]
    PowStaleBlock {
        /// Named.
        block: u32,
        /// Now.
        now: u32,
    },
    /// The work does not meet the difficulty.
    #[error("the proof of work does not meet subnet {netuid}'s difficulty {difficulty}")]
    PowTooEasy {
        /// The subnet.
        netuid: u16,
        /// Its difficulty.
        difficulty: u64,
    },
    /// Every UID is immune or owned: nothing can be pruned.
    #[error("subnet {0} is full and no UID can be replaced")]
    NothingToPrune(u16),
    /// An address field is too long.
    #[error("the {0} is too long (at most 256 bytes)")]
    TooLong(Text),
    /// The hotkey is not known (never registered).
    #[error("hotkey {0} is not registered on any subnet; register it before staking to it")]
    UnknownHotkey(AccountId),
    /// Zero amount.
    #[error("the amount must be more than 0 rao")]
    ZeroAmount,
    /// Not enough stake.
    #[error("the coldkey has {staked} rao staked on this hotkey, less than the {needed} rao asked")]
    NotEnoughStake {
        /// Staked.
        staked: Balance,
        /// Asked.
        needed: Balance,
    },
    /// The take is above the maximum.
    #[error("take {0} is above the maximum of 11796 (18%)")]
    TakeTooHigh(u16),
    /// uids and values differ in length.
    #[error("{uids} uids but {values} weight values: give one value per uid")]
    LengthMismatch {
        /// uids.
        uids: u32,
        /// values.
        values: u32,
    },
    /// A uid appears twice.
    #[error("uid {0} appears more than once in the weights")]
    DuplicateUid(u16),
    /// A uid does not exist.
    #[error("uid {uid} does not exist on this subnet ({n} uids)")]
    UidOutOfRange {
        /// The uid.
        uid: u16,
        /// Neurons.
        n: u16,
    },
    /// Non-self weights need a validator permit.
    #[error("uid {0} has no validator permit, so it may only set a weight on itself")]
    NoPermit(u16),
    /// Weights set too often.
    #[error(
        "weights were set at block {last}; the subnet allows one setting every {limit} blocks (next at {next})"
    )]
    RateLimited {
        /// Last setting.
        last: u64,
        /// Rate limit.
        limit: u64,
        /// Earliest next.
        next: u64,
    },
    /// Too few weights.
    #[error("{given} weights given; the subnet requires at least {min}")]
    TooFewWeights {
        /// Given.
        given: u32,
        /// Required.
        min: u16,
    },
    /// A weight exceeds the limit.
    #[error("after max-upscaling, a weight is {value} of 65535, above the subnet's limit {limit}")]
    WeightAboveLimit {
        /// The weight.
        value: u16,
        /// The limit.
        limit: u16,
    },
    /// All weights are zero.
    #[error("all weights are zero")]
    AllZero,
    /// The version key is old.
    #[error("weights version key {given} is below the subnet's {required}; update the validator")]
    OldVersionKey {
        /// Given.
        given: u64,
        /// Required.
        required: u64,
    },
    /// Commit-reveal is on: use commit and reveal.
    #[error("subnet {0} uses commit-reveal: commit the weights' hash, then reveal them")]
    UseCommitReveal(u16),
    /// Commit-reveal is off.
    #[error("subnet {0} does not use commit-reveal: set weights directly")]
    CommitRevealOff(u16),
    /// Too many pending commits.
    #[error("the hotkey already has 10 unrevealed commits on this subnet")]
    TooManyCommits,
    /// No commit matches the reveal.
    #[error("no pending commit matches these weights, salt and version key")]
    NoMatchingCommit,
    /// The reveal is early.
    #[error(
        "too early: this commit may be revealed in epoch {reveal_epoch}; the subnet is in epoch {epoch}"
    )]
    RevealTooEarly {
        /// The reveal epoch.
        reveal_epoch: u64,
        /// Now.
        epoch: u64,
    },
    /// Arithmetic overflow.
    #[error("an amount would overflow")]
    Overflow,
}

/// A subnet's record.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct SubnetInfo {
    /// The owner's coldkey.
    pub owner: AccountId,
    /// The owner's hotkey (UID 0 at creation, never pruned).
    pub owner_hotkey: AccountId,
    /// Its name.
    #[serde(serialize_with = "utf8")]
    pub name: Vec<u8>,
    /// Block of creation.
    pub created_at: u32,
    /// Rao locked at creation.
    pub locked: Balance,
    /// The spec bundle in force (or to come).
    pub bundle: Option<Bundle>,
    /// The bundle before it, while the new one is not yet active.
    pub previous_bundle: Option<Bundle>,
}

fn utf8<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(bytes))
}

/// A spec bundle and the block it applies from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct Bundle {
    /// blake3 hash of the bundle.
    #[serde(serialize_with = "hex32")]
    pub hash: [u8; 32],
    /// First block it applies at.
    pub activation_block: u32,
}

fn hex32<S: serde::Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("0x{}", hex::encode(bytes)))
}

/// A subnet's hyperparameters (defaults as subtensor's runtime, except where noted in
/// `docs/economics.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct SubnetParams {
    /// Blocks between epochs.
    pub tempo: u16,
    /// Bonds EMA memory, ppm.
    pub bonds_moving_average: u64,
    /// Blocks of immunity after registration.
    pub immunity_period: u16,
    /// Most UIDs.
    pub max_uids: u16,
    /// Fewest weights.
    pub min_allowed_weights: u16,
    /// Largest weight after max-upscaling.
    pub max_weight_limit: u16,
    /// Blocks between weight settings.
    pub weights_rate_limit: u64,
    /// Activity cutoff, thousandths of a tempo.
    pub activity_cutoff_factor_milli: u32,
    /// Registration price floor.
    pub min_burn: Balance,
    /// Registration price ceiling.
    pub max_burn: Balance,
    /// Blocks for the price to halve.
    pub burn_half_life: u16,
    /// Price multiplier after a registration, thousandths.
    pub burn_increase_mult_milli: u32,
    /// Bonds penalty.
    pub bonds_penalty: u16,
    /// Yuma3.
    pub yuma3: bool,
    /// Commit-reveal.
    pub commit_reveal: bool,
    /// Epochs from commit to reveal.
    pub reveal_period_epochs: u16,
    /// Liquid alpha.
    pub liquid_alpha: bool,
    /// Liquid alpha low.
    pub alpha_low: u16,
    /// Liquid alpha high.
    pub alpha_high: u16,
    /// Liquid alpha steepness.
    pub alpha_sigmoid_steepness: i16,
    /// Proof-of-work registration allowed.
    pub pow_registration: bool,
    /// Target registrations per interval (PoW difficulty adjustment).
    pub target_registrations_per_interval: u16,
    /// Weights version key.
    pub weights_version_key: u64,
    /// Kappa (root).
    pub kappa: u16,
    /// Validator permits (root).
    pub max_validators: u16,
}

impl Default for SubnetParams {
    fn default() -> Self {
        SubnetParams {
            tempo: 360,
            bonds_moving_average: 900_000,
            immunity_period: 4096,
            max_uids: 256,
            min_allowed_weights: 1,
            max_weight_limit: u16::MAX,
            weights_rate_limit: 100,
            activity_cutoff_factor_milli: 13_889,
            min_burn: 500_000,
            max_burn: 100 * RAO_PER_TAO,
            burn_half_life: 360,
            burn_increase_mult_milli: 1_260,
            bonds_penalty: u16::MAX,
            yuma3: false,
            commit_reveal: false,
            reveal_period_epochs: 1,
            liquid_alpha: false,
            alpha_low: 45_875,
            alpha_high: 58_982,
            alpha_sigmoid_steepness: 1000,
            pow_registration: false,
            target_registrations_per_interval: 2,
            weights_version_key: 0,
            kappa: 32_767,
            max_validators: 64,
        }
    }
}

/// Chain-wide economy parameters (root).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize,
)]
#[serde(deny_unknown_fields, default)]
pub struct EconomyParams {
    /// Owners' share of subnet emission, out of 65535 (11796 = 18%).
    pub owner_cut: u16,
    /// Most subnets.
    pub subnet_limit: u16,
    /// Floor of the subnet lock cost, rao.
    pub min_lock_cost: Balance,
    /// Blocks over which a doubled lock cost decays back by its last value.
    pub lock_reduction_interval: u32,
    /// Block reward before halvings, rao.
    pub block_emission: Balance,
    /// Initial PoW difficulty of a new subnet.
    pub initial_difficulty: u64,
    /// Blocks between PoW difficulty adjustments.
    pub adjustment_interval: u16,
}

impl Default for EconomyParams {
    fn default() -> Self {
        EconomyParams {
            owner_cut: 11_796,
            subnet_limit: 128,
            min_lock_cost: 1_000 * RAO_PER_TAO,
            lock_reduction_interval: 14 * 7_200,
            block_emission: RAO_PER_TAO,
            initial_difficulty: 10_000_000,
            adjustment_interval: 100,
        }
    }
}

/// The last subnet lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode)]
pub struct LockState {
    /// Its cost.
    pub last_cost: Balance,
    /// Its block.
    pub last_block: u32,
}

/// A subnet's registration price state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode)]
pub struct BurnState {
    /// The price right after the last registration (or at creation).
    pub base: Balance,
    /// That block.
    pub since: u32,
}

/// A subnet's proof-of-work state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct PowState {
    /// Current difficulty.
    pub difficulty: u64,
    /// Registrations (both kinds) since the last adjustment.
    pub registrations: u16,
    /// Block of the last adjustment.
    pub last_adjustment: u32,
}

/// Where a hotkey serves.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct AxonInfo {
    /// libp2p peer id bytes.
    #[serde(serialize_with = "hex_bytes")]
    pub peer_id: Vec<u8>,
    /// Multiaddr text.
    #[serde(serialize_with = "utf8")]
    pub multiaddr: Vec<u8>,
    /// Protocol version.
    pub protocol: u32,
    /// Block of the announcement.
    pub block: u32,
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("0x{}", hex::encode(bytes)))
}

/// An unrevealed weights commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct WeightCommit {
    /// The hash.
    pub hash: H256,
    /// Block of the commit.
    pub block: u32,
    /// The subnet's epoch index at the commit.
    pub epoch: u64,
}

/// Running totals for the issuance invariant: issuance = Σ free + stake + locked + pending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct Totals {
    /// All stake.
    pub stake: Balance,
    /// All subnet locks.
    pub locked: Balance,
    /// Emission minted but not yet paid (subnet pending and owner cuts).
    pub pending: Balance,
    /// Emission minted since genesis.
    pub minted: Balance,
}

/// A per-UID vector of a subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vector {
    /// `Vec<bool>`.
    Active,
    /// `Vec<u16>`.
    StakeWeight,
    /// `Vec<u16>`.
    Consensus,
    /// `Vec<u16>`.
    Incentive,
    /// `Vec<u16>`.
    Dividends,
    /// `Vec<u16>`.
    ValidatorTrust,
    /// `Vec<bool>`.
    ValidatorPermit,
    /// `Vec<u64>`: rao of the last epoch.
    Emission,
    /// `Vec<u64>`.
    LastUpdate,
    /// `Vec<u64>`.
    BlockAtRegistration,
}

impl Vector {
    fn item(self) -> &'static str {
        match self {
            Vector::Active => "Active",
            Vector::StakeWeight => "StakeWeight",
            Vector::Consensus => "Consensus",
            Vector::Incentive => "Incentive",
            Vector::Dividends => "Dividends",
            Vector::ValidatorTrust => "ValidatorTrust",
            Vector::ValidatorPermit => "ValidatorPermit",
            Vector::Emission => "Emission",
            Vector::LastUpdate => "LastUpdate",
            Vector::BlockAtRegistration => "BlockAtRegistration",
        }
    }
}

/// One neuron of a [`Metagraph`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NeuronView {
    /// UID.
    pub uid: u16,
    /// Hotkey.
    pub hotkey: AccountId,
    /// Its owner.
    pub coldkey: Option<AccountId>,
    /// Total stake on the hotkey, rao.
    pub stake: Balance,
    /// Active in the last epoch.
    pub active: bool,
    /// Normalized stake, out of 65535.
    pub stake_weight: u16,
    /// Consensus, out of 65535.
    pub consensus: u16,
    /// Incentive, out of 65535.
    pub incentive: u16,
    /// Dividends, out of 65535.
    pub dividends: u16,
    /// Validator trust, out of 65535.
    pub validator_trust: u16,
    /// Validator permit.
    pub validator_permit: bool,
    /// Rao earned at the last epoch.
    pub emission: Balance,
    /// Last weight setting block.
    pub last_update: u64,
    /// Registration block.
    pub block_at_registration: u64,
    /// Where it serves.
    pub axon: Option<AxonInfo>,
    /// Its weights row.
    pub weights: Vec<(u16, u16)>,
    /// Its bonds row.
    pub bonds: Vec<(u16, u16)>,
}

/// A subnet's state as validators and tools read it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Metagraph {
    /// The subnet.
    pub netuid: u16,
    /// Its name.
    pub name: String,
    /// Owner coldkey.
    pub owner: AccountId,
    /// Owner hotkey.
    pub owner_hotkey: AccountId,
    /// Block of the last epoch.
    pub last_epoch_block: u64,
    /// Emission waiting for the next epoch, rao.
    pub pending_emission: Balance,
    /// Neurons by UID.
    pub neurons: Vec<NeuronView>,
}

/// Storage keys of the economy (module `SubtensorModule`, as subtensor names it).
pub mod keys {
    use super::*;

    const M: &str = "SubtensorModule";

    fn plain(item: &str) -> Vec<u8> {
        storage_prefix(M, item).to_vec()
    }

    fn by_netuid(item: &str, netuid: u16) -> Vec<u8> {
        let mut k = plain(item);
        k.extend(twox_64_concat(&netuid.encode()));
        k
    }

    fn by_account(item: &str, who: &AccountId) -> Vec<u8> {
        let mut k = plain(item);
        k.extend(blake2_128_concat(who.as_bytes()));
        k
    }

    /// `NetworksAdded`: every netuid (`Vec<u16>`, ascending).
    pub fn netuids() -> Vec<u8> {
        plain("NetworksAdded")
    }
    /// `SubnetInfo(netuid)`.
    pub fn subnet(netuid: u16) -> Vec<u8> {
        by_netuid("SubnetInfo", netuid)
    }
    /// `SubnetParams(netuid)`.
    pub fn params(netuid: u16) -> Vec<u8> {
        by_netuid("SubnetParams", netuid)
    }
    /// `EconomyParams`.
    pub fn economy() -> Vec<u8> {
        plain("EconomyParams")
    }
    /// `NetworkLockState`.
    pub fn lock_state() -> Vec<u8> {
        plain("NetworkLockState")
    }
    /// `Totals`.
    pub fn totals() -> Vec<u8> {
        plain("Totals")
    }
    /// `Burn(netuid)`: [`BurnState`].
    pub fn burn(netuid: u16) -> Vec<u8> {
        by_netuid("Burn", netuid)
    }
    /// `Pow(netuid)`: [`PowState`].
    pub fn pow(netuid: u16) -> Vec<u8> {
        by_netuid("Pow", netuid)
    }
    /// `Keys(netuid)`: hotkey of each UID (`Vec<AccountId>`).
    pub fn hotkeys(netuid: u16) -> Vec<u8> {
        by_netuid("Keys", netuid)
    }
    /// `Uids(netuid, hotkey)`: the hotkey's UID.
    pub fn uid(netuid: u16, hotkey: &AccountId) -> Vec<u8> {
        let mut k = by_netuid("Uids", netuid);
        k.extend(blake2_128_concat(hotkey.as_bytes()));
        k
    }
    /// A per-UID vector.
    pub fn vector(netuid: u16, v: Vector) -> Vec<u8> {
        by_netuid(v.item(), netuid)
    }
    /// `Weights(netuid, uid)`: sparse row.
    pub fn weights(netuid: u16, uid: u16) -> Vec<u8> {
        let mut k = by_netuid("Weights", netuid);
        k.extend(twox_64_concat(&uid.encode()));
        k
    }
    /// `Bonds(netuid, uid)`: sparse row.
    pub fn bonds(netuid: u16, uid: u16) -> Vec<u8> {
        let mut k = by_netuid("Bonds", netuid);
        k.extend(twox_64_concat(&uid.encode()));
        k
    }
    /// `Axons(netuid, hotkey)`.
    pub fn axon(netuid: u16, hotkey: &AccountId) -> Vec<u8> {
        let mut k = by_netuid("Axons", netuid);
        k.extend(blake2_128_concat(hotkey.as_bytes()));
        k
    }
    /// `WeightCommits(netuid, hotkey)`: `Vec<WeightCommit>`.
    pub fn commits(netuid: u16, hotkey: &AccountId) -> Vec<u8> {
        let mut k = by_netuid("WeightCommits", netuid);
        k.extend(blake2_128_concat(hotkey.as_bytes()));
        k
    }
    /// `Committers(netuid)`: hotkeys with pending commits (`Vec<AccountId>`, sorted).
    pub fn committers(netuid: u16) -> Vec<u8> {
        by_netuid("Committers", netuid)
    }
    /// `PendingEmission(netuid)`.
    pub fn pending(netuid: u16) -> Vec<u8> {
        by_netuid("PendingEmission", netuid)
    }
    /// `PendingOwnerCut(netuid)`.
    pub fn pending_owner_cut(netuid: u16) -> Vec<u8> {
        by_netuid("PendingOwnerCut", netuid)
    }
    /// `LastMechansimStepBlock(netuid)` (sic, as subtensor).
    pub fn last_epoch_block(netuid: u16) -> Vec<u8> {
        by_netuid("LastMechansimStepBlock", netuid)
    }
    /// `SubnetEpochIndex(netuid)`.
    pub fn epoch_index(netuid: u16) -> Vec<u8> {
        by_netuid("SubnetEpochIndex", netuid)
    }
    /// `Owner(hotkey)`: its coldkey.
    pub fn owner(hotkey: &AccountId) -> Vec<u8> {
        by_account("Owner", hotkey)
    }
    /// `Delegates(hotkey)`: its take.
    pub fn take(hotkey: &AccountId) -> Vec<u8> {
        by_account("Delegates", hotkey)
    }
    /// `TotalHotkeyStake(hotkey)`.
    pub fn hotkey_stake(hotkey: &AccountId) -> Vec<u8> {
        by_account("TotalHotkeyStake", hotkey)
    }
    /// `Stakers(hotkey)`: coldkeys with stake on it (sorted).
    pub fn stakers(hotkey: &AccountId) -> Vec<u8> {
        by_account("Stakers", hotkey)
    }
    /// `StakedHotkeys(coldkey)`: hotkeys it stakes on (sorted).
    pub fn staked_hotkeys(coldkey: &AccountId) -> Vec<u8> {
        by_account("StakedHotkeys", coldkey)
    }
    /// `OwnedSubnets(coldkey)`.
    pub fn owned_subnets(coldkey: &AccountId) -> Vec<u8> {
        by_account("OwnedSubnets", coldkey)
    }
    /// `Stake(hotkey, coldkey)`.
    pub fn stake(hotkey: &AccountId, coldkey: &AccountId) -> Vec<u8> {
        let mut k = by_account("Stake", hotkey);
        k.extend(blake2_128_concat(coldkey.as_bytes()));
        k
    }
}
