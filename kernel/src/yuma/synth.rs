//! Synthetic subnets: reproducible epoch inputs for benchmarks, property tests and demos.
//!
//! [`subnet`] builds a realistic subnet of a given shape (so many validators, each weighting
//! so many miners, with bonds from a previous epoch); [`arbitrary`] builds an adversarial one
//! that visits the edges of every rule (ties, zero stakes, unsorted rows, explicit zeros,
//! boundary blocks, extreme hyperparameters). Both are pure functions of their seed, using a
//! small built-in generator (SplitMix64), so a seed names the same input on every machine.
//!
//! ```
//! use ganglion_kernel::yuma::{self, synth};
//!
//! let input = synth::subnet(&synth::Shape { n: 256, validators: 64, weights_per_validator: 32, ..Default::default() });
//! assert_eq!(input.n(), 256);
//! assert_eq!(yuma::epoch(&input)?, yuma::reference::epoch(&input)?);
//! # Ok::<(), yuma::InputError>(())
//! ```

#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "a test-data generator, not consensus code: its ranges are chosen to stay in bounds"
)]

use super::{EpochInput, Hyperparams};

/// SplitMix64: a tiny, well-mixed, seedable generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for test data, and branch-free.
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo.saturating_add(self.below(hi.saturating_sub(lo).saturating_add(1)))
    }

    /// True with probability `percent / 100`.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// Shuffles in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = usize::try_from(self.below(i as u64 + 1)).unwrap_or(0);
            items.swap(i, j);
        }
    }

    /// `k` distinct values from `0..n`, in random order.
    pub fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = i + usize::try_from(self.below((n - i) as u64)).unwrap_or(0);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }
}

/// The shape of a realistic subnet for [`subnet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Number of uids.
    pub n: usize,
    /// Validators: uids `0..validators`, staked and permitted; the rest are miners.
    pub validators: usize,
    /// Miners each validator weights (all of them if this is at least their number).
    pub weights_per_validator: usize,
    /// Yuma3 bonds.
    pub yuma3: bool,
    /// Liquid alpha (with Yuma3).
    pub liquid_alpha: bool,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            n: 256,
            validators: 64,
            weights_per_validator: 32,
            yuma3: false,
            liquid_alpha: false,
            seed: 1,
        }
    }
}

/// Max-upscales raw weights as `set_weights` stores them: the largest becomes 65535.
fn upscale(values: &mut [(u16, u64)]) -> Vec<(u16, u16)> {
    let max = values.iter().map(|&(_, v)| v).max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|&(j, v)| {
            let scaled = (u128::from(v) * 65_535 + u128::from(max) / 2) / u128::from(max);
            (j, u16::try_from(scaled).unwrap_or(u16::MAX))
        })
        .collect()
}

/// A realistic subnet: every validator active and permitted, weighting random miners with
/// random strengths, holding bonds from the previous epoch; miners registered long ago.
pub fn subnet(shape: &Shape) -> EpochInput {
    let mut rng = Rng::new(shape.seed);
    let n = shape.n;
    let validators = shape.validators.min(n);
    let miners = n - validators;
    let tempo = 360u64;
    let current_block = 1_000_000u64;
    let mut stake = vec![0u64; n];
    for s in stake.iter_mut().take(validators) {
        *s = rng.range(1_000, 100_000) * 1_000_000_000;
    }
    for s in stake.iter_mut().skip(validators) {
        *s = if rng.chance(20) {
            rng.range(1, 10_000_000_000)
        } else {
            0
        };
    }
    let mut weights = vec![Vec::new(); n];
    let mut bonds = vec![Vec::new(); n];
    for i in 0..validators {
        let mut chosen = rng.sample(miners, shape.weights_per_validator);
        chosen.sort_unstable();
        let mut raw: Vec<(u16, u64)> = chosen
            .iter()
            .map(|&m| (uid(validators + m), rng.range(1, 1_000_000)))
            .collect();
        weights[i] = upscale(&mut raw);
        for &m in &chosen {
            if rng.chance(90) {
                bonds[i].push((uid(validators + m), rng.range(1, 65_535) as u16));
            }
        }
    }
    let last_update: Vec<u64> = (0..n)
        .map(|i| {
            if i < validators {
                current_block - rng.below(tempo)
            } else {
                current_block - rng.below(5_000)
            }
        })
        .collect();
    let block_at_registration: Vec<u64> = (0..n)
        .map(|_| {
            if rng.chance(2) {
                current_block - rng.below(tempo)
            } else {
                rng.range(1, current_block - 10 * tempo)
            }
        })
        .collect();
    EpochInput {
        current_block,
        tempo,
        last_mechanism_step_block: current_block - tempo - 1,
        activity_cutoff: 5_000,
        stake,
        stake_threshold: 1_000_000_000,
        owner_uid: None,
        weights,
        bonds,
        last_update,
        block_at_registration,
        validator_permit: (0..n).map(|i| i < validators).collect(),
        earliest_commit_block: None,
        params: Hyperparams {
            max_allowed_validators: u16::try_from(validators.max(1)).unwrap_or(u16::MAX),
            yuma3_enabled: shape.yuma3,
            liquid_alpha_enabled: shape.liquid_alpha,
            ..Hyperparams::default()
        },
        rao_emission: 1_000_000_000 * tempo,
    }
}

