//! The epoch the node runs: the chain's arithmetic, without the chain's detours.
//!
//! Every value here is computed by the same `substrate-fixed` operations, in an order that
//! gives the same bits, as [`super::reference`] (and so the chain). What differs is the work
//! done to get there:
//!
//! - sparse matrices are compressed rows ([`Csr`]) built once, masked while they are built;
//!   no row is ever densified to `n` columns unless it already has about that many entries;
//! - the weighted median of each column is found by a weighted quickselect over that
//!   column's nonzero scores, which returns the chain's value: the smallest score whose
//!   cumulative stake exceeds `stake_sum - kappa`;
//! - divisions by one column sum or row sum use a precomputed reciprocal ([`Divisor`]);
//! - Yuma3 with liquid alpha evaluates the sigmoid only where a weight exists (the chain
//!   evaluates it for all `n * n` pairs and then reads it only there), reproducing the
//!   chain's forward walk over possibly unsorted rows, and caching it by its argument;
//! - the weighted median and the liquid-alpha rows are split over threads; each column or
//!   row is computed on its own and the results are assembled in order, so the output does
//!   not depend on the number of threads.

use std::num::NonZeroUsize;
use std::thread;

use substrate_fixed::types::I32F32;

use super::fixed::{
    Divisor, ONE, ZERO, ema_alpha, exp_safe, from_u16, normalize, sum, u16_proportion,
};
use super::reference::{liquid_alpha_diff, liquid_alpha_exponent, liquid_alpha_from_exp};
use super::{EpochInput, EpochOutput, Hyperparams, InputError, Prelude, last_tempo};

/// Below this many matrix entries, threads cost more than they save.
const PARALLEL_MIN_ENTRIES: usize = 32_768;

/// How many threads [`epoch_with`] may use. The output is the same for every choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Threads {
    /// The machine's parallelism (at most 8), for steps large enough to gain from it.
    #[default]
    Auto,
    /// Exactly this many for the parallel steps, whatever their size.
    Exactly(NonZeroUsize),
}

/// Runs one epoch. Bit-exact with the chain's sparse epoch; see the [module docs](super).
pub fn epoch(input: &EpochInput) -> Result<EpochOutput, InputError> {
    epoch_with(input, Threads::Auto)
}

