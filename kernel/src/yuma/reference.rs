//! The reference epoch: subtensor's sparse `epoch_mechanism`, step by step.
//!
//! This path mirrors the chain's own sequence of sparse-matrix operations, one function per
//! operation, including the places where the chain densifies a row to `n` columns. It is
//! quadratic in `n` (and, with Yuma3 and liquid alpha, evaluates the sigmoid for all `n * n`
//! pairs), so it is not what the node runs: [`super::epoch`] is. It exists so that the fast
//! path can be checked against an implementation whose every line can be read beside the
//! chain's. Both return identical outputs for every valid input.

use substrate_fixed::types::I32F32;

use super::fixed::{
    ONE, ZERO, clamp, ema_alpha, exp_safe_reference, from_u16, normalize, safe_div, sum,
    u16_proportion,
};
use super::{EpochInput, EpochOutput, InputError, Prelude, at, last_tempo};

type Sparse = Vec<Vec<(u16, I32F32)>>;

/// Runs one epoch the way the chain's sparse epoch does. See the module docs.
pub fn epoch(input: &EpochInput) -> Result<EpochOutput, InputError> {
    input.validate()?;
    let n = input.n();
    let columns = u16::try_from(n).unwrap_or(u16::MAX);
    let params = &input.params;
    let owner = input.owner_uid.map(usize::from);

    // 1-4. Active, stake, permits and active stake: plain per-uid vectors.
    let prelude = Prelude::new(input);
    let (permits, active_stake) = (&prelude.permits, &prelude.active_stake);

    // 5. Weights, masked and row-normalized.
    let mut weights: Sparse = input
        .weights
        .iter()
        .map(|row| row.iter().map(|&(j, w)| (j, from_u16(w))).collect())
        .collect();
    for (row, &permit) in weights.iter_mut().zip(permits) {
        if !permit {
            row.clear();
        }
    }
    for (i, row) in weights.iter_mut().enumerate() {
        row.retain(|&(j, _)| usize::from(j) != i || owner == Some(i));
    }
    mask_by_pair(
        &mut weights,
        &input.last_update,
        &input.block_at_registration,
    );
    if let Some(commits) = &input.earliest_commit_block {
        let commit_blocks: Vec<u64> = commits.iter().map(|c| c.unwrap_or(u64::MAX)).collect();
        for (row, &commit) in weights.iter_mut().zip(&commit_blocks) {
            row.retain(|&(j, _)| commit >= at(&input.block_at_registration, j));
        }
    }
    for row in &mut weights {
        let total = sum(row.iter().map(|&(_, w)| w));
        if total > ZERO {
            for (_, w) in row.iter_mut() {
                *w = safe_div(*w, total);
            }
        }
    }

    // 6-9. Consensus, clipping, validator trust, incentive.
    let kappa = u16_proportion(params.kappa);
    let consensus = weighted_median_columns(active_stake, &weights, n, kappa);
    let clipped = clip_columns(&weights, &consensus);
    let validator_trust: Vec<I32F32> = clipped
        .iter()
        .map(|row| sum(row.iter().map(|&(_, w)| w)))
        .collect();
    let mut incentive = matmul(&clipped, active_stake, n);
    normalize(&mut incentive);

    // 10. Weights for bonds.
    let bonds_penalty = u16_proportion(params.bonds_penalty);
    let weights_for_bonds = interpolate(&weights, &clipped, columns, bonds_penalty);

    // 11. Last tempo.
    let last_tempo = last_tempo(input);
    let registered = &input.block_at_registration;

    let (dividends, ema_bonds) = if params.yuma3_enabled {
        // 13. Yuma3.
        let mut bonds: Sparse = input
            .bonds
            .iter()
            .map(|row| row.iter().map(|&(j, b)| (j, u16_proportion(b))).collect())
            .collect();
        for row in &mut bonds {
            row.retain(|&(j, _)| last_tempo > at(registered, j));
        }
        let ema = if params.liquid_alpha_enabled && consensus.iter().any(|&c| c != ZERO) {
            let alphas = liquid_alpha_matrix(params, &weights_for_bonds, &bonds, &consensus);
            ema_per_entry(&weights_for_bonds, &bonds, &alphas)
        } else {
            ema_dense(
                &weights_for_bonds,
                &bonds,
                ema_alpha(params.bonds_moving_average),
                n,
            )
        };
        let mut ema_normalized = ema.clone();
        col_normalize(&mut ema_normalized, n);
        let per_validator: Vec<I32F32> = ema_normalized
            .iter()
            .map(|row| {
                sum(row
                    .iter()
                    .map(|&(j, b)| b.saturating_mul(at(&incentive, j)))
                    .filter(|&x| x != ZERO))
            })
            .collect();
        let mut dividends: Vec<I32F32> = per_validator
            .iter()
            .zip(active_stake)
            .map(|(&t, &a)| t.checked_mul(a).unwrap_or(ZERO))
            .collect();
        normalize(&mut dividends);
        (dividends, ema)
    } else {
        // 12. Classic Yuma.
        let mut bonds: Sparse = input
            .bonds
            .iter()
            .map(|row| row.iter().map(|&(j, b)| (j, from_u16(b))).collect())
            .collect();
        for row in &mut bonds {
            row.retain(|&(j, _)| last_tempo > at(registered, j));
        }
        col_normalize(&mut bonds, n);
        let mut delta: Sparse = weights_for_bonds
            .iter()
            .zip(active_stake)
            .map(|(row, &a)| row.iter().map(|&(j, w)| (j, w.saturating_mul(a))).collect())
            .collect();
        col_normalize(&mut delta, n);
        let mut ema = ema_dense(&delta, &bonds, ema_alpha(params.bonds_moving_average), n);
        col_normalize(&mut ema, n);
        let mut dividends: Vec<I32F32> = ema
            .iter()
            .map(|row| {
                row.iter().fold(ZERO, |acc, &(j, b)| {
                    acc.saturating_add(at(&incentive, j).saturating_mul(b))
                })
            })
            .collect();
        normalize(&mut dividends);
        col_max_upscale(&mut ema, n);
        (dividends, ema)
    };

    // 14-15. Emission and outputs.
    let bonds = prelude.store_bonds(ema_bonds);
    Ok(prelude.finish(
        input,
        &consensus,
        incentive,
        dividends,
        &validator_trust,
        bonds,
    ))
}

