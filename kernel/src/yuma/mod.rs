//! The Yuma Consensus epoch, bit-exact with subtensor's sparse epoch.
//!
//! [`epoch`] turns one subnet's stake, weights and bonds into consensus, incentive,
//! dividends, new bonds and the rao each uid earns, exactly as the real chain's
//! `epoch_mechanism` does (subtensor commit `14bc6f9f`): the same `substrate-fixed` types, the
//! same saturating and truncating operations, and so the same bits. `docs/yuma.md` describes
//! each step and the rules the chain follows.
//!
//! Everything here is a pure function over plain values: no storage, no I/O, no clock, no
//! floating point. Two implementations sit side by side:
//!
//! - [`epoch`], the one the node runs, computes only what changes the result: no densified
//!   rows, a selection-based weighted median, liquid alpha evaluated only where a weight
//!   exists, and the two costliest steps split over threads (the result does not depend on
//!   how many);
//! - [`reference::epoch`], a step-by-step port of the chain's sparse epoch, kept to check the
//!   fast one against (they agree bit for bit; the tests compare them on random subnets).
//!
//! ```
//! use ganglion_kernel::yuma::{self, EpochInput, Hyperparams};
//!
//! // One validator (uid 0) puts all its weight on one miner (uid 1).
//! let input = EpochInput {
//!     current_block: 10_000,
//!     tempo: 360,
//!     last_mechanism_step_block: 0,
//!     activity_cutoff: 5_000,
//!     stake: vec![10_000_000_000_000, 0],
//!     stake_threshold: 0,
//!     owner_uid: None,
//!     weights: vec![vec![(1, 65_535)], vec![]],
//!     bonds: vec![vec![], vec![]],
//!     last_update: vec![9_990, 9_990],
//!     block_at_registration: vec![100, 100],
//!     validator_permit: vec![true, false],
//!     earliest_commit_block: None,
//!     params: Hyperparams { max_allowed_validators: 64, ..Hyperparams::default() },
//!     rao_emission: 1_000_000_000,
//! };
//! let out = yuma::epoch(&input)?;
//! assert_eq!(out.incentive, [0, 65_535]);
//! assert_eq!(out.dividends, [65_535, 0]);
//! assert_eq!(out.emission, [500_000_000, 500_000_000]);
//! assert_eq!(out, yuma::reference::epoch(&input)?);
//! # Ok::<(), yuma::InputError>(())
//! ```

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::float_arithmetic
)]

pub mod case;
mod fast;
mod fixed;
pub mod reference;
mod scan;
pub mod synth;
mod types;

use substrate_fixed::types::{I32F32, I64F64, I96F32};

pub use fast::{Threads, epoch, epoch_with};
pub use types::{EpochInput, EpochOutput, Hyperparams, InputError, SparseRow};

use fixed::{ZERO, normalize, normalize_with_sum, proportion_to_u16, rao_share, safe_div64, sum};

/// The per-uid vectors of steps 1 to 4, which both paths compute the same way.
struct Prelude {
    /// Step 1: updated within the activity cutoff.
    active: Vec<bool>,
    /// Step 2: normalized stake after the threshold (`S`).
    stake: Vec<I32F32>,
    /// Step 3: old permits with the owner's forced on; these mask this epoch.
    permits: Vec<bool>,
    /// Step 3: top-k permits for the next epoch, owner forced on.
    new_permits: Vec<bool>,
    /// Step 4: stake of active permitted uids, normalized (`A`).
    active_stake: Vec<I32F32>,
}

impl Prelude {
    fn new(input: &EpochInput) -> Self {
        let owner = input.owner_uid.map(usize::from);
        let active: Vec<bool> = input
            .last_update
            .iter()
            .map(|&updated| updated.saturating_add(input.activity_cutoff) >= input.current_block)
            .collect();

        let mut filtered: Vec<I64F64> = input
            .stake
            .iter()
            .enumerate()
            .map(|(uid, &stake)| {
                if owner != Some(uid) && stake < input.stake_threshold {
                    I64F64::from_bits(0)
                } else {
                    I64F64::saturating_from_num(stake)
                }
            })
            .collect();
        // Validated: the total is below 2^63, so this plain sum cannot overflow.
        let total: I64F64 = filtered.iter().sum();
        if total != I64F64::from_bits(0) {
            for s in &mut filtered {
                *s = safe_div64(*s, total);
            }
        }
        let stake: Vec<I32F32> = filtered
            .iter()
            .map(|&s| I32F32::saturating_from_num(s))
            .collect();

        let mut permits = input.validator_permit.clone();
        let mut new_permits =
            topk_nonzero(&stake, usize::from(input.params.max_allowed_validators));
        if let Some(owner) = owner {
            if let Some(p) = permits.get_mut(owner) {
                *p = true;
            }
            if let Some(p) = new_permits.get_mut(owner) {
                *p = true;
            }
        }

        let mut active_stake: Vec<I32F32> = stake
            .iter()
            .zip(active.iter().zip(&permits))
            .map(|(&s, (&is_active, &permit))| if is_active && permit { s } else { ZERO })
            .collect();
        normalize(&mut active_stake);
        Self {
            active,
            stake,
            permits,
            new_permits,
            active_stake,
        }
    }