/// [`epoch`] with a chosen number of threads.
pub fn epoch_with(input: &EpochInput, threads: Threads) -> Result<EpochOutput, InputError> {
    input.validate()?;
    let n = input.n();
    let params = &input.params;
    let prelude = Prelude::new(input);
    let active_stake = &prelude.active_stake;

    // 5. Weights: masked while loaded, then row-normalized.
    let weights = masked_weights(input, &prelude.permits);

    // 6. Consensus.
    let consensus = consensus(active_stake, &weights, n, u16_proportion(params.kappa), threads);

    // 7-9. Clipping, validator trust, incentive.
    let clipped = weights.map_entries(|j, w| {
        let c = at(&consensus, j);
        if c < w {
            (c > ZERO).then_some(c)
        } else {
            Some(w)
        }
    });
    let validator_trust: Vec<I32F32> = clipped.rows().map(|(_, vals)| sum(vals.iter().copied())).collect();
    let mut incentive = vec![ZERO; n];
    for ((cols, vals), &a) in clipped.rows().zip(active_stake) {
        if a == ZERO {
            continue;
        }
        for (&j, &w) in cols.iter().zip(vals) {
            if let Some(r) = incentive.get_mut(usize::from(j)) {
                *r = r.saturating_add(a.saturating_mul(w));
            }
        }
    }
    normalize(&mut incentive);

    // 10. Weights for bonds.
    let bonds_penalty = u16_proportion(params.bonds_penalty);
    let (weights_for_bonds, interpolated) = if bonds_penalty == ZERO {
        (weights, false)
    } else if bonds_penalty == ONE {
        (clipped, false)
    } else {
        let wb = weights.map_entries(|j, w| {
            let c = at(&consensus, j);
            let clip = if c < w { c } else { w };
            let value = w.saturating_add(bonds_penalty.saturating_mul(clip.saturating_sub(w)));
            (value > ZERO).then_some(value)
        });
        (wb, true)
    };

    // 11. Last tempo: bonds to uids registered since are dropped.
    let last_tempo = last_tempo(input);
    let registered = &input.block_at_registration;
    let load_bonds = |value: fn(u16) -> I32F32| {
        Csr::from_rows(n, input.bonds.iter().map(|row| {
            row.iter()
                .filter(|&&(j, _)| last_tempo > at(registered, j))
                .map(move |&(j, b)| (j, value(b)))
        }))
    };

    let (dividends, bonds) = if params.yuma3_enabled {
        // 13. Yuma3.
        let bonds = load_bonds(u16_proportion);
        let ema = if params.liquid_alpha_enabled && consensus.iter().any(|&c| c != ZERO) {
            let mut wb = weights_for_bonds;
            if interpolated {
                // The chain's interpolation emits each row in uid order.
                wb.sort_rows();
            }
            liquid_alpha_ema(params, &wb, &bonds, &consensus, n, threads)
        } else {
            ema_merge(&weights_for_bonds, &bonds, ema_alpha(params.bonds_moving_average), n)
        };
        let mut normalized = ema.clone();
        normalized.col_normalize(n);
        let mut dividends: Vec<I32F32> = normalized
            .rows()
            .zip(active_stake)
            .map(|((cols, vals), &a)| {
                let t = sum(cols.iter().zip(vals).map(|(&j, &b)| b.saturating_mul(at(&incentive, j))));
                t.checked_mul(a).unwrap_or(ZERO)
            })
            .collect();
        normalize(&mut dividends);
        (dividends, ema)
    } else {
        // 12. Classic Yuma.
        let mut bonds = load_bonds(from_u16);
        bonds.col_normalize(n);
        let mut delta = weights_for_bonds;
        for ((_, vals), &a) in delta.rows_mut().zip(active_stake) {
            for v in vals {
                *v = v.saturating_mul(a);
            }
        }
        delta.col_normalize(n);
        let mut ema = ema_merge(&delta, &bonds, ema_alpha(params.bonds_moving_average), n);
        ema.col_normalize(n);
        let mut dividends: Vec<I32F32> = ema
            .rows()
            .map(|(cols, vals)| {
                cols.iter().zip(vals).fold(ZERO, |acc, (&j, &b)| {
                    acc.saturating_add(at(&incentive, j).saturating_mul(b))
                })
            })
            .collect();
        normalize(&mut dividends);
        ema.col_max_upscale(n);
        (dividends, ema)
    };

    Ok(prelude.finish(
        input,
        &consensus,
        incentive,
        dividends,
        &validator_trust,
        bonds.into_rows(),
    ))
}

#[inline]
fn at<T: Copy + Default>(xs: &[T], j: u16) -> T {
    xs.get(usize::from(j)).copied().unwrap_or_default()
}

/// Step 5: the weight rows of permitted validators, without self-weights (except the
/// owner's), outdated entries or entries masked by commit-reveal, each row divided by its sum.
fn masked_weights(input: &EpochInput, permits: &[bool]) -> Csr {
    let owner = input.owner_uid.map(usize::from);
    let registered = &input.block_at_registration;
    let commits = input.earliest_commit_block.as_deref();
    let rows = input.weights.iter().enumerate().map(|(i, row)| {
        let permitted = permits.get(i).copied().unwrap_or(false);
        let updated = input.last_update.get(i).copied().unwrap_or(0);
        let commit = commits.and_then(|c| c.get(i).copied().flatten()).unwrap_or(u64::MAX);
        let entries = if permitted { row.as_slice() } else { &[] };
        entries
            .iter()
            .filter(move |&&(j, _)| {
                let j_usize = usize::from(j);
                let reg = at(registered, j);
                (j_usize != i || owner == Some(i)) && updated > reg && commit >= reg
            })
            .map(|&(j, w)| (j, from_u16(w)))
    });
    let mut weights = Csr::from_rows(input.n(), rows);
    for (_, vals) in weights.rows_mut() {
        // Rows hold integers 0..=65535 whose sum fits (validated), so the sum is exact.
        let total = sum(vals.iter().copied());
        if total > ZERO {
            let divisor = Divisor::new(total);
            for v in vals {
                *v = divisor.divide(*v);
            }
        }
    }
    weights
}