/// Drops `(i, j)` when `last_update_i <= block_at_registration_j` (outdated weights).
fn mask_by_pair(matrix: &mut Sparse, last_update: &[u64], registered: &[u64]) {
    for (row, &updated) in matrix.iter_mut().zip(last_update) {
        row.retain(|&(j, _)| updated > at(registered, j));
    }
}

/// `weighted_median_col_sparse`: per column, the stake-weighted median over the rows with
/// positive stake, found by subtensor's deterministic mid-pivot partition search.
fn weighted_median_columns(
    stake: &[I32F32],
    scores: &Sparse,
    n: usize,
    majority: I32F32,
) -> Vec<I32F32> {
    let mut use_stake: Vec<I32F32> = stake.iter().copied().filter(|&s| s > ZERO).collect();
    normalize(&mut use_stake);
    let stake_sum = sum(use_stake.iter().copied());
    let minority = stake_sum.saturating_sub(majority);
    let rows = use_stake.len();
    let mut columns: Vec<Vec<I32F32>> = vec![vec![ZERO; rows]; n];
    let kept = stake
        .iter()
        .zip(scores)
        .filter(|&(&s, _)| s > ZERO)
        .map(|(_, row)| row);
    for (k, row) in kept.enumerate() {
        for &(j, score) in row {
            if let Some(cell) = columns.get_mut(usize::from(j)).and_then(|c| c.get_mut(k)) {
                *cell = score;
            }
        }
    }
    let all: Vec<usize> = (0..rows).collect();
    columns
        .iter()
        .map(|column| weighted_median(&use_stake, column, &all, minority, ZERO, stake_sum))
        .collect()
}

/// subtensor's `weighted_median`: partition around the middle element's score and recurse
/// into the side that holds the `minority` stake boundary.
pub(crate) fn weighted_median(
    stake: &[I32F32],
    score: &[I32F32],
    partition: &[usize],
    minority: I32F32,
    mut lo: I32F32,
    mut hi: I32F32,
) -> I32F32 {
    let value = |xs: &[I32F32], i: usize| xs.get(i).copied().unwrap_or(ZERO);
    let mut current: Vec<usize> = partition.to_vec();
    // Each round strictly shrinks the partition, so `partition.len()` rounds suffice.
    for _ in 0..=partition.len() {
        match current.as_slice() {
            [] => return ZERO,
            [only] => return value(score, *only),
            _ => {}
        }
        let middle = current.get(current.len() / 2).copied().unwrap_or(0);
        let pivot = value(score, middle);
        let (mut lower, mut upper) = (Vec::new(), Vec::new());
        let (mut lo_stake, mut hi_stake) = (ZERO, ZERO);
        for &i in &current {
            let s = value(score, i);
            if s < pivot {
                lo_stake = lo_stake.saturating_add(value(stake, i));
                lower.push(i);
            } else if s > pivot {
                hi_stake = hi_stake.saturating_add(value(stake, i));
                upper.push(i);
            }
        }
        if minority < lo.saturating_add(lo_stake) && !lower.is_empty() {
            hi = lo.saturating_add(lo_stake);
            current = lower;
        } else if hi.saturating_sub(hi_stake) <= minority && !upper.is_empty() {
            lo = hi.saturating_sub(hi_stake);
            current = upper;
        } else {
            return pivot;
        }
    }
    ZERO
}

