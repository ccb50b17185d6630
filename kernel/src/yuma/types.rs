//! Plain inputs and outputs of one epoch, and the checks that make an input valid.

use substrate_fixed::types::I32F32;

/// The subnet hyperparameters that the epoch reads.
///
/// Units are the chain's storage units: u16 proportions are read as `x / 65535`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hyperparams {
    /// Number of validator permits handed out by stake (`MaxAllowedValidators`).
    pub max_allowed_validators: u16,
    /// Consensus majority, `Kappa / 65535` (default 32_767, about 0.5).
    pub kappa: u16,
    /// How much of the clipping reaches the bonds, `BondsPenalty / 65535` (default 65_535).
    pub bonds_penalty: u16,
    /// Bonds EMA memory in parts per million (default 900_000, so the EMA rate is 0.1).
    pub bonds_moving_average: u64,
    /// Yuma3 bonds instead of classic Yuma bonds (default false).
    pub yuma3_enabled: bool,
    /// Per-(validator, miner) EMA rate from a sigmoid. Read only when `yuma3_enabled`.
    pub liquid_alpha_enabled: bool,
    /// Lower bound of the liquid-alpha rate, `/ 65535` (default 45_875, about 0.7).
    pub alpha_low: u16,
    /// Upper bound of the liquid-alpha rate, `/ 65535` (default 58_982, about 0.9).
    pub alpha_high: u16,
    /// Steepness of the liquid-alpha sigmoid (default 1000, used as `steepness / -100`).
    pub alpha_sigmoid_steepness: i16,
}

impl Default for Hyperparams {
    /// subtensor's runtime defaults (`runtime/src/lib.rs`).
    fn default() -> Self {
        Self {
            max_allowed_validators: 128,
            kappa: 32_767,
            bonds_penalty: 65_535,
            bonds_moving_average: 900_000,
            yuma3_enabled: false,
            liquid_alpha_enabled: false,
            alpha_low: 45_875,
            alpha_high: 58_982,
            alpha_sigmoid_steepness: 1000,
        }
    }
}

/// One sparse row: `(uid, value)` pairs in stored order.
pub type SparseRow = Vec<(u16, u16)>;

/// Everything one epoch of one subnet reads, as plain values.
///
/// `n` is `stake.len()`; every per-uid vector has that length. Build one, then call
/// [`EpochInput::validate`] (the epoch functions call it too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochInput {
    /// The block the epoch runs at.
    pub current_block: u64,
    /// Blocks between epochs.
    pub tempo: u64,
    /// Block of the previous successful epoch, or 0 if none
    /// (`LastMechansimStepBlock`).
    pub last_mechanism_step_block: u64,
    /// Blocks after its last weight update that a uid still counts as active.
    pub activity_cutoff: u64,
    /// Stake per uid, in rao.
    pub stake: Vec<u64>,
    /// Stake (rao) below which a uid other than the owner counts as unstaked.
    pub stake_threshold: u64,
    /// The subnet owner's uid, if the owner's hotkey is registered.
    pub owner_uid: Option<u16>,
    /// Weight rows as stored: max-upscaled u16 values, in the order the validator set them.
    pub weights: Vec<SparseRow>,
    /// Bond rows as stored by the previous epoch.
    pub bonds: Vec<SparseRow>,
    /// Block of each uid's last weight update.
    pub last_update: Vec<u64>,
    /// Block at which each uid was last registered.
    pub block_at_registration: Vec<u64>,
    /// Validator permits written by the previous epoch (used for masking).
    pub validator_permit: Vec<bool>,
    /// When commit-reveal is on: per uid, the block of its earliest unexpired commit.
    pub earliest_commit_block: Option<Vec<Option<u64>>>,
    /// Hyperparameters.
    pub params: Hyperparams,
    /// Rao to distribute in this epoch.
    pub rao_emission: u64,
}

/// What one epoch computes, in the units the chain stores.
///
/// Serializes to (and deserializes from) the `expected` object of the vector format.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct EpochOutput {
    /// Whether each uid updated its weights within the activity cutoff.
    pub active: Vec<bool>,
    /// Normalized stake, `floor(x * 65535)`.
    pub stake_weight: Vec<u16>,
    /// Validator permits for the next epoch.
    pub new_validator_permit: Vec<bool>,
    /// Stake-weighted median weight per uid.
    pub consensus: Vec<u16>,
    /// Normalized clipped rank per uid.
    pub incentive: Vec<u16>,
    /// Normalized bond-weighted incentive per uid.
    pub dividends: Vec<u16>,
    /// Sum of each validator's clipped weights.
    pub validator_trust: Vec<u16>,
    /// New bond rows; empty for a uid without a new permit.
    pub bonds: Vec<SparseRow>,
    /// Rao earned as a miner.
    pub server_emission: Vec<u64>,
    /// Rao earned as a validator.
    pub validator_emission: Vec<u64>,
    /// Combined emission, as stored on chain.
    pub emission: Vec<u64>,
}