/// Step 6: the stake-weighted median of each column over the rows with positive stake.
///
/// The chain's partition search returns the smallest score `s` for which the stake of the
/// scores `<= s` exceeds `minority = stake_sum - kappa` (or the largest score when none
/// does). Missing entries are scores of 0. So each column needs only its nonzero scores:
/// the stake at 0 is `stake_sum` minus theirs, and a weighted quickselect finds the rest.
fn consensus(
    active_stake: &[I32F32],
    weights: &Csr,
    n: usize,
    kappa: I32F32,
    threads: Threads,
) -> Vec<I32F32> {
    let mut use_stake: Vec<I32F32> = active_stake.iter().copied().filter(|&s| s > ZERO).collect();
    normalize(&mut use_stake);
    let stake_sum = sum(use_stake.iter().copied());
    let minority = stake_sum.saturating_sub(kappa).to_bits();
    let rows = use_stake.len();

    // Scores by column (compressed columns) over the kept rows, as raw bits.
    let mut counts = vec![0usize; n];
    let kept = || {
        weights
            .rows()
            .zip(active_stake)
            .filter(|&(_, &a)| a > ZERO)
            .map(|(row, _)| row)
    };
    for (cols, vals) in kept() {
        for (&j, &w) in cols.iter().zip(vals) {
            if w > ZERO
                && let Some(c) = counts.get_mut(usize::from(j))
            {
                *c = c.saturating_add(1);
            }
        }
    }
    let mut next = Vec::with_capacity(n);
    let mut total = 0usize;
    for &c in &counts {
        next.push(total);
        total = total.saturating_add(c);
    }
    let mut column_starts = next.clone();
    column_starts.push(total);
    let mut entries = vec![(0i64, 0i64); total];
    for ((cols, vals), &stake) in kept().zip(&use_stake) {
        let stake = stake.to_bits();
        for (&j, &w) in cols.iter().zip(vals) {
            if w <= ZERO {
                continue;
            }
            if let Some(slot) = next.get_mut(usize::from(j))
                && let Some(entry) = entries.get_mut(*slot)
            {
                *entry = (w.to_bits(), stake);
                *slot = slot.saturating_add(1);
            }
        }
    }

    let median = |_: &mut (), column: &mut [(i64, i64)]| {
        I32F32::from_bits(column_median(column, rows, stake_sum.to_bits(), minority))
    };
    let threads = worker_count(entries.len(), threads);
    split_work(&mut entries, &column_starts, threads, || (), median)
}

/// The weighted median of one column from its nonzero `(score, stake)` pairs; see
/// [`consensus`]. `rows` is the number of kept rows (those not listed score 0).
fn column_median(column: &mut [(i64, i64)], rows: usize, stake_sum: i64, minority: i64) -> i64 {
    let mut nonzero_stake = 0i64;
    let mut max_score = 0i64;
    for &(score, stake) in column.iter() {
        nonzero_stake = nonzero_stake.saturating_add(stake);
        max_score = max_score.max(score);
    }
    // Stake of the zero scores, exactly (fixed-point sums are exact integer sums).
    let mut below = stake_sum.saturating_sub(nonzero_stake);
    if column.len() < rows && below > minority {
        return 0;
    }
    let mut part = column;
    loop {
        let len = part.len();
        let Some(&(pivot, _)) = part.get(len / 2) else {
            return max_score;
        };
        let (lt, le, lt_stake, eq_stake) = partition3(part, pivot);
        let cum_lt = below.saturating_add(lt_stake);
        if cum_lt > minority {
            if lt == 0 {
                return pivot;
            }
            part = part.get_mut(..lt).unwrap_or_default();
        } else if cum_lt.saturating_add(eq_stake) > minority {
            return pivot;
        } else {
            below = cum_lt.saturating_add(eq_stake);
            part = part.get_mut(le..).unwrap_or_default();
        }
    }
}

