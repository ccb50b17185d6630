//! Property tests of the epoch: the fast path equals the reference, and the invariants the
//! spec implies hold for any valid input.

use std::num::NonZeroUsize;

use ganglion_kernel::yuma::{self, EpochInput, EpochOutput, Threads, reference, synth};
use proptest::prelude::*;

/// The first field and uid where two outputs differ, for a readable failure.
fn first_difference(a: &EpochOutput, b: &EpochOutput) -> Option<String> {
    fn find<T: PartialEq + std::fmt::Debug>(name: &str, x: &[T], y: &[T]) -> Option<String> {
        if x.len() != y.len() {
            return Some(format!("{name}: lengths {} and {}", x.len(), y.len()));
        }
        let i = x.iter().zip(y).position(|(p, q)| p != q)?;
        Some(format!("{name}[{i}]: {:?} != {:?}", x[i], y[i]))
    }
    find("active", &a.active, &b.active)
        .or_else(|| find("stake_weight", &a.stake_weight, &b.stake_weight))
        .or_else(|| {
            find(
                "new_validator_permit",
                &a.new_validator_permit,
                &b.new_validator_permit,
            )
        })
        .or_else(|| find("consensus", &a.consensus, &b.consensus))
        .or_else(|| find("validator_trust", &a.validator_trust, &b.validator_trust))
        .or_else(|| find("incentive", &a.incentive, &b.incentive))
        .or_else(|| find("dividends", &a.dividends, &b.dividends))
        .or_else(|| find("bonds", &a.bonds, &b.bonds))
        .or_else(|| find("server_emission", &a.server_emission, &b.server_emission))
        .or_else(|| {
            find(
                "validator_emission",
                &a.validator_emission,
                &b.validator_emission,
            )
        })
        .or_else(|| find("emission", &a.emission, &b.emission))
}

macro_rules! prop_assert_same {
    ($a:expr, $b:expr) => {{
        let (a, b) = (&$a, &$b);
        if let Some(diff) = first_difference(a, b) {
            prop_assert!(false, "outputs differ: {}", diff);
        }
    }};
}

fn run(input: &EpochInput) -> EpochOutput {
    yuma::epoch(input).expect("generated inputs are valid")
}

/// Allowed shortfall of a normalized u16 vector's sum below 65535: each of `n` entries loses
/// under one ulp of I32F32 when normalized and under one unit when floored to u16.
fn u16_slack(n: usize) -> u64 {
    2 * n as u64 + 1
}