    /// Steps 14 and 15: the emission split and the stored outputs.
    ///
    /// `bonds` holds the bond rows as stored (see [`Prelude::store_bonds`]).
    fn finish(
        self,
        input: &EpochInput,
        consensus: &[I32F32],
        incentive: Vec<I32F32>,
        dividends: Vec<I32F32>,
        validator_trust: &[I32F32],
        bonds: Vec<SparseRow>,
    ) -> EpochOutput {
        let combined: Vec<I32F32> = incentive
            .iter()
            .zip(&dividends)
            .map(|(&i, &d)| i.saturating_add(d))
            .collect();
        let emission_sum = sum(combined.iter().copied());
        let mut server = incentive.clone();
        let mut validator = dividends.clone();
        let mut combined_normalized = combined;
        normalize_with_sum(&mut server, emission_sum);
        normalize_with_sum(&mut validator, emission_sum);
        normalize(&mut combined_normalized);
        if emission_sum == ZERO {
            let fallback = if sum(self.active_stake.iter().copied()) == ZERO {
                &self.stake
            } else {
                &self.active_stake
            };
            validator.clone_from(fallback);
            combined_normalized.clone_from(fallback);
        }
        let rao = I96F32::saturating_from_num(input.rao_emission);
        let to_rao =
            |xs: &[I32F32]| -> Vec<u64> { xs.iter().map(|&x| rao_share(x, rao)).collect() };
        let to_u16 =
            |xs: &[I32F32]| -> Vec<u16> { xs.iter().map(|&x| proportion_to_u16(x)).collect() };
        EpochOutput {
            stake_weight: to_u16(&self.stake),
            active: self.active,
            new_validator_permit: self.new_permits,
            consensus: to_u16(consensus),
            incentive: to_u16(&incentive),
            dividends: to_u16(&dividends),
            validator_trust: to_u16(validator_trust),
            bonds,
            server_emission: to_rao(&server),
            validator_emission: to_rao(&validator),
            emission: to_rao(&combined_normalized),
        }
    }
}

impl Prelude {
    /// Step 15's bond storage: a uid with a new permit stores its row, each entry as
    /// `floor(x * 65535)`; every other uid stores an empty row.
    fn store_bonds<R>(&self, rows: impl IntoIterator<Item = R>) -> Vec<SparseRow>
    where
        R: IntoIterator<Item = (u16, I32F32)>,
    {
        let mut rows = rows.into_iter();
        self.new_permits
            .iter()
            .map(|&permit| match rows.next() {
                Some(row) => stored_row(permit, row),
                None => Vec::new(),
            })
            .collect()
    }
}

/// One stored bond row: the row as `floor(x * 65535)` for a uid with a new permit, else empty.
fn stored_row(permit: bool, row: impl IntoIterator<Item = (u16, I32F32)>) -> SparseRow {
    if permit {
        row.into_iter()
            .map(|(j, b)| (j, proportion_to_u16(b)))
            .collect()
    } else {
        Vec::new()
    }
}

/// `is_topk_nonzero`: the nonzero entries, minus the `n - k` first of a stable ascending
/// sort (so on ties the lower uid loses first). With `n < k` every nonzero entry is kept.
fn topk_nonzero(values: &[I32F32], k: usize) -> Vec<bool> {
    let n = values.len();
    let mut result: Vec<bool> = values.iter().map(|&v| v != ZERO).collect();
    if n < k {
        return result;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| values.get(i).copied().unwrap_or(ZERO));
    for &i in order.iter().take(n.saturating_sub(k)) {
        if let Some(r) = result.get_mut(i) {
            *r = false;
        }
    }
    result
}

/// `xs[j]`, or the default (0) for a uid past the end, as the chain's `get(j)` lookups read.
#[inline]
fn at<T: Copy + Default>(xs: &[T], j: u16) -> T {
    xs.get(usize::from(j)).copied().unwrap_or_default()
}

/// `last_tempo`: bonds to uids registered at or after it are dropped.
fn last_tempo(input: &EpochInput) -> u64 {
    if input.last_mechanism_step_block == 0 {
        input.current_block.saturating_sub(input.tempo)
    } else {
        input.last_mechanism_step_block.saturating_add(1)
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests compute expected values directly"
)]
mod tests {
    use super::*;

    #[test]
    fn topk_breaks_ties_against_the_lower_uid() {
        let v = |x: f64| I32F32::from_num(x);
        let stake = [v(0.25), v(0.25), v(0.5), ZERO];
        assert_eq!(topk_nonzero(&stake, 2), [false, true, true, false]);
        assert_eq!(topk_nonzero(&stake, 3), [true, true, true, false]);
        // n < k: every nonzero entry.
        assert_eq!(topk_nonzero(&stake, 5), [true, true, true, false]);
        assert_eq!(topk_nonzero(&stake, 0), [false; 4]);
    }
}