/// `col_clip_sparse`: entries above their column's consensus are clipped down to it, or
/// dropped when that consensus is 0.
fn clip_columns(weights: &Sparse, consensus: &[I32F32]) -> Sparse {
    weights
        .iter()
        .map(|row| {
            row.iter()
                .filter_map(|&(j, w)| {
                    let threshold = at(consensus, j);
                    if threshold < w {
                        (threshold > ZERO).then_some((j, threshold))
                    } else {
                        Some((j, w))
                    }
                })
                .collect()
        })
        .collect()
}

/// `matmul_sparse`: `r_j = sum_i w_ij * s_i`, saturating.
fn matmul(matrix: &Sparse, vector: &[I32F32], n: usize) -> Vec<I32F32> {
    let mut result = vec![ZERO; n];
    for (row, &s) in matrix.iter().zip(vector) {
        for &(j, w) in row {
            if let Some(r) = result.get_mut(usize::from(j)) {
                *r = r.saturating_add(s.saturating_mul(w));
            }
        }
    }
    result
}

/// `interpolate_sparse`: `A + ratio * (B - A)` per entry, densified, keeping positives.
fn interpolate(a: &Sparse, b: &Sparse, columns: u16, ratio: I32F32) -> Sparse {
    if ratio == ZERO {
        return a.clone();
    }
    if ratio == ONE {
        return b.clone();
    }
    a.iter()
        .zip(b)
        .map(|(row_a, row_b)| {
            let dense_a = densify(row_a, usize::from(columns));
            let dense_b = densify(row_b, usize::from(columns));
            (0..columns)
                .zip(dense_a.iter().zip(&dense_b))
                .filter_map(|(j, (&x, &y))| {
                    let value = x.saturating_add(ratio.saturating_mul(y.saturating_sub(x)));
                    (value > ZERO).then_some((j, value))
                })
                .collect()
        })
        .collect()
}

fn densify(row: &[(u16, I32F32)], n: usize) -> Vec<I32F32> {
    let mut dense = vec![ZERO; n];
    for &(j, v) in row {
        if let Some(cell) = dense.get_mut(usize::from(j)) {
            *cell = v;
        }
    }
    dense
}

/// `inplace_col_normalize_sparse`: divide each entry by its column's (saturating) sum.
fn col_normalize(matrix: &mut Sparse, n: usize) {
    let mut sums = vec![ZERO; n];
    for row in matrix.iter() {
        for &(j, v) in row {
            if let Some(s) = sums.get_mut(usize::from(j)) {
                *s = s.saturating_add(v);
            }
        }
    }
    for row in matrix.iter_mut() {
        for (j, v) in row.iter_mut() {
            let total = at(&sums, *j);
            if total != ZERO {
                *v = safe_div(*v, total);
            }
        }
    }
}

/// `inplace_col_max_upscale_sparse`: divide each entry by its column's maximum.
fn col_max_upscale(matrix: &mut Sparse, n: usize) {
    let mut maxes = vec![ZERO; n];
    for row in matrix.iter() {
        for &(j, v) in row {
            if let Some(m) = maxes.get_mut(usize::from(j))
                && *m < v
            {
                *m = v;
            }
        }
    }
    for row in matrix.iter_mut() {
        for (j, v) in row.iter_mut() {
            let max = at(&maxes, *j);
            if max != ZERO {
                *v = safe_div(*v, max);
            }
        }
    }
}

/// `mat_ema_sparse`: `alpha * new + (1 - alpha) * old`, densified per row, keeping positives.
fn ema_dense(new: &Sparse, old: &Sparse, alpha: I32F32, n: usize) -> Sparse {
    let keep = ONE.saturating_sub(alpha);
    let empty = Vec::new();
    new.iter()
        .enumerate()
        .map(|(i, new_row)| {
            let mut acc = vec![ZERO; n];
            for &(j, v) in new_row {
                if let Some(cell) = acc.get_mut(usize::from(j)) {
                    *cell = cell.saturating_add(alpha.saturating_mul(v));
                }
            }
            for &(j, v) in old.get(i).unwrap_or(&empty) {
                if let Some(cell) = acc.get_mut(usize::from(j)) {
                    *cell = cell.saturating_add(keep.saturating_mul(v));
                }
            }
            (0..=u16::MAX).zip(acc).filter(|&(_, v)| v > ZERO).collect()
        })
        .collect()
}