/// Why an [`EpochInput`] cannot be run. Each variant names the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// More uids than a u16 can address.
    #[error("n = {n}: a subnet has at most 65535 uids")]
    TooManyUids {
        /// The number of uids given.
        n: usize,
    },
    /// A per-uid vector whose length is not n.
    #[error("{field}: has {len} entries, expected n = {n} (one per uid)")]
    Length {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The number of uids.
        n: usize,
    },
    /// A row entry naming a uid that does not exist.
    #[error("{field}[{row}]: names uid {uid}, but uids run from 0 to n - 1 = {last}")]
    UidOutOfRange {
        /// `weights` or `bonds`.
        field: &'static str,
        /// The row.
        row: usize,
        /// The uid named.
        uid: u16,
        /// `n - 1`.
        last: usize,
    },
    /// A row naming the same uid twice (the chain's `set_weights` refuses this).
    #[error("{field}[{row}]: names uid {uid} twice; each uid may appear once per row")]
    DuplicateUid {
        /// `weights` or `bonds`.
        field: &'static str,
        /// The row.
        row: usize,
        /// The repeated uid.
        uid: u16,
    },
    /// `owner_uid` is not a uid of the subnet.
    #[error("owner_uid: {uid} is not below n = {n}")]
    OwnerOutOfRange {
        /// The owner uid given.
        uid: u16,
        /// The number of uids.
        n: usize,
    },
    /// Total stake beyond what the chain's I64F64 stake arithmetic holds.
    #[error("stake: the total ({total} rao) exceeds the largest I64F64 stake sum (2^63 - 1 rao)")]
    StakeOverflow {
        /// The total stake.
        total: u128,
    },
    /// A weight row whose raw sum does not fit the chain's I32F32.
    #[error(
        "weights[{row}]: the raw values sum to {total}, more than an I32F32 holds (2^31 - 1); \
         the chain cannot normalize such a row"
    )]
    WeightRowOverflow {
        /// The row.
        row: usize,
        /// Its raw sum.
        total: u64,
    },
}

impl EpochInput {
    /// Number of uids.
    pub fn n(&self) -> usize {
        self.stake.len()
    }

    /// Checks every rule the epoch relies on; the error names the first broken one.
    ///
    /// Rules: at most 65535 uids; every per-uid vector has n entries; row entries name uids
    /// below n, each at most once per row; the owner uid is below n; total stake fits the
    /// chain's I64F64 (below 2^63 rao); each weight row's raw sum fits an I32F32 (below 2^31).
    ///
    /// ```
    /// use ganglion_kernel::yuma::{InputError, synth};
    ///
    /// let mut input = synth::subnet(&synth::Shape::default());
    /// assert_eq!(input.validate(), Ok(()));
    /// input.weights[0].push((300, 1));
    /// assert_eq!(
    ///     input.validate().unwrap_err().to_string(),
    ///     "weights[0]: names uid 300, but uids run from 0 to n - 1 = 255"
    /// );
    /// # let _ = InputError::TooManyUids { n: 0 };
    /// ```
    pub fn validate(&self) -> Result<(), InputError> {
        let n = self.n();
        if n > usize::from(u16::MAX) {
            return Err(InputError::TooManyUids { n });
        }
        let lengths = [
            ("weights", self.weights.len()),
            ("bonds", self.bonds.len()),
            ("last_update", self.last_update.len()),
            ("block_at_registration", self.block_at_registration.len()),
            ("validator_permit", self.validator_permit.len()),
        ];
        for (field, len) in lengths {
            if len != n {
                return Err(InputError::Length { field, len, n });
            }
        }
        if let Some(commits) = &self.earliest_commit_block
            && commits.len() != n
        {
            return Err(InputError::Length {
                field: "earliest_commit_block",
                len: commits.len(),
                n,
            });
        }
        if let Some(uid) = self.owner_uid
            && usize::from(uid) >= n
        {
            return Err(InputError::OwnerOutOfRange { uid, n });
        }
        let total: u128 = self.stake.iter().map(|&s| u128::from(s)).sum();
        if total > u128::from(i64::MAX.unsigned_abs()) {
            return Err(InputError::StakeOverflow { total });
        }
        check_rows("weights", &self.weights, n)?;
        check_rows("bonds", &self.bonds, n)?;
        let limit = u64::try_from(I32F32::max_value().to_bits() >> 32).unwrap_or(u64::MAX);
        for (row, entries) in self.weights.iter().enumerate() {
            let total: u64 = entries.iter().map(|&(_, w)| u64::from(w)).sum();
            if total > limit {
                return Err(InputError::WeightRowOverflow { row, total });
            }
        }
        Ok(())
    }
}

fn check_rows(field: &'static str, rows: &[SparseRow], n: usize) -> Result<(), InputError> {
    let mut seen = vec![false; n];
    for (row, entries) in rows.iter().enumerate() {
        // A row in strictly increasing uid order (the usual one) has no duplicate, and only
        // its tail can run past n: no marking needed.
        if entries.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)) {
            if let Some(&(uid, _)) = entries.iter().find(|&&(uid, _)| usize::from(uid) >= n) {
                return Err(InputError::UidOutOfRange {
                    field,
                    row,
                    uid,
                    last: n.saturating_sub(1),
                });
            }
            continue;
        }
        for &(uid, _) in entries {
            let Some(slot) = seen.get_mut(usize::from(uid)) else {
                return Err(InputError::UidOutOfRange {
                    field,
                    row,
                    uid,
                    last: n.saturating_sub(1),
                });
            };
            if *slot {
                return Err(InputError::DuplicateUid { field, row, uid });
            }
            *slot = true;
        }
        for &(uid, _) in entries {
            if let Some(slot) = seen.get_mut(usize::from(uid)) {
                *slot = false;
            }
        }
    }
    Ok(())
}