/// Three-way partition by score around `pivot`: `[< pivot | == pivot | > pivot]`.
/// Returns the two boundaries and the stake below and at the pivot.
fn partition3(part: &mut [(i64, i64)], pivot: i64) -> (usize, usize, i64, i64) {
    let (mut lt, mut i, mut gt) = (0usize, 0usize, part.len());
    let (mut lt_stake, mut eq_stake) = (0i64, 0i64);
    while i < gt {
        let Some(&(score, stake)) = part.get(i) else {
            break;
        };
        if score < pivot {
            part.swap(lt, i);
            lt_stake = lt_stake.saturating_add(stake);
            lt = lt.saturating_add(1);
            i = i.saturating_add(1);
        } else if score > pivot {
            gt = gt.saturating_sub(1);
            part.swap(i, gt);
        } else {
            eq_stake = eq_stake.saturating_add(stake);
            i = i.saturating_add(1);
        }
    }
    (lt, gt, lt_stake, eq_stake)
}

/// Runs `f` on each group of `data` (group `g` is `data[starts[g]..starts[g + 1]]`) on
/// `threads` threads, each with its own `state`, and returns the results in group order.
///
/// Each group's result depends only on the group, so the output is the same for any number
/// of threads.
fn split_work<T, S, R>(
    data: &mut [T],
    starts: &[usize],
    threads: usize,
    state: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &mut [T]) -> R + Sync,
) -> Vec<R>
where
    T: Send,
    R: Send,
{
    let groups = starts.len().saturating_sub(1);
    if threads <= 1 || groups < 2 {
        return run_groups(data, starts, &mut state(), &f);
    }
    // Cut the groups into `threads` contiguous runs of about equal size.
    let per_thread = data.len().div_ceil(threads).max(1);
    let mut cuts = vec![0usize];
    for (g, &start) in starts.iter().enumerate().take(groups).skip(1) {
        if start >= cuts.len().saturating_mul(per_thread) && cuts.len() < threads {
            cuts.push(g);
        }
    }
    cuts.push(groups);
    let (state, f) = (&state, &f);
    thread::scope(|scope| {
        let mut handles = Vec::with_capacity(threads);
        let mut rest = data;
        for pair in cuts.windows(2) {
            let &[first, last] = pair else { continue };
            let group_starts = starts.get(first..=last).unwrap_or_default();
            let len = match (group_starts.first(), group_starts.last()) {
                (Some(&a), Some(&b)) => b.saturating_sub(a),
                _ => 0,
            };
            let len = len.min(rest.len());
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(len);
            rest = tail;
            handles.push(scope.spawn(move || run_groups(mine, group_starts, &mut state(), f)));
        }
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

fn run_groups<T, S, R>(
    data: &mut [T],
    starts: &[usize],
    state: &mut S,
    f: &impl Fn(&mut S, &mut [T]) -> R,
) -> Vec<R> {
    let mut out = Vec::with_capacity(starts.len().saturating_sub(1));
    let mut rest = data;
    for pair in starts.windows(2) {
        let &[start, end] = pair else { continue };
        let len = end.saturating_sub(start).min(rest.len());
        let (group, tail) = std::mem::take(&mut rest).split_at_mut(len);
        rest = tail;
        out.push(f(state, group));
    }
    out
}

/// How many threads a step over `entries` matrix entries should use.
fn worker_count(entries: usize, threads: Threads) -> usize {
    match threads {
        Threads::Exactly(k) => k.get(),
        Threads::Auto if entries < PARALLEL_MIN_ENTRIES => 1,
        Threads::Auto => thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(8),
    }
}

/// `mat_ema_sparse`: per row, `alpha * new + (1 - alpha) * old`, keeping positives, in uid
/// order. A row is merged in a dense scratch row that is cleared entry by entry.
fn ema_merge(new: &Csr, old: &Csr, alpha: I32F32, n: usize) -> Csr {
    let keep = ONE.saturating_sub(alpha);
    let mut acc = vec![ZERO; n];
    let mut seen = vec![false; n];
    let mut touched: Vec<u16> = Vec::new();
    let mut out = Csr::with_capacity(n, new.len().saturating_add(old.len()));
    for ((new_cols, new_vals), (old_cols, old_vals)) in new.rows().zip(old.rows()) {
        touched.clear();
        let terms = new_cols
            .iter()
            .zip(new_vals)
            .map(|(&j, &v)| (j, alpha.saturating_mul(v)))
            .chain(old_cols.iter().zip(old_vals).map(|(&j, &v)| (j, keep.saturating_mul(v))));
        for (j, term) in terms {
            let j_usize = usize::from(j);
            if let (Some(cell), Some(mark)) = (acc.get_mut(j_usize), seen.get_mut(j_usize)) {
                *cell = cell.saturating_add(term);
                if !*mark {
                    *mark = true;
                    touched.push(j);
                }
            }
        }
        // Emit in uid order: scan the scratch row when the row is dense, else sort.
        if touched.len().saturating_mul(16) >= n {
            for (j, (cell, mark)) in (0..=u16::MAX).zip(acc.iter_mut().zip(seen.iter_mut())) {
                if *mark {
                    if *cell > ZERO {
                        out.push(j, *cell);
                    }
                    *cell = ZERO;
                    *mark = false;
                }
            }
        } else {
            touched.sort_unstable();
            for &j in &touched {
                let j_usize = usize::from(j);
                if let (Some(cell), Some(mark)) = (acc.get_mut(j_usize), seen.get_mut(j_usize)) {
                    if *cell > ZERO {
                        out.push(j, *cell);
                    }
                    *cell = ZERO;
                    *mark = false;
                }
            }
        }
        out.end_row();
    }
    out
}

/// Yuma3 bonds with liquid alpha (`liquid_alpha_matrix_sparse` then `mat_ema_alpha_sparse`),
/// evaluated only at the entries of the new rows.
///
/// The chain reads a row's weight and bond for column `j` by one forward walk over each row,
/// which sees an entry only if its uid is larger than every uid before it in the row (a
/// "record"); an entry that is not a record reads as 0 when the rate is computed, though its
/// real value is still used by the EMA. The rate depends on the pair only through the
/// sigmoid's distance term, so it is cached by that term.
fn liquid_alpha_ema(
    params: &Hyperparams,
    new: &Csr,
    old: &Csr,
    consensus: &[I32F32],
    n: usize,
    threads: Threads,
) -> Csr {
    let rates = Rates {
        steepness: I32F32::saturating_from_num(params.alpha_sigmoid_steepness),
        low: u16_proportion(params.alpha_low),
        high: u16_proportion(params.alpha_high),
    };
    // One unit of work per row that has new entries.
    let mut busy: Vec<usize> = new
        .rows()
        .enumerate()
        .filter(|(_, (cols, _))| !cols.is_empty())
        .map(|(i, _)| i)
        .collect();
    let units: Vec<usize> = (0..=busy.len()).collect();
    let threads = worker_count(new.len(), threads);
    let scratch = || LiquidScratch::new(n);
    let rows = split_work(&mut busy, &units, threads, scratch, |scratch, unit| {
        let row = unit.first().copied().unwrap_or(0);
        scratch.row(&rates, new.row(row), old.row(row), consensus)
    });
    let mut out = Csr::with_capacity(n, new.len());
    let mut rows = rows.into_iter();
    for (cols, _) in new.rows() {
        if !cols.is_empty() {
            for (j, v) in rows.next().unwrap_or_default() {
                out.push(j, v);
            }
        }
        out.end_row();
    }
    out
}

/// The liquid-alpha sigmoid's constants.
struct Rates {
    steepness: I32F32,
    low: I32F32,
    high: I32F32,
}

/// Per-thread state for [`liquid_alpha_ema`].
struct LiquidScratch {
    /// Old bond per column of the current row.
    bond: Vec<I32F32>,
    /// 0: no old bond; 1: an old bond the walk does not see; 2: one it sees.
    kind: Vec<u8>,
    /// Direct-mapped cache: distance-term bits -> rate.
    cache: Vec<(i64, I32F32)>,
}

const CACHE_BITS: u32 = 12;

impl LiquidScratch {
    fn new(n: usize) -> Self {
        Self {
            bond: vec![ZERO; n],
            kind: vec![0; n],
            // i64::MIN is no distance term (those lie in [0, 1]), so no entry matches.
            cache: vec![(i64::MIN, ZERO); 1 << CACHE_BITS],
        }
    }

    fn row(
        &mut self,
        rates: &Rates,
        (new_cols, new_vals): (&[u16], &[I32F32]),
        (old_cols, old_vals): (&[u16], &[I32F32]),
        consensus: &[I32F32],
    ) -> Vec<(u16, I32F32)> {
        let mut record: Option<u16> = None;
        for (&j, &b) in old_cols.iter().zip(old_vals) {
            let seen = record.is_none_or(|r| j > r);
            if seen {
                record = Some(j);
            }
            let j = usize::from(j);
            if let (Some(slot), Some(kind)) = (self.bond.get_mut(j), self.kind.get_mut(j)) {
                *slot = b;
                *kind = if seen { 2 } else { 1 };
            }
        }
        let mut out = Vec::with_capacity(new_cols.len());
        let mut record: Option<u16> = None;
        for (&j, &w) in new_cols.iter().zip(new_vals) {
            let seen = record.is_none_or(|r| j > r);
            if seen {
                record = Some(j);
            }
            let walk_weight = if seen { w } else { ZERO };
            let (bond, kind) = (at(&self.bond, j), at(&self.kind, j));
            let walk_bond = if kind == 2 { bond } else { ZERO };
            let diff = liquid_alpha_diff(at(consensus, j), walk_weight, walk_bond);
            let alpha = self.rate(rates, diff);
            let decayed = if kind == 0 {
                ZERO
            } else {
                ONE.saturating_sub(alpha).saturating_mul(bond)
            };
            let value = decayed
                .saturating_add(alpha.saturating_mul(w).max(ZERO))
                .min(ONE);
            if value > ZERO {
                out.push((j, value));
            }
        }
        for &j in old_cols {
            let j = usize::from(j);
            if let (Some(slot), Some(kind)) = (self.bond.get_mut(j), self.kind.get_mut(j)) {
                *slot = ZERO;
                *kind = 0;
            }
        }
        out
    }

    #[inline]
    fn rate(&mut self, rates: &Rates, diff: I32F32) -> I32F32 {
        let key = diff.to_bits();
        let hash = (key ^ (key >> 17)).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64);
        let slot = usize::try_from((hash as u64) >> (64 - CACHE_BITS)).unwrap_or(0);
        if let Some(&(cached, rate)) = self.cache.get(slot)
            && cached == key
        {
            return rate;
        }
        let exponent = liquid_alpha_exponent(rates.steepness, diff);
        let rate = liquid_alpha_from_exp(exp_safe(exponent), rates.low, rates.high);
        if let Some(entry) = self.cache.get_mut(slot) {
            *entry = (key, rate);
        }
        rate
    }
}

/// A sparse matrix in compressed rows: row `i` holds the entries
/// `start[i]..start[i + 1]` of `cols` and `vals`, in the row's own order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Csr {
    start: Vec<usize>,
    cols: Vec<u16>,
    vals: Vec<I32F32>,
}

impl Csr {
    fn with_capacity(rows: usize, entries: usize) -> Self {
        let mut start = Vec::with_capacity(rows.saturating_add(1));
        start.push(0);
        Self {
            start,
            cols: Vec::with_capacity(entries),
            vals: Vec::with_capacity(entries),
        }
    }

    fn from_rows<R, I>(n: usize, rows: R) -> Self
    where
        R: IntoIterator<Item = I>,
        I: IntoIterator<Item = (u16, I32F32)>,
    {
        let mut out = Self::with_capacity(n, 0);
        for row in rows {
            for (j, v) in row {
                out.push(j, v);
            }
            out.end_row();
        }
        out
    }

    #[inline]
    fn push(&mut self, j: u16, v: I32F32) {
        self.cols.push(j);
        self.vals.push(v);
    }

    #[inline]
    fn end_row(&mut self) {
        self.start.push(self.cols.len());
    }

    /// Number of entries.
    fn len(&self) -> usize {
        self.cols.len()
    }

    fn rows_len(&self) -> usize {
        self.start.len().saturating_sub(1)
    }

    fn start_of(&self, row: usize) -> usize {
        self.start.get(row).copied().unwrap_or(0)
    }

    fn row(&self, i: usize) -> (&[u16], &[I32F32]) {
        let (a, b) = (self.start_of(i), self.start_of(i.saturating_add(1)));
        (
            self.cols.get(a..b).unwrap_or_default(),
            self.vals.get(a..b).unwrap_or_default(),
        )
    }

    fn rows(&self) -> impl Iterator<Item = (&[u16], &[I32F32])> {
        self.start.windows(2).map(|w| {
            let (a, b) = match *w {
                [a, b] => (a, b),
                _ => (0, 0),
            };
            (
                self.cols.get(a..b).unwrap_or_default(),
                self.vals.get(a..b).unwrap_or_default(),
            )
        })
    }

    fn rows_mut(&mut self) -> impl Iterator<Item = (&[u16], &mut [I32F32])> {
        let mut cols: &[u16] = &self.cols;
        let mut vals: &mut [I32F32] = &mut self.vals;
        self.start.windows(2).map(move |w| {
            let len = match *w {
                [a, b] => b.saturating_sub(a),
                _ => 0,
            };
            let (c, c_rest) = cols.split_at(len.min(cols.len()));
            cols = c_rest;
            let (v, v_rest) = std::mem::take(&mut vals).split_at_mut(len.min(c.len()));
            vals = v_rest;
            (c, v)
        })
    }

    /// Keeps or replaces each entry; `f` gets the column and value.
    fn map_entries(&self, f: impl Fn(u16, I32F32) -> Option<I32F32>) -> Self {
        let mut out = Self::with_capacity(self.rows_len(), self.len());
        for (cols, vals) in self.rows() {
            for (&j, &v) in cols.iter().zip(vals) {
                if let Some(value) = f(j, v) {
                    out.push(j, value);
                }
            }
            out.end_row();
        }
        out
    }

    /// Sorts each row by uid (rows are checked first: most are already sorted).
    fn sort_rows(&mut self) {
        let mut pairs: Vec<(u16, I32F32)> = Vec::new();
        let mut cols: &mut [u16] = &mut self.cols;
        let mut vals: &mut [I32F32] = &mut self.vals;
        for w in self.start.windows(2) {
            let len = match *w {
                [a, b] => b.saturating_sub(a),
                _ => 0,
            };
            let len = len.min(cols.len());
            let (c, c_rest) = std::mem::take(&mut cols).split_at_mut(len);
            cols = c_rest;
            let (v, v_rest) = std::mem::take(&mut vals).split_at_mut(len.min(c.len()));
            vals = v_rest;
            if c.is_sorted() {
                continue;
            }
            pairs.clear();
            pairs.extend(c.iter().copied().zip(v.iter().copied()));
            pairs.sort_unstable_by_key(|&(j, _)| j);
            for ((cj, vj), (j, value)) in c.iter_mut().zip(v.iter_mut()).zip(&pairs) {
                *cj = *j;
                *vj = *value;
            }
        }
    }

    fn col_sums(&self, n: usize) -> Vec<I32F32> {
        let mut sums = vec![ZERO; n];
        for (&j, &v) in self.cols.iter().zip(&self.vals) {
            if let Some(s) = sums.get_mut(usize::from(j)) {
                *s = s.saturating_add(v);
            }
        }
        sums
    }

    /// `inplace_col_normalize_sparse`. Values are non-negative, so the saturating column
    /// sums do not depend on the order they are added in.
    fn col_normalize(&mut self, n: usize) {
        let sums = self.col_sums(n);
        self.divide_columns(&sums);
    }

    /// `inplace_col_max_upscale_sparse`.
    fn col_max_upscale(&mut self, n: usize) {
        let mut maxes = vec![ZERO; n];
        for (&j, &v) in self.cols.iter().zip(&self.vals) {
            if let Some(m) = maxes.get_mut(usize::from(j))
                && *m < v
            {
                *m = v;
            }
        }
        self.divide_columns(&maxes);
    }

    /// Divides each entry by its column's divisor, leaving columns whose divisor is 0.
    fn divide_columns(&mut self, divisors: &[I32F32]) {
        let divisors: Vec<Divisor> = divisors.iter().map(|&d| Divisor::new(d)).collect();
        for (&j, v) in self.cols.iter().zip(self.vals.iter_mut()) {
            if let Some(d) = divisors.get(usize::from(j))
                && !d.is_zero()
            {
                *v = d.divide(*v);
            }
        }
    }

    fn into_rows(self) -> Vec<Vec<(u16, I32F32)>> {
        self.rows()
            .map(|(cols, vals)| cols.iter().copied().zip(vals.iter().copied()).collect())
            .collect()
    }
}