/// `liquid_alpha_matrix_sparse`: an `n x n` matrix of per-entry EMA rates. The weight and
/// bond of column `j` are found by one forward walk that assumes sorted rows.
fn liquid_alpha_matrix(
    params: &super::Hyperparams,
    weights: &Sparse,
    bonds: &Sparse,
    consensus: &[I32F32],
) -> Vec<Vec<I32F32>> {
    let steepness = I32F32::saturating_from_num(params.alpha_sigmoid_steepness);
    let low = u16_proportion(params.alpha_low);
    let high = u16_proportion(params.alpha_high);
    weights
        .iter()
        .zip(bonds)
        .map(|(w_row, b_row)| {
            let mut w_walk = w_row.iter().peekable();
            let mut b_walk = b_row.iter().peekable();
            (0..=u16::MAX)
                .zip(consensus)
                .map(|(j, &c)| {
                    let w = walk(&mut w_walk, j);
                    let b = walk(&mut b_walk, j);
                    liquid_alpha(c, w, b, low, high, steepness)
                })
                .collect()
        })
        .collect()
}

fn walk<'a>(
    entries: &mut std::iter::Peekable<impl Iterator<Item = &'a (u16, I32F32)>>,
    j: u16,
) -> I32F32 {
    while let Some(&&(uid, value)) = entries.peek() {
        if uid < j {
            entries.next();
        } else {
            return if uid == j { value } else { ZERO };
        }
    }
    ZERO
}

/// `alpha_sigmoid`: the EMA rate of one (validator, miner) pair.
pub(crate) fn liquid_alpha(
    consensus: I32F32,
    weight: I32F32,
    bond: I32F32,
    low: I32F32,
    high: I32F32,
    steepness: I32F32,
) -> I32F32 {
    let diff = liquid_alpha_diff(consensus, weight, bond);
    let exponent = liquid_alpha_exponent(steepness, diff);
    liquid_alpha_from_exp(exp_safe_reference(exponent), low, high)
}

/// The sigmoid's distance term: how far a weight sits above consensus (buying) or below
/// the validator's bond (selling), clamped to `[0, 1]`.
#[inline]
pub(crate) fn liquid_alpha_diff(consensus: I32F32, weight: I32F32, bond: I32F32) -> I32F32 {
    if weight >= bond {
        clamp(weight.saturating_sub(consensus), ZERO, ONE)
    } else {
        clamp(bond.saturating_sub(weight), ZERO, ONE)
    }
}

/// `(steepness / -100) * (diff - 0.5)`.
#[inline]
pub(crate) fn liquid_alpha_exponent(steepness: I32F32, diff: I32F32) -> I32F32 {
    const MINUS_100: I32F32 = I32F32::from_bits(-100 << 32);
    const HALF: I32F32 = I32F32::from_bits(1 << 31);
    steepness
        .saturating_div(MINUS_100)
        .saturating_mul(diff.saturating_sub(HALF))
}

/// `clamp(low + (1 / (1 + e)) * (high - low), low, high)`.
#[inline]
pub(crate) fn liquid_alpha_from_exp(e: I32F32, low: I32F32, high: I32F32) -> I32F32 {
    let sigmoid = ONE.saturating_div(ONE.saturating_add(e));
    let alpha = low.saturating_add(sigmoid.saturating_mul(high.saturating_sub(low)));
    clamp(alpha, low, high)
}

/// `mat_ema_alpha_sparse`: per entry of the new row, in its order,
/// `min((1 - a_ij) * old_ij + max(a_ij * new_ij, 0), 1)`, keeping positives. Old entries
/// whose column is absent from the new row are dropped.
fn ema_per_entry(new: &Sparse, old: &Sparse, alphas: &[Vec<I32F32>]) -> Sparse {
    new.iter()
        .zip(old)
        .zip(alphas)
        .map(|((new_row, old_row), alpha_row)| {
            let mut decayed = vec![ZERO; alpha_row.len()];
            for &(j, b) in old_row {
                let j = usize::from(j);
                if let (Some(&a), Some(cell)) = (alpha_row.get(j), decayed.get_mut(j)) {
                    *cell = ONE.saturating_sub(a).saturating_mul(b);
                }
            }
            new_row
                .iter()
                .filter_map(|&(j, w)| {
                    let a = alpha_row.get(usize::from(j))?;
                    let d = decayed.get(usize::from(j))?;
                    let value = d.saturating_add(a.saturating_mul(w).max(ZERO)).min(ONE);
                    (value > ZERO).then_some((j, value))
                })
                .collect()
        })
        .collect()
}