fn uid(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

/// An adversarial subnet of `n` uids (`n >= 1`) for property tests: each rule's edge is
/// likely to be hit somewhere (equal stakes, zero stakes, explicit zero weights, self and
/// owner weights, unsorted rows, blocks on each side of every mask's boundary, kappa and
/// bonds penalty at 0, 1 and between, liquid-alpha bounds in either order, negative
/// steepness, zero and huge emissions).
pub fn arbitrary(seed: u64, n: usize) -> EpochInput {
    let mut rng = Rng::new(seed);
    let n = n.clamp(1, usize::from(u16::MAX));
    let (small, near_max) = (rng.range(0, 30), u64::MAX - rng.below(50));
    let current_block = rng.pick(&[small, 10_000, 1_000_000, near_max]);
    let any_tempo = rng.range(0, 500);
    let tempo = rng.pick(&[0, 1, 10, 360, any_tempo]);
    let any_cutoff = rng.range(0, 8_000);
    let activity_cutoff = rng.pick(&[0, 1, 13, 5_000, any_cutoff, u64::MAX]);
    let last_mechanism_step_block = if rng.chance(40) {
        0
    } else {
        current_block.saturating_sub(rng.range(0, 2 * tempo + 2))
    };
    let last_tempo = if last_mechanism_step_block == 0 {
        current_block.saturating_sub(tempo)
    } else {
        last_mechanism_step_block.saturating_add(1)
    };
    // Blocks chosen around every boundary the epoch compares against.
    let block = |rng: &mut Rng| {
        let base = rng.pick(&[
            current_block,
            current_block.saturating_sub(activity_cutoff),
            last_tempo,
            0,
            current_block / 2,
        ]);
        match rng.below(3) {
            0 => base.saturating_sub(1),
            1 => base,
            _ => base.saturating_add(1),
        }
    };
    let last_update: Vec<u64> = (0..n).map(|_| block(&mut rng)).collect();
    let block_at_registration: Vec<u64> = (0..n).map(|_| block(&mut rng)).collect();
    let cap = (i64::MAX as u64) / (n as u64);
    let tie = rng.range(1, cap);
    let stake: Vec<u64> = (0..n)
        .map(|_| match rng.below(6) {
            0 | 1 => 0,
            2 => tie,
            3 => rng.range(1, 1_000),
            4 => rng.range(1, cap),
            _ => rng.range(1_000_000_000, 100_000_000_000_000).min(cap),
        })
        .collect();
    let any_threshold = rng.range(0, cap);
    let stake_threshold = rng.pick(&[0, 0, 1_000, tie, any_threshold]);
    let owner_uid = rng.chance(40).then(|| uid(rng.below(n as u64) as usize));
    let row = |rng: &mut Rng, i: usize, max_value: bool| -> Vec<(u16, u16)> {
        if rng.chance(30) {
            return Vec::new();
        }
        let k = if rng.chance(20) {
            n
        } else {
            rng.range(1, n.min(12) as u64) as usize
        };
        let mut picked = rng.sample(n, k);
        if rng.chance(50) {
            picked.sort_unstable();
        }
        if rng.chance(30) && !picked.contains(&i) {
            picked.push(i);
        }
        let mut entries: Vec<(u16, u16)> = picked
            .iter()
            .map(|&j| {
                let any = rng.range(0, 65_535) as u16;
                (
                    uid(j),
                    if rng.chance(10) {
                        0
                    } else {
                        rng.pick(&[1, 65_535, any])
                    },
                )
            })
            .collect();
        if max_value && let Some(first) = entries.first_mut() {
            first.1 = u16::MAX;
        }
        entries
    };
    let weights: Vec<Vec<(u16, u16)>> = (0..n)
        .map(|i| {
            let max_value = rng.chance(80);
            row(&mut rng, i, max_value)
        })
        .collect();
    let bonds: Vec<Vec<(u16, u16)>> = (0..n).map(|i| row(&mut rng, i, false)).collect();
    let validator_permit: Vec<bool> = (0..n).map(|_| rng.chance(70)).collect();
    let earliest_commit_block = rng.chance(30).then(|| {
        (0..n)
            .map(|_| rng.chance(60).then(|| block(&mut rng)))
            .collect()
    });
    let proportion = |rng: &mut Rng| {
        let any = rng.range(0, 65_535) as u16;
        rng.pick(&[0, 1, 32_767, 65_534, 65_535, any])
    };
    let (any_bma, big_bma) = (rng.range(0, 1_000_000), rng.range(1_000_000, 5_000_000));
    let any_steepness = rng.next_u64() as i16;
    let params = Hyperparams {
        max_allowed_validators: rng.range(0, n as u64 + 2).min(u64::from(u16::MAX)) as u16,
        kappa: proportion(&mut rng),
        bonds_penalty: proportion(&mut rng),
        bonds_moving_average: rng
            .pick(&[0, 900_000, 975_000, 999_999, 1_000_000, any_bma, big_bma]),
        yuma3_enabled: rng.chance(50),
        liquid_alpha_enabled: rng.chance(70),
        alpha_low: proportion(&mut rng),
        alpha_high: proportion(&mut rng),
        alpha_sigmoid_steepness: rng.pick(&[1000, 0, -1000, i16::MAX, i16::MIN, any_steepness]),
    };
    EpochInput {
        current_block,
        tempo,
        last_mechanism_step_block,
        activity_cutoff,
        stake,
        stake_threshold,
        owner_uid,
        weights,
        bonds,
        last_update,
        block_at_registration,
        validator_permit,
        earliest_commit_block,
        params,
        rao_emission: {
            let any = rng.next_u64();
            rng.pick(&[0, 1, 1_000_000_000, u64::MAX, any])
        },
    }
}
