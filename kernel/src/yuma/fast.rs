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
//! - the masked weights, the weighted median, clipping, the classic bonds merge and their
//!   normalization, and the liquid-alpha rows run on worker threads over runs of rows or
//!   blocks of columns; each row or column is computed on its own, per-worker column sums
//!   (of non-negative values) and maxima combine in any order, and results are assembled in
//!   order, so the output does not depend on the number of threads;
//! - the large buffers are kept per thread between epochs.

use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::thread;

use substrate_fixed::types::I32F32;

use super::fixed::{
    Divisor, ONE, ZERO, ema_alpha, exp_safe, from_u16, mul, normalize, sum, u16_proportion,
};
use super::reference::{liquid_alpha_diff, liquid_alpha_exponent, liquid_alpha_from_exp};
use super::{
    EpochInput, EpochOutput, Hyperparams, InputError, Prelude, at, last_tempo, stored_row,
};

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
///
/// The large buffers of an epoch (the masked weights, the new bonds, scratch rows) are kept
/// per thread between calls, so a node that runs epochs every tempo does not pay for fresh
/// pages each time; they hold about 12 bytes per weight entry of the largest epoch run.
pub fn epoch(input: &EpochInput) -> Result<EpochOutput, InputError> {
    epoch_with(input, Threads::Auto)
}

/// [`epoch`] with a chosen number of threads.
pub fn epoch_with(input: &EpochInput, threads: Threads) -> Result<EpochOutput, InputError> {
    input.validate()?;
    WORKSPACE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut workspace) => Ok(run(input, threads, &mut workspace)),
        // Only reachable if an epoch ran inside an epoch on this thread; never in practice.
        Err(_) => Ok(run(input, threads, &mut Workspace::default())),
    })
}

thread_local! {
    static WORKSPACE: RefCell<Workspace> = RefCell::new(Workspace::default());
}

/// Buffers reused from one epoch to the next on a thread.
#[derive(Default)]
struct Workspace {
    weights: Csr,
    for_bonds: Csr,
    /// One per worker: its run of new bond rows and its merge scratch.
    chunks: Vec<Chunk>,
}

#[derive(Default)]
struct Chunk {
    ema: Csr,
    merge: MergeScratch,
}

/// Cuts `0..n` into at most `workers` runs of rows holding about equal numbers of entries.
fn row_cuts(n: usize, workers: usize, entries: impl Fn(usize) -> usize) -> Vec<Range<usize>> {
    let total: usize = (0..n).map(&entries).sum();
    let per = total.div_ceil(workers.max(1)).max(1);
    let mut ranges = Vec::with_capacity(workers);
    let (mut start, mut acc) = (0usize, 0usize);
    for i in 0..n {
        acc = acc.saturating_add(entries(i));
        if acc >= per.saturating_mul(ranges.len().saturating_add(1))
            && ranges.len().saturating_add(1) < workers
        {
            ranges.push(start..i.saturating_add(1));
            start = i.saturating_add(1);
        }
    }
    ranges.push(start..n);
    ranges
}