fn check_invariants(input: &EpochInput, out: &EpochOutput) -> Result<(), TestCaseError> {
    let n = input.n();
    for (name, v) in [
        ("stake_weight", &out.stake_weight),
        ("consensus", &out.consensus),
        ("incentive", &out.incentive),
        ("dividends", &out.dividends),
        ("validator_trust", &out.validator_trust),
    ] {
        prop_assert_eq!(v.len(), n, "{} has n entries", name);
    }
    for (name, v) in [("incentive", &out.incentive), ("dividends", &out.dividends)] {
        let total: u64 = v.iter().map(|&x| u64::from(x)).sum();
        prop_assert!(total <= 65_535, "{} sums to {} > 65535", name, total);
        if total > 0 {
            prop_assert!(
                total + u16_slack(n) >= 65_535,
                "{} sums to {} only",
                name,
                total
            );
        }
    }
    let stake_total: u64 = out.stake_weight.iter().map(|&x| u64::from(x)).sum();
    prop_assert!(stake_total <= 65_535);

    // Emission: never more than given; all of it (to rounding) once anyone earns.
    let rao = u128::from(input.rao_emission);
    let total: u128 = out.emission.iter().map(|&x| u128::from(x)).sum();
    let split: u128 = out
        .server_emission
        .iter()
        .chain(&out.validator_emission)
        .map(|&x| u128::from(x))
        .sum();
    prop_assert!(total <= rao, "emission {} > {}", total, rao);
    prop_assert!(split <= rao, "server + validator {} > {}", split, rao);
    let anyone = out
        .incentive
        .iter()
        .chain(&out.dividends)
        .chain(&out.stake_weight)
        .any(|&x| x > 0);
    if anyone {
        let slack = n as u128 + ((n as u128 * rao) >> 32) + 1;
        prop_assert!(total + slack >= rao, "emission {} of {}", total, rao);
    }

    // Permits: at most max_allowed_validators by stake, plus the owner.
    let permits = out.new_validator_permit.iter().filter(|&&p| p).count();
    let owner = usize::from(input.owner_uid.is_some());
    prop_assert!(permits <= usize::from(input.params.max_allowed_validators) + owner);
    // Bonds are stored only for new permit holders, and name real uids.
    for (i, row) in out.bonds.iter().enumerate() {
        if !out.new_validator_permit[i] {
            prop_assert!(row.is_empty(), "uid {} has bonds without a permit", i);
        }
        prop_assert!(row.iter().all(|&(j, _)| usize::from(j) < n));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The fast path and the reference agree bit for bit on adversarial small subnets.
    #[test]
    fn fast_equals_reference_small(seed: u64, n in 1usize..48) {
        let input = synth::arbitrary(seed, n);
        let fast = run(&input);
        prop_assert_same!(fast, reference::epoch(&input).unwrap());
        check_invariants(&input, &fast)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// ... and on larger ones, where the fast path's threads and dense-row shortcuts engage.
    #[test]
    fn fast_equals_reference_medium(seed: u64, n in 48usize..400) {
        let input = synth::arbitrary(seed, n);
        let fast = yuma::epoch_with(&input, Threads::Exactly(NonZeroUsize::new(3).unwrap())).unwrap();
        prop_assert_same!(fast, reference::epoch(&input).unwrap());
        check_invariants(&input, &fast)?;
    }

    /// ... and on realistic subnets of every variant.
    #[test]
    fn fast_equals_reference_realistic(
        seed: u64,
        n in 2usize..600,
        validators in 1usize..80,
        per in 1usize..600,
        variant in 0u8..3,
    ) {
        let input = synth::subnet(&synth::Shape {
            n,
            validators,
            weights_per_validator: per,
            yuma3: variant > 0,
            liquid_alpha: variant == 2,
            seed,
        });
        let fast = run(&input);
        prop_assert_same!(fast, reference::epoch(&input).unwrap());
        check_invariants(&input, &fast)?;
    }

    /// A uid with zero stake moves no miner's incentive or consensus, whatever it weights.
    #[test]
    fn zero_stake_weights_move_no_incentive(seed: u64, other: u64, n in 2usize..64) {
        let mut input = synth::arbitrary(seed, n);
        let z = (seed % n as u64) as usize;
        input.stake[z] = 0;
        let before = run(&input);
        input.weights[z] = synth::arbitrary(other, n).weights[(other % n as u64) as usize].clone();
        if input.validate().is_err() {
            return Ok(());
        }
        let after = run(&input);
        prop_assert_eq!(before.incentive, after.incentive);
        prop_assert_eq!(before.consensus, after.consensus);
    }

    /// A uid without a validator permit (and not the owner) changes nothing at all by its
    /// weights: its row is masked before anything reads it.
    #[test]
    fn unpermitted_weights_change_nothing(seed: u64, other: u64, n in 2usize..64) {
        let mut input = synth::arbitrary(seed, n);
        let z = (seed % n as u64) as usize;
        input.validator_permit[z] = false;
        if input.owner_uid == Some(z as u16) {
            input.owner_uid = None;
        }
        let before = run(&input);
        input.weights[z] = synth::arbitrary(other, n).weights[(other % n as u64) as usize].clone();
        let after = run(&input);
        prop_assert_same!(before, after);
    }

    /// Stake is only ever read normalized: halving every (even) stake and the threshold
    /// changes no output bit.
    #[test]
    fn stake_scale_changes_nothing(seed: u64, n in 1usize..64) {
        let mut input = synth::arbitrary(seed, n);
        for s in &mut input.stake {
            *s &= !1;
        }
        input.stake_threshold &= !1;
        let full = run(&input);
        let halved = run(&EpochInput {
            stake: input.stake.iter().map(|s| s / 2).collect(),
            stake_threshold: input.stake_threshold / 2,
            ..input.clone()
        });
        prop_assert_same!(full, halved);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// No panic and no overflow for any valid input up to n = 4096.
    #[test]
    fn no_panic_up_to_4096(seed: u64, n in 1usize..=4096) {
        let input = synth::arbitrary(seed, n);
        let out = run(&input);
        check_invariants(&input, &out)?;
    }
}

/// The output does not depend on the number of threads.
#[test]
fn thread_count_changes_nothing() {
    for (seed, yuma3, liquid_alpha) in [(7, false, false), (8, true, true), (9, true, false)] {
        let input = synth::subnet(&synth::Shape {
            n: 2048,
            validators: 64,
            weights_per_validator: 2048,
            yuma3,
            liquid_alpha,
            seed,
        });
        let one = yuma::epoch_with(&input, Threads::Exactly(NonZeroUsize::MIN)).unwrap();
        for k in [2, 3, 7] {
            let k = NonZeroUsize::new(k).unwrap();
            let other = yuma::epoch_with(&input, Threads::Exactly(k)).unwrap();
            assert_eq!(first_difference(&one, &other), None, "{k} threads");
        }
        assert_eq!(one, yuma::epoch(&input).unwrap());
    }
}

/// The largest values the format allows run without overflow and keep every invariant.
#[test]
fn extreme_values() {
    let n = 300;
    let mut input = synth::arbitrary(42, n);
    input.stake = vec![i64::MAX as u64 / n as u64; n];
    input.rao_emission = u64::MAX;
    input.current_block = u64::MAX;
    input.activity_cutoff = u64::MAX;
    input.weights = (0..n)
        .map(|_| (0..n as u16).map(|j| (j, u16::MAX)).collect())
        .collect();
    input.bonds = input.weights.clone();
    input.validator_permit = vec![true; n];
    for yuma3 in [false, true] {
        input.params.yuma3_enabled = yuma3;
        let out = run(&input);
        assert_eq!(
            first_difference(&out, &reference::epoch(&input).unwrap()),
            None
        );
        check_invariants(&input, &out).unwrap();
    }
}

/// A subnet without uids runs and produces empty outputs on both paths.
#[test]
fn empty_subnet() {
    let mut input = synth::arbitrary(1, 1);
    input.stake.clear();
    input.weights.clear();
    input.bonds.clear();
    input.last_update.clear();
    input.block_at_registration.clear();
    input.validator_permit.clear();
    input.owner_uid = None;
    input.earliest_commit_block = None;
    let out = run(&input);
    assert_eq!(out, reference::epoch(&input).unwrap());
    assert!(out.emission.is_empty() && out.bonds.is_empty());
}