/// Runs `f` on each chunk with its run of rows, one thread per chunk (inline for one), and
/// returns the results in row order.
fn par_chunks<C, T>(
    chunks: &mut [C],
    ranges: &[Range<usize>],
    f: impl Fn(&mut C, Range<usize>) -> T + Sync,
) -> Vec<T>
where
    C: Send,
    T: Send,
{
    if ranges.len() <= 1 {
        return chunks
            .iter_mut()
            .zip(ranges)
            .map(|(c, r)| f(c, r.clone()))
            .collect();
    }
    let f = &f;
    thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter_mut()
            .zip(ranges)
            .map(|(c, r)| scope.spawn(move || f(c, r.clone())))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Combines per-worker column vectors entry by entry.
fn fold_columns(parts: Vec<Vec<I32F32>>, n: usize, f: fn(I32F32, I32F32) -> I32F32) -> Vec<I32F32> {
    let mut parts = parts.into_iter();
    let mut total = parts.next().unwrap_or_else(|| vec![ZERO; n]);
    for part in parts {
        for (t, p) in total.iter_mut().zip(part) {
            *t = f(*t, p);
        }
    }
    total
}

fn run(input: &EpochInput, threads: Threads, ws: &mut Workspace) -> EpochOutput {
    let n = input.n();
    let params = &input.params;
    let prelude = Prelude::new(input);
    let active_stake = &prelude.active_stake;

    // 5. Weights: masked while loaded, then row-normalized.
    masked_weights(input, &prelude.permits, &mut ws.weights, threads);
    let weights = &ws.weights;

    // 6. Consensus.
    let consensus = consensus(
        active_stake,
        weights,
        n,
        u16_proportion(params.kappa),
        threads,
    );

    // 7-10. Clipping, validator trust, incentive and the weights for bonds, in one pass.
    // Classic Yuma needs only the column sums of the bonds delta (weights for bonds times
    // active stake): the delta itself is recomputed row by row when the EMA is merged.
    // Yuma3 keeps the weights for bonds.
    let yuma3 = params.yuma3_enabled;
    let penalty = u16_proportion(params.bonds_penalty);
    // One run of rows: its validator trust, and its share of the incentive and delta sums.
    let clip_rows = |rows: Range<usize>, for_bonds: Option<&mut Csr>| {
        let mut trusts = Vec::with_capacity(rows.len());
        let mut incentive = vec![ZERO; n];
        let mut delta_sums = vec![ZERO; if yuma3 { 0 } else { n }];
        let mut for_bonds = for_bonds;
        for i in rows {
            let (cols, vals) = weights.row(i);
            let a = active_stake.get(i).copied().unwrap_or(ZERO);
            let mut trust = ZERO;
            for (&j, &w) in cols.iter().zip(vals) {
                let (clipped, wb) = clip(w, at(&consensus, j), penalty);
                if let Some(x) = clipped {
                    // Row sums of normalized weights stay <= 1: no saturation, as `Sum`.
                    trust = trust.saturating_add(x);
                    if a > ZERO {
                        add_at(&mut incentive, j, mul(a, x));
                    }
                }
                match (wb, for_bonds.as_deref_mut()) {
                    (Some(wb), Some(out)) => out.push(j, wb),
                    (Some(wb), None) => add_at(&mut delta_sums, j, mul(wb, a)),
                    (None, _) => {}
                }
            }
            if let Some(out) = for_bonds.as_deref_mut() {
                out.end_row();
            }
            trusts.push(trust);
        }
        (trusts, incentive, delta_sums)
    };
    ws.for_bonds.clear();
    let parts = if yuma3 {
        vec![clip_rows(0..n, Some(&mut ws.for_bonds))]
    } else {
        let workers = worker_count(weights.len(), threads);
        let ranges = row_cuts(n, workers, |i| weights.row(i).0.len());
        let mut units = vec![(); ranges.len()];
        par_chunks(&mut units, &ranges, |_, rows| clip_rows(rows, None))
    };
    let mut validator_trust = Vec::with_capacity(n);
    let (mut incentive_parts, mut delta_parts) = (Vec::new(), Vec::new());
    for (trusts, incentive, delta_sums) in parts {
        validator_trust.extend(trusts);
        incentive_parts.push(incentive);
        delta_parts.push(delta_sums);
    }
    let mut incentive = fold_columns(incentive_parts, n, I32F32::saturating_add);
    let delta_sums = fold_columns(delta_parts, n, I32F32::saturating_add);
    normalize(&mut incentive);

    // 11. Last tempo: bonds to uids registered since are dropped.
    let last_tempo = last_tempo(input);
    let registered = &input.block_at_registration;
    let old_bonds = |i: usize, value: fn(u16) -> I32F32| {
        input
            .bonds
            .get(i)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(move |&&(j, _)| last_tempo > at(registered, j))
            .map(move |&(j, b)| (j, value(b)))
    };
    let alpha = ema_alpha(params.bonds_moving_average);
    let keep = ONE.saturating_sub(alpha);

    let (dividends, bonds) = if !yuma3 {
        // 12. Classic Yuma. B and the delta are column-normalized on the fly as the EMA is
        // merged; the EMA is column-normalized into E in place, dividends come from E, and
        // E max-upscaled per column is what is stored.
        let mut old_sums = vec![ZERO; n];
        for i in 0..n {
            for (j, b) in old_bonds(i, from_u16) {
                add_at(&mut old_sums, j, b);
            }
        }
        let (delta_div, old_div) = (divisors(&delta_sums), divisors(&old_sums));
        let row_terms = |i: usize| {
            let (cols, vals) = weights.row(i);
            let a = active_stake.get(i).copied().unwrap_or(ZERO);
            let (delta_div, consensus) = (&delta_div, &consensus);
            let new = cols.iter().zip(vals).filter_map(move |(&j, &w)| {
                let delta = mul(clip(w, at(consensus, j), penalty).1?, a);
                Some((j, mul(alpha, at_divisor(delta_div, j).divide(delta))))
            });
            let old_div = &old_div;
            let old = old_bonds(i, from_u16)
                .map(move |(j, b)| (j, mul(keep, at_divisor(old_div, j).divide(b))));
            (new, old)
        };
        // Rows are independent from here on; each worker takes a run of rows and keeps its
        // own column sums and maxima, which add up (or max up) to the same values in any order.
        let bond_entries: usize = input.bonds.iter().map(Vec::len).sum();
        let workers = worker_count(weights.len().saturating_add(bond_entries), threads);
        let ranges = row_cuts(n, workers, |i| {
            weights
                .row(i)
                .0
                .len()
                .saturating_add(input.bonds.get(i).map_or(0, Vec::len))
        });
        if ws.chunks.len() < ranges.len() {
            ws.chunks.resize_with(ranges.len(), Chunk::default);
        }
        let chunks = ws.chunks.get_mut(..ranges.len()).unwrap_or_default();
        let sums = par_chunks(chunks, &ranges, |chunk, rows| {
            ema_merge(rows.map(row_terms), n, &mut chunk.merge, &mut chunk.ema)
        });
        let ema_div = divisors(&fold_columns(sums, n, I32F32::saturating_add));
        let parts = par_chunks(chunks, &ranges, |chunk, rows| {
            let mut col_max = vec![ZERO; n];
            let mut dividends = Vec::with_capacity(rows.len());
            for (cols, vals) in chunk.ema.rows_mut() {
                let mut d = ZERO;
                for (&j, v) in cols.iter().zip(vals) {
                    let e = at_divisor(&ema_div, j).divide(*v);
                    *v = e;
                    d = d.saturating_add(mul(at(&incentive, j), e));
                    if let Some(m) = col_max.get_mut(usize::from(j))
                        && *m < e
                    {
                        *m = e;
                    }
                }
                dividends.push(d);
            }
            (dividends, col_max)
        });
        let (dividends, maxes): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
        let mut dividends: Vec<I32F32> = dividends.into_iter().flatten().collect();
        normalize(&mut dividends);
        let max_div = divisors(&fold_columns(maxes, n, I32F32::max));
        let new_permits = &prelude.new_permits;
        let stored = par_chunks(chunks, &ranges, |chunk, rows| {
            chunk
                .ema
                .rows()
                .zip(rows)
                .map(|((cols, vals), i)| {
                    let permit = new_permits.get(i).copied().unwrap_or(false);
                    stored_row(
                        permit,
                        cols.iter()
                            .zip(vals)
                            .map(|(&j, &e)| (j, at_divisor(&max_div, j).divide(e))),
                    )
                })
                .collect::<Vec<_>>()
        });
        (dividends, stored.into_iter().flatten().collect())
    } else {
        // 13. Yuma3: bonds are proportions; the EMA is stored as is and normalized per
        // column only to weigh the dividends.
        if ws.chunks.is_empty() {
            ws.chunks.push(Chunk::default());
        }
        let chunk = ws
            .chunks
            .first_mut()
            .unwrap_or_else(|| unreachable!("pushed above"));
        let ema_sums = if params.liquid_alpha_enabled && consensus.iter().any(|&c| c != ZERO) {
            if penalty != ZERO && penalty != ONE {
                // The chain's interpolation emits each row in uid order.
                ws.for_bonds.sort_rows();
            }
            let old = |i: usize| old_bonds(i, u16_proportion);
            liquid_alpha_ema(
                params,
                &ws.for_bonds,
                old,
                &consensus,
                n,
                threads,
                &mut chunk.ema,
            )
        } else {
            let rows = ws.for_bonds.rows().enumerate().map(|(i, (cols, vals))| {
                let new = cols
                    .iter()
                    .zip(vals)
                    .map(move |(&j, &w)| (j, mul(alpha, w)));
                let old = old_bonds(i, u16_proportion).map(move |(j, b)| (j, mul(keep, b)));
                (new, old)
            });
            ema_merge(rows, n, &mut chunk.merge, &mut chunk.ema)
        };
        let ema_div = divisors(&ema_sums);
        let mut dividends: Vec<I32F32> = chunk
            .ema
            .rows()
            .zip(active_stake)
            .map(|((cols, vals), &a)| {
                let t = sum(cols
                    .iter()
                    .zip(vals)
                    .map(|(&j, &b)| mul(at_divisor(&ema_div, j).divide(b), at(&incentive, j))));
                t.checked_mul(a).unwrap_or(ZERO)
            })
            .collect();
        normalize(&mut dividends);
        let bonds = prelude.store_bonds(
            chunk
                .ema
                .rows()
                .map(|(cols, vals)| cols.iter().copied().zip(vals.iter().copied())),
        );
        (dividends, bonds)
    };

    prelude.finish(
        input,
        &consensus,
        incentive,
        dividends,
        &validator_trust,
        bonds,
    )
}

/// Steps 7 and 10 for one entry: the clipped weight (`None` when dropped: above a consensus
/// of 0) and the weight for bonds (`None` when not kept).
#[inline]
fn clip(w: I32F32, consensus: I32F32, penalty: I32F32) -> (Option<I32F32>, Option<I32F32>) {
    let clipped = if consensus < w {
        (consensus > ZERO).then_some(consensus)
    } else {
        Some(w)
    };
    let for_bonds = if penalty == ZERO {
        Some(w)
    } else if penalty == ONE {
        clipped
    } else {
        // `interpolate_sparse`: w + penalty * (clipped - w), densified, keeping positives.
        let x = clipped.unwrap_or(ZERO);
        let value = w.saturating_add(penalty.saturating_mul(x.saturating_sub(w)));
        (value > ZERO).then_some(value)
    };
    (clipped, for_bonds)
}

/// `xs[j] = xs[j].saturating_add(x)`. All the sums built this way add non-negative values,
/// so they do not depend on the order of the additions, saturated or not.
#[inline]
fn add_at(xs: &mut [I32F32], j: u16, x: I32F32) {
    if let Some(s) = xs.get_mut(usize::from(j)) {
        *s = s.saturating_add(x);
    }
}

fn divisors(values: &[I32F32]) -> Vec<Divisor> {
    values.iter().map(|&v| Divisor::new(v)).collect()
}

#[inline]
fn at_divisor(divisors: &[Divisor], j: u16) -> &Divisor {
    divisors.get(usize::from(j)).unwrap_or(&Divisor::ZERO)
}

/// Step 5: the weight rows of permitted validators, without self-weights (except the
/// owner's), outdated entries or entries masked by commit-reveal, each row divided by its sum.
///
/// Built in two parallel passes over runs of rows: count what each row keeps, then fill each
/// run's own slice of the (reused) buffers and normalize its rows in place.
fn masked_weights(input: &EpochInput, permits: &[bool], weights: &mut Csr, threads: Threads) {
    let n = input.n();
    let owner = input.owner_uid.map(usize::from);
    let registered = &input.block_at_registration;
    let commits = input.earliest_commit_block.as_deref();
    // The entries of row i that survive the masks (none for an unpermitted row).
    let kept = |i: usize| {
        let permitted = permits.get(i).copied().unwrap_or(false);
        let row = match input.weights.get(i) {
            Some(row) if permitted => row.as_slice(),
            _ => &[],
        };
        let updated = input.last_update.get(i).copied().unwrap_or(0);
        let commit = commits
            .and_then(|c| c.get(i).copied().flatten())
            .unwrap_or(u64::MAX);
        let self_weight_allowed = owner == Some(i);
        row.iter().copied().filter(move |&(j, _)| {
            let reg = at(registered, j);
            (usize::from(j) != i || self_weight_allowed) && updated > reg && commit >= reg
        })
    };
    let permitted_len = |i: usize| {
        let permitted = permits.get(i).copied().unwrap_or(false);
        if permitted {
            input.weights.get(i).map_or(0, Vec::len)
        } else {
            0
        }
    };
    let workers = worker_count((0..n).map(permitted_len).sum(), threads);
    let ranges = row_cuts(n, workers, permitted_len);
    let mut units = vec![(); ranges.len()];
    let counts: Vec<usize> = par_chunks(&mut units, &ranges, |_, rows| {
        rows.map(|i| kept(i).count()).collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    weights.clear();
    let mut total = 0usize;
    for count in &counts {
        total = total.saturating_add(*count);
        weights.start.push(total);
    }
    weights.cols.resize(total, 0);
    weights.vals.resize(total, ZERO);
    // Each run's slice of the entries, split off in order.
    let mut slices = Vec::with_capacity(ranges.len());
    let (mut cols, mut vals): (&mut [u16], &mut [I32F32]) = (&mut weights.cols, &mut weights.vals);
    for rows in &ranges {
        let len: usize = counts.get(rows.clone()).unwrap_or_default().iter().sum();
        let len = len.min(cols.len()).min(vals.len());
        let (c, c_rest) = std::mem::take(&mut cols).split_at_mut(len);
        let (v, v_rest) = std::mem::take(&mut vals).split_at_mut(len);
        (cols, vals) = (c_rest, v_rest);
        slices.push((c, v));
    }
    par_chunks(&mut slices, &ranges, |(cols, vals), rows| {
        let mut at_entry = 0usize;
        for i in rows {
            let first = at_entry;
            let mut sum = ZERO;
            for (j, w) in kept(i) {
                let w = from_u16(w);
                // Integers 0..=65535 whose sum fits (validated): exact, as the chain's `Sum`.
                sum = sum.saturating_add(w);
                if let (Some(c), Some(v)) = (cols.get_mut(at_entry), vals.get_mut(at_entry)) {
                    (*c, *v) = (j, w);
                }
                at_entry = at_entry.saturating_add(1);
            }
            if sum > ZERO {
                let divisor = Divisor::new(sum);
                for v in vals.get_mut(first..at_entry).unwrap_or_default() {
                    *v = divisor.divide(*v);
                }
            }
        }
    });
}

/// Step 6: the stake-weighted median of each column over the rows with positive stake.
///
/// The chain's partition search returns the smallest score `s` for which the stake of the
/// scores `<= s` exceeds `minority = stake_sum - kappa` (or the largest score when none
/// does). Missing entries are scores of 0. So each column needs only its nonzero scores:
/// the stake at 0 is `stake_sum` minus theirs, and a weighted quickselect finds the rest.
///
/// Columns are gathered in blocks small enough for the cache, walking each kept row (sorted
/// by uid) with a cursor; blocks are split over threads.
fn consensus(
    active_stake: &[I32F32],
    weights: &Csr,
    n: usize,
    kappa: I32F32,
    threads: Threads,
) -> Vec<I32F32> {
    let mut use_stake: Vec<I32F32> = active_stake.iter().copied().filter(|&s| s > ZERO).collect();
    normalize(&mut use_stake);
    let stake_sum = sum(use_stake.iter().copied()).to_bits();
    let minority = I32F32::from_bits(stake_sum).saturating_sub(kappa).to_bits();
    // The kept rows, each sorted by uid (copied only if it is not), with zeros left out.
    // The kept rows, sorted by uid: borrowed as they are, or sorted into `owned` first.
    let mut owned: Vec<(Vec<u16>, Vec<I32F32>)> = Vec::new();
    let kept_rows = || {
        weights
            .rows()
            .zip(active_stake)
            .filter(|&(_, &a)| a > ZERO)
            .map(|(row, _)| row)
    };
    for (cols, vals) in kept_rows() {
        if !cols.is_sorted() {
            let mut pairs: Vec<(u16, I32F32)> =
                cols.iter().copied().zip(vals.iter().copied()).collect();
            pairs.sort_unstable_by_key(|&(j, _)| j);
            owned.push(pairs.into_iter().unzip());
        }
    }
    let mut owned_rows = owned.iter();
    let kept: Vec<(&[u16], &[I32F32], i64)> = kept_rows()
        .zip(&use_stake)
        .map(|((cols, vals), &stake)| {
            let sorted = if cols.is_sorted() {
                None
            } else {
                owned_rows.next()
            };
            match sorted {
                Some((c, v)) => (c.as_slice(), v.as_slice(), stake.to_bits()),
                None => (cols, vals, stake.to_bits()),
            }
        })
        .collect();
    let rows = kept.len();
    let entries: usize = kept.iter().map(|(cols, _, _)| cols.len()).sum();
    let block = MEDIAN_BLOCK_ENTRIES
        .checked_div(rows)
        .unwrap_or(MEDIAN_BLOCK_ENTRIES)
        .clamp(1, n.max(1));
    let blocks = n.div_ceil(block);
    let threads = worker_count(entries, threads).min(blocks.max(1));
    let per_thread = blocks.div_ceil(threads.max(1));
    let run = |first_block: usize, last_block: usize| -> Vec<I32F32> {
        let mut out =
            Vec::with_capacity(last_block.saturating_sub(first_block).saturating_mul(block));
        let mut buffer = vec![(0i64, 0i64); block.saturating_mul(rows)];
        let mut counts = vec![0usize; block];
        let c0 = first_block.saturating_mul(block);
        let mut cursors: Vec<usize> = kept
            .iter()
            .map(|(cols, _, _)| cols.partition_point(|&j| usize::from(j) < c0))
            .collect();
        for b in first_block..last_block {
            let start = b.saturating_mul(block);
            let end = start.saturating_add(block).min(n);
            counts.iter_mut().for_each(|c| *c = 0);
            for ((cols, vals, stake), cursor) in kept.iter().zip(&mut cursors) {
                let from = *cursor;
                let upto = from.saturating_add(
                    cols.get(from..)
                        .unwrap_or_default()
                        .partition_point(|&j| usize::from(j) < end),
                );
                *cursor = upto;
                let cols = cols.get(from..upto).unwrap_or_default();
                let vals = vals.get(from..upto).unwrap_or_default();
                for (&j, &w) in cols.iter().zip(vals) {
                    // Zero scores are counted through the stake they leave out.
                    if w <= ZERO {
                        continue;
                    }
                    let local = usize::from(j).saturating_sub(start);
                    if let Some(count) = counts.get_mut(local) {
                        let slot = local.saturating_mul(rows).saturating_add(*count);
                        if let Some(cell) = buffer.get_mut(slot) {
                            *cell = (w.to_bits(), *stake);
                        }
                        *count = count.saturating_add(1);
                    }
                }
            }
            for (local, &count) in counts.iter().enumerate().take(end.saturating_sub(start)) {
                let from = local.saturating_mul(rows);
                let column = buffer
                    .get_mut(from..from.saturating_add(count))
                    .unwrap_or_default();
                out.push(I32F32::from_bits(column_median(
                    column, rows, stake_sum, minority,
                )));
            }
        }
        out
    };
    let ranges: Vec<Range<usize>> = (0..threads.max(1))
        .map(|t| {
            let first = t.saturating_mul(per_thread).min(blocks);
            first..first.saturating_add(per_thread).min(blocks)
        })
        .collect();
    let mut units = vec![(); ranges.len()];
    par_chunks(&mut units, &ranges, |_, blocks| {
        run(blocks.start, blocks.end)
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Scores gathered per block of columns in [`consensus`]: 16 bytes each, so 256 KiB.
const MEDIAN_BLOCK_ENTRIES: usize = 16_384;

/// The median of three values.
fn median3(a: i64, b: i64, c: i64) -> i64 {
    a.max(b).min(a.min(b).max(c))
}

/// The weighted median of one column from its nonzero `(score, stake)` pairs; see
/// [`consensus`]. `rows` is the number of kept rows (those not listed score 0).
///
/// A quickselect whose partitions are branch-free (the comparisons of random scores would
/// otherwise mispredict half the time).
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
        let Some(&(middle, _)) = part.get(part.len() / 2) else {
            return max_score;
        };
        // Median of three as the pivot: fewer rounds on large columns. Any pivot gives the
        // same answer; only the work differs.
        let pivot = match (part.first(), part.last()) {
            (Some(&(a, _)), Some(&(c, _))) if part.len() > 16 => median3(a, middle, c),
            _ => middle,
        };
        // [< pivot | >= pivot], summing the stake below and at the pivot on the way.
        let (mut lt, mut lt_stake, mut eq_stake) = (0usize, 0i64, 0i64);
        for i in 0..part.len() {
            let Some(&(score, stake)) = part.get(i) else {
                break;
            };
            let less = score < pivot;
            lt_stake = lt_stake.saturating_add(if less { stake } else { 0 });
            eq_stake = eq_stake.saturating_add(if score == pivot { stake } else { 0 });
            part.swap(lt, i);
            lt = lt.saturating_add(usize::from(less));
        }
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
            // Drop the scores equal to the pivot: [== pivot | > pivot].
            let upper = part.get_mut(lt..).unwrap_or_default();
            let mut eq = 0usize;
            for i in 0..upper.len() {
                let Some(&(score, _)) = upper.get(i) else {
                    break;
                };
                upper.swap(eq, i);
                eq = eq.saturating_add(usize::from(score == pivot));
            }
            part = upper.get_mut(eq..).unwrap_or_default();
        }
    }
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

/// Scratch for [`ema_merge`]: one dense row, its marks and the columns touched.
#[derive(Default)]
struct MergeScratch {
    acc: Vec<I32F32>,
    seen: Vec<bool>,
    touched: Vec<u16>,
}

/// `mat_ema_sparse`: per row, the sum of the row's terms (`alpha * new` and
/// `(1 - alpha) * old`) per column, keeping positives, in uid order, into `out`. Returns the
/// column sums of the result.
///
/// Each row comes as its new terms and its old terms; they are summed in a dense scratch row
/// that is cleared entry by entry. (A two-pointer merge of sorted rows measured slower: the
/// interleaving of the two rows mispredicts.)
fn ema_merge<R, N, O>(rows: R, n: usize, scratch: &mut MergeScratch, out: &mut Csr) -> Vec<I32F32>
where
    R: Iterator<Item = (N, O)>,
    N: Iterator<Item = (u16, I32F32)>,
    O: Iterator<Item = (u16, I32F32)>,
{
    let MergeScratch { acc, seen, touched } = scratch;
    acc.clear();
    acc.resize(n, ZERO);
    seen.clear();
    seen.resize(n, false);
    out.clear();
    let mut sums = vec![ZERO; n];
    let mut emit = |j: u16, value: I32F32, out: &mut Csr| {
        if value > ZERO {
            out.push(j, value);
            add_at(&mut sums, j, value);
        }
    };
    for (new, old) in rows {
        touched.clear();
        for (j, term) in new.chain(old) {
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
        let dense = touched.len().saturating_mul(16) >= n;
        if !dense {
            touched.sort_unstable();
        }
        let mut take = |j: u16, out: &mut Csr| {
            let j_usize = usize::from(j);
            if let (Some(cell), Some(mark)) = (acc.get_mut(j_usize), seen.get_mut(j_usize))
                && *mark
            {
                emit(j, *cell, out);
                *cell = ZERO;
                *mark = false;
            }
        };
        if dense {
            for j in (0..=u16::MAX).take(n) {
                take(j, out);
            }
        } else {
            for &j in touched.iter() {
                take(j, out);
            }
        }
        out.end_row();
    }
    sums
}

/// Yuma3 bonds with liquid alpha (`liquid_alpha_matrix_sparse` then `mat_ema_alpha_sparse`),
/// evaluated only at the entries of the new rows, into `out`; returns its column sums.
///
/// The chain reads a row's weight and bond for column `j` by one forward walk over each row,
/// which sees an entry only if its uid is larger than every uid before it in the row (a
/// "record"); an entry that is not a record reads as 0 when the rate is computed, though its
/// real value is still used by the EMA. The rate depends on the pair only through the
/// sigmoid's distance term, so it is cached by that term.
fn liquid_alpha_ema<O, I>(
    params: &Hyperparams,
    new: &Csr,
    old: O,
    consensus: &[I32F32],
    n: usize,
    threads: Threads,
    out: &mut Csr,
) -> Vec<I32F32>
where
    O: Fn(usize) -> I + Sync,
    I: Iterator<Item = (u16, I32F32)> + Clone,
{
    let rates = Rates {
        steepness: I32F32::saturating_from_num(params.alpha_sigmoid_steepness),
        low: u16_proportion(params.alpha_low),
        high: u16_proportion(params.alpha_high),
    };
    // Runs of rows with about equal numbers of entries, each worker with its own scratch.
    let workers = worker_count(new.len(), threads);
    let ranges = row_cuts(new.rows_len(), workers, |i| new.row(i).0.len());
    let mut units = vec![(); ranges.len()];
    let runs = par_chunks(&mut units, &ranges, |_, rows| {
        let mut scratch = LiquidScratch::new(n);
        rows.map(|i| {
            let row = new.row(i);
            if row.0.is_empty() {
                Vec::new()
            } else {
                scratch.row(&rates, row, old(i), consensus)
            }
        })
        .collect::<Vec<_>>()
    });
    out.clear();
    let mut sums = vec![ZERO; n];
    for row in runs.into_iter().flatten() {
        for (j, v) in row {
            out.push(j, v);
            add_at(&mut sums, j, v);
        }
        out.end_row();
    }
    sums
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
        old: impl Iterator<Item = (u16, I32F32)> + Clone,
        consensus: &[I32F32],
    ) -> Vec<(u16, I32F32)> {
        let mut record: Option<u16> = None;
        for (j, b) in old.clone() {
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
                mul(ONE.saturating_sub(alpha), bond)
            };
            let value = decayed.saturating_add(mul(alpha, w).max(ZERO)).min(ONE);
            if value > ZERO {
                out.push((j, value));
            }
        }
        for (j, _) in old {
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
/// `start[i]..start[i + 1]` of `cols` and `vals`, in the row's own order. Call
/// [`Csr::clear`] before filling one.
#[derive(Clone, Debug, Default)]
pub(crate) struct Csr {
    start: Vec<usize>,
    cols: Vec<u16>,
    vals: Vec<I32F32>,
}

impl Csr {
    /// Empties the matrix (no rows), keeping its buffers.
    fn clear(&mut self) {
        self.start.clear();
        self.start.push(0);
        self.cols.clear();
        self.vals.clear();
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
        self.rows_both_mut().map(|(c, v)| (&*c, v))
    }

    /// Each row's columns and values, both mutable.
    fn rows_both_mut(&mut self) -> impl Iterator<Item = (&mut [u16], &mut [I32F32])> {
        let mut cols: &mut [u16] = &mut self.cols;
        let mut vals: &mut [I32F32] = &mut self.vals;
        self.start.windows(2).map(move |w| {
            let len = match *w {
                [a, b] => b.saturating_sub(a),
                _ => 0,
            };
            let len = len.min(cols.len()).min(vals.len());
            let (c, c_rest) = std::mem::take(&mut cols).split_at_mut(len);
            let (v, v_rest) = std::mem::take(&mut vals).split_at_mut(len);
            (cols, vals) = (c_rest, v_rest);
            (c, v)
        })
    }

    /// Sorts each row by uid (rows are checked first: most are already sorted).
    fn sort_rows(&mut self) {
        let mut pairs: Vec<(u16, I32F32)> = Vec::new();
        for (c, v) in self.rows_both_mut() {
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
}
